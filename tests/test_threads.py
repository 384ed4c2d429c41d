"""Calls release the GIL; a network used from two threads at once refuses the second call
instead of sharing its workspace (which would crash or give wrong numbers)."""
import threading
import time

import numpy as np

import nncore


def test_second_thread_gets_an_error_not_a_crash():
    net = nncore.Network([784, 256, 10], activation="relu", output="softmax",
                         loss="cross_entropy", seed=0, dtype="float32")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8192, 784)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8192)]
    before = [ly.W.copy() for ly in net.layers]
    worker = threading.Thread(target=net.fit, args=(X, Y, 3, 0.01), kwargs={"batch_size": 64})
    worker.start()
    deadline = time.monotonic() + 10
    while not net._backend.busy and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)
    try:
        assert net._backend.busy, "the training thread never entered the core"
        errors = []
        for call in (lambda: net.train_step(X[:4], Y[:4], 0.1), lambda: net.predict(X[:4])):
            try:
                call()
            except RuntimeError as exc:
                errors.append(str(exc))
        assert len(errors) == 2 and all("another thread" in e for e in errors)
    finally:
        worker.join()
    # the training thread finished its work and the network works again
    assert not net._backend.busy
    assert any(not np.array_equal(b, ly.W) for b, ly in zip(before, net.layers))
    assert net.predict(X[:4]).shape == (4, 10)
