"""nncore.plot: what each picture draws (the artists' data), not pixels."""
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import nncore  # noqa: E402
import nncore.functional as F  # noqa: E402
import nncore.plot as nplot  # noqa: E402
from nncore._version import DISTRIBUTION  # noqa: E402

# (see the "once" marker in pyproject.toml)
pytestmark = pytest.mark.once


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def net_342(dtype="float64"):
    return nncore.Network([3, 4, 2], activation="sigmoid", output="softmax",
                          loss="cross_entropy", seed=0, dtype=dtype)


def xor_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


# -- draw_network --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_draw_network_connections_are_the_weights(dtype):
    net = net_342(dtype)
    ax = nplot.draw_network(net)
    lines, bias_lines, nodes = ax.collections[:3]
    weights = np.concatenate([layer.W.ravel() for layer in net.layers])
    np.testing.assert_array_equal(lines.get_array(), weights.astype(float))
    segments = lines.get_segments()
    assert len(segments) == 3 * 4 + 4 * 2
    # the segment of W[i, j] of layer l runs from column l to column l + 1
    xs = np.array([[s[0][0], s[1][0]] for s in segments])
    np.testing.assert_array_equal(xs[:12], [[0, 1]] * 12)
    np.testing.assert_array_equal(xs[12:], [[1, 2]] * 8)
    # widths grow with |w|: the largest weight draws the widest line
    widths = np.asarray(lines.get_linewidths())
    assert widths.argmax() == np.abs(weights).argmax()
    # one colour scale, symmetric around 0
    assert lines.norm.vmin == -lines.norm.vmax
    biases = np.concatenate([layer.b for layer in net.layers])
    np.testing.assert_array_equal(bias_lines.get_array(), biases.astype(float))
    assert len(nodes.get_offsets()) == 3 + 4 + 2


def test_draw_network_fills_nodes_with_one_examples_activations():
    net = net_342()
    x = np.array([1.0, 2.0, 1.0])
    ax = nplot.draw_network(net, x=x, show_biases=False, colorbar=False)
    lines, nodes = ax.collections[:2]
    trace = net.trace(x[None], [[1.0, 0.0]])
    expected = np.concatenate([x] + [r["z"].ravel() for r in trace])
    np.testing.assert_allclose(nodes.get_array(), expected, rtol=1e-12)
    np.testing.assert_allclose(expected[-2:], net.predict(x), rtol=1e-12)
    assert len(ax.collections) == 2          # no bias collections


def test_draw_network_takes_a_fitted_estimator():
    sklearn_mod = pytest.importorskip("nncore.sklearn")
    X, y = xor_data()
    est = sklearn_mod.MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    ax = nplot.draw_network(est)
    assert len(ax.collections[0].get_segments()) == sum(
        layer.W.size for layer in est.network_.layers)


@pytest.mark.parametrize("x", [[1.0, 2.0], [[1.0, 2.0, 1.0, 0.0]], np.zeros((2, 3))])
def test_draw_network_refuses_a_wrong_example(x):
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        nplot.draw_network(net_342(), x=x)


def test_draw_network_refuses_a_non_network():
    with pytest.raises(TypeError, match="Network"):
        nplot.draw_network(object())


# -- plot_trace ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_plot_trace_draws_every_quantity(dtype):
    net = nncore.Network([3, 5, 4, 2], activation="tanh", output="softmax",
                         loss="cross_entropy", seed=1, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3))
    y = rng.integers(0, 2, size=7)
    fig = nplot.plot_trace(net, X, y)
    records = net.trace(X, y)
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 3 * len(records)
    for l, record in enumerate(records):
        for k, name in enumerate(("a", "z", "delta")):
            ax = image_axes[3 * l + k]
            assert ax.get_title() == f"layer {l + 1}: {name}"
            np.testing.assert_array_equal(ax.images[0].get_array(), record[name].astype(float))
    # a and delta on a scale centred at 0
    norm = image_axes[2].images[0].norm
    assert norm.vmin == -norm.vmax


def test_plot_trace_one_example_is_one_row():
    net = net_342()
    fig = nplot.plot_trace(net, [1.0, 2.0, 1.0], [1.0, 0.0])
    assert fig.axes[0].images[0].get_array().shape == (1, 4)


def test_plot_trace_bad_input_raises_the_networks_error():
    with pytest.raises(ValueError):
        nplot.plot_trace(net_342(), np.zeros((2, 5)), np.zeros((2, 2)))


# -- plot_activations ---------------------------------------------------------------------------

def test_plot_activations_are_the_functions_and_their_derivatives():
    a = np.linspace(-3, 3, 61)
    acts = ["sigmoid", "tanh", "relu", nncore.LeakyReLU(0.1), nncore.Sigmoid(c=2.0, beta=0.5)]
    fig = nplot.plot_activations(acts, a=a)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 5
    expected = [
        (1 / (1 + np.exp(-a)), np.exp(-a) / (1 + np.exp(-a)) ** 2),
        (np.tanh(a), 1 - np.tanh(a) ** 2),
        (np.maximum(a, 0), (a > 0).astype(float)),
        (np.where(a >= 0, a, 0.1 * a), np.where(a > 0, 1.0, 0.1)),
        (2 / (1 + np.exp(-0.5 * a)),
         2 * 0.5 * np.exp(-0.5 * a) / (1 + np.exp(-0.5 * a)) ** 2),
    ]
    for ax, (z, d) in zip(visible, expected):
        phi, dphi = ax.lines[:2]
        np.testing.assert_array_equal(phi.get_xdata(), a)
        np.testing.assert_allclose(phi.get_ydata(), z, rtol=1e-12, atol=1e-15)
        # at a = 0 (relu's kink) the core's convention decides; compare elsewhere
        off = a != 0
        np.testing.assert_allclose(dphi.get_ydata()[off], d[off], rtol=1e-12, atol=1e-15)
    assert visible[4].get_title() == "sigmoid (c=2, beta=0.5)"
    # the core's own derivative at the kink, whatever it is, is what is drawn
    np.testing.assert_array_equal(visible[2].lines[1].get_ydata(), F.derivative("relu", a))


def test_plot_activations_draws_the_newer_functions_with_their_parameters():
    import math
    a = np.linspace(-3, 3, 61)
    cdf = np.array([(1 + math.erf(v / math.sqrt(2))) / 2 for v in a])
    u = math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)
    s = 1 / (1 + np.exp(-a))
    fig = nplot.plot_activations(["gelu", nncore.GELU(approximate="tanh"), nncore.ELU(0.5),
                                  "silu", nncore.Softplus(beta=2.0)], a=a, ncols=3)
    expected = [
        (a * cdf, cdf + a * np.exp(-a**2 / 2) / math.sqrt(2 * math.pi)),
        (0.5 * a * (1 + np.tanh(u)), 0.5 * (1 + np.tanh(u)) + 0.5 * a * (1 - np.tanh(u)**2)
         * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * a**2)),
        (np.where(a > 0, a, 0.5 * np.expm1(a)), np.where(a > 0, 1, 0.5 * np.exp(a))),
        (a * s, s * (1 + a * (1 - s))),
        (np.log1p(np.exp(2 * a)) / 2, 1 / (1 + np.exp(-2 * a))),
    ]
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [
        "gelu", "gelu (approximate=tanh)", "elu (alpha=0.5)", "silu",
        "softplus (beta=2, threshold=20)"]
    for ax, (z, d) in zip(visible, expected):
        phi, dphi = ax.lines[:2]
        np.testing.assert_allclose(phi.get_ydata(), z, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(dphi.get_ydata(), d, rtol=1e-12, atol=1e-14)


def test_plot_activations_refuses_softmax_and_bad_points():
    with pytest.raises(ValueError, match="Jacobian"):
        nplot.plot_activations(["relu", "softmax"])
    with pytest.raises(ValueError, match="1-D"):
        nplot.plot_activations(["relu"], a=np.zeros((2, 2)))
    with pytest.raises(ValueError):
        nplot.plot_activations(["mish"])


# -- plot_history / History.plot ----------------------------------------------------------------

def fitted_history(**kwargs):
    X, y = nncore.load_digits()
    net = nncore.Network([64, 16, 10], activation="relu", loss="cross_entropy", seed=0,
                         optimizer="adam")
    return net.fit(X / 16, y, epochs=30, lr=0.01, validation_split=0.2,
                   metrics=("accuracy",), **kwargs)


def _overlaps(a, b):
    return not (a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0)


@pytest.mark.parametrize("via", ["function", "method"])
def test_history_plot_draws_the_record(via):
    history = fitted_history(early_stopping=nncore.EarlyStopping(patience=3))
    ax = nplot.plot_history(history) if via == "function" else history.plot()
    loss, val = ax.lines[:2]
    np.testing.assert_array_equal(loss.get_ydata(), history.loss)
    np.testing.assert_array_equal(val.get_ydata(), history.val_loss)
    np.testing.assert_array_equal(loss.get_xdata(), np.arange(1, len(history) + 1))
    # the best epoch: a vertical line and a point on the validation curve
    best = history.best_epoch
    marks = [line for line in ax.lines if line.get_label().startswith("best epoch")]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [best + 1, best + 1]
    points = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(points) == 1
    assert list(points[0].get_xdata()) == [best + 1]
    assert list(points[0].get_ydata()) == [history.val_loss[best]]
    # the metrics on the second axis
    right = ax.right_ax
    assert right.get_legend() is not None and len(right.get_legend().texts) == 5
    np.testing.assert_array_equal(right.lines[0].get_ydata(), history.metrics["accuracy"])
    # losses that span a decade: a log scale
    assert max(history.loss) / min(history.loss) > 10
    assert ax.get_yscale() == "log"


def test_history_plot_is_linear_when_the_loss_spans_less_than_a_decade():
    history = nncore.History([1.0, 0.8, 0.5])
    ax = history.plot()
    assert ax.get_yscale() == "linear"
    assert history.plot(log=True).get_yscale() == "log"
    assert ax.right_ax is None


@pytest.mark.parametrize("metrics", [("accuracy",), ()])
def test_saved_history_plot_keeps_labels_and_legend_clear_of_the_curves(tmp_path, metrics):
    X, y = nncore.load_digits()
    net = nncore.Network([64, 16, 10], activation="relu", loss="cross_entropy", seed=0)
    history = net.fit(X / 16, y, epochs=25, lr=0.1, validation_split=0.2, metrics=metrics)
    ax = history.plot()
    ax.set_title("a title set afterwards")
    fig = ax.figure
    fig.savefig(tmp_path / "curves.png")           # a plain savefig: no bbox_inches
    renderer = fig.canvas.get_renderer()
    right = ax.right_ax
    legend = (right or ax).get_legend()
    labels = [ax.xaxis.label, ax.yaxis.label, ax.title, legend]
    labels += [right.yaxis.label] if right is not None else []
    figure_box = fig.bbox
    for artist in labels:
        box = artist.get_window_extent(renderer)
        assert figure_box.x0 - 0.5 <= box.x0 and box.x1 <= figure_box.x1 + 0.5, artist
        assert figure_box.y0 - 0.5 <= box.y0 and box.y1 <= figure_box.y1 + 0.5, artist
    # the legend lies inside the plotting area, above every point of every curve
    legend_box = legend.get_window_extent(renderer)
    axes_box = ax.get_window_extent(renderer)
    assert axes_box.y0 <= legend_box.y0 and legend_box.y1 <= axes_box.y1 + 0.5
    curves = [line for a in (ax, right) if a is not None for line in a.lines
              if not line.get_label().startswith("best epoch")]
    assert len(curves) == 2 + len(history.metrics) + 1   # loss, val_loss, metrics, best point
    for line in curves:
        points = line.get_transform().transform(line.get_xydata())
        assert points[:, 1].max() < legend_box.y0, line.get_label()
    # and the title above the plotting area does not meet the legend
    assert not _overlaps(ax.title.get_window_extent(renderer), legend_box)
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_plot_history_refuses_an_empty_history():
    with pytest.raises(ValueError, match="empty"):
        nplot.plot_history(nncore.History())


# -- plot_decision_regions ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_decision_regions_are_the_networks_classes(dtype):
    X, y = xor_data()
    net = nncore.Network([2, 16, 2], activation="tanh", loss="cross_entropy", seed=0,
                         dtype=dtype, optimizer="adam")
    net.fit(X, y, epochs=100, lr=0.02)
    ax = nplot.plot_decision_regions(net, X, y, resolution=31)
    regions = ax.images[0].get_array()
    assert regions.shape == (31, 31)
    x0, x1, y0, y1 = ax.images[0].get_extent()
    gx, gy = np.linspace(x0, x1, 31), np.linspace(y0, y1, 31)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(dtype)
    expected = net.predict(grid).argmax(axis=1).reshape(31, 31)
    np.testing.assert_array_equal(regions, expected)
    # the extent covers the data with a margin, and both classes appear
    assert x0 < X[:, 0].min() and x1 > X[:, 0].max()
    assert set(np.unique(regions)) == {0, 1}
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), X)
    np.testing.assert_array_equal(ax.collections[0].get_array(), y)


def test_decision_regions_of_a_one_output_network_and_an_estimator():
    X, y = xor_data()
    net = nncore.Network([2, 8, 1], activation="tanh", output="sigmoid",
                         loss="binary_cross_entropy", seed=0)
    ax = nplot.plot_decision_regions(net, X, resolution=11)
    x0, x1, y0, y1 = ax.images[0].get_extent()
    xx, yy = np.meshgrid(np.linspace(x0, x1, 11), np.linspace(y0, y1, 11))
    p = net.predict(np.column_stack([xx.ravel(), yy.ravel()]))[:, 0]
    np.testing.assert_array_equal(ax.images[0].get_array(), (p > 0.5).reshape(11, 11))
    sk = pytest.importorskip("nncore.sklearn")
    labels = np.where(y == 1, "b", "a")
    est = sk.MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, labels)
    ax = nplot.plot_decision_regions(est, X, labels, resolution=11)
    x0, x1, y0, y1 = ax.images[0].get_extent()
    xx, yy = np.meshgrid(np.linspace(x0, x1, 11), np.linspace(y0, y1, 11))
    pred = est.predict(np.column_stack([xx.ravel(), yy.ravel()]))
    np.testing.assert_array_equal(ax.images[0].get_array(), (pred == "b").reshape(11, 11))
    np.testing.assert_array_equal(ax.collections[0].get_array(), (labels == "b").astype(int))


@pytest.mark.parametrize("X, match", [(np.zeros((5, 3)), r"\(N, 2\)"),
                                      (np.zeros(5), r"\(N, 2\)"),
                                      (np.array([[0.0, np.nan]]), "finite")])
def test_decision_regions_refuse_bad_points(X, match):
    net = nncore.Network([2, 2], output="softmax", loss="cross_entropy", seed=0)
    with pytest.raises(ValueError, match=match):
        nplot.plot_decision_regions(net, X)


def test_decision_regions_refuse_a_network_that_is_not_2d():
    with pytest.raises(ValueError, match="3 inputs"):
        nplot.plot_decision_regions(net_342(), np.zeros((4, 2)))


# -- the optional dependency --------------------------------------------------------------------

def test_import_nncore_does_not_import_matplotlib_and_plot_says_what_to_install():
    code = ("import sys, nncore; assert 'matplotlib' not in sys.modules; "
            "sys.modules['matplotlib'] = None\n"
            "try:\n    import nncore.plot\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert f'pip install "{DISTRIBUTION}[plot]"' in out


def test_docstring_examples_run():
    import doctest
    result = doctest.testmod(nplot, optionflags=doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.attempted >= 15 and result.failed == 0
