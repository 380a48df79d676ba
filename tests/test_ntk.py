"""Tests of NTKRegressor against independent derivations.

References used here: direct iteration of the linearized dynamics, explicit
matrix sums, KernelRidge(kernel="precomputed"), GaussianProcessRegressor,
Monte Carlo over initializations, and wide GDNetworkRegressor runs.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.linalg import LinAlgWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.kernel_ridge import KernelRidge
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_gdnet import NNGP, NTK, GDNetworkRegressor, NTKRegressor
from sklearn_gdnet import _memory as memory_module
from sklearn_gdnet._network import NetworkSpec, empirical_ntk
from sklearn_gdnet._ntk import spectral_factor
from sklearn_gdnet._ntk_solvers import kernel_scratch_bytes
from sklearn_gdnet.kernels import _Recursion


def _data(n=25, d=3, k=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X *= np.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True)
    Y = np.column_stack([np.sin(2 * X[:, 0]), X[:, 1] * X[:, 2]])
    y = Y[:, 0] if k is None else Y[:, :k]
    return X, y, rng


@parametrize_with_checks(
    [
        NTKRegressor(),
        NTKRegressor(n_steps=20, activation="erf", depth=1),
        NTKRegressor(alpha=1e-3, kernel="nngp", trainable="output"),
        NTKRegressor(n_steps=50, dynamics="flow", trainable="penultimate"),
        NTKRegressor(finite_width=32, n_steps=200, random_state=0),
        NTKRegressor(solver="nystroem", n_components=40, alpha=1e-3, random_state=0),
        NTKRegressor(finite_width=4, depth=1, solver="jacobian", random_state=0),
    ]
)
def test_sklearn_conformance(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)  # duplicate rows in some checks
        check(estimator)


# --- the spectral solver ------------------------------------------------------------


def _linearized_gd(T_train, T_test, y, w, eta, n_steps, n_outputs=None):
    """Iterate f <- f - eta/N T W (f - y) in function space, N = k sum(w)."""
    Y = y.reshape(len(y), -1)
    n_eff = (Y.shape[1] if n_outputs is None else n_outputs) * w.sum()
    f_train, f_test = np.zeros_like(Y), np.zeros((T_test.shape[0], Y.shape[1]))
    for _ in range(n_steps):
        step = (eta / n_eff) * (w[:, None] * (f_train - Y))
        f_train -= T_train @ step
        f_test -= T_test @ step
    return f_test


@pytest.mark.parametrize("k", [None, 2])
def test_gd_steps_match_iterated_linear_dynamics(k):
    X, y, rng = _data(k=k)
    w = rng.uniform(0.2, 2.0, size=len(X))
    X_test = rng.normal(size=(7, 3))
    model = NTKRegressor(normalize_y=False, depth=3, n_steps=40, learning_rate=3.0).fit(
        X, y, sample_weight=w
    )
    kernel = NTK(depth=3)
    expected = _linearized_gd(kernel(X), kernel(X_test, X), y, w, 3.0, 40)
    assert_allclose(model.predict(X_test).reshape(7, -1), expected, rtol=1e-9, atol=1e-12)


def test_auto_learning_rate_follows_the_documented_rule():
    X, y, rng = _data(k=2)
    w = rng.uniform(0.5, 1.5, size=len(X))
    model = NTKRegressor(n_steps=5).fit(X, y, sample_weight=w)
    wn = w / w.mean()
    lam_max = np.linalg.eigvalsh(np.sqrt(wn)[:, None] * NTK()(X) * np.sqrt(wn))[-1]
    assert model.learning_rate_ == pytest.approx(0.5 * 2 * y.size / lam_max, rel=1e-10)


def test_flow_is_the_limit_of_fine_gd_steps():
    X, y, rng = _data()
    X_test = rng.normal(size=(6, 3))
    flow = NTKRegressor(n_steps=10, learning_rate=2.0, dynamics="flow").fit(X, y).predict(X_test)
    gaps = []
    for m in (1, 10, 100):
        gd = NTKRegressor(n_steps=10 * m, learning_rate=2.0 / m).fit(X, y).predict(X_test)
        gaps.append(np.abs(gd - flow).max())
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1.5 * gaps[1] / 10  # first order in the step size


def test_spectral_factor_is_stable_as_lambda_vanishes():
    eta, n_eff, k = 0.7, 30.0, 25
    lam = np.array([0.0, 1e-300, 1e-12, 1e-6])
    g = spectral_factor(lam, n_steps=k, learning_rate=eta, dynamics="gd", n_eff=n_eff, alpha=0)
    c = eta * lam / n_eff
    series = k * eta / n_eff * (1 - (k - 1) * c / 2 + (k - 1) * (k - 2) * c**2 / 6)
    assert_allclose(g, series, rtol=1e-12)
    g = spectral_factor(lam, n_steps=k, learning_rate=eta, dynamics="flow", n_eff=n_eff, alpha=0)
    t = eta * k
    assert_allclose(g, t / n_eff * (1 - t * lam / n_eff / 2), rtol=1e-12)


def test_converged_equals_kernel_ridge_with_sample_weight():
    X, y, rng = _data(k=2, n=40)
    w = rng.uniform(0.1, 3.0, size=len(X))
    X_test = rng.normal(size=(9, 3))
    kernel = NTK(depth=2, activation="tanh", bias_std=0.3)
    ours = NTKRegressor(normalize_y=False, activation="tanh", bias_std=0.3, alpha=0.05).fit(
        X, y, sample_weight=w
    )
    kr = KernelRidge(kernel="precomputed", alpha=0.05).fit(kernel(X), y, sample_weight=w)
    assert_allclose(ours.predict(X_test), kr.predict(kernel(X_test, X)), rtol=1e-8)
    # alpha = 0 goes through the eigendecomposition: the interpolant T^-1 y
    interp = NTKRegressor(normalize_y=False, activation="tanh", bias_std=0.3).fit(X, y)
    expected = kernel(X_test, X) @ np.linalg.solve(kernel(X), y)
    assert_allclose(interp.predict(X_test), expected, rtol=1e-6)


def test_nngp_mean_and_std_equal_the_gaussian_process_posterior():
    # With kernel="nngp" and alpha -> 0, M = K^-1 and the variance formula reduces to
    # K(x,x) - K(x,X) K^-1 K(X,x): the GP posterior variance.
    X, y, rng = _data(n=30)
    X_test = rng.normal(size=(8, 3))
    nngp = NNGP(depth=2, weight_std_bounds="fixed", bias_std_bounds="fixed")
    gp = GaussianProcessRegressor(nngp, alpha=1e-3, optimizer=None).fit(X, y)
    ours = NTKRegressor(normalize_y=False, kernel="nngp", alpha=1e-3).fit(X, y)
    assert_allclose(ours.predict(X_test), gp.predict(X_test), rtol=1e-8)
    gp0 = GaussianProcessRegressor(nngp, alpha=1e-12, optimizer=None).fit(X, y)
    mean, std = (
        NTKRegressor(normalize_y=False, kernel="nngp").fit(X, y).predict(X_test, return_std=True)
    )
    assert_allclose(std, gp0.predict(X_test, return_std=True)[1], rtol=1e-4, atol=1e-6)


def test_std_matches_monte_carlo_over_initializations():
    # f_0 ~ GP(0, K) jointly on train and test points; each draw trained by the
    # linearized GD iteration; the spread of the results is what return_std states.
    X, y, rng = _data(n=15)
    w = rng.uniform(0.5, 2.0, size=len(X))
    X_test = rng.normal(size=(5, 3))
    Z = np.vstack([X, X_test])
    K_all = NNGP(depth=2)(Z)
    T = NTK(depth=2)
    model = NTKRegressor(normalize_y=False, n_steps=15, learning_rate=4.0).fit(
        X, y, sample_weight=w
    )
    mean, std = model.predict(X_test, return_std=True)
    n_draws = 4000
    L = np.linalg.cholesky(K_all + 1e-10 * np.eye(len(Z)))
    F0 = L @ rng.standard_normal((len(Z), n_draws))
    f0_train, f0_test = F0[:15], F0[15:]
    # trained from f_0: residual dynamics of y - f_0, added to f_0 (linear in y)
    resid_fit = _linearized_gd(T(X), T(X_test, X), y[:, None] - f0_train, w, 4.0, 15, n_outputs=1)
    draws = f0_test + resid_fit
    assert_allclose(draws.mean(axis=1), mean, atol=4 * std.max() / np.sqrt(n_draws))
    assert_allclose(draws.std(axis=1), std, rtol=0.06)


# --- singular kernels, memory, chunks ------------------------------------------------


def test_duplicate_points_warn_and_give_the_minimum_norm_interpolant():
    X, y, _ = _data(n=12)
    X_dup, y_dup = np.vstack([X, X[:3]]), np.concatenate([y, y[:3]])
    with pytest.warns(LinAlgWarning, match="not unique"):
        dup = NTKRegressor().fit(X_dup, y_dup)
    pred = dup.predict(X)
    assert np.isfinite(pred).all()
    assert_allclose(pred, NTKRegressor().fit(X, y).predict(X), rtol=1e-6, atol=1e-8)
    # zero-weight samples are not a reason to warn
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        NTKRegressor().fit(X, y, sample_weight=np.r_[np.zeros(2), np.ones(10)])


def test_memory_guard_refuses_before_allocating(monkeypatch):
    rec = _Recursion.build(2, "relu", 1.0, 0.1)
    monkeypatch.setattr(memory_module, "MEMORY_LIMIT", kernel_scratch_bytes(rec) + 10**6)
    X, y, _ = _data(n=400)
    # 2.5 * 400^2 floats for the exact solver, 4 * 400^2 for 400 centers: neither fits
    with pytest.raises(MemoryError, match=r"solver='nystroem'.*GiB.*n_components <= \d+"):
        NTKRegressor().fit(X, y)


def test_predictions_in_chunks_equal_one_block():
    X, y, rng = _data(n=50)
    X_test = rng.normal(size=(40, 3))
    model = NTKRegressor(n_steps=7).fit(X, y)
    mean, std = model.predict(X_test, return_std=True)
    from sklearn import config_context

    with config_context(working_memory=0.01):  # about 6 rows per chunk
        mean_c, std_c = model.predict(X_test, return_std=True)
    assert_allclose(mean_c, mean, rtol=1e-12)
    assert_allclose(std_c, std, rtol=1e-12)


def test_float32_stays_float32():
    X, y, _ = _data()
    model = NTKRegressor(n_steps=3).fit(X.astype(np.float32), y.astype(np.float32))
    pred = model.predict(X.astype(np.float32))
    assert pred.dtype == np.float32
    assert_allclose(pred, NTKRegressor(n_steps=3).fit(X, y).predict(X), rtol=1e-4, atol=1e-5)


# --- the finite network ----------------------------------------------------------------


def test_width_uses_the_empirical_ntk_of_the_same_network():
    X, y, _ = _data(n=10)
    model = NTKRegressor(normalize_y=False, finite_width=64, random_state=3, n_steps=4).fit(X, y)
    net = GDNetworkRegressor(width=64, random_state=3, max_iter=0).fit(X, y)
    for g, value in net.params_.items():
        assert_allclose(model.network_params_[g], value)
    spec = NetworkSpec(n_features=3, n_outputs=1, width=64, depth=2)
    T = empirical_ntk(model.network_params_, spec, X)
    expected = _linearized_gd(T, T, y, np.ones(10), model.learning_rate_, 4)
    assert_allclose(model.predict(X), expected[:, 0], rtol=1e-9)


def test_wide_gd_networks_approach_the_kernel_prediction():
    # THE central check. k GD steps of size eta on networks of growing width,
    # against NTKRegressor(n_steps=k, learning_rate=eta). f_0 is random, so each
    # network's own initial output is removed in the linearized way,
    # f_k(x) - f_0(x) + T(x, X) M f_0(X), which has mean T(x, X) M y for any width;
    # the remaining gap (kernel fluctuations, nonlinearity) shrinks with the width.
    X, y, rng = _data(n=20)
    X_test = rng.normal(size=(8, 3))
    X_test *= np.sqrt(3) / np.linalg.norm(X_test, axis=1, keepdims=True)
    k_steps = 30
    kernel_model = NTKRegressor(depth=2, n_steps=k_steps).fit(X, y)
    eta = kernel_model.learning_rate_
    target = kernel_model.predict(X_test)
    T_test, T_train = NTK()(X_test, X), NTK()(X)
    # M = V diag((1 - (1 - eta lambda / N)^k) / lambda) V^T, written out here
    lam, V = np.linalg.eigh(T_train)
    M = V @ np.diag((1 - (1 - eta * lam / 20) ** k_steps) / lam) @ V.T
    gaps = []
    widths = (64, 256, 1024)
    for width in widths:
        diffs = []
        for seed in range(4):
            params = dict(
                width=width, depth=2, learning_rate=eta, normalize_y=False, random_state=seed
            )
            net = GDNetworkRegressor(max_iter=k_steps, **params).fit(X, y)
            init = GDNetworkRegressor(max_iter=0, **params).fit(X, y)
            f0_test, f0_train = init.predict(X_test), init.predict(X)
            centered = net.predict(X_test) - f0_test + T_test @ M @ f0_train
            diffs.append(centered - target)
        gaps.append(np.sqrt(np.mean(np.square(diffs))))
    print("central check: RMS gap by width", {w: round(float(g), 5) for w, g in zip(widths, gaps)})
    assert T_train.shape == (20, 20)
    assert gaps[0] > gaps[1] > gaps[2], gaps
    assert gaps[2] < 0.6 * gaps[0], gaps  # ~ width^-1/2 would give 0.25
    assert gaps[2] < 0.05 * np.abs(target).max(), gaps
