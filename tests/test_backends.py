"""The Cython backend against the NumPy backend (the oracle) and against NumPy itself: forward,
loss, gradients, trace, training steps and fit, in both dtypes; the epoch loop's order;
predict(out=...); single examples; integer labels; input conversions."""
import numpy as np
import pytest

import nncore
from nncore._engine import shuffled_index

from _helpers import (BACKEND_ATOL, BACKEND_RTOL, DTYPES, make_net, ref_network_forward,
                      targets_for)

CONFIGS = {  # id: (hidden, output, loss)
    "sigmoid-softmax-ce": ("sigmoid", "softmax", "cross_entropy"),
    "tanh-identity-mse": ("tanh", "identity", "mse"),
    "relu-sigmoid-bce": ("relu", "sigmoid", "binary_cross_entropy"),
    "leaky-scaled-sigmoid-bce": (lambda: nncore.LeakyReLU(0.1),
                                 lambda: nncore.Sigmoid(c=0.8, beta=1.5), "binary_cross_entropy"),
    "scaled-sigmoid-ce": (lambda: nncore.Sigmoid(c=1.7, beta=0.6), "sigmoid", "cross_entropy"),
    "trainable-sigmoid-mse": (lambda: nncore.Sigmoid(c=1.2, beta=0.8, trainable=True),
                              lambda: nncore.Sigmoid(c=1.5, beta=0.9, trainable=True), "mse"),
}


def pair(config, dtype, n_hidden=2, seed=0):
    """The same network twice (same seed, so the same initial weights): cython, numpy."""
    hidden, output, loss = CONFIGS[config]
    nets = [make_net(hidden, output, loss, n_hidden_layers=n_hidden, seed=seed,
                     dtype=np.dtype(dtype).name, backend=be) for be in ("cython", "numpy")]
    for a, b in zip(nets[0].layers, nets[1].layers):
        assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
    return nets


def batch(net, n=12, seed=0, kind="soft"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, net.layers[0].n_in))
    Y = targets_for(net.loss_name, n, net.layers[-1].n_out, rng, kind)
    return X, Y


def close(got, expected, dtype, factor=1.0):
    np.testing.assert_allclose(got, expected, rtol=BACKEND_RTOL[dtype] * factor,
                               atol=BACKEND_ATOL[dtype] * factor)


def assert_same_parameters(net_a, net_b, dtype):
    for la, lb in zip(net_a.layers, net_b.layers):
        close(la.W, lb.W, dtype)
        close(la.b, lb.b, dtype)
        if la.activation.name == "sigmoid":
            close(la.activation.c, lb.activation.c, dtype)
            close(la.activation.beta, lb.activation.beta, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_forward_and_loss_agree(config, dtype):
    cy, np_ = pair(config, dtype)
    X, Y = batch(cy)
    close(cy.forward(X), np_.forward(X), dtype)
    close(cy.predict(X), np_.predict(X), dtype)
    close(cy.loss(X, Y), np_.loss(X, Y), dtype)
    # and both agree with the network computed from its public parameters in float64
    expected = ref_network_forward(cy, X.astype(dtype))[-1][1]
    close(cy.forward(X), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_gradients_agree(config, dtype):
    cy, np_ = pair(config, dtype)
    X, Y = batch(cy)
    for gc, gn in zip(cy.gradients(X, Y), np_.gradients(X, Y)):
        assert set(gc) == set(gn)
        for key in gc:
            close(gc[key], gn[key], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_trace_agrees(config, dtype):
    cy, np_ = pair(config, dtype)
    X, Y = batch(cy)
    for tc, tn in zip(cy.trace(X, Y), np_.trace(X, Y)):
        for key in ("a", "z", "delta"):
            close(tc[key], tn[key], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_several_train_steps_agree(config, dtype):
    cy, np_ = pair(config, dtype)
    for step in range(6):
        X, Y = batch(cy, n=5 + step, seed=step)  # a different batch size each step
        close(cy.train_step(X, Y, 0.2), np_.train_step(X, Y, 0.2), dtype)
        assert_same_parameters(cy, np_, dtype)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_train_step_is_W_minus_lr_times_gradients(config, backend):
    # the Cython step folds the update into the weight-gradient gemm; it must equal
    # W - lr dW, b - lr db, c - lr dc, beta - lr dbeta
    hidden, output, loss = CONFIGS[config]
    net = make_net(hidden, output, loss, n_hidden_layers=2, backend=backend)
    X, Y = batch(net)
    grads = net.gradients(X, Y)
    expected = []
    for ly, g in zip(net.layers, grads):
        e = {"W": ly.W - 0.3 * g["W"], "b": ly.b - 0.3 * g["b"]}
        if "c" in g:
            e["c"] = ly.activation.c - 0.3 * g["c"]
            e["beta"] = ly.activation.beta - 0.3 * g["beta"]
        expected.append(e)
    net.train_step(X, Y, 0.3)
    for ly, e in zip(net.layers, expected):
        np.testing.assert_allclose(ly.W, e["W"], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ly.b, e["b"], rtol=1e-12, atol=1e-14)
        if "c" in e:
            assert ly.activation.c == pytest.approx(e["c"], rel=1e-12)
            assert ly.activation.beta == pytest.approx(e["beta"], rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("config", ["sigmoid-softmax-ce", "relu-sigmoid-bce",
                                    "trainable-sigmoid-mse"])
def test_fit_agrees(config, shuffle, dtype):
    cy, np_ = pair(config, dtype, seed=42)
    X, Y = batch(cy, n=23)
    kw = dict(epochs=4, lr=0.1, batch_size=5, shuffle=shuffle)
    close(cy.fit(X, Y, **kw), np_.fit(X, Y, **kw), dtype)
    assert_same_parameters(cy, np_, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_in", [31, 32, 70])
@pytest.mark.parametrize("targets", ["labels", "one-hot", "weighted"])
def test_fit_agrees_whether_rows_are_copied_by_loop_or_memcpy(n_in, targets, dtype):
    # the epoch gathers each batch's rows of X (a loop below 32 values, memcpy from 32): the
    # shuffled class-label case has a loop of its own, one-hot rows and sample weights the
    # general one
    nets = [nncore.Network([n_in, 6, 3], activation="relu", output="softmax",
                           loss="cross_entropy", dtype=dtype, seed=3, backend=be)
            for be in ("cython", "numpy")]
    rng = np.random.default_rng(n_in)
    X = rng.normal(size=(23, n_in)).astype(dtype)
    y = rng.integers(0, 3, size=23)
    Y = y if targets == "labels" else np.eye(3, dtype=dtype)[y]
    kw = dict(epochs=3, lr=0.1, batch_size=5, shuffle=True)
    if targets == "weighted":
        kw["sample_weight"] = rng.random(23)
    losses = [net.fit(X, Y, **kw) for net in nets]
    close(losses[0], losses[1], dtype)
    assert_same_parameters(nets[0], nets[1], dtype)


# -- the epoch loop: order of examples and the reported loss -------------------------------------

def initial_parameters(sizes, activations, seed, dtype):
    """W and b as DESIGN/layers.py describe their initialisation, replayed from the seed:
    W ~ U(-r, r), r = sqrt(6 / n_in) for relu and leaky relu (He), sqrt(6 / (n_in + n_out))
    otherwise (Glorot); b = 0. Returns (params, rng after initialisation)."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out, act in zip(sizes[:-1], sizes[1:], activations):
        r = np.sqrt(6.0 / n_in) if act in ("relu", "leaky_relu") else np.sqrt(6.0 / (n_in + n_out))
        W = rng.uniform(-r, r, size=(n_in, n_out)).astype(dtype)
        params.append((W, np.zeros(n_out, dtype=dtype)))
    return params, rng


@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_are_initialised_from_the_seed(dtype):
    sizes, acts = [5, 7, 6, 3], ["relu", "tanh", "softmax"]
    net = nncore.Network([nncore.Dense(sizes[i], sizes[i + 1], acts[i]) for i in range(3)],
                         loss="cross_entropy", seed=123, dtype=np.dtype(dtype).name)
    expected, _ = initial_parameters(sizes, acts, 123, dtype)
    for ly, (W, b) in zip(net.layers, expected):
        assert ly.W.dtype == dtype
        np.testing.assert_array_equal(ly.W, W)
        np.testing.assert_array_equal(ly.b, b)


def test_same_seed_same_weights_different_seed_different_weights():
    a = nncore.Network([4, 5, 2], loss="mse", seed=9)
    b = nncore.Network([4, 5, 2], loss="mse", seed=9)
    c = nncore.Network([4, 5, 2], loss="mse", seed=10)
    assert np.array_equal(a.layers[0].W, b.layers[0].W)
    assert not np.array_equal(a.layers[0].W, c.layers[0].W)


def manual_epochs(net, X, Y, epochs, lr, batch_size, orders):
    """Mini-batch steps by train_step over the given example orders; per epoch, the mean of
    the step losses weighted by batch size."""
    losses = []
    for order in orders[:epochs]:
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            total += net.train_step(X[rows], Y[rows], lr) * len(rows)
        losses.append(total / len(order))
    return losses


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, batch_size", [(23, 5), (20, 4), (7, 32), (9, 1)])
def test_fit_without_shuffle_is_a_loop_of_train_steps(n, batch_size, dtype, backend):
    name = np.dtype(dtype).name
    fitted = nncore.Network([4, 6, 3], activation="tanh", loss="cross_entropy", seed=1,
                            dtype=name, backend=backend)
    stepped = nncore.Network([4, 6, 3], activation="tanh", loss="cross_entropy", seed=1,
                             dtype=name, backend=backend)
    X, Y = batch(fitted, n=n, seed=n)
    Xd, Yd = X.astype(dtype), Y.astype(dtype)
    losses = fitted.fit(X, Y, epochs=3, lr=0.2, batch_size=batch_size, shuffle=False)
    expected = manual_epochs(stepped, Xd, Yd, 3, 0.2, batch_size, [np.arange(n)] * 3)
    close(losses, expected, dtype, factor=0.1)
    assert_same_parameters(fitted, stepped, dtype)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_with_shuffle_visits_examples_in_shuffled_index_order(dtype, backend):
    # the network draws each epoch's seed as int(rng.integers(2**63)) from its generator
    # (np.random.default_rng(seed)) after initialising the weights
    sizes, acts, seed, n, bs, epochs = [4, 6, 3], ["sigmoid", "softmax"], 77, 19, 4, 3
    name = np.dtype(dtype).name
    fitted = nncore.Network(sizes, activation="sigmoid", output="softmax",
                            loss="cross_entropy", seed=seed, dtype=name, backend=backend)
    stepped = nncore.Network(sizes, activation="sigmoid", output="softmax",
                             loss="cross_entropy", seed=seed, dtype=name, backend=backend)
    _, rng = initial_parameters(sizes, acts, seed, dtype)
    orders = [shuffled_index(n, int(rng.integers(2**63))) for _ in range(epochs)]
    X, Y = batch(fitted, n=n, seed=5)
    Xd, Yd = X.astype(dtype), Y.astype(dtype)
    losses = fitted.fit(X, Y, epochs=epochs, lr=0.3, batch_size=bs, shuffle=True)
    expected = manual_epochs(stepped, Xd, Yd, epochs, 0.3, bs, orders)
    close(losses, expected, dtype, factor=0.1)
    assert_same_parameters(fitted, stepped, dtype)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_fit_with_shuffle_differs_from_fit_without(backend):
    a = nncore.Network([4, 6, 3], loss="cross_entropy", seed=3, backend=backend)
    b = nncore.Network([4, 6, 3], loss="cross_entropy", seed=3, backend=backend)
    X, Y = batch(a, n=30)
    a.fit(X, Y, epochs=2, lr=0.5, batch_size=4, shuffle=True)
    b.fit(X, Y, epochs=2, lr=0.5, batch_size=4, shuffle=False)
    assert not np.allclose(a.layers[0].W, b.layers[0].W)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_fit_callback_gets_each_epoch_and_can_stop(backend):
    net = nncore.Network([4, 6, 3], loss="cross_entropy", seed=3, backend=backend)
    X, Y = batch(net, n=30)
    seen = []
    losses = net.fit(X, Y, epochs=10, lr=0.1, batch_size=8,
                     callback=lambda epoch, loss: seen.append((epoch, loss)) or epoch == 2)
    assert [e for e, _ in seen] == [0, 1, 2]
    assert losses == [loss for _, loss in seen]
    assert net.fit(X, Y, epochs=0, lr=0.1) == []


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_fit_reduces_the_loss(backend):
    net = nncore.Network([3, 8, 1], activation="tanh", loss="mse", seed=0, backend=backend)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(64, 3))
    Y = np.sin(X.sum(axis=1, keepdims=True))
    before = net.loss(X, Y)
    losses = net.fit(X, Y, epochs=50, lr=0.1, batch_size=8)
    assert len(losses) == 50
    assert losses[-1] < losses[0] and net.loss(X, Y) < 0.25 * before


# -- predict(out=...) ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_writes_into_out_and_returns_it(dtype, backend):
    net = nncore.Network([4, 5, 3], loss="cross_entropy", seed=0,
                         dtype=np.dtype(dtype).name, backend=backend)
    X, _ = batch(net, n=7)
    out = np.full((7, 3), np.nan, dtype=dtype)
    result = net.predict(X, out=out)
    assert result is out
    np.testing.assert_array_equal(out, net.predict(X))
    # one example: out of shape (n_out,); the same row of a batch of 7 may differ in the last
    # bit (BLAS may sum in another order for another number of rows)
    out1 = np.full(3, np.nan, dtype=dtype)
    assert net.predict(X[2], out=out1) is out1
    close(out1, net.predict(X)[2], dtype)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_predict_on_more_rows_than_a_chunk_agrees_with_numpy(backend):
    # predict runs in chunks of rows: check a size that is not a multiple of any chunk
    net = nncore.Network([6, 9, 4], activation="relu", loss="cross_entropy", seed=2,
                         backend=backend)
    X = np.random.default_rng(0).normal(size=(2500, 6))
    expected = ref_network_forward(net, X)[-1][1]
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-12, atol=1e-14)
    out = np.empty((2500, 4))
    net.predict(X, out=out)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    # and a small batch afterwards still uses the right rows
    np.testing.assert_allclose(net.predict(X[:3]), expected[:3], rtol=1e-12, atol=1e-14)


# -- the network's dtype -----------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["identity", "tanh", "relu", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cython_outputs_are_in_the_network_dtype(dtype, activation):
    net = nncore.Network([3, 4, 2], activation=activation, output="softmax",
                         loss="cross_entropy", seed=0, dtype=np.dtype(dtype).name)
    X, Y = batch(net, n=4)
    assert net.forward(X).dtype == dtype
    assert all(g["W"].dtype == dtype and g["b"].dtype == dtype for g in net.gradients(X, Y))
    assert all(v.dtype == dtype for t in net.trace(X, Y) for v in t.values())


@pytest.mark.parametrize("activation", [
    "identity", "tanh", "relu",
    "sigmoid", "leaky_relu",
])
def test_numpy_backend_outputs_are_in_the_network_dtype_float32(activation):
    net = nncore.Network([3, 4, 2], activation=activation, output="softmax",
                         loss="cross_entropy", seed=0, dtype="float32", backend="numpy")
    X, Y = batch(net, n=4)
    assert net.forward(X).dtype == np.float32
    assert all(g["W"].dtype == np.float32 for g in net.gradients(X, Y))
    assert all(v.dtype == np.float32 for t in net.trace(X, Y) for v in t.values())


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_parameters_keep_their_dtype_and_identity_through_training(backend):
    net = nncore.Network([3, 4, 2], activation="sigmoid", loss="cross_entropy", seed=0,
                         dtype="float32", backend=backend)
    ids = [(id(ly.W), id(ly.b)) for ly in net.layers]
    X, Y = batch(net, n=10)
    net.fit(X, Y, epochs=2, lr=0.1, batch_size=3)
    net.train_step(X, Y, 0.1)
    assert ids == [(id(ly.W), id(ly.b)) for ly in net.layers]
    assert all(ly.W.dtype == np.float32 and ly.b.dtype == np.float32 for ly in net.layers)


# -- one example, integer labels, input conversions -------------------------------------------

@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_single_example_equals_a_batch_of_one(backend):
    net = nncore.Network([3, 5, 4], activation="tanh", loss="cross_entropy", seed=1,
                         backend=backend)
    twin = nncore.Network([3, 5, 4], activation="tanh", loss="cross_entropy", seed=1,
                          backend=backend)
    x, y = np.array([0.2, -1.0, 0.7]), np.array([0.0, 0.0, 1.0, 0.0])
    z = net.forward(x)
    assert z.shape == (4,)
    np.testing.assert_array_equal(z, net.forward(x[None])[0])
    np.testing.assert_array_equal(net.predict(x), z)
    assert net.loss(x, y) == net.loss(x[None], y[None])
    assert net.loss(x, 2) == net.loss(x, y)  # one integer label
    for g1, gb in zip(net.gradients(x, y), net.gradients(x[None], y[None])):
        np.testing.assert_array_equal(g1["W"], gb["W"])
        np.testing.assert_array_equal(g1["b"], gb["b"])
    assert net.train_step(x, y, 0.1) == twin.train_step(x[None], y[None], 0.1)
    for a, b in zip(net.layers, twin.layers):
        np.testing.assert_array_equal(a.W, b.W)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_single_output_network_takes_a_column_or_a_vector(backend):
    net = nncore.Network([2, 3, 1], activation="tanh", output="sigmoid",
                         loss="binary_cross_entropy", seed=0, backend=backend)
    X = np.array([[0.0, 1.0], [1.0, 1.0], [0.5, -0.5]])
    y = np.array([1.0, 0.0, 0.5])
    assert net.loss(X, y) == net.loss(X, y[:, None])
    assert net.loss(X[0], 1.0) == net.loss(X[:1], [[1.0]])


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "binary_cross_entropy"])
def test_integer_labels_equal_one_hot_rows(loss, backend):
    output = {"cross_entropy": "softmax", "mse": "identity", "binary_cross_entropy": "sigmoid"}
    a = nncore.Network([4, 5, 3], activation="tanh", output=output[loss], loss=loss, seed=6,
                       backend=backend)
    b = nncore.Network([4, 5, 3], activation="tanh", output=output[loss], loss=loss, seed=6,
                       backend=backend)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 4))
    labels = rng.integers(3, size=10)
    onehot = np.eye(3)[labels]
    assert a.loss(X, labels) == b.loss(X, onehot)
    for ga, gb in zip(a.gradients(X, labels), b.gradients(X, onehot)):
        np.testing.assert_array_equal(ga["W"], gb["W"])
    for dt in (np.int8, np.int32, np.uint16, np.int64):
        assert a.loss(X, labels.astype(dt)) == b.loss(X, onehot)
    assert a.fit(X, labels, epochs=2, lr=0.1, batch_size=3) == \
        b.fit(X, onehot, epochs=2, lr=0.1, batch_size=3)
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.W, lb.W)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("convert", ["list", "fortran", "strided", "big_endian", "float32",
                                     "int"])
def test_inputs_in_other_layouts_give_the_same_results(convert, backend):
    net = nncore.Network([3, 4, 2], activation="sigmoid", loss="cross_entropy", seed=0,
                         backend=backend)
    X = np.array([[1.0, 2.0, -1.0], [0.0, 3.0, 2.0], [-2.0, 1.0, 1.0]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    if convert == "list":
        Xc, Yc = X.tolist(), Y.tolist()
    elif convert == "fortran":
        Xc, Yc = np.asfortranarray(X), np.asfortranarray(Y)
    elif convert == "strided":
        Xc = np.repeat(X, 2, axis=1)[:, ::2]
        Yc = np.repeat(Y, 2, axis=0)[::2]
    elif convert == "big_endian":
        Xc, Yc = X.astype(">f8"), Y.astype(">f8")
    elif convert == "float32":
        Xc, Yc = X.astype(np.float32), Y.astype(np.float32)
    else:
        Xc, Yc = X.astype(np.int64), np.eye(2)[[0, 1, 1]].astype(np.int64)
        Y = np.eye(2)[[0, 1, 1]]
    np.testing.assert_array_equal(net.predict(Xc), net.predict(X))
    assert net.loss(Xc, Yc) == net.loss(X, Y)
    for gc, g in zip(net.gradients(Xc, Yc), net.gradients(X, Y)):
        np.testing.assert_array_equal(gc["W"], g["W"])


# -- parameters and activation objects shared with the core -----------------------------------

@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_assigned_and_in_place_modified_weights_are_used(backend):
    net = nncore.Network([3, 4, 2], activation="tanh", loss="mse", seed=0, backend=backend)
    X = np.random.default_rng(0).normal(size=(5, 3))
    rng = np.random.default_rng(1)
    net.layers[0].W = rng.normal(size=(3, 4))
    net.layers[1].b = [0.5, -0.5]
    net.layers[1].W[2, 1] = 7.0
    np.testing.assert_allclose(net.forward(X), ref_network_forward(net, X)[-1][1], rtol=1e-13)
    assert net.layers[1].W[2, 1] == 7.0


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_activation_objects_are_the_ones_passed_and_their_parameters_are_used(backend):
    hidden, out = nncore.Sigmoid(c=1.7, beta=0.6), nncore.LeakyReLU(delta=0.2)
    net = nncore.Network([nncore.Dense(3, 4, hidden), nncore.Dense(4, 2, out)], loss="mse",
                         seed=0, backend=backend)
    assert net.layers[0].activation is hidden and net.layers[1].activation is out
    X = np.random.default_rng(0).normal(size=(6, 3))
    hidden.c, hidden.beta, out.delta = 2.5, -1.1, 0.05
    assert (net.layers[0].activation.c, net.layers[0].activation.beta) == (2.5, -1.1)
    np.testing.assert_allclose(net.forward(X), ref_network_forward(net, X)[-1][1], rtol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_trainable_sigmoid_parameters_are_updated_identically_in_both_backends(dtype):
    cy, np_ = pair("trainable-sigmoid-mse", dtype, seed=4)
    c0 = [ly.activation.c for ly in cy.layers]
    X, Y = batch(cy, n=9)
    for _ in range(3):
        cy.train_step(X, Y, 0.1)
        np_.train_step(X, Y, 0.1)
    assert [ly.activation.c for ly in cy.layers] != c0
    assert_same_parameters(cy, np_, dtype)
    kw = dict(epochs=2, lr=0.05, batch_size=4)
    close(cy.fit(X, Y, **kw), np_.fit(X, Y, **kw), dtype)
    assert_same_parameters(cy, np_, dtype)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_non_trainable_sigmoid_parameters_stay_fixed(backend):
    net = nncore.Network([nncore.Dense(3, 4, nncore.Sigmoid(c=1.7, beta=0.6)),
                          nncore.Dense(4, 2)], loss="mse", seed=0, backend=backend)
    X, Y = batch(net)
    net.fit(X, Y, epochs=2, lr=0.1, batch_size=4)
    assert (net.layers[0].activation.c, net.layers[0].activation.beta) == (1.7, 0.6)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_changing_a_sigmoid_outputs_c_changes_its_delta(backend):
    # with c = beta = 1 the sigmoid + BCE output has delta = (z - y) / N; after c is set to
    # 0.8 delta must follow the new c (checked against dL/dz * phi'(a) for c = 0.8)
    out = nncore.Sigmoid()
    net = nncore.Network([nncore.Dense(3, 2, out)], loss="binary_cross_entropy", seed=0,
                         backend=backend)
    X, Y = batch(net, n=4)
    out.c = 0.8
    t = net.trace(X, Y)[0]
    z = t["z"]
    g = (-Y / z + (1 - Y) / (1 - z)) / 4
    np.testing.assert_allclose(t["delta"], g * z * (1 - z / 0.8), rtol=1e-10)


# -- saturated outputs: the cross-entropies come from the logits -------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss", [
    (lambda: nncore.Sigmoid(beta=1.0000001), "binary_cross_entropy"),
    (lambda: nncore.Sigmoid(c=0.5, beta=2.0), "binary_cross_entropy"),
    (lambda: nncore.Sigmoid(), "cross_entropy"),
], ids=["sigmoid-beta-bce", "scaled-sigmoid-bce", "sigmoid-ce"])
def test_a_saturated_wrong_output_keeps_its_loss_and_gradient(output, loss, dtype):
    # a = 50, y = 0 (binary) or a = -50, y = 1: confidently wrong, sigmoid saturated in float32
    # and close to it in float64; the loss must grow like |a| and the gradient stay ~beta
    a = 50.0 if loss == "binary_cross_entropy" else -50.0
    y = 0.0 if loss == "binary_cross_entropy" else 1.0
    for backend in ("cython", "numpy"):
        act = output()
        net = nncore.Network([nncore.Dense(1, 1, act)], loss=loss,
                             dtype=np.dtype(dtype).name, backend=backend)
        net.layers[0].W = [[1.0]]
        X, Y = np.array([[a]]), np.array([[y]])
        c, beta = act.c, act.beta
        if loss == "binary_cross_entropy":
            # -log(1 - c s) -> softplus(beta a) for c = 1, -log(1 - c) for c < 1
            expected = beta * a if c == 1 else -np.log1p(-c)
        else:
            expected = -np.log(c) + np.logaddexp(0, -beta * a)  # -log(c s)
        close(net.loss(X, Y), expected, dtype)
        # dL/dW = x * dL/da, dL/da in float64 from the closed forms (s = sigmoid(beta a))
        s = 1 / (1 + np.exp(-beta * a))
        if loss == "cross_entropy":
            delta = -beta * y * (1 - s)
        elif c == 1:
            delta = beta * (s - y)
        else:
            delta = beta * (1 - s) * ((1 - y) * c * s / (1 - c * s) - y)
        close(net.gradients(X, Y)[0]["W"][0, 0], a * delta, dtype)


# -- larger shapes: the fused step's products go to BLAS ---------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden, output, loss", [
    ("relu", "softmax", "cross_entropy"),
    (lambda: nncore.Sigmoid(c=1.3, beta=0.7, trainable=True), "identity", "mse"),
    ("tanh", "sigmoid", "binary_cross_entropy"),
], ids=["relu-softmax-ce", "trainable-sigmoid-mse", "tanh-sigmoid-bce"])
def test_a_larger_network_agrees_between_backends(hidden, output, loss, dtype):
    name = np.dtype(dtype).name
    cy, np_ = [make_net(hidden, output, loss, n_hidden_layers=2, sizes=(20, 48, 32), n_out=10,
                        seed=8, dtype=name, backend=be) for be in ("cython", "numpy")]
    rng = np.random.default_rng(8)
    X = rng.normal(size=(100, 20))
    Y = targets_for(loss, 100, 10, rng)
    close(cy.forward(X), np_.forward(X), dtype)
    for gc, gn in zip(cy.gradients(X, Y), np_.gradients(X, Y)):
        for key in gc:
            close(gc[key], gn[key], dtype)
    for tc, tn in zip(cy.trace(X, Y), np_.trace(X, Y)):
        for key in ("a", "z", "delta"):
            close(tc[key], tn[key], dtype)
    for _ in range(3):
        close(cy.train_step(X, Y, 0.05), np_.train_step(X, Y, 0.05), dtype)
    assert_same_parameters(cy, np_, dtype)
    kw = dict(epochs=3, lr=0.05, batch_size=32, shuffle=True)
    close(cy.fit(X, Y, **kw), np_.fit(X, Y, **kw), dtype)
    assert_same_parameters(cy, np_, dtype)


# -- small API pieces ------------------------------------------------------------------------

def test_sizes_lists_the_nodes_per_layer_inputs_first():
    assert nncore.Network([3, 4, 5, 2], loss="mse").sizes == [3, 4, 5, 2]
    net = nncore.Network([nncore.Dense(6, 2, "tanh"), nncore.Dense(2, 1)], loss="mse")
    assert net.sizes == [6, 2, 1]


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("activation, bound", [("tanh", np.sqrt(6 / (40 + 30))),
                                               ("relu", np.sqrt(6 / 40))])
def test_reset_parameters_redraws_in_place_within_the_documented_bound(activation, bound,
                                                                       backend):
    net = nncore.Network([nncore.Dense(40, 30, activation), nncore.Dense(30, 2)], loss="mse",
                         seed=0, backend=backend)
    layer = net.layers[0]
    W_obj = layer.W
    layer.b = np.ones(30)
    old = layer.W.copy()
    layer.reset_parameters(5)
    assert layer.W is W_obj
    assert not np.array_equal(layer.W, old)
    assert np.abs(layer.W).max() <= bound and np.abs(layer.W).max() > 0.9 * bound
    assert np.array_equal(layer.b, np.zeros(30))
    X = np.random.default_rng(0).normal(size=(4, 40))
    np.testing.assert_allclose(net.forward(X), ref_network_forward(net, X)[-1][1], rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_fit_reports_divergence(backend):
    net = nncore.Network([3, 8, 2], activation="identity", loss="mse", seed=0, backend=backend)
    X = np.random.default_rng(0).normal(size=(16, 3)) * 10
    with np.errstate(all="ignore"):
        with pytest.raises(FloatingPointError, match="diverged"):
            net.fit(X, np.zeros((16, 2)), epochs=50, lr=1e6, batch_size=4)


# -- calls on more rows than a chunk: the NumPy backend works chunk by chunk as the core does --

CHUNKED = {  # id: (hidden, output, loss); the chunked losses each have their own path
    "softmax-ce": ("relu", "softmax", "cross_entropy"),
    "identity-mse": ("tanh", "identity", "mse"),
    "sigmoid-bce": ("relu", "sigmoid", "binary_cross_entropy"),
    "trainable-sigmoid-mse": (lambda: nncore.Sigmoid(c=1.2, beta=0.8, trainable=True),
                              "sigmoid", "mse"),
}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", list(CHUNKED))
def test_numpy_backend_in_chunks_agrees_with_one_pass_and_with_the_core(config, dtype,
                                                                         weighted):
    # 2500 rows: two whole chunks of 1024 and a partial one
    hidden, output, loss = CHUNKED[config]
    nets = [make_net(hidden, output, loss, seed=3, dtype=np.dtype(dtype).name, backend=be)
            for be in ("cython", "numpy", "numpy")]
    one_pass = nets[2]._backend
    one_pass.keep_rows = 10**6     # the oracle's own single pass over all rows
    X, Y = batch(nets[0], n=2500, seed=4)
    if loss == "cross_entropy":  # integer labels: each chunk's are checked and used as they are
        Y = np.random.default_rng(6).integers(0, 3, 2500)
    w = np.random.default_rng(5).random(2500) if weighted else None
    assert nets[1]._backend.chunk_rows(2500) == 1024 and one_pass.chunk_rows(2500) == 2500
    losses = [net.loss(X, Y, sample_weight=w) for net in nets]
    grads = [net.gradients(X, Y, sample_weight=w) for net in nets]
    # sums over the rows in another order: within the backends' tolerance
    close(losses[1], losses[2], dtype)
    close(losses[1], losses[0], dtype)
    for gc, gn, g1 in zip(*grads):
        for key in gn:
            close(gn[key], g1[key], dtype)
            close(gn[key], gc[key], dtype)
    # row by row: the same values as one pass (delta is scaled by the call's row count)
    for tn, t1 in zip(nets[1].trace(X, Y), nets[2].trace(X, Y)):
        for key in ("a", "z", "delta"):
            close(tn[key], t1[key], dtype, factor=0.01)
    close(nets[1].predict(X), nets[2].predict(X), dtype, factor=0.01)


@pytest.mark.parametrize("x_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("where", [0, 1023, 1024, 2499])
def test_chunked_errors_name_the_whole_arrays(where, backend, x_dtype):
    # a bad value in any chunk (first and last index, either side of a chunk's edge) is
    # reported at its index in X, not in the chunk; a bad label likewise (X of another dtype
    # than the network's is converted a chunk at a time)
    net = nncore.Network([4, 5, 3], loss="cross_entropy", seed=0, backend=backend)
    X = np.random.default_rng(0).normal(size=(2500, 4)).astype(x_dtype)
    y = np.zeros(2500, dtype=np.int64)
    X[where, 3] = np.nan
    for call in (lambda: net.predict(X), lambda: net.loss(X, y), lambda: net.trace(X, y),
                 lambda: net.gradients(X, y)):
        with pytest.raises(ValueError, match=rf"index \({where}, 3\)"):
            call()
    X[where, 3] = 0
    y[where] = 3
    with pytest.raises(ValueError, match="class labels must lie in"):
        net.loss(X, y)
    with pytest.raises(ValueError, match=r"expected \(2500, 3\)"):
        net.loss(X, np.zeros((2500, 2)))


def _traced(call):
    """(peak, kept) bytes traced while call() ran and still held after it, besides its result."""
    import tracemalloc
    tracemalloc.start()
    try:
        result = call()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak, kept


@pytest.mark.parametrize("call", ["predict", "loss", "gradients", "trace", "evaluate"])
@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_reading_calls_on_many_rows_need_memory_of_a_chunk_and_keep_none(call, backend):
    # 10,000 rows of 50-256-10 in float64: one pass would need 10000 * 256 * 8 bytes = 20 MB
    # per hidden array (the NumPy backend's single pass peaked at 124 MB); in chunks of 1024
    # rows the work needs a few MB, plus the result (trace: its 10000-row arrays). X comes as
    # float32 and the labels as int32 (on a sigmoid output they become one-hot rows): both are
    # converted chunk by chunk too. Nothing sized by the call is kept after it, beyond the
    # result (the core's small pool holds a chunk's workspace already before the call).
    n = 10_000
    net = nncore.Network([50, 256, 10], output="sigmoid", loss="binary_cross_entropy",
                         seed=0, backend=backend)
    rng = np.random.default_rng(0)
    X = rng.random((n, 50), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    calls = {"predict": lambda: net.predict(X), "loss": lambda: net.loss(X, y),
             "gradients": lambda: net.gradients(X, y), "trace": lambda: net.trace(X, y),
             "evaluate": lambda: net.evaluate(X, y)}
    X_small, y_small = X, y
    X, y = X[:2000], y[:2000]
    calls[call]()          # the core's pool now holds its chunk's workspace, as after any call
    X, y = X_small, y_small
    result_bytes = {"predict": n * 10 * 8, "trace": 3 * n * (256 + 10) * 8,
                    "gradients": (50 * 256 + 256 + 256 * 10 + 10) * 8}.get(call, 0)
    peak, kept = _traced(calls[call])
    assert kept < result_bytes + 2**20, f"{call} kept {kept / 2**20:.1f} MB"
    assert peak < result_bytes + 24 * 2**20, f"{call} peaked at {peak / 2**20:.0f} MB"
