"""Dropout: inverted dropout of a Dense layer's outputs while the network trains.

The masks are hashed from (seed, step count, layer, unit) in the core; the NumPy backend hashes
the same ones, so the two backends are compared with dropout on. Gradients are checked by
central differences in float64 with the step's mask fixed, the scale against torch's.
"""
import copy
import pickle
import threading

import numpy as np
import pytest

import nncore
from nncore._engine import dropout_mask as core_mask
from nncore._numpy_backend import dropout_mask as numpy_mask

from _helpers import (ALLOCATION_BUDGET, BACKEND_ATOL, BACKEND_RTOL, DTYPES, FD_EPS,
                      peak_growth)

P_VALUES = [0.1, 0.5, 0.9]


def _data(n=70, n_in=5, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)), rng.integers(0, n_out, n)


def _dropping(seed=1, dtype="float64", backend="cython", optimizer="sgd", p=(0.4, 0.3)):
    # three layers, hidden widths that cross the SIMD tiles (33 units); the middle layer is a
    # sigmoid, whose derivative comes from its output z: the mask must not reach z
    return nncore.Network([nncore.Dense(5, 33, "tanh"), nncore.Dropout(p[0]),
                           nncore.Dense(33, 6, "sigmoid", dropout=p[1]),
                           nncore.Dense(6, 3, "softmax")],
                          loss="cross_entropy", seed=seed, dtype=dtype, backend=backend,
                          optimizer=optimizer)


# -- the masks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
def test_mask_keeps_a_fraction_near_one_minus_p_with_the_inverted_scale(p, dtype):
    m, n = 257, 131      # rows and units that are no multiple of a vector width
    mask = core_mask(2024, 3, 1, m, n, p, dtype)
    assert mask.dtype == dtype and mask.shape == (m, n)
    scale = dtype(1 / (1 - p))
    assert set(np.unique(mask)) <= {dtype(0), scale}
    kept = (mask != 0).mean()
    bound = 5 * np.sqrt(p * (1 - p) / mask.size)     # 5 standard deviations of a binomial
    assert abs(kept - (1 - p)) < bound
    # unbiased: the mean of the mask is 1 within the same bound (scaled)
    assert abs(mask.astype(np.float64).mean() - 1) < bound * scale
    # the first and the last unit are drawn too (not left at 0 or at the scale)
    masks = np.stack([core_mask(2024, s, 1, m, n, p, dtype) for s in range(40)])
    for corner in ((0, 0), (m - 1, n - 1)):
        values = masks[(slice(None),) + corner]
        assert (values == 0).any() and (values == scale).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
def test_numpy_backend_draws_the_core_masks_bit_for_bit(p, dtype):
    for seed, step, layer in [(0, 0, 0), (2**63 - 1, 12345, 3), (987654321, 2**40, 7)]:
        a = core_mask(seed, step, layer, 19, 23, p, dtype)
        b = numpy_mask(seed, step, layer, 19, 23, p, np.dtype(dtype))
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_masks_differ_between_steps_layers_and_seeds():
    base = core_mask(5, 0, 0, 30, 40, 0.5, np.float64)
    for other in (core_mask(5, 1, 0, 30, 40, 0.5, np.float64),
                  core_mask(5, 0, 1, 30, 40, 0.5, np.float64),
                  core_mask(6, 0, 0, 30, 40, 0.5, np.float64)):
        # independent masks of p = 0.5 agree on about half the units
        assert 0.4 < (other == base).mean() < 0.6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
def test_kept_units_are_scaled_as_torch_scales_them(p, dtype):
    torch = pytest.importorskip("torch")
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    torch.manual_seed(0)
    out = torch.nn.Dropout(p)(torch.ones(4000, dtype=tdtype)).numpy()
    kept = out[out != 0]
    assert kept.size and np.unique(kept).tolist() == [core_mask(0, 0, 0, 1, 4000, p,
                                                                dtype).max()]


# -- the step with dropout ----------------------------------------------------------------------

def _masked_loss(Ws, bs, masks, X, y):
    """The cross-entropy of the three-layer network with the hidden outputs multiplied by
    fixed masks, in float64 (the reference for the finite differences)."""
    z = np.tanh(X @ Ws[0] + bs[0]) * masks[0]
    z = 1 / (1 + np.exp(-(z @ Ws[1] + bs[1]))) * masks[1]
    a = z @ Ws[2] + bs[2]
    a = a - a.max(axis=1, keepdims=True)
    logp = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_a_dropout_step_follows_the_central_differences_of_the_masked_loss(backend):
    X, y = _data(n=9)
    net = _dropping(backend=backend)
    Ws = [ly.W.copy() for ly in net.layers]
    bs = [ly.b.copy() for ly in net.layers]
    # the first step is keyed by step count 0
    masks = [core_mask(net._dropout_seed, 0, l, 9, ly.n_out, ly.dropout, np.float64)
             for l, ly in enumerate(net.layers[:2])]
    lr = 0.5
    value = net.train_step(X, y, lr)
    assert value == pytest.approx(_masked_loss(Ws, bs, masks, X, y), rel=1e-12)
    for l, ly in enumerate(net.layers):
        for params, got in ((Ws, ly.W), (bs, ly.b)):
            grad = np.zeros_like(params[l])
            for i in np.ndindex(grad.shape):
                keep = params[l][i]
                params[l][i] = keep + FD_EPS
                up = _masked_loss(Ws, bs, masks, X, y)
                params[l][i] = keep - FD_EPS
                down = _masked_loss(Ws, bs, masks, X, y)
                params[l][i] = keep
                grad[i] = (up - down) / (2 * FD_EPS)
            step = (params[l] - got) / lr
            np.testing.assert_allclose(step, grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_compiled_backend_trains_as_the_numpy_backend_with_dropout(dtype, optimizer):
    X, y = _data()
    nets = [_dropping(dtype=dtype, backend=b, optimizer=optimizer) for b in ("cython", "numpy")]
    for net in nets:
        net.fit(X, y, epochs=3, lr=0.05, batch_size=32)     # batches of 32, 32 and 6 rows
        net.train_step(X[:7], y[:7], 0.05)
    for a, b in zip(*(net.layers for net in nets)):
        for got, want in ((a.W, b.W), (a.b, b.b)):
            np.testing.assert_allclose(got, want, rtol=BACKEND_RTOL[dtype],
                                       atol=BACKEND_ATOL[dtype])


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_p_zero_trains_exactly_as_no_dropout(backend):
    X, y = _data()
    layers = [lambda: [nncore.Dense(5, 33, "tanh"), nncore.Dense(33, 3, "softmax")],
              lambda: [nncore.Dense(5, 33, "tanh", dropout=0.0), nncore.Dense(33, 3, "softmax")],
              lambda: [nncore.Dense(5, 33, "tanh"), nncore.Dropout(0.0),
                       nncore.Dense(33, 3, "softmax")]]
    nets = [nncore.Network(make(), loss="cross_entropy", seed=3, backend=backend)
            for make in layers]
    for net in nets:
        net.fit(X, y, epochs=2, lr=0.1, batch_size=16)
    for other in nets[1:]:
        for a, b in zip(nets[0].layers, other.layers):
            assert a.W.tobytes() == b.W.tobytes() and a.b.tobytes() == b.b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_same_seed_gives_the_same_weights_and_another_seed_other_ones(dtype):
    X, y = _data()
    runs = []
    for seed in (7, 7, 8):
        net = _dropping(seed=seed, dtype=dtype)
        net.fit(X, y, epochs=2, lr=0.1, batch_size=16)
        runs.append(b"".join(ly.W.tobytes() for ly in net.layers))
    assert runs[0] == runs[1] != runs[2]


def test_dropout_changes_training_and_nothing_else():
    X, y = _data()
    net = _dropping()
    plain = nncore.Network([nncore.Dense(5, 33, "tanh"), nncore.Dense(33, 6, "sigmoid"),
                            nncore.Dense(6, 3, "softmax")], loss="cross_entropy", seed=1)
    for a, b in zip(net.layers, plain.layers):
        a.W, a.b = b.W, b.b
    # reading calls: no mask
    np.testing.assert_array_equal(net.predict(X), plain.predict(X))
    assert net.loss(X, y) == plain.loss(X, y)
    for got, want in zip(net.gradients(X, y), plain.gradients(X, y)):
        np.testing.assert_array_equal(got["W"], want["W"])
    for got, want in zip(net.trace(X, y), plain.trace(X, y)):
        np.testing.assert_array_equal(got["z"], want["z"])
    assert net.evaluate(X, y)["accuracy"] == plain.evaluate(X, y)["accuracy"]
    # a training step: the mask
    net.train_step(X, y, 0.1)
    plain.train_step(X, y, 0.1)
    assert not np.array_equal(net.layers[0].W, plain.layers[0].W)


def test_predict_during_a_dropout_fit_sees_no_mask():
    X, y = _data(n=200)
    net = _dropping()
    want = net.predict(X)
    seen, errors = [], []

    def train():
        try:
            # rate 0 (a schedule may reach it): the steps draw masks but change no weight
            net.fit(X, y, epochs=40, lr=0.1, batch_size=8, schedule=lambda epoch, lr: 0.0)
        except BaseException as exc:    # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=train)
    thread.start()
    while thread.is_alive():
        seen.append(net.predict(X))
    thread.join()
    assert not errors and seen
    for got in seen:
        np.testing.assert_array_equal(got, want)


def test_a_workspace_taken_before_dropout_was_set_never_serves_a_training_step():
    """A reading call takes its workspace, then waits for the lock behind set_dropout; the
    workspace it gives back afterwards has no masks, so it must not go back to the pool for
    the next training step (in a subprocess: that step would write through a missing mask)."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent("""
        import threading, time, numpy as np, nncore
        net = nncore.Network([30, 64, 1], activation="relu", loss="mse", seed=0)
        eng = net._backend
        X = np.ones((16, 30)); y = np.zeros((16, 1))
        eng.read_lock()                                   # a reader holds the lock
        setter = threading.Thread(target=eng.set_dropout, args=([0.5, 0.0], 7))
        setter.start(); time.sleep(0.2)                   # set_dropout waits to write
        reader = threading.Thread(target=net.predict, args=(X,))
        reader.start(); time.sleep(0.2)                   # predict holds a workspace, waits
        eng.read_unlock()
        setter.join(); reader.join()
        print(np.isfinite(net.train_step(X, y, 0.01)))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_steps_allocate_nothing(dtype):
    X, y = _data(n=32)
    X = X.astype(dtype)
    net = _dropping(dtype=dtype)
    # (the workspace, masks included, is made by the warm-up call)
    assert peak_growth(lambda: net.train_step(X, y, 0.01), 100) < ALLOCATION_BUDGET


# -- the API ------------------------------------------------------------------------------------

@pytest.mark.parametrize("p, error", [(1.0, ValueError), (-0.1, ValueError),
                                      (float("nan"), ValueError), ("0.5", TypeError),
                                      (True, TypeError)])
def test_bad_p_is_refused(p, error):
    with pytest.raises(error, match="dropout p"):
        nncore.Dropout(p)
    with pytest.raises(error, match="dropout p"):
        nncore.Dense(2, 3, dropout=p)


def test_misplaced_dropout_is_refused_and_changes_no_layer():
    first = nncore.Dense(3, 4, "relu")
    with pytest.raises(ValueError, match="must follow a Dense"):
        nncore.Network([nncore.Dropout(0.5), first, nncore.Dense(4, 2)], loss="mse")
    with pytest.raises(ValueError, match="follows the output layer"):
        nncore.Network([first, nncore.Dense(4, 2), nncore.Dropout(0.5)], loss="mse")
    with pytest.raises(ValueError, match="must follow a Dense"):
        nncore.Network([first, nncore.Dropout(0.5), nncore.Dropout(0.5), nncore.Dense(4, 2)],
                       loss="mse")
    with pytest.raises(ValueError, match="already has dropout"):
        nncore.Network([nncore.Dense(3, 4, dropout=0.1), nncore.Dropout(0.5),
                        nncore.Dense(4, 2)], loss="mse")
    with pytest.raises(ValueError, match="output layer cannot take dropout"):
        nncore.Network([first, nncore.Dense(4, 2, dropout=0.5)], loss="mse")
    # refused after the fold (the next layer does not fit): the layer is as it was
    with pytest.raises(ValueError, match="takes 5 inputs"):
        nncore.Network([first, nncore.Dropout(0.5), nncore.Dense(5, 2)], loss="mse")
    assert first.dropout == 0.0
    net = nncore.Network([first, nncore.Dropout(0.25), nncore.Dense(4, 2)], loss="mse")
    assert [ly.dropout for ly in net.layers] == [0.25, 0.0]


def test_sizes_shortcut_drops_the_hidden_layers():
    net = nncore.Network([4, 8, 8, 2], loss="mse", dropout=0.2)
    assert [ly.dropout for ly in net.layers] == [0.2, 0.2, 0.0]
    with pytest.raises(TypeError, match="dropout="):
        nncore.Network([nncore.Dense(4, 2)], loss="mse", dropout=0.2)
    with pytest.raises(ValueError, match="has none"):
        nncore.Network([4, 2], loss="mse", dropout=0.2)
    with pytest.raises(ValueError, match="dropout p"):
        nncore.Network([4, 8, 2], loss="mse", dropout=1.0)


def test_repr_and_summary_show_dropout():
    net = _dropping()
    assert repr(nncore.Dropout(0.3)) == "Dropout(p=0.3)"
    assert "dropout=0.4" in repr(net.layers[0]) and "dropout" not in repr(net.layers[2])
    lines = net.summary().splitlines()
    rows = [line.split() for line in lines if line.split()[:1] == ["Dropout"]]
    assert rows == [["Dropout", "p=0.4", "(N,", "33)", "0"], ["Dropout", "p=0.3", "(N,", "6)",
                                                              "0"]]


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_save_load_pickle_and_deepcopy_keep_dropout_and_its_masks(tmp_path, backend):
    X, y = _data()
    net = _dropping(backend=backend, optimizer="adam")
    net.fit(X, y, epochs=1, lr=0.01, batch_size=16)
    copies = [nncore.Network.load(net.save(tmp_path / "net"), backend=backend),
              pickle.loads(pickle.dumps(net)), copy.deepcopy(net)]
    net.fit(X, y, epochs=2, lr=0.01, batch_size=16)
    for other in copies:
        assert [ly.dropout for ly in other.layers] == [0.4, 0.3, 0.0]
        other.fit(X, y, epochs=2, lr=0.01, batch_size=16)
        for a, b in zip(other.layers, net.layers):
            assert a.W.tobytes() == b.W.tobytes()


def test_a_file_with_a_bad_dropout_is_refused(tmp_path):
    import json

    path = _dropping().save(tmp_path / "net")
    config = json.loads(str(np.load(path)["config"]))
    for spec, key, value in [(0, "dropout", 1.5), (2, "dropout", 0.5),
                             (None, "dropout_seed", -1)]:
        bad = json.loads(json.dumps(config))
        (bad["layers"][spec] if spec is not None else bad)[key] = value
        arrays = dict(np.load(path))
        arrays["config"] = np.array(json.dumps(bad))
        np.savez(tmp_path / "bad.npz", **arrays)
        with pytest.raises(ValueError, match=key):
            nncore.Network.load(tmp_path / "bad.npz")


def test_onnx_export_is_the_inference_network():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    X, y = _data()
    net = _dropping(dtype="float32")
    net.fit(X, y, epochs=1, lr=0.1, batch_size=16)
    session = ort.InferenceSession(nncore.to_onnx(net).SerializeToString())
    got = session.run(None, {session.get_inputs()[0].name: X.astype(np.float32)})[0]
    np.testing.assert_allclose(got, net.predict(X.astype(np.float32)), rtol=1e-5, atol=1e-6)
