import numpy as np
import pytest
from numpy.polynomial import legendre
from scipy import integrate, special

from sklearn_gdnet.datasets import (
    IntervalTarget,
    SphereHarmonicTarget,
    harmonic_dimension,
    make_interval_regression,
    make_sphere_regression,
    sample_sphere,
    zonal_harmonic,
)


def _monte_carlo_mean(func, n_features, n=400_000, seed=123):
    X = sample_sphere(n, n_features, random_state=seed)
    values = func(X)
    return values.mean(), values.std() / np.sqrt(n)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_sample_sphere_is_uniform(d):
    X = sample_sphere(50_000, d, random_state=0)
    assert X.shape == (50_000, d)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0)
    # uniform on the sphere: mean 0 and second moment I / d
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=0.02)
    np.testing.assert_allclose(X.T @ X / X.shape[0], np.eye(d) / d, atol=0.01)


def test_sample_sphere_is_seeded():
    np.testing.assert_array_equal(
        sample_sphere(7, 4, random_state=3), sample_sphere(7, 4, random_state=3)
    )
    assert not np.allclose(sample_sphere(7, 4, random_state=3), sample_sphere(7, 4))


@pytest.mark.parametrize("d", [2, 3, 4, 6])
def test_harmonic_dimension_counts_harmonic_polynomials(d):
    # harmonic polynomials of degree k = homogeneous of degree k minus r^2 times
    # homogeneous of degree k - 2
    for k in range(8):
        homogeneous = special.comb(k + d - 1, d - 1, exact=True)
        lower = special.comb(k - 2 + d - 1, d - 1, exact=True) if k >= 2 else 0
        assert harmonic_dimension(k, d) == homogeneous - lower


def test_zonal_harmonic_known_families():
    t = np.linspace(-1, 1, 11)
    theta = np.arccos(t)
    for k in range(6):
        np.testing.assert_allclose(zonal_harmonic(k, t, 2), np.cos(k * theta), atol=1e-12)
        coef = np.zeros(k + 1)
        coef[k] = 1
        np.testing.assert_allclose(zonal_harmonic(k, t, 3), legendre.legval(t, coef))
        # d = 4: Gegenbauer lambda = 1 is Chebyshev U_k, U_k(1) = k + 1
        inner = slice(1, -1)
        u = np.sin((k + 1) * theta[inner]) / np.sin(theta[inner])
        np.testing.assert_allclose(zonal_harmonic(k, t[inner], 4), u / (k + 1), atol=1e-12)
        np.testing.assert_allclose(zonal_harmonic(k, [-1.0, 1.0], 4), [(-1) ** k, 1])


@pytest.mark.parametrize("d", [3, 4])
def test_normalized_zonal_terms_have_unit_norm_and_are_orthogonal(d):
    rng = np.random.default_rng(0)
    z = sample_sphere(2, d, random_state=1)
    for k, j in [(1, 1), (3, 3), (2, 3)]:

        def product(X, k=k, j=j):
            a = np.sqrt(harmonic_dimension(k, d)) * zonal_harmonic(k, X @ z[0], d)
            b = np.sqrt(harmonic_dimension(j, d)) * zonal_harmonic(j, X @ z[1], d)
            return a * (a if k == j else b)

        mean, se = _monte_carlo_mean(product, d, seed=int(rng.integers(1000)))
        assert abs(mean - (1.0 if k == j else 0.0)) < 5 * se


@pytest.mark.parametrize("d, s", [(3, 1.0), (4, 0.5), (2, 2.0)])
def test_sphere_target_norm_matches_monte_carlo(d, s):
    X, y, target = make_sphere_regression(20, d, smoothness=s, max_degree=12, random_state=0)
    assert isinstance(target, SphereHarmonicTarget)
    np.testing.assert_allclose(target(X), y)
    # the documented rule |a_k| = k^-(s + 1/2), a_0 = 0
    k = np.arange(1, 13)
    np.testing.assert_allclose(np.abs(target.coefficients[1:]), k ** -(s + 0.5))
    assert target.coefficients[0] == 0
    exact = np.sum(k ** (-2 * s - 1.0))
    assert target.l2_norm == pytest.approx(np.sqrt(exact))
    mean, se = _monte_carlo_mean(lambda X: target(X) ** 2, d)
    assert abs(mean - exact) < 5 * se
    # zero mean since a_0 = 0
    mean, se = _monte_carlo_mean(target, d)
    assert abs(mean) < 5 * se


def test_sphere_target_sobolev_norm_diverges_at_the_smoothness():
    def sobolev(r, max_degree):
        _, _, target = make_sphere_regression(
            1, 3, smoothness=1.0, max_degree=max_degree, random_state=0
        )
        return target.sobolev_norm(r)

    # below s the norm converges, at s it grows like sqrt(log K)
    assert sobolev(0.5, 400) / sobolev(0.5, 200) < 1.01
    grow = sobolev(1.0, 400) ** 2 - sobolev(1.0, 200) ** 2
    assert grow == pytest.approx(np.log(2), rel=0.05)


def test_sphere_regression_seed_and_noise():
    a = make_sphere_regression(30, random_state=5)
    b = make_sphere_regression(30, random_state=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    X, y, target = make_sphere_regression(20_000, noise=0.3, random_state=5)
    assert np.std(y - target(X)) == pytest.approx(0.3, rel=0.03)


def test_sphere_target_rejects_bad_input():
    with pytest.raises(ValueError, match="poles"):
        SphereHarmonicTarget([1.0, 2.0], poles=[[0, 0, 1]])
    _, _, target = make_sphere_regression(5, 3, random_state=0)
    with pytest.raises(ValueError, match="shape"):
        target(np.ones((4, 2)))
    with pytest.raises(ValueError, match="smoothness"):
        make_sphere_regression(5, smoothness=-1.0)


@pytest.mark.parametrize("name", ["bump", "cusp", "step"])
def test_interval_target_norm_matches_quad(name):
    target = IntervalTarget(name)
    squared, _ = integrate.quad(
        lambda x: target(np.array([x]))[0] ** 2, -1, 1, points=[0.0], limit=200
    )
    assert target.l2_norm**2 == pytest.approx(squared / 2, rel=1e-9)


def test_interval_target_values():
    x = np.array([-1.0, -0.25, 0.0, 0.25, 1.0])
    np.testing.assert_allclose(IntervalTarget("cusp")(x), 1 - np.sqrt(np.abs(x)))
    np.testing.assert_array_equal(IntervalTarget("step")(x), [0, 0, 0, 1, 1])
    np.testing.assert_allclose(IntervalTarget("bump")(x), np.exp(-16 * x**2))
    with pytest.raises(ValueError, match="Unknown interval target"):
        IntervalTarget("ramp")


def test_interval_regression_sampling_and_noise():
    X, y, target = make_interval_regression(9, target="bump")
    np.testing.assert_allclose(X[:, 0], np.linspace(-1, 1, 9))
    np.testing.assert_allclose(y, target(X))
    X1, y1, _ = make_interval_regression(50, sampling="uniform", random_state=1)
    X2, y2, _ = make_interval_regression(50, sampling="uniform", random_state=1)
    np.testing.assert_array_equal(X1, X2)
    assert np.all(np.diff(X1[:, 0]) >= 0) and np.all(np.abs(X1) <= 1)
    assert not np.allclose(X1[:, 0], np.linspace(-1, 1, 50))
    X, y, target = make_interval_regression(20_000, target="step", noise=0.1, random_state=0)
    assert np.std(y - target(X)) == pytest.approx(0.1, rel=0.03)


def test_interval_regression_validates():
    with pytest.raises(ValueError, match="target"):
        make_interval_regression(10, target="ramp")
    with pytest.raises(ValueError, match="sampling"):
        make_interval_regression(10, sampling="grid")
