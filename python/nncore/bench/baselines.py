"""What nncore is measured against, and the prepared cases the report and benches/ time.

The baseline every ratio divides by is ``PlainNumpyMLP``: the training step a user would write
in NumPy, a few lines per layer, no validation, in the network's dtype. PyTorch (CPU) and
scikit-learn's ``MLPClassifier`` are the peers, each when it can be imported (neither is a
dependency: they are imported here, only when a case needs them). nncore's own NumPy backend
(``backend="numpy"``, the tests' oracle) can be measured too, but it validates and converts
like the rest of the API and is not a baseline.
"""
import dataclasses
import warnings
from functools import partial

import numpy as np

from .machine import blas_threads
from .networks import ADAM, ADAM_LR, LR, OPS, build_network, make_data, one_hot

__all__ = ["BACKENDS", "DEFAULT_BACKENDS", "BACKEND_NAMES", "ADAM_BACKENDS",
           "PlainNumpyMLP", "torch_module", "sklearn_module", "available", "build_torch",
           "build_sklearn", "Case", "make_case", "subnormal_count"]

# "nncore": backend="cython"; "numpy": PlainNumpyMLP; "nncore-numpy": backend="numpy".
BACKENDS = ("nncore", "numpy", "torch", "sklearn", "nncore-numpy")
DEFAULT_BACKENDS = ("nncore", "numpy", "torch", "sklearn")
BACKEND_NAMES = {"nncore": "nncore", "numpy": "NumPy", "torch": "PyTorch",
                 "sklearn": "sklearn", "nncore-numpy": "nncore-NumPy"}
# The backends of the ADAM case: nncore's fit with optimizer="adam", PyTorch's Adam step.
ADAM_BACKENDS = ("nncore", "torch")


# -- the baseline: a plain NumPy training step -----------------------------------------------------

class PlainNumpyMLP:
    """A dense network trained the way a user would write it in NumPy: the ratios' baseline.

    Hidden layers ``z = phi(z_prev @ W + b)`` (``phi`` relu or sigmoid), a softmax output and
    the cross-entropy loss, whose gradient at the output pre-activation is
    ``delta = (yhat - Y) / N``; backward ``delta_prev = (delta @ W.T) * phi'(z_prev)``; plain
    SGD in place, ``W -= lr * (z_prev.T @ delta)``, ``b -= lr * delta.sum(0)``. Nothing is
    validated or converted: the arrays stay in the dtype they are given (float32 stays
    float32). The loss itself is not computed (nncore's ``train_step`` does compute it, so
    this only favours the baseline).

    Parameters
    ----------
    weights : list of ndarray (n_in, n_out)
    biases : list of ndarray (n_out,)
        Copied; use ``PlainNumpyMLP.like(net)`` to start from an nncore network's parameters.
    activation : {"relu", "sigmoid"}
        The hidden layers' activation.

    Shape
    -----
    ``X``: (N, n_in) of the parameters' dtype; ``Y``: one-hot rows (N, n_classes) of that
    dtype, made once from the integer labels (``np.eye(k, dtype=dtype)[labels]``).
    """

    def __init__(self, weights, biases, activation):
        if activation not in ("relu", "sigmoid"):
            raise ValueError(f"activation must be 'relu' or 'sigmoid', got {activation!r}")
        if len(weights) != len(biases) or not weights:
            raise ValueError(f"{len(weights)} weight matrices and {len(biases)} bias vectors; "
                             f"expected as many of each, at least one")
        self.W = [np.array(W, copy=True) for W in weights]
        self.b = [np.array(b, copy=True) for b in biases]
        self.activation = activation

    @classmethod
    def like(cls, net):
        """The plain network with a copy of nncore network `net`'s parameters.

        `net` must be what ``PlainNumpyMLP`` computes: hidden layers all "relu" or all plain
        "sigmoid" (c = beta = 1, not trainable), a softmax output, the cross-entropy loss.
        """
        hidden = [ly.activation for ly in net.layers[:-1]]
        names = {act.name for act in hidden}
        plain = all(act.name != "sigmoid" or (act.c == 1 and act.beta == 1
                                              and not act.trainable) for act in hidden)
        if (len(names) > 1 or not names <= {"relu", "sigmoid"} or not plain
                or net.layers[-1].activation.name != "softmax"
                or net.loss_name != "cross_entropy"):
            raise ValueError(f"PlainNumpyMLP computes one plain relu or sigmoid activation in "
                             f"every hidden layer, a softmax output and the cross-entropy "
                             f"loss; got {net!r}")
        return cls([ly.W for ly in net.layers], [ly.b for ly in net.layers],
                   hidden[0].name if hidden else "relu")

    def _phi(self, a):
        if self.activation == "relu":
            return np.maximum(a, 0)
        return 1 / (1 + np.exp(-a))

    def _dphi(self, z):
        """phi'(a), from z = phi(a)."""
        if self.activation == "relu":
            return z > 0
        return z * (1 - z)

    def _forward(self, X):
        """[X, z_1, ..., z_{L-1}] and the softmax output yhat (N, n_classes)."""
        zs = [X]
        z = X
        for W, b in zip(self.W[:-1], self.b[:-1]):
            z = self._phi(z @ W + b)
            zs.append(z)
        a = z @ self.W[-1] + self.b[-1]
        e = np.exp(a - a.max(axis=1, keepdims=True))  # stable softmax
        return zs, e / e.sum(axis=1, keepdims=True)

    def step(self, X, Y, lr):
        """One step of SGD on the batch (X, Y), the parameters updated in place."""
        zs, yhat = self._forward(X)
        delta = (yhat - Y) / X.shape[0]
        for l in range(len(self.W) - 1, -1, -1):
            W, z_prev = self.W[l], zs[l]
            if l:
                delta_prev = (delta @ W.T) * self._dphi(z_prev)
            W -= lr * (z_prev.T @ delta)
            self.b[l] -= lr * delta.sum(axis=0)
            if l:
                delta = delta_prev

    def fit(self, X, Y, lr, batch_size, rng):
        """One epoch: ``step`` on mini-batches in the order ``rng.permutation(N)``."""
        order = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            idx = order[start:start + batch_size]
            self.step(X[idx], Y[idx], lr)

    def predict(self, X):
        """The softmax outputs (N, n_classes)."""
        return self._forward(X)[1]


# -- the peers -------------------------------------------------------------------------------------

_MODULES = {}


def _import(name):
    if name not in _MODULES:
        try:
            _MODULES[name] = __import__(name)
        except Exception:  # not installed, or broken: the benchmarks go on without it
            _MODULES[name] = None
    return _MODULES[name]


def torch_module():
    """The torch module, or None when it cannot be imported (it is never a dependency)."""
    return _import("torch")


def sklearn_module():
    """The sklearn module, or None when scikit-learn cannot be imported."""
    return _import("sklearn")


def available(backend):
    """Whether `backend` (one of BACKENDS) can be measured here."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    return {"torch": torch_module, "sklearn": sklearn_module}.get(backend, lambda: True)() \
        is not None


def build_torch(config, dtype, seed=0, optimizer="sgd"):
    """(model, optimizer, loss_fn): the PyTorch counterpart of ``build_network``.

    ``model`` maps inputs to logits; ``CrossEntropyLoss`` applies the log-softmax itself (the
    fused softmax + cross-entropy nncore also uses). Sets torch's threads to the BLAS threads.

    optimizer: "sgd", ``torch.optim.SGD(lr=LR)``, or "adam", ``torch.optim.Adam(lr=ADAM_LR)``
    with its defaults (betas (0.9, 0.999), eps 1e-8, no weight decay: nncore.Adam's defaults;
    for CPU tensors torch picks its per-parameter loop, not the ``foreach`` one).
    """
    torch = torch_module()
    torch.manual_seed(seed)
    torch.set_num_threads(blas_threads())
    tdtype = getattr(torch, str(np.dtype(dtype)))
    activation = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}
    modules = []
    for i, (n_in, n_out) in enumerate(config.shapes):
        modules.append(torch.nn.Linear(n_in, n_out, dtype=tdtype))
        if i < len(config.shapes) - 1:
            modules.append(activation[config.activation]())
    model = torch.nn.Sequential(*modules)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=LR)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    return model, opt, torch.nn.CrossEntropyLoss()


def _torch_callable(config, dtype, op, X, labels, seed):
    torch = torch_module()
    model, optimizer, loss_fn = build_torch(config, dtype, seed,
                                            "adam" if op == ADAM else "sgd")
    X = torch.from_numpy(X)
    y = torch.from_numpy(labels.astype(np.int64))

    def step(xb, yb):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        return loss.item()

    def fit():
        order = torch.randperm(X.shape[0])
        for start in range(0, X.shape[0], config.batch):
            rows = order[start:start + config.batch]
            step(X[rows], y[rows])

    def predict():
        with torch.inference_mode():
            return torch.softmax(model(X), dim=1)

    # ADAM: torch.optim.Adam's step on the fixed batch, as the SGD train_step
    return {"train_step": partial(step, X, y), ADAM: partial(step, X, y), "fit": fit,
            "predict": predict}[op]


SKLEARN_ACTIVATION = {"relu": "relu", "sigmoid": "logistic"}


def build_sklearn(config, seed=0, warm_start=False):
    """An unfitted ``sklearn.neural_network.MLPClassifier`` with `config`'s architecture.

    Plain SGD at the constant rate ``LR`` (no momentum, no L2 penalty), mini-batches of
    ``config.batch`` in a new order each epoch, ``max_iter=1`` so that ``fit`` runs one epoch,
    and no early stop (``tol=0``, ``n_iter_no_change`` huge). For two classes scikit-learn's
    output is one logistic unit instead of a softmax over two (its design; slightly less work).

    warm_start: True for timing ``fit``: each call continues from the current weights, as
    nncore's ``fit`` does, so that its time is the epoch's steps, not a new initialisation.
    (``partial_fit`` with ``warm_start=True`` would refuse a batch that lacks a class.)
    """
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(
        hidden_layer_sizes=tuple(config.sizes[1:-1]),
        activation=SKLEARN_ACTIVATION[config.activation], solver="sgd",
        learning_rate="constant", learning_rate_init=LR, momentum=0.0,
        nesterovs_momentum=False, alpha=0.0, batch_size=config.batch, max_iter=1, shuffle=True,
        tol=0.0, n_iter_no_change=10**9, warm_start=warm_start, random_state=seed)


def _sklearn_callable(config, dtype, op, X, labels, seed):
    from sklearn.exceptions import ConvergenceWarning
    clf = build_sklearn(config, seed, warm_start=op == "fit")
    if op == "fit":
        def fit():
            with warnings.catch_warnings():  # max_iter=1 on purpose
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, labels)
        return fit
    clf.partial_fit(X, labels, classes=np.arange(config.n_classes))
    return {"train_step": partial(clf.partial_fit, X, labels),
            "predict": partial(clf.predict_proba, X)}[op]


# -- cases -----------------------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
    """A prepared, warmed-up callable for one (config, dtype, op, backend).

    ``fn()`` runs the operation once: ``steps`` training steps (or one predicted batch) on
    ``samples`` examples, doing ``flops`` floating-point operations in its matrix products.
    ``network``: the nncore.Network that ``fn`` computes with (None for the other backends).
    """
    config: object
    dtype: str
    op: str
    backend: str
    fn: object
    steps: int
    samples: int
    flops: int
    network: object = None


def make_case(config, dtype, op, backend, seed=0):
    """The Case of (config, dtype, op, backend), called once already.

    One call of ``fn``: ``train_step`` one step on a fixed batch; ``fit`` one epoch over
    ``config.fit_steps`` batches (``steps`` of them); ``predict`` one batch. Every backend gets
    the same data, ``make_data(config, dtype, n, seed)``, with integer class labels; the plain
    NumPy baseline gets them as one-hot rows made once, here, outside the timed call.

    op ``ADAM`` ("adam"), for the backends of ADAM_BACKENDS only: nncore's ``fit`` of one
    epoch over ``config.fit_steps`` batches with ``optimizer="adam"`` (the network built
    with it, so the timed epochs continue one Adam trajectory); PyTorch's
    ``torch.optim.Adam`` step on a fixed batch (zero_grad, forward, loss, backward, step, as
    its ``train_step``). Both at rate ADAM_LR.

    backend: one of BACKENDS ("torch" and "sklearn" need their package: see ``available``).
    """
    if op not in OPS + (ADAM,):
        raise ValueError(f"unknown op {op!r}; expected one of {OPS + (ADAM,)}")
    if not available(backend):
        raise RuntimeError(f"{BACKEND_NAMES[backend]} cannot be imported")
    if op == ADAM and backend not in ADAM_BACKENDS:
        raise ValueError(f"the {ADAM!r} case is measured for {ADAM_BACKENDS} only, not "
                         f"{backend!r}")
    # nncore's Adam runs inside fit; PyTorch's Adam step is one step on a fixed batch
    steps = config.fit_steps if op == "fit" or (op == ADAM and backend == "nncore") else 1
    n = config.batch * steps
    X, labels = make_data(config, dtype, n, seed)
    net = None
    if backend == "torch":
        fn = _torch_callable(config, dtype, op, X, labels, seed)
    elif backend == "sklearn":
        fn = _sklearn_callable(config, dtype, op, X, labels, seed)
    elif op == ADAM:
        net = build_network(config, dtype, seed=seed, optimizer="adam")
        fn = partial(net.fit, X, labels, epochs=1, lr=ADAM_LR, batch_size=config.batch)
    else:
        net = build_network(config, dtype, "numpy" if backend == "nncore-numpy" else "cython",
                            seed)
        if backend == "numpy":
            mlp = PlainNumpyMLP.like(net)
            Y = one_hot(labels, config.n_classes, dtype)
            fn = {"train_step": partial(mlp.step, X, Y, LR),
                  "fit": partial(mlp.fit, X, Y, LR, config.batch, np.random.default_rng(seed)),
                  "predict": partial(mlp.predict, X)}[op]
        else:
            fn = {"train_step": partial(net.train_step, X, labels, LR),
                  "fit": partial(net.fit, X, labels, epochs=1, lr=LR, batch_size=config.batch),
                  "predict": partial(net.predict, X)}[op]
    fn()  # warm-up: workspaces sized to the batch, caches, lazy initialisation
    return Case(config, str(np.dtype(dtype)), op, backend, fn, steps, n,
                steps * config.flops(op), None if backend == "numpy" else net)


def subnormal_count(net):
    """How many values of `net`'s W, b and optimizer state (moments) are subnormal: nonzero
    and below the dtype's smallest normal number. x86 computes on such values many times
    more slowly (a microcode assist per operation), so a few hundred of them can slow a step
    of a small network down several times: the Adam table shows this count to explain it."""
    arrays = [a for ly in net.layers for a in (ly.W, ly.b)]
    state = net.optimizer._state or ()
    arrays += [a for groups in state for group in groups for a in group
               if a.dtype == net.dtype]
    tiny = np.finfo(net.dtype).tiny
    return sum(int(np.count_nonzero((a != 0) & (np.abs(a) < tiny))) for a in arrays)
