"""Optimizers: how a training step turns the gradients into new parameters.

Each follows the definition of PyTorch's ``torch.optim`` class of the same name (single-tensor
code, no dampening, not centered, no maximize), so that trajectories agree step by step. Weight
decay applies to the weights ``W`` only, never to the biases ``b`` nor to a trainable sigmoid's
``c`` and ``beta`` (as scikit-learn's ``alpha`` and Keras's kernel regularizers); ``b``, ``c``
and ``beta`` follow the same rule otherwise.

An optimizer belongs to one network (``Network(..., optimizer=...)`` or
``net.optimizer = ...``); binding it starts from fresh state (zero moments, step 0). The
compiled core updates its state arrays in place inside the training pass.

The hyper-parameters are validated attributes: ``opt.weight_decay = 0.1`` is checked as the
constructor checks it (a refused value changes nothing) and takes effect from the next step,
in both backends, as ``torch.optim`` reads ``param_groups`` at every step; a change that would
need other state arrays (momentum from 0 to > 0, amsgrad) is refused while the optimizer is
bound: assign a new optimizer instead.

Every optimizer can clip the gradients before its update: ``clip_norm`` scales them all so that
their global L2 norm is at most ``clip_norm`` (``torch.nn.utils.clip_grad_norm_``), and
``clip_value`` clamps each value into ``[-clip_value, clip_value]``
(``torch.nn.utils.clip_grad_value_``). Weight decay is added to the clipped gradient.
"""
import weakref

import numpy as np

from . import _optim
from ._validate import real_in as _real

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer", "OPTIMIZER_NAMES"]


# every setting the core takes (nncore/_optim.pxd, OptC), with its value where an optimizer
# has no such setting
_CORE_HYPER = {"momentum": 0.0, "nesterov": False, "beta1": 0.0, "beta2": 0.0, "alpha": 0.0,
               "eps": 1.0, "weight_decay": 0.0, "amsgrad": False, "clip_norm": 0.0,
               "clip_value": 0.0}


class Optimizer:
    """Base class of the optimizers: hyper-parameters, one network's state, the step count.

    An optimizer turns the gradients of a training step into new parameters. It is bound to
    one `Network` (``Network(optimizer=...)`` or assigning ``net.optimizer``), which keeps
    its state (moments, buffers) per parameter array; the hyper-parameters are attributes
    that can be assigned between steps. Use a subclass (`SGD`, `Adam`, `AdamW`, `RMSprop`)
    or `get_optimizer`.

    Parameters
    ----------
    **settings : float or bool
        The hyper-parameters by name, validated by the subclass.

    Attributes
    ----------
    step_count : int
        Steps taken since the optimizer was bound to its network.

    Examples
    --------
    >>> import numpy as np, nncore
    >>> net = nncore.Network([2, 1], loss="mse", optimizer="adam", seed=0)
    >>> isinstance(net.optimizer, nncore.Optimizer)
    True
    >>> _ = net.train_step(np.ones((3, 2)), np.zeros(3), lr=0.01)
    >>> net.optimizer.step_count
    1
    """

    _kind = None          # nncore._optim.KIND_*, or -1 for plain gradient descent
    _settings_names = ()  # the hyper-parameters, in the constructor's order
    # the settings whose check involves no other setting and on which no state array depends,
    # each with its check (value, name) -> normalised value, the one _checked applies: an
    # assignment of one of them checks that value alone
    _alone = {"weight_decay": _real}

    def __init__(self, **settings):
        self._network = None    # a weak reference to the bound network, or None
        self._backend = None    # a weak reference to its backend, or None
        self._step = np.zeros(1, dtype=np.int64)
        self._state = None
        self._checked(settings)
        self._settings = settings

    def __getattr__(self, name):
        settings = self.__dict__.get("_settings")
        if settings is not None and name in settings:
            return settings[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name not in self._settings_names:
            object.__setattr__(self, name, value)
            return
        new = dict(self._settings)
        alone = self._alone.get(name)
        if alone is not None:
            # a setting checked on its own, on which no state array depends: only its value
            # needs checking (nncore.sklearn sets weight_decay twice an epoch)
            new[name] = alone(value, name)
        else:
            new[name] = value
            self._checked(new)
        if self._state is not None:
            if alone is None and self._names_of(new) != self._state_names:
                raise ValueError(f"{name}={value!r} needs other optimizer state than this "
                                 f"bound {type(self).__name__} keeps; assign a new optimizer "
                                 f"to the network instead")
            backend = self._backend()
            if backend is not None:
                backend.set_hyper(self._hyper_of(new), self._code_of(new))
        self._settings = new

    # -- what the core needs ------------------------------------------------------------------

    @staticmethod
    def _checked(settings):
        """Validate (and normalise, in place) a dict of hyper-parameters by name."""
        raise NotImplementedError

    @staticmethod
    def _names_of(settings):
        """Names of the state arrays kept per parameter array under these settings."""
        raise NotImplementedError

    @property
    def _state_names(self):
        return self._names_of(self._settings)

    def _code_of(self, settings):
        return self._kind

    def _code(self):
        return self._code_of(self._settings)

    @staticmethod
    def _hyper_of(settings):
        """The settings by name as the core takes them (nncore/_optim.pxd, OptC; a clip
        that is off, None, is 0 there)."""
        hyper = dict(_CORE_HYPER)
        for k, v in settings.items():
            if v is not None and k in hyper:
                hyper[k] = v
        return hyper

    def _hyper(self):
        return self._hyper_of(self._settings)

    def _core_args(self, code=None, settings=None):
        """set_optimizer's arguments for the compiled backend."""
        code = self._code() if code is None else code
        settings = self._settings if settings is None else settings
        return code, self._hyper_of(settings), self._step, self._state

    def _bound_to(self):
        """The network this optimizer trains, or None."""
        return None if self._network is None else self._network()

    def _bind(self, network, backend):
        """Attach to ``network`` (and its backend) with fresh state (zero moments, step 0).
        Only weak references: the network holds its optimizer, not the other way round."""
        owner = self._bound_to()
        if owner is not None and owner is not network:
            raise ValueError(f"this {type(self).__name__} already trains another Network; "
                             f"make a new one (an optimizer holds one network's state)")
        layout = self._state_layout(
            [(ly.n_in, ly.n_out, ly.activation.trainable) for ly in network.layers],
            network.dtype)
        state = [tuple(tuple(np.zeros(shape, dtype=dtype) for _, shape, dtype in group)
                       for group in groups) for groups in layout]
        self._step[0] = 0
        self._state = state
        self._network = weakref.ref(network)
        self._backend = weakref.ref(backend)

    def _state_layout(self, layers, dtype):
        """The state arrays this optimizer keeps for a network of ``layers``, a list of
        ``(n_in, n_out, trainable)``, whose parameters have ``dtype``: per layer, three groups
        (W, b, activation) of ``(member name, shape, dtype)`` tuples, where the member name is
        the one ``_save`` gives the array. A trainable sigmoid's (c, beta) state is float64,
        as the parameters themselves; a plain-gradient-descent SGD keeps no state."""
        names = self._state_names if self._code() != -1 else ()
        dtype = np.dtype(dtype)
        layout = []
        for l, (n_in, n_out, trainable) in enumerate(layers):
            layout.append((
                tuple((f"opt{l}_W_{n}", (n_in, n_out), dtype) for n in names),
                tuple((f"opt{l}_b_{n}", (n_out,), dtype) for n in names),
                tuple((f"opt{l}_activation_{n}", (2,), np.dtype(np.float64)) for n in names)
                if trainable else (),
            ))
        return layout

    def _scale_state(self, ratio):
        """Multiply every state array by ``ratio``, in place, between two steps (for
        nncore.sklearn, whose momentum buffers follow a changing learning rate). A changing
        call of the network: RuntimeError while another thread trains it."""
        backend = None if self._backend is None else self._backend()
        if backend is None or not self._state:
            return
        backend.begin_change()
        try:
            backend.write_lock()
            try:
                for groups in self._state:
                    for group in groups:
                        for arr in group:
                            arr *= ratio
            finally:
                backend.write_unlock()
        finally:
            backend.end_change()

    def _unbind(self):
        self._network = self._backend = None
        self._state = None
        self._step[0] = 0

    # -- inspection -----------------------------------------------------------------------------

    @property
    def step_count(self):
        """Steps taken since the optimizer was bound to its network (int).

        Examples
        --------
        >>> import nncore
        >>> nncore.SGD().step_count
        0
        """
        return int(self._step[0])

    @property
    def state(self):
        """Give copies of the state arrays, per layer.

        Per layer, ``{"W": {name: array}, "b": {...}}`` (plus ``"activation"`` for a trainable
        sigmoid: arrays of (c, beta)); each array has the shape of its parameter. Empty before
        binding, and for plain gradient descent.

        Examples
        --------
        >>> import nncore
        >>> net = nncore.Network([2, 3], loss="mse", optimizer="adam", seed=0)
        >>> sorted(net.optimizer.state[0]["W"])
        ['exp_avg', 'exp_avg_sq']
        >>> net.optimizer.state[0]["W"]["exp_avg"].shape
        (2, 3)
        """
        if self._state is None:
            return []
        out = []
        for groups in self._state:
            entry = {}
            for key, group in zip(("W", "b", "activation"), groups):
                if group:
                    entry[key] = {n: a.copy() for n, a in zip(self._state_names, group)}
            out.append(entry)
        return out

    def get_config(self):
        """The hyper-parameters, as keyword arguments of the constructor.

        Returns
        -------
        dict of str
            Each hyper-parameter by name; ``type(opt)(**opt.get_config())`` makes an equal
            optimizer.

        Examples
        --------
        >>> import nncore
        >>> nncore.RMSprop(alpha=0.9).get_config()["alpha"]
        0.9
        """
        raise NotImplementedError

    # -- saving -----------------------------------------------------------------------------------

    def _save(self):
        """(config, arrays): the kind, hyper-parameters and step count (JSON-able), and every
        state array by name ``opt{layer}_{W|b|activation}_{state name}``."""
        config = {"kind": type(self).__name__, "config": self.get_config(),
                  "step": self.step_count}
        arrays = {}
        for l, groups in enumerate(self._state or ()):
            for key, group in zip(("W", "b", "activation"), groups):
                for name, arr in zip(self._state_names, group):
                    arrays[f"opt{l}_{key}_{name}"] = arr
        return config, arrays

    @staticmethod
    def _from_saved(config):
        """A new optimizer with the saved kind and hyper-parameters."""
        cls = _BY_NAME.get(str(config["kind"]).lower())
        if cls is None:
            raise ValueError(f"unknown optimizer kind {config['kind']!r}")
        return cls(**config["config"])

    def _load_state(self, config, arrays):
        """Copy saved state into the (bound) optimizer's arrays, in place, and its step."""
        step = config["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"bad step count {step!r}")
        for l, groups in enumerate(self._state):
            for key, group in zip(("W", "b", "activation"), groups):
                for name, arr in zip(self._state_names, group):
                    saved = arrays[f"opt{l}_{key}_{name}"]
                    if saved.shape != arr.shape or saved.dtype != arr.dtype:
                        raise ValueError(f"optimizer state {key} of layer {l} is {saved.shape} "
                                         f"{saved.dtype}, not {arr.shape} {arr.dtype}")
                    np.copyto(arr, saved)
        self._step[0] = step

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_clip(s):
    """Validate (in place) the clipping settings every optimizer has: None (off) or a finite
    float > 0, at most one of them on."""
    for name in ("clip_norm", "clip_value"):
        if s[name] is not None:
            s[name] = _real(s[name], name, 0.0, low_open=True)
    if s["clip_norm"] is not None and s["clip_value"] is not None:
        raise ValueError(f"clip_norm={s['clip_norm']} and clip_value={s['clip_value']} cannot "
                         f"both be set: choose one (set the other to None)")


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum, weight decay.

    As ``torch.optim.SGD`` (dampening 0)::

        g = dW + weight_decay * W
        v = momentum * v + g          (v = g on the first step)
        W -= lr * (g + momentum * v if nesterov else v)     (W -= lr * g without momentum)

    Parameters
    ----------
    momentum : float, default 0
        Momentum factor, in [0, 1); 0 is plain gradient descent.
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0).
    weight_decay : float, default 0
        L2 penalty, >= 0, added to the gradient.
    clip_norm : float or None, default None
        Clip by global norm before the update: when the L2 norm of all the network's gradient
        values together (W, b and a trainable sigmoid's c, beta) exceeds ``clip_norm`` (> 0),
        every gradient is multiplied by ``clip_norm / (norm + 1e-6)``. None: off.
    clip_value : float or None, default None
        Clip by value before the update: each gradient value is clamped into
        ``[-clip_value, clip_value]`` (``clip_value`` > 0). None: off. At most one of the two
        clips is set.

    Examples
    --------
    >>> import nncore
    >>> net = nncore.Network([4, 8, 3], loss="cross_entropy", seed=0,
    ...                      optimizer=nncore.SGD(momentum=0.9, nesterov=True))
    >>> net.optimizer.momentum
    0.9
    >>> net.optimizer.clip_norm = 1.0     # from the next step on
    >>> net.optimizer
    SGD(momentum=0.9, nesterov=True, weight_decay=0.0, clip_norm=1.0, clip_value=None)
    """

    _kind = _optim.KIND_SGD

    def __init__(self, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, clip_norm: float | None = None,
                 clip_value: float | None = None) -> None:
        super().__init__(momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                         clip_norm=clip_norm, clip_value=clip_value)

    _settings_names = ("momentum", "nesterov", "weight_decay", "clip_norm", "clip_value")

    @staticmethod
    def _checked(s):
        s["momentum"] = _real(s["momentum"], "momentum", 0.0, 1.0)
        s["weight_decay"] = _real(s["weight_decay"], "weight_decay")
        if not isinstance(s["nesterov"], (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {type(s['nesterov']).__name__}")
        s["nesterov"] = bool(s["nesterov"])
        if s["nesterov"] and s["momentum"] == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        _check_clip(s)

    @staticmethod
    def _names_of(s):
        return ("momentum_buffer",) if s["momentum"] > 0 else ()

    def _code_of(self, s):
        # without momentum, decay or clipping: plain gradient descent, folded into the core's
        # gemm (a clip needs every gradient before the first update)
        plain = (s["momentum"] == 0 and s["weight_decay"] == 0 and s["clip_norm"] is None
                 and s["clip_value"] is None)
        return -1 if plain else self._kind

    def get_config(self):
        """The hyper-parameters, as keyword arguments of the constructor.

        Returns
        -------
        dict of str
            Each hyper-parameter by name; ``SGD(**config)`` makes an equal optimizer.

        Examples
        --------
        >>> import nncore
        >>> nncore.SGD(momentum=0.9).get_config()
        {'momentum': 0.9, 'nesterov': False, 'weight_decay': 0.0, 'clip_norm': None, \
'clip_value': None}
        """
        return {"momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay, "clip_norm": self.clip_norm,
                "clip_value": self.clip_value}


class Adam(Optimizer):
    """Adam (Kingma and Ba), with optional L2 weight decay and AMSGrad.

    As ``torch.optim.Adam``; at step t (from 1)::

        g = dW + weight_decay * W
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2        (amsgrad: v_max = max(v_max, v), used below)
        W -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    except that m and v are stored as 0 where they fall below the dtype's smallest normal
    number (PyTorch keeps them subnormal: a dead unit's moments decay there, where x86 is many
    times slower).

    Parameters
    ----------
    beta1 : float, default 0.9
        Decay of the first moment ``m``, in [0, 1).
    beta2 : float, default 0.999
        Decay of the second moment ``v``, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay : float, default 0
        L2 penalty, >= 0, added to the gradient.
    amsgrad : bool, default False
        Divide by the largest ``v`` so far instead of ``v``.
    clip_norm : float or None, default None
        Clip by global norm before the update (see `SGD`). None: off.
    clip_value : float or None, default None
        Clip each gradient value into ``[-clip_value, clip_value]`` before the update (see
        `SGD`). None: off.

    Examples
    --------
    >>> import numpy as np, nncore
    >>> net = nncore.Network([2, 4, 1], activation="tanh", loss="mse", seed=0,
    ...                      optimizer=nncore.Adam(beta1=0.8, amsgrad=True))
    >>> history = net.fit(np.eye(2), [1.0, -1.0], epochs=30, lr=0.05)
    >>> history[-1] < history[0]
    True
    >>> nncore.Adam(clip_value=0.5).clip_value
    0.5
    """

    _kind = _optim.KIND_ADAM
    _default_decay = 0.0

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float | None = None, amsgrad: bool = False,
                 clip_norm: float | None = None, clip_value: float | None = None) -> None:
        if weight_decay is None:
            weight_decay = self._default_decay
        super().__init__(beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, clip_norm=clip_norm, clip_value=clip_value)

    _settings_names = ("beta1", "beta2", "eps", "weight_decay", "amsgrad", "clip_norm",
                       "clip_value")

    @staticmethod
    def _checked(s):
        s["beta1"] = _real(s["beta1"], "beta1", 0.0, 1.0)
        s["beta2"] = _real(s["beta2"], "beta2", 0.0, 1.0)
        s["eps"] = _real(s["eps"], "eps", 0.0, low_open=True)
        s["weight_decay"] = _real(s["weight_decay"], "weight_decay")
        if not isinstance(s["amsgrad"], (bool, np.bool_)):
            raise TypeError(f"amsgrad must be a bool, got {type(s['amsgrad']).__name__}")
        s["amsgrad"] = bool(s["amsgrad"])
        _check_clip(s)

    @staticmethod
    def _names_of(s):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if s["amsgrad"] else ())

    def get_config(self):
        """The hyper-parameters, as keyword arguments of the constructor.

        Returns
        -------
        dict of str
            Each hyper-parameter by name; ``Adam(**config)`` makes an equal optimizer.

        Examples
        --------
        >>> import nncore
        >>> nncore.Adam(amsgrad=True).get_config()["amsgrad"]
        True
        """
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad,
                "clip_norm": self.clip_norm, "clip_value": self.clip_value}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter).

    As ``torch.optim.AdamW``: first ``W *= 1 - lr * weight_decay``, then Adam's step without the
    decay term.

    Parameters
    ----------
    beta1 : float, default 0.9
        Decay of the first moment, in [0, 1).
    beta2 : float, default 0.999
        Decay of the second moment, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay : float, default 0.01
        Decoupled decay rate, >= 0: each step multiplies W by ``1 - lr * weight_decay``.
    amsgrad : bool, default False
        Divide by the largest second moment so far.
    clip_norm : float or None, default None
        Clip by global norm before the update (see `SGD`). None: off.
    clip_value : float or None, default None
        Clip each gradient value into ``[-clip_value, clip_value]`` before the update (see
        `SGD`). None: off.

    Examples
    --------
    >>> import nncore
    >>> opt = nncore.AdamW()
    >>> opt.weight_decay
    0.01
    >>> net = nncore.Network([3, 2], loss="mse", optimizer=opt, seed=0)
    """

    _kind = _optim.KIND_ADAMW
    _default_decay = 0.01


class RMSprop(Optimizer):
    """RMSprop (Hinton), with optional momentum and weight decay.

    As ``torch.optim.RMSprop`` (not centered)::

        g = dW + weight_decay * W
        v = alpha * v + (1 - alpha) * g**2
        buf = momentum * buf + g / (sqrt(v) + eps);  W -= lr * buf     (momentum > 0)
        W -= lr * g / (sqrt(v) + eps)                                   (momentum = 0)

    Parameters
    ----------
    alpha : float, default 0.99
        Decay of the mean square ``v``, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    momentum : float, default 0
        Momentum factor, in [0, 1).
    weight_decay : float, default 0
        L2 penalty, >= 0, added to the gradient.
    clip_norm : float or None, default None
        Clip by global norm before the update (see `SGD`). None: off.
    clip_value : float or None, default None
        Clip each gradient value into ``[-clip_value, clip_value]`` before the update (see
        `SGD`). None: off.

    Examples
    --------
    >>> import nncore
    >>> net = nncore.Network([3, 2], loss="mse", seed=0,
    ...                      optimizer=nncore.RMSprop(alpha=0.9, momentum=0.5))
    >>> sorted(net.optimizer.state[0]["W"])
    ['momentum_buffer', 'square_avg']
    """

    _kind = _optim.KIND_RMSPROP

    def __init__(self, alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.0,
                 weight_decay: float = 0.0, clip_norm: float | None = None,
                 clip_value: float | None = None) -> None:
        super().__init__(alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay,
                         clip_norm=clip_norm, clip_value=clip_value)

    _settings_names = ("alpha", "eps", "momentum", "weight_decay", "clip_norm", "clip_value")

    @staticmethod
    def _checked(s):
        s["alpha"] = _real(s["alpha"], "alpha", 0.0, 1.0)
        s["eps"] = _real(s["eps"], "eps", 0.0, low_open=True)
        s["momentum"] = _real(s["momentum"], "momentum", 0.0, 1.0)
        s["weight_decay"] = _real(s["weight_decay"], "weight_decay")
        _check_clip(s)

    @staticmethod
    def _names_of(s):
        return ("square_avg",) + (("momentum_buffer",) if s["momentum"] > 0 else ())

    def get_config(self):
        """The hyper-parameters, as keyword arguments of the constructor.

        Returns
        -------
        dict of str
            Each hyper-parameter by name; ``RMSprop(**config)`` makes an equal optimizer.

        Examples
        --------
        >>> import nncore
        >>> nncore.RMSprop(momentum=0.5).get_config()["momentum"]
        0.5
        """
        return {"alpha": self.alpha, "eps": self.eps, "momentum": self.momentum,
                "weight_decay": self.weight_decay, "clip_norm": self.clip_norm,
                "clip_value": self.clip_value}


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
OPTIMIZER_NAMES = tuple(_BY_NAME)


def get_optimizer(spec, **settings):
    """Make an `Optimizer` from a name, or pass one through.

    Parameters
    ----------
    spec : {"sgd", "adam", "adamw", "rmsprop"} or Optimizer
        A name (any case, so the class's own name "Adam" too; an unknown one gets a "did you
        mean") or an optimizer (returned as it is).
    **settings : float or bool or None
        Hyper-parameters of a named optimizer, as its constructor takes them (e.g.
        ``clip_norm=1.0``); the defaults for the others.

    Returns
    -------
    Optimizer
        A new optimizer for a name, else ``spec``.

    Raises
    ------
    ValueError
        If the name is unknown, or a setting's value is refused.
    TypeError
        If ``spec`` is neither a name nor an optimizer, a setting is unknown, or settings
        come with an optimizer object.

    Examples
    --------
    >>> import nncore
    >>> nncore.get_optimizer("Adam", clip_norm=1.0)
    Adam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0, amsgrad=False, clip_norm=1.0, \
clip_value=None)
    """
    if isinstance(spec, Optimizer):
        if settings:
            raise TypeError(f"settings {sorted(settings)} go to a named optimizer; set them on "
                            f"this {type(spec).__name__} instead")
        return spec
    if isinstance(spec, str):
        from ._validate import lookup
        cls = _BY_NAME[lookup(spec, OPTIMIZER_NAMES, "optimizer")]
        unknown = sorted(set(settings) - set(cls._settings_names))
        if unknown:
            raise TypeError(f"{cls.__name__} has no setting {unknown[0]!r}; it takes "
                            f"{', '.join(cls._settings_names)}")
        return cls(**settings)
    raise TypeError(f"optimizer must be a name {OPTIMIZER_NAMES} or an nncore.Optimizer, got "
                    f"{type(spec).__name__}")
