"""Saving survives crashes: a save is atomic (the old file or the new one, never a mix)."""
import os
import random
import signal
import stat
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
    took = []
    for _ in range(5):
        start = time.perf_counter()
        old.save(path)
        took.append(time.perf_counter() - start)
    # the child must finish two saves to turn the file back into the old model: kill it up to
    # four saves' time after the fork (a save's fsync takes longer on a busy machine)
    longest = max(0.02, 4 * sorted(took)[2])
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
        time.sleep(rng.uniform(0, longest))
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


# -- where save writes, and what it keeps --------------------------------------------------------

def mode_of(path):
    return os.stat(path).st_mode & 0o777


def current_umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and links")


@posix
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o755])
def test_save_over_a_file_keeps_its_permission_bits(tmp_path, mode):
    path = tmp_path / "net.npz"
    make_net(1).save(path)
    os.chmod(path, mode)
    make_net(2).save(path)
    assert mode_of(path) == mode
    assert same(nncore.Network.load(path), params(make_net(2)))


@posix
def test_a_new_file_follows_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        make_net(1).save(tmp_path / "private.npz")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "private.npz") == 0o600
    make_net(1).save(tmp_path / "usual.npz")
    assert mode_of(tmp_path / "usual.npz") == 0o666 & ~current_umask()


@posix
def test_a_private_file_is_never_readable_by_others_while_it_is_written(tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    make_net(1).save(path)
    os.chmod(path, 0o600)
    seen = []

    def savez(file, **arrays):
        seen.append(os.fstat(file.fileno()).st_mode & 0o777)
        return real(file, **arrays)

    real = np.savez
    monkeypatch.setattr(nncore.io.np, "savez", savez)
    make_net(2).save(path)
    assert seen == [0o600]


@posix
def test_save_writes_through_a_link_to_its_target(tmp_path):
    target = tmp_path / "models" / "net-v2.npz"
    target.parent.mkdir()
    make_net(1).save(target)
    os.chmod(target, 0o640)
    link = tmp_path / "current.npz"
    os.symlink(os.path.join("models", "net-v2.npz"), link)   # a relative link
    assert make_net(2).save(link) == str(link)
    assert os.path.islink(link) and os.readlink(link) == os.path.join("models", "net-v2.npz")
    assert same(nncore.Network.load(target), params(make_net(2)))
    assert mode_of(target) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["current.npz", "models"]
    assert sorted(os.listdir(target.parent)) == ["net-v2.npz"]


@posix
def test_save_through_a_chain_of_links_and_a_dangling_one(tmp_path):
    target = tmp_path / "real.npz"
    os.symlink(target, tmp_path / "b.npz")          # dangling until the save
    os.symlink(tmp_path / "b.npz", tmp_path / "a.npz")
    make_net(1).save(tmp_path / "a.npz")
    assert os.path.islink(tmp_path / "a.npz") and os.path.islink(tmp_path / "b.npz")
    assert same(nncore.Network.load(target), params(make_net(1)))


@posix
def test_save_to_a_link_loop_raises_naming_the_path_and_writes_nothing(tmp_path):
    os.symlink(tmp_path / "b.npz", tmp_path / "a.npz")
    os.symlink(tmp_path / "a.npz", tmp_path / "b.npz")
    with pytest.raises(OSError) as info:
        make_net(1).save(tmp_path / "a.npz")
    assert info.value.filename == str(tmp_path / "a.npz")
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz"]


def name_max(folder):
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return 255


def test_a_name_as_long_as_the_file_system_allows_is_saved_and_loaded(tmp_path):
    limit = name_max(tmp_path)
    for name in ("n" * (limit - 4) + ".npz", "é" * ((limit - 4) // 2) + ".npz"):
        assert len(os.fsencode(name)) <= limit
        path = tmp_path / name
        assert make_net(1).save(path) == str(path)
        assert same(nncore.Network.load(path), params(make_net(1)))
        make_net(2).save(path)   # and over itself
        assert same(nncore.Network.load(path), params(make_net(2)))
        assert sorted(os.listdir(tmp_path)) == [name]
        path.unlink()


def test_a_name_longer_than_the_file_system_allows_raises_naming_it(tmp_path):
    path = tmp_path / ("n" * name_max(tmp_path) + ".npz")
    with pytest.raises(OSError) as info:
        make_net(1).save(path)
    assert info.value.filename == str(path)
    assert os.listdir(tmp_path) == []


def test_save_into_a_missing_folder_names_the_path_given(tmp_path):
    path = str(tmp_path / "missing" / "net.npz")
    with pytest.raises(FileNotFoundError) as info:
        make_net(1).save(path)
    assert info.value.filename == path and ".tmp" not in str(info.value)
    # a name without .npz: the error names the file that save would have written
    with pytest.raises(FileNotFoundError) as info:
        make_net(1).save(tmp_path / "missing" / "net")
    assert info.value.filename == path


def test_save_over_a_folder_raises_naming_it(tmp_path):
    (tmp_path / "net.npz").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        make_net(1).save(tmp_path / "net.npz")
    assert info.value.filename == str(tmp_path / "net.npz")
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


@posix
def test_save_into_a_read_only_folder_names_the_path_given(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(PermissionError) as info:
            make_net(1).save(folder / "net.npz")
    finally:
        os.chmod(folder, 0o755)
    assert info.value.filename == str(folder / "net.npz")
    assert os.listdir(folder) == []


def test_a_full_disk_is_reported_against_the_path_given(tmp_path, monkeypatch):
    def full_disk(file, **arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nncore.io.np, "savez", full_disk)
    with pytest.raises(OSError, match="No space left") as info:
        make_net(1).save(tmp_path / "net.npz")
    assert info.value.errno == 28 and info.value.filename == str(tmp_path / "net.npz")
    assert os.listdir(tmp_path) == []


# -- check_path: save's path errors, before anything is trained or written -----------------------

def save_error(path):
    """The OSError (type, errno, filename) that saving to path raises, or None."""
    try:
        make_net(1).save(path)
    except OSError as exc:
        return type(exc), exc.errno, exc.filename
    return None


def check_error(path):
    try:
        assert nncore.io.check_path(path) == str(path) + ("" if str(path).endswith(".npz")
                                                          else ".npz")
    except OSError as exc:
        return type(exc), exc.errno, exc.filename
    return None


@posix
def test_check_path_refuses_what_save_refuses_with_the_same_error(tmp_path):
    (tmp_path / "folder.npz").mkdir()
    os.symlink(tmp_path / "loop2.npz", tmp_path / "loop1.npz")
    os.symlink(tmp_path / "loop1.npz", tmp_path / "loop2.npz")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    cases = [tmp_path / "missing" / "net.npz", tmp_path / "missing" / "net",
             tmp_path / "folder.npz", tmp_path / "loop1.npz",
             tmp_path / ("n" * name_max(tmp_path) + ".npz")]
    if os.geteuid() != 0:   # root writes anywhere
        cases.append(readonly / "net.npz")
    os.chmod(readonly, 0o555)
    try:
        before = sorted(os.listdir(tmp_path))
        for path in cases:
            expected = check_error(path)
            assert expected is not None, path
            assert os.path.basename(str(expected[2])) in (os.path.basename(str(path)),
                                                          os.path.basename(str(path)) + ".npz")
            assert sorted(os.listdir(tmp_path)) == before   # wrote nothing
            assert save_error(path) == expected, path
    finally:
        os.chmod(readonly, 0o755)


@posix
def test_check_path_accepts_what_save_writes_and_writes_nothing(tmp_path):
    target = tmp_path / "target.npz"
    os.symlink(target, tmp_path / "link.npz")   # dangling: save would create the target
    make_net(1).save(tmp_path / "existing.npz")
    for name in ("new.npz", "new", "link.npz", "existing.npz",
                 "n" * (name_max(tmp_path) - 4) + ".npz"):
        before = sorted(os.listdir(tmp_path))
        assert check_error(tmp_path / name) is None, name
        assert sorted(os.listdir(tmp_path)) == before
        assert save_error(tmp_path / name) is None, name


@posix
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_save_refuses_to_replace_what_is_not_a_regular_file(tmp_path):
    # a named pipe, directly and through a link (as a link to a device would be)
    pipe = tmp_path / "pipe.npz"
    os.mkfifo(pipe)
    os.symlink(pipe, tmp_path / "link.npz")
    for path in (pipe, tmp_path / "link.npz"):
        with pytest.raises(OSError, match="not a regular file") as info:
            make_net(1).save(path)
        assert info.value.filename == str(path)
        with pytest.raises(OSError, match="not a regular file"):
            nncore.io.check_path(path)
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "pipe.npz"]
    assert os.path.islink(tmp_path / "link.npz") and stat.S_ISFIFO(os.stat(pipe).st_mode)
