"""Targets, grid and measures of the shallow 1-d study (Gentile and Welper, arXiv:2209.08399)."""

import math

import numpy as np
import pytest
from scipy import integrate

from sklearn_gdnet import _memory
from sklearn_gdnet.datasets import (
    IntervalTarget,
    make_interval_regression,
    make_sphere_regression,
    sample_sphere,
    study_n_samples,
)
from sklearn_gdnet.metrics import (
    integration_rule,
    l2_error,
    l2_norm,
    make_l2_error_scorer,
    measure_mass,
)

STUDY_AMPLITUDES = [0.1, 0.25, 0.5]


def _relu_network(m, seed):
    """The study's model m^-1/2 sum_r a_r relu(x - theta_r), written out directly."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-1, 1, m)
    a = rng.choice([-1.0, 1.0], m)
    return lambda X: np.maximum(np.asarray(X)[:, :1] - theta, 0) @ a / np.sqrt(m)


@pytest.mark.parametrize("amplitude", STUDY_AMPLITUDES)
def test_gaussian_values_follow_the_studys_formula(amplitude):
    x = np.linspace(-1, 1, 9)
    s = 0.2
    expected = amplitude / (s * math.sqrt(2 * math.pi)) * np.exp(-(x**2) / (2 * s**2))
    target = IntervalTarget("gaussian", amplitude=amplitude)
    np.testing.assert_allclose(target(x[:, None]), expected, rtol=1e-14)
    assert target.params == {"amplitude": amplitude, "std": 0.2}
    assert target.smoothness == np.inf


@pytest.mark.parametrize("amplitude, std", [(0.1, 0.2), (0.25, 0.2), (0.5, 0.2), (1.0, 0.7)])
def test_gaussian_exact_norm_matches_quadrature(amplitude, std):
    target = IntervalTarget("gaussian", amplitude=amplitude, std=std)
    squared, _ = integrate.quad(lambda x: target(np.array([x]))[0] ** 2, -1, 1, limit=200)
    # l2_norm is under dx / 2; the study's measure is dx
    assert target.l2_norm**2 == pytest.approx(squared / 2, rel=1e-10)
    lebesgue = l2_norm(target, measure="lebesgue")
    assert lebesgue**2 == pytest.approx(squared, rel=1e-10)


def test_gaussian_defaults_and_bad_parameters():
    assert IntervalTarget("gaussian") == IntervalTarget("gaussian", amplitude=0.25, std=0.2)
    assert repr(IntervalTarget("gaussian")) == "IntervalTarget('gaussian', amplitude=0.25, std=0.2)"
    assert repr(IntervalTarget("cusp")) == "IntervalTarget('cusp')"
    with pytest.raises(ValueError, match="takes no parameter 'amplitude'"):
        IntervalTarget("cusp", amplitude=0.5)
    with pytest.raises(ValueError, match="std must be positive"):
        IntervalTarget("gaussian", std=0.0)
    with pytest.raises(ValueError, match="finite"):
        IntervalTarget("gaussian", amplitude=np.inf)


def test_make_interval_regression_takes_a_parametrized_target():
    target = IntervalTarget("gaussian", amplitude=0.5)
    X, y, returned = make_interval_regression(11, target=target)
    assert returned is target
    np.testing.assert_allclose(y, target(X))
    X, y, returned = make_interval_regression(11, target="gaussian")
    assert returned.params == {"amplitude": 0.25, "std": 0.2}
    with pytest.raises(ValueError, match="target"):
        make_interval_regression(11, target=3)


@pytest.mark.parametrize("name", ["gaussian", "step", "bump"])
@pytest.mark.parametrize("width", [1, 10, 56, 1000])
def test_study_grid_is_2m_equispaced_points(name, width):
    X, y, target = make_interval_regression(target=name, width=width)
    np.testing.assert_array_equal(X[:, 0], np.linspace(-1, 1, 2 * width))
    assert study_n_samples(width, name) == 2 * width
    assert not np.any(X == 0)  # an even number of equispaced points skips 0


@pytest.mark.parametrize("width", [1, 10, 56, 1000])
def test_study_grid_of_the_cusp_holds_zero(width):
    X, y, target = make_interval_regression(target="cusp", width=width)
    assert X.shape == (2 * width + 1, 1)
    np.testing.assert_array_equal(X[:, 0], np.linspace(-1, 1, 2 * width + 1))
    assert X[width, 0] == 0 and y[width] == 1.0  # the cusp's peak is a training point


def test_study_grid_needs_width_or_n_samples_not_both():
    with pytest.raises(ValueError, match="not both"):
        make_interval_regression(10, width=5)
    X, _, _ = make_interval_regression()  # the default is still 100 points
    assert X.shape == (100, 1)


@pytest.mark.parametrize("domain, d, mass", [("interval", None, 2.0), ("sphere", 2, 2 * np.pi)])
def test_lebesgue_rule_integrates_with_dx(domain, d, mass):
    nodes, weights = integration_rule(domain, d, measure="lebesgue")
    assert weights.sum() == pytest.approx(mass)
    if domain == "interval":
        # int_{-1}^{1} x^4 dx = 2/5
        assert weights @ nodes[:, 0] ** 4 == pytest.approx(0.4, rel=1e-12)
    else:
        # int over the unit circle of x_1^2 ds = pi
        assert weights @ nodes[:, 0] ** 2 == pytest.approx(np.pi, rel=1e-12)


def test_lebesgue_mass_of_spheres():
    # |S^2| = 4 pi, |S^3| = 2 pi^2, |S^4| = 8 pi^2 / 3
    assert measure_mass("sphere", 3) == pytest.approx(4 * np.pi)
    assert measure_mass("sphere", 4) == pytest.approx(2 * np.pi**2)
    assert measure_mass("sphere", 5) == pytest.approx(8 * np.pi**2 / 3)
    assert measure_mass("interval", measure="normalized") == 1.0
    with pytest.raises(ValueError, match="measure"):
        measure_mass("interval", measure="counting")


def test_measures_of_error_norm_and_scorer_differ_by_sqrt_of_the_mass():
    target = IntervalTarget("cusp")
    network = _relu_network(32, seed=0)
    normalized = l2_error(network, target)
    lebesgue = l2_error(network, target, measure="lebesgue")
    assert lebesgue == pytest.approx(np.sqrt(2) * normalized, rel=1e-12)
    scorer = make_l2_error_scorer(target, measure="lebesgue")
    assert -scorer(network, None, None) == pytest.approx(lebesgue, rel=1e-12)
    assert "measure='lebesgue'" in repr(scorer)
    # the cusp's norm under dx: int_{-1}^{1} (1 - sqrt|x|)^2 dx = 1/3
    assert l2_norm(target, measure="lebesgue") ** 2 == pytest.approx(1 / 3, rel=1e-7)
    # a relative error does not depend on the measure
    assert l2_error(network, target, relative=True, measure="lebesgue") == pytest.approx(
        l2_error(network, target, relative=True), rel=1e-12
    )
    with pytest.raises(ValueError, match="measure"):
        make_l2_error_scorer(target, measure="dx")


@pytest.mark.parametrize("name", ["gaussian", "cusp", "step"])
@pytest.mark.parametrize("m", [10, 32])
def test_lebesgue_error_is_what_the_study_reports(name, m):
    # The study's number: the Riemann sum (sum_j |f - g|^2 h)^(1/2) on
    # linspace(-1, 1, N), N = 100 m, h = 2 / N, evaluated here by its formula.
    target = IntervalTarget(name)
    network = _relu_network(m, seed=m)
    n_fine = 100 * m
    x = np.linspace(-1, 1, n_fine)[:, None]
    residual = network(x) - target(x)
    riemann_squared = np.sum(residual**2) * (2 / n_fine)
    integral = l2_error(network, target, measure="lebesgue") ** 2
    # The sum approximates int |f - g|^2 dx to O(1/N): it is the trapezoid rule
    # on N - 1 cells scaled by (N - 1) / N, plus the end points with weight 1/N.
    assert np.sqrt(riemann_squared) == pytest.approx(np.sqrt(integral), rel=2e-3)
    first_order = integral * (1 - 1 / n_fine) + (residual[0] ** 2 + residual[-1] ** 2) / n_fine
    # what remains is the trapezoid rule's error at kinks, the jump and the cusp
    assert riemann_squared == pytest.approx(first_order, rel=2e-4 if name == "cusp" else 1e-5)
    # and the normalized error is smaller by sqrt(2): not what the study reports
    assert l2_error(network, target) == pytest.approx(np.sqrt(integral / 2), rel=1e-12)


def test_data_generation_refuses_work_beyond_memory(monkeypatch):
    monkeypatch.setattr(_memory, "MEMORY_LIMIT", 2**20)  # 1 MiB
    with pytest.raises(MemoryError, match="Sampling 100000 points on \\[-1, 1\\]"):
        make_interval_regression(100_000)
    with pytest.raises(MemoryError, match="on the sphere"):
        make_sphere_regression(10_000)
    with pytest.raises(MemoryError, match="on the sphere"):
        sample_sphere(10_000, 20)
    with pytest.raises(MemoryError, match="integration rule"):
        integration_rule("sphere", n_features=8, n_points=100_000)
    # what fits is still served
    X, y, _ = make_interval_regression(1000)
    assert X.shape == (1000, 1)
