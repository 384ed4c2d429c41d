"""Export a Network to ONNX, to run it without nncore (onnxruntime, other runtimes).

``onnx`` is optional (``pip install "nncore-nn[onnx]"``) and imported only when ``to_onnx`` is
called; ``import nncore`` never imports it.

The graph, one example a row (``X`` of shape (N, n_in), N dynamic):

===============  ===================================================================
layer part       ONNX nodes
===============  ===================================================================
a = z @ W + b    Gemm(z, W, b)
identity         (none)
sigmoid          Sigmoid; the scaled c * sigmoid(beta * a) as Mul(a, beta), Sigmoid,
                 Mul(., c) (a Mul is left out where its factor is 1)
tanh             Tanh
relu             Relu
leaky_relu       LeakyRelu(alpha=delta); in a float64 model whose delta float32 cannot
                 hold exactly (alpha is a float32 attribute), Where(a < 0, a * delta, a)
softmax          Softmax(axis=-1)
gelu             0.5 * a * (1 + Erf(a / sqrt(2))); onnxruntime has no float64 Erf, so a
                 float64 model computes Erf in float32 (Cast, Erf, Cast): its outputs agree
                 with ``predict`` to about 1e-7 relative, not to float64's precision
gelu (tanh)      0.5 * a * (1 + Tanh(sqrt(2 / pi) * (a + 0.044715 * a * a * a)))
elu              Where(a > 0, a, alpha * (Exp(Min(a, 0)) - 1))
silu             Mul(a, Sigmoid(a))
softplus         x = beta * a; Where(x > threshold, a, (Relu(x) + Log(1 + Exp(-Abs(x)))) / beta)
                 (built from these ops: onnxruntime's Softplus has no float64 kernel and no
                 beta or threshold)
===============  ===================================================================
"""
from __future__ import annotations

import copy
import os
import sys
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from . import activations as _act

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network

__all__ = ["to_onnx", "register_skl2onnx"]

# Softmax's axis attribute means "this axis" (not "flatten from here") from opset 13 on.
MIN_OPSET = 13

from ._version import DISTRIBUTION

_INSTALL = (f'nncore.to_onnx needs the onnx package: pip install "{DISTRIBUTION}[onnx]" '
            f'(or pip install onnx)')


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"{_INSTALL} ({exc})") from None
    return onnx


def _primitive_nodes(act, a, z, p, dtype, elem, const, helper, nodes):
    """The nodes of z = phi(a) for the activations that ONNX (at the opsets nncore exports)
    has no op for in both dtypes: GELU, ELU, SiLU, softplus, from primitive ops."""
    from onnx import TensorProto

    def node(op, inputs, out=None, **attrs):
        out = out or f"{p}{op.lower()}{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], name=f"{p}{op.lower()}{len(nodes)}",
                                      **attrs))
        return out

    if isinstance(act, _act.SiLU):
        node("Mul", [a, node("Sigmoid", [a])], z)
    elif isinstance(act, _act.ELU):
        # Min keeps Exp finite on the branch Where does not take
        em1 = node("Sub", [node("Exp", [node("Min", [a, const(p + "zero", 0.0)])]),
                           const(p + "one", 1.0)])
        node("Where", [node("Greater", [a, p + "zero"]), a,
                       node("Mul", [em1, const(p + "alpha", act.alpha)])], z)
    elif isinstance(act, _act.Softplus):
        x = a if act.beta == 1.0 else node("Mul", [a, const(p + "beta", act.beta)])
        soft = node("Add", [node("Relu", [x]),
                            node("Log", [node("Add", [const(p + "one", 1.0), node(
                                "Exp", [node("Neg", [node("Abs", [x])])])])])])
        if act.beta != 1.0:
            soft = node("Div", [soft, p + "beta"])
        node("Where", [node("Greater", [x, const(p + "threshold", act.threshold)]), a, soft], z)
    elif act.approximate == "tanh":
        cube = node("Mul", [a, node("Mul", [a, a])])
        u = node("Mul", [node("Add", [a, node("Mul", [cube, const(p + "k1", 0.044715)])]),
                         const(p + "k0", np.sqrt(2 / np.pi))])
        half_a = node("Mul", [a, const(p + "half", 0.5)])
        node("Mul", [half_a, node("Add", [const(p + "one", 1.0), node("Tanh", [u])])], z)
    else:
        x = node("Mul", [a, const(p + "inv_sqrt2", 1 / np.sqrt(2))])
        if dtype == np.float64:   # onnxruntime's Erf is float32 only
            erf = node("Cast", [node("Erf", [node("Cast", [x], to=TensorProto.FLOAT)])],
                       to=elem)
        else:
            erf = node("Erf", [x])
        half_a = node("Mul", [a, const(p + "half", 0.5)])
        node("Mul", [half_a, node("Add", [const(p + "one", 1.0), erf])], z)


def to_onnx(net: Any, path: Union[str, "os.PathLike[str]", None] = None,
            opset: int = 17) -> Any:
    """The network (or fitted nncore.sklearn estimator) as an ONNX model.

    A Network: ``X`` (N, n_in) in, ``Y`` (N, n_out) out (through Exp for ``loss="poisson"``,
    equal to ``predict``). A fitted ``MLPRegressor``: ``X``
    (N, n_features) in, ``variable`` (N, n_outputs) out (skl2onnx's names; through Exp for
    ``loss="poisson"``), equal to ``predict``
    (which returns (N,) where n_outputs == 1; the model keeps (N, 1)). A fitted
    ``MLPClassifier``: ``X`` in, ``label`` and ``probabilities`` out, as skl2onnx exports
    scikit-learn's MLPClassifier:

    ===========  ===========================  =============================================
    target       ``label``                    ``probabilities`` (= ``predict_proba``)
    ===========  ===========================  =============================================
    binary       (N,) classes_[p > 0.5]       (N, 2) [1 - p, p] of the one logistic unit
    multiclass   (N,) classes_[argmax]        (N, n_classes) the softmax output
    multilabel   (N, n_labels) int64 p > 0.5  (N, n_labels) the logistic outputs
    ===========  ===========================  =============================================

    ``label`` is int64 for integer (and bool) classes, a string tensor for string classes,
    double for float classes.

    Parameters
    ----------
    net : nncore.Network, nncore.sklearn.MLPClassifier or nncore.sklearn.MLPRegressor
        A network's current parameters are copied into the model (a trainable sigmoid's c
        and beta as they are now); an estimator must be fitted (its ``network_`` is exported).
    path : str or os.PathLike, optional
        Where to write the model (``.onnx``); nothing is written when None.
    opset : int, default 17
        The ONNX operator set (ai.onnx domain), from 13 to the newest the installed onnx knows.
        The model's IR version is the oldest that this opset allows, so that older runtimes
        read it too.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model(full_check=True)``. Input ``"X"`` and the
        float outputs are tensors of the network's dtype (float32 or float64) with a dynamic
        first dimension ``"N"``; ``Y`` equals ``net.predict(X)`` up to rounding.

    Raises
    ------
    ImportError
        When onnx is not installed.
    TypeError
        When ``net`` is not an nncore.Network or nncore.sklearn estimator, ``opset`` not an
        int, or a classifier's classes_ are of a type ONNX labels cannot hold.
    ValueError
        When ``opset`` is out of range, or the network's parameters are not finite.
    sklearn.exceptions.NotFittedError
        (a ValueError) When the estimator is not fitted.

    Examples
    --------
    >>> import numpy as np, nncore, onnxruntime                      # doctest: +SKIP
    >>> net = nncore.Network([3, 4, 2], loss="cross_entropy", seed=0)  # doctest: +SKIP
    >>> model = nncore.to_onnx(net, "net.onnx")                       # doctest: +SKIP
    >>> sess = onnxruntime.InferenceSession("net.onnx")               # doctest: +SKIP
    >>> sess.run(None, {"X": np.eye(3)})[0]                           # doctest: +SKIP
    """
    from .network import Network

    est, kind = None, _estimator_kind(net)
    if kind is not None:
        est = net
        net = _fitted_network(est, kind)
    elif not isinstance(net, Network):
        raise TypeError(f"to_onnx exports an nncore.Network or a fitted nncore.sklearn "
                        f"MLPClassifier / MLPRegressor, got {type(net).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int, got {type(opset).__name__}")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    onnx = _import_onnx()
    from onnx import TensorProto, checker, helper, numpy_helper

    newest = onnx.defs.onnx_opset_version()
    opset = int(opset)
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must lie in [{MIN_OPSET}, {newest}] (the installed onnx "
                         f"{onnx.__version__} knows up to {newest}), got {opset}")
    # a network whose parameters were set to NaN/inf would export a model that computes NaN
    net._check_state(with_loss=False)
    for l, layer in enumerate(net.layers):
        for name in ("W", "b"):
            arr = getattr(layer, name)
            if not np.isfinite(arr).all():
                bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
                raise ValueError(f"layer {l}'s {name} contains NaN or inf (first at index "
                                 f"{list(bad)}); the exported model would compute NaN")
    # the graph is built from a copy taken between two whole steps (the copy holds the network's
    # read lock), so that a fit running in another thread cannot change a layer meanwhile
    net = copy.deepcopy(net)

    dtype = net.dtype
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    nodes = []
    inits = []
    current = "X"

    def const(name: str, value: float) -> str:
        inits.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    # where the network's output goes: "Y" for a Network, "variable" for a regressor
    net_out = {None: "Y", "regressor": "variable", "classifier": "network_output"}[kind]
    # the Poisson loss (a Network's, or a regressor's): the prediction is exp of the
    # network's output, which is the log of the mean
    exp_output = kind != "classifier" and (
        net.loss_name == "poisson" or getattr(est, "out_activation_", None) == "exp")
    final_out = net_out
    if exp_output:
        net_out = "log_prediction"
    n_layers = len(net.layers)
    for l, layer in enumerate(net.layers):
        last = l == n_layers - 1
        act = layer.activation
        p = f"layer{l}_"
        inits.append(numpy_helper.from_array(np.array(layer.W, dtype=dtype, copy=True),
                                             p + "W"))
        inits.append(numpy_helper.from_array(np.array(layer.b, dtype=dtype, copy=True),
                                             p + "b"))
        a = net_out if last and isinstance(act, _act.Identity) else p + "a"
        nodes.append(helper.make_node("Gemm", [current, p + "W", p + "b"], [a],
                                      name=p + "gemm"))
        z = net_out if last else p + "z"
        if isinstance(act, _act.Identity):
            z = a
        elif isinstance(act, _act.Sigmoid):
            x = a
            if act.beta != 1.0:
                x = p + "beta_a"
                nodes.append(helper.make_node("Mul", [a, const(p + "beta", act.beta)], [x],
                                              name=p + "mul_beta"))
            if act.c != 1.0:
                s = p + "sigmoid"
                nodes.append(helper.make_node("Sigmoid", [x], [s], name=p + "sigmoid"))
                nodes.append(helper.make_node("Mul", [s, const(p + "c", act.c)], [z],
                                              name=p + "mul_c"))
            else:
                nodes.append(helper.make_node("Sigmoid", [x], [z], name=p + "sigmoid"))
        elif isinstance(act, _act.Tanh):
            nodes.append(helper.make_node("Tanh", [a], [z], name=p + "tanh"))
        elif isinstance(act, _act.ReLU):
            nodes.append(helper.make_node("Relu", [a], [z], name=p + "relu"))
        elif isinstance(act, _act.LeakyReLU):
            delta = act.delta
            if dtype == np.float32 or float(np.float32(delta)) == delta:
                nodes.append(helper.make_node("LeakyRelu", [a], [z], name=p + "leaky_relu",
                                              alpha=delta))
            else:
                # LeakyRelu's alpha is a float32 attribute: in a float64 model a slope that
                # float32 cannot hold exactly is applied as Where(a < 0, a * delta, a) instead
                nodes.append(helper.make_node("Less", [a, const(p + "zero", 0.0)],
                                              [p + "negative"], name=p + "less"))
                nodes.append(helper.make_node("Mul", [a, const(p + "delta", delta)],
                                              [p + "delta_a"], name=p + "mul_delta"))
                nodes.append(helper.make_node("Where", [p + "negative", p + "delta_a", a], [z],
                                              name=p + "leaky_relu"))
        elif isinstance(act, _act.Softmax):
            nodes.append(helper.make_node("Softmax", [a], [z], name=p + "softmax", axis=-1))
        elif isinstance(act, (_act.GELU, _act.ELU, _act.SiLU, _act.Softplus)):
            _primitive_nodes(act, a, z, p, dtype, elem, const, helper, nodes)
        else:  # pragma: no cover - every Activation subclass nncore makes is handled above
            raise TypeError(f"layer {l}: cannot export activation {act!r}")
        current = z

    n_in, n_out = net.sizes[0], net.sizes[-1]
    if exp_output:
        nodes.append(helper.make_node("Exp", [net_out], [final_out], name="exp"))
        net_out = final_out
    if kind == "classifier":
        outputs = _classifier_nodes(est, net_out, n_out, dtype, elem, nodes, inits)
    else:
        outputs = [helper.make_tensor_value_info(net_out, elem, ["N", n_out])]
    graph = helper.make_graph(
        nodes, "nncore_network" if est is None else f"nncore_{type(est).__name__}",
        [helper.make_tensor_value_info("X", elem, ["N", n_in])], outputs,
        initializer=inits)
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opset_ids, producer_name="nncore",
                              doc_string=repr(net if est is None else est))
    model.ir_version = helper.find_min_ir_version_for(opset_ids)
    try:
        from . import __version__
        model.producer_version = __version__
    except ImportError:  # pragma: no cover
        pass
    checker.check_model(model, full_check=True)
    if path is not None:
        onnx.save_model(model, os.fspath(path))
    return model


def _estimator_kind(obj: Any) -> Any:
    """"classifier" / "regressor" for an nncore.sklearn estimator, else None.

    Never imports nncore.sklearn (nor scikit-learn): an instance of its classes exists only
    where the module was imported already."""
    mod = sys.modules.get(__name__.rsplit(".", 1)[0] + ".sklearn")
    if mod is None:
        return None
    if isinstance(obj, mod.MLPClassifier):
        return "classifier"
    if isinstance(obj, mod.MLPRegressor):
        return "regressor"
    return None


def _fitted_network(est: Any, kind: str) -> "Network":
    from sklearn.exceptions import NotFittedError

    needed = ("network_", "_label_binarizer", "classes_") if kind == "classifier" \
        else ("network_",)
    if not all(hasattr(est, name) for name in needed):
        raise NotFittedError(f"This {type(est).__name__} instance is not fitted yet: call "
                             f"fit before exporting it with nncore.to_onnx")
    return est.network_


def _classifier_nodes(est: Any, net_out: str, n_out: int, dtype: Any, elem: int,
                      nodes: list, inits: list) -> list:
    """Nodes from the network's output to ``label`` and ``probabilities``; their value infos."""
    from onnx import TensorProto, helper, numpy_helper

    y_type = est._label_binarizer.y_type_
    classes = np.asarray(est.classes_)
    n_classes = len(classes)
    expected = 1 if y_type == "binary" else n_classes
    if n_classes < 2 or n_out != expected:
        raise ValueError(f"cannot export a {y_type} {type(est).__name__} with "
                         f"{n_classes} classes_ and {n_out} network outputs (expected "
                         f"{expected} outputs and at least 2 classes)")

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    if y_type == "multilabel-indicator":
        half = const("half", np.array(0.5, dtype=dtype))
        nodes.append(helper.make_node("Identity", [net_out], ["probabilities"],
                                      name="probabilities"))
        nodes.append(helper.make_node("Greater", [net_out, half], ["positive"],
                                      name="greater_half"))
        nodes.append(helper.make_node("Cast", ["positive"], ["label"], name="label",
                                      to=TensorProto.INT64))
        return [helper.make_tensor_value_info("label", TensorProto.INT64, ["N", n_classes]),
                helper.make_tensor_value_info("probabilities", elem, ["N", n_classes])]

    # the classes as a constant to Gather the labels from
    if classes.dtype.kind in "biu":
        if classes.dtype.kind == "u" and classes.max() > np.iinfo(np.int64).max:
            raise TypeError("classes_ beyond int64 cannot be ONNX labels")
        table, label_elem = classes.astype(np.int64), TensorProto.INT64
    elif classes.dtype.kind == "f":
        table, label_elem = classes.astype(np.float64), TensorProto.DOUBLE
    elif classes.dtype.kind == "U" or (classes.dtype.kind == "O" and
                                       all(isinstance(c, str) for c in classes)):
        table = np.array([str(c) for c in classes], dtype=object)
        label_elem = TensorProto.STRING
    else:
        raise TypeError(f"classes_ of dtype {classes.dtype} cannot be ONNX labels (integer, "
                        f"float or str classes can)")
    const("classes", table)

    if y_type == "binary":
        # predict_proba = [1 - p, p]; the label is classes_[p > 0.5] (LabelBinarizer's
        # threshold between its neg_label 0 and pos_label 1)
        one = const("one", np.array(1.0, dtype=dtype))
        nodes.append(helper.make_node("Sub", [one, net_out], ["negative_probability"],
                                      name="one_minus_p"))
        nodes.append(helper.make_node("Concat", ["negative_probability", net_out],
                                      ["probabilities"], name="probabilities", axis=1))
        half = const("half", np.array(0.5, dtype=dtype))
        nodes.append(helper.make_node("Greater", [net_out, half], ["positive"],
                                      name="greater_half"))
        nodes.append(helper.make_node("Cast", ["positive"], ["positive_int"],
                                      name="cast_index", to=TensorProto.INT64))
        flat = const("flat", np.array([-1], dtype=np.int64))
        nodes.append(helper.make_node("Reshape", ["positive_int", flat], ["index"],
                                      name="flatten_index"))
    else:  # multiclass: the softmax output, the label of its first largest entry
        nodes.append(helper.make_node("Identity", [net_out], ["probabilities"],
                                      name="probabilities"))
        nodes.append(helper.make_node("ArgMax", [net_out], ["index"], name="argmax", axis=1,
                                      keepdims=0))
    nodes.append(helper.make_node("Gather", ["classes", "index"], ["label"], name="label",
                                  axis=0))
    return [helper.make_tensor_value_info("label", label_elem, ["N"]),
            helper.make_tensor_value_info("probabilities", elem, ["N", n_classes])]


# -- skl2onnx: nncore.sklearn's estimators inside scikit-learn pipelines ------------------------

def register_skl2onnx() -> None:
    """Register converters for nncore.sklearn's ``MLPClassifier`` and ``MLPRegressor`` with
    skl2onnx, so that ``skl2onnx.to_onnx`` converts pipelines that hold them.

    Called by itself: importing ``nncore.sklearn`` registers them as soon as skl2onnx is
    imported (before or after), without importing skl2onnx. Calling it again is harmless.

    Each estimator becomes the graph ``to_onnx`` builds for it, with skl2onnx's names: a
    classifier outputs ``label`` and ``probabilities`` (skl2onnx's ZipMap, its ``zipmap`` and
    ``nocl`` options apply as to its own classifiers), a regressor ``variable`` (N, n_outputs).
    The network computes in the estimator's dtype: an input of another type is cast to it, and
    the float outputs are cast to the type skl2onnx declares for them (its input's).

    Raises
    ------
    ImportError
        When skl2onnx (or scikit-learn) is not installed.
    """
    try:
        import skl2onnx
    except ImportError as exc:
        raise ImportError(f"registering nncore's converters needs skl2onnx: pip install "
                          f'"{DISTRIBUTION}[onnx]" (or pip install skl2onnx) ({exc})') from None
    from . import sklearn as nnsk
    skl2onnx.update_registered_converter(
        nnsk.MLPClassifier, "NncoreMLPClassifier", _skl2onnx_shapes, _skl2onnx_convert,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]})
    skl2onnx.update_registered_converter(
        nnsk.MLPRegressor, "NncoreMLPRegressor", _skl2onnx_shapes, _skl2onnx_convert)


def _float_type(est: Any, declared: Any) -> Any:
    """skl2onnx's tensor type for the float outputs: the declared input's when it is a float
    type, else the estimator's dtype."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    if isinstance(declared, (FloatTensorType, DoubleTensorType)):
        return type(declared)
    return DoubleTensorType if est.network_.dtype == np.float64 else FloatTensorType


def _skl2onnx_shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import (DoubleTensorType, Int64TensorType,
                                            StringTensorType)

    est = operator.raw_operator
    _fitted_network(est, _estimator_kind(est))
    n = operator.inputs[0].get_first_dimension()
    floats = _float_type(est, operator.inputs[0].type)
    if _estimator_kind(est) == "regressor":
        operator.outputs[0].type = floats([n, est.n_outputs_])
        return
    n_classes = len(est.classes_)
    if est._label_binarizer.y_type_ == "multilabel-indicator":
        operator.outputs[0].type = Int64TensorType([n, n_classes])
    else:
        kind = np.asarray(est.classes_).dtype.kind
        label = {"b": Int64TensorType, "i": Int64TensorType, "u": Int64TensorType,
                 "f": DoubleTensorType}.get(kind, StringTensorType)
        operator.outputs[0].type = label([n])
    operator.outputs[1].type = floats([n, n_classes])


def _skl2onnx_convert(scope: Any, operator: Any, container: Any) -> None:
    """The estimator's to_onnx graph, inlined into skl2onnx's container under fresh names."""
    from onnx import TensorProto, helper, numpy_helper

    est = operator.raw_operator
    opset = container.target_opset
    if opset is not None and opset < MIN_OPSET:
        raise ValueError(f"nncore's converters need target_opset >= {MIN_OPSET}, got {opset}")
    model = to_onnx(est, opset=min(opset or 17, _import_onnx().defs.onnx_opset_version()))
    graph = model.graph
    net_elem = graph.input[0].type.tensor_type.elem_type
    names: dict = {}

    def rename(name: str) -> str:
        if name not in names:
            names[name] = scope.get_unique_variable_name(f"nncore_{name}")
        return names[name]

    # the input, cast to the network's dtype where skl2onnx's is another
    x = operator.inputs[0].full_name
    x_elem = operator.inputs[0].type.to_onnx_type().tensor_type.elem_type
    if x_elem != net_elem:
        names["X"] = scope.get_unique_variable_name("nncore_X_cast")
        container.add_node("Cast", [x], [names["X"]], to=net_elem,
                           name=scope.get_unique_operator_name("nncore_cast_X"))
    else:
        names["X"] = x
    # the outputs: skl2onnx's variables, through a Cast where the declared float type differs
    wanted = ["variable"] if _estimator_kind(est) == "regressor" else ["label",
                                                                      "probabilities"]
    casts = []
    for graph_name, var in zip(wanted, operator.outputs):
        elem = var.type.to_onnx_type().tensor_type.elem_type
        produced = next(o for o in graph.output if o.name == graph_name)
        if produced.type.tensor_type.elem_type != elem:
            names[graph_name] = scope.get_unique_variable_name(f"nncore_{graph_name}")
            casts.append((names[graph_name], var.full_name, elem))
        else:
            names[graph_name] = var.full_name
    for init in graph.initializer:
        if init.data_type == TensorProto.STRING:
            values = [s.decode("utf-8") if isinstance(s, bytes) else str(s)
                      for s in numpy_helper.to_array(init).ravel()]
            container.add_initializer(rename(init.name), init.data_type, list(init.dims),
                                      values)
        else:
            container.add_initializer(rename(init.name), init.data_type, list(init.dims),
                                      init)
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        container.add_node(node.op_type, [rename(i) for i in node.input],
                           [rename(o) for o in node.output],
                           name=scope.get_unique_operator_name(f"nncore_{node.name}"),
                           **attrs)
    for source, target, elem in casts:
        container.add_node("Cast", [source], [target], to=elem,
                           name=scope.get_unique_operator_name("nncore_cast_out"))
