"""nncore.sklearn on scipy.sparse X (CSR, CSC, sparse arrays, and the formats scikit-learn
converts to CSR): the same fit and predictions as on the dense X (up to the order of the
first layer's sums, which the core computes from the CSR rows), and never more than a chunk
of rows (lbfgs) densified at a time."""
import tracemalloc
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
sp = pytest.importorskip("scipy.sparse")

from sklearn.datasets import load_digits  # noqa: E402

from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FORMATS = [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array, sp.coo_matrix]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)     # 1,797 rows: crosses the 1,024-row chunks
    return X / 16.0, y


def _params(est):
    return list(est.coefs_) + list(est.intercepts_)


# the first layer's sums run over a row's stored entries (sparse) or over all its columns
# (the dense gemm): the same values up to rounding, which a few epochs carry this far
TOL = {np.float64: dict(rtol=1e-9, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


def _fit_both(Est, X, y, fmt, dtype, **kw):
    dense = Est(**kw).fit(X.astype(dtype), y)
    sparse = Est(**kw).fit(fmt(X.astype(dtype)), y)
    return dense, sparse


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_stochastic_fit_on_sparse_is_the_dense_fit(digits, Est, solver, dtype, fmt):
    """The same steps on the same rows in the same order: the same weights, to rounding."""
    X, y = digits
    dense, sparse = _fit_both(Est, X, y, fmt, dtype, hidden_layer_sizes=(12,), solver=solver,
                              max_iter=3, random_state=0, batch_size=64)
    for a, b in zip(_params(dense), _params(sparse)):
        assert b.dtype == dtype
        np.testing.assert_allclose(b, a, **TOL[dtype])
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=TOL[dtype]["rtol"])
    out = "predict_proba" if Est is MLPClassifier else "predict"
    np.testing.assert_allclose(getattr(sparse, out)(fmt(X.astype(dtype))),
                               getattr(dense, out)(X.astype(dtype)), **TOL[dtype])


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 2e-3)])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_lbfgs_on_sparse_is_the_dense_fit_to_rounding(digits, Est, dtype, rtol):
    """lbfgs sums the loss and gradients over chunks of rows: equal up to summation order."""
    X, y = digits
    dense, sparse = _fit_both(Est, X, y, sp.csr_matrix, dtype, hidden_layer_sizes=(8,),
                              solver="lbfgs", max_iter=15, random_state=0)
    assert sparse.n_iter_ == dense.n_iter_
    for a, b in zip(_params(dense), _params(sparse)):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_sample_weight_early_stopping_and_partial_fit_on_sparse(digits, solver):
    X, y = digits
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    w[[0, -1]] = 0.0                                  # weights 0 at the first and last rows
    kw = dict(hidden_layer_sizes=(10,), solver=solver, max_iter=4, random_state=1)
    dense = MLPClassifier(**kw).fit(X, y, sample_weight=w)
    sparse = MLPClassifier(**kw).fit(sp.csr_matrix(X), y, sample_weight=w)
    for a, b in zip(_params(dense), _params(sparse)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    if solver == "lbfgs":
        return
    kw.update(early_stopping=True, validation_fraction=0.2)
    dense = MLPClassifier(**kw).fit(X, y)
    sparse = MLPClassifier(**kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.validation_scores_, dense.validation_scores_,
                               atol=1e-12)
    a = MLPRegressor(hidden_layer_sizes=(6,), random_state=0)
    b = MLPRegressor(hidden_layer_sizes=(6,), random_state=0)
    for _ in range(2):
        a.partial_fit(X, y)
        b.partial_fit(sp.csc_matrix(X), y)
    for p, q in zip(_params(a), _params(b)):
        np.testing.assert_allclose(q, p, **TOL[np.float64])


def test_a_large_sparse_problem_is_never_densified_whole():
    """20,000 x 20,000 at density 0.05% (a dense copy would be 1.6 GB in float32): fit and
    predict hold no dense rows of X at all: the core reads the CSR rows."""
    rng = np.random.default_rng(0)
    X = sp.random(20_000, 20_000, density=0.0005, format="csr", dtype=np.float32,
                  random_state=rng)
    y = rng.integers(0, 3, X.shape[0])
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    tracemalloc.start()
    try:
        est.fit(X, y)
        est.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    batch_bytes = 200 * X.shape[1] * 4                 # one dense batch: 16 MB
    assert peak < batch_bytes / 4, peak
    assert est.coefs_[0].dtype == np.float32


def test_sparse_float32_overflow_and_nan_are_refused_clearly(digits):
    X, y = digits
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0,
                       dtype="float32").fit(X, y)
    bad = sp.lil_matrix(X)
    bad[X.shape[0] - 1, X.shape[1] - 1] = 1e200
    with pytest.raises(ValueError, match=r"too large for dtype\('float32'\).*\[1796, 63\]"):
        est.predict(bad.tocsr())
    bad[X.shape[0] - 1, X.shape[1] - 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.predict(bad.tocsr())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="NaN"):
            MLPRegressor().fit(bad.tocsr(), y)
