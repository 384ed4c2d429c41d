"""Whole networks on every cpu path this CPU has (portable loops + BLAS, AVX2 tiles, AVX-512
tiles): forward, loss, gradients and a few training steps agree with the NumPy backend.

The kernel tests (test_kernels.py) check each product path on its own; this checks the fused
step that chooses between them by shape, with layer sizes on both sides of every cut-over.
CI also runs the whole suite once more with NNCORE_CPU=portable and NNCORE_BLAS=scipy."""
import numpy as np
import pytest

import nncore
from nncore import _kernels as K

from _helpers import ATOL, BACKEND_ATOL, BACKEND_RTOL, DTYPES, RTOL

# (sizes, hidden activation, batch): products from a few multiply-adds (loops) through the
# SIMD tiles' range to BLAS's (784 x 256 x 64), and narrow ones that go to BLAS early
# (_kernels.gemm_path): the weight gradient of 10 outputs in 64-32-10 b32 (on the paths where
# 10 columns count as narrow), not yet that of 9 in 17-33-9 b13; an output of 3; a hidden layer
# of 4 (its forward, backward and gradient products all narrow)
NETWORKS = [([3, 4, 2], "sigmoid", 1), ([3, 4, 2], "sigmoid", 32), ([64, 32, 10], "relu", 32),
            ([17, 33, 9], "tanh", 13), ([784, 256, 10], "relu", 64),
            ([20, 40, 40, 5], "leaky_relu", 70), ([64, 128, 3], "relu", 64),
            ([20, 4, 30, 3], "tanh", 128),
            # fewer rows than a tile (the few-row kernels): one example and three, on layers
            # wide enough for them
            ([300, 130, 70, 10], "relu", 1), ([300, 130, 70, 10], "tanh", 3)]


@pytest.fixture(params=K.cpu_paths())
def cpu_path(request):
    previous = K.set_cpu_path(request.param)
    yield request.param
    K.set_cpu_path(previous)


def close(a, b, dtype):
    np.testing.assert_allclose(a, b, rtol=BACKEND_RTOL[dtype], atol=BACKEND_ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes, act, batch", NETWORKS)
def test_the_fused_step_agrees_with_the_numpy_backend(sizes, act, batch, dtype, cpu_path):
    nets = [nncore.Network(sizes, activation=act, output="softmax", loss="cross_entropy",
                           seed=2, dtype=dtype, backend=b) for b in ("cython", "numpy")]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(batch * 3, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch * 3)
    fast, oracle = nets
    close(fast.predict(X), oracle.predict(X), dtype)
    close(fast.loss(X, y), oracle.loss(X, y), dtype)
    for gf, go in zip(fast.gradients(X[:batch], y[:batch]), oracle.gradients(X[:batch],
                                                                             y[:batch])):
        close(gf["W"], go["W"], dtype)
        close(gf["b"], go["b"], dtype)
    for step in range(3):
        rows = slice(step * batch, (step + 1) * batch)
        close(fast.train_step(X[rows], y[rows], 0.05), oracle.train_step(X[rows], y[rows], 0.05),
              dtype)
    fast.fit(X, y, epochs=2, lr=0.05, batch_size=batch)
    oracle.fit(X, y, epochs=2, lr=0.05, batch_size=batch)
    for a, b in zip(fast.layers, oracle.layers):
        close(a.W, b.W, dtype)
        close(a.b, b.b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "sgd-momentum"])
def test_optimizer_steps_agree_with_the_numpy_backend(optimizer, dtype, cpu_path):
    # Adam's update runs a vector at a time on the SIMD paths; layer sizes give arrays that
    # are not a multiple of any vector width
    def make(backend):
        opt = nncore.SGD(momentum=0.9) if optimizer == "sgd-momentum" else optimizer
        return nncore.Network([13, 37, 5], activation="tanh", output="softmax",
                              loss="cross_entropy", seed=4, dtype=dtype, backend=backend,
                              optimizer=opt)
    fast, oracle = make("cython"), make("numpy")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 13)).astype(dtype)
    y = rng.integers(0, 5, 40)
    for step in range(4):
        close(fast.train_step(X[step * 10:(step + 1) * 10], y[step * 10:(step + 1) * 10], 0.01),
              oracle.train_step(X[step * 10:(step + 1) * 10], y[step * 10:(step + 1) * 10],
                                0.01), dtype)
    for a, b in zip(fast.layers, oracle.layers):
        close(a.W, b.W, dtype)
        close(a.b, b.b, dtype)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("n", [1, 7, 8, 17, 1000])
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_adam_update_is_its_formula_at_zero_and_infinite_second_moments(dtype, n, decoupled,
                                                                            cpu_path):
    # On AVX-512 (and AVX2 float32) the update divides by estimates refined by Newton steps;
    # v = 0 and v = inf are their special cases. Step t = 3 of Adam's update as torch.optim.Adam defines it, float64.
    from nncore import _optim
    rng = np.random.default_rng(n)
    w = rng.normal(size=n).astype(dtype)
    g = rng.normal(size=n).astype(dtype)
    m = rng.normal(scale=0.1, size=n).astype(dtype)
    v = rng.uniform(0, 0.1, size=n).astype(dtype)
    g[0], m[0], v[0] = 0, 0, 0                       # a unit that never had a gradient
    if n > 2:
        big = np.sqrt(np.finfo(dtype).max) * 4       # g**2 overflows: v = inf, m stays finite
        g[-1], m[-1], v[-1] = big, 0, 0
    lr, t, b1, b2, eps, wd = 0.01, 3, 0.9, 0.999, 1e-8, 0.05
    W, G, M, V = (x.astype(np.float64) for x in (w, g, m, v))
    with np.errstate(over="ignore"):
        if decoupled:
            W = W * (1 - lr * wd)
        else:
            G = G + wd * W
        M = b1 * M + (1 - b1) * G
        GG = G * G
        GG = np.where(np.isinf(GG.astype(dtype)), np.inf, GG)   # g**2 overflows in dtype
        V = b2 * V + (1 - b2) * GG
        W = W - lr / (1 - b1 ** t) * M / (np.sqrt(V / (1 - b2 ** t)) + eps)
    if n > 2:
        assert np.isinf(V[-1]) and np.isfinite(M[-1])
    _optim.adam_into(w, g, m, v, lr, t, b1, b2, eps, wd, decoupled)
    np.testing.assert_allclose(m, M, rtol=RTOL[dtype], atol=ATOL[dtype])
    np.testing.assert_allclose(w, W, rtol=RTOL[dtype], atol=ATOL[dtype])
    assert np.isfinite(w).all()


@pytest.mark.parametrize("n", [1, 7, 16, 33])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_stores_moments_below_the_smallest_normal_as_zero(dtype, n, cpu_path):
    # a dead unit (g = 0): its moments decay into the subnormal range, where every operation
    # is slow on x86; they are stored as 0 there, first and last index included, while normal
    # values (and a NaN) decay as the formula says
    from nncore import _optim
    tiny = np.finfo(dtype).smallest_normal
    w = np.ones(n, dtype=dtype)
    g = np.zeros(n, dtype=dtype)
    m = np.full(n, tiny * 4, dtype=dtype)      # 0.9 * 4 tiny: normal, kept
    v = np.full(n, tiny * 4, dtype=dtype)      # 0.999 * 4 tiny: normal, kept
    m[0] = v[0] = m[-1] = v[-1] = tiny         # 0.9 tiny and 0.999 tiny: subnormal, stored as 0
    m[0] = -tiny
    if n > 2:
        m[1] = np.nan
    _optim.adam_into(w, g, m, v, 0.01, 2)
    assert m[0] == 0 and m[-1] == 0 and v[0] == 0 and v[-1] == 0
    inner = slice(2, n - 1)
    np.testing.assert_array_equal(m[inner], (np.float64(tiny) * 4 * 0.9).astype(dtype))
    np.testing.assert_array_equal(v[inner], (np.float64(tiny) * 4 * 0.999).astype(dtype))
    assert not np.any((m != 0) & (np.abs(m) < tiny)) and not np.any((v != 0) & (v < tiny))
    if n > 2:
        assert np.isnan(m[1])
