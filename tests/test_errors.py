"""Bad input: every kind raises a ValueError or TypeError whose message names the problem, for
both backends and both dtypes, and a refused call leaves the network exactly as it was."""
import numpy as np
import pytest

import nncore
import nncore.functional as F

from _helpers import BACKENDS, assert_unchanged, snapshot

N, N_IN, N_OUT = 5, 3, 3

DTYPE_NAMES = ["float32", "float64"]
OVERFLOW_CAST = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


def build(backend, dtype):
    layers = [nncore.Dense(N_IN, 4, nncore.Sigmoid(c=1.7, beta=0.6, trainable=True)),
              nncore.Dense(4, 4, nncore.LeakyReLU(delta=0.2)),
              nncore.Dense(4, N_OUT, "softmax")]
    net = nncore.Network(layers, loss="cross_entropy", seed=0, dtype=dtype, backend=backend)
    # non-trivial biases, so that a partial update of b would show
    for i, ly in enumerate(net.layers):
        ly.b = np.linspace(-0.5, 0.5, ly.n_out) * (i + 1)
    return net


@pytest.fixture(params=[(b, d) for b in BACKENDS for d in DTYPE_NAMES],
                ids=[f"{b}-{d}" for b in BACKENDS for d in DTYPE_NAMES])
def net(request):
    return build(*request.param)


def good_X():
    return np.random.default_rng(0).normal(size=(N, N_IN))


def good_Y():
    return np.array([0, 1, 2, 1, 0])


def call(net, method, X=None, Y=None, **kw):
    X = good_X() if X is None else X
    Y = good_Y() if Y is None else Y
    if method == "predict":
        return net.predict(X, **kw)
    if method == "forward":
        return net.forward(X)
    if method == "loss":
        return net.loss(X, Y)
    if method == "gradients":
        return net.gradients(X, Y)
    if method == "trace":
        return net.trace(X, Y)
    if method == "train_step":
        return net.train_step(X, Y, kw.get("lr", 0.1))
    if method == "fit":
        return net.fit(X, Y, **{"epochs": 2, "lr": 0.1, "batch_size": 2, **kw})
    raise KeyError(method)


def assert_refused(net, exc, match, fn):
    snap = snapshot(net)
    with pytest.raises(exc, match=match):
        fn()
    assert_unchanged(net, snap)
    # and the network still computes
    assert np.isfinite(net.predict(good_X())).all()


# -- X --------------------------------------------------------------------------------------------

BAD_X = {  # id: (X, exception, message pattern)
    "3-D": (np.ones((2, 2, N_IN)), ValueError, r"3-D.*\(2, 2, 3\)"),
    "0-D": (np.float64(1.0), ValueError, r"0-D"),
    "wrong_columns": (np.ones((2, 4)), ValueError, r"\(2, 4\).*3 inputs"),
    "wrong_length_1d": (np.ones(4), ValueError, r"\(4,\).*3 inputs"),
    "no_rows": (np.ones((0, N_IN)), ValueError, r"\(0, 3\)"),
    "nan": (np.array([[1.0, np.nan, 0.0]] * N), ValueError, r"NaN"),
    "inf": (np.array([[1.0, 0.0, -np.inf]] * N), ValueError, r"inf"),
    "strings": (np.array([["a", "b", "c"]] * N), TypeError, r"real numbers"),
    "complex": (np.ones((N, N_IN)) * 1j, TypeError, r"real numbers.*complex"),
    "objects": (np.array([[None, 1, 2]] * N), TypeError, r"real numbers"),
    "ragged": ([[1.0, 2.0, 3.0], [1.0, 2.0]], ValueError, r"could not be read"),
}
X_METHODS = ["predict", "forward", "loss", "gradients", "trace", "train_step", "fit"]


@pytest.mark.parametrize("method", X_METHODS)
@pytest.mark.parametrize("bad", list(BAD_X))
def test_bad_X_is_refused(net, bad, method):
    X, exc, match = BAD_X[bad]
    Y = good_Y()[:len(X)] if bad in ("ragged",) else None
    assert_refused(net, exc, match, lambda: call(net, method, X=X, Y=Y))


@OVERFLOW_CAST
@pytest.mark.parametrize("method", X_METHODS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_X_that_overflows_float32_is_refused(backend, method):
    net = build(backend, "float32")
    X = good_X()
    X[1, 2] = 1e39  # finite in float64, inf in float32
    assert_refused(net, ValueError, r"X\[1, 2\] = 1e\+39 is too large for float32",
                   lambda: call(net, method, X=X))


# -- Y --------------------------------------------------------------------------------------------

BAD_Y = {  # id: (Y, exception, message pattern)
    "label_too_large": (np.array([0, 1, 3, 1, 0]), ValueError, r"\[0, 3\).*0 to 3"),
    "label_negative": (np.array([0, -1, 2, 1, 0]), ValueError, r"\[0, 3\).*-1 to 2"),
    "wrong_rows": (np.eye(N_OUT)[[0, 1, 2, 1]], ValueError, r"\(4, 3\).*5 rows.*\(5, 3\)"),
    "wrong_columns": (np.ones((N, 2)) / 2, ValueError, r"\(5, 2\).*3 outputs"),
    "float_vector": (np.zeros(N), ValueError, r"\(5,\).*integer class labels"),
    "wrong_length_labels": (np.array([0, 1, 2]), ValueError, r"\(3,\).*5 rows"),
    "3-D": (np.zeros((N, N_OUT, 1)), ValueError, r"\(5, 3, 1\)"),
    "nan": (np.where(np.eye(N_OUT)[[0, 1, 2, 1, 0]] == 1, np.nan, 0), ValueError, r"NaN"),
    "above_one": (np.eye(N_OUT)[[0, 1, 2, 1, 0]] * 2, ValueError, r"\[0, 1\].*\[0, 2\]"),
    "negative": (np.eye(N_OUT)[[0, 1, 2, 1, 0]] - 0.5, ValueError, r"\[0, 1\]"),
    "strings": (np.array(["a"] * N), TypeError, r"Y must hold real numbers"),
}
Y_METHODS = ["loss", "gradients", "trace", "train_step", "fit"]


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("bad", list(BAD_Y))
def test_bad_Y_is_refused(net, bad, method):
    Y, exc, match = BAD_Y[bad]
    assert_refused(net, exc, match, lambda: call(net, method, Y=Y))


@pytest.mark.parametrize("method", Y_METHODS)
def test_bad_Y_of_a_single_example_is_refused(net, method):
    x = good_X()[0]
    assert_refused(net, ValueError, r"single example", lambda: call(net, method, X=x,
                                                                      Y=np.ones(2) / 2))
    assert_refused(net, ValueError, r"\[0, 3\)", lambda: call(net, method, X=x, Y=5))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", Y_METHODS)
def test_mse_targets_may_be_any_real_but_not_nan(backend, method):
    net = nncore.Network([3, 4, 2], loss="mse", seed=0, backend=backend)
    Y = np.full((N, 2), -7.5)
    call(net, "loss", Y=Y)  # accepted: targets of mse are not probabilities
    Y[2, 1] = np.nan
    assert_refused(net, ValueError, r"NaN", lambda: call(net, method, Y=Y))


@OVERFLOW_CAST
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", Y_METHODS)
def test_Y_that_overflows_float32_is_refused(backend, method):
    net = nncore.Network([3, 4, 2], loss="mse", seed=0, dtype="float32", backend=backend)
    Y = np.zeros((N, 2))
    Y[0, 0] = -1e39
    assert_refused(net, ValueError, r"Y\[0, 0\] = -1e\+39 is too large for float32",
                   lambda: call(net, method, Y=Y))


# -- lr, epochs, batch_size, callback ------------------------------------------------------------

BAD_LR = {
    "zero": (0, ValueError), "negative": (-0.1, ValueError), "nan": (float("nan"), ValueError),
    "inf": (float("inf"), ValueError), "string": ("0.1", TypeError), "none": (None, TypeError),
    "bool": (True, TypeError), "array": (np.array([0.1, 0.2]), TypeError),
}


@pytest.mark.parametrize("method", ["train_step", "fit"])
@pytest.mark.parametrize("bad", list(BAD_LR))
def test_bad_learning_rate_is_refused(net, bad, method):
    lr, exc = BAD_LR[bad]
    assert_refused(net, exc, r"lr", lambda: call(net, method, lr=lr))


@OVERFLOW_CAST
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["train_step", "fit"])
def test_learning_rate_that_overflows_float32_is_refused(backend, method):
    net = build(backend, "float32")
    with np.errstate(all="ignore"):
        assert_refused(net, ValueError, r"lr", lambda: call(net, method, lr=1e39))


BAD_FIT = {  # id: (keyword arguments, exception, pattern)
    "epochs_negative": ({"epochs": -1}, ValueError, r"epochs must be >= 0, got -1"),
    "epochs_float": ({"epochs": 1.5}, TypeError, r"epochs must be an integer"),
    "epochs_string": ({"epochs": "3"}, TypeError, r"epochs"),
    "epochs_none": ({"epochs": None}, TypeError, r"epochs"),
    "batch_size_zero": ({"batch_size": 0}, ValueError, r"batch_size must be >= 1, got 0"),
    "batch_size_float": ({"batch_size": 2.0}, TypeError, r"batch_size must be an integer"),
    "batch_size_bool": ({"batch_size": True}, TypeError, r"batch_size"),
    "callback": ({"callback": 3}, TypeError, r"callback must be callable"),
}


@pytest.mark.parametrize("bad", list(BAD_FIT))
def test_bad_fit_arguments_are_refused(net, bad):
    kw, exc, match = BAD_FIT[bad]
    assert_refused(net, exc, match, lambda: call(net, "fit", **kw))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_fit_does_not_advance_the_shuffling(backend):
    a, b = build(backend, "float64"), build(backend, "float64")
    with pytest.raises(ValueError):
        a.fit(good_X(), np.array([0, 1, 9, 1, 0]), epochs=2, lr=0.1)
    la = a.fit(good_X(), good_Y(), epochs=2, lr=0.1, batch_size=2)
    lb = b.fit(good_X(), good_Y(), epochs=2, lr=0.1, batch_size=2)
    assert la == lb
    for x, y in zip(a.layers, b.layers):
        np.testing.assert_array_equal(x.W, y.W)


# -- predict(out=...) ---------------------------------------------------------------------------

def bad_outs(dtype):
    other = np.float64 if dtype == "float32" else np.float32
    Xs = np.zeros((N, N_IN), dtype=dtype)
    readonly = np.zeros((N, N_OUT), dtype=dtype)
    readonly.flags.writeable = False
    # X and out cut from one buffer, overlapping in part (both C-contiguous)
    buffer = np.zeros(N * N_IN + N * N_OUT, dtype=dtype)
    X_part = buffer[:N * N_IN].reshape(N, N_IN)
    out_part = buffer[N_IN:N_IN + N * N_OUT].reshape(N, N_OUT)
    return {
        "wrong_dtype": (None, np.empty((N, N_OUT), dtype=other), TypeError, r"dtype"),
        "wrong_shape": (None, np.empty((N, N_OUT + 1), dtype=dtype), ValueError,
                        r"\(5, 4\).*\(5, 3\)"),
        "1d_for_a_batch": (None, np.empty(N * N_OUT, dtype=dtype), ValueError, r"\(15,\)"),
        "2d_for_one_example": (good_X()[0], np.empty((1, N_OUT), dtype=dtype), ValueError,
                               r"\(1, 3\).*\(3,\)"),
        "not_contiguous": (None, np.empty((N, 2 * N_OUT), dtype=dtype)[:, ::2], ValueError,
                           r"C-contiguous"),
        "fortran": (None, np.asfortranarray(np.empty((N, N_OUT), dtype=dtype)), ValueError,
                    r"C-contiguous"),
        "read_only": (None, readonly, ValueError, r"writeable"),
        "list": (None, [[0.0] * N_OUT] * N, TypeError, r"numpy array"),
        "shares_X": (Xs, Xs[:, :N_OUT], ValueError, r"share memory"),
        "overlaps_X": (X_part, out_part, ValueError, r"share memory"),
    }


@pytest.mark.parametrize("bad", list(bad_outs("float64")))
def test_bad_out_array_is_refused(net, bad):
    X, out, exc, match = bad_outs(net.dtype.name)[bad]
    before = out.copy() if isinstance(out, np.ndarray) else None
    assert_refused(net, exc, match, lambda: call(net, "predict", X=X, out=out))
    if before is not None:
        np.testing.assert_array_equal(out, before)


# -- assigning parameters ------------------------------------------------------------------------

BAD_ASSIGN = {  # id: (layer, attribute, value, exception, pattern)
    "W_wrong_shape": (0, "W", np.zeros((4, 3)), ValueError,
                      r"W must have shape \(3, 4\), got \(4, 3\)"),
    "W_flat": (0, "W", np.zeros(12), ValueError, r"\(3, 4\).*\(12,\)"),
    "W_nan": (1, "W", np.full((4, 4), np.nan), ValueError, r"W contains NaN or inf"),
    "W_inf": (2, "W", np.full((4, 3), -np.inf), ValueError, r"NaN or inf"),
    "W_partly_nan": (0, "W", np.where(np.eye(3, 4) == 1, np.nan, 1.0), ValueError, r"NaN"),
    "W_strings": (0, "W", np.full((3, 4), "x"), TypeError, r"W must hold real numbers"),
    "W_ragged": (0, "W", [[1.0, 2.0], [1.0]], ValueError, r"W could not be read"),
    "b_wrong_shape": (2, "b", np.zeros(4), ValueError, r"b must have shape \(3,\), got \(4,\)"),
    "b_scalar": (2, "b", 0.0, ValueError, r"\(3,\).*\(\)"),
    "b_nan": (2, "b", [0.0, np.nan, 0.0], ValueError, r"b contains NaN"),
}


@pytest.mark.parametrize("bad", list(BAD_ASSIGN))
def test_bad_parameter_assignment_is_refused(net, bad):
    l, attr, value, exc, match = BAD_ASSIGN[bad]
    assert_refused(net, exc, match, lambda: setattr(net.layers[l], attr, value))


@OVERFLOW_CAST
@pytest.mark.parametrize("backend", BACKENDS)
def test_assigning_W_that_overflows_float32_is_refused(backend):
    net = build(backend, "float32")
    W = np.ones((N_IN, 4))
    W[0, 0] = 1e39
    assert_refused(net, ValueError, r"NaN or inf.*float32", lambda: setattr(net.layers[0], "W", W))


@pytest.mark.parametrize("backend", BACKENDS)
def test_good_parameter_assignment_copies_into_the_same_array(backend):
    net = build(backend, "float32")
    W_obj = net.layers[0].W
    net.layers[0].W = [[1, 2, 3, 4]] * 3  # ints, a list: converted
    assert net.layers[0].W is W_obj and W_obj.dtype == np.float32
    assert W_obj.tolist() == [[1.0, 2.0, 3.0, 4.0]] * 3


def test_parameters_cannot_be_assigned_before_the_layer_joins_a_network():
    layer = nncore.Dense(2, 3)
    assert layer.W is None and layer.b is None
    with pytest.raises(ValueError, match="joins a Network"):
        layer.W = np.zeros((2, 3))


# -- activation parameters -------------------------------------------------------------------

def test_scaled_sigmoid_parameters_can_be_read_and_set():
    act = nncore.Sigmoid(c=1.7, beta=0.6, trainable=True)
    assert (act.c, act.beta, act.trainable) == (1.7, 0.6, True)
    act.c, act.beta = 2.5, -0.25
    assert (act.c, act.beta) == (2.5, -0.25)
    act.c = np.float32(0.5)
    assert act.c == 0.5 and isinstance(act.c, float)
    default = nncore.Sigmoid()
    assert (default.c, default.beta, default.trainable) == (1.0, 1.0, False)


def test_leaky_relu_delta_can_be_read_and_set():
    act = nncore.LeakyReLU(delta=0.2)
    assert act.delta == 0.2
    act.delta = 0.05
    assert act.delta == 0.05


@pytest.mark.parametrize("attr, value, exc", [
    ("c", float("nan"), ValueError), ("c", float("inf"), ValueError),
    ("beta", float("nan"), ValueError), ("beta", -float("inf"), ValueError),
    ("c", "1.0", TypeError), ("beta", None, TypeError), ("c", True, TypeError),
    ("c", 1 + 2j, TypeError),
])
def test_setting_a_bad_sigmoid_parameter_raises_and_keeps_the_old_value(attr, value, exc):
    act = nncore.Sigmoid(c=1.7, beta=0.6)
    with pytest.raises(exc, match=attr):
        setattr(act, attr, value)
    assert (act.c, act.beta) == (1.7, 0.6)


@pytest.mark.parametrize("value, exc", [(float("nan"), ValueError), (np.inf, ValueError),
                                        ("0.1", TypeError)])
def test_setting_a_bad_leaky_relu_delta_raises_and_keeps_the_old_value(value, exc):
    act = nncore.LeakyReLU(delta=0.2)
    with pytest.raises(exc, match="delta"):
        act.delta = value
    assert act.delta == 0.2


@pytest.mark.parametrize("layer, attr", [(0, "c"), (0, "beta"), (1, "delta")])
def test_setting_nan_on_an_activation_inside_a_network_leaves_it_unchanged(net, layer, attr):
    act = net.layers[layer].activation
    assert_refused(net, ValueError, attr, lambda: setattr(act, attr, float("nan")))


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"c": float("nan")}, ValueError, "c"), ({"beta": float("inf")}, ValueError, "beta"),
    ({"trainable": 1}, TypeError, "trainable"), ({"trainable": "yes"}, TypeError, "trainable"),
])
def test_bad_sigmoid_construction_is_refused(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        nncore.Sigmoid(**kwargs)


def test_bad_leaky_relu_construction_is_refused():
    with pytest.raises(ValueError, match="delta"):
        nncore.LeakyReLU(delta=float("nan"))


# -- building networks ---------------------------------------------------------------------------

BAD_NETWORKS = {  # id: (factory, exception, pattern)
    "unknown_loss": (lambda: nncore.Network([3, 2], loss="hinge"), ValueError,
                     r"unknown loss 'hinge'"),
    "loss_not_a_name": (lambda: nncore.Network([3, 2], loss=None), TypeError, r"loss"),
    "unknown_hidden_activation": (lambda: nncore.Network([3, 4, 2], loss="mse",
                                                         activation="mish"),
                                  ValueError, r"unknown activation 'mish'"),
    "unknown_output_activation": (lambda: nncore.Network([3, 4, 2], loss="mse", output="mish"),
                                  ValueError, r"unknown activation 'mish'"),
    "unknown_dense_activation": (lambda: nncore.Dense(3, 2, "sigmoidd"), ValueError,
                                 r"unknown activation 'sigmoidd'"),
    "activation_not_a_name": (lambda: nncore.Network([3, 4, 2], loss="mse", activation=3),
                              TypeError, r"activation"),
    "dtype_float16": (lambda: nncore.Network([3, 2], loss="mse", dtype="float16"), ValueError,
                      r"float16"),
    "dtype_int": (lambda: nncore.Network([3, 2], loss="mse", dtype="int64"), ValueError,
                  r"int64"),
    "dtype_nonsense": (lambda: nncore.Network([3, 2], loss="mse", dtype="double-ish"),
                       (TypeError, ValueError), r"double-ish"),
    "unknown_backend": (lambda: nncore.Network([3, 2], loss="mse", backend="torch"),
                        ValueError, r"unknown backend 'torch'"),
    "cross_entropy_needs_probabilities": (
        lambda: nncore.Network([3, 2], loss="cross_entropy", output="identity"), ValueError,
        r"needs probabilities.*Identity\(\)"),
    "bce_needs_probabilities": (
        lambda: nncore.Network([3, 2], loss="binary_cross_entropy", output="tanh"), ValueError,
        r"needs probabilities.*Tanh\(\)"),
    "mismatched_layers": (lambda: nncore.Network([nncore.Dense(3, 4), nncore.Dense(5, 2)],
                                                 loss="mse"),
                          ValueError, r"layer 1 takes 5 inputs but layer 0 gives 4"),
    "one_size": (lambda: nncore.Network([3], loss="mse"), ValueError, r"at least 2"),
    "no_layers": (lambda: nncore.Network([], loss="mse"), TypeError, r"non-empty"),
    "zero_size": (lambda: nncore.Network([3, 0], loss="mse"), ValueError, r">= 1, got 0"),
    "negative_size": (lambda: nncore.Network([3, 4, -2], loss="mse"), ValueError, r"-2"),
    "float_size": (lambda: nncore.Network([3, 2.5], loss="mse"), TypeError, r"layers"),
    "layers_a_string": (lambda: nncore.Network("32", loss="mse"), TypeError, r"layers"),
    "layers_not_dense": (lambda: nncore.Network([nncore.Dense(3, 2), "dense"], loss="mse"),
                         TypeError, r"nncore.Dense"),
    "dense_float_size": (lambda: nncore.Dense(3.0, 2), TypeError, r"n_in must be an integer"),
    "dense_zero_size": (lambda: nncore.Dense(3, 0), ValueError, r"n_out must be >= 1"),
}


@pytest.mark.parametrize("bad", list(BAD_NETWORKS))
def test_bad_network_definitions_are_refused(bad):
    factory, exc, match = BAD_NETWORKS[bad]
    with pytest.raises(exc, match=match):
        factory()


def test_the_same_dense_layer_twice_is_refused():
    layer = nncore.Dense(3, 3)
    with pytest.raises(ValueError, match="twice"):
        nncore.Network([layer, layer], loss="mse")


def test_a_dense_layer_of_another_network_is_refused_and_keeps_its_weights():
    first = nncore.Network([nncore.Dense(3, 3), nncore.Dense(3, 2)], loss="mse", seed=0)
    snap = snapshot(first)
    with pytest.raises(ValueError, match="already belongs to a Network"):
        nncore.Network([first.layers[0], nncore.Dense(3, 2)], loss="mse", seed=1)
    assert_unchanged(first, snap)


def test_a_trainable_activation_shared_by_two_layers_is_refused():
    act = nncore.Sigmoid(trainable=True)
    with pytest.raises(ValueError, match="trainable activation"):
        nncore.Network([nncore.Dense(3, 3, act), nncore.Dense(3, 2, act)], loss="mse")


def test_sizes_shortcut_with_a_trainable_hidden_activation_never_shares_it_silently():
    # with several hidden layers, one trainable object must not be learnt by all of them at
    # once: either each layer gets its own copy, or the network is refused with a message
    act = nncore.Sigmoid(c=1.5, beta=0.5, trainable=True)
    try:
        net = nncore.Network([3, 4, 4, 2], activation=act, loss="mse", seed=0)
    except ValueError as exc:
        assert "trainable" in str(exc)
        return
    hidden = [ly.activation for ly in net.layers[:-1]]
    assert len({id(a) for a in hidden}) == len(hidden)
    assert all((a.c, a.beta, a.trainable) == (1.5, 0.5, True) for a in hidden)


def test_layers_of_a_refused_network_can_still_be_used():
    layers = [nncore.Dense(3, 4, "tanh"), nncore.Dense(4, 2, "identity")]
    with pytest.raises(ValueError, match="needs probabilities"):
        nncore.Network(layers, loss="cross_entropy")
    assert layers[0].W is None  # nothing was allocated
    net = nncore.Network(layers, loss="mse", seed=0)
    assert net.layers[0] is layers[0] and net.layers[0].W.shape == (3, 4)


# -- nncore.functional -------------------------------------------------------------------------

BAD_FUNCTIONAL = {  # id: (call, exception, pattern)
    "softmax_nan": (lambda: F.softmax([0.0, np.nan]), ValueError, r"NaN"),
    "sigmoid_inf": (lambda: F.sigmoid([[np.inf]]), ValueError, r"inf"),
    "tanh_3d": (lambda: F.tanh(np.zeros((2, 2, 2))), ValueError, r"\(2, 2, 2\)"),
    "relu_empty": (lambda: F.relu([]), ValueError, r"non-empty"),
    "relu_strings": (lambda: F.relu(["a"]), TypeError, r"real numbers"),
    "mse_shapes": (lambda: F.mse(np.zeros((2, 3)), np.zeros((3, 2))), ValueError,
                   r"\(2, 3\).*\(3, 2\)"),
    "cross_entropy_yhat_above_one": (lambda: F.cross_entropy([1.5, 0.0], [1, 0]), ValueError,
                                     r"yhat.*\[0, 1\]"),
    "cross_entropy_y_negative": (lambda: F.cross_entropy([0.5, 0.5], [-1, 0]), ValueError,
                                 r"y must lie in \[0, 1\]"),
    "bce_nan": (lambda: F.binary_cross_entropy([0.5, np.nan], [1, 0]), ValueError, r"NaN"),
    "derivative_of_softmax": (lambda: F.derivative("softmax", [1.0, 2.0]), ValueError,
                              r"softmax_jacobian"),
    "derivative_unknown_name": (lambda: F.derivative("swish", [1.0]), ValueError, r"swish|one of"),
    "derivative_unknown_parameter": (lambda: F.derivative("tanh", [1.0], c=2.0), TypeError,
                                     r"'c'"),
    "jacobian_of_a_batch": (lambda: F.softmax_jacobian(np.zeros((2, 3))), ValueError,
                            r"one example"),
}


@pytest.mark.parametrize("bad", list(BAD_FUNCTIONAL))
def test_bad_functional_input_is_refused(bad):
    fn, exc, match = BAD_FUNCTIONAL[bad]
    with pytest.raises(exc, match=match):
        fn()


@pytest.mark.parametrize("fn", [
    lambda: F.sigmoid([1.0], c=float("nan")),
    lambda: F.sigmoid([1.0], beta=float("inf")),
    lambda: F.leaky_relu([-1.0], delta=float("inf")),
    lambda: F.derivative("sigmoid", [1.0], c=float("nan")),
], ids=["sigmoid_c_nan", "sigmoid_beta_inf", "leaky_relu_delta_inf", "derivative_c_nan"])
def test_functional_refuses_non_finite_activation_parameters(fn):
    with pytest.raises(ValueError):
        fn()


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("output", [
    lambda: nncore.Sigmoid(c=1.5),                  # values up to 1.5: not probabilities
    lambda: nncore.Sigmoid(c=-1.0),
    lambda: nncore.Sigmoid(trainable=True),         # training could move c above 1
], ids=["c_above_one", "c_negative", "trainable"])
def test_cross_entropies_refuse_a_sigmoid_output_that_is_not_a_probability(loss, output):
    with pytest.raises(ValueError, match=r"probabilities.*0 < c <= 1"):
        nncore.Network([nncore.Dense(3, 2, output())], loss=loss)


def test_binary_cross_entropy_refuses_a_softmax_output():
    with pytest.raises(ValueError, match=r"binary_cross_entropy.*a sigmoid output.*Softmax"):
        nncore.Network([nncore.Dense(3, 2, "softmax")], loss="binary_cross_entropy")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sigmoid_output_changed_into_a_non_probability_is_refused_at_the_next_call(backend):
    net = nncore.Network([nncore.Dense(3, 2, "sigmoid")], loss="binary_cross_entropy",
                         backend=backend)
    X, Y = np.ones((4, 3)), np.full((4, 2), 0.5)
    before = [ly.W.copy() for ly in net.layers]
    net.layers[0].activation.c = 5.0
    with pytest.raises(ValueError, match=r"0 < c <= 1"):
        net.train_step(X, Y, 0.1)
    assert all(np.array_equal(b, ly.W) for b, ly in zip(before, net.layers))
    net.predict(X)  # predicting needs no probabilities
    net.layers[0].activation.c = 1.0
    assert np.isfinite(net.train_step(X, Y, 0.1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, value", [("c", 1e39), ("beta", -1e39), ("c", 1e-40)])
def test_float32_activation_parameters_outside_float32_are_refused(backend, name, value):
    layer = nncore.Dense(3, 2, "sigmoid")
    net = nncore.Network([layer], loss="mse", dtype="float32", backend=backend)
    setattr(layer.activation, name, value)
    with pytest.raises(ValueError, match=rf"{name} = .* outside the range of float32"):
        net.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"outside the range of float32"):
        nncore.Network([nncore.Dense(3, 2, nncore.Sigmoid(**{name: value}))], loss="mse",
                       dtype="float32", backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_whose_dtype_was_changed_in_place_are_refused(backend):
    net = nncore.Network([3, 4, 2], loss="mse", backend=backend)
    net.layers[0].W.dtype = np.int64  # NumPy allows this view change in place
    with pytest.raises(ValueError,
                       match=r"layer 0's W is no longer a writeable, C-contiguous float64"):
        net.predict(np.ones((2, 3)))


def test_a_trainable_activation_cannot_learn_in_two_networks():
    act = nncore.Sigmoid(trainable=True)
    first = nncore.Network([nncore.Dense(3, 2, act)], loss="mse")
    with pytest.raises(ValueError, match=r"another Network"):
        nncore.Network([nncore.Dense(3, 2, act)], loss="mse")
    # a network refers to nothing that refers back to it: once it is gone, the object is free
    del first
    nncore.Network([nncore.Dense(3, 2, act)], loss="mse")


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_training_that_overflows_the_weights_raises(backend):
    net = nncore.Network([nncore.Dense(2, 1)], loss="mse", backend=backend)
    X, Y = np.array([[1e10, 1e10]]), np.array([[0.0]])
    with pytest.raises(FloatingPointError, match=r"diverged.*no longer finite"):
        net.fit(X, Y, epochs=1, lr=1e300)
    with pytest.raises(FloatingPointError, match=r"loss is (nan|inf)"):
        net.train_step(X, Y, 0.1)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_step_from_a_non_finite_loss_is_refused_and_changes_nothing(backend):
    net = nncore.Network([1, 1], loss="mse", seed=0, backend=backend)
    W, b = net.layers[0].W.copy(), net.layers[0].b.copy()
    with pytest.raises(FloatingPointError, match=r"loss is inf"):
        net.train_step([[1e200]], [[0.0]], 0.1)
    np.testing.assert_array_equal(net.layers[0].W, W)
    np.testing.assert_array_equal(net.layers[0].b, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("change", ["byteswap", "read_only"])
def test_weights_made_unusable_in_place_are_refused_by_both_backends(backend, change):
    net = nncore.Network([3, 4, 2], loss="mse", seed=0, backend=backend)
    W = net.layers[1].W
    if change == "byteswap":
        W.dtype = W.dtype.newbyteorder()
    else:
        W.flags.writeable = False
    before = [ly.W.copy() for ly in net.layers]
    with pytest.raises(ValueError, match=r"layer 1's W is no longer a writeable"):
        net.train_step(np.ones((2, 3)), np.zeros((2, 2)), 0.1)
    assert all(np.array_equal(b, ly.W) for b, ly in zip(before, net.layers))


def test_a_network_that_fails_to_build_leaves_its_layers_reusable():
    act = nncore.Sigmoid(trainable=True)
    first = nncore.Dense(2, 3, act)
    with pytest.raises((MemoryError, ValueError)):
        nncore.Network([first, nncore.Dense(3, 2**40)], loss="mse")
    net = nncore.Network([first, nncore.Dense(3, 2)], loss="mse")
    assert net.layers[0] is first and first.activation is act


def test_layer_sizes_beyond_the_core_s_int_are_refused():
    with pytest.raises(ValueError, match=r"n_out must be <= 2147483647"):
        nncore.Dense(3, 2**31)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_training_that_takes_an_activation_parameter_out_of_float32_raises():
    net = nncore.Network([nncore.Dense(1, 1, nncore.Sigmoid(beta=0.0, trainable=True))],
                         loss="mse", dtype="float32", seed=0)
    with pytest.raises(FloatingPointError, match=r"no longer finite in float32"):
        net.fit(np.zeros((1, 1)), [[1e18]], epochs=1, lr=1e22)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NumPy's forward
@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_cross_entropy_of_logits_beyond_double_range_is_exact(backend):
    # beta * a overflows to +-inf in double; the terms with weight 0 must not turn into NaN
    out = nncore.Sigmoid(beta=2.0)
    net = nncore.Network([nncore.Dense(1, 1, out)], loss="binary_cross_entropy",
                         backend=backend)
    net.layers[0].W = [[1.0]]
    assert net.loss([[1e308]], [[1.0]]) == 0.0
    assert net.loss([[-1e308]], [[0.0]]) == 0.0


@pytest.mark.parametrize("dtype", ["<i8", ">i8", "<i4", ">i4", "i2", "u1", "<u8"])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_class_labels_of_any_integer_dtype_and_byte_order_are_range_checked(dtype, backend):
    # the labels' check reads them as unsigned (a negative label is then out of range too):
    # in the labels' own byte order, at the first and the last index
    net = nncore.Network([2, 3], loss="cross_entropy", seed=0, backend=backend)
    X = np.ones((5, 2))
    before = net.layers[0].W.copy()
    net.fit(X, np.array([0, 1, 2, 1, 0], dtype=dtype), epochs=1, lr=0.1)
    assert not np.array_equal(before, net.layers[0].W)
    bad_values = [3, 200] + ([-1] if np.dtype(dtype).kind == "i" else [])
    for where in (0, 4):
        for bad in bad_values:
            y = np.array([0, 1, 2, 1, 0], dtype=dtype)
            y[where] = bad
            after = net.layers[0].W.copy()
            with pytest.raises(ValueError, match=r"class labels must lie in \[0, 3\)"):
                net.fit(X, y, epochs=1, lr=0.1)
            np.testing.assert_array_equal(after, net.layers[0].W)
