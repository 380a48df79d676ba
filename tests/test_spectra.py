"""Residual spectra on the sphere and the kernel-flow prediction of them."""

import numpy as np
import pytest
from numpy.polynomial import legendre
from scipy import special
from sphere_helpers import eigenvalues_from_kernel_matrix

from sklearn_gdnet import GDNetworkRegressor, NTKRegressor
from sklearn_gdnet._spectra import harmonic_polynomials
from sklearn_gdnet.datasets import (
    SphereHarmonicTarget,
    harmonic_dimension,
    quadrature_training_set,
    sample_sphere,
    zonal_harmonic,
)
from sklearn_gdnet.kernels import nngp_ntk
from sklearn_gdnet.metrics import l2_error, quadrature_rule, residual_spectrum
from sklearn_gdnet.studies import kernel_flow_spectrum


def _zero(X):
    return np.zeros(X.shape[0])


def _random_target(d, n_degrees, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return SphereHarmonicTarget(
        scale * rng.standard_normal(n_degrees), rng.standard_normal((n_degrees, d))
    )


# --- the basis and the measured spectrum ------------------------------------------------


@pytest.mark.parametrize("d", [3, 4, 5])
def test_basis_polynomials_are_harmonic(d):
    # homogeneous harmonic polynomials: zero Laplacian anywhere in R^d (central differences)
    X = np.random.default_rng(0).standard_normal((20, d))
    h = 1e-3
    degree = 5
    centre = harmonic_polynomials(X, degree)
    laplacian = [np.zeros_like(b) for b in centre]
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        plus, minus = harmonic_polynomials(X + e, degree), harmonic_polynomials(X - e, degree)
        for k in range(degree + 1):
            laplacian[k] += (plus[k] - 2 * centre[k] + minus[k]) / h**2
    for k in range(degree + 1):
        assert centre[k].shape == (harmonic_dimension(k, d), X.shape[0])
        scale = np.abs(centre[k]).max() * (1 + np.abs(X).max()) ** 2
        assert np.abs(laplacian[k]).max() < 1e-4 * scale, k


@pytest.mark.parametrize("d", [2, 3, 4])
def test_basis_is_orthogonal_on_an_exact_rule(d):
    degree = 6
    X, w = quadrature_rule("sphere", d, degree=2 * degree, random_state=0)
    B = np.vstack(harmonic_polynomials(X, degree))
    gram = (B * w) @ B.T
    off = gram - np.diag(np.diag(gram))
    assert np.abs(off).max() < 1e-13 * np.diag(gram).max()
    assert np.all(np.diag(gram) > 0)


@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_spectrum_of_targets_with_known_coefficients(d):
    target = _random_target(d, 6, seed=d)
    # degree 5 times degree <= 7: a rule of degree 14 is exact
    energies = residual_spectrum(_zero, target, max_degree=7, rule_degree=14)
    np.testing.assert_allclose(energies[:6], target.coefficients**2, atol=1e-12)
    np.testing.assert_allclose(energies[6:], 0.0, atol=1e-12)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_spectrum_of_a_difference_follows_the_addition_theorem(d):
    # ||a sqrt(N) P_k(.z) - b sqrt(N) P_k(.u)||^2 = a^2 + b^2 - 2 a b P_k(z.u)
    f, g = _random_target(d, 5, seed=10 + d), _random_target(d, 5, seed=20 + d)
    expected = [
        a**2 + b**2 - 2 * a * b * zonal_harmonic(k, z @ u, d)
        for k, (a, b, z, u) in enumerate(zip(f.coefficients, g.coefficients, f.poles, g.poles))
    ]
    energies = residual_spectrum(f, g, max_degree=4, random_state=1)
    np.testing.assert_allclose(energies, expected, atol=1e-12)
    if d <= 3:  # l2_error's fixed exact rules (it is Monte Carlo for d >= 4)
        assert energies.sum() == pytest.approx(l2_error(f, g) ** 2, rel=1e-10)


def test_spectrum_on_s2_matches_scipy_spherical_harmonics():
    # the same discrete projection in scipy's complex basis: equal up to rounding even for
    # a function that is not a polynomial
    degree = 8
    X, w = quadrature_rule("sphere", 3, degree=40)
    values = np.exp(X @ np.array([0.3, -1.0, 0.7])) * np.cos(3 * X[:, 0])
    polar, azimuth = np.arccos(np.clip(X[:, 2], -1, 1)), np.arctan2(X[:, 1], X[:, 0])
    expected = [
        sum(
            4
            * np.pi
            * abs(np.sum(w * values * np.conj(special.sph_harm_y(k, m, polar, azimuth)))) ** 2
            for m in range(-k, k + 1)
        )
        for k in range(degree + 1)
    ]
    energies = residual_spectrum(
        values_at(X, values), None, max_degree=degree, domain="sphere", n_features=3, rule_degree=40
    )
    np.testing.assert_allclose(energies, expected, rtol=1e-10, atol=1e-15)


def values_at(nodes, values):
    """A callable returning the given values at the given nodes (for tests on one rule)."""

    def function(X):
        assert np.array_equal(X, nodes)
        return values

    return function


def test_interval_spectrum_is_the_legendre_expansion():
    # under dx/2 the Legendre polynomial P_k has squared norm 1 / (2k + 1)
    c = np.random.default_rng(0).standard_normal(7)
    poly = lambda X: legendre.legval(X[:, 0], c)  # noqa: E731
    energies = residual_spectrum(poly, None, max_degree=8, domain="interval")
    expected = np.append(c**2 / (2 * np.arange(7) + 1), [0.0, 0.0])
    np.testing.assert_allclose(energies, expected, atol=1e-13)


def test_network_spectrum_adds_up_and_is_stable_under_finer_rules():
    X, y, w = quadrature_training_set(_random_target(3, 6, seed=0), 20)
    target = _random_target(3, 6, seed=0)
    net = GDNetworkRegressor(width=64, depth=1, max_iter=100, random_state=0)
    net.fit(X, y, sample_weight=w)
    coarse = residual_spectrum(net, target, max_degree=30)
    fine = residual_spectrum(net, target, max_degree=30, rule_degree=255, random_state=2)
    # the accuracy stated in residual_spectrum: aliasing far below the energies
    assert np.abs(coarse - fine).max() < 2e-4 * fine.max()
    # most of the residual is below degree 30 and the parts add up to the whole
    total = l2_error(net, target) ** 2
    assert 0.9 * total < fine.sum() <= total * (1 + 1e-6)


def test_spectrum_validation():
    target = _random_target(3, 3, seed=0)
    with pytest.raises(ValueError, match="2 \\* max_degree"):
        residual_spectrum(_zero, target, max_degree=10, rule_degree=15)
    with pytest.raises(ValueError, match="domain"):
        residual_spectrum(_zero, None, max_degree=2)
    with pytest.raises(ValueError, match="interval has none"):
        residual_spectrum(_zero, None, max_degree=2, domain="interval", random_state=0)
    with pytest.raises(ValueError, match="one output per point"):
        residual_spectrum(lambda X: np.zeros((len(X), 2)), target, max_degree=2)


# --- the kernel-flow prediction ---------------------------------------------------------


def test_kernel_flow_spectrum_by_hand():
    a, lam = np.array([2.0, -1.0, 0.5]), np.array([0.5, 0.25, 3.0])
    gd = kernel_flow_spectrum(a, lam, n_steps=3, learning_rate=0.5)
    np.testing.assert_allclose(gd, [4 * 0.75**6, 0.875**6, 0.25 * 0.5**6])
    flow = kernel_flow_spectrum(a, lam, n_steps=[0, 4], learning_rate=0.5, dynamics="flow")
    np.testing.assert_allclose(flow[0], a**2)
    np.testing.assert_allclose(flow[1], a**2 * np.exp(-2 * 2 * lam))
    # one extra eigenvalue is ignored; a negative rounding residue counts as zero
    np.testing.assert_allclose(
        kernel_flow_spectrum([1.0], [-1e-18, 5.0], n_steps=7, learning_rate=1.0), [1.0]
    )


def test_kernel_flow_spectrum_validation():
    with pytest.raises(ValueError, match="at least 3"):
        kernel_flow_spectrum([1, 1, 1], [1, 1], n_steps=1, learning_rate=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        kernel_flow_spectrum([1, 1], [1, -0.5], n_steps=1, learning_rate=1.0)
    with pytest.raises(ValueError, match="non-negative integers"):
        kernel_flow_spectrum([1], [1], n_steps=[1.5], learning_rate=1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        kernel_flow_spectrum([1], [1], n_steps=1, learning_rate=0.0)


def _fourier_eigenvalues(X, T, n_degrees):
    """Eigenvalues of the circulant T / n on the grid's Fourier vectors (checked eigenvectors)."""
    n = X.shape[0]
    angle = np.arctan2(X[:, 1], X[:, 0])
    mu = []
    for k in range(n_degrees):
        for u in (np.cos(k * angle), np.sin(k * angle)):
            if np.linalg.norm(u) < 1e-8:
                continue
            u = u / np.linalg.norm(u)
            Au = T @ u / n
            mu_k = u @ Au
            np.testing.assert_allclose(Au, mu_k * u, atol=1e-12 * np.abs(T).max())
        mu.append(mu_k)
    return np.array(mu)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("dynamics", ["gd", "flow"])
def test_prediction_is_exact_on_the_circle_grid(depth, dynamics):
    # On n equispaced points the training kernel is circulant: Fourier modes are its
    # eigenvectors and the trained residual at the nodes is a_k * decay(mu_k) exactly,
    # mu_k the kernel matrix's eigenvalues (computed here from the matrix itself).
    target = _random_target(2, 9, seed=depth)
    X, y, w = quadrature_training_set(target, 63)
    T = nngp_ntk(X, depth=depth)[1]
    mu = _fourier_eigenvalues(X, T, 9)
    model = NTKRegressor(
        normalize_y=False, depth=depth, n_steps=20, learning_rate=0.7, dynamics=dynamics
    )
    model.fit(X, y, sample_weight=w)
    # the rule of degree 63 is the training grid: the measured spectrum is the nodes'
    measured = residual_spectrum(model, target, max_degree=8, rule_degree=63)
    predicted = kernel_flow_spectrum(
        target.coefficients, mu, n_steps=20, learning_rate=0.7, dynamics=dynamics
    )
    np.testing.assert_allclose(measured, predicted, atol=1e-9 * np.max(target.coefficients**2))
    assert np.all(predicted < 0.99 * target.coefficients**2)  # every degree moved


@pytest.mark.parametrize(
    "activation, weight_std, degree, tol",
    [
        # an analytic kernel: the training rule's aliasing is negligible (measured 2.4e-8
        # of a_k^2 with a rule of degree 30)
        ("erf", 2.0, 30, 1e-6),
        # the ReLU kernel's eigenvalues decay like k^-3: aliasing of the training rule of
        # degree 24 leaves measured differences of 9.7e-4 of a_k^2 (6e-4 at degree 30)
        ("relu", 1.0, 24, 3e-3),
    ],
)
@pytest.mark.parametrize("dynamics", ["gd", "flow"])
def test_prediction_matches_ntk_regressor_on_s2(activation, weight_std, degree, tol, dynamics):
    target = _random_target(3, 7, seed=0)
    params = dict(depth=2, activation=activation, weight_std=weight_std, bias_std=0.1)
    lam = eigenvalues_from_kernel_matrix(tuple(params.items()), 7, rule_degree=60)
    X, y, w = quadrature_training_set(target, degree)
    model = NTKRegressor(normalize_y=False, n_steps=20, dynamics=dynamics, **params).fit(
        X, y, sample_weight=w
    )
    eta = model.learning_rate_
    measured = residual_spectrum(model, target, max_degree=6)
    predicted = kernel_flow_spectrum(
        target.coefficients, lam, n_steps=20, learning_rate=eta, dynamics=dynamics
    )
    np.testing.assert_allclose(measured, predicted, atol=tol * np.max(target.coefficients**2))
    # the prediction is not trivial: some degrees are learned, some are not
    ratio = predicted / target.coefficients**2
    assert ratio.min() < 0.1 and ratio.max() > 0.5


def test_random_points_give_only_an_approximate_spectrum():
    # control for the erf case above: as many uniform random points as the rule of degree
    # 30 has nodes, unweighted, miss the prediction by far more than its tolerance
    target = _random_target(3, 7, seed=0)
    params = dict(depth=2, activation="erf", weight_std=2.0, bias_std=0.1)
    lam = eigenvalues_from_kernel_matrix(tuple(params.items()), 7, rule_degree=60)
    X = sample_sphere(31 * 16, 3, random_state=0)
    model = NTKRegressor(n_steps=20, learning_rate=0.4, **params).fit(X, target(X))
    measured = residual_spectrum(model, target, max_degree=6)
    predicted = kernel_flow_spectrum(target.coefficients, lam, n_steps=20, learning_rate=0.4)
    assert np.abs(measured - predicted).max() > 1000 * 1e-6 * np.max(target.coefficients**2)


def test_gd_and_flow_predictions_differ_where_measured():
    # the two dynamics give different spectra and each prediction tracks its own
    target = _random_target(2, 6, seed=5)
    X, y, w = quadrature_training_set(target, 31)
    T = nngp_ntk(X, depth=1)[1]
    mu = _fourier_eigenvalues(X, T, 6)
    eta = 0.9 / mu.max()  # large steps: GD and flow apart
    out = {}
    for dynamics in ("gd", "flow"):
        model = NTKRegressor(
            normalize_y=False, depth=1, n_steps=3, learning_rate=eta, dynamics=dynamics
        )
        out[dynamics] = residual_spectrum(
            model.fit(X, y, sample_weight=w), target, max_degree=5, rule_degree=31
        )
    predicted_gd = kernel_flow_spectrum(target.coefficients, mu, n_steps=3, learning_rate=eta)
    np.testing.assert_allclose(out["gd"], predicted_gd, atol=1e-9)
    assert np.abs(out["gd"] - out["flow"]).max() > 1e-3
