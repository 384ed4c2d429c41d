"""net.gradients() against central differences of net.loss() in float64, for every hidden
activation with every meaningful output/loss pair, on 1 to 3 hidden layers, both backends;
the trainable sigmoid's c and beta; and trace() against the seed's recursive local gradients."""
import numpy as np
import pytest

import nncore

from _helpers import (BACKENDS, FD_ATOL, FD_RTOL, activation_spec, make_net, numerical_gradients,
                      ref_backward, ref_forward, ref_loss_gradient, targets_for)

HIDDEN = {
    "identity": "identity",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": lambda: nncore.LeakyReLU(delta=0.1),
    "scaled_sigmoid": lambda: nncore.Sigmoid(c=1.7, beta=0.6),
}

OUTPUT_LOSS = {  # id: (output activation, loss)
    "identity+mse": ("identity", "mse"),
    "sigmoid+mse": ("sigmoid", "mse"),
    "tanh+mse": ("tanh", "mse"),
    "softmax+mse": ("softmax", "mse"),
    "softmax+cross_entropy": ("softmax", "cross_entropy"),
    "sigmoid+binary_cross_entropy": ("sigmoid", "binary_cross_entropy"),
    "sigmoid+cross_entropy": ("sigmoid", "cross_entropy"),
    # z in (0, c) with c < 1, so that 1 - z stays a probability
    "scaled_sigmoid+binary_cross_entropy": (lambda: nncore.Sigmoid(c=0.9, beta=1.3),
                                            "binary_cross_entropy"),
    "scaled_sigmoid+mse": (lambda: nncore.Sigmoid(c=1.7, beta=0.6), "mse"),
}

N = 5


def data(net, loss, seed=0, kind="soft"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, net.layers[0].n_in))
    Y = targets_for(loss, N, net.layers[-1].n_out, rng, kind)
    return X, Y


def assert_off_kinks(net, X):
    """No pre-activation of a relu / leaky relu layer lies within 1e-4 of the kink at 0, where
    central differences are meaningless."""
    for layer, t in zip(net.layers, net.trace(X, np.zeros((X.shape[0], net.layers[-1].n_out)))
                        if net.loss_name == "mse" else _trace_any(net, X)):
        if layer.activation.name in ("relu", "leaky_relu"):
            assert np.abs(t["a"]).min() > 1e-4, "test data too close to the relu kink"


def _trace_any(net, X):
    n_out = net.layers[-1].n_out
    return net.trace(X, np.full((X.shape[0], n_out), 1.0 / n_out))


def randomize_biases(net, seed):
    """Non-zero biases (the network starts with b = 0), so that db and the bias path are
    checked from a general point, and a relu layer fed all zeros is not left at its kink."""
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        layer.b = rng.normal(scale=0.3, size=layer.b.shape)


def assert_gradients_close(got, expected):
    assert len(got) == len(expected)
    for l, (g, e) in enumerate(zip(got, expected)):
        assert set(g) == set(e), f"layer {l}: keys {set(g)} != {set(e)}"
        for key in e:
            np.testing.assert_allclose(g[key], e[key], rtol=FD_RTOL, atol=FD_ATOL,
                                       err_msg=f"layer {l}, d{key}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_hidden", [1, 2, 3])
@pytest.mark.parametrize("pair", list(OUTPUT_LOSS))
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_gradients_match_central_differences(hidden, pair, n_hidden, backend):
    output, loss = OUTPUT_LOSS[pair]
    net = make_net(HIDDEN[hidden], output, loss, n_hidden_layers=n_hidden, seed=n_hidden,
                   backend=backend)
    randomize_biases(net, 100 + n_hidden)
    X, Y = data(net, loss, seed=n_hidden)
    assert_off_kinks(net, X)
    assert_gradients_close(net.gradients(X, Y), numerical_gradients(net, X, Y))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pair", ["softmax+cross_entropy", "sigmoid+binary_cross_entropy",
                                  "sigmoid+cross_entropy",
                                  "scaled_sigmoid+binary_cross_entropy"])
def test_gradients_with_one_hot_targets_match_central_differences(pair, backend):
    output, loss = OUTPUT_LOSS[pair]
    net = make_net("tanh", output, loss, n_hidden_layers=2, seed=11, backend=backend)
    X, Y = data(net, loss, seed=11, kind="onehot")
    assert_gradients_close(net.gradients(X, Y), numerical_gradients(net, X, Y))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_without_hidden_layers_match_central_differences(backend):
    net = nncore.Network([nncore.Dense(4, 3, "softmax")], loss="cross_entropy", seed=2,
                         backend=backend)
    X, Y = data(net, "cross_entropy", seed=2)
    assert_gradients_close(net.gradients(X, Y), numerical_gradients(net, X, Y))


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_cross_entropy_gradients_for_targets_not_summing_to_one(backend):
    net = make_net("tanh", "softmax", "cross_entropy", n_hidden_layers=1, seed=4,
                   backend=backend)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3, 3))
    Y = np.array([[0.5, 0.2, 0.0], [0.0, 0.0, 0.0], [0.3, 0.3, 0.3]])
    assert_gradients_close(net.gradients(X, Y), numerical_gradients(net, X, Y))


# -- the trainable scaled sigmoid: c and beta -----------------------------------------------------

TRAINABLE_CASES = {  # id: (hidden, output, loss)
    "hidden-trainable": (lambda: nncore.Sigmoid(c=1.7, beta=0.6, trainable=True),
                         "softmax", "cross_entropy"),
    "output-trainable-mse": ("tanh", lambda: nncore.Sigmoid(c=1.5, beta=0.8, trainable=True),
                             "mse"),
    "both-trainable": (lambda: nncore.Sigmoid(c=1.2, beta=-0.7, trainable=True),
                       lambda: nncore.Sigmoid(c=2.0, beta=0.5, trainable=True), "mse"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_hidden", [1, 2, 3])
@pytest.mark.parametrize("case", list(TRAINABLE_CASES))
def test_trainable_sigmoid_c_and_beta_gradients(case, n_hidden, backend):
    hidden, output, loss = TRAINABLE_CASES[case]
    net = make_net(hidden, output, loss, n_hidden_layers=n_hidden, seed=20 + n_hidden,
                   backend=backend)
    randomize_biases(net, 200 + n_hidden)
    X, Y = data(net, loss, seed=n_hidden)
    assert_off_kinks(net, X)
    got = net.gradients(X, Y)
    for layer, g in zip(net.layers, got):
        if layer.activation.trainable:
            assert isinstance(g["c"], float) and isinstance(g["beta"], float)
    assert_gradients_close(got, numerical_gradients(net, X, Y))


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_trainable_layers_report_only_W_and_b(backend):
    net = make_net(lambda: nncore.Sigmoid(c=1.7, beta=0.6), "sigmoid", "mse", n_hidden_layers=2,
                   backend=backend)
    X, Y = data(net, "mse")
    for layer, g in zip(net.layers, net.gradients(X, Y)):
        assert set(g) == {"W", "b"}
        assert g["W"].shape == layer.W.shape and g["b"].shape == layer.b.shape
        assert g["W"].dtype == layer.W.dtype


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_do_not_change_the_network(backend):
    net = make_net(lambda: nncore.Sigmoid(c=1.2, beta=0.7, trainable=True), "softmax",
                   "cross_entropy", n_hidden_layers=2, backend=backend)
    X, Y = data(net, "cross_entropy")
    before = [(ly.W.copy(), ly.b.copy(), ly.activation.c if ly.activation.name == "sigmoid"
               else None) for ly in net.layers]
    first = net.gradients(X, Y)
    second = net.gradients(X, Y)
    for (W, b, c), ly, g1, g2 in zip(before, net.layers, first, second):
        assert np.array_equal(ly.W, W) and np.array_equal(ly.b, b)
        if c is not None:
            assert ly.activation.c == c
        np.testing.assert_array_equal(g1["W"], g2["W"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_returned_gradients_are_not_overwritten_by_later_calls(backend):
    net = make_net("tanh", "identity", "mse", backend=backend)
    X, Y = data(net, "mse")
    g = net.gradients(X, Y)
    kept = g[0]["W"].copy()
    net.gradients(X * 2, Y)
    np.testing.assert_array_equal(g[0]["W"], kept)


# -- trace(): the seed's recursive local gradients ----------------------------------------------

FUSED = {("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy")}


def output_delta(net, a, z, Y):
    """dL/da of the output layer: (z - y) / N for softmax + cross-entropy and the plain
    sigmoid + binary cross-entropy, otherwise phi'(a) applied to dL/dz (which the core's
    closed forms equal away from saturation)."""
    act = net.layers[-1].activation
    name, params = activation_spec(act)
    plain = name != "sigmoid" or (params["c"] == 1 and params["beta"] == 1 and not act.trainable)
    if (name, net.loss_name) in FUSED and plain:
        return (z - Y) / Y.shape[0]
    return ref_backward(name, a, ref_loss_gradient(net.loss_name, z, Y), **params)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_hidden", [1, 3])
@pytest.mark.parametrize("pair", list(OUTPUT_LOSS))
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "leaky_relu", "scaled_sigmoid"])
def test_trace_follows_the_recursive_local_gradients(hidden, pair, n_hidden, backend):
    output, loss = OUTPUT_LOSS[pair]
    net = make_net(HIDDEN[hidden], output, loss, n_hidden_layers=n_hidden, seed=7,
                   backend=backend)
    X, Y = data(net, loss, seed=7)
    trace = net.trace(X, Y)
    grads = net.gradients(X, Y)
    assert len(trace) == len(net.layers)
    rtol, atol = 1e-10, 1e-13
    z_prev = X
    for layer, t in zip(net.layers, trace):
        assert set(t) == {"a", "z", "delta"}
        # a = z_prev @ W + b;  z = phi(a)
        np.testing.assert_allclose(t["a"], np.matmul(z_prev, layer.W) + layer.b,
                                   rtol=rtol, atol=atol)
        name, params = activation_spec(layer.activation)
        np.testing.assert_allclose(t["z"], ref_forward(name, t["a"], **params),
                                   rtol=rtol, atol=atol)
        z_prev = t["z"]
    # the last layer: the loss's gradient rule
    np.testing.assert_allclose(trace[-1]["delta"],
                               output_delta(net, trace[-1]["a"], trace[-1]["z"], Y),
                               rtol=1e-9, atol=atol)
    # delta_l = (delta_{l+1} @ W_{l+1}.T) * phi'_l(a_l)  (the softmax Jacobian for softmax)
    for l in range(len(net.layers) - 2, -1, -1):
        g = trace[l + 1]["delta"] @ net.layers[l + 1].W.T
        name, params = activation_spec(net.layers[l].activation)
        np.testing.assert_allclose(trace[l]["delta"],
                                   ref_backward(name, trace[l]["a"], g, **params),
                                   rtol=1e-9, atol=atol)
    # dW = z_prev.T @ delta;  db = delta.sum(0)
    z_prev = X
    for t, g in zip(trace, grads):
        np.testing.assert_allclose(g["W"], z_prev.T @ t["delta"], rtol=1e-10, atol=atol)
        np.testing.assert_allclose(g["b"], t["delta"].sum(axis=0), rtol=1e-10, atol=atol)
        z_prev = t["z"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_trace_delta_is_dL_da_by_central_differences(backend):
    # delta of each layer is dL/da: perturbing b_j of a layer moves every row's a_j at once,
    # so dL/db_j (by differences) must equal delta[:, j].sum()
    net = make_net("tanh", "softmax", "cross_entropy", n_hidden_layers=2, seed=3,
                   backend=backend)
    X, Y = data(net, "cross_entropy", seed=3)
    trace = net.trace(X, Y)
    num = numerical_gradients(net, X, Y)
    for t, g in zip(trace, num):
        np.testing.assert_allclose(t["delta"].sum(axis=0), g["b"], rtol=FD_RTOL, atol=FD_ATOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_trace_of_one_example_has_1d_entries(backend):
    net = make_net("sigmoid", "softmax", "cross_entropy", n_hidden_layers=2, backend=backend)
    x = np.array([0.3, -0.2, 1.0])
    single = net.trace(x, 1)
    batch = net.trace(x[None, :], np.array([[0.0, 1.0, 0.0]]))
    for s, b, layer in zip(single, batch, net.layers):
        for key in ("a", "z", "delta"):
            assert s[key].shape == (layer.n_out,)
            np.testing.assert_array_equal(s[key], b[key][0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_is_the_mean_over_examples(backend):
    # L of a batch is the mean of the per-example losses (each computed on its own)
    net = make_net("tanh", "sigmoid", "binary_cross_entropy", n_hidden_layers=2,
                   backend=backend)
    X, Y = data(net, "binary_cross_entropy")
    per_example = [net.loss(X[i], Y[i]) for i in range(N)]
    assert net.loss(X, Y) == pytest.approx(np.mean(per_example), rel=1e-12)


# -- larger shapes: the fused step's products go to BLAS (and a batch of one to the loops) -------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1, 2, 64])
@pytest.mark.parametrize("hidden, output, loss", [
    ("tanh", "softmax", "cross_entropy"),
    (lambda: nncore.Sigmoid(c=1.7, beta=0.6, trainable=True), "sigmoid", "mse"),
    (lambda: nncore.LeakyReLU(0.1), "sigmoid", "binary_cross_entropy"),
], ids=["tanh-softmax-ce", "trainable-sigmoid-mse", "leaky-sigmoid-bce"])
def test_gradients_of_a_larger_network_match_central_differences(hidden, output, loss, n,
                                                                 backend):
    net = make_net(hidden, output, loss, n_hidden_layers=2, sizes=(10, 24, 16), n_out=6,
                   seed=n, backend=backend)
    randomize_biases(net, n)
    rng = np.random.default_rng(1000 + n)
    X = rng.normal(size=(n, 10))
    Y = targets_for(loss, n, 6, rng)
    assert_off_kinks(net, X)
    assert_gradients_close(net.gradients(X, Y), numerical_gradients(net, X, Y))
