"""Shared helpers for nncore's tests: independent reference formulas, finite differences,
and snapshots of a network's state.

Everything here is written from the math (the seed's formulas, DESIGN.md's notation) with
plain NumPy, in float64, and never calls nncore's kernels: it is what the library is checked
against.
"""
import tracemalloc

import numpy as np

import nncore

DTYPES = [np.float32, np.float64]
BACKENDS = ["cython", "numpy"]

# Kernels against NumPy: relative tolerance per dtype (float32 keeps ~7 digits; float64
# results of the same formula agree to a few ulps), and an absolute floor for values near 0.
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-6, np.float64: 1e-14}

# Whole computations (several layers, several steps) compared between the two backends:
# each backend rounds in its own order, so allow a few more ulps than a single kernel.
BACKEND_RTOL = {np.float32: 1e-5, np.float64: 1e-10}
BACKEND_ATOL = {np.float32: 1e-6, np.float64: 1e-12}

# Central differences in float64.
FD_EPS = 1e-6
FD_RTOL = 1e-5
FD_ATOL = 1e-7


# -- reference math (float64) --------------------------------------------------------------------

def ref_sigmoid(a, c=1.0, beta=1.0):
    a = np.asarray(a, dtype=np.float64)
    x = beta * a
    # c / (1 + exp(-x)), split by sign so that exp never overflows
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return c * out


def ref_softmax(a):
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ref_logsumexp(a):
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    mx = a.max(axis=1)
    return mx + np.log(np.exp(a - mx[:, None]).sum(axis=1))


def ref_forward(name, a, **p):
    """z = phi(a) from the seed's definitions."""
    a = np.asarray(a, dtype=np.float64)
    if name == "identity":
        return a.copy()
    if name == "sigmoid":
        return ref_sigmoid(a, p.get("c", 1.0), p.get("beta", 1.0))
    if name == "tanh":
        return np.tanh(a)
    if name == "relu":
        return np.maximum(a, 0.0)
    if name == "leaky_relu":
        return np.where(a >= 0, a, p.get("delta", 0.01) * a)
    if name == "softmax":
        return ref_softmax(a).reshape(a.shape)
    raise KeyError(name)


def ref_derivative(name, a, **p):
    """phi'(a) elementwise, from a (not from the output z)."""
    a = np.asarray(a, dtype=np.float64)
    if name == "identity":
        return np.ones_like(a)
    if name == "sigmoid":
        c, beta = p.get("c", 1.0), p.get("beta", 1.0)
        s = ref_sigmoid(a, 1.0, beta)
        return c * beta * s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(a) ** 2
    if name == "relu":
        return (a > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(a >= 0, 1.0, p.get("delta", 0.01))
    raise KeyError(name)


def ref_softmax_jacobian(z):
    """diag(z) - z z^T for one example z (n,)."""
    z = np.asarray(z, dtype=np.float64)
    return np.diag(z) - np.outer(z, z)


def ref_backward(name, a, g, **p):
    """delta = dL/da from g = dL/dz: elementwise phi'(a) * g, or the softmax Jacobian (per
    row, built explicitly) applied to g."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    g = np.atleast_2d(np.asarray(g, dtype=np.float64))
    if name == "softmax":
        z = ref_softmax(a)
        return np.stack([ref_softmax_jacobian(z[i]).T @ g[i] for i in range(a.shape[0])])
    return ref_derivative(name, a, **p) * g


def ref_loss(name, yhat, y):
    """The losses as the seed (and nncore.losses) write them: mean over rows, natural log."""
    yhat = np.atleast_2d(np.asarray(yhat, dtype=np.float64))
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    n = yhat.shape[0]
    if name == "mse":
        return float(((y - yhat) ** 2).sum() / (2 * n))
    if name == "cross_entropy":
        return float(-(y * np.log(yhat)).sum() / n)
    if name == "binary_cross_entropy":
        return float(-(y * np.log(yhat) + (1 - y) * np.log(1 - yhat)).sum() / n)
    raise KeyError(name)


def ref_loss_gradient(name, yhat, y):
    """dL/dyhat."""
    yhat = np.atleast_2d(np.asarray(yhat, dtype=np.float64))
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    n = yhat.shape[0]
    if name == "mse":
        return (yhat - y) / n
    if name == "cross_entropy":
        return -y / yhat / n
    if name == "binary_cross_entropy":
        return (-y / yhat + (1 - y) / (1 - yhat)) / n
    raise KeyError(name)


def activation_spec(act):
    """(name, params dict) of an nncore activation object, read through its public attributes."""
    name = act.name
    if name == "sigmoid":
        return name, {"c": act.c, "beta": act.beta}
    if name == "leaky_relu":
        return name, {"delta": act.delta}
    return name, {}


def ref_network_forward(net, X):
    """Per layer (a, z) of the network computed from its public W, b, activation (float64)."""
    z = np.atleast_2d(np.asarray(X, dtype=np.float64))
    out = []
    for layer in net.layers:
        a = z @ layer.W.astype(np.float64) + layer.b.astype(np.float64)
        name, p = activation_spec(layer.activation)
        z = ref_forward(name, a, **p)
        out.append((a, z))
    return out


# -- finite differences ----------------------------------------------------------------------------

def central_difference(f, get, set_, eps=FD_EPS):
    """(f(x + eps) - f(x - eps)) / (2 eps) for a scalar parameter read by get() and written by
    set_(value); the parameter is restored afterwards."""
    x0 = get()
    set_(x0 + eps)
    fp = f()
    set_(x0 - eps)
    fm = f()
    set_(x0)
    return (fp - fm) / (2 * eps)


def numerical_gradients(net, X, Y, eps=FD_EPS):
    """dL/dW, dL/db (and dL/dc, dL/dbeta of trainable sigmoids) of net.loss by central
    differences, perturbing each parameter of the network in place."""
    f = lambda: net.loss(X, Y)  # noqa: E731
    grads = []
    for layer in net.layers:
        g = {"W": np.zeros(layer.W.shape), "b": np.zeros(layer.b.shape)}
        for key in ("W", "b"):
            arr = getattr(layer, key)
            for idx in np.ndindex(arr.shape):
                def set_(v, arr=arr, idx=idx):
                    arr[idx] = v
                g[key][idx] = central_difference(f, lambda arr=arr, idx=idx: float(arr[idx]),
                                                 set_, eps)
        act = layer.activation
        if getattr(act, "trainable", False):
            for key in ("c", "beta"):
                g[key] = central_difference(f, lambda key=key: getattr(act, key),
                                            lambda v, key=key: setattr(act, key, v), eps)
        grads.append(g)
    return grads


# -- snapshots -------------------------------------------------------------------------------------

def snapshot(net):
    """Copies of every parameter of the network: W, b and activation parameters per layer."""
    snap = []
    for layer in net.layers:
        entry = {"W": layer.W.copy(), "b": layer.b.copy(), "W_id": id(layer.W),
                 "b_id": id(layer.b)}
        act = layer.activation
        for key in ("c", "beta", "delta"):
            if hasattr(act, key):
                entry[key] = getattr(act, key)
        snap.append(entry)
    return snap


def assert_unchanged(net, snap):
    assert len(net.layers) == len(snap)
    for l, (layer, entry) in enumerate(zip(net.layers, snap)):
        assert id(layer.W) == entry["W_id"] and id(layer.b) == entry["b_id"], f"layer {l}"
        assert layer.W.dtype == entry["W"].dtype
        assert np.array_equal(layer.W, entry["W"]), f"layer {l}: W changed"
        assert np.array_equal(layer.b, entry["b"]), f"layer {l}: b changed"
        for key in ("c", "beta", "delta"):
            if key in entry:
                assert getattr(layer.activation, key) == entry[key], f"layer {l}: {key} changed"


# -- data ------------------------------------------------------------------------------------------

def targets_for(loss, n, n_out, rng, kind="soft"):
    """Meaningful targets for a loss: real numbers for mse; probability rows (each summing to
    1) or one-hot rows for cross_entropy; numbers in [0, 1] for binary_cross_entropy."""
    if loss == "mse":
        return rng.normal(size=(n, n_out))
    if loss == "cross_entropy":
        if kind == "onehot":
            return np.eye(n_out)[rng.integers(n_out, size=n)]
        p = rng.uniform(0.1, 1.0, size=(n, n_out))
        return p / p.sum(axis=1, keepdims=True)
    if loss == "binary_cross_entropy":
        if kind == "onehot":
            return rng.integers(0, 2, size=(n, n_out)).astype(np.float64)
        return rng.uniform(0.0, 1.0, size=(n, n_out))
    raise KeyError(loss)


def make_net(hidden, output, loss, n_hidden_layers=1, sizes=(3, 4, 3, 4), n_out=3,
             seed=0, dtype="float64", backend="cython"):
    """A network of n_hidden_layers hidden Dense layers with activation `hidden` (a name or a
    zero-argument factory of activation objects) and an output layer `output` (likewise)."""
    def fresh(spec):
        return spec() if callable(spec) else spec

    dims = list(sizes[:n_hidden_layers + 1]) + [n_out]
    layers = [nncore.Dense(dims[i], dims[i + 1], fresh(hidden)) for i in range(n_hidden_layers)]
    layers.append(nncore.Dense(dims[-2], dims[-1], fresh(output)))
    return nncore.Network(layers, loss=loss, seed=seed, dtype=dtype, backend=backend)


# Bytes a repeated call may grow Python's traced memory by, at the peak: a step allocates nothing
ALLOCATION_BUDGET = 1024


def peak_growth(fn, repeat):
    """How far fn's calls raise the traced memory's peak above where it started, in bytes,
    after one warm-up call (which makes the workspace, once)."""
    fn()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(repeat):
            fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start
