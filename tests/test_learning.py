"""Learning end to end: XOR, the `nncore train` main job on the shipped digits, and
save / load."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import nncore

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("seed", [0, 1])
def test_xor_reaches_100_percent_with_a_sigmoid_hidden_layer_bce(seed, backend):
    net = nncore.Network([2, 4, 1], activation="sigmoid", output="sigmoid",
                         loss="binary_cross_entropy", seed=seed, backend=backend)
    losses = net.fit(XOR_X, XOR_Y.astype(float), epochs=1500, lr=2.0, batch_size=4)
    assert losses[-1] < 0.1 * losses[0]
    assert ((net.predict(XOR_X)[:, 0] > 0.5) == XOR_Y).all()


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_xor_reaches_100_percent_with_softmax_cross_entropy(backend):
    net = nncore.Network([2, 4, 2], activation="sigmoid", output="softmax",
                         loss="cross_entropy", seed=0, backend=backend)
    net.fit(XOR_X, XOR_Y, epochs=1500, lr=2.0, batch_size=4)
    assert (net.predict(XOR_X).argmax(axis=1) == XOR_Y).all()


def test_xor_is_not_learnt_without_a_nonlinearity():
    # the seed: stacked linear layers are one linear map, which cannot separate XOR
    net = nncore.Network([2, 4, 1], activation="identity", output="sigmoid",
                         loss="binary_cross_entropy", seed=0)
    net.fit(XOR_X, XOR_Y.astype(float), epochs=1500, lr=1.0, batch_size=4)
    assert ((net.predict(XOR_X)[:, 0] > 0.5) == XOR_Y).mean() < 1.0


# -- the shipped digits and the main job ---------------------------------------------------------

def test_load_digits_gives_the_8x8_digits():
    X, y = nncore.load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and np.array_equal(X, np.round(X))
    assert set(np.unique(y)) == set(range(10))
    assert all(150 <= (y == k).sum() <= 200 for k in range(10))


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nncore", "train", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def accuracy_of(stdout):
    found = re.findall(r"held-out accuracy:\s*([0-9.]+)", stdout)
    assert len(found) == 1, stdout
    return float(found[0])


def test_cli_train_with_defaults_reaches_95_percent(tmp_path):
    result = run_cli(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert accuracy_of(result.stdout) >= 0.95
    # it prints the loss of each epoch too
    assert len(re.findall(r"epoch\s+\d+\s+loss\s+[0-9.]+", result.stdout)) >= 2


def test_cli_saves_a_model_that_reproduces_its_accuracy(tmp_path):
    path = tmp_path / "model.npz"
    result = run_cli("--epochs", "3", "--hidden", "16", "--seed", "1", "--save", str(path),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    net = nncore.Network.load(path)
    # the CLI's split: digits / 16, a permutation from the seed, the first 20% held out
    X, y = nncore.load_digits()
    order = np.random.default_rng(1).permutation(len(y))
    test = order[:int(round(len(y) * 0.2))]
    accuracy = float((net.predict(X[test] / 16.0).argmax(axis=1) == y[test]).mean())
    assert accuracy == pytest.approx(accuracy_of(result.stdout), abs=5e-5)


def test_cli_refuses_bad_options_with_a_message(tmp_path):
    result = run_cli("--dtype", "float16", cwd=tmp_path)
    assert result.returncode != 0 and "float16" in result.stderr
    result = run_cli("--lr", "-1", "--epochs", "1", cwd=tmp_path)
    assert result.returncode != 0 and "lr" in result.stderr
    assert "Traceback" not in result.stderr


def test_nncore_console_script_runs(tmp_path):
    script = shutil.which("nncore", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the nncore console script is not installed next to this Python")
    result = subprocess.run([script, "train", "--epochs", "2", "--hidden", "8"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 0.0 <= accuracy_of(result.stdout) <= 1.0


# -- save / load --------------------------------------------------------------------------------

def trained_net(backend="cython", dtype="float64"):
    layers = [nncore.Dense(4, 6, nncore.Sigmoid(c=1.7, beta=0.6, trainable=True)),
              nncore.Dense(6, 5, nncore.LeakyReLU(delta=0.2)),
              nncore.Dense(5, 3, "softmax")]
    net = nncore.Network(layers, loss="cross_entropy", seed=3, dtype=dtype, backend=backend)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4))
    net.fit(X, rng.integers(3, size=20), epochs=3, lr=0.2, batch_size=5)
    return net, X


@pytest.mark.parametrize("load_backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_save_load_round_trip_gives_identical_predictions(backend, dtype, load_backend,
                                                          tmp_path):
    net, X = trained_net(backend, dtype)
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = nncore.Network.load(path, backend=load_backend)
    assert loaded.backend == load_backend
    assert loaded.dtype == net.dtype and loaded.loss_name == net.loss_name
    assert [(ly.n_in, ly.n_out) for ly in loaded.layers] == [(4, 6), (6, 5), (5, 3)]
    for a, b in zip(net.layers, loaded.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)
        assert a.activation.same_as(b.activation)  # name and parameters
    act = loaded.layers[0].activation
    assert (act.c, act.beta, act.trainable) == (net.layers[0].activation.c,
                                                net.layers[0].activation.beta, True)
    assert loaded.layers[1].activation.delta == 0.2
    if load_backend == backend:
        np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    else:
        np.testing.assert_allclose(loaded.predict(X), net.predict(X),
                                   rtol=1e-5 if dtype == "float32" else 1e-12)


def test_saved_file_loads_without_pickle(tmp_path):
    net, _ = trained_net()
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    assert all(arr.dtype != object for arr in arrays.values())
    np.testing.assert_array_equal(arrays["W0"], net.layers[0].W)
    config = json.loads(str(arrays["config"]))
    assert config["loss"] == "cross_entropy" and len(config["layers"]) == 3


def test_save_without_extension_and_load_by_the_same_name(tmp_path):
    net, X = trained_net()
    net.save(tmp_path / "model")
    loaded = nncore.Network.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_a_loaded_network_trains_on(tmp_path):
    net, X = trained_net()
    net.save(tmp_path / "net.npz")
    loaded = nncore.Network.load(tmp_path / "net.npz")
    y = np.arange(20) % 3
    kw = dict(epochs=2, lr=0.1, batch_size=4, shuffle=False)
    np.testing.assert_array_equal(loaded.fit(X, y, **kw), net.fit(X, y, **kw))


def test_loading_a_file_that_is_not_a_network_raises_value_error(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved nncore.Network"):
        nncore.Network.load(path)
    path = tmp_path / "bad_format.npz"
    np.savez(path, config=np.array(json.dumps({"format": "something/9"})))
    with pytest.raises(ValueError, match="format"):
        nncore.Network.load(path)
