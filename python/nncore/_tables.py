"""The command line's data: reading CSV files with a header row, ``.npy`` and ``.npz`` arrays;
their targets as classes or numbers; and the record a saved model keeps of them (``"meta"`` in
its configuration: the feature columns, the scaling, the target's name and the class names).

Everything that is wrong with a file is a ValueError that names the file, and for a CSV the
line (from 1, the header being line 1) and the column by name; for an array the row and column
index. The values are read with NumPy (``ndarray.astype`` from the text fields); only a field
it refuses is looked at again, to name it.
"""
from __future__ import annotations

import csv
import difflib
import json
import os
import sys

import numpy as np

from . import io as _io

__all__ = ["Table", "read_table", "FORMATS"]

FORMATS = (".csv", ".npy", ".npz")


class Table:
    """Features X (N, d) float64 with their column names, and the target column (N,) (text
    or numbers, or None) with its name; ``lines`` gives each row's place in the file for
    messages (a CSV's line numbers, else row indices)."""

    def __init__(self, path, X, columns, y=None, target=None, lines=None, unit="line"):
        self.path, self.X, self.columns = path, X, list(columns)
        self.y, self.target = y, target
        self.lines = np.arange(X.shape[0]) if lines is None else lines
        self.unit = unit   # "line" (CSV, from 1) or "row" (arrays, from 0)

    def where(self, i, column):
        """'FILE, line L, column 'name'' for row i of the data."""
        return f"{self.path}, {self.unit} {int(self.lines[i])}, column {column!r}"


def _suggest(name, names):
    close = difflib.get_close_matches(name, names, n=1)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f"; did you mean {close[0]!r}?" if close else ""


def _format(path):
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"{path}: unknown data format {ext or '(no extension)'!r}; nncore "
                         f"reads {', '.join(FORMATS)}")
    return ext


def read_table(path, target=None, columns=None, need_target=True):
    """The Table of ``path``.

    target : name of the target column (CSV), its index (``.npy``, default the last column)
        or the key of its array (``.npz``, default ``"y"``); None takes the default.
    columns : the feature columns a model was trained on (predict, evaluate): a CSV must have
        them (in any order; others are ignored), an array exactly that many columns, plus the
        target's when ``need_target``.
    need_target : whether a target must be present (train, evaluate) or may be (predict).
    """
    ext = _format(path)
    if ext == ".csv":
        return _read_csv(path, target, columns, need_target)
    return _read_array(path, ext, target, columns, need_target)


# -- CSV -----------------------------------------------------------------------------------------

def _read_csv(path, target, columns, need_target):
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path} is empty: nncore expects a header row of column "
                             f"names, then one row per example") from None
        except csv.Error as exc:
            raise ValueError(f"{path}, line 1: {exc}") from None
        header = [name.strip() for name in header]
        for j, name in enumerate(header):
            if not name:
                raise ValueError(f"{path}, line 1: column {j + 1} has no name")
            if header.index(name) != j:
                raise ValueError(f"{path}, line 1: the column {name!r} appears twice")
        rows, lines = [], []
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue   # a blank line
                if len(row) != len(header):
                    raise ValueError(f"{path}, line {reader.line_num}: {len(row)} fields, "
                                     f"but the header names {len(header)} columns")
                rows.append(row)
                lines.append(reader.line_num)
        except csv.Error as exc:
            raise ValueError(f"{path}, line {reader.line_num}: {exc}") from None
    if not rows:
        raise ValueError(f"{path} has a header but no rows of data")
    if target is None and columns is None:
        target = header[-1]
    if target is not None and target not in header:
        if need_target:
            raise ValueError(f"{path} has no column {target!r}{_suggest(target, header)} "
                             f"(its columns: {', '.join(header[:20])})")
        target = None
    if columns is None:
        columns = [name for name in header if name != target]
        if not columns:
            raise ValueError(f"{path} has only the target column {target!r}: no features")
    else:
        missing = [name for name in columns if name not in header]
        if missing:
            raise ValueError(f"{path} lacks the column {missing[0]!r} that the model was "
                             f"trained on{_suggest(missing[0], header)}"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    table = np.array(rows, dtype=str)
    lines = np.array(lines)
    X = np.empty((len(rows), len(columns)))
    for j, name in enumerate(columns):
        X[:, j] = _numbers(table[:, header.index(name)], path, lines, name)
    y = None
    if target is not None:
        y = np.char.strip(table[:, header.index(target)])
        empty = np.flatnonzero(y == "")
        if empty.size:
            raise ValueError(f"{path}, line {lines[empty[0]]}, column {target!r}: the target "
                             f"is empty (a missing value)")
    return Table(path, X, columns, y, target, lines)


def _numbers(fields, path, lines, name):
    """The text fields of one CSV column as float64, or a ValueError naming the first bad one
    (not a number, empty, NaN or infinite)."""
    try:
        values = fields.astype(np.float64)
    except ValueError:
        values = None
    if values is not None:
        bad = np.flatnonzero(~np.isfinite(values))
        if not bad.size:
            return values
        i = bad[0]
        raise ValueError(f"{path}, line {lines[i]}, column {name!r}: {fields[i].strip()!r} is "
                         f"not finite; nncore trains on finite numbers")
    for i, text in enumerate(fields):
        try:
            float(text)
        except ValueError:
            what = "empty (a missing value)" if not text.strip() else \
                f"{text.strip()!r} is not a number"
            raise ValueError(f"{path}, line {lines[i]}, column {name!r}: {what}") from None
    raise ValueError(f"{path}, column {name!r}: could not be read as numbers")  # not reached


# -- arrays --------------------------------------------------------------------------------------

def _real_2d(arr, path, what):
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {what} has dtype {arr.dtype}; nncore reads numbers "
                         f"(bool, int, float)")
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{path}: {what} has shape {arr.shape}; expected rows of examples "
                         f"(N, features) with N >= 1")
    arr = arr.astype(np.float64)
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise ValueError(f"{path}: {what}[{i}, {j}] is {arr[i, j]}; nncore trains on finite "
                         f"numbers")
    return arr


def _read_array(path, ext, target, columns, need_target):
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:   # object arrays, not a .npy
        raise ValueError(f"{path} could not be read as {ext} ({exc})") from None
    if ext == ".npz":
        with data:
            return _from_npz(path, dict(data.items()), target, columns, need_target)
    arr = _real_2d(data, path, "the array")
    n = arr.shape[1]
    if columns is not None:   # a model's features, and maybe its target column
        idx = target if isinstance(target, int) and not isinstance(target, bool) else None
        if n == len(columns):
            return Table(path, arr, columns, unit="row")
        if idx is not None and n == len(columns) + 1:
            keep = [j for j in range(n) if j != idx % n]
            return Table(path, arr[:, keep], columns, arr[:, idx], f"column {idx % n}",
                         unit="row")
        raise ValueError(f"{path} has {n} columns; the model takes {len(columns)} features"
                         + (f" (and reads its target from column {idx})" if idx is not None
                            else ""))
    try:
        idx = -1 if target is None else int(target)
    except ValueError:
        raise ValueError(f"--target for a .npy file is a column index, got {target!r}") \
            from None
    if n < 2:
        raise ValueError(f"{path} has {n} column; it needs features and a target column")
    if not -n <= idx < n:
        raise ValueError(f"{path} has {n} columns; no column {idx}")
    idx %= n
    keep = [j for j in range(n) if j != idx]
    return Table(path, arr[:, keep], [f"x{j}" for j in keep], arr[:, idx], f"column {idx}",
                 unit="row")


def _from_npz(path, arrays, target, columns, need_target):
    key = "y" if target is None else str(target)
    others = [k for k in arrays if k != key]
    if "X" in arrays and key != "X":
        xkey = "X"
    elif len(others) == 1:
        xkey = others[0]
    else:
        raise ValueError(f"{path} holds the arrays {sorted(arrays)}; nncore reads the "
                         f"features from 'X' and the target from {key!r}")
    X = _real_2d(arrays[xkey], path, repr(xkey))
    y = None
    if key in arrays:
        y = arrays[key]
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"{path}: {key!r} has shape {y.shape}; expected ({X.shape[0]},), "
                             f"one target per row of {xkey!r}")
        if y.dtype.kind not in "biufUS":
            raise ValueError(f"{path}: {key!r} has dtype {y.dtype}; expected numbers or text")
        if y.dtype.kind == "S":
            y = y.astype(str)
    elif need_target:
        raise ValueError(f"{path} has no target array {key!r}{_suggest(key, list(arrays))} "
                         f"(its arrays: {sorted(arrays)})")
    if columns is not None and X.shape[1] != len(columns):
        raise ValueError(f"{path}: {xkey!r} has {X.shape[1]} columns; the model takes "
                         f"{len(columns)} features")
    names = columns if columns is not None else [f"x{j}" for j in range(X.shape[1])]
    return Table(path, X, names, y, key if y is not None else None, unit="row")


# -- targets, and the model's record of its data (for the command line) ------------------

META_FORMAT = "nncore.cli/1"
MAX_AUTO_CLASSES = 20   # integer targets with more distinct values are taken as regression


def as_numbers(table, what="the target of a regression"):
    """The table's target as float64, or a ValueError naming the first field that is not a
    number."""
    y = table.y
    if y.dtype.kind in "biuf":
        return y.astype(np.float64)
    try:
        values = y.astype(np.float64)
    except ValueError:
        for i, text in enumerate(y):
            try:
                float(text)
            except ValueError:
                raise ValueError(f"{table.where(i, table.target)}: {str(text)!r} is not a "
                                 f"number ({what})") from None
        raise
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"{table.where(bad[0], table.target)}: {str(y[bad[0]])!r} is not "
                         f"finite")
    return values


def task_of(table, task):
    """ "classification" or "regression": as asked, or from the target's values (text, bools or
    at most MAX_AUTO_CLASSES distinct integers: classes)."""
    if task != "auto":
        return task
    if table.y.dtype.kind == "b":
        return "classification"
    try:
        values = table.y.astype(np.float64)
    except ValueError:
        return "classification"
    if np.all(np.isfinite(values)) and np.all(values == np.round(values)) \
            and len(np.unique(values)) <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def class_values(table):
    """The target as numbers when every value is one, else as text (a class is then the
    stripped text)."""
    if table.y.dtype.kind in "biuf":
        return table.y.astype(np.float64)
    try:
        values = table.y.astype(np.float64)
    except ValueError:
        return table.y.astype(str)
    return values if np.all(np.isfinite(values)) else table.y.astype(str)


def json_classes(classes):
    if classes.dtype.kind == "f":
        return [int(c) if c == int(c) else float(c) for c in classes]
    return [str(c) for c in classes]


def labels_of(table, classes):
    """The table's target as indices into the model's classes; a value that is not one of
    them is an error naming its line and column."""
    numeric = all(not isinstance(c, str) for c in classes)
    if numeric:
        values = as_numbers(table, "this model's classes are numbers")
        ref = np.asarray(classes, dtype=np.float64)
    else:
        values = table.y.astype(str)
        ref = np.asarray(classes, dtype=str)
    order = np.argsort(ref)
    pos = np.searchsorted(ref[order], values).clip(0, len(ref) - 1)
    idx = order[pos]
    unknown = np.flatnonzero(ref[idx] != values)
    if unknown.size:
        i = unknown[0]
        shown = ", ".join(repr(c) for c in classes[:12]) + (", ..." if len(classes) > 12
                                                             else "")
        raise ValueError(f"{table.where(i, table.target)}: {str(table.y[i])!r} is not one of the "
                         f"model's classes ({shown})")
    return idx.astype(np.int64)


def split_rows(n, fraction, seed):
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * fraction))
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"--test-fraction {fraction} holds out {n_test} of the {n} "
                         f"examples; it must leave at least one on each side")
    return order[n_test:], order[:n_test]


def read_meta(path):
    """The command line's record in a saved model, or None for a network saved from Python
    (read after Network.load has checked the whole file)."""
    with np.load(_io._resolve(path), allow_pickle=False) as f:
        meta = json.loads(str(f["config"])).get("meta")
    if meta is not None and meta.get("format") != META_FORMAT:
        raise ValueError(f"{path}: its 'meta' is not the command line's ({META_FORMAT})")
    return meta


def load_model(path):
    """(the Network saved at path, its record of the data: the saved one, or for a network
    saved from Python one that reads its inputs in order, unscaled)."""
    from .network import Network

    net = Network.load(path)
    meta = read_meta(path)
    if meta is None:    # saved from Python: columns in order, no scaling
        n_in, n_out = net.layers[0].n_in, net.layers[-1].n_out
        classifier = net.loss_name in ("cross_entropy", "binary_cross_entropy")
        meta = {"task": "classification" if classifier else "regression",
                "columns": [f"x{j}" for j in range(n_in)], "target": None}
        if classifier:
            meta["classes"] = list(range(max(n_out, 2)))
    else:
        check_meta(path, net, meta)
    return net, meta


def check_meta(path, net, meta):
    n_in = net.layers[0].n_in
    ok = (meta.get("task") in ("classification", "regression")
          and isinstance(meta.get("columns"), list) and len(meta["columns"]) == n_in
          and all(isinstance(c, str) for c in meta["columns"]))
    if ok and "mean" in meta:
        ok = all(isinstance(meta.get(k), list) and len(meta[k]) == n_in
                 and all(isinstance(v, (int, float)) and np.isfinite(v) for v in meta[k])
                 for k in ("mean", "std")) and all(v > 0 for v in meta["std"])
    if ok and meta["task"] == "classification":
        ok = isinstance(meta.get("classes"), list) and \
            len(meta["classes"]) == max(net.layers[-1].n_out, 2)
    if not ok:
        raise ValueError(f"{path}: the command line's record of the data does not fit the "
                         f"network (columns, scaling or classes)")


def prepared(table, meta):
    X = table.X
    if "mean" in meta:
        X = (X - np.asarray(meta["mean"])) / np.asarray(meta["std"])
    return X


def write_csv(path, header, rows):
    """Write a header and rows as CSV to path (replacing it whole at the end) or, for None,
    to standard output."""
    if path is None:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        try:
            writer.writerow(header)
            writer.writerows(rows)
            sys.stdout.flush()
        except BrokenPipeError:   # e.g. piped into head: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
