"""The benchmarked networks: sizes, batch, nncore's speed targets, the data.

Every network has a softmax output and the cross-entropy loss and is trained by plain SGD with
learning rate ``LR``; the labels are integer classes, as classification users pass them.
"""
import dataclasses

import numpy as np

from ..network import Network

__all__ = ["LR", "ADAM_LR", "DTYPES", "OPS", "ADAM", "Config", "CONFIGS", "LARGEST",
           "THREAD_CONFIGS", "GEMM_SHAPE", "GEMM_SHARE_TARGET", "THREADS_TARGET",
           "ADAM_TORCH_TARGET", "make_data", "one_hot", "build_network"]

LR = 0.01
# Adam's rate (PyTorch's and nncore's default); its timing does not depend on it, but a rate
# this small keeps thousands of timed epochs on random labels far from any overflow
ADAM_LR = 0.001
DTYPES = ("float32", "float64")
OPS = ("train_step", "fit", "predict")
# The Adam case: nncore's step inside fit with optimizer="adam", and PyTorch's
# torch.optim.Adam step on a fixed batch. Not among OPS: only nncore and PyTorch measure it.
ADAM = "adam"


@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmarked network: layer sizes, hidden activation, batch size, targets.

    Parameters
    ----------
    sizes : tuple of int
        Units per layer, input first: (n_in, hidden..., n_classes).
    activation : str
        The hidden layers' activation ("relu" or "sigmoid").
    batch : int
        Rows per training step and per predicted batch.
    fit_steps : int
        Batches in the data set that one ``fit`` epoch runs over.
    target_step, target_fit : float, or tuple of (dtype, float) pairs
        The speedups over the plain NumPy step that nncore targets for a
        ``train_step`` call and of a step inside ``fit`` (one value, or one per dtype).
    adam_bound : float or None
        The most that nncore's Adam step inside ``fit`` may cost, as a multiple of its plain
        SGD step inside ``fit``, or None where there is no bound.
    """
    sizes: tuple
    activation: str
    batch: int
    fit_steps: int
    target_step: object
    target_fit: object
    adam_bound: object = None

    @property
    def name(self):
        """e.g. '784-256-10 relu b64'"""
        return f"{'-'.join(map(str, self.sizes))} {self.activation} b{self.batch}"

    @property
    def id(self):
        """e.g. '784-256-10-b64', for test ids, file names and ``--network``."""
        return f"{'-'.join(map(str, self.sizes))}-b{self.batch}"

    @property
    def shapes(self):
        """(n_in, n_out) of each layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def n_classes(self):
        return self.sizes[-1]

    def flops(self, op):
        """Floating-point operations of the matrix products of one step of `op`.

        A training step on a batch of N does the forward ``2 N sum(n_in n_out)``, the weight
        gradients as much again, and the input gradients of every layer but the first (nobody
        needs dL/dX); ``predict`` does the forward only.
        """
        products = [n_in * n_out for n_in, n_out in self.shapes]
        forward = 2 * self.batch * sum(products)
        if op == "predict":
            return forward
        return 2 * forward + 2 * self.batch * sum(products[1:])

    def target(self, op, dtype):
        """The speedup over the plain NumPy step asked for (`op`, `dtype`), or None."""
        value = {"train_step": self.target_step, "fit": self.target_fit}.get(op)
        if isinstance(value, tuple):
            value = dict(value).get(str(np.dtype(dtype)))
        return value


CONFIGS = (
    Config((3, 4, 2), "sigmoid", 1, fit_steps=1024, target_step=20, target_fit=100),
    Config((3, 4, 2), "sigmoid", 32, fit_steps=256, target_step=10, target_fit=20),
    Config((64, 32, 10), "relu", 32, fit_steps=128, target_step=5,
           target_fit=(("float32", 8), ("float64", 5)), adam_bound=1.5),
    Config((784, 256, 10), "relu", 64, fit_steps=16, target_step=1.4, target_fit=1.4,
           adam_bound=1.3),
    Config((784, 1024, 1024, 10), "relu", 256, fit_steps=8, target_step=1.05,
           target_fit=1.05),
)
LARGEST = CONFIGS[-1]
# The networks trained many at once, in threads (see timing.many_networks).
THREAD_CONFIGS = (CONFIGS[2], CONFIGS[3])
# (m, k, n) of the matmul whose rate bounds LARGEST: its second layer's forward product.
GEMM_SHAPE = (LARGEST.batch, LARGEST.sizes[1], LARGEST.sizes[2])
# The share of NumPy's matmul rate on GEMM_SHAPE that nncore's fit should reach on LARGEST.
GEMM_SHARE_TARGET = 0.90
# Throughput of two networks trained in two threads over the two one after the other.
THREADS_TARGET = 1.7
# PyTorch's torch.optim.Adam step over nncore's Adam step inside fit, on every network: nncore
# faster (the Adam step vs PyTorch's Adam).
ADAM_TORCH_TARGET = 1.0


def make_data(config, dtype, n, seed=0):
    """(X, labels): n inputs uniform in [0, 1) of `dtype`, and integer class labels (n,)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, config.sizes[0]), dtype=np.dtype(dtype).type)
    labels = rng.integers(0, config.n_classes, size=n)
    return X, labels


def one_hot(labels, n_out, dtype):
    """Rows (n, n_out) of `dtype` with a 1 at each label: ``np.eye(n_out, dtype=dtype)[labels]``."""
    return np.eye(n_out, dtype=dtype)[labels]


def build_network(config, dtype, backend="cython", seed=0, optimizer="sgd", dropout=None):
    """The nncore.Network of `config`: hidden `config.activation`, softmax, cross-entropy,
    trained by `optimizer` ("sgd" for every op of OPS, "adam" for the ADAM case), with
    dropout p = `dropout` after every hidden layer when given."""
    return Network(list(config.sizes), activation=config.activation, output="softmax",
                   loss="cross_entropy", seed=seed, dtype=dtype, backend=backend,
                   optimizer=optimizer, dropout=dropout)
