"""The benchmark report's contestants compute what they claim, and the report is put together
right. (No time is asserted: only what is computed and printed.)

The plain NumPy step is the baseline every ratio of ``nncore bench`` divides by: it must make
the same update as nncore's NumPy backend (the tests' oracle) from the same weights, or every
ratio would compare against something else. The peers (scikit-learn, PyTorch) are checked the
same way where they are installed, which shows that their settings are plain SGD at the same
rate on the same network.
"""
import io
import subprocess
import sys

import numpy as np
import pytest

import nncore
from nncore import bench
from nncore.bench import baselines

from _helpers import BACKEND_ATOL, BACKEND_RTOL, RTOL, ATOL

# (see the "once" marker in pyproject.toml)
pytestmark = pytest.mark.once

ACTIVATIONS = ["relu", "sigmoid"]
# one and two hidden layers: the second checks delta_prev through a hidden layer's W.T
SIZES = [[5, 7, 3], [5, 7, 6, 4]]


def _networks(sizes, activation, dtype=np.float64, seed=1):
    """(nncore network with backend="numpy", PlainNumpyMLP with the same parameters)."""
    net = nncore.Network(sizes, activation=activation, output="softmax", loss="cross_entropy",
                         seed=seed, dtype=dtype, backend="numpy")
    return net, bench.PlainNumpyMLP.like(net)


def _data(sizes, n, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], n)
    if n >= sizes[-1]:
        labels[:sizes[-1]] = np.arange(sizes[-1])  # every class present
    return X, labels


def _assert_same_parameters(net, mlp, rtol, atol):
    for i, layer in enumerate(net.layers):
        np.testing.assert_allclose(mlp.W[i], layer.W, rtol=rtol, atol=atol, err_msg=f"W{i}")
        np.testing.assert_allclose(mlp.b[i], layer.b, rtol=rtol, atol=atol, err_msg=f"b{i}")


# -- the plain NumPy step: the baseline ------------------------------------------------------------

@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n", [1, 9])
def test_plain_step_makes_the_numpy_backends_update(sizes, activation, n):
    net, mlp = _networks(sizes, activation)
    X, labels = _data(sizes, n)
    Y = bench.one_hot(labels, sizes[-1], np.float64)
    before = [ly.W.copy() for ly in net.layers]
    for lr in (0.5, 0.1, 0.3):  # a few steps: each starts from the previous one's weights
        net.train_step(X, labels, lr)
        mlp.step(X, Y, lr)
        _assert_same_parameters(net, mlp, RTOL[np.float64], ATOL[np.float64])
    # the comparison is not vacuous: every weight matrix moved
    assert all(not np.allclose(b, ly.W) for b, ly in zip(before, net.layers))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_plain_predict_is_the_numpy_backends(activation):
    net, mlp = _networks(SIZES[1], activation)
    X, _ = _data(SIZES[1], 11)
    np.testing.assert_allclose(mlp.predict(X), net.predict(X), rtol=RTOL[np.float64],
                               atol=ATOL[np.float64])


def test_plain_softmax_is_stable_for_large_logits():
    net, mlp = _networks([2, 3, 2], "relu")
    X = np.array([[1e3, 1e3], [-1e3, 2e3]])
    with np.errstate(over="raise", invalid="raise"):  # underflow to 0 is right
        out = mlp.predict(X)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, net.predict(X), rtol=RTOL[np.float64],
                               atol=ATOL[np.float64])


class _InOrder:
    """An rng whose permutation is the identity: the plain fit's order becomes 0..n-1."""

    def permutation(self, n):
        return np.arange(n)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_plain_fit_is_the_numpy_backends_epoch_in_the_same_order(activation):
    sizes = SIZES[1]
    net, mlp = _networks(sizes, activation)
    X, labels = _data(sizes, 23)  # 23 = 2 batches of 10 and a last one of 3
    net.fit(X, labels, epochs=1, lr=0.2, batch_size=10, shuffle=False)
    mlp.fit(X, bench.one_hot(labels, sizes[-1], np.float64), 0.2, 10, _InOrder())
    _assert_same_parameters(net, mlp, 1e-11, 1e-13)


def test_plain_fit_visits_the_examples_in_the_rngs_order():
    sizes = SIZES[0]
    X, labels = _data(sizes, 12)
    Y = bench.one_hot(labels, sizes[-1], np.float64)
    _, mlp = _networks(sizes, "relu")
    _, by_hand = _networks(sizes, "relu")
    mlp.fit(X, Y, 0.2, 5, np.random.default_rng(7))
    order = np.random.default_rng(7).permutation(12)
    for start in (0, 5, 10):
        idx = order[start:start + 5]
        by_hand.step(X[idx], Y[idx], 0.2)
    _assert_same_parameters_plain(mlp, by_hand)


def _assert_same_parameters_plain(a, b):
    for Wa, Wb, ba, bb in zip(a.W, b.W, a.b, b.b):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_plain_step_stays_in_float32(activation):
    sizes = SIZES[1]
    net, mlp = _networks(sizes, activation, dtype=np.float32)
    X, labels = _data(sizes, 9, dtype=np.float32)
    Y = bench.one_hot(labels, sizes[-1], np.float32)
    assert Y.dtype == np.float32
    net.train_step(X, labels, 0.1)
    mlp.step(X, Y, 0.1)
    assert all(W.dtype == np.float32 for W in mlp.W) and all(b.dtype == np.float32
                                                             for b in mlp.b)
    assert mlp.predict(X).dtype == np.float32
    _assert_same_parameters(net, mlp, BACKEND_RTOL[np.float32], BACKEND_ATOL[np.float32])


def test_plain_network_trains_a_copy_of_the_parameters():
    net, mlp = _networks(SIZES[0], "relu")
    W0, b0 = net.layers[0].W.copy(), net.layers[0].b.copy()
    X, labels = _data(SIZES[0], 4)
    mlp.step(X, bench.one_hot(labels, 3, np.float64), 0.5)
    assert not np.array_equal(mlp.W[0], W0)
    np.testing.assert_array_equal(net.layers[0].W, W0)
    np.testing.assert_array_equal(net.layers[0].b, b0)


@pytest.mark.parametrize("kwargs", [
    dict(activation="tanh"),
    dict(activation=nncore.Sigmoid(c=1.0, beta=2.0)),
    dict(activation="relu", output="sigmoid", loss="binary_cross_entropy"),
    dict(activation="relu", output="identity", loss="mse"),
])
def test_plain_network_refuses_what_it_does_not_compute(kwargs):
    net = nncore.Network([3, 4, 2], seed=0, **{"loss": "cross_entropy", **kwargs})
    with pytest.raises(ValueError, match="PlainNumpyMLP computes"):
        bench.PlainNumpyMLP.like(net)


def test_plain_network_refuses_mismatched_parameters():
    with pytest.raises(ValueError, match="2 weight matrices and 1 bias"):
        bench.PlainNumpyMLP([np.ones((2, 3)), np.ones((3, 2))], [np.ones(3)], "relu")
    with pytest.raises(ValueError, match="'relu' or 'sigmoid'"):
        bench.PlainNumpyMLP([np.ones((2, 3))], [np.ones(3)], "tanh")


# -- the peers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_sklearn_partial_fit_makes_the_plain_steps_update(activation):
    pytest.importorskip("sklearn")
    sizes = SIZES[1]
    config = bench.Config(tuple(sizes), activation, 9, 1, None, None)
    X, labels = _data(sizes, 9)
    clf = bench.build_sklearn(config)
    clf.partial_fit(X, labels, classes=np.arange(sizes[-1]))
    _, mlp = _networks(sizes, activation)
    clf.coefs_ = [W.copy() for W in mlp.W]
    clf.intercepts_ = [b.copy() for b in mlp.b]
    clf.partial_fit(X, labels)  # one batch of 9 = one step
    mlp.step(X, bench.one_hot(labels, sizes[-1], np.float64), bench.LR)
    for i in range(len(sizes) - 1):
        np.testing.assert_allclose(clf.coefs_[i], mlp.W[i], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(clf.intercepts_[i], mlp.b[i], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(clf.predict_proba(X), mlp.predict(X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_torch_step_makes_the_plain_steps_update(activation):
    torch = pytest.importorskip("torch")
    sizes = SIZES[1]
    config = bench.Config(tuple(sizes), activation, 9, 1, None, None)
    model, optimizer, loss_fn = bench.build_torch(config, "float64")
    _, mlp = _networks(sizes, activation)
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer, W, b in zip(linear, mlp.W, mlp.b):
            layer.weight.copy_(torch.from_numpy(W.T))
            layer.bias.copy_(torch.from_numpy(b))
    X, labels = _data(sizes, 9)
    optimizer.zero_grad()
    loss_fn(model(torch.from_numpy(X)), torch.from_numpy(labels)).backward()
    optimizer.step()
    mlp.step(X, bench.one_hot(labels, sizes[-1], np.float64), bench.LR)
    for layer, W, b in zip(linear, mlp.W, mlp.b):
        np.testing.assert_allclose(layer.weight.detach().numpy().T, W, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(layer.bias.detach().numpy(), b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_torch_adam_step_makes_nncores_adam_update(activation):
    # the Adam rows compare nncore's Adam with torch.optim.Adam: the same update from the same
    # weights (nncore's Adam follows torch.optim's definition), over steps where the bias
    # corrections still matter
    torch = pytest.importorskip("torch")
    sizes = SIZES[1]
    config = bench.Config(tuple(sizes), activation, 9, 1, None, None)
    model, optimizer, loss_fn = bench.build_torch(config, "float64", optimizer="adam")
    assert isinstance(optimizer, torch.optim.Adam)
    net = bench.build_network(config, "float64", optimizer="adam")
    assert isinstance(net.optimizer, nncore.Adam)
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer, ly in zip(linear, net.layers):
            layer.weight.copy_(torch.from_numpy(ly.W.T))
            layer.bias.copy_(torch.from_numpy(ly.b))
    W0 = [ly.W.copy() for ly in net.layers]
    X, labels = _data(sizes, 9)
    for _ in range(3):
        optimizer.zero_grad()
        loss_fn(model(torch.from_numpy(X)), torch.from_numpy(labels)).backward()
        optimizer.step()
        net.train_step(X, labels, bench.ADAM_LR)
        for layer, ly in zip(linear, net.layers):
            np.testing.assert_allclose(layer.weight.detach().numpy().T, ly.W, rtol=1e-10,
                                       atol=1e-13)
            np.testing.assert_allclose(layer.bias.detach().numpy(), ly.b, rtol=1e-10,
                                       atol=1e-13)
    assert all(not np.allclose(w, ly.W) for w, ly in zip(W0, net.layers))


def test_build_torch_refuses_an_unknown_optimizer():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="'sgd' or 'adam'"):
        bench.build_torch(bench.CONFIGS[0], "float32", optimizer="rmsprop")


# -- the cases -------------------------------------------------------------------------------------

SMALL = bench.Config((4, 5, 3), "relu", 8, fit_steps=3, target_step=None, target_fit=None)


@pytest.mark.parametrize("op", bench.OPS)
@pytest.mark.parametrize("backend", bench.BACKENDS)
@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_every_case_runs(backend, op, dtype):
    if not bench.available(backend):
        pytest.skip(f"{backend} is not installed")
    case = bench.make_case(SMALL, dtype, op, backend)
    assert case.steps == (3 if op == "fit" else 1)
    assert case.samples == 8 * case.steps
    assert case.flops == case.steps * SMALL.flops(op)
    case.fn()


@pytest.mark.parametrize("backend", bench.ADAM_BACKENDS)
@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_every_adam_case_runs(backend, dtype):
    if not bench.available(backend):
        pytest.skip(f"{backend} is not installed")
    case = bench.make_case(SMALL, dtype, bench.ADAM, backend)
    # nncore: one fit epoch of fit_steps Adam steps; PyTorch: one Adam step on a fixed batch
    assert case.steps == (3 if backend == "nncore" else 1)
    assert case.samples == 8 * case.steps
    assert case.flops == case.steps * SMALL.flops("fit")
    case.fn()


def test_nncore_adam_case_fits_with_adam_at_adams_rate():
    case = bench.make_case(SMALL, "float64", bench.ADAM, "nncore")
    net = case.fn.func.__self__
    assert case.fn.func == net.fit and isinstance(net.optimizer, nncore.Adam)
    assert case.fn.keywords == dict(epochs=1, lr=bench.ADAM_LR, batch_size=SMALL.batch)
    step = int(net.optimizer._step[0])
    assert step == 3  # the warm-up epoch
    W = net.layers[0].W.copy()
    case.fn()
    assert int(net.optimizer._step[0]) == step + 3 and not np.array_equal(W, net.layers[0].W)


@pytest.mark.parametrize("backend", ["numpy", "sklearn", "nncore-numpy"])
def test_adam_case_is_refused_for_the_other_backends(backend):
    if not bench.available(backend):
        pytest.skip(f"{backend} is not installed")
    with pytest.raises(ValueError, match="measured for"):
        bench.make_case(SMALL, "float64", bench.ADAM, backend)


@pytest.mark.parametrize("op", ["train_step", "fit"])
def test_nncore_is_given_integer_labels(op):
    case = bench.make_case(SMALL, "float32", op, "nncore")
    labels = case.fn.args[1]
    assert labels.ndim == 1 and labels.dtype.kind == "i"


def test_plain_numpy_case_trains_on_the_data_of_the_others():
    X, labels = bench.make_data(SMALL, "float64", 8)
    case = bench.make_case(SMALL, "float64", "train_step", "numpy")
    mlp = case.fn.func.__self__
    X_case, Y_case = case.fn.args[:2]
    np.testing.assert_array_equal(X_case, X)
    np.testing.assert_array_equal(Y_case.argmax(axis=1), labels)
    assert Y_case.dtype == np.float64 and mlp.W[0].dtype == np.float64


def test_unknown_op_or_backend_is_refused():
    with pytest.raises(ValueError, match="unknown op"):
        bench.make_case(SMALL, "float64", "evaluate", "nncore")
    with pytest.raises(ValueError, match="unknown backend"):
        bench.make_case(SMALL, "float64", "fit", "jax")


def test_flops_of_a_step():
    # forward 2*8*(4*5 + 5*3) = 560; weight gradients 560; input gradient of layer 2: 2*8*15
    assert SMALL.flops("predict") == 560
    assert SMALL.flops("train_step") == SMALL.flops("fit") == 560 + 560 + 240


# -- the targets and the table ---------------------------------------------------------------------

def test_targets_are_the_issues():
    targets = {(c.id, d): (c.target("train_step", d), c.target("fit", d))
               for c in bench.CONFIGS for d in bench.DTYPES}
    issue = {"3-4-2-b1": (20, 100), "3-4-2-b32": (10, 20), "784-256-10-b64": (1.4, 1.4),
             "784-1024-1024-10-b256": (1.05, 1.05)}
    for d in bench.DTYPES:
        for network, expected in issue.items():
            assert targets[network, d] == expected
    assert targets["64-32-10-b32", "float32"] == (5, 8)
    assert targets["64-32-10-b32", "float64"] == (5, 5)
    assert bench.CONFIGS[0].target("predict", "float32") is None
    assert bench.GEMM_SHAPE == (256, 1024, 1024) and bench.GEMM_SHARE_TARGET == 0.9
    # the Adam step: at most 1.5x the SGD step on 64-32-10 b32, 1.3x on 784-256-10 b64, and
    # faster than PyTorch's Adam on every network
    assert {c.id: c.adam_bound for c in bench.CONFIGS} == {
        "3-4-2-b1": None, "3-4-2-b32": None, "64-32-10-b32": 1.5, "784-256-10-b64": 1.3,
        "784-1024-1024-10-b256": None}
    assert bench.ADAM_TORCH_TARGET == 1
    from nncore.bench import estimators
    assert estimators.ESTIMATOR_TARGET == 5  # the estimators' fit vs scikit-learn's


def _row(config, dtype, op, **us):
    return bench.Row(config, dtype, op, {b: t * 1e-6 for b, t in us.items()})


def test_table_ratios_and_target_marks():
    c64 = bench.CONFIGS[2]
    rows = [_row(bench.CONFIGS[0], "float32", "train_step", nncore=1, numpy=25, torch=0.5),
            _row(bench.CONFIGS[0], "float32", "fit", nncore=1, numpy=99, torch=300),
            _row(c64, "float64", "fit", nncore=10, numpy=60),    # 6x: float64 target 5
            _row(c64, "float32", "fit", nncore=10, numpy=60)]    # 6x: float32 target 8
    assert [r.met() for r in rows] == [True, False, True, False]
    lines = bench.format_table(rows).splitlines()
    assert lines[0].split()[:6] == ["network", "dtype", "op", "nncore", "us", "NumPy"]
    assert "sklearn us" not in lines[0]  # not measured: no column
    body = [line for line in lines[2:] if line]
    assert "25x" in body[0] and ">=20x ok" in body[0] and "0.5x SLOWER" in body[0]
    assert "99x" in body[1] and ">=100x MISS" in body[1] and "300x" in body[1]
    assert ">=5x ok" in body[2] and ">=8x MISS" in body[3]
    assert bench.summary(rows) == ["speedup targets over the plain NumPy step met: 2 of 4",
                                   "faster than PyTorch: 1 of 2"]


def test_adam_table_ratios_and_bounds():
    c3, c64, c784 = bench.CONFIGS[0], bench.CONFIGS[2], bench.CONFIGS[3]
    rows = [_row(c3, "float32", "fit", nncore=1, numpy=99),
            _row(c3, "float32", bench.ADAM, nncore=3, torch=2),        # no bound; slower
            _row(c64, "float32", "fit", nncore=10, numpy=60),
            _row(c64, "float32", bench.ADAM, nncore=14, torch=70),     # 1.4x <= 1.5x; 5x
            _row(c784, "float64", "fit", nncore=100, numpy=200),
            _row(c784, "float64", bench.ADAM, nncore=140, torch=150),  # 1.4x > 1.3x; 1.07x
            _row(c784, "float32", bench.ADAM, nncore=140)]             # no fit row, no torch
    rows[3].extra["subnormal"] = 150
    lines = bench.adam_table(rows).splitlines()
    assert lines[0].split()[:4] == ["network", "dtype", "SGD", "fit/step"]
    assert "subnormal" in lines[0]
    body = lines[2:]
    assert len(body) == 4  # one line per Adam row
    assert "3.00x" in body[0] and "<=" not in body[0] and "0.667x" in body[0] \
        and ">=1x MISS" in body[0]
    assert "1.40x" in body[1] and "<=1.5x ok" in body[1] and "5x" in body[1] \
        and ">=1x ok" in body[1] and " 150 " in body[1]
    assert "1.40x" in body[2] and "<=1.3x MISS" in body[2] and "1.07x" in body[2]
    # neither ratio: the bound unmarked, no target
    assert body[3].split()[4:] == ["-", "140", "-", "<=1.3x", "-", "-", "-"]
    assert bench.adam_summary(rows) == [
        "Adam within its bound of the SGD step: 1 of 2",
        "Adam faster than PyTorch's Adam step: 2 of 3"]
    # the main table and its summary leave the Adam rows out
    assert "adam" not in bench.format_table(rows)
    assert bench.summary(rows)[0].endswith("of 3")


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_subnormal_count(dtype):
    net = bench.build_network(SMALL, dtype, optimizer="adam")
    assert bench.subnormal_count(net) == 0
    tiny = np.finfo(dtype).tiny
    W, b = net.layers[0].W, net.layers[-1].b
    W.flat[0], W.flat[-1] = tiny / 4, -tiny / 2           # subnormal: first and last index
    b[0], b[-1] = tiny, 0.0                               # the smallest normal, and zero: not
    assert bench.subnormal_count(net) == 2
    X, labels = bench.make_data(SMALL, dtype, 8)
    net.train_step(X, labels, bench.ADAM_LR)              # the moments exist now
    W.flat[0], W.flat[-1] = 0.5, 0.5
    moments = [a for groups in net.optimizer._state for group in groups for a in group]
    assert moments
    moments[0].flat[0] = moments[-1].flat[-1] = tiny / 8
    assert bench.subnormal_count(net) == 2
    sgd = bench.build_network(SMALL, dtype)               # no state at all
    sgd.layers[0].W.flat[3] = tiny / 4
    assert bench.subnormal_count(sgd) == 1


def test_adam_case_keeps_its_network():
    assert isinstance(bench.make_case(SMALL, "float32", bench.ADAM, "nncore").network,
                      nncore.Network)
    assert bench.make_case(SMALL, "float32", "fit", "numpy").network is None


def _estimator_result(nncore_s, sklearn_s, n_iter=(5, 5), **kwargs):
    return bench.EstimatorResult(**{**dict(
        solver="sgd", batch_size=32, dtype="float64", epochs=5,
        seconds={"nncore": nncore_s, "sklearn": sklearn_s},
        n_iter={"nncore": n_iter[0], "sklearn": n_iter[1]},
        accuracy={"nncore": 0.95, "sklearn": 0.94}), **kwargs})


def test_estimator_table_ratios_and_targets():
    results = [_estimator_result(0.1, 0.6),
               _estimator_result(0.1, 0.4, solver="adam", batch_size="auto"),
               _estimator_result(0.1, 0.9, n_iter=(5, 4), dtype="float32"),
               bench.EstimatorResult("adam", 32, "float32", 5, {"nncore": 0.1}, {"nncore": 5},
                                     {"nncore": 0.9})]
    assert [r.met() for r in results] == [True, False, None, None]
    assert results[0].ratio == pytest.approx(6) and results[3].ratio is None
    lines = bench.estimator_table(results).splitlines()
    body = lines[2:]
    assert "solver=sgd batch=32" in body[0] and "6x" in body[0] and ">=5x ok" in body[0]
    assert "0.950" in body[0] and "0.940" in body[0]
    assert "solver=adam batch=auto" in body[1] and "4x" in body[1] and ">=5x MISS" in body[1]
    assert "5/4" in body[2] and "epochs differ" in body[2] and " ok" not in body[2]
    assert body[3].split()[-3:] == ["-", "0.900", "-"]
    assert bench.estimator_summary(results) == [
        "nncore.sklearn fit >= 5x faster than scikit-learn's: 1 of 2"]
    assert bench.estimator_summary(results[2:]) == []


def test_estimators_get_the_same_parameters():
    pytest.importorskip("sklearn")
    from nncore.bench import estimators
    for solver in estimators.ESTIMATOR_SOLVERS:
        nn = estimators.build_estimator("nncore", solver, 32, "float32", 7)
        sk = estimators.build_estimator("sklearn", solver, 32, "float32", 7)
        expected = sk.get_params()
        # nncore's extra parameters: dtype, and class_weight (left at None)
        extra = {"dtype", "class_weight"}
        assert {k: v for k, v in nn.get_params().items() if k not in extra} == expected
        assert nn.dtype == "float32" and nn.class_weight is None
        assert expected["max_iter"] == expected["n_iter_no_change"] == 7
        assert expected["tol"] == 0 and expected["hidden_layer_sizes"] == (64,)
        assert expected["learning_rate_init"] == {"sgd": 0.05, "adam": 0.001}[solver]
        assert expected["alpha"] == 1e-4 and expected["batch_size"] == 32
    with pytest.raises(ValueError, match="which"):
        estimators.build_estimator("keras", "sgd", 32, "float32", 7)
    with pytest.raises(ValueError, match="solver"):
        estimators.estimator_params("lbfgs", 32, 7)


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_digits_are_standardised_and_split(dtype):
    pytest.importorskip("sklearn")
    from nncore.bench import estimators
    X_train, X_test, y_train, y_test = estimators.digits(dtype)
    assert X_train.dtype == X_test.dtype == np.dtype(dtype)
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert len(y_train) == 1347 and len(y_test) == 450
    used = X_train.std(axis=0) > 0  # digits has constant pixels: they stay 0
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(X_train.std(axis=0)[used], 1, rtol=1e-4)
    # stratified: every class in both parts in (nearly) the proportions of the whole
    assert np.abs(np.bincount(y_test) / 450 - np.bincount(y_train) / 1347).max() < 0.01


def test_step_products_count_a_steps_flops():
    """One hidden layer, F -> H -> K on b rows: forward 2b(FH + HK), backward 2b(HK + KH +
    FH) (no input gradient for the first layer); shapes (m, k, n) with op(A) (m, k)."""
    from nncore.bench import estimators
    F, H, K, b = 64, 64, 10, 200
    products = estimators.step_products(F, H, K, b)
    assert sum(2 * m * k * n for m, k, n, _, _ in products) == \
        2 * b * (F * H + H * K) + 2 * b * (H * K + K * H + F * H)
    assert sorted((m, n) for m, _, n, _, _ in products) == \
        sorted([(b, H), (b, K), (H, K), (b, H), (F, H)])


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_estimator_compute(dtype):
    pytest.importorskip("sklearn")
    from nncore.bench import estimators
    data = estimators.digits(dtype)
    result = estimators.estimator_compute(dtype, epochs=1, repeats=1, data=data,
                                            peak_size=128)
    # 1,347 rows: 6 batches of 200 and one of 147, 20,224 FLOP a row (64-64-10)
    assert result.flops == 1347 * 20224
    assert result.dtype == dtype and result.epochs == 1
    assert 0 < result.core_epochs and 0 < result.fit and 0 < result.numpy_products
    assert result.peak["NumPy"] > 0
    assert len(result.lines()) == 4


@pytest.mark.parametrize("dtype", bench.DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_measure_estimator_fits_both_the_same_epochs(solver, dtype):
    pytest.importorskip("sklearn")
    from nncore.bench import estimators
    result = estimators.measure_estimator(solver, 64, dtype, epochs=2, target=0.001,
                                          repeats=1)
    assert (result.solver, result.batch_size, result.dtype) == (solver, 64, dtype)
    assert result.n_iter == {"nncore": 2, "sklearn": 2} and result.same_epochs
    assert set(result.seconds) == {"nncore", "sklearn"}
    assert all(s > 0 for s in result.seconds.values())
    assert all(0 < a <= 1 for a in result.accuracy.values())
    assert result.met() is not None


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_the_sparse_row_fits_both_on_the_same_tfidf_like_data(dtype):
    pytest.importorskip("sklearn")
    from nncore.bench import estimators
    from nncore.bench.table import estimator_table
    data = estimators.tfidf_like(600, 2000, 0.01, 4, seed=1, dtype=dtype)
    again = estimators.tfidf_like(600, 2000, 0.01, 4, seed=1, dtype=dtype)
    X_train, X_test, y_train, y_test = data
    assert X_train.format == "csr" and X_train.dtype == dtype
    assert X_train.shape == (450, 2000) and X_test.shape == (150, 2000)
    assert 0.007 < (X_train.nnz + X_test.nnz) / (600 * 2000) < 0.013     # density 1%
    assert (X_train != again[0]).nnz == 0 and np.array_equal(y_train, again[2])  # seeded
    np.testing.assert_allclose(np.sqrt(X_train.multiply(X_train).sum(axis=1)), 1, rtol=1e-5)
    result = estimators.measure_sparse_estimator(dtype, epochs=1, data=data)
    assert result.n_iter == {"nncore": 1, "sklearn": 1} and result.dtype == dtype
    assert all(s > 0 for s in result.seconds.values()) and result.met() is not None
    assert "tfidf-like sparse solver=adam batch=auto" in estimator_table([result])


def test_estimators_train_in_the_dtype_of_the_row(monkeypatch):
    sklearn = pytest.importorskip("sklearn")
    from nncore.bench import estimators
    fitted = []
    original = estimators._fit

    def spy(est, X, y):
        original(est, X, y)
        fitted.append(est)

    monkeypatch.setattr(estimators, "_fit", spy)
    estimators.measure_estimator("sgd", 64, "float32", epochs=1, target=0.001, repeats=1)
    nn = next(e for e in fitted if type(e).__module__ == "nncore.sklearn")
    sk = next(e for e in fitted if isinstance(e, sklearn.neural_network.MLPClassifier))
    assert nn.coefs_[0].dtype == np.float32 and sk.coefs_[0].dtype == np.float32


def test_threads_lines_mark_the_target_for_two_threads_only():
    config = bench.THREAD_CONFIGS[0]
    results = [bench.ThreadsResult(config, "float32", 2, 3, 0.18, 0.1),
               bench.ThreadsResult(config, "float64", 2, 3, 0.15, 0.1),
               bench.ThreadsResult(config, "float64", 4, 3, 0.4, 0.1)]
    lines = bench.table.threads_lines(results, cores=4)
    assert "1.80x" in lines[0] and "ok" in lines[0]
    assert "1.50x" in lines[1] and "MISS" in lines[1]
    assert "4.00x" in lines[2] and "target" not in lines[2]
    assert "target" not in bench.table.threads_lines(results[:1], cores=1)[0]


def test_many_networks_in_threads():
    pytest.importorskip("threadpoolctl")
    result = bench.many_networks(SMALL, "float32", 2, target=0.002, repeats=1)
    assert result.k == 2 and result.epochs >= 1
    assert result.sequential > 0 and result.threaded > 0
    assert result.speedup == result.sequential / result.threaded


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_networks_trained_in_threads_are_those_trained_one_after_the_other(dtype):
    pytest.importorskip("threadpoolctl")
    with bench.ManyNetworks(SMALL, dtype, 3) as one_by_one:
        one_by_one.sequential(epochs=2)
    with bench.ManyNetworks(SMALL, dtype, 3) as threads:
        before = [net.layers[0].W.copy() for net in threads.nets]
        threads.threaded(epochs=2)
    for a, b, W0 in zip(one_by_one.nets, threads.nets, before):
        assert not np.array_equal(b.layers[0].W, W0)  # every network was trained
        for la, lb in zip(a.layers, b.layers):
            np.testing.assert_array_equal(la.W, lb.W)
            np.testing.assert_array_equal(la.b, lb.b)
    # each network had its own data and seed
    assert not np.array_equal(threads.nets[0].layers[0].W, threads.nets[1].layers[0].W)


def test_report_of_one_network():
    out = io.StringIO()
    rows, numpy_rates, _, step_rates, threads, estimator_results = bench.report(
        quick=True, dtypes=("float64",), configs=(bench.CONFIGS[0],), file=out,
        estimators=False)
    text = out.getvalue()
    assert [(r.op, r.dtype) for r in rows] == [(op, "float64")
                                               for op in bench.OPS + (bench.ADAM,)]
    assert all(set(r.seconds) >= {"nncore", "numpy"} for r in rows[:-1])
    assert set(rows[-1].seconds) == {"nncore", "torch"} & {b for b in bench.ADAM_BACKENDS
                                                           if bench.available(b)}
    assert isinstance(rows[-1].extra["subnormal"], int)
    assert "nncore-numpy" not in rows[0].seconds  # the oracle is not in the default report
    assert "vs NumPy" in text and "3-4-2 sigmoid b1" in text and "CPU:" in text
    assert "Adam: nncore's step inside fit" in text and "Adam/SGD" in text
    assert numpy_rates == step_rates == {} and threads == []  # neither network is in this run
    assert estimator_results == [] and "scikit-learn's estimators" not in text
    assert text.rstrip().endswith("made by: python -m nncore bench --quick --dtype float64 "
                                  "--network 3-4-2-b1")


def test_report_without_adam():
    out = io.StringIO()
    rows, *_ = bench.report(quick=True, dtypes=("float32",), configs=(bench.CONFIGS[0],),
                            file=out, adam=False, estimators=False)
    text = out.getvalue()
    assert [r.op for r in rows] == list(bench.OPS) and "Adam" not in text
    assert text.rstrip().endswith("--network 3-4-2-b1 --no-adam")


def test_report_with_the_estimators(monkeypatch):
    pytest.importorskip("sklearn")
    from nncore.bench import reporting
    monkeypatch.setattr(reporting, "ESTIMATORS_QUICK", (1, 0.001, 1))  # one epoch, one fit
    out = io.StringIO()
    *_, estimator_results = bench.report(quick=True, dtypes=("float64",),
                                         configs=(bench.CONFIGS[0],), file=out, adam=False)
    text = out.getvalue()
    assert [(r.solver, r.batch_size, r.dtype) for r in estimator_results] == [
        ("sgd", "auto", "float64"), ("sgd", 32, "float64"), ("adam", "auto", "float64"),
        ("adam", 32, "float64")]
    assert all(r.n_iter == {"nncore": 1, "sklearn": 1} for r in estimator_results)
    assert "scikit-learn's estimators: nncore.sklearn" in text and "1 epochs each" in text
    assert "solver=adam batch=32" in text and "nncore.sklearn fit >= 5x faster" in text


def test_report_without_the_peers(monkeypatch):
    monkeypatch.setitem(baselines._MODULES, "torch", None)
    monkeypatch.setitem(baselines._MODULES, "sklearn", None)
    out = io.StringIO()
    rows, *_ = bench.report(quick=True, dtypes=("float32",), configs=(bench.CONFIGS[0],),
                            backends=bench.BACKENDS, file=out)
    text = out.getvalue()
    assert "not measured (cannot be imported): torch, sklearn" in text
    assert "PyTorch us" not in text and "sklearn us" not in text
    assert "scikit-learn's estimators" not in text  # no scikit-learn, no estimators
    assert rows[-1].op == bench.ADAM and set(rows[-1].seconds) == {"nncore"}
    rows = rows[:-1]
    assert "nncore-NumPy us" in text and "vs nncore-NumPy" in text
    assert all(set(r.seconds) == {"nncore", "numpy", "nncore-numpy"} for r in rows)


def test_command_line():
    result = subprocess.run([sys.executable, "-m", "nncore.bench", "--quick", "--dtype",
                             "float32", "--network", "3-4-2-b1"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "3-4-2 sigmoid b1  float32  fit/step" in result.stdout
    assert "speedup targets over the plain NumPy step met" in result.stdout


@pytest.mark.parametrize("command", [["nncore", "bench"], ["nncore.bench"]])
def test_both_commands_take_the_same_options(command):
    result = subprocess.run([sys.executable, "-m", *command, "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--quick", "--dtype", "--network", "--with-numpy-backend", "--no-adam",
                   "--no-estimators", "--no-serving"):
        assert option in result.stdout


def test_command_line_refuses_an_unknown_network():
    result = subprocess.run([sys.executable, "-m", "nncore", "bench", "--network", "1-2-3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "invalid choice: '1-2-3'" in result.stderr


def test_numpy_step_rate_times_every_product_of_a_step(monkeypatch):
    # the bound of the largest network's fit rate: the step's FLOPs over the time NumPy's
    # matmul takes for the step's own products (forward and weight gradient per layer, input
    # gradient for every layer but the first)
    from nncore.bench import timing
    shapes = []

    def fake_best(fn, target, repeats):
        A, B = fn.args
        shapes.append((A.shape, B.shape, fn.keywords["out"].shape))
        return 1e-3

    monkeypatch.setattr(timing, "_best", fake_best)
    config = bench.Config((8, 16, 4), "relu", 5, fit_steps=1, target_step=1, target_fit=1)
    rate = bench.numpy_step_rate(config, "float32")
    assert sorted(shapes) == sorted([
        ((5, 8), (8, 16), (5, 16)), ((8, 5), (5, 16), (8, 16)),               # layer 0
        ((5, 16), (16, 4), (5, 4)), ((16, 5), (5, 4), (16, 4)), ((5, 4), (4, 16), (5, 16))])
    assert rate == pytest.approx(config.flops("train_step") / (5 * 1e-3) / 1e9)


# -- serving: predict at small batches, train_step at a few examples ---------------------------

from nncore.bench import serving  # noqa: E402


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_serving_contestants_predict_the_same(dtype):
    # nncore, the plain NumPy forward and ONNX Runtime (nncore's own export, float32) start
    # from the same parameters: their predictions of the same batch agree
    config = bench.CONFIGS[2]
    fns = serving.serving_callables(config, dtype, "predict", 5)
    ours = fns["nncore"]()
    assert ours.shape == (5, config.n_classes)
    np.testing.assert_allclose(fns["numpy"](), ours, rtol=BACKEND_RTOL[np.dtype(dtype).type],
                               atol=BACKEND_ATOL[np.dtype(dtype).type])
    if "onnxruntime" in fns:
        assert dtype == "float32"
        np.testing.assert_allclose(fns["onnxruntime"]()[0], ours, rtol=1e-5, atol=1e-6)
    else:
        assert dtype == "float64" or serving.onnxruntime_module() is None
    if bench.available("torch"):
        assert fns["torch"]().shape == (5, config.n_classes)


def test_serving_train_step_contestants_take_the_same_step():
    config = bench.CONFIGS[3]
    fns = serving.serving_callables(config, "float64", "train_step", 1)
    assert set(fns) >= {"nncore", "numpy"}
    # the same steps on the same example from the same parameters
    for _ in range(3):
        net, plain = fns["nncore"](), fns["numpy"]()
    for layer, W, b in zip(net.layers, plain.W, plain.b):
        assert not np.array_equal(layer.W, net.layers[0].W) or layer is net.layers[0]
        np.testing.assert_allclose(layer.W, W, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.b, b, rtol=1e-10, atol=1e-12)
    first = serving.serving_callables(config, "float64", "train_step", 1)["numpy"]().W[0]
    assert not np.allclose(first, plain.W[0], rtol=0, atol=1e-12)  # the steps changed W


def test_measure_row_rotates_the_order_and_rests_before_each_turn(monkeypatch):
    # each contestant's turn comes after a rest, and in `repeats` = 3 rounds each of 3
    # contestants goes first once and follows each of the others (no one always follows the
    # same contestant, whose threads may still spin)
    turns, rests = [], []
    monkeypatch.setattr(serving.time, "sleep", rests.append)
    monkeypatch.setattr(serving.time, "process_time", lambda: 0.0)   # no thread spins

    def contestant(name):
        def call():
            if not turns or turns[-1] != name:
                turns.append(name)
        return call
    fns = {name: contestant(name) for name in ("a", "b", "c")}
    best = serving.measure_row(fns, target=1e-5, repeats=3, settle=0.25)
    assert set(best) == {"a", "b", "c"} and all(0 < t < 1 for t in best.values())
    rounds = turns[-9:]
    assert [rounds[i] for i in (0, 3, 6)] == ["a", "b", "c"]
    followed = {(rounds[i], rounds[i + 1]) for i in range(8)}
    assert {("c", "a"), ("a", "c"), ("c", "b")} <= followed
    assert rests == [0.25] * 9


def test_measure_row_does_not_time_the_first_call_after_a_rest(monkeypatch):
    # after the rest a contestant's first call pays for sleeping threads and cold caches: here
    # it takes 20 ms and every other call none, so timing it would make the best >= 20 ms / n
    rested = []
    monkeypatch.setattr(serving.time, "sleep", rested.append)
    monkeypatch.setattr(serving.time, "process_time", lambda: 0.0)
    clock = [0.0]
    monkeypatch.setattr(serving.time, "perf_counter", lambda: clock[0])

    def call():
        if rested:
            rested.clear()
            clock[0] += 0.02
        clock[0] += 1e-6
    best = serving.measure_row({"a": call, "b": call}, target=1e-4, repeats=2, settle=0.01)
    assert best == {"a": pytest.approx(1e-6), "b": pytest.approx(1e-6)}


def test_rest_goes_on_while_another_thread_of_the_process_spins():
    # a pool that spins after a call (OpenBLAS's, for about 0.1 s here) would take a core from
    # the next contestant: the rest lasts until it stops, and no longer than asked
    import threading
    import time

    def spin(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
    spinner = threading.Thread(target=spin, args=(0.12,))
    start = time.perf_counter()
    spinner.start()
    waited = serving.rest_until_idle(0.02, 1.0)
    spinner.join()
    assert 0.1 <= waited <= 0.5 and time.perf_counter() - start >= 0.1
    assert serving.rest_until_idle(0.02, 1.0) == pytest.approx(0.02)   # idle: one step
    spinner = threading.Thread(target=spin, args=(0.3,))
    spinner.start()
    assert serving.rest_until_idle(0.02, 0.1) == pytest.approx(0.1)   # never past `longest`
    spinner.join()


def test_serving_refuses_an_unknown_op():
    with pytest.raises(ValueError, match="predict"):
        serving.serving_callables(bench.CONFIGS[0], "float32", "fit", 1)


def test_onnxruntime_session_is_set_up_for_serving():
    if serving.onnxruntime_module() is None:
        pytest.skip("onnxruntime is not installed")
    net = nncore.Network([6, 5, 3], output="softmax", loss="cross_entropy", seed=1,
                         dtype="float32")
    session = serving.onnxruntime_session(net, threads=2)
    options = session.get_session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    X = np.random.default_rng(0).random((4, 6), dtype=np.float32)
    np.testing.assert_allclose(session.run(None, {"X": X})[0], net.predict(X), rtol=1e-5,
                               atol=1e-6)


def test_serving_rows_ratios_and_targets():
    config = bench.CONFIGS[3]
    fast = serving.ServingRow(config, "float32", "predict", 1,
                              {"nncore": 1e-5, "numpy": 2e-5, "onnxruntime": 1e-5})
    slow = serving.ServingRow(config, "float32", "predict", 8,
                              {"nncore": 2e-5, "numpy": 3e-5, "onnxruntime": 1e-5})
    step1 = serving.ServingRow(config, "float64", "train_step", 1, {"nncore": 5e-5,
                                                                     "numpy": 9e-5})
    step4 = serving.ServingRow(config, "float64", "train_step", 4, {"nncore": 4e-5,
                                                                     "numpy": 9e-5})
    assert fast.ratio("numpy") == pytest.approx(2.0) and fast.ratio("torch") is None
    assert fast.met and not slow.met and step1.met
    table = serving.serving_table([fast, slow])
    assert "2.00x" in table and "0.50x" in table and "NO" in table
    lines = serving.serving_summary([fast, slow, step1, step4])
    assert lines[0].endswith("3 of 4")
    assert any("worst ratio against onnxruntime: 0.50x" in line and "batch 8" in line
               for line in lines)
    assert any("batch 1 50 us, batch 4 40 us (SLOWER)" in line for line in lines)


def test_report_prints_the_serving_rows():
    out = io.StringIO()
    bench.report(quick=True, dtypes=("float32",), configs=(bench.CONFIGS[0],), file=out,
                 adam=False, estimators=False)
    text = out.getvalue()
    assert "Serving and online learning" in text
    for batch in serving.PREDICT_BATCHES:
        assert f"3-4-2    float32  predict  {batch:>5}" in text
    assert "serving targets met" in text
    out = io.StringIO()
    bench.report(quick=True, dtypes=("float32",), configs=(bench.CONFIGS[0],), file=out,
                 adam=False, estimators=False, serving=False)
    assert "Serving" not in out.getvalue()
    assert out.getvalue().rstrip().endswith("--no-adam --no-serving")


def test_dropout_rows_time_the_network_with_and_without_dropout():
    from nncore.bench.dropout import DROPOUT_P, dropout_table, run_dropout
    net = bench.build_network(bench.CONFIGS[2], "float32", dropout=DROPOUT_P)
    assert [ly.dropout for ly in net.layers] == [DROPOUT_P, 0.0]
    assert [ly.dropout for ly in bench.build_network(bench.CONFIGS[2], "float32").layers] == \
        [0.0, 0.0]
    rows = run_dropout(quick=True, dtypes=("float32",), configs=bench.CONFIGS[:3])
    assert [(r.config, r.dtype) for r in rows] == [(bench.CONFIGS[2], "float32")]
    assert rows[0].plain > 0 and rows[0].ratio == rows[0].dropout / rows[0].plain
    lines = dropout_table(rows)
    assert "with Dropout(0.5)" in lines[0] and lines[1].endswith(f"{rows[0].ratio:.2f}x")
