"""nncore's scikit-learn estimators on Dask (the docs' "Scaling out"), on a real
``distributed.LocalCluster`` of worker processes, each result checked against the same work
done in this process.

- GridSearchCV under ``joblib.parallel_backend("dask")`` and under the threading backend gives
  the cv_results_, best_params_ and best estimator of the same search with n_jobs=1.
- ``dask_ml.wrappers.Incremental`` (partial_fit over a Dask array's blocks, in the workers)
  gives, bit for bit, the parameters of the same partial_fit calls over the same blocks here.

Marked ``dask``: ``.ci/run`` runs them in its first pass only (a cluster takes seconds to start,
and the same training compared in workers, threads and here holds on any cpu path or BLAS).
Needs ``pip install "nncore[dask]"``; skipped without it.
"""
import contextlib
import io
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("dask.array")
pytest.importorskip("distributed")

import dask.array as da  # noqa: E402
import joblib  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

_ENVIRON_AT_IMPORT = dict(os.environ)

pytestmark = [pytest.mark.dask,
              # tiny max_iter: the searches stop before converging, in the workers as here
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]


@contextlib.contextmanager
def _environ_restored():
    """distributed's nanny sets OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1, PYTHONHASHSEED, ... in
    this process's os.environ before it starts a worker process, and leaves them there: restore
    it, so that the subprocesses of later test files start as they would without these tests."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# first in the file: its own cluster starts and stops before the module's cluster starts

def test_docs_scaling_out_runs(tmp_path, monkeypatch):
    """The code of the docs' "Scaling out" page (shown there without being run while the site
    is built) runs as written, in order, in one namespace, and says what the text says."""
    pytest.importorskip("dask_ml")
    pytest.importorskip("threadpoolctl")
    from test_docs import SCALING_OUT, _python_blocks
    blocks = [code for _, code in _python_blocks(SCALING_OUT.read_text(encoding="utf-8"))]
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "__docs__"}
    with _environ_restored(), contextlib.redirect_stdout(io.StringIO()):
        for code in blocks:
            exec(compile(code, "docs/user-guide/scaling-out.md", "exec"), ns)
    # the search in threads and on the cluster scored alike; each model learnt the digits
    assert ns["same"] is True and ns["search"].best_score_ > 0.85
    inc = ns["inc"].estimator_
    assert inc.t_ == 5 * 1797 and inc.score(ns["digits_X"], ns["digits_y"]) > 0.9
    assert ns["client"].status == "closed"


@pytest.fixture(scope="module")
def client():
    """Two worker processes of one thread each (the nanny sets OMP_NUM_THREADS=1 there)."""
    with _environ_restored():      # the variables are read when the workers start
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, Client(cluster) as c:
        yield c


def _classification():
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
    return X, y


def _regression():
    X, y = make_regression(n_samples=120, n_features=6, n_targets=2, noise=0.1, random_state=0)
    return X, y / np.abs(y).max()


# classifier: sgd with momentum; regressor: adam (its moments travel with the estimator)
SEARCHES = {
    "classifier": (_classification,
                   MLPClassifier(solver="sgd", max_iter=15, batch_size=16, random_state=0),
                   {"hidden_layer_sizes": [(4,), (8,)], "learning_rate_init": [0.02, 0.2]}),
    "regressor": (_regression,
                  MLPRegressor(solver="adam", max_iter=15, batch_size=16, random_state=0),
                  {"hidden_layer_sizes": [(4,), (8,)], "alpha": [1e-4, 1.0]}),
}


def _search(name, n_jobs):
    make_data, estimator, grid = SEARCHES[name]
    return GridSearchCV(clone(estimator), grid, cv=3, n_jobs=n_jobs), make_data()


def _assert_same_search(got, ref, X):
    """Everything but the timings equal; the refitted best estimators equal bit for bit."""
    keys = {k for k in ref.cv_results_ if not k.endswith("_time")}
    assert keys == {k for k in got.cv_results_ if not k.endswith("_time")}
    for key in sorted(keys):
        if key == "params":
            assert got.cv_results_[key] == ref.cv_results_[key]
        else:
            np.testing.assert_array_equal(got.cv_results_[key], ref.cv_results_[key],
                                          err_msg=key)
    assert got.best_params_ == ref.best_params_
    assert got.best_index_ == ref.best_index_
    for a, b in zip(got.best_estimator_.coefs_ + got.best_estimator_.intercepts_,
                    ref.best_estimator_.coefs_ + ref.best_estimator_.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))


@pytest.fixture(scope="module")
def reference():
    """Each search in this process, one fit after the other."""
    out = {}
    for name in SEARCHES:
        search, (X, y) = _search(name, n_jobs=1)
        search.fit(X, y)
        # a search whose candidates all scored the same would compare nothing
        assert np.ptp(search.cv_results_["mean_test_score"]) > 0
        out[name] = search
    return out


@pytest.mark.parametrize("name", SEARCHES)
def test_grid_search_on_a_dask_cluster_matches_one_process(client, reference, name):
    search, (X, y) = _search(name, n_jobs=-1)
    with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        search.fit(X, y)
    # the fits ran in the cluster's worker processes, not here
    workers = {task["worker"] for task in stream.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    _assert_same_search(search, reference[name], X)


@pytest.mark.parametrize("name", SEARCHES)
def test_grid_search_in_threads_matches_one_process(reference, name):
    make_data, estimator, grid = SEARCHES[name]
    calls = []

    class Recording(type(estimator)):
        """The estimator, noting the thread of each fit."""
        def fit(self, X, y, sample_weight=None):
            calls.append(threading.get_ident())
            return super().fit(X, y, sample_weight=sample_weight)

    X, y = make_data()
    search = GridSearchCV(Recording(**estimator.get_params()), grid, cv=3, n_jobs=2)
    with joblib.parallel_backend("threading"):
        search.fit(X, y)
    # 4 candidates x 3 folds in the pool's threads, then the refit here
    assert len(calls) == 13 and calls[-1] == threading.get_ident()
    assert threading.get_ident() not in calls[:-1]
    _assert_same_search(search, reference[name], X)


def _blocks(dX, dy):
    return [(dX.blocks[i].compute(), dy.blocks[i].compute()) for i in range(dX.numblocks[0])]


@pytest.mark.parametrize("name", SEARCHES)
def test_incremental_over_dask_blocks_matches_partial_fit_here(client, name):
    Incremental = pytest.importorskip("dask_ml.wrappers").Incremental
    make_data, estimator, _ = SEARCHES[name]
    X, y = make_data()
    y = y[:, 0] if y.ndim == 2 else y     # dask-ml's Incremental takes a 1-D y only
    dX = da.from_array(X, chunks=(32, X.shape[1]))     # blocks of 32, 32, 32 and 24 rows
    dy = da.from_array(y, chunks=32)
    kw = {"classes": np.unique(y)} if name == "classifier" else {}
    est = clone(estimator).set_params(hidden_layer_sizes=(8,), learning_rate_init=0.05)

    inc = Incremental(clone(est), shuffle_blocks=False)
    ref = clone(est)
    for epoch in range(2):          # a second pass continues from the first, as here
        with get_task_stream(client) as stream:
            inc.partial_fit(dX, dy, **kw)
        # dask-ml's graph: ("fit-<token>", i) is partial_fit on block i (-1: the model sent)
        ran = [t["key"][1] for t in stream.data if str(t["key"][0]).startswith("fit-")]
        ran = sorted(i for i in ran if i >= 0)
        assert ran == [0, 1, 2, 3], sorted(str(t["key"]) for t in stream.data)
        for Xb, yb in _blocks(dX, dy):
            ref.partial_fit(Xb, yb, **kw)

        got = inc.estimator_
        assert got is not ref and got.t_ == ref.t_ == (epoch + 1) * len(X)
        assert got.loss_curve_ == ref.loss_curve_ and len(ref.loss_curve_) == 4 * (epoch + 1)
        for a, b in zip(got.coefs_ + got.intercepts_, ref.coefs_ + ref.intercepts_):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(inc.predict(dX).compute(), ref.predict(X))


def test_the_clusters_left_the_environment_as_it_was(client):
    """After both clusters started (the docs', closed, and the module's, running), the
    variables that distributed sets for its workers are as they were before."""
    for name in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "PYTHONHASHSEED"):
        assert os.environ.get(name) == _ENVIRON_AT_IMPORT.get(name), name


def test_import_nncore_does_not_import_dask():
    code = ("import sys, nncore, nncore.sklearn; "
            "print(' '.join(m for m in ('dask', 'distributed', 'dask_ml') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []
