"""Breakpoints of shallow 1-d networks: their scale under init="breakpoint", their movement."""

import numpy as np
import pytest

from sklearn_gdnet import GDNetworkRegressor

M = 24


def grid():
    x = np.linspace(-1, 1, 2 * M)[:, None]
    return x, 0.25 / (0.2 * np.sqrt(2 * np.pi)) * np.exp(-x[:, 0] ** 2 / 0.08)


def shallow(**kw):
    defaults = dict(
        width=M,
        depth=1,
        init="breakpoint",
        trainable="hidden_biases",
        solver="adam",
        learning_rate=1e-3,
        normalize_y=False,
        random_state=0,
    )
    return GDNetworkRegressor(**{**defaults, **kw})


@pytest.mark.parametrize("bias_std", [0.1, 1.0, 3.0])
@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_one_adam_step_moves_each_breakpoint_by_the_step_size(bias_std, parametrization):
    x, y = grid()
    eta = 1e-3
    start = shallow(bias_std=bias_std, parametrization=parametrization, max_iter=0).fit(x, y)
    p = start.params_
    # The documented model: f(x) = sum_r W2_r a2 relu(x - theta_r) with theta_r = -b1_r
    # (bias multiplier 1) and a2 = 1 / sqrt(m) under the NTK parametrization.
    a2 = 1 / np.sqrt(M) if parametrization == "ntk" else 1.0
    theta = -p["b1"]
    assert np.allclose(p["W1"], 1.0) and np.all(np.abs(theta) <= 1)
    outer = a2 * p["W2"][:, 0]
    assert np.allclose(np.abs(outer), 1 / np.sqrt(M))
    f = np.maximum(x - theta, 0) @ outer
    assert np.allclose(start.predict(x), f, rtol=1e-12, atol=1e-14)
    # Adam's first step is eta * g / (|g| + eps / sqrt(1 - beta2)): about eta * sign(g)
    # for the gradient dL/dtheta_r = -outer_r * sum_{x_i > theta_r} e_i / n.
    e = f - y
    active = x > theta
    grad_theta = -outer * (e @ active) / len(y)
    net = shallow(bias_std=bias_std, parametrization=parametrization, max_iter=1).fit(x, y)
    moved = -net.params_["b1"] - theta
    sizable = np.abs(grad_theta) > 1e-4
    assert sizable.sum() >= M // 2
    assert np.allclose(moved[sizable], -eta * np.sign(grad_theta[sizable]), rtol=1e-3)
    assert net.breakpoint_movement_["sup"] == pytest.approx(eta, rel=1e-3)


def test_breakpoint_runs_do_not_depend_on_bias_std():
    x, y = grid()
    runs = [shallow(bias_std=s, max_iter=20, trainable="all").fit(x, y) for s in (0.1, 2.0)]
    for g in runs[0].params_:
        assert np.array_equal(runs[0].params_[g], runs[1].params_[g]), g


def study_norms(dtheta):
    m = dtheta.size
    return {
        "sup": np.linalg.norm(dtheta, np.inf),
        "mean_abs": np.linalg.norm(dtheta, 1) / m,
        "rms": np.linalg.norm(dtheta, 2) / np.sqrt(m),
    }


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_breakpoint_movement_of_a_gaussian_network(parametrization):
    x, y = grid()
    net = GDNetworkRegressor(
        width=M,
        depth=1,
        weight_std=1.3,
        bias_std=0.4,
        parametrization=parametrization,
        learning_rate=0.05,
        max_iter=30,
        random_state=1,
    ).fit(x, y)
    a, c = (1.3, 0.4) if parametrization == "ntk" else (1.0, 1.0)

    def knots(params):
        return -c * params["b1"] / (a * params["W1"][0])

    dtheta = knots(net.params_) - knots(net.initial_params_)
    expected = study_norms(dtheta)
    assert expected["sup"] > 1e-3  # the breakpoints did move
    assert net.breakpoint_movement_ == pytest.approx(expected, rel=1e-12)


def test_units_without_a_breakpoint_are_left_out():
    x, y = grid()
    trainable = ("b1", "W2", "b2")
    net = shallow(trainable=trainable, max_iter=0, warm_start=True).fit(x, y)
    net.params_["W1"][0, 3] = 0.0  # unit 3 becomes a constant
    theta0 = -net.params_["b1"].copy()
    net.set_params(max_iter=5).fit(x, y)
    dtheta = np.delete(-net.params_["b1"] - theta0, 3)
    assert net.breakpoint_movement_ == pytest.approx(study_norms(dtheta), rel=1e-12)


def test_breakpoint_movement_only_for_one_feature_and_one_hidden_layer():
    x, y = grid()
    assert GDNetworkRegressor(width=8, depth=2, max_iter=2).fit(x, y).breakpoint_movement_ is None
    X2 = np.hstack([x, x**2])
    net = GDNetworkRegressor(width=8, depth=1, max_iter=2).fit(X2, y)
    assert net.breakpoint_movement_ is None
