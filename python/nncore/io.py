"""Saving and loading networks: ``.npz`` files that survive crashes and hostile input.

``save`` is atomic: it writes a temporary file in the target's folder, flushes and fsyncs it,
then renames it over the target (``os.replace``), so whatever happens before the rename (an
exception, a kill, a full disk) the old file is still whole. The temporary file is removed when
the write fails; only a process killed between its creation and the rename leaves one behind
(named ``.<target>.<random>.tmp``, next to the target).

The file is a plain ``.npz`` (no pickle): a JSON configuration ``config`` and the arrays ``W0``,
``b0``, ``W1``, ... of each layer.
"""
import json
import os
import secrets

import numpy as np

__all__ = ["save", "load"]

FORMAT = "nncore.Network/1"


def _config(net):
    return {
        "format": FORMAT, "loss": net.loss_name, "dtype": net.dtype.name,
        "layers": [{"n_in": ly.n_in, "n_out": ly.n_out,
                    "activation": ly.activation._config()} for ly in net.layers],
    }


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


def save(net, path):
    """Write ``net`` to ``path`` atomically (see the module's docstring); returns the path
    written (``.npz`` is added to a name that lacks it)."""
    path = _npz_path(path)
    arrays = {"config": np.array(json.dumps(_config(net)))}
    for l, ly in enumerate(net.layers):
        arrays[f"W{l}"], arrays[f"b{l}"] = ly.W, ly.b
    folder, name = os.path.split(os.path.abspath(path))
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            # 0o666 less the umask, as a file that open() creates
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)
    return path


def load(cls, path, backend="cython"):
    """A ``cls`` (nncore.Network) from a file written by ``save``."""
    from .activations import get_activation
    from .layers import Dense

    if not os.path.exists(path) and os.path.exists(str(path) + ".npz"):
        path = str(path) + ".npz"
    with np.load(path, allow_pickle=False) as data:
        try:
            config = json.loads(str(data["config"]))
            if config.get("format") != FORMAT:
                raise ValueError(f"unknown format {config.get('format')!r}")
            layers = [Dense(spec["n_in"], spec["n_out"], get_activation(spec["activation"]))
                      for spec in config["layers"]]
            net = cls(layers, loss=config["loss"], dtype=config["dtype"], backend=backend)
            for l, ly in enumerate(net.layers):
                ly.W = data[f"W{l}"]
                ly.b = data[f"b{l}"]
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a saved nncore.Network: {exc!r}") from None
    return net
