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
    """Base class. ``fit`` calls ``start(lr, epochs)`` once, then per epoch ``rate(epoch)``
    before it and ``observe(epoch, value)`` after it (value: the monitored loss)."""

    def start(self, lr, epochs):
        self.lr0 = float(lr)
        self.epochs = int(epochs)

    def rate(self, epoch):
        raise NotImplementedError

    def observe(self, epoch, value):
        pass

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StepLR(Schedule):
    """``lr * gamma ** (epoch // step_size)``: the rate times gamma every step_size epochs.

    Parameters
    ----------
    step_size : int >= 1
    gamma : float > 0, default 0.1
    """

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _int(step_size, "step_size", 1)
        self.gamma = _real(gamma, "gamma", 0.0, low_open=True)

    def rate(self, epoch):
        return self.lr0 * self.gamma ** (epoch // self.step_size)

    def get_config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialLR(Schedule):
    """``lr * gamma ** epoch``.

    Parameters
    ----------
    gamma : float > 0
    """

    def __init__(self, gamma: float) -> None:
        self.gamma = _real(gamma, "gamma", 0.0, low_open=True)

    def rate(self, epoch):
        return self.lr0 * self.gamma ** epoch

    def get_config(self):
        return {"gamma": self.gamma}


class CosineLR(Schedule):
    """Cosine annealing from lr to lr_min over T epochs, then lr_min:
    ``lr_min + (lr - lr_min) * (1 + cos(pi * min(epoch, T) / T)) / 2``.

    Parameters
    ----------
    T_max : int >= 1, optional
        T; by default the number of epochs of the ``fit`` call.
    lr_min : float >= 0, default 0
    """

    def __init__(self, T_max: int | None = None, lr_min: float = 0.0) -> None:
        self.T_max = None if T_max is None else _int(T_max, "T_max", 1)
        self.lr_min = _real(lr_min, "lr_min", 0.0)

    def rate(self, epoch):
        T = self.T_max or self.epochs
        return self.lr_min + (self.lr0 - self.lr_min) * (1 + math.cos(math.pi * min(epoch, T)
                                                                      / T)) / 2

    def get_config(self):
        return {"T_max": self.T_max, "lr_min": self.lr_min}


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by ``factor`` when the monitored loss has not improved for more than
    ``patience`` epochs (PyTorch's rule: mode min, relative threshold, no cooldown).

    A loss improves on the best so far when ``loss < best * (1 - threshold)``. After an epoch
    that makes more than ``patience`` epochs without improvement, the next epochs train at
    ``max(rate * factor, min_lr)`` and the count restarts. The loss is the validation loss when
    ``fit`` has validation data, else the training loss.

    Parameters
    ----------
    factor : float in (0, 1), default 0.1
    patience : int >= 0, default 10
    threshold : float >= 0, default 1e-4
    min_lr : float >= 0, default 0
    """

    def __init__(self, factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                 min_lr: float = 0.0) -> None:
        self.factor = _real(factor, "factor", 0.0, 1.0, low_open=True)
        self.patience = _int(patience, "patience", 0)
        self.threshold = _real(threshold, "threshold", 0.0)
        self.min_lr = _real(min_lr, "min_lr", 0.0)

    def start(self, lr, epochs):
        super().start(lr, epochs)
        self.current = float(lr)
        self.best = math.inf
        self.bad_epochs = 0

    def rate(self, epoch):
        return self.current

    def observe(self, epoch, value):
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
