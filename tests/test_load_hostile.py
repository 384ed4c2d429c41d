"""Network.load refuses every file that is not a valid saved network with one ValueError that
names the file and what is wrong, quickly, and without allocating what the file claims.

The corpus of hostile files is written here, from a valid saved network taken apart."""
import functools
import io
import json
import os
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import nncore


def valid_net(dtype="float64"):
    layers = [nncore.Dense(3, 4, nncore.Sigmoid(c=1.5, beta=0.5, trainable=True)),
              nncore.Dense(4, 2, "softmax")]
    return nncore.Network(layers, loss="cross_entropy", seed=0, dtype=dtype)


def npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def members_of(net):
    """The members of net's file: {name: .npy bytes}, and its configuration as a dict."""
    config = {"format": "nncore.Network/1", "loss": net.loss_name, "dtype": net.dtype.name,
              "layers": [{"n_in": ly.n_in, "n_out": ly.n_out,
                          "activation": ly.activation._config()} for ly in net.layers]}
    members = {"config.npy": npy(np.array(json.dumps(config)))}
    for l, ly in enumerate(net.layers):
        members[f"W{l}.npy"], members[f"b{l}.npy"] = npy(ly.W), npy(ly.b)
    return members, config


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def with_config(change, source=lambda: members_of(valid_net())):
    """A maker of a file whose configuration `change` altered; `source` gives the members and
    configuration of a good file."""
    def make(path):
        members, config = source()
        change(config)
        members["config.npy"] = npy(np.array(json.dumps(config)))
        return write_zip(path, members)
    return make


def with_members(change, source=lambda: members_of(valid_net())):
    """A maker of a file whose members `change` altered."""
    def make(path):
        members, _ = source()
        change(members)
        return write_zip(path, members)
    return make


def raw(data):
    def make(path):
        path.write_bytes(data)
        return path
    return make


def valid_bytes(tmp_path):
    path = tmp_path / "valid.npz"
    valid_net().save(path)
    return path.read_bytes()


def truncated(keep):
    def make(path):
        data = valid_bytes(path.parent)
        path.write_bytes(data[:keep(len(data))])
        return path
    return make


def set_layer(l, **kw):
    def change(config):
        config["layers"][l].update(kw)
    return change


def set_activation(l, **kw):
    def change(config):
        config["layers"][l]["activation"].update(kw)
    return change


def huge_layer(n):
    """A config and headers that describe an n x n first layer, with almost no data."""
    def make(path):
        members, config = members_of(valid_net())
        config["layers"] = [{"n_in": n, "n_out": n, "activation": {"name": "identity"}},
                            {"n_in": n, "n_out": 2, "activation": {"name": "softmax"}}]
        members["config.npy"] = npy(np.array(json.dumps(config)))
        for name, shape in (("W0", (n, n)), ("b0", (n,)), ("W1", (n, 2)), ("b1", (2,))):
            header = io.BytesIO()
            np.lib.format.write_array_header_2_0(
                header, {"descr": "<f8", "fortran_order": False, "shape": shape})
            members[f"{name}.npy"] = b"\x93NUMPY\x02\x00" + header.getvalue()[8:] + b"\0" * 64
        return write_zip(path, members)
    return make


def huge_declared_member(path):
    """A zip whose central directory says W0 holds 2**40 bytes."""
    members, _ = members_of(valid_net())
    write_zip(path, members)
    data = bytearray(path.read_bytes())
    # patch the uncompressed size (offset 24 of the central directory record) of W0.npy
    name = b"W0.npy"
    at = data.rindex(b"PK\x01\x02", 0, data.rindex(name))
    data[at + 24:at + 28] = (0xFFFFFFF0).to_bytes(4, "little")
    data[at + 20:at + 24] = (0xFFFFFFF0).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def replace(name, arr, allow_pickle=False):
    def change(members):
        members[name] = npy(arr, allow_pickle)
    return change


def nan_at(name, index, value=np.nan):
    def change(members):
        arr = np.load(io.BytesIO(members[name])).copy()
        arr.reshape(-1)[index] = value
        members[name] = npy(arr)
    return change


# name -> (how to write the file, what the message must say)
CORPUS = {
    "empty file": (raw(b""), "not a zip"),
    "random bytes": (raw(np.random.default_rng(0).bytes(3000)), "not a zip"),
    "a text file": (raw(b"hello, I am not a network\n" * 20), "not a zip"),
    "truncated to half": (truncated(lambda n: n // 2), "not a zip"),
    "truncated by one byte": (truncated(lambda n: n - 1), "not a zip"),
    "truncated to 100 bytes": (truncated(lambda n: 100), "not a zip"),
    "a plain .npy file": (raw(npy(np.zeros(10))), "not a zip"),
    "no config": (with_members(lambda m: m.pop("config.npy")), "no configuration"),
    "config not JSON": (with_members(replace("config.npy", np.array("{nope"))), "JSON"),
    "config a list": (with_members(replace("config.npy", np.array("[1, 2]"))),
                      "not an object"),
    "config a number array": (with_members(replace("config.npy", np.zeros(3))), "config"),
    "config deeply nested": (with_members(replace("config.npy", np.array("[" * 100000))),
                             "JSON"),
    "unknown format": (with_config(lambda c: c.update(format="nncore.Network/9")), "format"),
    "no format": (with_config(lambda c: c.pop("format")), "format"),
    "extra config key": (with_config(lambda c: c.update(evil=1)), "keys"),
    "missing loss": (with_config(lambda c: c.pop("loss")), "keys"),
    "unknown loss": (with_config(lambda c: c.update(loss="hinge")), "loss"),
    "loss not a string": (with_config(lambda c: c.update(loss=[1])), "loss"),
    "float16 dtype": (with_config(lambda c: c.update(dtype="float16")), "dtype"),
    "object dtype in config": (with_config(lambda c: c.update(dtype="object")), "dtype"),
    "no layers": (with_config(lambda c: c.update(layers=[])), "layers"),
    "layers not a list": (with_config(lambda c: c.update(layers="3,4,2")), "layers"),
    "negative n_in": (with_config(set_layer(0, n_in=-3)), "n_in"),
    "zero n_out": (with_config(set_layer(1, n_out=0)), "n_out"),
    "bool n_in": (with_config(set_layer(0, n_in=True)), "n_in"),
    "float n_in": (with_config(set_layer(0, n_in=3.0)), "n_in"),
    "n_in beyond C int": (with_config(set_layer(0, n_in=2**40)), "n_in"),
    "layers that do not chain": (with_config(set_layer(1, n_in=5)), "takes 5 inputs"),
    "unknown activation": (with_config(set_activation(1, name="swish")), "activation"),
    "activation with an extra parameter": (with_config(set_activation(0, gamma=2.0)),
                                           "activation"),
    "NaN activation parameter": (with_config(set_activation(0, c=float("nan"))),
                                 "finite number"),
    "string activation parameter": (with_config(set_activation(0, beta="1")),
                                    "finite number"),
    "trainable not a bool": (with_config(set_activation(0, trainable="yes")), "bool"),
    "activation parameter outside the dtype's range": (
        with_config(set_activation(0, c=1e-310)), "outside the range"),
    "trainable sigmoid output with cross-entropy": (
        with_config(lambda c: c["layers"][1].update(
            activation={"name": "sigmoid", "c": 1.0, "beta": 1.0, "trainable": True})),
        "probabilities"),
    "missing W1": (with_members(lambda m: m.pop("W1.npy")), "missing"),
    "extra member": (with_members(lambda m: m.update({"evil.npy": npy(np.zeros(3))})),
                     "unexpected"),
    "W0 of the wrong shape": (with_members(replace("W0.npy", np.zeros((4, 3)))), "shape"),
    "b1 two-dimensional": (with_members(replace("b1.npy", np.zeros((1, 2)))), "shape"),
    "W0 in float32 for a float64 network": (
        with_members(replace("W0.npy", np.zeros((3, 4), np.float32))), "dtype"),
    "W0 of integers": (with_members(replace("W0.npy", np.zeros((3, 4), np.int64))), "dtype"),
    "W0 complex": (with_members(replace("W0.npy", np.zeros((3, 4), complex))), "dtype"),
    "W0 of strings": (with_members(replace("W0.npy", np.full((3, 4), "x"))), "dtype"),
    "W0 an object array": (
        with_members(replace("W0.npy", np.array([[object()] * 4] * 3), allow_pickle=True)),
        "objects"),
    "b0 a structured array": (
        with_members(replace("b0.npy", np.zeros(4, dtype=[("x", "f8")]))), "dtype"),
    "NaN at W0's first index": (with_members(nan_at("W0.npy", 0)), "finite"),
    "inf at b1's last index": (with_members(nan_at("b1.npy", -1, np.inf)), "finite"),
    "W1 not an .npy": (with_members(lambda m: m.update({"W1.npy": b"garbage" * 10})),
                       "not a valid .npy"),
    "W1 of .npy version 3.0": (with_members(lambda m: m.update(
        {"W1.npy": m["W1.npy"][:6] + b"\x03\x00" + m["W1.npy"][8:]})), "version (3, 0)"),
    "W1 declares a 4 GiB .npy header": (with_members(lambda m: m.update(
        {"W1.npy": b"\x93NUMPY\x02\x00" + (2**32 - 1).to_bytes(4, "little") + b" " * 64})),
        "declares a .npy header of 4294967295 bytes; at most 10000"),
    "W1 header only": (with_members(lambda m: m.update({"W1.npy": m["W1.npy"][:128]})),
                       "bytes"),
    "W1 with trailing bytes": (with_members(lambda m: m.update({"W1.npy": m["W1.npy"] + b"x"})),
                               "bytes"),
    "a compressed member": (
        lambda path: write_zip(path, members_of(valid_net())[0], zipfile.ZIP_DEFLATED),
        "compressed"),
    "two members of the same name": (
        lambda path: _duplicate(path), "same name"),
    "a 10**6 x 10**6 layer": (huge_layer(10**6), "max_bytes"),
    "a member that declares 4 GiB": (huge_declared_member, None),
}


def _duplicate(path):
    members, _ = members_of(valid_net())
    write_zip(path, members)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("W0.npy", members["W0.npy"])
    return path


# -- the optimizer and the generator (config["optimizer"], config["rng"], opt* members) -------

def trained_net(dtype="float64", optimizer=None):
    """valid_net trained a few steps with Adam (amsgrad: three state arrays per parameter,
    and the trainable sigmoid's), so that every state array is non-zero."""
    net = valid_net(dtype)
    net.optimizer = nncore.Adam(amsgrad=True) if optimizer is None else optimizer
    rng = np.random.default_rng(1)
    net.fit(rng.normal(size=(10, 3)), rng.integers(2, size=10), epochs=2, lr=0.1,
            batch_size=4)
    return net


def members_with_optimizer(net):
    """The members of net's file as save writes them (optimizer and generator included)."""
    members, config = members_of(net)
    config["optimizer"], arrays = net.optimizer._save()
    config["rng"] = net._rng.bit_generator.state
    members["config.npy"] = npy(np.array(json.dumps(config)))
    for name, arr in arrays.items():
        members[f"{name}.npy"] = npy(arr)
    return members, config


def opt_config(change):
    return with_config(change, lambda: members_with_optimizer(trained_net()))


def opt_members(change):
    return with_members(change, lambda: members_with_optimizer(trained_net()))


def update_at(*path, **kw):
    """A change that updates the config's dict at ``path`` (a chain of keys) with ``kw``."""
    def change(config):
        for key in path:
            config = config[key]
        config.update(kw)
    return change


set_opt = functools.partial(update_at, "optimizer")
set_hyper = functools.partial(update_at, "optimizer", "config")
set_rng = functools.partial(update_at, "rng")
set_rng_state = functools.partial(update_at, "rng", "state")


def pop_key(*keys):
    def change(config):
        for key in keys[:-1]:
            config = config[key]
        config.pop(keys[-1])
    return change


CORPUS.update({
    "optimizer not an object": (opt_config(lambda c: c.update(optimizer="adam")),
                                "keys kind, config, step"),
    "optimizer without a step": (opt_config(pop_key("optimizer", "step")),
                                 "keys kind, config, step"),
    "unknown optimizer kind": (opt_config(set_opt(kind="Adagrad")),
                               "unknown optimizer kind 'Adagrad'"),
    "optimizer kind not a string": (opt_config(set_opt(kind=3)), "unknown optimizer kind 3"),
    "optimizer kind of another class's name": (opt_config(set_opt(kind="Optimizer")),
                                               "unknown optimizer kind"),
    "hyper-parameters not an object": (opt_config(set_opt(config=[0.9, 0.999])),
                                       "hyper-parameters must be an object"),
    "missing hyper-parameter": (opt_config(pop_key("optimizer", "config", "beta2")),
                                "hyper-parameters must be an object with keys"),
    "extra hyper-parameter": (opt_config(set_hyper(momentum=0.9)),
                              "hyper-parameters must be an object with keys"),
    "beta1 out of range": (opt_config(set_hyper(beta1=1.5)), "beta1 must lie in [0.0, 1.0)"),
    "eps zero": (opt_config(set_hyper(eps=0.0)), "eps must lie in"),
    "negative weight decay": (opt_config(set_hyper(weight_decay=-1.0)), "weight_decay"),
    "hyper-parameter a string": (opt_config(set_hyper(beta2="0.999")), "numbers or bools"),
    "hyper-parameter null": (opt_config(set_hyper(weight_decay=None)), "numbers or bools"),
    "amsgrad not a bool": (opt_config(set_hyper(amsgrad=1)), "amsgrad must be a bool"),
    "negative step": (opt_config(set_opt(step=-1)), "step count is -1"),
    "float step": (opt_config(set_opt(step=5.0)), "step count is 5.0"),
    "bool step": (opt_config(set_opt(step=True)), "step count is True"),
    "step beyond int64": (opt_config(set_opt(step=2**63)), "step count"),
    # the next step would overflow the count and write NaN into every weight
    "step 2**63 - 1": (opt_config(set_opt(step=2**63 - 1)),
                       "step count is 9223372036854775807; expected an integer in [0, 2**53]"),
    "step 2**53 + 1": (opt_config(set_opt(step=2**53 + 1)), "step count is 9007199254740993"),
    "hyper-parameter NaN": (opt_config(set_hyper(beta1=float("nan"))), "beta1 must lie in"),
    "hyper-parameter infinite": (opt_config(set_hyper(eps=float("inf"))), "eps must lie in"),
    "hyper-parameter an integer beyond float64": (opt_config(set_hyper(weight_decay=10**400)),
                                                  "its Adam optimizer is invalid"),
    "missing optimizer state member": (opt_members(lambda m: m.pop("opt1_b_exp_avg_sq.npy")),
                                       "missing ['opt1_b_exp_avg_sq.npy']"),
    "missing activation state member": (
        opt_members(lambda m: m.pop("opt0_activation_exp_avg.npy")), "missing"),
    "extra optimizer state member": (
        opt_members(replace("opt0_W_momentum_buffer.npy", np.zeros((3, 4)))),
        "unexpected ['opt0_W_momentum_buffer.npy']"),
    "state of an optimizer without amsgrad": (
        opt_config(set_hyper(amsgrad=False)), "unexpected"),
    "state members but no optimizer": (opt_config(pop_key("optimizer")), "unexpected"),
    "state for a layer that does not exist": (
        opt_members(replace("opt2_W_exp_avg.npy", np.zeros((2, 2)))), "unexpected"),
    "state of the wrong shape": (opt_members(replace("opt0_W_exp_avg.npy", np.zeros((4, 3)))),
                                 "optimizer state W of layer 0"),
    "activation state of the wrong shape": (
        opt_members(replace("opt0_activation_exp_avg.npy", np.zeros(3))),
        "optimizer state activation of layer 0"),
    "state in float32 for a float64 network": (
        opt_members(replace("opt1_b_exp_avg.npy", np.zeros(2, np.float32))),
        "optimizer state b of layer 1 (exp_avg, opt1_b_exp_avg) has dtype float32"),
    "state of integers": (opt_members(replace("opt1_W_exp_avg.npy", np.zeros((4, 2), int))),
                          "dtype"),
    "state an object array": (
        opt_members(replace("opt1_W_exp_avg.npy", np.array([[object()] * 2] * 4),
                            allow_pickle=True)), "objects"),
    "NaN at a state's first index": (opt_members(nan_at("opt0_W_exp_avg.npy", 0)),
                                     "must be finite"),
    "inf at a state's last index": (opt_members(nan_at("opt1_b_max_exp_avg_sq.npy", -1,
                                                       np.inf)), "must be finite"),
    "NaN in the activation's state": (
        opt_members(nan_at("opt0_activation_exp_avg_sq.npy", 1)), "must be finite"),
    "negative average of squares": (opt_members(nan_at("opt0_b_exp_avg_sq.npy", 3, -1e-3)),
                                    "must be finite and >= 0"),
    "state header only": (
        opt_members(lambda m: m.update({"opt0_W_exp_avg.npy": m["opt0_W_exp_avg.npy"][:128]})),
        "bytes"),
    "rng not an object": (opt_config(lambda c: c.update(rng=12345)), "generator state"),
    "rng with an extra key": (opt_config(set_rng(evil="__import__('os')")), "generator state"),
    "rng without has_uint32": (opt_config(pop_key("rng", "has_uint32")), "generator state"),
    "rng of an unknown bit generator": (opt_config(set_rng(bit_generator="MyGenerator")),
                                        "bit generator 'MyGenerator'"),
    "rng of a bit generator whose state is not JSON": (
        opt_config(set_rng(bit_generator="MT19937")), "bit generator 'MT19937'"),
    "rng bit generator not a string": (opt_config(set_rng(bit_generator=["PCG64"])),
                                       "bit generator"),
    "rng state not an object": (opt_config(set_rng(state=[1, 3])), "has state"),
    "rng state negative": (opt_config(set_rng_state(state=-5)), "integers in [0, 2**128)"),
    "rng state beyond 128 bits": (opt_config(set_rng_state(inc=2**129 + 1)), "2**128"),
    "rng state a string": (opt_config(set_rng_state(state="12")), "has state"),
    "rng state a float": (opt_config(set_rng_state(state=1.5)), "has state"),
    "rng state without inc": (opt_config(pop_key("rng", "state", "inc")), "has state"),
    "rng increment even": (opt_config(set_rng_state(inc=4)), "even increment"),
    "rng has_uint32 not 0 or 1": (opt_config(set_rng(has_uint32=7)), "has_uint32 = 7"),
    "rng has_uint32 a bool": (opt_config(set_rng(has_uint32=True)), "has_uint32 = True"),
    "rng uinteger negative": (opt_config(set_rng(uinteger=-1)), "uinteger = -1"),
    "rng uinteger beyond 32 bits": (opt_config(set_rng(uinteger=2**32)), "uinteger"),
})


def test_the_corpus_starts_from_a_valid_file(tmp_path):
    members, _ = members_of(valid_net())
    path = write_zip(tmp_path / "rebuilt.npz", members)
    loaded = nncore.Network.load(path)
    np.testing.assert_array_equal(loaded.layers[0].W, valid_net().layers[0].W)


@pytest.mark.parametrize("case", list(CORPUS))
def test_a_hostile_file_is_refused_with_a_clear_value_error(case, tmp_path):
    make, says = CORPUS[case]
    path = make(tmp_path / "hostile.npz")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as info:
            nncore.Network.load(path)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message and "not a saved nncore.Network" in message, message
    if says is not None:
        assert says in message, message
    assert "\n" not in message
    # refused quickly, with memory on the order of the file's own size (the allowance covers
    # the zip directory, the JSON and the Python objects of the checks)
    assert elapsed < 2, elapsed
    assert peak < 4 * os.path.getsize(path) + 2**20, (peak, os.path.getsize(path))


def test_huge_declared_sizes_are_refused_even_with_a_raised_limit(tmp_path):
    path = huge_layer(10**6)(tmp_path / "huge.npz")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="declares|truncated|bytes"):
            nncore.Network.load(path, max_bytes=2**50)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**21


def test_max_bytes_refuses_a_valid_file_that_is_too_large_until_raised(tmp_path):
    net = nncore.Network([100, 50, 2], loss="mse", seed=0)
    path = net.save(tmp_path / "net.npz")
    needed = (100 * 50 + 50 + 50 * 2 + 2) * 8
    with pytest.raises(ValueError, match=f"{needed} bytes.*max_bytes"):
        nncore.Network.load(path, max_bytes=needed - 1)
    loaded = nncore.Network.load(path, max_bytes=needed)
    np.testing.assert_array_equal(loaded.layers[0].W, net.layers[0].W)
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="max_bytes"):
            nncore.Network.load(path, max_bytes=bad)


def test_missing_file_raises_os_error_and_a_folder_is_refused_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError):
        nncore.Network.load(tmp_path / "nothing.npz")
    folder = tmp_path / "a_folder.npz"
    folder.mkdir()
    # a folder is one more file load will not read: ValueError naming it, like a device
    with pytest.raises(ValueError, match="a_folder.npz.*a folder, not a regular file"):
        nncore.Network.load(folder)
    with pytest.raises(ValueError, match="a_folder.npz"):
        nncore.Network.load(str(folder))


def test_unknown_backend_is_blamed_on_the_argument_not_the_file(tmp_path):
    path = valid_net().save(tmp_path / "net.npz")
    with pytest.raises(ValueError, match="unknown backend 'torch'") as info:
        nncore.Network.load(path, backend="torch")
    assert "not a saved" not in str(info.value)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_truncation_of_a_valid_file_is_refused_or_loads_it_whole(tmp_path, dtype):
    # cut a valid file at every 7th byte: never a crash, never a partly loaded network
    path = tmp_path / "net.npz"
    net = valid_net(dtype)
    net.save(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for keep in range(0, len(data), 7):
        cut.write_bytes(data[:keep])
        with pytest.raises(ValueError, match="not a saved nncore.Network"):
            nncore.Network.load(cut)
    cut.write_bytes(data)
    loaded = nncore.Network.load(cut)
    np.testing.assert_array_equal(loaded.layers[1].W, net.layers[1].W)


def loads_of_flipped_bytes(path, tmp_path, step):
    """The file at ``path`` with one byte flipped, every ``step``-th byte in turn: yields what
    Network.load makes of each, the network or None when it refuses (with load's message)."""
    data = bytearray(open(path, "rb").read())
    bad = tmp_path / "bad.npz"
    for i in range(0, len(data), step):
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        try:
            loaded = nncore.Network.load(bad)
        except ValueError as exc:
            assert "not a saved nncore.Network" in str(exc)
            loaded = None
        yield loaded


def test_every_flipped_byte_of_a_valid_file_is_refused_or_loads_a_valid_network(tmp_path):
    # flip each byte of a small file in turn: load gives a ValueError or a usable network
    path = valid_net().save(tmp_path / "net.npz")
    refused = 0
    for loaded in loads_of_flipped_bytes(path, tmp_path, 3):
        if loaded is None:
            refused += 1
            continue
        out = loaded.predict(np.ones(3))
        assert out.shape == (2,) and np.isfinite(out).all()
    assert refused > 0


# -- the optimizer and the generator ---------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_optimizer_corpus_starts_from_a_valid_file(tmp_path, dtype):
    net = trained_net(dtype)
    members, _ = members_with_optimizer(net)
    assert any(name.startswith("opt0_activation_") for name in members)
    path = write_zip(tmp_path / "rebuilt.npz", members)
    loaded = nncore.Network.load(path)
    assert type(loaded.optimizer) is nncore.Adam and loaded.optimizer.amsgrad
    assert loaded.optimizer.step_count == net.optimizer.step_count == 6
    for a, b in zip(loaded.optimizer.state, net.optimizer.state):
        assert sorted(a) == sorted(b)
        for key, group in b.items():
            for name, arr in group.items():
                assert arr.dtype == a[key][name].dtype and np.any(arr != 0)
                np.testing.assert_array_equal(a[key][name], arr)
    assert loaded._rng.bit_generator.state == net._rng.bit_generator.state


def test_max_bytes_counts_the_optimizer_state(tmp_path):
    net = nncore.Network([100, 50, 2], loss="mse", seed=0, optimizer="adam")
    path = net.save(tmp_path / "net.npz")
    params = (100 * 50 + 50 + 50 * 2 + 2) * 8
    needed = 3 * params   # W and b, and Adam's exp_avg and exp_avg_sq of each
    with pytest.raises(ValueError, match=f"optimizer state would take {needed} bytes"):
        nncore.Network.load(path, max_bytes=needed - 1)
    loaded = nncore.Network.load(path, max_bytes=needed)
    assert type(loaded.optimizer) is nncore.Adam


@pytest.mark.parametrize("bit_generator", ["PCG64", "PCG64DXSM"])
def test_the_generator_state_is_restored(tmp_path, bit_generator):
    gen = np.random.Generator(getattr(np.random, bit_generator)(11))
    net = nncore.Network([3, 4, 2], loss="mse", seed=gen)
    gen.random(3)   # a state that no seed gives directly, with has_uint32 set
    gen.integers(2**32, dtype=np.uint32)
    loaded = nncore.Network.load(net.save(tmp_path / "net.npz"))
    assert type(loaded._rng.bit_generator).__name__ == bit_generator
    assert loaded._rng.bit_generator.state == net._rng.bit_generator.state
    assert loaded._rng.random(5).tolist() == net._rng.random(5).tolist()


def test_a_generator_whose_state_json_cannot_hold_is_not_saved(tmp_path):
    net = nncore.Network([3, 4, 2], loss="mse", seed=np.random.Generator(np.random.MT19937(5)))
    path = net.save(tmp_path / "net.npz")
    with np.load(path) as data:
        assert "rng" not in json.loads(str(data["config"]))
    loaded = nncore.Network.load(path)
    assert isinstance(loaded._rng.bit_generator, np.random.PCG64)   # a fresh generator


def test_save_refuses_an_optimizer_load_could_not_rebuild_and_keeps_the_old_file(tmp_path):
    class MyAdam(nncore.Adam):
        pass

    path = valid_net().save(tmp_path / "net.npz")
    before = open(path, "rb").read()
    net = nncore.Network([3, 2], loss="mse", seed=0, optimizer=MyAdam())
    with pytest.raises(TypeError, match="MyAdam"):
        net.save(path)
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


def test_every_flipped_byte_of_a_file_with_optimizer_is_refused_or_loads_a_valid_network(
        tmp_path):
    path = trained_net().save(tmp_path / "net.npz")
    refused = 0
    X = np.random.default_rng(3).normal(size=(6, 3))
    y = np.array([0, 1, 1, 0, 1, 0])
    for loaded in loads_of_flipped_bytes(path, tmp_path, 5):
        if loaded is None:
            refused += 1
            continue
        # what loads trains on without error (a flip in a weight or a moment gives other,
        # finite numbers)
        loaded.fit(X, y, epochs=1, lr=0.01, batch_size=3)
        assert all(np.isfinite(ly.W).all() for ly in loaded.layers)
    assert refused > 0


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_largest_step_count_a_file_may_hold_loads_and_trains_to_finite_weights(
        tmp_path, backend, dtype):
    net = trained_net(dtype)
    members, config = members_with_optimizer(net)
    config["optimizer"]["step"] = 2**53
    members["config.npy"] = npy(np.array(json.dumps(config)))
    loaded = nncore.Network.load(write_zip(tmp_path / "net.npz", members), backend=backend)
    assert loaded.optimizer.step_count == 2**53
    X = np.random.default_rng(3).normal(size=(6, 3))
    y = np.array([0, 1, 1, 0, 1, 0])
    before = [ly.W.copy() for ly in loaded.layers]
    loss = loaded.train_step(X, y, lr=0.01)
    assert np.isfinite(loss) and loaded.optimizer.step_count == 2**53 + 1
    for ly, W in zip(loaded.layers, before):
        assert np.isfinite(ly.W).all() and np.isfinite(ly.b).all()
        assert not np.array_equal(ly.W, W)


def test_an_unpickled_step_count_is_range_checked_as_a_loaded_one():
    net = trained_net()
    rebuild, args = net.__reduce__()
    args = list(args)
    args[5] = dict(args[5], step=2**63 - 1)
    with pytest.raises(ValueError, match="step count is 9223372036854775807"):
        rebuild(*args)
    args[5] = dict(args[5], step=6)
    assert rebuild(*args).optimizer.step_count == 6


# -- what is not a regular file, and zips of many members ---------------------------------------

# Loads `path` in a fresh interpreter whose address space may grow by at most 512 MiB once
# nncore is imported; prints what load raised, its message, and the seconds it took.
CHILD = r"""
import json, resource, sys, time
import nncore
def vm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
limit = vm_bytes() + 512 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
start = time.perf_counter()
try:
    nncore.Network.load(sys.argv[1])
    outcome = ("loaded", "")
except BaseException as exc:
    outcome = (type(exc).__name__, str(exc))
print(json.dumps([*outcome, time.perf_counter() - start]))
"""


def load_in_child(path, timeout=30):
    """(exception name, message, seconds) of Network.load(path) in a subprocess with a memory
    limit and a timeout (a file that makes load hang or allocate without bound fails the test
    instead of the test run)."""
    import subprocess
    import sys
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tuple(json.loads(proc.stdout.strip().splitlines()[-1]))


needs_linux = pytest.mark.skipif(not os.path.exists("/proc/self/status"),
                                 reason="the memory limit reads /proc/self/status")


@needs_linux
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_refused_at_once(tmp_path, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    for path in (device, tmp_path / "model.npz"):
        if path != device:
            os.symlink(device, path)   # a link with a model's name to the device
        name, message, seconds = load_in_child(path)
        assert name == "ValueError", (name, message)
        assert message == (f"{path} is not a saved nncore.Network: it is a character "
                           f"device, not a regular file")
        assert seconds < 1, seconds


@needs_linux
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_without_a_writer_is_refused_not_waited_on(tmp_path):
    path = tmp_path / "pipe.npz"
    os.mkfifo(path)
    name, message, seconds = load_in_child(path)
    assert (name, message) == ("ValueError", f"{path} is not a saved nncore.Network: it is a "
                                             f"named pipe, not a regular file")


@pytest.mark.skipif(not hasattr(__import__("socket"), "AF_UNIX"), reason="needs AF_UNIX")
def test_a_socket_is_refused(tmp_path, monkeypatch):
    import socket
    monkeypatch.chdir(tmp_path)   # a short name: a socket's path is limited to ~100 bytes
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock.npz")
        with pytest.raises(ValueError, match="sock.npz is not a saved nncore.Network: it is a "
                                             "socket, not a regular file"):
            nncore.Network.load("sock.npz")


@needs_linux
def test_a_sparse_4_gib_file_of_zeros_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "zeros.npz"
    with open(path, "wb") as f:
        f.truncate(4 * 2**30)
    name, message, seconds = load_in_child(path)
    assert name == "ValueError" and "not a zip" in message, (name, message)
    assert seconds < 1, seconds


@needs_linux
def test_a_file_that_reports_no_size_is_refused():
    # /proc files are regular files of size 0 whatever they hold
    with pytest.raises(ValueError, match="not a zip .*0 bytes"):
        nncore.Network.load("/proc/self/status")


def empty_members_zip(path, n):
    """A valid zip of n empty stored members 0000000.npy, 0000001.npy, ... (written with
    NumPy: zipfile takes ~20 s for a million)."""
    i = np.arange(n, dtype=np.int64)
    names = np.empty((n, 11), np.uint8)
    for k in range(7):
        names[:, 6 - k] = 48 + (i // 10**k) % 10
    names[:, 7:] = np.frombuffer(b".npy", np.uint8)
    local = np.zeros((n, 41), np.uint8)
    local[:, :30] = np.frombuffer(b"PK\x03\x04" + (20).to_bytes(2, "little") + bytes(20)
                                  + (11).to_bytes(2, "little") + bytes(2), np.uint8)
    local[:, 30:] = names
    central = np.zeros((n, 57), np.uint8)
    central[:, :42] = np.frombuffer(b"PK\x01\x02" + (20).to_bytes(2, "little") * 2
                                    + bytes(20) + (11).to_bytes(2, "little") + bytes(12),
                                    np.uint8)
    central[:, 42:46] = (i * 41).astype("<u4").view(np.uint8).reshape(n, 4)
    central[:, 46:] = names
    cd_offset, cd_size = local.size, central.size
    zip64_end = (b"PK\x06\x06" + (44).to_bytes(8, "little") + (45).to_bytes(2, "little") * 2
                 + bytes(8) + n.to_bytes(8, "little") * 2 + cd_size.to_bytes(8, "little")
                 + cd_offset.to_bytes(8, "little"))
    locator = (b"PK\x06\x07" + bytes(4) + (cd_offset + cd_size).to_bytes(8, "little")
               + (1).to_bytes(4, "little"))
    end = (b"PK\x05\x06" + bytes(4) + b"\xff\xff" * 2 + b"\xff\xff\xff\xff" * 2 + bytes(2))
    with open(path, "wb") as f:
        f.write(local.tobytes())
        f.write(central.tobytes())
        f.write(zip64_end + locator + end)
    return path


def test_the_zip_of_empty_members_is_a_valid_zip(tmp_path):
    path = empty_members_zip(tmp_path / "few.zip", 70_000)   # beyond 65535: zip64 records
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert len(infos) == 70_000 and infos[-1].filename == "0069999.npy"
        assert zf.read(infos[12345]) == b""
        assert zf.testzip() is None


@needs_linux
@pytest.mark.parametrize("n, says", [
    (10**6, "its zip directory takes 57000000 bytes; a saved network's takes at most"),
    # a directory small enough to be read, with more members than a file can have
    (100_000, "its zip lists more than 45057 members"),
])
def test_a_zip_of_many_empty_members_is_refused_at_once(tmp_path, n, says):
    path = empty_members_zip(tmp_path / "many.npz", n)
    name, message, seconds = load_in_child(path)
    assert name == "ValueError" and says in message, (name, message)
    assert message.startswith(f"{path} is not a saved nncore.Network")
    assert seconds < 1, seconds


def test_save_refuses_more_layers_than_load_accepts(tmp_path, monkeypatch):
    net = nncore.Network([3, 4, 4, 2], loss="mse", seed=0)
    path = net.save(tmp_path / "net.npz")
    monkeypatch.setattr(nncore.io, "_MAX_LAYERS", 2)
    with pytest.raises(ValueError, match="3 layers.*at most 2"):
        net.save(tmp_path / "other.npz")
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]
    with pytest.raises(ValueError, match="1 to 2 layers"):
        nncore.Network.load(path)


def test_a_long_npy_header_is_refused_before_it_is_read(tmp_path):
    # a header that declares (and holds) 32 MiB: numpy would read it all before refusing it
    length = 32 * 2**20
    members, _ = members_of(valid_net())
    members["W0.npy"] = (b"\x93NUMPY\x02\x00" + length.to_bytes(4, "little")
                         + b" " * length)
    path = write_zip(tmp_path / "long-header.npz", members)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"W0 declares a .npy header of {length} bytes"):
            nncore.Network.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak
