"""Property-based tests of NTKRegressor: a clear error or finite output of the right shape.

Hypothesis draws shapes, magnitudes (inputs, targets and weights from the
smallest subnormal to near overflow), duplicate rows and hyperparameters;
every fit either raises a scikit-learn style error that says what is wrong,
or predicts finite values of the right shape and dtype. Bounded: few small
examples, no deadline.
"""

import os
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_gdnet import NTKRegressor

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# NTK_HYPOTHESIS_EXAMPLES and NTK_HYPOTHESIS_RANDOM=1 run a longer, randomized search
# locally; CI runs the bounded, derandomized default.
SETTINGS = settings(
    max_examples=int(os.environ.get("NTK_HYPOTHESIS_EXAMPLES", 60)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("NTK_HYPOTHESIS_RANDOM") is None,
)

#: Errors a user can act on. Anything else (LinAlgError, ZeroDivisionError,
#: a NaN in the output) fails the test.
CLEAR_ERRORS = (ValueError, FloatingPointError)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 4))
    k = draw(st.sampled_from([None, 1, 2]))
    base = draw(
        st.lists(st.floats(-3, 3, allow_nan=False, width=64), min_size=n * d, max_size=n * d)
    )
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    low, high = (-300, 160) if dtype == np.float64 else (-40, 36)
    X = np.array(base).reshape(n, d) * 10.0 ** draw(st.integers(low, high))
    if n > 2 and draw(st.booleans()):  # duplicate rows
        X[-1] = X[0]
    X = X.astype(dtype)
    y = draw(
        st.lists(st.floats(-2, 2, allow_nan=False), min_size=n * (k or 1), max_size=n * (k or 1))
    )
    y = np.array(y).reshape(n, -1) * 10.0 ** draw(st.integers(-300, 300))
    if k is None:
        y = y[:, 0]
    weights = draw(
        st.one_of(
            st.none(),
            st.lists(
                st.sampled_from([0.0, 5e-324, 1e-300, 0.3, 1.0, 7.0, 1e300, 1e308]),
                min_size=n,
                max_size=n,
            ),
        )
    )
    return X, y, weights


@st.composite
def hyperparameters(draw):
    params = dict(
        depth=draw(st.integers(1, 3)),
        activation=draw(st.sampled_from(["relu", "erf", "identity"])),
        weight_std=draw(st.sampled_from([1e-3, 0.5, 1.0, 3.0, 1e3])),
        bias_std=draw(st.sampled_from([0.0, 0.1, 1.0, 10.0])),
        trainable=draw(st.sampled_from(["all", "output", "hidden", "penultimate", "b1"])),
        kernel=draw(st.sampled_from(["ntk", "nngp"])),
        alpha=draw(st.sampled_from([0.0, 1e-12, 1e-3, 1.0, 1e6])),
        n_steps=draw(st.sampled_from([None, 0, 1, 10, 1000, 10**12, 10**18])),
        learning_rate=draw(st.sampled_from(["auto", 1e-3, 1.0, 1e3, 1e300])),
        dynamics=draw(st.sampled_from(["gd", "flow"])),
        solver=draw(st.sampled_from(["auto", "cholesky", "eigh", "nystroem"])),
        n_components=draw(st.integers(1, 15)),
        centers=draw(st.sampled_from(["uniform", "leverage"])),
        random_state=0,
    )
    if draw(st.integers(0, 4)) == 0:  # a finite network, sometimes
        params["finite_width"] = draw(st.sampled_from([1, 3, 8]))
        params["solver"] = draw(st.sampled_from(["auto", "eigh", "jacobian"]))
    return params


def _check_clear(err):
    message = str(err)
    assert len(message) > 20, message


@SETTINGS
@given(problem=problems(), params=hyperparameters())
def test_fit_and_predict_give_a_clear_error_or_finite_output(problem, params):
    X, y, weights = problem
    model = NTKRegressor(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are allowed; silent NaN is not
        try:
            model.fit(X, y, sample_weight=weights)
        except CLEAR_ERRORS as err:
            _check_clear(err)
            return
        try:
            mean, std = model.predict(X, return_std=True)
        except CLEAR_ERRORS as err:
            _check_clear(err)
            return
    n = X.shape[0]
    shape = (n,) if y.ndim == 1 else (n, y.shape[1])
    assert mean.shape == shape and std.shape == shape
    assert mean.dtype == X.dtype and std.dtype == X.dtype
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    assert np.all(std >= 0)


@SETTINGS
@given(
    problem=problems(),
    steps=st.lists(st.sampled_from([0, 1, 5, 10**6, 10**18, np.inf]), min_size=1, max_size=4),
    dynamics=st.sampled_from(["gd", "flow"]),
    solver=st.sampled_from(["eigh", "nystroem"]),
)
def test_predict_path_is_finite_or_refused_and_agrees_with_refits(problem, steps, dynamics, solver):
    X, y, weights = problem
    model = NTKRegressor(n_steps=1, dynamics=dynamics, solver=solver, n_components=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(X, y, sample_weight=weights)
            path = model.predict_path(X, steps)
        except CLEAR_ERRORS as err:
            _check_clear(err)
            return
        assert path.shape == (len(steps),) + (y.shape if y.ndim == 1 else y.shape)
        assert np.all(np.isfinite(path))
        finite = [s for s in steps if np.isfinite(s)]
        for s, row in zip(steps, path):
            if s in finite:
                refit = NTKRegressor(
                    n_steps=s,
                    dynamics=dynamics,
                    solver=solver,
                    n_components=15,
                    learning_rate=model.learning_rate_,
                )
                expected = refit.fit(X, y, sample_weight=weights).predict(X)
                scale = np.abs(expected).max(initial=0.0)
                assert_allclose(row, expected, rtol=1e-5, atol=1e-6 * scale)
