"""GELU (exact and tanh), ELU, SiLU and softplus, the mae and Huber losses: values and
derivatives against PyTorch's definitions, gradients of whole networks by central differences,
the compiled backend against the NumPy backend in both dtypes, extreme inputs, sample weights,
save/load; and names matched in any case."""
import pickle

import numpy as np
import pytest

import nncore
import nncore.functional as F
from nncore import _kernels
from nncore._numpy_backend import BACKWARD, FORWARD

from _helpers import (ALLOCATION_BUDGET, ATOL, BACKEND_ATOL, BACKEND_RTOL, DTYPES, FD_ATOL,
                      FD_RTOL, RTOL, numerical_gradients, peak_growth)



@pytest.fixture
def torch():
    """PyTorch, for the tests that compare with its definitions (skipped without it; the
    others need only nncore)."""
    return pytest.importorskip("torch")


# name -> (nncore activation, derivative() name and keywords, torch.nn.functional's function
# and keywords)
ACTIVATIONS = {
    "gelu": (lambda: nncore.GELU(), ("gelu", {}), ("gelu", {})),
    "gelu_tanh": (lambda: nncore.GELU(approximate="tanh"), ("gelu_tanh", {}),
                  ("gelu", {"approximate": "tanh"})),
    "elu": (lambda: nncore.ELU(), ("elu", {}), ("elu", {})),
    "elu_0.7": (lambda: nncore.ELU(alpha=0.7), ("elu", {"alpha": 0.7}), ("elu", {"alpha": 0.7})),
    "silu": (lambda: nncore.SiLU(), ("silu", {}), ("silu", {})),
    "softplus": (lambda: nncore.Softplus(), ("softplus", {}), ("softplus", {})),
    "softplus_2_5": (lambda: nncore.Softplus(beta=2.0, threshold=5.0),
                     ("softplus", {"beta": 2.0, "threshold": 5.0}),
                     ("softplus", {"beta": 2.0, "threshold": 5.0})),
}
COLUMNS = [1, 7, 8, 9, 17, 33]   # across the SIMD widths (4 and 8 doubles, 8 and 16 floats)
EXTREMES = [1e4, -1e4, 0.0, -1e30, 30.0, -30.0]


def torch_value_and_derivative(torch, spec, a):
    x = torch.tensor(a, requires_grad=True)
    z = getattr(torch.nn.functional, spec[0])(x, **spec[1])
    z.backward(torch.ones_like(z))
    return z.detach().numpy(), x.grad.numpy()


def inputs(rows, cols, dtype, seed=0, extreme=None):
    a = np.random.default_rng(seed).normal(scale=3.0, size=(rows, cols)).astype(dtype)
    if extreme is not None:
        a.flat[0] = extreme
        a.flat[-1] = extreme
    return a


def ours(name, a):
    act = ACTIVATIONS[name][0]()
    p = act._params
    z = np.empty_like(a)
    _kernels.activation_forward_into(act.code, p[0], p[1], a, z)
    dname, kw = ACTIVATIONS[name][1]
    return z, F.derivative(dname, a, **kw)


def assert_like_torch(got, want, dtype, what):
    finite = np.isfinite(want)
    assert np.isfinite(got[finite]).all(), f"{what}: inf/NaN where torch is finite"
    np.testing.assert_allclose(got[finite], want[finite], rtol=RTOL[dtype] * 10,
                               atol=ATOL[dtype] * 10, err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_and_derivative_match_torch(torch, name, dtype):
    for cols in COLUMNS:
        check_like_torch(torch, name, inputs(3, cols, dtype, seed=cols), dtype)


def check_like_torch(torch, name, a, dtype):
    z_t, d_t = torch_value_and_derivative(torch, ACTIVATIONS[name][2], a)
    z, d = ours(name, a)
    assert z.dtype == d.dtype == dtype
    assert_like_torch(z, z_t, dtype, f"{name} core z")
    assert_like_torch(d, d_t, dtype, f"{name} core phi'")
    # the NumPy backend's formulas too
    act = ACTIVATIONS[name][0]()
    p = tuple(float(v) for v in act._params)
    zn = FORWARD[act.code](a, p)
    assert zn.dtype == dtype
    assert_like_torch(zn, z_t, dtype, f"{name} numpy z")
    assert_like_torch(BACKWARD[act.code](a, zn, np.ones_like(a), p), d_t, dtype,
                      f"{name} numpy phi'")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_extreme_inputs_at_the_first_and_last_index(torch, name, dtype):
    for extreme in EXTREMES:
        a = inputs(2, 17, dtype, seed=1, extreme=extreme)
        z_t, d_t = torch_value_and_derivative(torch, ACTIVATIONS[name][2], a)
        z, d = ours(name, a)
        assert np.isfinite(z).all() and np.isfinite(d).all()
        assert_like_torch(z, z_t, dtype, f"{name} z at {extreme}")
        assert_like_torch(d, d_t, dtype, f"{name} phi' at {extreme}")
        check_like_torch(torch, name, a, dtype)


def make(act, loss, backend, dtype=np.float64, sizes=(3, 5, 4, 2), output="identity", seed=0):
    layers = [nncore.Dense(sizes[i], sizes[i + 1],
                           act() if i < len(sizes) - 2 else output)
              for i in range(len(sizes) - 1)]
    net = nncore.Network(layers, loss=loss, dtype=dtype, backend=backend, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for ly in net.layers:
        ly.b = rng.normal(scale=0.3, size=ly.b.shape)
    return net


def data(net, seed=0, rows=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, net.layers[0].n_in))
    Y = rng.normal(scale=2.0, size=(rows, net.layers[-1].n_out))
    return X, Y


def assert_fd(net, X, Y):
    got, want = net.gradients(X, Y), numerical_gradients(net, X, Y)
    for l, (g, e) in enumerate(zip(got, want)):
        for key in e:
            np.testing.assert_allclose(g[key], e[key], rtol=FD_RTOL, atol=FD_ATOL,
                                       err_msg=f"layer {l}, d{key}")


LOSSES = {"mse": "mse", "mae": "mae", "huber": "huber",
          "huber_0.5": lambda: nncore.losses.Huber(delta=0.5)}


def _loss(key):
    spec = LOSSES[key]
    return spec() if callable(spec) else spec


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gradients_match_central_differences(name, loss, backend):
    net = make(ACTIVATIONS[name][0], _loss(loss), backend, seed=3)
    X, Y = data(net, seed=4)
    for t, ly in zip(net.trace(X, Y), net.layers):
        assert np.abs(t["a"]).min() > 1e-4   # off ELU's kink at 0
    z = net.predict(X)
    assert np.abs(np.abs(z - Y) - 1.0).min() > 1e-4 and np.abs(z - Y).min() > 1e-4
    assert_fd(net, X, Y)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gradients_through_the_function_as_output(name, backend):
    net = make(lambda: "tanh", "mse", backend, output=ACTIVATIONS[name][0](), seed=5)
    X, Y = data(net, seed=6)
    assert_fd(net, X, Y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_compiled_backend_matches_numpy_backend(name, dtype):
    for width in COLUMNS:
        compare_backends(name, width, dtype)


def compare_backends(name, width, dtype):
    nets = [make(ACTIVATIONS[name][0], "huber" if width % 2 else "mae", b, dtype,
                 sizes=(4, width, 3), seed=width) for b in ("cython", "numpy")]
    X, Y = data(nets[0], seed=width, rows=11)
    X, Y = X.astype(dtype), Y.astype(dtype)
    tol = dict(rtol=BACKEND_RTOL[dtype], atol=BACKEND_ATOL[dtype])
    np.testing.assert_allclose(nets[0].predict(X), nets[1].predict(X), **tol)
    np.testing.assert_allclose(nets[0].loss(X, Y), nets[1].loss(X, Y), **tol)
    for g, e in zip(*(n.gradients(X, Y) for n in nets)):
        for key in e:
            assert g[key].dtype == dtype
            np.testing.assert_allclose(g[key], e[key], **tol)
    h = [n.fit(X, Y, epochs=3, lr=0.05, batch_size=4, shuffle=False) for n in nets]
    np.testing.assert_allclose(list(h[0]), list(h[1]), rtol=BACKEND_RTOL[dtype] * 10,
                               atol=BACKEND_ATOL[dtype] * 10)


# -- losses --------------------------------------------------------------------------------------

# nncore.functional's loss, and torch's per element: torch.nn.functional's function, keywords
TORCH_LOSSES = {"mae": (lambda d: F.mae, lambda TF, d: (TF.l1_loss, {})),
                "huber": (lambda d: (lambda yh, y: F.huber(yh, y, delta=d)),
                          lambda TF, d: (TF.huber_loss, {"delta": d}))}


def torch_terms(torch, loss, yhat, y, delta):
    fn, kw = TORCH_LOSSES[loss][1](torch.nn.functional, delta)
    return fn(yhat, y, reduction="none", **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 9])
@pytest.mark.parametrize("delta", [1.0, 0.3])
@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_loss_value_and_gradient_match_torch(torch, loss, delta, n, dtype):
    rng = np.random.default_rng(n)
    yhat = rng.normal(scale=2.0, size=(7, n)).astype(dtype)
    y = rng.normal(scale=2.0, size=(7, n)).astype(dtype)
    y[0, 0] = yhat[0, 0]          # a tie: mae's gradient is 0 there, as torch's
    ours_fn = TORCH_LOSSES[loss][0]
    t_yhat = torch.tensor(yhat, requires_grad=True)
    # nncore: the mean over the rows of the sum over the outputs
    value = torch_terms(torch, loss, t_yhat, torch.tensor(y), delta).sum(dim=1).mean()
    value.backward()
    np.testing.assert_allclose(ours_fn(delta)(yhat, y), value.item(), rtol=RTOL[dtype] * 10)
    if n == 1:   # one output: torch's own reduction="mean"
        fn, kw = TORCH_LOSSES[loss][1](torch.nn.functional, delta)
        mean = fn(torch.tensor(yhat), torch.tensor(y), **kw)
        np.testing.assert_allclose(ours_fn(delta)(yhat, y), float(mean), rtol=RTOL[dtype] * 10)
    g = np.empty_like(yhat)
    code = nncore.losses.MAE if loss == "mae" else nncore.losses.HUBER
    _kernels.loss_gradient_into(code, yhat, y, g, delta)
    np.testing.assert_allclose(g, t_yhat.grad.numpy(), rtol=RTOL[dtype], atol=ATOL[dtype])
    assert g[0, 0] == 0


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_sample_weights_give_the_weighted_mean_of_the_rows(torch, loss, backend):
    net = make(lambda: "silu", loss, backend, sizes=(3, 4, 2), seed=8)
    X, Y = data(net, seed=9, rows=5)
    w = np.array([0.0, 1.0, 2.5, 0.5, 3.0])
    z = torch.tensor(net.predict(X))
    per_row = torch_terms(torch, loss, z, torch.tensor(Y), 1.0).sum(dim=1).numpy()
    np.testing.assert_allclose(net.loss(X, Y, sample_weight=w),
                               (w * per_row).sum() / w.sum(), rtol=1e-12)
    # the weighted gradients: those of the rows repeated by integer weights
    wi = np.array([0, 1, 3, 2, 1])
    rep = np.repeat(np.arange(5), wi)
    got = net.gradients(X, Y, sample_weight=wi.astype(float))
    want = net.gradients(X[rep], Y[rep])
    for g, e in zip(got, want):
        for key in e:
            np.testing.assert_allclose(g[key], e[key], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_huber_delta_is_read_by_both_backends(backend):
    X, Y = data(make(lambda: "elu", "mse", backend, sizes=(3, 4, 2)), seed=1)
    Y = Y * 10   # residuals beyond both deltas
    nets = [make(lambda: "elu", nncore.losses.Huber(delta=d), backend, sizes=(3, 4, 2))
            for d in (1.0, 2.0)]
    assert nets[0].loss(X, Y) != nets[1].loss(X, Y)
    assert nets[1].loss_function == nncore.losses.Huber(delta=2.0)


# -- configuration, files, names ------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_repr_equality_and_config(name):
    a, b = ACTIVATIONS[name][0](), ACTIVATIONS[name][0]()
    assert a.same_as(b) and repr(a) == repr(b)
    assert nncore.get_activation(a._config()).same_as(a)
    assert not a.same_as(nncore.ReLU())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_save_load_and_pickle_round_trip(name, dtype, tmp_path):
    loss = list(LOSSES)[list(ACTIVATIONS).index(name) % len(LOSSES)]
    net = make(ACTIVATIONS[name][0], _loss(loss), "cython", dtype, sizes=(3, 4, 2))
    X, Y = data(net)
    net.fit(X, Y, epochs=2, lr=0.05)
    path = tmp_path / "net.npz"
    net.save(path)
    for other in (nncore.Network.load(path), pickle.loads(pickle.dumps(net))):
        assert repr(other) == repr(net)
        assert other.loss_function == net.loss_function
        assert other.layers[0].activation.same_as(net.layers[0].activation)
        np.testing.assert_array_equal(other.predict(X), net.predict(X))
        assert other.loss(X, Y) == net.loss(X, Y)


def test_a_file_with_a_bad_huber_delta_or_gelu_mode_is_refused(tmp_path):
    import json
    net = make(lambda: nncore.GELU(approximate="tanh"), nncore.losses.Huber(delta=2.0),
               "cython", sizes=(2, 3, 1))
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    config = json.loads(str(arrays["config"]))
    assert config["loss"] == {"name": "huber", "delta": 2.0}
    assert config["layers"][0]["activation"] == {"name": "gelu", "approximate": "tanh"}
    for where, bad in (("loss", {"name": "huber", "delta": -1.0}),
                       ("loss", {"name": "mae", "delta": 1.0}),
                       ("loss", "Huber"),
                       ("approximate", "erf"),
                       ("approximate", 1.0)):
        broken = json.loads(str(arrays["config"]))
        if where == "approximate":
            broken["layers"][0]["activation"]["approximate"] = bad
        else:
            broken["loss"] = bad
        out = tmp_path / "bad.npz"
        np.savez(out, **{**arrays, "config": np.array(json.dumps(broken))})
        with pytest.raises(ValueError, match="loss|approximate"):
            nncore.Network.load(out)
    # a file with loss "huber" by name alone reads as delta 1
    plain = json.loads(str(arrays["config"]))
    plain["loss"] = "huber"
    out = tmp_path / "plain.npz"
    np.savez(out, **{**arrays, "config": np.array(json.dumps(plain))})
    assert nncore.Network.load(out).loss_function == nncore.losses.Huber(delta=1.0)


@pytest.mark.parametrize("spec, want", [("GELU", "gelu"), ("SiLU", "silu"), ("Swish", "silu"),
                                        ("ELU", "elu"), ("Softplus", "softplus"),
                                        ("ReLU", "relu"), ("LeakyReLU", "leaky_relu")])
def test_activation_names_in_any_case(spec, want):
    assert nncore.Network([2, 3, 1], activation=spec, loss="mse").layers[0].activation.name \
        == want


@pytest.mark.parametrize("spec, want", [("MSE", "mse"), ("L1", "mae"), ("MAE", "mae"),
                                        ("Huber", "huber"), ("CrossEntropy", "cross_entropy")])
def test_loss_names_in_any_case(spec, want):
    output = "softmax" if want == "cross_entropy" else "identity"
    assert nncore.Network([2, 2], loss=spec, output=output).loss_name == want


@pytest.mark.parametrize("kind, make_one, bad, hint", [
    ("activation", lambda s: nncore.get_activation(s), "gellu", "gelu"),
    ("loss", lambda s: nncore.losses.get_loss(s), "hubr", "huber"),
    ("optimizer", lambda s: nncore.get_optimizer(s), "Adma", "adam"),
    ("schedule", lambda s: nncore.schedules.get_schedule(s), "cosin", "cosine"),
    ("init", lambda s: nncore.Dense(2, 2, init=s), "he_normall", "he_normal"),
])
def test_unknown_names_get_a_did_you_mean(kind, make_one, bad, hint):
    with pytest.raises(ValueError, match=f"did you mean '{hint}'"):
        make_one(bad)


def test_other_kinds_in_any_case():
    assert isinstance(nncore.get_optimizer("Adam"), nncore.Adam)
    assert isinstance(nncore.get_optimizer("RMSProp"), nncore.RMSprop)
    assert isinstance(nncore.schedules.get_schedule("CosineLR"), nncore.CosineLR)
    assert isinstance(nncore.schedules.get_schedule("Plateau"), nncore.ReduceLROnPlateau)
    a = nncore.Dense(3, 4, init="He_Normal", )
    assert a is not None


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="approximate"):
        nncore.GELU(approximate="erf")
    with pytest.raises(ValueError, match="beta"):
        nncore.Softplus(beta=0.0)
    with pytest.raises(ValueError, match="delta"):
        nncore.losses.Huber(delta=0.0)
    with pytest.raises(TypeError):
        nncore.ELU(alpha="1")
    net = nncore.Network([2, 3, 1], activation=nncore.Softplus(), loss="mse")
    net.layers[0].activation._params[0] = -1.0    # past the setter: caught at the next call
    with pytest.raises(ValueError, match="beta"):
        net.predict(np.ones(2))


# -- threads and allocation ----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_reading_calls_from_several_threads_equal_one_threads(backend):
    import threading
    net = make(lambda: nncore.GELU(approximate="tanh"), nncore.losses.Huber(delta=0.7), backend,
               sizes=(6, 17, 3), seed=2)
    X, Y = data(net, seed=3, rows=1500)     # crosses the 1024-row chunks
    want = (net.predict(X), net.loss(X, Y), net.gradients(X[:200], Y[:200]))
    errors = []

    def reader():
        try:
            for _ in range(3):
                np.testing.assert_array_equal(net.predict(X), want[0])
                assert net.loss(X, Y) == want[1]
                for g, e in zip(net.gradients(X[:200], Y[:200]), want[2]):
                    np.testing.assert_array_equal(g["W"], e["W"])
        except Exception as exc:   # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "elu", "silu", "softplus"])
def test_train_step_with_the_new_functions_allocates_nothing(name):
    net = make(ACTIVATIONS[name][0], "huber" if name != "silu" else "mae", "cython",
               sizes=(16, 33, 4))
    X, Y = data(net, seed=1, rows=32)
    assert peak_growth(lambda: net.train_step(X, Y, 0.01), 20) < ALLOCATION_BUDGET


def test_the_command_line_reads_names_in_any_case():
    from nncore.cli import build_parser
    args = build_parser().parse_args(["train", "--activation", "GELU", "--optimizer", "Adam",
                                      "--schedule", "Cosine", "--init", "He_Normal"])
    assert (args.activation, args.optimizer, args.schedule, args.init) == \
        ("gelu", "adam", "cosine", "he_normal")


# -- without PyTorch: the definitions element by element with Python's math module -----------------

def _math_reference(name, x):
    """(phi(x), phi'(x)) of one float from the definitions, in double precision."""
    import math
    sig = lambda v: 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))  # noqa: E731
    if name == "gelu":
        cdf = math.erfc(-x / math.sqrt(2)) / 2    # (1 + erf) / 2 without cancellation
        return x * cdf, cdf + x * math.exp(-min(x * x, 1e300) / 2) / math.sqrt(2 * math.pi)
    if name == "gelu_tanh":
        if abs(x) > 10:
            return (x if x > 0 else 0.0), (1.0 if x > 0 else 0.0)
        k0 = math.sqrt(2 / math.pi)
        t = math.tanh(k0 * (x + 0.044715 * x**3))
        return x / 2 * (1 + t), (1 + t) / 2 + x / 2 * (1 - t * t) * k0 * (1 + 3 * 0.044715 * x * x)
    if name.startswith("elu"):
        alpha = 0.7 if name == "elu_0.7" else 1.0
        return (x, 1.0) if x > 0 else (alpha * math.expm1(x), alpha * math.exp(x))
    if name == "silu":
        return x * sig(x), sig(x) * (1 + x * (1 - sig(x)))
    beta, threshold = (2.0, 5.0) if name == "softplus_2_5" else (1.0, 20.0)
    if beta * x > threshold:
        return x, 1.0
    bx = beta * x
    return (max(bx, 0) + math.log1p(math.exp(-abs(bx)))) / beta, sig(bx)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_float64_values_and_derivatives_match_the_definitions(name):
    a = inputs(3, 17, np.float64, seed=5)
    a.flat[0], a.flat[1], a.flat[2], a.flat[-1] = 1e4, -1e4, 0.0, -1e300
    z, d = ours(name, a)
    want = np.array([_math_reference(name, float(x)) for x in a.ravel()])
    np.testing.assert_allclose(z.ravel(), want[:, 0], rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(d.ravel(), want[:, 1], rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_far_left_keeps_its_relative_accuracy(dtype):
    # z = a Phi(a) is tiny but not 0 for a << 0: 1 + erf(a / sqrt(2)) would cancel there
    # (a float32 kernel read 4% off at a = -5 and 0 from a = -5.5)
    a = np.array([[-3.5, -5.0, -6.0, -8.0, -12.0]], dtype=dtype)
    z, d = ours("gelu", a)
    want = np.array([_math_reference("gelu", float(x)) for x in a.ravel()])
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(z.ravel(), want[:, 0], rtol=rtol, atol=0)
    np.testing.assert_allclose(d.ravel(), want[:, 1], rtol=rtol, atol=0)
