"""Weight initialisers: the default unchanged, each named one's variance against its definition
and PyTorch's, callables, names and refusals."""
import math

import numpy as np
import pytest

import nncore
from nncore import initializers

DTYPES = ["float32", "float64"]
BACKENDS = ["cython", "numpy"]
N_IN, N_OUT = 300, 400        # 120,000 draws: a variance within 2% is > 5 standard errors


def layer_W(init, activation="tanh", dtype="float64", seed=0, n_in=N_IN, n_out=N_OUT):
    net = nncore.Network([nncore.Dense(n_in, n_out, activation, init=init)], loss="mse",
                         seed=seed, dtype=dtype)
    return net.layers[0].W.astype(np.float64), net.layers[0].b


@pytest.mark.parametrize("activation, name", [("relu", "he_uniform"),
                                              ("leaky_relu", "he_uniform"),
                                              ("tanh", "glorot_uniform"),
                                              ("sigmoid", "glorot_uniform")])
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_default_is_todays_choice_bit_for_bit(activation, name, dtype):
    W_default, _ = layer_W(None, activation, dtype, n_in=7, n_out=5)
    W_named, _ = layer_W(name, activation, dtype, n_in=7, n_out=5)
    np.testing.assert_array_equal(W_default, W_named)
    fan = 7 if name == "he_uniform" else 12
    bound = np.sqrt(6.0 / fan)
    expected = np.random.default_rng(0).uniform(-bound, bound, size=(7, 5)).astype(dtype)
    np.testing.assert_array_equal(W_default, expected)


@pytest.mark.parametrize("name", initializers.INIT_NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_variance_matches_the_definition(name, dtype):
    W, b = layer_W(name, "relu", dtype)
    assert W.shape == (N_IN, N_OUT) and not b.any()
    expected = {"he_normal": 2 / N_IN, "he_uniform": 2 / N_IN,
                "glorot_normal": 2 / (N_IN + N_OUT), "glorot_uniform": 2 / (N_IN + N_OUT),
                "lecun_normal": 1 / N_IN, "zeros": 0.0}[name]
    assert initializers.variance(name, N_IN, N_OUT) == expected
    if name == "zeros":
        assert not W.any()
        return
    assert W.var() == pytest.approx(expected, rel=0.02)
    assert abs(W.mean()) < 5 * math.sqrt(expected / W.size)
    if name.endswith("_uniform"):
        bound = math.sqrt(3 * expected)
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound
    else:   # normal, not truncated: about 0.27% of draws beyond 3 standard deviations
        beyond = np.mean(np.abs(W) > 3 * math.sqrt(expected))
        assert 0.0015 < beyond < 0.004


TORCH = {  # our name: torch.nn.init call on a (n_out, n_in) weight, as nn.Linear holds it
    "he_normal": lambda t, nn: nn.init.kaiming_normal_(t, nonlinearity="relu"),
    "he_uniform": lambda t, nn: nn.init.kaiming_uniform_(t, nonlinearity="relu"),
    "glorot_normal": lambda t, nn: nn.init.xavier_normal_(t),
    "glorot_uniform": lambda t, nn: nn.init.xavier_uniform_(t),
    "lecun_normal": lambda t, nn: nn.init.kaiming_normal_(t, nonlinearity="linear"),
    "zeros": lambda t, nn: nn.init.zeros_(t),
}


@pytest.mark.parametrize("name", initializers.INIT_NAMES)
def test_variance_matches_pytorchs(name):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = torch.empty(N_OUT, N_IN, dtype=torch.float64)
    TORCH[name](t, torch.nn)
    theirs = t.numpy()
    ours, _ = layer_W(name)
    if name == "zeros":
        assert not theirs.any() and not ours.any()
        return
    assert ours.var() == pytest.approx(theirs.var(), rel=0.03)
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.15 if
                                               name.endswith("normal") else 0.01)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_network_init_applies_to_every_layer_and_is_reproducible(backend, dtype):
    a = nncore.Network([20, 30, 10], activation="relu", loss="cross_entropy", seed=5,
                       dtype=dtype, backend=backend, init="he_normal")
    b = nncore.Network([20, 30, 10], activation="relu", loss="cross_entropy", seed=5,
                       dtype=dtype, backend=backend, init="He_Normal")
    assert [ly.init for ly in a.layers] == ["he_normal", "he_normal"]
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.W, lb.W)
    rng = np.random.default_rng(5)
    for ly, (n_in, n_out) in zip(a.layers, [(20, 30), (30, 10)]):
        expected = rng.normal(0.0, math.sqrt(2 / n_in), size=(n_in, n_out)).astype(dtype)
        np.testing.assert_array_equal(ly.W, expected)
    # both backends compute with what was drawn
    other = nncore.Network([20, 30, 10], activation="relu", loss="cross_entropy", seed=5,
                           dtype=dtype, backend="numpy" if backend == "cython" else "cython",
                           init="he_normal")
    X = rng.normal(size=(7, 20))
    np.testing.assert_allclose(a.predict(X), other.predict(X),
                               rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_callable_init_gets_the_shape_and_the_networks_generator(dtype):
    calls = []

    def init(shape, rng):
        calls.append(shape)
        return rng.standard_normal(shape) * 0.1

    net = nncore.Network([nncore.Dense(4, 3, "tanh", init=init),
                          nncore.Dense(3, 2, init="zeros")], loss="mse", seed=9, dtype=dtype)
    assert calls == [(4, 3)]
    expected = (np.random.default_rng(9).standard_normal((4, 3)) * 0.1).astype(dtype)
    np.testing.assert_array_equal(net.layers[0].W, expected)
    assert not net.layers[1].W.any()
    assert "init=" in repr(net.layers[0]) and "init='zeros'" in repr(net.layers[1])
    net.layers[0].reset_parameters(9)
    np.testing.assert_array_equal(net.layers[0].W, expected)


@pytest.mark.parametrize("bad, message", [
    (lambda shape, rng: np.ones((shape[1], shape[0])), r"init returned W of shape \(3, 4\); "
                                                       r"the layer needs \(4, 3\)"),
    (lambda shape, rng: np.full(shape, np.nan), r"init returned W with NaN or inf"),
    (lambda shape, rng: np.full(shape, 1e300), r"init returned W with NaN or inf"),
    (lambda shape, rng: np.full(shape, "a"), r"must hold real numbers"),
])
def test_a_bad_callable_init_is_refused_and_changes_nothing(bad, message):
    layer = nncore.Dense(4, 3, init=bad)
    error = TypeError if "real numbers" in message else ValueError
    with pytest.raises(error, match=message):
        nncore.Network([layer], loss="mse", dtype="float32")
    assert not layer._bound and layer.W is None
    # on a bound layer, reset_parameters keeps W and b
    net = nncore.Network([nncore.Dense(4, 3)], loss="mse", dtype="float32", seed=0)
    ly = net.layers[0]
    ly._init = bad
    before = ly.W.copy()
    with pytest.raises(error, match=message):
        ly.reset_parameters(0)
    np.testing.assert_array_equal(ly.W, before)


@pytest.mark.parametrize("spec, error, message", [
    ("he", ValueError, r"unknown init 'he'"),
    ("glorot_unifrom", ValueError, r"unknown init 'glorot_unifrom'; did you mean "
                                   r"'glorot_uniform'\?"),
    (3, TypeError, r"init must be a name"),
])
def test_unknown_inits_are_refused(spec, error, message):
    with pytest.raises(error, match=message):
        nncore.Dense(3, 2, init=spec)
    with pytest.raises(error, match=message):
        nncore.Network([3, 2], loss="mse", init=spec)


def test_aliases_and_the_network_init_with_dense_layers():
    assert nncore.Dense(3, 2, init="xavier_uniform").init == "glorot_uniform"
    assert nncore.Dense(3, 2, init="KaimingNormal").init == "he_normal"
    with pytest.raises(TypeError, match="init= go with a list of sizes"):
        nncore.Network([nncore.Dense(3, 2)], loss="mse", init="zeros")
