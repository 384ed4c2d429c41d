"""Typical user code, as the README's example and the docs' getting-started, training and ONNX
pages show it: ``mypy --strict`` must pass on this file against the installed nncore (its type
hints and py.typed). CI runs it (.ci/run); it is never imported by the tests (pytest collects
only test_*.py)."""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

import nncore
import nncore.functional as F

# The weighted sum that gives 3: x = [1, 2, 1], w = [1, 0, -1], b = 3.
net = nncore.Network([nncore.Dense(3, 1, activation="identity")], loss="mse")
net.layers[0].W = [[1], [0], [-1]]
net.layers[0].b = [3]
out: NDArray[np.floating] = net.forward([1, 2, 1])

soft = F.softmax([0.3, 0.6])
ce: float = F.cross_entropy([0.9, 0.1], [1, 0])
ce10: float = F.cross_entropy([0.9, 0.1], [1, 0]) / float(np.log(10))

# A 3-4-2 network, every quantity of one forward and backward pass:
net = nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
                     loss="cross_entropy", seed=0)
X, Y = np.array([[1.0, 2.0, 1.0]]), np.array([[1.0, 0.0]])
for layer in net.trace(X, Y):
    print(layer["a"], layer["z"], layer["delta"])
grads = net.gradients(X, Y)
step_loss: float = net.train_step(X, Y, lr=0.5)

# Layers, activations with parameters, and training:
net = nncore.Network(
    [nncore.Dense(64, 32, activation=nncore.LeakyReLU(delta=0.05)),
     nncore.Dense(32, 16, activation=nncore.Sigmoid(c=1.0, beta=2.0, trainable=True)),
     nncore.Dense(16, 10, activation="softmax")],
    loss="cross_entropy", seed=0, dtype="float32")
digits, labels = nncore.load_digits()
losses = net.fit(digits / 16, labels, epochs=20, lr=0.1, batch_size=32)
accuracy = (net.predict(digits / 16).argmax(axis=1) == labels).mean()
path: str = net.save("digits.npz")
net = nncore.Network.load(path)
sizes: list[int] = net.sizes
sigmoid = net.layers[1].activation
assert isinstance(sigmoid, nncore.Sigmoid)
c: float = sigmoid.c

# Optimizers, schedules, validation, early stopping:
net = nncore.Network([64, 64, 10], activation="relu", loss="cross_entropy", seed=0,
                     optimizer="adam")
history = net.fit(digits / 16, labels, epochs=100, lr=3e-3, batch_size=32,
                  validation_split=0.2, schedule=nncore.CosineLR(),
                  early_stopping=nncore.EarlyStopping(patience=5),
                  metrics=("accuracy",), verbose=1)
last: float = history[-1]
best = history.best_epoch
if best is not None:
    val: float = history.val_loss[best]
val_accuracy: list[float] = history.metrics["val_accuracy"]
history.plot()

# The optimizer and schedule objects, with their settings:
optimizers: list[nncore.Optimizer] = [
    nncore.SGD(momentum=0.9, nesterov=True, weight_decay=1e-4),
    nncore.Adam(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=True),
    nncore.AdamW(weight_decay=0.01), nncore.RMSprop(alpha=0.9, eps=1e-8, momentum=0.5)]
net.optimizer = optimizers[0]
net.optimizer = "rmsprop"
schedules: list[nncore.Schedule] = [
    nncore.StepLR(10, gamma=0.5), nncore.ExponentialLR(0.95),
    nncore.CosineLR(T_max=50, lr_min=1e-4),
    nncore.ReduceLROnPlateau(factor=0.5, patience=3, threshold=1e-4, min_lr=1e-6)]
net.fit(digits / 16, labels, epochs=3, lr=0.1, schedule=lambda epoch, lr: lr * 0.9,
        callback=lambda epoch, loss: loss < 0.01)

# ONNX export (nncore-nn[onnx]):
model = nncore.to_onnx(net, "digits.onnx")
version: str = nncore.__version__
