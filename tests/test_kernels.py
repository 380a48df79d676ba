"""Tests of the dual maps and of the NNGP / NTK kernels.

Every value is compared with an independent derivation: hand values, Monte
Carlo, adaptive integration, finite differences, the empirical NTK of wide
networks, or scikit-learn's own estimators.
"""

import os

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate
from sklearn.base import clone
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import WhiteKernel
from sklearn.kernel_approximation import Nystroem
from sklearn.kernel_ridge import KernelRidge

from sklearn_gdnet import kernels as kernels_module
from sklearn_gdnet._activations import ACTIVATIONS, HermiteSeriesDual
from sklearn_gdnet._network import NetworkSpec, empirical_ntk, init_params
from sklearn_gdnet.kernels import NNGP, NTK, nngp_ntk

CLOSED_FORMS = ["relu", "erf", "identity"]
QUADRATURE = ["tanh", "sigmoid", "softplus", "gelu"]


def _on_sphere(n, d, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, d))
    return X * np.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True)


# --- hand-derivable values -------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_relu_hand_values(depth):
    # sigma_w^2 = 2, sigma_b = 0, |x|^2 = d: K^1(x, x) = 2 and E1 = q/2, E0 = 1/2 on
    # the diagonal, so K^l(x, x) = 2 for every layer and T^{l+1} = 2 + T^l = 2 (l + 1).
    X = _on_sphere(7, 5)
    params = dict(depth=depth, weight_std=np.sqrt(2), bias_std=0.0, bias_std_bounds="fixed")
    for kernel, value in ((NNGP(**params), 2.0), (NTK(**params), 2.0 * (depth + 1))):
        assert_allclose(kernel.diag(X), value, rtol=1e-14)
        assert_allclose(np.diag(kernel(X)), value, rtol=1e-14)


def test_relu_arc_cosine_off_diagonal():
    # One hidden layer, sigma_b = 0, sigma_w^2 = 2, |x| = |x'| = sqrt(d), angle t:
    # K^2 = 2 * (sin t + (pi - t) cos t) / (2 pi) * 2 / 2 ... written out by hand:
    # K^1 = 2 cos t; E1 = 2 (sin t + (pi - t) cos t) / (2 pi); K^2 = 2 E1.
    # T^2 = 2 E1 + 2 E0 * 2 cos t with E0 = (pi - t) / (2 pi).
    t = 1.1
    X = np.array([[1.0, 0.0], [np.cos(t), np.sin(t)]]) * np.sqrt(2)
    E1 = 2 * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)
    E0 = (np.pi - t) / (2 * np.pi)
    K, T = nngp_ntk(X, depth=1, weight_std=np.sqrt(2), bias_std=0.0)
    assert_allclose(K[0, 1], 2 * E1, rtol=1e-13)
    assert_allclose(T[0, 1], 2 * E1 + 2 * E0 * 2 * np.cos(t), rtol=1e-13)


def test_only_output_trained_gives_nngp_and_groups_add_up():
    # [g trained] enters linearly: the NTK with all groups is the sum of the NTKs
    # with one group each, and with only the output layer it is the NNGP.
    X = np.random.default_rng(1).normal(size=(9, 3))
    depth = 2
    full = NTK(depth=depth, activation="tanh")(X)
    groups = [f"{p}{l}" for l in range(1, depth + 2) for p in "Wb"]
    parts = sum(NTK(depth=depth, activation="tanh", trainable=(g,))(X) for g in groups)
    assert_allclose(parts, full, rtol=1e-12)
    assert_allclose(NTK(depth=depth, trainable="output")(X), NNGP(depth=depth)(X), rtol=1e-13)


# --- dual maps against Monte Carlo and adaptive integration ---------------------------

COVARIANCES = [
    (1.0, 1.0, 0.3),
    (0.5, 2.0, -0.8),
    (2.0, 1.5, 0.999),
    (1.0, 1.0, 1.0),
    (0.2, 3.0, 0.0),
]


@pytest.mark.parametrize("name", CLOSED_FORMS + QUADRATURE)
def test_dual_maps_against_monte_carlo(name):
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 400_000))
    for q11, q22, rho in COVARIANCES:
        q12 = rho * np.sqrt(q11 * q22)
        u = np.sqrt(q11) * z[0]
        v = np.sqrt(q22) * (rho * z[0] + np.sqrt(1 - rho**2) * z[1])
        E1, E0 = act.dual(q11, q22, q12)
        for value, samples in ((E1, act.phi(u) * act.phi(v)), (E0, act.dphi(u) * act.dphi(v))):
            stderr = samples.std() / np.sqrt(samples.size)
            assert abs(value - samples.mean()) <= 5 * stderr + 1e-12, (q11, q22, rho)


@pytest.mark.parametrize("name", QUADRATURE)
@pytest.mark.parametrize("q", [0.3, 1.0, 2.5, 5.0])
def test_quadrature_accuracy_as_stated(name, q):
    # At correlation 1 (the hardest case) and 0, E1 and E0 reduce to 1-d integrals
    # that adaptive quadrature computes to 1e-10; the series is far inside its
    # stated bound (3e-7 relative to the diagonal).
    act = ACTIVATIONS[name]
    density = lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi)  # noqa: E731

    def expect(g):
        return integrate.quad(
            lambda z: g(np.sqrt(q) * z) * density(z), -40, 40, points=[0], epsabs=1e-12, limit=400
        )[0]

    E1, E0 = act.dual(q, q, q)
    assert_allclose(
        [E1, E0], [expect(lambda u: act.phi(u) ** 2), expect(lambda u: act.dphi(u) ** 2)], atol=1e-9
    )
    E1, E0 = act.dual(q, q, 0.0)
    assert_allclose([E1, E0], [expect(act.phi) ** 2, expect(act.dphi) ** 2], atol=1e-9)


@pytest.mark.parametrize("name", CLOSED_FORMS + QUADRATURE)
def test_dual_map_derivatives_against_finite_differences(name):
    dual = ACTIVATIONS[name].dual
    q11, q22, q12 = 1.3, 0.7, 0.4
    h = 1e-6
    for direction in np.eye(3):
        dq = tuple(direction)
        _, _, dE1, dE0 = dual(q11, q22, q12, tangents=dq)
        plus = dual(q11 + h * dq[0], q22 + h * dq[1], q12 + h * dq[2])
        minus = dual(q11 - h * dq[0], q22 - h * dq[1], q12 - h * dq[2])
        fd = [(p - m) / (2 * h) for p, m in zip(plus, minus)]
        # series derivatives come from Price's theorem: they agree with the
        # differences of the truncated series to its tolerance
        atol = 1e-7 if isinstance(dual, HermiteSeriesDual) else 1e-8
        assert_allclose([dE1, dE0], fd, atol=atol, rtol=1e-6)


@pytest.mark.parametrize("name", CLOSED_FORMS + QUADRATURE)
def test_dual_maps_are_finite_on_degenerate_covariances(name):
    dual = ACTIVATIONS[name].dual
    q = np.array([0.0, 1.0, 1.0, 2.0, 1.0])
    q12 = np.array([0.0, 1.0 + 1e-15, -1.0, 0.0, 1.0])  # zero, rounding past 1, -1
    qb = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    out = dual(q, qb, q12, tangents=(np.ones(5), np.ones(5), np.ones(5)))
    assert all(np.isfinite(o).all() for o in out)
    if name == "relu":  # exact diagonal values
        E1, E0 = dual(np.array([3.0]), np.array([3.0]), np.array([3.0]))
        assert E1[0] == 1.5 and E0[0] == 0.5


# --- matrices: exact diagonal, symmetry, degenerate points, tiles and threads ---------


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_degenerate_points_give_finite_psd_matrices(activation):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 4))
    X = np.vstack([X, X[:2], np.zeros((1, 4)), 3.0 * X[:1], -X[1:2]])  # duplicates, zero, collinear
    for kernel in (NNGP(activation=activation), NTK(activation=activation)):
        M = kernel(X)
        assert np.isfinite(M).all()
        assert_allclose(M, M.T, rtol=0, atol=0)
        assert_allclose(np.diag(M), kernel.diag(X), rtol=0, atol=0)
        # duplicates make M singular; quadrature may put its zero eigenvalues a
        # rounding-sized amount below 0
        tol = 1e-8 if activation == "tanh" else 1e-12
        assert np.linalg.eigvalsh(M).min() > -tol * np.abs(M).max()
        # duplicates give the same rows up to rounding
        assert_allclose(M[6], M[0], rtol=1e-7)


def test_tiles_threads_and_cross_matrices_agree(monkeypatch):
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(70, 3)), rng.normal(size=(45, 3))
    K_ref, T_ref = nngp_ntk(np.vstack([X, Y]), depth=3, n_jobs=1)
    monkeypatch.setattr(kernels_module, "TILE", 16)  # many tiles, ragged edges
    K, T = nngp_ntk(X, Y, depth=3, n_jobs=2)
    assert_allclose(K, K_ref[:70, 70:], rtol=1e-12)
    assert_allclose(T, T_ref[:70, 70:], rtol=1e-12)
    K, T = nngp_ntk(X, depth=3, n_jobs=2)
    assert_allclose(T, T_ref[:70, :70], rtol=1e-12)
    assert_allclose(T, T.T, rtol=0, atol=0)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_a_point_against_itself_gets_the_exact_diagonal(activation):
    """K(X, Y) at a point of both is K(x, x) of the closed form, bit for bit.

    Through the angle, the ReLU NTK at theta = 0 loses half the digits (the
    Nystroem features with every point a center need ``K(X, C)`` to contain
    ``K(C, C)`` exactly). Reference: the symmetric matrix's exact diagonal.
    """
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    K, T = nngp_ntk(X, depth=2, activation=activation)
    # rows in another order, a duplicate, and a point that is not in X
    idx = np.array([7, 3, 3, 59, 0])
    Y = np.vstack([X[idx], rng.normal(size=(1, 3))])
    K_xy, T_xy = nngp_ntk(X, Y, depth=2, activation=activation)
    for col, i in enumerate(idx):
        assert T_xy[i, col] == T[i, i] and K_xy[i, col] == K[i, i]
    assert_allclose(T_xy[:, : idx.size], T[:, idx], rtol=1e-7)
    K_yx, T_yx = nngp_ntk(Y, X, depth=2, activation=activation)
    assert_allclose(T_yx, T_xy.T, rtol=1e-6)  # quadrature is not symmetric in its arguments


def test_float32_input():
    X = np.random.default_rng(5).normal(size=(20, 4))
    T64 = NTK()(X)
    T32 = NTK()(X.astype(np.float32))
    assert T32.dtype == np.float64
    assert_allclose(T32, T64, rtol=1e-6)


def test_parametrization():
    X = np.random.default_rng(6).normal(size=(5, 2))
    assert_allclose(NNGP(parametrization="standard")(X), NNGP()(X))
    with pytest.raises(ValueError, match="no infinite-width limit"):
        NTK(parametrization="standard")(X)
    with pytest.raises(ValueError, match="trainable"):
        NTK(trainable="nonsense")(X)
    with pytest.raises(ValueError, match="activation"):
        NNGP(activation="nonsense")(X)


# --- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kernel",
    [
        NTK(depth=2),
        NNGP(depth=3, activation="erf", weight_std=1.3, bias_std=0.4),
        NTK(depth=2, activation="tanh", trainable="penultimate", weight_std=0.9),
        NTK(depth=1, activation="relu", bias_std=0.5, trainable="hidden_biases"),
        NTK(depth=2, activation="identity", bias_std_bounds="fixed"),
    ],
    ids=repr,
)
def test_eval_gradient_against_finite_differences(kernel):
    X = np.random.default_rng(7).normal(size=(8, 3))
    X = np.vstack([X, X[:1]])  # a duplicate point: the ReLU E0 derivative is 0/0 there
    _, grad = kernel(X, eval_gradient=True)
    assert grad.shape == (9, 9, kernel.n_dims)
    assert np.isfinite(grad).all()
    h = 1e-6
    for i in range(kernel.n_dims):
        step = np.zeros(kernel.n_dims)
        step[i] = h
        plus, minus = (
            kernel.clone_with_theta(kernel.theta + step),
            kernel.clone_with_theta(kernel.theta - step),
        )
        fd = (plus(X) - minus(X)) / (2 * h)
        assert_allclose(grad[:, :, i], fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())


# --- empirical NTK of wide networks ------------------------------------------------------


@pytest.mark.parametrize("trainable", ["all", "penultimate", "hidden_biases", "output"])
def test_empirical_ntk_converges_at_rate_half(trainable):
    X = _on_sphere(6, 3, seed=8)
    depth, widths, seeds = 2, [64, 256, 1024], range(6)
    analytic = NTK(depth=depth, trainable=trainable, bias_std=0.3)(X)
    errors = []
    for width in widths:
        spec = NetworkSpec(n_features=3, n_outputs=1, width=width, depth=depth, bias_std=0.3)
        errs = [
            np.linalg.norm(
                empirical_ntk(init_params(spec, seed), spec, X, trainable=trainable) - analytic
            )
            for seed in seeds
        ]
        errors.append(np.mean(errs))
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert errors[-1] < errors[0]
    assert -0.8 < slope < -0.3, (errors, slope)
    assert errors[-1] / np.linalg.norm(analytic) < 0.1


# --- scikit-learn estimators use the kernels unchanged ----------------------------------


def test_hyperparameters_and_clone():
    kernel = NTK(weight_std=2.0, bias_std=0.5)
    assert [h.name for h in kernel.hyperparameters] == ["bias_std", "weight_std"]
    assert_allclose(kernel.theta, np.log([0.5, 2.0]))
    other = kernel.clone_with_theta(np.log([0.1, 1.5]))
    assert other.bias_std == pytest.approx(0.1) and other.weight_std == pytest.approx(1.5)
    assert clone(kernel) == kernel
    assert NTK(bias_std_bounds="fixed").n_dims == 1


def test_kernel_ridge_with_kernel_object_equals_precomputed():
    rng = np.random.default_rng(9)
    X, y, X_test = rng.normal(size=(40, 3)), rng.normal(size=40), rng.normal(size=(15, 3))
    kernel = NTK(depth=3, activation="erf")
    direct = KernelRidge(kernel=kernel, alpha=0.1).fit(X, y).predict(X_test)
    pre = KernelRidge(kernel="precomputed", alpha=0.1).fit(kernel(X), y).predict(kernel(X_test, X))
    assert_allclose(direct, pre, rtol=1e-12)


def test_nystroem_with_all_components_reproduces_the_kernel():
    X = np.random.default_rng(10).normal(size=(30, 4))
    kernel = NNGP(depth=2)
    Z = Nystroem(kernel=kernel, n_components=30, random_state=0).fit_transform(X)
    assert_allclose(Z @ Z.T, kernel(X), atol=1e-8)


def test_gaussian_process_fits_the_hyperparameters_by_marginal_likelihood():
    # Draw targets from the NNGP prior with known scales; maximizing the marginal
    # likelihood must improve on the starting point and land near the truth.
    rng = np.random.default_rng(11)
    X = rng.normal(size=(150, 2))
    truth = NNGP(depth=2, weight_std=1.5, bias_std=0.8)
    C = truth(X) + 1e-2 * np.eye(150)
    y = np.linalg.cholesky(C) @ rng.standard_normal(150)
    start = NNGP(depth=2, weight_std=0.7, bias_std=0.2) + WhiteKernel(1e-2, "fixed")
    gp = GaussianProcessRegressor(start, random_state=0).fit(X, y)
    lml_start = gp.log_marginal_likelihood(start.theta)
    assert gp.log_marginal_likelihood_value_ > lml_start + 1.0
    fitted = gp.kernel_.k1
    assert 1.0 < fitted.weight_std < 2.2
    # the gradient GPR follows is ours: it vanishes at the interior optimum
    _, grad = gp.log_marginal_likelihood(gp.kernel_.theta, eval_gradient=True)
    assert np.abs(grad).max() < 1e-2 * len(y)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_gradient_path_returns_the_same_kernel(monkeypatch, activation):
    monkeypatch.setattr(kernels_module, "TILE", 16)
    X = np.random.default_rng(12).normal(size=(40, 3))
    for kernel in (NTK(activation=activation), NNGP(activation=activation)):
        value, grad = kernel(X, eval_gradient=True)
        assert_allclose(value, kernel(X), rtol=1e-13, atol=1e-15)
        assert_allclose(grad, np.swapaxes(grad, 0, 1), rtol=0, atol=0)


def test_repr_tells_unequal_kernels_apart_and_rebuilds_them():
    # two kernels with different values must not print alike (best_params_ of a
    # grid search over them would be ambiguous); the repr evaluates back to the
    # same kernel, exact floats included
    from sklearn_gdnet.kernels import NNGP as NNGP_
    from sklearn_gdnet.kernels import NTK as NTK_

    X = np.random.default_rng(0).normal(size=(6, 3))
    variants = [
        NTK_(),
        NTK_(trainable="output"),
        NTK_(trainable=("W2", "b2")),
        NTK_(weight_std=1.0001),
        NTK_(weight_std=1 / 3),
        NTK_(bias_std=0.1 + 1e-12),
        NTK_(depth=3),
        NTK_(activation="erf"),
    ]
    texts = [repr(k) for k in variants]
    assert len(set(texts)) == len(texts), texts
    for kernel, text in zip(variants, texts):
        again = eval(text, {"NTK": NTK_, "NNGP": NNGP_})
        np.testing.assert_array_equal(again(X), kernel(X))
    assert "parametrization='standard'" in repr(NNGP_(parametrization="standard"))


def test_default_threads_only_where_they_pay():
    # closed forms are memory-bound (two threads were slower than one on two
    # cores); the Hermite series do a polynomial per entry (threads paid)
    from sklearn_gdnet._activations import get_activation
    from sklearn_gdnet.kernels import PARALLEL_MIN_ENTRIES, _n_threads

    big = PARALLEL_MIN_ENTRIES
    for name in ("relu", "erf", "identity"):
        assert _n_threads(None, 100 * big, get_activation(name).dual) == 1
    tanh = get_activation("tanh").dual
    assert _n_threads(None, big, tanh) == (os.cpu_count() or 1)
    assert _n_threads(None, big - 1, tanh) == 1
    assert _n_threads(2, 10, get_activation("relu").dual) == 2  # asked for: given
