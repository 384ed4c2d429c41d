"""The scikit-learn estimators: ``nncore.sklearn.MLPClassifier`` against
``sklearn.neural_network.MLPClassifier``, each ``fit`` on the same data with the same
parameters.

The setting: scikit-learn's digits, standardised, 25% held out (stratified, seeded),
one hidden layer of 64 ReLU units; ``solver="sgd"`` at ``learning_rate_init=0.05`` and
``solver="adam"`` at its default 0.001; every other parameter at the estimators' defaults
(``alpha=1e-4``, sgd's Nesterov momentum 0.9, ...) except the stopping rule: ``max_iter``
epochs, ``tol=0`` and ``n_iter_no_change=max_iter``, so that both run exactly ``max_iter``
epochs (``n_iter_`` is checked). Batch sizes: the default ``"auto"`` (min(200, n)) and 32.

In float64 both estimators get float64 data. In float32, nncore's ``dtype="float32"`` and
scikit-learn given the same data as float32 (its MLP then computes in float32 too), so that
neither side is slowed by a wider type than the other's.

scikit-learn is optional: everything here imports it inside the functions.
"""
import dataclasses
import warnings
from functools import partial

import numpy as np

from .networks import DTYPES

__all__ = ["ESTIMATOR_TARGET", "ESTIMATOR_SOLVERS", "ESTIMATOR_BATCH_SIZES", "ESTIMATOR_LR",
           "HIDDEN", "ESTIMATORS", "EstimatorResult", "digits", "estimator_params",
           "build_estimator", "measure_estimator", "run_estimators", "tfidf_like",
           "SPARSE_EPOCHS", "SPARSE_HIDDEN", "measure_sparse_estimator"]

# nncore's fit at least this many times faster than scikit-learn's (the estimators' target)
ESTIMATOR_TARGET = 5.0
ESTIMATOR_SOLVERS = ("sgd", "adam")
ESTIMATOR_BATCH_SIZES = ("auto", 32)
ESTIMATOR_LR = {"sgd": 0.05, "adam": 0.001}
HIDDEN = (64,)
ESTIMATORS = ("nncore", "sklearn")
# the sparse row: a TF-IDF-like problem (see tfidf_like), adam, 100 hidden units, 2 epochs
SPARSE_EPOCHS = 2
SPARSE_HIDDEN = (100,)


@dataclasses.dataclass
class EstimatorResult:
    """One (solver, batch_size, dtype): best seconds of a whole ``fit`` by estimator
    ("nncore", "sklearn"), its ``n_iter_`` and its accuracy on the held-out quarter."""
    solver: str
    batch_size: object
    dtype: str
    epochs: int
    seconds: dict
    n_iter: dict
    accuracy: dict
    data: str = "digits"

    @property
    def same_epochs(self):
        """Both fits ran the epochs asked for (else the times do not compare)."""
        return all(n == self.epochs for n in self.n_iter.values())

    @property
    def ratio(self):
        """scikit-learn's fit time / nncore's (> 1: nncore is faster), or None."""
        nn, sk = self.seconds.get("nncore"), self.seconds.get("sklearn")
        return sk / nn if nn and sk else None

    def met(self):
        """Whether nncore is ESTIMATOR_TARGET times faster (None: no ratio, or the two did
        not run the same epochs)."""
        if self.ratio is None or not self.same_epochs:
            return None
        return self.ratio >= ESTIMATOR_TARGET


def digits(dtype="float64", seed=0):
    """(X_train, X_test, y_train, y_test): scikit-learn's digits (1797 x 64), standardised
    (the scaler fit on the training part), 25% held out, stratified, split by `seed`; X in
    `dtype`."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
                                                        random_state=seed, stratify=y)
    scaler = StandardScaler().fit(X_train)
    t = np.dtype(dtype)
    return (scaler.transform(X_train).astype(t), scaler.transform(X_test).astype(t),
            y_train, y_test)


def tfidf_like(n_rows=20_000, n_features=50_000, density=0.002, n_classes=20, seed=0,
               dtype="float64"):
    """(X_train, X_test, y_train, y_test): a TF-IDF-like problem drawn from `seed`: CSR X
    (n_rows, n_features) with about ``density * n_features`` distinct words a row, l2-normalised
    rows of term counts times idf. Each class has its own 250 topic words, from which 3% of
    its documents' words are drawn, the rest from a Zipf-like background over every word;
    25% held out, stratified. Needs scipy."""
    import scipy.sparse
    from sklearn.model_selection import train_test_split
    rng = np.random.default_rng(seed)
    # word draws a row: a Zipf-like background repeats its frequent words (the term counts),
    # so about 1.45 draws give one distinct word, a stored entry
    per_row = max(1, int(round(1.45 * density * n_features)))
    y = rng.integers(0, n_classes, n_rows)
    topics = rng.choice(n_features, size=(n_classes, 250), replace=True)
    background = 1.0 / np.arange(1, n_features + 1) ** 1.1
    background = rng.permutation(background / background.sum())
    rows = np.repeat(np.arange(n_rows), per_row)
    words = rng.choice(n_features, size=rows.shape[0], p=background)
    topical = rng.random(rows.shape[0]) < 0.03
    words[topical] = topics[y[rows[topical]], rng.integers(0, 250, int(topical.sum()))]
    counts = scipy.sparse.coo_matrix((np.ones(rows.shape[0]), (rows, words)),
                                     shape=(n_rows, n_features)).tocsr()   # sums repeats
    df = np.bincount(counts.indices, minlength=n_features)
    idf = np.log((1 + n_rows) / (1 + df)) + 1
    X = counts.multiply(idf.reshape(1, -1)).tocsr()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = scipy.sparse.diags(1 / np.maximum(norms, 1e-12)) @ X
    X = scipy.sparse.csr_matrix(X, dtype=np.dtype(dtype))
    return train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)


def estimator_params(solver, batch_size, epochs, seed=0, hidden=HIDDEN):
    """The constructor parameters both estimators get (see the module's docstring)."""
    if solver not in ESTIMATOR_SOLVERS:
        raise ValueError(f"solver must be one of {ESTIMATOR_SOLVERS}, got {solver!r}")
    return dict(hidden_layer_sizes=hidden, activation="relu", solver=solver,
                learning_rate_init=ESTIMATOR_LR[solver], batch_size=batch_size,
                max_iter=epochs, tol=0.0, n_iter_no_change=epochs, random_state=seed)


def build_estimator(which, solver, batch_size, dtype, epochs, seed=0, hidden=HIDDEN):
    """An unfitted MLPClassifier: ``which`` "nncore" (``nncore.sklearn``, with `dtype`) or
    "sklearn" (``sklearn.neural_network``; it computes in the dtype of the data)."""
    params = estimator_params(solver, batch_size, epochs, seed, hidden)
    if which == "nncore":
        from ..sklearn import MLPClassifier
        return MLPClassifier(**params, dtype=str(np.dtype(dtype)))
    if which == "sklearn":
        from sklearn.neural_network import MLPClassifier
        return MLPClassifier(**params)
    raise ValueError(f"which must be one of {ESTIMATORS}, got {which!r}")


def _fit(est, X, y):
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():  # max_iter epochs on purpose
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)


def measure_estimator(solver, batch_size, dtype, epochs, target=0.02, repeats=3, seed=0,
                      data=None):
    """The EstimatorResult of (solver, batch_size, dtype): each estimator fit once (warm-up;
    its ``n_iter_`` and held-out accuracy recorded), then timed by ``timing``'s best of
    `repeats` (each repeat about `target` seconds, at least one whole ``fit``).

    data: ``digits(dtype, seed)`` when None.
    """
    from .timing import _best
    X_train, X_test, y_train, y_test = digits(dtype, seed) if data is None else data
    seconds, n_iter, accuracy = {}, {}, {}
    for which in ESTIMATORS:
        est = build_estimator(which, solver, batch_size, dtype, epochs, seed)
        fn = partial(_fit, est, X_train, y_train)
        fn()
        n_iter[which] = int(est.n_iter_)
        accuracy[which] = float(est.score(X_test, y_test))
        seconds[which] = _best(fn, target, repeats)
    return EstimatorResult(solver, batch_size, str(np.dtype(dtype)), epochs, seconds, n_iter,
                           accuracy)


def measure_sparse_estimator(dtype, epochs=SPARSE_EPOCHS, solver="adam", seed=0, data=None):
    """The EstimatorResult of both estimators on sparse X: ``tfidf_like(dtype=dtype)`` (or
    `data`), batch "auto", SPARSE_HIDDEN units, `epochs` epochs; one timed ``fit`` each (a fit
    of scikit-learn's takes tens of seconds: no warm-up, no repeats)."""
    import time
    X_train, X_test, y_train, y_test = (tfidf_like(dtype=dtype, seed=seed) if data is None
                                        else data)
    seconds, n_iter, accuracy = {}, {}, {}
    for which in ESTIMATORS:
        est = build_estimator(which, solver, "auto", dtype, epochs, seed, SPARSE_HIDDEN)
        start = time.perf_counter()
        _fit(est, X_train, y_train)
        seconds[which] = time.perf_counter() - start
        n_iter[which] = int(est.n_iter_)
        accuracy[which] = float(est.score(X_test, y_test))
    return EstimatorResult(solver, "auto", str(np.dtype(dtype)), epochs, seconds, n_iter,
                           accuracy, data="tfidf-like sparse")


def run_estimators(epochs, target=0.02, repeats=3, dtypes=DTYPES,
                   solvers=ESTIMATOR_SOLVERS, batch_sizes=ESTIMATOR_BATCH_SIZES, progress=None,
                   sparse=False):
    """EstimatorResults of every (dtype, solver, batch_size), then with `sparse` the sparse
    row of each dtype (measure_sparse_estimator). ImportError without scikit-learn."""
    import sklearn  # noqa: F401  (the ImportError, before any work)
    results = []
    for dtype in dtypes:
        data = digits(dtype)
        for solver in solvers:
            for batch_size in batch_sizes:
                if progress:
                    progress(f"MLPClassifier {solver} batch {batch_size} {dtype}")
                results.append(measure_estimator(solver, batch_size, dtype, epochs, target,
                                                 repeats, data=data))
    for dtype in dtypes if sparse else ():
        if progress:
            progress(f"MLPClassifier on sparse X {dtype}")
        results.append(measure_sparse_estimator(dtype))
    return results
