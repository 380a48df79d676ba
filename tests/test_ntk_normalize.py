"""NTKRegressor's ``normalize_y``: the limit of the default GDNetworkRegressor.

References: fits on targets standardized by hand (NumPy's weighted average) and
mapped back by hand, and Monte Carlo over wide GDNetworkRegressor runs with
their own defaults.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_gdnet import GDNetworkRegressor, NTKRegressor
from sklearn_gdnet._family import FAMILY_CONSTRAINTS


def _data(n=24, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X *= np.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True)
    # two outputs far from order one, with different offsets and scales
    Y = np.column_stack([50.0 + 20.0 * np.sin(2 * X[:, 0]), -3e-3 + 1e-3 * X[:, 1] * X[:, 2]])
    w = rng.uniform(0.2, 3.0, size=n)
    return X, Y, w, rng


def _standardize(Y, w):
    mean = np.average(Y, axis=0, weights=w)
    std = np.sqrt(np.average((Y - mean) ** 2, axis=0, weights=w))
    return mean, std


CASES = [
    dict(solver="cholesky", alpha=1e-2),
    dict(solver="eigh", n_steps=30),
    dict(solver="eigh", n_steps=30, dynamics="flow", alpha=1e-2),
    dict(solver="nystroem", n_components=12, n_steps=30, random_state=0),
    dict(solver="jacobian", finite_width=4, depth=1, n_steps=30, random_state=0),
]


@pytest.mark.parametrize("params", CASES, ids=lambda p: p["solver"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_normalize_y_equals_a_fit_on_standardized_targets(params, n_outputs):
    X, Y, w, rng = _data()
    X_test = rng.normal(size=(7, 3))
    Y = Y[:, 0] if n_outputs == 1 else Y
    mean_y, std_y = _standardize(Y.reshape(len(Y), -1), w)
    if n_outputs == 1:
        mean_y, std_y = mean_y[0], std_y[0]
    ours = NTKRegressor(**params).fit(X, Y, sample_weight=w)
    ref = NTKRegressor(**params, normalize_y=False).fit(X, (Y - mean_y) / std_y, w)

    m, s = ours.predict(X_test, return_std=True)
    m_ref, s_ref = ref.predict(X_test, return_std=True)
    assert_allclose(m, mean_y + std_y * m_ref, rtol=1e-9, atol=1e-12 * np.max(np.abs(Y)))
    assert_allclose(s, std_y * s_ref, rtol=1e-9, atol=1e-15)
    assert s.shape == m.shape
    if n_outputs == 2:  # the scale of each output, not one shared spread
        assert_allclose(s[:, 0] / s[:, 1], std_y[0] / std_y[1], rtol=1e-9)

    m2, cov = ours.predict(X_test, return_cov=True)
    _, cov_ref = ref.predict(X_test, return_cov=True)
    assert_allclose(m2, m, rtol=1e-12)
    expected_cov = cov_ref * std_y**2 if n_outputs == 1 else cov_ref * std_y**2
    assert_allclose(cov, expected_cov, rtol=1e-9, atol=1e-12 * np.max(std_y) ** 2)
    diagonal = np.diagonal(cov, axis1=0, axis2=1)  # (k, n) or (n,)
    assert_allclose(diagonal.T if n_outputs == 2 else diagonal, s**2, rtol=1e-7, atol=1e-14)

    draws = ours.sample_y(X_test, n_samples=4000, random_state=1)
    draws_ref = ref.sample_y(X_test, n_samples=4000, random_state=1)
    scale = std_y if n_outputs == 1 else std_y[:, None]
    shift = mean_y if n_outputs == 1 else mean_y[:, None]
    assert_allclose(draws, shift + scale * draws_ref, rtol=1e-9, atol=1e-9 * np.max(np.abs(Y)))
    # Monte Carlo: the draws' mean is the predicted mean within 5 standard errors
    gap = np.abs(draws.mean(axis=-1) - m)
    assert np.all(gap <= 5 * s / np.sqrt(4000) + 1e-12 * np.abs(m)), gap

    if ours.solver_ != "cholesky":
        steps = [0, 3, np.inf]
        path, path_std = ours.predict_path(X_test, steps, return_std=True)
        path_ref, path_std_ref = ref.predict_path(X_test, steps, return_std=True)
        assert_allclose(path, mean_y + std_y * path_ref, rtol=1e-9, atol=1e-9)
        assert_allclose(path_std, std_y * path_std_ref, rtol=1e-9, atol=1e-15)
        # zero steps: the mean of the initial networks, i.e. the targets' mean
        assert_allclose(path[0], np.broadcast_to(mean_y, path[0].shape), rtol=1e-12)


def test_normalize_y_off_trains_on_y_itself():
    X, Y, w, _ = _data()
    y = Y[:, 0]
    ours = NTKRegressor(normalize_y=False, n_steps=0).fit(X, y, sample_weight=w)
    # zero steps from f_0 of mean zero: the raw targets are not seen at all
    assert_allclose(ours.predict(X), 0.0, atol=0)
    on = NTKRegressor(n_steps=0).fit(X, y, sample_weight=w)
    assert_allclose(on.predict(X), np.average(y, weights=w), rtol=1e-12)


def test_constant_targets_are_only_centered():
    X, _, _, _ = _data()
    model = NTKRegressor(n_steps=10).fit(X, np.full(len(X), 7.0))
    mean, std = model.predict(X[:3], return_std=True)
    assert_allclose(mean, 7.0, rtol=1e-12)
    unit = NTKRegressor(n_steps=10, normalize_y=False).fit(X, np.zeros(len(X)))
    assert_allclose(std, unit.predict(X[:3], return_std=True)[1], rtol=1e-12)  # scale one


def test_normalize_y_is_a_family_parameter_with_the_same_default():
    assert "normalize_y" in FAMILY_CONSTRAINTS
    assert NTKRegressor().normalize_y is GDNetworkRegressor().normalize_y is True
    with pytest.raises(ValueError, match="normalize_y"):
        NTKRegressor(normalize_y="yes").fit(*_data()[:2])


def test_default_network_and_default_limit_describe_the_same_training():
    """Wide default GD networks average to the limit with the copied shared parameters.

    Targets far from order one (mean 50, spread 20): both estimators normalize
    them by default. Over seeds, the networks' mean must match the limit's mean
    within the Monte Carlo error that the limit's own standard deviation
    predicts, and their spread must match that standard deviation.
    """
    X, Y, _, rng = _data(n=20)
    y = Y[:, 0]
    X_test = rng.normal(size=(8, 3))
    X_test *= np.sqrt(3) / np.linalg.norm(X_test, axis=1, keepdims=True)
    k_steps, seeds = 40, range(12)
    template = GDNetworkRegressor(width=1024, max_iter=k_steps)
    shared = {k: v for k, v in template.get_params().items() if k in FAMILY_CONSTRAINTS}
    assert shared["normalize_y"] is True and shared["learning_rate"] == "auto"
    limit = NTKRegressor(**{k: v for k, v in shared.items() if k != "random_state"})
    mean, std = limit.set_params(n_steps=k_steps).fit(X, y).predict(X_test, return_std=True)
    preds = np.array([template.set_params(random_state=s).fit(X, y).predict(X_test) for s in seeds])
    n_seeds = len(preds)
    # the training moved the predictions far from the initial mean (the targets' mean)
    assert np.max(np.abs(mean - y.mean())) > 5 * np.max(std) / np.sqrt(n_seeds)
    tolerance = 4 * std / np.sqrt(n_seeds) + 0.02 * y.std()  # Monte Carlo + width
    gap = np.abs(preds.mean(axis=0) - mean)
    assert np.all(gap < tolerance), (gap, tolerance)
    # spread over seeds against the predicted one: pooled over the test points
    ratio = np.mean(preds.var(axis=0, ddof=1)) / np.mean(std**2)
    assert 0.5 < ratio < 2.0, ratio
    # without normalization the limit describes another training
    # without normalization the limit describes another training, which the test detects
    raw = NTKRegressor(**dict(shared, random_state=None, normalize_y=False), n_steps=k_steps)
    raw_gap = np.abs(preds.mean(axis=0) - raw.fit(X, y).predict(X_test))
    assert np.any(raw_gap > 2 * tolerance), (raw_gap, tolerance)
    print(
        f"default network vs default limit: max gap / tolerance {np.max(gap / tolerance):.2f}, "
        f"spread ratio {ratio:.2f}, unnormalized limit: {np.max(raw_gap / tolerance):.1f}"
    )
