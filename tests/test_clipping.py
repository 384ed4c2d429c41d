"""Gradient clipping (clip_norm, clip_value) as an optimizer setting: a step against a NumPy
reference written from torch.nn.utils' documented definitions and against PyTorch itself, the
core against the NumPy backend, validation, saving and pickling, a diverging fit kept finite."""
import json
import math
import pickle

import numpy as np
import pytest

import nncore

from _helpers import DTYPES
from test_backends import assert_same_parameters, batch, close
from test_optimizers import torch_optimizer

WD = 0.05
OPTIMIZERS = {  # id: factory of an optimizer with the given clip settings
    "sgd": lambda **c: nncore.SGD(**c),
    "sgd-momentum": lambda **c: nncore.SGD(momentum=0.9, weight_decay=WD, **c),
    "sgd-nesterov": lambda **c: nncore.SGD(momentum=0.8, nesterov=True, **c),
    "adam": lambda **c: nncore.Adam(weight_decay=WD, **c),
    "adamw": lambda **c: nncore.AdamW(**c),
    "rmsprop": lambda **c: nncore.RMSprop(**c),
    "rmsprop-momentum": lambda **c: nncore.RMSprop(alpha=0.9, momentum=0.7, weight_decay=WD,
                                                   **c),
}
# the clip as a multiple of the gradients' norm (or largest value): below 1 it clips
CLIPS = [("clip_norm", 0.3), ("clip_norm", 3.0), ("clip_value", 0.4), ("clip_value", 3.0)]


# -- a NumPy reference from the documented definitions -------------------------------------------

def reference_clip(grads, clip_norm=None, clip_value=None):
    """torch.nn.utils.clip_grad_norm_(max_norm=clip_norm) / clip_grad_value_(clip_value) on a
    list of float64 arrays: the norm of all values together, coefficient
    max_norm / (norm + 1e-6) clamped to at most 1; or each value clamped into [-v, v]."""
    if clip_value is not None:
        return [np.clip(g, -clip_value, clip_value) for g in grads]
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    coef = min(clip_norm / (norm + 1e-6), 1.0)
    return [g * coef for g in grads]


def reference_step(opt, w, g, state, t, lr, decay):
    """torch.optim's documented update of one parameter (float64), in place; state a dict."""
    wd = opt.weight_decay if decay else 0.0
    name = type(opt).__name__
    if name == "SGD":
        g = g + wd * w
        if opt.momentum:
            state["buf"] = g.copy() if t == 1 else opt.momentum * state["buf"] + g
            g = g + opt.momentum * state["buf"] if opt.nesterov else state["buf"]
        w -= lr * g
    elif name == "RMSprop":
        g = g + wd * w
        state["v"] = opt.alpha * state.get("v", 0) + (1 - opt.alpha) * g * g
        avg = np.sqrt(state["v"]) + opt.eps
        if opt.momentum:
            state["buf"] = opt.momentum * state.get("buf", 0) + g / avg
            w -= lr * state["buf"]
        else:
            w -= lr * g / avg
    else:
        if name == "AdamW":
            w *= 1 - lr * wd
        else:
            g = g + wd * w
        state["m"] = opt.beta1 * state.get("m", 0) + (1 - opt.beta1) * g
        state["v"] = opt.beta2 * state.get("v", 0) + (1 - opt.beta2) * g * g
        mhat = state["m"] / (1 - opt.beta1 ** t)
        vhat = state["v"] / (1 - opt.beta2 ** t)
        w -= lr * mhat / (np.sqrt(vhat) + opt.eps)


def params_and_grads(net, X, Y):
    """Copies (float64) of every parameter and its gradient, with W's flag for decay."""
    params, grads, decays = [], [], []
    for ly, g in zip(net.layers, net.gradients(X, Y)):
        params += [ly.W.astype(np.float64), ly.b.astype(np.float64)]
        grads += [g["W"].astype(np.float64), g["b"].astype(np.float64)]
        decays += [True, False]
        if ly.activation.trainable:
            params.append(np.array([ly.activation.c, ly.activation.beta]))
            grads.append(np.array([g["c"], g["beta"]]))
            decays.append(False)
    return params, grads, decays


def trained_params(net):
    out = []
    for ly in net.layers:
        out += [ly.W, ly.b]
        if ly.activation.trainable:
            out.append(np.array([ly.activation.c, ly.activation.beta]))
    return out


def network(backend, dtype, opt, sizes=(4, 6, 3)):
    net = nncore.Network(
        [nncore.Dense(sizes[0], sizes[1],
                      nncore.Sigmoid(c=1.2, beta=0.8, trainable=True)),
         nncore.Dense(sizes[1], sizes[2], "identity")],
        loss="mse", seed=3, dtype=np.dtype(dtype).name, backend=backend, optimizer=opt)
    return net


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: f"{c[0]}-{c[1]}" if isinstance(c, tuple)
                         else None)
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_steps_equal_the_reference(opt, clip, backend, dtype):
    name, factor = clip
    net = network(backend, dtype, OPTIMIZERS[opt]())
    lr = 0.1
    states, t = None, 0
    for step in range(3):
        X, Y = batch(net, n=5, seed=step)
        params, grads, decays = params_and_grads(net, X, Y)
        # the clip set between steps, relative to this step's gradients (below or above them)
        size = (math.sqrt(sum(float(np.sum(g * g)) for g in grads)) if name == "clip_norm"
                else max(float(np.abs(g).max()) for g in grads))
        setattr(net.optimizer, name, factor * size)
        clipped = reference_clip(grads, **{name: factor * size})
        if factor < 1:
            assert not all(np.allclose(a, b) for a, b in zip(clipped, grads))
        states = states or [{} for _ in params]
        t += 1
        for w, g, s, decay in zip(params, clipped, states, decays):
            reference_step(net.optimizer, w, g, s, t, lr, decay)
        net.train_step(X, Y, lr)
        for got, want in zip(trained_params(net), params):
            close(got, want, dtype, factor=10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("clip", [("clip_norm", 0.05), ("clip_norm", 50.0),
                                  ("clip_value", 0.01), ("clip_value", 50.0)],
                         ids=lambda c: f"{c[0]}-{c[1]}" if isinstance(c, tuple) else None)
@pytest.mark.parametrize("opt", ["sgd-momentum", "sgd-nesterov", "sgd-decay-only", "adam",
                                 "adamw-amsgrad", "rmsprop", "rmsprop-momentum"])
def test_steps_match_pytorch(opt, clip, dtype):
    torch = pytest.importorskip("torch")
    from test_optimizers import OPTIMIZERS as TORCH_OPTS
    name, value = clip
    wd = 0.05
    nn_opt = TORCH_OPTS[opt](wd)
    setattr(nn_opt, name, value)
    net = nncore.Network([5, 7, 3], activation="tanh", loss="cross_entropy", seed=4,
                         optimizer=nn_opt, dtype=np.dtype(dtype).name)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    Ws = [torch.tensor(ly.W.copy(), requires_grad=True) for ly in net.layers]
    bs = [torch.tensor(ly.b.copy(), requires_grad=True) for ly in net.layers]
    topt = torch_optimizer(torch, opt, Ws, bs, wd)
    rng = np.random.default_rng(0)
    for step in range(4):
        X = rng.normal(size=(6, 5)).astype(dtype)
        labels = rng.integers(0, 3, 6)
        topt.zero_grad()
        h = torch.tanh(torch.tensor(X, dtype=tdtype) @ Ws[0] + bs[0])
        loss = torch.nn.functional.cross_entropy(h @ Ws[1] + bs[1], torch.tensor(labels))
        loss.backward()
        if name == "clip_norm":
            torch.nn.utils.clip_grad_norm_(Ws + bs, value)
        else:
            torch.nn.utils.clip_grad_value_(Ws + bs, value)
        topt.step()
        net.train_step(X, labels, 0.05)
        for ly, W, b in zip(net.layers, Ws, bs):
            close(ly.W, W.detach().numpy(), dtype, factor=10)
            close(ly.b, b.detach().numpy(), dtype, factor=10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("clip", [{"clip_norm": 0.2}, {"clip_value": 0.01}])
@pytest.mark.parametrize("opt", ["sgd", "adam", "rmsprop-momentum"])
def test_core_agrees_with_numpy_backend(opt, clip, dtype):
    # sizes across the core's tiles, an epoch in the core against the NumPy backend's
    nets = [network(b, dtype, OPTIMIZERS[opt](**clip), sizes=(37, 70, 17))
            for b in ("cython", "numpy")]
    X, Y = batch(nets[0], n=50, seed=1)
    losses = [n.fit(X, Y, epochs=2, batch_size=16, lr=0.05, shuffle=True) for n in nets]
    close(losses[0], losses[1], dtype, factor=10)
    assert_same_parameters(nets[0], nets[1], dtype)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_sparse_first_layer_clips_as_dense(backend):
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 12)) * (rng.random((30, 12)) < 0.3)
    Y = rng.normal(size=(30, 2))
    nets = [nncore.Network([12, 9, 2], activation="tanh", loss="mse", seed=1, backend=backend,
                           optimizer=nncore.Adam(clip_norm=0.1)) for _ in range(2)]
    nets[0].fit(X, Y, epochs=2, batch_size=8, lr=0.05)
    nets[1].fit(sparse.csr_matrix(X), Y, epochs=2, batch_size=8, lr=0.05)
    assert_same_parameters(nets[0], nets[1], np.float64)


# -- settings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1.0, ValueError),
                                        (float("nan"), ValueError), (math.inf, ValueError),
                                        (True, TypeError), ("1", TypeError)])
@pytest.mark.parametrize("name", ["clip_norm", "clip_value"])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_refused_values_change_nothing(name, bad, error, backend):
    with pytest.raises(error, match=name):
        nncore.Adam(**{name: bad})
    nets = [network(backend, np.float64, nncore.SGD(**{name: 0.5})) for _ in range(2)]
    with pytest.raises(error, match=name):
        setattr(nets[0].optimizer, name, bad)
    other = "clip_value" if name == "clip_norm" else "clip_norm"
    with pytest.raises(ValueError, match="both"):
        setattr(nets[0].optimizer, other, 1.0)
    assert getattr(nets[0].optimizer, name) == 0.5
    assert getattr(nets[0].optimizer, other) is None
    X, Y = batch(nets[0], n=5)
    assert nets[0].train_step(X, Y, 0.3) == nets[1].train_step(X, Y, 0.3)
    assert_same_parameters(nets[0], nets[1], np.float64)


def test_turning_a_clip_on_and_off_between_steps():
    # plain gradient descent takes the stored-gradient path while a clip is set, and back
    nets = [network("cython", np.float64, nncore.SGD()) for _ in range(2)]
    X, Y = batch(nets[0], n=5)
    for clip in (None, 10.0, None, 1e-3):   # the pooled plain workspace first
        for net in nets:
            net.optimizer.clip_norm = clip
        nets[1].optimizer.clip_norm = None if clip is None else 1e9   # never clips
        nets[0].train_step(X, Y, 0.2)
        nets[1].train_step(X, Y, 0.2)
        if clip == 1e-3:
            assert not np.allclose(nets[0].layers[0].W, nets[1].layers[0].W)
            break
        assert_same_parameters(nets[0], nets[1], np.float64)
    assert nets[0]._backend.hyper()["clip_norm"] == 1e-3


def test_repr_config_and_names():
    opt = nncore.RMSprop(clip_value=0.5)
    assert "clip_value=0.5" in repr(opt) and "clip_norm=None" in repr(opt)
    assert opt.get_config()["clip_value"] == 0.5
    assert type(opt)(**opt.get_config()).get_config() == opt.get_config()
    by_name = nncore.get_optimizer("adamw", clip_norm=2)
    assert type(by_name) is nncore.AdamW and by_name.clip_norm == 2.0
    with pytest.raises(TypeError, match="clip_nrom"):
        nncore.get_optimizer("sgd", clip_nrom=1.0)
    with pytest.raises(TypeError, match="named optimizer"):
        nncore.get_optimizer(nncore.SGD(), clip_norm=1.0)


@pytest.mark.parametrize("how", ["save", "pickle"])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_saved_and_pickled_with_the_clip(how, backend, tmp_path):
    net = network(backend, np.float32, nncore.Adam(clip_norm=0.05))
    X, Y = batch(net, n=6)
    net.train_step(X, Y, 0.1)
    if how == "save":
        net.save(tmp_path / "net.npz")
        copy = nncore.Network.load(tmp_path / "net.npz", backend=backend)
    else:
        copy = pickle.loads(pickle.dumps(net))
    assert copy.optimizer.get_config() == net.optimizer.get_config()
    assert copy.optimizer.clip_norm == 0.05
    assert copy.train_step(X, Y, 0.1) == net.train_step(X, Y, 0.1)
    assert_same_parameters(copy, net, np.float32)


def test_files_without_the_clips_still_load(tmp_path):
    net = network("cython", np.float64, nncore.RMSprop(alpha=0.9))
    net.save(tmp_path / "net.npz")
    with np.load(tmp_path / "net.npz") as f:
        arrays = dict(f)
    config = json.loads(str(arrays["config"]))
    for key in ("clip_norm", "clip_value"):
        del config["optimizer"]["config"][key]
    arrays["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "old.npz", **arrays)
    opt = nncore.Network.load(tmp_path / "old.npz").optimizer
    assert opt.clip_norm is None and opt.clip_value is None and opt.alpha == 0.9


# -- what clipping is for -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_a_diverging_fit_stays_finite_with_clip_norm(backend, dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)) * 30
    Y = X @ rng.normal(size=(3, 1))
    def fit(opt):
        net = nncore.Network([3, 8, 1], activation="relu", loss="mse", seed=0,
                             backend=backend, dtype=np.dtype(dtype).name, optimizer=opt)
        return net, net.fit(X, Y, epochs=5, batch_size=16, lr=0.05)
    with pytest.raises((FloatingPointError, ValueError, OverflowError)):
        with np.errstate(all="ignore"):
            fit(nncore.SGD(momentum=0.9))
    net, losses = fit(nncore.SGD(momentum=0.9, clip_norm=1.0))
    assert np.all(np.isfinite(losses))
    assert all(np.all(np.isfinite(ly.W)) for ly in net.layers)


def test_the_command_line_takes_clip_norm(tmp_path, capsys):
    from nncore import cli
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, X.sum(1)]), delimiter=",",
               header="a,b,y", comments="")
    args = ["train", str(tmp_path / "d.csv"), "--target", "y", "--task", "regression",
            "--epochs", "2", "--optimizer", "adam"]
    assert cli.main(args + ["--clip-norm", "0.5", "--save", str(tmp_path / "m")]) == 0
    assert nncore.Network.load(tmp_path / "m.npz").optimizer.clip_norm == 0.5
    capsys.readouterr()
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(SystemExit):
            cli.main(args + ["--clip-norm", bad])
        assert "--clip-norm" in capsys.readouterr().err
