"""Network.evaluate's metrics against scikit-learn's, and Network.summary."""
import numpy as np
import pytest

import nncore
from nncore import metrics as M

sk = pytest.importorskip("sklearn.metrics")

DTYPES = ["float32", "float64"]
BACKENDS = ["cython", "numpy"]
RTOL = {"float32": 1e-5, "float64": 1e-12}
# more rows than one chunk, and not a multiple of it
N_ROWS = 2 * M.CHUNK_ROWS + 37


def classifier(dtype, backend, n_in=5, n_out=4, seed=0):
    return nncore.Network([n_in, 7, n_out], activation="tanh", loss="cross_entropy",
                          seed=seed, dtype=dtype, backend=backend)


def class_data(n, n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)) * 2
    y = rng.integers(0, n_out, size=n)
    return X, y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 5, N_ROWS])
@pytest.mark.filterwarnings(r"ignore:.k. \(5\) greater than")
def test_class_metrics_equal_sklearn(dtype, backend, n):
    net = classifier(dtype, backend)
    X, y = class_data(n, 5, 4, seed=n)
    net.fit(X, y, epochs=1, lr=0.05)
    got = net.evaluate(X, y, ["loss", "accuracy", "top_2_accuracy", "top_k_accuracy",
                              "precision", "recall", "f1", "log_loss"])
    assert list(got) == ["loss", "accuracy", "top_2_accuracy", "top_k_accuracy", "precision",
                         "recall", "f1", "log_loss"]
    P = net.predict(X)
    guess = P.argmax(axis=1)
    labels = np.arange(4)
    rtol = RTOL[dtype]
    assert got["accuracy"] == sk.accuracy_score(y, guess)
    assert got["top_2_accuracy"] == sk.top_k_accuracy_score(y, P, k=2, labels=labels)
    assert got["top_k_accuracy"] == sk.top_k_accuracy_score(y, P, k=5, labels=labels)
    for name, fn in [("precision", sk.precision_score), ("recall", sk.recall_score),
                     ("f1", sk.f1_score)]:
        assert got[name] == pytest.approx(fn(y, guess, average="macro", zero_division=0),
                                          rel=1e-12), name
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, P, labels=labels), rel=rtol)
    assert got["loss"] == pytest.approx(net.loss(X, y), rel=rtol)
    # one-hot rows give the same as labels
    assert net.evaluate(X, np.eye(4)[y], list(got)) == pytest.approx(got, rel=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_metrics_of_one_sigmoid_output_equal_sklearn(dtype):
    net = nncore.Network([3, 6, 1], activation="relu", loss="binary_cross_entropy", seed=1,
                         dtype=dtype)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(M.CHUNK_ROWS + 5, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=len(X)) > 0).astype(float)
    net.fit(X, y, epochs=2, lr=0.1)
    p = net.predict(X)[:, 0]
    got = net.evaluate(X, y, ["accuracy", "precision", "recall", "f1", "log_loss"])
    guess = (p >= 0.5).astype(int)
    assert got["accuracy"] == sk.accuracy_score(y, guess)
    assert got["f1"] == pytest.approx(sk.f1_score(y, guess, average="macro"), rel=1e-12)
    assert got["precision"] == pytest.approx(sk.precision_score(y, guess, average="macro"),
                                             rel=1e-12)
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, p), rel=RTOL[dtype])


def test_macro_averages_skip_classes_never_seen_and_count_never_predicted_as_zero():
    # a 5-output network on targets of classes 0..2 only: sklearn averages over the labels
    # present in y_true or y_pred
    net = classifier("float64", "cython", n_out=5, seed=3)
    X, y = class_data(300, 5, 3, seed=3)
    got = net.evaluate(X, y, ["precision", "recall", "f1"])
    guess = net.predict(X).argmax(axis=1)
    for name, fn in [("precision", sk.precision_score), ("recall", sk.recall_score),
                     ("f1", sk.f1_score)]:
        assert got[name] == pytest.approx(fn(y, guess, average="macro", zero_division=0),
                                          rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_regression_metrics_equal_sklearn(dtype, backend):
    net = nncore.Network([4, 8, 2], activation="relu", loss="mse", seed=2, dtype=dtype,
                         backend=backend)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(N_ROWS, 4))
    # a large mean: R^2 from running sums would lose it, the merged deviations do not
    Y = np.c_[X @ [1.0, -2.0, 0.5, 0.0] + 1e4, X[:, 1] ** 2]
    got = net.evaluate(X, Y)
    assert list(got) == ["loss", "mae", "rmse", "r2"]
    P = net.predict(X).astype(np.float64)
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(Y, P), rel=1e-10)
    assert got["rmse"] == pytest.approx(sk.root_mean_squared_error(Y, P), rel=1e-10)
    assert got["r2"] == pytest.approx(sk.r2_score(Y, P), rel=1e-10)
    assert got["loss"] == pytest.approx(net.loss(X, Y), rel=RTOL[dtype])


def test_r2_of_constant_targets_follows_sklearn():
    net = nncore.Network([2, 1], loss="mse", seed=0)
    X = np.ones((10, 2))
    y = np.full(10, 3.0)
    P = net.predict(X)[:, 0]
    assert net.evaluate(X, y, ["r2"])["r2"] == sk.r2_score(y, P)
    net.layers[0].W = np.zeros((2, 1))
    net.layers[0].b = [3.0]
    assert net.evaluate(X, y, ["r2"])["r2"] == sk.r2_score(y, net.predict(X)[:, 0]) == 1.0


@pytest.mark.parametrize("where", [0, -1])
@pytest.mark.parametrize("what", ["X", "Y"])
def test_nan_at_the_first_and_last_row_is_refused_with_its_index(what, where):
    net = nncore.Network([3, 2], loss="mse", seed=0)
    X = np.zeros((M.CHUNK_ROWS + 3, 3))
    Y = np.zeros((len(X), 2))
    (X if what == "X" else Y)[where, 1] = np.nan
    row = where % len(X)
    with pytest.raises(ValueError, match=rf"{what} contains NaN or inf \(first at index "
                                         rf"\[{row}, 1\]\)"):
        net.evaluate(X, Y)


@pytest.mark.parametrize("call, error, message", [
    (lambda net, X, y: net.evaluate(X, y, ["accuracy", "acuracy"]), ValueError,
     r"unknown metric 'acuracy'; did you mean 'accuracy'\?"),
    (lambda net, X, y: net.evaluate(X, y, []), ValueError, r"metrics is empty"),
    (lambda net, X, y: net.evaluate(X, y, [3]), TypeError, r"metric is named by a str"),
    (lambda net, X, y: net.evaluate(X[:, :2], y), ValueError, r"X has shape \(20, 2\)"),
    (lambda net, X, y: net.evaluate(X, y[:5]), ValueError, r"Y has shape \(5,\)"),
    (lambda net, X, y: net.evaluate(X, y + 4), ValueError, r"class labels must lie in"),
    (lambda net, X, y: net.evaluate(X, y, ["top_0_accuracy"]), ValueError, r"k must be >= 1"),
])
def test_bad_calls_are_refused(call, error, message):
    net = classifier("float64", "cython")
    X, y = class_data(20, 5, 4)
    with pytest.raises(error, match=message):
        call(net, X, y)


def test_log_loss_and_top_k_need_what_they_read():
    net = nncore.Network([3, 1], loss="mse", seed=0)
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match="log_loss needs probabilities"):
        net.evaluate(X, np.zeros(4), ["log_loss"])
    with pytest.raises(ValueError, match="top-k accuracy needs a network with 2 or more"):
        net.evaluate(X, np.zeros(4), ["top_2_accuracy"])


def test_evaluate_changes_nothing():
    net = classifier("float64", "cython")
    X, y = class_data(50, 5, 4)
    before = [ly.W.copy() for ly in net.layers]
    state = net._rng.bit_generator.state
    net.evaluate(X, y, ["loss", "f1"])
    assert all(np.array_equal(a, ly.W) for a, ly in zip(before, net.layers))
    assert net._rng.bit_generator.state == state


def test_summary_lists_layers_shapes_and_parameter_count():
    net = nncore.Network([nncore.Dense(64, 32, "relu"),
                          nncore.Dense(32, 10, nncore.Sigmoid(trainable=True))],
                         loss="mse", seed=0)
    text = net.summary()
    lines = text.splitlines()
    assert lines[0].startswith("Network: 64 inputs, loss mse, dtype float64")
    assert "(N, 32)" in lines[2] and lines[2].endswith("2,080")
    assert "(N, 10)" in lines[3] and lines[3].endswith("332")   # 320 + 10 + c, beta
    assert "total parameters: 2,412" in text
    assert sum(ly.W.size + ly.b.size for ly in net.layers) + 2 == 2412


def test_evaluate_from_several_threads_is_right_or_refused():
    # today's engine refuses a second call on a network that is computing (RuntimeError);
    # evaluate must give either the right answer or that refusal, never a wrong number
    from concurrent.futures import ThreadPoolExecutor

    net = classifier("float64", "cython")
    X, y = class_data(4 * M.CHUNK_ROWS + 11, 5, 4, seed=7)
    names = ["loss", "accuracy", "f1", "log_loss"]
    expected = net.evaluate(X, y, names)

    def one(_):
        try:
            return net.evaluate(X, y, names)
        except RuntimeError as exc:
            assert "another thread" in str(exc)
            return None

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(8)))
    assert all(r == expected for r in results if r is not None)
    assert net.evaluate(X, y, names) == expected
