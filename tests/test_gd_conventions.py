"""GDNetworkRegressor on ordinary data and by scikit-learn's conventions (issue 11).

Item 1: the default handles targets that are not of order one, exactly as
``TransformedTargetRegressor`` with a ``StandardScaler`` would, and the
theory's network stays one parameter away; warnings give advice that applies.
Item 3: ``loss_curve_``, ``loss_``, ``best_loss_``, ``ConvergenceWarning`` and
verbose output follow ``MLPRegressor`` where the theory allows.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

import sklearn_gdnet._optim as optim
from sklearn_gdnet import DivergenceWarning, GDNetworkRegressor


def data(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] * X[:, -1]


def issue_examples():
    X, y = make_regression(n_samples=200, n_features=10, noise=1.0, random_state=0)
    Xd, yd = load_diabetes(return_X_y=True)
    return [
        ("make_regression, depth 2", X, y, {}),
        ("make_regression, depth 1", X, y, {"depth": 1}),
        ("diabetes, scaled X", StandardScaler().fit_transform(Xd), yd, {}),
    ]


@pytest.mark.parametrize(
    "name, X, y, params", issue_examples(), ids=[case[0] for case in issue_examples()]
)
def test_default_reaches_the_standardized_target_regressor(name, X, y, params):
    # Before: a divergence warning and R^2 of 0.44, -1059 and -565.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divergence, no other warning
        default = GDNetworkRegressor(random_state=0, **params).fit(X, y)
    reference = TransformedTargetRegressor(
        regressor=GDNetworkRegressor(random_state=0, normalize_y=False, **params),
        transformer=StandardScaler(),
    ).fit(X, y)
    assert default.score(X, y) >= reference.score(X, y) - 1e-9
    assert default.score(X, y) > 0.6
    # Not only as good: the same model, trained on the standardized targets.
    np.testing.assert_allclose(default.predict(X), reference.predict(X), rtol=1e-9, atol=1e-9)


def test_normalization_is_weighted_and_the_theory_network_is_one_parameter_away():
    X, y = data()
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y))
    y_big = 300.0 * y + 50.0
    mean = np.average(y_big, weights=w)
    std = np.sqrt(np.average((y_big - mean) ** 2, weights=w))
    kw = dict(width=32, max_iter=20, random_state=0)
    normalized = GDNetworkRegressor(**kw).fit(X, y_big, sample_weight=w)
    by_hand = GDNetworkRegressor(normalize_y=False, **kw).fit(X, (y_big - mean) / std, w)
    np.testing.assert_allclose(normalized.predict(X), mean + std * by_hand.predict(X), rtol=1e-10)
    np.testing.assert_allclose(normalized.loss_curve_, by_hand.loss_curve_, rtol=1e-10)
    assert normalized.learning_rate_ == pytest.approx(by_hand.learning_rate_, rel=1e-12)
    # normalize_y=False trains on y itself: 2 hand-checkable quantities.
    raw = GDNetworkRegressor(normalize_y=False, **kw).fit(X, y, w)
    expected = 0.5 * np.average((raw.predict(X) - y) ** 2, weights=w)
    assert raw.loss_ == pytest.approx(expected, rel=1e-12)


def test_a_constant_target_is_only_centered():
    X, _ = data()
    net = GDNetworkRegressor(width=16, max_iter=5, random_state=0).fit(X, np.full(40, 7.0))
    on_zeros = GDNetworkRegressor(width=16, max_iter=5, normalize_y=False, random_state=0)
    on_zeros.fit(X, np.zeros(40))
    np.testing.assert_allclose(net.predict(X), 7.0 + on_zeros.predict(X), rtol=1e-12)


def test_divergence_advice_applies_to_the_cause(monkeypatch):
    X, y = data()
    # Large targets without normalization: the advice is normalize_y, not 'auto'.
    with pytest.warns(DivergenceWarning) as record:
        GDNetworkRegressor(width=32, normalize_y=False, random_state=0).fit(X, 1e4 * y)
    message = str(record[0].message)
    assert "normalize_y=True" in message and "learning_rate='auto'" not in message
    # The automatic step itself too large: suggest a number, not what was used.
    monkeypatch.setattr(optim, "LEARNING_RATE_SAFETY", 4.0)
    with pytest.warns(DivergenceWarning) as record:
        GDNetworkRegressor(width=32, random_state=0).fit(X, y)
    message = str(record[0].message)
    assert "learning_rate='auto' gave" in message and "for example" in message
    assert "or learning_rate='auto'" not in message
    monkeypatch.undo()
    # A numeric step too large: a quarter of it, or 'auto'.
    with pytest.warns(DivergenceWarning, match=r"learning_rate=500.*125.*or learning_rate='auto'"):
        GDNetworkRegressor(width=32, learning_rate=500.0, random_state=0).fit(X, y)


# --- item 3: MLPRegressor's conventions -------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [dict(), dict(momentum=0.5), dict(solver="adam"), dict(solver="lbfgs")],
    ids=["gd", "momentum", "adam", "lbfgs"],
)
def test_loss_curve_has_one_entry_per_iteration_like_mlp(params):
    X, y = data()
    mlp = MLPRegressor(max_iter=7, solver="sgd", batch_size=len(y), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    assert len(mlp.loss_curve_) == mlp.n_iter_  # the convention followed
    net = GDNetworkRegressor(width=16, max_iter=7, normalize_y=False, random_state=0, **params)
    net.fit(X, y)
    assert len(net.loss_curve_) == net.n_iter_ <= 7
    # loss_ is the loss of the fitted parameters, computed here from predict.
    assert net.loss_ == pytest.approx(0.5 * np.mean((net.predict(X) - y) ** 2), rel=1e-10)
    assert net.loss_curve_[-1] == net.loss_
    assert net.best_loss_ == min(net.loss_curve_)
    # Continued runs append one entry per step.
    net.set_params(warm_start=True, max_iter=3).fit(X, y)
    assert len(net.loss_curve_) == net.n_iter_
    net.partial_fit(X, y)
    assert len(net.loss_curve_) == net.n_iter_


def test_no_step_keeps_the_initial_loss():
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=0, normalize_y=False, random_state=0).fit(X, y)
    assert net.n_iter_ == 0 and net.loss_curve_ == []
    assert net.loss_ == net.best_loss_ == pytest.approx(0.5 * np.mean((net.predict(X) - y) ** 2))


@pytest.mark.parametrize(
    "stopping", [dict(tol=1e-12, n_iter_no_change=5), dict(tol=1e-12)], ids=["both", "tol"]
)
def test_convergence_warning_when_max_iter_ends_an_improving_run(stopping):
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=20, random_state=0, **stopping)
    with pytest.warns(ConvergenceWarning, match="max_iter=20"):
        net.fit(X, y)
    assert net.n_iter_ == 20
    lbfgs = GDNetworkRegressor(width=16, max_iter=5, solver="lbfgs", random_state=0, **stopping)
    with pytest.warns(ConvergenceWarning, match="max_iter=5"):
        lbfgs.fit(X, y)


def test_no_convergence_warning_without_a_tolerance_or_after_stopping():
    X, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        GDNetworkRegressor(width=16, max_iter=20, random_state=0).fit(X, y)  # the theory's run
        GDNetworkRegressor(width=16, max_iter=20, solver="lbfgs", random_state=0).fit(X, y)
        # tol alone turns on MLPRegressor's patience of 10: a huge tol stops it early
        net = GDNetworkRegressor(width=16, max_iter=500, tol=10.0, random_state=0).fit(X, y)
    assert net.n_iter_ == 11


@pytest.mark.parametrize("solver", ["gd", "lbfgs"])
def test_verbose_output_goes_through_the_last_step(capsys, solver):
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=6, solver=solver, verbose=1, random_state=0)
    net.set_params(tol=1e-1 if solver == "gd" else 0.0, n_iter_no_change=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(X, y)
    last = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert int(last[1]) == net.n_iter_ and float(last[3]) == pytest.approx(net.loss_, rel=1e-6)


def test_clone_keeps_normalize_y():
    assert clone(GDNetworkRegressor(normalize_y=False)).normalize_y is False
