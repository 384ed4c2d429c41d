"""Learning-rate schedules: the rate ``fit`` trains each epoch with.

Epoch ``e`` (from 0) of ``fit(..., lr=lr, schedule=s)`` trains at the rate ``s`` gives for it;
``fit``'s ``lr`` is the starting rate. ``History.lr`` records the rate of every epoch.

- ``StepLR(step_size, gamma=0.1)``: ``lr * gamma ** (e // step_size)``
- ``ExponentialLR(gamma)``: ``lr * gamma ** e``
- ``CosineLR(T_max=None, lr_min=0.0)``:
  ``lr_min + (lr - lr_min) * (1 + cos(pi * min(e, T) / T)) / 2`` with ``T = T_max`` or the number
  of epochs of the ``fit`` call
- ``ReduceLROnPlateau(factor=0.1, patience=10, threshold=1e-4, min_lr=0.0)``: PyTorch's rule
  (mode min, relative threshold, no cooldown) on the validation loss, or the training loss
  without validation data
- any callable ``schedule(epoch, lr) -> rate``, where ``lr`` is the rate of the previous epoch
  (the starting rate for epoch 0), as Keras's ``LearningRateScheduler``

>>> import numpy as np, nncore
>>> net = nncore.Network([2, 3, 1], loss="mse", seed=0)
>>> history = net.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=4, lr=0.1,
...                   schedule=nncore.StepLR(2, gamma=0.5))
>>> history.lr
[0.1, 0.1, 0.05, 0.05]
"""
import math
import numbers

from ._validate import count as _int, real_in as _real

__all__ = ["Schedule", "StepLR", "ExponentialLR", "CosineLR", "ReduceLROnPlateau",
           "get_schedule", "SCHEDULE_NAMES"]


class Schedule:
    """Base class of the learning-rate schedules: the rate of each epoch of ``fit``.

    ``fit`` calls ``start(lr, epochs)`` once, then per epoch ``rate(epoch)`` before it and
    ``observe(epoch, value)`` after it (value: the monitored loss). A subclass defines
    ``rate`` and ``get_config``; any callable ``schedule(epoch, lr) -> rate`` works too.

    Examples
    --------
    >>> import numpy as np, nncore
    >>> class Halve(nncore.Schedule):
    ...     def rate(self, epoch):
    ...         return self.lr0 / 2 ** epoch
    ...     def get_config(self):
    ...         return {}
    >>> net = nncore.Network([2, 1], loss="mse", seed=0)
    >>> net.fit(np.ones((4, 2)), np.zeros(4), epochs=3, lr=0.4, schedule=Halve()).lr
    [0.4, 0.2, 0.1]
    """

    def start(self, lr, epochs):
        """Begin a ``fit`` of ``epochs`` epochs whose starting rate is ``lr``.

        ``fit`` calls it once, before the first epoch.

        Parameters
        ----------
        lr : float
            The starting rate (``fit``'s ``lr``).
        epochs : int
            The number of epochs of the ``fit`` call.

        Examples
        --------
        >>> import nncore
        >>> s = nncore.CosineLR()
        >>> s.start(lr=0.1, epochs=10)
        >>> s.rate(0)
        0.1
        """
        self.lr0 = float(lr)
        self.epochs = int(epochs)

    def rate(self, epoch):
        """Give the learning rate of ``epoch`` (from 0); a subclass defines it.

        Parameters
        ----------
        epoch : int
            The epoch about to be trained.

        Returns
        -------
        float
            The rate.

        Examples
        --------
        >>> import nncore
        >>> s = nncore.ExponentialLR(0.5)
        >>> s.start(lr=1.0, epochs=3)
        >>> s.rate(2)
        0.25
        """
        raise NotImplementedError

    def observe(self, epoch, value):
        """Take the monitored loss after ``epoch``; the base class ignores it.

        ``fit`` calls it after each epoch with the validation loss, or the training loss
        without validation data.

        Parameters
        ----------
        epoch : int
            The epoch just trained (from 0).
        value : float
            Its monitored loss.

        Examples
        --------
        >>> import nncore
        >>> s = nncore.StepLR(2)
        >>> s.start(lr=0.1, epochs=4)
        >>> s.observe(0, 1.5)
        >>> s.rate(1)
        0.1
        """
        pass

    def get_config(self):
        """Give the schedule's parameters, as keyword arguments of the constructor.

        Returns
        -------
        dict of str
            Each parameter by name; a subclass defines it.

        Examples
        --------
        >>> import nncore
        >>> nncore.ExponentialLR(0.9).get_config()
        {'gamma': 0.9}
        """
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StepLR(Schedule):
    """Step decay, ``lr * gamma ** (epoch // step_size)``: times gamma every step_size epochs.

    Parameters
    ----------
    step_size : int
        Epochs between two decays, >= 1.
    gamma : float, default 0.1
        Factor of each decay, > 0.

    Examples
    --------
    >>> import nncore
    >>> nncore.StepLR(10, gamma=0.5)
    StepLR(step_size=10, gamma=0.5)
    """

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _int(step_size, "step_size", 1)
        self.gamma = _real(gamma, "gamma", 0.0, low_open=True)

    def rate(self, epoch):
        """Give the learning rate of ``epoch`` (from 0), after ``start``.

        Parameters
        ----------
        epoch : int
            The epoch about to be trained.

        Returns
        -------
        float
            The rate.

        Examples
        --------
        >>> import nncore
        >>> s = nncore.StepLR(2, gamma=0.5)
        >>> s.start(lr=0.1, epochs=4)
        >>> [round(s.rate(e), 6) for e in range(4)]
        [0.1, 0.1, 0.05, 0.05]
        """
        return self.lr0 * self.gamma ** (epoch // self.step_size)

    def get_config(self):
        """Give the parameters, as keyword arguments of the constructor.

        Returns
        -------
        dict of str
            Each parameter by name.

        Examples
        --------
        >>> import nncore
        >>> nncore.StepLR(5).get_config()
        {'step_size': 5, 'gamma': 0.1}
        """
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialLR(Schedule):
    """Exponential decay, ``lr * gamma ** epoch``.

    Parameters
    ----------
    gamma : float
        Factor per epoch, > 0.

    Examples
    --------
    >>> import nncore
    >>> nncore.ExponentialLR(0.95)
    ExponentialLR(gamma=0.95)
    """

    def __init__(self, gamma: float) -> None:
        self.gamma = _real(gamma, "gamma", 0.0, low_open=True)

    def rate(self, epoch):
        """Give the learning rate of ``epoch`` (from 0), after ``start``.

        Parameters
        ----------
        epoch : int
            The epoch about to be trained.

        Returns
        -------
        float
            The rate.

        Examples
        --------
        >>> import nncore
        >>> s = nncore.ExponentialLR(0.5)
        >>> s.start(lr=0.8, epochs=4)
        >>> [round(s.rate(e), 6) for e in range(4)]
        [0.8, 0.4, 0.2, 0.1]
        """
        return self.lr0 * self.gamma ** epoch

    def get_config(self):
        """Give the parameters, as keyword arguments of the constructor.

        Returns
        -------
        dict of str
            Each parameter by name.

        Examples
        --------
        >>> import nncore
        >>> nncore.ExponentialLR(0.9).get_config()
        {'gamma': 0.9}
        """
        return {"gamma": self.gamma}


class CosineLR(Schedule):
    """Cosine annealing from lr to lr_min over T epochs, then lr_min.

    The rate of epoch e is ``lr_min + (lr - lr_min) * (1 + cos(pi * min(e, T) / T)) / 2``.

    Parameters
    ----------
    T_max : int, optional
        T, >= 1; by default the number of epochs of the ``fit`` call.
    lr_min : float, default 0
        The last rate, >= 0.

    Examples
    --------
    >>> import nncore
    >>> nncore.CosineLR(T_max=50, lr_min=1e-4)
    CosineLR(T_max=50, lr_min=0.0001)
    """

    def __init__(self, T_max: int | None = None, lr_min: float = 0.0) -> None:
        self.T_max = None if T_max is None else _int(T_max, "T_max", 1)
        self.lr_min = _real(lr_min, "lr_min", 0.0)

    def rate(self, epoch):
        """Give the learning rate of ``epoch`` (from 0), after ``start``.

        Parameters
        ----------
        epoch : int
            The epoch about to be trained.

        Returns
        -------
        float
            The rate.

        Examples
        --------
        >>> import nncore
        >>> s = nncore.CosineLR(T_max=2)
        >>> s.start(lr=1.0, epochs=4)
        >>> [round(s.rate(e), 6) for e in range(4)]
        [1.0, 0.5, 0.0, 0.0]
        """
        T = self.T_max or self.epochs
        return self.lr_min + (self.lr0 - self.lr_min) * (1 + math.cos(math.pi * min(epoch, T)
                                                                      / T)) / 2

    def get_config(self):
        """Give the parameters, as keyword arguments of the constructor.

        Returns
        -------
        dict of str
            Each parameter by name.

        Examples
        --------
        >>> import nncore
        >>> nncore.CosineLR().get_config()
        {'T_max': None, 'lr_min': 0.0}
        """
        return {"T_max": self.T_max, "lr_min": self.lr_min}


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by ``factor`` when the monitored loss stops improving.

    The rate drops when the loss has not improved for more than ``patience`` epochs
    (PyTorch's rule: mode min, relative threshold, no cooldown).

    A loss improves on the best so far when ``loss < best * (1 - threshold)``. After an epoch
    that makes more than ``patience`` epochs without improvement, the next epochs train at
    ``max(rate * factor, min_lr)`` and the count restarts. The loss is the validation loss when
    ``fit`` has validation data, else the training loss.

    Parameters
    ----------
    factor : float, default 0.1
        Factor of each drop, in (0, 1).
    patience : int, default 10
        Epochs without improvement tolerated, >= 0.
    threshold : float, default 1e-4
        Relative improvement that counts, >= 0.
    min_lr : float, default 0
        The rate never drops below it, >= 0.

    Examples
    --------
    >>> import nncore
    >>> s = nncore.ReduceLROnPlateau(factor=0.5, patience=1)
    >>> s.start(lr=0.1, epochs=5)
    >>> for epoch, loss in enumerate([1.0, 1.0, 1.0]):
    ...     s.observe(epoch, loss)
    >>> s.rate(3)
    0.05
    """

    def __init__(self, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 min_lr: float = 0.0) -> None:
        self.factor = _real(factor, "factor", 0.0, 1.0, low_open=True)
        self.patience = _int(patience, "patience", 0)
        self.threshold = _real(threshold, "threshold", 0.0)
        self.min_lr = _real(min_lr, "min_lr", 0.0)

    def start(self, lr, epochs):
        """Begin a ``fit`` of ``epochs`` epochs whose starting rate is ``lr``.

        ``fit`` calls it once, before the first epoch; the rate, the best loss and the count of
        epochs without improvement restart.

        Parameters
        ----------
        lr : float
            The starting rate (``fit``'s ``lr``).
        epochs : int
            The number of epochs of the ``fit`` call.

        Examples
        --------
        >>> import nncore
        >>> s = nncore.ReduceLROnPlateau()
        >>> s.start(lr=0.1, epochs=10)
        >>> s.rate(0)
        0.1
        """
        super().start(lr, epochs)
        self.current = float(lr)
        self.best = math.inf
        self.bad_epochs = 0

    def rate(self, epoch):
        """Give the current rate: ``fit``'s ``lr`` until the first drop.

        Parameters
        ----------
        epoch : int
            The epoch about to be trained.

        Returns
        -------
        float
            The rate.

        Examples
        --------
        >>> import nncore
        >>> s = nncore.ReduceLROnPlateau()
        >>> s.start(lr=0.1, epochs=5)
        >>> s.rate(0)
        0.1
        """
        return self.current

    def observe(self, epoch, value):
        """Take the monitored loss after ``epoch`` and drop the rate on a plateau.

        Parameters
        ----------
        epoch : int
            The epoch just trained (from 0).
        value : float
            Its monitored loss.

        Examples
        --------
        >>> import nncore
        >>> s = nncore.ReduceLROnPlateau(factor=0.1, patience=0)
        >>> s.start(lr=1.0, epochs=3)
        >>> s.observe(0, 2.0)
        >>> s.observe(1, 2.0)          # no improvement: more than 0 epochs
        >>> round(s.rate(2), 6)
        0.1
        """
        if value < self.best * (1 - self.threshold):
            self.best = value
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            new = max(self.current * self.factor, self.min_lr)
            if self.current - new > 1e-8:     # PyTorch's eps: smaller changes are ignored
                self.current = new
            self.bad_epochs = 0

    def get_config(self):
        """Give the parameters, as keyword arguments of the constructor.

        Returns
        -------
        dict of str
            Each parameter by name.

        Examples
        --------
        >>> import nncore
        >>> nncore.ReduceLROnPlateau().get_config()
        {'factor': 0.1, 'patience': 10, 'threshold': 0.0001, 'min_lr': 0.0}
        """
        return {"factor": self.factor, "patience": self.patience, "threshold": self.threshold,
                "min_lr": self.min_lr}


class _Callable(Schedule):
    """A function ``schedule(epoch, lr) -> rate``; lr is the previous epoch's rate."""

    def __init__(self, fn):
        self.fn = fn

    def start(self, lr, epochs):
        super().start(lr, epochs)
        self.previous = float(lr)

    def rate(self, epoch):
        value = self.fn(epoch, self.previous)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"the schedule returned {type(value).__name__} for epoch {epoch}, "
                            f"not a rate")
        self.previous = float(value)
        return self.previous

    def get_config(self):
        return {"fn": self.fn}


_BY_NAME = {"step": lambda: StepLR(10), "exponential": lambda: ExponentialLR(0.95),
            "cosine": CosineLR, "plateau": ReduceLROnPlateau}
SCHEDULE_NAMES = tuple(_BY_NAME)
# the classes' own names, matched as lookup matches (lower case, no "_")
_ALIASES = {"steplr": "step", "exponentiallr": "exponential", "cosinelr": "cosine",
            "reducelronplateau": "plateau"}


def get_schedule(spec):
    """A Schedule from None (constant rate), a Schedule, a callable, or a name: "step"
    (StepLR(10)), "exponential" (ExponentialLR(0.95)), "cosine" (CosineLR()), "plateau"
    (ReduceLROnPlateau())."""
    if spec is None or isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):   # any case; an unknown name gets a "did you mean"
        from ._validate import lookup
        return _BY_NAME[lookup(spec, SCHEDULE_NAMES, "schedule", _ALIASES)]()
    if callable(spec):
        return _Callable(spec)
    raise TypeError(f"schedule must be a name, an nncore.Schedule or a callable "
                    f"schedule(epoch, lr), got {type(spec).__name__}")
