"""Checks and conversions at the boundary between user input and the core.

Every array that reaches nogil code has passed through here (or through the engine's fast
check of an array that is already right, which accepts a subset of what these accept). Each
function returns what the core can trust, or raises a TypeError / ValueError that says what was
wrong, with the shapes involved. Nothing here modifies the network.
"""
import difflib
import math
import numbers
import os

import numpy as np

from . import _kernels
from .losses import BINARY_CROSS_ENTROPY, CROSS_ENTROPY, LOSS_NAMES, POISSON

# The learning rates that stay finite and > 0 in each dtype.
_LR_RANGE = {np.dtype(t): (float(np.finfo(t).smallest_subnormal), float(np.finfo(t).max))
             for t in (np.float32, np.float64)}

# Activation parameters must stay within the dtype's range: |p| <= max, and a sigmoid's c
# either 0 or at least the smallest normal number (its derivative divides by c).
_PARAM_RANGE = {np.dtype(t): (float(np.finfo(t).smallest_normal), float(np.finfo(t).max))
                for t in (np.float32, np.float64)}

# Row counts must fit the core's C int (BLAS takes int dimensions).
MAX_ROWS = 2**31 - 1


def real_array(x, name):
    """np.asarray(x), refusing anything that is not real numbers (bool, int, float)."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists, unconvertible objects
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    return arr


def _check_values(arr, name, lo=-np.inf, hi=np.inf, original=None):
    """Refuse NaN, inf and values outside [lo, hi] in the C-contiguous float array arr.

    ``original`` is the array before conversion to arr's dtype: when it was finite, the message
    says the values overflow that dtype. (The check itself is one pass of the core's
    all_finite kernel; NumPy only works out the message.)"""
    if _kernels.all_finite(arr.reshape(-1), lo, hi):
        return
    if not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        if original is not None and np.isfinite(original[bad]):
            raise ValueError(f"{name}{list(bad)} = {original[bad]} is too large for "
                             f"{arr.dtype}, the network's dtype")
        raise ValueError(f"{name} contains NaN or inf (first at index {bad})")
    if lo > -np.inf and arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{name} must lie in [{lo:g}, {hi:g}] for this loss; "
                         f"it ranges over [{arr.min():g}, {arr.max():g}]")


def dtype_of(dtype):
    """np.float32 or np.float64 from what ``np.dtype`` reads as one of them ("float32", "f4",
    "single", np.float32, "float", "double", ...); anything else is a ValueError, with a "did
    you mean" for a name close to one of them."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    if dt is not None and dt in (np.float32, np.float64):
        return dt
    hint = ""
    if isinstance(dtype, str) and dt is None:   # a name NumPy does not know
        close = difflib.get_close_matches(dtype.lower(), ("float32", "float64"), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
    got = f"{dtype!r}" if dt is None or isinstance(dtype, str) else f"{dt}"
    raise ValueError(f"dtype must be float32 or float64 (as np.dtype reads it), got "
                     f"{got}{hint}")


def hidden_activations(layers):
    """Refuse an output-only function (softmax) in a hidden layer, saying where it belongs."""
    from .activations import OUTPUT_ONLY

    for l, layer in enumerate(layers[:-1]):
        name = layer.activation.name
        if name in OUTPUT_ONLY:
            raise ValueError(
                f"layer {l} of {len(layers)} is a hidden layer with {name}; {name} belongs on "
                f"the output layer (the last), with loss='cross_entropy', where it turns the "
                f"outputs into class probabilities. Hidden layers take relu, leaky_relu, tanh, "
                f"sigmoid, gelu, elu, silu, softplus or identity")


def lookup(spec, names, what, aliases=None):
    """The name in ``names`` that the string spec means: matched ignoring case, "_", "-" and
    spaces (and through ``aliases``, keys in that form); else a ValueError saying "unknown
    <what> ...", with a "did you mean" for a close name."""
    if spec in names:
        return spec
    key = "".join(spec.lower().replace("-", "").replace("_", "").split())
    table = {"".join(n.lower().replace("_", "").split()): n for n in names}
    table.update(aliases or {})
    if key in table:
        return table[key]
    close = difflib.get_close_matches(spec.lower(), names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown {what} {spec!r}{hint} (expected one of {tuple(names)})")


def _convert(arr, dtype):
    """arr as a C-contiguous, aligned array of dtype (no copy when it already is one; a
    pickled or np.frombuffer array may be unaligned); values too large for dtype become inf
    without a warning, for _check_values to report."""
    if arr.dtype == dtype and arr.flags.c_contiguous and arr.flags.aligned:
        return arr
    with np.errstate(over="ignore"):
        return np.require(arr, dtype=dtype, requirements=["C_CONTIGUOUS", "ALIGNED"])


def inputs(X, n_in, dtype):
    """(X as a C-contiguous (N, n_in) array of dtype, single) where single says X was one
    example of shape (n_in,)."""
    arr = real_array(X, "X")
    single = arr.ndim == 1
    if arr.ndim == 1:
        if arr.shape[0] != n_in:
            raise ValueError(f"X has shape {arr.shape} but the network takes {n_in} inputs: "
                             f"expected (N, {n_in}) or ({n_in},)")
        arr = arr.reshape(1, n_in)
    elif arr.ndim == 2:
        if arr.shape[1] != n_in:
            raise ValueError(f"X has shape {arr.shape} but the network takes {n_in} inputs: "
                             f"expected (N, {n_in})")
        if arr.shape[0] == 0:
            raise ValueError(f"X has shape {arr.shape}: no examples")
        if arr.shape[0] > MAX_ROWS:
            raise ValueError(f"X has {arr.shape[0]} rows; at most {MAX_ROWS} in one call")
    else:
        raise ValueError(f"X must be 2-D (N, {n_in}) or 1-D ({n_in},), got {arr.ndim}-D "
                         f"with shape {arr.shape}")
    converted = _convert(arr, dtype)
    _check_values(converted, "X", original=arr)
    return converted, single


def is_sparse(X):
    """X is a scipy.sparse matrix or array, told by its type's module (so that dense input
    never imports scipy)."""
    return type(X).__module__.startswith("scipy.sparse")


def sparse_inputs(X, n_in, dtype):
    """Sparse X (a scipy.sparse matrix or array of any format) as CSR of dtype (N, n_in)
    whose stored values are finite.

    CSR of dtype is taken as it is; other formats (CSC, COO, ...) are converted once, and
    other dtypes get a converted copy of the values: O(nnz) memory, never a dense array.
    Duplicate entries stay (the core adds them up, as scipy does); stored zeros are fine."""
    shape = getattr(X, "shape", ())
    if len(shape) != 2:
        raise ValueError(f"sparse X must be 2-D (N, {n_in}), got shape {shape}")
    if shape[1] != n_in:
        raise ValueError(f"X has shape {shape} but the network takes {n_in} inputs: "
                         f"expected (N, {n_in})")
    if shape[0] == 0:
        raise ValueError(f"X has shape {shape}: no examples")
    if shape[0] > MAX_ROWS:
        raise ValueError(f"X has {shape[0]} rows; at most {MAX_ROWS} in one call")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got a sparse matrix of dtype {X.dtype}")
    if X.format != "csr":
        X = X.tocsr()
    indptr, indices = X.indptr, X.indices
    if not (indptr.shape == (shape[0] + 1,) and indptr[0] == 0
            and indptr[-1] <= min(indices.shape[0], X.data.shape[0])
            and (shape[0] < 2 or np.diff(indptr).min() >= 0)):
        raise ValueError(f"sparse X {shape}: its indptr is not a non-decreasing row index "
                         f"from 0 to at most nnz")
    if indptr[-1] and (indices[:indptr[-1]].min() < 0 or indices[:indptr[-1]].max() >= n_in):
        raise ValueError(f"sparse X {shape}: a column index lies outside [0, {n_in})")
    data = _convert(X.data, dtype)
    if not _kernels.all_finite(data, -np.inf, np.inf):
        p = int(np.argmax(~np.isfinite(data)))
        at = [int(np.searchsorted(X.indptr, p, side="right")) - 1, int(X.indices[p])]
        if np.isfinite(X.data[p]):
            raise ValueError(f"X{at} = {X.data[p]} is too large for {data.dtype}, the "
                             f"network's dtype")
        raise ValueError(f"X contains NaN or inf (first at index {tuple(at)})")
    if data is not X.data:
        X = type(X)((data, X.indices, X.indptr), shape=X.shape, copy=False)
    return X


def targets(Y, m, n_out, dtype, loss, single):
    """Y as a C-contiguous (m, n_out) array of dtype.

    Accepted: rows of shape (m, n_out); integer class labels of shape (m,) (turned into one-hot
    rows); a column (m,) when n_out == 1; for a single example, (n_out,) or one integer label.
    Targets of the cross-entropies must lie in [0, 1]; of the Poisson loss, y >= 0.
    """
    arr = real_array(Y, "Y")
    labels = None
    if single and arr.ndim <= 1:
        if arr.shape == (n_out,):
            arr = arr.reshape(1, n_out)
        elif arr.ndim == 0 and n_out == 1:
            arr = arr.reshape(1, 1)
        elif arr.ndim == 0 and arr.dtype.kind in "iu":
            labels = arr.reshape(1)
        else:
            raise ValueError(f"Y has shape {arr.shape} for a single example: expected "
                             f"({n_out},) or one integer class label")
    elif arr.ndim == 2:
        if arr.shape != (m, n_out):
            raise ValueError(f"Y has shape {arr.shape} but X has {m} rows and the network "
                             f"gives {n_out} outputs: expected ({m}, {n_out})")
    elif arr.ndim == 1 and arr.shape[0] == m:
        if n_out == 1:
            arr = arr.reshape(m, 1)
        elif arr.dtype.kind in "iu":
            labels = arr
        else:
            raise ValueError(f"Y has shape {arr.shape} and dtype {arr.dtype}: for {n_out} "
                             f"outputs give rows ({m}, {n_out}) or integer class labels ({m},)")
    else:
        raise ValueError(f"Y has shape {arr.shape} but X has {m} rows and the network gives "
                         f"{n_out} outputs: expected ({m}, {n_out}) or integer labels ({m},)")
    if labels is not None:
        _check_label_range(labels, n_out)
        return one_hot(labels, n_out, dtype)
    converted = _convert(arr, dtype)
    if loss in (CROSS_ENTROPY, BINARY_CROSS_ENTROPY):
        _check_values(converted, "Y", 0.0, 1.0, original=arr)
    elif loss == POISSON:
        _check_values(converted, "Y", 0.0, np.inf, original=arr)   # counts, rates
    else:
        _check_values(converted, "Y", original=arr)
    return converted


def class_labels(Y, m, n_out):
    """Y as int64 class labels (m,) in [0, n_out) when it is a 1-D integer array (m,) and the
    network has n_out > 1 outputs, else None (rows, or what `targets` will refuse). For
    Network.fit, which passes class labels on to the core as they are."""
    if n_out < 2 or not isinstance(Y, np.ndarray) or Y.shape != (m,) or Y.dtype.kind not in "iu":
        return None
    _check_label_range(Y, n_out)
    return _convert(Y, np.int64)


def _check_label_range(labels, n_out):
    """Refuse integer class labels outside [0, n_out)."""
    if labels.size == 0:
        return
    # one reduction in the ordinary case: read as unsigned, a negative label is above n_out
    unsigned = labels.view(labels.dtype.str.replace("i", "u"))   # (same byte order)
    if unsigned.max() < n_out:
        return
    lo, hi = labels.min(), labels.max()
    if lo < 0 or hi >= n_out:
        raise ValueError(f"class labels must lie in [0, {n_out}) for {n_out} outputs; "
                         f"got labels from {lo} to {hi}")


def sample_weight(w, m):
    """Sample weights as a C-contiguous float64 array (m,): finite, >= 0, with a sum that is
    finite and > 0 (a weight of 0 leaves a row out)."""
    arr = real_array(w, "sample_weight")
    if arr.shape != (m,):
        raise ValueError(f"sample_weight has shape {arr.shape} but there are {m} examples: "
                         f"expected ({m},)")
    arr = _convert(arr, np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"sample_weight contains NaN or inf (first at index {bad})")
    if (arr < 0).any():
        bad = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(f"sample_weight must be >= 0; sample_weight[{bad}] = {arr[bad]}")
    with np.errstate(over="ignore"):
        total = float(arr.sum())
    if not 0 < total < np.inf:
        raise ValueError(f"sample_weight must have a finite sum > 0, got {total}")
    return arr


def one_hot(labels, n_out, dtype):
    """Rows (N, n_out) of dtype with a 1 at each of the N labels (already checked to lie in
    [0, n_out)). Rows of the identity taken by label: 4x faster than assigning the 1s by fancy
    indexing, for as many classes as keep the identity small."""
    if n_out <= 1024:
        return np.eye(n_out, dtype=dtype).take(labels, axis=0)
    arr = np.zeros((labels.shape[0], n_out), dtype=dtype)
    arr[np.arange(labels.shape[0]), labels] = 1
    return arr


def output(out, X, n, n_out, dtype, single):
    """The 2-D (n, n_out) view of a caller's ``out=`` array for predict, after checking it."""
    expected = (n_out,) if single else (n, n_out)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != expected:
        raise ValueError(f"out has shape {out.shape}; expected {expected}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}; expected the network's {np.dtype(dtype)}")
    if not (out.flags.c_contiguous and out.flags.aligned and out.flags.writeable
            and out.dtype.isnative):
        raise ValueError("out must be a writeable, C-contiguous array in native byte order")
    if np.may_share_memory(out, X):
        raise ValueError("out must not share memory with X")
    return out.reshape(n, n_out)


def learning_rate(lr, dtype=np.float64):
    """lr as a float > 0 that stays finite and > 0 in the network's dtype."""
    if type(lr) is not float and (isinstance(lr, bool) or not isinstance(lr, numbers.Real)):
        raise TypeError(f"lr must be a real number, got {type(lr).__name__}")
    lr = float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr}")
    low, high = _LR_RANGE[np.dtype(dtype)]
    if not low <= lr <= high:
        raise ValueError(f"lr = {lr} is outside the range of {np.dtype(dtype).name}, "
                         f"the network's dtype")
    return lr


def count(value, name, minimum, maximum=None):
    """value as an int >= minimum (and <= maximum when given)."""
    if type(value) is not int and (isinstance(value, bool)
                                   or not isinstance(value, numbers.Integral)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def real_in(value, name, low=0.0, high=math.inf, low_open=False, high_open=True):
    """value as a finite float in the interval from low to high (each end open or closed): the
    check of the optimizers' and schedules' hyper-parameters."""
    if type(value) is not float and (isinstance(value, bool)
                                     or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below and math.isfinite(value)):
        bounds = (f"{'(' if low_open else '['}{low}, "
                  f"{'inf' if high == math.inf else high}{')' if high_open else ']'}")
        raise ValueError(f"{name} must lie in {bounds}, got {value}")
    return value


def output_for_loss(activation, loss):
    """Refuse an output activation whose values the loss cannot read as probabilities, and
    for the Poisson loss any output but the identity (its raw output is the log of the mean)."""
    if loss == POISSON:
        if activation.name != "identity":
            raise ValueError(f"loss 'poisson' reads the output layer's raw output as the log "
                             f"of the mean: its activation must be identity; got "
                             f"{activation!r}")
        return
    if loss not in (CROSS_ENTROPY, BINARY_CROSS_ENTROPY):
        return
    if activation.name == "softmax" and loss == CROSS_ENTROPY:
        return
    if activation.name == "sigmoid" and not activation.trainable and 0 < activation.c <= 1:
        return
    either = "a softmax output, or " if loss == CROSS_ENTROPY else ""
    raise ValueError(f"loss {LOSS_NAMES[loss]!r} needs probabilities: {either}a sigmoid output "
                     f"with 0 < c <= 1 that is not trainable; got {activation!r}")


def network_state(layers, dtype, loss=None):
    """Check what the user can change between calls: each layer's W and b are still
    C-contiguous arrays of the network's dtype and shape, the activation parameters lie in the
    dtype's range, and (unless loss is None) the output suits the loss."""
    for l, layer in enumerate(layers):
        for name, arr, shape in (("W", layer.W, (layer.n_in, layer.n_out)),
                                 ("b", layer.b, (layer.n_out,))):
            flags = arr.flags
            if (arr.dtype != dtype or arr.shape != shape or not flags.c_contiguous
                    or not flags.writeable or not flags.aligned):
                raise ValueError(
                    f"layer {l}'s {name} is no longer a writeable, C-contiguous {dtype} array "
                    f"of shape {shape} (its dtype, shape or flags were changed in place); "
                    f"assign layer.{name} = values instead")
    activation_params(layers, dtype)
    if loss is not None:
        output_for_loss(layers[-1].activation, loss)


def activation_params(layers, dtype):
    """Refuse activation parameters outside the range of the network's dtype."""
    tiny, big = _PARAM_RANGE[dtype]
    for l, layer in enumerate(layers):
        act = layer.activation
        for i, name in enumerate(act.param_names):
            value = float(act._params[i])
            if act.name == "softplus" and name == "beta" and not value > 0:
                raise ValueError(f"layer {l}'s softplus has beta = {value}; it must be > 0")
            if not (abs(value) <= big and (name != "c" or value == 0 or abs(value) >= tiny)):
                raise ValueError(f"layer {l}'s {act.name} has {name} = {value}, outside the "
                                 f"range of {dtype.name}, the network's dtype")


def output_path_problem(path):
    """Why a file cannot be written at ``path`` (the path is a folder, its folder is missing or
    not writable) as (OSError subclass, message), or None; for the command line and the
    callbacks, which check their output paths before training and raise their own errors."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        return IsADirectoryError, f"{path} is a folder; give a file name"
    if not os.path.isdir(folder):
        return FileNotFoundError, f"{path}: the folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return PermissionError, f"{path}: the folder {folder} is not writable"
    return None
