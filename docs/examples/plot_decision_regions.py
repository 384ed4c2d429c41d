"""
Decision regions of a 2-D classifier
====================================

A small network learns three interleaved spirals. ``nncore.plot.plot_decision_regions``
colours the plane by the class the network predicts there. The same function takes a fitted
``nncore.sklearn.MLPClassifier``.
"""
import matplotlib.pyplot as plt
import numpy as np

import nncore
import nncore.plot

rng = np.random.default_rng(0)
n, k = 150, 3
t = np.linspace(0.2, 1.0, n)
X = np.concatenate([np.column_stack([t * np.cos(4 * t + 2 * np.pi * c / k),
                                     t * np.sin(4 * t + 2 * np.pi * c / k)])
                    for c in range(k)]) + rng.normal(scale=0.03, size=(n * k, 2))
y = np.repeat(np.arange(k), n)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
for ax, hidden in zip(axes, (4, 32)):
    net = nncore.Network([2, hidden, hidden, k], activation="tanh", output="softmax",
                         loss="cross_entropy", seed=0, optimizer="adam")
    net.fit(X, y, epochs=300, lr=0.01, batch_size=32)
    accuracy = (net.predict(X).argmax(axis=1) == y).mean()
    nncore.plot.plot_decision_regions(net, X, y, ax=ax)
    ax.set_title(f"2-{hidden}-{hidden}-3 tanh: training accuracy {accuracy:.2f}")

# %%
# The network itself, with the weights it learnt: wider lines are larger weights.
nncore.plot.draw_network(net)
