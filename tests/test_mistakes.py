"""Mistakes that used to pass silently: softmax in a hidden layer, a diverging loss, dtype
strings, activation names."""
import warnings

import numpy as np
import pytest

import nncore

BACKENDS = ["cython", "numpy"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_in_a_hidden_layer_is_refused_saying_where_it_belongs(backend):
    with pytest.raises(ValueError, match=r"layer 0 of 2 is a hidden layer with softmax; "
                                         r"softmax belongs on the output layer"):
        nncore.Network([3, 4, 2], activation="softmax", loss="cross_entropy",
                       backend=backend)
    layers = [nncore.Dense(3, 4, "relu"), nncore.Dense(4, 4, "Softmax"),
              nncore.Dense(4, 2, "softmax")]
    with pytest.raises(ValueError, match=r"layer 1 of 3 is a hidden layer with softmax"):
        nncore.Network(layers, loss="mse", backend=backend)
    # refused before anything was bound: the layers can still be used
    assert not any(ly._bound for ly in layers)
    net = nncore.Network([layers[0], nncore.Dense(4, 2, "softmax")], loss="cross_entropy",
                         backend=backend)
    assert net.layers[-1].activation.name == "softmax"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, epochs", [("float32", 2), ("float64", 3)])
def test_a_loss_that_grows_by_orders_of_magnitude_warns_once(dtype, backend, epochs):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(200, 3)), rng.normal(size=(200, 2))
    net = nncore.Network([3, 4, 2], activation="tanh", loss="mse", seed=0, dtype=dtype,
                         backend=backend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = net.fit(X, Y, epochs=epochs, lr=10.0)
    assert history[-1] > 1e9 * history[0] or history[0] > 1e9
    grown = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(grown) == 1
    text = str(grown[0].message)
    assert f"to {history[1]:.3g}" in text and "by epoch 1, at learning rate 10:" in text
    assert "too large" in text
    assert grown[0].filename == __file__   # points at the fit call


@pytest.mark.parametrize("backend", BACKENDS)
def test_ordinary_training_does_not_warn(backend):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] > 0).astype(int)
    net = nncore.Network([4, 8, 2], activation="relu", loss="cross_entropy", seed=0,
                         backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.fit(X, y, epochs=20, lr=0.5)
        # a loss near 0 that wobbles a little is not growth "by orders of magnitude" above
        # where it started
        net.fit(X[:4], y[:4], epochs=30, lr=2.0, batch_size=4)


@pytest.mark.parametrize("spec, expected", [
    ("float32", np.float32), ("f4", np.float32), ("single", np.float32), (np.float32, np.float32),
    ("float64", np.float64), ("f8", np.float64), ("double", np.float64), ("float", np.float64),
    (float, np.float64), (np.dtype("float64"), np.float64),
])
def test_dtype_names_follow_numpy(spec, expected):
    assert nncore.Network([2, 1], loss="mse", dtype=spec).dtype == expected


@pytest.mark.parametrize("spec, message", [
    ("f32", r"got 'f32'; did you mean 'float32'\?"),
    ("float16", r"got 'float16'$"),
    ("int64", r"got 'int64'$"),
    (np.int32, r"got int32$"),
    ("double-ish", r"got 'double-ish'"),
    (5, r"got 5"),
    (object, r"got object$"),
])
def test_every_other_dtype_is_one_error_type(spec, message):
    with pytest.raises(ValueError, match=r"dtype must be float32 or float64 \(as np.dtype "
                                         r"reads it\), " + message):
        nncore.Network([2, 1], loss="mse", dtype=spec)


@pytest.mark.parametrize("name, cls", [
    ("ReLU", nncore.ReLU), ("RELU", nncore.ReLU), ("LeakyReLU", nncore.LeakyReLU),
    ("leaky-relu", nncore.LeakyReLU), ("Leaky_ReLU", nncore.LeakyReLU), ("Tanh", nncore.Tanh),
    ("Sigmoid", nncore.Sigmoid), ("Identity", nncore.Identity), ("linear", nncore.Identity),
    ("Softmax", nncore.Softmax),
])
def test_activation_names_match_case_and_class_names(name, cls):
    assert type(nncore.Dense(2, 2, name).activation) is cls
    assert type(nncore.get_activation(name)) is cls


def test_network_shortcut_takes_the_class_names_too():
    net = nncore.Network([3, 4, 2], activation="ReLU", output="Softmax", loss="cross_entropy")
    assert [ly.activation.name for ly in net.layers] == ["relu", "softmax"]


@pytest.mark.parametrize("name, message", [
    ("relux", r"unknown activation 'relux'; did you mean 'relu'\? \(expected one of"),
    ("sigmod", r"unknown activation 'sigmod'; did you mean 'sigmoid'\?"),
    ("mish", r"unknown activation 'mish' \(expected one of \('identity'"),
])
def test_unknown_activation_names_get_a_did_you_mean(name, message):
    with pytest.raises(ValueError, match=message):
        nncore.Dense(2, 2, name)


def test_saved_files_keep_their_exact_names():
    with pytest.raises(ValueError, match="unknown activation 'ReLU'"):
        nncore.get_activation({"name": "ReLU"})
