"""
Every a, z and delta of one pass
================================

``Network.trace`` returns the quantities of one forward and backward pass: for each layer
the pre-activation ``a = z_prev @ W + b``, the output ``z = phi(a)`` and the local gradient
``delta = dL/da``. ``nncore.plot.plot_trace`` draws them, one example a row and one node a
column.
"""
import numpy as np

import nncore
import nncore.plot

rng = np.random.default_rng(0)
X = rng.normal(size=(12, 4))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
net = nncore.Network([4, 6, 5, 2], activation="tanh", output="softmax",
                     loss="cross_entropy", seed=0)

# %%
# Before training: the output layer's delta is ``(yhat - y) / N`` for softmax with
# cross-entropy, so its two columns are opposite and largest where the network is most wrong.
fig = nncore.plot.plot_trace(net, X, y)
fig.suptitle("before training")

# %%
# After 200 epochs the outputs are nearly the targets and every delta has shrunk.
net.fit(X, y, epochs=200, lr=0.5, batch_size=12)
fig = nncore.plot.plot_trace(net, X, y)
fig.suptitle("after 200 epochs")
print("loss:", net.loss(X, y))
