"""The Network: a stack of Dense layers, a loss, and a backend that computes with them."""
from __future__ import annotations

import contextlib
import copy as _copy
import math
import numbers
import os
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

import numpy as np

from . import _validate
from . import callbacks as _callbacks
from . import io as _io
from ._engine import Engine
from ._numpy_backend import NumpyBackend
from .activations import get_activation
from .layers import Dense, Dropout
from .losses import Loss, get_loss
from . import training
from .optimizers import Optimizer, get_optimizer
from .schedules import get_schedule
from .training import EarlyStopping, History

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, DTypeLike, NDArray

    from .activations import Activation
    from .schedules import Schedule

    FloatArray = NDArray[np.floating[Any]]
    ScheduleSpec = Union[str, Schedule, Callable[[int, float], float], None]

__all__ = ["Network"]

from ._backend import BACKENDS  # noqa: E402  (re-exported: nncore.io reads it here)
# fit warns (once) when an epoch's loss is this many times the lowest before it
GROWTH_WARNING = 1000.0
_DEFAULT_OUTPUT = {"mse": "identity", "cross_entropy": "softmax",
                   "binary_cross_entropy": "sigmoid", "mae": "identity", "huber": "identity",
                   "poisson": "identity"}


def _owner(obj):
    """The network a weak back-reference ``obj._network`` points to, or None."""
    ref = obj._network
    return None if ref is None else ref()


def _state_check(net):
    """``net._check_state`` through a weak reference, for the backend: a bound method would
    make a reference cycle (network -> backend -> network) that only the cycle collector
    frees."""
    ref = weakref.ref(net)

    def check_state(with_loss=True):
        owner = ref()
        if owner is not None:
            owner._check_state(with_loss)
    return check_state


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
    layers : list of nncore.Dense (and nncore.Dropout), or list of int
        The layers, each taking the previous one's outputs. A ``Dropout(p)`` after a hidden
        Dense layer sets that layer's ``dropout`` (it is not a layer of its own in
        ``layers``). A list of sizes such as ``[3, 4, 2]`` is a shortcut: hidden layers get
        ``activation`` (and ``dropout``), the last ``output``.
    loss : {"mse", "cross_entropy", "binary_cross_entropy", "mae", "huber", "poisson"} or Loss
        See nncore.losses (names in any case; ``nncore.losses.Huber(delta=2.0)`` for a Huber
        loss of another delta). The cross-entropies need a softmax output or a sigmoid one
        whose values are probabilities (0 < c <= 1, not trainable). "poisson" needs an
        identity output, read as the log of the mean: ``predict`` returns the mean exp(a),
        and targets must be >= 0.
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
        The dtype of the parameters and of every computation.
    backend : {"cython", "numpy"}, default "cython"
        ``"cython"`` computes in nncore's compiled core; ``"numpy"`` with plain NumPy (the same
        math: the tests' oracle).
    optimizer : {"sgd", "adam", "adamw", "rmsprop"} or nncore.Optimizer, default "sgd"
        The update rule of ``train_step`` and ``fit`` (see nncore.optimizers); also the
        ``optimizer`` attribute, which can be reassigned (fresh state).
    init : str or callable, optional
        Weight initialiser of every layer for the sizes shortcut (``"he_normal"``,
        ``"he_uniform"``, ``"glorot_normal"``, ``"glorot_uniform"``, ``"lecun_normal"``,
        ``"zeros"`` or ``init(shape, rng)``; see nncore.initializers). By default he_uniform
        for relu and leaky_relu layers, glorot_uniform for the others. A Dense layer takes
        its own ``init=``.
    dropout : float, optional
        Dropout probability of every hidden layer for the sizes shortcut (see nncore.Dropout);
        0 by default.

    Shape
    -----
    ``X``: (N, n_in), or one example (n_in,). ``Y``: (N, n_out) rows, or integer class labels
    (N,), or for one example (n_out,) or one label. Outputs: (N, n_out), or (n_out,).

    Notes
    -----
    Threads: reading calls (``predict``, ``forward``, ``loss``, ``gradients``, ``loss_and_gradients``,
    ``trace``, ``save``, pickling, ``copy.deepcopy``) run from any number of threads at once,
    each with its own workspace, each result identical to one thread's. Changing calls
    (``fit``, ``train_step``, assigning a layer's ``W`` or ``b``, ``reset_parameters``,
    assigning ``optimizer``) run one at a time: while one runs, another thread's changing call
    raises RuntimeError and changes nothing. A reading call that overlaps training sees the
    parameters between two whole steps. ``layers``, ``dtype``, ``loss_name`` and ``backend``
    are read-only. See the guide's page on threads, state and memory.

    Examples
    --------
    >>> import numpy as np, nncore
    >>> net = nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
    ...                      loss="cross_entropy", seed=0)
    >>> float(net.predict(np.array([1.0, 2.0, 1.0])).sum().round(6))
    1.0
    >>> losses = net.fit(np.eye(3), [0, 1, 1], epochs=5, lr=0.5)
    """

    def __init__(self, layers: Sequence[Dense] | Sequence[int], *, loss: str | Loss,
                 activation: str | Activation | None = None,
                 output: str | Activation | None = None,
                 seed: int | np.random.Generator | None = None, dtype: DTypeLike = "float64",
                 backend: str = "cython", optimizer: str | Optimizer = "sgd",
                 init: Any = None, dropout: float | None = None) -> None:
        loss_fn = get_loss(loss)
        code = loss_fn.code
        optimizer = get_optimizer(optimizer)
        if optimizer._bound_to() is not None:
            raise ValueError(f"this {type(optimizer).__name__} already trains another Network; "
                             f"make a new one")
        self._dtype: np.dtype[Any] = _validate.dtype_of(dtype)
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        folded: list[Dense] = []   # Dense layers that took a Dropout's p
        try:
            layers = self._layers_from(layers, activation, output, loss_fn.name, init,
                                       dropout, folded)
            _validate.output_for_loss(layers[-1].activation, code)
            _validate.hidden_activations(layers)
            _validate.activation_params(layers, self._dtype)
            if any(layer._bound for layer in layers):
                raise ValueError("a Dense layer already belongs to a Network; make a new one")
            if any(_owner(ly.activation) is not None
                   for ly in layers if ly.activation.trainable):
                raise ValueError("a trainable activation already learns in another Network; "
                                 "make a new one")
            self._rng = np.random.default_rng(seed)
            self._layers: tuple[Dense, ...] = tuple(layers)
            self._loss_name: str = loss_fn.name
            self._loss_function: Loss = loss_fn
            self._backend_name: str = backend
            try:
                for layer in layers:
                    layer._bind(self._dtype, self._rng)
                    if layer.activation.trainable:
                        layer.activation._network = weakref.ref(self)
                if backend == "cython":
                    self._backend = Engine(self._layers, code, self._dtype, _validate,
                                           _state_check(self), loss_fn.param)
                else:
                    self._backend = NumpyBackend(self._layers, code, self._dtype,
                                                 _state_check(self), loss_fn.param)
                for layer in layers:
                    layer._owner = weakref.ref(self._backend)
                # the key of the dropout masks, drawn (after the weights) only for a network
                # that drops: the draws of one without dropout stay as they were
                self._dropout_seed = (int(self._rng.integers(2**63))
                                      if any(ly.dropout for ly in layers) else 0)
                self._backend.set_dropout([ly.dropout for ly in layers], self._dropout_seed)
                self._optimizer = None
                self.optimizer = optimizer
            except BaseException:
                # e.g. a MemoryError allocating a large W: leave the layers free for another try
                for layer in layers:
                    layer._unbind()
                    if _owner(layer.activation) is self:
                        layer.activation._network = None
                raise
        except BaseException:
            for layer in folded:     # a refused list changes no layer
                layer._dropout = 0.0
            raise

    # -- what the network computes: read-only ---------------------------------------------------

    @property
    def layers(self) -> tuple[Dense, ...]:
        """The Dense layers, inputs first (a tuple fixed at construction).

        Their ``W`` and ``b`` can be assigned; the tuple cannot.

        Examples
        --------
        >>> import nncore
        >>> net = nncore.Network([3, 4, 2], loss="mse", seed=0)
        >>> [layer.W.shape for layer in net.layers]
        [(3, 4), (4, 2)]
        """
        return self._layers

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the parameters and of every computation (fixed at construction).

        Examples
        --------
        >>> import nncore
        >>> nncore.Network([2, 1], loss="mse", dtype="float32").dtype
        dtype('float32')
        """
        return self._dtype

    @property
    def loss_name(self) -> str:
        """The loss's name, one of nncore.losses.LOSS_NAMES (fixed at construction).

        Examples
        --------
        >>> import nncore
        >>> nncore.Network([2, 3], loss="cross_entropy").loss_name
        'cross_entropy'
        """
        return self._loss_name

    @property
    def loss_function(self) -> Loss:
        """The loss with its parameters (fixed at construction).

        An `nncore.losses.Loss`, such as ``Huber(delta=2.0)``.

        Examples
        --------
        >>> import nncore
        >>> nncore.Network([2, 1], loss=nncore.losses.Huber(delta=2.0)).loss_function
        Huber(delta=2.0)
        """
        return self._loss_function

    @property
    def backend(self) -> str:
        """The backend that computes: ``"cython"`` or ``"numpy"`` (fixed at construction).

        Examples
        --------
        >>> import nncore
        >>> nncore.Network([2, 1], loss="mse", backend="numpy").backend
        'numpy'
        """
        return self._backend_name

    @property
    def optimizer(self) -> Optimizer:
        """The `nncore.Optimizer` that ``train_step`` and ``fit`` use.

        Assigning one (or a name) binds it to this network with fresh state: zero moments,
        step 0; the previous optimizer is released. An optimizer serves one network only.
        Assigning is a changing call: refused with RuntimeError (nothing changed) while another
        thread trains the network. Its hyper-parameters can be assigned too
        (``net.optimizer.weight_decay = 0.1``): validated, they take effect from the next
        step in both backends.

        Examples
        --------
        >>> import nncore
        >>> net = nncore.Network([2, 1], loss="mse", seed=0)
        >>> net.optimizer.momentum, net.optimizer.clip_norm
        (0.0, None)
        >>> net.optimizer = nncore.Adam(beta1=0.8)
        >>> type(net.optimizer).__name__, net.optimizer.beta1
        ('Adam', 0.8)
        """
        return self._optimizer

    @optimizer.setter
    def optimizer(self, spec: str | Optimizer) -> None:
        new = get_optimizer(spec)
        owner = new._bound_to()
        if owner is not None and owner is not self:
            raise ValueError(f"this {type(new).__name__} already trains another Network; "
                             f"make a new one")
        self._backend.begin_change()
        try:
            old = self._optimizer
            saved = (new._state, new._step.copy(), new._network, new._backend)
            new._bind(self, self._backend)
            try:
                self._backend.set_optimizer(*self._optimizer_args(new))
            except BaseException:
                new._state, new._step[...], new._network, new._backend = saved
                raise
            if old is not None and old is not new:
                old._unbind()
            self._optimizer = new
        finally:
            self._backend.end_change()

    def _set_dropout_seed(self, seed):
        """Key the dropout masks by ``seed`` (load and unpickling restore the saved one)."""
        self._backend.set_dropout([ly.dropout for ly in self.layers], seed)
        self._dropout_seed = int(seed)

    def _optimizer_args(self, opt):
        if self._backend_name == "cython":
            return opt._core_args()
        return (opt,)

    def _check_state(self, with_loss=True):
        """Raise if the user changed W, b or an activation parameter into something the
        network cannot compute with (called by the backends on every call)."""
        _validate.network_state(self.layers, self.dtype,
                                self._loss_function.code if with_loss else None)

    @staticmethod
    def _layers_from(layers, activation, output, loss, init=None, dropout=None, folded=None):
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__"):
            raise TypeError(f"layers must be a list of nncore.Dense or of sizes, got "
                            f"{type(layers).__name__}")
        layers = list(layers)
        if any(isinstance(ly, Dropout) for ly in layers):
            layers = Network._fold_dropout(layers, [] if folded is None else folded)
        if layers and all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                          for s in layers):
            if len(layers) < 2:
                raise ValueError(f"a list of sizes needs at least 2 (inputs, outputs), "
                                 f"got {layers}")
            n = len(layers) - 1
            if dropout is not None and n == 1:
                raise ValueError(f"dropout= applies to hidden layers, and {layers} has none "
                                 f"(the output layer takes no dropout)")
            hidden = get_activation("sigmoid" if activation is None else activation)
            output = _DEFAULT_OUTPUT[loss] if output is None else output
            layers = [Dense(layers[i], layers[i + 1],
                            output if i == n - 1
                            else hidden if i == 0 or not hidden.trainable
                            else get_activation(hidden._config()),   # its own copy
                            init=init, dropout=0.0 if i == n - 1 or dropout is None
                            else dropout)
                      for i in range(n)]
        elif (activation is not None or output is not None or init is not None
              or dropout is not None):
            raise TypeError("activation=, output=, dropout= and init= go with a list of "
                            "sizes; a Dense layer takes its own activation, dropout and init")
        if not layers or not all(isinstance(ly, Dense) for ly in layers):
            raise TypeError("layers must be a non-empty list of nncore.Dense, or of int sizes")
        for i in range(1, len(layers)):
            if layers[i].n_in != layers[i - 1].n_out:
                raise ValueError(f"layer {i} takes {layers[i].n_in} inputs but layer {i - 1} "
                                 f"gives {layers[i - 1].n_out} outputs")
        if layers[-1].dropout:
            raise ValueError(f"the output layer cannot take dropout (it has p = "
                             f"{layers[-1].dropout}); dropout goes after hidden layers")
        if len({id(ly) for ly in layers}) != len(layers):
            raise ValueError("the same Dense layer appears twice; make a new one for each place")
        trainable = [id(ly.activation) for ly in layers if ly.activation.trainable]
        if len(set(trainable)) != len(trainable):
            raise ValueError("a trainable activation object cannot be shared by several layers")
        return layers

    @staticmethod
    def _fold_dropout(items, folded):
        """The Dense layers of a list with Dropout items, each Dropout's p set as the
        ``dropout`` of the Dense layer before it, which is appended to ``folded`` (all checked
        first; the caller resets them when the network is refused later)."""
        folds = []
        for i, item in enumerate(items):
            if not isinstance(item, Dropout):
                continue
            before = items[i - 1] if i else None
            if not isinstance(before, Dense):
                raise ValueError(f"Dropout at position {i} must follow a Dense layer (it drops "
                                 f"that layer's outputs), got "
                                 f"{'nothing' if before is None else repr(before)} before it")
            if before.dropout or before._bound:
                why = "already has dropout" if before.dropout else "belongs to a Network"
                raise ValueError(f"Dropout at position {i} follows {before!r}, which {why}")
            if not any(isinstance(later, Dense) for later in items[i + 1:]):
                raise ValueError(f"Dropout at position {i} follows the output layer; dropout "
                                 f"goes after hidden layers")
            folds.append((before, item.p))
        for layer, p in folds:
            layer._dropout = p
            folded.append(layer)
        return [item for item in items if not isinstance(item, Dropout)]

    # -- sizes ---------------------------------------------------------------------------------

    @property
    def sizes(self) -> list[int]:
        """Nodes per layer, inputs first.

        Examples
        --------
        >>> import nncore
        >>> nncore.Network([3, 4, 2], loss="mse").sizes
        [3, 4, 2]
        """
        return [self.layers[0].n_in] + [ly.n_out for ly in self.layers]

    # -- computing -----------------------------------------------------------------------------

    def forward(self, X: ArrayLike) -> FloatArray:
        """Compute the output activations ``z`` of the last layer for ``X``.

        A reading call (safe from many threads at once).

        Parameters
        ----------
        X : array_like, shape (N, n_in) or (n_in,)
            Inputs, one example a row (or one example).

        Returns
        -------
        ndarray, shape (N, n_out) or (n_out,)
            A new array of the network's dtype.

        See Also
        --------
        predict : The same, optionally into a given array.

        Examples
        --------
        >>> import numpy as np, nncore
        >>> net = nncore.Network([2, 3, 1], activation="tanh", loss="mse", seed=0)
        >>> net.forward(np.zeros((4, 2))).shape
        (4, 1)
        """
        return self._mean(self._backend.predict(X))

    def _mean(self, out):
        """The outputs as the prediction: for the Poisson loss the mean exp(a), in place (the
        output layer gives its log a); the outputs as they are for the other losses."""
        if self._loss_name == "poisson":
            with np.errstate(over="ignore"):    # inf where exp(a) overflows the dtype
                np.exp(out, out=out)
        return out

    def predict(self, X: ArrayLike, out: FloatArray | None = None) -> FloatArray:
        """Compute the network's outputs for ``X``, as ``forward``; into ``out`` when given.

        With the cython backend nothing else is allocated per call once the network has run on
        a batch of this size. Runs in chunks of at most max(1024, the last training batch size)
        rows; an ``X`` of another dtype or layout is converted chunk by chunk. A reading call
        (safe from many threads at once).

        Parameters
        ----------
        X : array_like, shape (N, n_in) or (n_in,)
            Inputs, one example a row (or one example).
        out : ndarray, shape (N, n_out) or (n_out,), optional
            Where to write the outputs: the network's dtype, C-contiguous.

        Returns
        -------
        ndarray, shape (N, n_out) or (n_out,)
            The outputs: ``out`` when given, else a new array.

        Examples
        --------
        >>> import numpy as np, nncore
        >>> net = nncore.Network([2, 3, 1], activation="tanh", loss="mse", seed=0)
        >>> out = np.empty((5, 1))
        >>> net.predict(np.ones((5, 2)), out=out) is out
        True
        >>> net.predict([0.5, -0.5]).shape
        (1,)
        """
        return self._mean(self._backend.predict(X, out))

    def loss(self, X: ArrayLike, Y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Compute the loss ``L(yhat, y)`` of the outputs for ``X`` against the targets ``Y``.

        The mean of the examples' losses, or their weighted mean with ``sample_weight``. A reading
        call (safe from many threads at once), computed in chunks of rows.

        Parameters
        ----------
        X : array_like, shape (N, n_in) or (n_in,)
            Inputs, one example a row (or one example).
        Y : array_like, shape (N, n_out), (N,) or (n_out,)
            Targets: rows of ``n_out`` values, integer class labels (N,) for a network of
            several outputs, or one value per example (N,) for a network of one output.
        sample_weight : array_like, shape (N,), optional
            Weights of the examples (finite, >= 0, sum > 0): the loss is then the weighted mean
            ``sum(w_i L_i) / sum(w)``.

        Returns
        -------
        float
            The loss; an overflow gives inf.

        Raises
        ------
        FloatingPointError
            If the loss is NaN (inf - inf inside the network).

        Examples
        --------
        >>> import numpy as np, nncore
        >>> net = nncore.Network([2, 3, 1], activation="tanh", loss="mse", seed=0)
        >>> net.loss(np.zeros((3, 2)), np.zeros(3)) >= 0
        True
        """
        value = self._backend.loss(X, Y, sample_weight)
        if math.isnan(value):
            raise FloatingPointError(self._nan_message("the loss"))
        return value

    def gradients(self, X: ArrayLike, Y: ArrayLike,
                  sample_weight: ArrayLike | None = None) -> list[dict[str, Any]]:
        """Compute ``dL/dparameters`` for the batch ``(X, Y)`` without changing the network.

        Parameters
        ----------
        X : array_like, shape (N, n_in) or (n_in,)
            Inputs, one example a row (or one example).
        Y : array_like, shape (N, n_out), (N,) or (n_out,)
            Targets: rows of ``n_out`` values, integer class labels (N,) for a network of
            several outputs, or one value per example (N,) for a network of one output.
        sample_weight : array_like, shape (N,), optional
            Weights of the examples (finite, >= 0, sum > 0): the loss is then the weighted mean
            ``sum(w_i L_i) / sum(w)``.

        Returns
        -------
        list of dict
            One dict per layer: ``{"W": (n_in, n_out), "b": (n_out,)}`` arrays, plus ``"c"``
            and ``"beta"`` (floats) for a trainable sigmoid. Dropout is off: these are the
            gradients of the network that ``predict`` computes.

        Raises
        ------
        FloatingPointError
            If a gradient comes out NaN (the computation overflowed), naming the layer.

        Examples
        --------
        >>> import numpy as np, nncore
        >>> net = nncore.Network([2, 3, 1], activation="tanh", loss="mse", seed=0)
        >>> grads = net.gradients(np.ones((4, 2)), np.ones(4))
        >>> [(g["W"].shape, g["b"].shape) for g in grads]
        [((2, 3), (3,)), ((3, 1), (1,))]
        """
        X = self._one_batch(X)
        grads = self._backend.gradients(X, Y, sample_weight)
        _no_nan(self, grads, "d")
        return grads

    def loss_and_gradients(self, X: ArrayLike, Y: ArrayLike,
                           sample_weight: ArrayLike | None = None
                           ) -> tuple[float, list[dict[str, Any]]]:
        """Compute ``loss`` and ``gradients`` from one forward and backward pass.

        What a full-batch optimizer such as L-BFGS needs per evaluation.

        Parameters
        ----------
        X : array_like, shape (N, n_in) or (n_in,)
            Inputs, one example a row (or one example).
        Y : array_like, shape (N, n_out), (N,) or (n_out,)
            Targets: rows of ``n_out`` values, integer class labels (N,) for a network of
            several outputs, or one value per example (N,) for a network of one output.
        sample_weight : array_like, shape (N,), optional
            Weights of the examples (finite, >= 0, sum > 0): the loss is then the weighted mean
            ``sum(w_i L_i) / sum(w)``.

        Returns
        -------
        loss : float
            As ``loss(X, Y, sample_weight)``.
        gradients : list of dict
            As ``gradients(X, Y, sample_weight)``.

        Raises
        ------
        FloatingPointError
            If the loss or a gradient is NaN.

        Examples
        --------
        >>> import numpy as np, nncore
        >>> net = nncore.Network([2, 3, 1], activation="tanh", loss="mse", seed=0)
        >>> X, Y = np.ones((4, 2)), np.ones(4)
        >>> value, grads = net.loss_and_gradients(X, Y)
        >>> value == net.loss(X, Y), len(grads)
        (True, 2)
        """
        X = self._one_batch(X)
        value, grads = self._backend.loss_and_gradients(X, Y, sample_weight)
        if math.isnan(value):
            raise FloatingPointError(self._nan_message("the loss"))
        _no_nan(self, grads, "d")
        return value, grads

    def trace(self, X: ArrayLike, Y: ArrayLike) -> list[dict[str, FloatArray]]:
        """Give every quantity of one forward and backward pass, in the textbook's notation.

        ``a = z_prev @ W + b``, ``z = phi(a)``, ``delta = dL/da``. `nncore.plot.plot_trace`
        draws them.

        Parameters
        ----------
        X : array_like, shape (N, n_in) or (n_in,)
            Inputs, one example a row (or one example).
        Y : array_like, shape (N, n_out), (N,) or (n_out,)
            Targets: rows of ``n_out`` values, integer class labels (N,) for a network of
            several outputs, or one value per example (N,) for a network of one output.

        Returns
        -------
        list of dict
            One dict per layer: ``{"a": a, "z": z, "delta": delta}``, each of shape
            (N, n_out) (or (n_out,) for one example). Dropout is off (the pass that
            ``predict`` and ``loss`` compute).

        Raises
        ------
        FloatingPointError
            If a quantity comes out NaN (the computation overflowed), naming the layer and the
            quantity.

        Examples
        --------
        >>> import numpy as np, nncore
        >>> net = nncore.Network([2, 3, 1], activation="tanh", loss="mse", seed=0)
        >>> records = net.trace(np.ones((4, 2)), np.ones(4))
        >>> [sorted(r) for r in records]
        [['a', 'delta', 'z'], ['a', 'delta', 'z']]
        >>> records[0]["z"].shape
        (4, 3)
        """
        X = self._one_batch(X)
        records = self._backend.trace(X, Y)
        _no_nan(self, records, "")
        return records

    def evaluate(self, X: ArrayLike, Y: ArrayLike,
                 metrics: Sequence[str] | str | None = None) -> dict[str, float]:
        """Compute the network's metrics on ``(X, Y)``, each equal to its ``sklearn.metrics`` namesake.

        The rows are predicted and reduced chunk by chunk (``nncore.metrics.CHUNK_ROWS`` at a
        time), so memory does not grow with ``N``. It changes nothing; from several threads at
        once it behaves as ``predict`` does.

        Parameters
        ----------
        X : array_like, shape (N, n_in)
            Inputs, one example a row.
        Y : array_like, shape (N,) or (N, n_out)
            Integer class labels (N,), or rows (N, n_out) (one-hot rows for the class metrics),
            or for one output a column (N,).
        metrics : sequence of str, optional
            Any of ``"loss"``, ``"accuracy"``, ``"top_k_accuracy"`` (k = 5) or
            ``"top_<k>_accuracy"``, ``"precision"``, ``"recall"``, ``"f1"`` (macro averages),
            ``"log_loss"``, ``"mae"``, ``"rmse"``, ``"r2"`` (see nncore.metrics). By default
            loss and accuracy for a cross-entropy network, loss, mae, rmse and r2 for mse.

        Returns
        -------
        dict of str to float
            Each metric's value, in the order asked.

        Examples
        --------
        >>> import numpy as np, nncore
        >>> net = nncore.Network([2, 3], loss="cross_entropy", seed=0)
        >>> scores = net.evaluate(np.eye(3, 2), [0, 1, 2], metrics=["accuracy", "loss"])
        >>> list(scores), 0 <= scores["accuracy"] <= 1
        (['accuracy', 'loss'], True)
        """
        from . import metrics as _metrics

        return _metrics.evaluate(self, X, Y, metrics)

    def summary(self) -> str:
        """Describe the layers as a table of text.

        Returns
        -------
        str
            The layers (type, activation, output shape, parameter count), the total parameter
            count and the optimizer: ``print(net.summary())``.

        Examples
        --------
        >>> import nncore
        >>> net = nncore.Network([3, 4, 2], loss="mse", seed=0)
        >>> "26" in net.summary()      # 3*4 + 4 + 4*2 + 2 parameters
        True
        """
        from . import metrics as _metrics

        return _metrics.summary(self)

    def _nan_message(self, what):
        return (f"{what} is NaN: the computation overflowed {self.dtype.name} (inputs, weights "
                f"or activation parameters too large for it)")

    def train_step(self, X: ArrayLike, Y: ArrayLike, lr: float,
                   sample_weight: ArrayLike | None = None) -> float:
        """Take one step of the network's optimizer on the batch ``(X, Y)`` at rate ``lr``.

        With the default ``"sgd"``, gradient descent: ``W -= lr * dW``, ``b -= lr * db``. A
        changing call: RuntimeError, nothing changed, while another thread trains the network.

        Parameters
        ----------
        X : array_like, shape (N, n_in) or (n_in,)
            Inputs, one example a row (or one example).
        Y : array_like, shape (N, n_out), (N,) or (n_out,)
            Targets: rows of ``n_out`` values, integer class labels (N,) for a network of
            several outputs, or one value per example (N,) for a network of one output.
        lr : float
            The learning rate, > 0.
        sample_weight : array_like, shape (N,), optional
            Weights of the examples (finite, >= 0, sum > 0): the loss is then the weighted mean
            ``sum(w_i L_i) / sum(w)``.

        Returns
        -------
        float
            The loss before the step, computed with the step's dropout masks when layers
            have dropout.

        Raises
        ------
        FloatingPointError
            If the loss is not finite (after too large a learning rate?).

        Examples
        --------
        >>> import numpy as np, nncore
        >>> net = nncore.Network([2, 3, 1], activation="tanh", loss="mse", seed=0)
        >>> X, Y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1.0, -1.0])
        >>> first = net.train_step(X, Y, lr=0.1)
        >>> net.loss(X, Y) < first
        True
        """
        value = self._backend.train_step(X, Y, lr, sample_weight)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the loss is {value}: the weights or activation parameters are no longer "
                f"finite, or the outputs overflow (after too large a learning rate?)")
        return value

    def fit(self, X: ArrayLike, Y: ArrayLike, epochs: int, lr: float, batch_size: int = 32,
            shuffle: bool = True, callback: Callable[[int, float], object] | None = None, *,
            validation_data: tuple[ArrayLike, ArrayLike] | None = None,
            validation_split: float = 0.0, schedule: ScheduleSpec = None,
            early_stopping: EarlyStopping | None = None, metrics: Sequence[str] = (),
            verbose: int = 0, sample_weight: ArrayLike | None = None,
            callbacks: Sequence[Any] | None = None) -> History:
        """Train with the network's optimizer over mini-batches.

        Every epoch runs in the core (shuffle, gather, steps); the validation loss and the
        metrics are computed after each epoch.

        A changing call: while it runs, another thread's changing call raises RuntimeError,
        and a fit refused that way changes nothing (not even the generator that shuffles and
        splits). Reading calls from other threads run meanwhile and see the parameters
        between two whole steps. Class labels in Y are checked again where the core reads
        them: a thread that changes Y during fit causes a ValueError, never a crash.

        Parameters
        ----------
        X : array_like, shape (N, n_in)
            Training inputs, one example a row.
        Y : array_like, shape (N, n_out) or (N,)
            Targets: rows, integer class labels (N,), or one value per example (N,) for a
            network of one output.
        epochs : int
            Passes over the data, >= 0.
        lr : float
            The learning rate (> 0), or the starting rate of a schedule.
        batch_size : int, default 32
            Examples per step, >= 1 (the last batch of an epoch may be smaller).
        shuffle : bool, default True
            Visit the examples in a new random order each epoch (seeded by the network's seed).
        callback : callable, optional
            Called as ``callback(epoch, loss)`` after each epoch; returning True stops training.
        validation_data : (Xv, Yv) or (Xv, Yv, sample_weight_v), optional
            Held-out examples whose loss (``History.val_loss``) is computed after each epoch
            (weighted by sample_weight_v when given).
        validation_split : float in [0, 1), default 0
            Instead of validation_data: hold out this fraction of (X, Y), drawn by the
            network's random generator; stratified when Y holds class labels (integer labels,
            one-hot rows, or 0/1 targets of one output).
        schedule : nncore.Schedule, name or callable, optional
            The rate of each epoch (see nncore.schedules); constant ``lr`` by default.
        early_stopping : nncore.EarlyStopping, optional
            Stops training when the monitored loss stops improving (and restores the best
            parameters when asked).
        metrics : sequence of str, default ()
            ``("accuracy",)``: the share of examples whose class (argmax of the outputs, or
            output >= 0.5 for one output) is the target's, on the training data and on the
            validation data, after each epoch.
        verbose : {0, 1, 2}, default 0
            0 silent; 1 a progress bar over the epochs on a terminal (tqdm when installed,
            else a line of nncore's own), nothing when stderr is not a terminal; 2 one line
            per epoch on stderr.
        sample_weight : (N,), optional
            Weights of the examples (finite, >= 0, with a sum > 0): each step minimises the
            weighted mean sum(w_i L_i) / sum(w) of its batch's losses (a batch whose weights
            are all 0 contributes no gradient). A validation_split holds out the weights with
            their examples; the validation loss and accuracy are weighted by them too.
        callbacks : list of nncore.Callback, optional
            Objects whose ``on_train_begin``, ``on_epoch_end(epoch, logs)`` (a true return
            stops training) and ``on_train_end`` run around the epochs, such as
            nncore.ModelCheckpoint and nncore.CSVLogger (see nncore.callbacks).

        Returns
        -------
        nncore.History
            A list of the per-epoch training losses (the mean over the epoch's steps of the
            loss before each step), with ``val_loss``, ``lr``, ``metrics``, ``best_epoch``
            and ``stopped_early``.

        Examples
        --------
        >>> import numpy as np, nncore
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(64, 2))
        >>> y = (X[:, 0] > X[:, 1]).astype(int)            # class labels 0 / 1
        >>> net = nncore.Network([2, 8, 2], activation="tanh", loss="cross_entropy",
        ...                      optimizer="adam", seed=0)
        >>> history = net.fit(X, y, epochs=20, lr=0.05, batch_size=16,
        ...                   validation_split=0.25, metrics=["accuracy"])
        >>> len(history), history[-1] < history[0]
        (20, True)
        """
        # check everything before training: a refused call changes nothing
        epochs = _validate.count(epochs, "epochs", 0)
        lr = _validate.learning_rate(lr, self.dtype)
        batch_size = _validate.count(batch_size, "batch_size", 1)
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        callbacks = _callbacks.check(callbacks)
        schedule = get_schedule(schedule)
        if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be an nncore.EarlyStopping, got "
                            f"{type(early_stopping).__name__}")
        if metrics is None or isinstance(metrics, str):
            metrics = () if metrics is None else (metrics,)
        if not hasattr(metrics, "__iter__"):
            raise TypeError(f"metrics must be a sequence of names, got "
                            f"{type(metrics).__name__}")
        metrics = tuple(metrics)
        for name in metrics:
            if name not in training.METRICS:
                raise ValueError(f"unknown metric {name!r}; expected one of {training.METRICS}")
        if verbose not in (0, 1, 2) or isinstance(verbose, float):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        if type(validation_split) is not float and (
                isinstance(validation_split, bool)
                or not isinstance(validation_split, numbers.Real)):
            raise TypeError(f"validation_split must be a number, got "
                            f"{type(validation_split).__name__}")
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must lie in [0, 1), got {validation_split}")
        if validation_split and validation_data is not None:
            raise ValueError("give validation_data or validation_split, not both")
        n_in = self.layers[0].n_in
        X, single = self._fit_inputs(X)
        Y = self._fit_targets(Y, X.shape[0], single)
        w = (None if sample_weight is None
             else _validate.sample_weight(sample_weight, X.shape[0]))
        Xv = Yv = wv = None
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list))
                    and len(validation_data) in (2, 3)):
                raise TypeError("validation_data must be a pair (Xv, Yv) or a triple "
                                "(Xv, Yv, sample_weight_v)")
            Xv, single_v = self._fit_inputs(validation_data[0])
            Yv = self._fit_targets(validation_data[1], Xv.shape[0], single_v)
            if len(validation_data) == 3 and validation_data[2] is not None:
                wv = _validate.sample_weight(validation_data[2], Xv.shape[0])
        has_val = Xv is not None or validation_split > 0
        monitor = early_stopping.monitor if early_stopping is not None else None
        if monitor is not None and monitor.startswith("val_") and not has_val:
            raise ValueError(f"early stopping monitors {monitor!r}, which needs "
                             f"validation_data or validation_split")
        if monitor == "val_accuracy" and "accuracy" not in metrics:
            metrics += ("accuracy",)
        # a changing call: claimed (or refused, with nothing changed) before the callbacks
        # begin and the generator draws
        self._backend.begin_change()
        try:
            return self._fit_claimed(X, Y, w, Xv, Yv, wv, epochs, lr, batch_size, shuffle,
                                     callback, schedule, early_stopping, metrics, verbose,
                                     validation_split, has_val, callbacks)
        finally:
            self._backend.end_change()

    def _fit_claimed(self, X, Y, w, Xv, Yv, wv, epochs, lr, batch_size, shuffle, callback,
                     schedule, early_stopping, metrics, verbose, validation_split, has_val,
                     callbacks):
        if callbacks:   # the keys of each epoch's logs, as _train records them
            keys = ["loss"] + ["val_loss"] * has_val
            if "accuracy" in metrics:
                keys += ["accuracy"] + ["val_accuracy"] * has_val
            _callbacks.begin(callbacks, self, keys + ["lr"])
        if validation_split:
            # drawn only now that every argument is accepted
            rng_state = self._rng.bit_generator.state
            train, val = training.validation_split(X.shape[0], validation_split, self._rng,
                                                   training.class_labels(Y))
            if w is not None and not (w[train].sum() > 0 and w[val].sum() > 0):
                self._rng.bit_generator.state = rng_state    # refused: nothing changed
                _callbacks.end(callbacks, None)
                raise ValueError("validation_split leaves only examples of sample_weight 0 on "
                                 "one side (training or validation)")
            X, Y, Xv, Yv = X[train], Y[train], X[val], Y[val]
            if w is not None:
                w, wv = w[train], w[val]
        batch_size = min(batch_size, X.shape[0])
        return self._train(X, Y, w, Xv, Yv, wv, epochs, lr, batch_size, bool(shuffle),
                           callback, schedule, early_stopping, metrics, verbose, callbacks)

    def _epoch_in_order(self, X, Y, lr, batch_size, order=None):
        """One epoch of the optimizer's steps, in the core, for nncore.sklearn: over the rows of
        (X, Y) in order, or over rows ``order`` (int64 indices, gathered in the core). X
        (N, n_in) and Y (N, n_out) in the network's dtype or int64 class labels (N,), as fit
        passes them on. Returns (the mean loss over the steps, the sum over the steps of
        sum_l ||W_l||^2 before each step: an L2 penalty's share of the loss that scikit-learn
        reports); raises FloatingPointError as fit does when the epoch diverges."""
        norms = np.zeros(1)
        value = self._backend.run_epoch(X, Y, lr, batch_size, False, 0, None, norms, order)
        if not (math.isfinite(value) and self._parameters_usable()):
            raise FloatingPointError(f"training diverged: the loss is {value} (try a smaller lr)")
        return value, float(norms[0])

    def _one_batch(self, X):
        """X as it is, or sparse X densified: gradients and trace work on one batch, whose
        every quantity they return is dense anyway."""
        if _validate.is_sparse(X):
            return _validate.sparse_inputs(X, self.layers[0].n_in, self.dtype).toarray()
        return X

    def _fit_inputs(self, X):
        """(X, single) validated for fit: a C-contiguous array of the network's dtype, or
        sparse X (scipy.sparse) as CSR of that dtype, whose batches the core reads row by row
        (never densified)."""
        if _validate.is_sparse(X):
            return _validate.sparse_inputs(X, self.layers[0].n_in, self.dtype), False
        return _validate.inputs(X, self.layers[0].n_in, self.dtype)

    def _fit_targets(self, Y, m, single):
        """Validated targets for fit: int64 class labels (m,) as they are when Y holds them
        and the network has several outputs (the core takes them without one-hot rows), else
        rows (m, n_out) of the network's dtype."""
        labels = None if single else _validate.class_labels(Y, m, self.layers[-1].n_out)
        if labels is not None:
            return labels
        return _validate.targets(Y, m, self.layers[-1].n_out, self.dtype,
                                 self._loss_function.code, single)

    def _train(self, X, Y, w, Xv, Yv, wv, epochs, lr, batch_size, shuffle, callback,
               schedule, early_stopping, metrics, verbose, callbacks=()):
        history = History()
        if "accuracy" in metrics:
            history.metrics["accuracy"] = []
            classes = training.target_classes(Y)
            pred = np.empty((X.shape[0], self.layers[-1].n_out), dtype=self.dtype)
            if Xv is not None:
                history.metrics["val_accuracy"] = []
                classes_v = training.target_classes(Yv)
                pred_v = np.empty((Xv.shape[0], self.layers[-1].n_out), dtype=self.dtype)
        monitor = (early_stopping.monitor if early_stopping is not None
                   else "val_loss" if Xv is not None else "loss")
        best = training._Best(training.MONITORS[monitor],
                              early_stopping.min_delta if early_stopping is not None else 0.0)
        keep = early_stopping is not None and early_stopping.restore_best
        saved = None
        if schedule is not None:
            schedule.start(lr, epochs)
        progress = training.Progress(verbose, epochs)
        saved_at = None   # (epoch, monitored value) of the parameters in saved
        # an epoch's loss GROWTH_WARNING times above the lowest of the epochs before it, and
        # above the first epoch's, warns once (from the losses fit has anyway: no extra pass)
        lowest = start = math.inf
        try:
            for epoch in range(epochs):
                rate = lr if schedule is None else self._scheduled_rate(schedule, epoch)
                # (never refused: fit holds the network's claim, taken before anything drew)
                seed = int(self._rng.integers(2**63)) if shuffle else 0
                value = self._backend.run_epoch(X, Y, rate, batch_size, shuffle, seed, w)
                if not (math.isfinite(value) and self._parameters_usable()):
                    raise FloatingPointError(
                        f"training diverged in epoch {epoch}: the loss is {value} and the "
                        f"parameters are {'' if self._parameters_usable() else 'no longer '}"
                        f"finite in {self.dtype.name} (try a smaller lr)")
                if value > GROWTH_WARNING * lowest and value > start:
                    warnings.warn(
                        f"the training loss grew from {lowest:.3g} to {value:.3g} (x"
                        f"{value / lowest:.1e}) by epoch {epoch}, at learning rate {rate:g}: "
                        f"the rate is probably too large", RuntimeWarning, stacklevel=4)
                    start = math.inf    # once per fit
                start = value if epoch == 0 else start
                lowest = min(lowest, value)
                history.append(value)
                history.lr.append(float(rate))
                record = {"loss": value}
                if Xv is not None:
                    record["val_loss"] = self._backend.loss(Xv, Yv, wv)
                    history.val_loss.append(record["val_loss"])
                if "accuracy" in metrics:
                    record["accuracy"] = training.accuracy(self._backend.predict(X, pred),
                                                           classes, w)
                    history.metrics["accuracy"].append(record["accuracy"])
                    if Xv is not None:
                        record["val_accuracy"] = training.accuracy(
                            self._backend.predict(Xv, pred_v), classes_v, wv)
                        history.metrics["val_accuracy"].append(record["val_accuracy"])
                record["lr"] = float(rate)
                if schedule is not None:
                    schedule.observe(epoch, record.get("val_loss", value))
                if best.update(epoch, record[monitor]) and keep:
                    saved_at = None   # until the copy is whole (an interrupt may land in it)
                    saved = self._snapshot(saved)
                    saved_at = (epoch, best.best)
                progress.update(epoch, record)
                stop = callback is not None and callback(epoch, value)
                if callbacks and _callbacks.epoch_end(callbacks, epoch, record):
                    stop = True
                if stop:
                    history.stopped_early = epoch < epochs - 1
                    break
                if early_stopping is not None and best.wait >= early_stopping.patience:
                    history.stopped_early = epoch < epochs - 1
                    break
        except BaseException as exc:
            # diverged, interrupted, a callback's error: the best epoch's parameters first
            # (an interrupt during the copy of a new best leaves that best epoch's parameters)
            if keep and saved_at is not None:
                self._restore(saved)
                training.say_restored(exc, monitor, *saved_at)
            raise
        finally:
            progress.close()
            if callbacks:
                _callbacks.end(callbacks, history)
        history.best_epoch = best.epoch
        if keep and saved is not None and best.epoch != len(history) - 1:
            self._restore(saved)
        return history

    def _scheduled_rate(self, schedule, epoch):
        # a schedule may reach 0 (e.g. CosineLR past T_max with lr_min=0): an epoch at rate 0
        # changes no parameter (the optimizer's moments still follow the gradients)
        rate = schedule.rate(epoch)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise TypeError(f"the schedule gave {type(rate).__name__} for epoch {epoch}, "
                            f"not a rate")
        rate = float(rate)
        if not (0 <= rate <= float(np.finfo(self.dtype).max)):
            raise ValueError(f"the schedule gave the rate {rate} for epoch {epoch}; a rate "
                             f"must be finite and >= 0 in {self.dtype.name}")
        return rate

    def _snapshot(self, into=None):
        """Copies of every W, b and activation parameter array (into ``into`` when given)."""
        arrays = [a for ly in self.layers for a in (ly.W, ly.b, ly.activation._params)]
        if into is None:
            return [a.copy() for a in arrays]
        for dst, src in zip(into, arrays):
            np.copyto(dst, src)
        return into

    def _restore(self, saved):
        """Put back a _snapshot, in place (the core keeps pointers to these arrays), as one
        change: a reading call in another thread sees the parameters before or after it."""
        arrays = [a for ly in self.layers for a in (ly.W, ly.b, ly.activation._params)]
        self._backend.begin_change()
        self._backend.write_lock()
        try:
            for dst, src in zip(arrays, saved):
                np.copyto(dst, src)
        finally:
            self._backend.write_unlock()
            self._backend.end_change()

    @contextlib.contextmanager
    def _reading(self):
        """Hold the parameters still (no step, no assignment) for a reading call made of
        Python code (save, pickling, to_onnx): it sees the state between two whole steps.
        Reading calls of several threads hold it at once."""
        self._backend.read_lock()
        try:
            yield self
        finally:
            self._backend.read_unlock()

    def _parameters_usable(self):
        """W and b finite, and the activation parameters within the dtype's range."""
        return self._backend.parameters_usable()

    # -- saving --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> str:
        """Save the network to an ``.npz`` file, from which ``load`` resumes training exactly.

        The configuration, the parameters, the optimizer (kind, hyper-parameters, state, step
        count) and the shuffling generator's state are saved (no pickle), so that ``fit``
        continues after ``load`` as if never interrupted. Atomically: the file is written beside
        the target, flushed to disk, then renamed over it, so a crash or a full disk during the
        save leaves the old file whole (see nncore.io).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write; ``.npz`` is added to a name that lacks it.

        Returns
        -------
        str
            The path written.

        See Also
        --------
        load : Read it back.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np, nncore
        >>> net = nncore.Network([2, 3, 1], loss="mse", seed=0)
        >>> path = net.save(os.path.join(tempfile.mkdtemp(), "net"))
        >>> path.endswith("net.npz")
        True
        >>> again = nncore.Network.load(path)
        >>> bool(np.array_equal(again.predict([1.0, 2.0]), net.predict([1.0, 2.0])))
        True
        """
        with self._reading():
            return _io.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], backend: str = "cython", *,
             max_bytes: int = _io.DEFAULT_MAX_BYTES) -> Network:
        """Load a Network saved by ``save``.

        The file is checked before anything is allocated (format, configuration, each array's
        shape and dtype, the total size against ``max_bytes``).

        Parameters
        ----------
        path : str or os.PathLike
            The ``.npz`` file.
        backend : {"cython", "numpy"}, default "cython"
            The backend of the loaded network.
        max_bytes : int, default 1 GiB
            The largest total size of the arrays to load; raise it to load larger networks.

        Returns
        -------
        Network
            The network, with its optimizer's state and shuffling generator, ready to continue
            ``fit``.

        Raises
        ------
        ValueError
            If the file is not a valid saved network, naming the file and what is wrong (see
            nncore.io.load).

        Examples
        --------
        >>> import os, tempfile, nncore
        >>> net = nncore.Network([2, 1], loss="mse", optimizer="adam", seed=0)
        >>> path = net.save(os.path.join(tempfile.mkdtemp(), "net.npz"))
        >>> nncore.Network.load(path, backend="numpy").optimizer.step_count
        0
        """
        return _io.load(cls, path, backend=backend, max_bytes=max_bytes)

    def __reduce__(self):
        """Pickle and ``copy.deepcopy``: the copy is rebuilt through the constructors with the
        same configuration, parameters, backend and shuffling state (see nncore.io.reduce)."""
        with self._reading():
            # a copy of everything taken under the lock: pickle reads the arrays after
            # __reduce__ returns, when a step in another thread could be changing them
            rebuild, args = _io.reduce(self)
            return rebuild, _copy.deepcopy(args)

    def __copy__(self) -> Network:
        # a shallow copy would share parameters and the shuffling generator: copy it all
        return _copy.deepcopy(self)

    def __repr__(self) -> str:
        layers = ", ".join(repr(ly) for ly in self.layers)
        loss = (repr(self.loss_function) if self.loss_function._config() != self.loss_name
                else repr(self.loss_name))
        return (f"Network([{layers}], loss={loss}, dtype={self.dtype.name!r}, "
                f"backend={self.backend!r})")
