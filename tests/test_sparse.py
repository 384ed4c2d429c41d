"""Sparse X (scipy.sparse) in Network's calls: the first layer's product and weight gradient
from CSR rows in the core, checked against the same calls on the dense X (both backends,
both dtypes), and the sparse input's own checks."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from _helpers import BACKEND_ATOL, BACKEND_RTOL, BACKENDS, DTYPES

import nncore

sp = pytest.importorskip("scipy.sparse")

N_IN = 30
ROWS = 1100     # predict/loss chunks of 1,024 rows: the last one is short


def _sparse_data(dtype, seed=0):
    """(CSR X (ROWS, N_IN) with empty first and last rows and a row holding every column,
    its dense twin, class labels)."""
    rng = np.random.default_rng(seed)
    X = sp.random(ROWS, N_IN, density=0.15, format="csr", random_state=rng).toarray()
    X[0] = X[-1] = 0                      # empty rows at the first and last index
    X[517] = rng.uniform(-1, 1, N_IN)     # a row with all n_in columns
    y = rng.integers(0, 3, ROWS)
    return sp.csr_matrix(X.astype(dtype)), X.astype(dtype), y


def _net(dtype, backend, optimizer="sgd"):
    return nncore.Network([N_IN, 9, 3], activation="tanh", output="softmax",
                          loss="cross_entropy", dtype=dtype, seed=3, backend=backend,
                          optimizer=optimizer)


def _close(a, b, dtype):
    np.testing.assert_allclose(a, b, rtol=BACKEND_RTOL[dtype], atol=BACKEND_ATOL[dtype])


FORMATS = [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_calls_equal_the_dense_calls(backend, dtype, optimizer, fmt):
    Xcsr, Xd, y = _sparse_data(dtype)
    Xs = fmt(Xcsr)
    a, b = _net(dtype, backend, optimizer), _net(dtype, backend, optimizer)
    # batches of 96 rows (the last one short); the validation loss in chunks
    ha = a.fit(Xs, y, epochs=2, lr=0.1, batch_size=96, validation_data=(Xs, y))
    hb = b.fit(Xd, y, epochs=2, lr=0.1, batch_size=96, validation_data=(Xd, y))
    _close(ha, hb, dtype)
    _close(ha.val_loss, hb.val_loss, dtype)
    _close(a.train_step(fmt(Xcsr[:70]), y[:70], 0.05), b.train_step(Xd[:70], y[:70], 0.05), dtype)
    for la, lb in zip(a.layers, b.layers):
        _close(la.W, lb.W, dtype)
        _close(la.b, lb.b, dtype)
    _close(a.predict(Xs), b.predict(Xd), dtype)
    out = np.empty((ROWS, 3), dtype=dtype)
    assert a.predict(Xs, out=out) is out
    _close(out, b.predict(Xd), dtype)
    _close(a.loss(Xs, y), b.loss(Xd, y), dtype)
    ea, eb = a.evaluate(Xs, y, ["loss", "accuracy"]), b.evaluate(Xd, y, ["loss", "accuracy"])
    _close(ea["loss"], eb["loss"], dtype)
    assert ea["accuracy"] == eb["accuracy"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_backends_agree_on_sparse_rows_targets_and_weights(dtype):
    """MSE targets, sample weights and int64 indices: the core against the NumPy oracle."""
    Xs, Xd, _ = _sparse_data(dtype, seed=1)
    Xs.indices = Xs.indices.astype(np.int64)
    Xs.indptr = Xs.indptr.astype(np.int64)
    Y = np.random.default_rng(2).normal(size=(ROWS, 2)).astype(dtype)
    w = np.random.default_rng(3).uniform(0, 2, ROWS)
    nets = [nncore.Network([N_IN, 7, 2], activation="relu", loss="mse", dtype=dtype, seed=1,
                           backend=be, optimizer="adam") for be in BACKENDS]
    for net in nets:
        net.fit(Xs, Y, epochs=2, lr=0.01, batch_size=128, sample_weight=w)
    _close(nets[0].layers[0].W, nets[1].layers[0].W, dtype)
    _close(nets[0].loss(Xs, Y, w), nets[1].loss(Xs, Y, w), dtype)
    _close(nets[0].predict(Xs), nets[1].predict(Xd), dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_and_trace_of_a_sparse_batch(backend):
    Xs, Xd, y = _sparse_data(np.float64)
    net = _net(np.float64, backend)
    for ga, gb in zip(net.gradients(Xs[:40], y[:40]), net.gradients(Xd[:40], y[:40])):
        _close(ga["W"], gb["W"], np.float64)
    _close(net.loss_and_gradients(Xs[:40], y[:40])[0], net.loss(Xd[:40], y[:40]), np.float64)
    _close(net.trace(Xs[:5], y[:5])[0]["a"], net.trace(Xd[:5], y[:5])[0]["a"], np.float64)


def test_duplicates_add_up_and_stored_zeros_count_for_nothing():
    rows, cols = [0, 0, 1, 2, 2], [4, 4, 7, 1, 3]
    X = sp.coo_matrix(([1.0, 2.0, 0.0, -1.0, 0.5], (rows, cols)), shape=(3, N_IN))
    dense = X.toarray()             # scipy sums the duplicates: X[0, 4] = 3
    assert dense[0, 4] == 3.0
    csr = sp.csr_matrix((X.data, X.col, np.array([0, 2, 3, 5])), shape=(3, N_IN))
    assert csr.nnz == 5             # duplicates and the stored zero kept as they are
    a, b = _net(np.float64, "cython"), _net(np.float64, "cython")
    _close(a.predict(csr), b.predict(dense), np.float64)
    a.train_step(csr, [0, 1, 2], 0.5)
    b.train_step(dense, [0, 1, 2], 0.5)
    _close(a.layers[0].W, b.layers[0].W, np.float64)


def test_plain_sgd_changes_only_the_rows_of_w_whose_columns_occur():
    X = sp.csr_matrix(([1.0, -2.0, 0.5], ([0, 1, 1], [3, 11, 29])), shape=(2, N_IN))
    net = _net(np.float64, "cython")
    W = net.layers[0].W.copy()
    net.train_step(X, [0, 2], 0.5)
    changed = np.flatnonzero(np.any(net.layers[0].W != W, axis=1))
    np.testing.assert_array_equal(changed, [3, 11, 29])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", [0, -1])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_sparse_data_is_refused_and_changes_nothing(backend, dtype, where,
                                                                   bad):
    Xs, _, y = _sparse_data(dtype)
    Xs.data[where] = bad
    net = _net(dtype, backend)
    W = net.layers[0].W.copy()
    for call in (lambda: net.fit(Xs, y, epochs=1, lr=0.1), lambda: net.predict(Xs),
                 lambda: net.train_step(Xs, y, 0.1), lambda: net.loss(Xs, y)):
        with pytest.raises(ValueError, match="NaN or inf"):
            call()
    np.testing.assert_array_equal(net.layers[0].W, W)


@pytest.mark.parametrize("dtype", DTYPES)
def test_float64_values_beyond_float32_are_named(dtype):
    X = sp.csr_matrix(([1.0, 1e200], ([0, 1], [0, N_IN - 1])), shape=(2, N_IN))
    net = _net(np.float32, "cython")
    with pytest.raises(ValueError, match=r"X\[1, 29\] = 1e\+200 is too large for float32"):
        net.predict(X)


def test_bad_shapes_and_indices_are_refused():
    net = _net(np.float64, "cython")
    with pytest.raises(ValueError, match=r"shape \(4, 31\).*takes 30 inputs"):
        net.predict(sp.random(4, N_IN + 1, density=0.5, format="csr"))
    with pytest.raises(ValueError, match="no examples"):
        net.predict(sp.csr_matrix((0, N_IN)))
    X = sp.random(5, N_IN, density=0.3, format="csr", random_state=0)
    X.indices[-1] = N_IN                       # (scipy does not check after construction)
    with pytest.raises(ValueError, match=r"column index lies outside \[0, 30\)"):
        net.fit(X, [0, 1, 2, 0, 1], epochs=1, lr=0.1)
    X = sp.random(5, N_IN, density=0.3, format="csr", random_state=0)
    X.indptr[2], X.indptr[3] = X.indptr[3], X.indptr[2] + 0
    X.indptr[2] = X.indptr[3] + 1
    with pytest.raises(ValueError, match="indptr"):
        net.train_step(X, [0, 1, 2, 0, 1], 0.1)
    with pytest.raises(TypeError, match="real numbers"):
        net.predict(sp.csr_matrix(np.ones((2, N_IN), dtype=complex)))


def _run(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)


def test_indices_changed_during_fit_raise_never_crash():
    """Another thread writes out-of-range column indices and a broken indptr into the CSR
    arrays fit reads: the core checks each index where it reads it (in a subprocess, so that
    a crash would show as a signal, not end the test run)."""
    result = _run("""
        import threading, numpy as np, scipy.sparse as sp, nncore
        X = sp.random(4000, 50, density=0.1, format="csr", random_state=0)
        y = np.arange(4000) % 3
        net = nncore.Network([50, 8, 3], activation="relu", output="softmax",
                             loss="cross_entropy", seed=0)
        stop = False
        def spoil():
            while not stop:
                X.indices[100] = 10**6
                X.indices[-1] = -5
                X.indptr[2000] = 10**9
        t = threading.Thread(target=spoil)
        t.start()
        outcomes = set()
        try:
            for _ in range(30):
                try:
                    net.fit(X, y, epochs=1, lr=0.1, batch_size=64)
                    outcomes.add("ok")
                except ValueError as exc:
                    assert "changed while the call ran" in str(exc) or "sparse X" in str(exc)
                    outcomes.add("refused")
        finally:
            stop = True
            t.join()
        print(sorted(outcomes))
    """)
    assert result.returncode == 0, result.stderr
    assert "refused" in result.stdout


def test_arrays_of_x_rebound_during_a_call_stay_alive_until_it_ends():
    """Another thread rebinds X.data, X.indices and X.indptr (as sum_duplicates, prune or
    resize do) while predict and fit read them: the call keeps the arrays it started with, so
    every result is the one of the unchanged values (in a subprocess: a read of freed memory
    could crash; freed arrays are unmapped at once there)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
        import threading, numpy as np, scipy.sparse as sp, nncore
        X = sp.random(3000, 400, density=0.1, format="csr", random_state=0)
        y = np.arange(3000) % 3
        net = nncore.Network([400, 16, 3], activation="relu", output="softmax",
                             loss="cross_entropy", seed=0)
        expected = net.predict(X.copy())
        stop = False
        def rebind():
            while not stop:
                X.data = X.data.copy(); X.indices = X.indices.copy()
                X.indptr = X.indptr.copy()
        t = threading.Thread(target=rebind)
        t.start()
        try:
            for _ in range(20):
                assert np.array_equal(net.predict(X), expected)
            twin = nncore.Network([400, 16, 3], activation="relu", output="softmax",
                                  loss="cross_entropy", seed=0)
            twin.fit(X, y, epochs=2, lr=0.1, batch_size=64)
        finally:
            stop = True
            t.join()
        print("ok")
        """)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_an_order_that_repeats_a_long_row_is_not_refused():
    # a bootstrap-like order: row 0 (every column) again and again; the batch buffers are
    # sized for the order's batches, as the dense call needs no such bound
    D = np.zeros((20, 5))
    D[0, :] = 1.0
    D[1:, 0] = 1.0
    order = np.array([0] * 8 + [3, 0, 0], dtype=np.int64)
    y = np.zeros((20, 1))
    nets = [nncore.Network([nncore.Dense(5, 3, "relu"), nncore.Dense(3, 1, "identity")],
                           loss="mse", seed=0) for _ in range(2)]
    dense = nets[0]._backend.run_epoch(D, y, 0.01, 4, False, 0, None, None, order)
    sparse = nets[1]._backend.run_epoch(sp.csr_matrix(D), y, 0.01, 4, False, 0, None, None,
                                        order)
    assert sparse == pytest.approx(dense, rel=1e-12)
    np.testing.assert_allclose(nets[1].layers[0].W, nets[0].layers[0].W, rtol=1e-12)


@pytest.mark.parametrize("call", ["predict", "evaluate"])
def test_numpy_backend_takes_sparse_x_of_fewer_rows_than_a_chunk(call):
    X, _, y = _sparse_data(np.float64)
    X = X[1:11]
    y = y[1:11]
    nets = [_net(np.float64, backend) for backend in BACKENDS]
    if call == "predict":
        results = [net.predict(X) for net in nets]
        _close(results[1], results[0], np.float64)
    else:
        results = [net.evaluate(X, y) for net in nets]
        assert results[1] == pytest.approx(results[0], rel=1e-9)


def test_dense_input_does_not_import_scipy():
    result = _run("""
        import sys, numpy as np, nncore
        net = nncore.Network([3, 4, 2], activation="relu", output="softmax",
                             loss="cross_entropy", seed=0)
        X = np.ones((8, 3)); y = np.arange(8) % 2
        net.fit(X, y, epochs=1, lr=0.1); net.predict(X); net.loss(X, y); net.evaluate(X, y)
        print("scipy.sparse" in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
