"""The concurrency contract: reading calls from many threads at once, each result identical to
one thread's; changing calls one at a time, a refused one touching nothing; a reading call
that overlaps training sees the state between two whole steps; and no caller can make the core
read or write out of bounds by changing its arrays during a call. Calls from a fit callback,
and after a fit that raised, never deadlock (a thread that does not return fails the test)."""
import copy
import hashlib
import pickle
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import nncore

BACKENDS = ["cython", "numpy"]


def _wait_busy(net, worker, seconds=20):
    deadline = time.monotonic() + seconds
    while not net._backend.busy and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.0005)
    return net._backend.busy


def _run_threads(n, target):
    errors = []

    def guarded(k):
        try:
            target(k)
        except BaseException as exc:   # reported by the test, not lost in the thread
            errors.append(exc)
    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


# -- labels changed during fit: an error or a wrong answer, never a crash -----------------------

RELABEL = textwrap.dedent("""
    import threading, time, numpy as np, nncore
    dtype, shuffle, loss = {dtype!r}, {shuffle!r}, {loss!r}
    net = nncore.Network([32, 64, 10], activation="relu", loss=loss, seed=0, dtype=dtype,
                         output="sigmoid" if loss == "binary_cross_entropy" else None)
    rng = np.random.default_rng(0)
    n = 200_000
    X = rng.standard_normal((n, 32)).astype(dtype)
    y = rng.integers(0, 10, n).astype(np.int64)
    outcome = []
    def train():
        try:
            net.fit(X, y, epochs=2, lr=0.01, batch_size=64, shuffle=shuffle)
            outcome.append("finished")
        except ValueError as exc:
            outcome.append("refused: " + str(exc))
    worker = threading.Thread(target=train)
    worker.start()
    while not net._backend.busy and worker.is_alive():
        time.sleep(0.0002)
    y[n // 2:] = 2**40      # while the epoch runs, without the GIL
    y[-1] = -7
    worker.join()
    print("outcome", outcome)
""")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shuffle,loss", [(False, "cross_entropy"), (True, "cross_entropy"),
                                          (False, "binary_cross_entropy")])
def test_labels_changed_by_another_thread_during_fit_never_crash(dtype, shuffle, loss):
    done = subprocess.run([sys.executable, "-c", RELABEL.format(dtype=dtype, shuffle=shuffle,
                                                                 loss=loss)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "outcome ['finished']" in done.stdout or "outcome ['refused: " in done.stdout
    if "refused" in done.stdout:
        assert "class label" in done.stdout


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_row_order_changed_during_an_epoch_is_checked_where_it_is_read(dtype):
    net = nncore.Network([4, 3], loss="cross_entropy", seed=0, dtype=dtype)
    X = np.ones((50, 4), dtype=dtype)
    y = np.zeros(50, dtype=np.int64)
    order = np.arange(50, dtype=np.int64)
    # an order that is out of range from the start is refused before any step
    bad = order.copy()
    bad[-1] = 50
    before = net.layers[0].W.copy()
    with pytest.raises(ValueError, match="order"):
        net._backend.run_epoch(X, y, 0.1, 8, False, 0, None, None, bad)
    np.testing.assert_array_equal(before, net.layers[0].W)
    # a label out of range at the first and at the last index: refused, nothing trained
    for i in (0, 49):
        y_bad = y.copy()
        y_bad[i] = 3
        with pytest.raises(ValueError, match="class labels"):
            net.fit(X, y_bad, epochs=1, lr=0.1)
        with pytest.raises(ValueError, match="class labels"):
            net.train_step(X, y_bad, 0.1)
        np.testing.assert_array_equal(before, net.layers[0].W)


# -- the lock between steps and reading calls ---------------------------------------------------

WAIT_FOR_READER = textwrap.dedent("""
    import threading, time, numpy as np, nncore
    # a tiny network's step keeps the GIL while it computes; with a reader holding the lock,
    # it must wait for it without the GIL (else the reader could never let go: a deadlock,
    # which the parent's timeout turns into a failure)
    net = nncore.Network([4, 6, 3], loss="cross_entropy", seed=0, dtype={dtype!r},
                         optimizer={optimizer!r}, backend={backend!r})
    X = np.random.default_rng(0).standard_normal(({rows}, 4)).astype({dtype!r})
    y = np.arange({rows}) % 3
    before = net.layers[0].W.copy()
    net._backend.read_lock()
    worker = threading.Thread(target=net.train_step, args=(X, y, 0.1))
    worker.start()
    time.sleep(0.3)
    print("waited", worker.is_alive(), np.array_equal(before, net.layers[0].W))
    net._backend.read_unlock()
    worker.join()
    print("stepped", not np.array_equal(before, net.layers[0].W))
""")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype,optimizer", [("float32", "sgd"), ("float64", "adam")])
@pytest.mark.parametrize("rows", [1, 64])
def test_a_small_step_waits_for_a_reader_that_holds_the_lock(backend, dtype, optimizer, rows):
    done = subprocess.run([sys.executable, "-c", WAIT_FOR_READER.format(
                              dtype=dtype, optimizer=optimizer, backend=backend, rows=rows)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "waited True True" in done.stdout
    assert "stepped True" in done.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_reading_calls_get_in_during_one_long_epoch(backend):
    # an epoch keeps the lock from one step to the next only while no reading call waits:
    # predict calls from another thread get in between steps of one epoch (one call of the
    # core, no callback between), so they see the weights change while it runs
    net = nncore.Network([8, 64, 3], loss="cross_entropy", seed=0, backend=backend,
                         dtype="float32")
    rows = 400_000 if backend == "cython" else 40_000
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 8)).astype(np.float32)
    y = rng.integers(0, 3, rows)
    trainer = threading.Thread(target=net.fit, args=(X, y, 1, 0.01), daemon=True,
                               kwargs={"batch_size": 1, "shuffle": False})
    trainer.start()
    assert _wait_busy(net, trainer), "the training thread never claimed the network"
    seen = set()
    while net._backend.busy and len(seen) < 5:
        out = net.predict(X[:4])
        if net._backend.busy:
            seen.add(out.tobytes())
    trainer.join(120)
    assert not trainer.is_alive()
    assert len(seen) >= 5, f"predict saw {len(seen)} states of the weights during the epoch"


# -- reading calls from many threads at once ---------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reading_calls_from_many_threads_equal_one_threads(backend, dtype):
    net = nncore.Network([8, 33, 5], activation="tanh", output="sigmoid",
                         loss="binary_cross_entropy", seed=1, dtype=dtype, backend=backend)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2500, 8)).astype(dtype)   # crosses the 1024-row chunks
    labels = [rng.integers(0, 5, 2500) for _ in range(4)]
    expect = {"predict": net.predict(X),
              "loss": [net.loss(X, lab) for lab in labels],
              "loss1": [net.loss(X[0], k) for k in range(5)],
              "grads": [net.gradients(X[:300], lab[:300]) for lab in labels]}

    def reader(k):
        for i in range(6):
            j = (k + i) % 4
            np.testing.assert_array_equal(net.predict(X), expect["predict"])
            assert net.loss(X, labels[j]) == expect["loss"][j]
            assert net.loss(X[0], (k + i) % 5) == expect["loss1"][(k + i) % 5]
            for got, want in zip(net.gradients(X[:300], labels[j][:300]), expect["grads"][j]):
                np.testing.assert_array_equal(got["W"], want["W"])
                np.testing.assert_array_equal(got["b"], want["b"])
    _run_threads(8, reader)
    if backend == "cython":
        # a small pool, none of it sized by the 2500-row calls
        assert len(net._backend.pool_rows()) <= 2
        assert max(net._backend.pool_rows()) <= 1024


def test_a_reading_call_with_labels_does_not_change_a_training_threads_targets():
    # a sigmoid output with integer labels: the reader's one-hot rows are its own
    def make():
        return nncore.Network([6, 4], output="sigmoid", loss="binary_cross_entropy", seed=3)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 6))
    y = rng.integers(0, 4, 64)
    alone = make()
    for _ in range(300):
        alone.train_step(X, y, 0.1)
    net = make()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            net.loss(X, np.full(64, 3))
    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(300):
            net.train_step(X, y, 0.1)
    finally:
        stop.set()
        t.join()
    np.testing.assert_array_equal(net.layers[0].W, alone.layers[0].W)


def test_an_estimator_is_shared_by_request_threads():
    pytest.importorskip("sklearn")
    from nncore.sklearn import MLPClassifier
    X, y = nncore.load_digits()
    X = X[:400] / 16
    est = MLPClassifier(hidden_layer_sizes=(20,), max_iter=20, random_state=0).fit(X, y[:400])
    want = est.predict_proba(X)

    def request(k):
        for _ in range(25):
            np.testing.assert_array_equal(est.predict_proba(X), want)
    _run_threads(4, request)


# -- changing calls: one at a time, a refused one touches nothing -------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_changing_calls_are_refused_while_another_thread_trains(backend):
    net = nncore.Network([64, 256, 10], activation="relu", output="softmax",
                         loss="cross_entropy", seed=0, backend=backend)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 64))
    y = rng.integers(0, 10, 4000)
    worker = threading.Thread(target=net.fit, args=(X, y, 40 if backend == "cython" else 4,
                                                    0.01), kwargs={"batch_size": 32})
    worker.start()
    try:
        assert _wait_busy(net, worker), "the training thread never claimed the network"
        rng_state = net._rng.bit_generator.state
        opt = net.optimizer
        refused = []
        calls = {
            "train_step": lambda: net.train_step(X[:4], y[:4], 0.1),
            "fit": lambda: net.fit(X, y, epochs=1, lr=0.1, validation_split=0.2),
            "W": lambda: setattr(net.layers[0], "W", np.zeros((64, 256))),
            "b": lambda: setattr(net.layers[1], "b", np.zeros(10)),
            "reset": lambda: net.layers[0].reset_parameters(0),
            "optimizer": lambda: setattr(net, "optimizer", "adam"),
        }
        for name, call in calls.items():
            with pytest.raises(RuntimeError, match="another thread"):
                call()
            refused.append(name)
        # nothing touched: the generator (validation_split draws from it), the optimizer
        assert net._rng.bit_generator.state == rng_state
        assert net.optimizer is opt and opt._bound_to() is net
        # reading calls are not refused
        assert net.predict(X[:3]).shape == (3, 10)
        assert np.isfinite(net.loss(X[:30], y[:30]))
    finally:
        worker.join()
    assert not net._backend.busy
    assert refused == list(calls)
    net.layers[0].W = np.zeros((64, 256))          # accepted again once fit is over
    assert not net.layers[0].W.any()


def _digest(arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("backend", BACKENDS)
def test_files_saved_and_copies_made_during_fit_are_real_states(backend, tmp_path):
    def make():
        return nncore.Network([64, 128, 128, 10], activation="relu", loss="cross_entropy",
                              seed=2, optimizer="adam", backend=backend)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((64 * 120, 64))
    y = rng.integers(0, 10, X.shape[0])
    # every state between two steps of the same training, step by step
    stepper = make()
    states = {_digest([a for ly in stepper.layers for a in (ly.W, ly.b)])}
    for first in range(0, X.shape[0], 64):
        stepper.train_step(X[first:first + 64], y[first:first + 64], 0.001)
        states.add(_digest([a for ly in stepper.layers for a in (ly.W, ly.b)]))
    net = make()
    seen = []
    worker = threading.Thread(target=net.fit, args=(X, y, 1, 0.001),
                              kwargs={"batch_size": 64, "shuffle": False})
    worker.start()
    _wait_busy(net, worker)
    k = 0
    while worker.is_alive():
        path = net.save(tmp_path / f"during{k % 3}.npz")
        loaded = nncore.Network.load(path)
        seen.append(_digest([a for ly in loaded.layers for a in (ly.W, ly.b)]))
        for twin in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
            seen.append(_digest([a for ly in twin.layers for a in (ly.W, ly.b)]))
        k += 1
    worker.join()
    assert seen, "no copy was made during fit"
    assert all(d in states for d in seen)
    assert _digest([a for ly in net.layers for a in (ly.W, ly.b)]) in states


# -- misuse from inside fit, and after a fit that failed ----------------------------------------

def _in_thread(target, seconds=60):
    """Run target in a daemon thread; fail (instead of hanging) when it has not returned within
    `seconds`. Returns its result, or raises its exception."""
    box = {}

    def run():
        try:
            box["result"] = target()
        except BaseException as exc:     # reported below
            box["error"] = exc
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{getattr(target, '__name__', 'call')} did not return (deadlock?)"
    if "error" in box:
        raise box["error"]
    return box.get("result")


def _small_problem(backend, seed=0):
    net = nncore.Network([4, 6, 3], loss="cross_entropy", seed=seed, backend=backend)
    rng = np.random.default_rng(seed)
    return net, rng.standard_normal((64, 4)), rng.integers(0, 3, 64)


def _calls_on(net, X, y, folder):
    """Every public call a fit callback might make on the network it is called from."""
    calls = {
        "predict": lambda: net.predict(X), "loss": lambda: net.loss(X, y),
        "trace": lambda: net.trace(X, y), "gradients": lambda: net.gradients(X, y),
        "save": lambda: nncore.Network.load(net.save(folder / "in_callback.npz")),
        "pickle": lambda: pickle.loads(pickle.dumps(net)),
        "deepcopy": lambda: copy.deepcopy(net),
        # changing calls from the thread that runs fit: allowed (nested in fit's claim)
        "train_step": lambda: net.train_step(X, y, 0.1),
        "fit": lambda: net.fit(X, y, epochs=1, lr=0.1),
        "W": lambda: setattr(net.layers[0], "W", net.layers[0].W * 0.5),
        "reset": lambda: net.layers[1].reset_parameters(1),
    }
    try:
        import onnx  # noqa: F401
        calls["to_onnx"] = lambda: nncore.to_onnx(net)
    except ImportError:
        pass
    return calls


@pytest.mark.parametrize("protocol", ["callable", "Callback"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fit_callback_may_read_and_change_its_own_network(backend, protocol, tmp_path):
    # documented in threads.md: from inside fit (same thread), reading calls and changing
    # calls both work; none deadlocks on fit's own claim or lock
    net, X, y = _small_problem(backend)
    done = []

    def every_call(epoch):
        for name, call in _calls_on(net, X, y, tmp_path).items():
            call()
            done.append((epoch, name))

    if protocol == "callable":
        kwargs = {"callback": lambda epoch, loss: every_call(epoch)}
    else:
        class Everything(nncore.Callback):
            def on_epoch_end(self, epoch, logs):
                every_call(epoch)
        kwargs = {"callbacks": [Everything()]}
    history = _in_thread(lambda: net.fit(X, y, epochs=2, lr=0.1, **kwargs))
    assert [e for e, _ in done] == [0] * (len(done) // 2) + [1] * (len(done) // 2)
    assert len(history) == 2 and np.isfinite(history).all()
    assert not net._backend.busy
    # and the network is free for another thread afterwards
    _in_thread(lambda: net.train_step(X, y, 0.1))


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_error_in_a_callback_releases_the_claim_and_the_lock(backend, error):
    net, X, y = _small_problem(backend)

    def stop(epoch, loss):
        if epoch == 1:
            raise error("from the callback")
    with pytest.raises(error, match="from the callback"):
        net.fit(X, y, epochs=5, lr=0.1, callback=stop)
    assert not net._backend.busy
    # reading and changing calls work again, in this thread and in others (none waits for a
    # lock the failed fit kept)
    assert np.isfinite(net.loss(X, y))
    _in_thread(lambda: net.predict(X))
    _in_thread(lambda: net.fit(X, y, epochs=1, lr=0.1))
    _in_thread(lambda: setattr(net.layers[0], "W", np.ones((4, 6))))
    net.train_step(X, y, 0.1)
    assert len(_in_thread(lambda: net.fit(X, y, epochs=1, lr=0.1))) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_readers_and_a_second_fit_during_fit(backend, tmp_path):
    # one thread trains (until told to stop, through its callback); four read (predict, save,
    # pickle) all along; a fifth tries to train and is refused with nothing changed; nobody
    # waits forever
    net = nncore.Network([16, 64, 4], activation="relu", loss="cross_entropy", seed=1,
                         backend=backend)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((1024, 16))
    y = rng.integers(0, 4, 1024)
    stop = threading.Event()
    # (shuffle=False: a shuffling fit draws each epoch's order from net's generator, which
    # the refused fit below must be seen not to touch)
    trainer = threading.Thread(target=net.fit, args=(X, y, 10**6, 0.01), daemon=True,
                               kwargs={"batch_size": 16, "shuffle": False,
                                       "callback": lambda e, v: stop.is_set()})
    trainer.start()
    assert _wait_busy(net, trainer), "the training thread never claimed the network"
    counts = [0] * 4

    def reader(k):
        while not stop.is_set() or counts[k] < 3:
            if k < 2:
                assert np.isfinite(net.predict(X[:100])).all()
            elif k == 2:
                assert nncore.Network.load(net.save(tmp_path / "r.npz")).sizes == net.sizes
            else:
                twin = pickle.loads(pickle.dumps(net))
                assert np.isfinite(twin.predict(X[:5])).all()
            counts[k] += 1

    def second_fit():
        state = net._rng.bit_generator.state
        with pytest.raises(RuntimeError, match="another thread"):
            net.fit(X, y, epochs=1, lr=0.5, validation_split=0.1)
        assert net._rng.bit_generator.state == state
        return "refused"

    errors = []

    def guarded(k):
        try:
            _in_thread(lambda: reader(k), 120)
        except BaseException as exc:   # reported below, not lost in the thread
            errors.append(exc)
    readers = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(4)]
    try:
        for t in readers:
            t.start()
        assert _in_thread(second_fit) == "refused"
        deadline = time.monotonic() + 60
        while min(counts) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
    trainer.join(120)
    assert not trainer.is_alive()
    for t in readers:
        t.join(120)
        assert not t.is_alive()
    assert not errors, errors
    assert min(counts) >= 3
    assert not net._backend.busy


def test_an_estimator_serves_four_threads_during_partial_fit():
    pytest.importorskip("sklearn")
    from nncore.sklearn import MLPClassifier, MLPRegressor
    X, y = nncore.load_digits()
    X = X[:400] / 16
    y = y[:400]
    clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=5, random_state=0).fit(X, y)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y / 10)
    stop = threading.Event()
    errors = []

    def train():
        try:
            for _ in range(20):
                clf.partial_fit(X, y)
                reg.partial_fit(X, y / 10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    def serve(k):
        n = 0
        while not stop.is_set() or n == 0:
            proba = clf.predict_proba(X[:50])
            assert proba.shape == (50, 10) and np.allclose(proba.sum(axis=1), 1)
            assert set(clf.predict(X[:50])) <= set(range(10))
            assert np.isfinite(reg.predict(X[:50])).all()
            assert np.isfinite(clf.score(X[:50], y[:50]))
            n += 1
    trainer = threading.Thread(target=train, daemon=True)
    trainer.start()
    _run_threads(4, serve)
    trainer.join(120)
    assert not trainer.is_alive() and not errors, errors
