"""nncore.to_onnx: the exported model, run by onnxruntime, computes what ``predict`` computes.

Skipped where onnx / onnxruntime are not installed (``pip install "nncore-nn[onnx]"``), except the
tests of the refusal without onnx, which need neither.
"""
import os
import pathlib
import sys

import numpy as np
import pytest

import nncore

from _helpers import DTYPES

# float64 to 1e-12 relative, float32 to 1e-5 (onnxruntime's float32 tanh and exp are
# vectorised approximations); the absolute floor is for outputs near 0.
RTOL = {np.float64: 1e-12, np.float32: 1e-5}
ATOL = {np.float64: 1e-14, np.float32: 1e-6}

ACTIVATIONS = [
    pytest.param(lambda: "identity", id="identity"),
    pytest.param(lambda: "sigmoid", id="sigmoid"),
    pytest.param(lambda: nncore.Sigmoid(c=2.5, beta=0.7), id="scaled_sigmoid"),
    pytest.param(lambda: nncore.Sigmoid(c=1.0, beta=-1.3), id="sigmoid_beta_only"),
    pytest.param(lambda: nncore.Sigmoid(c=0.5, beta=1.0), id="sigmoid_c_only"),
    pytest.param(lambda: "tanh", id="tanh"),
    pytest.param(lambda: "relu", id="relu"),
    pytest.param(lambda: nncore.LeakyReLU(0.25), id="leaky_relu_0.25"),
    pytest.param(lambda: nncore.LeakyReLU(0.1), id="leaky_relu_0.1"),
    pytest.param(lambda: nncore.LeakyReLU(1.7), id="leaky_relu_1.7"),
    pytest.param(lambda: "softmax", id="softmax"),
    pytest.param(lambda: "gelu", id="gelu"),
    pytest.param(lambda: nncore.GELU(approximate="tanh"), id="gelu_tanh"),
    pytest.param(lambda: "elu", id="elu"),
    pytest.param(lambda: nncore.ELU(alpha=0.3), id="elu_0.3"),
    pytest.param(lambda: "silu", id="silu"),
    pytest.param(lambda: "softplus", id="softplus"),
    pytest.param(lambda: nncore.Softplus(beta=1.7, threshold=3.0), id="softplus_1.7_3"),
]
# onnxruntime has no float64 Erf: a float64 model computes GELU's Erf in float32
ERF_IN_FLOAT32 = {"rtol": 1e-6, "atol": 1e-7}


@pytest.fixture
def ort():
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


def run(ort, model, X):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (Y,) = sess.run(None, {"X": X})
    return Y


def check_same(ort, net, X):
    model = nncore.to_onnx(net)
    Y = run(ort, model, X)
    expected = net.predict(X)
    assert Y.dtype == expected.dtype == net.dtype
    assert Y.shape == expected.shape
    dt = net.dtype.type
    tol = {"rtol": RTOL[dt], "atol": ATOL[dt]}
    if dt == np.float64 and any(repr(ly.activation) == "GELU(approximate='none')"
                                for ly in net.layers):
        tol = ERF_IN_FLOAT32
    np.testing.assert_allclose(Y, expected, **tol)
    return model


def ops(model):
    return [node.op_type for node in model.graph.node]


def inputs(n, n_in, dtype, seed=0, scale=3.0):
    # wide enough that every activation sees both signs and its saturated ranges
    return (np.random.default_rng(seed).normal(size=(n, n_in)) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [a for a in ACTIVATIONS if a.id != "softmax"])
def test_every_activation_as_hidden_layer(ort, make, dtype):
    net = nncore.Network([6, 9, 4], activation=make(), output="identity", loss="mse", seed=3,
                         dtype=dtype)
    X = inputs(40, 6, dtype)
    X[0], X[-1] = 1e4, -1e4     # saturated ranges at the first and last rows
    check_same(ort, net, X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", ACTIVATIONS)
def test_every_activation_as_output_layer(ort, make, dtype):
    net = nncore.Network([nncore.Dense(5, 8, "tanh"), nncore.Dense(8, 3, make())], loss="mse",
                         seed=4, dtype=dtype)
    check_same(ort, net, inputs(40, 5, dtype, seed=1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scaled_sigmoid_is_mul_sigmoid_mul(ort, dtype):
    net = nncore.Network([nncore.Dense(3, 4, nncore.Sigmoid(c=2.0, beta=0.5))], loss="mse",
                         seed=0, dtype=dtype)
    model = check_same(ort, net, inputs(10, 3, dtype))
    assert ops(model) == ["Gemm", "Mul", "Sigmoid", "Mul"]
    inits = {t.name: t for t in model.graph.initializer}
    import onnx.numpy_helper as nh
    assert nh.to_array(inits["layer0_beta"]) == 0.5 and nh.to_array(inits["layer0_c"]) == 2.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_relu_node_carries_its_slope(ort, dtype):
    net = nncore.Network([nncore.Dense(3, 4, nncore.LeakyReLU(0.25))], loss="mse", seed=0,
                         dtype=dtype)
    model = check_same(ort, net, inputs(10, 3, dtype))
    assert ops(model) == ["Gemm", "LeakyRelu"]
    (attr,) = model.graph.node[1].attribute
    assert attr.name == "alpha" and attr.f == 0.25


def test_float64_slope_that_float32_cannot_hold_is_exact(ort):
    # LeakyRelu's alpha attribute is float32: 0.1 would be off by ~1e-9 relative in float64
    net = nncore.Network([nncore.Dense(3, 4, nncore.LeakyReLU(0.1))], loss="mse", seed=0)
    model = check_same(ort, net, -np.abs(inputs(10, 3, np.float64)))
    assert "LeakyRelu" not in ops(model) and "Where" in ops(model)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 1500])
def test_multi_layer_network_and_batch_sizes(ort, dtype, n):
    net = nncore.Network([nncore.Dense(64, 40, "relu"), nncore.Dense(40, 30, "tanh"),
                          nncore.Dense(30, 20, nncore.LeakyReLU(0.05)),
                          nncore.Dense(20, 15, nncore.Sigmoid(c=1.5, beta=2.0)),
                          nncore.Dense(15, 10, "softmax")],
                         loss="cross_entropy", seed=7, dtype=dtype)
    model = check_same(ort, net, inputs(n, 64, dtype, seed=n, scale=1.0))
    assert ops(model).count("Gemm") == 5
    # one model, any batch size: the first dimension is symbolic
    dim = model.graph.input[0].type.tensor_type.shape.dim
    assert dim[0].dim_param == "N" and dim[1].dim_value == 64
    out = model.graph.output[0].type.tensor_type.shape.dim
    assert out[0].dim_param == "N" and out[1].dim_value == 10


@pytest.mark.parametrize("dtype", DTYPES)
def test_trained_network_on_the_digits(ort, dtype):
    X, y = nncore.load_digits()
    X = (X / 16.0).astype(dtype)
    net = nncore.Network([64, 32, 10], activation=nncore.Sigmoid(c=1.2, trainable=True),
                         output="softmax", loss="cross_entropy", seed=0, dtype=dtype,
                         optimizer="adam")
    net.fit(X, y, epochs=2, lr=0.01)
    assert net.layers[0].activation.c != 1.2  # training moved it; the export has the new one
    check_same(ort, net, X)


def test_model_passes_the_full_check_and_is_written(ort, tmp_path):
    import onnx
    net = nncore.Network([4, 5, 3], loss="cross_entropy", seed=0)
    path = tmp_path / "net.onnx"
    model = nncore.to_onnx(net, path)
    onnx.checker.check_model(model, full_check=True)
    loaded = onnx.load(os.fspath(path))
    assert loaded.SerializeToString() == model.SerializeToString()
    assert model.opset_import[0].version == 17 and model.opset_import[0].domain == ""
    assert model.producer_name == "nncore" and model.producer_version == nncore.__version__
    X = inputs(5, 4, np.float64)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"X": X})[0], net.predict(X), rtol=1e-12)
    # a str path too
    nncore.to_onnx(net, str(tmp_path / "again.onnx"))
    assert (tmp_path / "again.onnx").read_bytes() == path.read_bytes()


def test_opsets(ort):
    import onnx
    net = nncore.Network([4, 5, 3], activation="tanh", loss="cross_entropy", seed=0)
    X = inputs(5, 4, np.float64)
    for opset in (13, onnx.defs.onnx_opset_version()):
        model = nncore.to_onnx(net, opset=opset)
        assert model.opset_import[0].version == opset
        assert model.ir_version == onnx.helper.find_min_ir_version_for(model.opset_import)
        try:
            Y = run(ort, model, X)
        except Exception as exc:  # an onnx newer than the installed onnxruntime
            if opset == 13:
                raise
            pytest.skip(f"onnxruntime cannot run opset {opset}: {exc}")
        np.testing.assert_allclose(Y, net.predict(X), rtol=1e-12)


def test_bad_arguments_are_refused(ort, tmp_path):
    net = nncore.Network([4, 5, 3], loss="cross_entropy", seed=0)
    with pytest.raises(TypeError, match="nncore.Network"):
        nncore.to_onnx("net")
    with pytest.raises(TypeError, match="opset"):
        nncore.to_onnx(net, opset=17.0)
    with pytest.raises(ValueError, match="opset"):
        nncore.to_onnx(net, opset=12)
    with pytest.raises(ValueError, match="opset"):
        nncore.to_onnx(net, opset=10_000)
    with pytest.raises(TypeError, match="path"):
        nncore.to_onnx(net, path=3)
    for layer, name, index in ((0, "W", (0, 0)), (1, "b", -1), (1, "W", (-1, -1))):
        arr = getattr(net.layers[layer], name)
        arr[index] = np.inf if name == "b" else np.nan
        with pytest.raises(ValueError, match=f"layer {layer}'s {name} contains NaN or inf"):
            nncore.to_onnx(net, tmp_path / "x.onnx")
        assert not (tmp_path / "x.onnx").exists()
        arr[index] = 0.0
    nncore.to_onnx(net, tmp_path / "x.onnx")
    assert (tmp_path / "x.onnx").exists()


def test_without_onnx_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    net = nncore.Network([2, 2], loss="mse", seed=0)
    with pytest.raises(ImportError, match=r'pip install "nncore-nn\[onnx\]"'):
        nncore.to_onnx(net)


def test_import_nncore_does_not_import_onnx():
    import subprocess
    code = "import sys, nncore; nncore.to_onnx; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=pathlib.Path(__file__).parent)
    assert out.stdout.strip() == "False"


# -- the scikit-learn estimators ----------------------------------------------------------------

@pytest.fixture
def skl(ort):
    pytest.importorskip("sklearn")
    import nncore.sklearn
    return nncore.sklearn


def run_all(ort, model, X):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {"X": X})))


def classification_data(dtype, n=300, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)).astype(dtype)
    score = X @ rng.normal(size=(n_features, 3))
    return X, score


def fit_classifier(skl, X, y, dtype, activation="tanh"):
    # max_iter small: an unconverged fit is fine (and quick); the export copies what there is
    est = skl.MLPClassifier(hidden_layer_sizes=(7,), activation=activation, max_iter=30,
                            random_state=0, dtype=np.dtype(dtype).name)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        return est.fit(X, y)


def check_classifier(ort, est, X):
    model = nncore.to_onnx(est)
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    out = run_all(ort, model, X)
    dt = np.dtype(est.dtype).type
    proba = est.predict_proba(X)
    assert out["probabilities"].dtype == proba.dtype == dt
    assert out["probabilities"].shape == proba.shape
    np.testing.assert_allclose(out["probabilities"], proba, rtol=RTOL[dt], atol=ATOL[dt])
    label = out["label"]
    expected = est.predict(X)
    assert label.shape == expected.shape
    # the labels follow the model's own probabilities exactly (threshold / first argmax), and
    # agree with predict wherever no rounding can flip them (most rows; a wrong label cannot
    # hide in the few near a tie)
    got_p = out["probabilities"]
    if expected.ndim == 2:  # multilabel
        np.testing.assert_array_equal(label, (got_p > 0.5).astype(np.int64))
        clear = (np.abs(proba - 0.5) > 1e-4).all(axis=1)
    else:
        np.testing.assert_array_equal(label, est.classes_[got_p.argmax(axis=1)])
        top2 = np.sort(proba, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-4
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(label[clear], expected[clear])
    if dt is np.float64:
        np.testing.assert_array_equal(label, expected)
    return model, out


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_classifier_int_labels(ort, skl, dtype):
    X, score = classification_data(dtype)
    y = np.where(score[:, 0] > 0, 7, -2)
    est = fit_classifier(skl, X, y, dtype)
    assert est.network_.sizes[-1] == 1  # one logistic unit
    model, out = check_classifier(ort, est, X)
    assert out["label"].dtype == np.int64 and set(out["label"]) == {7, -2}
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_classifier_string_labels(ort, skl, dtype):
    X, score = classification_data(dtype, seed=1)
    y = np.where(score[:, 1] > 0.3, "yes", "no")
    est = fit_classifier(skl, X, y, dtype, activation="relu")
    model, out = check_classifier(ort, est, X)
    assert set(out["label"]) == {"yes", "no"}


@pytest.mark.parametrize("dtype", DTYPES)
def test_multiclass_classifier_int_labels(ort, skl, dtype):
    X, score = classification_data(dtype, seed=2)
    y = np.array([10, 20, 30])[score.argmax(axis=1)]
    est = fit_classifier(skl, X, y, dtype)
    assert est.network_.sizes[-1] == 3
    model, out = check_classifier(ort, est, X)
    assert out["label"].dtype == np.int64 and set(out["label"]) == {10, 20, 30}
    assert "ArgMax" in ops(model) and "Gather" in ops(model)


@pytest.mark.parametrize("dtype", DTYPES)
def test_multiclass_classifier_string_labels(ort, skl, dtype):
    X, score = classification_data(dtype, seed=3)
    y = np.array(["cat", "dog", "emu"], dtype=object)[score.argmax(axis=1)]
    est = fit_classifier(skl, X, y, dtype, activation="logistic")
    model, out = check_classifier(ort, est, X)
    assert set(out["label"]) == {"cat", "dog", "emu"}


@pytest.mark.parametrize("dtype", DTYPES)
def test_multilabel_classifier(ort, skl, dtype):
    X, score = classification_data(dtype, seed=4)
    Y = (score > 0).astype(int)
    est = fit_classifier(skl, X, Y, dtype)
    assert est.network_.sizes[-1] == 3
    model, out = check_classifier(ort, est, X)
    assert out["label"].dtype == np.int64 and out["label"].shape == (len(X), 3)
    assert 0 < out["label"].mean() < 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor(ort, skl, dtype, n_outputs):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 4)).astype(dtype)
    y = np.tanh(X @ rng.normal(size=(4, n_outputs)))
    if n_outputs == 1:
        y = y.ravel()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = skl.MLPRegressor(hidden_layer_sizes=(6,), activation="tanh", max_iter=30,
                               random_state=0, dtype=np.dtype(dtype).name).fit(X, y)
    model = nncore.to_onnx(est)
    assert [o.name for o in model.graph.output] == ["variable"]
    out = run_all(ort, model, X)["variable"]
    expected = est.predict(X)
    dt = np.dtype(dtype).type
    assert out.dtype == expected.dtype == dt
    assert out.shape == (len(X), n_outputs)  # (N, 1) where predict gives (N,)
    np.testing.assert_allclose(out.reshape(expected.shape), expected, rtol=RTOL[dt],
                               atol=ATOL[dt])


def test_estimator_model_is_checked_and_written(ort, skl, tmp_path):
    import onnx
    X, score = classification_data(np.float64, n=60)
    est = fit_classifier(skl, X, score.argmax(axis=1), np.float64)
    path = tmp_path / "clf.onnx"
    model = nncore.to_onnx(est, path, opset=13)
    onnx.checker.check_model(model, full_check=True)
    assert onnx.load(os.fspath(path)).SerializeToString() == model.SerializeToString()
    assert model.opset_import[0].version == 13
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    check_classifier(ort, est, X)


def test_unfitted_estimators_are_refused(ort, skl, tmp_path):
    from sklearn.exceptions import NotFittedError
    for est in (skl.MLPClassifier(), skl.MLPRegressor()):
        with pytest.raises(NotFittedError, match="not fitted"):
            nncore.to_onnx(est, tmp_path / "x.onnx")
        assert not (tmp_path / "x.onnx").exists()


def test_classes_that_cannot_be_labels_are_refused(ort, skl):
    X, score = classification_data(np.float64, n=60)
    est = fit_classifier(skl, X, np.where(score[:, 0] > 0, "a", "b"), np.float64)
    est.classes_ = np.array([b"a", b"b"])  # bytes: no ONNX label type
    with pytest.raises(TypeError, match="cannot be ONNX labels"):
        nncore.to_onnx(est)


def test_exporting_a_network_does_not_import_sklearn(ort):
    import subprocess
    code = ("import sys, nncore; nncore.to_onnx(nncore.Network([2, 2], loss='mse', seed=0)); "
            "print('sklearn' in sys.modules, 'nncore.sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=pathlib.Path(__file__).parent)
    assert out.stdout.strip() == "False False"


@pytest.mark.parametrize("classes, kind", [(np.array([0.0, 2.0, -1.0]), np.float64),
                                           (np.array([False, True]), np.int64)])
def test_float_and_bool_classes(ort, skl, classes, kind):
    # scikit-learn accepts integral float labels (classes_ float64) and bools
    X, score = classification_data(np.float64, seed=6)
    y = classes[score[:, :len(classes)].argmax(axis=1)]
    est = fit_classifier(skl, X, y, np.float64)
    model, out = check_classifier(ort, est, X)
    assert out["label"].dtype == kind
