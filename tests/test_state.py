"""One owner of a network's state: what it computes is read-only or a validated setter that
both backends honour from the next step; no reference cycles; memory that comes back."""
import copy
import gc
import pickle
import weakref

import numpy as np
import pytest

import nncore
from nncore._backend import Backend
from nncore._engine import Engine
from nncore._numpy_backend import NumpyBackend

BACKENDS = ["cython", "numpy"]


def make(backend="cython", dtype="float64", optimizer="sgd", sizes=(5, 7, 3)):
    return nncore.Network(list(sizes), activation="tanh", loss="cross_entropy", seed=4,
                          dtype=dtype, backend=backend, optimizer=optimizer)


def data(n=40, n_in=5, n_out=3, dtype="float64"):
    rng = np.random.default_rng(5)
    return rng.standard_normal((n, n_in)).astype(dtype), rng.integers(0, n_out, n)


# -- both backends implement one interface -------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_both_backends_implement_the_backend_protocol(backend):
    net = make(backend)
    assert isinstance(net._backend, Backend)
    assert isinstance(net._backend, Engine if backend == "cython" else NumpyBackend)
    for name in ("train_step", "loss", "predict", "run_epoch", "begin_change", "read_lock",
                 "write_lock", "set_hyper"):
        assert callable(getattr(net._backend, name))


# -- what a network computes is read-only ----------------------------------------------------------

@pytest.mark.parametrize("attr,value", [("dtype", np.float32), ("loss_name", "mse"),
                                        ("layers", ()), ("backend", "numpy")])
def test_what_the_network_computes_cannot_be_reassigned(attr, value):
    net = make()
    before = getattr(net, attr)
    with pytest.raises(AttributeError):
        setattr(net, attr, value)
    assert getattr(net, attr) == before


# -- optimizer settings: validated, honoured by both backends from the next step ------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opt,name,value", [
    ("sgd", "weight_decay", 10.0), ("adam", "weight_decay", 0.5), ("adam", "beta1", 0.5),
    ("adamw", "eps", 1e-3), ("rmsprop", "alpha", 0.5)])
def test_a_changed_setting_takes_effect_at_the_next_step_in_both_backends(dtype, opt, name,
                                                                          value):
    X, y = data(dtype=dtype)
    nets = {b: make(b, dtype, opt) for b in BACKENDS}
    unchanged = make("cython", dtype, opt)
    for net in (*nets.values(), unchanged):
        net.train_step(X, y, 0.05)
    for net in nets.values():
        setattr(net.optimizer, name, value)
        assert getattr(net.optimizer, name) == value
    for net in (*nets.values(), unchanged):
        for _ in range(3):
            net.train_step(X, y, 0.05)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nets["cython"].layers[0].W, nets["numpy"].layers[0].W, **tol)
    assert not np.allclose(nets["cython"].layers[0].W, unchanged.layers[0].W, **tol)
    # its twins compute the same: deepcopy, pickle
    for make_twin in (copy.deepcopy, lambda n: pickle.loads(pickle.dumps(n))):
        twin = make_twin(nets["cython"])
        assert getattr(twin.optimizer, name) == value
        a, b = nets["cython"], twin
        for net in (a, b):
            net.train_step(X, y, 0.05)
        np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)


@pytest.mark.parametrize("opt,name,value,error", [
    ("adam", "beta1", 1.5, ValueError), ("adam", "eps", 0.0, ValueError),
    ("sgd", "momentum", -0.1, ValueError), ("rmsprop", "weight_decay", float("nan"), ValueError),
    ("adam", "amsgrad", "yes", TypeError),
    ("sgd", "momentum", 0.9, ValueError),       # needs state this bound optimizer lacks
    ("adam", "amsgrad", True, ValueError),
    # weight_decay, checked alone (see the next test)
    ("sgd", "weight_decay", -1.0, ValueError), ("adamw", "weight_decay", float("inf"), ValueError),
    ("adam", "weight_decay", "0.1", TypeError), ("rmsprop", "weight_decay", True, TypeError),
    ("sgd", "weight_decay", None, TypeError)])
def test_a_refused_setting_changes_nothing(opt, name, value, error):
    X, y = data()
    net, alone = make(optimizer=opt), make(optimizer=opt)
    before = net.optimizer.get_config()
    with pytest.raises(error):
        setattr(net.optimizer, name, value)
    assert net.optimizer.get_config() == before
    for n in (net, alone):
        n.train_step(X, y, 0.1)
    np.testing.assert_array_equal(net.layers[0].W, alone.layers[0].W)


@pytest.mark.parametrize("cls", [nncore.SGD, nncore.Adam, nncore.AdamW, nncore.RMSprop])
@pytest.mark.parametrize("value", [0, 2, 0.25, np.float32(0.5), np.float64(1e-9)])
def test_a_setting_checked_alone_is_normalised_as_the_constructor_does(cls, value):
    """weight_decay is checked on its own when assigned (no other setting, no state array
    depends on it): the same float as the constructor makes of the value, on a bound and
    an unbound optimizer, and the same state kept."""
    assert "weight_decay" in cls._alone
    expected = cls(weight_decay=value).weight_decay
    for bound in (False, True):
        opt = cls(momentum=0.5) if cls in (nncore.SGD, nncore.RMSprop) else cls()
        if bound:
            make(optimizer=opt)
        names = opt._state_names
        opt.weight_decay = value
        assert type(opt.weight_decay) is float and opt.weight_decay == expected
        assert opt._state_names == names
        assert opt.get_config() == {**type(opt)(**opt.get_config()).get_config(),
                                    "weight_decay": expected}
        for name in cls._alone:
            # no state array depends on a setting checked alone
            for v in (0.0, 0.5):
                assert opt._names_of({**opt._settings, name: v}) == names


def test_an_unbound_optimizer_takes_any_valid_setting():
    opt = nncore.SGD()
    opt.momentum = 0.9
    net = make(optimizer=opt)
    assert net.optimizer.momentum == 0.9 and net.optimizer._state_names == ("momentum_buffer",)


# -- no reference cycles; memory comes back -----------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_del_net_frees_it_at_once_without_the_cycle_collector(backend, opt):
    X, y = data()
    gc.collect()
    gc.disable()
    try:
        net = nncore.Network([5, 4, 3], activation="sigmoid", loss="cross_entropy", seed=0,
                             backend=backend, optimizer=opt)
        net.fit(X, y, epochs=2, lr=0.1, batch_size=8)
        net.predict(X)
        net.gradients(X, y)
        refs = [weakref.ref(o) for o in (net, net._backend, net.optimizer, net.layers[0])]
        del net
        assert [r() for r in refs] == [None] * len(refs)
    finally:
        gc.enable()


def test_a_trainable_activation_does_not_keep_its_network_alive():
    gc.disable()
    try:
        net = nncore.Network([nncore.Dense(3, 2, nncore.Sigmoid(trainable=True))], loss="mse")
        ref = weakref.ref(net)
        del net
        assert ref() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nothing_sized_by_one_large_call_outlives_it(dtype):
    net = nncore.Network([50, 256, 10], activation="relu", output="sigmoid",
                         loss="binary_cross_entropy", seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 50)).astype(dtype)
    y = rng.integers(0, 10, 20_000)
    net.train_step(X[:32], y[:32], 0.01)
    net.gradients(X, y)
    net.trace(X[:3000], y[:3000])
    net.loss(X, y)            # integer labels on a sigmoid output: one-hot rows chunk by chunk
    net.predict(X.astype(np.float16 if dtype == "float32" else np.float32))   # converted
    assert len(net._backend.pool_rows()) <= 2
    assert max(net._backend.pool_rows()) <= 1024


def test_predict_converts_a_large_foreign_x_chunk_by_chunk():
    net = nncore.Network([20, 30, 4], activation="relu", loss="mse", seed=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 40)).astype(np.float32)[:, ::2]   # strided, float32
    np.testing.assert_array_equal(net.predict(X), net.predict(np.ascontiguousarray(X, np.float64)))
    for row in (0, 4999):
        bad = X.copy()
        bad[row, 3] = np.nan
        with pytest.raises(ValueError, match=r"X"):
            net.predict(bad)
