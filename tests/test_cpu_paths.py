"""Whole networks on every cpu path this CPU has (portable loops + BLAS, AVX2 tiles, AVX-512
tiles): forward, loss, gradients and a few training steps agree with the NumPy backend.

The kernel tests (test_kernels.py) check each product path on its own; this checks the fused
step that chooses between them by shape, with layer sizes on both sides of every cut-over.
CI also runs the whole suite once more with NNCORE_CPU=portable and NNCORE_BLAS=scipy."""
import numpy as np
import pytest

import nncore
from nncore import _kernels as K

from _helpers import BACKEND_ATOL, BACKEND_RTOL, DTYPES

# (sizes, hidden activation, batch): products from a few multiply-adds (loops) through the
# SIMD tiles' range to BLAS's (784 x 256 x 64)
NETWORKS = [([3, 4, 2], "sigmoid", 1), ([3, 4, 2], "sigmoid", 32), ([64, 32, 10], "relu", 32),
            ([17, 33, 9], "tanh", 13), ([784, 256, 10], "relu", 64),
            ([20, 40, 40, 5], "leaky_relu", 70)]


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
