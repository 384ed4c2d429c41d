"""Loss functions L(yhat, y): names, codes in the core, and which outputs they accept.

All are averaged over the N examples (rows) and summed over the outputs (columns), with the
natural log:

======================  ===========================================================
mse                     L = 1/(2N) * sum((y - yhat)**2)                (the textbook's)
cross_entropy           L = -1/N * sum(y * log(yhat))
binary_cross_entropy    L = -1/N * sum(y * log(yhat) + (1 - y) * log(1 - yhat))
mae                     L = 1/N * sum(abs(yhat - y))                   (alias "l1")
huber                   L = 1/N * sum(h(yhat - y)), h(d) = d**2 / 2 for abs(d) < delta,
                        delta * (abs(d) - delta / 2) otherwise; ``Huber(delta=1.0)``
poisson                 L = 1/N * sum(y * log(y / mu) - y + mu), mu = exp(a): half the
                        Poisson deviance, with a log link (y log y = 0 where y = 0)
======================  ===========================================================

The Poisson loss reads the output layer's raw output ``a`` (its activation must be the
identity) as the log of the predicted mean; ``Network.predict`` returns the mean
``mu = exp(a)``. Its gradient with respect to ``a`` is (mu - y) / N. Targets are counts or
rates, y >= 0. These are scikit-learn's ``MLPRegressor(loss="poisson")`` loss and gradient.

mae's gradient is sign(yhat - y) / N (0 where yhat == y), Huber's clip(yhat - y, -delta,
delta) / N. For one output these are PyTorch's ``L1Loss()`` and ``HuberLoss(delta=...)``;
with several outputs nncore sums over them where PyTorch's mean divides by them too.

The textbook's worked figures (0.046 for [0.9, 0.1] against [1, 0]; 1 for [0.1, 0.9]) use
base-10 logarithms; with the natural log they are 0.105 and 2.303.

The cross-entropies take probabilities: cross_entropy a softmax output, or a sigmoid output;
binary_cross_entropy a sigmoid output; the sigmoid with 0 < c <= 1 and not trainable (so that
its values stay probabilities). Their loss is computed from the logits a (exact where
log(yhat) would underflow) and delta = dL/da in closed form, so a saturated output neither
caps the loss nor zeroes the gradient:

- softmax + cross_entropy: delta = (yhat * y.sum(1) - y) / N, which is (yhat - y) / N for
  targets whose rows sum to 1 (one-hot rows, class labels, probabilities);
- sigmoid (c = 1) + binary_cross_entropy: delta = beta * (yhat - y) / N;
- the other sigmoid cases: see sigmoid_cross_entropy in nncore/_kernels_losses.pxi.

identity + mse gives delta = (yhat - y) / N through the general rule.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Union

from . import _kernels

__all__ = ["LOSS_NAMES", "Loss", "Huber", "get_loss", "loss_code"]

# The core's codes, read from the compiled module (declared once, in nncore/_kernels.pxd).
_CODES = dict(_kernels.LOSS_CODES)
MSE, CROSS_ENTROPY, BINARY_CROSS_ENTROPY, MAE, HUBER, POISSON = (
    _CODES[name] for name in ("mse", "cross_entropy", "binary_cross_entropy", "mae", "huber",
                              "poisson"))
LOSS_NAMES = tuple(_CODES)
# the losses computed from the output layer's logits (they need probabilities)
FROM_LOGITS = (CROSS_ENTROPY, BINARY_CROSS_ENTROPY)
_ALIASES = {"l1": "mae", "meanabsoluteerror": "mae", "meansquarederror": "mse",
            "crossentropy": "cross_entropy", "ce": "cross_entropy",
            "binarycrossentropy": "binary_cross_entropy", "bce": "binary_cross_entropy",
            "poissonnll": "poisson"}


class Loss:
    """A loss by name, with its parameters (none but Huber's delta).

    Parameters
    ----------
    name : str
        One of ``LOSS_NAMES`` (any case; "l1" is "mae").

    Examples
    --------
    >>> import nncore
    >>> nncore.losses.Loss("MSE")
    Loss('mse')
    """

    def __init__(self, name: str) -> None:
        self.name = _name_of(name)
        if type(self) is Loss and self.name == "huber":
            self.delta = 1.0
        self.code = _CODES[self.name]

    @property
    def param(self) -> float:
        """The parameter the core reads (Huber's delta; 0 for the others)."""
        return float(getattr(self, "delta", 0.0))

    def _config(self) -> Union[str, dict[str, Any]]:
        """What a saved file holds: the name, or for Huber {"name": "huber", "delta": ...}."""
        if self.name == "huber":
            return {"name": "huber", "delta": self.param}
        return self.name

    def __repr__(self) -> str:
        if self.name == "huber":
            return f"Huber(delta={self.param!r})"
        return f"Loss({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Loss) and self.name == other.name
                and self.param == other.param)

    def __hash__(self) -> int:
        return hash((self.name, self.param))


class Huber(Loss):
    """The Huber loss: quadratic within +-delta of the target, linear beyond.

    h(d) = d**2 / 2 for abs(d) < delta, delta * (abs(d) - delta / 2) otherwise, d = yhat - y;
    L = 1/N * sum(h), N rows, summed over the outputs. Its gradient is
    clip(d, -delta, delta) / N.

    Parameters
    ----------
    delta : float, default 1.0
        Where the quadratic part turns linear (finite, > 0).

    Examples
    --------
    >>> import nncore
    >>> net = nncore.Network([2, 1], loss=nncore.losses.Huber(delta=2.0))
    >>> net.loss_name, net.loss_function
    ('huber', Huber(delta=2.0))
    """

    def __init__(self, delta: float = 1.0) -> None:
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
            raise TypeError(f"Huber's delta must be a real number, got {type(delta).__name__}")
        delta = float(delta)
        if not (math.isfinite(delta) and delta > 0):
            raise ValueError(f"Huber's delta must be finite and > 0, got {delta}")
        self.delta = delta
        super().__init__("huber")


def _name_of(name):
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (one of {LOSS_NAMES}) or an nncore.losses.Loss, "
                        f"got {type(name).__name__}")
    from ._validate import lookup
    return lookup(name, LOSS_NAMES, "loss", _ALIASES)


def get_loss(spec: Union[str, Loss, dict[str, Any]]) -> Loss:
    """A Loss from a name (any case: ``"MSE"``, ``"l1"``; an unknown one gets a "did you
    mean"), a Loss (returned as it is), or a saved configuration (``"mse"`` or
    ``{"name": "huber", "delta": 2.0}``).

    Examples
    --------
    >>> import nncore
    >>> nncore.losses.get_loss("Huber")
    Huber(delta=1.0)
    """
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None)
        if name == "huber" and set(spec) <= {"delta"}:
            return Huber(**spec)
        if name in LOSS_NAMES and not spec:
            return Loss(name)
        raise ValueError(f"unknown loss configuration {spec!r} for {name!r}")
    if _name_of(spec) == "huber":
        return Huber()
    return Loss(spec)


def loss_code(name):
    """The core's code for a loss name (any case) or Loss; ValueError for an unknown one."""
    return get_loss(name).code
