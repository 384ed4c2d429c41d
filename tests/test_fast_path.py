"""The engine's fast path (arrays taken as they are, integer labels turned into one-hot rows in
a reused buffer, one example without a reshape) computes exactly what the validated path
computes, and refuses what the validator refuses, without changing the network.

The validated path is reached with the same values in another layout (a list, a Fortran
array), which nncore._validate converts; the NumPy backend is the oracle for the values."""
import numpy as np
import pytest

import nncore

from _helpers import BACKEND_ATOL, BACKEND_RTOL, DTYPES

LABEL_DTYPES = [np.int32, np.int64]


def make(dtype, backend="cython", sizes=(5, 7, 4), seed=3):
    return nncore.Network(list(sizes), activation="tanh", output="softmax",
                          loss="cross_entropy", seed=seed, dtype=dtype, backend=backend)


def data(dtype, m, n_in=5, n_out=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n_in)).astype(dtype), rng.integers(0, n_out, m)


@pytest.mark.parametrize("ldtype", LABEL_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_label_arrays_equal_validated_lists_and_the_oracle(dtype, ldtype):
    fast, slow, oracle = make(dtype), make(dtype), make(dtype, "numpy")
    # sizes that grow and shrink the reused one-hot buffer; 1500 crosses loss's 1024-row chunk
    for m in (7, 3, 1500, 2, 32):
        X, y = data(dtype, m, seed=m)
        labels = y.astype(ldtype)
        assert fast.loss(X, labels) == slow.loss(X, y.tolist())
        np.testing.assert_allclose(fast.loss(X, labels), oracle.loss(X, y),
                                   rtol=BACKEND_RTOL[dtype])
        for gf, gs in zip(fast.gradients(X, labels), slow.gradients(X, y.tolist())):
            np.testing.assert_array_equal(gf["W"], gs["W"])
            np.testing.assert_array_equal(gf["b"], gs["b"])
        for tf, ts in zip(fast.trace(X, labels), slow.trace(X, y.tolist())):
            np.testing.assert_array_equal(tf["delta"], ts["delta"])
        assert (fast.train_step(X, labels, 0.1) == slow.train_step(X, y.tolist(), 0.1))
        oracle.train_step(X, y, 0.1)
        for a, b, c in zip(fast.layers, slow.layers, oracle.layers):
            np.testing.assert_array_equal(a.W, b.W)
            np.testing.assert_allclose(a.W, c.W, rtol=BACKEND_RTOL[dtype],
                                       atol=BACKEND_ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_example_with_a_label_or_a_row_equals_a_batch_of_one(dtype):
    fast, slow = make(dtype), make(dtype)
    X, y = data(dtype, 1)
    x, label = X[0], int(y[0])
    row = np.eye(4, dtype=dtype)[label]
    z = fast.predict(x)
    assert z.shape == (4,) and z.dtype == dtype
    np.testing.assert_array_equal(z, slow.predict(X)[0])
    out = np.empty(4, dtype=dtype)
    assert fast.predict(x, out=out) is out
    np.testing.assert_array_equal(out, z)
    assert fast.loss(x, label) == fast.loss(x, row) == slow.loss(X, [label])
    for g1, g2 in zip(fast.gradients(x, label), slow.gradients(X, [label])):
        np.testing.assert_array_equal(g1["W"], g2["W"])
    trace = fast.trace(x, label)
    assert trace[-1]["z"].shape == (4,)
    assert fast.train_step(x, label, 0.1) == slow.train_step(X, [label], 0.1)
    assert fast.train_step(x, row, 0.1) == slow.train_step(X, row[None], 0.1)
    for a, b in zip(fast.layers, slow.layers):
        np.testing.assert_array_equal(a.W, b.W)


def _snapshot(net):
    return [(ly.W.copy(), ly.b.copy()) for ly in net.layers]


@pytest.mark.parametrize("where", [0, -1])
@pytest.mark.parametrize("bad", [4, -1])
@pytest.mark.parametrize("ldtype", LABEL_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_label_out_of_range_at_either_end_is_refused(dtype, ldtype, bad, where):
    net = make(dtype)
    X, y = data(dtype, 9)
    net.loss(X, y.astype(ldtype))     # the one-hot buffer exists and holds good rows
    labels = y.astype(ldtype)
    labels[where] = bad
    before = _snapshot(net)
    for call in (lambda: net.train_step(X, labels, 0.1), lambda: net.loss(X, labels),
                 lambda: net.gradients(X, labels), lambda: net.trace(X, labels)):
        with pytest.raises(ValueError, match=r"class labels must lie in \[0, 4\)"):
            call()
    for (W, b), ly in zip(before, net.layers):
        np.testing.assert_array_equal(W, ly.W)
        np.testing.assert_array_equal(b, ly.b)
    # and the next good call is not disturbed by the refused one
    assert net.loss(X, y) == make(dtype).loss(X, y)


@pytest.mark.parametrize("label", [4, -1, 2**70, True])
def test_one_bad_python_label_is_refused(label):
    net = make(np.float64)
    x = data(np.float64, 1)[0][0]
    before = _snapshot(net)
    with pytest.raises((ValueError, TypeError)):
        net.train_step(x, label, 0.1)
    for (W, b), ly in zip(before, net.layers):
        np.testing.assert_array_equal(W, ly.W)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_non_finite_example_on_the_fast_path_is_refused(dtype):
    net = make(dtype)
    X, y = data(dtype, 6)
    for where in (0, -1):
        bad = X.copy()
        bad.flat[where] = np.nan
        with pytest.raises(ValueError, match="NaN or inf"):
            net.train_step(bad, y, 0.1)
        with pytest.raises(ValueError, match="NaN or inf"):
            net.train_step(bad[where], int(y[where]), 0.1)
        with pytest.raises(ValueError, match="NaN or inf"):
            net.predict(bad[where])


def test_labels_for_a_single_output_are_values_not_classes():
    # with one output a vector of integers is a column of targets, never class labels
    net = nncore.Network([2, 3, 1], activation="tanh", loss="mse", seed=0)
    X = np.array([[0.0, 1.0], [1.0, 1.0]])
    y = np.array([3, -2])
    assert net.loss(X, y) == net.loss(X, y[:, None].astype(float))


@pytest.mark.parametrize("n_out", [2, 1024, 1025, 3000])
@pytest.mark.parametrize("dtype", DTYPES)
def test_one_hot_rows_of_labels_on_both_sides_of_the_identity_limit(n_out, dtype):
    # fit turns labels into rows once (nncore._validate.one_hot): rows of the identity up to
    # 1024 classes, assignment beyond
    from nncore import _validate
    labels = np.random.default_rng(n_out).integers(0, n_out, 500)
    labels[0], labels[-1] = 0, n_out - 1
    rows = _validate.one_hot(labels, n_out, dtype)
    assert rows.dtype == dtype and rows.shape == (500, n_out) and rows.flags.c_contiguous
    expected = np.zeros((500, n_out))
    expected[np.arange(500), labels] = 1
    np.testing.assert_array_equal(rows, expected)
