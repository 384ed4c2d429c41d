"""Sample weights in the core (a weighted mean of the examples' losses, and its gradients) and
class labels in the epoch loop.

The NumPy backend is the oracle for the values; integer weights are also checked against the
same examples repeated (an independent definition of the weighted mean), and the weighted
gradients against central differences of the weighted loss."""
import numpy as np
import pytest

import nncore

from _helpers import (BACKEND_ATOL, BACKEND_RTOL, BACKENDS, DTYPES, FD_ATOL, FD_RTOL,
                      central_difference)

# (hidden activation, output, loss, targets): the softmax cross-entropy takes class labels as
# they are; the other losses get them as one-hot rows, or take rows
CASES = [
    ("tanh", "softmax", "cross_entropy", "labels"),
    ("relu", "softmax", "cross_entropy", "rows"),
    ("sigmoid", "sigmoid", "binary_cross_entropy", "rows"),
    ("tanh", "identity", "mse", "rows"),
    ("relu", "identity", "mse", "labels"),
]
CASE_IDS = [f"{o}-{l}-{t}" for _, o, l, t in CASES]


def make(case, dtype, backend="cython", sizes=(5, 6, 3), seed=4):
    hidden, output, loss, _ = case
    return nncore.Network(list(sizes), activation=hidden, output=output, loss=loss,
                          seed=seed, dtype=dtype, backend=backend)


def data(case, dtype, m, n_in=5, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n_in)).astype(dtype)
    labels = rng.integers(0, n_out, m)
    if case[3] == "labels":
        return X, labels
    if case[2] == "binary_cross_entropy":
        return X, rng.uniform(0, 1, (m, n_out)).astype(dtype)
    if case[2] == "mse":
        return X, rng.normal(size=(m, n_out)).astype(dtype)
    return X, np.eye(n_out, dtype=dtype)[labels]


def weights(m, seed=1, zeros=True):
    w = np.random.default_rng(seed).uniform(0, 3, m)
    if zeros:
        w[0] = w[m // 2] = 0.0   # rows left out, the first one included
    return w


def params(net):
    return [a.copy() for ly in net.layers for a in (ly.W, ly.b)]


def assert_params_close(a, b, dtype):
    for pa, pb in zip(params(a), params(b)):
        np.testing.assert_allclose(pa, pb, rtol=BACKEND_RTOL[dtype], atol=BACKEND_ATOL[dtype])


# -- the weighted loss and its gradients -------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_weighted_loss_gradients_and_step_match_the_oracle(case, dtype):
    net, oracle = make(case, dtype), make(case, dtype, "numpy")
    # 1500 rows cross loss's 1024-row chunk, whose weighted means are combined by their weights
    for m in (1, 7, 1500):
        X, Y = data(case, dtype, m, seed=m)
        w = weights(m, seed=m, zeros=m > 1)
        assert net.loss(X, Y, w) == pytest.approx(oracle.loss(X, Y, w),
                                                  rel=BACKEND_RTOL[dtype])
        value, grads = net.loss_and_gradients(X, Y, w)
        value_o, grads_o = oracle.loss_and_gradients(X, Y, w)
        assert value == pytest.approx(value_o, rel=BACKEND_RTOL[dtype])
        for g, go, gg in zip(grads, grads_o, net.gradients(X, Y, w)):
            for key in ("W", "b"):
                np.testing.assert_allclose(g[key], go[key], rtol=BACKEND_RTOL[dtype],
                                           atol=BACKEND_ATOL[dtype])
                np.testing.assert_array_equal(g[key], gg[key])
        net.train_step(X, Y, 0.1, w)
        oracle.train_step(X, Y, 0.1, w)
        assert_params_close(net, oracle, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_integer_weights_equal_the_examples_repeated(case, backend):
    # the weighted mean with weight k is the plain mean over the example taken k times
    net = make(case, np.float64, backend)
    X, Y = data(case, np.float64, 9, seed=2)
    k = np.array([0, 1, 3, 2, 0, 1, 5, 1, 2])
    Xr, Yr = np.repeat(X, k, axis=0), np.repeat(Y, k, axis=0)
    assert net.loss(X, Y, k) == pytest.approx(net.loss(Xr, Yr), rel=1e-12)
    for g, gr in zip(net.gradients(X, Y, k), net.gradients(Xr, Yr)):
        for key in ("W", "b"):
            np.testing.assert_allclose(g[key], gr[key], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_weighted_gradients_match_central_differences(case):
    net = make(case, np.float64)
    X, Y = data(case, np.float64, 6, seed=3)
    w = weights(6)
    grads = net.gradients(X, Y, w)
    for layer, g in zip(net.layers, grads):
        for key, arr in (("W", layer.W), ("b", layer.b)):
            flat = arr.reshape(-1)          # a view: perturbing it perturbs the network
            fd = [central_difference(lambda: net.loss(X, Y, w), lambda i=i: flat[i],
                                     lambda v, i=i: flat.__setitem__(i, v))
                  for i in range(flat.size)]
            np.testing.assert_allclose(g[key].reshape(-1), fd, rtol=FD_RTOL, atol=FD_ATOL)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ones_and_scaled_weights_give_the_unweighted_results(dtype, backend):
    case = CASES[0]
    net = make(case, dtype, backend)
    X, Y = data(case, dtype, 13)
    for w in (np.ones(13), np.full(13, 4.0)):
        assert net.loss(X, Y, w) == pytest.approx(net.loss(X, Y), rel=BACKEND_RTOL[dtype])
        for g, g1 in zip(net.gradients(X, Y, w), net.gradients(X, Y)):
            np.testing.assert_allclose(g["W"], g1["W"], rtol=BACKEND_RTOL[dtype],
                                       atol=BACKEND_ATOL[dtype])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_row_of_weight_zero_adds_nothing_to_the_loss_even_when_it_overflows(backend):
    # the first and the last row overflow float32 inside the network (their loss is NaN):
    # with weight 0 the loss is that of the other rows
    case = ("identity", "softmax", "cross_entropy", "labels")
    net = make(case, np.float32, backend)
    X, y = data(case, np.float32, 6)
    X[0] = X[-1] = 3e38
    w = np.array([0.0, 1, 2, 1, 1, 0])
    with np.errstate(over="ignore", invalid="ignore"):     # the NumPy backend's warnings
        with pytest.raises(FloatingPointError):
            net.loss(X, y)
        weighted = net.loss(X, y, w)
    assert weighted == pytest.approx(net.loss(X[1:-1], y[1:-1], w[1:-1]), rel=1e-6)


# -- fit -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_weighted_fit_matches_the_oracle(case, dtype, shuffle):
    net, oracle = make(case, dtype), make(case, dtype, "numpy")
    X, Y = data(case, dtype, 70)
    w = weights(70)
    h = net.fit(X, Y, epochs=3, lr=0.1, batch_size=16, shuffle=shuffle, sample_weight=w)
    ho = oracle.fit(X, Y, epochs=3, lr=0.1, batch_size=16, shuffle=shuffle, sample_weight=w)
    np.testing.assert_allclose(h.loss, ho.loss, rtol=BACKEND_RTOL[dtype])
    assert_params_close(net, oracle, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_of_zero_weights_takes_no_step(backend):
    # shuffle=False, two batches: the first has weight 0 throughout, so the epoch is the
    # second batch's step alone (plain SGD)
    case = CASES[0]
    net, ref = make(case, np.float64, backend), make(case, np.float64, backend)
    X, y = data(case, np.float64, 20)
    w = np.r_[np.zeros(10), weights(10, zeros=False)]
    h = net.fit(X, y, epochs=1, lr=0.1, batch_size=10, shuffle=False, sample_weight=w)
    value = ref.train_step(X[10:], y[10:], 0.1, w[10:])
    for a, b in zip(params(net), params(ref)):
        np.testing.assert_array_equal(a, b)
    assert h[0] == pytest.approx(value / 2, rel=1e-15)    # mean over both batches' rows


@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_validation_loss_and_accuracy(dtype):
    case = CASES[0]
    net = make(case, dtype)
    X, y = data(case, dtype, 60)
    Xv, yv = data(case, dtype, 25, seed=9)
    w, wv = weights(60), weights(25, seed=5)
    h = net.fit(X, y, epochs=2, lr=0.1, validation_data=(Xv, yv, wv), metrics=("accuracy",),
                sample_weight=w)
    assert h.val_loss[-1] == pytest.approx(net.loss(Xv, yv, wv), rel=BACKEND_RTOL[dtype])
    pred = net.predict(Xv).argmax(axis=1)
    assert h.metrics["val_accuracy"][-1] == pytest.approx(np.average(pred == yv, weights=wv))
    pred = net.predict(X).argmax(axis=1)
    assert h.metrics["accuracy"][-1] == pytest.approx(np.average(pred == y, weights=w))


@pytest.mark.parametrize("backend", BACKENDS)
def test_validation_split_holds_out_the_weights_with_their_examples(backend):
    case = CASES[0]
    a, b = make(case, np.float64, backend), make(case, np.float64, backend)
    X, y = data(case, np.float64, 40)
    w = weights(40, zeros=False)
    h = a.fit(X, y, epochs=2, lr=0.1, validation_split=0.25, sample_weight=w)
    # the same split by hand: the generator draws it first, then the epochs' seeds
    train, val = nncore.training.validation_split(40, 0.25, b._rng, y)
    hb = b.fit(X[train], y[train], epochs=2, lr=0.1,
               validation_data=(X[val], y[val], w[val]), sample_weight=w[train])
    assert h.loss == hb.loss and h.val_loss == hb.val_loss


# -- refused weights ---------------------------------------------------------------------------------

BAD_WEIGHTS = [
    (lambda m: np.ones(m + 1), "shape"),
    (lambda m: np.ones((m, 1)), "shape"),
    (lambda m: np.r_[np.nan, np.ones(m - 1)], "NaN or inf"),
    (lambda m: np.r_[np.ones(m - 1), np.inf], "NaN or inf"),
    (lambda m: np.r_[np.ones(m - 1), -1.0], ">= 0"),
    (lambda m: np.r_[-0.5, np.ones(m - 1)], ">= 0"),
    (lambda m: np.zeros(m), "sum > 0"),
    (lambda m: np.full(m, 1e308), "sum > 0"),
    (lambda m: np.array(["a"] * m), "real numbers"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad, message", BAD_WEIGHTS)
def test_bad_weights_are_refused_and_change_nothing(bad, message, backend):
    case = CASES[0]
    net = make(case, np.float32, backend)
    X, y = data(case, np.float32, 8)
    before = params(net)
    calls = [lambda: net.loss(X, y, bad(8)), lambda: net.gradients(X, y, bad(8)),
             lambda: net.loss_and_gradients(X, y, bad(8)),
             lambda: net.train_step(X, y, 0.1, bad(8)),
             lambda: net.fit(X, y, epochs=1, lr=0.1, sample_weight=bad(8))]
    for call in calls:
        with pytest.raises((ValueError, TypeError), match=message):
            call()
    for a, b in zip(before, params(net)):
        np.testing.assert_array_equal(a, b)


# -- class labels in the epoch loop --------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in CASES if c[3] == "labels"]
                         + [("sigmoid", "sigmoid", "binary_cross_entropy", "labels")],
                         ids=lambda c: f"{c[1]}-{c[2]}")
def test_fit_with_labels_equals_fit_with_one_hot_rows_bit_for_bit(case, dtype, shuffle):
    # labels reach the core as they are (softmax cross-entropy) or become one-hot rows batch by
    # batch (other losses); 45 rows in batches of 16 leave a short last batch
    a, b = make(case, dtype), make(case, dtype)
    X, y = data(case, dtype, 45)
    Y = np.eye(3, dtype=dtype)[y]
    for labels in (y, y.astype(np.int32)):
        ha = a.fit(X, labels, epochs=2, lr=0.2, batch_size=16, shuffle=shuffle)
        hb = b.fit(X, Y, epochs=2, lr=0.2, batch_size=16, shuffle=shuffle)
        assert ha.loss == hb.loss
        for pa, pb in zip(params(a), params(b)):
            np.testing.assert_array_equal(pa, pb)


def test_the_epoch_loop_refuses_labels_out_of_range():
    case = CASES[0]
    net = make(case, np.float64)
    X, y = data(case, np.float64, 10)
    before = params(net)
    for bad in (-1, 3):
        labels = y.copy()
        labels[-1] = bad
        with pytest.raises(ValueError, match="class labels must lie in"):
            net.fit(X, labels, epochs=1, lr=0.1)
        with pytest.raises(ValueError, match="class labels must lie in"):
            net._backend.run_epoch(X, labels, 0.1, 4, True, 1)
    with pytest.raises(ValueError, match="validated by Network.fit"):
        net._backend.run_epoch(X, y.astype(np.int32), 0.1, 4, True, 1)
    for a, b in zip(before, params(net)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_epoch_loop_sums_the_squared_weights_before_each_step(backend, dtype):
    # what nncore.sklearn reports scikit-learn's L2 penalty from: sum over the steps of
    # sum_l ||W_l||^2 before each step, here against train_step by train_step (45 rows in
    # batches of 16: a short last batch)
    case = CASES[0]
    net, ref = make(case, dtype, backend), make(case, dtype, backend)
    X, y = data(case, dtype, 45)
    norms = np.full(1, np.nan)
    value = net._backend.run_epoch(X, y, 0.3, 16, False, 0, None, norms)
    expected, total = 0.0, 0.0
    for start in range(0, 45, 16):
        expected += sum(float(np.sum(ly.W.astype(np.float64) ** 2)) for ly in ref.layers)
        total += ref.train_step(X[start:start + 16], y[start:start + 16], 0.3) * \
            len(X[start:start + 16])
    assert norms[0] == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(total / 45, rel=BACKEND_RTOL[dtype])


def test_the_engine_refuses_a_bad_weight_norms_array():
    case = CASES[0]
    net = make(case, np.float64)
    X, y = data(case, np.float64, 10)
    before = params(net)
    for bad in (np.zeros(2), np.zeros(1, dtype=np.float32), np.zeros((1, 1))):
        with pytest.raises(ValueError, match="weight_norms"):
            net._backend.run_epoch(X, y, 0.3, 4, False, 0, None, bad)
    for a, b in zip(before, params(net)):
        np.testing.assert_array_equal(a, b)


def _unaligned(arr):
    # the same values in a buffer one byte off alignment (as np.frombuffer or an unpickled
    # array may give)
    raw = np.zeros(arr.nbytes + 1, dtype=np.uint8)
    out = np.frombuffer(raw.data, dtype=arr.dtype, count=arr.size, offset=1).reshape(arr.shape)
    out[...] = arr
    assert not out.flags.aligned
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_unaligned_inputs_labels_and_weights_train_as_aligned_ones(dtype):
    case = CASES[0]
    a, b = make(case, dtype), make(case, dtype)
    X, y = data(case, dtype, 40)
    w = weights(40)
    ha = a.fit(_unaligned(X), _unaligned(y), epochs=2, lr=0.1, batch_size=16,
               sample_weight=_unaligned(w))
    hb = b.fit(X, y, epochs=2, lr=0.1, batch_size=16, sample_weight=w)
    assert ha.loss == hb.loss
    for pa, pb in zip(params(a), params(b)):
        np.testing.assert_array_equal(pa, pb)
    assert a.loss(_unaligned(X), _unaligned(y), _unaligned(w)) == b.loss(X, y, w)


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_epoch_over_given_rows_gathers_them_in_the_core(dtype):
    # run_epoch(order=...): the rows the caller chose (a permutation's part, a repeat), in its
    # order, against the same rows gathered in NumPy and trained in order
    case = CASES[0]
    a, b, o = make(case, dtype), make(case, dtype), make(case, dtype, "numpy")
    X, y = data(case, dtype, 30)
    order = np.random.default_rng(3).permutation(30)[:21]
    order[-1] = order[0]
    va = a._backend.run_epoch(X, y, 0.2, 8, True, 5, None, None, order)
    vb = b._backend.run_epoch(np.ascontiguousarray(X[order]), y[order], 0.2, 8, False, 0)
    vo = o._backend.run_epoch(X, y, 0.2, 8, True, 5, None, None, order)
    assert va == vb and va == pytest.approx(vo, rel=BACKEND_RTOL[dtype])
    for pa, pb in zip(params(a), params(b)):
        np.testing.assert_array_equal(pa, pb)
    before = params(a)
    for bad in (np.array([0, 30]), np.array([-1, 2]), np.array([], dtype=np.int64),
                order.astype(np.int32)):
        with pytest.raises(ValueError, match="order"):
            a._backend.run_epoch(X, y, 0.2, 8, True, 5, None, None, bad)
    for pa, pb in zip(before, params(a)):
        np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_split_that_leaves_only_zero_weights_on_one_side_is_refused_unchanged(backend):
    case = CASES[0]
    net = make(case, np.float64, backend)
    X, y = data(case, np.float64, 20)
    w = np.zeros(20)
    w[3] = 1.0                                  # one weighted example: one side has none
    before, state = params(net), net._rng.bit_generator.state
    with pytest.raises(ValueError, match="validation_split"):
        net.fit(X, y, epochs=1, lr=0.1, validation_split=0.5, sample_weight=w)
    assert net._rng.bit_generator.state == state
    for a, b in zip(before, params(net)):
        np.testing.assert_array_equal(a, b)
