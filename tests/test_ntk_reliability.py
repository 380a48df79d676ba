"""NTKRegressor at the edges: transactions, fitted configuration, overflow, copying.

Each test reproduces a reported failure (issue 12 items 2, 5 and 8; issue 11's
NTKRegressor bullet) and checks the behaviour against an independent
reference: the linearized dynamics iterated in the test, an unweighted fit,
the converged solution, or the state before the failed call.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.linalg import LinAlgWarning

from sklearn_gdnet import NTK, DivergenceWarning, GDNetworkRegressor, NTKRegressor
from sklearn_gdnet import _memory as memory_module
from sklearn_gdnet import _ntk_solvers as solvers
from sklearn_gdnet._family import FAMILY_CONSTRAINTS


def _data(n=30, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2], rng


def _iterate(T, T_test, y, eta, n_steps):
    """f <- f - eta/N T (f - y) in function space, N = n (unit weights, one output)."""
    f_train, f_test = np.zeros(len(y)), np.zeros(T_test.shape[0])
    for _ in range(n_steps):
        step = (eta / len(y)) * (f_train - y)
        f_train = f_train - T @ step
        f_test = f_test - T_test @ step
    return f_test


# --- issue 12 item 2: a fit is a transaction --------------------------------------------


def _fitted():
    X, y, _ = _data()
    model = NTKRegressor(n_steps=20).fit(X, y)
    return model, X, model.predict(X), dict(vars(model))


def _assert_unchanged(model, X, before, state):
    assert_allclose(model.predict(X), before, rtol=0, atol=0)
    assert model.n_features_in_ == state["n_features_in_"]
    assert model.X_fit_ is state["X_fit_"]
    assert model.dual_coef_ is state["dual_coef_"]


def test_a_refit_failing_on_the_step_size_keeps_the_previous_fit():
    model, X, before, state = _fitted()
    # a zero kernel (no bias, zero inputs): no step size can be derived
    model.set_params(bias_std=0.0)
    with pytest.raises(ValueError, match="eigenvalue"):
        model.fit(np.zeros((10, 5)), np.ones(10))
    _assert_unchanged(model, X, before, state)


def test_an_interrupt_inside_eigh_keeps_the_previous_fit(monkeypatch):
    model, X, before, state = _fitted()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(solvers.linalg, "eigh", interrupted)
    X2, y2, _ = _data(n=12, d=5, seed=1)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X2, y2)
    monkeypatch.undo()
    _assert_unchanged(model, X, before, state)


def test_a_refit_refused_for_memory_keeps_the_previous_fit_and_feature_names(monkeypatch):
    pd = pytest.importorskip("pandas")
    X, y, _ = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = NTKRegressor(n_steps=20).fit(frame, y)
    before = model.predict(frame)
    monkeypatch.setattr(memory_module, "MEMORY_LIMIT", 1000)
    with pytest.raises(MemoryError):
        model.fit(np.ones((40, 5)), np.ones(40))
    monkeypatch.undo()
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    assert_allclose(model.predict(frame), before, rtol=0, atol=0)


# --- issue 12 item 8: predictions use the fitted configuration --------------------------

OTHER_VALUES = {
    "depth": 4,
    "activation": "erf",
    "weight_std": 2.0,
    "bias_std": 1.0,
    "trainable": "output",
    "kernel": "nngp",
    "alpha": 3.0,
    "n_steps": 3,
    "learning_rate": 0.1,
    "dynamics": "flow",
    "finite_width": 16,
    "normalize_y": False,
    "solver": "nystroem",
    "n_components": 3,
    "centers": "leverage",
    "working_memory": 0.001,
    "random_state": 7,
}


@pytest.mark.parametrize(
    "fitted_params", [dict(n_steps=20), dict(finite_width=8, n_steps=20, random_state=0)]
)
def test_set_params_after_fit_changes_no_prediction(fitted_params):
    X, y, rng = _data()
    X_test = rng.normal(size=(6, 3))
    model = NTKRegressor(**fitted_params).fit(X, 3.0 + 2.0 * y)  # normalized targets
    assert set(OTHER_VALUES) == set(model.get_params())
    mean, std = model.predict(X_test, return_std=True)
    path = model.predict_path(X_test, [1, 20])
    for name, value in OTHER_VALUES.items():
        model.set_params(**{name: value})
    assert_allclose(model.predict(X_test, return_std=True), (mean, std), rtol=0, atol=0)
    assert_allclose(model.predict_path(X_test, [1, 20]), path, rtol=0, atol=0)


# --- issue 12 item 5: no silent NaN at the edges ---------------------------------------


def test_huge_inputs_give_a_clear_error_or_finite_predictions():
    X, y, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow inside the recursion
        try:
            model = NTKRegressor().fit(X * 1e150, y)
        except ValueError as err:
            assert "not finite" in str(err) and "Rescale X" in str(err)
        else:
            assert np.all(np.isfinite(model.predict(X * 1e150)))
        model = NTKRegressor().fit(X, y)
        try:
            pred = model.predict(X * 1e150)
        except ValueError as err:
            assert "not finite" in str(err)
        else:
            assert np.all(np.isfinite(pred))


@pytest.mark.parametrize("weight", [5e-324, 1e-300, 1e308])
def test_extreme_sample_weights_train_like_unit_weights(weight):
    X, y, rng = _data()
    X_test = rng.normal(size=(5, 3))
    for params in (dict(), dict(n_steps=15), dict(alpha=0.1)):
        ref = NTKRegressor(normalize_y=False, **params).fit(X, y)
        model = NTKRegressor(normalize_y=False, **params).fit(
            X, y, sample_weight=np.full(len(X), weight)
        )
        expected = ref.predict(X_test)
        if "alpha" in params:
            # the ridge acts on sum_i w_i e_i^2: tiny weights make it dominate,
            # huge ones remove it (KernelRidge's convention)
            kernel = NTK()
            a = params["alpha"] / weight
            if np.isfinite(a):
                expected = kernel(X_test, X) @ np.linalg.solve(kernel(X) + a * np.eye(len(X)), y)
            else:  # the ridge is all there is
                expected = np.zeros(len(X_test))
        assert np.all(np.isfinite(model.predict(X_test)))
        assert_allclose(model.predict(X_test), expected, rtol=1e-6, atol=1e-12)
    one = NTKRegressor(normalize_y=False).fit(X[:1], y[:1], sample_weight=[5e-324])
    assert_allclose(
        one.predict(X_test), NTKRegressor(normalize_y=False).fit(X[:1], y[:1]).predict(X_test)
    )


def test_all_zero_weights_are_refused():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="non-zero|all weights are zero"):
        NTKRegressor().fit(X, y, sample_weight=np.zeros(len(X)))


def test_long_flow_with_a_huge_step_on_duplicates_reaches_the_converged_solution():
    X, y, rng = _data()
    X_dup, y_dup = np.vstack([X, X[:5]]), np.concatenate([y, y[:5]])
    X_test = rng.normal(size=(5, 3))
    with pytest.warns(LinAlgWarning, match="singular"):
        flow = NTKRegressor(normalize_y=False, n_steps=10**12, learning_rate=1e300, dynamics="flow")
        pred = flow.fit(X_dup, y_dup).predict(X_test)
    assert np.all(np.isfinite(pred))
    # the minimum-norm interpolant of the distinct points, computed directly
    kernel = NTK()
    expected = kernel(X_test, X) @ np.linalg.solve(kernel(X), y)
    assert_allclose(pred, expected, rtol=1e-6, atol=1e-8)


def test_unstable_steps_give_the_diverging_values_or_refuse_the_overflow():
    X, y, rng = _data()
    X_test = rng.normal(size=(4, 3))
    kernel = NTK()
    with pytest.warns(DivergenceWarning, match="stability limit"):
        model = NTKRegressor(normalize_y=False, n_steps=50, learning_rate=1e3).fit(X, y)
    pred = model.predict(X_test)
    expected = _iterate(kernel(X), kernel(X_test, X), y, 1e3, 50)
    assert np.all(np.abs(pred) > 1e100)  # diverging, not NaN
    assert_allclose(pred, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="diverges.*overflow float64"):
        NTKRegressor(normalize_y=False, n_steps=5000, learning_rate=1e3).fit(X, y)


def test_very_long_training_on_nearly_duplicate_points_approaches_the_converged_solution():
    X, y, rng = _data()
    X_near = np.vstack([X, X[:5] + 1e-9])
    y_near = np.concatenate([y, y[:5] + 1e-3])
    X_test = rng.normal(size=(5, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        converged = NTKRegressor().fit(X_near, y_near).predict(X_test)
        late = NTKRegressor(n_steps=10**18).fit(X_near, y_near).predict(X_test)
    assert_allclose(late, converged, rtol=1e-6, atol=1e-6)


def test_targets_too_large_for_float64_are_refused_or_finite():
    X, y, _ = _data()
    for scale in (1e300, 1e307):
        try:
            pred = NTKRegressor(n_steps=5).fit(X, y * scale).predict(X)
        except (ValueError, FloatingPointError) as err:
            assert "overflow" in str(err)
        else:
            assert np.all(np.isfinite(pred))


def test_float32_predictions_beyond_float32_are_refused_not_infinite():
    X, y, _ = _data()
    model = NTKRegressor().fit(X.astype(np.float32), y * 1e39)
    with pytest.raises(FloatingPointError, match="exceed the range of float32"):
        model.predict(X.astype(np.float32))
    # within range, float32 in, float32 out, equal to the float64 computation
    small = NTKRegressor().fit(X.astype(np.float32), y * 1e30)
    pred = small.predict(X.astype(np.float32))
    assert pred.dtype == np.float32
    assert_allclose(pred, NTKRegressor().fit(X, y * 1e30).predict(X), rtol=1e-5)


# --- issue 11: the infinite limit cannot be confused with one random network ------------


def test_copying_a_networks_shared_parameters_gives_the_infinite_limit():
    X, y, rng = _data()
    X_test = rng.normal(size=(5, 3))
    net = GDNetworkRegressor(depth=2, max_iter=20, random_state=0)
    assert net.width == 128
    shared = {k: v for k, v in net.get_params().items() if k in FAMILY_CONSTRAINTS}
    limit = NTKRegressor(**shared, n_steps=20).fit(X, y)
    assert limit.network_params_ is None
    assert_allclose(limit.predict(X_test), NTKRegressor(n_steps=20).fit(X, y).predict(X_test))
    # every parameter name the two share: the limit, or a clear error -- never a network
    common = {k: v for k, v in net.get_params().items() if k in NTKRegressor().get_params()}
    assert "width" not in common
    try:
        copied = NTKRegressor(**common).fit(X, y)
    except ValueError as err:
        assert "solver" in str(err)
    else:
        assert copied.network_params_ is None
    with pytest.raises(ValueError, match="width"):
        NTKRegressor().set_params(width=128)
    with pytest.raises(TypeError, match="width"):
        NTKRegressor(width=128)
