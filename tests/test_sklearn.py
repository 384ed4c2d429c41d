"""nncore.sklearn: drop-in MLPClassifier / MLPRegressor, checked against scikit-learn's own.

Where the math is the same (sgd: same Glorot draws from the same random_state, same shuffling,
same batches, momentum in the same velocity form, alpha as weight decay per batch size; lbfgs:
the same objective and gradients through scipy), the parameters are compared to tight
tolerances; where it differs by design (adam's epsilon placement, the penalty part of the
reported sgd loss), the difference is bounded and said why.
"""
import copy
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import datasets  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _scaled(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris():
    return _scaled(datasets.load_iris)


@pytest.fixture(scope="module")
def digits():
    return _scaled(datasets.load_digits)


def _params(est):
    return list(est.coefs_) + list(est.intercepts_)


def _assert_same_params(a, b, rtol, atol):
    pa, pb = _params(a), _params(b)
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb):
        np.testing.assert_allclose(y, x, rtol=rtol, atol=atol)


# -- import ---------------------------------------------------------------------------------

def test_import_nncore_does_not_import_sklearn():
    code = "import sys, nncore; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- scikit-learn's estimator checks --------------------------------------------------------

# max_iter=100 as scikit-learn's own checks of its MLP
@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100),
                          MLPClassifier(solver="lbfgs", max_iter=100),
                          MLPRegressor(solver="lbfgs", max_iter=100)])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# -- exactly scikit-learn's math ------------------------------------------------------------

SGD_CASES = [
    dict(learning_rate_init=0.1, batch_size=32),                      # 150 = 4*32 + 22
    dict(learning_rate_init=0.1, batch_size=50, momentum=0.0),        # no momentum, divides
    dict(learning_rate_init=0.05, batch_size=32, nesterovs_momentum=False),
    dict(learning_rate="invscaling", learning_rate_init=0.5, batch_size=40),
    dict(learning_rate_init=0.1, batch_size=32, shuffle=False, activation="tanh"),
    dict(learning_rate_init=0.5, batch_size=16, activation="logistic", alpha=0.1),
]


@pytest.mark.parametrize("kw", SGD_CASES)
def test_sgd_same_parameters_as_sklearn(iris, kw):
    X, y = iris
    kw = {"alpha": 0.01, **kw}
    common = dict(hidden_layer_sizes=(8, 5), solver="sgd", random_state=3, max_iter=6, **kw)
    a = SkMLPClassifier(**common).fit(X, y)
    b = MLPClassifier(**common).fit(X, y)
    assert b.n_iter_ == a.n_iter_ == 6 and b.t_ == a.t_
    # the same float64 operations up to summation order: agreement to rounding
    _assert_same_params(a, b, rtol=1e-9, atol=1e-12)
    # the reported loss, penalty included (scikit-learn clips probabilities at eps in its
    # log-loss, nowhere near here)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)


def test_sgd_loss_curve_exact_without_alpha(iris):
    X, y = iris
    common = dict(hidden_layer_sizes=(8,), solver="sgd", random_state=0, max_iter=5, alpha=0.0,
                  learning_rate_init=0.1, batch_size=32)
    a = SkMLPClassifier(**common).fit(X, y)
    b = MLPClassifier(**common).fit(X, y)
    # scikit-learn clips probabilities at eps in its log-loss; nowhere near here
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    assert b.loss_ == b.loss_curve_[-1]


def test_sgd_adaptive_and_stopping_rule_as_sklearn(iris):
    """tol/n_iter_no_change on the training loss, the rate divided by 5 on each plateau (the
    momentum buffer rescaled to keep scikit-learn's velocity form)."""
    X, y = iris
    common = dict(hidden_layer_sizes=(6,), solver="sgd", random_state=0, max_iter=300,
                  alpha=0.0, learning_rate="adaptive", learning_rate_init=0.2, batch_size=50,
                  tol=1e-3, n_iter_no_change=3)
    a = SkMLPClassifier(**common).fit(X, y)
    b = MLPClassifier(**common).fit(X, y)
    assert a.n_iter_ < 300          # the rule stopped it
    assert b.n_iter_ == a.n_iter_
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-8)
    assert b.best_loss_ == pytest.approx(a.best_loss_, rel=1e-8)
    _assert_same_params(a, b, rtol=1e-7, atol=1e-10)


def test_early_stopping_as_sklearn(digits):
    X, y = digits
    common = dict(hidden_layer_sizes=(16,), solver="sgd", random_state=0, max_iter=200,
                  learning_rate_init=0.05, early_stopping=True, n_iter_no_change=4,
                  validation_fraction=0.2)
    a = SkMLPClassifier(**common).fit(X, y)
    b = MLPClassifier(**common).fit(X, y)
    assert a.n_iter_ < 200
    assert b.n_iter_ == a.n_iter_
    assert b.validation_scores_ == a.validation_scores_
    assert b.best_validation_score_ == a.best_validation_score_
    assert b.best_loss_ is None and b.validation_scores_ is not None
    # restored to the best epoch's weights, as scikit-learn
    _assert_same_params(a, b, rtol=1e-8, atol=1e-10)


def test_regressor_sgd_same_parameters_multioutput():
    X, Y = datasets.make_regression(n_samples=130, n_features=6, n_targets=3, noise=1.0,
                                    random_state=0)
    X = StandardScaler().fit_transform(X)
    Y = Y / Y.std(axis=0)
    common = dict(hidden_layer_sizes=(10,), solver="sgd", random_state=2, max_iter=5,
                  learning_rate_init=0.01, batch_size=20, alpha=0.0)
    a = SkMLPRegressor(**common).fit(X, Y)
    b = MLPRegressor(**common).fit(X, Y)
    _assert_same_params(a, b, rtol=1e-9, atol=1e-12)
    # scikit-learn's squared loss is averaged over the outputs as well
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    assert b.predict(X).shape == (130, 3)


def test_adam_close_to_sklearn(iris):
    """nncore's Adam adds epsilon to sqrt(v_hat), scikit-learn to sqrt(v): with epsilon = 1e-8
    the updates differ by less than 1e-8 / sqrt(v) of a step, so after a few epochs the
    parameters agree to about 1e-5 (and exactly with the same epsilon placement, which
    would need epsilon per step)."""
    X, y = iris
    common = dict(hidden_layer_sizes=(8,), solver="adam", random_state=1, max_iter=8,
                  alpha=0.01, batch_size=32, learning_rate_init=0.01)
    a = SkMLPClassifier(**common).fit(X, y)
    b = MLPClassifier(**common).fit(X, y)
    _assert_same_params(a, b, rtol=0, atol=1e-5)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-5)


@pytest.mark.parametrize("Est,Sk,loader", [
    (MLPClassifier, SkMLPClassifier, datasets.load_iris),
    (MLPClassifier, SkMLPClassifier, datasets.load_breast_cancer),
    (MLPRegressor, SkMLPRegressor, datasets.load_diabetes),
])
def test_lbfgs_same_optimum_as_sklearn(Est, Sk, loader):
    X, y = _scaled(loader)
    if Est is MLPRegressor:
        y = (y - y.mean()) / y.std()
    common = dict(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0, max_iter=40)
    a = Sk(**common).fit(X, y)
    b = Est(**common).fit(X, y)
    assert b.n_iter_ == a.n_iter_
    # same objective and gradient up to rounding (scikit-learn clips probabilities at eps),
    # followed by the same L-BFGS-B: the same path for these few iterations
    assert b.loss_ == pytest.approx(a.loss_, rel=1e-6)
    _assert_same_params(a, b, rtol=1e-4, atol=1e-6)


def test_lbfgs_sample_weight_as_sklearn(iris):
    X, y = iris
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(y))
    common = dict(hidden_layer_sizes=(6,), solver="lbfgs", random_state=0, max_iter=30)
    a = SkMLPClassifier(**common).fit(X, y, sample_weight=w)
    b = MLPClassifier(**common).fit(X, y, sample_weight=w)
    assert b.loss_ == pytest.approx(a.loss_, rel=1e-6)
    _assert_same_params(a, b, rtol=1e-4, atol=1e-6)
    # weights matter: not the unweighted fit
    c = MLPClassifier(**common).fit(X, y)
    assert not np.allclose(c.coefs_[0], b.coefs_[0])


def test_lbfgs_sample_weight_regressor_as_sklearn():
    X, y = _scaled(datasets.load_diabetes)
    y = (y - y.mean()) / y.std()
    w = np.random.default_rng(1).integers(1, 4, len(y)).astype(float)
    common = dict(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0, max_iter=20,
                  alpha=0.1)
    a = SkMLPRegressor(**common).fit(X, y, sample_weight=w)
    b = MLPRegressor(**common).fit(X, y, sample_weight=w)
    assert b.loss_ == pytest.approx(a.loss_, rel=1e-6)


@pytest.mark.parametrize("kw", [dict(alpha=0.01), dict(alpha=0.0, momentum=0.0),
                                dict(alpha=0.01, early_stopping=True, max_iter=8)])
def test_sgd_sample_weight_same_parameters_as_sklearn(iris, kw):
    # the weighted batch loss, the penalty over the batch's sum of weights, the weighted
    # validation score: scikit-learn's definitions, step for step
    X, y = iris
    w = np.random.default_rng(2).uniform(0.2, 3.0, len(y))
    common = {**dict(hidden_layer_sizes=(8,), solver="sgd", random_state=3, max_iter=6,
                     batch_size=32), **kw}
    a = SkMLPClassifier(**common).fit(X, y, sample_weight=w)
    b = MLPClassifier(**common).fit(X, y, sample_weight=w)
    assert b.n_iter_ == a.n_iter_
    _assert_same_params(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    if kw.get("early_stopping"):
        np.testing.assert_allclose(b.validation_scores_, a.validation_scores_)
    c = MLPClassifier(**common).fit(X, y)          # weights matter
    assert not np.allclose(c.coefs_[0], b.coefs_[0])


def test_regressor_adam_sample_weight_close_to_sklearn():
    X, y = _scaled(datasets.load_diabetes)
    y = (y - y.mean()) / y.std()
    w = np.random.default_rng(1).integers(0, 4, len(y)).astype(float)
    common = dict(hidden_layer_sizes=(5,), solver="adam", random_state=0, max_iter=5)
    a = SkMLPRegressor(**common).fit(X, y, sample_weight=w)
    b = MLPRegressor(**common).fit(X, y, sample_weight=w)
    # nncore's Adam adds epsilon where PyTorch does (see the module's docstring): close
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-4)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_class_weight_is_sample_weight_by_class(iris, solver):
    X, y = iris
    common = dict(hidden_layer_sizes=(6,), solver=solver, random_state=0, max_iter=5,
                  batch_size=40)
    weights = {0: 3.0, 2: 0.5}
    by_class = np.array([weights.get(c, 1.0) for c in y])
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    X, y = X[10:], y[10:]        # unbalanced: 40, 50, 50 examples, so "balanced" matters
    sw = sw[10:]
    fits = []
    for cw, expected in ((weights, by_class[10:]),
                         ("balanced", len(y) / (3 * np.bincount(y)[y]))):
        a = MLPClassifier(class_weight=cw, **common).fit(X, y, sample_weight=sw)
        b = MLPClassifier(**common).fit(X, y, sample_weight=sw * expected)
        _assert_same_params(a, b, rtol=0, atol=0)
        fits.append(a)
    c = MLPClassifier(**common).fit(X, y, sample_weight=sw)
    for a in fits:
        assert not np.allclose(c.coefs_[0], a.coefs_[0])


def test_class_weight_balanced_refused_by_partial_fit_before_anything_is_set(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(4,), class_weight="balanced")
    with pytest.raises(ValueError, match="partial_fit"):
        est.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(est, "network_")
    est.set_params(class_weight={0: 2.0}).partial_fit(X, y, classes=[0, 1, 2])


@pytest.mark.parametrize("bad, message", [(-1.0, "(?i)negative"), (0.0, "non-zero|sum > 0"),
                                          (np.nan, "NaN")])
def test_bad_sample_weight_refused_before_anything_is_set(iris, bad, message):
    X, y = iris
    w = np.ones(len(y)) if bad != 0.0 else np.zeros(len(y))
    w[-1] = bad if bad != 0.0 else 0.0
    est = MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", max_iter=2)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, sample_weight=w)
    assert not hasattr(est, "network_")


# -- held-out scores like scikit-learn's ----------------------------------------------------

@pytest.mark.parametrize("loader", [datasets.load_iris, datasets.load_breast_cancer,
                                    datasets.load_digits, datasets.load_wine])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_held_out_accuracy_like_sklearn(loader, solver):
    X, y = _scaled(loader)
    Xt, Xv, yt, yv = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    kw = dict(hidden_layer_sizes=(32,), solver=solver, random_state=0, max_iter=150)
    if solver == "sgd":
        kw["learning_rate_init"] = 0.05
    sk = SkMLPClassifier(**kw).fit(Xt, yt).score(Xv, yv)
    for dtype in ("float64", "float32"):
        nn = MLPClassifier(dtype=dtype, **kw).fit(Xt, yt).score(Xv, yv)
        # a few held-out examples at most (e.g. 2 of 38 for iris)
        assert abs(nn - sk) <= 0.05, (dtype, nn, sk)
        assert nn > 0.85


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_held_out_r2_like_sklearn(solver):
    X, y = _scaled(datasets.load_diabetes)
    y = (y - y.mean()) / y.std()
    Xt, Xv, yt, yv = train_test_split(X, y, test_size=0.25, random_state=0)
    kw = dict(hidden_layer_sizes=(16,), solver=solver, random_state=0, max_iter=200,
              alpha=30.0 if solver == "lbfgs" else 1.0)   # lbfgs overfits this small set
    sk = SkMLPRegressor(**kw).fit(Xt, yt).score(Xv, yv)
    nn = MLPRegressor(**kw).fit(Xt, yt).score(Xv, yv)
    assert abs(nn - sk) <= 0.05, (nn, sk)
    assert nn > 0.3


# -- labels -----------------------------------------------------------------------------------

def test_binary_string_labels_same_predictions_as_sklearn():
    X, y = _scaled(datasets.load_breast_cancer)
    labels = np.array(["benign", "malignant"])[y]
    common = dict(hidden_layer_sizes=(8,), solver="sgd", random_state=0, max_iter=5,
                  learning_rate_init=0.05)
    a = SkMLPClassifier(**common).fit(X, labels)
    b = MLPClassifier(**common).fit(X, labels)
    assert b.out_activation_ == a.out_activation_ == "logistic" and b.n_outputs_ == 1
    assert list(b.classes_) == ["benign", "malignant"]
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(b.predict_log_proba(X), np.log(b.predict_proba(X)))


def test_multiclass_and_multilabel_as_sklearn(iris):
    X, y = iris
    common = dict(hidden_layer_sizes=(8,), solver="sgd", random_state=0, max_iter=4,
                  learning_rate_init=0.1)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    a = SkMLPClassifier(**common).fit(X, names)
    b = MLPClassifier(**common).fit(X, names)
    assert b.out_activation_ == "softmax" and b.n_outputs_ == 3 and b.n_layers_ == 3
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    Y = np.stack([y == 0, y == 1, X[:, 0] > 0], axis=1).astype(int)   # multilabel
    a = SkMLPClassifier(**common).fit(X, Y)
    b = MLPClassifier(**common).fit(X, Y)
    assert b.out_activation_ == "logistic"
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), rtol=1e-8, atol=1e-12)


# -- partial_fit, warm_start ------------------------------------------------------------------

def test_partial_fit_needs_classes_then_matches_fit(iris):
    X, y = iris
    kw = dict(hidden_layer_sizes=(8,), solver="adam", random_state=0, shuffle=False,
              n_iter_no_change=100, learning_rate_init=0.01, batch_size=32)
    est = MLPClassifier(**kw)
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, y)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])   # a class absent from the batch
    assert list(est.classes_) == [0, 1, 2] and est.n_iter_ == 1
    # partial_fit keeps the optimizer's state: 4 calls equal fit with max_iter=4
    inc = MLPClassifier(**kw)
    for _ in range(4):
        inc.partial_fit(X, y, classes=[0, 1, 2])
    full = MLPClassifier(max_iter=4, **kw).fit(X, y)
    _assert_same_params(full, inc, rtol=1e-12, atol=1e-14)
    assert inc.t_ == full.t_ == 4 * len(y)
    assert inc.network_.optimizer.step_count == full.network_.optimizer.step_count == 20


def test_partial_fit_unavailable_for_lbfgs():
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="sgd"), "partial_fit")


def test_warm_start_continues_with_optimizer_state(iris):
    X, y = iris
    kw = dict(hidden_layer_sizes=(8,), solver="sgd", random_state=0, shuffle=False,
              n_iter_no_change=100, learning_rate_init=0.05, batch_size=32)
    warm = MLPClassifier(max_iter=2, warm_start=True, **kw).fit(X, y)
    warm.set_params(max_iter=3).fit(X, y)
    full = MLPClassifier(max_iter=5, **kw).fit(X, y)
    _assert_same_params(full, warm, rtol=1e-12, atol=1e-14)
    assert len(warm.loss_curve_) == 5
    cold = MLPClassifier(max_iter=2, **kw).fit(X, y).set_params(max_iter=3).fit(X, y)
    assert not np.allclose(cold.coefs_[0], full.coefs_[0])   # without warm_start: anew
    with pytest.raises(ValueError, match="same classes"):
        warm.fit(X[y < 2], y[y < 2])


# -- copies, pipelines, searches --------------------------------------------------------------

@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_pickle_deepcopy_clone(iris, solver):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, random_state=0,
                        max_iter=10).fit(X, y)
    for other in (pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        np.testing.assert_array_equal(other.predict_proba(X), est.predict_proba(X))
        assert other.network_ is not est.network_
        assert other.coefs_[0] is other.network_.layers[0].W
    if solver == "sgd":
        # the optimizer's state travels: continuing the copy continues the original
        other = pickle.loads(pickle.dumps(est))
        est.partial_fit(X, y)
        other.partial_fit(X, y)
        _assert_same_params(est, other, rtol=0, atol=0)
    fresh = clone(est)
    assert not hasattr(fresh, "network_") and fresh.get_params() == est.get_params()


def test_pipeline_and_grid_search():
    X, y = datasets.load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), solver="sgd",
                                                         learning_rate_init=0.05, max_iter=30,
                                                         random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1.0],
                                 "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]},
                          cv=3, n_jobs=2)
    search.fit(X, y)
    assert search.best_score_ > 0.9
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.best_estimator_.score(X, y) > 0.9


# -- bad parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    dict(hidden_layer_sizes=(0,)), dict(hidden_layer_sizes=(4, -1)), dict(solver="rmsprop"),
    dict(activation="softmax"), dict(alpha=-1.0), dict(learning_rate="cosine"),
    dict(learning_rate_init=0.0), dict(max_iter=0), dict(batch_size=0), dict(momentum=1.5),
    dict(validation_fraction=1.0), dict(beta_1=1.0), dict(epsilon=0.0),
    dict(n_iter_no_change=0), dict(dtype="int32"), dict(max_fun=0),
])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_bad_parameters_raise_value_error_at_fit(iris, params, Est):
    X, y = iris
    est = Est(**params)          # accepted at construction, as scikit-learn
    with pytest.raises(ValueError):
        est.fit(X, y)
    assert not hasattr(est, "network_")
    if "dtype" not in params and not (Est is MLPRegressor and "activation" in params):
        # scikit-learn refuses the same
        Sk = SkMLPClassifier if Est is MLPClassifier else SkMLPRegressor
        with pytest.raises(ValueError):
            Sk(**params).fit(X, y)


@pytest.mark.parametrize("sizes, bad", [((7.0,), r"7\.0 \(float\) at index 0"),
                                         ((4, 7.5), r"7\.5 \(float\) at index 1"),
                                         (np.array([3.0]), r"3\.0 \(float64\)"),
                                         ((True,), r"True \(bool\)"), (("7",), r"7 \(str\)"),
                                         (((4,),), r"\(4,\) \(tuple\)")])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_hidden_layer_sizes_not_integers_raise_type_error_before_anything_is_set(iris, sizes,
                                                                                 bad, Est):
    """scikit-learn's parameter validation accepts them (array-like); its fit then fails
    with a TypeError (NumPy's). nncore's: a TypeError naming the parameter and the value,
    before anything is set; a fitted estimator stays as it was."""
    X, y = iris
    Sk = SkMLPClassifier if Est is MLPClassifier else SkMLPRegressor
    with pytest.raises(TypeError):
        Sk(hidden_layer_sizes=sizes, max_iter=2).fit(X, y)
    est = Est(hidden_layer_sizes=sizes, max_iter=2)
    with pytest.raises(TypeError, match=rf"hidden_layer_sizes must hold integers.*got {bad}"):
        est.fit(X, y)
    assert [k for k in vars(est) if k.endswith("_")] == []
    est = Est(hidden_layer_sizes=(5,), solver="sgd", max_iter=2, random_state=0).fit(X, y)
    before, n_iter = [a.copy() for a in _params(est)], est.n_iter_
    for warm in (False, True):
        est.set_params(hidden_layer_sizes=sizes, warm_start=warm)
        with pytest.raises(TypeError, match="hidden_layer_sizes must hold integers"):
            est.fit(X, y)
        assert est.n_iter_ == n_iter
        for a, b in zip(before, _params(est)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sizes", [(0.0,), (4, -1.0), (4, np.array(0))])
def test_hidden_layer_sizes_not_positive_floats_raise_value_error_as_sklearn(iris, sizes):
    X, y = iris
    for Est in (MLPClassifier, SkMLPClassifier):
        with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
            Est(hidden_layer_sizes=sizes).fit(X, y)


@pytest.mark.parametrize("sizes", [(np.int64(6), np.uint8(3)), np.array([6, 3]), [6, 3],
                                   (6, np.array(3))])
def test_hidden_layer_sizes_of_any_integer_type_give_the_same_network(iris, sizes):
    X, y = iris
    common = dict(solver="sgd", max_iter=3, random_state=0)
    ref = MLPClassifier(hidden_layer_sizes=(6, 3), **common).fit(X, y)
    est = MLPClassifier(hidden_layer_sizes=sizes, **common).fit(X, y)
    assert est.n_layers_ == 4 and est.network_.sizes == ref.network_.sizes
    for a, b in zip(_params(ref), _params(est)):
        np.testing.assert_array_equal(a, b)


def test_poisson_loss_refuses_negative_targets_before_anything_is_set(iris):
    X, y = iris
    y = y.astype(float)
    y[-1] = -1.0
    est = MLPRegressor(loss="poisson")
    with pytest.raises(ValueError, match=r"y >= 0.*-1\.0 at index \[149\]"):
        est.fit(X, y)
    assert not hasattr(est, "network_")


def test_sgd_momentum_one_refused_before_anything_is_set(iris):
    X, y = iris
    est = MLPClassifier(solver="sgd", momentum=1.0)   # scikit-learn accepts it; nncore's SGD not
    with pytest.raises(ValueError, match="momentum"):
        est.fit(X, y)
    assert not hasattr(est, "network_") and not hasattr(est, "classes_")


def test_assigning_coefs_copies_into_the_network(iris):
    """Copying scikit-learn's initial weights in, then training alike, gives its parameters."""
    X, y = iris
    common = dict(hidden_layer_sizes=(7,), solver="sgd", max_iter=1, learning_rate_init=0.1,
                  batch_size=25, shuffle=False, warm_start=True, alpha=0.0)
    a = SkMLPClassifier(random_state=5, **common).fit(X, y)
    b = MLPClassifier(random_state=6, **common).fit(X, y)        # other weights
    assert not np.allclose(b.coefs_[0], a.coefs_[0])
    b.coefs_ = [c.copy() for c in a.coefs_]
    b.intercepts_ = [c.copy() for c in a.intercepts_]
    assert b.coefs_[0] is b.network_.layers[0].W
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), rtol=1e-12)
    # nncore's momentum state differs from the copied-in point only by its history; without
    # momentum the next epochs agree
    a.set_params(momentum=0.0, max_iter=3).fit(X, y)
    b.set_params(momentum=0.0, max_iter=3).fit(X, y)
    _assert_same_params(a, b, rtol=1e-9, atol=1e-12)
    before = [c.copy() for c in b.coefs_]
    with pytest.raises(ValueError, match="shape"):
        b.coefs_ = [before[0], before[1].T]
    with pytest.raises(ValueError, match="not finite"):
        b.coefs_ = [before[0], np.full_like(before[1], np.nan)]
    for x, y_ in zip(before, b.coefs_):
        np.testing.assert_array_equal(x, y_)    # a refused assignment changes nothing


def test_float32_follows_sklearn_on_float32_data(iris):
    """scikit-learn trains in float32 on float32 X; so does dtype="float32": the same
    operations in float32, agreeing to float32 rounding accumulated over 30 steps."""
    X, y = iris
    X32 = X.astype(np.float32)
    common = dict(hidden_layer_sizes=(8,), solver="sgd", random_state=0, max_iter=6,
                  learning_rate_init=0.1, batch_size=32, alpha=0.01)
    a = SkMLPClassifier(**common).fit(X32, y)
    b = MLPClassifier(dtype="float32", **common).fit(X32, y)
    assert all(c.dtype == np.float32 for c in b.coefs_ + b.intercepts_)
    assert b.predict_proba(X32).dtype == np.float32
    _assert_same_params(a, b, rtol=1e-4, atol=1e-5)
    assert b.score(X, y) == a.score(X32, y)


def test_regressor_early_stopping_and_partial_fit_as_sklearn():
    X, y = _scaled(datasets.load_diabetes)
    y = (y - y.mean()) / y.std()
    common = dict(hidden_layer_sizes=(12,), solver="sgd", random_state=1, max_iter=300,
                  learning_rate_init=0.01, early_stopping=True, n_iter_no_change=3)
    a = SkMLPRegressor(**common).fit(X, y)
    b = MLPRegressor(**common).fit(X, y)
    assert a.n_iter_ < 300 and b.n_iter_ == a.n_iter_
    np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, rtol=1e-9)
    _assert_same_params(a, b, rtol=1e-8, atol=1e-10)
    # partial_fit: one epoch per call, as scikit-learn's (whose optimizer persists too)
    common.update(early_stopping=False, shuffle=False)
    a, b = SkMLPRegressor(**common), MLPRegressor(**common)
    for _ in range(3):
        a.partial_fit(X, y)
        b.partial_fit(X, y)
    assert b.n_iter_ == a.n_iter_ == 1 and b.t_ == a.t_ == 3 * len(y)
    _assert_same_params(a, b, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, y)


def test_verbose_prints_like_sklearn(iris, capsys):
    X, y = iris
    MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", max_iter=2, verbose=True,
                  random_state=0).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Iteration 1, loss = ") and out[1].startswith("Iteration 2, ")


def test_refit_resets_and_warm_start_from_lbfgs(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(6,), solver="sgd", max_iter=3, random_state=0,
                        learning_rate_init=0.05)
    est.fit(X, y)
    first = [c.copy() for c in est.coefs_]
    est.fit(X, y)                        # not warm: anew, the same result
    assert len(est.loss_curve_) == 3
    for a, b in zip(first, est.coefs_):
        np.testing.assert_array_equal(a, b)
    warm = MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=5, random_state=0,
                         warm_start=True).fit(X, y)
    after_lbfgs = warm.coefs_[0].copy()
    warm.set_params(solver="sgd", max_iter=2).fit(X, y)     # continues from lbfgs's weights
    assert len(warm.loss_curve_) == 2 and warm.n_iter_ == 2
    assert not np.array_equal(warm.coefs_[0], after_lbfgs)
    fresh = MLPClassifier(hidden_layer_sizes=(6,), solver="sgd", max_iter=1,
                          random_state=0).fit(X, y)
    assert warm.loss_curve_[0] < 0.5 * fresh.loss_curve_[0]   # started from lbfgs's weights


def test_leaky_relu_extra_activation(iris):
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(16,), activation="leaky_relu", solver="lbfgs",
                        random_state=0, max_iter=100).fit(X, y)
    assert est.network_.layers[0].activation.name == "leaky_relu"
    assert est.score(X, y) > 0.95


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regressor"])
def test_predicting_many_rows_needs_a_chunk_and_keeps_nothing(kind):
    # 8192 rows through a 128-wide hidden layer: one pass would need 8192 * 128 * 8 bytes =
    # 8 MB for that layer alone; the core works in chunks of 1024 rows (its workspace, kept
    # in the network's small pool, exists before the call) and nothing outlives the call but
    # its result
    import tracemalloc
    rng = np.random.default_rng(0)
    X = rng.random((8192, 50))
    y = rng.integers(0, 10, 8192)
    y = {"multiclass": y, "binary": y % 2, "regressor": y / 10}[kind]
    est = (MLPRegressor if kind == "regressor" else MLPClassifier)(
        hidden_layer_sizes=(128,), max_iter=1, random_state=0).fit(X[:500], y[:500])
    calls = {"predict": lambda: est.predict(X), "score": lambda: est.score(X, y)}
    if kind != "regressor":
        calls["predict_proba"] = lambda: est.predict_proba(X)
    for name, call in calls.items():
        call()
        tracemalloc.start()
        try:
            result = np.asarray(call())
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < result.nbytes + 4 * 2**20, (name, peak)
        assert kept < result.nbytes + 64 * 2**10, (name, kept)
