"""Property-based fuzzing of the cython backend against the NumPy backend (the oracle).

Random architectures (1-5 layers, widths 1-300, every activation and every loss with the
outputs it accepts), batch sizes 1-600 (and up to 2,100 rows for predict and loss, across the
core's 1,024-row chunks), both dtypes, values across the dtype's range, integer labels, one-hot
and soft targets, and inputs in every memory layout. For each case the two backends must give
the same forward pass, loss, gradients, trace and training step within the rounding error of
the dtype, or both raise the same kind of error; never a crash or an unreported NaN.

What "within the rounding error" means: a result is compared array by array (max norm) with
a tolerance of two parts. The first is the textbook bound for sums of n_ops terms,
``16 * n_ops * u * max|ref|`` (u: the dtype's unit roundoff; n_ops: the summed widths and the
batch size, which bound every dot product and sum). The second measures the case's own
conditioning: the NumPy backend run in the other precision on the same values (float64 for a
float32 case, float32 for a float64 one, where the values fit) differs from the reference by
what rounding does to this case; scaled to the dtype's u, 16 times that is allowed too.

Profiles: ``NNCORE_FUZZ=long`` runs many more examples (e.g. in a nightly CI job); the default
keeps the file under a minute.
"""
import os
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import nncore  # noqa: E402

settings.register_profile(
    "nncore-default", max_examples=40, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "nncore-long", max_examples=2000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile(
    "nncore-long" if os.environ.get("NNCORE_FUZZ") == "long" else "nncore-default")

DTYPES = (np.float32, np.float64)
OTHER = {np.float32: np.float64, np.float64: np.float32}


# -- strategies -------------------------------------------------------------------------------

def finite(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def activations(draw, output_for=None):
    """An activation config; for a cross-entropy output one that gives probabilities."""
    if output_for == "cross_entropy":
        name = draw(st.sampled_from(["softmax", "sigmoid"]))
    elif output_for == "binary_cross_entropy":
        name = "sigmoid"
    else:
        # softmax only on the output layer (an mse output may be any function)
        name = draw(st.sampled_from([a for a in nncore.activations.ACTIVATION_NAMES
                                     if output_for is not None
                                     or a not in nncore.activations.OUTPUT_ONLY]))
    if name == "sigmoid":
        if output_for in ("cross_entropy", "binary_cross_entropy"):
            c = draw(st.one_of(st.just(1.0), finite(1e-3, 1.0)))
            return {"name": name, "c": c, "beta": draw(finite(-4, 4)), "trainable": False}
        return {"name": name, "c": draw(finite(-3, 3)), "beta": draw(finite(-4, 4)),
                "trainable": draw(st.booleans())}
    if name == "leaky_relu":
        return {"name": name, "delta": draw(finite(-2, 2))}
    return {"name": name}


WIDTH = st.one_of(st.integers(1, 8), st.integers(1, 300))
SCALES = ("subnormal", "tiny", "small", "unit", "large", "huge")
LAYOUTS = ("C", "F", "strided", "reversed", "byteswapped", "other_dtype", "list")


def scale_value(dtype, name):
    fi = np.finfo(dtype)
    return {"subnormal": float(fi.smallest_subnormal) * 64, "tiny": float(fi.smallest_normal),
            "small": 1e-3, "unit": 1.0, "large": 1e3, "huge": float(fi.max) ** 0.5}[name]


@st.composite
def cases(draw, max_rows=600, max_width=None):
    dtype = draw(st.sampled_from(DTYPES))
    n_layers = draw(st.integers(1, 5))
    width = WIDTH if max_width is None else st.integers(1, max_width)
    sizes = [draw(width) for _ in range(n_layers + 1)]
    loss = draw(st.sampled_from(["mse", "cross_entropy", "binary_cross_entropy"]))
    acts = [draw(activations()) for _ in range(n_layers - 1)] + [draw(activations(loss))]
    return {
        "dtype": dtype, "sizes": sizes, "loss": loss, "acts": acts,
        "seed": draw(st.integers(0, 2**32 - 1)),
        "w_scale": draw(st.sampled_from([1.0, 1e-3, 10.0])),
        "m": draw(st.integers(1, max_rows)),
        "x_scale": draw(st.sampled_from(SCALES)),
        "layout": draw(st.sampled_from(LAYOUTS)),
        "targets": draw(st.sampled_from(["labels", "onehot", "soft"])),
        "lr": draw(finite(1e-4, 1.0)),
    }


# -- building the networks and the data ----------------------------------------------------------

def build(case, backend, dtype, source=None):
    layers = [nncore.Dense(case["sizes"][i], case["sizes"][i + 1],
                           nncore.get_activation(dict(act)))
              for i, act in enumerate(case["acts"])]
    net = nncore.Network(layers, loss=case["loss"], seed=case["seed"], dtype=dtype,
                         backend=backend)
    if source is None:
        for ly in net.layers:
            ly.W[...] *= case["w_scale"]
    else:
        for ly, src in zip(net.layers, source.layers):
            ly.W, ly.b = src.W, src.b  # raises (ValueError) when they overflow dtype
    return net


def data(case):
    rng = np.random.default_rng(case["seed"])
    m, n_in, n_out = case["m"], case["sizes"][0], case["sizes"][-1]
    dtype = case["dtype"]
    X = rng.standard_normal((m, n_in)) * scale_value(dtype, case["x_scale"])
    X = X.astype(dtype)  # values of the dtype, so that the layouts below change no value
    if case["targets"] == "labels" and n_out > 1:
        Y = rng.integers(0, n_out, size=m)
    elif case["targets"] in ("labels", "onehot"):
        Y = np.eye(n_out, dtype=dtype)[rng.integers(0, n_out, size=m)]
        if n_out == 1 and case["loss"] == "cross_entropy":
            Y = np.ones((m, 1), dtype=dtype)
    elif case["loss"] == "mse":
        Y = rng.standard_normal((m, n_out)).astype(dtype)
    else:
        Y = rng.uniform(0, 1, size=(m, n_out))
        if case["loss"] == "cross_entropy":
            Y /= Y.sum(axis=1, keepdims=True)
        Y = Y.astype(dtype)
    return layout(X, case["layout"]), Y


def layout(X, how):
    """X in another memory layout (same values)."""
    if how == "F":
        return np.asfortranarray(X)
    if how == "strided":
        big = np.zeros((2 * X.shape[0], 3 * X.shape[1]), X.dtype)
        big[::2, ::3] = X
        return big[::2, ::3]
    if how == "reversed":
        big = np.ascontiguousarray(X[::-1, ::-1])
        return big[::-1, ::-1]
    if how == "byteswapped":
        return X.astype(X.dtype.newbyteorder())
    if how == "other_dtype":
        with np.errstate(over="ignore"):
            return X.astype(np.float64 if X.dtype == np.float32 else np.longdouble)
    if how == "list":
        return X.tolist()
    return X


# -- running and comparing -------------------------------------------------------------------------

def outcome(call):
    """(result, None) or (None, the exception's type)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow warnings
        try:
            return call(), None
        except (ValueError, TypeError, FloatingPointError, OverflowError) as exc:
            return None, type(exc)


def flat(result):
    """Every array of a result (an array, a float, a list of dicts), with a name each."""
    if isinstance(result, list):
        return [(f"[{l}][{k}]", v) for l, d in enumerate(result) for k, v in sorted(d.items())]
    return [("", result)]


def extreme(result, dtype):
    """Whether a result holds a value beyond the overflow threshold (or not finite)."""
    big = float(np.finfo(dtype).max) * 2.0**-16
    return any(not np.all(np.abs(np.asarray(v, dtype=np.float64)) <= big)
               for _, v in flat(result))


def compare(what, got, ref, twin, dtype, n_ops, scale=None):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shapes {got.shape} and {ref.shape}"
    if what == "predict":
        # KNOWN GAP: predict does not check its outputs (a check from Python would double the
        # cost of a small network's predict; it belongs in the core). Where a layer's sum
        # meets +inf and -inf both backends return NaN: they must at least agree on where.
        nan_g, nan_r = np.isnan(got), np.isnan(ref)
        assert (nan_g == nan_r).all() or extreme(ref, dtype), f"{what}: NaN in one backend"
        got, ref = np.where(nan_g, 0, got), np.where(nan_r, 0, ref)
    assert not np.isnan(got).any(), f"{what}: the cython backend gave an unreported NaN"
    assert not np.isnan(ref).any(), f"{what}: the numpy backend gave an unreported NaN"
    fin_g, fin_r = np.isfinite(got), np.isfinite(ref)
    # one side may overflow where the other just stays finite, near the dtype's largest value
    big = float(np.finfo(dtype).max) * 2.0**-16
    differ = fin_g != fin_r
    near = np.where(fin_g, np.abs(got), np.abs(ref)) > big
    assert (near | ~differ).all(), f"{what}: finite in one backend only, far from overflow"
    both_inf = ~fin_g & ~fin_r
    assert (np.sign(got[both_inf]) == np.sign(ref[both_inf])).all(), f"{what}: infinities"
    mask = fin_g & fin_r
    if not mask.any():
        return
    err = float(np.max(np.abs(got[mask] - ref[mask])))
    u = float(np.finfo(dtype).eps) / 2
    magnitude = float(np.max(np.abs(ref[mask])))
    if scale is not None:
        with np.errstate(invalid="ignore"):
            magnitude = max(magnitude, float(np.max(np.broadcast_to(scale, ref.shape)[mask])))
    tol = 16 * n_ops * u * magnitude + n_ops * float(np.finfo(dtype).smallest_subnormal)
    if twin is not None:
        twin = np.asarray(twin, dtype=np.float64)
        if twin.shape == ref.shape and np.isfinite(twin[mask]).all():
            noise = float(np.max(np.abs(twin[mask] - ref[mask])))
            u_twin = float(np.finfo(OTHER[dtype]).eps) / 2
            tol += 16 * noise * max(1.0, u / u_twin)
    assert err <= tol, f"{what}: the backends differ by {err:.3g} > {tol:.3g}"


def error_scales(net, X, Y, case, k):
    """For each compared quantity, an elementwise scale E such that rounding in the dtype
    changes it by at most about n_ops * u * E (a running error analysis in float64, from the
    magnitudes of the terms: |z_prev| @ |W| for a sum, the Lipschitz constant of each
    activation, the rounding of each derivative computed from the layer's output, and what
    the errors of earlier quantities contribute). Where a term overflows, E is inf: the case is
    beyond the reach of rounding-error bounds and only the finiteness checks apply."""
    from nncore._numpy_backend import FORWARD

    with np.errstate(all="ignore"):
        return _error_scales(net, X, Y, case, FORWARD, k)


def _error_scales(net, X, Y, case, FORWARD, k):
    X = np.asarray(X, dtype=np.float64)
    m, n_out = X.shape[0], net.layers[-1].n_out
    Y = np.asarray(Y)
    if Y.ndim == 1 and n_out > 1:
        Y = np.eye(n_out)[Y]
    Y = np.asarray(Y, dtype=np.float64).reshape(m, n_out)
    Ws = [ly.W.astype(np.float64) for ly in net.layers]
    bs = [ly.b.astype(np.float64) for ly in net.layers]
    acts = [ly.activation for ly in net.layers]
    ps = [tuple(float(v) for v in act._params) for act in acts]
    # forward: values and error scales
    zs, As, Ea, Ez = [X], [], [], [np.zeros_like(X)]
    for l in range(len(Ws)):
        a = zs[-1] @ Ws[l] + bs[l]
        z = FORWARD[acts[l].code](a, ps[l])
        ea = Ez[-1] @ np.abs(Ws[l]) + np.abs(zs[-1]) @ np.abs(Ws[l]) + np.abs(bs[l])
        name = acts[l].name
        if name == "softmax":
            ez = np.max(ea, axis=1, keepdims=True) * 2 + np.abs(z)
        else:
            lip = {"sigmoid": abs(ps[l][0] * ps[l][1]) / 4, "leaky_relu": max(1, abs(ps[l][0]))
                   }.get(name, 1.0)
            ez = lip * ea + np.abs(z)
        As.append(a)
        zs.append(z)
        Ea.append(ea)
        Ez.append(ez)
    scales = {"predict": Ez[-1]}
    out, z, a, ea, ez = acts[-1], zs[-1], As[-1], Ea[-1], Ez[-1]
    loss = case["loss"]
    # the loss and the output's delta
    if loss == "mse":
        g = (z - Y) / m
        eg = (ez + np.abs(z) + np.abs(Y)) / m
        scales["loss"] = np.sum(np.abs(z - Y) * (ez + np.abs(z) + np.abs(Y))) / m
        delta, edelta = _local(out, ps[-1], a, z, ea, ez, g, eg, k)
    else:
        scales["loss"] = 4 * np.sum((np.abs(Y) + 1) * (ea + np.abs(a) + 1)) / m
        if out.name == "softmax":
            delta = (z * Y.sum(axis=1, keepdims=True) - Y) / m
            edelta = (ez * np.abs(Y).sum(axis=1, keepdims=True) + np.abs(Y) + np.abs(z)) / m
        else:
            beta = abs(ps[-1][1])
            c = ps[-1][0]
            s_ = 1 / (1 + np.exp(-ps[-1][1] * a))
            delta = beta * (s_ + np.abs(Y)) / m
            edelta = (beta * (beta * ea + 2) * (np.abs(Y) + 1) / m
                      * (1 + 1 / max(1 - c, 2.0**-30)))
    deltas, edeltas, gs, egs = {len(Ws) - 1: delta}, {len(Ws) - 1: edelta}, {}, {}
    if loss == "mse":
        gs[len(Ws) - 1], egs[len(Ws) - 1] = g, eg
    for l in range(len(Ws) - 1, 0, -1):
        g = deltas[l] @ Ws[l].T
        eg = (edeltas[l] + np.abs(deltas[l])) @ np.abs(Ws[l]).T
        gs[l - 1], egs[l - 1] = g, eg
        deltas[l - 1], edeltas[l - 1] = _local(acts[l - 1], ps[l - 1], As[l - 1], zs[l],
                                               Ea[l - 1], Ez[l], g, eg, k)
    lr = case["lr"]
    for l in range(len(Ws)):
        zp, ezp, d, ed = np.abs(zs[l]), Ez[l], np.abs(deltas[l]), edeltas[l]
        edW = ezp.T @ d + zp.T @ ed + zp.T @ d
        edb = ed.sum(axis=0) + d.sum(axis=0)
        scales[f"gradients[{l}][W]"], scales[f"gradients[{l}][b]"] = edW, edb
        scales[f"trace[{l}][a]"], scales[f"trace[{l}][z]"] = Ea[l], Ez[l + 1]
        scales[f"trace[{l}][delta]"] = ed + d
        scales[f"train_step[0][W{l}]"] = np.abs(Ws[l]) + lr * edW
        scales[f"train_step[0][b{l}]"] = np.abs(bs[l]) + lr * edb
        if acts[l].trainable and l in gs:
            g, eg, a, ea = np.abs(gs[l]), egs[l], np.abs(As[l]), Ea[l]
            c, beta = abs(ps[l][0]), abs(ps[l][1])
            edc = np.sum(eg + g * (beta * ea + 1))
            edbeta = c * np.sum((eg + g) * (ea + a) * (1 + beta * a))
            scales[f"gradients[{l}][c]"], scales[f"gradients[{l}][beta]"] = edc, edbeta
            scales[f"train_step[0][p{l}]"] = np.array([c + lr * edc, beta + lr * edbeta])
    scales["train_step[0][loss]"] = scales["loss"]
    return scales


def _local(act, p, a, z, ea, ez, g, eg, k):
    """delta = g * phi'(z) and its error scale (see error_scales; k * E is the error)."""
    ag, name = np.abs(g), act.name
    if name == "identity":
        return g, eg
    if name in ("relu", "leaky_relu"):
        slope = 0.0 if name == "relu" else p[0]
        d = g * np.where(a > 0, 1.0, slope)
        # where a is within its own error of 0 the two backends may take either branch: the
        # derivative jumps by |1 - slope| there (an error of that size, not k times it)
        jump = np.where(np.abs(a) <= 4 * k * ea, ag * abs(1 - slope) / k, 0)
        return d, eg * max(1, abs(slope)) + jump
    if name == "tanh":
        return g * (1 - z**2), eg + ag * (2 * np.abs(z) * ez + 1 + z**2)
    if name == "sigmoid":
        c, beta = p
        if c == 0:
            return np.zeros_like(g), np.zeros_like(g)
        dphi = beta * z * (1 - z / c)
        err = abs(beta) * (np.abs(1 - 2 * z / c) * ez + np.abs(z) * (1 + np.abs(z / c)))
        return g * dphi, eg * abs(c * beta) / 4 + ag * err + eg * np.abs(dphi)
    # softmax
    s = (g * z).sum(axis=1, keepdims=True)
    sa = (ag * np.abs(z)).sum(axis=1, keepdims=True)
    d = z * (g - s)
    ed = (ez * (ag + sa) + np.abs(z) * (eg + (eg * np.abs(z) + ag * ez).sum(axis=1,
                                                                          keepdims=True))
          + np.abs(z) * (ag + sa))
    return d, ed


def check_agreement(case, ops):
    dtype = case["dtype"]
    cy, cy_err = outcome(lambda: build(case, "cython", dtype))
    if cy_err is not None:  # e.g. an activation parameter outside the dtype's range
        _, np_err = outcome(lambda: build(case, "numpy", dtype))
        assert np_err == cy_err
        return
    ref = build(case, "numpy", dtype, source=cy)
    twin, twin_err = outcome(lambda: build(case, "numpy", OTHER[dtype], source=cy))
    X, Y = data(case)
    n_ops = sum(case["sizes"]) + case["m"] + 8
    k = 16 * n_ops * float(np.finfo(dtype).eps) / 2
    scales = error_scales(ref, X, Y, case, k)
    for name in ops:
        got, got_err = outcome(lambda: OPS[name](cy, X, Y, case))
        exp, exp_err = outcome(lambda: OPS[name](ref, X, Y, case))
        other = None
        if twin is not None and got_err is None and exp_err is None:
            other, _ = outcome(lambda: OPS[name](twin, X, Y, case))
        if got_err is not None or exp_err is not None:
            if got_err is FloatingPointError or exp_err is FloatingPointError:
                # an overflow reported by one backend: the other's result may have stayed
                # just below the threshold (or overflowed to inf rather than NaN)
                value = got if exp_err else exp
                if got_err == exp_err or (value is not None and extreme(value, dtype)):
                    continue
            assert got_err == exp_err, (f"{name}: cython {got_err.__name__ if got_err else 'ok'}"
                                        f", numpy {exp_err.__name__ if exp_err else 'ok'}")
            continue
        other_items = dict(flat(other)) if other is not None else {}
        got_items, exp_items = flat(got), flat(exp)
        assert [k for k, _ in got_items] == [k for k, _ in exp_items], name
        for (key, g), (_, e) in zip(got_items, exp_items):
            compare(f"{name}{key}", g, e, other_items.get(key), dtype, n_ops,
                    scales.get(f"{name}{key}"))


def _train_step(net, X, Y, case):
    value = net.train_step(X, Y, case["lr"])
    params = {"loss": value}
    for l, ly in enumerate(net.layers):
        params[f"W{l}"], params[f"b{l}"] = ly.W.copy(), ly.b.copy()
        params[f"p{l}"] = ly.activation._params.copy()
    return sorted(params.items())  # a list of (name, array): flat() reads it below


OPS = {
    "predict": lambda net, X, Y, case: net.predict(X),
    "loss": lambda net, X, Y, case: net.loss(X, Y),
    "gradients": lambda net, X, Y, case: net.gradients(X, Y),
    "trace": lambda net, X, Y, case: net.trace(X, Y),
    "train_step": lambda net, X, Y, case: [dict(_train_step(net, X, Y, case))],
}


@PROFILE
@given(case=cases())
def test_backends_agree_on_random_networks(case):
    check_agreement(case, ["predict", "loss", "gradients", "trace", "train_step"])


@PROFILE
@given(case=cases(max_rows=2100, max_width=24), rows=st.integers(1000, 2100))
def test_backends_agree_across_the_predict_chunks(case, rows):
    case = dict(case, m=rows)
    check_agreement(case, ["predict", "loss"])
