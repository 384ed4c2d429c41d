"""Many threads, Ctrl-C during fit, and a long run: nothing corrupt, nothing lost, no growth."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import tracemalloc

import numpy as np
import pytest

import nncore
from nncore._engine import shuffled_index

from _helpers import BACKEND_ATOL, BACKEND_RTOL

N_THREADS = 16


def digits_net(seed, backend="cython", dtype="float64"):
    return nncore.Network([64, 24, 10], activation="relu", output="softmax",
                          loss="cross_entropy", seed=seed, dtype=dtype, backend=backend)


def digits(n=600):
    X, y = nncore.load_digits()
    X = (X[:n] / 16).astype(np.float64)
    X.setflags(write=False)  # shared, read-only input
    y = y[:n].copy()
    y.setflags(write=False)
    return X, y


def params(net):
    return [arr.copy() for ly in net.layers for arr in (ly.W, ly.b)]


# -- one network, many threads --------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_readers_hammering_a_network_while_it_fits_corrupt_nothing(backend):
    X, y = digits()
    epochs = 12
    # the same fit alone
    alone = digits_net(0, backend)
    alone_losses = alone.fit(X, y, epochs=epochs, lr=0.1, batch_size=16)
    # and its steps one by one (fit's order: a seed per epoch from the network's generator),
    # keeping the predictions between every two steps: all that a reader may see
    stepper = digits_net(0, backend)
    boundary = [stepper.predict(X[:50])]
    for _ in range(epochs):
        order = shuffled_index(X.shape[0], int(stepper._rng.integers(2**63)))
        for first in range(0, X.shape[0], 16):
            rows = order[first:first + 16]
            stepper.train_step(X[rows], y[rows], 0.1)
            boundary.append(stepper.predict(X[:50]))
    np.testing.assert_array_equal(boundary[-1], alone.predict(X[:50]))
    net = digits_net(0, backend)
    done = threading.Event()
    results = {"ok": 0, "refused": 0, "bad": []}
    lock = threading.Lock()
    start = threading.Barrier(N_THREADS)

    def fitter():
        # one epoch at a time: a fit refused because a reader holds the network is retried
        start.wait()
        losses = []
        try:
            while len(losses) < epochs:
                try:
                    losses += net.fit(X, y, epochs=1, lr=0.1, batch_size=16)
                except RuntimeError as exc:
                    assert "another thread" in str(exc)
                    results["fit_refused"] = results.get("fit_refused", 0) + 1
        finally:
            results["losses"] = losses
            done.set()

    def reader(k):
        start.wait()
        calls = (lambda: net.predict(X[:50]), lambda: net.loss(X[:50], y[:50]),
                 lambda: net.gradients(X[:20], y[:20]))
        i = 0
        while not done.is_set():
            call = calls[(k + i) % 3]
            i += 1
            try:
                out = call()
            except RuntimeError as exc:
                assert "another thread" in str(exc)
                with lock:
                    results["refused"] += 1
                continue
            with lock:
                results["ok"] += 1
                if call is calls[0] and backend == "cython" and not any(
                        np.array_equal(out, b) for b in boundary):
                    # a prediction made during fit sees the parameters between two steps
                    results["bad"].append(out)

    threads = [threading.Thread(target=fitter)] + [
        threading.Thread(target=reader, args=(k,)) for k in range(N_THREADS - 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    # the fit was neither disturbed nor changed by the readers
    assert results["losses"] == alone_losses
    for a, b in zip(params(net), params(alone)):
        np.testing.assert_array_equal(a, b)
    assert results["ok"] + results["refused"] > 0
    assert results["bad"] == []
    if backend == "cython":
        assert not net._backend.busy


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_threads_each_training_their_own_network_match_the_same_work_alone(backend, dtype):
    X, y = digits(300)
    epochs = 3 if backend == "numpy" else 8

    def work(seed):
        net = digits_net(seed, backend, dtype)
        losses = net.fit(X, y, epochs=epochs, lr=0.1, batch_size=8)
        step = net.train_step(X[:32], y[:32], 0.05)
        return losses, step, params(net), net.predict(X)

    alone = [work(seed) for seed in range(N_THREADS)]
    together = [None] * N_THREADS
    start = threading.Barrier(N_THREADS)

    def run(seed):
        start.wait()
        together[seed] = work(seed)

    threads = [threading.Thread(target=run, args=(s,)) for s in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    for (l1, s1, p1, o1), (l2, s2, p2, o2) in zip(alone, together):
        assert l1 == l2 and s1 == s2
        for a, b in zip(p1, p2):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(o1, o2)
    assert not X.flags.writeable


# -- Ctrl-C during fit ------------------------------------------------------------------------------

CHILD = textwrap.dedent(r"""
    import copy, json, sys, time
    import numpy as np
    import nncore

    def make():
        return nncore.Network([64, 128, 10], activation="relu", output="softmax",
                              loss="cross_entropy", seed=0)

    X, y = nncore.load_digits()
    X = np.tile(X / 16, (4, 1)); y = np.tile(y, 4)     # ~10 ms an epoch
    net = make()
    epochs_done = []
    def callback(epoch, loss):
        epochs_done.append(epoch)
        if epoch == 2:
            print("ready", flush=True)
    try:
        net.fit(X, y, epochs=100000, lr=0.05, batch_size=8, callback=callback)
        print(json.dumps({"error": "fit was not interrupted"})); sys.exit(0)
    except KeyboardInterrupt:
        interrupted_at = time.monotonic()
    # which whole number of epochs do the parameters match?
    ref = make()
    match = None
    for k in range(len(epochs_done) + 2):
        if all(np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b)
               for a, b in zip(net.layers, ref.layers)):
            match = k
            break
        ref.fit(X, y, epochs=1, lr=0.05, batch_size=8)
    finite = all(np.isfinite(ly.W).all() and np.isfinite(ly.b).all() for ly in net.layers)
    # a second fit continues from there: the same as the matched reference, given the same
    # shuffling state, continued
    ok_continue = None
    if match is not None:
        ref._rng = copy.deepcopy(net._rng)
        l1 = net.fit(X[:500], y[:500], epochs=2, lr=0.05, batch_size=8)
        l2 = ref.fit(X[:500], y[:500], epochs=2, lr=0.05, batch_size=8)
        ok_continue = l1 == l2 and all(np.array_equal(a.W, b.W)
                                       for a, b in zip(net.layers, ref.layers))
    print(json.dumps({"match": match, "epochs_seen": len(epochs_done), "finite": finite,
                      "continue": ok_continue, "busy": bool(net._backend.busy)}))
""")


def test_ctrl_c_during_fit_leaves_whole_steps_and_a_second_fit_continues():
    import json
    import time

    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(0.005 + 0.01 * attempt)  # land somewhere inside an epoch
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        assert "error" not in report, report
        assert report["match"] is not None, report     # parameters of a whole epoch
        assert report["match"] >= 3 and report["finite"], report
        assert report["continue"] is True, report
        assert report["busy"] is False, report


# -- a long run -------------------------------------------------------------------------------------

def rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def test_a_million_steps_grow_no_memory_and_stay_deterministic():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3))
    Y = (X[:, :1] * X[:, 1:2] > 0).astype(np.float64)
    net = nncore.Network([3, 4, 1], activation="tanh", output="sigmoid",
                         loss="binary_cross_entropy", seed=0)
    net.fit(X, Y, epochs=50, lr=0.05, batch_size=1)           # warm up: 50,000 steps
    rss_before = rss_bytes()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        losses = net.fit(X, Y, epochs=1000, lr=0.05, batch_size=1)   # 1,000,000 steps
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_after = rss_bytes()
    assert len(losses) == 1000 and np.isfinite(losses).all()
    # the list of 1,000 losses is all that Python keeps
    assert after - before < 200_000, after - before
    # (under AddressSanitizer freed memory sits in a quarantine: RSS says nothing there)
    if rss_before is not None and not os.environ.get("NNCORE_SANITIZE"):
        assert rss_after - rss_before < 4 * 2**20, rss_after - rss_before
    assert losses[-1] < losses[0]
    # the same million steps again give the same network, bit for bit
    again = nncore.Network([3, 4, 1], activation="tanh", output="sigmoid",
                           loss="binary_cross_entropy", seed=0)
    again.fit(X, Y, epochs=50, lr=0.05, batch_size=1)
    assert again.fit(X, Y, epochs=1000, lr=0.05, batch_size=1) == losses
    for a, b in zip(params(again), params(net)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_drift_between_the_backends_over_many_steps(dtype):
    # 10,000 shuffled steps of batch 1 in each backend (NumPy's is ~50x slower per step)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 3))
    Y = (X[:, :1] * X[:, 1:2] > 0).astype(np.float64)
    nets = [nncore.Network([3, 4, 1], activation="tanh", output="sigmoid",
                           loss="binary_cross_entropy", seed=0, dtype=dtype, backend=be)
            for be in ("cython", "numpy")]
    losses = [n.fit(X, Y, epochs=20, lr=0.05, batch_size=1) for n in nets]
    # float32 rounding differs step by step; the tolerance allows it to accumulate as a
    # random walk over the steps (sqrt(10,000) = 100 times a single computation's)
    factor = 100 if dtype == np.float32 else 1
    np.testing.assert_allclose(losses[0], losses[1], rtol=BACKEND_RTOL[dtype] * factor,
                               atol=BACKEND_ATOL[dtype] * factor)
    for a, b in zip(params(nets[0]), params(nets[1])):
        np.testing.assert_allclose(a, b, rtol=BACKEND_RTOL[dtype] * factor,
                                   atol=BACKEND_ATOL[dtype] * factor)


# -- overflow is reported, never a silent NaN ------------------------------------------------------

def overflowing(backend, dtype):
    """A network whose first layer overflows to +inf and -inf, which the second adds: NaN."""
    net = nncore.Network([nncore.Dense(1, 2), nncore.Dense(2, 1)], loss="mse", seed=0,
                         backend=backend, dtype=dtype)
    big = float(np.finfo(dtype).max)
    net.layers[0].W = [[big, -big]]
    net.layers[1].W = [[1.0], [1.0]]
    return net


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's, on the overflow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_a_nan_from_overflow_is_reported_not_returned(backend, dtype):
    net = overflowing(backend, dtype)
    X, Y = np.array([[4.0]]), np.array([[0.0]])
    name = np.dtype(dtype).name
    with pytest.raises(FloatingPointError, match=f"the loss is NaN.*overflowed {name}"):
        net.loss(X, Y)
    with pytest.raises(FloatingPointError, match="layer 1's a is NaN"):
        net.trace(X, Y)
    with pytest.raises(FloatingPointError, match="layer 1's dW is NaN"):
        net.gradients(X, Y)
    with pytest.raises(FloatingPointError):
        net.train_step(X, Y, 0.1)
    # nothing changed, and the same network is fine on small inputs
    np.testing.assert_array_equal(net.layers[0].W, [[np.finfo(dtype).max,
                                                     -np.finfo(dtype).max]])
    assert np.isfinite(net.loss(np.array([[0.0]]), Y))
