"""Optimizers (SGD with momentum / Nesterov / weight decay, Adam, AdamW, RMSprop): the core
against the NumPy backend step by step, hand-computed first steps, PyTorch's trajectories,
weight decay on W only, binding and fresh state, bad hyper-parameters."""
import math

import numpy as np
import pytest

import nncore

from _helpers import DTYPES, make_net
from test_backends import CONFIGS, assert_same_parameters, batch, close

OPTIMIZERS = {  # id: factory
    "sgd-momentum": lambda wd: nncore.SGD(momentum=0.9, weight_decay=wd),
    "sgd-nesterov": lambda wd: nncore.SGD(momentum=0.8, nesterov=True, weight_decay=wd),
    "sgd-decay-only": lambda wd: nncore.SGD(weight_decay=wd),
    "adam": lambda wd: nncore.Adam(weight_decay=wd),
    "adam-amsgrad": lambda wd: nncore.Adam(beta1=0.8, beta2=0.99, weight_decay=wd,
                                           amsgrad=True),
    "adamw": lambda wd: nncore.AdamW(weight_decay=wd),
    "adamw-amsgrad": lambda wd: nncore.AdamW(weight_decay=wd, amsgrad=True),
    "rmsprop": lambda wd: nncore.RMSprop(weight_decay=wd),
    "rmsprop-momentum": lambda wd: nncore.RMSprop(alpha=0.9, momentum=0.7, weight_decay=wd),
}


def opt_pair(config, opt, wd, dtype, seed=0):
    hidden, output, loss = CONFIGS[config]
    nets = []
    for backend in ("cython", "numpy"):
        net = make_net(hidden, output, loss, n_hidden_layers=2, seed=seed,
                       dtype=np.dtype(dtype).name, backend=backend)
        net.optimizer = OPTIMIZERS[opt](wd)
        nets.append(net)
    return nets


def assert_same_state(a, b, dtype):
    assert a.optimizer.step_count == b.optimizer.step_count
    for la, lb in zip(a.optimizer.state, b.optimizer.state):
        assert la.keys() == lb.keys()
        for key in la:
            assert la[key].keys() == lb[key].keys()
            for name in la[key]:
                close(la[key][name], lb[key][name], dtype)


# -- the core against the NumPy backend ----------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("config", ["sigmoid-softmax-ce", "trainable-sigmoid-mse"])
def test_train_steps_agree_with_numpy(config, opt, wd, dtype):
    cy, np_ = opt_pair(config, opt, wd, dtype)
    for step in range(5):
        X, Y = batch(cy, n=4 + step, seed=step)
        close(cy.train_step(X, Y, 0.05), np_.train_step(X, Y, 0.05), dtype)
        assert_same_parameters(cy, np_, dtype)
        assert_same_state(cy, np_, dtype)
    assert cy.optimizer.step_count == 5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opt", ["sgd-nesterov", "adam-amsgrad", "adamw", "rmsprop-momentum"])
def test_fit_agrees_with_numpy(opt, dtype):
    cy, np_ = opt_pair("relu-sigmoid-bce", opt, 0.01, dtype, seed=3)
    X, Y = batch(cy, n=23)
    kw = dict(epochs=3, lr=0.02, batch_size=5, shuffle=True)
    close(cy.fit(X, Y, **kw), np_.fit(X, Y, **kw), dtype)
    assert_same_parameters(cy, np_, dtype)
    assert_same_state(cy, np_, dtype)
    assert cy.optimizer.step_count == 3 * 5


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_plain_sgd_counts_steps_and_keeps_no_state(backend):
    net = make_net("tanh", "identity", "mse", backend=backend)
    X, Y = batch(net)
    assert isinstance(net.optimizer, nncore.SGD) and net.optimizer.step_count == 0
    net.train_step(X, Y, 0.1)
    net.fit(X, Y, epochs=2, lr=0.1, batch_size=6)
    assert net.optimizer.step_count == 5
    assert all(entry == {} for entry in net.optimizer.state)


# -- hand-computed first two steps ----------------------------------------------------------------
#
# One weight, one bias, identity output, mse, one example x = 2, y = 1, W = 0.5, b = 0:
# a = W x + b, L = (a - y)^2 / 2, dW = (a - y) x, db = a - y. Step 1: a = 1, so dW = 0 and
# db = 0 ... too easy; use y = 0: a = 1, dW = 2, db = 1.

def scalar_net(opt, backend, dtype="float64"):
    net = nncore.Network([nncore.Dense(1, 1, "identity")], loss="mse", backend=backend,
                         dtype=dtype, optimizer=opt)
    net.layers[0].W = [[0.5]]
    net.layers[0].b = [0.0]
    return net


def two_steps(net, lr):
    out = []
    for _ in range(2):
        net.train_step([[2.0]], [[0.0]], lr)
        out.append((float(net.layers[0].W[0, 0]), float(net.layers[0].b[0])))
    return out


HAND = {
    # SGD momentum 0.9, wd 0.1, lr 0.1.
    # step 1: gW = 2 + 0.1*0.5 = 2.05, vW = 2.05, W = 0.5 - 0.205 = 0.295; gb = 1, b = -0.1
    # step 2: a = 0.59 - 0.1 = 0.49, dW = 0.98, gW = 0.98 + 0.0295 = 1.0095,
    #         vW = 1.845 + 1.0095 = 2.8545, W = 0.295 - 0.28545 = 0.00955;
    #         db = 0.49, vb = 0.9 + 0.49 = 1.39, b = -0.1 - 0.139 = -0.239
    "sgd": (lambda: nncore.SGD(momentum=0.9, weight_decay=0.1),
            [(0.295, -0.1), (0.00955, -0.239)]),
    # Nesterov: step = g + 0.9 v. step 1: W = 0.5 - 0.1 * 2.05 * 1.9 = 0.1105,
    # b = -0.19. step 2: a = 0.221 - 0.19 = 0.031, dW = 0.062, gW = 0.062 + 0.01105 = 0.07305,
    # vW = 1.845 + 0.07305 = 1.91805, W = 0.1105 - 0.1 * (0.07305 + 1.726245) = -0.0694295;
    # db = 0.031, vb = 0.931, b = -0.19 - 0.1 * (0.031 + 0.8379) = -0.27689
    "nesterov": (lambda: nncore.SGD(momentum=0.9, nesterov=True, weight_decay=0.1),
                 [(0.1105, -0.19), (-0.0694295, -0.27689)]),
    # RMSprop alpha 0.9, lr 0.01: v = 0.1 g^2, step 1: W = 0.5 - 0.01 * 2 / (sqrt(0.4) + eps),
    # b = -0.01 / (sqrt(0.1) + eps); step 2 from those values (written out in rmsprop_hand).
    "rmsprop": (lambda: nncore.RMSprop(alpha=0.9), None),
}


def rmsprop_hand():
    eps = 1e-8
    W = 0.5 - 0.01 * 2 / (math.sqrt(0.4) + eps)
    b = -0.01 / (math.sqrt(0.1) + eps)
    a = 2 * W + b
    vW = 0.9 * 0.4 + 0.1 * (2 * a) ** 2
    vb = 0.9 * 0.1 + 0.1 * a ** 2
    return [(0.5 - 0.01 * 2 / (math.sqrt(0.4) + eps), -0.01 / (math.sqrt(0.1) + eps)),
            (W - 0.01 * 2 * a / (math.sqrt(vW) + eps), b - 0.01 * a / (math.sqrt(vb) + eps))]


def adam_hand(shrink):
    # lr 0.1. Step 1 moves every parameter by lr * g / (|g| + eps) (m_hat = g, v_hat = g^2):
    # g = (2, 1), so W = 0.5 - 0.1 * 2 / (2 + eps), b = -0.1 / (1 + eps). AdamW with decay wd
    # first multiplies W by shrink = 1 - lr * wd (g is unchanged: decoupled). Step 2:
    # m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2, m_hat = m / 0.19, v_hat = v / 0.001999.
    W = 0.5 * shrink - 0.1 * 2 / (2 + 1e-8)
    b = -0.1 / (1 + 1e-8)
    a = 2 * W + b
    gW, gb = 2 * a, a
    mW, vW = 0.9 * 0.2 + 0.1 * gW, 0.999 * 0.004 + 0.001 * gW ** 2
    mb, vb = 0.9 * 0.1 + 0.1 * gb, 0.999 * 0.001 + 0.001 * gb ** 2
    W2 = W * shrink - 0.1 * (mW / 0.19) / (math.sqrt(vW / 0.001999) + 1e-8)
    b2 = b - 0.1 * (mb / 0.19) / (math.sqrt(vb / 0.001999) + 1e-8)
    return [(W, b), (W2, b2)]


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("name", list(HAND) + ["adam", "adamw"])
def test_first_two_steps_by_hand(name, backend):
    if name == "adamw":
        opt, expected, lr = nncore.AdamW(weight_decay=0.5), adam_hand(0.95), 0.1
    elif name == "adam":
        opt, expected, lr = nncore.Adam(), adam_hand(1.0), 0.1
    elif name == "rmsprop":
        opt, expected, lr = HAND[name][0](), rmsprop_hand(), 0.01
    else:
        opt, expected, lr = HAND[name][0](), HAND[name][1], 0.1
    got = two_steps(scalar_net(opt, backend), lr)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_adam_first_step_is_lr_times_the_gradient_sign():
    # a property independent of the formulas above: Adam's first step is lr * g / (|g| + eps)
    net = make_net("tanh", "identity", "mse")
    net.optimizer = "adam"
    X, Y = batch(net)
    before = [ly.W.copy() for ly in net.layers]
    grads = net.gradients(X, Y)
    net.train_step(X, Y, 1e-3)
    for W0, ly, g in zip(before, net.layers, grads):
        np.testing.assert_allclose(W0 - ly.W, 1e-3 * g["W"] / (np.abs(g["W"]) + 1e-8),
                                   rtol=1e-9, atol=1e-15)


# -- PyTorch's trajectories -----------------------------------------------------------------------

def torch_optimizer(torch, name, params_w, params_other, wd):
    groups = [{"params": params_w, "weight_decay": wd},
              {"params": params_other, "weight_decay": 0.0}]
    return {
        "sgd-momentum": lambda: torch.optim.SGD(groups, lr=0.05, momentum=0.9),
        "sgd-nesterov": lambda: torch.optim.SGD(groups, lr=0.05, momentum=0.8, nesterov=True),
        "sgd-decay-only": lambda: torch.optim.SGD(groups, lr=0.05),
        "adam": lambda: torch.optim.Adam(groups, lr=0.05),
        "adam-amsgrad": lambda: torch.optim.Adam(groups, lr=0.05, betas=(0.8, 0.99),
                                                 amsgrad=True),
        "adamw": lambda: torch.optim.AdamW(groups, lr=0.05),
        "adamw-amsgrad": lambda: torch.optim.AdamW(groups, lr=0.05, amsgrad=True),
        "rmsprop": lambda: torch.optim.RMSprop(groups, lr=0.05),
        "rmsprop-momentum": lambda: torch.optim.RMSprop(groups, lr=0.05, alpha=0.9,
                                                        momentum=0.7),
    }[name]()


@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_trajectories_match_pytorch(opt, wd):
    torch = pytest.importorskip("torch")
    net = nncore.Network([5, 7, 3], activation="tanh", loss="cross_entropy", seed=4,
                         optimizer=OPTIMIZERS[opt](wd))
    Ws = [torch.tensor(ly.W.copy(), requires_grad=True) for ly in net.layers]
    bs = [torch.tensor(ly.b.copy(), requires_grad=True) for ly in net.layers]
    topt = torch_optimizer(torch, opt, Ws, bs, wd)
    rng = np.random.default_rng(0)
    for step in range(8):
        X = rng.normal(size=(6, 5))
        labels = rng.integers(0, 3, 6)
        topt.zero_grad()
        h = torch.tanh(torch.tensor(X) @ Ws[0] + bs[0])
        logits = h @ Ws[1] + bs[1]
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels))
        loss.backward()
        topt.step()
        got = net.train_step(X, labels, 0.05)
        assert got == pytest.approx(loss.item(), rel=1e-10)
        for ly, W, b in zip(net.layers, Ws, bs):
            np.testing.assert_allclose(ly.W, W.detach().numpy(), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(ly.b, b.detach().numpy(), rtol=1e-9, atol=1e-12)


# -- weight decay on W only -----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("opt", ["sgd-momentum", "sgd-decay-only", "adam", "adamw",
                                 "rmsprop-momentum"])
def test_weight_decay_touches_W_only(opt, backend):
    # targets equal to the outputs: every gradient is 0, so only the decay can move anything
    # (in the first step; after it the outputs have moved)
    hidden = lambda: nncore.Sigmoid(c=1.2, beta=0.8, trainable=True)  # noqa: E731
    net = make_net(hidden, hidden, "mse", n_hidden_layers=1, backend=backend)
    net.optimizer = OPTIMIZERS[opt](0.5)
    X = np.random.default_rng(0).normal(size=(4, 3))
    Y = net.predict(X)
    before = [(ly.W.copy(), ly.b.copy(), ly.activation.c, ly.activation.beta)
              for ly in net.layers]
    net.train_step(X, Y, 0.1)
    for (W, b, c, beta), ly in zip(before, net.layers):
        assert np.all((ly.W - W) * W < 0)       # every weight moved towards 0
        assert np.array_equal(ly.b, b)
        assert (ly.activation.c, ly.activation.beta) == (c, beta)


# -- binding, fresh state, bad hyper-parameters ---------------------------------------------------

def test_names_and_objects():
    for name, cls in [("sgd", nncore.SGD), ("adam", nncore.Adam), ("adamw", nncore.AdamW),
                      ("rmsprop", nncore.RMSprop), ("Adam", nncore.Adam)]:
        net = nncore.Network([2, 2], loss="mse", optimizer=name)
        assert type(net.optimizer) is cls and net.optimizer._bound_to() is net
    assert nncore.AdamW().weight_decay == 0.01 and nncore.Adam().weight_decay == 0.0
    assert repr(nncore.SGD(momentum=0.5)) == \
        "SGD(momentum=0.5, nesterov=False, weight_decay=0.0, clip_norm=None, clip_value=None)"


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_an_optimizer_belongs_to_one_network(backend):
    opt = nncore.Adam()
    a = nncore.Network([2, 2], loss="mse", optimizer=opt, backend=backend)
    with pytest.raises(ValueError, match="another Network"):
        nncore.Network([2, 2], loss="mse", optimizer=opt, backend=backend)
    b = nncore.Network([2, 2], loss="mse", backend=backend)
    old = b.optimizer
    with pytest.raises(ValueError, match="another Network"):
        b.optimizer = opt
    assert b.optimizer is old and a.optimizer is opt
    # released by its network, it can serve another
    a.optimizer = "sgd"
    assert opt._bound_to() is None
    b.optimizer = opt
    assert b.optimizer is opt


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_assigning_starts_from_fresh_state(backend):
    net = make_net("tanh", "identity", "mse", backend=backend)
    X, Y = batch(net)
    fresh = make_net("tanh", "identity", "mse", backend=backend)
    net.optimizer = nncore.Adam()
    net.train_step(X, Y, 0.01)
    assert net.optimizer.step_count == 1
    assert np.any(net.optimizer.state[0]["W"]["exp_avg"] != 0)
    for ly, other in zip(fresh.layers, net.layers):
        ly.W, ly.b = other.W, other.b
    net.optimizer = nncore.Adam()
    fresh.optimizer = nncore.Adam()
    assert net.optimizer.step_count == 0
    net.train_step(X, Y, 0.01)
    fresh.train_step(X, Y, 0.01)
    for la, lb in zip(net.layers, fresh.layers):
        assert np.array_equal(la.W, lb.W) and np.array_equal(la.b, lb.b)


@pytest.mark.parametrize("make, error", [
    (lambda: nncore.SGD(momentum=-0.1), ValueError),
    (lambda: nncore.SGD(momentum=1.0), ValueError),
    (lambda: nncore.SGD(nesterov=True), ValueError),
    (lambda: nncore.SGD(weight_decay=-1e-3), ValueError),
    (lambda: nncore.SGD(weight_decay=float("nan")), ValueError),
    (lambda: nncore.SGD(momentum="0.9"), TypeError),
    (lambda: nncore.Adam(beta1=1.0), ValueError),
    (lambda: nncore.Adam(beta2=-0.5), ValueError),
    (lambda: nncore.Adam(eps=0.0), ValueError),
    (lambda: nncore.Adam(eps=float("inf")), ValueError),
    (lambda: nncore.AdamW(weight_decay=-0.01), ValueError),
    (lambda: nncore.Adam(amsgrad=1), TypeError),
    (lambda: nncore.RMSprop(alpha=1.5), ValueError),
    (lambda: nncore.RMSprop(eps=-1e-8), ValueError),
    (lambda: nncore.RMSprop(momentum=-1), ValueError),
])
def test_bad_hyper_parameters_raise_at_construction(make, error):
    with pytest.raises(error):
        make()


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_refused_optimizer_changes_nothing(backend):
    net = make_net("tanh", "identity", "mse", backend=backend)
    net.optimizer = nncore.SGD(momentum=0.9)
    X, Y = batch(net)
    net.train_step(X, Y, 0.1)
    opt, state = net.optimizer, net.optimizer.state
    for bad in ("adagrad", 3, None):
        with pytest.raises((ValueError, TypeError)):
            net.optimizer = bad
        assert net.optimizer is opt and opt.step_count == 1
        for a, b in zip(state, opt.state):
            assert np.array_equal(a["W"]["momentum_buffer"], b["W"]["momentum_buffer"])
    with pytest.raises(ValueError, match="unknown optimizer"):
        nncore.Network([2, 2], loss="mse", optimizer="adagrad")


def test_engine_refuses_state_of_the_wrong_shape():
    net = nncore.Network([3, 2], loss="mse", optimizer="adam")
    opt = net.optimizer
    engine = net._backend
    bad = [((np.zeros((2, 3)), np.zeros((2, 3))), (np.zeros(2), np.zeros(2)), ())]
    with pytest.raises(ValueError, match="optimizer state"):
        engine.set_optimizer(opt._code(), opt._hyper(), opt._step, bad)
    short = [((np.zeros((3, 2)),), (np.zeros(2),), ())]
    with pytest.raises(ValueError, match="needs 2"):
        engine.set_optimizer(opt._code(), opt._hyper(), opt._step, short)
    with pytest.raises(ValueError, match="step count"):
        engine.set_optimizer(opt._code(), opt._hyper(), np.zeros(1), opt._state)
    # still trains with the optimizer it had
    net.train_step(np.ones((2, 3)), np.zeros((2, 2)), 0.1)
    assert opt.step_count == 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", [[140, 261, 1], [3, 16401, 1], [127, 129, 1]])
@pytest.mark.parametrize("opt", ["sgd-nesterov", "adam-amsgrad", "adamw", "rmsprop-momentum"])
def test_update_of_large_layers_agrees_with_numpy(opt, sizes, dtype):
    # layers of tens of thousands of weights, wide and tall, of odd sizes (the update loops
    # over W as one array, in vectors of 2 or 4 values and a scalar tail). Batches of one
    # example, ReLU (whose derivative is exact, unlike tanh's 1 - z^2 near
    # saturation) and one output keep every gradient a product of a few rounded factors. In
    # float32 also no weight decay (g = dW + wd W can cancel) and one step: Adam and RMSprop
    # divide g by about |g|, which turns the rounding of a small g (different in each
    # backend) into a step difference of lr times its relative error, beyond any elementwise
    # tolerance. An indexing error (what this test is for) shows at the first step, in both
    # dtypes.
    nets = [nncore.Network(sizes, activation="relu", loss="mse", seed=2, backend=backend,
                           dtype=np.dtype(dtype).name,
                           optimizer=OPTIMIZERS[opt](0.01 if dtype == np.float64 else 0.0))
            for backend in ("cython", "numpy")]
    rng = np.random.default_rng(0)
    for step in range(3 if dtype == np.float64 else 1):
        X = rng.normal(size=(1, sizes[0]))
        Y = rng.normal(size=(1, sizes[-1]))
        close(nets[0].train_step(X, Y, 0.01), nets[1].train_step(X, Y, 0.01), dtype)
    assert_same_parameters(*nets, dtype)
    assert_same_state(*nets, dtype)


# -- saving and resuming ----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opt", ["sgd-nesterov", "adam-amsgrad", "adamw", "rmsprop-momentum",
                                 None])
def test_fit_resumed_from_a_saved_file_is_fit_without_interruption(opt, dtype, backend,
                                                                   tmp_path):
    hidden = lambda: nncore.Sigmoid(c=1.2, beta=0.8, trainable=True)  # noqa: E731
    nets = [make_net(hidden, "softmax", "cross_entropy", n_hidden_layers=2, seed=7,
                     dtype=np.dtype(dtype).name, backend=backend) for _ in range(2)]
    if opt is not None:
        for net in nets:
            net.optimizer = OPTIMIZERS[opt](0.01)
    X, Y = batch(nets[0], n=21, kind="onehot")
    kw = dict(lr=0.05, batch_size=4, shuffle=True)
    whole = nets[0].fit(X, Y, epochs=4, **kw)
    first = nets[1].fit(X, Y, epochs=2, **kw)
    path = nets[1].save(tmp_path / "half")
    resumed = nncore.Network.load(path, backend=backend)
    assert type(resumed.optimizer) is type(nets[0].optimizer)
    assert resumed.optimizer.get_config() == nets[0].optimizer.get_config()
    rest = resumed.fit(X, Y, epochs=2, **kw)
    assert whole == first + rest
    for la, lb in zip(nets[0].layers, resumed.layers):
        assert np.array_equal(la.W, lb.W) and np.array_equal(la.b, lb.b)
        assert la.activation._params.tolist() == lb.activation._params.tolist()
    assert resumed.optimizer.step_count == nets[0].optimizer.step_count


def test_a_file_without_optimizer_loads_with_sgd(tmp_path):
    import json
    net = nncore.Network([3, 2], loss="mse", seed=0, optimizer="adam")
    path = net.save(tmp_path / "net")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if not k.startswith("opt")}
    config = json.loads(str(arrays["config"]))
    del config["optimizer"], config["rng"]
    arrays["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "old.npz", **arrays)
    old = nncore.Network.load(tmp_path / "old.npz")
    assert type(old.optimizer) is nncore.SGD and np.array_equal(old.layers[0].W, net.layers[0].W)


def test_saved_optimizer_state_of_the_wrong_shape_is_refused(tmp_path):
    net = nncore.Network([3, 2], loss="mse", seed=0, optimizer="adam")
    path = net.save(tmp_path / "net")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["opt0_W_exp_avg"] = np.zeros((2, 3))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="optimizer state W of layer 0"):
        nncore.Network.load(tmp_path / "bad.npz")
