import pickle

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, cross_validate, validation_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_gdnet import GDNetworkRegressor
from sklearn_gdnet.datasets import (
    IntervalTarget,
    make_interval_regression,
    make_sphere_regression,
    sample_sphere,
)
from sklearn_gdnet.metrics import integration_rule, l2_error, l2_norm, make_l2_error_scorer


class _Constant:
    """A callable 'estimate' that returns a constant."""

    def __init__(self, value):
        self.value = value

    def __call__(self, X):
        return np.full(X.shape[0], self.value)


@pytest.mark.parametrize("domain, d", [("interval", 1), ("sphere", 2), ("sphere", 3)])
def test_weights_are_a_probability_measure(domain, d):
    nodes, weights = integration_rule(domain, d)
    assert np.all(weights > 0)
    assert weights.sum() == pytest.approx(1.0)
    if domain == "sphere":
        np.testing.assert_allclose(np.linalg.norm(nodes, axis=1), 1.0)
    else:
        assert np.all(np.abs(nodes) <= 1)


@pytest.mark.parametrize("k", [0, 1, 2, 5, 10])
def test_interval_norm_of_monomials(k):
    # (1/2) int_{-1}^{1} x^{2k} dx = 1 / (2k + 1)
    assert l2_norm(lambda X: X[:, 0] ** k, domain="interval") ** 2 == pytest.approx(
        1 / (2 * k + 1), rel=1e-12
    )


def test_interval_norm_of_a_kink_inside_a_panel():
    # relu(x - 0.3): (1/2) int_{0.3}^{1} (x - 0.3)^2 dx = 0.7^3 / 6
    value = l2_norm(lambda X: np.maximum(X[:, 0] - 0.3, 0), domain="interval") ** 2
    assert value == pytest.approx(0.7**3 / 6, rel=1e-6)


@pytest.mark.parametrize(
    "name, squared, rel",
    [
        ("step", 0.5, 1e-12),
        ("cusp", 1 / 6, 1e-7),
        # Gaussian integral, independent of the code's own constant
        ("bump", np.sqrt(np.pi / 2) * 0.25 * 0.5 * 0.9999999999999, 1e-9),
    ],
)
def test_interval_norms_of_the_1d_targets(name, squared, rel):
    # erf(sqrt(2) / 0.25) = 1 - 1.6e-15, hence the factor above
    assert l2_norm(IntervalTarget(name)) ** 2 == pytest.approx(squared, rel=rel)


def test_sphere_norm_of_spherical_harmonics_s2():
    # E[x_1^2 x_2^2] = 1/15, E[x_3^4] = 1/5, E[(x_1^2 - x_2^2)^2] = 4/15 on S^2
    assert l2_norm(lambda X: X[:, 0] * X[:, 1], domain="sphere", n_features=3) ** 2 == (
        pytest.approx(1 / 15, rel=1e-12)
    )
    assert l2_norm(lambda X: X[:, 2] ** 2, domain="sphere", n_features=3) ** 2 == (
        pytest.approx(1 / 5, rel=1e-12)
    )
    value = l2_norm(lambda X: X[:, 0] ** 2 - X[:, 1] ** 2, domain="sphere", n_features=3)
    assert value**2 == pytest.approx(4 / 15, rel=1e-12)


def test_sphere_norm_circle():
    for k in range(1, 6):
        value = l2_norm(
            lambda X, k=k: np.cos(k * np.arctan2(X[:, 1], X[:, 0])),
            domain="sphere",
            n_features=2,
        )
        assert value**2 == pytest.approx(0.5, rel=1e-12)


def test_sphere_norm_monte_carlo_rule_high_dimension():
    # d = 5: E[x_1^2] = 1/5, E[x_1^2 x_2^2] = 1/(d(d+2)) = 1/35
    value = l2_norm(lambda X: X[:, 0], domain="sphere", n_features=5) ** 2
    assert value == pytest.approx(1 / 5, rel=0.03)
    value = l2_norm(lambda X: X[:, 0] * X[:, 1], domain="sphere", n_features=5) ** 2
    assert value == pytest.approx(1 / 35, rel=0.05)


def test_sphere_target_norm_is_exact_under_the_rule():
    # the product rule is exact to degree 127 and the target has degree 2 * 30
    _, _, target = make_sphere_regression(5, 3, max_degree=30, random_state=0)
    assert l2_norm(target) == pytest.approx(target.l2_norm, rel=1e-10)


def test_l2_error_of_simple_estimates():
    _, _, target = make_interval_regression(10, target="cusp")
    # ||cusp - 0|| is its norm; ||cusp - c||^2 = ||cusp||^2 - 2c E[cusp] + c^2,
    # E[cusp] = 1 - 2/3 = 1/3
    assert l2_error(_Constant(0.0), target) == pytest.approx(np.sqrt(1 / 6), rel=1e-7)
    expected = np.sqrt(1 / 6 - 2 * 0.5 / 3 + 0.25)
    assert l2_error(_Constant(0.5), target) == pytest.approx(expected, rel=1e-7)
    assert l2_error(_Constant(0.0), target, relative=True) == pytest.approx(1.0)
    assert l2_error(target, target) == 0.0


def test_l2_error_with_fitted_estimator_on_the_sphere():
    X, y, target = make_sphere_regression(200, 3, random_state=0)
    model = LinearRegression().fit(X, y)
    # LinearRegression on the sphere: the prediction b + w.x; the error
    # squared is ||f||^2 - 2 E[f (b + w.x)] + b^2 + |w|^2 / 3, and f has mean 0
    Z = sample_sphere(400_000, 3, random_state=1)
    monte_carlo = np.sqrt(np.mean((model.predict(Z) - target(Z)) ** 2))
    assert l2_error(model, target) == pytest.approx(monte_carlo, rel=0.01)


def test_stated_accuracy_for_relu_networks():
    # integration_rule states: on S^2 about 3e-5, on the interval about 1e-7
    # relative, against much finer rules.
    X, y, target = make_sphere_regression(100, 3, random_state=0)
    model = GDNetworkRegressor(width=16, depth=1, max_iter=50, random_state=0).fit(X, y)
    fine = l2_error(model, target, n_points=2 * 256**2)
    assert l2_error(model, target) == pytest.approx(fine, rel=2e-4)
    X, y, target = make_interval_regression(50, target="step")
    model = GDNetworkRegressor(width=64, depth=1, max_iter=50, random_state=0).fit(X, y)
    fine = l2_error(model, target, n_points=12_000)
    assert l2_error(model, target) == pytest.approx(fine, rel=1e-6)


def test_l2_error_needs_a_domain():
    with pytest.raises(ValueError, match="domain"):
        l2_error(_Constant(0.0), lambda X: X[:, 0])
    with pytest.raises(ValueError, match="n_features"):
        l2_error(_Constant(0.0), lambda X: X[:, 0], domain="sphere")
    with pytest.raises(ValueError, match="n_features=1"):
        integration_rule("interval", n_features=3)


def test_scorer_in_cross_validate_validation_curve_and_grid_search():
    X, y, target = make_interval_regression(40, target="bump", noise=0.01, random_state=0)
    scorer = make_l2_error_scorer(target)
    model = make_pipeline(StandardScaler(), KernelRidge(kernel="rbf", gamma=3.0))
    result = cross_validate(
        model, X, y, cv=3, scoring={"l2": scorer, "mse": "neg_mean_squared_error"}
    )
    assert np.all(result["test_l2"] < 0)
    train, test = validation_curve(
        model,
        X,
        y,
        param_name="kernelridge__alpha",
        param_range=[1e-3, 1e2],
        cv=3,
        scoring=scorer,
    )
    assert test.shape == (2, 3)
    # the heavily regularized model is worse: the error is bigger, the score smaller
    assert np.all(test[1] < test[0])
    # the scorer ignores the fold: train and test scores are the same integral
    np.testing.assert_allclose(train, test)
    search = GridSearchCV(model, {"kernelridge__alpha": [1e-3, 1e2]}, scoring=scorer, cv=3)
    search.fit(X, y)
    assert search.best_params_ == {"kernelridge__alpha": 1e-3}
    assert -scorer(search.best_estimator_, X, y) == pytest.approx(
        l2_error(search.best_estimator_, target)
    )


def test_scorer_pickles_and_relative():
    _, _, target = make_sphere_regression(5, 3, random_state=0)
    scorer = make_l2_error_scorer(target, relative=True)
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone(_Constant(0.0), None, None) == pytest.approx(-1.0, rel=1e-10)
    assert "L2 error" in repr(scorer)
