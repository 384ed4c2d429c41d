"""Saving and loading networks: ``.npz`` files that survive crashes and hostile input.

``save`` is atomic: it writes a temporary file in the target's folder, flushes and fsyncs it,
then renames it over the target (``os.replace``), so whatever happens before the rename (an
exception, a kill, a full disk) the old file is still whole. The temporary file is removed when
the write fails; only a process killed between its creation and the rename leaves one behind
(named ``.<target>.<random>.tmp``, next to the target, the target's name cut short when the
whole would be longer than the file system allows). A symbolic link is followed (the file it
ends at is replaced, the link stays); an existing file keeps its permission bits, a new one
gets 0o666 less the umask; errors name the path the caller gave.

``load`` opens regular files only, bounds the zip's directory before zipfile reads it (at most
``_MAX_MEMBERS`` members, the most a file of ``_MAX_LAYERS`` layers holds), and checks the
configuration and every array's header before it reads any array's data.

The file is a plain ``.npz`` (no pickle): a JSON configuration ``config`` and the arrays ``W0``,
``b0``, ``W1``, ... of each layer, plus the optimizer's state arrays
``opt<layer>_<W|b|activation>_<state name>`` (e.g. ``opt0_W_exp_avg``). The configuration holds
the format, loss, dtype and layers, and (files of older versions lack them) ``"optimizer"``
(``{"kind": "Adam", "config": {hyper-parameters}, "step": int}``) and ``"rng"`` (the state dict
of the generator that shuffles ``fit``, when its bit generator is PCG64 or PCG64DXSM, whose
states JSON holds), so that ``fit`` continues after ``load`` as if never interrupted. A model
saved by the command line also has ``"meta"``, a JSON object (its data's columns, scaling and
class names) that ``load`` checks is an object and otherwise leaves to the command line.
"""
import errno
import io
import json
import math
import numbers
import os
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np

__all__ = ["save", "load", "check_path"]

FORMAT = "nncore.Network/1"


def _config(net):
    config = {
        "format": FORMAT, "loss": net.loss_function._config(), "dtype": net.dtype.name,
        "layers": [{"n_in": ly.n_in, "n_out": ly.n_out,
                    "activation": ly.activation._config()} for ly in net.layers],
    }
    # dropout only where a layer has it: a network without dropout saves as before
    for spec, ly in zip(config["layers"], net.layers):
        if ly.dropout:
            spec["dropout"] = ly.dropout
    if any(ly.dropout for ly in net.layers):
        config["dropout_seed"] = net._dropout_seed
    return config


# the bit generators whose state a file may hold: those whose state is made of JSON integers
_RNG_KINDS = ("PCG64", "PCG64DXSM")


def _optimizer_state(net):
    """(config, arrays) of the network's optimizer, as ``Optimizer._save`` gives them; refuses
    an optimizer that load could not rebuild (a class not of nncore's)."""
    from .optimizers import _BY_NAME

    opt = net.optimizer
    if _BY_NAME.get(type(opt).__name__.lower()) is not type(opt):
        raise TypeError(f"cannot save an optimizer of class {type(opt).__name__}; nncore "
                        f"saves its own ({', '.join(c.__name__ for c in _BY_NAME.values())})")
    return opt._save()


def _rng_state(rng):
    """The generator's state as JSON can hold it, or None (a bit generator whose state is not
    plain integers: the file then has no "rng", and load starts a fresh generator)."""
    state = rng.bit_generator.state
    if state.get("bit_generator") not in _RNG_KINDS:
        return None
    try:
        json.dumps(state)
    except (TypeError, ValueError):
        return None
    return state


def _npz_path(path):
    """path as a str, with the ``.npz`` that NumPy would add to a name that lacks it."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path if path.endswith(".npz") else path + ".npz"


def _fsync_folder(folder):
    """Make the rename durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(net, path, meta=None):
    """Write ``net`` to ``path`` atomically (see the module's docstring); returns the path
    written (``.npz`` is added to a name that lacks it). ``meta``, a dict that JSON holds, is
    stored as the configuration's ``"meta"`` (what the command line needs to read new data);
    ``load`` checks that it is an object and otherwise ignores it.

    A symbolic link is followed: the file it points to is replaced, the link stays. An existing
    file keeps its permission bits (``rwx`` of user, group and others); a new file gets those
    that ``open`` would give it (0o666 less the umask). Errors name ``path`` as given."""
    path = _npz_path(path)
    if len(net.layers) > _MAX_LAYERS:
        raise ValueError(f"cannot save a network of {len(net.layers)} layers to {path}: a "
                         f"file holds at most {_MAX_LAYERS}")
    config = _config(net)
    if meta is not None:
        if not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
        config["meta"] = meta
    config["optimizer"], arrays = _optimizer_state(net)
    rng_state = _rng_state(net._rng)
    if rng_state is not None:
        config["rng"] = rng_state
    arrays["config"] = np.array(json.dumps(config))
    for l, ly in enumerate(net.layers):
        arrays[f"W{l}"], arrays[f"b{l}"] = ly.W, ly.b
    try:
        _write(path, arrays)
    except OSError as exc:
        _raise_about(path, exc)
    return path


def check_path(path):
    """Raise the OSError that ``save`` would raise because of where it writes, without
    writing anything: a missing folder, a folder that is not writable, a folder or a loop of
    links where the file should be, a name longer than the file system allows. Returns the
    path that ``save`` would write (``.npz`` added to a name that lacks it).

    For a program that trains and then saves: checking first means a bad path is found
    before the training, not after it. What only writing can find (a full disk) still shows
    when ``save`` runs."""
    path = _npz_path(path)
    try:
        target, _ = _target(path)
        folder, name = os.path.split(target)
        if not os.path.isdir(folder):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), folder)
        _temporary_name(folder, name)   # refuses a name that is too long
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), folder)
    except OSError as exc:
        _raise_about(path, exc)
    return path


def _raise_about(path, exc):
    """Raise ``exc`` again, about the user's path rather than the temporary file or the target
    of a link."""
    if exc.errno is None or exc.filename == path:
        raise exc
    try:
        renamed = type(exc)(exc.errno, exc.strerror, path)
    except Exception:   # a subclass that is not built as OSError is
        raise exc from None
    raise renamed from None


def _target(path):
    """The file that saving to ``path`` replaces: ``path`` itself, or the file its chain of
    symbolic links ends at; and that file's permission bits, or None when it does not exist."""
    target = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    if os.path.islink(target):  # realpath stops at a loop
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file (save replaces regular files only)",
                      path)
    return target, stat.S_IMODE(st.st_mode) & 0o777


def _temporary_name(folder, name):
    """``.<name>.<random>.tmp``, with ``name`` cut short as needed, so that the temporary
    file's name is never longer than the file system allows a name to be (the target's name
    may be as long as that)."""
    token = secrets.token_hex(6)
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        limit = 255
    room = max(limit - len(f"..{token}.tmp"), 1)
    encoded = os.fsencode(name)
    if len(encoded) > limit:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), name)
    while len(encoded) > room:   # cut whole characters
        name = name[:-1]
        encoded = os.fsencode(name)
    return os.path.join(folder, f".{name}.{token}.tmp")


def _write(path, arrays):
    target, mode = _target(path)
    folder, name = os.path.split(target)
    while True:
        tmp = _temporary_name(folder, name)
        try:
            # a new file: 0o666 less the umask, as a file that open() creates; in place of an
            # existing file: never more open than that file, then exactly its bits, before
            # any data is written
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666 if mode is None else mode)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                if hasattr(os, "fchmod"):
                    os.fchmod(f.fileno(), mode)
                else:
                    os.chmod(tmp, mode)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


# -- load ----------------------------------------------------------------------------------------

DEFAULT_MAX_BYTES = 2**30  # the most parameter memory load accepts unless told otherwise
_MAX_CONFIG_CHARS = 1 << 20
_MAX_NPY_HEADER = 10_000   # numpy's own default bound (a header of nncore's takes 128 bytes)
# The most layers a file may hold (save refuses more): it bounds the zip's member count, and so
# the time and memory that reading the zip's directory takes before anything else is checked.
_MAX_LAYERS = 4096
# config, W and b of each layer, and at most three state arrays for each of W, b and a trainable
# sigmoid's (c, beta) (Adam with AMSGrad)
_MAX_MEMBERS = 1 + 11 * _MAX_LAYERS
# the most bytes the zip's directory of a valid file takes (an entry of nncore's is ~120 bytes)
_MAX_DIRECTORY_BYTES = 256 * _MAX_MEMBERS
# The most steps a file's optimizer may have taken: the update computes beta**t in float64,
# which counts steps exactly up to 2**53; a count near 2**63 would overflow at the next step.
_MAX_STEP = 2**53
_CONFIG_KEYS = {"format", "loss", "dtype", "layers", "optimizer", "rng", "meta",
                "dropout_seed"}
_SQUARES = ("exp_avg_sq", "max_exp_avg_sq", "square_avg")  # state that is never negative
_ACTIVATION_KEYS = {"identity": set(), "tanh": set(), "relu": set(), "softmax": set(),
                    "sigmoid": {"c", "beta", "trainable"}, "leaky_relu": {"delta"},
                    "gelu": {"approximate"}, "elu": {"alpha"}, "silu": set(),
                    "softplus": {"beta", "threshold"}}


class _Bad(Exception):
    """What is wrong with the file (turned into the ValueError that load raises)."""


def _resolve(path):
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path = path + ".npz"
    return path


def _check_stored(info, what):
    """Refuse a zip member that is encrypted or compressed (nncore writes neither, and only a
    stored member's data are known to lie within the file)."""
    if info.flag_bits & 0x1:
        raise _Bad(f"{what} is encrypted")
    if info.compress_type != zipfile.ZIP_STORED:
        raise _Bad(f"{what} is compressed (zip method {info.compress_type}); nncore saves "
                   f"and reads uncompressed members only, whose data lie within the file")


def _read_header(f, what):
    """(shape, fortran_order, dtype) from the .npy header at the start of the open member f,
    which is left at the first byte of the data. The header's declared length is checked
    before the header is read (numpy's own check comes after reading it)."""
    fmt = np.lib.format
    head = f.read(8)   # the magic string and the version
    if len(head) != 8 or head[:6] != fmt.MAGIC_PREFIX:
        raise _Bad(f"{what} is not a valid .npy array (no .npy magic string)")
    version = (head[6], head[7])
    if version not in ((1, 0), (2, 0)):
        raise _Bad(f"{what} is .npy format version {version}; expected 1.0 or 2.0")
    length_bytes = f.read(2 if version == (1, 0) else 4)
    length = int.from_bytes(length_bytes, "little")
    if len(length_bytes) not in (2, 4) or length > _MAX_NPY_HEADER:
        raise _Bad(f"{what} declares a .npy header of {length} bytes; at most "
                   f"{_MAX_NPY_HEADER}")
    header = io.BytesIO(head + length_bytes + f.read(length))
    try:
        fmt.read_magic(header)
        if version == (1, 0):
            return fmt.read_array_header_1_0(header)
        return fmt.read_array_header_2_0(header)
    except (ValueError, TypeError, SyntaxError, EOFError) as exc:
        raise _Bad(f"{what} is not a valid .npy array ({exc})") from None


def _read_member(zf, info, expected_shape, expected_kind, itemsize, what):
    """The array stored in zip member ``info``, after checking its .npy header against
    (expected_shape, expected_kind, itemsize) and its sizes against the zip's records, before
    reading its data."""
    _check_stored(info, what)
    with zf.open(info) as f:
        shape, fortran, dtype = _read_header(f, what)
        if dtype.hasobject:
            raise _Bad(f"{what} holds Python objects (dtype {dtype}); a saved network holds "
                       f"numbers only")
        if dtype.kind != expected_kind or (itemsize and dtype.itemsize != itemsize):
            raise _Bad(f"{what} has dtype {dtype}; expected "
                       + (f"float{8 * itemsize}" if expected_kind == "f" else "a unicode string"))
        if expected_shape is not None and tuple(shape) != expected_shape:
            raise _Bad(f"{what} has shape {tuple(shape)}; the configuration says "
                       f"{expected_shape}")
        if len(shape) > 2 or any(not isinstance(d, int) or d < 0 for d in shape):
            raise _Bad(f"{what} has shape {shape}")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        header = f.tell()
        if info.file_size != header + nbytes:
            raise _Bad(f"{what} declares {info.file_size} bytes for a {shape} {dtype} array "
                       f"of {nbytes} bytes")
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise _Bad(f"{what} is truncated: {len(data)} of {nbytes} bytes")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def _open_regular(path):
    """``path`` opened for reading in binary, after checking that it is a regular file (a
    device such as /dev/zero, a named pipe, a socket or a folder is refused with the ValueError
    that load raises for every file it will not read). The kind is checked before the
    file is opened and again on what was opened; the file is opened without blocking, so that
    a named pipe that appears in between is refused rather than waited on."""

    def check(mode):
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a file")
            raise ValueError(f"{path} is not a saved nncore.Network: it is {kind}, not a "
                             f"regular file")

    check(os.stat(path).st_mode)
    flags = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_NOCTTY", 0))
    fd = os.open(path, flags)
    try:
        check(os.fstat(fd).st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _Guarded:
    """The open file as zipfile reads it, with two bounds while zipfile reads the zip's
    directory (before ``opened`` is set): no read goes past the size the file had when it was
    opened, and no read may return a directory larger than a saved network's
    (``_MAX_DIRECTORY_BYTES``) or one that lists more than ``_MAX_MEMBERS`` members. zipfile
    builds an object for every member it finds, so these bounds are what keep a zip of a
    million empty members from taking seconds and hundreds of MB to refuse."""

    def __init__(self, f, size):
        self._f, self._size, self.opened = f, size, False

    def read(self, n=-1):
        if self.opened:
            return self._f.read(n)
        left = max(self._size - self._f.tell(), 0)
        n = left if n is None or n < 0 else min(n, left)
        if n > _MAX_DIRECTORY_BYTES:
            raise _Bad(f"its zip directory takes {n} bytes; a saved network's takes at most "
                       f"{_MAX_DIRECTORY_BYTES}")
        data = self._f.read(n)
        # every member's record in the directory starts with this signature
        if data.count(b"PK\x01\x02") > _MAX_MEMBERS:
            raise _Bad(f"its zip lists more than {_MAX_MEMBERS} members, the most a saved "
                       f"network has")
        return data

    def seek(self, offset, whence=0):
        return self._f.seek(offset, whence)

    def tell(self):
        return self._f.tell()

    def seekable(self):
        return True


def _count(spec, key, where):
    value = spec.get(key)
    if type(value) is not int or not 1 <= value <= 2**31 - 1:
        raise _Bad(f"{where} has {key} = {value!r}; expected an integer in [1, 2**31 - 1]")
    return value


def _check_config(config, max_bytes):
    """The configuration's dtype, after checking its keys, types, ranges and total size."""
    from .losses import LOSS_NAMES

    if not isinstance(config, dict):
        raise _Bad(f"the configuration is a JSON {type(config).__name__}, not an object")
    if config.get("format") != FORMAT:
        raise _Bad(f"unknown format {config.get('format')!r}; expected {FORMAT!r}")
    if not {"format", "loss", "dtype", "layers"} <= set(config) <= _CONFIG_KEYS:
        raise _Bad(f"the configuration has keys {sorted(config)}; expected "
                   f"['dtype', 'format', 'layers', 'loss'] and optionally 'optimizer', 'rng', "
                   f"'meta'")
    if not isinstance(config.get("meta", {}), dict):
        raise _Bad(f"'meta' is a JSON {type(config['meta']).__name__}, not an object")
    # a loss is saved by its exact name, or (Huber) as {"name": "huber", "delta": ...}
    loss = config["loss"]
    if isinstance(loss, dict):
        delta = loss.get("delta")
        if (loss.get("name") != "huber" or set(loss) != {"name", "delta"}
                or type(delta) not in (int, float) or not math.isfinite(delta)
                or not delta > 0):
            raise _Bad(f"loss {loss!r}; expected a name or {{'name': 'huber', 'delta': d}} "
                       f"with d finite and > 0")
    elif loss not in LOSS_NAMES:
        raise _Bad(f"unknown loss {loss!r}; expected one of {LOSS_NAMES}")
    if config["dtype"] not in ("float32", "float64"):
        raise _Bad(f"dtype {config['dtype']!r}; expected 'float32' or 'float64'")
    layers = config["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= _MAX_LAYERS:
        raise _Bad(f"'layers' must be a list of 1 to {_MAX_LAYERS} layers")
    itemsize = np.dtype(config["dtype"]).itemsize
    total = 0
    for l, spec in enumerate(layers):
        where = f"layer {l}"
        if not isinstance(spec, dict) or not (
                {"n_in", "n_out", "activation"} <= set(spec)
                <= {"n_in", "n_out", "activation", "dropout"}):
            raise _Bad(f"{where} must be an object with keys n_in, n_out, activation (and "
                       f"optionally dropout)")
        p = spec.get("dropout", 0.0)
        if type(p) not in (int, float) or not 0 <= p < 1 or (p and l == len(layers) - 1):
            raise _Bad(f"{where} has dropout = {_short(p)}; expected a number in [0, 1) "
                       f"(0 for the output layer)")
        n_in, n_out = _count(spec, "n_in", where), _count(spec, "n_out", where)
        if l and n_in != layers[l - 1]["n_out"]:
            raise _Bad(f"{where} takes {n_in} inputs but layer {l - 1} gives "
                       f"{layers[l - 1]['n_out']}")
        act = spec["activation"]
        name = act.get("name") if isinstance(act, dict) else None
        if name not in _ACTIVATION_KEYS or set(act) - {"name"} - _ACTIVATION_KEYS[name]:
            raise _Bad(f"{where} has activation {act!r}")
        for key, value in act.items():
            if key == "trainable" and type(value) is not bool:
                raise _Bad(f"{where}'s {name} has trainable = {value!r}; expected a bool")
            if key == "approximate" and value not in ("none", "tanh"):
                raise _Bad(f"{where}'s {name} has approximate = {value!r}; expected 'none' or "
                           f"'tanh'")
            if key not in ("name", "trainable", "approximate") and (
                    type(value) not in (int, float) or not math.isfinite(value)):
                raise _Bad(f"{where}'s {name} has {key} = {value!r}; expected a finite number")
        total += (n_in + 1) * n_out * itemsize
    dtype = np.dtype(config["dtype"])
    optimizer = _check_optimizer(config["optimizer"], layers, dtype) \
        if "optimizer" in config else None
    if optimizer is not None:
        total += sum(math.prod(shape) * sdtype.itemsize for groups in optimizer[2]
                     for group in groups for _, shape, sdtype in group)
    if total > max_bytes:
        raise _Bad(f"its parameters{' and optimizer state' if optimizer else ''} would take "
                   f"{total} bytes, more than max_bytes = {max_bytes} (pass a larger "
                   f"max_bytes to load it)")
    seed = config.get("dropout_seed", 0)
    if type(seed) is not int or not 0 <= seed < 2**63:
        raise _Bad(f"'dropout_seed' is {_short(seed)}; expected an integer in [0, 2**63)")
    rng = _check_rng(config["rng"]) if "rng" in config else None
    return dtype, optimizer, rng


def _check_optimizer(spec, layers, dtype):
    """(optimizer, step, layout) from the configuration's "optimizer": a new, unbound optimizer
    of the saved kind and hyper-parameters (validated by its constructor), the step count, and
    the state arrays it keeps for these layers (see ``Optimizer._state_layout``)."""
    from .optimizers import _BY_NAME

    if not isinstance(spec, dict) or set(spec) != {"kind", "config", "step"}:
        raise _Bad(f"its optimizer must be an object with keys kind, config, step; got "
                   f"{_short(spec)}")
    kind = spec["kind"]
    cls = _BY_NAME.get(kind.lower()) if isinstance(kind, str) else None
    if cls is None or cls.__name__ != kind:
        raise _Bad(f"unknown optimizer kind {_short(kind)}; expected one of "
                   f"{[c.__name__ for c in _BY_NAME.values()]}")
    hyper = spec["config"]
    known = set(cls().get_config())
    optional = {"clip_norm", "clip_value"}   # may be left out of a file, or None: off
    if not isinstance(hyper, dict) or not known - optional <= set(hyper) <= known:
        raise _Bad(f"its {kind} optimizer's hyper-parameters must be an object with keys "
                   f"{sorted(known)}; got {_short(hyper)}")
    if any(type(v) not in (bool, int, float) and not (v is None and k in optional)
           for k, v in hyper.items()):
        raise _Bad(f"its {kind} optimizer's hyper-parameters must be numbers or bools; got "
                   f"{_short(hyper)}")
    try:
        optimizer = cls(**hyper)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _Bad(f"its {kind} optimizer is invalid: {exc}") from None
    step = spec["step"]
    if not _step_ok(step):
        raise _Bad(f"its optimizer's step count is {_short(step)}; expected an integer in "
                   f"[0, 2**53]")
    layout = optimizer._state_layout(
        [(ly["n_in"], ly["n_out"], ly["activation"].get("trainable") is True) for ly in layers],
        dtype)
    return optimizer, step, layout


def _step_ok(step):
    return type(step) is int and 0 <= step <= _MAX_STEP


def _check_rng(state):
    """A numpy Generator in the saved state (PCG64 or PCG64DXSM), after checking the state's
    keys, types and ranges, and that numpy takes it as it is."""
    where = "its generator state (\"rng\")"
    if not isinstance(state, dict) or set(state) != {"bit_generator", "state", "has_uint32",
                                                     "uinteger"}:
        raise _Bad(f"{where} must be an object with keys bit_generator, state, has_uint32, "
                   f"uinteger; got {_short(state)}")
    kind = state["bit_generator"]
    if kind not in _RNG_KINDS:
        raise _Bad(f"{where} is of bit generator {_short(kind)}; expected one of {_RNG_KINDS}")
    inner = state["state"]
    if not isinstance(inner, dict) or set(inner) != {"state", "inc"} or any(
            type(v) is not int or not 0 <= v < 2**128 for v in inner.values()):
        raise _Bad(f"{where} has state {_short(inner)}; expected {{'state': s, 'inc': i}}, "
                   f"integers in [0, 2**128)")
    if inner["inc"] % 2 != 1:
        raise _Bad(f"{where} has an even increment {inner['inc']}; {kind}'s is odd")
    if state["has_uint32"] not in (0, 1) or type(state["has_uint32"]) is not int:
        raise _Bad(f"{where} has has_uint32 = {_short(state['has_uint32'])}; expected 0 or 1")
    if type(state["uinteger"]) is not int or not 0 <= state["uinteger"] < 2**32:
        raise _Bad(f"{where} has uinteger = {_short(state['uinteger'])}; expected an integer "
                   f"in [0, 2**32)")
    bit_generator = getattr(np.random, kind)()
    try:
        bit_generator.state = state
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise _Bad(f"{where} is refused by numpy ({type(exc).__name__}: {exc})") from None
    if bit_generator.state != state:
        raise _Bad(f"{where} is not kept by numpy as it is")
    return np.random.Generator(bit_generator)


def _short(value, limit=80):
    """repr(value), cut to ``limit`` characters (a message stays one short line)."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load(cls, path, backend="cython", *, max_bytes=DEFAULT_MAX_BYTES):
    """A ``cls`` (nncore.Network) from a file written by ``save``.

    Only a regular file is read (a device, named pipe or socket is refused before anything
    is read from it), and the zip's directory only when it is no larger than a saved network's
    can be. Everything is checked before memory is allocated for the network: the zip's members
    (``config``, then ``W<l>`` and ``b<l>`` for each layer and exactly the state arrays that
    the saved optimizer keeps, nothing else), the format version, the configuration's keys,
    types and ranges (the optimizer's kind, its hyper-parameters through its constructor, its
    step count, at most 2**53; the generator's state through numpy), each array's dtype and
    shape from its ``.npy`` header, and the total size of the parameters and the optimizer's
    state against ``max_bytes``. The weights and the optimizer's state must be finite (and its
    averages of squares >= 0). A file without "optimizer" (an older version's) loads with SGD;
    one without "rng" with a fresh generator.

    Raises
    ------
    ValueError
        Naming the file and what is wrong, for any file that is not a valid saved network
        (not a regular file, e.g. a folder or a device, truncated, not a zip, a zip of too many members, a missing, extra
        or wrong member, a wrong shape or dtype, NaN weights, an object array, sizes beyond
        ``max_bytes``).
    FileNotFoundError, PermissionError
        When the file does not exist or cannot be opened.
    """
    from .activations import get_activation
    from .layers import Dense

    if isinstance(max_bytes, bool) or not isinstance(max_bytes, numbers.Integral) \
            or max_bytes < 1:
        raise ValueError(f"max_bytes must be an integer >= 1, got {max_bytes!r}")
    from .network import BACKENDS

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    path = _resolve(path)
    with _open_regular(path) as fh:
        try:
            size = os.fstat(fh.fileno()).st_size
            if size < 22:   # the zip's end record alone takes 22 bytes
                raise _Bad(f"it is not a zip (.npz) file ({size} bytes)")
            guarded = _Guarded(fh, size)
            try:
                zf = zipfile.ZipFile(guarded)
            except zipfile.BadZipFile as exc:
                raise _Bad(f"it is not a zip (.npz) file ({exc})") from None
            guarded.opened = True
            with zf:
                infos = zf.infolist()
                if len(infos) > _MAX_MEMBERS:
                    raise _Bad(f"its zip lists {len(infos)} members; a saved network has at "
                               f"most {_MAX_MEMBERS}")
                names = [info.filename for info in infos]
                if len(set(names)) != len(names):
                    raise _Bad("the zip holds two members of the same name")
                for info in infos:
                    if info.header_offset + info.compress_size > size:
                        raise _Bad(f"it is truncated: {info.filename} lies beyond the "
                                   f"file's {size} bytes")
                    if info.compress_type == zipfile.ZIP_STORED \
                            and info.compress_size != info.file_size:
                        raise _Bad(f"{info.filename} declares {info.file_size} bytes but "
                                   f"stores {info.compress_size}")
                by_name = dict(zip(names, infos))
                if "config.npy" not in by_name:
                    raise _Bad(f"it has no configuration (members: {names[:10]})")
                info = by_name["config.npy"]
                if info.file_size > 4 * _MAX_CONFIG_CHARS + 1024:
                    raise _Bad(f"its configuration declares {info.file_size} bytes")
                text = _read_member(zf, info, (), "U", 0, "config")
                try:
                    config = json.loads(str(text))
                except (ValueError, RecursionError) as exc:
                    raise _Bad(f"its configuration is not valid JSON ({exc})") from None
                dtype, optimizer, rng = _check_config(config, max_bytes)
                layers = config["layers"]
                expected = {"config.npy"}
                for l in range(len(layers)):
                    expected |= {f"W{l}.npy", f"b{l}.npy"}
                states = {}   # member -> (shape, dtype, what)
                if optimizer is not None:
                    for l, groups in enumerate(optimizer[2]):
                        for key, group in zip(("W", "b", "activation"), groups):
                            for member, shape, sdtype in group:
                                name = member.rsplit(f"_{key}_", 1)[1]
                                states[member] = (shape, sdtype, f"optimizer state {key} of "
                                                  f"layer {l} ({name}, {member})")
                    expected |= {member + ".npy" for member in states}
                if set(names) != expected:
                    missing = sorted(expected - set(names))
                    extra = sorted(set(names) - expected)
                    raise _Bad(f"its members do not match its {len(layers)} layers"
                               + (f"; missing {missing[:6]}" if missing else "")
                               + (f"; unexpected {extra[:6]}" if extra else ""))
                # every header before any data
                shapes = {}
                for l, spec in enumerate(layers):
                    shapes[f"W{l}"] = (spec["n_in"], spec["n_out"])
                    shapes[f"b{l}"] = (spec["n_out"],)
                for key, shape in shapes.items():
                    _check_header(zf, by_name[key + ".npy"], shape, dtype, key)
                for member, (shape, sdtype, what) in states.items():
                    _check_header(zf, by_name[member + ".npy"], shape, sdtype, what)
                arrays = {}
                for key, shape in shapes.items():
                    arr = _read_member(zf, by_name[key + ".npy"], shape, "f", dtype.itemsize,
                                       key)
                    if not np.isfinite(arr).all():
                        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
                        raise _Bad(f"{key} holds {arr[bad]} at index {list(bad)}; weights "
                                   f"must be finite")
                    arrays[key] = arr
                for member, (shape, sdtype, what) in states.items():
                    arr = _read_member(zf, by_name[member + ".npy"], shape, "f",
                                       sdtype.itemsize, what)
                    bad = ~np.isfinite(arr)
                    if member.endswith(_SQUARES):
                        bad |= arr < 0
                    if bad.any():
                        at = tuple(int(i) for i in np.argwhere(bad)[0])
                        raise _Bad(f"{what} holds {arr[at]} at index {list(at)}; optimizer "
                                   f"state must be finite"
                                   + (" and >= 0" if member.endswith(_SQUARES) else ""))
                    arrays[member] = arr
            try:
                net_layers = [Dense(spec["n_in"], spec["n_out"],
                                    get_activation(spec["activation"]),
                                    dropout=spec.get("dropout", 0.0)) for spec in layers]
                net = cls(net_layers, loss=config["loss"], dtype=dtype, backend=backend,
                          optimizer="sgd" if optimizer is None else optimizer[0])
            except (ValueError, TypeError) as exc:
                raise _Bad(str(exc)) from None
            for l, ly in enumerate(net.layers):
                ly.W = arrays[f"W{l}"]
                ly.b = arrays[f"b{l}"]
            if "dropout_seed" in config:
                net._set_dropout_seed(config["dropout_seed"])
            if optimizer is not None:
                net.optimizer._load_state({"step": optimizer[1]}, arrays)
            if rng is not None:
                net._rng = rng
        except _Bad as exc:
            raise ValueError(f"{path} is not a saved nncore.Network: {exc}") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error,
                NotImplementedError, RuntimeError, UnicodeDecodeError, OverflowError) as exc:
            raise ValueError(f"{path} is not a saved nncore.Network: it could not be read "
                             f"({type(exc).__name__}: {exc})") from None
    return net


def _check_header(zf, info, shape, dtype, what):
    """Check a member's .npy header (dtype, shape, size) without reading its data."""
    _check_stored(info, what)
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    with zf.open(info) as f:
        got_shape, _, got_dtype = _read_header(f, what)
        header = f.tell()
    if got_dtype.hasobject:
        raise _Bad(f"{what} holds Python objects (dtype {got_dtype})")
    if got_dtype.kind != "f" or got_dtype.itemsize != dtype.itemsize:
        raise _Bad(f"{what} has dtype {got_dtype}; the configuration says {dtype.name}")
    if tuple(got_shape) != shape:
        raise _Bad(f"{what} has shape {tuple(got_shape)}; the configuration says {shape}")
    if info.file_size != header + nbytes:
        raise _Bad(f"{what} holds {info.file_size - header} bytes of data; a {shape} "
                   f"{dtype.name} array needs {nbytes}")


# -- pickle and copy ------------------------------------------------------------------------------

def reduce(net):
    """``Network.__reduce__``: rebuild through the public constructors, from the configuration
    (as saved), the parameters, the backend, the generator that shuffles ``fit``, and the
    optimizer (kind, hyper-parameters and step count as saved, and its state arrays)."""
    arrays = [(ly.W, ly.b) for ly in net.layers]
    opt_config, opt_arrays = _optimizer_state(net)
    return _unpickle, (type(net), _config(net), net.backend, arrays, net._rng, opt_config,
                       opt_arrays)


def _unpickle(cls, config, backend, arrays, rng, opt_config=None, opt_arrays=None):
    from .activations import get_activation
    from .layers import Dense
    from .optimizers import Optimizer

    if config.get("format") != FORMAT:
        raise ValueError(f"cannot unpickle a Network of format {config.get('format')!r}")
    layers = [Dense(spec["n_in"], spec["n_out"], get_activation(spec["activation"]),
                    dropout=spec.get("dropout", 0.0)) for spec in config["layers"]]
    if opt_config is not None and not _step_ok(opt_config.get("step")):
        raise ValueError(f"cannot unpickle a Network whose optimizer's step count is "
                         f"{_short(opt_config.get('step'))}; expected an integer in [0, 2**53]")
    # a pickle of a version without optimizer: SGD, as a file of that version
    optimizer = "sgd" if opt_config is None else Optimizer._from_saved(opt_config)
    net = cls(layers, loss=config["loss"], dtype=config["dtype"], backend=backend, seed=0,
              optimizer=optimizer)
    for ly, (W, b) in zip(net.layers, arrays):
        ly.W, ly.b = W, b
    if "dropout_seed" in config:
        net._set_dropout_seed(config["dropout_seed"])
    if opt_config is not None:
        net.optimizer._load_state(opt_config, opt_arrays)   # copies, checking shapes
    net._rng = rng  # a copy made by pickle or deepcopy: continued fit shuffles as the original
    return net
