"""The C kernels of the 1-d core (`_spline`) against its NumPy passes and the direct formula.

Every pass of `_network_1d` and of the batched loop (`_batched`) is run with
the kernels and with NumPy alone (the private switch ``_network_1d.USE_C``),
on randomized networks with ties between knots and samples, knots outside the
data, zero inner weights, several outputs, repeated samples, float32 and
float64, and several seeds at once. The kernels follow the NumPy operations
one by one, so the two must agree to the last bit (all but the training loss,
a sum of squares that NumPy's einsum adds in an order of its own, where they
agree to rounding: a relative 1e-13); the direct evaluation of
``f(x) = sum_r alpha_r phi(u_r x + v_r) + c`` and its chain-rule gradients
(plain loops, no shared code) checks both.
"""

import os

import numpy as np
import pytest
from test_network_1d import GROUPS, direct, direct_gradient, random_case

from sklearn_gdnet import _batched, _network_1d
from sklearn_gdnet._network import init_params

spline = _network_1d._spline


def test_kernels_are_built_where_required():
    # CI sets this: a build that silently fell back to NumPy must not pass there.
    if os.environ.get("SKLEARN_GDNET_REQUIRE_C") != "1":
        pytest.skip("SKLEARN_GDNET_REQUIRE_C is not set")
    assert spline is not None, "sklearn_gdnet._spline was not built; see setup.py"


needs_kernels = pytest.mark.skipif(spline is None, reason="C kernels not built")


@pytest.fixture
def use_c(monkeypatch):
    """``use_c(True)`` runs the passes with the C kernels, ``use_c(False)`` with NumPy."""

    def switch(on):
        monkeypatch.setattr(_network_1d, "USE_C", on)

    return switch


def passes(params, spec, X, Y, w, tangent=None):
    """Outputs, each unit's boundary and column, gradients of every group, and a JVP."""
    ws = _network_1d.Workspace(spec, X, params["W1"].dtype)
    out = _network_1d.forward(params, spec, X, ws).copy()
    e = (w[:, None] * (out - Y) / Y.size).astype(out.dtype)
    _network_1d.backward(params, spec, ws, e)
    grads = _network_1d.gradients(spec, ws, GROUPS, {g: np.empty_like(params[g]) for g in GROUPS})
    jvp = None if tangent is None else _network_1d.jvp(params, spec, ws, tangent)
    return out, ws, grads, jvp


def assert_same_passes(a, b):
    out, ws, grads, jvp = a
    out0, ws0, grads0, jvp0 = b
    np.testing.assert_array_equal(out, out0)
    np.testing.assert_array_equal(ws.col, ws0.col)
    assert ws.any_neg == ws0.any_neg
    np.testing.assert_array_equal(ws.G, ws0.G)
    np.testing.assert_array_equal(ws.T0, ws0.T0)
    for g in GROUPS:
        np.testing.assert_array_equal(grads[g], grads0[g], err_msg=g)
    if jvp is not None:
        np.testing.assert_array_equal(jvp, jvp0)


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("ties", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@needs_kernels
def test_passes_equal_numpy_and_the_direct_formula(seed, ties, dtype, use_c):
    spec, params, X, Y, w = random_case(seed, ties)
    params = {g: p.astype(dtype) for g, p in params.items()}
    X = X.astype(dtype)
    rng = np.random.default_rng(seed)
    tangent = {g: rng.standard_normal(p.shape).astype(dtype) for g, p in params.items()}
    use_c(True)
    with_c = passes(params, spec, X, Y, w, tangent)
    use_c(False)
    assert_same_passes(with_c, passes(params, spec, X, Y, w, tangent))
    if dtype == np.float64:
        f_ref, _ = direct(params, spec, X[:, 0])
        np.testing.assert_allclose(with_c[0], f_ref, rtol=1e-12, atol=1e-12)
        g_ref = direct_gradient(params, spec, X[:, 0], Y, w)
        for g in GROUPS:
            np.testing.assert_allclose(with_c[2][g], g_ref[g], rtol=1e-10, atol=1e-12, err_msg=g)


@pytest.mark.parametrize("seed", range(10))
@needs_kernels
def test_boundaries_follow_moving_knots_as_numpy(seed, use_c):
    """A reused workspace: knots move by less than a sample, by a few, far, onto samples."""
    spec, params, X, Y, w = random_case(seed, ties=True)
    rng = np.random.default_rng(seed)
    ws_c = _network_1d.Workspace(spec, X, np.float64)
    ws_np = _network_1d.Workspace(spec, X, np.float64)
    for step in range(12):
        scale = [0.01, 0.3, 3.0][step % 3]
        params["b1"] = params["b1"] + scale * rng.standard_normal(params["b1"].shape)
        if step % 4 == 3:  # knots exactly on samples again, and a sign change
            params["b1"] = -params["W1"][0] * rng.choice(X[:, 0], spec.width)
            params["W1"] = params["W1"] * rng.choice([-1.0, 1.0], params["W1"].shape)
        use_c(True)
        out_c = _network_1d.forward(params, spec, X, ws_c).copy()
        use_c(False)
        out_np = _network_1d.forward(params, spec, X, ws_np).copy()
        np.testing.assert_array_equal(ws_c.s, ws_np.s)
        np.testing.assert_array_equal(out_c, out_np)
        f_ref, _ = direct(params, spec, X[:, 0])
        np.testing.assert_allclose(out_c, f_ref, rtol=1e-12, atol=1e-12)


@needs_kernels
def test_empty_single_sample_and_non_finite(use_c):
    spec, params, _, _, _ = random_case(1, ties=False)
    for n in (0, 1):
        X, Y, w = np.full((n, 1), 0.25), np.ones((n, spec.n_outputs)), np.ones(n)
        use_c(True)
        with_c = passes(params, spec, X, Y, w)
        use_c(False)
        assert_same_passes(with_c, passes(params, spec, X, Y, w))
    X = np.linspace(-1, 1, 9)[:, None]
    for name, value in (("W1", np.nan), ("b1", np.inf), ("W2", np.inf)):
        bad = {g: p.copy() for g, p in params.items()}
        bad[name].flat[0] = value
        use_c(True)
        assert np.isnan(_network_1d.forward(bad, spec, X)).all()


def batch_case(seed, S, dtype=np.float64):
    """``S`` seeds of one random network (of `random_case`), stacked."""
    spec, params, X, Y, w = random_case(seed, ties=seed % 2 == 0)
    rng = np.random.default_rng(seed)
    initials = []
    for s in range(S):
        p = init_params(spec, 100 * seed + s)
        p["W1"][0, rng.random(spec.width) < 0.1] = 0.0  # constant units
        p["b1"][rng.random(spec.width) < 0.2] *= 30.0  # knots outside the data
        if s == 0:
            p = {g: a.copy() for g, a in params.items()}  # ties between knots and samples
        initials.append({g: a.astype(dtype) for g, a in p.items()})
    return spec, X.astype(dtype), Y, w, initials


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@needs_kernels
def test_batched_passes_equal_numpy_and_each_seed_alone(seed, dtype, use_c):
    S = 4
    spec, X, Y, w, initials = batch_case(seed, S, dtype)
    P = {g: np.stack([p[g] for p in initials]) for g in initials[0]}
    results = {}
    for on in (True, False):
        use_c(on)
        batch = _batched._Batch(spec, X, dtype, S)
        f = batch.forward(P)
        rng = np.random.default_rng(seed)
        batch.backward(rng.standard_normal(f.shape))
        results[on] = (f, batch.G, batch.T0, batch.gradients(GROUPS))
    (f, G, T0, grads), (f0, G0, T00, grads0) = results[True], results[False]
    np.testing.assert_array_equal(f, f0)
    np.testing.assert_array_equal(G, G0)
    np.testing.assert_array_equal(T0, T00)
    for g in GROUPS:
        np.testing.assert_array_equal(grads[g], grads0[g], err_msg=g)
    if dtype == np.float64:  # each seed's outputs by the direct formula
        order = np.argsort(X[:, 0], kind="stable")
        for s in range(S):
            f_ref, _ = direct(initials[s], spec, X[:, 0])
            np.testing.assert_allclose(f[s].T, f_ref[order], rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy's sum of inf - inf
@needs_kernels
def test_a_non_finite_seed_leaves_the_others_exact(use_c):
    S = 3
    spec, X, Y, w, initials = batch_case(4, S)
    initials[1]["W2"].flat[0] = np.inf
    P = {g: np.stack([p[g] for p in initials]) for g in initials[0]}
    use_c(True)
    f = _batched._Batch(spec, X, np.float64, S).forward(P)
    use_c(False)
    f0 = _batched._Batch(spec, X, np.float64, S).forward(P)
    np.testing.assert_array_equal(f, f0)
    assert np.isnan(f[1]).all() and np.isfinite(f[[0, 2]]).all()


@pytest.mark.parametrize(
    "solver, momentum", [("adam", 0.0), ("gd", 0.0), ("gd", 0.9)], ids=["adam", "gd", "momentum"]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("groups", [("b1",), GROUPS])
@needs_kernels
def test_batched_training_equals_numpy(solver, momentum, dtype, groups, use_c):
    S, steps = 3, 40
    spec, X, Y, w, initials = batch_case(6, S, dtype)
    lr = np.full((S, steps), 1e-2)
    lr[1, steps // 2 :] = 2e-3  # a step decay on one seed
    runs = {}
    for on in (True, False):
        use_c(on)
        runs[on] = _batched.train_seeds(
            spec,
            X,
            Y,
            w,
            groups,
            initials,
            solver=solver,
            learning_rate=lr,
            momentum=momentum,
            max_iter=steps,
        )
    for a, b in zip(runs[True], runs[False]):
        assert a is not None and b is not None
        # the C loop sums the squared residuals in order, NumPy's einsum in its own
        np.testing.assert_allclose(a.losses, b.losses, rtol=1e-13, atol=0)
        assert a.initial_loss == pytest.approx(b.initial_loss, rel=1e-13, abs=0)
        assert a.output_size == b.output_size
        for g in groups:
            np.testing.assert_array_equal(a.final[g], b.final[g], err_msg=g)
            assert a.final[g].dtype == dtype
        for name, arrays in a.opt_arrays.items():
            for g in groups:
                np.testing.assert_array_equal(arrays[g], b.opt_arrays[name][g])


@needs_kernels
def test_the_switch_turns_the_kernels_off(use_c, monkeypatch):
    calls = []

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(spline, name)

    monkeypatch.setattr(_network_1d, "_spline", Spy())
    spec, params, X, Y, w = random_case(0, ties=False)
    use_c(False)
    passes(params, spec, X, Y, w)
    assert calls == []
    use_c(True)
    passes(params, spec, X, Y, w)
    assert {"forward", "backward"} <= set(calls)


@needs_kernels
def test_kernels_check_their_arguments():
    xp = np.array([-np.inf, 0.0, 1.0, np.inf])
    u, v = np.ones(2), np.zeros(2)
    s, col = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match="share one dtype"):
        spline.boundaries(xp, u.astype(np.float32), v, s, col, True)
    with pytest.raises(TypeError, match="col"):
        spline.boundaries(xp, u, v, s, col.astype(np.int32), True)
    with pytest.raises(ValueError, match="one length"):
        spline.boundaries(xp, u, v[:1], s, col, True)
    xs = xp[1:-1].copy()
    out, finite = np.empty((1, 1, 2)), np.empty(1, dtype=np.int64)
    alpha, b2 = np.ones((1, 1, 2)), np.zeros((1, 1))
    with pytest.raises(ValueError, match="col out of range"):
        spline.forward(u[None], v[None], alpha, np.array([[0, 9]]), xs, b2, False, out, finite)
    with pytest.raises(ValueError, match="col out of range"):  # a column below the knots
        spline.backward(
            np.ones((1, 1, 2)), xs, np.array([[0, 4]]), False, np.empty((1, 2, 2)), np.empty((1, 1))
        )
    with pytest.raises(TypeError):
        spline.forward(u[None], v[None], alpha, col[None], xs, b2, False, out[0], finite)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy's sum of inf - inf
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@needs_kernels
def test_a_seed_that_diverges_after_a_pass_leaves_the_others_exact(value, use_c):
    """Boundaries moved from the last pass, with one seed's parameters no longer finite."""
    S = 3
    spec, X, Y, w, initials = batch_case(8, S)
    P = {g: np.stack([p[g] for p in initials]) for g in initials[0]}
    later = {g: p.copy() for g, p in P.items()}
    later["b1"] += 0.01
    later["W1"][1, 0, ::2] = value
    later["b1"][1, 1::2] = value
    results = {}
    for on in (True, False):
        use_c(on)
        batch = _batched._Batch(spec, X, np.float64, S)
        batch.forward(P)
        results[on] = batch.forward(later)
    np.testing.assert_array_equal(results[True], results[False])
    assert np.isnan(results[True][1]).all() and np.isfinite(results[True][[0, 2]]).all()


@needs_kernels
def test_a_seeds_run_does_not_depend_on_its_batch(monkeypatch):
    """Seeds alone, and in batches of three with others: the same bits."""
    from sklearn.base import clone

    from sklearn_gdnet import GDNetworkRegressor

    rng = np.random.default_rng(0)
    X = np.sort(rng.uniform(-1, 1, 30))[:, None]
    y = np.abs(X[:, 0]) ** 0.5
    est = GDNetworkRegressor(width=2, depth=1, solver="adam", learning_rate=1e-2, max_iter=30)
    fits = [lambda s=s: clone(est).set_params(random_state=s).fit(X, y) for s in range(6)]
    results = []
    for entries in (4 * 31 * 1, 4 * 31 * 3, 4 * 31 * 6):
        monkeypatch.setattr(_batched, "BATCH_MAX_ENTRIES", entries)
        results.append(_batched.batch_trajectories(fits))
    reference = results[0]
    # batches where some unit is active below its knot and batches where none is
    signs = [bool((run.initial["W1"] < 0).any()) for run in reference]
    assert any(signs) and not all(signs)
    for runs in results[1:]:
        for a, b in zip(runs, reference):
            assert a.losses == b.losses
            for g in a.final:
                np.testing.assert_array_equal(a.final[g], b.final[g])
