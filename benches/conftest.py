"""Shared pieces of the pytest-benchmark suite: the machine in the report header, and the
fixture ``run_case``, which times one of ``nncore.bench``'s prepared cases.

The networks, data and callables come from ``nncore.bench`` (``CONFIGS``, ``make_case``): the
same ones that ``python -m nncore bench`` times, so the two can be compared (the suite imports
the package; the package never imports the suite).
"""
import pytest

import nncore
from nncore import bench

# A call doing at least this many FLOPs (one step of the large networks, an epoch of fit on
# 784-256-10) is timed with a bounded number of rounds instead of pytest-benchmark's
# calibration, which keeps the whole suite to a few minutes.
HEAVY_FLOPS = 1e9


def pytest_report_header(config):
    return ([f"nncore: {nncore.__file__}"]
            + ["nncore.bench: " + line.strip() for line in bench.machine_info()])


def _run_case(benchmark, case):
    per_call = f", per call of {case.steps} steps" if case.steps > 1 else ""
    benchmark.group = f"{case.config.name} {case.dtype} {case.op}{per_call}"
    benchmark.extra_info.update(backend=case.backend, steps=case.steps, samples=case.samples,
                                flops=case.flops)
    if case.flops >= HEAVY_FLOPS:
        rounds = 10 if case.flops < 5 * HEAVY_FLOPS else 3
        benchmark.pedantic(case.fn, rounds=rounds, iterations=1, warmup_rounds=1)
    else:
        benchmark(case.fn)


@pytest.fixture
def run_case(benchmark):
    """``run_case(case)`` times ``case.fn`` (one call = ``case.steps`` steps) with ``benchmark``.

    The group is the case's (config, dtype, op), so pytest-benchmark prints the backends side by
    side; ``extra_info`` carries what turns a call's time into a per-step rate.
    """
    return lambda case: _run_case(benchmark, case)
