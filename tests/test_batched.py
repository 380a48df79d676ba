"""Seeds trained together against the same seeds fitted one by one.

The reference is the estimator's own standalone ``fit`` with each
``random_state`` (through the dense core or the 1-d core, whichever it
chooses), which shares no code with the batched loop's passes or updates.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neural_network import MLPRegressor

from sklearn_gdnet import DivergenceWarning, GDNetworkRegressor, _batched, _network_1d, _optim
from sklearn_gdnet.model_selection import width_study
from sklearn_gdnet.schedules import StepDecay

GROUPS = ("W1", "b1", "W2", "b2")


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = np.sort(rng.uniform(-1, 1, n))[:, None]
    X[3] = X[4]  # a repeated sample
    y = np.abs(X[:, 0]) ** 0.5 + 0.1 * rng.standard_normal(n)
    w = rng.uniform(0.5, 2.0, n)
    return X, y, w


CONFIGS = [
    dict(
        solver="adam",
        learning_rate=1e-2,
        init="breakpoint",
        bias_std=1.0,
        trainable="hidden_biases",
    ),
    dict(solver="gd", learning_rate="auto", trainable="all"),
    dict(solver="gd", momentum=0.9, learning_rate=0.02, parametrization="standard"),
    dict(solver="adam", learning_rate=1e-2, activation="identity", trainable=("W1", "b2")),
    # the shallow 1-d study's protocol: breakpoints, Adam, step decay
    dict(
        solver="adam",
        learning_rate=1e-2,
        lr_schedule=StepDecay(step_size=10, gamma=0.2),
        init="breakpoint",
        trainable="hidden_biases",
        normalize_y=False,
    ),
    dict(solver="gd", learning_rate="auto", momentum=0.5, lr_schedule=StepDecay(7, 0.5)),
]


def standalone(est, seed, X, y, w):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clone(est).set_params(random_state=seed).fit(X, y, sample_weight=w)


def assert_same(a, b, rtol=1e-8):
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_array_equal(a.learning_rate_curve_, b.learning_rate_curve_)
    for norm, value in (a.breakpoint_movement_ or {}).items():
        assert value == pytest.approx(b.breakpoint_movement_[norm], rel=1e-8, abs=1e-12)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol, atol=1e-13)
    for g in GROUPS:
        np.testing.assert_allclose(a.params_[g], b.params_[g], rtol=rtol, atol=1e-11, err_msg=g)


def count_replays(monkeypatch):
    """A list that grows by one each time a batched run is handed to a fit."""
    replays, real = [], _batched.Trajectory.apply

    def apply(self, *args):
        replays.append(self)
        return real(self, *args)

    monkeypatch.setattr(_batched.Trajectory, "apply", apply)
    return replays


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("width", [7, _network_1d.MIN_WIDTH])
def test_each_seed_equals_its_standalone_fit(config, width, monkeypatch):
    replays = count_replays(monkeypatch)
    X, y, w = data()
    est = GDNetworkRegressor(width=width, depth=1, max_iter=40, **config)
    seeds = [0, 1, 2, 3]
    fits = [
        lambda s=s: clone(est).set_params(random_state=s).fit(X, y, sample_weight=w) for s in seeds
    ]
    runs = _batched.batch_trajectories(fits)
    assert all(run is not None for run in runs)
    for s, run in zip(seeds, runs):
        replayed = clone(est).set_params(random_state=s)
        with _batched.replaying(run):
            replayed.fit(X, y, sample_weight=w)
        assert replays[-1] is run  # the fit took the batched run, it did not train
        reference = standalone(est, s, X, y, w)
        assert_same(replayed, reference)
        np.testing.assert_allclose(replayed.predict(X), reference.predict(X), rtol=1e-8)
        # the optimizer's state continues as the standalone run's does
        more = dict(warm_start=True, max_iter=5)
        replayed.set_params(**more).fit(X, y, sample_weight=w)
        reference.set_params(**more).fit(X, y, sample_weight=w)
        assert_same(replayed, reference)


def test_a_trajectory_is_only_used_for_its_own_run():
    X, y, w = data()
    est = GDNetworkRegressor(width=6, depth=1, max_iter=20, solver="adam", learning_rate=1e-2)
    fits = [lambda s=s: clone(est).set_params(random_state=s).fit(X, y) for s in (0, 1)]
    run0 = _batched.batch_trajectories(fits)[0]
    for other in (
        dict(random_state=1),  # another seed
        dict(random_state=0, max_iter=21),  # another number of steps
        dict(random_state=0, learning_rate=2e-2),  # another step
    ):
        net = clone(est).set_params(**other)
        with _batched.replaying(run0):
            net.fit(X, y)
        reference = clone(est).set_params(**other).fit(X, y)
        for g in GROUPS:
            np.testing.assert_array_equal(net.params_[g], reference.params_[g])
    with _batched.replaying(run0):  # other data
        net = clone(est).set_params(random_state=0).fit(X, y + 1)
    np.testing.assert_array_equal(
        net.params_["b1"], clone(est).set_params(random_state=0).fit(X, y + 1).params_["b1"]
    )


@pytest.mark.parametrize("config", CONFIGS[:3])
def test_width_study_batches_seeds_and_matches_fits_one_by_one(config, monkeypatch):
    X, y, w = data()
    est = GDNetworkRegressor(depth=1, max_iter=40, **config)
    kwargs = dict(
        widths=[4, 9, 16],
        seeds=range(5),
        scoring="neg_mean_squared_error",
        fit_params={"sample_weight": w},
    )
    calls = []
    real = _batched.train_seeds
    monkeypatch.setattr(
        _batched, "train_seeds", lambda *a, **k: calls.append(len(a[5])) or real(*a, **k)
    )
    replays = count_replays(monkeypatch)
    together = width_study(est, X, y, **kwargs)
    assert calls == [5, 5, 5]  # one batch of five seeds per width
    assert len(replays) == 15  # each fit took its seed's run
    monkeypatch.setattr(_batched, "ENABLED", False)
    one_by_one = width_study(est, X, y, **kwargs)
    assert calls == [5, 5, 5]
    np.testing.assert_allclose(together.errors, one_by_one.errors, rtol=1e-8)


def test_diverging_seeds_fit_on_their_own():
    X, y, _ = data()
    est = GDNetworkRegressor(width=8, depth=1, solver="gd", learning_rate=50.0, max_iter=30)
    fits = [lambda s=s: clone(est).set_params(random_state=s).fit(X, y) for s in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        runs = _batched.batch_trajectories(fits)
    assert runs == [None, None, None]
    with pytest.warns(DivergenceWarning):
        result = width_study(
            est, X, y, widths=[8], seeds=range(3), scoring="neg_mean_squared_error"
        )
    assert np.all(np.isfinite(result.errors))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_other_estimators_are_not_batched_nor_probed(monkeypatch):
    X, y, _ = data()
    monkeypatch.setattr(_batched, "probe", lambda fit: pytest.fail("an estimator was probed"))
    assert not _batched.trains_through_the_loop(MLPRegressor())
    width_study(
        MLPRegressor(solver="lbfgs", max_iter=20),
        X,
        y,
        widths=[(2,), (4,)],
        param_name="hidden_layer_sizes",
        seeds=[0, 1],
        scoring="neg_mean_squared_error",
    )


def test_networks_on_several_features_are_not_batched():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 2)), rng.standard_normal(20)
    est = GDNetworkRegressor(width=4, max_iter=5)
    fits = [lambda s=s: clone(est).set_params(random_state=s).fit(X, y) for s in (0, 1)]
    assert _batched.batch_trajectories(fits) is None


def test_divergence_rule_is_the_loops():
    assert _batched.DIVERGENCE_FACTOR == _optim.DIVERGENCE_FACTOR


def test_seeds_are_split_into_equal_batches(monkeypatch):
    X, y, _ = data(n=30)
    sizes = []
    real = _batched.train_seeds
    monkeypatch.setattr(
        _batched, "train_seeds", lambda *a, **k: sizes.append(len(a[5])) or real(*a, **k)
    )
    monkeypatch.setattr(_batched, "BATCH_MAX_ENTRIES", 4 * 31 * 4)  # four seeds at most
    est = GDNetworkRegressor(width=5, depth=1, solver="adam", learning_rate=1e-2, max_iter=5)
    fits = [lambda s=s: clone(est).set_params(random_state=s).fit(X, y) for s in range(9)]
    runs = _batched.batch_trajectories(fits)
    assert sizes == [3, 3, 3] and all(run is not None for run in runs)
