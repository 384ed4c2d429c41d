"""Callbacks: code that ``Network.fit`` runs at the start of training, after each epoch and at
the end.

A callback is any object with an ``on_epoch_end(epoch, logs)`` method; ``on_train_begin`` and
``on_train_end`` are optional. Subclass :class:`Callback` to get do-nothing defaults.

=====================================  =========================================================
``on_train_begin(network, keys)``      once, after fit has checked its arguments and before
                                       it changes anything: ``keys`` names what each epoch's
                                       logs hold. Raising here refuses the call (nothing has
                                       changed).
``on_epoch_end(epoch, logs) -> stop``  after each epoch (from 0), with ``logs`` a fresh dict
                                       such as ``{"loss": 0.31, "val_loss": 0.35, "lr": 0.1}``;
                                       a true return value stops training after this epoch.
``on_train_end(history)``              once when training ends, normally or by an exception
                                       (then ``history`` holds the epochs done).
=====================================  =========================================================

``fit(callback=f)`` with a plain function ``f(epoch, loss)`` keeps working beside them.
"""
from __future__ import annotations

import csv
import math
import numbers
import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from . import _validate

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network
    from .training import History

__all__ = ["Callback", "ModelCheckpoint", "CSVLogger"]


class Callback:
    """Base class of fit's callbacks: every method does nothing until overridden.

    ``fit(callbacks=[...])`` calls ``on_train_begin`` once, ``on_epoch_end`` after each epoch
    (a true return value stops training) and ``on_train_end`` once at the end, even when
    training raises.

    Examples
    --------
    >>> import numpy as np, nncore
    >>> class StopBelow(nncore.Callback):
    ...     def on_epoch_end(self, epoch, logs):
    ...         return logs["loss"] < 0.05          # True stops training
    >>> net = nncore.Network([1, 1], loss="mse", seed=0)
    >>> history = net.fit(np.ones((8, 1)), np.ones(8), epochs=500, lr=0.1,
    ...                   callbacks=[StopBelow()])
    >>> history.stopped_early, history[-1] < 0.05
    (True, True)
    """

    def on_train_begin(self, network: Network, keys: Sequence[str]) -> None:
        """Begin: training starts on ``network``; each epoch's logs will hold ``keys``.

        Raising here refuses the ``fit`` call, with nothing changed.

        Parameters
        ----------
        network : Network
            The network being trained.
        keys : sequence of str
            The names each epoch's logs will hold, such as ``("loss", "val_loss", "lr")``.

        Examples
        --------
        >>> import nncore
        >>> nncore.Callback().on_train_begin(None, ("loss", "lr")) is None
        True
        """

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> bool | None:
        """End an epoch: epoch ``epoch`` (from 0) is done; return True to stop training.

        Parameters
        ----------
        epoch : int
            The epoch just done, from 0.
        logs : mapping of str to float
            This epoch's values by name (a fresh dict), such as
            ``{"loss": 0.31, "val_loss": 0.35, "lr": 0.1}``.

        Returns
        -------
        bool or None
            A true value stops training after this epoch; the base class returns None.

        Examples
        --------
        >>> import nncore
        >>> print(nncore.Callback().on_epoch_end(0, {"loss": 0.5, "lr": 0.1}))
        None
        """
        return None

    def on_train_end(self, history: History) -> None:
        """End: training is over (normally, by a stop, or by an exception).

        Parameters
        ----------
        history : History
            The record of the epochs done.

        Examples
        --------
        >>> import nncore
        >>> nncore.Callback().on_train_end(nncore.History([0.5])) is None
        True
        """


def _check_folder(path, what):
    problem = _validate.output_path_problem(path)
    if problem is not None:
        raise ValueError(f"{what} path {problem[1]}")


def _path(path, what):
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


class ModelCheckpoint(Callback):
    """Save the network during training, after every epoch or each time it improves.

    With ``save_best_only`` (the default), a save follows each epoch whose monitored value
    improves on the best so far.

    Each save goes through ``Network.save``, which is atomic: the file is written beside the
    target and renamed over it, so an interrupted save never leaves a half-written model.

    Parameters
    ----------
    path : str or os.PathLike
        Where to save (``.npz`` is added to a name that lacks it). It may hold ``{epoch}``
        (from 1) and any key of the logs, e.g. ``"model-{epoch:03d}-{val_loss:.3f}.npz"``.
    monitor : str, default "val_loss"
        The value of the logs to watch: ``"loss"``, ``"val_loss"``, ``"accuracy"``,
        ``"val_accuracy"``. Lower is better, except for accuracies.
    save_best_only : bool, default True
        Save only when ``monitor`` improves (the file then holds the best epoch's network);
        with False, save after every epoch.

    Attributes
    ----------
    best : float or None
        The best monitored value so far.
    best_epoch : int or None
        Its epoch, from 0.
    saved : list of str
        The paths written, in order.

    Examples
    --------
    >>> import numpy as np, nncore, tempfile, os
    >>> X = np.random.default_rng(0).normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)
    >>> net = nncore.Network([3, 4, 2], loss="cross_entropy", seed=0)
    >>> folder = tempfile.mkdtemp()
    >>> best = nncore.ModelCheckpoint(os.path.join(folder, "best.npz"), monitor="loss")
    >>> history = net.fit(X, y, epochs=3, lr=0.1, callbacks=[best])
    >>> best.best_epoch == int(np.argmin(history))
    True
    """

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss",
                 save_best_only: bool = True) -> None:
        self.path = _path(path, "ModelCheckpoint")
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {type(monitor).__name__}")
        if not isinstance(save_best_only, bool):
            raise TypeError(f"save_best_only must be a bool, got "
                            f"{type(save_best_only).__name__}")
        self.monitor, self.save_best_only = monitor, save_best_only
        self._higher_is_better = monitor.endswith("accuracy")
        self._network = None
        self.best = self.best_epoch = None
        self.saved: list[str] = []

    def on_train_begin(self, network: Network, keys: Sequence[str]) -> None:
        """Check that ``monitor`` is logged and the folder can be written; keep the network.

        Parameters
        ----------
        network : Network
            The network being trained.
        keys : sequence of str
            The names each epoch's logs will hold, such as ``("loss", "val_loss", "lr")``.

        Raises
        ------
        ValueError
            If the logs will not hold ``monitor``, or the path's folder cannot be written.

        Examples
        --------
        >>> import nncore
        >>> checkpoint = nncore.ModelCheckpoint("model.npz", monitor="val_loss")
        >>> checkpoint.on_train_begin(None, ("loss", "lr"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ModelCheckpoint monitors 'val_loss', which this fit does not log...
        """
        if self.monitor not in keys:
            need = (" (give validation_data or validation_split)"
                    if self.monitor.startswith("val_") else "")
            raise ValueError(f"ModelCheckpoint monitors {self.monitor!r}, which this fit does "
                             f"not log{need}; it logs {tuple(keys)}")
        _check_folder(self.path, "ModelCheckpoint")
        self._network = network

    def _improves(self, value):
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self._higher_is_better else value < self.best

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Save the network if the monitored value improved (or always, without save_best_only).

        Parameters
        ----------
        epoch : int
            The epoch just done, from 0.
        logs : mapping of str to float
            This epoch's values by name (a fresh dict), such as
            ``{"loss": 0.31, "val_loss": 0.35, "lr": 0.1}``.

        Returns
        -------
        None
            A checkpoint never stops training.

        Examples
        --------
        >>> import os, tempfile, numpy as np, nncore
        >>> net = nncore.Network([2, 1], loss="mse", seed=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "m-{epoch}.npz")
        >>> checkpoint = nncore.ModelCheckpoint(path, monitor="loss", save_best_only=False)
        >>> history = net.fit(np.ones((4, 2)), np.zeros(4), epochs=2, lr=0.1,
        ...                   callbacks=[checkpoint])
        >>> [os.path.basename(p) for p in checkpoint.saved]
        ['m-1.npz', 'm-2.npz']
        """
        value = float(logs[self.monitor])
        better = self._improves(value)
        if better:
            self.best, self.best_epoch = value, epoch
        if better or not self.save_best_only:
            path = self.path.format(epoch=epoch + 1, **logs) if "{" in self.path else self.path
            self.saved.append(self._network.save(path))
        return None

    def on_train_end(self, history: History) -> None:
        """Let go of the network: no reference to it is kept after ``fit``.

        Parameters
        ----------
        history : History
            The record of the epochs done.

        Examples
        --------
        >>> import nncore
        >>> nncore.ModelCheckpoint("m.npz").on_train_end(nncore.History()) is None
        True
        """
        self._network = None   # hold no reference to the network after fit

    def __repr__(self) -> str:
        return (f"ModelCheckpoint({self.path!r}, monitor={self.monitor!r}, "
                f"save_best_only={self.save_best_only})")


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file.

    A row holds ``epoch`` (from 0), then the keys of the logs (``loss``, ``val_loss``,
    ``accuracy``, ``val_accuracy``, ``lr`` as fit has them).

    The file is opened at the end of the first epoch (so a refused ``fit`` leaves an existing
    file as it was) and flushed after each row, so it can be read while training runs.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file to write.
    separator : str, default ","
        The one character between two fields.
    append : bool, default False
        Add to an existing file (without a second header) instead of replacing it.

    Examples
    --------
    >>> import os, tempfile, numpy as np, nncore
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> net = nncore.Network([2, 1], loss="mse", seed=0)
    >>> history = net.fit(np.ones((4, 2)), np.zeros(4), epochs=2, lr=0.1,
    ...                   callbacks=[nncore.CSVLogger(path)])
    >>> with open(path) as f:
    ...     print(f.readline().strip(), len(f.readlines()))
    epoch,loss,lr 2
    """

    def __init__(self, path: str | os.PathLike[str], separator: str = ",",
                 append: bool = False) -> None:
        self.path = _path(path, "CSVLogger")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be one character, got {separator!r}")
        self.separator, self.append = separator, bool(append)
        self._file = self._writer = None
        self._keys: tuple[str, ...] = ()

    def on_train_begin(self, network: Network, keys: Sequence[str]) -> None:
        """Check that the folder can be written and keep ``keys`` as the columns.

        Parameters
        ----------
        network : Network
            The network being trained.
        keys : sequence of str
            The names each epoch's logs will hold, such as ``("loss", "val_loss", "lr")``.

        Raises
        ------
        ValueError
            If the path's folder does not exist or cannot be written.

        Examples
        --------
        >>> import nncore
        >>> nncore.CSVLogger("log.csv").on_train_begin(None, ("loss", "lr")) is None
        True
        """
        _check_folder(self.path, "CSVLogger")
        self._keys = tuple(keys)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Write the epoch's row (the file is opened, and the header written, at the first one).

        Parameters
        ----------
        epoch : int
            The epoch just done, from 0.
        logs : mapping of str to float
            This epoch's values by name (a fresh dict), such as
            ``{"loss": 0.31, "val_loss": 0.35, "lr": 0.1}``.

        Returns
        -------
        None
            A logger never stops training.

        Examples
        --------
        >>> import os, tempfile, nncore
        >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
        >>> logger = nncore.CSVLogger(path)
        >>> logger.on_train_begin(None, ("loss",))
        >>> logger.on_epoch_end(0, {"loss": 0.5})
        >>> logger.on_train_end(nncore.History([0.5]))
        >>> open(path).read().split()
        ['epoch,loss', '0,0.5']
        """
        if self._file is None:
            header = not (self.append and os.path.exists(self.path)
                          and os.path.getsize(self.path) > 0)
            self._file = open(self.path, "a" if self.append else "w", newline="",
                              encoding="utf-8")
            self._writer = csv.writer(self._file, delimiter=self.separator,
                                      lineterminator="\n")
            if header:
                self._writer.writerow(("epoch",) + self._keys)
        self._writer.writerow([epoch] + [_text(logs.get(k, "")) for k in self._keys])
        self._file.flush()
        return None

    def on_train_end(self, history: History) -> None:
        """Close the file.

        Parameters
        ----------
        history : History
            The record of the epochs done.

        Examples
        --------
        >>> import nncore
        >>> nncore.CSVLogger("log.csv").on_train_end(nncore.History()) is None
        True
        """
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None

    def __repr__(self) -> str:
        return f"CSVLogger({self.path!r}, separator={self.separator!r}, append={self.append})"


def _text(value: Any) -> str:
    """A log value as text that reads back exactly."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)


def check(callbacks) -> tuple:
    """fit's ``callbacks=`` as a tuple, after checking each has an on_epoch_end method."""
    if callbacks is None:
        return ()
    if isinstance(callbacks, Callback) or not hasattr(callbacks, "__iter__"):
        raise TypeError("callbacks must be a list of callbacks (objects with an on_epoch_end "
                        "method), e.g. [nncore.CSVLogger('log.csv')]")
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(getattr(cb, "on_epoch_end", None)):
            raise TypeError(f"a callback needs an on_epoch_end(epoch, logs) method; "
                            f"{type(cb).__name__} has none")
    return callbacks


def begin(callbacks, network, keys):
    """Call on_train_begin of each callback that has it; if one raises, end those begun."""
    started = []
    try:
        for cb in callbacks:
            method = getattr(cb, "on_train_begin", None)
            if method is not None:
                method(network, tuple(keys))
            started.append(cb)
    except BaseException:
        end(started, None)
        raise


def epoch_end(callbacks, epoch, logs):
    """Call every callback's on_epoch_end (each with its own copy of logs); True when one of
    them asks to stop."""
    stop = False
    for cb in callbacks:
        if cb.on_epoch_end(epoch, dict(logs)):
            stop = True
    return stop


def end(callbacks, history):
    """Call on_train_end of each callback that has it, every one even if one raises (the first
    error is raised after)."""
    error = None
    for cb in callbacks:
        method = getattr(cb, "on_train_end", None)
        if method is None:
            continue
        try:
            method(history)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            error = error or exc
    if error is not None:
        raise error
