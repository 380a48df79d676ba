"""Property-based tests of GDNetworkRegressor (issue 12).

Over shapes, magnitudes, dtypes, sample weights and hyperparameters: a fit
either raises a clear scikit-learn style error (``ValueError`` with a message,
or ``MemoryError``) or gives finite predictions of the right shape and dtype;
and a failed refit leaves the previous model as it was. Bounded: few examples,
small networks, few steps.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_gdnet import DivergenceWarning, GDNetworkRegressor

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    database=None,
)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 25))
    d = draw(st.integers(1, 4))
    k = draw(st.sampled_from([None, 1, 2]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    magnitudes = st.one_of(st.integers(-3, 3), st.integers(-300, 300))  # ordinary or extreme
    x_scale = 10.0 ** draw(magnitudes)
    y_scale = 10.0 ** draw(magnitudes)
    X = rng.standard_normal((n, d)) * x_scale
    if draw(st.booleans()):
        X[:, 0] = X[0, 0]  # a constant column
    y = rng.standard_normal(n if k is None else (n, k)) * y_scale
    if draw(st.booleans()):
        y += draw(st.sampled_from([1.0, -1e6, 1e200]))  # an offset
    weights = draw(
        st.sampled_from(["none", "uniform", "zeros", "tiny", "huge", "subnormal", "mixed"])
    )
    w = {
        "none": None,
        "uniform": rng.uniform(0.5, 2.0, n),
        "zeros": np.where(np.arange(n) % 2 == 0, 1.0, 0.0),
        "tiny": np.full(n, 1e-300),
        "huge": np.full(n, 1e308),
        "subnormal": np.full(n, 5e-324),
        "mixed": 10.0 ** rng.uniform(-300, 300, n),
    }[weights]
    with np.errstate(over="ignore"):
        X = X.astype(dtype)
    return X, y, w


@st.composite
def estimators(draw):
    solver = draw(st.sampled_from(["gd", "adam", "lbfgs"]))
    params = dict(
        width=draw(st.integers(1, 12)),
        depth=draw(st.integers(1, 3)),
        activation=draw(st.sampled_from(["relu", "tanh", "erf", "identity", "softplus"])),
        weight_std=10.0 ** draw(st.integers(-5, 5)),
        bias_std=draw(st.sampled_from([0.0, 0.1, 1.0, 1e3])),
        parametrization=draw(st.sampled_from(["ntk", "standard"])),
        trainable=draw(st.sampled_from(["all", "output", "hidden", "penultimate"])),
        solver=solver,
        learning_rate=draw(st.sampled_from(["auto", 1e-3, 0.5, 1e3])),
        momentum=draw(st.sampled_from([0.0, 0.9])) if solver == "gd" else 0.0,
        normalize_y=draw(st.booleans()),
        max_iter=draw(st.integers(0, 4)),
        random_state=draw(st.integers(0, 100)),
    )
    return GDNetworkRegressor(**params)


def fit_or_refuse(net, X, y, w):
    """Fit; return True, or False after a clear refusal."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no stray numpy warnings
            warnings.simplefilter("ignore", DivergenceWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            net.fit(X, y, sample_weight=w)
    except (ValueError, MemoryError) as exc:
        assert len(str(exc)) > 20, repr(exc)
        event("refused")
        return False
    event("fitted")
    return True


@SETTINGS
@given(problem=problems(), net=estimators())
def test_fit_gives_a_clear_error_or_finite_predictions(problem, net):
    X, y, w = problem
    if not fit_or_refuse(net, X, y, w):
        assert not hasattr(net, "params_")  # a refused first fit leaves nothing
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        predictions = net.predict(X)
    assert predictions.shape == y.shape
    assert predictions.dtype == X.dtype
    assert np.all(np.isfinite(predictions))
    assert len(net.loss_curve_) == net.n_iter_ <= net.max_iter
    assert np.isfinite(net.loss_) and np.all(np.isfinite(net.loss_curve_))


@SETTINGS
@given(first=problems(), second=problems(), net=estimators())
def test_a_failed_refit_keeps_the_previous_model(first, second, net):
    X, y, w = first
    if not fit_or_refuse(net, X, y, w):
        return
    predictions = net.predict(X)
    params = {g: p.copy() for g, p in net.params_.items()}
    n_features = net.n_features_in_
    if not fit_or_refuse(net.set_params(warm_start=False), *second):
        np.testing.assert_array_equal(net.predict(X), predictions)
        assert net.n_features_in_ == n_features
        for g in params:
            np.testing.assert_array_equal(net.params_[g], params[g])
