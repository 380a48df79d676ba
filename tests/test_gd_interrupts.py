"""Interrupts commit exactly the last finished step (issue 12, item 3).

Fault injection: a ``KeyboardInterrupt`` raised from inside each phase of a
step (the loss pass, the backward pass, the update, the saving of the previous
iterate), after the phase has done part of its work, for each solver. The
estimator must then hold a consistent last finished step (its loss recorded and
matching its parameters), and continuing the run must take exactly the steps of
a run that was never interrupted: the reference is that uninterrupted run.
"""

import signal
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.base import clone

import sklearn_gdnet._optim as optim
from sklearn_gdnet import GDNetworkRegressor

T = 10  # steps of the reference run

SOLVERS = {
    "gd": dict(learning_rate=0.5),
    "momentum": dict(learning_rate=0.3, momentum=0.7),
    "adam": dict(solver="adam", learning_rate=0.05),
}


def data(n=30, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] * X[:, -1]


def network(solver, activation="relu", **params):
    defaults = dict(width=16, depth=2, normalize_y=False, warm_start=True, random_state=0)
    solver_params = SOLVERS.get(solver, dict(solver=solver))
    return GDNetworkRegressor(activation=activation, **{**defaults, **solver_params, **params})


def Interrupt(func, at, partial=None):
    """Wrap ``func``: at its ``at``-th call do ``partial`` of its work, then interrupt.

    A function, so that it binds as a method where it replaces one.
    """
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == at:
            if partial is not None:
                partial(*args, **kwargs)
            raise KeyboardInterrupt
        return func(*args, **kwargs)

    return wrapper


def first_group_only(update):
    def partial(self, spec, ws, groups, params):
        update(self, spec, ws, groups[:1], params)

    return partial


def half_copy(src, dst, groups):
    optim.np.copyto(dst[groups[0]], src[groups[0]])


def inject(monkeypatch, phase, solver, at):
    """Make ``phase`` of a step raise KeyboardInterrupt at its ``at``-th call."""
    if phase == "loss":  # the fused ReLU pass or the plain loss, whichever runs
        monkeypatch.setattr(optim, "forward_top", Interrupt(optim.forward_top, at))
        monkeypatch.setattr(optim, "_loss", Interrupt(optim._loss, at))
    elif phase == "backward":
        monkeypatch.setattr(optim, "backward", Interrupt(optim.backward, at))
    elif phase == "update" and solver == "lbfgs":  # writing the line-search point
        monkeypatch.setattr(optim, "_unpack", Interrupt(optim._unpack, at, half_unpack))
    elif phase == "update":
        cls = optim._Adam if solver == "adam" else optim._GD
        real = cls.update
        monkeypatch.setattr(cls, "update", Interrupt(real, at, first_group_only(real)))
    elif phase == "save" and solver == "lbfgs":
        monkeypatch.setattr(optim, "_save_theta", Interrupt(optim._save_theta, at))
    elif phase == "save":
        monkeypatch.setattr(optim, "_copy_groups", Interrupt(optim._copy_groups, at, half_copy))
    elif phase == "save_state":
        real = optim._Optimizer.save
        monkeypatch.setattr(optim._Optimizer, "save", Interrupt(real, at))


def half_unpack(theta, params, groups, splits, shapes):
    size = int(np.prod(shapes[0]))
    optim._unpack(theta[:size], params, groups[:1], splits[:0], shapes[:1])


def assert_consistent(net, X, y):
    """The kept parameters are the ones whose loss was recorded last."""
    assert len(net.loss_curve_) == net.n_iter_
    assert net.loss_ == net.loss_curve_[-1]
    assert net.loss_ == pytest.approx(0.5 * np.mean((net.predict(X) - y) ** 2), rel=1e-9)


# Which call of each phase falls in step 4 of the run: the loss pass runs once
# before the first step; the other phases once per step.
AT = {"loss": 5, "backward": 4, "update": 4, "save": 4, "save_state": 4}


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("phase", list(AT))
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_interrupt_in_any_phase_continues_like_an_uninterrupted_run(
    monkeypatch, solver, phase, activation
):
    if phase == "save_state" and solver == "gd":
        pytest.skip("plain gradient descent has no optimizer state to save")
    X, y = data()
    reference = network(solver, activation, max_iter=T).fit(X, y)
    net = network(solver, activation, max_iter=T)
    inject(monkeypatch, phase, solver, AT[phase])
    with pytest.warns(RuntimeWarning, match="interrupted"):
        net.fit(X, y)
    monkeypatch.undo()
    assert net.n_iter_ == 3  # step 4 was under way
    assert net.loss_curve_ == reference.loss_curve_[:3]
    assert_consistent(net, X, y)
    net.set_params(max_iter=T - 3).fit(X, y)  # continue
    assert net.n_iter_ == T
    assert net.loss_curve_ == reference.loss_curve_
    for g in reference.params_:
        np.testing.assert_array_equal(net.params_[g], reference.params_[g], err_msg=g)


@pytest.mark.parametrize("phase", ["loss", "backward", "update", "save"])
def test_lbfgs_interrupt_keeps_its_last_accepted_iterate(monkeypatch, phase):
    X, y = data()
    reference = network("lbfgs", max_iter=T).fit(X, y)
    net = network("lbfgs", max_iter=T)
    inject(monkeypatch, phase, "lbfgs", 6 if phase != "save" else 4)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        net.fit(X, y)
    monkeypatch.undo()
    j = net.n_iter_
    assert 1 <= j < T
    assert net.loss_curve_ == reference.loss_curve_[:j]
    assert_consistent(net, X, y)
    # The parameters are the iterate L-BFGS had accepted at iteration j.
    stopped = network("lbfgs", max_iter=j).fit(X, y)
    for g in stopped.params_:
        np.testing.assert_array_equal(net.params_[g], stopped.params_[g], err_msg=g)


@pytest.mark.parametrize("how", ["fit", "partial_fit", "warm_start"])
def test_an_interrupt_before_any_step_changes_nothing(monkeypatch, how):
    X, y = data()
    net = network("momentum", max_iter=3, warm_start=how == "warm_start").fit(X, y)
    params = {g: p.copy() for g, p in net.params_.items()}
    curve, n_iter, predictions = list(net.loss_curve_), net.n_iter_, net.predict(X)
    if how == "fit":
        net.set_params(random_state=5)  # a new run, interrupted in its first loss pass
    inject(monkeypatch, "loss", "momentum", 1)
    with pytest.raises(KeyboardInterrupt):
        (net.partial_fit if how == "partial_fit" else net.fit)(X, y)
    monkeypatch.undo()
    assert net.n_iter_ == n_iter and net.loss_curve_ == curve
    for g in params:
        np.testing.assert_array_equal(net.params_[g], params[g])
    np.testing.assert_array_equal(net.predict(X), predictions)
    if how != "fit":  # the run continues as if nothing had happened
        uninterrupted = network("momentum", max_iter=3).fit(X, y).fit(X, y)
        net.set_params(warm_start=True).fit(X, y)
        np.testing.assert_array_equal(net.predict(X), uninterrupted.predict(X))


def test_real_sigints_leave_a_consistent_run():
    # Signals at arbitrary moments (also outside the training loop): whatever the
    # moment, the estimator is consistent, and continuing reaches the reference.
    X, y = data()
    steps = 1000
    reference = network("momentum", max_iter=steps).fit(X, y)
    start = time.perf_counter()
    network("momentum", max_iter=steps).fit(X, y)
    duration = time.perf_counter() - start
    main = threading.get_ident()
    for delay in np.random.default_rng(0).uniform(0, 1.1 * duration, size=5):
        net = clone(reference)
        timer = threading.Timer(delay, signal.pthread_kill, (main, signal.SIGINT))
        try:
            try:
                # start() waits on a Condition until the timer thread runs; a
                # short delay can deliver the signal in there, so it is inside
                # the try as well
                timer.start()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    net.fit(X, y)
            finally:
                timer.join()
                time.sleep(0.01)  # a signal sent late is delivered in here
        except KeyboardInterrupt:
            pass  # outside the steps: the call had no effect
        if not hasattr(net, "params_"):
            continue
        assert_consistent(net, X, y)
        assert net.loss_curve_ == reference.loss_curve_[: net.n_iter_]
        net.set_params(max_iter=steps - net.n_iter_)
        if net.max_iter:
            net.fit(X, y)
        np.testing.assert_array_equal(net.predict(X), reference.predict(X))
