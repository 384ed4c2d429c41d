"""
Draw a network and one example's activations
============================================

A 3-4-2 network: sigmoid hidden layer, softmax output. Each connection is coloured and sized
by its weight, the dashed connections are the biases, and the nodes are filled with their
values for one example.
"""
import numpy as np

import nncore
import nncore.plot

net = nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
                     loss="cross_entropy", seed=0)
x = np.array([1.0, 2.0, 1.0])
ax = nncore.plot.draw_network(net, x=x)
ax.set_title("3-4-2 network, example x = [1, 2, 1]")
print("output probabilities:", net.predict(x))
