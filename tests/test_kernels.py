"""Every kernel of the core (nncore._kernels' def wrappers) against NumPy, in float32 and
float64, with a tolerance per dtype; and the kernels' numerical stability."""
import functools
import itertools
import warnings

import numpy as np
import pytest

import nncore
from nncore import _kernels as K
from nncore._engine import shuffled_index
from nncore.activations import IDENTITY, LEAKY_RELU, RELU, SIGMOID, SOFTMAX, TANH
from nncore.losses import BINARY_CROSS_ENTROPY, CROSS_ENTROPY, MSE

from _helpers import (ATOL, DTYPES, RTOL, central_difference, ref_backward, ref_forward,
                      ref_logsumexp, ref_loss, ref_loss_gradient, ref_sigmoid, ref_softmax)

CODES = {"identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU,
         "leaky_relu": LEAKY_RELU, "softmax": SOFTMAX}
LOSSES = {"mse": MSE, "cross_entropy": CROSS_ENTROPY,
          "binary_cross_entropy": BINARY_CROSS_ENTROPY}


def rand(rng, shape, dtype, scale=1.0):
    return np.ascontiguousarray(rng.normal(scale=scale, size=shape).astype(dtype))


# -- matmul --------------------------------------------------------------------------------------

SHAPES = [  # (m, k, n): op(A) is (m, k), op(B) is (k, n)
    (1, 1, 1), (1, 7, 1), (1, 5, 4), (4, 5, 1), (3, 1, 6), (7, 13, 5), (16, 16, 16),
    (33, 17, 29), (64, 70, 40), (300, 200, 150),
    # across the SIMD tiles' edges: 6-row tiles, 8/16/32-column panels (AVX2 and AVX-512,
    # float64 and float32), 256-row blocks of a transposed B
    (6, 3, 8), (12, 5, 16), (13, 9, 17), (5, 2, 31), (7, 4, 33), (11, 257, 9), (2, 520, 40),
    # narrow products, which "auto" may send to BLAS (see test_gemm_path_sends_narrow_...): one
    # column, three, and ten on both sides of 8,192 multiply-adds
    (64, 256, 1), (200, 64, 3), (40, 32, 10), (32, 25, 10),
]
PATHS = ["loops", "simd", "blas", "auto"]


@pytest.fixture(params=K.cpu_paths())
def cpu_path(request):
    """Each kernel test runs on every cpu path this CPU has (the portable one included)."""
    previous = K.set_cpu_path(request.param)
    yield request.param
    K.set_cpu_path(previous)


def check_path(path, cpu_path):
    if path == "simd" and cpu_path == "portable":
        pytest.skip("no SIMD tiles on the portable cpu path")
TRANS = list(itertools.product([False, True], repeat=2))


def matmul_reference(A, B, C0, trans_a, trans_b, alpha, beta):
    """(float64 result, error scale) of alpha op(A) op(B) + beta C0: the scale is
    |alpha| |op(A)| |op(B)| + |beta| |C0|, the bound that rounding errors are relative to."""
    A64, B64, C64 = A.astype(np.float64), B.astype(np.float64), C0.astype(np.float64)
    opA = A64.T if trans_a else A64
    opB = B64.T if trans_b else B64
    ref = alpha * np.matmul(opA, opB) + (beta * C64 if beta != 0 else 0)
    scale = abs(alpha) * np.matmul(np.abs(opA), np.abs(opB)) + abs(beta) * np.abs(C64)
    return ref, scale


def operands(rng, m, k, n, trans_a, trans_b, dtype):
    A = rand(rng, (k, m) if trans_a else (m, k), dtype)
    B = rand(rng, (n, k) if trans_b else (k, n), dtype)
    return A, B


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("trans_a, trans_b", TRANS)
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_into_matches_numpy_matmul(m, k, n, trans_a, trans_b, path, dtype, cpu_path):
    check_path(path, cpu_path)
    rng = np.random.default_rng(m * 10007 + k * 101 + n)
    A, B = operands(rng, m, k, n, trans_a, trans_b, dtype)
    C = np.full((m, n), 7.0, dtype=dtype)
    K.matmul_into(A, B, C, trans_a=trans_a, trans_b=trans_b, path=path)
    ref, scale = matmul_reference(A, B, np.zeros((m, n), dtype), trans_a, trans_b, 1.0, 0.0)
    assert np.all(np.abs(C - ref) <= RTOL[dtype] * scale + ATOL[dtype])
    # and the same numbers as numpy.matmul on the operands themselves, in their dtype
    opA = A.T if trans_a else A
    opB = B.T if trans_b else B
    np.testing.assert_allclose(C, np.matmul(opA, opB), rtol=RTOL[dtype] * 10,
                               atol=RTOL[dtype] * scale.max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("trans_a, trans_b", TRANS)
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (-0.5, 2.0), (2.5, -1.0), (0.0, 0.5),
                                         (1.5, 0.0)])
@pytest.mark.parametrize("m, k, n", [(1, 4, 3), (9, 6, 11), (40, 50, 30)])
def test_matmul_into_alpha_beta(m, k, n, alpha, beta, trans_a, trans_b, path, dtype, cpu_path):
    check_path(path, cpu_path)
    rng = np.random.default_rng(k * 31 + n)
    A, B = operands(rng, m, k, n, trans_a, trans_b, dtype)
    C0 = rand(rng, (m, n), dtype)
    C = C0.copy()
    K.matmul_into(A, B, C, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, path=path)
    ref, scale = matmul_reference(A, B, C0, trans_a, trans_b, alpha, beta)
    assert np.all(np.abs(C - ref) <= RTOL[dtype] * scale + ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("trans_a, trans_b", TRANS)
@pytest.mark.parametrize("m, k, n", [(1, 3, 2), (5, 4, 3), (60, 70, 80)])
def test_matmul_into_beta_zero_overwrites_nan_in_C(m, k, n, trans_a, trans_b, path, dtype, cpu_path):
    check_path(path, cpu_path)
    rng = np.random.default_rng(0)
    A, B = operands(rng, m, k, n, trans_a, trans_b, dtype)
    C = np.full((m, n), np.nan, dtype=dtype)
    K.matmul_into(A, B, C, trans_a=trans_a, trans_b=trans_b, alpha=1.0, beta=0.0, path=path)
    assert np.isfinite(C).all()
    ref, scale = matmul_reference(A, B, np.zeros((m, n), dtype), trans_a, trans_b, 1.0, 0.0)
    assert np.all(np.abs(C - ref) <= RTOL[dtype] * scale + ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("trans_a, trans_b", TRANS)
def test_matmul_into_with_k_zero_scales_C(trans_a, trans_b, path, dtype, cpu_path):
    check_path(path, cpu_path)
    m, n = 3, 4
    A = np.zeros((0, m) if trans_a else (m, 0), dtype=dtype)
    B = np.zeros((n, 0) if trans_b else (0, n), dtype=dtype)
    C = np.full((m, n), np.nan, dtype=dtype)
    K.matmul_into(A, B, C, trans_a=trans_a, trans_b=trans_b, beta=0.0, path=path)
    assert np.array_equal(C, np.zeros((m, n)))
    C[...] = 2.0
    K.matmul_into(A, B, C, trans_a=trans_a, trans_b=trans_b, beta=-1.5, path=path)
    assert np.array_equal(C, np.full((m, n), -3.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_into_refuses_mismatched_shapes(dtype):
    A = np.ones((3, 4), dtype)
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        K.matmul_into(A, np.ones((5, 2), dtype), np.ones((3, 2), dtype))
    with pytest.raises(ValueError, match=r"C is \(2, 2\)"):
        K.matmul_into(A, np.ones((4, 2), dtype), np.ones((2, 2), dtype))
    with pytest.raises(ValueError, match="path"):
        K.matmul_into(A, np.ones((4, 2), dtype), np.ones((3, 2), dtype), path="gpu")


def test_matmul_paths_agree_in_float64(cpu_path):
    rng = np.random.default_rng(4)
    A, B = rand(rng, (50, 60), np.float64), rand(rng, (60, 70), np.float64)
    C1 = np.empty((50, 70))
    K.matmul_into(A, B, C1, path="loops")
    for path in ["blas"] + (["simd"] if cpu_path != "portable" else []):
        C2 = np.empty((50, 70))
        K.matmul_into(A, B, C2, path=path)
        np.testing.assert_allclose(C1, C2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a, trans_b", TRANS)
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (-0.3, 0.0), (0.7, -2.0)])
@pytest.mark.parametrize("m, k, n", [(1, 3, 4), (1, 4, 2), (3, 1, 4), (4, 1, 2), (1, 2, 4),
                                     (2, 5, 6), (7, 9, 1)])
def test_tiny_products_give_the_loops_bits(m, k, n, alpha, beta, trans_a, trans_b, dtype,
                                           cpu_path):
    # below 64 multiply-adds every path computes in the loops' order (unvectorised, for
    # speed): the same rounding as path "loops", bit for bit
    assert m * n * k < 64
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    A, B = operands(rng, m, k, n, trans_a, trans_b, dtype)
    C0 = rand(rng, (m, n), dtype)
    C1, C2 = C0.copy(), C0.copy()
    K.matmul_into(A, B, C1, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta,
                  path="loops")
    K.matmul_into(A, B, C2, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta,
                  path="auto")
    np.testing.assert_array_equal(C1, C2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_path_sends_narrow_products_to_blas(dtype, cpu_path):
    # the automatic choice (_kernels._gemm_path) at the edges of its narrow-product rules
    path = functools.partial(K.gemm_path, dtype=dtype)
    if cpu_path == "portable":
        assert path(False, False, 8, 4, 7) == "loops"          # 224 multiply-adds
        assert path(False, False, 256, 4, 1) == "blas"
        assert path(True, False, 64, 10, 64) == "blas"
        return
    # at most 4 columns: any product, from 1024 multiply-adds on
    for trans_a, trans_b in TRANS:
        assert path(trans_a, trans_b, 256, 4, 1) == "blas"
        assert path(trans_a, trans_b, 255, 4, 1) == "simd"     # 1020
        assert path(trans_a, trans_b, 256, 1, 64) == "blas"
        assert path(trans_a, trans_b, 32, 5, 32) == "simd"     # 5120 < 8192
    # op(A) = A.T with at most 5/8 of a tile's columns (two vectors), from 8192 on: BLAS; one
    # column more, or op(A) = A: the tiles
    tile = (128 if cpu_path == "avx512" else 64) // np.dtype(dtype).itemsize
    widest = int(0.625 * tile)
    assert path(True, False, 64, widest, 64) == "blas"
    assert path(True, False, 64, widest + 1, 64) == "simd"
    assert path(False, False, 64, widest, 64) == "simd"
    assert path(True, False, 32, widest, 8192 // (32 * widest) + 1) == "blas"
    assert path(True, False, 32, widest, 8191 // (32 * widest)) == "simd"
    # and large products are BLAS's whatever their width
    assert path(False, False, 256, 64, 256) == "blas"


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_path_sends_wide_transposed_products_to_blas(dtype, cpu_path):
    # the weight gradient and the backward product of a few examples on a wide layer: BLAS
    # from a million multiply-adds (the tiles' strided reads or transposed copy cost more);
    # the forward product of the same shape, and smaller ones, keep the tiles
    path = functools.partial(K.gemm_path, dtype=dtype)
    if cpu_path == "portable":
        pytest.skip("no SIMD tiles on the portable path")
    assert path(True, False, 784, 256, 8) == "blas"      # 1.6 million
    assert path(False, True, 8, 784, 256) == "blas"
    assert path(True, False, 64, 64, 200) == "simd"      # 819,200
    assert path(False, True, 200, 64, 64) == "simd"
    assert path(False, False, 8, 256, 784) == "simd"


def test_set_cpu_path_refuses_unknown_paths_and_keeps_the_current_one():
    before = K.cpu_path()
    with pytest.raises(ValueError, match="unknown cpu path"):
        K.set_cpu_path("sse9")
    assert K.cpu_path() == before
    assert K.cpu_paths()[0] == "portable" and before in K.cpu_paths()


@pytest.mark.parametrize("library", ["numpy", "scipy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_both_blas_libraries_compute_the_product(library, dtype):
    # the core calls NumPy's own OpenBLAS where it finds it, else SciPy's BLAS
    try:
        previous = K.set_blas(library)
    except ValueError:
        pytest.skip(f"no {library} BLAS here")
    try:
        assert K.blas_info()["library"] == library
        rng = np.random.default_rng(1)
        for trans_a, trans_b in TRANS:
            A, B = operands(rng, 70, 90, 50, trans_a, trans_b, dtype)
            C = rand(rng, (70, 50), dtype)
            C0 = C.copy()
            K.matmul_into(A, B, C, trans_a=trans_a, trans_b=trans_b, alpha=-0.5, beta=2.0,
                          path="blas")
            ref, scale = matmul_reference(A, B, C0, trans_a, trans_b, -0.5, 2.0)
            assert np.all(np.abs(C - ref) <= RTOL[dtype] * scale + ATOL[dtype])
    finally:
        K.set_blas(previous)


# -- dense forward ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n_in, n_out", [(1, 1, 1), (1, 3, 1), (5, 3, 4), (64, 64, 10),
                                            (200, 100, 120), (7, 9, 33), (13, 40, 17),
                                            (256, 784, 1024)])
def test_dense_forward_into_is_z_prev_at_W_plus_b(m, n_in, n_out, dtype, cpu_path):
    # small shapes take the loops, mid-size ones the SIMD tiles with the bias added in
    # registers, large ones BLAS
    rng = np.random.default_rng(n_in)
    z_prev, W = rand(rng, (m, n_in), dtype), rand(rng, (n_in, n_out), dtype)
    b = rand(rng, (n_out,), dtype)
    a = np.full((m, n_out), np.nan, dtype=dtype)
    K.dense_forward_into(z_prev, W, b, a)
    ref = z_prev.astype(np.float64) @ W.astype(np.float64) + b.astype(np.float64)
    scale = np.abs(z_prev.astype(np.float64)) @ np.abs(W.astype(np.float64)) + np.abs(b)
    assert np.all(np.abs(a - ref) <= RTOL[dtype] * scale + ATOL[dtype])


def test_dense_forward_into_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="a = z_prev @ W"):
        K.dense_forward_into(np.ones((2, 3)), np.ones((4, 5)), np.ones(5), np.ones((2, 5)))
    with pytest.raises(ValueError):
        K.dense_forward_into(np.ones((2, 3)), np.ones((3, 5)), np.ones(4), np.ones((2, 5)))


# -- activations ---------------------------------------------------------------------------------

ACTIVATIONS = [  # (name, p0, p1, params for the reference)
    ("identity", 0.0, 0.0, {}),
    ("sigmoid", 1.0, 1.0, {}),
    ("sigmoid", 1.7, 0.6, {"c": 1.7, "beta": 0.6}),
    ("sigmoid", 0.5, -2.0, {"c": 0.5, "beta": -2.0}),
    ("tanh", 0.0, 0.0, {}),
    ("relu", 0.0, 0.0, {}),
    ("leaky_relu", 0.01, 0.0, {"delta": 0.01}),
    ("leaky_relu", 0.3, 0.0, {"delta": 0.3}),
    ("softmax", 0.0, 0.0, {}),
]
ACT_IDS = [f"{n}-{p0}-{p1}" for n, p0, p1, _ in ACTIVATIONS]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (6, 1), (9, 2), (5, 3), (7, 4), (50, 13),
                                   (3, 17)])
@pytest.mark.parametrize("name, p0, p1, params", ACTIVATIONS, ids=ACT_IDS)
def test_activation_forward_into_matches_numpy(name, p0, p1, params, shape, dtype, cpu_path):
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    a = rand(rng, shape, dtype, scale=2.0)
    z = np.full(shape, np.nan, dtype=dtype)
    K.activation_forward_into(CODES[name], p0, p1, a, z)
    np.testing.assert_allclose(z, ref_forward(name, a, **params), rtol=RTOL[dtype],
                               atol=ATOL[dtype])


EXP_RANGE = {np.float32: (-104.0, 89.0), np.float64: (-746.0, 710.0)}


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_into_is_within_two_ulps_of_numpy_everywhere(dtype, cpu_path):
    # over the whole range where exp is finite and not zero, its edges (subnormal results,
    # overflow to inf, underflow to 0), and special values; lengths not a multiple of any
    # vector width
    lo, hi = EXP_RANGE[dtype]
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(lo, hi, 100003), rng.uniform(-1, 1, 999),
                        [0.0, -0.0, 1e-30, -1e-30, np.log(np.finfo(dtype).max) * 0.999,
                         np.log(np.finfo(dtype).tiny) - 5, lo - 100, hi + 100, -np.inf,
                         np.inf]]).astype(dtype)
    y = np.empty_like(x)
    K.exp_into(x, y)
    with np.errstate(over="ignore", under="ignore"):
        ref = np.exp(x.astype(np.float64)).astype(dtype)     # rounded to dtype: inf, 0 too
    finfo = np.finfo(dtype)
    ulp = np.maximum(np.abs(ref), finfo.tiny) * finfo.eps    # subnormals: the smallest normal's
    inf = np.isinf(ref)
    assert np.array_equal(y[inf], ref[inf])
    assert np.all(np.abs(y[~inf] - ref[~inf]) <= 2 * ulp[~inf])
    nan = np.array([np.nan, 1.0, np.nan], dtype=dtype)
    K.exp_into(nan, nan)
    assert np.isnan(nan[0]) and np.isnan(nan[2])
    assert abs(nan[1] - np.e) <= 2 * finfo.eps * np.e


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_forward_into_works_in_place(dtype, cpu_path):
    rng = np.random.default_rng(0)
    a = rand(rng, (4, 5), dtype)
    z = a.copy()
    K.activation_forward_into(TANH, 0.0, 0.0, z, z)
    np.testing.assert_allclose(z, np.tanh(a.astype(np.float64)), rtol=RTOL[dtype],
                               atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_forward_writes_logsumexp(dtype, cpu_path):
    rng = np.random.default_rng(1)
    a = rand(rng, (6, 5), dtype, scale=3.0)
    z, lse = np.empty_like(a), np.full(6, np.nan, dtype=dtype)
    K.activation_forward_into(SOFTMAX, 0.0, 0.0, a, z, lse)
    np.testing.assert_allclose(lse, ref_logsumexp(a), rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (6, 1), (7, 4), (40, 9)])
@pytest.mark.parametrize("name, p0, p1, params", ACTIVATIONS, ids=ACT_IDS)
def test_activation_backward_into_matches_numpy(name, p0, p1, params, shape, dtype, cpu_path):
    rng = np.random.default_rng(shape[0] * 3 + shape[1])
    # |a| <= ~4 keeps 1 - z (computed from the float32 output) well away from cancellation;
    # and relu / leaky relu stay off their kink at 0
    a = np.clip(rand(rng, shape, dtype, scale=1.5), -4, 4)
    a[np.abs(a) < 1e-3] = 0.5
    g = rand(rng, shape, dtype)
    z = np.empty_like(a)
    K.activation_forward_into(CODES[name], p0, p1, a, z)
    delta = g.copy()
    K.activation_backward_into(CODES[name], p0, p1, a, z, delta)
    np.testing.assert_allclose(delta, ref_backward(name, a, g, **params), rtol=RTOL[dtype] * 10,
                               atol=ATOL[dtype] * 10)


@pytest.mark.parametrize("name, p0, p1, params", ACTIVATIONS[:-1], ids=ACT_IDS[:-1])
def test_activation_backward_matches_central_differences_of_forward(name, p0, p1, params):
    # derivative from the kernels alone (forward by central differences in float64), so the
    # check does not rest on a reference formula
    a = np.array([[-2.5, -0.7, 0.3, 1.1, 3.0]])
    z = np.empty_like(a)
    K.activation_forward_into(CODES[name], p0, p1, a, z)
    d = np.ones_like(a)
    K.activation_backward_into(CODES[name], p0, p1, a, z, d)

    def f(x):
        out = np.empty((1, 1))
        K.activation_forward_into(CODES[name], p0, p1, np.array([[x]]), out)
        return out[0, 0]

    num = [(f(x + 1e-6) - f(x - 1e-6)) / 2e-6 for x in a[0]]
    np.testing.assert_allclose(d[0], num, rtol=1e-6, atol=1e-9)


def test_activation_kernels_refuse_unknown_codes_and_shapes():
    a = np.ones((2, 3))
    with pytest.raises(ValueError, match="activation code"):
        K.activation_forward_into(max(K.ACTIVATION_CODES.values()) + 1, 0.0, 0.0, a,
                                  np.empty_like(a))
    with pytest.raises(ValueError, match="activation code"):
        K.activation_backward_into(-1, 0.0, 0.0, a, a, np.empty_like(a))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
        K.activation_forward_into(TANH, 0.0, 0.0, a, np.empty((3, 2)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c, beta", [(1.0, 1.0), (1.7, 0.6), (0.9, -1.3)])
def test_sigmoid_param_gradients_match_formulas_and_central_differences(c, beta, dtype):
    rng = np.random.default_rng(2)
    a, g = rand(rng, (5, 4), dtype), rand(rng, (5, 4), dtype)
    dc, dbeta = K.sigmoid_param_gradients_of(c, beta, a, g)
    a64, g64 = a.astype(np.float64), g.astype(np.float64)
    s = ref_sigmoid(a64, 1.0, beta)
    # dL/dc = sum(g * s), dL/dbeta = sum(g * c * s * (1 - s) * a) for L with dL/dz = g
    assert dc == pytest.approx((g64 * s).sum(), rel=RTOL[dtype], abs=ATOL[dtype])
    assert dbeta == pytest.approx((g64 * c * s * (1 - s) * a64).sum(), rel=RTOL[dtype],
                                  abs=ATOL[dtype])
    # L = sum(g * c sigmoid(beta a)) has exactly these derivatives
    p = [c, beta]

    def loss():
        return float((g64 * ref_sigmoid(a64, p[0], p[1])).sum())

    num_c = central_difference(loss, lambda: p[0], lambda v: p.__setitem__(0, v))
    num_beta = central_difference(loss, lambda: p[1], lambda v: p.__setitem__(1, v))
    assert dc == pytest.approx(num_c, rel=1e-5, abs=1e-6)
    assert dbeta == pytest.approx(num_beta, rel=1e-5, abs=1e-6)


# -- losses --------------------------------------------------------------------------------------

def loss_inputs(rng, name, shape, dtype):
    if name == "mse":
        return rand(rng, shape, dtype), rand(rng, shape, dtype)
    yhat = rng.uniform(0.05, 0.95, size=shape)
    if name == "cross_entropy":
        yhat /= yhat.sum(axis=1, keepdims=True)
        y = np.eye(shape[1])[rng.integers(shape[1], size=shape[0])]
    else:
        y = rng.uniform(0, 1, size=shape)
    return yhat.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (8, 1), (10, 4), (100, 10)])
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_value_of_matches_numpy(name, shape, dtype):
    rng = np.random.default_rng(shape[0] + 17 * shape[1])
    yhat, y = loss_inputs(rng, name, shape, dtype)
    value = K.loss_value_of(LOSSES[name], yhat, y)
    assert value == pytest.approx(ref_loss(name, yhat, y), rel=RTOL[dtype], abs=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (8, 1), (10, 4)])
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_gradient_into_matches_numpy(name, shape, dtype):
    rng = np.random.default_rng(shape[0] + 5 * shape[1])
    yhat, y = loss_inputs(rng, name, shape, dtype)
    g = np.full(shape, np.nan, dtype=dtype)
    K.loss_gradient_into(LOSSES[name], yhat, y, g)
    np.testing.assert_allclose(g, ref_loss_gradient(name, yhat, y), rtol=RTOL[dtype],
                               atol=ATOL[dtype])


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_gradient_is_the_derivative_of_loss_value(name):
    rng = np.random.default_rng(9)
    yhat, y = loss_inputs(rng, name, (4, 3), np.float64)
    g = np.empty_like(yhat)
    K.loss_gradient_into(LOSSES[name], yhat, y, g)
    x = yhat.copy()
    for idx in np.ndindex(x.shape):
        num = central_difference(lambda: K.loss_value_of(LOSSES[name], x, y),
                                 lambda: x[idx], lambda v: x.__setitem__(idx, v))
        assert g[idx] == pytest.approx(num, rel=1e-5, abs=1e-7)


def test_loss_kernels_refuse_unknown_codes_shapes_and_empty_arrays():
    y = np.full((2, 3), 0.5)
    with pytest.raises(ValueError, match="loss code"):
        K.loss_value_of(max(K.LOSS_CODES.values()) + 1, y, y)
    with pytest.raises(ValueError, match="loss code"):
        K.loss_gradient_into(-1, y, y, np.empty_like(y))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
        K.loss_value_of(MSE, y, np.ones((3, 2)))
    with pytest.raises(ValueError, match="empty"):
        K.loss_value_of(MSE, np.ones((0, 3)), np.ones((0, 3)))


# -- fused output rules ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (30, 10)])
@pytest.mark.parametrize("targets", ["onehot", "probabilities"])
def test_softmax_cross_entropy_of_equals_the_plain_formula(shape, targets, dtype):
    rng = np.random.default_rng(shape[0])
    a = rand(rng, shape, dtype, scale=2.0)
    if targets == "onehot":
        y = np.eye(shape[1])[rng.integers(shape[1], size=shape[0])]
    else:
        y = rng.uniform(0.1, 1, size=shape)
        y /= y.sum(axis=1, keepdims=True)
    y = y.astype(dtype)
    lse = np.empty(shape[0], dtype=dtype)
    K.activation_forward_into(SOFTMAX, 0.0, 0.0, a, np.empty_like(a), lse)
    value = K.softmax_cross_entropy_of(a, lse, y)
    plain = ref_loss("cross_entropy", ref_softmax(a), y)
    assert value == pytest.approx(plain, rel=RTOL[dtype], abs=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 2), (7, 3), (33, 10), (5, 17)])
def test_softmax_cross_entropy_of_labels_equals_the_one_hot_kernels_bit_for_bit(shape, dtype):
    # the epoch loop takes class labels without one-hot rows: the same L and delta, exactly,
    # including batch sizes whose 1/m is not exact (7, 33, 5)
    rng = np.random.default_rng(shape[0])
    a = rand(rng, shape, dtype, scale=2.0)
    labels = rng.integers(shape[1], size=shape[0])
    labels[0], labels[-1] = shape[1] - 1, 0          # the last and the first class
    z, lse = np.empty_like(a), np.empty(shape[0], dtype=dtype)
    K.activation_forward_into(SOFTMAX, 0.0, 0.0, a, z, lse)
    y = np.eye(shape[1], dtype=dtype)[labels]
    delta, delta_rows = np.full_like(a, np.nan), np.full_like(a, np.nan)
    value = K.softmax_cross_entropy_labels_into(a, lse, z, labels, delta)
    assert value == K.softmax_cross_entropy_of(a, lse, y)
    K.softmax_cross_entropy_delta_into(z, y, delta_rows)
    np.testing.assert_array_equal(delta, delta_rows)
    assert value == pytest.approx(ref_loss("cross_entropy", ref_softmax(a), y),
                                  rel=RTOL[dtype], abs=ATOL[dtype])


@pytest.mark.parametrize("bad", [-1, 3])
def test_softmax_cross_entropy_of_labels_refuses_a_label_out_of_range(bad):
    a = np.zeros((2, 3))
    labels = np.array([0, bad])
    with pytest.raises(ValueError, match=r"labels\[1\]"):
        K.softmax_cross_entropy_labels_into(a, np.zeros(2), a, labels, np.empty_like(a))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 8, 15, 16, 17, 31, 33, 100])
def test_relu_forward_and_backward_at_special_values_first_and_last(size, dtype, cpu_path):
    # the SIMD relu (a max with 0, a mask where a > 0) gives what the portable rule gives:
    # NaN -> 0 forward and a zeroed gradient, -0 -> +0, +-inf, on every vector width's edge
    rng = np.random.default_rng(size)
    for special in (np.nan, -0.0, np.inf, -np.inf, 0.0):
        a = rand(rng, (1, size), dtype)
        a[0, 0] = a[0, -1] = special
        z = np.full_like(a, 7.0)
        K.activation_forward_into(RELU, 0.0, 0.0, a, z)
        with np.errstate(invalid="ignore"):
            positive = a > 0
        expected = np.where(positive, a, 0).astype(dtype)
        np.testing.assert_array_equal(z, expected)
        assert not np.signbit(z).any()
        g = rand(rng, (1, size), dtype)
        delta = g.copy()
        K.activation_backward_into(RELU, 0.0, 0.0, a, z, delta)
        np.testing.assert_array_equal(delta, np.where(positive, g, 0).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(63, 10), (64, 3), (65, 8), (130, 10), (200, 15), (129, 4)])
def test_softmax_of_short_rows_across_the_row_sum_blocks(shape, dtype, cpu_path):
    # rows shorter than 16 take their sums in blocks of 64 rows: blocks' edges, full vectors
    # (8 = one AVX2 float32 or AVX-512 float64 vector) and tails
    rng = np.random.default_rng(shape[0])
    a = rand(rng, shape, dtype, scale=3.0)
    z, lse = np.full_like(a, np.nan), np.full(shape[0], np.nan, dtype=dtype)
    K.activation_forward_into(SOFTMAX, 0.0, 0.0, a, z, lse)
    np.testing.assert_allclose(z, ref_softmax(a), rtol=RTOL[dtype], atol=ATOL[dtype])
    np.testing.assert_allclose(lse, ref_logsumexp(a), rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_leaves_out_an_overflowed_logit_of_weight_zero(dtype):
    # a = -inf where the target is 0 adds nothing (not 0 * -inf = NaN); where it is 1, L = inf
    a = np.array([[-np.inf, 1.0, 2.0], [0.5, -1.0, 0.0]], dtype=dtype)
    lse = np.log(np.exp(a.astype(np.float64)).sum(axis=1)).astype(dtype)
    y = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=dtype)
    expected = -((2.0 - float(lse[0])) + (0.5 - float(lse[1]))) / 2
    assert K.softmax_cross_entropy_of(a, lse, y) == pytest.approx(expected, rel=RTOL[dtype])
    y[0] = [1.0, 0.0, 0.0]
    assert K.softmax_cross_entropy_of(a, lse, y) == np.inf


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (30, 10)])
@pytest.mark.parametrize("c, beta", [(1.0, 1.0), (1.0, 1.7), (0.8, 0.6)])
@pytest.mark.parametrize("name", ["binary_cross_entropy", "cross_entropy"])
def test_sigmoid_cross_entropy_of_equals_the_plain_formulas(name, c, beta, shape, dtype):
    # from the logits: the value is L(c * sigmoid(beta a), y) and delta is dL/dz * phi'(a)
    rng = np.random.default_rng(shape[0] + 1)
    a = rand(rng, shape, dtype, scale=2.0)
    y = rng.uniform(0, 1, size=shape).astype(dtype)
    delta = np.empty_like(a)
    value = K.sigmoid_cross_entropy_of(a, y, c, beta, name == "binary_cross_entropy", delta)
    a64, y64 = a.astype(np.float64), y.astype(np.float64)
    z = c * ref_sigmoid(beta * a64)
    assert value == pytest.approx(ref_loss(name, z, y64), rel=RTOL[dtype], abs=ATOL[dtype])
    expected = ref_loss_gradient(name, z, y64) * beta * z * (1 - z / c)
    np.testing.assert_allclose(delta, expected, rtol=RTOL[dtype], atol=ATOL[dtype])


# -- stability: huge logits ------------------------------------------------------------------

HUGE = {np.float32: [80.0, 1e4, 1e30, 3e38], np.float64: [80.0, 1e4, 1e30, 1e300]}
HUGE_CASES = [(dt, h) for dt in DTYPES for h in HUGE[dt]]
HUGE_IDS = [f"{np.dtype(dt).name}-{h:g}" for dt, h in HUGE_CASES]


@pytest.fixture
def no_warnings():
    # every warning is an error, and so is any overflow, invalid operation (NaN) or division
    # by zero in NumPy code; underflow of exp to 0 is the expected, exact-enough outcome
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            yield


@pytest.mark.parametrize("dtype, h", HUGE_CASES, ids=HUGE_IDS)
def test_softmax_of_huge_logits_is_finite(dtype, h, no_warnings, cpu_path):
    a = np.array([[h, -h, 0.0], [-h, -h, -h], [h, h, 0.0]], dtype=dtype)
    z, lse = np.empty_like(a), np.empty(3, dtype=dtype)
    K.activation_forward_into(SOFTMAX, 0.0, 0.0, a, z, lse)
    assert np.isfinite(z).all() and np.isfinite(lse).all()
    np.testing.assert_allclose(z, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]],
                               rtol=RTOL[dtype], atol=ATOL[dtype])
    # lse = max + log(sum(exp(a - max)))
    np.testing.assert_allclose(lse, [h, -h + np.log(3), h + np.log(2)], rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype, h", HUGE_CASES, ids=HUGE_IDS)
@pytest.mark.parametrize("c, beta", [(1.0, 1.0), (1.7, 0.6)])
def test_sigmoid_of_huge_logits_is_finite(dtype, h, c, beta, no_warnings, cpu_path):
    a = np.array([[h, -h, 0.0]], dtype=dtype)
    z = np.empty_like(a)
    K.activation_forward_into(SIGMOID, c, beta, a, z)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z, [[c, 0, c / 2]], rtol=RTOL[dtype], atol=ATOL[dtype])
    d = np.ones_like(a)
    K.activation_backward_into(SIGMOID, c, beta, a, z, d)
    assert np.isfinite(d).all()
    np.testing.assert_allclose(d, [[0, 0, c * beta / 4]], rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype, h", HUGE_CASES, ids=HUGE_IDS)
def test_tanh_of_huge_logits_is_finite(dtype, h, no_warnings):
    a = np.array([[h, -h]], dtype=dtype)
    z = np.empty_like(a)
    K.activation_forward_into(TANH, 0.0, 0.0, a, z)
    assert z.tolist() == [[1.0, -1.0]]


@pytest.mark.parametrize("dtype, h", HUGE_CASES, ids=HUGE_IDS)
def test_fused_cross_entropies_of_huge_logits_are_finite_and_exact(dtype, h, no_warnings, cpu_path):
    # softmax CE of a = [h, -h] against [0, 1]: -(a_1 - lse) = 2h; and [1, 0]: 0
    a = np.array([[h, -h], [h, -h]], dtype=dtype)
    y = np.array([[0, 1], [1, 0]], dtype=dtype)
    lse = np.empty(2, dtype=dtype)
    K.activation_forward_into(SOFTMAX, 0.0, 0.0, a, np.empty_like(a), lse)
    value = K.softmax_cross_entropy_of(a, lse, y)
    assert np.isfinite(value)
    assert value == pytest.approx((2 * float(np.float64(dtype(h)))) / 2, rel=RTOL[dtype])
    # sigmoid BCE of a = h against 0 is h (and against 1 it is log1p(exp(-h)) ~ 0)
    a1 = np.array([[h], [-h], [h]], dtype=dtype)
    y1 = np.array([[0], [0], [1]], dtype=dtype)
    value = K.sigmoid_cross_entropy_of(a1, y1, 1.0, 1.0, True)
    assert np.isfinite(value)
    assert value == pytest.approx(float(dtype(h)) / 3, rel=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy"])
def test_losses_of_saturated_probabilities_are_finite(name, dtype, no_warnings):
    # yhat exactly 0 or 1 where the target disagrees: no log(0), no division by zero
    yhat = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=dtype)
    y = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
    value = K.loss_value_of(LOSSES[name], yhat, y)
    assert np.isfinite(value) and value > 0
    g = np.empty_like(yhat)
    K.loss_gradient_into(LOSSES[name], yhat, y, g)
    assert np.isfinite(g).all()


# -- column sums --------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.1, 1.0), (2.0, -0.5)])
@pytest.mark.parametrize("m, n", [(1, 1), (32, 10), (7, 16), (5, 17), (3, 33), (64, 32)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_column_sums_into_is_beta_out_plus_alpha_delta_sum(m, n, alpha, beta, dtype, cpu_path):
    # db = delta.sum(0), and the bias update b -= lr * delta.sum(0); columns across vectors
    rng = np.random.default_rng(m * 100 + n)
    delta = rand(rng, (m, n), dtype)
    out0 = rand(rng, (n,), dtype) if beta != 0 else np.full(n, np.nan, dtype=dtype)
    out = out0.copy()
    K.column_sums_into(delta, out, alpha, beta)
    ref = alpha * delta.astype(np.float64).sum(axis=0) + (beta * out0 if beta != 0 else 0)
    scale = abs(alpha) * np.abs(delta.astype(np.float64)).sum(axis=0) + (
        abs(beta) * np.abs(out0) if beta != 0 else 0)
    assert np.all(np.abs(out - ref) <= RTOL[dtype] * scale + ATOL[dtype])


# -- all_finite ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_all_finite(dtype, cpu_path):
    x = np.array([0.0, -1.0, 2.5, 1e30], dtype=dtype)
    assert K.all_finite(x) is True
    assert K.all_finite(np.array([], dtype=dtype)) is True
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[2] = bad
        assert K.all_finite(y) is False
    # with bounds: every value must lie in [lo, hi]
    p = np.array([0.0, 0.5, 1.0], dtype=dtype)
    assert K.all_finite(p, 0.0, 1.0) is True
    assert K.all_finite(np.array([0.0, 1.5], dtype=dtype), 0.0, 1.0) is False
    assert K.all_finite(np.array([-0.1, 0.5], dtype=dtype), 0.0, 1.0) is False


@pytest.mark.parametrize("size", [1, 7, 8, 17, 1023, 1024, 1025, 3001])
@pytest.mark.parametrize("dtype", DTYPES)
def test_all_finite_finds_a_bad_value_anywhere(size, dtype, cpu_path):
    # vector body, 1024-value blocks and the scalar tail: first, last and a middle index
    x = np.random.default_rng(size).uniform(0.0, 1.0, size).astype(dtype)
    assert K.all_finite(x) is True and K.all_finite(x, 0.0, 1.0) is True
    for where in sorted({0, size // 2, size - 1}):
        for bad, lo, hi in ((np.nan, -np.inf, np.inf), (np.inf, -np.inf, np.inf),
                            (-np.inf, -np.inf, np.inf), (1.5, 0.0, 1.0), (-0.5, 0.0, 1.0),
                            (np.finfo(dtype).max, -np.inf, 1e30)):
            y = x.copy()
            y[where] = bad
            assert K.all_finite(y, lo, hi) is False, (where, bad)


# -- shuffled_index --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 10, 1000])
def test_shuffled_index_is_a_permutation(n):
    idx = shuffled_index(n, 12345)
    assert idx.dtype == np.int64 and idx.shape == (n,)
    assert np.array_equal(np.sort(idx), np.arange(n))


def test_shuffled_index_is_deterministic_and_depends_on_the_seed():
    assert np.array_equal(shuffled_index(500, 7), shuffled_index(500, 7))
    assert not np.array_equal(shuffled_index(500, 7), shuffled_index(500, 8))
    assert not np.array_equal(shuffled_index(500, 7), np.arange(500))
    # seeds anywhere in [0, 2**64) are accepted (the network draws them from [0, 2**63))
    assert np.array_equal(np.sort(shuffled_index(50, 2**64 - 1)), np.arange(50))
    with pytest.raises(ValueError):
        shuffled_index(-1, 0)


def test_shuffled_index_is_roughly_uniform():
    # every position takes every value about equally often over many seeds
    n, trials = 5, 4000
    counts = np.zeros((n, n))
    for s in range(trials):
        counts[np.arange(n), shuffled_index(n, s)] += 1
    assert np.all(np.abs(counts - trials / n) < 0.15 * trials / n)


# -- stability through a network: huge logits at the output ----------------------------------

NET_HUGE = {np.float32: [80.0, 1e4, 1e30], np.float64: [80.0, 1e4, 1e30, 1e300]}
NET_HUGE_CASES = [(dt, h) for dt in DTYPES for h in NET_HUGE[dt]]
NET_HUGE_IDS = [f"{np.dtype(dt).name}-{h:g}" for dt, h in NET_HUGE_CASES]


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype, h", NET_HUGE_CASES, ids=NET_HUGE_IDS)
@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"),
                                          ("sigmoid", "binary_cross_entropy"),
                                          ("sigmoid", "cross_entropy"),
                                          ("softmax", "mse"), ("sigmoid", "mse")])
def test_network_with_huge_output_logits_stays_finite(output, loss, dtype, h, backend,
                                                      no_warnings):
    net = nncore.Network([nncore.Dense(2, 2, output)], loss=loss, dtype=np.dtype(dtype).name,
                         backend=backend)
    net.layers[0].W = np.eye(2) * h  # a = [h, -h] for x = [1, -1]
    X = np.array([[1.0, -1.0], [-1.0, 1.0]])
    Y = np.array([[0.0, 1.0], [0.0, 1.0]])  # wrong, then right, with full confidence
    z = net.predict(X)
    assert np.isfinite(z).all()
    value = net.loss(X, Y)
    assert np.isfinite(value) and value >= 0
    if (output, loss) == ("softmax", "cross_entropy"):
        # row 1: -(a_1 - lse) = 2h; row 2: -log(1) = 0; mean over 2 rows
        assert value == pytest.approx(float(dtype(h)), rel=RTOL[dtype])
    if (output, loss) == ("sigmoid", "binary_cross_entropy"):
        # per row: softplus(h) - 0 + softplus(-h) - ... = h + h (row 1), 0 + 0 (row 2)
        assert value == pytest.approx(float(dtype(h)), rel=RTOL[dtype])
    for g in net.gradients(X, Y):
        assert np.isfinite(g["W"]).all() and np.isfinite(g["b"]).all()
    for t in net.trace(X, Y):
        assert all(np.isfinite(v).all() for v in t.values())
