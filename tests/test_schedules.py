"""Learning-rate schedules: the formulas, and training with them against hand-written loops."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_gdnet import GDNetworkRegressor
from sklearn_gdnet.exceptions import DivergenceWarning
from sklearn_gdnet.schedules import ExponentialDecay, MultiStepDecay, StepDecay


def torch_step_lr(base, step_size, gamma, n_steps):
    """PyTorch's StepLR written out: the rate of each step, stepped after it."""
    lr, out = base, []
    for last_epoch in range(1, n_steps + 1):
        out.append(lr)
        if last_epoch % step_size == 0:
            lr *= gamma
    return out


def test_step_decay_is_pytorch_step_lr():
    schedule = StepDecay(step_size=3, gamma=0.2)
    got = [schedule(k, 1e-3) for k in range(20)]
    assert got == pytest.approx(torch_step_lr(1e-3, 3, 0.2, 20), rel=1e-14)
    # the published protocol: 40,000 steps, step_size=steps/4, gamma=0.2
    study = StepDecay(step_size=10_000, gamma=0.2)
    assert study(9_999, 1e-3) == 1e-3
    assert study(10_000, 1e-3) == pytest.approx(2e-4, rel=1e-15)
    assert study(39_999, 1e-3) == pytest.approx(1e-3 * 0.008, rel=1e-15)
    assert StepDecay(5, gamma=1.0)(123, 0.5) == 0.5


def test_multistep_and_exponential_decay():
    assert [MultiStepDecay([2, 5], gamma=0.1)(k, 1.0) for k in range(7)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.1, 0.01, 0.01], rel=1e-15
    )
    assert [ExponentialDecay(0.9)(k, 2.0) for k in range(4)] == pytest.approx(
        [2.0, 1.8, 1.62, 1.458], rel=1e-15
    )


def test_schedules_validate_print_and_clone():
    with pytest.raises(InvalidParameterError, match="step_size"):
        StepDecay(0)(0, 1.0)
    with pytest.raises(InvalidParameterError, match="gamma"):
        StepDecay(3, gamma=0.0)(0, 1.0)
    with pytest.raises(InvalidParameterError, match="gamma"):
        ExponentialDecay(-1.0)(0, 1.0)
    for milestones in ([], [3, 3], [0, 2], [1.5]):
        with pytest.raises(ValueError, match="milestones"):
            MultiStepDecay(milestones)(0, 1.0)
    with pytest.raises(ValueError, match="step index"):
        StepDecay(3)(-1, 1.0)
    assert repr(StepDecay(100, gamma=0.2)) == "StepDecay(gamma=0.2, step_size=100)"
    net = GDNetworkRegressor(lr_schedule=StepDecay(100, gamma=0.2))
    assert net.get_params()["lr_schedule__gamma"] == 0.2
    copy = clone(net).set_params(lr_schedule__step_size=7)
    assert copy.lr_schedule.step_size == 7 and net.lr_schedule.step_size == 100


# --- training against hand-written loops ---------------------------------------------
#
# Only the output layer is trained, so the loss is quadratic in (W2, b2) with a fixed
# hidden representation H: the gradient is written here directly,
#   f = a2 H W2 + c2 b2,   dL/dW2 = a2 H^T r / n,   dL/db2 = c2 sum(r) / n,
# with the NTK multipliers a2 = weight_std / sqrt(width), c2 = bias_std.


def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(30, 3))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]


WIDTH, BIAS_STD = 12, 0.3


def network(**kw):
    defaults = dict(
        width=WIDTH,
        depth=1,
        bias_std=BIAS_STD,
        trainable="output",
        normalize_y=False,
        random_state=0,
    )
    return GDNetworkRegressor(**{**defaults, **kw})


def hand_loop(X, y, rates, solver, momentum=0.0, restart_at=None):
    """(W2, b2) after steps of size ``rates`` from the network's initialization.

    ``momentum``: one value, or one per step. ``restart_at``: the step (0-based)
    before which the optimizer state is reset.
    """
    momenta = np.broadcast_to(momentum, (len(rates),))
    init = network(max_iter=0).fit(X, y).params_
    a1, c1 = 1.0 / np.sqrt(X.shape[1]), BIAS_STD
    a2, c2 = 1.0 / np.sqrt(WIDTH), BIAS_STD
    H = np.maximum(a1 * X @ init["W1"] + c1 * init["b1"], 0.0)
    theta = [init["W2"][:, 0].copy(), init["b2"].copy()]
    n = len(y)

    def grad(W2, b2):
        r = a2 * H @ W2 + c2 * b2[0] - y
        return [a2 * H.T @ r / n, np.array([c2 * r.sum() / n])]

    velocity = [np.zeros_like(p) for p in theta]
    m = [np.zeros_like(p) for p in theta]
    v = [np.zeros_like(p) for p in theta]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    t = 0
    for k, eta in enumerate(rates):
        if k == restart_at:
            t, m, v = 0, [0 * p for p in theta], [0 * p for p in theta]
            velocity = [0 * p for p in theta]
        t += 1
        g = grad(*theta)
        for i in range(2):
            if solver == "gd":
                velocity[i] = momenta[k] * velocity[i] - eta * g[i]
                theta[i] = theta[i] + velocity[i]
            else:  # Kingma & Ba, Algorithm 1 with the bias corrections folded into the step
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] ** 2
                step = eta * np.sqrt(1 - beta2**t) / (1 - beta1**t)
                theta[i] = theta[i] - step * m[i] / (np.sqrt(v[i]) + eps)
    return theta


@pytest.mark.parametrize(
    "solver, momentum, base",
    [("gd", 0.0, 0.5), ("gd", 0.6, 0.3), ("adam", 0.0, 0.05)],
)
def test_scheduled_training_takes_the_hand_written_steps(solver, momentum, base):
    X, y = data()
    schedule = StepDecay(step_size=4, gamma=0.3)
    net = network(
        solver=solver, momentum=momentum, learning_rate=base, lr_schedule=schedule, max_iter=11
    ).fit(X, y)
    rates = torch_step_lr(base, 4, 0.3, 11)
    assert net.learning_rate_curve_ == pytest.approx(rates, rel=1e-14)
    assert len(net.learning_rate_curve_) == len(net.loss_curve_) == 11
    W2, b2 = hand_loop(X, y, rates, solver, momentum)
    assert np.allclose(net.params_["W2"][:, 0], W2, rtol=1e-10, atol=1e-13)
    assert np.allclose(net.params_["b2"], b2, rtol=1e-10, atol=1e-13)
    # and the decay matters: the constant step ends elsewhere
    W2_constant, _ = hand_loop(X, y, [base] * 11, solver, momentum)
    assert not np.allclose(net.params_["W2"][:, 0], W2_constant, rtol=1e-6)


@pytest.mark.parametrize("solver, momentum", [("gd", 0.0), ("gd", 0.5), ("adam", 0.0)])
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_continued_runs_continue_the_schedule_bit_for_bit(solver, momentum, how):
    X, y = data()
    kw = dict(solver=solver, momentum=momentum, learning_rate=0.05, width=16, depth=2)
    kw["lr_schedule"] = StepDecay(step_size=3, gamma=0.5)
    full = GDNetworkRegressor(max_iter=8, random_state=0, **kw).fit(X, y)
    if how == "warm_start":
        split = GDNetworkRegressor(max_iter=5, warm_start=True, random_state=0, **kw)
        split.fit(X, y).set_params(max_iter=3).fit(X, y)
    else:
        split = GDNetworkRegressor(random_state=0, **kw)
        for _ in range(8):
            split.partial_fit(X, y)
    assert split.n_iter_ == 8
    assert split.learning_rate_curve_ == full.learning_rate_curve_
    assert split.loss_curve_ == full.loss_curve_
    for g in full.params_:
        assert np.array_equal(split.params_[g], full.params_[g]), g


@pytest.mark.parametrize("solver, momentum", [("gd", 0.5), ("adam", 0.0)])
def test_warm_start_with_the_same_step_equals_one_run_bit_for_bit(solver, momentum):
    X, y = data()
    kw = dict(solver=solver, momentum=momentum, learning_rate=0.05, random_state=0)
    full = GDNetworkRegressor(width=16, max_iter=6, **kw).fit(X, y)
    warm = GDNetworkRegressor(width=16, max_iter=3, warm_start=True, **kw)
    warm.fit(X, y).fit(X, y)
    for g in full.params_:
        assert np.array_equal(warm.params_[g], full.params_[g]), g
    assert warm.learning_rate_curve_ == [0.05] * 6


@pytest.mark.parametrize(
    "solver, momentum, first, second", [("adam", 0.0, 0.05, 0.01), ("gd", 0.6, 0.3, 0.1)]
)
def test_warm_start_with_a_changed_step_keeps_the_optimizer_state(
    solver, momentum, first, second
):
    X, y = data()
    net = network(
        solver=solver, momentum=momentum, learning_rate=first, max_iter=4, warm_start=True
    ).fit(X, y)
    net.set_params(learning_rate=second, max_iter=3).fit(X, y)
    rates = [first] * 4 + [second] * 3
    assert net.learning_rate_curve_ == rates and net.learning_rate_ == second
    W2, b2 = hand_loop(X, y, rates, solver, momentum)
    assert np.allclose(net.params_["W2"][:, 0], W2, rtol=1e-10, atol=1e-13)
    assert np.allclose(net.params_["b2"], b2, rtol=1e-10, atol=1e-13)
    # a fresh optimizer state for the second call (the old behaviour) lands elsewhere
    W2_restarted, _ = hand_loop(X, y, rates, solver, momentum, restart_at=4)
    assert not np.allclose(net.params_["W2"][:, 0], W2_restarted, rtol=1e-6)


def test_lbfgs_refuses_a_schedule_and_records_no_step_size():
    X, y = data()
    with pytest.raises(ValueError, match="lbfgs.*lr_schedule"):
        GDNetworkRegressor(solver="lbfgs", lr_schedule=StepDecay(3)).fit(X, y)
    net = GDNetworkRegressor(solver="lbfgs", max_iter=5, random_state=0).fit(X, y)
    assert len(net.learning_rate_curve_) == len(net.loss_curve_) == net.n_iter_
    assert np.all(np.isnan(net.learning_rate_curve_))


def test_a_schedule_with_a_bad_value_is_refused_before_training():
    X, y = data()
    net = network(learning_rate=0.1, max_iter=3, warm_start=True).fit(X, y)
    before = {g: p.copy() for g, p in net.params_.items()}
    net.set_params(lr_schedule=lambda k, base: base if k < 4 else 0.0)
    with pytest.raises(ValueError, match="step size 0.0 at step 4"):
        net.fit(X, y)
    assert net.n_iter_ == 3 and all(np.array_equal(before[g], net.params_[g]) for g in before)
    net.set_params(lr_schedule=ExponentialDecay(1e-300), warm_start=False)
    with pytest.raises(ValueError, match="underflow"):
        net.fit(X, y)
    net.set_params(lr_schedule="not a schedule")
    with pytest.raises(InvalidParameterError, match="lr_schedule"):
        net.fit(X, y)


def test_a_callable_schedule_and_automatic_base_step():
    X, y = data()
    net = network(lr_schedule=lambda k, base: base / (1 + k), max_iter=4).fit(X, y)
    base = net.learning_rate_
    assert net.learning_rate_curve_ == pytest.approx([base, base / 2, base / 3, base / 4])


def test_divergence_names_the_scheduled_step():
    X, y = data()
    growing = ExponentialDecay(gamma=10.0)  # a growing step diverges within a few steps
    net = network(solver="gd", learning_rate=0.1, lr_schedule=growing, max_iter=50)
    with pytest.warns(DivergenceWarning, match="by lr_schedule") as record:
        net.fit(X, y)
    assert len(net.learning_rate_curve_) == len(net.loss_curve_) == net.n_iter_ < 50
    diverged_step = 0.1 * 10.0**net.n_iter_
    assert f"{diverged_step:.4g}" in str(record[0].message)


def test_momentum_changes_keep_or_restart_the_velocity_as_documented():
    X, y = data()
    # 0.6 -> 0.3: the velocity is kept, the new momentum applies from the next step
    net = network(momentum=0.6, learning_rate=0.3, max_iter=4, warm_start=True).fit(X, y)
    net.set_params(momentum=0.3, max_iter=3).fit(X, y)
    W2, _ = hand_loop(X, y, [0.3] * 7, "gd", [0.6] * 4 + [0.3] * 3)
    assert np.allclose(net.params_["W2"][:, 0], W2, rtol=1e-10, atol=1e-13)
    # 0 -> 0.6: momentum switched on starts from a zero velocity
    net = network(momentum=0.0, learning_rate=0.3, max_iter=4, warm_start=True).fit(X, y)
    net.set_params(momentum=0.6, max_iter=3).fit(X, y)
    momenta = [0.0] * 4 + [0.6] * 3
    W2, _ = hand_loop(X, y, [0.3] * 7, "gd", momenta, restart_at=4)
    assert np.allclose(net.params_["W2"][:, 0], W2, rtol=1e-10, atol=1e-13)
    W2_kept, _ = hand_loop(X, y, [0.3] * 7, "gd", momenta)
    assert not np.allclose(W2, W2_kept, rtol=1e-6)
