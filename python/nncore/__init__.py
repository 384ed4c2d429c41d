"""nncore: small, fast dense neural networks with a Cython core.

Feedforward networks of dense layers (``Network``, ``Dense``), their activations, losses
and optimizers; the forward pass, backpropagation and the optimizer's update run in a
compiled core without the GIL. Every quantity of a pass is there to inspect: ``trace`` gives
each layer's pre-activation ``a``, output ``z`` and local gradient ``delta``.

>>> import nncore
>>> net = nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
...                      loss="cross_entropy", seed=0)
>>> net.predict([1.0, 2.0, 1.0]).shape
(2,)

Documentation: https://nncore-nn.readthedocs.io (getting started, the user guide with the
notation and the math, the API reference, a gallery). To build it from a clone of the
repository: ``pip install ".[docs]" && python -m sphinx -b html docs docs/_build/html``.

Modules imported on demand, for their optional dependencies: ``nncore.sklearn``
(scikit-learn estimators), ``nncore.plot`` (drawings, matplotlib), ``nncore.bench``.
"""
# The compiled core. For large products it calls NumPy's own OpenBLAS when it can find it (one
# library and one thread pool for nncore and NumPy), else SciPy's BLAS: nncore._kernels.blas_info()
# says which; the docs' performance page ("BLAS") has the details.
from . import _kernels  # noqa: F401
from . import functional
from .activations import (ELU, GELU, Activation, Identity, LeakyReLU, ReLU, Sigmoid, SiLU,
                          Softmax, Softplus, Tanh, get_activation)
from . import losses
from .callbacks import Callback, CSVLogger, ModelCheckpoint
from .datasets import load_digits
from .layers import Dense, Dropout
from .network import Network
from .onnx import to_onnx  # imports onnx only when called
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, get_optimizer
from .schedules import CosineLR, ExponentialLR, ReduceLROnPlateau, Schedule, StepLR
from .training import EarlyStopping, History

from ._version import __version__

__all__ = ["Network", "Dense", "Dropout", "Activation", "Identity", "Sigmoid", "Tanh", "ReLU",
           "LeakyReLU", "Softmax", "GELU", "ELU", "SiLU", "Softplus", "get_activation",
           "functional", "losses", "load_digits",
           "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer",
           "Schedule", "StepLR", "ExponentialLR", "CosineLR", "ReduceLROnPlateau",
           "EarlyStopping", "History", "Callback", "ModelCheckpoint", "CSVLogger", "to_onnx",
           "__version__"]
