"""What ``Network.fit`` records and decides around the core's epoch loop: the History it
returns, early stopping, the validation split, the accuracy metric and the progress display."""
import math
import numbers
import sys
from typing import Any, Iterable

import numpy as np

__all__ = ["History", "EarlyStopping", "validation_split"]

MONITORS = {"loss": "min", "val_loss": "min", "val_accuracy": "max"}
METRICS = ("accuracy",)


class History(list[float]):
    """What ``fit`` returns: the list of per-epoch training losses, with the rest of the record.

    It is a ``list`` of floats (the mean loss of each epoch's steps, each taken before its
    update), so ``len``, indexing, iteration and ``==`` with a list behave as they always did.

    Parameters
    ----------
    values : iterable of float, optional
        The training losses to start with (``fit`` makes its History empty and appends).

    Attributes
    ----------
    loss : list of float
        The same values as the list itself.
    val_loss : list of float
        The loss on the validation data after each epoch (empty without validation data).
    lr : list of float
        The learning rate each epoch trained with.
    metrics : dict of str to list of float
        e.g. ``{"accuracy": [...], "val_accuracy": [...]}`` with ``metrics=("accuracy",)``.
    best_epoch : int or None
        The epoch (from 0) with the best monitored value: early stopping's ``monitor``, else
        the validation loss when there is validation data, else the training loss.
    stopped_early : bool
        Whether early stopping (or the callback) ended training before ``epochs``.

    Examples
    --------
    >>> import numpy as np, nncore
    >>> net = nncore.Network([2, 4, 1], activation="tanh", loss="mse", seed=0)
    >>> X, y = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([1.0, 1.0, 0.0])
    >>> history = net.fit(X, y, epochs=6, lr=0.1, validation_data=(X, y))
    >>> len(history), len(history.val_loss), history.lr[0]
    (6, 6, 0.1)
    >>> history.best_epoch == int(np.argmin(history.val_loss))
    True
    """

    def __init__(self, values: Iterable[float] = ()) -> None:
        super().__init__(values)
        self.val_loss = []
        self.lr = []
        self.metrics = {}
        self.best_epoch = None
        self.stopped_early = False

    @property
    def loss(self) -> list[float]:
        """The per-epoch training losses, as a new plain list (the History's own values).

        Examples
        --------
        >>> import nncore
        >>> nncore.History([0.5, 0.25]).loss
        [0.5, 0.25]
        """
        return list(self)

    def plot(self, ax: Any = None, *, log: bool | None = None) -> Any:
        """Draw the losses against the epoch: training, validation, the best epoch marked.

        The same as ``nncore.plot.plot_history(self, ax, log=log)``: the metrics go on a
        second y axis, the loss axis is logarithmic when the losses span a factor of 10 or
        more, the legend sits in a band above the curves, and a figure made here uses
        constrained layout, so a plain ``savefig`` keeps every label. matplotlib is an
        optional dependency (``pip install "nncore-nn[plot]"``).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure when omitted.
        log : bool, optional
            A logarithmic loss axis; by default when the losses span a factor of 10.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes of the losses (the metrics' Axes is its ``right_ax``).

        See Also
        --------
        nncore.plot.plot_history : The same drawing, as a function.

        Examples
        --------
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import nncore
        >>> history = nncore.History([2.0, 0.9, 0.4, 0.15])
        >>> ax = history.plot()
        >>> ax.get_yscale()
        'log'
        """
        try:
            import matplotlib.pyplot  # noqa: F401  (checked here too: nncore.plot may be loaded)

            from .plot import plot_history
        except ImportError as exc:
            from ._version import DISTRIBUTION
            raise ImportError(f"History.plot needs matplotlib: pip install \"{DISTRIBUTION}[plot]\" "
                              "(or pip install matplotlib)") from exc
        return plot_history(self, ax, log=log)

    def __repr__(self):
        return (f"History({list.__repr__(self)}, val_loss={self.val_loss!r}, lr={self.lr!r}, "
                f"metrics={self.metrics!r}, best_epoch={self.best_epoch!r}, "
                f"stopped_early={self.stopped_early!r})")


class EarlyStopping:
    """Stop ``fit`` when the monitored value has not improved for ``patience`` epochs.

    Improving means falling below the best so far by more than ``min_delta`` (rising above it,
    for ``"val_accuracy"``). With ``restore_best``, the parameters of the best epoch (W, b and
    the activation parameters; not the optimizer's state) are put back when ``fit`` ends, and
    also when it raises (training diverged, KeyboardInterrupt, an exception from a callback or
    a schedule): the exception's message then says that the best epoch's parameters were put
    back. An epoch that another thread's training refused restores nothing (the network is that
    thread's to change).

    Parameters
    ----------
    patience : int, default 10
        Epochs without improvement before training stops, >= 1.
    min_delta : float, default 0
        The least change that counts as an improvement, >= 0.
    monitor : {"val_loss", "loss", "val_accuracy"}, default "val_loss"
        The ``val_`` values need validation data (validation_data or validation_split).
    restore_best : bool, default True
        Put the best epoch's parameters back when ``fit`` ends.

    Examples
    --------
    >>> import numpy as np, nncore
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 4)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> net = nncore.Network([4, 8, 2], loss="cross_entropy", seed=0, optimizer="adam")
    >>> history = net.fit(X, y, epochs=200, lr=0.01, validation_split=0.25,
    ...                   early_stopping=nncore.EarlyStopping(patience=5),
    ...                   metrics=("accuracy",))
    >>> len(history) == len(history.val_loss) == len(history.metrics["val_accuracy"])
    True
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0, monitor: str = "val_loss",
                 restore_best: bool = True) -> None:
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral):
            raise TypeError(f"patience must be an integer, got {type(patience).__name__}")
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real):
            raise TypeError(f"min_delta must be a real number, got {type(min_delta).__name__}")
        if not (min_delta >= 0 and math.isfinite(min_delta)):
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta}")
        if monitor not in MONITORS:
            raise ValueError(f"unknown monitor {monitor!r}; expected one of {tuple(MONITORS)}")
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.monitor, self.restore_best = monitor, bool(restore_best)

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
                f"monitor={self.monitor!r}, restore_best={self.restore_best})")


def say_restored(exc, monitor, epoch, value):
    """Put into ``exc``'s message (an exception leaving ``fit`` under
    ``EarlyStopping(restore_best=True)``) that the best epoch's parameters were put back.

    The message is its only string argument (or none: KeyboardInterrupt), extended; an
    exception whose arguments are not one string gets a note (``add_note``, shown under its
    traceback) instead, so that what its arguments mean is kept."""
    note = (f"fit restored the parameters of its best epoch ({epoch}, {monitor} "
            f"{value:.6g}) before this exception left it (EarlyStopping(restore_best=True))")
    if not exc.args:
        exc.args = (note,)
    elif len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]}; {note}",)
    if note not in str(exc) and hasattr(exc, "add_note"):
        exc.add_note(note)


class _Best:
    """Tracks the best value of a monitored series and how long ago it was."""

    def __init__(self, mode, min_delta=0.0):
        self.mode, self.min_delta = mode, min_delta
        self.best = math.inf if mode == "min" else -math.inf
        self.epoch = None
        self.wait = 0

    def update(self, epoch, value):
        """Returns True when ``value`` improves on the best."""
        better = (value < self.best - self.min_delta if self.mode == "min"
                  else value > self.best + self.min_delta)
        if better:
            self.best, self.epoch, self.wait = value, epoch, 0
        else:
            self.wait += 1
        return better


def class_labels(Y):
    """The class of each row of validated targets Y when they are class labels (int64 labels
    (N,), one-hot rows (N, n_out), or 0/1 values for one output), else None."""
    if Y.ndim == 1:
        return Y
    if Y.shape[1] == 1:
        col = Y[:, 0]
        return col.astype(np.int64) if np.all((col == 0) | (col == 1)) else None
    if np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=1) == 1):
        return Y.argmax(axis=1)
    return None


def target_classes(Y):
    """The class of each row of targets Y: int64 labels (N,) as they are; rows (N, n_out) by
    argmax, or Y >= 0.5 for one output."""
    if Y.ndim == 1:
        return Y
    return Y.argmax(axis=1) if Y.shape[1] > 1 else (Y[:, 0] >= 0.5).astype(np.int64)


def validation_split(n, fraction, rng, labels=None):
    """(train, val) index arrays, each sorted: a random ``fraction`` of range(n) held out.

    With ``labels`` (N,) the split is stratified: each class gives ``fraction`` of its examples,
    rounded so that the total is ``round(fraction * n)`` (largest remainders first).
    """
    n_val = int(round(fraction * n))
    if not 1 <= n_val <= n - 1:
        raise ValueError(f"validation_split={fraction} holds out {n_val} of the {n} examples; "
                         f"it must leave at least one on each side")
    if labels is None:
        order = rng.permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    classes = np.unique(labels)
    members = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    exact = np.array([fraction * len(m) for m in members])
    take = np.floor(exact).astype(np.int64)
    rest = n_val - int(take.sum())
    if rest > 0:
        # largest fractional parts first; ties by class order (a stable sort)
        take[np.argsort(-(exact - take), kind="stable")[:rest]] += 1
    val = np.concatenate([m[:k] for m, k in zip(members, take)])
    train = np.concatenate([m[k:] for m, k in zip(members, take)])
    return np.sort(train), np.sort(val)


def accuracy(pred, classes, sample_weight=None):
    """Share of rows whose predicted class (argmax, or output >= 0.5 for one output) is the
    target class; weighted by sample_weight (N,) when given."""
    return float(np.average(target_classes(pred) == classes, weights=sample_weight))


class Progress:
    """verbose=1: a bar over the epochs on a terminal (tqdm when installed, else a line of
    its own redrawn in place), nothing otherwise; verbose=2: one line per epoch."""

    def __init__(self, verbose, epochs, stream=None):
        self.verbose, self.epochs = verbose, epochs
        self.stream = sys.stderr if stream is None else stream
        self.bar = None
        self.on = verbose == 2 or (verbose == 1 and _isatty(self.stream))
        if self.on and verbose == 1:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=epochs, unit="epoch", file=self.stream)

    @staticmethod
    def describe(record):
        return "  ".join(f"{k} {v:.4g}" for k, v in record.items())

    def update(self, epoch, record):
        if not self.on:
            return
        if self.verbose == 2:
            print(f"epoch {epoch + 1}/{self.epochs}  {self.describe(record)}", file=self.stream,
                  flush=True)
        elif self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()}, refresh=False)
            self.bar.update(1)
        else:
            width = 20
            done = int(width * (epoch + 1) / max(self.epochs, 1))
            print(f"\r{epoch + 1}/{self.epochs} [{'=' * done}{' ' * (width - done)}] "
                  f"{self.describe(record)}", end="", file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.on and self.verbose == 1:
            print(file=self.stream, flush=True)


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
