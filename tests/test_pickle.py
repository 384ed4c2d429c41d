"""pickle and copy of a Network: an independent, working copy with the same parameters,
configuration and training state (continued training gives bit-identical results)."""
import copy
import pickle

import numpy as np
import pytest

import nncore

from _helpers import BACKENDS

DTYPES = ["float32", "float64"]
COPIES = {
    **{f"pickle{p}": (lambda net, p=p: pickle.loads(pickle.dumps(net, protocol=p)))
       for p in range(pickle.HIGHEST_PROTOCOL + 1)},
    "deepcopy": copy.deepcopy,
    "copy": copy.copy,
}


def make(backend, dtype, seed=3):
    layers = [nncore.Dense(4, 7, nncore.Sigmoid(c=1.7, beta=0.6, trainable=True)),
              nncore.Dense(7, 5, nncore.LeakyReLU(delta=0.2)),
              nncore.Dense(5, 3, "softmax")]
    return nncore.Network(layers, loss="cross_entropy", seed=seed, dtype=dtype, backend=backend)


def data(n=37):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)), rng.integers(3, size=n)


def state(net):
    return [arr.copy() for ly in net.layers for arr in (ly.W, ly.b, ly.activation._params)]


def assert_same_state(a, b):
    for x, y in zip(state(a), state(b)):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("trained", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_copy_is_the_same_network_and_trains_on_identically(backend, dtype, trained, how):
    net = make(backend, dtype)
    X, y = data()
    if trained:
        net.fit(X, y, epochs=3, lr=0.3, batch_size=8)
    clone = COPIES[how](net)
    assert clone is not net and type(clone) is nncore.Network
    assert repr(clone) == repr(net)
    assert (clone.backend, clone.dtype, clone.loss_name, clone.sizes) == \
        (net.backend, net.dtype, net.loss_name, net.sizes)
    assert_same_state(clone, net)
    for a, b in zip(clone.layers, net.layers):
        assert a.activation.same_as(b.activation)
        assert a.W is not b.W and not np.shares_memory(a.W, b.W)
    assert clone._rng is not net._rng
    assert clone._rng.bit_generator.state == net._rng.bit_generator.state
    np.testing.assert_array_equal(clone.predict(X), net.predict(X))
    # continued training (shuffled: uses the generator's state) is bit for bit the same
    losses_clone = clone.fit(X, y, epochs=4, lr=0.3, batch_size=8)
    losses_net = net.fit(X, y, epochs=4, lr=0.3, batch_size=8)
    assert losses_clone == losses_net
    assert_same_state(clone, net)
    step_clone = clone.train_step(X[:5], y[:5], 0.1)
    assert step_clone == net.train_step(X[:5], y[:5], 0.1)
    assert_same_state(clone, net)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_copy_is_independent_of_the_original(backend):
    net = make(backend, "float64")
    X, y = data()
    clone = copy.deepcopy(net)
    before = state(net)
    clone.fit(X, y, epochs=2, lr=0.5)
    clone.layers[0].W[...] = 0
    clone.layers[0].activation.c = 0.5
    for x, z in zip(state(net), before):
        np.testing.assert_array_equal(x, z)
    assert net.layers[0].activation.c == 1.7
    # the original still trains as a fresh copy of itself would
    fresh = make(backend, "float64")
    assert net.fit(X, y, epochs=2, lr=0.5) == fresh.fit(X, y, epochs=2, lr=0.5)
    assert_same_state(net, fresh)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_copys_trainable_activation_learns_in_the_copy_only(backend):
    net = make(backend, "float64")
    clone = pickle.loads(pickle.dumps(net))
    assert clone.layers[0].activation is not net.layers[0].activation
    assert clone.layers[0].activation._network() is clone
    assert net.layers[0].activation._network() is net
    X, y = data()
    clone.fit(X, y, epochs=2, lr=0.5)
    assert clone.layers[0].activation.c != 1.7 and net.layers[0].activation.c == 1.7


def test_a_network_seeded_with_a_generator_pickles_its_generator():
    gen = np.random.Generator(np.random.MT19937(5))
    net = nncore.Network([3, 4, 2], loss="mse", seed=gen)
    clone = pickle.loads(pickle.dumps(net))
    assert isinstance(clone._rng.bit_generator, np.random.MT19937)
    X = np.random.default_rng(1).normal(size=(10, 3))
    Y = np.random.default_rng(2).normal(size=(10, 2))
    assert clone.fit(X, Y, epochs=3, lr=0.1, batch_size=3) == \
        net.fit(X, Y, epochs=3, lr=0.1, batch_size=3)


def test_pickle_and_save_agree(tmp_path):
    net = make("cython", "float32")
    X, y = data()
    net.fit(X, y, epochs=2, lr=0.3)
    loaded = nncore.Network.load(net.save(tmp_path / "net.npz"))
    clone = pickle.loads(pickle.dumps(net))
    assert_same_state(loaded, clone)


def opt_state(net):
    return [(l, key, name, arr) for l, entry in enumerate(net.optimizer.state)
            for key, group in sorted(entry.items()) for name, arr in sorted(group.items())]


@pytest.mark.parametrize("how", ["pickle2", f"pickle{pickle.HIGHEST_PROTOCOL}", "deepcopy",
                                 "copy"])
@pytest.mark.parametrize("opt", ["adam", "adam-amsgrad", "adamw", "rmsprop", "sgd-momentum"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_copy_carries_the_optimizer_and_continues_its_fit_bit_for_bit(backend, dtype, opt,
                                                                         how):
    optimizers = {"adam": lambda: nncore.Adam(weight_decay=0.01),
                  "adam-amsgrad": lambda: nncore.Adam(beta1=0.8, amsgrad=True),
                  "adamw": lambda: nncore.AdamW(weight_decay=0.05),
                  "rmsprop": lambda: nncore.RMSprop(alpha=0.9, momentum=0.5),
                  "sgd-momentum": lambda: nncore.SGD(momentum=0.9, nesterov=True)}
    net = make(backend, dtype)
    net.optimizer = optimizers[opt]()
    X, y = data()
    net.fit(X, y, epochs=3, lr=0.05, batch_size=8)
    clone = COPIES[how](net)
    assert type(clone.optimizer) is type(net.optimizer)
    assert clone.optimizer is not net.optimizer and clone.optimizer._bound_to() is clone
    assert clone.optimizer.get_config() == net.optimizer.get_config()
    assert clone.optimizer.step_count == net.optimizer.step_count == 15
    saved = opt_state(net)
    assert len(saved) > 0 and len(opt_state(clone)) == len(saved)
    for (l, key, name, a), (l2, key2, name2, b) in zip(opt_state(clone), saved):
        assert (l, key, name) == (l2, key2, name2) and a.dtype == b.dtype
        assert np.any(a != 0)   # the moments were carried, not started afresh
        np.testing.assert_array_equal(a, b)
    for ca, na in zip(clone.optimizer._state, net.optimizer._state):
        for cg, ng in zip(ca, na):
            for x, z in zip(cg, ng):
                assert not np.shares_memory(x, z)
    # a copy with fresh moments continues differently: the carried state is what matters here
    fresh = COPIES[how](net)
    fresh.optimizer = optimizers[opt]()
    fresh_losses = fresh.fit(X, y, epochs=2, lr=0.05, batch_size=8)
    losses_clone = clone.fit(X, y, epochs=2, lr=0.05, batch_size=8)
    losses_net = net.fit(X, y, epochs=2, lr=0.05, batch_size=8)
    assert losses_clone == losses_net
    assert fresh_losses != losses_net
    assert_same_state(clone, net)
    assert clone.optimizer.step_count == net.optimizer.step_count == 25
    for (_, _, _, a), (_, _, _, b) in zip(opt_state(clone), opt_state(net)):
        np.testing.assert_array_equal(a, b)


def test_a_pickled_optimizer_of_another_class_is_refused():
    class MyAdam(nncore.Adam):
        pass

    net = nncore.Network([3, 2], loss="mse", seed=0, optimizer=MyAdam())
    with pytest.raises(TypeError, match="MyAdam"):
        pickle.dumps(net)
