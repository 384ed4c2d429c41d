"""nncore: small, fast dense neural networks with a Cython core.

>>> import nncore
>>> net = nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
...                      loss="cross_entropy", seed=0)

See README.md for the notation (a, z, delta, W, b) and the quick start.
"""
# The compiled core. For large products it calls NumPy's own OpenBLAS when it can find it (one
# library and one thread pool for nncore and NumPy), else SciPy's BLAS: nncore._kernels.blas_info()
# says which; README.md, "BLAS", has the details.
from . import _kernels  # noqa: F401
from . import functional
from .activations import (Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh,
                          get_activation)
from .callbacks import Callback, CSVLogger, ModelCheckpoint
from .datasets import load_digits
from .layers import Dense
from .network import Network
from .onnx import to_onnx  # imports onnx only when called
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, get_optimizer
from .schedules import CosineLR, ExponentialLR, ReduceLROnPlateau, Schedule, StepLR
from .training import EarlyStopping, History

from ._version import __version__

__all__ = ["Network", "Dense", "Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
           "Softmax", "get_activation", "functional", "load_digits",
           "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer",
           "Schedule", "StepLR", "ExponentialLR", "CosineLR", "ReduceLROnPlateau",
           "EarlyStopping", "History", "Callback", "ModelCheckpoint", "CSVLogger", "to_onnx",
           "__version__"]
