"""The command line: ``nncore train`` and ``nncore bench`` (also ``python -m nncore ...``)."""
import argparse
import sys
import time

import numpy as np

from . import bench
from ._version import __version__
from .activations import ACTIVATION_NAMES
from .datasets import load_digits
from .network import BACKENDS, Network
from .optimizers import OPTIMIZER_NAMES
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


def train(args):
    _check_plot_support(args.plot)
    if args.patience is not None and not args.validation_split:
        raise ValueError("--patience stops on the validation loss: give --validation-split")
    X_train, y_train, X_test, y_test = split_digits(args.test_fraction, args.seed)
    sizes = [X_train.shape[1], *args.hidden, 10]
    net = Network(sizes, activation=args.activation, output="softmax", loss="cross_entropy",
                  seed=args.seed, dtype=args.dtype, backend=args.backend,
                  optimizer=args.optimizer)
    print(f"digits: {len(y_train)} training, {len(y_test)} held-out examples")
    print(net)
    print(f"optimizer: {net.optimizer!r}")
    # on a terminal a progress bar (on stderr); otherwise one line per epoch on stdout
    bar = sys.stderr.isatty()

    def report(epoch, loss):
        if not bar:
            print(f"epoch {epoch + 1:3d}  loss {loss:.4f}")

    start = time.perf_counter()
    history = net.fit(
        X_train, y_train, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        callback=report, validation_split=args.validation_split,
        schedule=None if args.schedule == "none" else args.schedule,
        early_stopping=None if args.patience is None else EarlyStopping(patience=args.patience),
        verbose=1 if bar else 0)
    elapsed = time.perf_counter() - start
    if history.val_loss:
        print(f"validation loss: best {min(history.val_loss):.4f} (epoch "
              f"{history.best_epoch + 1})" + (", stopped early" if history.stopped_early
                                               else ""))
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        history.plot(ax)
        ax.set_title(f"nncore on the digits: {type(net.optimizer).__name__}, {args.schedule}")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        plt.close(fig)
        print(f"plot saved to {args.plot}")
    accuracy = float((net.predict(X_test).argmax(axis=1) == y_test).mean())
    print(f"trained in {elapsed:.2f} s")
    print(f"held-out accuracy: {accuracy:.4f}")
    if args.save:
        print(f"saved to {net.save(args.save)}")
    return accuracy


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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="nncore", description="nncore: train on the shipped digits, or time the core.")
    parser.add_argument("--version", action="version", version=f"nncore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a network on the shipped 8x8 digits")
    t.add_argument("--hidden", type=_number(int, 1), nargs="*", default=[64], metavar="N",
                   help="hidden layer sizes (default: 64)")
    t.add_argument("--activation", default="relu", choices=ACTIVATION_NAMES,
                   help="hidden activation (default: relu)")
    t.add_argument("--epochs", type=_number(int, 0), default=30, help="default: 30")
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
                   help="update rule, with its default settings (default: sgd)")
    t.add_argument("--schedule", default="none", choices=("none",) + SCHEDULE_NAMES,
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
