"""pytest-benchmark suite: nncore (both backends) and PyTorch on the networks of issue 3.

    pytest benches/ --benchmark-only                  # everything, a few minutes
    pytest benches/ --benchmark-only -k "float32 and fit"
    pytest benches/ --benchmark-only --benchmark-max-time=1   # steadier small-network numbers

Each (network, dtype, operation) of ``nncore.bench.CONFIGS`` x ``DTYPES`` x ``OPS`` is one
benchmark group holding backend "cython", backend "numpy" and, when ``import torch`` works,
PyTorch CPU. One call is: ``train_step`` one step on a fixed batch; ``fit`` one epoch of
``config.fit_steps`` steps (divide by the ``steps`` in extra_info for the time per step);
``predict`` one batch. ``test_blas_gemm`` times the BLAS gemm that nncore calls, on the
largest network's forward shape: the bound of that network's rate (its FLOPs are in
extra_info). The one-process comparison table with ratios, FLOP rates and the share of the gemm
rate is ``python -m nncore bench``; these benchmarks make no assertions on time.
"""
import pytest

from nncore import _kernels
from nncore.bench import CONFIGS, DTYPES, GEMM_SHAPE, OPS, gemm_operands, make_case

workloads = pytest.mark.parametrize(
    "config, dtype, op",
    [pytest.param(c, d, o, id=f"{c.id}-{d}-{o}") for d in DTYPES for c in CONFIGS for o in OPS])


@workloads
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_nncore(run_case, config, dtype, op, backend):
    run_case(make_case(config, dtype, op, backend))


@workloads
def test_torch(run_case, config, dtype, op):
    pytest.importorskip("torch")  # PyTorch is never a dependency
    run_case(make_case(config, dtype, op, "torch"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_blas_gemm(benchmark, dtype):
    m, k, n = GEMM_SHAPE
    A, B, C = gemm_operands(dtype)
    benchmark.group = f"BLAS gemm {m}x{k} @ {k}x{n} {dtype}"
    benchmark.extra_info.update(flops=2 * m * n * k)
    benchmark.pedantic(_kernels.matmul_repeat, args=(A, B, C, False, False, "blas", 1),
                       rounds=20, iterations=1, warmup_rounds=2)
