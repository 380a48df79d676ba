"""The solvers of NTKRegressor against the exact ones and against dense formulas.

Independent references: the linearized dynamics iterated step by step, the
Nystroem approximation and its spectral solution written with numpy in the
test, KernelRidge, finite differences of the network output, Monte Carlo over
draws, and memory measured with tracemalloc.
"""

import pickle
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from scipy.linalg import LinAlgWarning
from sklearn import config_context
from sklearn.kernel_ridge import KernelRidge
from threadpoolctl import threadpool_limits

from sklearn_gdnet import NNGP, NTK, DivergenceWarning, GDNetworkRegressor, NTKRegressor, _threads
from sklearn_gdnet import _memory as memory_module
from sklearn_gdnet import _ntk_solvers as solvers
from sklearn_gdnet._network import NetworkSpec, empirical_ntk, forward, init_params
from sklearn_gdnet.kernels import _Recursion


def _data(n=40, d=3, k=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = np.column_stack([np.sin(2 * X[:, 0]), X[:, 1] * X[:, 2]])
    y = Y[:, 0] if k is None else Y[:, :k]
    return X, y, rng


def _spectral_reference(T, T_test, Y, w, g):
    """``T(x, X) W^1/2 V g(lambda) V^T W^1/2 Y`` with weights of mean one."""
    w = w / w.mean()
    sw = np.sqrt(w)
    lam, V = np.linalg.eigh(sw[:, None] * T * sw)
    M = (sw[:, None] * V) @ np.diag(g(lam)) @ (sw[:, None] * V).T
    return T_test @ M @ Y, M


def _iterate(T, T_test, Y, w, eta, n_steps, alpha=0.0):
    """Dual iteration c <- c - eta/N (W (T c - y) + alpha c), N = k sum(w).

    Gradient descent on ``(sum_i w_i ||f(x_i) - y_i||^2 + alpha ||theta -
    theta_0||^2) / (2N)`` of the linearized network, with ``theta - theta_0 =
    J^T c``.
    """
    Y = Y.reshape(len(Y), -1)
    n_eff = Y.shape[1] * w.sum()
    c = np.zeros_like(Y)
    for _ in range(n_steps):
        c -= (eta / n_eff) * (w[:, None] * (T @ c - Y) + alpha * c)
    return T_test @ c


# --- exact at M = n ------------------------------------------------------------------


CONFIGS = [
    dict(n_steps=25),
    dict(n_steps=25, dynamics="flow"),
    dict(n_steps=25, alpha=0.05),
    dict(alpha=0.05),
    dict(),
]


@pytest.mark.parametrize("config", CONFIGS, ids=repr)
def test_nystroem_with_every_point_a_center_equals_the_exact_solver(config):
    X, y, rng = _data(k=2)
    w = rng.uniform(0.3, 2.0, size=len(X))
    X_test = rng.normal(size=(7, 3))
    exact = NTKRegressor(solver="eigh", **config).fit(X, y, sample_weight=w)
    low = NTKRegressor(solver="nystroem", n_components=len(X), **config)
    low.fit(X, y, sample_weight=w)
    assert low.n_components_ == len(X)
    mean_e, std_e = exact.predict(X_test, return_std=True)
    mean_l, std_l = low.predict(X_test, return_std=True)
    assert_allclose(mean_l, mean_e, rtol=1e-6, atol=1e-7 * np.abs(mean_e).max())
    assert_allclose(std_l, std_e, rtol=1e-6, atol=1e-7 * std_e.max())
    cov_e = exact.predict(X_test, return_cov=True)[1]
    cov_l = low.predict(X_test, return_cov=True)[1]
    assert_allclose(cov_l, cov_e, atol=1e-7 * np.abs(cov_e).max())
    if "n_steps" not in config:
        cholesky = NTKRegressor(solver="cholesky", **config).fit(X, y, sample_weight=w)
        assert cholesky.solver_ == "cholesky"
        assert_allclose(mean_l, cholesky.predict(X_test), rtol=1e-6, atol=1e-7)


def _sphere(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, np.sin(3 * X[:, 0]) * X[:, 1] + 0.1 * rng.normal(size=n), rng


@pytest.mark.parametrize(
    "config, exact_solver",
    [
        (dict(alpha=1e-3), "cholesky"),
        (dict(n_steps=100), "eigh"),
        (dict(n_steps=100, dynamics="flow"), "eigh"),
    ],
    ids=["ridge", "gd", "flow"],
)
def test_nystroem_with_every_point_a_center_is_exact_to_rounding(config, exact_solver):
    """Issue 14's accuracy target, at a size a test can afford, 100x tighter.

    Dense points on the sphere: the centers' NNGP has a condition number of
    about 1e11 here (1e12 and beyond at a few thousand points), and the
    converged ridge's standard deviation is about 1e-3 of the prior's, so the
    variance is a difference of nearly equal terms. Before the fix the mean
    was off by 1e-8 (the kernel between a point and itself through the angle)
    and the std by 1e-7 (the centers' NNGP truncated at m eps).
    """
    X, y, rng = _sphere(300)
    X_test = np.vstack([_sphere(200, seed=1)[0], X[:20]])  # new points and training points
    exact = NTKRegressor(solver=exact_solver, **config).fit(X, y)
    low = NTKRegressor(solver="nystroem", n_components=len(X), **config).fit(X, y)
    mean_e, std_e = exact.predict(X_test, return_std=True)
    mean_l, std_l = low.predict(X_test, return_std=True)
    assert np.max(np.abs(mean_l - mean_e)) <= 1e-9 * np.max(np.abs(mean_e))
    assert np.max(np.abs(std_l - std_e)) <= 1e-8 * np.max(std_e)
    cov_e = exact.predict(X_test[:50], return_cov=True)[1]
    cov_l = low.predict(X_test[:50], return_cov=True)[1]
    assert np.max(np.abs(cov_l - cov_e)) <= 1e-8 * np.max(np.abs(cov_e))


def test_eigh_matches_the_iterated_dynamics_with_a_ridge_at_finite_time():
    X, y, rng = _data()
    w = rng.uniform(0.3, 2.0, size=len(X))
    X_test = rng.normal(size=(5, 3))
    T, T_test = NTK()(X), NTK()(X_test, X)
    model = NTKRegressor(normalize_y=False, solver="eigh", n_steps=60, learning_rate=2.0, alpha=0.3)
    model.fit(X, y, sample_weight=w)
    expected = _iterate(T, T_test, y, w, 2.0, 60, alpha=0.3)[:, 0]
    assert_allclose(model.predict(X_test), expected, rtol=1e-9)
    # long training with a ridge reaches kernel ridge with the same weights
    late = NTKRegressor(normalize_y=False, solver="eigh", n_steps=10**9, alpha=0.3).fit(
        X, y, sample_weight=w
    )
    ridge = KernelRidge(kernel="precomputed", alpha=0.3).fit(T, y, sample_weight=w)
    assert_allclose(late.predict(X_test), ridge.predict(T_test), rtol=1e-8)


# --- the Nystroem approximation, written out -----------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=repr)
def test_nystroem_is_exact_for_the_approximated_kernel(config):
    X, y, rng = _data(n=60)
    w = rng.uniform(0.3, 2.0, size=len(X))
    X_test = rng.normal(size=(6, 3))
    model = NTKRegressor(
        normalize_y=False, solver="nystroem", n_components=15, random_state=0, **config
    )
    model.fit(X, y, sample_weight=w)
    idx = model.component_indices_
    assert idx.shape == (15,) and np.all(np.diff(idx) > 0)
    # T~ = T(X, C) T(C, C)^-1 T(C, X), by numpy
    C = X[idx]
    ntk, nngp = NTK(), NNGP()
    T_xc, T_cc, T_tc = ntk(X, C), ntk(C), ntk(X_test, C)
    T_approx = T_xc @ np.linalg.solve(T_cc, T_xc.T)
    T_test_approx = T_tc @ np.linalg.solve(T_cc, T_xc.T)
    eta, n_eff = model.learning_rate_, len(X)
    alpha = config.get("alpha", 0.0) / w.mean()
    k = config.get("n_steps")

    def g(lam):
        lam = np.maximum(lam, 0)
        mu = lam + alpha
        if k is None:
            cut = 60 * np.finfo(float).eps * lam.max()
            return np.where((mu > 0) & ((lam > cut) | (alpha > 0)), 1 / np.where(mu > 0, mu, 1), 0)
        if config.get("dynamics") == "flow":
            out = -np.expm1(-eta * k * mu / n_eff) / np.where(mu > 0, mu, 1)
        else:
            out = (1 - (1 - eta * mu / n_eff) ** k) / np.where(mu > 0, mu, 1)
        # directions the approximation does not have contribute nothing
        return np.where(lam > 1e-10 * lam.max(), out, 0.0)

    expected, Mt = _spectral_reference(T_approx, T_test_approx, y, w, g)
    assert_allclose(model.predict(X_test), expected, rtol=1e-7, atol=1e-9)
    # the variance: NNGP approximated on the same centers, exact K(x, x)
    K_xc, K_cc, K_tc = nngp(X, C), nngp(C), nngp(X_test, C)
    K_approx = K_xc @ np.linalg.solve(K_cc, K_xc.T)
    K_test_train = K_tc @ np.linalg.solve(K_cc, K_xc.T)
    A = T_test_approx @ Mt
    var = nngp.diag(X_test) - 2 * np.sum(A * K_test_train, 1) + np.sum((A @ K_approx) * A, 1)
    std = model.predict(X_test, return_std=True)[1]
    assert_allclose(std, np.sqrt(var), rtol=1e-6, atol=1e-8)


def test_nystroem_error_falls_with_the_number_of_centers():
    X, y, rng = _data(n=300)
    X_test = rng.normal(size=(50, 3))
    exact = NTKRegressor(n_steps=50, solver="eigh").fit(X, y).predict(X_test)
    errors = [
        np.abs(
            NTKRegressor(n_steps=50, solver="nystroem", n_components=m, random_state=0)
            .fit(X, y)
            .predict(X_test)
            - exact
        ).max()
        for m in (10, 40, 160, 300)
    ]
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[3] < 1e-8


def test_leverage_scores_follow_their_formula():
    X, y, rng = _data(n=80)
    w = rng.uniform(0.3, 2.0, size=len(X))
    kernels = solvers.FittedKernels.build(
        depth=2,
        activation="relu",
        weight_std=1.0,
        bias_std=0.1,
        groups=("W1", "b1", "W2", "b2", "W3", "b3"),
        finite_width=None,
        n_features=3,
        n_outputs=1,
        random_state=None,
        budget=2**20,
    )
    pilot = np.arange(0, 80, 4)
    scores, ridge = solvers.leverage_scores(kernels, X, w, pilot, budget=4096)
    sw = np.sqrt(w)
    S = sw[:, None] * NTK()(X) * sw
    assert ridge == pytest.approx(np.trace(S) / len(pilot))
    S_pp = S[np.ix_(pilot, pilot)] + ridge * len(pilot) / len(X) * np.eye(len(pilot))
    expected = (np.diag(S) - np.sum(S[:, pilot] * np.linalg.solve(S_pp, S[pilot]).T, 1)) / ridge
    assert_allclose(scores, expected, rtol=1e-6, atol=1e-9)


def test_leverage_centers_prefer_isolated_points():
    # 500 points in a tight cluster and 10 far apart: the isolated points carry
    # most of the leverage and are drawn far more often than uniformly.
    rng = np.random.default_rng(0)
    cluster = np.array([1.0, 0.0, 0.0]) + 1e-3 * rng.normal(size=(500, 3))
    isolated = rng.normal(size=(10, 3))
    X = np.vstack([cluster, isolated])
    y = X[:, 0]
    counts = {"uniform": 0, "leverage": 0}
    for rule in counts:
        for seed in range(5):
            model = NTKRegressor(
                solver="nystroem", n_components=20, centers=rule, random_state=seed, alpha=1e-3
            ).fit(X, y)
            counts[rule] += np.sum(model.component_indices_ >= 500)
    assert counts["leverage"] >= 15 and counts["uniform"] <= 5, counts


def test_centers_are_seeded():
    X, y, _ = _data(n=100)
    for rule in ("uniform", "leverage"):
        a = NTKRegressor(solver="nystroem", n_components=20, centers=rule, random_state=3)
        b = NTKRegressor(solver="nystroem", n_components=20, centers=rule, random_state=3)
        assert_allclose(a.fit(X, y).component_indices_, b.fit(X, y).component_indices_)
        assert_allclose(a.predict(X[:5]), b.predict(X[:5]))


# --- the Jacobian of a finite network ------------------------------------------------


def test_jacobian_features_are_finite_difference_gradients():
    rng = np.random.default_rng(1)
    spec = NetworkSpec(n_features=3, n_outputs=2, width=5, depth=2, activation="tanh")
    params = init_params(spec, 0)
    X = rng.normal(size=(4, 3))
    groups = ("W1", "b2", "W3", "b3")
    net = solvers.FiniteNetwork(params, spec, groups)
    features = solvers.jacobian_features(net, X)
    assert features.shape == (4, net.n_features)
    h = 1e-6
    col = 0
    for j in range(2):
        for g in groups:
            for idx in np.ndindex(params[g].shape):
                plus = {k: v.copy() for k, v in params.items()}
                minus = {k: v.copy() for k, v in params.items()}
                plus[g][idx] += h
                minus[g][idx] -= h
                fd = (forward(plus, spec, X)[:, j] - forward(minus, spec, X)[:, j]) / (2 * h)
                assert_allclose(features[:, col] * np.sqrt(2), fd, rtol=1e-5, atol=1e-8)
                col += 1
    assert_allclose(
        features @ features.T, empirical_ntk(params, spec, X, trainable=groups), rtol=1e-10
    )


@pytest.mark.parametrize("config", CONFIGS, ids=repr)
def test_jacobian_solver_equals_the_empirical_kernel_solver(config):
    X, y, rng = _data(n=60, k=2)
    w = rng.uniform(0.3, 2.0, size=len(X))
    X_test = rng.normal(size=(6, 3))
    params = dict(finite_width=4, depth=1, random_state=2, **config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)  # the Jacobian has rank < n
        exact = NTKRegressor(solver="eigh", **params).fit(X, y, sample_weight=w)
    jac = NTKRegressor(solver="jacobian", **params).fit(X, y, sample_weight=w)
    auto = NTKRegressor(**params).fit(X, y, sample_weight=w)
    assert jac.n_components_ == 2 * (3 * 4 + 4 + 4 * 2 + 2) < len(X)
    assert auto.solver_ == "jacobian"
    mean_e, std_e = exact.predict(X_test, return_std=True)
    mean_j, std_j = jac.predict(X_test, return_std=True)
    assert_allclose(mean_j, mean_e, rtol=1e-8, atol=1e-10)
    assert_allclose(std_j, std_e, rtol=1e-8, atol=1e-10)
    assert_allclose(
        jac.predict(X_test, return_cov=True)[1],
        exact.predict(X_test, return_cov=True)[1],
        atol=1e-9,
    )
    for g in exact.network_params_:
        assert_allclose(jac.network_params_[g], exact.network_params_[g])
    if "n_steps" in config:
        steps = [0, 3, 1000]
        assert_allclose(
            jac.predict_path(X_test, steps),
            exact.predict_path(X_test, steps),
            rtol=1e-8,
            atol=1e-10,
        )


def test_jacobian_solver_needs_a_finite_network():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="finite_width"):
        NTKRegressor(solver="jacobian").fit(X, y)


def test_finite_width_network_is_drawn_as_the_gd_network():
    X, y, _ = _data(n=10)
    model = NTKRegressor(finite_width=16, random_state=5, n_steps=3).fit(X, y)
    net = GDNetworkRegressor(width=16, random_state=5, max_iter=0).fit(X, y)
    for g, value in net.params_.items():
        assert_allclose(model.network_params_[g], value)


# --- tiles, sparse input ------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="eigh", n_steps=10),
        dict(solver="cholesky", alpha=0.1),
        dict(solver="nystroem", n_components=12, n_steps=10, random_state=0),
        dict(solver="jacobian", finite_width=4, depth=1, n_steps=10, random_state=0),
        dict(solver="eigh", finite_width=8, n_steps=10, random_state=0),
        dict(solver="nystroem", finite_width=8, n_components=12, n_steps=10, random_state=0),
        dict(solver="nystroem", n_components=12, centers="leverage", random_state=0),
    ],
    ids=lambda p: p["solver"] + ("-finite" if "finite_width" in p else "") + p.get("centers", ""),
)
def test_tiny_tiles_and_sparse_input_give_the_same_predictions(params):
    X, y, rng = _data(n=50)
    X[np.abs(X) < 0.5] = 0.0
    X_test = rng.normal(size=(23, 3))
    ref = NTKRegressor(**params).fit(X, y)
    mean, std = ref.predict(X_test, return_std=True)
    tiny = NTKRegressor(working_memory=0.002, **params).fit(X, y)  # a few rows per tile
    assert_allclose(tiny.predict(X_test, return_std=True), (mean, std), rtol=1e-9, atol=1e-12)
    with config_context(working_memory=0.002):
        assert_allclose(ref.predict(X_test, return_std=True), (mean, std), rtol=1e-9, atol=1e-12)
    sp = NTKRegressor(**params).fit(sparse.csr_matrix(X), y)
    assert_allclose(
        sp.predict(sparse.csr_matrix(X_test), return_std=True), (mean, std), rtol=1e-9, atol=1e-12
    )
    assert_allclose(sp.predict(X_test), mean, rtol=1e-9, atol=1e-12)


# --- predict_path, covariance, samples ------------------------------------------------


@pytest.mark.parametrize("solver", ["eigh", "nystroem"])
def test_predict_path_equals_separate_fits_and_the_iteration(solver):
    X, y, rng = _data(n=30)
    X_test = rng.normal(size=(4, 3))
    params = dict(solver=solver, n_components=30, learning_rate=1.5)
    model = NTKRegressor(normalize_y=False, n_steps=5, **params).fit(X, y)
    steps = [0, 1, 7, 40, np.inf]
    path = model.predict_path(X_test, steps)
    assert path.shape == (5, 4)
    assert_allclose(path[0], 0.0, atol=1e-14)
    T, T_test = NTK()(X), NTK()(X_test, X)
    for s, row in zip(steps[:-1], path[:-1]):
        assert_allclose(
            row, _iterate(T, T_test, y, np.ones(30), 1.5, s)[:, 0], rtol=1e-7, atol=1e-10
        )
    converged = NTKRegressor(normalize_y=False, **params).fit(X, y).predict(X_test)
    assert_allclose(path[-1], converged, rtol=1e-6)
    mean, std = model.predict_path(X_test, steps[:-1], return_std=True)
    assert_allclose(
        std[3],
        NTKRegressor(normalize_y=False, n_steps=40, **params)
        .fit(X, y)
        .predict(X_test, return_std=True)[1],
        rtol=1e-8,
    )
    flow = NTKRegressor(normalize_y=False, n_steps=5, dynamics="flow", **params).fit(X, y)
    halves = flow.predict_path(X_test, [2.5, 5])
    assert_allclose(halves[1], flow.predict(X_test), rtol=1e-12)


def test_predict_path_validates_its_steps():
    X, y, _ = _data(n=20)
    model = NTKRegressor(n_steps=5).fit(X, y)
    with pytest.raises(ValueError, match="whole numbers"):
        model.predict_path(X, [1.5])
    with pytest.raises(ValueError, match="non-negative"):
        model.predict_path(X, [-1])
    with pytest.raises(ValueError, match="at least one"):
        model.predict_path(X, [])
    with pytest.raises(ValueError, match="cholesky"):
        NTKRegressor().fit(X, y).predict_path(X, [1])
    with pytest.warns(DivergenceWarning):
        unstable = NTKRegressor(n_steps=5, learning_rate=1e4).fit(X, y)
    with pytest.raises(ValueError, match="no converged limit"):
        unstable.predict_path(X, [np.inf])


def test_covariance_diagonal_is_the_variance_and_matches_the_formula():
    X, y, rng = _data(n=25)
    X_test = rng.normal(size=(6, 3))
    model = NTKRegressor(normalize_y=False, n_steps=12, learning_rate=3.0).fit(X, y)
    mean, cov = model.predict(X_test, return_cov=True)
    assert_allclose(np.diag(cov), model.predict(X_test, return_std=True)[1] ** 2, rtol=1e-9)
    T, T_test = NTK()(X), NTK()(X_test, X)
    K = NNGP()
    lam, V = np.linalg.eigh(T)
    M = V @ np.diag((1 - (1 - 3.0 * lam / 25) ** 12) / lam) @ V.T
    A = T_test @ M
    expected = K(X_test) - A @ K(X, X_test) - K(X_test, X) @ A.T + A @ K(X) @ A.T
    assert_allclose(cov, expected, atol=1e-10)
    with pytest.raises(RuntimeError, match="At most one"):
        model.predict(X_test, return_std=True, return_cov=True)


def test_sample_y_draws_from_the_ensemble():
    X, y, rng = _data(n=20, k=2)
    X_test = rng.normal(size=(3, 3))
    model = NTKRegressor(n_steps=10, learning_rate=3.0).fit(X, y)
    mean, cov = model.predict(X_test, return_cov=True)
    draws = model.sample_y(X_test, n_samples=20000, random_state=0)
    assert draws.shape == (3, 2, 20000)
    err = 4 * np.sqrt(np.diag(cov[:, :, 0]) / 20000)
    assert np.all(np.abs(draws.mean(axis=2) - mean) < err[:, None])
    assert_allclose(np.cov(draws[:, 0, :]), cov[:, :, 0], atol=0.03 * np.abs(cov).max())
    assert_allclose(
        model.sample_y(X_test, 2, random_state=1), model.sample_y(X_test, 2, random_state=1)
    )
    one = NTKRegressor(n_steps=10).fit(X, y[:, 0]).sample_y(X_test)
    assert one.shape == (3, 1)


# --- solver choice and memory -------------------------------------------------------


def _scratch():
    return solvers.kernel_scratch_bytes(_Recursion.build(2, "relu", 1.0, 0.1))


def test_auto_picks_exact_then_low_rank(monkeypatch):
    X, y, _ = _data(n=60)
    assert NTKRegressor().fit(X, y).solver_ == "cholesky"
    assert NTKRegressor(n_steps=5).fit(X, y).solver_ == "eigh"
    monkeypatch.setitem(solvers.AUTO_EXACT_MAX_SAMPLES, "eigh", 50)
    low = NTKRegressor(n_steps=5, n_components=20, random_state=0).fit(X, y)
    assert low.solver_ == "nystroem" and low.n_components_ == 20
    # too little memory for the exact solver (2.5 * 60^2 floats = 72 kB) but
    # enough for 4 * 20^2 floats and a tile: the low-rank one
    monkeypatch.setattr(memory_module, "MEMORY_LIMIT", _scratch() + 40_000)
    small = NTKRegressor(n_components=20, random_state=0, working_memory=0.001).fit(X, y)
    assert small.solver_ == "nystroem"


def test_the_guard_names_the_path_that_fits(monkeypatch):
    X, y, _ = _data(n=200)
    # eigh needs 2.5 * 200^2 floats = 800 kB; 50 centers need 80 kB
    monkeypatch.setattr(memory_module, "MEMORY_LIMIT", _scratch() + 300_000)
    with pytest.raises(MemoryError, match=r"solver='eigh'.*GiB.*solver='nystroem' needs .* fits"):
        NTKRegressor(solver="eigh", n_components=50, working_memory=0.01).fit(X, y)
    with pytest.raises(MemoryError, match=r"solver='nystroem' with n_components <= \d+ would"):
        NTKRegressor(solver="nystroem", n_components=200).fit(X, y)
    monkeypatch.setattr(memory_module, "MEMORY_LIMIT", 1000)
    with pytest.raises(MemoryError, match="No solver fits"):
        NTKRegressor().fit(X, y)


def test_a_huge_finite_width_is_refused_before_allocating():
    X, y, _ = _data(n=30)
    for depth in (1, 2):
        with pytest.raises(MemoryError, match="finite_width=1000000000.*finite_width=None"):
            NTKRegressor(finite_width=10**9, depth=depth).fit(X, y)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="cholesky"),
        dict(solver="eigh", n_steps=5),
        dict(solver="eigh", n_steps=5, finite_width=64, random_state=0),
        dict(solver="nystroem", n_components=150, n_steps=5, random_state=0),
        dict(solver="jacobian", finite_width=8, depth=1, n_steps=5, random_state=0),
    ],
    ids=lambda p: p["solver"] + ("-finite" if "finite_width" in p else ""),
)
def test_peak_memory_of_fit_is_within_the_guard(params):
    # numpy reports its allocations to tracemalloc: the traced peak of fit must
    # stay below the estimate the guard checks (with the tile budget it uses).
    X, y, _ = _data(n=600)
    model = NTKRegressor(working_memory=0.5, **params)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    spec = None
    if "finite_width" in params:
        spec = solvers.FittedKernels.network_spec(
            model.depth, "relu", 1.0, 0.1, params["finite_width"], 3, 1
        )
    estimate = solvers.solver_memory(
        params["solver"],
        n=600,
        k=1,
        d=3,
        n_components=model.n_components,
        network_spec=spec,
        groups=tuple(model.network_params_ or ()) or ("W1",),
        budget=int(0.5 * 2**20),
        sparse_X=False,
        scratch=_scratch(),
    )
    assert peak <= estimate, (peak / 2**20, estimate / 2**20)


@pytest.mark.parametrize(
    "params",
    [
        dict(n_steps=5),
        dict(solver="nystroem", n_components=10, n_steps=5, random_state=0),
        dict(solver="jacobian", finite_width=3, depth=1, random_state=0),
        dict(activation="tanh", depth=1),
    ],
    ids=repr,
)
def test_fitted_models_pickle(params):
    X, y, rng = _data(n=30)
    X_test = rng.normal(size=(4, 3))
    model = NTKRegressor(**params).fit(X, y)
    mean, std = model.predict(X_test, return_std=True)
    again = pickle.loads(pickle.dumps(model))
    assert_allclose(again.predict(X_test, return_std=True), (mean, std), rtol=0, atol=0)


@pytest.mark.parametrize("centers", ["uniform", "leverage"])
def test_centers_are_never_points_of_weight_zero(centers):
    # a point of weight zero takes no part in training: a center there is
    # wasted, and with a center at every weighted point the solution is exact
    X, y, rng = _data(n=40)
    w = np.zeros(40)
    w[rng.choice(40, 10, replace=False)] = rng.uniform(0.5, 2.0, size=10)
    X_test = rng.normal(size=(5, 3))
    params = dict(n_steps=20, normalize_y=False, random_state=0, centers=centers)
    low = NTKRegressor(solver="nystroem", n_components=6, **params).fit(X, y, sample_weight=w)
    assert np.all(w[low.component_indices_] > 0) and low.component_indices_.size == 6
    full = NTKRegressor(solver="nystroem", n_components=10, **params).fit(X, y, sample_weight=w)
    assert_array_equal(full.component_indices_, np.flatnonzero(w))
    exact = NTKRegressor(solver="eigh", **params).fit(X, y, sample_weight=w)
    assert_allclose(full.predict(X_test), exact.predict(X_test), rtol=1e-7, atol=1e-9)


# --- row tiles on threads ----------------------------------------------------------------


def test_parallel_tiles_runs_every_tile_once_on_its_slot():
    seen = []
    lock = threading.Lock()

    def work(rows, slot):
        with lock:
            seen.append((rows.start, slot, threading.get_ident()))

    batches = [slice(i, i + 3) for i in range(0, 30, 3)]
    solvers.parallel_tiles(work, batches, 3)
    assert sorted(start for start, _, _ in seen) == list(range(0, 30, 3))
    # slot s takes tiles s, s + 3, ...: the accumulators' sums are reproducible
    assert all(start // 3 % 3 == slot for start, slot, _ in seen)
    assert {ident for start, slot, ident in seen if slot == 0} == {threading.get_ident()}


def test_parallel_tiles_raises_a_helpers_error_after_the_others_stop():
    done = []

    def work(rows, slot):
        if slot == 1:
            raise ValueError("tile failed")
        time.sleep(0.001)
        done.append(rows.start)

    with pytest.raises(ValueError, match="tile failed"):
        solvers.parallel_tiles(work, [slice(i, i + 1) for i in range(40)], 2)
    assert len(done) < 20  # slot 0 stopped early, it did not run all its tiles


def test_an_interrupt_while_waiting_for_the_tile_threads_stops_them_first():
    # SIGINT while the caller waits for the other threads: they are told to stop
    # after their current tile (not left computing all their tiles in the
    # background), every one is waited for, and then the interrupt is raised.
    stop = []

    class Thread:
        def __init__(self, interrupts):
            self.interrupts, self.stopped = interrupts, None

        def result(self):
            if self.interrupts:
                self.interrupts -= 1
                raise KeyboardInterrupt  # arrives while waiting: not done yet
            self.stopped = bool(stop)  # what the thread saw when it finished

        def done(self):
            return self.stopped is not None

    def wait(threads, stop):  # as parallel_tiles waits for its threads
        _threads._wait_for(threads, on_interrupt=lambda: stop.append(True))

    threads = [Thread(1), Thread(0)]
    with pytest.raises(KeyboardInterrupt):
        wait(threads, stop)
    assert stop and all(t.stopped for t in threads)
    assert wait([Thread(0)], []) is None


def test_parallel_tiles_passes_a_callback_that_stops_its_threads(monkeypatch):
    # what parallel_tiles hands to the wait as on_interrupt tells its threads to
    # stop after their current tile: called as soon as the wait starts here,
    # slot 1 runs far fewer than its 20 tiles
    done = []
    real = _threads._wait_for

    def interrupted_wait(futures, on_interrupt=None):
        on_interrupt()
        return real(futures)

    def work(rows, slot):
        if slot == 1:
            time.sleep(0.01)
            done.append(rows.start)

    monkeypatch.setattr(_threads, "_wait_for", interrupted_wait)
    solvers.parallel_tiles(work, [slice(i, i + 1) for i in range(40)], 2)
    assert len(done) < 10


def test_tiles_on_threads_give_reproducible_bits_and_the_serial_values(monkeypatch):
    X, y, rng = _data(n=300, k=2)
    X_test = rng.normal(size=(50, 3))
    monkeypatch.setattr(solvers, "MAX_TILE_ROWS", 32)  # ten tiles of training rows
    monkeypatch.setattr(_threads, "_cpu_count", lambda: 2)
    params = dict(solver="nystroem", n_components=60, n_steps=30, random_state=0)
    runs = {}
    for limit in (1, 2, 2):
        with threadpool_limits(limit):
            model = NTKRegressor(**params).fit(X, y)
            runs.setdefault(limit, []).append(model.predict(X_test, return_std=True))
    (m1, s1), ((m2, s2), (m2b, s2b)) = runs[1][0], runs[2]
    assert_array_equal(m2, m2b)
    assert_array_equal(s2, s2b)
    assert_allclose(m2, m1, rtol=1e-11, atol=1e-13)
    assert_allclose(s2, s1, rtol=1e-9, atol=1e-13)
