"""The benchmark report behind ``nncore bench`` (also ``python -m nncore bench`` and
``python -m nncore.bench``), and the cases that ``benches/`` times with pytest-benchmark.

What it measures
----------------
For the five reference networks (``networks.CONFIGS``: softmax output,
cross-entropy loss, plain SGD with lr 0.01, integer class labels), in float32 and float64,
three operations:

``train_step``
    One training step on a fixed batch (``net.train_step(X, labels, lr)`` for nncore).
``fit``
    One epoch over a synthetic data set of ``config.fit_steps`` batches, reported per step
    (time of the call / steps): ``net.fit(X, labels, epochs=1, ...)`` for nncore.
``predict``
    The outputs of one batch.

for each contestant (``baselines``):

- nncore (``backend="cython"``);
- NumPy: ``PlainNumpyMLP``, the training step a user would write in plain NumPy, in the same
  process and dtype; its ``fit`` is a Python loop over ``rng.permutation(n)`` in mini-batches.
  Every ratio divides by it;
- PyTorch CPU when ``import torch`` works (``nn.Sequential`` of ``Linear`` and the activation,
  ``CrossEntropyLoss``, ``torch.optim.SGD``, a Python mini-batch loop for ``fit``);
- scikit-learn's ``MLPClassifier`` when it is installed (``partial_fit`` on one batch; ``fit``
  of one epoch with ``max_iter=1``; ``predict_proba``);
- optionally nncore's ``backend="numpy"`` (the tests' oracle; ``--with-numpy-backend``).

The Adam rows (``--no-adam`` skips them), per network and dtype: nncore's step inside
``fit`` with ``optimizer="adam"`` (op ``ADAM``), its ratio over the SGD ``fit`` step of the same
run (bounded by ``Config.adam_bound``: 1.5x on 64-32-10, 1.3x on 784-256-10), and PyTorch's
``torch.optim.Adam`` step on a fixed batch, which nncore's should beat on every network.

The scikit-learn estimators (``estimators``; only when scikit-learn is installed and
no ``--network`` is given): ``nncore.sklearn.MLPClassifier`` against
``sklearn.neural_network.MLPClassifier``, one whole ``fit`` of each on the digits with the same
parameters, solvers sgd and adam, batch sizes "auto" and 32, float64 and float32; target: 5x.

Serving (``serving``; ``--no-serving`` skips it): ``predict`` at batch 1, 8, 64 and 256 on every
network against the plain NumPy forward, PyTorch under ``torch.inference_mode()`` and ONNX
Runtime running nncore's own ONNX export (float32; intra-op threads = the BLAS threads,
spinning off), and ``train_step`` at batch 1, 4 and 16 on the two large networks.

Beside the table: NumPy's matmul rate on the largest network's forward product
(256 x 1024 @ 1024 x 1024), measured in the same run, against nncore's ``fit`` rate on that
network; nncore and NumPy products alternating ("mixed with NumPy"); and K networks trained
by ``fit`` in K Python threads against the same fits one after the other, BLAS limited to one
thread (``timing.many_networks``).

How
---
Everything runs in one process. Each (network, dtype, operation, contestant) is one *case*:
its callable is built and called once to warm up, the number of calls per repeat is calibrated
so that a repeat lasts about a target time, and the repeats run back to back; the best repeat's
mean time per call counts (``time.perf_counter``, the garbage collector off during a repeat).
The contestants are measured one after the other, not interleaved call by call (each may have
its own BLAS thread pool, and switching pools at every call slows all of them down).

The package: ``networks`` (what is measured, the targets), ``baselines`` (the plain NumPy step,
PyTorch, scikit-learn; the prepared cases), ``timing``, ``estimators`` (the scikit-learn
estimator comparison), ``machine`` (the header), ``table``, ``reporting`` (the run, the printed
report and the command line).
"""
from .baselines import (ADAM_BACKENDS, BACKEND_NAMES, BACKENDS, DEFAULT_BACKENDS, Case,
                        PlainNumpyMLP, available, build_sklearn, build_torch, make_case,
                        sklearn_module, subnormal_count, torch_module)
from .estimators import EstimatorResult, measure_estimator, run_estimators
from .machine import blas_threads, machine_info, usable_cores
from .networks import (ADAM, ADAM_LR, ADAM_TORCH_TARGET, CONFIGS, DTYPES, GEMM_SHAPE,
                       GEMM_SHARE_TARGET, LARGEST, LR, OPS, THREAD_CONFIGS, THREADS_TARGET,
                       Config, build_network, make_data, one_hot)
from .reporting import (DESCRIPTION, add_arguments, command, main, report, run,
                        run_estimator_rows, run_threads)
from .serving import (PREDICT_BATCHES, STEP_BATCHES, ServingRow, onnxruntime_session,
                      run_serving, serving_summary, serving_table)
from .table import (Row, adam_summary, adam_table, estimator_summary, estimator_table,
                    format_table, summary)
from .timing import (ManyNetworks, ThreadsResult, blas_gemm_rate, gemm_operands,
                     many_networks, measure, mixed_with_numpy, numpy_matmul_rate,
                     numpy_step_rate, time_matmul)

__all__ = ["ADAM_BACKENDS", "EstimatorResult", "measure_estimator", "run_estimators", "ADAM",
           "ADAM_LR", "ADAM_TORCH_TARGET", "run_estimator_rows", "adam_summary", "adam_table",
           "estimator_summary", "estimator_table", "subnormal_count",
           "BACKEND_NAMES", "BACKENDS", "DEFAULT_BACKENDS", "Case", "PlainNumpyMLP",
           "available", "build_sklearn", "build_torch", "make_case", "sklearn_module",
           "torch_module", "blas_threads", "machine_info", "usable_cores", "CONFIGS", "DTYPES",
           "GEMM_SHAPE", "GEMM_SHARE_TARGET", "LARGEST", "LR", "OPS", "THREAD_CONFIGS",
           "THREADS_TARGET", "Config", "build_network", "make_data", "one_hot", "DESCRIPTION",
           "add_arguments", "command", "main", "report", "run", "run_threads", "Row",
           "format_table", "summary", "ManyNetworks", "ThreadsResult", "blas_gemm_rate",
           "gemm_operands", "many_networks", "measure", "mixed_with_numpy", "numpy_matmul_rate",
           "numpy_step_rate", "time_matmul", "PREDICT_BATCHES", "STEP_BATCHES", "ServingRow",
           "onnxruntime_session", "run_serving", "serving_summary", "serving_table"]
