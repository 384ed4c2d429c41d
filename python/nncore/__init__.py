"""nncore: small, fast dense neural networks with a Cython core.

>>> import nncore
>>> net = nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
...                      loss="cross_entropy", seed=0)

See README.md for the notation (a, z, delta, W, b) and the quick start.
"""
import os as _os

import numpy as _np  # noqa: F401  (NumPy's own OpenBLAS loads first, with its defaults)

# nncore calls SciPy's OpenBLAS; NumPy's wheel carries another copy with its own threads. After
# a call, OpenBLAS threads spin for about 2**28 cycles before they sleep, so code that
# alternates nncore calls and NumPy matrix products keeps two spinning pools on the same cores:
# on 2 cores, a 784-256-10 train_step next to a NumPy matmul took 19 ms instead of 1.5 ms. The
# pool nncore uses is told to sleep at once (the variable is read once, when SciPy's OpenBLAS
# loads; NumPy's is loaded before and keeps its defaults; a value the user set is kept, and the
# environment is restored afterwards). README.md, "Two BLAS libraries", has the numbers and
# what to do when SciPy was imported first.
_user_timeout = _os.environ.get("OPENBLAS_THREAD_TIMEOUT")
if _user_timeout is None:
    _os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
try:
    from . import _kernels  # noqa: F401  (loads scipy.linalg.cython_blas)
finally:
    if _user_timeout is None:
        del _os.environ["OPENBLAS_THREAD_TIMEOUT"]

from . import functional
from .activations import (Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh,
                          get_activation)
from .datasets import load_digits
from .layers import Dense
from .network import Network
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, get_optimizer
from .schedules import CosineLR, ExponentialLR, ReduceLROnPlateau, Schedule, StepLR
from .training import EarlyStopping, History

__version__ = "0.1.0"

__all__ = ["Network", "Dense", "Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU",
           "Softmax", "get_activation", "functional", "load_digits",
           "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer",
           "Schedule", "StepLR", "ExponentialLR", "CosineLR", "ReduceLROnPlateau",
           "EarlyStopping", "History"]
