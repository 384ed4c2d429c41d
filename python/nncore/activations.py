"""Activation functions phi, as configuration objects.

The math lives in the core (``nncore/_kernels.pyx``) and, for the NumPy backend, in
``nncore._numpy_backend``; an activation object names the function and holds its parameters,
so that ``net.layers[l].activation.c`` can be read and set.

=============  ===============================================  =================================
name           z = phi(a)                                       phi'(a), from the output z
=============  ===============================================  =================================
identity       a                                                1
sigmoid        c / (1 + exp(-beta * a))   (c = beta = 1: the    beta * z * (1 - z / c)
               logistic function of the textbook)               (= z (1 - z) for c = beta = 1)
tanh           tanh(a) = 2 sigmoid(2a) - 1                      1 - z**2
relu           max(0, a)                                        1 if a > 0 else 0
leaky_relu     a if a >= 0 else delta * a                       1 if a >= 0 else delta
softmax        exp(a_k) / sum_j exp(a_j), along each row        Jacobian diag(z) - z z^T, applied
                                                                as delta = z * (g - sum(g * z))
gelu           a * Phi(a), Phi(a) = (1 + erf(a / sqrt(2))) / 2  Phi(a) + a * exp(-a**2 / 2)
               (the standard normal CDF)                        / sqrt(2 pi)
gelu, tanh     a / 2 * (1 + tanh(u)),                           (1 + t) / 2 + a / 2 * (1 - t**2)
approximation  u = sqrt(2 / pi) * (a + 0.044715 a**3)           * sqrt(2 / pi) (1 + 0.134145 a**2),
                                                                t = tanh(u)
elu            a if a > 0 else alpha * (exp(a) - 1)             1 if a > 0 else alpha * exp(a)
silu           a * sigmoid(a)                                   s * (1 + a * (1 - s)), s = sigmoid(a)
softplus       log(1 + exp(beta * a)) / beta; a where           sigmoid(beta * a); 1 where
               beta * a > threshold                             beta * a > threshold
=============  ===============================================  =================================
"""
from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from . import _kernels

if TYPE_CHECKING:  # pragma: no cover
    from typing import Mapping, Union

    ActivationSpec = Union[str, "Activation", Mapping[str, Any]]

__all__ = ["Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "GELU",
           "ELU", "SiLU", "Softplus", "get_activation", "ACTIVATION_NAMES", "OUTPUT_ONLY"]

# The core's codes, read from the compiled module (declared once, in nncore/_kernels.pxd).
(IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX, GELU_ERF, GELU_TANH, ELU_, SILU,
 SOFTPLUS) = (
    _kernels.ACTIVATION_CODES[name]
    for name in ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "gelu",
                 "gelu_tanh", "elu", "silu", "softplus"))


def _real(value: Any, name: str) -> float:
    """value as a finite float; TypeError / ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class Activation:
    """Base class: an activation's name, its code in the core, and its parameters.

    ``_params`` is a float64 array of shape (2,) that the core reads (and, for a trainable
    sigmoid, updates in place); subclasses expose its entries as named attributes.
    """

    name: ClassVar[str | None] = None
    code: ClassVar[int | None] = None
    param_names: ClassVar[tuple[str, ...]] = ()  # the parameters, in the order of _params

    def __init__(self) -> None:
        self._params = np.zeros(2)
        self._network = None  # the network a trainable activation learns in

    @property
    def trainable(self) -> bool:
        """Whether training updates this activation's parameters (only a Sigmoid can)."""
        return False

    def _config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def same_as(self, other: object) -> bool:
        """True when `other` is the same kind of activation with the same parameters."""
        return type(self) is type(other) and self._config() == other._config()


class Identity(Activation):
    """z = a."""

    name, code = "identity", IDENTITY


class Sigmoid(Activation):
    """The textbook's scaled sigmoid z = c / (1 + exp(-beta * a)); c = beta = 1 is the logistic.

    Parameters
    ----------
    c : float, default 1.0
        Scale of the output (z lies between 0 and c).
    beta : float, default 1.0
        Steepness.
    trainable : bool, default False
        When True, training learns ``c`` and ``beta`` by gradient descent with the weights
        (``gradients()`` then reports ``"c"`` and ``"beta"`` for the layer).

    Examples
    --------
    >>> import nncore
    >>> act = nncore.Sigmoid(c=2.0, beta=0.5, trainable=True)
    >>> act.c, act.beta
    (2.0, 0.5)
    """

    name, code = "sigmoid", SIGMOID
    param_names = ("c", "beta")

    def __init__(self, c: float = 1.0, beta: float = 1.0, trainable: bool = False) -> None:
        super().__init__()
        self.c = c
        self.beta = beta
        if not isinstance(trainable, (bool, np.bool_)):
            raise TypeError(f"trainable must be a bool, got {type(trainable).__name__}")
        self._trainable = bool(trainable)

    @property
    def c(self) -> float:
        """Output scale (float)."""
        return float(self._params[0])

    @c.setter
    def c(self, value: float) -> None:
        self._params[0] = _real(value, "c")

    @property
    def beta(self) -> float:
        """Steepness (float)."""
        return float(self._params[1])

    @beta.setter
    def beta(self, value: float) -> None:
        self._params[1] = _real(value, "beta")

    @property
    def trainable(self) -> bool:
        return self._trainable

    def _config(self) -> dict[str, Any]:
        return {"name": self.name, "c": self.c, "beta": self.beta, "trainable": self.trainable}


class Tanh(Activation):
    """z = tanh(a)."""

    name, code = "tanh", TANH


class ReLU(Activation):
    """z = max(0, a)."""

    name, code = "relu", RELU


class LeakyReLU(Activation):
    """z = a for a >= 0, delta * a otherwise (the textbook names the slope delta).

    Parameters
    ----------
    delta : float, default 0.01
        Slope for negative a.
    """

    name, code = "leaky_relu", LEAKY_RELU
    param_names = ("delta",)

    def __init__(self, delta: float = 0.01) -> None:
        super().__init__()
        self.delta = delta

    @property
    def delta(self) -> float:
        """Slope for negative inputs (float)."""
        return float(self._params[0])

    @delta.setter
    def delta(self, value: float) -> None:
        self._params[0] = _real(value, "delta")

    def _config(self) -> dict[str, Any]:
        return {"name": self.name, "delta": self.delta}


class Softmax(Activation):
    """z_k = exp(a_k) / sum_j exp(a_j) along each row (each example)."""

    name, code = "softmax", SOFTMAX


class GELU(Activation):
    """The Gaussian error linear unit z = a * Phi(a), Phi the standard normal CDF.

    Parameters
    ----------
    approximate : {"none", "tanh"}, default "none"
        ``"none"``: Phi(a) = (1 + erf(a / sqrt(2))) / 2, exactly. ``"tanh"``: the tanh
        approximation z = a / 2 * (1 + tanh(sqrt(2 / pi) * (a + 0.044715 * a**3))). Fixed
        at construction.

    Examples
    --------
    >>> import nncore
    >>> nncore.GELU(approximate="tanh")
    GELU(approximate='tanh')
    >>> round(float(nncore.functional.gelu([1.0])[0]), 4)
    0.8413
    """

    name = "gelu"
    code = GELU_ERF

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU's approximate must be 'none' or 'tanh', got {approximate!r}")
        self._approximate = approximate
        self.code = GELU_TANH if approximate == "tanh" else GELU_ERF  # type: ignore[misc]

    @property
    def approximate(self) -> str:
        """``"none"`` (erf) or ``"tanh"`` (read-only)."""
        return self._approximate

    def _config(self) -> dict[str, Any]:
        return {"name": self.name, "approximate": self.approximate}


class ELU(Activation):
    """The exponential linear unit: z = a for a > 0, alpha * (exp(a) - 1) otherwise.

    Parameters
    ----------
    alpha : float, default 1.0
        The value z approaches for very negative a is -alpha.

    Examples
    --------
    >>> import nncore
    >>> nncore.ELU(alpha=0.5)
    ELU(alpha=0.5)
    """

    name, code = "elu", ELU_
    param_names = ("alpha",)

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    @property
    def alpha(self) -> float:
        """Scale of the negative part (float)."""
        return float(self._params[0])

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._params[0] = _real(value, "alpha")

    def _config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}


class SiLU(Activation):
    """The sigmoid-weighted linear unit (swish): z = a * sigmoid(a).

    Examples
    --------
    >>> import nncore
    >>> round(float(nncore.functional.silu([1.0])[0]), 4)
    0.7311
    """

    name, code = "silu", SILU


class Softplus(Activation):
    """z = log(1 + exp(beta * a)) / beta, a smooth ReLU; z = a where beta * a > threshold.

    Parameters
    ----------
    beta : float, default 1.0
        Sharpness, > 0.
    threshold : float, default 20.0
        Past beta * a > threshold, z = a (which it equals to within the dtype's precision).

    Examples
    --------
    >>> import nncore
    >>> nncore.Softplus(beta=2.0)
    Softplus(beta=2.0, threshold=20.0)
    """

    name, code = "softplus", SOFTPLUS
    param_names = ("beta", "threshold")

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    @property
    def beta(self) -> float:
        """Sharpness (float, > 0)."""
        return float(self._params[0])

    @beta.setter
    def beta(self, value: float) -> None:
        value = _real(value, "beta")
        if not value > 0:
            raise ValueError(f"Softplus's beta must be > 0, got {value}")
        self._params[0] = value

    @property
    def threshold(self) -> float:
        """Where z becomes a: beta * a > threshold (float)."""
        return float(self._params[1])

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._params[1] = _real(value, "threshold")

    def _config(self) -> dict[str, Any]:
        return {"name": self.name, "beta": self.beta, "threshold": self.threshold}


_BY_NAME = {cls.name: cls for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax, GELU,
                                      ELU, SiLU, Softplus)}
ACTIVATION_NAMES = tuple(_BY_NAME)
_ALIASES = {"linear": "identity", "logistic": "sigmoid", "leaky": "leaky_relu",
            "swish": "silu"}
# Functions that belong on the output layer only: softmax makes each row a probability
# distribution (for cross_entropy), which a hidden layer has no use for.
OUTPUT_ONLY = ("softmax",)


def get_activation(spec: ActivationSpec) -> Activation:
    """An Activation from a name (``"relu"``; any case, with or without underscores, so the
    class's own name ``"ReLU"`` or ``"LeakyReLU"`` works too; an unknown one gets a "did you
    mean"), an Activation (returned as it is), or a config dict as saved by ``Network.save``
    (its exact names only)."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None)
        if name not in _BY_NAME:
            raise ValueError(f"unknown activation {name!r}; expected one of {ACTIVATION_NAMES}")
        return _BY_NAME[name](**spec)
    if isinstance(spec, str):   # any case, with or without "_": "ReLU", "LeakyReLU", "TANH"
        from ._validate import lookup
        return _BY_NAME[lookup(spec, ACTIVATION_NAMES, "activation", _ALIASES)]()
    raise TypeError(f"activation must be a name or an nncore.Activation, got {type(spec).__name__}")
