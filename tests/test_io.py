"""Saving survives crashes: a save is atomic (the old file or the new one, never a mix)."""
import os
import random
import signal
import sys
import time
import warnings

import numpy as np
import pytest

import nncore
import nncore.io


def make_net(seed, dtype="float64", backend="cython"):
    layers = [nncore.Dense(30, 64, nncore.Sigmoid(c=1.5, beta=0.7, trainable=True)),
              nncore.Dense(64, 40, nncore.LeakyReLU(delta=0.1)),
              nncore.Dense(40, 5, "softmax")]
    return nncore.Network(layers, loss="cross_entropy", seed=seed, dtype=dtype, backend=backend)


def params(net):
    return [arr.copy() for ly in net.layers for arr in (ly.W, ly.b, ly.activation._params)]


def same(net, reference):
    return all(np.array_equal(a, b) for a, b in zip(params(net), reference))


def leftovers(folder, name):
    """Files in folder other than name and the temporary files of saves that were killed."""
    return [f for f in os.listdir(folder)
            if f != name and not (f.startswith(f".{name}.") and f.endswith(".tmp"))]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_save_killed_at_any_moment_leaves_the_old_model_or_the_new_one(tmp_path):
    old, new = make_net(1), make_net(2)
    old_params, new_params = params(old), params(new)
    path = str(tmp_path / "net.npz")
    old.save(path)
    rng = random.Random(0)
    outcomes = {"old": 0, "new": 0}
    deadline = time.monotonic() + 4
    kills = 0
    while kills < 200 and (kills < 20 or time.monotonic() < deadline):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:  # the child saves the two models over each other until it is killed
            try:
                while True:
                    new.save(path)
                    old.save(path)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0, 0.02))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        kills += 1
        loaded = nncore.Network.load(path)
        if same(loaded, old_params):
            outcomes["old"] += 1
        else:
            assert same(loaded, new_params), f"kill {kills}: neither the old nor the new model"
            outcomes["new"] += 1
        assert leftovers(tmp_path, "net.npz") == []
    # the kills landed at different moments: both outcomes were seen
    assert outcomes["old"] > 0 and outcomes["new"] > 0, outcomes


def test_a_save_that_fails_midway_leaves_the_old_file_and_no_temporary_file(tmp_path,
                                                                            monkeypatch):
    old, new = make_net(1), make_net(2)
    path = tmp_path / "net.npz"
    old.save(path)
    before = path.read_bytes()

    def full_disk(file, **arrays):
        file.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nncore.io.np, "savez", full_disk)
    with pytest.raises(OSError, match="No space left"):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


def test_an_interrupted_save_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    old, new = make_net(1), make_net(2)
    path = tmp_path / "net.npz"
    old.save(path)
    before = path.read_bytes()

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(nncore.io.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


def test_save_into_a_missing_folder_raises_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_net(1).save(tmp_path / "missing" / "net.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_saved_file_gets_the_usual_permissions(tmp_path):
    path = tmp_path / "net.npz"
    make_net(1).save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_save_returns_the_path_and_overwrites(tmp_path):
    path = tmp_path / "net"
    assert make_net(1).save(path) == str(path) + ".npz"
    assert make_net(2).save(str(path) + ".npz") == str(path) + ".npz"
    assert same(nncore.Network.load(path), params(make_net(2)))
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]
