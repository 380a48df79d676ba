"""Quadrature rules exact to a degree, and training on the continuous loss."""

import itertools

import numpy as np
import pytest
from scipy import special

from sklearn_gdnet import GDNetworkRegressor, _memory
from sklearn_gdnet.datasets import (
    SphereHarmonicTarget,
    harmonic_dimension,
    make_interval_quadrature,
    make_sphere_quadrature,
    make_sphere_regression,
    quadrature_training_set,
    zonal_harmonic,
)
from sklearn_gdnet.metrics import integration_rule, l2_error, quadrature_rule


def _sphere_moment(alpha):
    """E[x^alpha] under the uniform probability measure on S^{d-1} (Folland, Amer. Math.

    Monthly 108, 2001): Gamma(d/2) prod Gamma((a_i + 1)/2) / (pi^{d/2} Gamma((|a| + d)/2))
    when every a_i is even, else 0.
    """
    alpha = np.asarray(alpha)
    if np.any(alpha % 2):
        return 0.0
    d = alpha.shape[0]
    log = (
        special.gammaln(d / 2)
        + special.gammaln((alpha + 1) / 2).sum()
        - d / 2 * np.log(np.pi)
        - special.gammaln((alpha.sum() + d) / 2)
    )
    return float(np.exp(log))


def _exponents(d, degree):
    for alpha in itertools.product(range(degree + 1), repeat=d):
        if sum(alpha) <= degree:
            yield alpha


@pytest.mark.parametrize("d, degree", [(2, 7), (3, 8), (3, 9), (4, 6), (5, 5)])
def test_sphere_rule_integrates_every_monomial_up_to_its_degree(d, degree):
    X, w = quadrature_rule("sphere", d, degree=degree)
    assert np.all(w > 0) and w.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-14)
    for alpha in _exponents(d, degree):
        value = w @ np.prod(X ** np.array(alpha), axis=1)
        assert value == pytest.approx(_sphere_moment(alpha), abs=1e-13), alpha


@pytest.mark.parametrize("d, degree", [(2, 6), (3, 6), (4, 5)])
def test_sphere_rule_is_not_exact_one_even_degree_beyond(d, degree):
    # the degree is sharp: x_d^(2q) with q = degree // 2 + 1 nodes in x_d (or the
    # (degree + 1)-th harmonic on S^1) is integrated wrongly
    X, w = quadrature_rule("sphere", d, degree=degree)
    if d == 2:
        angle = np.arctan2(X[:, 1], X[:, 0])
        assert abs(w @ np.cos((degree + 1) * angle)) > 0.5
    else:
        power = 2 * (degree // 2 + 1)
        alpha = np.zeros(d, dtype=int)
        alpha[-1] = power
        assert abs(w @ X[:, -1] ** power - _sphere_moment(alpha)) > 1e-4


@pytest.mark.parametrize("d", [3, 4])
def test_rotated_rules_stay_exact_on_random_polynomials(d):
    degree = 6
    rng = np.random.default_rng(0)
    X, w = quadrature_rule("sphere", d, degree=degree, random_state=1)
    X0, _ = quadrature_rule("sphere", d, degree=degree)
    assert not np.allclose(X, X0)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-14)
    terms = list(_exponents(d, degree))
    coef = rng.standard_normal(len(terms))
    poly = sum(c * np.prod(X ** np.array(a), axis=1) for c, a in zip(coef, terms))
    exact = sum(c * _sphere_moment(a) for c, a in zip(coef, terms))
    assert w @ poly == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_rules_reproduce_the_addition_theorem(d):
    # int P_k(x.z) P_j(x.z') dsigma = delta_kj P_k(z.z') / N(d, k), for k + j <= degree
    degree = 8
    X, w = quadrature_rule("sphere", d, degree=degree, random_state=3)
    rng = np.random.default_rng(1)
    z, zp = rng.standard_normal((2, d))
    z, zp = z / np.linalg.norm(z), zp / np.linalg.norm(zp)
    for k in range(5):
        for j in range(degree - k + 1):
            value = w @ (zonal_harmonic(k, X @ z, d) * zonal_harmonic(j, X @ zp, d))
            expected = zonal_harmonic(k, z @ zp, d) / harmonic_dimension(k, d) if j == k else 0
            assert value == pytest.approx(expected, abs=1e-13), (k, j)


@pytest.mark.parametrize("n_panels", [1, 2, 3])
def test_interval_rule_is_exact_for_piecewise_polynomials_on_its_panels(n_panels):
    degree = 9
    X, w = quadrature_rule("interval", None, degree=degree, n_panels=n_panels)
    x = X[:, 0]
    assert x.shape[0] == n_panels * (degree // 2 + 1)
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    edges = np.linspace(-1, 1, n_panels + 1)
    for k in range(degree + 1):
        # (1/2) int_a^b x^k dx on each panel, against the rule's sum over that panel
        for a, b in zip(edges[:-1], edges[1:]):
            inside = (x > a) & (x < b)
            exact = (b ** (k + 1) - a ** (k + 1)) / (2 * (k + 1))
            assert w[inside] @ x[inside] ** k == pytest.approx(exact, abs=1e-14)


def test_rule_validation():
    with pytest.raises(ValueError, match="n_features=1"):
        quadrature_rule("interval", 3, degree=4)
    with pytest.raises(ValueError, match="n_features >= 2"):
        quadrature_rule("sphere", 1, degree=4)
    with pytest.raises(ValueError, match="n_panels is for the interval"):
        quadrature_rule("sphere", 3, degree=4, n_panels=2)
    with pytest.raises(ValueError, match="interval has none"):
        quadrature_rule("interval", 1, degree=4, random_state=0)
    with pytest.raises(ValueError, match="degree"):
        quadrature_rule("sphere", 3, degree=-1)


def test_rule_too_large_for_memory_is_refused(monkeypatch):
    monkeypatch.setattr(_memory, "MEMORY_LIMIT", 10**6)
    with pytest.raises(MemoryError, match=r"\(degree \+ 1\) \* \(degree // 2 \+ 1\)"):
        quadrature_rule("sphere", 8, degree=30)


# --- training sets ----------------------------------------------------------------------


def test_sphere_quadrature_has_the_target_of_make_sphere_regression():
    X, y, w, target = make_sphere_quadrature(12, n_features=3, max_degree=6, random_state=4)
    _, _, same = make_sphere_regression(5, n_features=3, max_degree=6, random_state=4)
    np.testing.assert_array_equal(target.coefficients, same.coefficients)
    np.testing.assert_array_equal(target.poles, same.poles)
    assert X.shape == (13 * 7, 3)
    np.testing.assert_allclose(y, target(X))
    assert w.mean() == pytest.approx(1.0)
    # degree 12 = 2 * max_degree: the loss of the zero function is exactly ||g||^2 / 2
    assert 0.5 * np.mean(w * y**2) == pytest.approx(0.5 * np.sum(target.coefficients**2))


def test_training_set_validation():
    target = SphereHarmonicTarget([1.0], poles=[[0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="n_panels is for the interval"):
        quadrature_training_set(target, 4, n_panels=2)
    with pytest.raises(ValueError, match="domain"):
        quadrature_training_set(lambda X: X[:, 0], 4)
    with pytest.raises(ValueError, match="Unknown interval target"):
        make_interval_quadrature(5, target="nope")


def _half_squared_l2_error(net, target, n_points):
    # the package's fixed rules, a separate implementation from quadrature_rule
    return 0.5 * l2_error(net, target, n_points=n_points) ** 2


@pytest.mark.parametrize(
    "activation, degree, rtol",
    [
        # analytic integrand: the rule converges geometrically (measured 2e-14 at degree 40)
        ("tanh", 40, 1e-10),
        # kinks of ReLU units: measured relative gaps 2.6e-2, 1.8e-3, 6.9e-4 at degrees 20,
        # 40, 80 for width 64 (the accuracy stated in quadrature_training_set)
        ("relu", 40, 1e-2),
    ],
)
def test_training_loss_is_half_the_squared_continuous_error_on_s2(activation, degree, rtol):
    rng = np.random.default_rng(0)
    target = SphereHarmonicTarget(rng.standard_normal(5) / 3, rng.standard_normal((5, 3)))
    X, y, w = quadrature_training_set(target, degree)
    net = GDNetworkRegressor(
        width=64, depth=1, activation=activation, max_iter=100, random_state=0
    ).fit(X, y, sample_weight=w)
    # fixed rule of degree 255 (32768 nodes), independent of the training rule
    continuous = _half_squared_l2_error(net, target, 4 * 8192)
    assert net.loss_curve_[-1] == pytest.approx(continuous, rel=rtol)
    assert net.loss_curve_[0] > 2 * net.loss_curve_[-1]  # it did train


@pytest.mark.parametrize("name", ["bump", "cusp", "step"])
def test_training_loss_is_half_the_squared_continuous_error_on_the_interval(name):
    # tanh networks, two panels (the targets' singularity at the break): measured
    # agreement to 2e-12 (bump, step) and 4e-6 (cusp) at degree 255
    X, y, w, target = make_interval_quadrature(255, target=name)
    net = GDNetworkRegressor(width=32, depth=1, activation="tanh", max_iter=100, random_state=0)
    net.fit(X, y, sample_weight=w)
    continuous = _half_squared_l2_error(net, target, 4000)
    assert net.loss_curve_[-1] == pytest.approx(continuous, rel=1e-4)


def test_training_loss_is_half_the_squared_continuous_error_on_s1_and_s3():
    rng = np.random.default_rng(2)
    for d, degree, reference in [(2, 64, None), (4, 16, 40)]:
        target = SphereHarmonicTarget(rng.standard_normal(4) / 2, rng.standard_normal((4, d)))
        X, y, w = quadrature_training_set(target, degree)
        net = GDNetworkRegressor(
            width=32, depth=1, activation="tanh", max_iter=60, random_state=0
        ).fit(X, y, sample_weight=w)
        if reference is None:  # the fixed equispaced rule of l2_error
            continuous = _half_squared_l2_error(net, target, 4096)
        else:  # S^3: l2_error is Monte Carlo there; a finer, rotated exact rule
            nodes, weights = quadrature_rule("sphere", d, degree=reference, random_state=5)
            continuous = 0.5 * weights @ (net.predict(nodes) - target(nodes)) ** 2
        assert net.loss_curve_[-1] == pytest.approx(continuous, rel=1e-6)


def test_loss_on_random_points_is_not_the_continuous_loss():
    # the control: without the rule's weights the same size of training set gives a
    # loss that differs from the continuous one by the sampling error
    rng = np.random.default_rng(0)
    target = SphereHarmonicTarget(rng.standard_normal(5) / 3, rng.standard_normal((5, 3)))
    X, y, _ = quadrature_training_set(target, 40)
    net = GDNetworkRegressor(width=64, depth=1, activation="tanh", max_iter=100, random_state=0)
    net.fit(X, y)  # unweighted: the product rule's nodes crowd at the poles
    continuous = _half_squared_l2_error(net, target, 4 * 8192)
    assert abs(net.loss_curve_[-1] / continuous - 1) > 1e-3


def test_integration_rule_and_quadrature_rule_agree_on_s2():
    # two implementations of the Gauss x equispaced product on S^2
    nodes, weights = integration_rule("sphere", 3, n_points=2 * 16**2)  # q = 16
    X, w = quadrature_rule("sphere", 3, degree=31)
    f = lambda Z: np.exp(Z[:, 0] - 2 * Z[:, 1] * Z[:, 2])  # noqa: E731
    assert weights @ f(nodes) == pytest.approx(w @ f(X), rel=1e-12)
