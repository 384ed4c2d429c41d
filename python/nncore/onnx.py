"""Export a Network to ONNX, to run it without nncore (onnxruntime, other runtimes).

``onnx`` is optional (``pip install "nncore[onnx]"``) and imported only when ``to_onnx`` is
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
===============  ===================================================================
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from . import activations as _act

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network

__all__ = ["to_onnx"]

# Softmax's axis attribute means "this axis" (not "flatten from here") from opset 13 on.
MIN_OPSET = 13

_INSTALL = 'nncore.to_onnx needs the onnx package: pip install "nncore[onnx]" (or pip install onnx)'


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"{_INSTALL} ({exc})") from None
    return onnx


def to_onnx(net: "Network", path: Union[str, "os.PathLike[str]", None] = None,
            opset: int = 17) -> Any:
    """The network as an ONNX model: ``X`` (N, n_in) in, ``Y`` (N, n_out) out.

    Parameters
    ----------
    net : nncore.Network
        Its current parameters are copied into the model (a trainable sigmoid's c and beta
        as they are now).
    path : str or os.PathLike, optional
        Where to write the model (``.onnx``); nothing is written when None.
    opset : int, default 17
        The ONNX operator set (ai.onnx domain), from 13 to the newest the installed onnx knows.
        The model's IR version is the oldest that this opset allows, so that older runtimes
        read it too.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model(full_check=True)``. Input ``"X"`` and output
        ``"Y"`` are tensors of the network's dtype (float32 or float64) with a dynamic first
        dimension ``"N"``; ``Y`` equals ``net.predict(X)`` up to rounding.

    Raises
    ------
    ImportError
        When onnx is not installed.
    TypeError
        When ``net`` is not an nncore.Network or ``opset`` not an int.
    ValueError
        When ``opset`` is out of range, or the network's parameters are not finite.

    Examples
    --------
    >>> import numpy as np, nncore, onnxruntime                      # doctest: +SKIP
    >>> net = nncore.Network([3, 4, 2], loss="cross_entropy", seed=0)  # doctest: +SKIP
    >>> model = nncore.to_onnx(net, "net.onnx")                       # doctest: +SKIP
    >>> sess = onnxruntime.InferenceSession("net.onnx")               # doctest: +SKIP
    >>> sess.run(None, {"X": np.eye(3)})[0]                           # doctest: +SKIP
    """
    from .network import Network

    if not isinstance(net, Network):
        raise TypeError(f"to_onnx exports an nncore.Network, got {type(net).__name__}")
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

    dtype = net.dtype
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    nodes = []
    inits = []
    current = "X"

    def const(name: str, value: float) -> str:
        inits.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    n_layers = len(net.layers)
    for l, layer in enumerate(net.layers):
        last = l == n_layers - 1
        act = layer.activation
        p = f"layer{l}_"
        inits.append(numpy_helper.from_array(np.array(layer.W, dtype=dtype, copy=True),
                                             p + "W"))
        inits.append(numpy_helper.from_array(np.array(layer.b, dtype=dtype, copy=True),
                                             p + "b"))
        a = "Y" if last and isinstance(act, _act.Identity) else p + "a"
        nodes.append(helper.make_node("Gemm", [current, p + "W", p + "b"], [a],
                                      name=p + "gemm"))
        z = "Y" if last else p + "z"
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
        else:  # pragma: no cover - every Activation subclass nncore makes is handled above
            raise TypeError(f"layer {l}: cannot export activation {act!r}")
        current = z

    n_in, n_out = net.sizes[0], net.sizes[-1]
    graph = helper.make_graph(
        nodes, "nncore_network",
        [helper.make_tensor_value_info("X", elem, ["N", n_in])],
        [helper.make_tensor_value_info("Y", elem, ["N", n_out])],
        initializer=inits)
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opset_ids, producer_name="nncore",
                              doc_string=repr(net))
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
