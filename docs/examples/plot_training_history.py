"""
Training history: optimizers compared
=====================================

The same network trained on the digits with plain SGD and with Adam, with a validation split
and early stopping. ``History.plot`` draws each record: a log scale because the loss falls by
more than a factor of ten, the best epoch marked, the accuracy on the right axis.
"""
import matplotlib.pyplot as plt

import nncore

X, y = nncore.load_digits()
X = X / 16
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for ax, (optimizer, lr) in zip(axes, [("sgd", 0.1), ("adam", 3e-3)]):
    net = nncore.Network([64, 64, 10], activation="relu", loss="cross_entropy", seed=0,
                         optimizer=optimizer)
    history = net.fit(X, y, epochs=80, lr=lr, validation_split=0.2,
                      early_stopping=nncore.EarlyStopping(patience=8),
                      metrics=("accuracy",))
    history.plot(ax)
    ax.set_title(f"{optimizer}, lr {lr}: best epoch {history.best_epoch + 1}, "
                 f"val acc {history.metrics['val_accuracy'][history.best_epoch]:.3f}",
                 fontsize=10)
