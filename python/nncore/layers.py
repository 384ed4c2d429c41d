"""Dense (fully connected) layers, and dropout on their outputs."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _validate
from . import initializers as _init
from .activations import LEAKY_RELU, RELU, Activation, get_activation

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

    from .activations import ActivationSpec

__all__ = ["Dense", "Dropout"]


def _dropout_p(p):
    """p as a float in [0, 1), or the error that says what is wrong."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"dropout p must be a number in [0, 1), got {type(p).__name__}")
    p = float(p)
    if not 0 <= p < 1:
        raise ValueError(f"dropout p must lie in [0, 1), got {p}")
    return p


class Dense:
    r"""A fully connected layer: ``a = z_prev @ W + b``, ``z = phi(a)``.

    ``W[i, j]`` connects node i of the previous layer to node j of this one (the textbook's
    :math:`a = W^T z + b`, one example a row).

    Parameters
    ----------
    n_in : int
        Nodes of the previous layer (inputs of this one).
    n_out : int
        Nodes of this layer.
    activation : str or nncore.Activation, default "identity"
        ``"identity"``, ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"leaky_relu"``, ``"softmax"``,
        ``"gelu"``, ``"elu"``, ``"silu"``, ``"softplus"`` (any case: ``"ReLU"`` too), or an
        object such as ``nncore.Sigmoid(c=2.0)`` or ``nncore.GELU(approximate="tanh")``; the
        object is kept as it is.
    init : str or callable, optional
        How W is drawn: ``"he_normal"``, ``"he_uniform"``, ``"glorot_normal"``,
        ``"glorot_uniform"``, ``"lecun_normal"``, ``"zeros"``, or a callable
        ``init(shape, rng)`` returning W (see nncore.initializers). By default he_uniform for
        relu and leaky_relu, glorot_uniform otherwise. b starts at 0.
    dropout : float, default 0.0
        Inverted dropout on the layer's output while the network trains (``fit``,
        ``train_step``, ``partial_fit``): each unit of z is zeroed with probability p and the
        kept ones are scaled by 1 / (1 - p); every other call uses z as it is. 0 <= p < 1;
        not for the output layer. ``nncore.Dropout(p)`` after the layer in a Network's list
        sets it.

    Attributes
    ----------
    W : ndarray of shape (n_in, n_out)
        The weights (see below).
    b : ndarray of shape (n_out,)
        The biases. Both are the parameters, in the network's dtype. They are ``None`` until the layer joins a
        ``Network``, which allocates and initialises them (from its seed). They can be modified
        in place, and assigned: assignment checks the shape and values and copies them in, so the
        array the network computes with stays the same object. Assigning (and
        ``reset_parameters``) is a changing call of the network: refused with RuntimeError,
        nothing changed, while another thread trains it; a reading call in another thread
        sees the parameters before or after the assignment, never half of it.
    activation : nncore.Activation
        The layer's activation object.

    Shape
    -----
    input ``(N, n_in)``, output ``(N, n_out)``.

    Examples
    --------
    >>> import nncore
    >>> layer = nncore.Dense(3, 4, activation="sigmoid")
    >>> layer
    Dense(3, 4, activation=Sigmoid(c=1.0, beta=1.0, trainable=False))
    """

    def __init__(self, n_in: int, n_out: int, activation: ActivationSpec = "identity",
                 init: _init.InitSpec = None, dropout: float = 0.0) -> None:
        self._dropout = _dropout_p(dropout)
        self._n_in = _validate.count(n_in, "n_in", 1, _validate.MAX_ROWS)
        self._n_out = _validate.count(n_out, "n_out", 1, _validate.MAX_ROWS)
        self._activation = get_activation(activation)
        self._init = _init.check_init(init)
        self._W: Any = None  # ndarrays once the layer joins a Network
        self._b: Any = None
        self._bound = False
        self._owner: Any = None  # a weak reference to the network's backend, once bound

    @property
    def n_in(self) -> int:
        """Inputs of the layer (int, fixed).

        Examples
        --------
        >>> import nncore
        >>> net = nncore.Network([nncore.Dense(3, 2, activation="relu")], loss="mse", seed=0)
        >>> layer = net.layers[0]
        >>> layer.n_in, layer.n_out
        (3, 2)
        """
        return self._n_in

    @property
    def n_out(self) -> int:
        """Nodes of the layer (int, fixed).

        Examples
        --------
        >>> import nncore
        >>> nncore.Dense(3, 2).n_out
        2
        """
        return self._n_out

    @property
    def init(self) -> _init.InitSpec:
        """How W is drawn: a name, a callable, or None for the default (fixed).

        Examples
        --------
        >>> import nncore
        >>> nncore.Dense(3, 2, init="he_normal").init
        'he_normal'
        """
        return self._init

    @property
    def dropout(self) -> float:
        """The probability that training drops each of the layer's outputs.

        Fixed once the layer is in a Network.

        Examples
        --------
        >>> import nncore
        >>> nncore.Dense(4, 3, dropout=0.25).dropout
        0.25
        """
        return self._dropout

    @property
    def activation(self) -> Activation:
        """The layer's activation object.

        Examples
        --------
        >>> import nncore
        >>> nncore.Dense(3, 2, activation="tanh").activation
        Tanh()
        """
        return self._activation

    @property
    def W(self) -> NDArray[Any]:
        """Weights, shape (n_in, n_out): ``W[i, j]`` connects input i to node j.

        None until the layer joins a `Network`. Assigning checks the shape and values and copies
        them into the array the network computes with.

        Examples
        --------
        >>> import nncore
        >>> net = nncore.Network([nncore.Dense(3, 2, activation="relu")], loss="mse", seed=0)
        >>> layer = net.layers[0]
        >>> layer.W.shape
        (3, 2)
        >>> layer.W = [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
        >>> net.predict([2.0, -1.0, 5.0])
        array([2., 0.])
        """
        return self._W

    @W.setter
    def W(self, value: ArrayLike) -> None:
        self._assign("W", self._W, value, (self.n_in, self.n_out))

    @property
    def b(self) -> NDArray[Any]:
        """Biases, shape (n_out,); 0 after initialisation.

        Examples
        --------
        >>> import nncore
        >>> net = nncore.Network([nncore.Dense(3, 2, activation="relu")], loss="mse", seed=0)
        >>> layer = net.layers[0]
        >>> layer.b
        array([0., 0.])
        >>> layer.b = [0.5, -0.5]
        """
        return self._b

    @b.setter
    def b(self, value: ArrayLike) -> None:
        self._assign("b", self._b, value, (self.n_out,))

    def _assign(self, name, target, value, shape):
        if target is None:
            raise ValueError(f"{name} is allocated when the layer joins a Network; "
                             f"assign it after building the network")
        arr = _validate.real_array(value, name)
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        arr = arr.astype(target.dtype)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf (after conversion to {target.dtype})")
        with self._changing():
            target[...] = arr

    @contextlib.contextmanager
    def _changing(self):
        """Claim the network (RuntimeError while another thread trains it) and hold its
        parameters for writing while the body runs."""
        backend = None if self._owner is None else self._owner()
        if backend is None:
            yield
            return
        backend.begin_change()
        try:
            backend.write_lock()
            try:
                yield
            finally:
                backend.write_unlock()
        finally:
            backend.end_change()

    def _bind(self, dtype, rng):
        """Allocate W and b in dtype and initialise them: called once, by Network."""
        if self._bound:
            raise ValueError("this Dense layer already belongs to a Network; make a new one")
        self._W = np.empty((self.n_in, self.n_out), dtype=dtype)
        self._b = np.empty(self.n_out, dtype=dtype)
        self._bound = True
        self.reset_parameters(rng)

    def _unbind(self):
        """Undo _bind (when building the network failed after it)."""
        self._W = self._b = None
        self._bound = False
        self._owner = None

    def reset_parameters(self, rng: int | np.random.Generator | None = None) -> None:
        """Draw W by the layer's ``init`` and set b to 0, in place.

        By default W is uniform on [-r, r] with r = sqrt(6 / n_in) for relu and leaky_relu
        (he_uniform), sqrt(6 / (n_in + n_out)) otherwise (glorot_uniform); see
        nncore.initializers. A changing call of the network (see `Dense`).

        Parameters
        ----------
        rng : int or numpy.random.Generator, optional
            Seed or generator of the draw; fresh entropy when None.

        Raises
        ------
        ValueError
            If the layer has no network yet, or a callable init gives W of the wrong shape or
            with non-finite values (W and b are then left as they were).

        Examples
        --------
        >>> import nncore
        >>> net = nncore.Network([nncore.Dense(3, 2, activation="relu")], loss="mse", seed=0)
        >>> layer = net.layers[0]
        >>> layer.reset_parameters(rng=1)
        >>> first = layer.W.copy()
        >>> layer.reset_parameters(rng=1)
        >>> bool((layer.W == first).all()), bool((layer.b == 0).all())
        (True, True)
        """
        if self._W is None:
            raise ValueError("the layer has no parameters until it joins a Network")
        rng = np.random.default_rng(rng)
        default = "he_uniform" if self._activation.code in (RELU, LEAKY_RELU) \
            else "glorot_uniform"
        W = _init.draw(self._init, default, self._W.shape, rng)
        if callable(self._init):
            W = _validate.real_array(W, "the W that init returned")
            if W.shape != self._W.shape:
                raise ValueError(f"init returned W of shape {W.shape}; the layer needs "
                                 f"{self._W.shape} (n_in, n_out)")
            with np.errstate(over="ignore"):
                converted = W.astype(self._W.dtype)
            if not np.isfinite(converted).all():
                raise ValueError(f"init returned W with NaN or inf (in {self._W.dtype})")
        with self._changing():
            self._W[...] = W
            self._b[...] = 0

    def __repr__(self) -> str:
        init = "" if self._init is None else \
            f", init={self._init if callable(self._init) else repr(self._init)}"
        drop = f", dropout={self._dropout!r}" if self._dropout else ""
        return (f"Dense({self.n_in}, {self.n_out}, activation={self._activation!r}{init}"
                f"{drop})")


class Dropout:
    r"""Inverted dropout of the previous Dense layer's outputs, in a Network's list of layers.

    While the network trains (``fit``, ``train_step``, ``partial_fit``) each output z of the
    layer before it is kept with probability 1 - p and scaled, ``zd = z * mask`` with
    ``mask = kept / (1 - p)``, so that its expected value stays z; the next layer takes zd,
    and backpropagation multiplies that layer's incoming gradient by the same mask. Every
    other call (``predict``, ``loss``, ``evaluate``, ``gradients``, ``trace``, ONNX export)
    uses z as it is. As ``torch.nn.Dropout``.

    It has no parameters: the Network folds it into the Dense layer before it (that layer's
    ``dropout``). The masks are drawn inside the core from the network's seed and the
    optimizer's step count: the same seed and data give the same training.

    Parameters
    ----------
    p : float, default 0.5
        The probability of dropping a unit, 0 <= p < 1.

    Shape
    -----
    input ``(N, n)``, output ``(N, n)``.

    Examples
    --------
    >>> import nncore
    >>> net = nncore.Network([nncore.Dense(4, 8, "relu"), nncore.Dropout(0.5),
    ...                       nncore.Dense(8, 3, "softmax")], loss="cross_entropy", seed=0)
    >>> net.layers[0].dropout
    0.5
    """

    def __init__(self, p: float = 0.5) -> None:
        self._p = _dropout_p(p)

    @property
    def p(self) -> float:
        """The probability of dropping a unit.

        Examples
        --------
        >>> import nncore
        >>> nncore.Dropout(0.5).p
        0.5
        """
        return self._p

    def __repr__(self) -> str:
        return f"Dropout(p={self._p!r})"
