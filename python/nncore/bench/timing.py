"""Timing: best-of-repeats of a prepared case, matmul rates, nncore mixed with NumPy, and many
networks trained at once in threads.

Every time here is ``time.perf_counter`` around calls back to back, with the garbage collector
off during a repeat; the best repeat counts (other load only ever slows a run down).
"""
import dataclasses
import gc
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from .baselines import Case, make_case
from .networks import CONFIGS, GEMM_SHAPE, LR, build_network, make_data

__all__ = ["measure", "gemm_operands", "numpy_matmul_rate", "numpy_step_rate", "time_matmul",
           "blas_gemm_rate", "mixed_with_numpy", "ThreadsResult", "ManyNetworks",
           "many_networks"]


def _seconds(fn, calls):
    """Mean seconds per call over `calls` calls back to back, the garbage collector off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in itertools.repeat(None, calls):
            fn()
        return (time.perf_counter() - start) / calls
    finally:
        if enabled:
            gc.enable()


def _best(fn, target, repeats):
    """Best-of-`repeats` mean seconds per call of `fn`, each repeat about `target` seconds.

    The number of calls per repeat is calibrated on one call (at least one; then the
    calibration call counts as the first repeat).
    """
    once = _seconds(fn, 1)
    calls = max(1, int(target / max(once, 1e-9)))
    best = once if calls == 1 else float("inf")
    for _ in range(repeats - (calls == 1)):
        best = min(best, _seconds(fn, calls))
    return best


def measure(case, target=0.02, repeats=5):
    """Best-of-`repeats` mean seconds per call of ``case.fn`` (one call = ``case.steps``
    steps), the repeats back to back, each about `target` seconds."""
    return _best(case.fn, target, repeats)


# -- matmul rates ----------------------------------------------------------------------------------

def gemm_operands(dtype, m=GEMM_SHAPE[0], k=GEMM_SHAPE[1], n=GEMM_SHAPE[2]):
    """(A, B, C): C-contiguous A (m, k), B (k, n) of random values and C (m, n) of zeros."""
    rng = np.random.default_rng(0)
    A = rng.random((m, k), dtype=np.dtype(dtype).type)
    B = rng.random((k, n), dtype=np.dtype(dtype).type)
    return A, B, np.zeros((m, n), dtype=dtype)


def numpy_matmul_rate(dtype, m=GEMM_SHAPE[0], k=GEMM_SHAPE[1], n=GEMM_SHAPE[2], target=0.02,
                      repeats=10):
    """GFLOP/s of ``np.matmul(A, B, out=C)`` with A (m, k), B (k, n): NumPy's BLAS, its
    threads as they are. Best of `repeats` runs of about `target` seconds each."""
    A, B, C = gemm_operands(dtype, m, k, n)
    seconds = _best(partial(np.matmul, A, B, out=C), target, repeats)
    return 2.0 * m * n * k / seconds / 1e9


def numpy_step_rate(config, dtype, target=0.02, repeats=10):
    """GFLOP/s of NumPy's matmul on the products of one training step of `config` itself:
    per layer the forward ``z_prev @ W``, the weight gradient ``z_prev.T @ delta`` and (every
    layer but the first) the input gradient ``delta @ W.T``, transposes as views, each timed on
    its own (best of `repeats`), the step's FLOPs over the sum of the times. What any step
    calling NumPy's BLAS for its products could reach at most: the bound of nncore's fit rate
    (the GEMM_SHAPE rate is that of the most favourable shape only)."""
    rng = np.random.default_rng(0)
    t = np.dtype(dtype).type
    total = 0.0
    for l, (n_in, n_out) in enumerate(config.shapes):
        z_prev = rng.random((config.batch, n_in), dtype=t)
        W = rng.random((n_in, n_out), dtype=t)
        delta = rng.random((config.batch, n_out), dtype=t)
        products = [(z_prev, W, np.empty((config.batch, n_out), dtype=t)),
                    (z_prev.T, delta, np.empty((n_in, n_out), dtype=t))]
        if l > 0:
            products.append((delta, W.T, np.empty((config.batch, n_in), dtype=t)))
        for A, B, C in products:
            total += _best(partial(np.matmul, A, B, out=C), target, repeats)
    return config.flops("train_step") / total / 1e9


def time_matmul(A, B, C, trans_a, trans_b, path, reps):
    """Seconds per product of `reps` products C = op(A) @ op(B) by the core's loops (path
    "loops") or BLAS ("blas"), run back to back in one nogil call of
    ``nncore._kernels.matmul_repeat`` (AttributeError where the core has none)."""
    from .. import _kernels
    start = time.perf_counter()
    _kernels.matmul_repeat(A, B, C, trans_a, trans_b, path, reps)
    return (time.perf_counter() - start) / reps


def blas_gemm_rate(dtype, m=GEMM_SHAPE[0], k=GEMM_SHAPE[1], n=GEMM_SHAPE[2], target=0.02,
                   repeats=10):
    """GFLOP/s of the BLAS gemm that nncore's core calls, C(m, n) = A(m, k) @ B(k, n), or None
    where the core has no ``matmul_repeat`` to time it with."""
    from .. import _kernels
    if not hasattr(_kernels, "matmul_repeat"):
        return None
    A, B, C = gemm_operands(dtype, m, k, n)
    once = min(time_matmul(A, B, C, False, False, "blas", 1) for _ in range(2))
    reps = max(1, int(target / max(once, 1e-9)))
    seconds = min(time_matmul(A, B, C, False, False, "blas", reps) for _ in range(repeats))
    return 2.0 * m * n * k / seconds / 1e9


# -- nncore next to NumPy --------------------------------------------------------------------------

def mixed_with_numpy(dtype, target=0.02, repeats=5):
    """Seconds per call of (nncore train_step, a NumPy matmul, the two alternating).

    On 784-256-10 b64, with the matmul of its first layer's forward shape (64 x 784 @ 784 x
    256) done by NumPy's own BLAS: code that mixes nncore and NumPy pays where the two use
    different BLAS thread pools that take turns (docs/user-guide/performance.md, "How the core
    computes").
    """
    config = CONFIGS[3]
    step = make_case(config, dtype, "train_step", "nncore")
    A, B, _ = gemm_operands(dtype, config.batch, config.sizes[0], config.sizes[1])
    matmul = Case(config, dtype, "matmul", "numpy", partial(np.matmul, A, B), 1, config.batch,
                  2 * A.shape[0] * A.shape[1] * B.shape[1])
    both = Case(config, dtype, "mixed", "nncore+numpy", lambda: (step.fn(), matmul.fn()), 1,
                config.batch, step.flops + matmul.flops)
    return tuple(measure(case, target, repeats) for case in (step, matmul, both))


# -- many networks at once -------------------------------------------------------------------------

@dataclasses.dataclass
class ThreadsResult:
    """K networks trained with ``fit``: one after the other, and in K threads at once.

    ``sequential`` and ``threaded`` are the best seconds of the whole job (K fits of
    ``epochs`` epochs over ``config.fit_steps`` batches each), BLAS limited to one thread.
    """
    config: object
    dtype: str
    k: int
    epochs: int
    sequential: float
    threaded: float

    @property
    def speedup(self):
        """Throughput in threads over throughput one after the other (ideal: k)."""
        return self.sequential / self.threaded


class ManyNetworks:
    """`k` networks of `config`, each with its own data and seed, to train by ``fit`` one after
    the other (``sequential``) or in `k` threads at once (``threaded``).

    A context manager: inside it BLAS is limited to one thread
    (``threadpoolctl.threadpool_limits(1)``), so that the threads, not BLAS, use the cores, and
    a pool of `k` worker threads is ready. Raises ImportError without threadpoolctl.
    """

    def __init__(self, config, dtype, k, seed=0):
        from threadpoolctl import threadpool_limits
        self._limits = threadpool_limits
        self.config, self.dtype, self.k = config, str(np.dtype(dtype)), k
        n = config.batch * config.fit_steps
        self.nets = [build_network(config, dtype, seed=seed + i) for i in range(k)]
        self.data = [make_data(config, dtype, n, seed=seed + i) for i in range(k)]

    def __enter__(self):
        self._context = self._limits(limits=1)
        self._context.__enter__()
        self._pool = ThreadPoolExecutor(max_workers=self.k)
        return self

    def __exit__(self, *exc):
        self._pool.shutdown()
        return self._context.__exit__(*exc)

    def train(self, i, epochs=1):
        """``fit`` network `i` for `epochs` epochs on its data."""
        X, labels = self.data[i]
        self.nets[i].fit(X, labels, epochs=epochs, lr=LR, batch_size=self.config.batch)

    def sequential(self, epochs=1):
        """Train the networks one after the other, in this thread."""
        for i in range(self.k):
            self.train(i, epochs)

    def threaded(self, epochs=1):
        """Train the networks at once, one per worker thread (re-raises a thread's error)."""
        list(self._pool.map(self.train, range(self.k), [epochs] * self.k))


def many_networks(config, dtype, k, target=0.1, repeats=3, seed=0):
    """Time `k` networks of `config` trained by ``fit``, one after the other and in `k` threads.

    See ``ManyNetworks`` (BLAS limited to one thread). The epochs are chosen so that one
    network's fit runs about `target` seconds; the two ways alternate, `repeats` times each,
    and the best of each counts.

    Returns a ThreadsResult. Raises ImportError when threadpoolctl is not installed.
    """
    with ManyNetworks(config, dtype, k, seed) as job:
        job.train(0)  # warm-up
        once = _seconds(partial(job.train, 0), 1)
        epochs = max(1, round(target / max(once, 1e-9)))
        job.threaded()  # warm-up: every network and every worker thread
        best_seq = best_thr = float("inf")
        for _ in range(repeats):
            best_seq = min(best_seq, _seconds(partial(job.sequential, epochs), 1))
            best_thr = min(best_thr, _seconds(partial(job.threaded, epochs), 1))
    return ThreadsResult(job.config, job.dtype, k, epochs, best_seq, best_thr)
