"""The Network: a stack of Dense layers, a loss, and a backend that computes with them."""
import copy as _copy
import math
import numbers

import numpy as np

from . import _kernels, _validate
from . import io as _io
from ._engine import Engine
from ._numpy_backend import NumpyBackend
from .activations import get_activation
from .layers import Dense
from .losses import loss_code

__all__ = ["Network"]

BACKENDS = ("cython", "numpy")
_DEFAULT_OUTPUT = {"mse": "identity", "cross_entropy": "softmax",
                   "binary_cross_entropy": "sigmoid"}


def _no_nan(net, records, prefix):
    """Raise FloatingPointError naming the first quantity of records (one dict per layer, from
    gradients or trace) that holds a NaN, in the order it was computed: a and z forward, then
    delta and the gradients backward. An inf is left as the honest overflow it is."""
    order = [(l, key) for key in ("a", "z") for l in range(len(records)) if key in records[l]]
    order += [(l, key) for l in reversed(range(len(records))) for key in records[l]
              if key not in ("a", "z")]
    for l, key in order:
        if np.isnan(records[l][key]).any():
            raise FloatingPointError(net._nan_message(f"layer {l}'s {prefix}{key}"))


class Network:
    """A feedforward network of dense layers, trained by backpropagation and gradient descent.

    Parameters
    ----------
    layers : list of nncore.Dense, or list of int
        The layers, each taking the previous one's outputs. A list of sizes such as
        ``[3, 4, 2]`` is a shortcut: hidden layers get ``activation``, the last ``output``.
    loss : {"mse", "cross_entropy", "binary_cross_entropy"}
        See nncore.losses. The cross-entropies need a softmax output or a sigmoid one whose
        values are probabilities (0 < c <= 1, not trainable).
    activation : str or Activation, optional
        Hidden activation for the sizes shortcut (default "sigmoid"). An object is used as it
        is by every hidden layer, except a trainable one: the first hidden layer gets it, the
        others a copy each (their parameters are learnt separately).
    output : str or Activation, optional
        Output activation for the sizes shortcut; by default identity for mse, softmax for
        cross_entropy, sigmoid for binary_cross_entropy.
    seed : int or numpy Generator, optional
        Seeds weight initialisation and the shuffling of ``fit``.
    dtype : {"float64", "float32"}, default "float64"
    backend : {"cython", "numpy"}, default "cython"
        ``"cython"`` computes in nncore's compiled core; ``"numpy"`` with plain NumPy (the same
        math: the tests' oracle and the benchmarks' baseline).

    Shape
    -----
    ``X``: (N, n_in), or one example (n_in,). ``Y``: (N, n_out) rows, or integer class labels
    (N,), or for one example (n_out,) or one label. Outputs: (N, n_out), or (n_out,).

    Examples
    --------
    >>> import numpy as np, nncore
    >>> net = nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
    ...                      loss="cross_entropy", seed=0)
    >>> float(net.predict(np.array([1.0, 2.0, 1.0])).sum().round(6))
    1.0
    >>> losses = net.fit(np.eye(3), [0, 1, 1], epochs=5, lr=0.5)
    """

    def __init__(self, layers, *, loss, activation=None, output=None, seed=None,
                 dtype="float64", backend="cython"):
        code = loss_code(loss)
        self.dtype = _validate.dtype_of(dtype)
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        layers = self._layers_from(layers, activation, output, loss)
        _validate.output_for_loss(layers[-1].activation, code)
        _validate.activation_params(layers, self.dtype)
        if any(layer._bound for layer in layers):
            raise ValueError("a Dense layer already belongs to a Network; make a new one")
        if any(ly.activation._network is not None for ly in layers if ly.activation.trainable):
            raise ValueError("a trainable activation already learns in another Network; "
                             "make a new one")
        self._rng = np.random.default_rng(seed)
        self.layers = tuple(layers)
        self.loss_name = loss
        self.backend = backend
        try:
            for layer in layers:
                layer._bind(self.dtype, self._rng)
                if layer.activation.trainable:
                    layer.activation._network = self
            if backend == "cython":
                self._backend = Engine(
                    [ly.W for ly in layers], [ly.b for ly in layers],
                    [ly.activation.code for ly in layers],
                    [ly.activation._params for ly in layers],
                    [ly.activation.trainable for ly in layers], code, self.dtype,
                    _validate, self._check_state)
            else:
                self._backend = NumpyBackend(self.layers, code, self.dtype, self._check_state)
        except BaseException:
            # e.g. a MemoryError allocating a large W: leave the layers free for another try
            for layer in layers:
                layer._unbind()
                if layer.activation._network is self:
                    layer.activation._network = None
            raise

    def _check_state(self, with_loss=True):
        """Raise if the user changed W, b or an activation parameter into something the
        network cannot compute with (called by the backends on every call)."""
        _validate.network_state(self.layers, self.dtype,
                                loss_code(self.loss_name) if with_loss else None)

    @staticmethod
    def _layers_from(layers, activation, output, loss):
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__"):
            raise TypeError(f"layers must be a list of nncore.Dense or of sizes, got "
                            f"{type(layers).__name__}")
        layers = list(layers)
        if layers and all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                          for s in layers):
            if len(layers) < 2:
                raise ValueError(f"a list of sizes needs at least 2 (inputs, outputs), "
                                 f"got {layers}")
            n = len(layers) - 1
            hidden = get_activation("sigmoid" if activation is None else activation)
            output = _DEFAULT_OUTPUT[loss] if output is None else output
            layers = [Dense(layers[i], layers[i + 1],
                            output if i == n - 1
                            else hidden if i == 0 or not hidden.trainable
                            else get_activation(hidden._config()))   # its own copy
                      for i in range(n)]
        elif activation is not None or output is not None:
            raise TypeError("activation= and output= go with a list of sizes; a Dense layer "
                            "takes its own activation")
        if not layers or not all(isinstance(ly, Dense) for ly in layers):
            raise TypeError("layers must be a non-empty list of nncore.Dense, or of int sizes")
        for i in range(1, len(layers)):
            if layers[i].n_in != layers[i - 1].n_out:
                raise ValueError(f"layer {i} takes {layers[i].n_in} inputs but layer {i - 1} "
                                 f"gives {layers[i - 1].n_out} outputs")
        if len({id(ly) for ly in layers}) != len(layers):
            raise ValueError("the same Dense layer appears twice; make a new one for each place")
        trainable = [id(ly.activation) for ly in layers if ly.activation.trainable]
        if len(set(trainable)) != len(trainable):
            raise ValueError("a trainable activation object cannot be shared by several layers")
        return layers

    # -- sizes ---------------------------------------------------------------------------------

    @property
    def sizes(self):
        """Nodes per layer, inputs first: e.g. [3, 4, 2]."""
        return [self.layers[0].n_in] + [ly.n_out for ly in self.layers]

    # -- computing -----------------------------------------------------------------------------

    def forward(self, X):
        """The output activations z of the last layer for X.

        X: (N, n_in) or (n_in,); returns (N, n_out) or (n_out,), a new array.
        """
        return self._backend.predict(X)

    def predict(self, X, out=None):
        """The network's outputs for X, as ``forward``; written into ``out`` when given.

        out: ndarray of shape (N, n_out) (or (n_out,) for one example), the network's dtype,
        C-contiguous. With the cython backend nothing else is allocated per call once the
        network has run on a batch of this size.
        """
        return self._backend.predict(X, out)

    def loss(self, X, Y):
        """The loss L(yhat, y) of the outputs for X against targets Y (float).

        An overflow gives inf; a NaN (inf - inf inside the network) raises FloatingPointError.
        """
        value = self._backend.loss(X, Y)
        if math.isnan(value):
            raise FloatingPointError(self._nan_message("the loss"))
        return value

    def gradients(self, X, Y):
        """dL/dparameters for the batch (X, Y), without changing the network.

        Returns one dict per layer: ``{"W": (n_in, n_out), "b": (n_out,)}``, plus ``"c"`` and
        ``"beta"`` (floats) for a trainable sigmoid. A gradient that comes out NaN (the
        computation overflowed) raises FloatingPointError naming the layer.
        """
        grads = self._backend.gradients(X, Y)
        _no_nan(self, grads, "d")
        return grads

    def trace(self, X, Y):
        """Every quantity of one forward and backward pass, in the seed's notation.

        Returns one dict per layer: ``{"a": a, "z": z, "delta": delta}``, each (N, n_out) (or
        (n_out,) for one example), with a = z_prev @ W + b, z = phi(a), delta = dL/da. A
        quantity that comes out NaN (the computation overflowed) raises FloatingPointError
        naming the layer and the quantity.
        """
        records = self._backend.trace(X, Y)
        _no_nan(self, records, "")
        return records

    def _nan_message(self, what):
        return (f"{what} is NaN: the computation overflowed {self.dtype.name} (inputs, weights "
                f"or activation parameters too large for it)")

    def train_step(self, X, Y, lr):
        """One step of gradient descent on the batch (X, Y): W -= lr * dW, b -= lr * db.

        Returns the loss before the step (float).
        """
        value = self._backend.train_step(X, Y, lr)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the loss is {value}: the weights or activation parameters are no longer "
                f"finite, or the outputs overflow (after too large a learning rate?)")
        return value

    def fit(self, X, Y, epochs, lr, batch_size=32, shuffle=True, callback=None):
        """Train by mini-batch gradient descent; returns the mean loss of each epoch.

        Parameters
        ----------
        X : (N, n_in) ; Y : (N, n_out) or integer labels (N,)
        epochs : int >= 0
        lr : float > 0
        batch_size : int >= 1 (the last batch of an epoch may be smaller)
        shuffle : bool, default True
            Visit the examples in a new random order each epoch (seeded by the network's seed).
        callback : callable, optional
            Called as ``callback(epoch, loss)`` after each epoch; returning True stops training.

        Returns
        -------
        list of float: per epoch, the mean over its steps of the loss before each step.
        """
        epochs = _validate.count(epochs, "epochs", 0)
        lr = _validate.learning_rate(lr, self.dtype)
        batch_size = _validate.count(batch_size, "batch_size", 1)
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        X, single = _validate.inputs(X, self.layers[0].n_in, self.dtype)
        Y = _validate.targets(Y, X.shape[0], self.layers[-1].n_out, self.dtype,
                              loss_code(self.loss_name), single)
        batch_size = min(batch_size, X.shape[0])
        losses = []
        for epoch in range(epochs):
            rng_state = self._rng.bit_generator.state
            seed = int(self._rng.integers(2**63)) if shuffle else 0
            try:
                value = self._backend.run_epoch(X, Y, lr, batch_size, bool(shuffle), seed)
            except RuntimeError:
                # refused (the network is busy in another thread): leave the shuffling state
                # as it was, so that a retry trains as if the refused call never happened
                self._rng.bit_generator.state = rng_state
                raise
            if not (math.isfinite(value) and self._parameters_usable()):
                raise FloatingPointError(
                    f"training diverged in epoch {epoch}: the loss is {value} and the "
                    f"parameters are {'' if self._parameters_usable() else 'no longer '}"
                    f"finite in {self.dtype.name} (try a smaller lr)")
            losses.append(value)
            if callback is not None and callback(epoch, value):
                break
        return losses

    def _parameters_usable(self):
        """W and b finite, and the activation parameters within the dtype's range."""
        if not all(_kernels.all_finite(arr.reshape(-1))
                   for ly in self.layers for arr in (ly.W, ly.b)):
            return False
        try:
            _validate.activation_params(self.layers, self.dtype)
        except ValueError:
            return False
        return True

    # -- saving --------------------------------------------------------------------------------

    def save(self, path):
        """Save the configuration and parameters to ``path`` (.npz, no pickle), atomically:
        the file is written beside the target, flushed to disk, then renamed over it, so a
        crash or a full disk during the save leaves the old file whole (see nncore.io).

        Returns the path written: ``.npz`` is added to a name that lacks it."""
        return _io.save(self, path)

    @classmethod
    def load(cls, path, backend="cython", *, max_bytes=_io.DEFAULT_MAX_BYTES):
        """A Network saved by ``save``.

        The file is checked before anything is allocated (format, configuration, each array's
        shape and dtype, the total size against ``max_bytes``, default 1 GiB; raise it to load
        larger networks). Any file that is not a valid saved network raises a ValueError that
        names the file and what is wrong (see nncore.io.load)."""
        return _io.load(cls, path, backend=backend, max_bytes=max_bytes)

    def __reduce__(self):
        """Pickle and ``copy.deepcopy``: the copy is rebuilt through the constructors with the
        same configuration, parameters, backend and shuffling state (see nncore.io.reduce)."""
        return _io.reduce(self)

    def __copy__(self):
        # a shallow copy would share parameters and the shuffling generator: copy it all
        return _copy.deepcopy(self)

    def __repr__(self):
        layers = ", ".join(repr(ly) for ly in self.layers)
        return (f"Network([{layers}], loss={self.loss_name!r}, dtype={self.dtype.name!r}, "
                f"backend={self.backend!r})")
