"""nncore.sklearn where scikit-learn's behaviour is more than its math: the dtype that follows
X, a diverging fit under early_stopping, the stratified split's error, set_params after a fit,
and float32 overflow. Each is compared with scikit-learn's own estimator doing the same."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import datasets  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = datasets.load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _params(est):
    return list(est.coefs_) + list(est.intercepts_)


# -- dtype follows X ---------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("x_dtype, dtype, expected", [
    (np.float32, None, np.float32),       # as scikit-learn: float32 in, float32 computed
    (np.float64, None, np.float64),
    (np.int64, None, np.float64),         # anything else: float64
    (np.float32, "float64", np.float64),  # dtype= overrides
    (np.float64, "float32", np.float32),
])
def test_dtype_follows_x_unless_given(iris, Est, solver, x_dtype, dtype, expected):
    X, y = iris
    X = (X * 4).astype(x_dtype)
    est = Est(hidden_layer_sizes=(5,), solver=solver, max_iter=3, random_state=0,
              dtype=dtype).fit(X, y)
    assert all(p.dtype == expected for p in _params(est))
    assert est.network_.dtype == expected
    out = est.predict_proba(X) if Est is MLPClassifier else est.predict(X)
    assert out.dtype == expected


def test_float32_default_matches_sklearn_on_float32_data(iris):
    """Without dtype=, float32 X trains in float32 as scikit-learn's: the same sgd steps in
    float32 agree to float32 rounding; the float64 fit is further away."""
    X, y = iris
    X32 = X.astype(np.float32)
    common = dict(hidden_layer_sizes=(8,), solver="sgd", random_state=0, max_iter=6,
                  learning_rate_init=0.1, batch_size=32, alpha=0.01)
    sk = SkMLPClassifier(**common).fit(X32, y)
    ours = MLPClassifier(**common).fit(X32, y)
    for a, b in zip(_params(sk), _params(ours)):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X32), sk.predict_proba(X32), rtol=1e-4,
                               atol=1e-6)


def test_warm_start_and_partial_fit_keep_the_fitted_dtype(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, warm_start=True,
                        random_state=0).fit(X.astype(np.float32), y)
    est.fit(X, y)                        # float64 X: continues in float32
    assert est.network_.dtype == np.float32
    reg = MLPRegressor(hidden_layer_sizes=(5,), random_state=0)
    reg.partial_fit(X.astype(np.float32), y)
    reg.partial_fit(X, y)
    assert all(p.dtype == np.float32 for p in _params(reg))
    # an explicit dtype other than the fitted network's is refused, naming both
    reg.set_params(dtype="float64")
    before = [p.copy() for p in _params(reg)]
    with pytest.raises(ValueError, match="float64.*float32"):
        reg.partial_fit(X, y)
    for a, b in zip(before, _params(reg)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regressor"])
def test_onnx_export_follows_the_estimators_dtype(iris, kind):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import nncore
    X, y = iris
    X32 = X.astype(np.float32)
    if kind == "binary":
        est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=30, random_state=0)
        est.fit(X32, y == 2)
    elif kind == "multiclass":
        est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=30, random_state=0).fit(X32, y)
    elif kind == "multilabel":
        Y = np.stack([y == 0, y == 1, X[:, 0] > 0], axis=1).astype(int)
        est = MLPClassifier(hidden_layer_sizes=(6,), max_iter=30, random_state=0).fit(X32, Y)
    else:
        est = MLPRegressor(hidden_layer_sizes=(6,), max_iter=30, random_state=0).fit(X32, y)
    model = nncore.to_onnx(est)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].type == "tensor(float)"
    outs = sess.run(None, {"X": X32})
    if kind == "regressor":
        assert outs[0].dtype == np.float32
        np.testing.assert_allclose(outs[0].ravel(), est.predict(X32), rtol=1e-5, atol=1e-6)
    else:
        label, proba = outs
        assert proba.dtype == np.float32
        np.testing.assert_allclose(proba, est.predict_proba(X32), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(label, est.predict(X32))


# -- divergence under early_stopping -----------------------------------------------------------

def _diverging(Est):
    return Est(hidden_layer_sizes=20, activation="identity", solver="sgd",
               learning_rate_init=1.0, max_iter=15, early_stopping=True, n_iter_no_change=10,
               random_state=0)


def test_diverging_fit_under_early_stopping_finishes_as_sklearn():
    X, y = datasets.load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = _diverging(SkMLPRegressor).fit(X, y)
        ours = _diverging(MLPRegressor).fit(X, y)
    assert np.isnan(ours.validation_scores_[-1]) and isinstance(ours.validation_scores_[-1],
                                                                 float)
    # the same epochs, NaN from the same epoch on, the same best score, the best weights back
    assert ours.n_iter_ == sk.n_iter_ == 15
    np.testing.assert_array_equal(np.isnan(ours.validation_scores_),
                                  np.isnan(sk.validation_scores_))
    assert ours.best_validation_score_ == pytest.approx(sk.best_validation_score_, rel=1e-9)
    assert all(np.isfinite(p).all() for p in _params(ours))
    for a, b in zip(_params(sk), _params(ours)):
        np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10)
    assert np.isfinite(ours.predict(X)).all()


def test_diverging_fit_without_early_stopping_still_raises():
    X, y = datasets.load_iris(return_X_y=True)
    est = _diverging(MLPRegressor).set_params(early_stopping=False, max_iter=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            est.fit(X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("at", [0, -1])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_at_the_end_of_a_fit_raise(monkeypatch, dtype, at, bad):
    """The check after the solver (lbfgs here, whose result the fit copies in as it is):
    a non-finite value in the first or the last parameter raises scikit-learn's error."""
    import scipy.optimize
    import nncore.sklearn as nsk
    X, y = datasets.load_iris(return_X_y=True)
    minimize = scipy.optimize.minimize

    def spoiled(*args, **kwargs):
        res = minimize(*args, **kwargs)
        res.x[at] = bad
        return res
    est = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=3, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)    # unspoiled: no error
        monkeypatch.setattr(nsk.scipy.optimize, "minimize", spoiled)
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            est.fit(X, y)


# -- the stratified split's error --------------------------------------------------------------

def _split_error(Est, X, y):
    try:
        Est(early_stopping=True, max_iter=2, random_state=0).fit(X, y)
    except ValueError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("y, refused", [
    ([0, 0, 0, 1], True), (["no", "no", "no", "yes"], True), ([0.0, 0.0, 0.0, 1.0], True),
    ([0] * 10 + [1] * 9 + [2], False),   # one-hot rows: scikit-learn's split copes
])
def test_stratified_split_error_is_sklearns(y, refused):
    X = np.arange(2 * len(y), dtype=float).reshape(len(y), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, sk = _split_error(MLPClassifier, X, y), _split_error(SkMLPClassifier, X, y)
    assert ours == sk
    assert (ours is not None) == refused
    if refused:
        assert "least populated class" in ours


# -- set_params after fit ----------------------------------------------------------------------

@pytest.mark.parametrize("Est, Sk", [(MLPClassifier, SkMLPClassifier),
                                     (MLPRegressor, SkMLPRegressor)])
def test_set_params_activation_after_fit_is_used_by_the_next_warm_fit(iris, Est, Sk):
    X, y = iris
    common = dict(hidden_layer_sizes=(7,), solver="sgd", random_state=0, max_iter=4,
                  learning_rate_init=0.05, batch_size=32, warm_start=True)
    sk, ours = Sk(**common).fit(X, y), Est(**common).fit(X, y)
    sk.set_params(activation="tanh").fit(X, y)
    ours.set_params(activation="tanh").fit(X, y)
    assert [ly.activation.name for ly in ours.network_.layers][0] == "tanh"
    # continued from the relu weights with tanh and a new optimizer, as scikit-learn's
    for a, b in zip(_params(sk), _params(ours)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def test_set_params_after_fit_takes_effect_at_the_next_fit(iris):
    X, y = iris
    common = dict(hidden_layer_sizes=(7,), solver="sgd", random_state=0, max_iter=4,
                  learning_rate_init=0.05, batch_size=32)
    ours = MLPClassifier(**common).fit(X, y)
    ours.set_params(activation="logistic", alpha=0.1, hidden_layer_sizes=(4, 3)).fit(X, y)
    sk = SkMLPClassifier(**common).set_params(activation="logistic", alpha=0.1,
                                              hidden_layer_sizes=(4, 3)).fit(X, y)
    assert ours.network_.sizes == [4, 4, 3, 3]
    for a, b in zip(_params(sk), _params(ours)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


# -- float32 overflow --------------------------------------------------------------------------

@pytest.mark.parametrize("where", [0, -1])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_float32_overflow_says_too_large_not_nan(iris, Est, where):
    X, y = iris
    est = Est(hidden_layer_sizes=(4,), max_iter=3, random_state=0, dtype="float32").fit(X, y)
    before = [p.copy() for p in _params(est)]
    bad = X.copy()
    bad[where, where] = 1e200          # finite in float64, beyond float32
    method = est.predict_proba if Est is MLPClassifier else est.predict
    for call in (method, lambda Z: est.fit(Z, y), lambda Z: est.partial_fit(Z, y)):
        with pytest.raises(ValueError, match=r"too large for dtype\('float32'\)") as exc:
            call(bad)
        assert "NaN" not in str(exc.value)
        assert f"[{bad.shape[0] - 1 if where else 0}, {bad.shape[1] - 1 if where else 0}]" \
            in str(exc.value)
    for a, b in zip(before, _params(est)):   # refused: nothing changed
        np.testing.assert_array_equal(a, b)
    # a large value float32 holds is not refused
    ok = X.copy()
    ok[where, where] = 1e30
    assert method(ok).shape[0] == X.shape[0]
