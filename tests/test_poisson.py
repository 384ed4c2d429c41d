"""The Poisson loss (log link): the core's value and gradient kernels against scikit-learn's
HalfPoissonLoss, the network's gradients against central differences, the compiled engine
against the NumPy backend, targets, save/load and ONNX."""
import numpy as np
import pytest

import nncore
import nncore.functional as F
from nncore import _kernels

from _helpers import numerical_gradients

POISSON = _kernels.LOSS_CODES["poisson"]
DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def _half_poisson(a, y):
    """scikit-learn's half Poisson deviance of exp(a) (its HalfPoissonLoss plus the constant
    that makes it zero at the optimum) summed over the outputs, mean over the rows; and its
    gradient with respect to a, over the rows."""
    from sklearn._loss.loss import HalfPoissonLoss
    h = HalfPoissonLoss()
    a64, y64 = a.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    value = (h.loss(y64, a64) + h.constant_to_optimal_zero(y64)).sum() / a.shape[0]
    return value, h.gradient(y64, a64).reshape(a.shape) / a.shape[0]


def _counts(rng, shape, dtype):
    a = rng.uniform(-2, 2, shape).astype(dtype)
    y = rng.poisson(np.exp(a.astype(np.float64))).astype(dtype)
    y[0, 0] = 0.0       # y log y = 0 at the first and the last index
    y[-1, -1] = 0.0
    return a, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (17, 3), (257, 5)])
def test_kernels_match_sklearn_half_poisson(dtype, shape):
    pytest.importorskip("sklearn")
    a, y = _counts(np.random.default_rng(shape[0]), shape, dtype)
    value, grad = _half_poisson(a, y)
    assert _kernels.loss_value_of(POISSON, a, y) == pytest.approx(value, rel=RTOL[dtype])
    g = np.full_like(a, np.nan)
    _kernels.loss_gradient_into(POISSON, a, y, g)
    np.testing.assert_allclose(g, grad, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] / shape[0])
    assert F.poisson(a, y) == pytest.approx(value, rel=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", [0, -1])
def test_exp_overflow_gives_inf_as_numpy(dtype, where):
    a = np.zeros((4, 2), dtype=dtype)
    y = np.ones_like(a)
    a.flat[where] = 800.0 if dtype == np.float64 else 100.0   # exp overflows the dtype
    assert _kernels.loss_value_of(POISSON, a, y) == np.inf
    g = np.empty_like(a)
    _kernels.loss_gradient_into(POISSON, a, y, g)
    assert g.flat[where] == np.inf and np.isfinite(np.delete(g.ravel(), where % 8)).all()


def _net(dtype, backend="cython", hidden="tanh"):
    return nncore.Network([4, 6, 5, 2], activation=hidden, loss="poisson", dtype=dtype,
                          seed=3, backend=backend)


def _data(dtype, n=40):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, 4)).astype(dtype)
    Y = rng.poisson(2.0, (n, 2)).astype(dtype)
    Y[0, 0] = Y[-1, -1] = 0.0
    return X, Y


def test_network_gradients_by_central_differences():
    net = _net(np.float64)
    X, Y = _data(np.float64, 9)
    numeric = numerical_gradients(net, X, Y)
    for got, want in zip(net.gradients(X, Y), numeric):
        for key in ("W", "b"):
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_matches_numpy_backend(dtype, weighted):
    X, Y = _data(dtype, 300)
    w = np.random.default_rng(1).uniform(0, 2, len(X)) if weighted else None
    if weighted:
        w[[0, -1]] = 0.0
    nets = [_net(dtype, b) for b in ("cython", "numpy")]
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(nets[0].predict(X), nets[1].predict(X), rtol=rtol)
    assert (nets[0].predict(X) > 0).all()
    assert nets[0].loss(X, Y, w) == pytest.approx(nets[1].loss(X, Y, w), rel=rtol)
    for net in nets:
        net.optimizer = "sgd"
        for _ in range(3):
            net.train_step(X, Y, 0.05, w)
    for la, lb in zip(*(n.layers for n in nets)):
        np.testing.assert_allclose(la.W, lb.W, rtol=rtol * 10, atol=rtol)
        np.testing.assert_allclose(la.b, lb.b, rtol=rtol * 10, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_in_core_learns_counts(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3)).astype(dtype)
    rate = np.exp(0.8 * X[:, :1] - 0.3 * X[:, 1:2] + 0.5)
    Y = rng.poisson(rate).astype(dtype)
    net = nncore.Network([3, 8, 1], activation="tanh", loss="poisson", dtype=dtype, seed=0)
    before = net.loss(X, Y)
    net.fit(X, Y, epochs=30, lr=0.01, batch_size=32)
    assert net.loss(X, Y) < 0.8 * before
    assert np.corrcoef(net.predict(X)[:, 0], rate[:, 0])[0, 1] > 0.9


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("where", [0, -1])
def test_negative_targets_refused_and_nothing_changes(backend, where):
    net = _net(np.float64, backend)
    X, Y = _data(np.float64, 10)
    Y.flat[where] = -1.0
    W = net.layers[0].W.copy()
    with pytest.raises(ValueError, match=r"Y must lie in \[0, inf\]"):
        net.train_step(X, Y, 0.1)
    with pytest.raises(ValueError, match=r"Y must lie in \[0, inf\]"):
        net.fit(X, Y, epochs=1, lr=0.1)
    np.testing.assert_array_equal(net.layers[0].W, W)


def test_output_must_be_identity():
    with pytest.raises(ValueError, match="identity"):
        nncore.Network([3, 2], loss="poisson", output="relu")


@pytest.mark.parametrize("dtype", DTYPES)
def test_save_load_and_onnx(tmp_path, dtype):
    net = _net(dtype)
    X, Y = _data(dtype)
    net.fit(X, Y, epochs=2, lr=0.01, batch_size=8)
    path = net.save(tmp_path / "p.npz")
    back = nncore.Network.load(path)
    assert back.loss_name == "poisson"
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert back.loss(X, Y) == net.loss(X, Y)
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(nncore.to_onnx(net).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"X": X})[0], net.predict(X),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_exp_overflow_refuses_the_step_and_changes_nothing(backend):
    net = nncore.Network([3, 4, 1], loss="poisson", seed=0, backend=backend)
    net.layers[1].W[...] = 1e3          # a = thousands: exp(a) overflows float64
    X, Y = np.ones((5, 3)), np.ones((5, 1))
    W = [ly.W.copy() for ly in net.layers]
    with pytest.raises(FloatingPointError, match="loss is inf"):
        net.train_step(X, Y, 0.1)
    assert all((w == ly.W).all() for w, ly in zip(W, net.layers))
    assert net.loss(X, Y) == np.inf and net.predict(X[:1])[0] == np.inf


def test_predict_over_chunks_from_threads():
    """predict's exp over 2100 rows (three of predict's 1024-row chunks), from four threads at
    once, equals the NumPy backend's."""
    from concurrent.futures import ThreadPoolExecutor
    X, _ = _data(np.float64, 2100)
    net, ref = _net(np.float64), _net(np.float64, "numpy")
    want = ref.predict(X)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: net.predict(X), range(8)))
    for out in outs:
        np.testing.assert_allclose(out, want, rtol=1e-12)
