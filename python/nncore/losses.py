"""Loss functions L(yhat, y): names, codes in the core, and which outputs they accept.

All are averaged over the N examples (rows) and summed over the outputs (columns), with the
natural log:

======================  ===========================================================
mse                     L = 1/(2N) * sum((y - yhat)**2)                (the seed's)
cross_entropy           L = -1/N * sum(y * log(yhat))
binary_cross_entropy    L = -1/N * sum(y * log(yhat) + (1 - y) * log(1 - yhat))
======================  ===========================================================

The seed's worked figures (0.046 for [0.9, 0.1] against [1, 0]; 1 for [0.1, 0.9]) use base-10
logarithms; with the natural log they are 0.105 and 2.303.

Fused output rules (the loss is computed from the logits a, exact where log(yhat) would
underflow, and delta = dL/da skips the activation's derivative):

- softmax + cross_entropy: delta = (yhat * y.sum(1) - y) / N, which is (yhat - y) / N for
  targets whose rows sum to 1 (one-hot rows, class labels, probabilities);
- the plain sigmoid (c = beta = 1, not trainable) + binary_cross_entropy: delta = (yhat - y) / N.

identity + mse gives delta = (yhat - y) / N through the general rule.
"""
__all__ = ["LOSS_NAMES", "loss_code"]

# Codes shared with the core (nncore/_kernels.pxd: LOSS_*).
MSE, CROSS_ENTROPY, BINARY_CROSS_ENTROPY = range(3)
_CODES = {"mse": MSE, "cross_entropy": CROSS_ENTROPY, "binary_cross_entropy": BINARY_CROSS_ENTROPY}
LOSS_NAMES = tuple(_CODES)

# The cross-entropies need outputs that are probabilities.
PROBABILITY_OUTPUTS = ("sigmoid", "softmax")


def loss_code(name):
    """The core's code for a loss name; ValueError for an unknown one."""
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (one of {LOSS_NAMES}), got {type(name).__name__}")
    if name not in _CODES:
        raise ValueError(f"unknown loss {name!r}; expected one of {LOSS_NAMES}")
    return _CODES[name]


def loss_name(code):
    return LOSS_NAMES[code]
