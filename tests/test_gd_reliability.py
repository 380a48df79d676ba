"""A GD fit is a transaction, and the edges of its input give clear errors (issue 12).

Item 2: a failed fit leaves the previous model as it was. Item 5: extreme
weights, targets and dtypes give finite results or clear errors. Item 6: the
automatic step and solver switches raise no foreign exception.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import sklearn_gdnet._optim as optim
from sklearn_gdnet import GDNetworkRegressor
from sklearn_gdnet._network import NetworkSpec, empirical_ntk, resolve_trainable


def data(n=30, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] * X[:, -1]


def snapshot(net):
    """Everything a fitted estimator holds, by value."""
    state = {}
    for key, value in vars(net).items():
        if isinstance(value, dict) and key != "_optimizer_state":
            state[key] = {k: np.array(v, copy=True) for k, v in value.items()}
        elif isinstance(value, np.ndarray | list):
            state[key] = np.array(value, copy=True)
        elif key != "_optimizer_state":
            state[key] = value
    return state


def assert_unchanged(net, before, X, predictions):
    after = snapshot(net)
    assert after.keys() == before.keys()
    for key, value in before.items():
        if isinstance(value, dict):
            for g in value:
                np.testing.assert_array_equal(after[key][g], value[g], err_msg=key)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[key], value, err_msg=key)
        else:
            assert after[key] == value, key
    np.testing.assert_array_equal(net.predict(X), predictions)


# --- item 2: transactions ---------------------------------------------------------------


def test_a_refit_refused_for_memory_keeps_the_previous_model():
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=5, random_state=0).fit(X, y)
    before, predictions = snapshot(net), net.predict(X)
    X5 = np.column_stack([X, X[:, :2]])
    with pytest.raises(MemoryError, match="width-1000000000"):
        net.set_params(width=10**9).fit(X5, y)
    net.set_params(width=16)
    assert_unchanged(net, before, X, predictions)  # before: "expecting 5 features"


def test_a_refit_that_cannot_start_keeps_the_previous_model():
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=5, normalize_y=False, random_state=0).fit(X, y)
    before, predictions = snapshot(net), net.predict(X)
    with pytest.raises(ValueError, match="normalize_y=True"):
        net.set_params(random_state=1).fit(X, y * 1e300)  # before: re-initialized, then failed
    net.set_params(random_state=0)
    assert_unchanged(net, before, X, predictions)


def test_a_failed_refit_keeps_feature_names():
    X, y = data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    net = GDNetworkRegressor(width=16, max_iter=5, random_state=0).fit(frame, y)
    before, predictions = snapshot(net), net.predict(frame)
    with pytest.raises(ValueError, match="NaN"):
        net.fit(X, np.where(np.arange(30) == 3, np.nan, y))
    assert list(net.feature_names_in_) == ["a", "b", "c"]  # before: deleted
    assert_unchanged(net, before, frame, predictions)


@pytest.mark.parametrize("warm", [True, False])
def test_a_failure_inside_training_keeps_the_previous_model(monkeypatch, warm):
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=5, momentum=0.5, warm_start=warm, random_state=0)
    net.fit(X, y)
    before, predictions = snapshot(net), net.predict(X)
    real_train = optim.train

    def failing_train(params, *args, **kwargs):
        for p in params.values():  # damage the arrays it was given, then fail
            p[...] = np.nan
        kwargs["optimizer_state"].clear()
        raise RuntimeError("injected")

    monkeypatch.setattr("sklearn_gdnet._gd_network.train", failing_train)
    with pytest.raises(RuntimeError, match="injected"):
        net.fit(X, y)
    with pytest.raises(RuntimeError, match="injected"):
        net.partial_fit(X, y)
    assert_unchanged(net, before, X, predictions)
    monkeypatch.setattr("sklearn_gdnet._gd_network.train", real_train)
    net.fit(X, y)  # and it still trains


def test_continuing_with_bad_data_keeps_the_run():
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=3, warm_start=True, random_state=0).fit(X, y)
    before, predictions = snapshot(net), net.predict(X)
    with pytest.raises(ValueError, match="2 outputs"):
        net.fit(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="features"):
        net.partial_fit(X[:, :2], y)
    assert_unchanged(net, before, X, predictions)


# --- item 5: extreme weights, targets and dtypes ----------------------------------------


@pytest.mark.parametrize("scale", [1e-300, 1e300, 1e308])
def test_weights_are_scale_free_even_at_the_ends_of_the_range(scale):
    # Before: weights of 1e308 overflowed their normalization and trained on zeros.
    X, y = data()
    relative = np.random.default_rng(2).uniform(0.1, 1.0, size=30)
    kw = dict(width=16, max_iter=10, random_state=0)
    reference = GDNetworkRegressor(**kw).fit(X, y, sample_weight=relative)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = GDNetworkRegressor(**kw).fit(X, y, sample_weight=relative * scale)
    np.testing.assert_allclose(scaled.predict(X), reference.predict(X), rtol=1e-10)
    np.testing.assert_allclose(scaled.loss_curve_, reference.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("n", [1, 30])
def test_subnormal_weights(n):
    # Before: sample_weight=[5e-324] gave NaN.
    X, y = data()
    kw = dict(width=8, max_iter=3, random_state=0)
    plain = GDNetworkRegressor(**kw).fit(X[:n], y[:n])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny = GDNetworkRegressor(**kw).fit(X[:n], y[:n], np.full(n, 5e-324))
    assert np.all(np.isfinite(tiny.predict(X)))
    np.testing.assert_array_equal(tiny.predict(X), plain.predict(X))


def test_zero_weights_equal_leaving_the_samples_out():
    X, y = data()
    w = np.ones(30)
    w[::3] = 0.0
    y_bad = y.copy()
    y_bad[::3] = 1e300  # their targets play no part, however large
    kw = dict(width=16, max_iter=10, random_state=0)
    weighted = GDNetworkRegressor(**kw).fit(X, y_bad, sample_weight=w)
    removed = GDNetworkRegressor(**kw).fit(X[w > 0], y[w > 0])
    np.testing.assert_allclose(weighted.predict(X), removed.predict(X), rtol=1e-12)


def test_float32_targets_beyond_float32_are_refused_and_large_ones_work():
    X, y = data()
    X32 = X.astype(np.float32)
    with pytest.raises(ValueError, match="float32.*float64"):  # before: inf predictions
        GDNetworkRegressor(width=16, max_iter=3).fit(X32, 1e39 * (2 + y))
    big = 1e30 * (2 + y)
    net32 = GDNetworkRegressor(width=16, max_iter=10, random_state=0).fit(X32, big)
    net64 = GDNetworkRegressor(width=16, max_iter=10, random_state=0).fit(X, big)
    assert net32.predict(X32).dtype == np.float32
    np.testing.assert_allclose(net32.predict(X32), net64.predict(X), rtol=1e-4)


@pytest.mark.parametrize("solver", ["gd", "lbfgs"])
def test_huge_targets_train_normalized_or_are_refused(solver):
    X, y = data()
    kw = dict(width=16, max_iter=5, solver=solver, random_state=0)
    net = GDNetworkRegressor(**kw).fit(X, 1e300 * y)
    assert np.all(np.isfinite(net.predict(X)))
    # normalize_y makes the fit equivariant under scaling of y
    unit = GDNetworkRegressor(**kw).fit(X, y)
    np.testing.assert_allclose(net.predict(X) / 1e300, unit.predict(X), rtol=1e-10)
    # Before: L-BFGS returned the initialization with loss_curve_ == [inf], silently.
    with pytest.raises(ValueError, match=r"loss at the starting parameters is inf.*normalize_y"):
        GDNetworkRegressor(normalize_y=False, **kw).fit(X, 1e300 * y)


@pytest.mark.parametrize("n_features, width", [(3, 16), (1, 200)])  # dense and 1-d cores
def test_huge_inputs_are_refused_naming_the_inputs_not_the_targets(n_features, width):
    # The outputs are finite (about 1e200) but their squares overflow: the message
    # used to blame the targets (|y| <= 1) and advise normalize_y=True, already on.
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(40, n_features))
    net = GDNetworkRegressor(width=width, depth=1, max_iter=3, learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"starting parameters is inf.*rescale the inputs"):
        net.fit(1e200 * X, np.sin(X[:, 0]))


# --- item 6: the automatic step and solver switches -------------------------------------


def dense_auto_step(net, X):
    """N / lambda_max of the dense weighted empirical NTK at the current parameters."""
    spec = NetworkSpec(X.shape[1], 1, net.width, net.depth, net.activation, 1.0, 0.1)
    groups = resolve_trainable(net.trainable, net.depth)
    lam = np.linalg.eigvalsh(empirical_ntk(net.params_, spec, X, trainable=groups))[-1]
    return len(X) / lam


def test_automatic_step_of_a_one_unit_network_is_exact_or_a_clear_error(capfd):
    X, y = data()
    outcomes = set()
    for seed in range(8):
        net = GDNetworkRegressor(width=1, trainable="hidden", max_iter=0, random_state=seed)
        try:
            net.fit(X, y)
        except ValueError as exc:  # before: ArpackError "Starting vector is zero"
            assert "no gradient at initialization" in str(exc)
            outcomes.add("refused")
            continue
        assert net.learning_rate_ == pytest.approx(dense_auto_step(net, X), rel=1e-8)
        outcomes.add("exact")
    assert outcomes == {"refused", "exact"}
    assert capfd.readouterr().err == ""  # no LAPACK message


@pytest.mark.parametrize(
    "params, fit_kw",
    [
        (dict(weight_std=1e200), {}),  # before: OverflowError (NTK) or ArpackError
        (dict(bias_std=1e200), {}),
        (dict(), {"X_scale": 1e200}),
        (dict(weight_std=1e200, parametrization="standard"), {}),
    ],
)
def test_scales_too_large_for_the_network_are_a_clear_error(capfd, params, fit_kw):
    X, y = data()
    X = X * fit_kw.get("X_scale", 1.0)
    with pytest.raises(ValueError, match="not finite.*too large"):
        GDNetworkRegressor(max_iter=3, **params).fit(X, y)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("first", ["lbfgs", "adam"])
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_switching_to_gd_derives_its_own_step(first, how):
    X, y = data()
    net = GDNetworkRegressor(width=32, max_iter=5, solver=first, warm_start=True, random_state=0)
    net.fit(X, y)
    expected = dense_auto_step(net, X)  # the step for the network as it is now
    net.set_params(solver="gd")
    if how == "warm_start":
        net.fit(X, y)  # before: TypeError (from lbfgs), Adam's 1e-3 kept (from adam)
    else:
        net.partial_fit(X, y)
    assert net.learning_rate_ == pytest.approx(expected, rel=1e-6)
    assert net.n_iter_ == (10 if how == "warm_start" else 6)
    net.set_params(solver="adam").partial_fit(X, y)
    assert net.learning_rate_ == 1e-3
