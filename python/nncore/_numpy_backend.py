"""The NumPy backend: the same math as the core, written with plain NumPy.

It is the tests' oracle, so it is written the straightforward way: one array expression per
step of the derivation, no tricks. (It validates and converts like the rest of the API, so it
is not what the benchmarks divide by: that is the plain NumPy step of nncore.bench.) It reads and updates the very
arrays the layers own (W, b, and the activation parameters), in place, as the core does.

Calls on N rows (predict, loss, gradients, trace) run chunk by chunk with the core's rule
(``chunk_rows``: at most max(READ_CHUNK, the last training batch) rows at a time), converting X
and the targets one chunk at a time, so that their extra memory is bounded by a chunk's
arrays (plus the result, e.g. trace's N-row arrays). The loss is the sum of the chunks'
numerators over the whole call's denominator (N, or the sum of the sample weights), the
gradients the sums of the chunks' gradients: one chunk gives exactly the one-pass values.
"""
import math

import numpy as np

from . import _kernels, _validate
from ._backend import Claim, RWLock
from ._engine import READ_CHUNK, shuffled_index
from .activations import (ELU_, GELU_ERF, GELU_TANH, IDENTITY, LEAKY_RELU, RELU, SIGMOID, SILU,
                          SOFTMAX, SOFTPLUS, TANH)
from .losses import BINARY_CROSS_ENTROPY, CROSS_ENTROPY, MAE, MSE, POISSON


def _sigmoid(x):
    # 1 / (1 + exp(-x)) without overflow in exp
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_erfc = np.vectorize(math.erfc, otypes=[np.float64])
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _gelu_cdf(a):
    # Phi(a) = (1 + erf(a / sqrt(2))) / 2 = erfc(-a / sqrt(2)) / 2 (no cancellation for
    # a << 0), in a's dtype
    return (_erfc(-a.astype(np.float64) / math.sqrt(2)) / 2).astype(a.dtype)


def _gelu_backward(a, z, g, p):
    # Phi(a) + a * phi(a); a * a may overflow to inf, where exp(-inf) = 0 is right
    with np.errstate(over="ignore"):
        return g * (_gelu_cdf(a) + a * np.exp(-a * a / 2) / math.sqrt(2 * math.pi))


def _gelu_tanh_u(a):
    # a**3 may overflow to +-inf, where tanh(+-inf) = +-1 is right
    with np.errstate(over="ignore"):
        return _SQRT_2_OVER_PI * (a + 0.044715 * a**3)


def _softplus_forward(a, p):
    beta, threshold = p
    x = beta * a
    with np.errstate(over="ignore"):
        soft = (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))) / beta
    return np.where(x > threshold, a, soft)


# z = phi(a); p holds the activation's parameters (c, beta), (delta, 0), (alpha, 0) or
# (beta, threshold)
FORWARD = {
    IDENTITY: lambda a, p: a,
    SIGMOID: lambda a, p: p[0] * _sigmoid(p[1] * a),
    TANH: lambda a, p: np.tanh(a),
    RELU: lambda a, p: np.maximum(a, 0),
    LEAKY_RELU: lambda a, p: np.where(a >= 0, a, p[0] * a),
    SOFTMAX: lambda a, p: _softmax(a),
    GELU_ERF: lambda a, p: a * _gelu_cdf(a),
    GELU_TANH: lambda a, p: 0.5 * a * (1 + np.tanh(_gelu_tanh_u(a))),
    ELU_: lambda a, p: np.where(a > 0, a, p[0] * np.expm1(np.minimum(a, 0))),
    SILU: lambda a, p: a * _sigmoid(a),
    SOFTPLUS: _softplus_forward,
}


def _sigmoid_backward(a, z, g, p):
    c, beta = p
    if c == 0:
        return np.zeros_like(g)
    return g * beta * z * (1 - z / c)


def _gelu_tanh_backward(a, z, g, p):
    # (1 + t) / 2 + a / 2 (1 - t**2) sqrt(2/pi) (1 + 3 * 0.044715 a**2), t = tanh(u); past
    # |a| = 10 (t = +-1 in both dtypes) exactly (a > 0), as the core
    inner = np.where(np.abs(a) > 10, 0, a)
    t = np.tanh(_gelu_tanh_u(inner))
    d = 0.5 * (1 + t) + 0.5 * inner * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * inner**2)
    return g * np.where(np.abs(a) > 10, (a > 0).astype(a.dtype), d)


# delta = dL/da from g = dL/dz
BACKWARD = {
    IDENTITY: lambda a, z, g, p: g,
    SIGMOID: _sigmoid_backward,
    TANH: lambda a, z, g, p: g * (1 - z**2),
    RELU: lambda a, z, g, p: g * (a > 0),
    LEAKY_RELU: lambda a, z, g, p: np.where(a >= 0, g, p[0] * g),
    SOFTMAX: lambda a, z, g, p: z * (g - (g * z).sum(axis=1, keepdims=True)),
    GELU_ERF: _gelu_backward,
    GELU_TANH: _gelu_tanh_backward,
    ELU_: lambda a, z, g, p: np.where(a > 0, g, g * p[0] * np.exp(np.minimum(a, 0))),
    SILU: lambda a, z, g, p: g * _sigmoid(a) * (1 + a * (1 - _sigmoid(a))),
    SOFTPLUS: lambda a, z, g, p: np.where(p[0] * a > p[1], g, g * _sigmoid(p[0] * a)),
}


# The losses on the output z: per-element terms of L (summed over the outputs, averaged over
# the rows) and of g = dL/dyhat before the 1/m. (The cross-entropies come from the logits:
# _cross_entropy below.) p is the loss's parameter (Huber's delta). _rows_mean turns the terms
# into (numerator, denominator) of the mean over the call's rows, so that chunks of rows add
# their numerators over one denominator.
def _output_loss_terms(code, yhat, y, p):
    if code == POISSON:
        # yhat is the log of the mean, mu = exp(yhat) (inf where it overflows the dtype):
        # xlogy(y, y) - y - y * yhat + mu, i.e. y log(y / mu) - y + mu; gradient mu - y
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mu = np.exp(yhat)
            yy = y.astype(np.float64)
            terms = (np.where(yy > 0, yy * np.log(np.where(yy > 0, yy, 1.0)), 0.0) - yy
                     - yy * yhat + mu.astype(np.float64))
            return terms, mu - y
    d = yhat - y
    if code == MSE:       # (y - yhat)**2 / 2
        return d**2 / 2, d
    if code == MAE:       # |yhat - y|; gradient sign(yhat - y), 0 where equal
        return np.abs(d), np.sign(d)
    # Huber: d**2 / 2 within |d| < delta, delta * (|d| - delta / 2) outside; gradient
    # clip(d, -delta, delta)
    ad = np.abs(d)
    return (np.where(ad < p, d**2 / 2, p * (ad - p / 2)),
            np.clip(d, -p, p).astype(d.dtype))


def _softplus(x):
    # log(1 + exp(x)) without overflow
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _rows_mean(terms, w, m, total):
    """(numerator, denominator) of the mean over the rows of a loss whose per-element terms
    are `terms` (rows, n): sum and m, or with sample weights w (rows,) the weighted mean
    sum_r w_r L_r / total, where rows of weight 0 count for nothing (even a NaN of theirs) and
    all-zero weights give 0."""
    if w is None:
        return terms.sum(), m
    per_row = np.where(w > 0, terms.sum(axis=1), 0.0)
    return ((w * per_row).sum(), total) if total > 0 else (0.0, 1.0)


def _rows_scale(d, w, m, total):
    """d / m, the gradient of the mean from the rows' own gradients d (rows, n); with sample
    weights w, d * w_r / total row by row (rows of weight 0: 0)."""
    if w is None:
        return d / m
    scale = w / total if total > 0 else np.zeros_like(w)
    return np.where((w > 0)[:, None], d * scale[:, None].astype(d.dtype), 0).astype(d.dtype)


def _cross_entropy(act, a, z, Y, loss, need_delta, w, m, total):
    """(numerator, denominator) of L, and delta = dL/da, of a softmax output with
    cross-entropy, or of a sigmoid output z = c * sigmoid(beta * a) (0 < c <= 1) with (binary)
    cross-entropy, from the logits a; the sigmoid's terms in float64, as the core computes
    them. With sample weights w (rows,), L is the weighted mean of the rows' losses (see
    _rows_mean); m and total are the call's (see above)."""
    if act.code == SOFTMAX:
        mx = a.max(axis=1, keepdims=True)
        lse = mx + np.log(np.exp(a - mx).sum(axis=1, keepdims=True))
        if w is not None:
            with np.errstate(invalid="ignore"):
                terms = -np.where(Y != 0, Y * (a - lse), 0)
            d = z * Y.sum(axis=1, keepdims=True) - Y
            return (*_rows_mean(terms, w, m, total),
                    _rows_scale(d, w, m, total) if need_delta else None)
        value = -(Y * (a - lse)).sum()
        return value, m, (z * Y.sum(axis=1, keepdims=True) - Y) / m if need_delta else None
    c, beta = (float(v) for v in act._params)
    # beta * a may overflow to +-inf: the terms whose weight is 0 are then left out (np.where),
    # and the warnings from computing them anyway are silenced
    with np.errstate(over="ignore", invalid="ignore"):
        x = beta * a.astype(np.float64)
        y = Y.astype(np.float64)
        s = _sigmoid(x)
        log_z = np.log(c) - _softplus(-x)
        terms = -np.where(y != 0, y * log_z, 0)
        value = terms.sum()
        if loss == BINARY_CROSS_ENTROPY:
            log_1mz = -_softplus(x) if c == 1 else np.log1p(-c * s)
            terms_1 = np.where(y != 1, (1 - y) * log_1mz, 0)
            value -= terms_1.sum()
            terms = terms - terms_1
    if w is not None:
        value, den = _rows_mean(terms, w, m, total)
    if loss == CROSS_ENTROPY:
        d = -beta * y * (1 - s)
    elif c == 1:
        d = beta * (s - y)
    else:
        d = beta * (1 - s) * ((1 - y) * c * s / (1 - c * s) - y)
    if w is not None:
        return value, den, _rows_scale(d, w, m, total) if need_delta else None
    return value, m, d / m if need_delta else None


def _optimizer_step(opt, w, g, state, lr, decay):
    """One step of ``opt``'s rule on the array ``w`` (in place) from its gradient ``g``, with
    the state arrays ``state`` (updated in place); torch.optim's formulas, term by term as the
    core orders them. ``lr`` is a scalar of w's dtype; Python floats keep w's dtype."""
    t = int(opt._step[0])
    kind = type(opt).__name__
    wd = opt.weight_decay if decay and kind != "AdamW" else 0.0
    if kind == "SGD":
        gd = g + wd * w if wd else g
        if opt.momentum == 0:
            w -= lr * gd
            return
        buf = state[0]
        if t == 1:
            buf[...] = gd
        else:
            buf[...] = opt.momentum * buf + gd
        w -= lr * (gd + opt.momentum * buf if opt.nesterov else buf)
    elif kind == "RMSprop":
        gd = g + wd * w if wd else g
        sq = state[0]
        sq[...] = opt.alpha * sq + (1 - opt.alpha) * (gd * gd)
        avg = np.sqrt(sq) + opt.eps
        if opt.momentum > 0:
            buf = state[1]
            buf[...] = opt.momentum * buf + gd / avg
            w -= lr * buf
        else:
            w -= lr * (gd / avg)
    else:  # Adam, AdamW
        if kind == "AdamW" and decay:
            w *= w.dtype.type(1 - float(lr) * opt.weight_decay)
        gd = g + wd * w if wd else g
        m, v = state[0], state[1]
        m[...] = opt.beta1 * m + (1 - opt.beta1) * gd
        v[...] = opt.beta2 * v + (1 - opt.beta2) * (gd * gd)
        # moments below the smallest normal number are stored as 0, as in the core (its note in
        # nncore/_optim.pyx: subnormal moments cost a microcode assist per operation)
        tiny = np.finfo(m.dtype).smallest_normal
        m[np.abs(m) < tiny] = 0
        v[v < tiny] = 0
        if opt.amsgrad:
            np.maximum(state[2], v, out=state[2])
            v = state[2]
        step = w.dtype.type(float(lr) / (1 - opt.beta1 ** t))
        bc2_sqrt = w.dtype.type(math.sqrt(1 - opt.beta2 ** t))
        w -= step * (m / (np.sqrt(v) / bc2_sqrt + w.dtype.type(opt.eps)))


_M64 = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z):
    """splitmix64's output function on uint64 arrays (wrapping), or on a Python int."""
    if isinstance(z, int):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_mask(seed, step, layer, m, n, p, dtype):
    """The dropout mask (m, n) of layer ``layer`` at step count ``step``: unit i = r n + j is
    kept when mix64(key + G (i + 1)) >= p 2**64, with key = mix64(mix64(seed + G (step + 1))
    + G (layer + 1)) (all modulo 2**64); a kept unit is 1 / (1 - p), a dropped one 0."""
    key = _mix64((_mix64((seed + _GOLDEN * (step + 1)) & _M64) + _GOLDEN * (layer + 1)) & _M64)
    i = np.arange(1, m * n + 1, dtype=np.uint64)
    h = _mix64(np.uint64(key) + np.uint64(_GOLDEN) * i)
    kept = h >= np.uint64(int(p * 2.0**64))
    return np.where(kept, dtype.type(1 / (1 - p)), dtype.type(0)).reshape(m, n)


def _params(layer):
    # the activation's parameters as Python floats, which (unlike float64 scalars) keep a
    # float32 computation in float32
    return tuple(float(v) for v in layer.activation._params)


class NumpyBackend:
    """Forward, loss, backpropagation and gradient descent over a list of nncore.Dense."""

    def __init__(self, layers, loss, dtype, check_state, loss_param=0.0):
        self.layers = layers
        self.loss_code = loss
        self.loss_param = float(loss_param)
        self.dtype = dtype
        self.n_in = layers[0].n_in
        self.n_out = layers[-1].n_out
        self.check_state = check_state  # raises if W, b or activation parameters went bad
        self.keep_rows = READ_CHUNK       # rows per chunk of a reading call (chunk_rows)
        self.optimizer = None             # the network's nncore.Optimizer (set_optimizer)
        self.dropout, self.dropout_seed = [0.0] * len(layers), 0
        self._claim = Claim()             # changing calls, one at a time (nncore._backend)
        self._lock = RWLock()             # readers: reading calls; writer: each step
        self.read_lock, self.read_unlock = self._lock.read_lock, self._lock.read_unlock
        self.write_lock, self.write_unlock = self._lock.write_lock, self._lock.write_unlock

    def set_optimizer(self, optimizer):
        """Update with this nncore.Optimizer (already bound to the network) from now on."""
        self.optimizer = optimizer

    def set_dropout(self, ps, seed):
        """Drop layer l's outputs with probability ps[l] in training steps, the masks keyed
        by seed and the optimizer's step count (as the core draws them)."""
        self.dropout, self.dropout_seed = [float(p) for p in ps], int(seed)

    def set_hyper(self, hyper, kind):
        """Nothing to do: every step reads the optimizer's settings by name."""

    def begin_change(self):
        self._claim.begin()

    def end_change(self):
        self._claim.end()

    @property
    def busy(self):
        return self._claim.held

    def chunk_rows(self, n):
        """Rows per chunk of a reading call on n rows: the core's rule, at most
        max(READ_CHUNK, the last training batch size)."""
        return min(n, self.keep_rows)

    def _keep(self, rows):
        self.keep_rows = max(rows, READ_CHUNK)

    def _step(self, X, Y, lr, w=None):
        """One step on the batch: returns its loss (before the update)."""
        self._lock.write_lock()
        try:
            num, den, _ = self._pass(X, Y, lr=lr, w=w)
        finally:
            self._lock.write_unlock()
        return float(num / den)

    def _pass(self, X, Y, lr=None, need_gradients=True, w=None, m=None, total=None):
        """Forward, loss, and backward; updates the parameters when lr is given. With sample
        weights w (rows,), the loss is the weighted mean of the rows' losses. X and Y may be
        one chunk of a call on m rows whose sample weights sum to total (default: X is the
        whole call): the loss's denominator and delta's scale are the call's.

        Returns (numerator, denominator) of the loss and per-layer records with a, z, delta,
        dW, db[, c, beta]."""
        if m is None:
            m = X.shape[0]
            total = None if w is None else w.sum()
        records = []
        z = X
        opt = self.optimizer
        # dropout in training steps, keyed by the steps taken before this one
        step = int(opt._step[0]) if lr is not None and opt is not None else 0
        for l, layer in enumerate(self.layers):
            a = z @ layer.W + layer.b
            z = FORWARD[layer.activation.code](a, _params(layer))
            records.append({"a": a, "z": z})
            if lr is not None and self.dropout[l] > 0:
                mask = dropout_mask(self.dropout_seed, step, l, m, layer.n_out,
                                    self.dropout[l], z.dtype)
                z = z * mask   # the next layer takes the dropped outputs
                records[l]["mask"], records[l]["zd"] = mask, z

        out, act = records[-1], self.layers[-1].activation
        if self.loss_code in (CROSS_ENTROPY, BINARY_CROSS_ENTROPY):
            # the cross-entropies from the logits, delta in closed form (as in the core)
            num, den, delta = _cross_entropy(act, out["a"], out["z"], Y, self.loss_code,
                                             need_gradients, w, m, total)
            if not need_gradients:
                return num, den, records
            out["delta"] = delta.astype(Y.dtype, copy=False)
        else:
            terms, d = _output_loss_terms(self.loss_code, out["z"], Y, self.loss_param)
            num, den = _rows_mean(terms.astype(np.float64), w, m, total)
            if not need_gradients:
                return num, den, records
            g = _rows_scale(d, w, m, total)
            self._local_gradient(self.layers[-1], out, g)
        if lr is not None and not np.isfinite(num / den):
            return num, den, records  # no step from a loss that is not finite
        plain = opt is None or opt._code() == -1
        # a clipped step takes every gradient first, then clips and updates them all
        clip = lr is not None and not plain and (opt.clip_norm is not None
                                                 or opt.clip_value is not None)
        if lr is not None and opt is not None:
            opt._step[0] += 1

        for l in range(len(self.layers) - 1, -1, -1):
            layer, rec = self.layers[l], records[l]
            z_prev = X if l == 0 else records[l - 1].get("zd", records[l - 1]["z"])
            g_prev = rec["delta"] @ layer.W.T if l > 0 else None
            if l > 0 and "mask" in records[l - 1]:
                g_prev = g_prev * records[l - 1]["mask"]
            rec["dW"] = z_prev.T @ rec["delta"]
            rec["db"] = rec["delta"].sum(axis=0)
            if lr is not None and plain:
                # in place, on the layer's own arrays (not through the W/b property setters)
                W, b = layer.W, layer.b
                W -= lr * rec["dW"]
                b -= lr * rec["db"]
                if layer.activation.trainable:
                    layer.activation._params -= lr * np.array([rec["c"], rec["beta"]])
            elif lr is not None and not clip:
                sW, sb, sp = opt._state[l]
                _optimizer_step(opt, layer.W, rec["dW"], sW, lr, True)
                _optimizer_step(opt, layer.b, rec["db"], sb, lr, False)
                if layer.activation.trainable:
                    _optimizer_step(opt, layer.activation._params,
                                    np.array([rec["c"], rec["beta"]]), sp, float(lr), False)
            if l > 0:
                self._local_gradient(self.layers[l - 1], records[l - 1], g_prev)
        if clip:
            self._clipped_update(records, lr)
        return num, den, records

    def _clipped_update(self, records, lr):
        """The optimizer's update of every parameter from the records' gradients, clipped
        first (as torch.nn.utils' clip_grad_value_ or clip_grad_norm_ would clip them)."""
        opt = self.optimizer
        grads = []
        for layer, rec in zip(self.layers, records):
            grads.append([rec["dW"], rec["db"]])
            if layer.activation.trainable:
                grads[-1].append(np.array([rec["c"], rec["beta"]], dtype=np.float64))
        flat = [g for group in grads for g in group]
        if opt.clip_value is not None:
            flat[:] = [np.clip(g, -g.dtype.type(opt.clip_value), g.dtype.type(opt.clip_value))
                       for g in flat]
        else:
            norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in flat))
            scale = opt.clip_norm / (norm + 1e-6)
            if not scale >= 1:
                flat[:] = [g * g.dtype.type(scale) for g in flat]
        k = 0
        for l, layer in enumerate(self.layers):
            sW, sb, sp = opt._state[l]
            _optimizer_step(opt, layer.W, flat[k], sW, lr, True)
            _optimizer_step(opt, layer.b, flat[k + 1], sb, lr, False)
            k += 2
            if layer.activation.trainable:
                _optimizer_step(opt, layer.activation._params, flat[k], sp, float(lr), False)
                k += 1

    @staticmethod
    def _local_gradient(layer, rec, g):
        act = layer.activation
        if act.trainable:
            c, beta = act._params
            s = _sigmoid(beta * rec["a"])
            rec["c"] = float((g * s).sum(dtype=np.float64))
            rec["beta"] = float(c * (g * s * (1 - s) * rec["a"]).sum(dtype=np.float64))
        rec["delta"] = BACKWARD[act.code](rec["a"], rec["z"], g, _params(layer))

    def _batch(self, X, Y):
        self.check_state()
        if _validate.is_sparse(X):
            # a batch of sparse X: densified (the oracle's plain NumPy)
            X = _validate.sparse_inputs(X, self.n_in, self.dtype).toarray()
        X, single = _validate.inputs(X, self.n_in, self.dtype)
        Y = _validate.targets(Y, X.shape[0], self.n_out, self.dtype, self.loss_code, single)
        return X, Y, single

    def _chunks(self, X, Y=None, sample_weight=None):
        """(n, single, w, total, chunks): a call's rows, whether X was one example, its
        sample weights (float64 (n,) or None) and their sum, and an iterator of
        (start, stop, X rows, Y rows) in the network's dtype, converted one chunk at a time
        (``chunk_rows``). Errors name the whole arrays, as a conversion of all of X would."""
        self.check_state(with_loss=Y is not None)
        sparse = _validate.is_sparse(X)
        if sparse:
            # sparse X: validated once (CSR), densified a chunk at a time by _rows
            X = _validate.sparse_inputs(X, self.n_in, self.dtype)
        n = (X.shape[0] if (isinstance(X, np.ndarray) or sparse) and X.ndim == 2 else 0)
        lazy = n > self.keep_rows and X.shape[1] == self.n_in and (
            Y is None or (isinstance(Y, np.ndarray) and Y.ndim in (1, 2)
                          and Y.shape[0] == n))
        if not lazy:
            if sparse:
                X = X.toarray()   # at most one chunk of rows
            if Y is None:
                X, single = _validate.inputs(X, self.n_in, self.dtype)
            else:
                X, Y, single = self._batch(X, Y)
            n = X.shape[0]
        else:
            single = False
        w = self._weights(sample_weight, n)
        total = None if w is None else w.sum()
        return n, single, w, total, self._rows(X, Y, n, lazy)

    def _rows(self, X, Y, n, lazy):
        chunk = self.chunk_rows(n)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            xb = X[start:stop]
            if _validate.is_sparse(xb):
                xb = xb.toarray()
            yb = None if Y is None else Y[start:stop]
            if lazy:
                try:
                    xb = _validate.inputs(xb, self.n_in, self.dtype)[0]
                    if yb is not None:
                        yb = _validate.targets(yb, stop - start, self.n_out, self.dtype,
                                               self.loss_code, False)
                except (ValueError, TypeError):
                    # the message about the whole arrays (an index of X's, Y's own shape)
                    self._batch(X, Y) if Y is not None else _validate.inputs(
                        X, self.n_in, self.dtype)
                    raise
            yield start, stop, xb, yb

    # -- the interface shared with nncore._engine.Engine ---------------------------------------

    def train_step(self, X, Y, lr, sample_weight=None):
        lr = _validate.learning_rate(lr, self.dtype)
        X, Y, _ = self._batch(X, Y)
        w = self._weights(sample_weight, X.shape[0])
        self._claim.begin()
        try:
            self._keep(X.shape[0])
            return self._step(X, Y, lr=self.dtype.type(lr), w=w)
        finally:
            self._claim.end()

    @staticmethod
    def _weights(sample_weight, m):
        return None if sample_weight is None else _validate.sample_weight(sample_weight, m)

    def loss(self, X, Y, sample_weight=None):
        n, _, w, total, chunks = self._chunks(X, Y, sample_weight)
        self._lock.read_lock()
        try:
            nums = []
            for start, stop, xb, yb in chunks:
                wb = None if w is None else w[start:stop]
                num, den, _ = self._pass(xb, yb, need_gradients=False, w=wb, m=n,
                                         total=total)
                nums.append(num)
        finally:
            self._lock.read_unlock()
        # one chunk: exactly the one-pass value
        return float(nums[0] / den) if len(nums) == 1 else float(sum(map(float, nums)) / den)

    def loss_and_gradients(self, X, Y, sample_weight=None):
        n, _, w, total, chunks = self._chunks(X, Y, sample_weight)
        out, nums = None, []
        self._lock.read_lock()
        try:
            for start, stop, xb, yb in chunks:
                wb = None if w is None else w[start:stop]
                num, den, records = self._pass(xb, yb, w=wb, m=n, total=total)
                nums.append(num)
                if out is None:
                    out = []
                    for layer, rec in zip(self.layers, records):
                        g = {"W": rec["dW"], "b": rec["db"]}
                        if layer.activation.trainable:
                            g["c"], g["beta"] = rec["c"], rec["beta"]
                        out.append(g)
                    continue
                for layer, rec, g in zip(self.layers, records, out):
                    g["W"] += rec["dW"]
                    g["b"] += rec["db"]
                    if layer.activation.trainable:
                        g["c"] += rec["c"]
                        g["beta"] += rec["beta"]
        finally:
            self._lock.read_unlock()
        value = (float(nums[0] / den) if len(nums) == 1
                 else float(sum(map(float, nums)) / den))
        return value, out

    def gradients(self, X, Y, sample_weight=None):
        return self.loss_and_gradients(X, Y, sample_weight)[1]

    def trace(self, X, Y):
        n, single, _, _, chunks = self._chunks(X, Y)
        keys = ("a", "z", "delta")
        out = [{k: np.empty((n, layer.n_out), dtype=self.dtype) for k in keys}
               for layer in self.layers]
        self._lock.read_lock()
        try:
            for start, stop, xb, yb in chunks:
                _, _, records = self._pass(xb, yb, m=n)
                for rec, entry in zip(records, out):
                    for k in keys:
                        entry[k][start:stop] = rec[k]
        finally:
            self._lock.read_unlock()
        return [{k: v[0] for k, v in entry.items()} for entry in out] if single else out

    def predict(self, X, out=None):
        n, single, _, _, chunks = self._chunks(X)
        if out is not None:
            # (X as given: out may not share memory with it)
            target = _validate.output(out, X if isinstance(X, np.ndarray) else None, n,
                                      self.n_out, self.dtype, single)
        else:
            target = np.empty((n, self.n_out), dtype=self.dtype)
        self._lock.read_lock()
        try:
            for start, stop, xb, _ in chunks:
                target[start:stop] = self._forward(xb)
        finally:
            self._lock.read_unlock()
        if out is not None:
            return out
        return target[0] if single else target

    def _forward(self, X):
        z = X
        for layer in self.layers:
            z = FORWARD[layer.activation.code](z @ layer.W + layer.b, _params(layer))
        return z

    def parameters_usable(self):
        if not all(_kernels.all_finite(arr.reshape(-1))
                   for ly in self.layers for arr in (ly.W, ly.b)):
            return False
        try:
            _validate.activation_params(self.layers, self.dtype)
        except ValueError:
            return False
        return True

    def run_epoch(self, X, Y, lr, batch_size, shuffle, seed, sample_weight=None,
                  weight_norms=None, order=None):
        self.check_state()
        n = X.shape[0]
        w = self._weights(sample_weight, n)
        if weight_norms is not None:
            weight_norms[0] = 0.0
        if order is None and shuffle:
            order = shuffled_index(n, seed)
        count = n if order is None else len(order)
        lr = self.dtype.type(lr)
        self._claim.begin()
        try:
            self._keep(min(batch_size, count))
            return self._epoch(X, Y, w, lr, batch_size, order, count, weight_norms)
        finally:
            self._claim.end()

    def _epoch(self, X, Y, w, lr, batch_size, order, count, weight_norms):
        total = 0.0
        for start in range(0, count, batch_size):
            rows = (order[start:start + batch_size] if order is not None
                    else slice(start, start + batch_size))
            xb, yb = X[rows], Y[rows]
            if _validate.is_sparse(xb):
                xb = xb.toarray()   # sparse X: one batch densified at a time
            if yb.ndim == 1:
                # class labels (checked by Network.fit): one-hot rows of this batch only
                yb = _validate.one_hot(yb, self.n_out, self.dtype)
            wb = None if w is None else w[rows]
            if weight_norms is not None:
                weight_norms[0] += sum(float(np.sum(ly.W.astype(np.float64) ** 2))
                                       for ly in self.layers)
            total += self._step(xb, yb, lr=lr, w=wb) * xb.shape[0]
        return total / count
