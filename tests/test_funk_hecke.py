"""Kernel eigenvalues on the sphere (Funk-Hecke) against closed forms, dense
eigendecompositions on exact rules, the known decay of the ReLU NTK, and the
kernel dynamics of NTKRegressor."""

import numpy as np
import pytest
from scipy import special
from sklearn.gaussian_process.kernels import RBF, DotProduct, Exponentiation

from sklearn_gdnet import NTKRegressor
from sklearn_gdnet.datasets import SphereHarmonicTarget, quadrature_training_set
from sklearn_gdnet.kernels import NNGP, NTK, sphere_eigenvalues
from sklearn_gdnet.metrics import quadrature_rule, residual_spectrum
from sklearn_gdnet.studies import kernel_flow_spectrum


def test_polynomial_kernels_by_hand():
    # <x, y> = t: the linear functions, eigenvalue int t^2 dsigma = 1/d
    for d in (2, 3, 4, 6):
        lam = sphere_eigenvalues(DotProduct(sigma_0=0.0), d, 4)
        np.testing.assert_allclose(lam, [0, 1 / d, 0, 0, 0], atol=1e-12)
    # t^2 = 1/3 + 2/3 P_2(t) on S^2 (Legendre); t^2 = 1/4 + 3/4 (4t^2 - 1)/3 on S^3
    # (Gegenbauer C_2^1 normalized); lambda_k = coefficient / N(d, k), N(3,2)=5, N(4,2)=9
    square = Exponentiation(DotProduct(sigma_0=0.0), 2)
    np.testing.assert_allclose(sphere_eigenvalues(square, 3, 3), [1 / 3, 0, 2 / 15, 0], atol=1e-12)
    np.testing.assert_allclose(sphere_eigenvalues(square, 4, 3), [1 / 4, 0, 1 / 12, 0], atol=1e-12)


@pytest.mark.parametrize("d", [3, 4, 5])
@pytest.mark.parametrize("length_scale", [0.5, 1.5])
def test_gaussian_kernel_against_bessel_closed_form(d, length_scale):
    # exp(-|x - y|^2 / (2 l^2)) = exp(-s (1 - t)), s = 1 / l^2, and the Gegenbauer
    # expansion of exp(s t) give lambda_k = Gamma(nu + 1) (2 / s)^nu e^-s I_{k+nu}(s),
    # nu = (d - 2) / 2 (Minh, Niyogi and Yao, COLT 2006).
    s, nu = 1 / length_scale**2, (d - 2) / 2
    k = np.arange(21)
    expected = special.gamma(nu + 1) * (2 / s) ** nu * special.ive(k + nu, s)
    lam = sphere_eigenvalues(RBF(length_scale), d, 20)
    # rounding floor of the 4096-node rule: about 1e-12 of lambda_0
    np.testing.assert_allclose(lam, expected, rtol=1e-9, atol=1e-12 * expected[0])


def predicted_spectrum(lam, mult, n_top):
    """The ``n_top`` largest eigenvalues of the operator: lambda_k repeated N(d, k) times."""
    return np.sort(np.repeat(lam, mult.astype(int)))[::-1][:n_top]


@pytest.mark.parametrize(
    "kernel, tol",
    [
        # analytic kernel: the rule's aliasing is at rounding level
        (NTK(depth=2, activation="erf", weight_std=2.0), 1e-11),
        # ReLU: the eigenvalues decay like k^-3, so the degrees beyond the rule alias
        # into the matrix and lift its eigenvalues by up to 1.5e-5 lambda_0 (measured)
        (NTK(depth=1), 3e-5),
        (NTK(depth=2), 3e-5),
        (NNGP(depth=2), 3e-5),
    ],
    ids=["erf-ntk", "relu-ntk-1", "relu-ntk-2", "relu-nngp-2"],
)
def test_eigenvalues_of_the_kernel_matrix_on_an_exact_rule(kernel, tol):
    # On a rule exact to degree D with weights v summing to one, V^1/2 K V^1/2
    # restricted to degrees <= D/2 is the integral operator: its eigenvalues are the
    # lambda_k, each N(3, k) = 2k + 1 times.
    Z, v = quadrature_rule("sphere", 3, degree=60, random_state=0)
    root = np.sqrt(v)
    A = root[:, None] * kernel(Z) * root[None, :]
    measured = np.sort(np.linalg.eigvalsh(A))[::-1]
    lam, mult = sphere_eigenvalues(kernel, 3, 30, return_multiplicities=True)
    np.testing.assert_array_equal(mult, 2 * np.arange(31) + 1)
    n_top = 100  # degrees up to about 9
    top = predicted_spectrum(lam, mult, n_top)
    atol = tol * lam.max()
    np.testing.assert_allclose(measured[:n_top], top, rtol=0, atol=atol)
    # the clusters: 2k + 1 eigenvalues at lambda_k for the leading degrees
    for k in (0, 1, 2):
        assert np.sum(np.abs(measured - lam[k]) <= atol) == 2 * k + 1, k


def decay_exponent(lam, degrees):
    return np.polyfit(np.log(degrees), np.log(lam[degrees]), 1)[0]


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("d, low, high", [(3, -3.1, -2.9), (4, -4.2, -3.8)])
def test_relu_ntk_decays_like_k_to_the_minus_d(depth, d, low, high):
    # Bietti and Mairal (NeurIPS 2019): lambda_k ~ k^-d on S^{d-1}, for even k (odd
    # degrees >= 3 vanish at depth 1 without biases)
    lam = NTK(depth=depth).sphere_eigenvalues(d, 38)
    slope = decay_exponent(lam, np.arange(12, 39, 2))
    assert low < slope < high, slope
    assert np.all(lam[::2] > 0)


def test_odd_degrees_vanish_for_the_bias_free_relu_ntk_of_depth_one():
    kernel = NTK(depth=1, bias_std=0.0, bias_std_bounds="fixed")
    lam = kernel.sphere_eigenvalues(3, 15)
    assert np.all(np.abs(lam[3::2]) < 1e-10 * lam[0])
    assert np.all(lam[::2] > 1e-6 * lam[0]) and lam[1] > 0.1 * lam[0]


def test_agrees_with_the_addition_theorem_on_an_exact_rule():
    # lambda_k = sum_ij v_i v_j kappa(x_i . x_j) P_k(x_i . x_j) on a rule exact to a
    # degree D well above 2k; the ReLU kernel's tail aliases into it by a deviation
    # that falls with D (measured 3.9e-5, 1.2e-5, 5.0e-6 of lambda_0 for D = 40, 60, 80)
    kernel = NTK(depth=2)
    lam = sphere_eigenvalues(kernel, 3, 7)
    deviations = []
    for degree in (30, 60):
        Z, v = quadrature_rule("sphere", 3, degree=degree, random_state=3)
        G = np.clip(Z @ Z.T, -1, 1)
        K = kernel(Z)
        addition = np.array([v @ (K * special.eval_legendre(k, G)) @ v for k in range(8)])
        deviations.append(np.abs(addition - lam).max() / lam[0])
    assert deviations[1] < 2e-5 and deviations[1] < deviations[0] / 3, deviations


def test_plugs_into_the_kernel_flow_prediction_of_ntk_regressor():
    # NTKRegressor trained on an exact rule of degree 30 (erf kernel: negligible
    # aliasing) follows the kernel-flow prediction with these eigenvalues
    rng = np.random.default_rng(0)
    coefficients = rng.uniform(0.5, 1.0, size=7)
    poles = rng.standard_normal((7, 3))
    poles /= np.linalg.norm(poles, axis=1, keepdims=True)
    target = SphereHarmonicTarget(coefficients, poles)
    params = dict(depth=2, activation="erf", weight_std=2.0, bias_std=0.1)
    lam = NTK(**params).sphere_eigenvalues(3, 6)
    X, y, w = quadrature_training_set(target, 30)
    # the kernel flow acts on the targets as given: normalize_y=False
    model = NTKRegressor(n_steps=20, normalize_y=False, **params).fit(X, y, sample_weight=w)
    measured = residual_spectrum(model, target, max_degree=6)
    predicted = kernel_flow_spectrum(
        coefficients, lam, n_steps=20, learning_rate=model.learning_rate_
    )
    np.testing.assert_allclose(measured, predicted, atol=1e-6 * np.max(coefficients**2))
    assert predicted.min() < 0.1 * coefficients.max() ** 2  # some degrees were learned


def test_methods_equal_the_function_and_bad_input_is_refused():
    for kernel in (NTK(depth=3, bias_std=0.3), NNGP(depth=2, activation="tanh")):
        np.testing.assert_array_equal(
            kernel.sphere_eigenvalues(4, 6), sphere_eigenvalues(kernel, 4, 6)
        )
    with pytest.raises(ValueError, match="not zonal"):
        sphere_eigenvalues(RBF(length_scale=[1.0, 2.0, 3.0]), 3, 4)
    with pytest.raises(ValueError, match="n_features"):
        sphere_eigenvalues(NTK(), 1, 4)
    with pytest.raises(ValueError, match="max_degree"):
        sphere_eigenvalues(NTK(), 3, -1)
    with pytest.raises(ValueError, match="callable"):
        sphere_eigenvalues("relu", 3, 4)
    with pytest.raises(ValueError, match="shape"):
        sphere_eigenvalues(lambda X, Y: np.ones(len(Y)), 3, 4)
