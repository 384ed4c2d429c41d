"""
Activation functions and their derivatives
==========================================

The elementwise activations and the derivatives that backpropagation multiplies by,
computed by nncore's own forward and backward kernels (``nncore.functional``).
"""
import nncore
import nncore.plot

nncore.plot.plot_activations(["identity", "sigmoid", "tanh", "relu",
                              nncore.LeakyReLU(0.1), nncore.Sigmoid(c=2.0, beta=0.5)],
                             ncols=3)

# %%
# The scaled sigmoid ``c / (1 + exp(-beta * a))`` tops out at ``c``, and its slope at 0 is
# ``c * beta / 4``:
import nncore.functional as F

print(F.derivative("sigmoid", [0.0], c=2.0, beta=0.5))
