"""MLPRegressor(loss="poisson"): scikit-learn's half Poisson deviance with an exp output,
checked against scikit-learn's MLPRegressor doing the same fit, and by finite differences."""
import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.neural_network._base import poisson_loss  # noqa: E402

from nncore.sklearn import MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((230, 5))
    rate = np.exp(0.3 * X[:, :2] @ np.array([1.0, -0.5]) + 0.5)
    Y = np.stack([rng.poisson(rate), rng.poisson(2 * rate)], axis=1).astype(float)
    Y[0] = 0.0                                   # zero counts at the first row
    return X, Y


def _params(est):
    return list(est.coefs_) + list(est.intercepts_)


@pytest.mark.parametrize("kw", [dict(solver="sgd", learning_rate_init=0.01, batch_size=32),
                                dict(solver="sgd", learning_rate_init=0.01, alpha=0.1,
                                     activation="tanh", batch_size=50),
                                dict(solver="lbfgs", max_iter=30)])
@pytest.mark.parametrize("outputs", [1, 2])
def test_poisson_same_fit_as_sklearn(counts, kw, outputs):
    X, Y = counts
    y = Y[:, 0] if outputs == 1 else Y
    common = dict(loss="poisson", hidden_layer_sizes=(6,), random_state=0,
                  **{"max_iter": 5, **kw})
    sk = SkMLPRegressor(**common).fit(X, y)
    ours = MLPRegressor(**common).fit(X, y)
    assert ours.out_activation_ == sk.out_activation_ == "exp"
    assert ours.n_iter_ == sk.n_iter_
    rtol = 1e-9 if kw["solver"] == "sgd" else 1e-6
    for a, b in zip(_params(sk), _params(ours)):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)
    if kw["solver"] == "sgd":
        np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=rtol)
    assert (ours.predict(X) > 0).all()


def test_poisson_sample_weight_and_float32_as_sklearn(counts):
    X, Y = counts
    y = Y[:, 1]
    w = np.random.default_rng(1).uniform(0, 2, len(y))
    w[[0, -1]] = 0.0
    common = dict(loss="poisson", hidden_layer_sizes=(4,), solver="sgd", random_state=0,
                  max_iter=4, learning_rate_init=0.01, batch_size=40)
    sk = SkMLPRegressor(**common).fit(X, y, sample_weight=w)
    ours = MLPRegressor(**common).fit(X, y, sample_weight=w)
    for a, b in zip(_params(sk), _params(ours)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    X32 = X.astype(np.float32)
    sk = SkMLPRegressor(**common).fit(X32, y)
    ours = MLPRegressor(**common).fit(X32, y)
    assert ours.predict(X32).dtype == np.float32
    for a, b in zip(_params(sk), _params(ours)):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_poisson_loss_and_gradient_by_finite_differences(counts):
    """The network's loss is scikit-learn's poisson_loss of the estimator's predictions; the
    gradient of a fit's step is its gradient by central differences (float64)."""
    X, Y = counts
    est = MLPRegressor(loss="poisson", hidden_layer_sizes=(3,), solver="sgd", momentum=0.0,
                       alpha=0.0, max_iter=1, random_state=0, batch_size=len(X),
                       shuffle=False, dtype="float64").fit(X, Y)
    net = est.network_
    assert net.loss_name == "poisson"
    assert net.loss(X, Y) == pytest.approx(poisson_loss(Y, est.predict(X)), rel=1e-12)

    def loss_at(W):
        saved = net.layers[0].W.copy()
        net.layers[0].W[...] = W
        out = poisson_loss(Y, est.predict(X))
        net.layers[0].W[...] = saved
        return out

    W0 = net.layers[0].W.copy()
    h = 1e-6
    numeric = np.zeros_like(W0)
    for i in np.ndindex(W0.shape):
        e = np.zeros_like(W0)
        e[i] = h
        numeric[i] = (loss_at(W0 + e) - loss_at(W0 - e)) / (2 * h)
    est.partial_fit(X, Y)    # one more plain sgd step, lr = learning_rate_init, in the core
    lr = est.learning_rate_init
    np.testing.assert_allclose((W0 - net.layers[0].W) / lr, numeric, rtol=1e-6, atol=1e-9)


def test_poisson_to_onnx_and_sparse(counts):
    X, Y = counts
    est = MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), max_iter=20,
                       random_state=0).fit(X, Y)
    sp = pytest.importorskip("scipy.sparse")
    sparse = MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), max_iter=20,
                          random_state=0).fit(sp.csr_matrix(X), Y)
    for a, b in zip(_params(est), _params(sparse)):     # (the first layer's sums in another
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)    # order: CSR rows)
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import nncore
    sess = ort.InferenceSession(nncore.to_onnx(est).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"X": X})[0], est.predict(X), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # scikit-learn's, diverging
def test_poisson_overflow_is_a_diverged_fit_as_sklearns(counts):
    X, Y = counts
    common = dict(loss="poisson", hidden_layer_sizes=(5,), activation="identity",
                  solver="sgd", learning_rate_init=1.0, max_iter=20, random_state=0)
    with pytest.raises(ValueError, match="non-finite"):
        MLPRegressor(**common).fit(X * 10, Y[:, 0])
    # with early_stopping, as scikit-learn's: NaN scores recorded, the best weights restored
    sk = SkMLPRegressor(early_stopping=True, **common).fit(X * 10, Y[:, 0])
    ours = MLPRegressor(early_stopping=True, **common).fit(X * 10, Y[:, 0])
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_array_equal(np.isnan(ours.validation_scores_),
                                  np.isnan(sk.validation_scores_))
    assert np.isnan(ours.validation_scores_[-1])
    assert all(np.isfinite(p).all() for p in _params(ours))
