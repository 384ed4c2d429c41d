"""The metrics of ``Network.evaluate``: each one equal to its ``sklearn.metrics`` namesake.

Every metric is computed in one pass over the rows, chunk by chunk (``CHUNK_ROWS`` rows of
predictions at a time, in one buffer), from running sums: a confusion matrix for the class
metrics, sums of errors for the regression ones, the per-output mean and sum of squared
deviations (merged chunk by chunk, Chan's pairwise update) for R^2. Nothing sized by N is
allocated beyond the caller's own X and Y.

==================  ============================================  =============================
name                value                                         scikit-learn
==================  ============================================  =============================
loss                the network's loss (mean over the rows)       --
accuracy            share of rows whose class is the target's     accuracy_score
top_k_accuracy      share of rows whose target class is among     top_k_accuracy_score (k=5)
top_<k>_accuracy    the k highest outputs (fewer than k outputs   (k as named, e.g. top_3)
                    strictly higher than the target's)
precision           macro average over the classes present in     precision_score(average=
recall              the targets or the predictions (0 where a     "macro"), recall_score,
f1                  class is never predicted / never true)        f1_score
log_loss            -mean(sum(y * log(clip(p, eps, 1 - eps))))    log_loss
mae                 mean |y - yhat| over rows and outputs         mean_absolute_error
rmse                sqrt(mean (y - yhat)**2) per output, then     root_mean_squared_error
                    the mean over outputs
r2                  1 - SSE / SST per output (1 if both are 0,    r2_score
                    0 if only SST is), then the mean over outputs
==================  ============================================  =============================

The class of a row is the argmax of the outputs (for a network with one output: output >=
0.5); the target's class is its integer label, or the argmax of its row (one output: target
>= 0.5). ``eps`` is the machine epsilon of the network's dtype.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from . import _validate
from .losses import FROM_LOGITS

__all__ = ["METRIC_NAMES", "CHUNK_ROWS", "default_metrics", "evaluate"]

CLASS_METRICS = ("accuracy", "top_k_accuracy", "precision", "recall", "f1", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2")
METRIC_NAMES = ("loss",) + CLASS_METRICS + REGRESSION_METRICS
TOP_K_DEFAULT = 5
CHUNK_ROWS = 4096  # rows of predictions computed and reduced at a time

_TOP_K = re.compile(r"top_(\d+)_accuracy\Z")


def default_metrics(net) -> tuple[str, ...]:
    """What ``evaluate`` reports without ``metrics=``: the loss and accuracy for a
    cross-entropy network, the loss, MAE, RMSE and R^2 for a regression one (mse, mae,
    huber, poisson: of the predicted mean)."""
    if net.loss_function.code not in FROM_LOGITS:
        return ("loss",) + REGRESSION_METRICS
    return ("loss", "accuracy")


def _parse(name):
    """(kind, k) for a metric name; ValueError naming the known ones otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"a metric is named by a str, got {type(name).__name__}")
    key = name.lower()
    if key in METRIC_NAMES:
        return key, TOP_K_DEFAULT if key == "top_k_accuracy" else None
    match = _TOP_K.match(key)
    if match:
        k = int(match.group(1))
        if k < 1:
            raise ValueError(f"{name!r}: k must be >= 1")
        return "top_k_accuracy", k
    import difflib
    close = difflib.get_close_matches(key, METRIC_NAMES, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown metric {name!r}{hint} Known: {METRIC_NAMES} and "
                     f"'top_<k>_accuracy'")


def _check_targets(Y, m, n_out):
    """Y as an array, after checking its shape against X's m rows and the n_out outputs:
    integer labels (m,), or rows (m, n_out), or for one output a column (m,)."""
    arr = _validate.real_array(Y, "Y")
    if arr.ndim == 1 and arr.shape[0] == m and n_out > 1:
        if arr.dtype.kind not in "iu":
            raise ValueError(f"Y has shape {arr.shape} and dtype {arr.dtype}: for {n_out} "
                             f"outputs give rows ({m}, {n_out}) or integer class labels ({m},)")
        _validate._check_label_range(arr, n_out)
        return arr
    if arr.shape == (m, n_out) or (n_out == 1 and arr.shape == (m,)):
        return arr.reshape(m, n_out)
    raise ValueError(f"Y has shape {arr.shape} but X has {m} rows and the network gives "
                     f"{n_out} outputs: expected ({m}, {n_out}) or integer labels ({m},)")


def _finite(chunk, name, offset):
    """Refuse NaN or inf in rows [offset, offset + len(chunk)) of X or Y, naming the first
    one by its index in the whole array."""
    if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
        bad = [int(i) for i in np.argwhere(~np.isfinite(chunk))[0]]
        bad[0] += offset
        raise ValueError(f"{name} contains NaN or inf (first at index {bad})")


class _Sums:
    """The running sums of one evaluation."""

    def __init__(self, n_out, n_classes, ks):
        self.rows = 0
        self.loss = 0.0
        self.confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        self.top_k = dict.fromkeys(ks, 0)
        self.log_loss = 0.0
        self.abs_err = np.zeros(n_out)
        self.sq_err = np.zeros(n_out)
        self.mean = np.zeros(n_out)   # of the targets, for R^2
        self.m2 = np.zeros(n_out)     # sum of squared deviations from that mean

    def add_targets(self, y):
        """Merge the chunk's targets y (m, n_out) float64 into mean and m2 (Chan et al.)."""
        m, n = y.shape[0], self.rows
        mean_c = y.mean(axis=0)
        m2_c = ((y - mean_c) ** 2).sum(axis=0)
        d = mean_c - self.mean
        total = n + m
        self.mean += d * (m / total)
        self.m2 += m2_c + d * d * (n * m / total)


def evaluate(net, X, Y, metrics: Sequence[str] | str | None = None) -> dict[str, float]:
    """The metrics of ``net`` on (X, Y); see ``Network.evaluate``."""
    if metrics is None:
        metrics = default_metrics(net)
    elif isinstance(metrics, str):
        metrics = (metrics,)
    if not hasattr(metrics, "__iter__"):
        raise TypeError(f"metrics must be a sequence of names, got {type(metrics).__name__}")
    names = list(metrics)
    if not names:
        raise ValueError("metrics is empty; name at least one of " + str(METRIC_NAMES))
    parsed = {name: _parse(name) for name in names}
    kinds = {kind for kind, _ in parsed.values()}
    n_in, n_out = net.layers[0].n_in, net.layers[-1].n_out
    out_act = net.layers[-1].activation
    if "top_k_accuracy" in kinds and n_out < 2:
        raise ValueError("top-k accuracy needs a network with 2 or more outputs (one per "
                         "class)")
    if "log_loss" in kinds and not (out_act.name == "softmax" or (
            out_act.name == "sigmoid" and 0 < out_act.c <= 1)):
        raise ValueError(f"log_loss needs probabilities: a softmax output, or a sigmoid one "
                         f"with 0 < c <= 1; this network's output is {out_act!r}")
    sparse = _validate.is_sparse(X)
    # sparse X: CSR once (O(nnz)), its chunks predicted from their sparse rows
    Xa = (_validate.sparse_inputs(X, n_in, net.dtype) if sparse
          else _validate.real_array(X, "X"))
    if Xa.ndim != 2 or Xa.shape[1] != n_in or Xa.shape[0] == 0:
        raise ValueError(f"X has shape {Xa.shape}; expected (N, {n_in}) with N >= 1")
    m = Xa.shape[0]
    Ya = _check_targets(Y, m, n_out)
    labels_given = Ya.ndim == 1
    code = net.loss_function.code
    n_classes = max(n_out, 2)
    sums = _Sums(n_out, n_classes, {k for kind, k in parsed.values() if k})
    buf = np.empty((min(m, CHUNK_ROWS), n_out), dtype=net.dtype)
    eps = float(np.finfo(net.dtype).eps)
    need_rows = bool(kinds & {"mae", "rmse", "r2"}) or ("log_loss" in kinds and not labels_given)
    for start in range(0, m, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, m)
        c = stop - start
        xc, yc = Xa[start:stop], Ya[start:stop]
        if not sparse:   # (sparse_inputs checked every stored value)
            _finite(xc, "X", start)
        _finite(yc, "Y", start)
        pred = net.predict(xc, out=buf[:c])
        if "loss" in kinds:
            sums.loss += net.loss(xc, yc) * c
        rows = (_validate.targets(yc, c, n_out, np.float64, code, False) if need_rows
                else None)
        if kinds & {"accuracy", "precision", "recall", "f1", "top_k_accuracy", "log_loss"}:
            if labels_given:
                true = yc.astype(np.intp)
            else:
                ycf = rows if rows is not None else _validate.targets(
                    yc, c, n_out, np.float64, code, False)
                true = (ycf[:, 0] >= 0.5).astype(np.intp) if n_out == 1 \
                    else ycf.argmax(axis=1)
            guess = (pred[:, 0] >= 0.5).astype(np.intp) if n_out == 1 else pred.argmax(axis=1)
            sums.confusion += np.bincount(true * n_classes + guess,
                                          minlength=n_classes * n_classes
                                          ).reshape(n_classes, n_classes)
            if sums.top_k:
                score = pred[np.arange(c), true]
                higher = (pred > score[:, None]).sum(axis=1)
                for k in sums.top_k:
                    sums.top_k[k] += int((higher < k).sum())
            if "log_loss" in kinds:
                p = np.clip(pred, eps, 1 - eps)
                if n_out == 1:   # the columns (1 - p, p), each clipped
                    q = np.clip(1 - pred[:, 0], eps, 1 - eps)
                    sums.log_loss -= float(np.sum(rows[:, 0] * np.log(p[:, 0])
                                                  + (1 - rows[:, 0]) * np.log(q)))
                elif labels_given:
                    sums.log_loss -= float(np.sum(np.log(p[np.arange(c), true])))
                else:
                    sums.log_loss -= float(np.sum(rows * np.log(p)))
        if rows is not None and kinds & {"mae", "rmse", "r2"}:
            err = rows - pred
            sums.abs_err += np.abs(err).sum(axis=0)
            sums.sq_err += (err * err).sum(axis=0)
            sums.add_targets(rows)
        sums.rows += c
    return {name: _value(kind, k, sums) for name, (kind, k) in parsed.items()}


def _value(kind, k, s):
    n = s.rows
    C = s.confusion
    tp = np.diag(C).astype(np.float64)
    true_n, pred_n = C.sum(axis=1), C.sum(axis=0)
    present = (true_n + pred_n) > 0
    if kind == "loss":
        return s.loss / n
    if kind == "accuracy":
        return float(tp.sum() / n)
    if kind == "top_k_accuracy":
        return s.top_k[k] / n
    if kind in ("precision", "recall", "f1"):
        denom = {"precision": pred_n, "recall": true_n, "f1": (pred_n + true_n) / 2}[kind]
        per_class = np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0)
        return float(per_class[present].mean())
    if kind == "log_loss":
        return s.log_loss / n
    if kind == "mae":
        return float(np.mean(s.abs_err / n))
    if kind == "rmse":
        return float(np.mean(np.sqrt(s.sq_err / n)))
    if kind == "r2":
        if n < 2:
            return math.nan
        sse, sst = s.sq_err, s.m2
        r2 = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1),
                      np.where(sse == 0, 1.0, 0.0))
        return float(np.mean(r2))
    raise AssertionError(kind)  # pragma: no cover


def summary(net) -> str:
    """The text of ``Network.summary``."""
    rows = [("layer", "type", "activation", "output shape", "parameters")]
    total = 0
    for l, ly in enumerate(net.layers):
        count = ly.n_in * ly.n_out + ly.n_out
        if ly.activation.trainable:
            count += len(ly.activation.param_names)
        total += count
        rows.append((str(l), type(ly).__name__, repr(ly.activation), f"(N, {ly.n_out})",
                     f"{count:,}"))
        if ly.dropout:
            rows.append(("", "Dropout", f"p={ly.dropout!r}", f"(N, {ly.n_out})", "0"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"Network: {net.sizes[0]} inputs, loss {net.loss_name}, dtype {net.dtype.name}, "
             f"backend {net.backend}"]
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i < 4 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    lines.append(f"total parameters: {total:,}")
    lines.append(f"optimizer: {net.optimizer!r}")
    return "\n".join(lines)

