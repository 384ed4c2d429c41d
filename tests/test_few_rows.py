"""The few-row kernels (path "few"): products with fewer rows than a SIMD register tile
(batch-1 inference, online learning, the last partial batch), for op(B) = B (z_prev @ W, one
pass over W), op(B) = B.T (delta @ W.T, dot products of rows) and op(A) = A.T with a small
inner dimension (the weight gradient and SGD update of a few examples, one pass over W).

Checked against numpy.matmul in float64 on every SIMD cpu path this CPU has, every row count
from 1 to one past a tile, odd sizes across the vector widths, alpha and beta, both dtypes."""
import threading

import numpy as np
import pytest

from nncore import _kernels as K

from _helpers import ATOL, DTYPES, RTOL

SIMD_PATHS = [p for p in K.cpu_paths() if p != "portable"]
CASES = {"NN": (False, False), "NT": (False, True), "TN": (True, False)}
# (k, n): inner dimension and columns, odd, across one and two vectors of both dtypes and
# the 4-wide blocks of the kernels
SIZES = [(1, 1), (3, 5), (5, 33), (9, 70), (31, 17), (257, 67)]


@pytest.fixture(params=SIMD_PATHS or [None])
def simd_path(request):
    if request.param is None:
        pytest.skip("this CPU has no SIMD cpu path")
    previous = K.set_cpu_path(request.param)
    yield request.param
    K.set_cpu_path(previous)


def operands(rng, case, m, k, n, dtype):
    ta, tb = CASES[case]
    A = rng.normal(size=(k, m) if ta else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if tb else (k, n)).astype(dtype)
    return A, B, ta, tb


def reference(A, B, C0, ta, tb, alpha, beta):
    """(alpha op(A) op(B) + beta C0 in float64, the rounding-error scale of each value)"""
    opA = A.astype(np.float64).T if ta else A.astype(np.float64)
    opB = B.astype(np.float64).T if tb else B.astype(np.float64)
    C64 = C0.astype(np.float64)
    ref = alpha * np.matmul(opA, opB) + (beta * C64 if beta != 0 else 0)
    scale = abs(alpha) * np.matmul(np.abs(opA), np.abs(opB)) + abs(beta) * np.abs(C64)
    return ref, scale


def check(C, ref, scale, dtype):
    bad = np.abs(C - ref) > RTOL[dtype] * 10 * scale + ATOL[dtype]
    assert not bad.any(), f"{bad.sum()} values off, first at {np.argwhere(bad)[0]}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.5, 2.0), (0.75, 1.0)])
def test_few_path_matches_numpy_matmul_at_every_row_count(case, alpha, beta, dtype,
                                                          simd_path):
    rows = K.tile_shape(dtype)[0]
    rng = np.random.default_rng(rows)
    for m in range(1, rows + 2):
        for k, n in SIZES:
            A, B, ta, tb = operands(rng, case, m, k, n, dtype)
            C0 = rng.normal(size=(m, n)).astype(dtype)
            ref, scale = reference(A, B, C0, ta, tb, alpha, beta)
            for path in ("few", "auto"):
                C = C0.copy()
                K.matmul_into(A, B, C, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta,
                              path=path)
                check(C, ref, scale, dtype)
                # and the same numbers as numpy.matmul in the operands' own dtype
                if alpha == 1 and beta == 0:
                    np.testing.assert_allclose(
                        C, np.matmul(A.T if ta else A, B.T if tb else B),
                        rtol=RTOL[dtype] * 10, atol=ATOL[dtype] * 10 * k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_weight_update_of_few_examples_reads_w_once(beta, dtype, simd_path):
    # W = beta * W + alpha * z_prev.T @ delta with 1..tile rows + 1 examples: the SGD step's
    # update (beta = 1, a rank-k update) and the gradient of one batch (beta = 0), on a layer
    # wide enough that the automatic choice takes the few-row kernel
    rows = K.tile_shape(dtype)[0]
    rng = np.random.default_rng(3)
    n_in, n_out = 131, 203
    for k in range(1, rows + 2):
        z_prev = rng.normal(size=(k, n_in)).astype(dtype)
        delta = rng.normal(size=(k, n_out)).astype(dtype)
        W0 = rng.normal(size=(n_in, n_out)).astype(dtype)
        ref, scale = reference(z_prev, delta, W0, True, False, -0.01, beta)
        if k < rows:
            assert K.gemm_path(True, False, n_in, n_out, k, dtype) == "few"
        W = W0.copy()
        K.matmul_into(z_prev, delta, W, trans_a=True, alpha=-0.01, beta=beta)
        check(W, ref, scale, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_path_takes_few_rows_below_a_tile(dtype, simd_path):
    rows, cols = K.tile_shape(dtype)
    for m in range(1, rows):
        assert K.gemm_path(False, False, m, 1024, 784, dtype) == "few"   # z_prev @ W
        assert K.gemm_path(False, True, m, 784, 1024, dtype) == "few"    # delta @ W.T
        assert K.gemm_path(True, False, 784, 1024, m, dtype) == "few"    # z_prev.T @ delta
    # a full tile of rows goes back to the tiles (or BLAS), but for z_prev @ W of a layer
    # that BLAS would take (from 4 million multiply-adds)
    assert K.gemm_path(False, False, rows, 1024, 784, dtype) == "few"
    assert K.gemm_path(False, False, rows, 256, 784, dtype) == "simd"
    assert K.gemm_path(False, True, rows, 784, 1024, dtype) != "few"
    assert K.gemm_path(True, False, 784, 1024, rows, dtype) != "few"
    assert K.gemm_path(False, False, rows + 1, 1024, 784, dtype) != "few"
    # narrow outputs (fewer columns than two tiles) keep the tiles, whose accumulators stay in
    # registers
    assert K.gemm_path(False, False, 1, 2 * cols - 1, 784, dtype) != "few"
    assert K.gemm_path(True, False, 784, 2 * cols - 1, 1, dtype) != "few"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_few_path_carries_nan_and_inf_from_the_first_and_last_index(case, dtype, simd_path):
    rng = np.random.default_rng(5)
    rows = K.tile_shape(dtype)[0]
    for m, k, n in [(1, 37, 70), (rows - 1, 37, 70), (3, 2, 131)]:
        A, B, ta, tb = operands(rng, case, m, k, n, dtype)
        A.flat[0] = np.nan
        B.flat[-1] = np.inf
        C = np.full((m, n), 7.0, dtype)
        K.matmul_into(A, B, C, trans_a=ta, trans_b=tb, path="few")
        with np.errstate(invalid="ignore"):
            ref = np.matmul(A.astype(np.float64).T if ta else A.astype(np.float64),
                            B.astype(np.float64).T if tb else B.astype(np.float64))
        np.testing.assert_array_equal(np.isnan(C), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(C), np.isinf(ref))
        finite = np.isfinite(ref)
        np.testing.assert_allclose(C[finite], ref[finite], rtol=RTOL[dtype] * 100,
                                   atol=ATOL[dtype] * 100 * k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_few_path_with_beta_zero_overwrites_nan_in_c(case, dtype, simd_path):
    rng = np.random.default_rng(6)
    A, B, ta, tb = operands(rng, case, 3, 19, 45, dtype)
    C = np.full((3, 45), np.nan, dtype)
    K.matmul_into(A, B, C, trans_a=ta, trans_b=tb, alpha=1.0, beta=0.0, path="few")
    ref, scale = reference(A, B, np.zeros((3, 45), dtype), ta, tb, 1.0, 0.0)
    check(C, ref, scale, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_of_few_rows_adds_the_bias(dtype, simd_path):
    # a = z_prev @ W + b with the bias written as the rows of a start (path "few")
    rows = K.tile_shape(dtype)[0]
    rng = np.random.default_rng(7)
    n_in, n_out = 301, 257
    W = rng.normal(size=(n_in, n_out)).astype(dtype)
    b = rng.normal(size=n_out).astype(dtype)
    for m in range(1, rows + 2):
        z_prev = rng.normal(size=(m, n_in)).astype(dtype)
        a = np.full((m, n_out), np.nan, dtype)
        K.dense_forward_into(z_prev, W, b, a)
        ref, scale = reference(z_prev, W, np.zeros((m, n_out)), False, False, 1.0, 0.0)
        check(a, ref + b, scale + np.abs(b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_few_path_from_several_threads(dtype, simd_path):
    # the kernels keep no state: products in four threads at once give each its own result
    rng = np.random.default_rng(8)
    jobs = []
    for t in range(4):
        case = list(CASES)[t % 3]
        A, B, ta, tb = operands(rng, case, 1 + t, 300, 517, dtype)
        jobs.append((A, B, ta, tb, np.empty((1 + t, 517), dtype)))
    errors = []

    def work(A, B, ta, tb, C):
        try:
            for _ in range(50):
                K.matmul_into(A, B, C, trans_a=ta, trans_b=tb, path="few")
        except Exception as exc:     # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for A, B, ta, tb, C in jobs:
        ref, scale = reference(A, B, np.zeros_like(C), ta, tb, 1.0, 0.0)
        check(C, ref, scale, dtype)


def test_few_path_is_refused_on_the_portable_path_and_changes_nothing():
    previous = K.set_cpu_path("portable")
    try:
        C = np.full((1, 3), 5.0)
        with pytest.raises(ValueError, match="few"):
            K.matmul_into(np.ones((1, 2)), np.ones((2, 3)), C, path="few")
        np.testing.assert_array_equal(C, 5.0)
        assert K.tile_shape(np.float64) is None
        assert K.gemm_path(False, False, 1, 1024, 784, np.float64) != "few"
    finally:
        K.set_cpu_path(previous)


def test_tile_shape_refuses_other_dtypes():
    with pytest.raises(ValueError, match="float32 or float64"):
        K.tile_shape(np.int32)
