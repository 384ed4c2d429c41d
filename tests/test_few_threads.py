"""The few-row products of large layers, and the SIMD tiles' products from a million
multiply-adds, on several threads (``set_num_threads``): the columns of C (for a small inner
dimension or a narrow output, its rows) shared by the caller and persistent workers.

Every value is computed by one thread as the one-thread kernel computes it, so the results must
be bit-identical to ``set_num_threads(1)``'s at any thread count, on every SIMD cpu path, both
dtypes, below and above the size from which the threads are used, across the chunk and vector
edges, and from several Python threads at once; and they must match numpy.matmul."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from nncore import _kernels as K

from _helpers import DTYPES
from test_few_rows import (CASES, SIMD_PATHS, check, operands, reference,  # noqa: F401
                            simd_path)   # (the fixture: each SIMD cpu path)

# (m, k, n) per case: below the threads' threshold (256 KB of operands in float64 too) and
# above it, with column counts off the vector and chunk widths (33: two chunks of 32 and 1)
SHAPES = {
    "NN": [(1, 23, 1031), (3, 300, 1031), (7, 2100, 33), (1, 1024, 1024)],
    "NT": [(1, 23, 1031), (2, 300, 1031), (1, 2100, 33), (5, 1024, 784)],
    "TN": [(1000, 1, 23), (1000, 3, 517), (784, 1, 1024), (2049, 2, 33)],
}


@pytest.fixture
def restore_threads():
    previous = K.set_num_threads(1)     # the setting: a count, or None (following BLAS)
    K.set_num_threads(previous)
    yield
    K.set_num_threads(previous)


def product(A, B, ta, tb, C0, alpha, beta, threads, path, tries=50):
    """The product, repeated until one was shared with the workers, at most `tries` times: the
    last result, checked equal to every one before it. A product that finds the workers
    asleep runs alone and wakes them; so each try comes right after a few products by the
    same path into a scratch array, which keep them awake (the few-row kernel's for "auto")."""
    K.set_num_threads(threads)
    first = None
    scratch = np.empty_like(C0)
    for _ in range(tries):
        splits = K._few_splits()
        C = C0.copy()
        if threads > 1:
            K.matmul_repeat(A, B, scratch, ta, tb, "few" if path == "auto" else path, 3)
        K.matmul_into(A, B, C, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, path=path)
        if first is None:
            first = C
        np.testing.assert_array_equal(C, first)
        if threads == 1 or K._few_splits() > splits:
            break
    return C


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.5, 2.0)])
def test_threads_give_the_one_thread_result_bit_for_bit(case, alpha, beta, dtype, simd_path,
                                                         restore_threads):
    rng = np.random.default_rng(1)
    ta, tb = CASES[case]
    splits = K._few_splits()
    for m, k, n in SHAPES[case]:
        A, B, ta, tb = operands(rng, case, m, k, n, dtype)
        C0 = rng.normal(size=(m, n)).astype(dtype)
        one = product(A, B, ta, tb, C0, alpha, beta, 1, "few")
        for threads in (2, 3):
            for path in ("few", "auto"):
                got = product(A, B, ta, tb, C0, alpha, beta, threads, path)
                if K.gemm_path(ta, tb, m, n, k, dtype) == "few" or path == "few":
                    np.testing.assert_array_equal(got, one, err_msg=f"{m, k, n} {threads}")
        ref, scale = reference(A, B, C0, ta, tb, alpha, beta)
        check(one, ref, scale, dtype)
    assert K._few_splits() > splits, "no product was shared with the workers"


# (m, k, n) of products the SIMD tiles share out (at least a million multiply-adds): columns in
# whole tiles with a part-filled last one, and, for a single tile of columns, rows in whole
# row tiles with a part-filled last one; (9, 300, 700): rows of B far apart, which the tiles
# prefetch
TILE_SHAPES = {
    "NN": [(16, 784, 130), (1501, 100, 10), (9, 300, 700)],
    "NT": [(9, 1024, 131), (1501, 70, 10)],
    "TN": [(131, 100, 129), (1501, 70, 10)],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_tiles_on_threads_give_the_one_thread_result_bit_for_bit(case, dtype, simd_path,
                                                                 restore_threads):
    rng = np.random.default_rng(5)
    splits = K._few_splits()
    for m, k, n in TILE_SHAPES[case]:
        A, B, ta, tb = operands(rng, case, m, k, n, dtype)
        C0 = rng.normal(size=(m, n)).astype(dtype)
        one = product(A, B, ta, tb, C0, -0.5, 2.0, 1, "simd")
        for threads in (2, 3):
            got = product(A, B, ta, tb, C0, -0.5, 2.0, threads, "simd")
            np.testing.assert_array_equal(got, one, err_msg=f"{m, k, n} {threads}")
        ref, scale = reference(A, B, C0, ta, tb, -0.5, 2.0)
        check(one, ref, scale, dtype)
    assert K._few_splits() > splits, "no product was shared with the workers"


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiles_on_threads_keep_a_nan_in_its_own_values(dtype, simd_path, restore_threads):
    # NaN in the first column and the first row of op(A), inf in the last value of B: the
    # first chunk is the caller's, the last another thread's
    rng = np.random.default_rng(6)
    A = rng.normal(size=(1501, 100)).astype(dtype)
    B = rng.normal(size=(100, 130)).astype(dtype)
    A[0, 0] = np.nan
    B[-1, -1] = np.inf
    A[-1, -1] = 0.5
    C = product(A, B, False, False, np.zeros((1501, 130), dtype), 1.0, 0.0, 2, "simd")
    assert np.isnan(C[0]).all() and np.isinf(C[1:, -1]).all()
    assert np.isfinite(C[1:, :-1]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n_in, n_out", [(1, 784, 1000), (16, 784, 300), (1501, 100, 10)])
def test_dense_forward_on_threads_adds_the_bias(m, n_in, n_out, dtype, simd_path,
                                                restore_threads):
    # one row: the few-row kernel's columns shared; 16 rows: the tiles' columns; 1501 rows of
    # 10 outputs: the tiles' rows
    rng = np.random.default_rng(2)
    z_prev = rng.normal(size=(m, n_in)).astype(dtype)
    W = rng.normal(size=(n_in, n_out)).astype(dtype)
    b = rng.normal(size=n_out).astype(dtype)
    out = {}
    for threads in (1, 2):
        K.set_num_threads(threads)
        for _ in range(50):     # until a call found the workers awake and shared the product
            splits = K._few_splits()
            a = np.full((m, n_out), np.nan, dtype)
            K.dense_forward_into(z_prev, W, b, a)
            if threads == 1 or K._few_splits() > splits:
                break
        assert threads == 1 or K._few_splits() > splits, "the product was never shared"
        out[threads] = a
    np.testing.assert_array_equal(out[2], out[1])
    ref, scale = reference(z_prev, W, np.zeros((m, n_out)), False, False, 1.0, 0.0)
    check(out[2], ref + b, scale + np.abs(b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_at_the_first_and_last_column_reaches_its_own_value_only(dtype, simd_path,
                                                                    restore_threads):
    # the first column is in the caller's first chunk, the last in another thread's
    rng = np.random.default_rng(3)
    A = rng.normal(size=(1, 1024)).astype(dtype)
    B = rng.normal(size=(1024, 1031)).astype(dtype)
    B[:, 0] = np.nan
    B[-1, -1] = np.inf
    C = product(A, B, False, False, np.zeros((1, 1031), dtype), 1.0, 0.0, 2, "few")
    assert np.isnan(C[0, 0]) and np.isinf(C[0, -1])
    assert np.isfinite(C[0, 1:-1]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_from_several_python_threads_at_once(dtype, simd_path, restore_threads):
    # one caller owns the pool at a time; the others run alone: every result still exact
    rng = np.random.default_rng(4)
    jobs = []
    for t, case in enumerate(["NN", "NT", "TN", "NN"]):
        m, k, n = SHAPES[case][t % 2 + 1]
        A, B, ta, tb = operands(rng, case, m, k, n, dtype)
        jobs.append((A, B, ta, tb, np.empty((m, n), dtype)))
    expected = [product(A, B, ta, tb, C, 1.0, 0.0, 1, "auto") for A, B, ta, tb, C in jobs]
    K.set_num_threads(2)
    errors = []
    barrier = threading.Barrier(len(jobs))

    def work(A, B, ta, tb, C, want):
        try:
            barrier.wait()
            for _ in range(30):
                K.matmul_into(A, B, C, trans_a=ta, trans_b=tb)
                if not np.array_equal(C, want):
                    errors.append("a product differed from the one-thread result")
                    return
        except Exception as exc:     # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=job + (want,))
               for job, want in zip(jobs, expected)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_set_num_threads_refuses_bad_counts_and_changes_nothing(restore_threads):
    K.set_num_threads(2)
    for bad, error in [(0, ValueError), (33, ValueError), (-1, ValueError),
                       (1.5, TypeError), (True, TypeError), ("2", TypeError)]:
        with pytest.raises(error, match="threads"):
            K.set_num_threads(bad)
        assert K.num_threads() == 2
    assert K.set_num_threads(np.int64(3)) == 2 and K.num_threads() == 3
    assert K.set_num_threads(None) == 3
    assert 1 <= K.num_threads() <= 32 and K.set_num_threads(None) is None


def test_the_default_follows_numpys_blas_threads(restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if K.blas_info()["library"] != "numpy" or not SIMD_PATHS:
        pytest.skip("follows NumPy's own OpenBLAS, on a SIMD cpu path")
    K.set_num_threads(None)
    with threadpoolctl.threadpool_limits(1):
        assert K.num_threads() == 1
    with threadpoolctl.threadpool_limits(3):
        assert K.num_threads() == 3


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def test_environment_variable_sets_the_threads_and_a_bad_one_is_refused():
    ok = run_python("from nncore import _kernels as K; print(K.num_threads())",
                    NNCORE_NUM_THREADS="3")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split()[-1] == ("3" if SIMD_PATHS else "1")
    for value in ("two", "0", "33"):
        bad = run_python("import nncore._kernels", NNCORE_NUM_THREADS=value)
        assert bad.returncode != 0 and "NNCORE_NUM_THREADS" in bad.stderr


@pytest.mark.skipif(not SIMD_PATHS or not os.path.isdir("/proc/self/task")
                    or not hasattr(os, "fork"), reason="needs SIMD kernels, Linux and fork")
@pytest.mark.skipif(os.environ.get("NNCORE_SANITIZE", "") not in ("", "0"),
                    reason="ThreadSanitizer cannot start threads after a multi-threaded fork")
def test_workers_start_once_lazily_and_again_in_a_forked_child():
    # the workers (OS threads named nncore-few): none at import or after one-thread
    # products, one started by the first two-thread product and never another, and a forked
    # child (which has none) starts its own and computes the same values
    out = run_python("""
        import os, numpy as np
        from nncore import _kernels as K

        def tasks():
            names = []
            for t in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{t}/comm") as f:
                    names.append(f.read().strip())
            return names.count("nncore-few")
        rng = np.random.default_rng(0)
        A = rng.normal(size=(1, 1024)); B = rng.normal(size=(1024, 1024))
        C = np.empty((1, 1024))
        K.set_num_threads(1)
        start = tasks()
        assert start == 0, start
        K.matmul_into(A, B, C, path="few"); one = C.copy()
        assert tasks() == start, "a one-thread product started a thread"
        K.set_num_threads(2)
        splits = K._few_splits()
        for _ in range(100):
            K.matmul_into(A, B, C, path="few")
        assert tasks() == start + 1, (start, tasks())
        assert K._few_splits() > splits
        assert np.array_equal(C, one)
        pid = os.fork()
        if pid == 0:
            child = tasks()
            K.matmul_into(A, B, C, path="few")
            os._exit(0 if np.array_equal(C, one) and child == 0 and tasks() == 1 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0, status
        print("ok")
        """, NNCORE_NUM_THREADS="2", NNCORE_CPU=SIMD_PATHS[-1])   # (CI also runs the suite
    # with NNCORE_CPU=portable, where no product takes the few-row path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
