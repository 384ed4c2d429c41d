"""The worked examples and identities of the seed (shared/seed/basics-of-neural-networks.txt),
computed by nncore and compared with the seed's own figures or formulas."""
import math

import numpy as np
import pytest

import nncore
import nncore.functional as F
from nncore import _kernels

from _helpers import BACKENDS, DTYPES, RTOL, central_difference, ref_sigmoid


def test_import_is_the_installed_package_not_the_source_tree():
    # tests run against the installed package: never python/nncore or the Cython folder
    path = nncore.__file__.replace("\\", "/")
    assert "/python/nncore/" not in path
    assert hasattr(nncore, "Network") and hasattr(_kernels, "matmul_into")


# -- weights and biases: a = w^T x + b = 3 -----------------------------------------------------

X_SEED = [1.0, 2.0, 1.0]
W_SEED = [1.0, 0.0, -1.0]
B_SEED = 3.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weighted_sum_gives_3_through_a_dense_identity_layer(backend, dtype):
    net = nncore.Network([nncore.Dense(3, 1, activation="identity")], loss="mse",
                         dtype=dtype, backend=backend)
    net.layers[0].W = np.array(W_SEED).reshape(3, 1)
    net.layers[0].b = [B_SEED]
    assert net.forward(np.array(X_SEED)).tolist() == [3.0]
    assert net.forward(np.array([X_SEED])).tolist() == [[3.0]]
    trace = net.trace(np.array(X_SEED), [3.0])
    assert trace[0]["a"].tolist() == [3.0] and trace[0]["z"].tolist() == [3.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_sum_gives_3_through_the_dense_forward_kernel(dtype):
    z_prev = np.array([X_SEED], dtype=dtype)
    W = np.array(W_SEED, dtype=dtype).reshape(3, 1)
    b = np.array([B_SEED], dtype=dtype)
    a = np.full((1, 1), np.nan, dtype=dtype)
    _kernels.dense_forward_into(z_prev, W, b, a)
    assert a.tolist() == [[3.0]]


def test_seed_layer_equations_one_column_per_node():
    # a^(1) = W^T a^(0) + b: node j gets sum_i W_ij a_i + b_j (the seed's expanded matrices)
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 4))
    b = rng.normal(size=4)
    x = rng.normal(size=3)
    net = nncore.Network([nncore.Dense(3, 4)], loss="mse")
    net.layers[0].W = W
    net.layers[0].b = b
    expected = [sum(W[i, j] * x[i] for i in range(3)) + b[j] for j in range(4)]
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-13)


# -- softmax([0.3, 0.6]) = [0.4255, 0.5745] --------------------------------------------------

# The seed prints 4 decimals (0.42556 shows as 0.4255, 0.57444 as 0.5745): within 1e-4.
SEED_SOFTMAX = [0.4255, 0.5745]


def test_softmax_worked_example_functional():
    np.testing.assert_allclose(F.softmax([0.3, 0.6]), SEED_SOFTMAX, atol=1e-4)
    np.testing.assert_allclose(F.softmax([0.3, 0.6]),
                               [1 / (1 + math.exp(0.3)), 1 / (1 + math.exp(-0.3))], rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_worked_example_kernel(dtype):
    a = np.array([[0.3, 0.6]], dtype=dtype)
    z = np.empty_like(a)
    _kernels.activation_forward_into(5, 0.0, 0.0, a, z)
    np.testing.assert_allclose(z[0], SEED_SOFTMAX, atol=1e-4)
    expected = [math.exp(0.3) / (math.exp(0.3) + math.exp(0.6)),
                math.exp(0.6) / (math.exp(0.3) + math.exp(0.6))]
    np.testing.assert_allclose(z[0], expected, rtol=RTOL[dtype])


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_worked_example_as_a_network_output(backend):
    # output activations a^(2) = [0.3, 0.6] through an identity weight matrix and a softmax
    net = nncore.Network([nncore.Dense(2, 2, "softmax")], loss="cross_entropy",
                         backend=backend)
    net.layers[0].W = np.eye(2)
    net.layers[0].b = [0.0, 0.0]
    z = net.predict(np.array([0.3, 0.6]))
    np.testing.assert_allclose(z, SEED_SOFTMAX, atol=1e-4)
    np.testing.assert_allclose(z, [1 / (1 + math.exp(0.3)), 1 / (1 + math.exp(-0.3))],
                               rtol=1e-15)


# -- cross-entropy of [0.9, 0.1] and [0.1, 0.9] against [1, 0] ---------------------------------

@pytest.mark.parametrize("yhat, natural, base10", [
    ([0.9, 0.1], -math.log(0.9), 0.046),
    ([0.1, 0.9], -math.log(0.1), 1.0),
])
def test_cross_entropy_worked_example(yhat, natural, base10):
    value = F.cross_entropy(yhat, [1, 0])
    assert value == pytest.approx(natural, rel=1e-12)
    # the seed's figures are base-10 logarithms: dividing by ln(10) gives them back
    assert round(value / math.log(10), 3) == base10


def test_cross_entropy_worked_example_rounded_natural_log_figures():
    assert round(F.cross_entropy([0.9, 0.1], [1, 0]), 4) == 0.1054
    assert round(F.cross_entropy([0.1, 0.9], [1, 0]), 4) == 2.3026


@pytest.mark.parametrize("p", [0.1, 0.01, 1e-6])
def test_cross_entropy_penalises_bad_predictions_more_than_mse(p):
    # the seed's plot for outputs [p, 1 - p] against [1, 0]: MSE stays below 1 while
    # cross-entropy -ln(p) grows without bound as p -> 0
    ce = F.cross_entropy([p, 1 - p], [1, 0])
    mse = F.mse([p, 1 - p], [1, 0])
    assert ce == pytest.approx(-math.log(p), rel=1e-12)
    assert mse == pytest.approx((1 - p) ** 2, rel=1e-12)
    assert ce > mse


# -- sigmoid, tanh and their derivatives -------------------------------------------------------

A = np.linspace(-6, 6, 49)


def test_sigmoid_is_the_logistic_function():
    np.testing.assert_allclose(F.sigmoid(A), 1 / (1 + np.exp(-A)), rtol=1e-14)


def test_sigmoid_derivative_is_s_times_one_minus_s():
    s = F.sigmoid(A)
    np.testing.assert_allclose(F.derivative("sigmoid", A), s * (1 - s), rtol=1e-12, atol=1e-15)


def test_sigmoid_derivative_matches_central_differences():
    num = np.array([central_difference(lambda: F.sigmoid([x[0]])[0], lambda: x[0],
                                       lambda v: x.__setitem__(0, v)) for x in ([a] for a in A)])
    np.testing.assert_allclose(F.derivative("sigmoid", A), num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("c, beta", [(1.7, 0.6), (0.5, 3.0), (2.0, -1.5)])
def test_scaled_sigmoid_is_c_over_one_plus_exp_minus_beta_a(c, beta):
    np.testing.assert_allclose(F.sigmoid(A, c=c, beta=beta), c / (1 + np.exp(-beta * A)),
                               rtol=1e-13)


@pytest.mark.parametrize("c, beta", [(1.7, 0.6), (0.5, 3.0), (2.0, -1.5)])
def test_scaled_sigmoid_derivative(c, beta):
    s = 1 / (1 + np.exp(-beta * A))
    expected = c * beta * s * (1 - s)
    np.testing.assert_allclose(F.derivative("sigmoid", A, c=c, beta=beta), expected,
                               rtol=1e-10, atol=1e-14)


def test_tanh_is_two_sigmoid_of_two_a_minus_one():
    np.testing.assert_allclose(F.tanh(A), 2 * F.sigmoid(2 * A) - 1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(F.tanh(A), (1 - np.exp(-2 * A)) / (1 + np.exp(-2 * A)),
                               rtol=1e-12, atol=1e-15)


def test_tanh_derivative_is_one_minus_tanh_squared():
    t = np.tanh(A)
    np.testing.assert_allclose(F.derivative("tanh", A), 1 - t ** 2, rtol=1e-10, atol=1e-15)
    # and the seed's route through the sigmoid: 4 sigma(2a) (1 - sigma(2a))
    s2 = ref_sigmoid(2 * A)
    np.testing.assert_allclose(F.derivative("tanh", A), 4 * s2 * (1 - s2), rtol=1e-9, atol=1e-14)


# -- relu and leaky relu ---------------------------------------------------------------------

def test_relu_is_max_zero_a():
    assert F.relu([-2.0, -0.5, 0.0, 0.5, 2.0]).tolist() == [0.0, 0.0, 0.0, 0.5, 2.0]
    assert F.derivative("relu", [-2.0, -0.5, 0.5, 2.0]).tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("delta", [0.01, 0.2, 0.5])
def test_leaky_relu_has_slope_delta_below_zero(delta):
    a = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(F.leaky_relu(a, delta=delta), np.where(a >= 0, a, delta * a))
    np.testing.assert_array_equal(F.derivative("leaky_relu", a[a != 0], delta=delta),
                                  np.where(a[a != 0] >= 0, 1.0, delta))


def test_leaky_relu_default_slope_is_0_01():
    assert F.leaky_relu([-1.0])[0] == pytest.approx(-0.01, rel=1e-15)
    assert nncore.LeakyReLU().delta == 0.01


# -- the softmax Jacobian ----------------------------------------------------------------------

@pytest.mark.parametrize("a", [[0.3, 0.6], [1.0, -2.0, 0.5], [0.1, 0.2, 0.3, 4.0, -1.0]])
def test_softmax_jacobian_is_diag_z_minus_z_zT(a):
    z = F.softmax(a)
    np.testing.assert_allclose(F.softmax_jacobian(a), np.diag(z) - np.outer(z, z),
                               rtol=1e-12, atol=1e-15)


def test_softmax_jacobian_entries_of_the_seeds_three_node_example():
    z = F.softmax([1.0, -2.0, 0.5])
    J = F.softmax_jacobian([1.0, -2.0, 0.5])
    # d z0 / d a0 = z0 (1 - z0);  d z0 / d a1 = -z0 z1
    assert J[0, 0] == pytest.approx(z[0] * (1 - z[0]), rel=1e-12)
    assert J[0, 1] == pytest.approx(-z[0] * z[1], rel=1e-12)
    assert J[2, 1] == pytest.approx(-z[2] * z[1], rel=1e-12)


def test_softmax_jacobian_matches_central_differences():
    a = np.array([0.4, -1.2, 2.0, 0.0])
    num = np.empty((4, 4))
    for k in range(4):
        x = a.copy()
        num[:, k] = [central_difference(lambda j=j: F.softmax(x)[j], lambda: x[k],
                                        lambda v: x.__setitem__(k, v)) for j in range(4)]
    np.testing.assert_allclose(F.softmax_jacobian(a), num, rtol=1e-6, atol=1e-9)


def test_softmax_outputs_sum_to_one_and_lie_in_0_1():
    z = F.softmax(np.random.default_rng(0).normal(scale=5, size=(20, 6)))
    np.testing.assert_allclose(z.sum(axis=1), 1, rtol=1e-14)
    assert (z > 0).all() and (z < 1).all()


# -- the losses ------------------------------------------------------------------------------

def test_mse_divides_by_2N():
    # one example: 1/2 (2 - 4)^2 = 2; two examples with errors 2 and 1: (4 + 1) / (2 * 2)
    assert F.mse([4.0], [2.0]) == 2.0
    assert F.mse([[4.0], [1.0]], [[2.0], [0.0]]) == pytest.approx(5 / 4, rel=1e-15)


def test_mse_sums_over_outputs_and_averages_over_examples():
    rng = np.random.default_rng(1)
    yhat, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    expected = sum(((y[i] - yhat[i]) ** 2).sum() for i in range(7)) / (2 * 7)
    assert F.mse(yhat, y) == pytest.approx(expected, rel=1e-13)


def test_cross_entropy_is_minus_sum_y_log_yhat_over_N():
    yhat = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([[1, 0, 0], [0, 0.5, 0.5]])
    expected = -(math.log(0.7) + 0.5 * math.log(0.1) + 0.5 * math.log(0.8)) / 2
    assert F.cross_entropy(yhat, y) == pytest.approx(expected, rel=1e-13)


def test_binary_cross_entropy_formula():
    yhat = np.array([[0.7, 0.2], [0.4, 0.9]])
    y = np.array([[1, 0], [0.25, 1]])
    expected = -(math.log(0.7) + math.log(0.8) + 0.25 * math.log(0.4) + 0.75 * math.log(0.6)
                 + math.log(0.9)) / 2
    assert F.binary_cross_entropy(yhat, y) == pytest.approx(expected, rel=1e-13)


# -- backpropagation: the seed's local gradients and the update ----------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_output_local_gradient_is_minus_seed_delta(backend):
    # the seed: Delta = (Y - Z) * phi'(a) for MSE on one example; nncore's delta is its negative
    # (dL/da), averaged over N = 1
    net = nncore.Network([nncore.Dense(3, 2, "sigmoid")], loss="mse", seed=3, backend=backend)
    x, y = np.array([1.0, 2.0, 1.0]), np.array([0.2, 0.9])
    t = net.trace(x, y)[0]
    z = t["z"]
    np.testing.assert_allclose(t["delta"], -(y - z) * z * (1 - z), rtol=1e-12)
    # dL/dW_ij = -delta_seed_j * z_i
    g = net.gradients(x, y)[0]
    np.testing.assert_allclose(g["W"], np.outer(x, -(y - z) * z * (1 - z)), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_descent_moves_against_the_gradient(backend):
    # theta := theta - eta dL/dtheta
    net = nncore.Network([3, 4, 2], activation="tanh", loss="mse", seed=5, backend=backend)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    grads = net.gradients(X, Y)
    before = [(ly.W.copy(), ly.b.copy()) for ly in net.layers]
    loss_before = net.loss(X, Y)
    assert net.train_step(X, Y, 0.05) == pytest.approx(loss_before, rel=1e-14)
    for (W, b), g, ly in zip(before, grads, net.layers):
        np.testing.assert_allclose(ly.W, W - 0.05 * g["W"], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ly.b, b - 0.05 * g["b"], rtol=1e-12, atol=1e-15)
    assert net.loss(X, Y) < loss_before
