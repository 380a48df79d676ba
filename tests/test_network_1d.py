"""The exact core for one input feature against independent references.

Three references that share no code with `_network_1d`: a direct evaluation
of ``f(x) = sum_r alpha_r phi(u_r x + v_r) + c`` and of its chain-rule
gradients in plain loops over units and samples (with ``phi'(0) = 0``, the
dense core's convention), central finite differences of the loss, and the
dense core (`_network`, forced through the private switch) on randomized
networks with ties between knots and samples, knots outside the data, zero
inner weights, several outputs, sample weights and both parametrizations;
then whole fits with every solver and every trained subset, fast against
dense.
"""

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone

from sklearn_gdnet import DivergenceWarning, GDNetworkRegressor
from sklearn_gdnet import _network as dense
from sklearn_gdnet import _network_1d as fast
from sklearn_gdnet._network import NetworkSpec, group_names, init_params, max_ntk_eigenvalue

GROUPS = group_names(1)
SUBSETS = [s for r in range(1, 5) for s in itertools.combinations(GROUPS, r)]


@pytest.fixture(autouse=True)
def force_dense(monkeypatch):
    """``force_dense(True)`` chooses the dense core, ``False`` (the default) the 1-d one."""

    def force(on=True):
        monkeypatch.setattr(fast, "FORCE", "dense" if on else "1d")

    force(False)  # the 1-d core whatever the width
    return force


def multipliers(spec):
    if spec.parametrization == "ntk":
        return (
            spec.weight_std,
            spec.bias_std,
            spec.weight_std / math.sqrt(spec.width),
            spec.bias_std,
        )
    return 1.0, 1.0, 1.0, 1.0


def direct(params, spec, x):
    """Outputs and per-sample derivatives, unit by unit in plain Python floats.

    Returns ``f`` of shape ``(n, k)`` and, for each sample, the derivatives of
    each output with respect to every parameter entry.
    """
    a1, c1, a2, c2 = multipliers(spec)
    relu = spec.activation == "relu"
    n, k, m = len(x), spec.n_outputs, spec.width
    f = np.zeros((n, k))
    d = {g: np.zeros((n, k) + params[g].shape) for g in GROUPS}
    for i in range(n):
        xi = float(x[i])
        for r in range(m):
            w, b = float(params["W1"][0, r]), float(params["b1"][r])
            z = a1 * w * xi + c1 * b
            on = (z > 0) if relu else True
            h = z if on else 0.0
            for j in range(k):
                alpha = a2 * float(params["W2"][r, j])
                f[i, j] += alpha * h
                d["W2"][i, j, r, j] = a2 * h
                if on:
                    d["W1"][i, j, 0, r] = alpha * a1 * xi
                    d["b1"][i, j, r] = alpha * c1
        for j in range(k):
            f[i, j] += c2 * float(params["b2"][j])
            d["b2"][i, j, j] = c2
    return f, d


def direct_loss(params, spec, x, Y, w):
    f, _ = direct(params, spec, x)
    return 0.5 * float(np.sum(w[:, None] * (f - Y) ** 2)) / Y.size


def direct_gradient(params, spec, x, Y, w):
    f, d = direct(params, spec, x)
    e = w[:, None] * (f - Y) / Y.size
    return {g: np.einsum("ij,ij...->...", e, d[g]) for g in GROUPS}


def fast_gradient(params, spec, X, Y, w, groups=GROUPS, core=fast):
    ws = core.Workspace(spec, X, params["W1"].dtype)
    out = core.forward(params, spec, X, ws).copy()
    e = w[:, None] * (out - Y) / Y.size
    core.backward(params, spec, ws, e.astype(out.dtype))
    grads = core.gradients(spec, ws, groups, {g: np.empty_like(params[g]) for g in groups})
    return out, grads


def random_case(seed, ties=True):
    """A random network on one feature, with the edge cases the core must handle.

    With ``ties`` the multipliers are one and samples and weights dyadic, so
    that some knots sit exactly on samples (``u x + v = 0`` exactly).
    """
    rng = np.random.default_rng(seed)
    k, m, n = int(rng.integers(1, 4)), int(rng.integers(1, 30)), int(rng.integers(1, 40))
    activation = "relu" if rng.random() < 0.8 else "identity"
    if ties:
        spec = NetworkSpec(1, k, m, 1, activation, 1.0, 1.0, rng.choice(["ntk", "standard"]))
        x = rng.integers(-16, 17, n) / 8.0
        params = {
            "W1": rng.choice([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], (1, m)),
            "b1": rng.integers(-24, 25, m) / 8.0,
            "W2": rng.standard_normal((m, k)),
            "b2": rng.standard_normal(k),
        }
        # knots exactly on samples (u x + v = 0 in exact arithmetic)
        on = rng.random(m) < 0.4
        params["b1"][on] = -params["W1"][0, on] * rng.choice(x, on.sum())
    else:
        spec = NetworkSpec(
            1,
            k,
            m,
            1,
            activation,
            float(rng.uniform(0.3, 2.0)),
            float(rng.uniform(0.0, 2.0)),
            rng.choice(["ntk", "standard"]),
        )
        params = init_params(spec, seed)
        x = rng.uniform(-1.0, 1.0, n)
        params["W1"][0, rng.random(m) < 0.15] = 0.0  # constant units
        params["b1"][rng.random(m) < 0.15] *= 50.0  # knots far outside the data
    if rng.random() < 0.3:
        x[rng.random(n) < 0.5] = x[0]  # repeated samples
    Y = rng.standard_normal((n, k))
    w = rng.uniform(0.0, 3.0, n)
    w *= n / w.sum()
    return spec, params, x[:, None], Y, w


def test_core_is_chosen_from_the_specification(force_dense, monkeypatch):
    monkeypatch.setattr(fast, "FORCE", None)
    assert NetworkSpec(1, 1, fast.MIN_WIDTH, 1, "relu").core is fast
    assert NetworkSpec(1, 1, fast.MIN_WIDTH - 1, 1, "relu").core is dense
    force_dense(False)
    assert NetworkSpec(1, 1, 5, 1, "relu").core is fast
    assert NetworkSpec(1, 3, 5, 1, "identity", parametrization="standard").core is fast
    assert NetworkSpec(2, 1, 5, 1, "relu").core is dense
    assert NetworkSpec(1, 1, 5, 2, "relu").core is dense
    assert NetworkSpec(1, 1, 5, 1, "tanh").core is dense
    force_dense()
    assert NetworkSpec(1, 1, 5, 1, "relu").core is dense


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("ties", [True, False])
def test_forward_and_gradients_match_the_direct_formula(seed, ties):
    spec, params, X, Y, w = random_case(seed, ties)
    f_ref, _ = direct(params, spec, X[:, 0])
    g_ref = direct_gradient(params, spec, X[:, 0], Y, w)
    f, g = fast_gradient(params, spec, X, Y, w)
    assert spec.core is fast
    np.testing.assert_allclose(f, f_ref, rtol=1e-12, atol=1e-12)
    for name in GROUPS:
        np.testing.assert_allclose(g[name], g_ref[name], rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("seed", range(15))
def test_gradients_match_finite_differences(seed):
    spec, params, X, Y, w = random_case(seed, ties=False)
    _, g = fast_gradient(params, spec, X, Y, w)
    h = 1e-6
    a1, c1, _, _ = multipliers(spec)
    z = a1 * params["W1"][0] * X + c1 * params["b1"]
    if spec.activation == "relu" and np.abs(z).min() < 1e-3:
        pytest.skip("a sample too near a knot for a central difference")
    for name in GROUPS:
        fd = np.zeros_like(params[name])
        for idx in np.ndindex(params[name].shape):
            plus = {q: p.copy() for q, p in params.items()}
            minus = {q: p.copy() for q, p in params.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            fd[idx] = (
                direct_loss(plus, spec, X[:, 0], Y, w) - direct_loss(minus, spec, X[:, 0], Y, w)
            ) / (2 * h)
        np.testing.assert_allclose(g[name], fd, rtol=1e-5, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("ties", [True, False])
def test_passes_match_the_dense_core(seed, ties, force_dense):
    spec, params, X, Y, w = random_case(seed, ties)
    f, g = fast_gradient(params, spec, X, Y, w)
    f0, g0 = fast_gradient(params, spec, X, Y, w, core=dense)
    np.testing.assert_allclose(f, f0, rtol=1e-12, atol=1e-12)
    for name in GROUPS:
        np.testing.assert_allclose(g[name], g0[name], rtol=1e-10, atol=1e-12, err_msg=name)
    rng = np.random.default_rng(seed)
    tangent = {q: rng.standard_normal(p.shape) for q, p in params.items()}
    ws, ws0 = fast.Workspace(spec, X, np.float64), dense.Workspace(spec, X, np.float64)
    fast.forward(params, spec, X, ws)
    dense.forward(params, spec, X, ws0)
    np.testing.assert_allclose(
        fast.jvp(params, spec, ws, tangent),
        dense.jvp(params, spec, ws0, tangent),
        rtol=1e-10,
        atol=1e-12,
    )
    lam = max_ntk_eigenvalue(params, spec, X, w)
    force_dense()
    np.testing.assert_allclose(
        lam, max_ntk_eigenvalue(params, spec.__class__(**_fields(spec)), X, w), rtol=1e-6
    )


def _fields(spec):
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}


def test_float32_matches_the_dense_core():
    spec, params, X, Y, w = random_case(3, ties=False)
    p32 = {g: a.astype(np.float32) for g, a in params.items()}
    f, g = fast_gradient(p32, spec, X.astype(np.float32), Y, w)
    f0, g0 = fast_gradient(p32, spec, X.astype(np.float32), Y, w, core=dense)
    assert f.dtype == np.float32 and g["b1"].dtype == np.float32
    np.testing.assert_allclose(f, f0, rtol=1e-5, atol=1e-5)
    for name in GROUPS:
        np.testing.assert_allclose(g[name], g0[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_empty_and_single_sample():
    spec, params, _, _, _ = random_case(1, ties=False)
    for n in (1, 0):
        X, Y, w = np.full((n, 1), 0.25), np.ones((n, spec.n_outputs)), np.ones(n)
        f, g = fast_gradient(params, spec, X, Y, w)
        f_ref, _ = direct(params, spec, X[:, 0])
        np.testing.assert_allclose(f, f_ref, rtol=1e-12, atol=1e-12)
        if n:
            for name, ref in direct_gradient(params, spec, X[:, 0], Y, w).items():
                np.testing.assert_allclose(g[name], ref, rtol=1e-10, atol=1e-12)


def test_non_finite_parameters_give_non_finite_outputs():
    spec, params, X, _, _ = random_case(2, ties=False)
    params["W1"][0, 0] = np.nan
    assert np.isnan(fast.forward(params, spec, X)).all()


def _fit(force_dense, dense_core, **kwargs):
    force_dense(dense_core)
    rng = np.random.default_rng(0)
    X = np.sort(rng.uniform(-1, 1, 40))[:, None]
    X[5] = X[6]
    Y = np.column_stack([np.abs(X[:, 0]) ** 0.5, np.sin(3 * X[:, 0])])
    sample_weight = rng.uniform(0.2, 2.0, 40)
    params = dict(width=12, depth=1, random_state=3, max_iter=30)
    params.update(kwargs)
    est = GDNetworkRegressor(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, Y, sample_weight=sample_weight)
    return est, est.predict(X)


def _assert_same_fit(a, b, rtol=1e-9):
    (est, pred), (est0, pred0) = a, b
    assert est.n_iter_ == est0.n_iter_
    np.testing.assert_allclose(est.loss_curve_, est0.loss_curve_, rtol=rtol, atol=1e-14)
    for g in GROUPS:
        np.testing.assert_allclose(est.params_[g], est0.params_[g], rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(pred, pred0, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("trainable", SUBSETS)
def test_fit_matches_the_dense_core_for_every_trained_subset(trainable, force_dense):
    kwargs = dict(trainable=list(trainable), learning_rate="auto")
    _assert_same_fit(_fit(force_dense, False, **kwargs), _fit(force_dense, True, **kwargs))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(solver="gd", momentum=0.9, learning_rate=0.05),
        dict(solver="adam", learning_rate=0.01, parametrization="standard"),
        dict(solver="lbfgs", max_iter=15),
        dict(activation="identity", solver="gd"),
        dict(init="breakpoint", trainable="hidden_biases", solver="adam", bias_std=1.0),
        dict(solver="gd", normalize_y=False, weight_std=2.0, bias_std=0.5),
    ],
)
def test_fit_matches_the_dense_core_for_every_solver(kwargs, force_dense):
    rtol = 1e-6 if kwargs.get("solver") == "lbfgs" else 1e-9
    _assert_same_fit(_fit(force_dense, False, **kwargs), _fit(force_dense, True, **kwargs), rtol)


def test_inner_weights_change_sign_during_training(force_dense):
    kwargs = dict(solver="gd", learning_rate=2.0, weight_std=0.3, max_iter=60, trainable="all")
    a, b = _fit(force_dense, False, **kwargs), _fit(force_dense, True, **kwargs)
    start = np.sign(init_params(a[0]._spec(), 3)["W1"])
    assert (np.sign(a[0].params_["W1"]) != start).any()
    _assert_same_fit(a, b)


def test_the_fast_core_serves_fit_predict_and_the_automatic_step(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the dense core was used")

    for name in ("Workspace", "forward", "backward", "gradients", "jvp"):
        monkeypatch.setattr(dense, name, refuse)
    X = np.linspace(-1, 1, 30)[:, None]
    y = np.abs(X[:, 0])
    for solver in ("gd", "adam", "lbfgs"):
        est = GDNetworkRegressor(width=8, depth=1, solver=solver, max_iter=5, random_state=0)
        est.fit(X, y)
        f_ref, _ = direct(est.params_, est._spec(), X[:, 0])
        y_std, y_mean = est._y_std, est._y_mean
        np.testing.assert_allclose(est.predict(X), f_ref[:, 0] * y_std + y_mean, rtol=1e-12)
    est.fit(sparse.csr_matrix(X), y)


def test_divergence_is_detected_as_on_the_dense_core(force_dense):
    kwargs = dict(solver="gd", learning_rate=1e3, max_iter=50, trainable="all")
    runs = []
    for on in (False, True):
        force_dense(on)
        est = GDNetworkRegressor(width=12, depth=1, random_state=0, **kwargs)
        with pytest.warns(DivergenceWarning):
            est.fit(np.linspace(-1, 1, 20)[:, None], np.linspace(-1, 1, 20) ** 2)
        runs.append(est)
    assert runs[0].n_iter_ == runs[1].n_iter_
    for g in GROUPS:
        np.testing.assert_allclose(runs[0].params_[g], runs[1].params_[g], rtol=1e-9)


@pytest.mark.parametrize("seed", range(10))
def test_a_reused_workspace_follows_moving_knots(seed):
    """Boundaries carried from pass to pass, through small and large moves."""
    spec, params, X, Y, w = random_case(seed, ties=seed % 2 == 0)
    rng = np.random.default_rng(seed)
    ws = fast.Workspace(spec, X, np.float64)
    for move in [0.0, 1e-3, 0.3, 5.0, 1e-3, 0.0]:
        params = {g: p.copy() for g, p in params.items()}
        params["b1"] += move * rng.standard_normal(params["b1"].shape)
        flip = rng.random(spec.width) < 0.2 * (move > 0.1)
        params["W1"][0, flip] *= -1.0  # inner weights change sign
        f = fast.forward(params, spec, X, ws).copy()
        f_ref, _ = direct(params, spec, X[:, 0])
        np.testing.assert_allclose(f, f_ref, rtol=1e-12, atol=1e-12)
        e = w[:, None] * (f - Y) / Y.size
        fast.backward(params, spec, ws, e)
        g = fast.gradients(spec, ws, GROUPS, {q: np.empty_like(params[q]) for q in GROUPS})
        for name, ref in direct_gradient(params, spec, X[:, 0], Y, w).items():
            np.testing.assert_allclose(g[name], ref, rtol=1e-10, atol=1e-12, err_msg=name)


def test_memory_check_counts_the_1d_workspace(monkeypatch, force_dense):
    from sklearn_gdnet import _memory

    monkeypatch.setattr(_memory, "MEMORY_LIMIT", 40 * 2**20)
    X = np.linspace(-1, 1, 20_000)[:, None]
    est = GDNetworkRegressor(width=512, depth=1, solver="adam", max_iter=2, random_state=0)
    est.fit(X, np.abs(X[:, 0]))  # O(n + m) memory: fits the limit
    assert est.predict(X).shape == (20_000,)
    force_dense()
    with pytest.raises(MemoryError):  # the dense passes need O(n m)
        clone(est).fit(X, np.abs(X[:, 0]))


def test_partial_fit_and_warm_start_match_the_dense_core(force_dense):
    X = np.linspace(-1, 1, 30)[:, None]
    y = np.abs(X[:, 0]) ** 0.5
    runs = []
    for on in (False, True):
        force_dense(on)
        est = GDNetworkRegressor(width=9, depth=1, solver="adam", learning_rate=1e-2)
        est.set_params(random_state=0, max_iter=7, warm_start=True)
        est.fit(X, y)
        for _ in range(3):
            est.partial_fit(X, y)
        est.set_params(learning_rate=3e-3).fit(X, y)
        runs.append((est, est.predict(X)))
    _assert_same_fit(*runs)


def test_a_specification_pickles_after_choosing_its_core():
    import pickle

    spec = NetworkSpec(1, 1, 5, 1, "relu")
    assert spec.core is fast
    copy = pickle.loads(pickle.dumps(spec))
    assert copy == spec and copy.core is fast
