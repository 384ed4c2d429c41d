"""fit's callbacks: the protocol, ModelCheckpoint and CSVLogger."""
import csv
import os

import numpy as np
import pytest

import nncore

DTYPES = ["float32", "float64"]
BACKENDS = ["cython", "numpy"]


def problem(seed=0, n=120):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    return X, y


def make(dtype="float64", backend="cython", seed=0):
    return nncore.Network([4, 6, 2], activation="tanh", loss="cross_entropy", seed=seed,
                          dtype=dtype, backend=backend)


class Recorder(nncore.Callback):
    def __init__(self, stop_at=None):
        self.calls, self.stop_at = [], stop_at

    def on_train_begin(self, network, keys):
        self.calls.append(("begin", tuple(keys)))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch", epoch, dict(logs)))
        logs["loss"] = -1.0    # a callback's changes do not reach the others
        return epoch == self.stop_at

    def on_train_end(self, history):
        self.calls.append(("end", len(history)))


def test_the_protocol_sees_every_epoch_with_its_logs():
    net = make()
    X, y = problem()
    first, second = Recorder(), Recorder()
    history = net.fit(X, y, epochs=4, lr=0.1, validation_split=0.25, metrics=("accuracy",),
                      callbacks=[first, second])
    assert first.calls == second.calls
    keys = ("loss", "val_loss", "accuracy", "val_accuracy", "lr")
    assert first.calls[0] == ("begin", keys)
    assert first.calls[-1] == ("end", 4)
    epochs = first.calls[1:-1]
    assert [c[1] for c in epochs] == [0, 1, 2, 3]
    assert [c[2]["loss"] for c in epochs] == list(history)
    assert [c[2]["val_loss"] for c in epochs] == history.val_loss
    assert [c[2]["val_accuracy"] for c in epochs] == history.metrics["val_accuracy"]
    assert all(tuple(c[2]) == keys for c in epochs)


def test_a_callback_stops_training_and_the_old_callback_still_works():
    net = make()
    X, y = problem()
    seen = []
    stopper = Recorder(stop_at=1)
    history = net.fit(X, y, epochs=5, lr=0.1, callback=lambda e, loss: seen.append((e, loss)),
                      callbacks=[stopper])
    assert len(history) == 2 and history.stopped_early
    assert seen == list(enumerate(history))
    assert stopper.calls[-1] == ("end", 2)
    # the old callback stopping still lets the new ones see that epoch
    other = Recorder()
    history = make().fit(X, y, epochs=5, lr=0.1, callback=lambda e, loss: e == 2,
                         callbacks=[other])
    assert len(history) == 3 and [c[1] for c in other.calls[1:-1]] == [0, 1, 2]


def test_on_train_end_runs_when_training_fails():
    net = make()
    X, y = problem()

    class Boom(nncore.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                raise RuntimeError("boom")

    rec = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        net.fit(X, y, epochs=5, lr=0.1, callbacks=[rec, Boom()])
    assert rec.calls[-1] == ("end", 3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_model_checkpoint_keeps_the_best_epoch(tmp_path, dtype, backend):
    X, y = problem(1)
    Xv, yv = problem(2, n=60)
    net = make(dtype, backend)
    ckpt = nncore.ModelCheckpoint(tmp_path / "best", monitor="val_loss")
    # a large rate: the validation loss goes up and down, so the best is not the last
    history = net.fit(X, y, epochs=12, lr=2.0, batch_size=8, validation_data=(Xv, yv),
                      callbacks=[ckpt])
    best = int(np.argmin(history.val_loss))
    assert ckpt.best_epoch == best and ckpt.best == history.val_loss[best]
    assert ckpt.saved[-1] == str(tmp_path / "best.npz")
    assert len(ckpt.saved) == sum(v < min(history.val_loss[:i], default=np.inf)
                                  for i, v in enumerate(history.val_loss))
    loaded = nncore.Network.load(tmp_path / "best.npz", backend=backend)
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.loss(Xv, yv) == history.val_loss[best]
    assert ckpt._network is None    # no reference kept after fit
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


def test_model_checkpoint_every_epoch_with_a_pattern_and_accuracy_monitored(tmp_path):
    X, y = problem()
    net = make()
    ckpt = nncore.ModelCheckpoint(tmp_path / "m-{epoch:02d}-{loss:.3f}.npz",
                                  monitor="accuracy", save_best_only=False)
    history = net.fit(X, y, epochs=3, lr=0.5, metrics=("accuracy",), callbacks=[ckpt])
    names = sorted(os.listdir(tmp_path))
    assert names == [f"m-{e + 1:02d}-{history[e]:.3f}.npz" for e in range(3)]
    acc = history.metrics["accuracy"]
    assert ckpt.best == max(acc) and ckpt.best_epoch == acc.index(max(acc))


def test_model_checkpoint_saves_are_atomic(tmp_path, monkeypatch):
    X, y = problem()
    net = make()
    ckpt = nncore.ModelCheckpoint(tmp_path / "m.npz", monitor="loss", save_best_only=False)
    net.fit(X, y, epochs=1, lr=0.1, callbacks=[ckpt])
    before = (tmp_path / "m.npz").read_bytes()
    real = np.savez

    def failing(f, **arrays):
        real(f, **arrays)
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing)
    with pytest.raises(OSError, match="disk full"):
        net.fit(X, y, epochs=2, lr=0.1, callbacks=[ckpt])
    assert (tmp_path / "m.npz").read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.parametrize("make_cb, message", [
    (lambda p: nncore.ModelCheckpoint(p / "m.npz"), r"monitors 'val_loss', which this fit "
                                                    r"does not log \(give validation_data"),
    (lambda p: nncore.ModelCheckpoint(p / "m.npz", monitor="accuracy"),
     r"monitors 'accuracy'"),
    (lambda p: nncore.ModelCheckpoint(p / "no" / "m.npz", monitor="loss"),
     r"the folder .* does not exist"),
    (lambda p: nncore.CSVLogger(p / "no" / "log.csv"), r"the folder .* does not exist"),
    (lambda p: nncore.CSVLogger(p), r"is a folder"),
])
def test_a_refused_fit_changes_nothing(tmp_path, make_cb, message):
    X, y = problem()
    net = make()
    W = [ly.W.copy() for ly in net.layers]
    state = net._rng.bit_generator.state
    with pytest.raises(ValueError, match=message):
        net.fit(X, y, epochs=2, lr=0.1, callbacks=[make_cb(tmp_path)])
    assert all(np.array_equal(a, ly.W) for a, ly in zip(W, net.layers))
    assert net._rng.bit_generator.state == state
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("bad, error, message", [
    (nncore.CSVLogger("log.csv"), TypeError, r"callbacks must be a list"),
    ([object()], TypeError, r"needs an on_epoch_end\(epoch, logs\) method; object has none"),
    (5, TypeError, r"callbacks must be a list"),
])
def test_bad_callbacks_are_refused(bad, error, message):
    X, y = problem()
    with pytest.raises(error, match=message):
        make().fit(X, y, epochs=1, lr=0.1, callbacks=bad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_csv_logger_writes_each_epoch_exactly(tmp_path, dtype):
    X, y = problem()
    net = make(dtype)
    path = tmp_path / "log.csv"
    history = net.fit(X, y, epochs=3, lr=0.1, validation_split=0.2,
                      callbacks=[nncore.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "val_loss", "lr"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    assert [float(r[1]) for r in rows[1:]] == list(history)
    assert [float(r[2]) for r in rows[1:]] == history.val_loss
    assert [float(r[3]) for r in rows[1:]] == history.lr
    # append: no second header
    net.fit(X, y, epochs=2, lr=0.1, validation_split=0.2,
            callbacks=[nncore.CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 6 and rows.count(rows[0]) == 1


def test_csv_logger_leaves_an_existing_file_alone_when_fit_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("earlier run\n")
    X, y = problem()
    with pytest.raises(ValueError, match="lr"):
        make().fit(X, y, epochs=2, lr=-1.0, callbacks=[nncore.CSVLogger(path)])
    with pytest.raises(ValueError, match="monitors 'val_loss'"):
        make().fit(X, y, epochs=2, lr=0.1, callbacks=[nncore.CSVLogger(path),
                                                       nncore.ModelCheckpoint(tmp_path / "m")])
    assert path.read_text() == "earlier run\n"


def test_csv_logger_is_closed_and_complete_when_training_fails(tmp_path):
    X, y = problem()
    path = tmp_path / "log.csv"
    logger = nncore.CSVLogger(path)

    class Boom(nncore.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        make().fit(X, y, epochs=4, lr=0.1, callbacks=[logger, Boom()])
    assert logger._file is None
    assert len(path.read_text().splitlines()) == 3   # header + epochs 0 and 1


def test_the_docstring_examples_run():
    import doctest

    import nncore.callbacks
    result = doctest.testmod(nncore.callbacks, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
