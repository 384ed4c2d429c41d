"""pytest-benchmark suite: nncore against a plain NumPy step, PyTorch and scikit-learn on the
five reference networks (``nncore.bench.CONFIGS``).

    pytest benches/ --benchmark-only                  # everything, a few minutes
    pytest benches/ --benchmark-only -k "float32 and fit"
    pytest benches/ --benchmark-only --benchmark-max-time=1   # steadier small-network numbers

Each (network, dtype, operation) of ``CONFIGS`` x ``DTYPES`` x ``OPS`` is one benchmark group
holding nncore (``backend="cython"``), "numpy" (``nncore.bench.PlainNumpyMLP``: the training
step a user would write in NumPy, the baseline of ``nncore bench``'s ratios) and, when they can
be imported, PyTorch CPU and scikit-learn's ``MLPClassifier``. Every contestant gets integer
class labels. One call is: ``train_step`` one step on a fixed batch; ``fit`` one epoch of
``config.fit_steps`` steps (divide by the ``steps`` in extra_info for the time per step);
``predict`` one batch. ``test_adam`` times nncore's ``fit`` epoch with ``optimizer="adam"`` (a
call of ``steps`` steps: compare with the ``fit`` group for Adam/SGD) and PyTorch's
``torch.optim.Adam`` step on a fixed batch (one step a call, so in a group of its own).
``test_numpy_matmul`` times NumPy's matmul on the largest network's
forward product (256 x 1024 @ 1024 x 1024; its FLOPs in extra_info), the rate nncore's ``fit``
on that network is compared with; ``test_blas_gemm`` the BLAS gemm nncore's core calls on the
same shape. ``test_many_networks`` trains 2 networks by ``fit`` one after the other and in 2
threads, BLAS limited to one thread (needs threadpoolctl). The one-process comparison table
with ratios and targets is ``python -m nncore bench``; these benchmarks assert nothing on time.
"""
from functools import partial

import numpy as np
import pytest

from nncore import _kernels
from nncore.bench import (ADAM, ADAM_BACKENDS, CONFIGS, DEFAULT_BACKENDS, DTYPES, GEMM_SHAPE, OPS,
                          THREAD_CONFIGS, ManyNetworks, available, gemm_operands, make_case)

workloads = pytest.mark.parametrize(
    "config, dtype, op",
    [pytest.param(c, d, o, id=f"{c.id}-{d}-{o}") for d in DTYPES for c in CONFIGS for o in OPS])


@workloads
@pytest.mark.parametrize("backend", DEFAULT_BACKENDS)
def test_training(run_case, config, dtype, op, backend):
    if not available(backend):  # PyTorch and scikit-learn are never dependencies
        pytest.skip(f"{backend} cannot be imported")
    run_case(make_case(config, dtype, op, backend))


@pytest.mark.parametrize("backend", ADAM_BACKENDS)
@pytest.mark.parametrize(
    "config, dtype", [pytest.param(c, d, id=f"{c.id}-{d}") for d in DTYPES for c in CONFIGS])
def test_adam(run_case, config, dtype, backend):
    if not available(backend):
        pytest.skip(f"{backend} cannot be imported")
    run_case(make_case(config, dtype, ADAM, backend))


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_matmul(benchmark, dtype):
    m, k, n = GEMM_SHAPE
    A, B, C = gemm_operands(dtype)
    benchmark.group = f"matmul {m}x{k} @ {k}x{n} {dtype}"
    benchmark.extra_info.update(flops=2 * m * n * k)
    benchmark.pedantic(partial(np.matmul, A, B, out=C), rounds=20, iterations=1,
                       warmup_rounds=2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_blas_gemm(benchmark, dtype):
    if not hasattr(_kernels, "matmul_repeat"):
        pytest.skip("this core has no matmul_repeat")
    m, k, n = GEMM_SHAPE
    A, B, C = gemm_operands(dtype)
    benchmark.group = f"matmul {m}x{k} @ {k}x{n} {dtype}"
    benchmark.extra_info.update(flops=2 * m * n * k)
    benchmark.pedantic(_kernels.matmul_repeat, args=(A, B, C, False, False, "blas", 1),
                       rounds=20, iterations=1, warmup_rounds=2)


@pytest.mark.parametrize("how", ["sequential", "threaded"])
@pytest.mark.parametrize(
    "config, dtype",
    [pytest.param(c, d, id=f"{c.id}-{d}") for d in DTYPES for c in THREAD_CONFIGS])
def test_many_networks(benchmark, config, dtype, how):
    pytest.importorskip("threadpoolctl")
    with ManyNetworks(config, dtype, 2) as job:
        job.threaded()  # warm-up
        benchmark.group = f"2 x {config.name} {dtype}, fit of {config.fit_steps} steps each"
        benchmark.extra_info.update(networks=2, steps=2 * config.fit_steps)
        benchmark.pedantic(getattr(job, how), rounds=10, iterations=1, warmup_rounds=1)
