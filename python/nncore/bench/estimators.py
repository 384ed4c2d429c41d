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
           "SPARSE_EPOCHS", "SPARSE_HIDDEN", "measure_sparse_estimator", "EstimatorCompute",
           "step_products", "estimator_compute"]

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


# -- the compute side of a fit: what bounds it -------------------------------------------------

def step_products(n_features, hidden, n_outputs, batch):
    """(m, k, n, trans_a, trans_b) of the products C(m, n) = op(A) @ op(B) of one training step
    of a dense network with one hidden layer on `batch` rows: the two forward products, the
    output layer's weight and input gradients, the hidden layer's weight gradient (the first
    layer needs no input gradient)."""
    return [(batch, n_features, hidden, False, False), (batch, hidden, n_outputs, False, False),
            (hidden, batch, n_outputs, True, False), (batch, n_outputs, hidden, False, True),
            (n_features, batch, hidden, True, False)]


@dataclasses.dataclass
class EstimatorCompute:
    """Where the time of one digits ``fit`` (sgd, batch "auto") goes, in seconds (best of the
    repeats): the whole fit, the core's epoch calls alone (the same 2 calls an epoch as fit
    makes, on a shuffled order), and the matrix products of those epochs alone: by the core
    (``nncore._kernels.matmul_repeat``, path "auto"; None where the core has none) and by
    NumPy's matmul on one thread. ``flops``: the products' floating-point operations in the
    fit; ``peak``: GFLOP/s of a large square product (1024^3 by default) on one thread, by
    NumPy and by the core's BLAS path."""
    dtype: str
    epochs: int
    flops: float
    fit: float
    core_epochs: float
    core_products: object
    numpy_products: float
    peak: dict

    def lines(self):
        """The figures as text, GFLOP/s of the products beside each time."""
        def rate(seconds):
            return f"{self.flops / seconds / 1e9:.1f} GFLOP/s" if seconds else "n/a"
        core = self.core_products
        return [f"{self.dtype}: {self.epochs} epochs, {self.flops / 1e6:.1f} MFLOP of products",
                f"  whole fit {self.fit * 1e3:.2f} ms; the core's epochs alone "
                f"{self.core_epochs * 1e3:.2f} ms ({rate(self.core_epochs)}); the rest of the "
                f"fit {(self.fit - self.core_epochs) * 1e3:.2f} ms",
                "  the products alone: core " +
                (f"{core * 1e3:.2f} ms ({rate(core)})" if core else "n/a") +
                f", NumPy 1 thread {self.numpy_products * 1e3:.2f} ms "
                f"({rate(self.numpy_products)})",
                "  peak (a large square product), 1 thread: " + ", ".join(
                    f"{k} {v:.1f} GFLOP/s" for k, v in self.peak.items() if v)]


def estimator_compute(dtype="float64", epochs=10, repeats=20, seed=0, data=None,
                      peak_size=1024):
    """The EstimatorCompute of nncore's digits fit (sgd, batch "auto", HIDDEN units, `epochs`
    epochs): the fit, its epochs and its products timed alone, interleaved, best of
    `repeats` (each product best of min(5, repeats)); the peak on a `peak_size` cube. Needs
    scikit-learn (and threadpoolctl, which it installs)."""
    import time
    from threadpoolctl import threadpool_limits
    from .. import _kernels
    from .timing import _best
    X, _, y, _ = digits(dtype, seed) if data is None else data
    t = np.dtype(dtype).type
    n, f = X.shape
    bs = min(200, n)
    batches = [bs] * (n // bs) + ([n % bs] if n % bs else [])
    products = [p for b in batches for p in step_products(f, HIDDEN[0], 10, b)]
    flops = epochs * sum(2.0 * m * k * nn for m, k, nn, _, _ in products)
    est = build_estimator("nncore", "sgd", "auto", dtype, epochs, seed)
    _fit(est, X, y)
    net = est.network_
    T = est._label_binarizer.transform(y).argmax(axis=1).astype(np.int64)
    order = np.random.RandomState(seed).permutation(n).astype(np.int64)
    n_full = n - n % bs

    def core_epochs():
        for _ in range(epochs):
            net._epoch_in_order(X, T, 0.05, bs, order[:n_full])
            if n_full < n:
                net._epoch_in_order(X, T, 0.05, n - n_full, order[n_full:])

    fit = core = np.inf
    for _ in range(repeats):   # interleaved: the two see the same machine
        start = time.perf_counter()
        _fit(est, X, y)
        fit = min(fit, time.perf_counter() - start)
        start = time.perf_counter()
        core_epochs()
        core = min(core, time.perf_counter() - start)
    rng = np.random.default_rng(seed)
    has_core = hasattr(_kernels, "matmul_repeat")
    core_products, numpy_products = 0.0, 0.0
    tries = min(5, repeats)
    with threadpool_limits(1):
        for m, k, nn, ta, tb in products:
            A = rng.random((k, m) if ta else (m, k), dtype=t)
            B = rng.random((nn, k) if tb else (k, nn), dtype=t)
            C = np.zeros((m, nn), dtype=t)
            numpy_products += _best(partial(np.matmul, A.T if ta else A, B.T if tb else B,
                                            out=C), 0.002, tries)
            if has_core:
                reps = 200
                best = np.inf
                for _ in range(tries):
                    start = time.perf_counter()
                    _kernels.matmul_repeat(A, B, C, ta, tb, "auto", reps)
                    best = min(best, (time.perf_counter() - start) / reps)
                core_products += best
        size = peak_size
        A = rng.random((size, size), dtype=t)
        B = rng.random((size, size), dtype=t)
        C = np.zeros((size, size), dtype=t)
        seconds = _best(partial(np.matmul, A, B, out=C), 0.05, tries)
        peak = {"NumPy": 2.0 * size ** 3 / seconds / 1e9}
        if has_core:
            start = time.perf_counter()
            _kernels.matmul_repeat(A, B, C, False, False, "blas", 3)
            peak["core blas"] = 2.0 * size ** 3 / ((time.perf_counter() - start) / 3) / 1e9
    return EstimatorCompute(str(np.dtype(dtype)), epochs, flops, fit, core,
                            core_products * epochs if has_core else None,
                            numpy_products * epochs, peak)
