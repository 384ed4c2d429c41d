"""The command line (also ``python -m nncore ...``): ``nncore train [DATA]`` on the shipped digits
or on the user's CSV / .npy / .npz file, ``nncore predict``, ``nncore evaluate`` and ``nncore info``
with a saved model, and ``nncore bench``.

A model saved by ``nncore train --save`` is a plain saved Network (``nncore.Network.load`` reads
it) whose configuration also holds, under ``"meta"``, what is needed to read new data the way
the training data were read: the feature columns, the standardisation, the target's name and
the class names (see nncore._tables).
"""
import argparse
import math
import os
import sys
import time

import numpy as np

from . import bench
from . import _validate
from . import io as _io
from ._tables import (FORMATS, MAX_AUTO_CLASSES, META_FORMAT, as_numbers, class_values,
                      json_classes, labels_of, load_model, prepared, read_table, split_rows,
                      task_of, write_csv)
from ._version import __version__
from .activations import ACTIVATION_NAMES, OUTPUT_ONLY
from .datasets import load_digits
from .initializers import INIT_NAMES
from .network import BACKENDS, Network
from .optimizers import OPTIMIZER_NAMES, get_optimizer
from .schedules import SCHEDULE_NAMES
from .training import EarlyStopping


def split_digits(test_fraction, seed):
    """The shipped digits scaled to [0, 1], split at random into training and held-out sets."""
    X, y = load_digits()
    X = X / 16.0
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    if not 1 <= n_test <= len(y) - 1:
        raise ValueError(f"--test-fraction {test_fraction} holds out {n_test} of the {len(y)} "
                         f"examples; it must leave at least one on each side")
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def _check_plot_support(path):
    if path is None:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from ._version import DISTRIBUTION
        raise ValueError(f"--plot needs matplotlib: pip install matplotlib "
                         f"(or pip install \"{DISTRIBUTION}[plot]\")") from None


def _check_output(path, option):
    """Refuse, before any training, an output path that cannot be written: its folder is
    missing or not writable, or the path is a folder."""
    if path is None:
        return
    problem = _validate.output_path_problem(path)
    if problem is not None:
        error, message = problem
        raise error(f"{option} {message}")


def loss_axis_scale(values):
    """"log" when the positive values span two decades or more, else "linear"."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if values.size and values.min() > 0 and values.max() >= 100 * values.min():
        return "log"
    return "linear"


def save_plot(history, path, title):
    """Draw the history's curves (the loss on a log axis when it spans decades) into path;
    returns the loss axis' scale."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    history.plot(ax)
    scale = loss_axis_scale(list(history) + list(history.val_loss))
    ax.set_yscale(scale)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return scale


def _fit(net, X, y, args):
    """Train as the options say; returns (history, seconds)."""
    bar = sys.stderr.isatty()   # a progress bar on a terminal, else a line per epoch

    def report(epoch, loss):
        if not bar:
            print(f"epoch {epoch + 1:3d}  loss {loss:.4f}")

    start = time.perf_counter()
    history = net.fit(
        X, y, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        callback=report, validation_split=args.validation_split,
        schedule=None if args.schedule == "none" else args.schedule,
        early_stopping=None if args.patience is None else EarlyStopping(patience=args.patience),
        verbose=1 if bar else 0)
    elapsed = time.perf_counter() - start
    if history.val_loss:
        print(f"validation loss: best {min(history.val_loss):.4f} (epoch "
              f"{history.best_epoch + 1})" + (", stopped early" if history.stopped_early
                                               else ""))
    return history, elapsed


def _check_train_options(args):
    _check_plot_support(args.plot)
    _check_output(args.plot, "--plot")
    _check_output(None if args.save is None else _io._npz_path(args.save), "--save")
    if args.patience is not None and not args.validation_split:
        raise ValueError("--patience stops on the validation loss: give --validation-split")


def train(args):
    _check_train_options(args)
    if args.data is not None:
        return train_on_file(args)
    if args.target is not None or args.standardize or args.task != "auto":
        raise ValueError("--target, --task and --standardize go with a DATA file")
    X_train, y_train, X_test, y_test = split_digits(args.test_fraction, args.seed)
    sizes = [X_train.shape[1], *args.hidden, 10]
    net = Network(sizes, activation=args.activation, output="softmax", loss="cross_entropy",
                  seed=args.seed, dtype=args.dtype, backend=args.backend,
                  optimizer=get_optimizer(args.optimizer, clip_norm=args.clip_norm),
                  init=args.init)
    print(f"digits: {len(y_train)} training, {len(y_test)} held-out examples")
    print(net)
    print(f"optimizer: {net.optimizer!r}")
    history, elapsed = _fit(net, X_train, y_train, args)
    if args.plot:
        save_plot(history, args.plot,
                  f"nncore on the digits: {type(net.optimizer).__name__}, {args.schedule}")
        print(f"plot saved to {args.plot}")
    accuracy = float((net.predict(X_test).argmax(axis=1) == y_test).mean())
    print(f"trained in {elapsed:.2f} s")
    print(f"held-out accuracy: {accuracy:.4f}")
    if args.save:
        meta = {"format": META_FORMAT, "task": "classification", "source": "digits",
                "columns": [f"pixel{i}" for i in range(64)], "target": "digit",
                "classes": list(range(10)), "mean": [0.0] * 64, "std": [16.0] * 64}
        print(f"saved to {_io.save(net, args.save, meta=meta)}")
    return accuracy


# -- the user's data -----------------------------------------------------------------------------


def train_on_file(args):
    table = read_table(args.data, target=args.target)
    task = task_of(table, args.task)
    meta = {"format": META_FORMAT, "task": task, "source": os.path.splitext(args.data)[1],
            "columns": table.columns,
            "target": table.target if not args.data.lower().endswith(".npy")
            else int(table.target.split()[-1])}
    if task == "classification":
        values = class_values(table)
        classes = np.unique(values)
        if len(classes) < 2:
            raise ValueError(f"{args.data}: the target {table.target!r} holds one class "
                             f"({classes[0]!r}); a classifier needs two or more")
        meta["classes"] = json_classes(classes)
        y = labels_of(table, meta["classes"])
        n_out = len(classes)
    else:
        y = as_numbers(table)
        n_out = 1
    train_rows, test_rows = split_rows(len(y), args.test_fraction, args.seed)
    X = table.X
    if args.standardize:
        mean = X[train_rows].mean(axis=0)
        std = X[train_rows].std(axis=0)
        std[std == 0] = 1.0     # a constant column stays constant (0)
        meta["mean"], meta["std"] = mean.tolist(), std.tolist()
        X = (X - mean) / std
        if task == "regression":
            y_mean, y_std = float(y[train_rows].mean()), float(y[train_rows].std()) or 1.0
            meta["y_mean"], meta["y_std"] = y_mean, y_std
            y = (y - y_mean) / y_std
    sizes = [X.shape[1], *args.hidden, n_out]
    net = Network(sizes, activation=args.activation,
                  output="softmax" if task == "classification" else "identity",
                  loss="cross_entropy" if task == "classification" else "mse",
                  seed=args.seed, dtype=args.dtype, backend=args.backend,
                  optimizer=get_optimizer(args.optimizer, clip_norm=args.clip_norm),
                  init=args.init)
    what = (f"{len(meta['classes'])} classes" if task == "classification"
            else "a regression")
    print(f"{args.data}: {len(train_rows)} training, {len(test_rows)} held-out examples, "
          f"{X.shape[1]} features; target {table.target!r}: {what}")
    print(net)
    print(f"optimizer: {net.optimizer!r}")
    history, elapsed = _fit(net, X[train_rows], y[train_rows], args)
    if args.plot:
        save_plot(history, args.plot, f"nncore on {os.path.basename(args.data)}")
        print(f"plot saved to {args.plot}")
    print(f"trained in {elapsed:.2f} s")
    scores = _scores(net, X[test_rows], y[test_rows], meta)
    for name, value in scores.items():
        print(f"held-out {name}: {value:.4f}")
    if args.save:
        print(f"saved to {_io.save(net, args.save, meta=meta)}")
    return scores


def _scores(net, X, y, meta):
    """The metrics of a model on prepared (X, y), regression errors in the target's units."""
    if meta["task"] == "classification":
        names = ["accuracy", "precision", "recall", "f1", "log_loss"]
        return net.evaluate(X, y, names)
    scores = net.evaluate(X, y, ["mae", "rmse", "r2"])
    y_std = meta.get("y_std", 1.0)
    scores["mae"] *= y_std
    scores["rmse"] *= y_std
    return scores


# -- using a saved model -------------------------------------------------------------------------


def _read_for(args, meta, need_target):
    target = meta.get("target")
    return read_table(args.data, target=target, columns=meta["columns"],
                      need_target=need_target)


def predict(args):
    _check_output(args.output, "-o")
    net, meta = load_model(args.model)
    table = _read_for(args, meta, need_target=False)
    out = net.predict(prepared(table, meta))
    if meta["task"] == "classification":
        classes = meta["classes"]
        if args.proba:
            header = [str(c) for c in classes]
            if out.shape[1] == 1:
                out = np.c_[1 - out, out]
            rows = ([repr(float(v)) for v in row] for row in out)
        else:
            header = [str(meta.get("target") or "class")]
            picked = (out[:, 0] >= 0.5).astype(int) if out.shape[1] == 1 else out.argmax(1)
            rows = ([str(classes[i])] for i in picked)
    else:
        if args.proba:
            raise ValueError("--proba gives class probabilities; this model is a regression")
        out = out.astype(np.float64) * meta.get("y_std", 1.0) + meta.get("y_mean", 0.0)
        name = meta.get("target")
        header = ([str(name)] if out.shape[1] == 1 and name is not None
                  else [f"y{j}" for j in range(out.shape[1])])
        rows = ([repr(float(v)) for v in row] for row in out)
    write_csv(args.output, header, rows)
    if args.output:
        print(f"{len(out)} predictions written to {args.output}")


def evaluate(args):
    net, meta = load_model(args.model)
    table = _read_for(args, meta, need_target=True)
    X = prepared(table, meta)
    if meta["task"] == "classification":
        y = labels_of(table, meta["classes"])
        if net.layers[-1].n_out == 1:
            y = y.astype(np.float64)
    else:
        y = (as_numbers(table) - meta.get("y_mean", 0.0)) / meta.get("y_std", 1.0)
    scores = _scores(net, X, y, meta)
    print(f"{args.data}: {len(y)} examples")
    for name, value in scores.items():
        print(f"{name}: {value:.6g}")
    return scores


def info(args):
    net, meta = load_model(args.model)
    print(net.summary())
    print(f"task: {meta['task']}")
    if meta.get("target") is not None:
        print(f"target: {meta['target']!r}")
    columns = meta["columns"]
    shown = ", ".join(columns[:12]) + (f", ... ({len(columns)} in all)" if len(columns) > 12
                                       else "")
    print(f"features: {shown}")
    if "classes" in meta:
        print(f"classes: {', '.join(str(c) for c in meta['classes'])}")
    print("standardized: " + ("yes (the training rows' mean and std)" if "mean" in meta
                              else "no"))


def _number(kind, low, high=None, low_open=False):
    """An argparse type: a `kind` (int or float) in [low, high) (or (low, high) if low_open)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        above = value > low if low_open else value >= low
        if not (above and (high is None or value < high)):  # NaN fails every comparison
            bounds = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'})"
            raise argparse.ArgumentTypeError(f"must lie in {bounds}, got {text}")
        return value
    return parse


def _named(names, what):
    """An argparse type: one of `names`, matched in any case (as the Python API matches), or
    an error with a "did you mean"."""
    def parse(text):
        try:
            return _validate.lookup(text, names, what)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def build_parser():
    parser = argparse.ArgumentParser(
        prog="nncore", description="nncore: train on your data or the shipped digits, "
                                   "predict and evaluate with a saved model, or time the core.")
    parser.add_argument("--version", action="version", version=f"nncore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a network on a CSV, .npy or .npz file, or on the "
                                     "shipped 8x8 digits")
    t.add_argument("data", nargs="?", metavar="DATA",
                   help=f"the examples ({', '.join(FORMATS)}); the shipped digits when left "
                        f"out. A CSV has a header row; its last column is the target unless "
                        f"--target names another")
    t.add_argument("--target", metavar="NAME",
                   help="the target: a CSV column's name, a .npy column's index (default: the "
                        "last), a .npz array's key (default: y, the features in X)")
    t.add_argument("--task", default="auto", choices=("auto", "classification", "regression"),
                   help="auto: classes when the target holds text or at most "
                        f"{MAX_AUTO_CLASSES} distinct integers, else regression (default)")
    t.add_argument("--standardize", action="store_true",
                   help="scale each feature (and a regression's target) to mean 0 and "
                        "standard deviation 1 over the training rows; the model keeps the "
                        "scaling for new data")
    t.add_argument("--hidden", type=_number(int, 1), nargs="*", default=[64], metavar="N",
                   help="hidden layer sizes (default: 64)")
    t.add_argument("--activation", default="relu", type=_named(ACTIVATION_NAMES, "activation"),
                   choices=[a for a in ACTIVATION_NAMES if a not in OUTPUT_ONLY],
                   help="hidden activation (default: relu)")
    t.add_argument("--init", choices=INIT_NAMES, default=None, type=_named(INIT_NAMES, "init"),
                   help="weight initialiser of every layer (default: he_uniform for relu and "
                        "leaky_relu, glorot_uniform otherwise)")
    t.add_argument("--epochs", type=_number(int, 1), default=30, help="default: 30")
    t.add_argument("--lr", type=_number(float, 0, float("inf"), low_open=True), default=0.1,
                   help="learning rate (default: 0.1)")
    t.add_argument("--batch-size", type=_number(int, 1), default=32, help="default: 32")
    t.add_argument("--seed", type=_number(int, 0), default=0, help="default: 0")
    t.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                   help="default: float64")
    t.add_argument("--backend", default="cython", choices=BACKENDS, help="default: cython")
    t.add_argument("--test-fraction", type=_number(float, 0, 1, low_open=True), default=0.2,
                   help="share of the examples held out (default: 0.2)")
    t.add_argument("--optimizer", default="sgd", choices=OPTIMIZER_NAMES,
                   type=_named(OPTIMIZER_NAMES, "optimizer"),
                   help="update rule, with its default settings (default: sgd)")
    t.add_argument("--clip-norm", type=_number(float, 0, math.inf, low_open=True), default=None,
                   metavar="C", help="clip the gradients of each step to global L2 norm C "
                                     "(default: no clipping)")
    t.add_argument("--schedule", default="none", choices=("none",) + SCHEDULE_NAMES,
                   type=_named(("none",) + SCHEDULE_NAMES, "schedule"),
                   help="learning-rate schedule: step (x0.1 every 10 epochs), exponential "
                        "(x0.95 an epoch), cosine (to 0 over the epochs), plateau (x0.1 after "
                        "10 epochs without progress) (default: none)")
    t.add_argument("--validation-split", type=_number(float, 0, 1), default=0.0,
                   metavar="F", help="share of the training examples held out to validate "
                                     "each epoch (default: 0)")
    t.add_argument("--patience", type=_number(int, 1), default=None, metavar="N",
                   help="stop when the validation loss has not improved for N epochs and "
                        "keep the best epoch's parameters (needs --validation-split)")
    t.add_argument("--plot", metavar="PATH", help="save a PNG of the loss curves "
                                                  "(needs matplotlib)")
    t.add_argument("--save", metavar="PATH", help="save the trained network (.npz)")
    t.set_defaults(func=train)
    p = sub.add_parser("predict", help="predict with a saved model; CSV out")
    p.add_argument("model", metavar="MODEL", help="a model saved by train --save")
    p.add_argument("data", metavar="DATA", help=f"the examples ({', '.join(FORMATS)})")
    p.add_argument("-o", "--output", metavar="OUT.csv",
                   help="write the predictions there (default: standard output)")
    p.add_argument("--proba", action="store_true",
                   help="one column of probabilities per class instead of the class")
    p.set_defaults(func=predict)
    e = sub.add_parser("evaluate", help="a saved model's metrics on labelled data")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("data", metavar="DATA", help="examples with their target column")
    e.set_defaults(func=evaluate)
    i = sub.add_parser("info", help="a saved model's layers, parameters and data")
    i.add_argument("model", metavar="MODEL")
    i.set_defaults(func=info)
    b = sub.add_parser("bench", help="time nncore against plain NumPy, PyTorch and "
                                     "scikit-learn, and print a table",
                       description=bench.DESCRIPTION)
    bench.add_arguments(b)
    b.set_defaults(func=bench.command)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"nncore: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, FloatingPointError, MemoryError) as exc:
        print(f"nncore: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
