"""Weight initialisers: how a Dense layer draws W (b always starts at 0).

With ``fan_in = n_in`` and ``fan_out = n_out`` (W has shape (n_in, n_out)):

===============  ==========================================  ==================================
name             W drawn from                                variance
===============  ==========================================  ==================================
he_uniform       U(-r, r), r = sqrt(6 / fan_in)              2 / fan_in
he_normal        N(0, std), std = sqrt(2 / fan_in)           2 / fan_in
glorot_uniform   U(-r, r), r = sqrt(6 / (fan_in + fan_out))  2 / (fan_in + fan_out)
glorot_normal    N(0, std), std = sqrt(2 / (fan_in+fan_out)) 2 / (fan_in + fan_out)
lecun_normal     N(0, std), std = sqrt(1 / fan_in)           1 / fan_in
zeros            0                                           0
===============  ==========================================  ==================================

He keeps the variance of the pre-activations a from layer to layer for ReLU (which zeroes
half of them), Glorot balances it between the forward and the backward pass for symmetric
functions such as tanh and sigmoid, LeCun is He without ReLU's factor 2. They are PyTorch's
``kaiming_uniform_``/``kaiming_normal_`` (nonlinearity "relu"), ``xavier_uniform_``/
``xavier_normal_`` and ``kaiming_normal_`` (nonlinearity "linear"); the normal ones are not
truncated. ``zeros`` gives every node of a layer the same weights, which gradient descent
never separates: useful for a single linear layer, not for hidden layers.

The default (``init=None``) is what nncore always did: he_uniform for relu and leaky_relu
layers, glorot_uniform for the rest.

A callable ``init(shape, rng)`` may be given instead of a name: it gets the shape
``(n_in, n_out)`` and the network's ``numpy.random.Generator`` and returns W (any array-like of
that shape, finite; it is converted to the network's dtype).
"""
from __future__ import annotations

import math
from typing import Callable, Union

import numpy as np

__all__ = ["INIT_NAMES", "check_init", "draw"]

INIT_NAMES = ("he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal",
              "zeros")
_ALIASES = {"kaimingnormal": "he_normal", "kaiminguniform": "he_uniform",
            "xaviernormal": "glorot_normal", "xavieruniform": "glorot_uniform",
            "zero": "zeros"}

InitSpec = Union[str, Callable[[tuple, np.random.Generator], object], None]


def check_init(spec: InitSpec) -> InitSpec:
    """spec as a canonical name, a callable or None; TypeError / ValueError otherwise."""
    if spec is None or callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"init must be a name {INIT_NAMES} or a callable init(shape, rng), "
                        f"got {type(spec).__name__}")
    from ._validate import lookup
    return lookup(spec, INIT_NAMES, "init", _ALIASES)


def variance(name: str, n_in: int, n_out: int) -> float:
    """The variance of W's entries under the named initialiser."""
    return {"he_normal": 2 / n_in, "he_uniform": 2 / n_in,
            "glorot_normal": 2 / (n_in + n_out), "glorot_uniform": 2 / (n_in + n_out),
            "lecun_normal": 1 / n_in, "zeros": 0.0}[name]


def draw(spec: InitSpec, default: str, shape: tuple[int, int],
         rng: np.random.Generator) -> np.ndarray:
    """W of ``shape`` from ``spec`` (a name from check_init, a callable, or None for
    ``default``), as float64 for a named one and as the callable gave it otherwise."""
    name = default if spec is None else spec
    if callable(name):
        return name(shape, rng)
    n_in, n_out = shape
    if name == "zeros":
        return np.zeros(shape)
    if name.endswith("_uniform"):
        # variance bound**2 / 3; computed as it always was, so the default draws are the
        # same bit for bit
        fan = n_in if name == "he_uniform" else n_in + n_out
        bound = np.sqrt(6.0 / fan)
        return rng.uniform(-bound, bound, size=shape)
    return rng.normal(0.0, math.sqrt(variance(name, n_in, n_out)), size=shape)
