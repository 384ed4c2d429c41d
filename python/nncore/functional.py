"""Activations and losses on arrays, computed by nncore's core.

Rows are examples: a 1-D array is one example. float32 input stays float32; anything else is
computed in float64. Losses take the prediction first, as the textbook writes L(yhat, y).

>>> import nncore.functional as F
>>> F.softmax([0.3, 0.6])          # the textbook's 0.4255 and 0.5745
array([0.42555748, 0.57444252])
>>> round(F.cross_entropy([0.9, 0.1], [1, 0]), 4)      # natural log: -ln(0.9)
0.1054
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

from . import _kernels, _validate
from .activations import (ELU_, GELU_ERF, GELU_TANH, IDENTITY, LEAKY_RELU, RELU, SIGMOID, SILU,
                          SOFTMAX, SOFTPLUS, TANH, _real)
from .losses import BINARY_CROSS_ENTROPY, CROSS_ENTROPY, HUBER, MAE, MSE, POISSON

__all__ = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax", "gelu", "elu",
           "silu", "softplus", "derivative", "softmax_jacobian", "mse", "cross_entropy",
           "binary_cross_entropy", "mae", "huber", "poisson"]


def _rows(x, name):
    """(2-D C-contiguous float array, was_1d) after checking x holds finite reals."""
    arr = _validate.real_array(x, name)
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D or 2-D array, got shape {arr.shape}")
    was_1d = arr.ndim == 1
    arr = np.ascontiguousarray(arr.reshape(1, -1) if was_1d else arr, dtype=dtype)
    if max(arr.shape) > _validate.MAX_ROWS:
        raise ValueError(f"{name} has shape {arr.shape}: the core takes at most "
                         f"{_validate.MAX_ROWS} rows or columns")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr, was_1d


def _activation(code, a, p0=0.0, p1=0.0):
    a, was_1d = _rows(a, "a")
    z = np.empty_like(a)
    _kernels.activation_forward_into(code, p0, p1, a, z)
    return z[0] if was_1d else z


def identity(a: ArrayLike) -> NDArray[np.floating[Any]]:
    """Identity activation: ``z = a``.

    Parameters
    ----------
    a : array_like, shape (n,) or (N, n)
        Pre-activations: one example, or one example a row. Finite reals; float32 stays
        float32, anything else is computed in float64.

    Returns
    -------
    ndarray, shape of ``a``
        The activation of each element, float32 or float64 as above.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.identity([-1.0, 0.5])
    array([-1. ,  0.5])
    """
    return _activation(IDENTITY, a)


def sigmoid(a: ArrayLike, c: float = 1.0, beta: float = 1.0) -> NDArray[np.floating[Any]]:
    """Sigmoid activation: ``z = c / (1 + exp(-beta * a))``.

    Parameters
    ----------
    a : array_like, shape (n,) or (N, n)
        Pre-activations: one example, or one example a row. Finite reals; float32 stays
        float32, anything else is computed in float64.
    c : float, default=1.0
        Height of the curve: ``z`` lies in ``(0, c)``.
    beta : float, default=1.0
        Steepness: the slope at ``a = 0`` is ``c * beta / 4``.

    Returns
    -------
    ndarray, shape of ``a``
        The activation of each element, float32 or float64 as above.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.sigmoid([0.0, 2.0]).round(4)
    array([0.5   , 0.8808])
    >>> F.sigmoid([0.0], c=2.0)
    array([1.])
    """
    return _activation(SIGMOID, a, _real(c, "c"), _real(beta, "beta"))


def tanh(a: ArrayLike) -> NDArray[np.floating[Any]]:
    """Hyperbolic tangent activation: ``z = tanh(a)``.

    Parameters
    ----------
    a : array_like, shape (n,) or (N, n)
        Pre-activations: one example, or one example a row. Finite reals; float32 stays
        float32, anything else is computed in float64.

    Returns
    -------
    ndarray, shape of ``a``
        The activation of each element, float32 or float64 as above.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.tanh([0.0, 1.0]).round(4)
    array([0.    , 0.7616])
    """
    return _activation(TANH, a)


def relu(a: ArrayLike) -> NDArray[np.floating[Any]]:
    """Rectified linear activation: ``z = max(0, a)``.

    Parameters
    ----------
    a : array_like, shape (n,) or (N, n)
        Pre-activations: one example, or one example a row. Finite reals; float32 stays
        float32, anything else is computed in float64.

    Returns
    -------
    ndarray, shape of ``a``
        The activation of each element, float32 or float64 as above.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.relu([[-2.0, 3.0]])
    array([[0., 3.]])
    """
    return _activation(RELU, a)


def leaky_relu(a: ArrayLike, delta: float = 0.01) -> NDArray[np.floating[Any]]:
    """Leaky ReLU activation: ``z = a`` where ``a >= 0``, else ``delta * a``.

    Parameters
    ----------
    a : array_like, shape (n,) or (N, n)
        Pre-activations: one example, or one example a row. Finite reals; float32 stays
        float32, anything else is computed in float64.
    delta : float, default=0.01
        Slope for negative ``a``.

    Returns
    -------
    ndarray, shape of ``a``
        The activation of each element, float32 or float64 as above.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.leaky_relu([-2.0, 3.0], delta=0.1)
    array([-0.2,  3. ])
    """
    return _activation(LEAKY_RELU, a, _real(delta, "delta"))


def softmax(a: ArrayLike) -> NDArray[np.floating[Any]]:
    """Softmax activation: ``z = exp(a) / exp(a).sum()`` along each row.

    Parameters
    ----------
    a : array_like, shape (n,) or (N, n)
        Pre-activations: one example, or one example a row. Finite reals; float32 stays
        float32, anything else is computed in float64.

    Returns
    -------
    ndarray, shape of ``a``
        The activation of each element, float32 or float64 as above.

    Examples
    --------
    >>> import nncore.functional as F
    >>> z = F.softmax([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    >>> z.round(4)
    array([[0.09  , 0.2447, 0.6652],
           [0.3333, 0.3333, 0.3333]])
    >>> z.sum(axis=1).round(6)
    array([1., 1.])
    """
    return _activation(SOFTMAX, a)


def gelu(a: ArrayLike, approximate: str = "none") -> NDArray[np.floating[Any]]:
    """GELU: z = a * Phi(a), Phi the standard normal CDF, Phi(a) = (1 + erf(a / sqrt(2))) / 2.

    Parameters
    ----------
    a : array_like of shape (N, n) or (n,)
        Pre-activations, finite; float32 stays float32, anything else is float64.
    approximate : {"none", "tanh"}, default "none"
        ``"tanh"``: z = a / 2 * (1 + tanh(sqrt(2 / pi) * (a + 0.044715 a**3))).

    Returns
    -------
    ndarray of the shape of ``a``
        The activations ``z = phi(a)``, computed by the core's forward kernel.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.gelu([-1.0, 0.0, 1.0]).round(4)
    array([-0.1587,  0.    ,  0.8413])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return _activation(GELU_TANH if approximate == "tanh" else GELU_ERF, a)


def elu(a: ArrayLike, alpha: float = 1.0) -> NDArray[np.floating[Any]]:
    """ELU: z = a if a > 0 else alpha * (exp(a) - 1).

    Parameters
    ----------
    a : array_like of shape (N, n) or (n,)
        Pre-activations, finite; float32 stays float32, anything else is float64.
    alpha : float, default 1.0
        Scale of the negative part (z tends to -alpha).

    Returns
    -------
    ndarray of the shape of ``a``
        The activations ``z = phi(a)``, computed by the core's forward kernel.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.elu([-1.0, 2.0]).round(4)
    array([-0.6321,  2.    ])
    """
    return _activation(ELU_, a, _real(alpha, "alpha"))


def silu(a: ArrayLike) -> NDArray[np.floating[Any]]:
    """SiLU (swish): z = a * sigmoid(a).

    Parameters
    ----------
    a : array_like of shape (N, n) or (n,)
        Pre-activations, finite; float32 stays float32, anything else is float64.

    Returns
    -------
    ndarray of the shape of ``a``
        The activations ``z = phi(a)``, computed by the core's forward kernel.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.silu([-1.0, 1.0]).round(4)
    array([-0.2689,  0.7311])
    """
    return _activation(SILU, a)


def softplus(a: ArrayLike, beta: float = 1.0,
             threshold: float = 20.0) -> NDArray[np.floating[Any]]:
    """Softplus: z = log(1 + exp(beta * a)) / beta, or a where beta * a > threshold.

    Parameters
    ----------
    a : array_like of shape (N, n) or (n,)
        Pre-activations, finite; float32 stays float32, anything else is float64.
    beta : float, default 1.0
        Sharpness, > 0.
    threshold : float, default 20.0
        Past beta * a > threshold, z = a.

    Returns
    -------
    ndarray of the shape of ``a``
        The activations ``z = phi(a)``, computed by the core's forward kernel.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.softplus([0.0, 30.0]).round(4)
    array([ 0.6931, 30.    ])
    """
    beta = _real(beta, "beta")
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    return _activation(SOFTPLUS, a, beta, _real(threshold, "threshold"))


_ELEMENTWISE = {"identity": (IDENTITY, ()), "sigmoid": (SIGMOID, ("c", "beta")),
                "tanh": (TANH, ()), "relu": (RELU, ()), "leaky_relu": (LEAKY_RELU, ("delta",)),
                "gelu": (GELU_ERF, ()), "gelu_tanh": (GELU_TANH, ()), "elu": (ELU_, ("alpha",)),
                "silu": (SILU, ()), "softplus": (SOFTPLUS, ("beta", "threshold"))}
_DEFAULTS = {"c": 1.0, "beta": 1.0, "delta": 0.01, "alpha": 1.0, "threshold": 20.0}


def derivative(name: str, a: ArrayLike, **params: float) -> NDArray[np.floating[Any]]:
    """Derivative ``phi'(a)`` of an elementwise activation, element by element.

    Computed by the core's backward kernel with an incoming gradient of ones, so it is the
    derivative training uses. Softmax is not elementwise: see `softmax_jacobian`.

    Parameters
    ----------
    name : str
        An elementwise activation: "identity", "sigmoid", "tanh", "relu", "leaky_relu",
        "gelu", "gelu_tanh" (GELU's tanh approximation), "elu", "silu" or "softplus".
    a : array_like, shape (n,) or (N, n)
        Pre-activations, finite reals (float32 stays float32, else float64).
    **params : float
        The activation's parameters by keyword: ``c`` and ``beta`` for sigmoid, ``delta``
        for leaky_relu, ``alpha`` for elu, ``beta`` and ``threshold`` for softplus (defaults
        1.0, 1.0, 0.01, 1.0, 1.0 and 20.0).

    Returns
    -------
    ndarray, shape of ``a``
        ``phi'(a)`` for each element.

    Raises
    ------
    ValueError
        If ``name`` is not an elementwise activation.
    TypeError
        If a keyword is not a parameter of that activation.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.derivative("sigmoid", [0.0])      # z * (1 - z) at z = 0.5
    array([0.25])
    >>> F.derivative("leaky_relu", [-1.0, 2.0], delta=0.1)
    array([0.1, 1. ])
    """
    if name not in _ELEMENTWISE:
        raise ValueError(f"derivative() takes one of {tuple(_ELEMENTWISE)}; "
                         f"for softmax use softmax_jacobian()")
    code, names = _ELEMENTWISE[name]
    unknown = set(params) - set(names)
    if unknown:
        raise TypeError(f"{name} has no parameter(s) {sorted(unknown)}")
    p = [_real(params.get(k, _DEFAULTS[k]), k) for k in names] + [0.0, 0.0]
    if code == SOFTPLUS and not p[0] > 0:
        raise ValueError(f"beta must be > 0, got {p[0]}")
    a, was_1d = _rows(a, "a")
    z = np.empty_like(a)
    _kernels.activation_forward_into(code, p[0], p[1], a, z)
    d = np.ones_like(a)
    _kernels.activation_backward_into(code, p[0], p[1], a, z, d)
    return d[0] if was_1d else d


def softmax_jacobian(a: ArrayLike) -> NDArray[np.floating[Any]]:
    """Jacobian of softmax at one example: ``J[j, k] = d softmax(a)_j / d a_k``.

    Computed by the core's backward kernel applied to each unit vector. It is symmetric:
    ``J = diag(z) - z z^T`` with ``z = softmax(a)``.

    Parameters
    ----------
    a : array_like, shape (n,)
        One example's pre-activations, finite reals (float32 stays float32, else float64).

    Returns
    -------
    ndarray, shape (n, n)
        The Jacobian; each of its rows sums to 0.

    Raises
    ------
    ValueError
        If ``a`` is 2-D (more than one example).

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.softmax_jacobian([0.0, 0.0])     # z = (0.5, 0.5)
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    x, was_1d = _rows(a, "a")
    if not was_1d:
        raise ValueError(f"softmax_jacobian takes one example (n,), got shape {x.shape}")
    n = x.shape[1]
    rows = np.ascontiguousarray(np.repeat(x, n, axis=0))
    z = np.empty_like(rows)
    _kernels.activation_forward_into(SOFTMAX, 0.0, 0.0, rows, z)
    jac = np.eye(n, dtype=x.dtype)
    _kernels.activation_backward_into(SOFTMAX, 0.0, 0.0, rows, z, jac)
    return jac


def _loss(code, yhat, y, probabilities, p=0.0):
    yhat, _ = _rows(yhat, "yhat")
    y, _ = _rows(y, "y")
    if yhat.shape != y.shape:
        raise ValueError(f"yhat has shape {yhat.shape} and y {y.shape}: they must match")
    y = y.astype(yhat.dtype, copy=False)
    if probabilities:
        for name, arr in (("yhat", yhat), ("y", y)):
            if arr.min() < 0 or arr.max() > 1:
                raise ValueError(f"{name} must lie in [0, 1] for this loss")
    return _kernels.loss_value_of(code, yhat, y, p)


def mse(yhat: ArrayLike, y: ArrayLike) -> float:
    """Mean squared error: ``L = 1/(2N) * sum((y - yhat)**2)`` over ``N`` rows.

    Parameters
    ----------
    yhat : array_like, shape (n,) or (N, n)
        Predictions, one example a row.
    y : array_like, shape of ``yhat``
        Targets.

    Returns
    -------
    float
        The loss averaged over the ``N`` examples (a 1-D input is one example).

    Raises
    ------
    ValueError
        If the shapes differ or a value is not finite.

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.mse([[1.0, 2.0], [0.0, 0.0]], [[0.0, 2.0], [0.0, 2.0]])   # (1 + 4) / (2 * 2)
    1.25
    """
    return _loss(MSE, yhat, y, False)


def cross_entropy(yhat: ArrayLike, y: ArrayLike) -> float:
    """Cross-entropy: ``L = -1/N * sum(y * log(yhat))``, natural log.

    Parameters
    ----------
    yhat : array_like, shape (n,) or (N, n)
        Predictions, one example a row, in [0, 1] (``yhat`` is clipped away from 0 before the log).
    y : array_like, shape of ``yhat``
        Targets, in [0, 1] (``yhat`` is clipped away from 0 before the log).

    Returns
    -------
    float
        The loss averaged over the ``N`` examples (a 1-D input is one example).

    Raises
    ------
    ValueError
        If the shapes differ or a value is not finite or outside [0, 1].

    Examples
    --------
    >>> import nncore.functional as F
    >>> round(F.cross_entropy([[0.9, 0.1], [0.5, 0.5]], [[1, 0], [0, 1]]), 4)   # (ln(1/0.9) + ln 2) / 2
    0.3993
    """
    return _loss(CROSS_ENTROPY, yhat, y, True)


def binary_cross_entropy(yhat: ArrayLike, y: ArrayLike) -> float:
    """Binary cross-entropy: ``L = -1/N * sum(y log(yhat) + (1 - y) log(1 - yhat))``.

    Parameters
    ----------
    yhat : array_like, shape (n,) or (N, n)
        Predictions, one example a row, in [0, 1] (natural log; ``yhat`` is clipped away from 0 and 1).
    y : array_like, shape of ``yhat``
        Targets, in [0, 1] (natural log; ``yhat`` is clipped away from 0 and 1).

    Returns
    -------
    float
        The loss averaged over the ``N`` examples (a 1-D input is one example).

    Raises
    ------
    ValueError
        If the shapes differ or a value is not finite or outside [0, 1].

    Examples
    --------
    >>> import nncore.functional as F
    >>> round(F.binary_cross_entropy([0.8], [1.0]), 4)          # -ln(0.8)
    0.2231
    """
    return _loss(BINARY_CROSS_ENTROPY, yhat, y, True)


def mae(yhat: ArrayLike, y: ArrayLike) -> float:
    """Mean absolute error: L = 1/N * sum(abs(yhat - y)), N rows, summed over the outputs.

    Parameters
    ----------
    yhat : array_like of shape (N, n) or (n,)
        Predictions, finite.
    y : array_like of the shape of ``yhat``
        Targets, finite.

    Returns
    -------
    float
        L, computed by the core (in float64).

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.mae([[1.0, 2.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]])
    2.0
    """
    return _loss(MAE, yhat, y, False)


def huber(yhat: ArrayLike, y: ArrayLike, delta: float = 1.0) -> float:
    """Huber loss: quadratic near the target, linear beyond ``delta``.

    L = 1/N * sum(h(yhat - y)), h(d) = d**2 / 2 for abs(d) < delta, else
    delta * (abs(d) - delta / 2); N rows, summed over the outputs.

    Parameters
    ----------
    yhat : array_like of shape (N, n) or (n,)
        Predictions, finite.
    y : array_like of the shape of ``yhat``
        Targets, finite.
    delta : float, default 1.0
        Where the quadratic part turns linear, > 0.

    Returns
    -------
    float
        L, computed by the core (in float64).

    Examples
    --------
    >>> import nncore.functional as F
    >>> F.huber([[0.5], [3.0]], [[0.0], [0.0]])       # (0.125 + 2.5) / 2
    1.3125
    """
    delta = _real(delta, "delta")
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    return _loss(HUBER, yhat, y, False, delta)


def poisson(a: ArrayLike, y: ArrayLike) -> float:
    """Half the Poisson deviance of the mean ``mu = exp(a)`` (log link) against counts ``y``.

    L = 1/N * sum(y * log(y / mu) - y + mu), with y * log(y) = 0 where y = 0; N rows, summed
    over the outputs. Its gradient with respect to ``a`` is (mu - y) / N.

    Parameters
    ----------
    a : array_like of shape (N, n) or (n,)
        The log of the predicted means (a network's raw output), finite.
    y : array_like of the shape of ``a``
        Targets, finite and >= 0.

    Returns
    -------
    float
        L, computed by the core (in float64; inf where exp(a) overflows a's dtype).

    Examples
    --------
    >>> import numpy as np
    >>> import nncore.functional as F
    >>> F.poisson([[0.0], [np.log(2.0)]], [[1.0], [0.0]])    # (0 + 2) / 2
    1.0
    """
    a_, _ = _rows(a, "a")
    y_, _ = _rows(y, "y")
    if y_.size and y_.min() < 0:
        raise ValueError(f"y must be >= 0 for the Poisson loss; it has {y_.min()}")
    return _loss(POISSON, a_, y_, False)
