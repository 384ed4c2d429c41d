"""A fit that raises under EarlyStopping(restore_best=True) (diverged, interrupted, a callback's
error) leaves the parameters of its best epoch, and its exception says so."""
import sys

import numpy as np
import pytest

import nncore

BACKENDS = ["cython", "numpy"]
DTYPES = ["float32", "float64"]


def make_net(dtype, backend, optimizer="sgd"):
    layers = [nncore.Dense(4, 16, nncore.Sigmoid(c=1.0, beta=1.0, trainable=True)),
              nncore.Dense(16, 3, "softmax")]
    return nncore.Network(layers, loss="cross_entropy", seed=0, dtype=dtype, backend=backend,
                          optimizer=optimizer)


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return X, y


def params(net):
    return [a.copy() for ly in net.layers for a in (ly.W, ly.b, ly.activation._params)]


class Recorder:
    """A fit callback that keeps each finished epoch's parameters and monitored value, and
    raises ``error`` after epoch ``raise_at``."""

    def __init__(self, net, monitor=None, raise_at=None, error=None):
        self.net, self.monitor, self.raise_at, self.error = net, monitor, raise_at, error
        self.params, self.values = [], []

    def __call__(self, epoch, loss):
        self.params.append(params(self.net))
        self.values.append(loss if self.monitor is None else self.monitor())
        if epoch == self.raise_at:
            raise self.error

    def best(self):
        # the first epoch of the lowest value (an improvement must be strict)
        return int(np.argmin(self.values))


def assert_params(net, expected):
    for got, want in zip(params(net), expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")   # the NumPy backend's
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_diverging_fit_restores_the_best_epoch_and_says_so(dtype, backend):
    net = make_net(dtype, backend)
    X, y = data()
    record = Recorder(net)
    # a sane rate for five epochs, then one that throws the weights past the dtype's range
    with pytest.raises(FloatingPointError) as info:
        net.fit(X, y, epochs=20, lr=0.5, batch_size=8, callback=record,
                schedule=lambda epoch, lr: lr if epoch < 5 else 1e30,
                early_stopping=nncore.EarlyStopping(patience=50, monitor="loss"))
    assert len(record.values) == 5
    best = record.best()
    assert_params(net, record.params[best])
    message = str(info.value)
    assert message.startswith("training diverged in epoch 5"), message
    assert (f"fit restored the parameters of its best epoch ({best}, loss "
            f"{record.values[best]:.6g})") in message, message
    assert np.isfinite(net.predict(X)).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_an_interrupted_fit_restores_the_best_epoch_and_says_so(dtype, backend):
    net = make_net(dtype, backend, optimizer="adam")
    X, y = data()
    Xv, yv = data(48, seed=1)
    yv = 2 - yv   # held-out labels that training makes worse: the best epoch is an early one
    record = Recorder(net, monitor=lambda: net.loss(Xv, yv), raise_at=6,
                      error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as info:
        net.fit(X, y, epochs=20, lr=0.05, batch_size=8, callback=record,
                validation_data=(Xv, yv), early_stopping=nncore.EarlyStopping(patience=50))
    best = record.best()
    assert best < 6, record.values   # else restoring would change nothing
    assert not np.array_equal(record.params[best][0], record.params[6][0])
    assert_params(net, record.params[best])
    assert str(info.value) == (f"fit restored the parameters of its best epoch ({best}, "
                               f"val_loss {record.values[best]:.6g}) before this exception "
                               f"left it (EarlyStopping(restore_best=True))")


def test_an_exception_whose_arguments_are_not_a_message_keeps_them_and_gets_a_note():
    net = make_net("float64", "cython")
    X, y = data()
    error = OSError(28, "No space left on device", "log.csv")
    record = Recorder(net, raise_at=3, error=error)
    with pytest.raises(OSError) as info:
        net.fit(X, y, epochs=10, lr=0.5, batch_size=8, callback=record,
                early_stopping=nncore.EarlyStopping(patience=50, monitor="loss"))
    assert info.value is error and error.args == (28, "No space left on device")
    assert (error.errno, error.filename) == (28, "log.csv")
    assert_params(net, record.params[record.best()])
    if sys.version_info >= (3, 11):
        assert len(error.__notes__) == 1
        assert error.__notes__[0].startswith("fit restored the parameters of its best epoch")


@pytest.mark.parametrize("early_stopping", [None, nncore.EarlyStopping(patience=50,
                                                                       monitor="loss",
                                                                       restore_best=False)])
def test_without_restore_best_an_interrupted_fit_keeps_its_last_parameters(early_stopping):
    net = make_net("float64", "cython")
    X, y = data()
    record = Recorder(net, raise_at=4, error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as info:
        net.fit(X, y, epochs=10, lr=0.5, batch_size=8, callback=record,
                early_stopping=early_stopping)
    assert info.value.args == ()
    assert_params(net, record.params[4])


def test_a_fit_that_diverges_before_any_epoch_finished_has_nothing_to_restore():
    net = make_net("float64", "cython")
    X, y = data()
    with pytest.raises(FloatingPointError) as info:
        net.fit(X, y, epochs=3, lr=1e30, batch_size=8,
                early_stopping=nncore.EarlyStopping(patience=5, monitor="loss"))
    assert "restored" not in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_error_from_the_schedule_between_epochs_restores_the_best_epoch(backend):
    # an exception raised by fit's own work between epochs (here the schedule) is handled as
    # one from a callback
    net = make_net("float64", backend)
    X, y = data()
    record = Recorder(net)

    def schedule(epoch, lr):
        if epoch == 4:
            raise ValueError("no rate for epoch 4")
        return lr * (1 if epoch < 2 else 40)   # epochs 2 and 3 overshoot

    with pytest.raises(ValueError) as info:
        net.fit(X, y, epochs=10, lr=0.5, batch_size=8, callback=record, schedule=schedule,
                early_stopping=nncore.EarlyStopping(patience=50, monitor="loss"))
    best = record.best()
    assert_params(net, record.params[best])
    assert str(info.value).startswith("no rate for epoch 4; fit restored the parameters of its "
                                      f"best epoch ({best}, loss")


# Ctrl-C at a random moment of fit, in a subprocess (a signal that arrived outside the test's
# own handling would stop the test run). Each trial prints what it could check.
SIGINT_CHILD = r"""
import json, random, re, signal, sys, threading, time
import numpy as np
import nncore
from test_fit_failures import Recorder, data, make_net, params

backend, trials = sys.argv[1], int(sys.argv[2])
X, y = data(24)
Xv, yv = data(48, seed=1)   # held out: its loss falls, then rises as the net overfits X
rng = random.Random(0)
main = threading.main_thread().ident
out = []
for trial in range(trials):
    net = make_net("float64", backend, optimizer="adam")
    record = Recorder(net, monitor=lambda: net.loss(Xv, yv))
    delay = rng.uniform(0.001, 0.08)
    killer = threading.Timer(delay, signal.pthread_kill, (main, signal.SIGINT))
    try:
        killer.start()
        net.fit(X, y, epochs=10**6, lr=0.02, batch_size=8, callback=record,
                validation_data=(Xv, yv), early_stopping=nncore.EarlyStopping(patience=10**6))
        out.append(["finished"])
    except KeyboardInterrupt as exc:
        killer.join()
        got = params(net)
        finite = all(np.isfinite(a).all() for a in got)
        m = re.fullmatch(r"fit restored the parameters of its best epoch \((\d+), val_loss "
                         r"(\S+)\) before this exception left it "
                         r"\(EarlyStopping\(restore_best=True\)\)", str(exc))
        if m is None:
            out.append(["not restored", str(exc), len(record.values), finite])
            continue
        k = int(m.group(1))
        if k >= len(record.values):   # the interrupt landed in the callback of epoch k
            out.append(["unrecorded", k, len(record.values), finite])
            continue
        best = int(np.argmin(record.values))
        same = all(np.array_equal(a, b) for a, b in zip(got, record.params[k]))
        out.append(["checked", k, best, len(record.values), same,
                    m.group(2) == f"{record.values[k]:.6g}"])
print(json.dumps(out))
"""


@pytest.mark.skipif(not hasattr(__import__("signal"), "pthread_kill"), reason="POSIX signals")
@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_at_any_moment_of_fit_leaves_the_best_epoch(backend):
    import json
    import os
    import subprocess
    from pathlib import Path
    here = str(Path(__file__).resolve().parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, "-c", SIGINT_CHILD, backend, "30"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = json.loads(proc.stdout.strip().splitlines()[-1])
    checked = [t for t in trials if t[0] == "checked"]
    for kind, *rest in trials:
        assert kind != "finished"
        if kind == "checked":
            k, best, n, same, value = rest
            assert (k, same, value) == (best, True, True), rest
        elif kind == "unrecorded":
            assert rest[2], rest            # the parameters are finite
        else:
            # no best epoch saved whole yet: interrupted in the first epochs, or while the
            # copy of a new best was made (the parameters are then that best epoch's)
            assert rest[0] == "" and rest[2], rest
    # the interrupts landed at many moments, most after a best epoch was saved
    assert len(checked) >= len(trials) // 2, trials
    assert len({t[3] for t in checked}) > 3, checked
