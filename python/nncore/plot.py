"""Pictures of a network and of the quantities it computes, drawn with matplotlib.

matplotlib is optional (``pip install "nncore-nn[plot]"``): it is imported by this module only, so
``import nncore`` never needs it. Every function returns the matplotlib object it drew on (an
``Axes`` or a ``Figure``), to be adjusted, shown or saved by the caller; figures that a
function creates use matplotlib's constrained layout, so a plain ``savefig`` keeps every label.

- :func:`draw_network`: the nodes layer by layer, each connection coloured and sized by its
  weight, the biases, and optionally the activations of one example;
- :func:`plot_trace`: the ``a``, ``z`` and ``delta`` of every layer for a batch, as
  ``Network.trace`` returns them;
- :func:`plot_activations`: activation functions and their derivatives, computed by the core;
- :func:`plot_history`: the training record that ``Network.fit`` returns;
- :func:`plot_decision_regions`: the class a 2-D classifier predicts over the plane.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["draw_network", "plot_trace", "plot_activations", "plot_history",
           "plot_decision_regions"]

try:
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator
except ImportError as exc:  # pragma: no cover - exercised with matplotlib absent
    from ._version import DISTRIBUTION
    raise ImportError(f"nncore.plot needs matplotlib: pip install \"{DISTRIBUTION}[plot]\" "
                      "(or pip install matplotlib)") from exc

_WEIGHT_CMAP = "coolwarm"    # negative blue, positive red
_VALUE_CMAP = "viridis"


def _new_axes(ax, figsize=None):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _network_of(obj):
    """A Network, or the network_ of a fitted nncore.sklearn estimator."""
    net = getattr(obj, "network_", obj)
    if not (hasattr(net, "layers") and hasattr(net, "sizes")):
        raise TypeError(f"expected an nncore.Network (or a fitted nncore.sklearn estimator), "
                        f"got {type(obj).__name__}")
    return net


def _symmetric_norm(values):
    vmax = float(np.max(np.abs(values))) if np.size(values) else 1.0
    vmax = vmax if vmax > 0 else 1.0
    return Normalize(vmin=-vmax, vmax=vmax)


def draw_network(net: Any, x: Any = None, ax: Any = None, *, node_size: float | None = None,
                 show_biases: bool = True, colorbar: bool = True) -> Any:
    """Draw a dense network: its nodes layer by layer and every connection.

    Layer 0 (the inputs) is the leftmost column. The connection from node i of layer l-1 to
    node j of layer l is a line coloured by ``W[i, j]`` (blue negative, red positive, one
    colour scale for all layers) and as wide as ``|W[i, j]|`` relative to the largest
    weight. Each layer's biases hang from a square node ``+1`` above the previous column,
    drawn the same way. With ``x``, each node is filled with its value for that example: the
    input for layer 0, ``z`` for the other layers.

    Parameters
    ----------
    net : nncore.Network or fitted nncore.sklearn estimator
        The network to draw (an estimator's ``network_``).
    x : array_like of shape (n_in,) or (1, n_in), optional
        One example whose activations fill the nodes.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    node_size : float, optional
        Marker area of a node in points^2; by default smaller for wider layers.
    show_biases : bool, default True
        Draw the bias nodes and their connections.
    colorbar : bool, default True
        Add a colour bar of the weights (and of the activations, with ``x``).

    Returns
    -------
    matplotlib.axes.Axes
        Its collections, in order: the weights' ``LineCollection`` (one segment per weight,
        layer by layer, each ``W`` in row-major order, ``get_array()`` the weights), the
        biases' ``LineCollection`` (when drawn), then the nodes' ``PathCollection`` (all
        layers' nodes in order; ``get_array()`` their values when ``x`` is given) and the
        bias nodes'.

    Examples
    --------
    >>> import nncore, nncore.plot
    >>> net = nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
    ...                      loss="cross_entropy", seed=0)
    >>> ax = nncore.plot.draw_network(net, x=[1.0, 2.0, 1.0])
    >>> len(ax.collections[0].get_segments())      # 3*4 + 4*2 connections
    20
    """
    net = _network_of(net)
    sizes = list(net.sizes)
    values = None
    if x is not None:
        x = np.asarray(x, dtype=float)
        if x.ndim == 2 and x.shape[0] == 1:
            x = x[0]
        if x.ndim != 1 or x.shape[0] != sizes[0]:
            raise ValueError(f"x must be one example of shape ({sizes[0]},), got shape "
                             f"{np.shape(x)}")
        zs = [np.asarray(z, dtype=float).reshape(-1) for z in _forward_all(net, x)]
        values = np.concatenate([x] + zs)
    ax = _new_axes(ax, figsize=(1.8 * len(sizes) + 2, 4.5))
    height = max(sizes)
    ys = [(np.arange(n) - (n - 1) / 2.0) * (height / max(n, 1)) for n in sizes]
    ys = [-y for y in ys]                       # node 0 at the top
    bias_y = height / 2.0 + 0.6 * height / max(height, 1) + 0.4

    weights = np.concatenate([np.asarray(layer.W, dtype=float).ravel() for layer in net.layers])
    biases = np.concatenate([np.asarray(layer.b, dtype=float).ravel() for layer in net.layers])
    shown = np.concatenate([weights, biases]) if show_biases else weights
    norm = _symmetric_norm(shown)
    wmax = norm.vmax

    segments = []
    for l, layer in enumerate(net.layers):
        n_in, n_out = np.asarray(layer.W).shape
        for i in range(n_in):
            for j in range(n_out):
                segments.append(((l, ys[l][i]), (l + 1, ys[l + 1][j])))
    widths = 0.2 + 2.8 * np.abs(weights) / wmax
    lines = LineCollection(segments, cmap=_WEIGHT_CMAP, norm=norm, linewidths=widths,
                           alpha=0.85, zorder=1)
    lines.set_array(weights)
    ax.add_collection(lines)

    if show_biases:
        bias_segments = [((l + 0.0, bias_y), (l + 1, ys[l + 1][j]))
                         for l, layer in enumerate(net.layers)
                         for j in range(np.asarray(layer.b).shape[0])]
        bias_lines = LineCollection(bias_segments, cmap=_WEIGHT_CMAP, norm=norm,
                                    linewidths=0.2 + 2.8 * np.abs(biases) / wmax,
                                    linestyles="dashed", alpha=0.85, zorder=1)
        bias_lines.set_array(biases)
        ax.add_collection(bias_lines)

    xs = np.concatenate([np.full(n, l, dtype=float) for l, n in enumerate(sizes)])
    yall = np.concatenate(ys)
    if node_size is None:
        node_size = float(np.clip(3000.0 / height, 12.0, 500.0))
    if values is None:
        nodes = ax.scatter(xs, yall, s=node_size, facecolor="white", edgecolor="black",
                           linewidth=0.8, zorder=3)
    else:
        nodes = ax.scatter(xs, yall, s=node_size, c=values, cmap=_VALUE_CMAP,
                           edgecolor="black", linewidth=0.8, zorder=3)
    if show_biases:
        ax.scatter(np.arange(len(net.layers), dtype=float), np.full(len(net.layers), bias_y),
                   s=node_size, marker="s", facecolor="lightgrey", edgecolor="black",
                   linewidth=0.8, zorder=3)
        if node_size >= 150:
            for l in range(len(net.layers)):
                ax.annotate("+1", (l, bias_y), ha="center", va="center", fontsize=7,
                            zorder=4)

    bottom = -height / 2.0 - 0.6
    for l, n in enumerate(sizes):
        label = "input" if l == 0 else net.layers[l - 1].activation.name
        ax.annotate(f"{label}\n{n}", (l, bottom), ha="center", va="top", fontsize=8,
                    annotation_clip=False)
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(bottom - 0.25 * height - 0.8, bias_y + 0.6)
    ax.set_axis_off()
    if colorbar:
        ax.figure.colorbar(lines, ax=ax, label="weight / bias", shrink=0.8)
        if values is not None:
            ax.figure.colorbar(nodes, ax=ax, label="input / z", shrink=0.8)
    return ax


def _forward_all(net, x):
    """z of every layer for one example (n_in,), through the network's own forward pass."""
    X = x[None, :]
    records = net.trace(X, net.predict(X))     # any valid target: only z is used
    return [r["z"] for r in records]


def plot_trace(net: Any, X: Any, Y: Any, *, cmap: str = _WEIGHT_CMAP) -> Any:
    """Every ``a``, ``z`` and ``delta`` of one forward and backward pass, as pictures.

    One row of panels per layer, one column per quantity; each panel shows the (N, n_out)
    array that ``net.trace(X, Y)`` returns for that layer and quantity, one example a row,
    one node a column. ``a`` and ``delta`` are drawn on a colour scale centred at 0.

    Parameters
    ----------
    net : nncore.Network
        The network whose pass is drawn.
    X : array_like of shape (N, n_in) or (n_in,)
        The inputs, one example a row.
    Y : array_like of shape (N, n_out), (N,) class labels, or one example's target
        The targets, which the deltas depend on.
    cmap : str, default "coolwarm"
        The colour map of ``a`` and ``delta`` (``z`` uses "viridis").

    Returns
    -------
    matplotlib.figure.Figure
        Its first ``3 * len(net.layers)`` axes, row by row, each hold one ``AxesImage``
        whose ``get_array()`` is the quantity drawn (2-D, one example a row).

    Examples
    --------
    >>> import numpy as np, nncore, nncore.plot
    >>> net = nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
    ...                      loss="cross_entropy", seed=0)
    >>> fig = nncore.plot.plot_trace(net, [[1.0, 2.0, 1.0]], [[1.0, 0.0]])
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['layer 1: a', 'layer 1: z', 'layer 1: delta']
    """
    net = _network_of(net)
    records = net.trace(X, Y)
    n_layers = len(records)
    fig, axes = plt.subplots(n_layers, 3, figsize=(9, 1.2 + 1.6 * n_layers), squeeze=False,
                             layout="constrained")
    for l, record in enumerate(records):
        for k, name in enumerate(("a", "z", "delta")):
            data = np.atleast_2d(np.asarray(record[name], dtype=float))
            ax = axes[l, k]
            norm = _symmetric_norm(data) if name != "z" else None
            image = ax.imshow(data, aspect="auto", interpolation="nearest",
                              cmap=cmap if name != "z" else _VALUE_CMAP, norm=norm)
            ax.set_title(f"layer {l + 1}: {name}")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("node")
            if k == 0:
                ax.set_ylabel("example")
            fig.colorbar(image, ax=ax)
    return fig


def _activation_spec(spec):
    from .activations import get_activation

    act = get_activation(spec)
    params = {name: float(getattr(act, name)) for name in act.param_names}
    return act, params


def plot_activations(activations: Sequence[Any] = ("sigmoid", "tanh", "relu", "leaky_relu"),
                     a: Any = None, *, ncols: int = 2) -> Any:
    """Activation functions and their derivatives, one panel each, computed by the core.

    Each panel draws ``z = phi(a)`` (solid) and ``phi'(a)`` (dashed) over ``a``, as
    ``nncore.functional`` computes them (the forward and backward kernels that training
    uses).

    Parameters
    ----------
    activations : sequence of str or nncore.Activation
        Elementwise activations: names, or objects with their parameters such as
        ``nncore.Sigmoid(c=2.0, beta=0.5)``. Softmax is not elementwise (its derivative is a
        Jacobian, see ``nncore.functional.softmax_jacobian``) and is refused.
    a : array_like of shape (M,), optional
        The points; by default 401 points over [-4, 4].
    ncols : int, default 2
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per activation; its first two lines are ``phi`` then ``phi'`` (then the
        axes at 0).

    Examples
    --------
    >>> import nncore.plot
    >>> fig = nncore.plot.plot_activations(["relu"])
    >>> [line.get_label() for line in fig.axes[0].lines[:2]]
    ['relu', "relu'"]
    """
    from . import functional as F

    a = np.linspace(-4.0, 4.0, 401) if a is None else np.asarray(a, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"a must be a non-empty 1-D array, got shape {a.shape}")
    specs = [_activation_spec(s) for s in activations]
    for act, _ in specs:
        if act.name == "softmax":
            raise ValueError("softmax is not elementwise: its derivative is a Jacobian "
                             "(nncore.functional.softmax_jacobian); plot_activations takes "
                             "elementwise activations only")
    if not specs:
        raise ValueError("activations is empty")
    ncols = max(1, min(int(ncols), len(specs)))
    nrows = -(-len(specs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows), squeeze=False,
                             layout="constrained")
    for ax, (act, params) in zip(axes.ravel(), specs):
        if act.name == "gelu":   # its form, not a parameter of the kernel
            params = {"approximate": act.approximate} if act.approximate != "none" else {}
            z = F.gelu(a, act.approximate)
            d = F.derivative("gelu_tanh" if act.approximate == "tanh" else "gelu", a)
        else:
            z = getattr(F, act.name)(a, **params)
            d = F.derivative(act.name, a, **params)
        ax.plot(a, z, label=act.name)
        ax.plot(a, d, linestyle="--", label=f"{act.name}'")
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.axvline(0.0, color="grey", linewidth=0.5)
        title = act.name + ("" if not params else
                            " (" + ", ".join(f"{k}={v:g}" if not isinstance(v, str)
                                             else f"{k}={v}" for k, v in params.items()) + ")")
        ax.set_title(title)
        ax.set_xlabel("a")
        ax.legend(loc="upper left", fontsize=8)
    for ax in axes.ravel()[len(specs):]:
        ax.set_visible(False)
    return fig


_CURVES_TOP = 0.72   # curves use the lower 72% of the height; the legend the band above


def _headroom(ax, values, log):
    """y limits that put every value in the lower _CURVES_TOP of the axes' height."""
    values = np.asarray([v for v in values if np.isfinite(v) and (v > 0 or not log)],
                        dtype=float)
    if values.size == 0:
        return
    lo, hi = float(values.min()), float(values.max())
    if log:
        lo, hi = np.log10(lo), np.log10(hi)
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.1
    bottom = lo - 0.05 * span
    top = bottom + (hi - bottom) / _CURVES_TOP
    ax.set_ylim(*((10 ** bottom, 10 ** top) if log else (bottom, top)))


def _spans_decades(values):
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    return values.size > 1 and values.min() > 0 and values.max() / values.min() >= 10.0


def plot_history(history: Any, ax: Any = None, *, log: bool | None = None) -> Any:
    """Draw the training record of ``Network.fit``: the losses against the epoch.

    The training loss, the validation loss when there is one, the best epoch marked (a
    vertical line, and a point on the monitored curve), and the metrics (e.g. accuracy) on a
    second y axis. The curves fill the lower part of the axes and the legend the band above
    them, so it never covers a curve, and a title can go above as usual.

    Parameters
    ----------
    history : nncore.History
        What ``Network.fit`` returned.
    ax : matplotlib.axes.Axes, optional
        Where to draw. A new figure, with constrained layout, when omitted; pass an Axes of a
        figure made with ``layout="constrained"`` (or call ``fig.tight_layout()``) so that
        ``savefig`` keeps the right axis's label.
    log : bool, optional
        A logarithmic loss axis; by default when the losses span a factor of 10 or more.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes of the losses; its lines, in order: ``loss``, ``val_loss`` (if any). The
        metrics' Axes is ``ax.right_ax`` (None without metrics).

    Examples
    --------
    >>> import numpy as np, nncore, nncore.plot
    >>> X, y = nncore.load_digits()
    >>> net = nncore.Network([64, 16, 10], activation="relu", loss="cross_entropy", seed=0)
    >>> history = net.fit(X / 16, y, epochs=20, lr=0.1, validation_split=0.2)
    >>> ax = nncore.plot.plot_history(history)
    >>> [line.get_label() for line in ax.lines[:2]], ax.get_yscale()
    (['loss', 'val_loss'], 'log')
    """
    loss = [float(v) for v in history]
    if not loss:
        raise ValueError("the history is empty: nothing to draw")
    val_loss = [float(v) for v in getattr(history, "val_loss", [])]
    metrics = dict(getattr(history, "metrics", {}) or {})
    best = getattr(history, "best_epoch", None)
    ax = _new_axes(ax, figsize=(6.4, 4.2))
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, color="C0", label="loss")
    monitored = loss
    if val_loss:
        ax.plot(np.arange(1, len(val_loss) + 1), val_loss, color="C1", label="val_loss")
        monitored = val_loss
    if log is None:
        log = _spans_decades(loss + val_loss)
    if log:
        ax.set_yscale("log")
    _headroom(ax, loss + val_loss, log)
    if best is not None:
        ax.axvline(best + 1, ymax=_CURVES_TOP, color="grey", linestyle=":",
                   label=f"best epoch ({best + 1})")
        if 0 <= best < len(monitored):
            ax.plot([best + 1], [monitored[best]], marker="o", color="black", linestyle="none",
                    zorder=5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss" + (" (log scale)" if log else ""))
    ax.set_xlim(0.5, len(loss) + 0.5)
    handles, labels = ax.get_legend_handles_labels()
    right = None
    if metrics:
        right = ax.twinx()
        for k, (name, values) in enumerate(metrics.items()):
            right.plot(np.arange(1, len(values) + 1), values, linestyle="--",
                       color=f"C{k + 2}", label=name)
        right.set_ylabel("metric")
        _headroom(right, [v for values in metrics.values() for v in values], False)
        h2, l2 = right.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.right_ax = right
    # in the band above the curves (every curve is drawn below _CURVES_TOP of the height)
    (right or ax).legend(handles, labels, loc="upper center", ncol=min(len(labels), 3),
                         fontsize=8, framealpha=0.9, borderaxespad=0.3)
    return ax


def _class_of(model, points):
    """The class index a model predicts for each row of points."""
    if hasattr(model, "network_") or not hasattr(model, "layers"):
        if not hasattr(model, "predict"):
            raise TypeError(f"{type(model).__name__} has no predict method")
        labels = np.asarray(model.predict(points))
        classes = getattr(model, "classes_", None)
        if classes is not None and labels.ndim == 1:
            return np.searchsorted(np.asarray(classes), labels), len(classes)
        if labels.ndim == 2:
            return labels.argmax(axis=1), labels.shape[1]
        return labels.astype(int), int(labels.max()) + 1
    out = np.asarray(model.predict(points))
    if out.ndim == 1:
        out = out[:, None]
    if out.shape[1] == 1:
        return (out[:, 0] > 0.5).astype(int), 2
    return out.argmax(axis=1), out.shape[1]


def plot_decision_regions(model: Any, X: Any, y: Any = None, ax: Any = None, *,
                          resolution: int = 200, margin: float = 0.1,
                          cmap: str = "tab10") -> Any:
    """The class a 2-D classifier predicts at every point of the plane, with the data.

    Parameters
    ----------
    model : nncore.Network or classifier with ``predict``
        A Network with 2 inputs: its class is the argmax of the outputs (the output above
        0.5 for one output). A scikit-learn style classifier (e.g.
        ``nncore.sklearn.MLPClassifier``): its ``predict``, indexed in ``classes_``.
    X : array_like of shape (N, 2)
        The points drawn, which also set the extent of the picture.
    y : array_like of shape (N,), optional
        Their classes (indices, or labels in ``classes_``), colouring the points.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    resolution : int, default 200
        Grid points along each axis.
    margin : float, default 0.1
        Added around the data, as a fraction of its range.
    cmap : str, default "tab10"
        The colour map of the classes (the regions are drawn lighter than the points).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.images[0].get_array()`` is the (resolution, resolution) grid of predicted class
        indices (row 0 at the bottom), ``ax.collections[0]`` the points.

    Examples
    --------
    >>> import numpy as np, nncore, nncore.plot
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = (X[:, 0] * X[:, 1] > 0).astype(int)
    >>> net = nncore.Network([2, 16, 2], activation="tanh", loss="cross_entropy", seed=0)
    >>> _ = net.fit(X, y, epochs=200, lr=0.1)
    >>> ax = nncore.plot.plot_decision_regions(net, X, y, resolution=50)
    >>> ax.images[0].get_array().shape
    (50, 50)
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (N, 2), got {X.shape}")
    if X.shape[0] == 0 or not np.isfinite(X).all():
        raise ValueError("X must be non-empty and finite")
    resolution = int(resolution)
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    if hasattr(model, "layers") and not hasattr(model, "network_"):
        if model.sizes[0] != 2:
            raise ValueError(f"the network takes {model.sizes[0]} inputs, not 2")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * margin, 1.0)
    lo, hi = lo - pad, hi + pad
    gx = np.linspace(lo[0], hi[0], resolution)
    gy = np.linspace(lo[1], hi[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    dtype = getattr(getattr(model, "network_", model), "dtype", np.float64)
    classes_grid, n_classes = _class_of(model, grid.astype(dtype, copy=False))
    regions = classes_grid.reshape(resolution, resolution)
    ax = _new_axes(ax, figsize=(5.2, 4.6))
    colormap = matplotlib.colormaps[cmap]
    norm = Normalize(vmin=0, vmax=max(colormap.N - 1, 1)) if colormap.N <= 20 else \
        Normalize(vmin=0, vmax=max(n_classes - 1, 1))
    ax.imshow(regions, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), aspect="auto",
              cmap=cmap, norm=norm, alpha=0.35, interpolation="nearest")
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} entries for {X.shape[0]} rows of X")
        classes = getattr(model, "classes_", None)
        index = np.searchsorted(np.asarray(classes), y) if classes is not None else \
            y.astype(int)
        ax.scatter(X[:, 0], X[:, 1], c=index, cmap=cmap, norm=norm, edgecolor="black",
                   linewidth=0.5, s=18)
    else:
        ax.scatter(X[:, 0], X[:, 1], color="black", s=10)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    return ax
