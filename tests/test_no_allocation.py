"""Steady state allocates nothing: train_step, fit and predict(out=) reuse the workspace.

tracemalloc sees NumPy's array allocations, so any temporary array made per step (the smallest
here is a 32 x 10 float64 array, 2.5 kB) would raise the traced peak above the budget, which
leaves room only for the few small Python objects of a call (a tuple, a float).
"""
import tracemalloc

import numpy as np
import pytest

import nncore

from _helpers import ALLOCATION_BUDGET, peak_growth



def _network(dtype):
    return nncore.Network([64, 32, 10], activation="relu", output="softmax",
                          loss="cross_entropy", seed=0, dtype=dtype)


def _data(dtype, n=256):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 64)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, n)]
    return X, Y


def _epochs(net, X, Y):
    """fit's epochs: run inside one claim of the network, as fit runs them (the shuffled
    order is kept for the claim's epochs and released when it ends)."""
    net._backend.begin_change()
    return lambda: net._backend.run_epoch(X, Y, 0.01, 32, True, 7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_train_step_allocates_nothing(dtype):
    net = _network(dtype)
    X, Y = _data(dtype, 32)
    assert peak_growth(lambda: net.train_step(X, Y, 0.01), 200) < ALLOCATION_BUDGET


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_epochs_allocate_nothing_per_step(dtype):
    net = _network(dtype)
    X, Y = _data(dtype)
    # 20 epochs of 8 steps; validation of X and Y happens once per fit call, so call the
    # engine's epoch loop as fit does and check that 160 steps stay within the budget
    assert peak_growth(_epochs(net, X, Y), 20) < ALLOCATION_BUDGET


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", [lambda: nncore.SGD(momentum=0.9, weight_decay=1e-3),
                                       lambda: nncore.Adam(amsgrad=True), nncore.AdamW,
                                       lambda: nncore.RMSprop(momentum=0.5)])
def test_optimizer_steps_allocate_nothing(optimizer, dtype):
    # the optimizer's state lives beside the parameters; dW and db in the workspace
    net = _network(dtype)
    net.optimizer = optimizer()
    X, Y = _data(dtype)
    assert peak_growth(lambda: net.train_step(X[:32], Y[:32], 0.01), 200) < ALLOCATION_BUDGET
    assert peak_growth(_epochs(net, X, Y), 20) < ALLOCATION_BUDGET


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_into_out_allocates_nothing(dtype):
    net = _network(dtype)
    X, _ = _data(dtype, 32)
    out = np.empty((32, 10), dtype=dtype)
    assert peak_growth(lambda: net.predict(X, out=out), 200) < ALLOCATION_BUDGET
    np.testing.assert_array_equal(out, net.predict(X))


def test_the_budget_catches_a_temporary_array():
    # the instrument works: a step that makes one (32, 10) array exceeds the budget
    net = _network(np.float64)
    X, Y = _data(np.float64, 32)
    assert peak_growth(lambda: (net.train_step(X, Y, 0.01), np.ones((32, 10))), 50) >= ALLOCATION_BUDGET


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_loss_on_more_rows_than_a_chunk_is_the_mean_over_all_rows(backend):
    # the engine computes loss() in chunks of rows (a large X needs no workspace of its size):
    # the result is still the mean over every example
    net = nncore.Network([64, 32, 10], activation="relu", output="softmax",
                         loss="cross_entropy", seed=0, backend=backend)
    X, Y = _data(np.float64, 2500)
    parts = [net.loss(X[i:i + 500], Y[i:i + 500]) for i in range(0, 2500, 500)]
    assert net.loss(X, Y) == pytest.approx(np.mean(parts), rel=1e-12)


def test_loss_of_a_large_X_keeps_the_workspace_small():
    # a workspace for 20,000 rows would be 3 x 20,000 x (32 + 10) doubles = 20 MB; in chunks of
    # 1,024 rows it is about 1.7 MB
    net = _network(np.float64)
    X, Y = _data(np.float64, 20000)
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        net.loss(X, Y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - start < 4e6
