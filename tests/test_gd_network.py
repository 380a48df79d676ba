"""GDNetworkRegressor: training behaviour against hand derivations and invariants."""

import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone

import sklearn_gdnet._optim as optim
from sklearn_gdnet import DivergenceWarning, GDNetworkRegressor
from sklearn_gdnet._network import NetworkSpec, empirical_ntk, init_params


def data(n=40, d=3, k=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, -1]
    if k is not None:
        y = np.column_stack([y * (j + 1) / k for j in range(k)])
    return X, y


def test_two_gd_steps_match_a_hand_written_update():
    # f(x) = sw/sqrt(2) * sum_r W2_r tanh(u_r) + sb * b2,  u_r = sw * x * W1_r + sb * b1_r
    sw, sb, eta = 1.3, 0.5, 0.2
    x = np.array([-0.7, 0.2, 0.9])
    y = np.array([0.3, -0.1, 0.8])
    net = GDNetworkRegressor(
        width=2,
        depth=1,
        activation="tanh",
        weight_std=sw,
        bias_std=sb,
        learning_rate=eta,
        normalize_y=False,
        max_iter=0,
        random_state=0,
    ).fit(x[:, None], y)
    W1, b1 = net.params_["W1"][0].copy(), net.params_["b1"].copy()
    W2, b2 = net.params_["W2"][:, 0].copy(), net.params_["b2"][0]
    for _ in range(2):
        gW1, gb1, gW2, gb2 = np.zeros(2), np.zeros(2), np.zeros(2), 0.0
        for xi, yi in zip(x, y):
            u = sw * xi * W1 + sb * b1
            f = sw / np.sqrt(2) * np.sum(W2 * np.tanh(u)) + sb * b2
            r = (f - yi) / len(x)  # d/df of 1/(2N) sum (f - y)^2
            gW2 += r * sw / np.sqrt(2) * np.tanh(u)
            gb2 += r * sb
            back = r * sw / np.sqrt(2) * W2 * (1 - np.tanh(u) ** 2)
            gW1 += back * sw * xi
            gb1 += back * sb
        W1, b1, W2, b2 = W1 - eta * gW1, b1 - eta * gb1, W2 - eta * gW2, b2 - eta * gb2
    net.set_params(max_iter=2).fit(x[:, None], y)
    assert np.allclose(net.params_["W1"][0], W1, rtol=1e-12)
    assert np.allclose(net.params_["b1"], b1, rtol=1e-12)
    assert np.allclose(net.params_["W2"][:, 0], W2, rtol=1e-12)
    assert np.allclose(net.params_["b2"][0], b2, rtol=1e-12)
    assert net.n_iter_ == 2 and len(net.loss_curve_) == 2


def test_loss_curve_is_the_loss_of_the_iterates():
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=5, normalize_y=False, random_state=0).fit(X, y)
    expected = 0.5 * np.mean((net.predict(X) - y) ** 2)
    assert net.loss_curve_[-1] == pytest.approx(expected, rel=1e-12)
    assert net.loss_curve_[-1] < net.loss_curve_[0]
    # With normalize_y the loss is that of the normalized targets trained on.
    net = GDNetworkRegressor(width=16, max_iter=5, random_state=0).fit(X, y)
    expected = 0.5 * np.mean((net.predict(X) - y) ** 2) / np.var(y)
    assert net.loss_curve_[-1] == pytest.approx(expected, rel=1e-10)


def test_auto_learning_rate_is_stable_and_not_needlessly_small():
    X, y = data(n=50)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=50)
    net = GDNetworkRegressor(width=512, max_iter=40, random_state=0).fit(X, y, w)
    # Independent value: the dense weighted empirical NTK at initialization.
    spec = NetworkSpec(3, 1, 512, 2, "relu", 1.0, 0.1)
    params = init_params(spec, random_state=0)
    wn = w / w.mean()
    gram = np.sqrt(wn)[:, None] * empirical_ntk(params, spec, X) * np.sqrt(wn)[None, :]
    limit = 2 * len(y) / np.linalg.eigvalsh(gram)[-1]
    assert net.learning_rate_ == pytest.approx(optim.LEARNING_RATE_SAFETY * limit, rel=1e-3)
    assert np.all(np.diff(net.loss_curve_) < 0)  # stable: the loss falls at every step
    # Not needlessly small: the limit is sharp. Just below it the loss still falls at
    # every step; just above it the top mode grows and the loss rises (the network
    # may then recover by shrinking its kernel, so only the rise is checked).
    below = clone(net).set_params(learning_rate=0.95 * limit, max_iter=20).fit(X, y, w)
    assert np.all(np.diff(below.loss_curve_) < 0)
    above = clone(net).set_params(learning_rate=1.3 * limit, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        above.fit(X, y, w)
    assert np.any(np.diff(above.loss_curve_) > 0)


def test_divergence_restores_the_last_good_iterate():
    X, y = data()
    net = GDNetworkRegressor(width=32, learning_rate=500.0, max_iter=50, random_state=0)
    with pytest.warns(DivergenceWarning, match="learning_rate=500"):
        net.fit(X, y)
    assert net.n_iter_ < 50
    assert np.all(np.isfinite(net.loss_curve_))
    assert len(net.loss_curve_) == net.n_iter_
    # The kept parameters are those whose loss was recorded last.
    assert 0.5 * np.mean((net.predict(X) - y) ** 2) / np.var(y) == pytest.approx(net.loss_)
    assert np.all(np.isfinite(net.predict(X)))
    # And the estimator stays usable.
    net.set_params(learning_rate="auto").fit(X, y)
    assert net.loss_curve_[-1] < net.loss_curve_[0]


def test_keyboard_interrupt_keeps_the_last_finished_step(monkeypatch):
    X, y = data()
    reference = GDNetworkRegressor(width=16, learning_rate=0.5, max_iter=4, random_state=0)
    reference.fit(X, y)
    calls = {"n": 0}
    real_backward = optim.backward

    def interrupting_backward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_backward(*args, **kwargs)

    monkeypatch.setattr(optim, "backward", interrupting_backward)
    net = clone(reference).set_params(max_iter=100)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        net.fit(X, y)
    assert net.n_iter_ == 4
    for g in reference.params_:
        assert np.array_equal(net.params_[g], reference.params_[g])
    assert np.allclose(net.predict(X), reference.predict(X))


def test_interrupt_in_the_middle_of_an_update_rolls_back(monkeypatch):
    X, y = data()
    reference = GDNetworkRegressor(width=16, learning_rate=0.5, max_iter=3, random_state=0)
    reference.fit(X, y)
    calls = {"n": 0}
    real_update = optim._GD.update

    def half_update(self, spec, ws, groups, params):
        calls["n"] += 1
        if calls["n"] == 4:  # move only the first group, then stop
            real_update(self, spec, ws, groups[:1], params)
            raise KeyboardInterrupt
        return real_update(self, spec, ws, groups, params)

    monkeypatch.setattr(optim._GD, "update", half_update)
    net = clone(reference).set_params(max_iter=10)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        net.fit(X, y)
    assert net.n_iter_ == 3
    for g in reference.params_:
        assert np.array_equal(net.params_[g], reference.params_[g])


def test_determinism_and_independence_of_the_number_of_samples():
    X, y = data(n=60)
    a = GDNetworkRegressor(width=32, max_iter=20, random_state=3).fit(X, y)
    b = GDNetworkRegressor(width=32, max_iter=20, random_state=3).fit(X, y)
    assert np.array_equal(a.predict(X), b.predict(X))
    small = GDNetworkRegressor(width=32, max_iter=0, random_state=3).fit(X[:5], y[:5])
    large = GDNetworkRegressor(width=32, max_iter=0, random_state=3).fit(X, y)
    for g in small.params_:
        assert np.array_equal(small.params_[g], large.params_[g])


def test_pickle_round_trip_and_continue():
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=5, warm_start=True, momentum=0.5, random_state=0)
    net.fit(X, y)
    copy = pickle.loads(pickle.dumps(net))
    assert np.array_equal(copy.predict(X), net.predict(X))
    net.fit(X, y)
    copy.fit(X, y)
    assert np.array_equal(copy.predict(X), net.predict(X))


def test_float32_trains_in_float32_and_agrees_with_float64():
    X, y = data()
    net64 = GDNetworkRegressor(width=32, max_iter=30, random_state=0).fit(X, y)
    net32 = GDNetworkRegressor(width=32, max_iter=30, random_state=0)
    net32.fit(X.astype(np.float32), y.astype(np.float32))
    assert all(p.dtype == np.float32 for p in net32.params_.values())
    assert net32.predict(X).dtype == np.float32
    assert np.allclose(net32.predict(X), net64.predict(X), rtol=1e-3, atol=1e-4)


def test_sparse_input_trains_like_dense():
    X, y = data()
    X[np.abs(X) < 0.4] = 0.0
    dense = GDNetworkRegressor(width=16, max_iter=10, random_state=0).fit(X, y)
    csr = GDNetworkRegressor(width=16, max_iter=10, random_state=0).fit(sparse.csr_matrix(X), y)
    assert np.allclose(csr.predict(sparse.csr_matrix(X)), dense.predict(X), rtol=1e-10)


def test_partial_fit_and_warm_start_continue_the_same_run():
    X, y = data()
    full = GDNetworkRegressor(width=16, momentum=0.3, max_iter=6, random_state=0).fit(X, y)
    partial = GDNetworkRegressor(width=16, momentum=0.3, random_state=0)
    for _ in range(6):
        partial.partial_fit(X, y)
    warm = GDNetworkRegressor(width=16, momentum=0.3, max_iter=3, warm_start=True, random_state=0)
    warm.fit(X, y).fit(X, y)
    for est in (partial, warm):
        assert est.n_iter_ == 6
        assert np.allclose(est.loss_curve_, full.loss_curve_, rtol=1e-12)
        assert np.allclose(est.predict(X), full.predict(X), rtol=1e-12)


def test_sample_weights_equal_repetition():
    X, y = data(n=20)
    w = np.arange(20) % 3
    repeated = np.repeat(np.arange(20), w)
    kw = dict(width=16, max_iter=15, learning_rate=0.7, random_state=0)
    weighted = GDNetworkRegressor(**kw).fit(X, y, sample_weight=w)
    plain = GDNetworkRegressor(**kw).fit(X[repeated], y[repeated])
    assert np.allclose(weighted.predict(X), plain.predict(X), rtol=1e-10)


def test_multi_output_matches_separate_output_layers():
    # With only the output layer trained, outputs do not interact.
    X, y = data(k=2)
    kw = dict(width=16, trainable="output", learning_rate=0.5, max_iter=10, random_state=0)
    both = GDNetworkRegressor(**kw).fit(X, y)
    assert both.predict(X).shape == (40, 2)
    assert both.n_outputs_ == 2
    # Loss of the pair = mean of the single-output losses at every step.
    assert both.loss_curve_[-1] < both.loss_curve_[0]


@pytest.mark.parametrize("trainable", ["output", "penultimate", ("b1",)])
def test_only_trainable_groups_move(trainable):
    X, y = data()
    net = GDNetworkRegressor(width=8, max_iter=0, trainable=trainable, random_state=0).fit(X, y)
    start = {g: p.copy() for g, p in net.params_.items()}
    net.set_params(max_iter=5).fit(X, y)
    for g, p in net.params_.items():
        moved = not np.array_equal(p, start[g])
        assert moved == (g in net.trainable_groups_), g
    assert set(net.distance_from_init_) == set(net.trainable_groups_)


def test_distance_from_init_shrinks_with_width():
    X, y = data()
    distances = [
        GDNetworkRegressor(width=m, max_iter=50, trainable="penultimate", random_state=0)
        .fit(X, y)
        .distance_from_init_["W2"]
        for m in (16, 256)
    ]
    assert distances[1] < 0.5 * distances[0]


def test_breakpoint_model_trains_only_breakpoints():
    x = np.linspace(-1, 1, 30)[:, None]
    y = 1 - np.sqrt(np.abs(x[:, 0]))
    net = GDNetworkRegressor(
        width=40,
        depth=1,
        init="breakpoint",
        trainable="hidden_biases",
        weight_std=1.0,
        bias_std=1.0,
        max_iter=100,
        random_state=0,
    ).fit(x, y)
    assert net.trainable_groups_ == ("b1",)
    assert net.loss_curve_[-1] < 0.5 * net.loss_curve_[0]


def test_solvers_reduce_the_loss():
    X, y = data()
    for solver in ("adam", "lbfgs"):
        net = GDNetworkRegressor(
            width=16, solver=solver, learning_rate=0.02, max_iter=100, random_state=0
        ).fit(X, y)
        assert net.loss_curve_[-1] < 0.2 * net.loss_curve_[0], solver
    assert GDNetworkRegressor(solver="lbfgs", max_iter=3).fit(X, y).learning_rate_ is None


def test_early_stopping_on_tolerance():
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=5000, tol=1e-3, n_iter_no_change=3).fit(X, y)
    assert net.n_iter_ < 5000


def test_verbose_prints_progress(capsys):
    X, y = data()
    GDNetworkRegressor(width=8, max_iter=3, verbose=2, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("step 0") and "elapsed" in lines[-1]


def test_bad_input_gets_clear_errors():
    X, y = data()
    with pytest.raises(ValueError, match="W9"):
        GDNetworkRegressor(trainable=("W9",)).fit(X, y)
    with pytest.raises(ValueError, match="depth=1"):
        GDNetworkRegressor(init="breakpoint", depth=2).fit(X, y)
    with pytest.raises(ValueError, match="non-zero"):
        GDNetworkRegressor().fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="Negative values"):
        GDNetworkRegressor().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="NaN"):
        GDNetworkRegressor().fit(np.full_like(X, np.nan), y)


def test_a_problem_too_large_for_memory_is_refused_before_allocation(monkeypatch):
    import sklearn_gdnet._memory as memory

    X, y = data()
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 10_000)
    with pytest.raises(MemoryError, match=r"GiB.*smaller width"):
        GDNetworkRegressor(width=64).fit(X, y)
    monkeypatch.setattr(memory, "MEMORY_LIMIT", None)
    GDNetworkRegressor(width=64, max_iter=2).fit(X, y)  # and the estimator still works


def test_continuing_a_run_refuses_a_changed_architecture_and_takes_a_new_step_size():
    X, y = data()
    net = GDNetworkRegressor(width=16, max_iter=2, warm_start=True, random_state=0).fit(X, y)
    net.set_params(learning_rate=0.05).fit(X, y)
    assert net.learning_rate_ == 0.05 and net.n_iter_ == 4
    with pytest.raises(ValueError, match=r"width changed.*width=16"):
        net.set_params(width=32).fit(X, y)
    assert net.predict(X).shape == y.shape  # still the old, usable network
    net.set_params(warm_start=False).fit(X, y)
    assert net.params_["W2"].shape == (32, 32)
