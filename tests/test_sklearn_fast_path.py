"""nncore.sklearn's fast path of fit for the ordinary input (a float ndarray X, 1-D integer or
str labels): it must give exactly what scikit-learn's validation (the general path) gives, and
leave everything else to that path, with scikit-learn's errors."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import nncore.sklearn as nsk  # noqa: E402
from nncore.sklearn import MLPClassifier  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n=70, f=5, k=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, f)).astype(dtype)
    y = np.arange(n) % k           # every class present
    rng.shuffle(y)
    return X, y


def _general(monkeypatch):
    """Turn the fast path off: every fit goes through scikit-learn's validation."""
    monkeypatch.setattr(nsk, "_plain_X", lambda est, X, y, reset: False)


def _fit(X, y, **kw):
    params = dict(hidden_layer_sizes=(7,), max_iter=3, solver="sgd", batch_size=16,
                  random_state=0)
    params.update(kw)
    return MLPClassifier(**params).fit(X, y)


def _fit_both(monkeypatch, X, y, **kw):
    """(fast, general): the same fit by the fast path and by scikit-learn's validation."""
    fast = _fit(X, y, **kw)
    with monkeypatch.context() as m:
        _general(m)
        general = _fit(X, y, **kw)
    return fast, general


def _labels(y, kind):
    if kind.startswith("U"):
        names = np.array(["a", "bb", "c", "dddd"])
        return names[y].astype(kind)
    return y.astype(kind)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("kind", ["int8", "int32", "int64", "uint8", "uint64", "U1", "U4",
                                  "U9"])
def test_fast_path_same_as_general(monkeypatch, dtype, k, kind):
    X, y = _data(k=k, dtype=dtype)
    y = _labels(y, kind)
    fast, general = _fit_both(monkeypatch, X, y)
    assert fast.classes_.dtype == general.classes_.dtype
    np.testing.assert_array_equal(fast.classes_, general.classes_)
    lf, lg = fast._label_binarizer, general._label_binarizer
    assert sorted(vars(lf)) == sorted(vars(lg))
    assert lf.y_type_ == lg.y_type_ and lf.sparse_input_ == lg.sparse_input_
    assert fast.n_features_in_ == general.n_features_in_ == X.shape[1]
    assert fast.out_activation_ == general.out_activation_
    # the indicator the fit trains on, dtype included
    Yf = fast._validate_input(X, y, False, True)[1]
    Yg = lg.transform(y)
    assert Yf.dtype == Yg.dtype and Yf.shape == Yg.shape
    np.testing.assert_array_equal(Yf, Yg)
    for a, b in zip(fast.coefs_ + fast.intercepts_, general.coefs_ + general.intercepts_):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert fast.loss_curve_ == general.loss_curve_
    np.testing.assert_array_equal(fast.predict(X), general.predict(X))
    assert fast.predict(X).dtype == general.predict(X).dtype


def test_fast_path_taken(monkeypatch):
    """The plain case does not call scikit-learn's validate_data at fit (else the fast path
    is dead code); a list y does."""
    X, y = _data()

    def refuse(*args, **kwargs):
        raise AssertionError("validate_data called")

    monkeypatch.setattr(nsk, "validate_data", refuse)
    _fit(X, y)
    with pytest.raises(AssertionError, match="validate_data called"):
        _fit(X, list(y))


def _outcome(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est = fn()
        except Exception as exc:  # noqa: BLE001 - the outcome compared is the exception
            return type(exc), str(exc), []
    messages = sorted(str(w.message) for w in caught
                      if "Maximum iterations" not in str(w.message))
    return None, [a.copy() for a in est.coefs_], messages


def _assert_same_outcome(monkeypatch, fn):
    fast = _outcome(fn)
    with monkeypatch.context() as m:
        _general(m)
        general = _outcome(fn)
    assert fast[0] == general[0]
    if fast[0] is None:
        for a, b in zip(fast[1], general[1]):
            np.testing.assert_array_equal(a, b)
        assert fast[2] == general[2]
    else:
        assert fast[1] == general[1]
    return fast


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("at", [0, -1])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("strided", [False, True])
def test_bad_X_gets_scikit_learns_error(monkeypatch, dtype, at, bad, strided):
    X, y = _data(dtype=dtype, f=10 if strided else 5)
    if strided:
        X = X[:, ::2]        # not contiguous: the fast path's other check
    X[at, at] = bad
    outcome = _assert_same_outcome(monkeypatch, lambda: _fit(X, y))
    assert outcome[0] is ValueError and "Input X contains" in outcome[1]


@pytest.mark.parametrize("case", ["one class", "2-D y", "y too short", "float y", "bool y",
                                  "object y", "list X", "int X", "float16 X", "no rows",
                                  "no features", "3-D X", "huge float32", "fortran X"])
def test_other_inputs_as_general_path(monkeypatch, case):
    """Whatever the fast path does not take ends as scikit-learn's validation ends it (the
    same error, or the same fit)."""
    X, y = _data()
    if case == "one class":
        y = np.zeros(len(y), dtype=np.int64)
    elif case == "2-D y":
        y = y.reshape(-1, 1)
    elif case == "y too short":
        y = y[:-1]
    elif case == "float y":
        y = y.astype(np.float64)
    elif case == "bool y":
        y = y == 1
    elif case == "object y":
        y = np.array(["a", "b", "c"], dtype=object)[y]
    elif case == "list X":
        X = X.tolist()
    elif case == "int X":
        X = (X * 10).astype(np.int64)
    elif case == "float16 X":
        X = X.astype(np.float16)
    elif case == "no rows":
        X, y = X[:0], y[:0]
    elif case == "no features":
        X = X[:, :0]
    elif case == "3-D X":
        X = X.reshape(len(X), 5, 1)
    elif case == "huge float32":
        # finite, but their sum overflows float32: the general path takes them
        X = X.astype(np.float32)
        X[:, 0] = np.float32(3e38)
    elif case == "fortran X":
        X = np.asfortranarray(X)
    _assert_same_outcome(monkeypatch, lambda: _fit(X, y))


def test_refit_after_feature_names(monkeypatch):
    """A fit on a DataFrame leaves feature_names_in_; a refit on an ndarray removes it, as
    scikit-learn's validation does, and predict on the ndarray does not warn."""
    X, y = _data()
    for path in ("fast", "general"):
        with monkeypatch.context() as m:
            if path == "general":
                _general(m)
            est = _fit(X, y)
            # what a fit on a DataFrame with these columns leaves (no pandas needed)
            est.feature_names_in_ = np.array([f"c{i}" for i in range(X.shape[1])],
                                             dtype=object)
            est.fit(X, y)
            assert not hasattr(est, "feature_names_in_")
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                est.predict(X)


@pytest.mark.parametrize("kind", ["int64", "U4"])
@pytest.mark.parametrize("kw", [dict(class_weight="balanced"),
                                dict(early_stopping=True, validation_fraction=0.2),
                                dict(solver="adam", shuffle=False), dict(solver="lbfgs")])
def test_fast_path_same_fit_with_other_settings(monkeypatch, kind, kw):
    """The binarizer the fast path makes serves the class weights, the stratified validation
    split and its scores, and every solver, as scikit-learn's own."""
    X, y = _data(n=90, k=3)
    y = _labels(y, kind)
    fast, general = _fit_both(monkeypatch, X, y, **kw)
    for a, b in zip(fast.coefs_ + fast.intercepts_, general.coefs_ + general.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert fast.n_iter_ == general.n_iter_
    assert getattr(fast, "validation_scores_", None) == \
        getattr(general, "validation_scores_", None)
    np.testing.assert_array_equal(fast.predict_proba(X), general.predict_proba(X))


@pytest.mark.parametrize("kind", ["int8", "int16", "uint16", "int64", "uint64"])
@pytest.mark.parametrize("labels", [lambda y: y * 5 + 1, lambda y: y * 7 - 3,
                                    lambda y: y * 500 + 1, lambda y: 2 - y])
def test_fast_path_labels_counted_or_sorted_same_as_general(monkeypatch, kind, labels):
    """Integer labels with gaps (counted), negative ones or ones beyond 4 n + 1024 (sorted,
    by np.unique): the classes, their dtype and the fit are the general path's."""
    X, y = _data(k=4)
    y = labels(y)
    if kind.startswith("u"):
        y = y - y.min()
    y = y.astype(kind)
    classes, index = nsk._unique(y)
    expected = np.unique(y, return_inverse=True)
    assert classes.dtype == expected[0].dtype and index.dtype == expected[1].dtype
    np.testing.assert_array_equal(classes, expected[0])
    np.testing.assert_array_equal(index, expected[1])
    fast, general = _fit_both(monkeypatch, X, y)
    assert fast.classes_.dtype == general.classes_.dtype
    np.testing.assert_array_equal(fast.classes_, general.classes_)
    for a, b in zip(fast.coefs_ + fast.intercepts_, general.coefs_ + general.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_warm_start_and_partial_fit_keep_their_checks():
    """warm_start with new classes, partial_fit with an unknown class: scikit-learn's errors
    (these fits do not take the fast path)."""
    X, y = _data(k=3)
    est = _fit(X, y, warm_start=True)
    with pytest.raises(ValueError, match="warm_start can only be used"):
        est.fit(X, (y + 1) % 4)
    est = MLPClassifier(hidden_layer_sizes=(7,), random_state=0)
    est.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(X, y + 1)
    # a fit with too few features after a fit: scikit-learn's message, nothing changed
    est = _fit(X, y, warm_start=True)
    before = [a.copy() for a in est.coefs_]
    with pytest.raises(ValueError, match="X has 4 features, but MLPClassifier is expecting 5"):
        est.fit(X[:, :4], y)
    for a, b in zip(before, est.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name, good, bad", [("shuffle", True, 1), ("max_iter", 5, 5.0),
                                             ("alpha", 0.1, -0.1),
                                             ("hidden_layer_sizes", (7,), "7"),
                                             ("solver", "sgd", "SGD")])
def test_parameters_validated_at_every_fit(name, good, bad):
    """Validated parameter sets are remembered, by value and exact type: a bad value after a
    good one (equal to it, or of another type) still gets scikit-learn's error, every time,
    and leaves the fitted estimator as it was."""
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = _data()
    est = _fit(X, y, **{name: good})
    before = [a.copy() for a in est.coefs_]
    est.set_params(**{name: bad})
    for _ in range(2):
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
            est.fit(X, y)
    for a, b in zip(before, est.coefs_):
        np.testing.assert_array_equal(a, b)
    est.set_params(**{name: good})
    est.fit(X, y)
    # a list (mutable) is validated each time, never remembered
    est.set_params(hidden_layer_sizes=[7])
    est.fit(X, y)
    assert nsk._params_key(est) is None


# -- the fit's fixed costs: the same generator, the same network -------------------------------

def _state(rs):
    name, key, pos, has_gauss, gauss = rs.get_state()
    return name, key.tolist(), pos, has_gauss, gauss


def test_an_integer_random_state_gives_a_new_random_states_state():
    """An integer random_state takes a RandomState of a pool, reseeded: the state of
    RandomState(seed) whatever the pooled one drew before (a kept Gaussian included); other
    random_state values are check_random_state's."""
    from sklearn.utils import check_random_state
    last = None
    for seed in (0, 3, np.int64(7), 2**32 - 1, 3):
        rs, pooled = nsk._random_state(seed)
        assert pooled and type(rs) is np.random.RandomState
        if last is not None:
            assert rs is last       # the pool's, reused
        assert _state(rs) == _state(np.random.RandomState(seed))
        rs.standard_normal()        # keeps the second Gaussian of the pair
        rs.uniform(size=5)
        assert _state(rs)[3] == 1
        nsk._release_state(rs)
        last = rs
    mine = np.random.RandomState(1)
    assert nsk._random_state(mine) == (mine, False)
    assert nsk._random_state(None) == (check_random_state(None), False)


def test_fits_in_threads_with_integer_seeds_are_the_sequential_fits():
    """Fits in several threads at once each get their own pooled generator."""
    import threading
    X, y = _data(n=90, k=4)
    seeds = [0, 1, 2, 3, 0, 1]
    alone = [_fit(X, y, random_state=s, max_iter=4) for s in seeds]
    got, errors = [None] * len(seeds), []
    start = threading.Barrier(len(seeds))

    def run(i):
        try:
            start.wait(30)
            for _ in range(3):
                got[i] = _fit(X, y, random_state=seeds[i], max_iter=4)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(seeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for a, b in zip(alone, got):
        for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
            np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fitted_network_has_sklearns_initial_weights_and_default_init(dtype):
    """The network is made without a draw of its own; its layers keep the default init."""
    from sklearn.neural_network import MLPClassifier as Sk
    X, y = _data(k=3, dtype=dtype)
    params = dict(hidden_layer_sizes=(7, 4), solver="sgd", max_iter=1, learning_rate_init=1e-12,
                  momentum=0.0, alpha=0.0, random_state=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = MLPClassifier(**params).fit(X, y), Sk(**params).fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=1e-6 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)
    net = ours.network_
    assert [ly.init for ly in net.layers] == [None] * 3
    net.layers[0].reset_parameters(0)
    assert np.count_nonzero(net.layers[0].W) == net.layers[0].W.size
