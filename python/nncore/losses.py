"""Loss functions L(yhat, y): names, codes in the core, and which outputs they accept.

All are averaged over the N examples (rows) and summed over the outputs (columns), with the
natural log:

======================  ===========================================================
mse                     L = 1/(2N) * sum((y - yhat)**2)                (the textbook's)
cross_entropy           L = -1/N * sum(y * log(yhat))
binary_cross_entropy    L = -1/N * sum(y * log(yhat) + (1 - y) * log(1 - yhat))
======================  ===========================================================

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
- the other sigmoid cases: see sigmoid_cross_entropy in nncore/_kernels_math.pxi.

identity + mse gives delta = (yhat - y) / N through the general rule.
"""
__all__ = ["LOSS_NAMES", "loss_code"]

from . import _kernels

# The core's codes, read from the compiled module (declared once, in nncore/_kernels.pxd).
_CODES = dict(_kernels.LOSS_CODES)
MSE, CROSS_ENTROPY, BINARY_CROSS_ENTROPY = (
    _CODES[name] for name in ("mse", "cross_entropy", "binary_cross_entropy"))
LOSS_NAMES = tuple(_CODES)


def loss_code(name):
    """The core's code for a loss name; ValueError for an unknown one."""
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (one of {LOSS_NAMES}), got {type(name).__name__}")
    if name not in _CODES:
        raise ValueError(f"unknown loss {name!r}; expected one of {LOSS_NAMES}")
    return _CODES[name]

