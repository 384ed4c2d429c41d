"""scikit-learn pipelines holding nncore.sklearn's estimators, converted by skl2onnx: the
converters nncore registers, checked by onnxruntime against the pipeline's own predictions
(labels equal, probabilities and regression outputs to the dtype's rounding) for the binary,
multiclass and multilabel classifier and the regressor, in float32 and float64."""
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# (see the "once" marker in pyproject.toml)
pytestmark = [pytest.mark.once,
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def _data(kind, dtype):
    X, y = load_iris(return_X_y=True)
    X = X.astype(dtype)
    if kind == "binary":
        return X, np.where(y == 2, "virginica", "other")   # string labels
    if kind == "multiclass":
        return X, y
    if kind == "multilabel":
        return X, np.stack([y == 0, y == 1, X[:, 0] > 5.8], axis=1).astype(np.int64)
    return X, X[:, 3] * 2 - X[:, 0]                       # regressor


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regressor"])
@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh"])
def test_pipeline_to_onnx_equals_the_pipeline(kind, dtype, activation):
    X, y = _data(kind, dtype)
    Est = MLPRegressor if kind == "regressor" else MLPClassifier
    pipe = make_pipeline(StandardScaler(), Est(hidden_layer_sizes=(9, 5), max_iter=40,
                                               activation=activation, random_state=0))
    pipe.fit(X, y)
    options = None if kind == "regressor" else {"zipmap": False}
    model = skl2onnx.to_onnx(pipe, X[:1], options=options)
    sess = _session(model)
    outputs = sess.run(None, {sess.get_inputs()[0].name: X})
    rtol = RTOL[dtype]
    if kind == "regressor":
        (pred,) = outputs
        assert pred.dtype == dtype
        np.testing.assert_allclose(pred.ravel(), pipe.predict(X), rtol=rtol, atol=rtol)
        return
    label, proba = outputs
    assert proba.dtype == dtype
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(label, pipe.predict(X))


def test_zipmap_gives_sklearn_style_dicts():
    X, y = _data("multiclass", np.float32)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    pipe.fit(X, y)
    sess = _session(skl2onnx.to_onnx(pipe, X[:1]))     # skl2onnx's default: zipmap
    label, dicts = sess.run(None, {sess.get_inputs()[0].name: X[:5]})
    proba = pipe.predict_proba(X[:5])
    np.testing.assert_array_equal(label, pipe.predict(X[:5]))
    for row, d in zip(proba, dicts):
        assert sorted(d) == [0, 1, 2]
        np.testing.assert_allclose([d[k] for k in sorted(d)], row, rtol=1e-5, atol=1e-6)


def test_an_estimator_of_another_dtype_than_the_input_is_cast_in_and_out():
    X, y = _data("multiclass", np.float64)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0,
                                                         dtype="float32"))
    pipe.fit(X, y)
    sess = _session(skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False}))
    label, proba = sess.run(None, {sess.get_inputs()[0].name: X})
    assert proba.dtype == np.float64                    # skl2onnx's declared type
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(label, pipe.predict(X))


def test_unfitted_estimator_is_refused():
    from sklearn.exceptions import NotFittedError
    X, _ = _data("multiclass", np.float64)
    with pytest.raises(NotFittedError, match="not fitted"):
        skl2onnx.to_onnx(MLPRegressor(), X[:1])
    # a classifier is refused by skl2onnx's parser first (no classes_), as its own are
    with pytest.raises((NotFittedError, RuntimeError), match="fitted|classes"):
        skl2onnx.to_onnx(MLPClassifier(), X[:1])


CODE = """
import sys
{first}
{second}
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X = np.random.default_rng(0).standard_normal((40, 3))
pipe = make_pipeline(StandardScaler(), nncore.sklearn.MLPRegressor(max_iter=3)).fit(X, X[:, 0])
model = skl2onnx.to_onnx(pipe, X[:1])
print("converted", len(model.graph.node))
"""


@pytest.mark.parametrize("skl2onnx_first", [False, True])
def test_converters_are_registered_whichever_is_imported_first(skl2onnx_first):
    imports = ["import nncore, nncore.sklearn", "import skl2onnx"]
    if skl2onnx_first:
        imports.reverse()
    else:
        imports[0] += "; assert 'skl2onnx' not in sys.modules"
    code = CODE.format(first=imports[0], second=imports[1])
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "converted" in out.stdout


def test_importing_nncore_sklearn_does_not_import_skl2onnx_or_onnx():
    code = ("import sys, nncore.sklearn; "
            "print(sorted(m for m in ('skl2onnx', 'onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
