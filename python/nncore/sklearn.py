"""scikit-learn estimators that train with nncore: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``: the same
constructor parameters (names, defaults, meaning), fitted attributes and methods, with the
training in nncore's compiled core. Needs scikit-learn (``pip install "nncore-nn[sklearn]"``);
``import nncore`` does not import this module.

What follows scikit-learn exactly
---------------------------------
- Glorot-uniform initialisation drawn from ``check_random_state(random_state)`` in
  scikit-learn's order (so the same ``random_state`` gives the same initial weights), the same
  shuffling of the sample indices each epoch, the same ``early_stopping`` split.
- The loss: log-loss (softmax output for multiclass, logistic outputs for binary and
  multilabel) or half squared error, plus ``0.5 * alpha * ||W||^2 / n_batch`` on the weights
  (gradient ``alpha * W / n_batch``: nncore's ``weight_decay = alpha / n_batch``, set per
  batch size, so that the last, smaller batch of an epoch gets its own).
- ``sgd``: momentum and Nesterov momentum in scikit-learn's velocity form. nncore's optimizers
  use PyTorch's form (``v = mu v + g; W -= lr v``); the two agree at a constant rate, and when
  the rate changes (``invscaling``, ``adaptive``) the momentum buffer is rescaled by
  ``lr_old / lr_new`` so that they still agree exactly.
- Schedules ``constant``/``invscaling``/``adaptive``, the stopping rule (``tol``,
  ``n_iter_no_change`` on the training loss, or on the validation score with
  ``early_stopping``, restoring the best weights), ``n_iter_``, ``t_``, ``loss_curve_``.
- ``lbfgs``: ``scipy.optimize.minimize(method="L-BFGS-B")`` with ``maxiter=max_iter``,
  ``maxfun=max_fun``, ``gtol=tol``, the loss and its gradients from one pass of the core over
  the whole data per evaluation (``Network.loss_and_gradients``).
- ``sample_weight``: the loss of a batch is the weighted mean of its examples' losses, and
  the penalty and its gradient are divided by the batch's sum of weights instead of its size,
  as scikit-learn's; on the validation split of ``early_stopping`` the score is weighted too.
- scikit-learn's conventions kept as they are: the squared loss reported (``loss_``) is
  averaged over the outputs as well as the rows, while its gradient is not divided by the
  number of outputs (nncore's ``mse`` gradient, as scikit-learn's).

Differences
-----------
- ``adam``: nncore's Adam (PyTorch's form) adds ``epsilon`` to ``sqrt(v_hat)``, scikit-learn
  to ``sqrt(v)`` (with the bias correction folded into the rate); the same update up to where
  ``epsilon`` (1e-8) enters.
- sgd/adam run each epoch's full batches in the core's epoch loop, which also sums ||W||^2
  before each step, so that the reported loss (which drives the stopping rule) holds the
  penalty with the weights before each step, exactly as scikit-learn's; the last, smaller
  batch is one more core step. With sample weights, one core step per batch (the decay
  follows each batch's sum of weights).
- ``warm_start`` and ``partial_fit`` keep the optimizer's state (moments, step count, rate)
  where scikit-learn starts a new optimizer at each ``fit``.
- ``class_weight`` (classifier): weights per class, multiplying ``sample_weight``, which
  scikit-learn's MLP does not have. Negative sample weights, or weights that sum to 0, are
  refused (ValueError); so is a batch whose weights are all 0 (scikit-learn's loss would be
  NaN there). ``MLPRegressor(loss="poisson")`` trains a network with nncore's Poisson loss
  (the network's output is the log of the mean; its ``predict`` gives the mean), in the
  core's epoch loop as the squared error does.
- Sparse X (scipy.sparse CSR/CSC matrices and arrays; other formats are converted to CSR, as
  scikit-learn does) is accepted by ``fit``, ``partial_fit`` and the ``predict`` methods.
  With sgd and adam, and in ``predict``, the core computes the first layer's product and
  its weight gradient from the CSR rows of each batch (never densified; plain SGD changes
  only the rows of W whose features occur in the batch): the same weights as on the dense
  X up to the order of the sums. ``lbfgs`` densifies 1,024 rows at a time for its
  gradients (equal up to summation order).
- Extra parameters: ``dtype`` (None: X's, as scikit-learn, which computes in float32 for
  float32 X; or ``"float64"``, ``"float32"``: faster, less precise, whatever X is);
  ``activation`` also accepts ``"leaky_relu"``. ``momentum=1`` (accepted by scikit-learn)
  raises ValueError: nncore's SGD needs momentum < 1.
- scikit-learn >= 1.6 (``validate_data``); the parameter constraints are scikit-learn's own
  (``MLPClassifier._parameter_constraints``), so bad parameters raise its ValueError at fit.
  ``hidden_layer_sizes`` holding a size that is not an integer (``(7.0,)``, which its
  validation accepts as array-like) raises TypeError, as scikit-learn's fit does (NumPy's
  there), with a message that names the parameter, before anything is set.
"""
import importlib.abc
import importlib.util
import numbers
import operator
import sys
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_array, check_random_state, gen_batches
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils._param_validation import StrOptions
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target
    from sklearn.utils.multiclass import unique_labels
    from sklearn.utils.validation import (check_is_fitted, column_or_1d, validate_data,
                                          _check_sample_weight)
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    from ._version import DISTRIBUTION
    raise ImportError(f"nncore.sklearn needs scikit-learn: pip install "
                      f"\"{DISTRIBUTION}[sklearn]\" (or pip install scikit-learn)") from exc

from . import _kernels
from .layers import Dense
from .network import Network
from .optimizers import SGD, Adam

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
                "leaky_relu": "leaky_relu"}
_STOCHASTIC = ("sgd", "adam")
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _constraints():
    c = dict(_SkMLPClassifier._parameter_constraints)
    c["activation"] = [StrOptions(set(_ACTIVATIONS))]
    c["dtype"] = [None, StrOptions({"float32", "float64"})]
    return c


# rows densified at a time from sparse X where no batch size applies (predict, lbfgs)
_SPARSE_CHUNK = 1024


def _as_dtype(X, dtype):
    """X (validated by scikit-learn: finite, float64 or float32; dense, or sparse CSR/CSC)
    as a C-contiguous, aligned array of ``dtype`` (as the core takes it; a block unpickled in
    a Dask worker may not be aligned), or as a CSR matrix of ``dtype`` (its rows are
    densified a batch at a time where they are used). A float64 value beyond float32's range
    is refused as scikit-learn refuses it (it would become inf)."""
    sparse = scipy.sparse.issparse(X)
    if sparse:
        X = X.tocsr()
        values = X.data
    else:
        X = np.require(X, requirements=["C_CONTIGUOUS", "ALIGNED"])
        values = X
    if X.dtype == dtype:
        return X
    if dtype == np.float32 and values.size:
        big = np.abs(values) > np.finfo(np.float32).max
        if big.any():
            if sparse:
                coo = X.tocoo()
                first = int(np.argmax(np.abs(coo.data) > np.finfo(np.float32).max))
                at, value = [int(coo.row[first]), int(coo.col[first])], coo.data[first]
            else:
                at = [int(i) for i in np.argwhere(big)[0]]
                value = X[tuple(at)]
            raise ValueError(f"Input X contains a value too large for dtype('float32'): "
                             f"{float(value)!r} at index {at} of X {X.shape} overflows "
                             f"float32 (the estimator computes in float32; scale X, or use "
                             f"dtype='float64')")
    if sparse:
        return X.astype(dtype)
    return np.require(X, dtype=dtype, requirements=["C_CONTIGUOUS", "ALIGNED"])


def _dense(X, rows, out=None):
    """Rows of X (a slice or an index array) as a dense C-contiguous array: a view of dense
    X, or sparse X's rows densified (into ``out[:n_rows]`` when given)."""
    if not scipy.sparse.issparse(X):
        return X[rows]
    part = X[rows]
    if out is None:
        return part.toarray()
    out = out[:part.shape[0]]
    out.fill(0)
    part.toarray(out=out)
    return out


def _plain_X(est, X, y, reset):
    """Whether ``validate_data(est, X, y, reset=reset, dtype=(float64, float32), ...)`` would
    return X and y as they are, checked without it (its checks cost more than an epoch of a
    small network): X a float64/float32 ndarray (N, F), N, F >= 1, finite; y an ndarray (N,)
    of integers or str; with reset=False, F is the fitted ``n_features_in_`` and the fit had
    no feature names. Sets nothing: where it says False, scikit-learn's validation runs (and
    raises its own errors)."""
    if type(X) is not np.ndarray or type(y) is not np.ndarray:
        return False
    if X.ndim != 2 or X.dtype not in _FLOATS or y.ndim != 1 or y.dtype.kind not in "iuU":
        return False
    n, f = X.shape
    if n < 1 or f < 1 or y.shape[0] != n:
        return False
    if not reset and (getattr(est, "n_features_in_", None) != f
                      or hasattr(est, "feature_names_in_")):
        return False
    if X.flags.c_contiguous and X.flags.aligned:
        # the core's scan (what nncore's own validation uses): 2/3 of the time of the sum
        return bool(_kernels.all_finite(X.reshape(-1)))
    # one pass: a sum is finite only when every term is (a finite sum that overflows
    # merely sends X to the general path)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(X.sum()))


def _plain_validated(est, X, reset):
    """What validate_data sets for an X that _plain_X accepted: with reset, n_features_in_,
    and no feature_names_in_ (an ndarray has none)."""
    if reset:
        if hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
        est.n_features_in_ = X.shape[1]


def _unique(y):
    """``np.unique(y, return_inverse=True)`` of a 1-D y (n >= 1): for integers from 0 to a
    few times n (class labels as they usually come) by counting them, a third of the time
    of unique's sort; else unique's."""
    if y.dtype.kind in "iu" and y.dtype != np.uint64:    # bincount takes them as intp
        if y.min() >= 0 and y.max() <= 4 * y.shape[0] + 1024:
            present = np.bincount(y) > 0
            index = np.cumsum(present) - 1     # each present value's rank among them
            return np.flatnonzero(present).astype(y.dtype), index[y]
    return np.unique(y, return_inverse=True)


def _plain_labels(y):
    """For a 1-D ndarray of integers or str (see _plain_X): a LabelBinarizer as
    ``LabelBinarizer().fit(y)`` leaves it and ``transform(y)``, without the four passes of
    type_of_target over y they make: (binarizer, Y, labels), where labels (n,) int64 is the
    index in ``classes_`` of each row's class (the column of its 1 in Y), or None where this
    y is not the plain case (a single class)."""
    classes, inverse = _unique(y)
    k = classes.shape[0]
    if k < 2:
        return None
    if y.dtype.kind == "U":
        # unique_labels' classes: an array of the sorted labels, its width the longest's
        classes = np.asarray(classes.tolist())
    lb = LabelBinarizer()
    lb.y_type_ = "multiclass" if k > 2 else "binary"
    lb.sparse_input_ = False
    lb.classes_ = classes
    # label_binarize's indicator: y's own dtype for signed integers, else intp
    dt = y.dtype if y.dtype.kind == "i" else np.intp
    inverse = inverse.reshape(-1).astype(np.int64, copy=False)
    if k == 2:
        return lb, inverse.astype(dt).reshape(-1, 1), inverse
    Y = np.zeros((y.shape[0], k), dtype=dt)
    Y[np.arange(y.shape[0]), inverse] = 1
    return lb, Y, inverse


# RandomState objects free for another fit with an integer random_state. A new
# RandomState(seed) first seeds a new MT19937 from the system's entropy (about 0.1 ms: more
# than the rest of the fit's Python), then overwrites that state with the seed's; reseeding
# one already made gives the same state in a few microseconds
_FREE_STATES = []
_FREE_STATES_MAX = 8


def _random_state(seed):
    """(rs, pooled): ``check_random_state(seed)``, the same generator in the same state; for
    an integer seed a RandomState of the pool (or a new one) reseeded with it, which the
    caller gives back with _release_state once it draws no more (a fit in another thread gets
    another)."""
    if isinstance(seed, numbers.Integral):
        try:
            rs = _FREE_STATES.pop()
        except IndexError:
            rs = np.random.RandomState()
        rs.seed(seed)       # as RandomState(seed): the seed's state, no Gaussian kept
        return rs, True
    return check_random_state(seed), False


def _release_state(rs):
    if len(_FREE_STATES) < _FREE_STATES_MAX:
        _FREE_STATES.append(rs)


def _chunks(n, size=_SPARSE_CHUNK):
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


# parameter sets already validated: (estimator class, ((type, value) of each parameter))
# where every value is a bool, int, float, str, None or a tuple of those; scikit-learn's
# validation of them (a pure function of those) costs more than an epoch of a small network
_VALIDATED = {}
_VALIDATED_MAX = 256
_SCALARS = (bool, int, float, str, type(None))


def _params_key(est):
    """A hashable key of est's parameters with their exact types, or None where one is not
    an immutable scalar (or tuple of them), which is then validated every time."""
    names = _PARAM_NAMES.get(type(est))
    if names is None:
        names = _PARAM_NAMES.setdefault(type(est), tuple(type(est)._get_param_names()))
    key = []
    for name in names:
        v = getattr(est, name)
        t = type(v)
        if t is tuple:
            if not all(type(e) in _SCALARS for e in v):
                return None
            v = (tuple(map(type, v)), v)
        elif t not in _SCALARS:
            return None
        key.append((t, v))
    return type(est), tuple(key)


_PARAM_NAMES = {}


class _BaseMLP(BaseEstimator):
    _parameter_constraints = _constraints()

    def _validate_params(self):
        # scikit-learn's validation (its errors), once for each set of parameter values
        key = _params_key(self)
        if key is not None and key in _VALIDATED:
            return
        super()._validate_params()
        if key is not None:
            if len(_VALIDATED) >= _VALIDATED_MAX:
                _VALIDATED.clear()
            _VALIDATED[key] = True

    def __init__(self, hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
                 learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose,
                 warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction,
                 beta_1, beta_2, epsilon, n_iter_no_change, max_fun, dtype):
        # the parameters both estimators share; each estimator's own __init__ names them with
        # their defaults (scikit-learn's get_params reads its signature), as scikit-learn's
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype

    # -- helpers ---------------------------------------------------------------------------

    def _layer_sizes(self):
        """hidden_layer_sizes as a list of ints, refused as scikit-learn's fit refuses it: a
        size <= 0 with its ValueError, a size that is not an integer (``7.0``, ``"7"``,
        ``True``) with a TypeError (scikit-learn's fails on it with NumPy's TypeError, after
        its parameter validation accepted it; this one names the parameter)."""
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if all(isinstance(s, numbers.Real) for s in sizes) and any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        ints = []
        for i, s in enumerate(sizes):
            try:
                if isinstance(s, (bool, np.bool_)):
                    raise TypeError
                ints.append(operator.index(s))   # an integer as NumPy takes it for a shape
            except TypeError:
                raise TypeError(f"hidden_layer_sizes must hold integers (the nodes of each "
                                f"hidden layer), got {s} ({type(s).__name__}) at index {i} "
                                f"of {self.hidden_layer_sizes!r}") from None
        if any(s <= 0 for s in ints):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return ints

    def _make_network(self, n_features, hidden_sizes, n_outputs, out_activation, loss, rs,
                      dtype, weights=None):
        """A new network; Glorot-uniform weights drawn from rs, or copies of ``weights`` (a
        network whose W, b it takes). ``hidden_sizes``: ``_layer_sizes()``."""
        sizes = [n_features] + hidden_sizes + [n_outputs]
        hidden = _ACTIVATIONS[self.activation]
        # the layers' own draw would be replaced at once: "zeros" draws nothing; then their
        # init is the default again (the one reset_parameters uses), as for any Dense
        layers = [Dense(sizes[i], sizes[i + 1],
                        out_activation if i == len(sizes) - 2 else hidden, init="zeros")
                  for i in range(len(sizes) - 1)]
        net = Network(layers, loss=loss, dtype=dtype, seed=0,
                      optimizer=self._new_optimizer(1.0))
        for ly in layers:
            ly._init = None
        if weights is not None:
            for ly, old in zip(net.layers, weights.layers):
                np.copyto(ly.W, old.W, casting="unsafe")
                np.copyto(ly.b, old.b, casting="unsafe")
            return net
        # Glorot uniform, as scikit-learn: same draws, same order
        factor = 2.0 if self.activation == "logistic" else 6.0
        for ly in net.layers:
            bound = np.sqrt(factor / (ly.n_in + ly.n_out))
            W = rs.uniform(-bound, bound, (ly.n_in, ly.n_out))
            b = rs.uniform(-bound, bound, ly.n_out)
            np.copyto(ly.W, W, casting="unsafe")
            np.copyto(ly.b, b, casting="unsafe")
        return net

    def _new_optimizer(self, n_batch):
        wd = self.alpha / n_batch
        if self.solver == "adam":
            return Adam(beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon, weight_decay=wd)
        momentum = self.momentum if self.solver == "sgd" else 0.0
        return SGD(momentum=momentum, nesterov=bool(self.nesterovs_momentum and momentum > 0),
                   weight_decay=wd)

    def _optimizer_key(self):
        return (self.solver, float(self.alpha), float(self.momentum),
                bool(self.nesterovs_momentum), float(self.beta_1), float(self.beta_2),
                float(self.epsilon), float(self.learning_rate_init))

    def _set_decay(self, n_batch):
        """weight_decay = alpha / n_batch, keeping the optimizer's state."""
        net = self.network_
        opt = net.optimizer
        wd = self.alpha / n_batch
        if opt.weight_decay != wd:
            opt.weight_decay = wd     # validated; both backends use it from the next step

    def _scale_momentum(self, ratio):
        opt = self.network_.optimizer
        if self.solver != "sgd" or ratio == 1.0:
            return
        opt._scale_state(ratio)

    def _weight_norms(self):
        """A function returning ||W||^2 summed over the layers (float), for the penalty
        ``0.5 * alpha * ||W||^2 / n_batch``. It holds flat views of the network's W (the
        arrays the core updates in place), so call it again after the network changes."""
        flats = [ly.W.reshape(-1) for ly in self.network_.layers]
        return lambda: sum(map(float, map(np.dot, flats, flats)))  # summed in float64

    def _data_loss_scale(self):
        # scikit-learn's squared loss is averaged over the outputs too; nncore's sums them
        # (its Poisson loss sums them, as here)
        if is_classifier(self) or self._poisson:
            return 1.0
        return 1.0 / self.n_outputs_

    @property
    def _poisson(self):
        return getattr(self, "out_activation_", None) == "exp"

    @property
    def coefs_(self):
        """Weights of each layer, shape (n_in, n_out) each: the network's own arrays.

        Assigning a list (one array per layer) checks it whole (count, shapes, finite values)
        before any is copied into the network.

        Examples
        --------
        >>> import numpy as np
        >>> from nncore.sklearn import MLPRegressor
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> reg = MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0)
        >>> reg = reg.fit(X, [1.0, 2.0, 3.0])
        >>> [W.shape for W in reg.coefs_]
        [(2, 5), (5, 1)]
        >>> reg.coefs_[0] is reg.network_.layers[0].W
        True
        """
        check_is_fitted(self, "network_")
        return [ly.W for ly in self.network_.layers]

    @coefs_.setter
    def coefs_(self, values):
        self._set_params("W", values)

    @property
    def intercepts_(self):
        """Biases of each layer, shape (n_out,) each: the network's own arrays.

        Assigning a list (one array per layer) checks it whole before any is copied.

        Examples
        --------
        >>> import numpy as np
        >>> from nncore.sklearn import MLPRegressor
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> reg = MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0)
        >>> reg = reg.fit(X, [1.0, 2.0, 3.0])
        >>> [b.shape for b in reg.intercepts_]
        [(5,), (1,)]
        """
        check_is_fitted(self, "network_")
        return [ly.b for ly in self.network_.layers]

    @intercepts_.setter
    def intercepts_(self, values):
        self._set_params("b", values)

    def _set_params(self, name, values):
        """Assign coefs_ / intercepts_ (a list, one array per layer): checked whole (count,
        shapes, finite) before any is copied into the network."""
        check_is_fitted(self, "network_")
        layers = self.network_.layers
        values = list(values)
        if len(values) != len(layers):
            raise ValueError(f"{len(layers)} arrays needed, one per layer, got {len(values)}")
        arrays = [np.asarray(v, dtype=np.float64) for v in values]
        for l, (ly, a) in enumerate(zip(layers, arrays)):
            shape = getattr(ly, name).shape
            if a.shape != shape:
                raise ValueError(f"layer {l}'s {name} must have shape {shape}, got {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"layer {l}'s {name} is not finite")
        for ly, a in zip(layers, arrays):
            np.copyto(getattr(ly, name), a, casting="unsafe")

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training examples, one a row.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets: class labels (or multilabel indicators) for the classifier, values for
            the regressor.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the examples (>= 0, with a sum > 0); None weighs them equally.

        Returns
        -------
        self
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from nncore.sklearn import MLPClassifier
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
        >>> clf.fit(X, [0, 0, 1, 1]).n_iter_ > 0
        True
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_partial(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _fit(self, X, y, sample_weight, incremental):
        # refuse before anything is set
        hidden_sizes = self._layer_sizes()
        if self.solver == "sgd" and self.momentum >= 1.0:
            raise ValueError("momentum = 1 is not supported by nncore's SGD (it must be < 1)")
        if sample_weight is not None:
            # bad weights (wrong shape, negative, NaN...) get scikit-learn's ValueError before
            # anything is set
            sample_weight = _check_sample_weight(
                sample_weight, check_array(X, dtype=(np.float64, np.float32),
                                           accept_sparse=["csr", "csc"]),
                dtype=np.float64, ensure_non_negative=True)
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight must have a sum > 0")
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        self._check_class_weight(incremental)
        first = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, Y, labels = self._validate_input(X, y, incremental, reset=first)
        sample_weight = self._with_class_weight(Y, sample_weight)
        # the dtype of the computation: dtype= when given, else X's (float32 stays float32,
        # anything else is float64, as scikit-learn), else the fitted network's
        if self.dtype is not None:
            dtype = np.dtype(self.dtype)
        else:
            dtype = X.dtype if first else self.network_.dtype
        Y = Y.reshape(len(Y), -1).astype(dtype)
        X = _as_dtype(X, dtype)
        rs, pooled = _random_state(self.random_state)
        try:
            return self._fit_from(X, Y, labels, sample_weight, rs, dtype, first, hidden_sizes,
                                  incremental)
        finally:
            if pooled:
                _release_state(rs)

    def _fit_from(self, X, Y, labels, sample_weight, rs, dtype, first, hidden_sizes,
                  incremental):
        """_fit from validated (X, Y) of ``dtype`` on: ``labels`` the class index of each row
        (or None: from Y where needed), ``rs`` the fit's RandomState."""
        if not first and (Y.shape[1] != self.n_outputs_ or
                          self.network_.layers[-1].n_out != Y.shape[1]):
            raise ValueError(f"y has {Y.shape[1]} outputs but the network was fitted with "
                             f"{self.n_outputs_}")
        if not first and (self.network_.dtype != dtype
                          or self.network_.sizes[1:-1] != hidden_sizes):
            raise ValueError(f"warm_start/partial_fit with a different dtype ({dtype.name}) or "
                             f"hidden_layer_sizes ({hidden_sizes}) than the fitted "
                             f"network ({self.network_.dtype.name}, "
                             f"{self.network_.sizes[1:-1]})")
        if not first and self.network_.layers[0].activation.name != \
                _ACTIVATIONS[self.activation] and len(self.network_.layers) > 1:
            # set_params(activation=...) after a fit: the next fit continues from the fitted
            # weights with the new activation, as scikit-learn's does (a new optimizer)
            old = self.network_
            self.network_ = self._make_network(X.shape[1], hidden_sizes, self.n_outputs_,
                                               old.layers[-1].activation.name, old.loss_name,
                                               rs, dtype, weights=old)
            self._opt_key = None
            self._best = None
        if first:
            self.n_outputs_ = Y.shape[1]
            out, loss = self._output()
            self.out_activation_ = out
            self.n_layers_ = len(hidden_sizes) + 2
            self.n_iter_ = 0
            self.t_ = 0
            # the network's output layer: logistic is nncore's sigmoid; the Poisson loss's
            # network has an identity output, the log of the mean, and its predict gives
            # the mean exp(a) (the loss "poisson" of nncore's core)
            self.network_ = self._make_network(
                X.shape[1], hidden_sizes, self.n_outputs_,
                {"logistic": "sigmoid", "exp": "identity"}.get(out, out), loss, rs, dtype)
            self._lr = float(self.learning_rate_init)
            # the new network's optimizer (_new_optimizer, fresh state) is the one sgd and adam
            # start from: _fit_stochastic keeps it instead of binding another
            self._opt_key = self._optimizer_key()
            self._best = None
        if self.solver in _STOCHASTIC and (first or not hasattr(self, "loss_curve_")):
            # first fit, or warm_start from an lbfgs fit
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None
        try:
            if self.solver in _STOCHASTIC:
                self._fit_stochastic(X, Y, labels, sample_weight, rs, incremental)
            else:
                self._fit_lbfgs(X, Y, labels, sample_weight)
        except FloatingPointError as exc:
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.") from exc
        # the core's scan of every W and b (about 1 us; NumPy's isfinite over them costs 20),
        # the arrays' own where it does not vouch for them
        if not self.network_._parameters_usable() and \
                not all(np.isfinite(a).all() for a in self.coefs_ + self.intercepts_):
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        return self

    def _check_class_weight(self, incremental):
        """Refuse a class_weight this fit cannot use (the classifier's; the regressor has
        none)."""

    def _with_class_weight(self, Y, sample_weight):
        """sample_weight times the weights of the rows' classes (the classifier's
        class_weight); the regressor's unchanged."""
        return sample_weight

    def _targets(self, Y, labels=None):
        """What the network trains on: class labels (n,) int64 for a softmax output (the core
        takes them without one-hot rows): ``labels`` when given (the column of each row's 1
        in Y), else from Y; Y's rows for any other output."""
        if self.out_activation_ == "softmax":
            return labels if labels is not None else Y.argmax(axis=1).astype(np.int64)
        return Y

    def _fit_stochastic(self, X, Y, labels, w, rs, incremental):
        net = self.network_
        key = self._optimizer_key()
        if getattr(self, "_opt_key", None) != key:
            # first fit, or hyper-parameters changed (set_params between fits): a new optimizer
            net.optimizer = self._new_optimizer(1.0)
            self._opt_key = key
            self._lr = float(self.learning_rate_init)
        wv = None
        if self.early_stopping:
            # stratified on the binarized targets as booleans, as scikit-learn's (its error
            # for a class too small to split then names it as scikit-learn's does)
            stratify = Y.astype(bool) if (is_classifier(self) and self.n_outputs_ == 1) \
                else None
            if w is None:
                X, Xv, Y, Yv = train_test_split(X, Y, random_state=rs,
                                                test_size=self.validation_fraction,
                                                stratify=stratify)
            else:
                X, Xv, Y, Yv, w, wv = train_test_split(X, Y, w, random_state=rs,
                                                       test_size=self.validation_fraction,
                                                       stratify=stratify)
            if Xv.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            yv = self._decode(Yv)
            labels = None     # the rows of Y split: their labels from Y
        T = self._targets(Y, labels)
        n = X.shape[0]
        if self.batch_size == "auto":
            bs = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            bs = int(np.clip(self.batch_size, 1, n))
        n_full = (n // bs) * bs
        idx = np.arange(n)
        sparse = scipy.sparse.issparse(X)
        if w is not None:
            # the batch by batch steps (sample weights): their gather
            # buffers, batches, ||W||^2 (sparse X: each batch's rows taken as a CSR matrix)
            Xs = None if sparse else np.empty_like(X)
            Ts = np.empty_like(T)
            ws = None if w is None else np.empty_like(w)
            batches = [(sl, sl.stop - sl.start) for sl in gen_batches(n, bs)]
            weight_norms = self._weight_norms()
        half_alpha = 0.5 * self.alpha
        self.n_iter_ = 0
        scale = self._data_loss_scale()
        for _ in range(self.max_iter):
            if self.shuffle:
                # sklearn.utils.shuffle(idx, random_state=rs), the same draw from rs (it
                # shuffles arange(n) with rs.shuffle and indexes idx with it) without its
                # parameter validation, which cost more than the rest of an epoch's Python
                perm = np.arange(n)
                rs.shuffle(perm)
                idx = idx[perm]
            try:
                if w is None:
                    # the epoch's full batches in one pass of the core's epoch loop, which gathers
                    # the rows in scikit-learn's order, then the last, smaller batch (its decay is
                    # alpha / its size) in a second; the reported loss holds 0.5 alpha ||W||^2 /
                    # n_batch with the weights before each step, as scikit-learn's, from the sum
                    # of ||W||^2 the core takes before each step
                    total = 0.0
                    for first, last, size in ((0, n_full, bs), (n_full, n, n - n_full)):
                        if last > first:
                            self._set_decay(size)
                            if self.shuffle:
                                value, norms = net._epoch_in_order(X, T, self._lr, size,
                                                                   idx[first:last])
                            else:
                                value, norms = net._epoch_in_order(X[first:last], T[first:last],
                                                                   self._lr, size)
                            total += value * (last - first) * scale + half_alpha * norms
                    self.loss_ = float(total / n)
                else:
                    # with sample weights the decay is alpha / sum(w_batch), batch by batch, and so
                    # is the penalty in the reported loss, as scikit-learn's: one core step per
                    # batch. mode="clip": idx is a permutation, always in range; the default
                    # "raise" with out= gathers into a temporary and copies it (3x the time)
                    # Sparse X: each batch's rows taken from the CSR matrix (scipy's row
                    # indexing, O(nnz) of the batch) in scikit-learn's order; the core reads
                    # them as they are
                    if self.shuffle:
                        np.take(T, idx, axis=0, out=Ts, mode="clip")
                        Te = Ts
                        if not sparse:
                            np.take(X, idx, axis=0, out=Xs, mode="clip")
                        if w is not None:
                            np.take(w, idx, out=ws, mode="clip")
                        Xe, we = (X if sparse else Xs), ws
                    else:
                        Xe, Te, we = X, T, w
                    total = 0.0
                    for sl, nb in batches:
                        wb = None if we is None else we[sl]
                        norm = float(nb if wb is None else wb.sum())
                        if not norm > 0:
                            raise ValueError("a batch of examples whose sample_weight are all "
                                             "0: scikit-learn's loss divides by their sum")
                        self._set_decay(norm)
                        pen = half_alpha * weight_norms() / norm
                        if sparse:
                            Xb = X[idx[sl] if self.shuffle else sl]
                        else:
                            Xb = Xe[sl]
                        value = net.train_step(Xb, Te[sl], self._lr, wb)
                        total += (value * scale + pen) * nb
                    self.loss_ = float(total / n)
            except FloatingPointError:
                # the loss or the weights are no longer finite. With early_stopping, as
                # scikit-learn's: the epoch's loss is NaN, the validation score of the
                # diverged weights NaN, and training goes on to its end, which restores the
                # best weights; without, _fit raises
                if not self.early_stopping:
                    raise
                self.loss_ = float("nan")
            self.n_iter_ += 1
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            self._update_no_improvement(Xv if self.early_stopping else None,
                                        yv if self.early_stopping else None, wv)
            # the rate for the next epoch
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                new = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
                self._scale_momentum(self._lr / new)
                self._lr = new
            if self._no_improvement_count > self.n_iter_no_change:
                if self.solver == "sgd" and self.learning_rate == "adaptive" \
                        and self._lr > 1e-6:
                    self._scale_momentum(5.0)
                    self._lr /= 5.0
                    if self.verbose:
                        print(f"Setting learning rate to {self._lr:f}")
                    self._no_improvement_count = 0
                else:
                    if self.verbose:
                        print("Stopping: no improvement for n_iter_no_change epochs.")
                    break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                              "optimization hasn't converged yet." % self.max_iter,
                              ConvergenceWarning)
        if self.early_stopping and getattr(self, "_best", None) is not None:
            net._restore(self._best)

    def _update_no_improvement(self, Xv, yv, wv):
        if self.early_stopping:
            score = self._score_on(Xv, yv, wv)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best = self.network_._snapshot(getattr(self, "_best", None))
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, X, Y, labels, sample_weight):
        net = self.network_
        layers = net.layers
        shapes = [ly.W.shape for ly in layers] + [ly.b.shape for ly in layers]
        sizes = [int(np.prod(s)) for s in shapes]
        offsets = np.cumsum([0] + sizes)
        T = self._targets(Y, labels)
        scale = self._data_loss_scale()
        alpha = self.alpha
        sw_sum = float(X.shape[0] if sample_weight is None else sample_weight.sum())

        def unpack(x):
            for i, ly in enumerate(layers):
                np.copyto(ly.W, x[offsets[i]:offsets[i + 1]].reshape(shapes[i]),
                          casting="unsafe")
                j = len(layers) + i
                np.copyto(ly.b, x[offsets[j]:offsets[j + 1]], casting="unsafe")

        def fun(x):
            # the (weighted) loss and its gradients from one pass of the core, plus the penalty
            unpack(x)
            grad = np.empty(offsets[-1])
            loss, grads = self._loss_and_gradients(X, T, sample_weight)
            pen = 0.0
            for i, ly in enumerate(layers):
                w = ly.W.astype(np.float64).ravel()
                pen += float(w @ w)
                grad[offsets[i]:offsets[i + 1]] = grads[i]["W"].ravel() + alpha * w / sw_sum
                j = len(layers) + i
                grad[offsets[j]:offsets[j + 1]] = grads[i]["b"]
            return loss * scale + 0.5 * alpha * pen / sw_sum, grad

        x0 = np.concatenate([ly.W.ravel() for ly in layers] + [ly.b.ravel() for ly in layers]
                            ).astype(np.float64)
        res = scipy.optimize.minimize(fun, x0, method="L-BFGS-B", jac=True,
                                      options={"maxfun": self.max_fun,
                                               "maxiter": self.max_iter, "gtol": self.tol})
        if res.status != 0:
            warnings.warn(f"lbfgs failed to converge after {res.nit} iteration(s) "
                          f"(status={res.status}): {res.message}. Increase the number of "
                          f"iterations (max_iter) or scale the data.", ConvergenceWarning)
        self.n_iter_ = min(int(res.nit), self.max_iter)
        self.loss_ = float(res.fun)
        unpack(res.x)

    def _loss_and_gradients(self, X, T, sample_weight):
        """The network's (weighted) mean loss and gradients over all of X: one pass of the
        core, or for sparse X one per chunk of rows (densified one at a time), combined with
        the chunks' sizes (or sums of weights) as weights."""
        net = self.network_
        if not scipy.sparse.issparse(X):
            return net.loss_and_gradients(X, T, sample_weight)
        total_loss, total, buf = 0.0, None, None
        weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        norm = float(weights.sum())
        for sl in _chunks(X.shape[0]):
            share = float(weights[sl].sum()) / norm
            if share == 0.0:
                continue       # rows of weight 0 add nothing (and the core refuses them)
            if buf is None:
                buf = np.empty((min(X.shape[0], _SPARSE_CHUNK), X.shape[1]), dtype=net.dtype)
            loss, grads = net.loss_and_gradients(
                _dense(X, sl, buf), T[sl], None if sample_weight is None else sample_weight[sl])
            total_loss += loss * share
            if total is None:
                total = [{k: np.asarray(v, dtype=np.float64) * share for k, v in g.items()}
                         for g in grads]
            else:
                for acc, g in zip(total, grads):
                    for k, v in g.items():
                        acc[k] += v * share
        return total_loss, total

    @available_if(lambda est: est._check_partial())
    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch over ``(X, y)``, continuing from the current state.

        Available with the sgd and adam solvers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training examples, one a row.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets: class labels (or multilabel indicators) for the classifier, values for
            the regressor.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the examples (>= 0, with a sum > 0); None weighs them equally.

        Returns
        -------
        self
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from nncore.sklearn import MLPRegressor
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> reg = MLPRegressor(hidden_layer_sizes=(4,), random_state=0)
        >>> for _ in range(3):
        ...     reg = reg.partial_fit(X, [1.0, -1.0])
        >>> reg.predict(X).shape
        (2,)
        """
        self._check_partial()
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True)

    # -- predicting --------------------------------------------------------------------------

    def _forward(self, X):
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32),
                          accept_sparse=["csr", "csc"])
        return self._predict_rows(_as_dtype(X, self.network_.dtype))

    def _predict_rows(self, X):
        """The estimator's output on X (dense, or CSR whose rows the core reads as they are):
        the network's, which for the Poisson loss is already the mean exp(a)."""
        return self.network_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by nncore's compiled core.

    A drop-in replacement of ``sklearn.neural_network.MLPClassifier``: its parameters and
    fitted attributes (see the module's docstring for the differences), the training in
    nncore's core.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Nodes of each hidden layer, first to last.
    activation : {"identity", "logistic", "tanh", "relu", "leaky_relu"}, default="relu"
        Activation of the hidden layers.
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
        How the weights are trained: L-BFGS over the whole data, or mini-batch steps of SGD
        or Adam.
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights, >= 0.
    batch_size : int or "auto", default="auto"
        Examples per step for sgd and adam; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The rate schedule of sgd.
    learning_rate_init : float, default=0.001
        The starting rate of sgd and adam, > 0.
    power_t : float, default=0.5
        The exponent of the "invscaling" rate, ``learning_rate_init / t**power_t``.
    max_iter : int, default=200
        Most epochs (sgd, adam) or iterations (lbfgs).
    shuffle : bool, default=True
        Visit the examples in a new order each epoch (sgd, adam).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the early-stopping split.
    tol : float, default=1e-4
        Improvement below which an epoch counts as none, for the stopping rule.
    verbose : bool, default=False
        Print the loss after each epoch.
    warm_start : bool, default=False
        Continue from the fitted network (and its optimizer's state) on the next ``fit``.
    momentum : float, default=0.9
        Momentum of sgd, in [0, 1).
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for sgd.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its score stops
        improving, keeping the best weights.
    validation_fraction : float, default=0.1
        Share of the data held out by ``early_stopping``, in (0, 1).
    beta_1 : float, default=0.9
        Decay of Adam's first moment, in [0, 1).
    beta_2 : float, default=0.999
        Decay of Adam's second moment, in [0, 1).
    epsilon : float, default=1e-8
        Adam's term added to the denominator, > 0.
    n_iter_no_change : int, default=10
        Epochs without an improvement of more than ``tol`` before training stops.
    max_fun : int, default=15000
        Most loss evaluations of lbfgs.
    dtype : {None, "float64", "float32"}, default=None
        The floating-point type of the parameters, the computation and the outputs. None:
        X's, as scikit-learn's (float32 X gives float32 ``coefs_``, training and
        predictions; any other X float64); a warm or partial fit continues in the fitted
        network's.
    class_weight : None, "balanced", dict or list of dicts, default=None
        Weights of the classes, multiplying each example's sample_weight (scikit-learn's
        ``compute_sample_weight``: ``"balanced"`` is ``n_samples / (n_classes *
        np.bincount(y))``; a dict maps a class to its weight, 1 for classes not in it; a list
        of dicts, one per output, for multilabel y). scikit-learn's MLP has no such
        parameter. ``"balanced"`` is refused by ``partial_fit``.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        The class labels (one array per output for multilabel y).
    coefs_ : list of ndarray, shape (n_in, n_out) each
        The weights of each layer (the network's own arrays).
    intercepts_ : list of ndarray, shape (n_out,) each
        The biases of each layer.
    loss_ : float
        The training loss after the last epoch (with the penalty).
    loss_curve_ : list of float
        The loss of each epoch (sgd, adam).
    best_loss_ : float or None
        The lowest loss so far; None with ``early_stopping``.
    validation_scores_ : list of float or None
        The score of the held-out data after each epoch, with ``early_stopping``.
    best_validation_score_ : float or None
        The best of them.
    n_iter_ : int
        Epochs (or lbfgs iterations) run.
    t_ : int
        Examples seen while training (sgd, adam).
    n_layers_ : int
        Layers, the input layer included.
    n_outputs_ : int
        Outputs of the network.
    out_activation_ : str
        The output layer's activation.
    n_features_in_ : int
        Features seen by ``fit``.
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        The feature names, when X had string column names.
    network_ : nncore.Network
        The trained network (its W, b are ``coefs_``, ``intercepts_``).

    Shape
    -----
    X: (n_samples, n_features); y: (n_samples,) labels or (n_samples, n_classes) multilabel
    indicators. ``predict_proba``: (n_samples, n_classes).

    Examples
    --------
    >>> import numpy as np
    >>> from nncore.sklearn import MLPClassifier
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> clf = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
    >>> clf.fit(X, [0, 0, 1, 1]).predict(X).tolist()
    [0, 0, 1, 1]
    >>> [w.shape for w in clf.coefs_]
    [(2, 4), (4, 1)]
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, class_weight=None):
        super().__init__(hidden_layer_sizes, activation, solver, alpha, batch_size,
                         learning_rate, learning_rate_init, power_t, max_iter, shuffle,
                         random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
                         early_stopping, validation_fraction, beta_1, beta_2, epsilon,
                         n_iter_no_change, max_fun, dtype)
        self.class_weight = class_weight

    _parameter_constraints = {**_BaseMLP._parameter_constraints,
                              "class_weight": [None, StrOptions({"balanced"}), dict, list]}

    def _output(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax", "cross_entropy"
        return "logistic", "binary_cross_entropy"

    def _validate_input(self, X, y, incremental, reset):
        """(X, Y, labels): X validated, Y the binarized y (n, n_classes) or (n, 1), labels
        the class index of each row when at hand (the plain case), else None."""
        new_classes = not hasattr(self, "classes_") or (not self.warm_start and not incremental)
        if new_classes and _plain_X(self, X, y, reset):
            # the ordinary case (float ndarray X, 1-D integer or str labels): what the
            # general path below gives, without its repeated checks of y
            plain = _plain_labels(y)
            if plain is not None:
                _plain_validated(self, X, reset)
                self._label_binarizer, Y, labels = plain
                self.classes_ = self._label_binarizer.classes_
                return X, Y, labels
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             accept_sparse=["csr", "csc"],
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        f"warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y), None

    def _decode(self, Y):
        return self._label_binarizer.inverse_transform(Y.ravel() if Y.shape[1] == 1 else Y)

    def _score_on(self, X, y, sample_weight=None):
        pred = self._predict_rows(X)
        if not np.isfinite(pred).all():
            return np.nan
        return accuracy_score(y, self._decode(pred), sample_weight=sample_weight)

    def _check_class_weight(self, incremental):
        if incremental and isinstance(self.class_weight, str):
            raise ValueError("class_weight='balanced' is not supported for partial_fit (the "
                             "class frequencies of one batch are not the data's); give a "
                             "dict of weights")

    def _with_class_weight(self, Y, sample_weight):
        if self.class_weight is None:
            return sample_weight
        cw = compute_sample_weight(self.class_weight, self._decode(Y))
        return cw if sample_weight is None else sample_weight * cw

    @available_if(lambda est: est._check_partial())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train one epoch over ``(X, y)``, continuing from the current state.

        Available with the sgd and adam solvers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training examples, one a row.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets: class labels (or multilabel indicators) for the classifier, values for
            the regressor.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the examples (>= 0, with a sum > 0); None weighs them equally.
        classes : array-like of shape (n_classes,), default=None
            Every class label; needed on the first call (later batches may lack some).

        Returns
        -------
        self
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from nncore.sklearn import MLPClassifier
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
        >>> clf = clf.partial_fit([[0.0, 1.0]], [0], classes=[0, 1, 2])
        >>> clf = clf.partial_fit([[1.0, 0.0]], [2])
        >>> clf.classes_.tolist(), clf.predict_proba([[0.5, 0.5]]).shape
        ([0, 1, 2], (1, 3))
        """
        self._check_partial()
        self._validate_params()
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predict the class of each example.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The examples, one a row (sparse CSR/CSC rows are densified a chunk at a time).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            The class labels, or the 0/1 indicators of multilabel y.

        Examples
        --------
        >>> import numpy as np
        >>> from nncore.sklearn import MLPClassifier
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
        >>> clf = clf.fit(X, [0, 0, 1, 1])
        >>> clf.predict([[0.9, 0.2]]).tolist()
        [1]
        """
        return self._decode(self._forward(X))

    def predict_proba(self, X):
        """Estimate the probability of each class for each example.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The examples, one a row (sparse CSR/CSC rows are densified a chunk at a time).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``; each row sums to 1 (but for multilabel
            y, whose outputs are independent).

        Examples
        --------
        >>> import numpy as np
        >>> from nncore.sklearn import MLPClassifier
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
        >>> clf = clf.fit(X, [0, 0, 1, 1])
        >>> proba = clf.predict_proba(X)
        >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1))
        ((4, 2), True)
        """
        p = self._forward(X)
        if p.shape[1] == 1:
            return np.hstack([1 - p, p])
        return p

    def predict_log_proba(self, X):
        """Give the natural log of ``predict_proba(X)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The examples, one a row (sparse CSR/CSC rows are densified a chunk at a time).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities in the order of ``classes_``.

        Examples
        --------
        >>> import numpy as np
        >>> from nncore.sklearn import MLPClassifier
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> clf = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
        >>> clf = clf.fit(X, [0, 0, 1, 1])
        >>> bool(np.allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X)))
        True
        """
        p = self.predict_proba(X)
        return np.log(p, out=p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by nncore's compiled core.

    A drop-in replacement of ``sklearn.neural_network.MLPRegressor``: its parameters and
    fitted attributes (see the module's docstring for the differences), the training in
    nncore's core.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default="squared_error"
        As scikit-learn's: the half squared error with an identity output, or the half
        Poisson deviance with an exp output (``predict`` is exp of the network's output;
        y must be >= 0).
    hidden_layer_sizes : array-like of int, default=(100,)
        Nodes of each hidden layer, first to last.
    activation : {"identity", "logistic", "tanh", "relu", "leaky_relu"}, default="relu"
        Activation of the hidden layers.
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
        How the weights are trained: L-BFGS over the whole data, or mini-batch steps of SGD
        or Adam.
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights, >= 0.
    batch_size : int or "auto", default="auto"
        Examples per step for sgd and adam; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The rate schedule of sgd.
    learning_rate_init : float, default=0.001
        The starting rate of sgd and adam, > 0.
    power_t : float, default=0.5
        The exponent of the "invscaling" rate, ``learning_rate_init / t**power_t``.
    max_iter : int, default=200
        Most epochs (sgd, adam) or iterations (lbfgs).
    shuffle : bool, default=True
        Visit the examples in a new order each epoch (sgd, adam).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the early-stopping split.
    tol : float, default=1e-4
        Improvement below which an epoch counts as none, for the stopping rule.
    verbose : bool, default=False
        Print the loss after each epoch.
    warm_start : bool, default=False
        Continue from the fitted network (and its optimizer's state) on the next ``fit``.
    momentum : float, default=0.9
        Momentum of sgd, in [0, 1).
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for sgd.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its score stops
        improving, keeping the best weights.
    validation_fraction : float, default=0.1
        Share of the data held out by ``early_stopping``, in (0, 1).
    beta_1 : float, default=0.9
        Decay of Adam's first moment, in [0, 1).
    beta_2 : float, default=0.999
        Decay of Adam's second moment, in [0, 1).
    epsilon : float, default=1e-8
        Adam's term added to the denominator, > 0.
    n_iter_no_change : int, default=10
        Epochs without an improvement of more than ``tol`` before training stops.
    max_fun : int, default=15000
        Most loss evaluations of lbfgs.
    dtype : {None, "float64", "float32"}, default=None
        The floating-point type of the parameters, the computation and the outputs. None:
        X's, as scikit-learn's (float32 X gives float32 ``coefs_``, training and
        predictions; any other X float64); a warm or partial fit continues in the fitted
        network's.

    Attributes
    ----------
    coefs_ : list of ndarray, shape (n_in, n_out) each
        The weights of each layer (the network's own arrays).
    intercepts_ : list of ndarray, shape (n_out,) each
        The biases of each layer.
    loss_ : float
        The training loss after the last epoch (with the penalty).
    loss_curve_ : list of float
        The loss of each epoch (sgd, adam).
    best_loss_ : float or None
        The lowest loss so far; None with ``early_stopping``.
    validation_scores_ : list of float or None
        The score of the held-out data after each epoch, with ``early_stopping``.
    best_validation_score_ : float or None
        The best of them.
    n_iter_ : int
        Epochs (or lbfgs iterations) run.
    t_ : int
        Examples seen while training (sgd, adam).
    n_layers_ : int
        Layers, the input layer included.
    n_outputs_ : int
        Outputs of the network.
    out_activation_ : str
        The output layer's activation.
    n_features_in_ : int
        Features seen by ``fit``.
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        The feature names, when X had string column names.
    network_ : nncore.Network
        The trained network (its W, b are ``coefs_``, ``intercepts_``).

    Shape
    -----
    X: (n_samples, n_features); y: (n_samples,) or (n_samples, n_outputs). ``predict`` returns
    y's shape.

    Examples
    --------
    >>> import numpy as np
    >>> from nncore.sklearn import MLPRegressor
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=500,
    ...                    random_state=0).fit(X, X.sum(axis=1))
    >>> reg.predict(X).round(1)
    array([0., 1., 1., 2.])
    """

    _parameter_constraints = {**_BaseMLP._parameter_constraints,
                              "loss": [StrOptions({"squared_error", "poisson"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None):
        super().__init__(hidden_layer_sizes, activation, solver, alpha, batch_size,
                         learning_rate, learning_rate_init, power_t, max_iter, shuffle,
                         random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
                         early_stopping, validation_fraction, beta_1, beta_2, epsilon,
                         n_iter_no_change, max_fun, dtype)
        self.loss = loss

    def _output(self):
        # poisson: an identity network whose output is the log of the mean, with the core's
        # Poisson loss (half the deviance of exp(a)); out_activation_ "exp" as scikit-learn's
        return ("exp", "poisson") if self.loss == "poisson" else ("identity", "mse")

    def _validate_input(self, X, y, incremental, reset):
        """(X, y, None): X and y validated (no class labels)."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             accept_sparse=["csr", "csc"],
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            at = [int(i) for i in np.argwhere(np.asarray(y) < 0)[0]]
            raise ValueError(f"loss='poisson' needs y >= 0 (counts, rates); y {y.shape} has "
                             f"{float(y[tuple(at)])!r} at index {at}")
        return X, y, None

    def _decode(self, Y):
        return Y.ravel() if Y.shape[1] == 1 else Y

    def _score_on(self, X, y, sample_weight=None):
        pred = self._predict_rows(X)
        if not np.isfinite(pred).all():
            return np.nan
        return r2_score(y, self._decode(pred), sample_weight=sample_weight)

    def predict(self, X):
        """Predict the targets of each example.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The examples, one a row (sparse CSR/CSC rows are densified a chunk at a time).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predictions, in the shape of the y that ``fit`` had.

        Examples
        --------
        >>> import numpy as np
        >>> from nncore.sklearn import MLPRegressor
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=500,
        ...                    random_state=0).fit(X, np.c_[X.sum(axis=1), X[:, 0]])
        >>> reg.predict(X).shape
        (4, 2)
        """
        return self._decode(self._forward(X))


# -- skl2onnx: converters registered once skl2onnx is imported, never importing it -------------

def _register_skl2onnx():
    from .onnx import register_skl2onnx
    try:
        register_skl2onnx()
    except Exception as exc:  # pragma: no cover - an skl2onnx whose API changed
        warnings.warn(f"nncore.sklearn could not register its converters with skl2onnx: "
                      f"{exc!r}", RuntimeWarning)


class _LoaderThenRegister(importlib.abc.Loader):
    """skl2onnx's own loader, then the registration once its __init__ has run."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        spec = module.__spec__
        spec.loader = module.__loader__ = self._loader   # the module keeps its own loader
        self._loader.exec_module(module)
        _register_skl2onnx()


class _WhenSkl2onnxIsImported(importlib.abc.MetaPathFinder):
    """A finder that answers only for skl2onnx, once, wrapping the spec the other finders
    give so that the converters are registered when skl2onnx has been imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "skl2onnx":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and \
                hasattr(spec.loader, "exec_module"):
            spec.loader = _LoaderThenRegister(spec.loader)
        return spec


if "skl2onnx" in sys.modules:
    _register_skl2onnx()
else:
    sys.meta_path.insert(0, _WhenSkl2onnxIsImported())
