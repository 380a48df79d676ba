import sys

import joblib
import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_gdnet import GDNetworkRegressor
from sklearn_gdnet.datasets import make_sphere_regression
from sklearn_gdnet.metrics import l2_error, make_l2_error_scorer
from sklearn_gdnet.model_selection import (
    RateFit,
    WidthStudyDisplay,
    WidthStudyResult,
    fit_rate,
    local_rates,
    width_study,
)


def _synthetic(rate, constant, widths, n_seeds, noise, seed):
    rng = np.random.default_rng(seed)
    widths = np.asarray(widths, dtype=float)
    log_errors = np.log(constant) - rate * np.log(widths)[:, None]
    return np.exp(log_errors + noise * rng.standard_normal((widths.shape[0], n_seeds)))


def test_fit_rate_exact_power_law():
    widths = [4, 16, 64, 256]
    errors = _synthetic(0.75, 3.0, widths, 3, noise=0.0, seed=0)
    fit = fit_rate(widths, errors)
    assert isinstance(fit, RateFit)
    assert fit.rate == pytest.approx(0.75)
    assert fit.constant == pytest.approx(3.0)
    assert fit.stderr == pytest.approx(0.0, abs=1e-12)
    assert fit.n_points == 12
    assert "rate 0.750" in str(fit)


def test_fit_rate_matches_linregress():
    widths = np.array([8, 16, 32, 64, 128])
    errors = _synthetic(0.5, 2.0, widths, 4, noise=0.2, seed=1)
    fit = fit_rate(widths, errors, confidence_level=0.9)
    reference = stats.linregress(np.repeat(np.log(widths), 4), np.log(errors).ravel())
    assert fit.rate == pytest.approx(-reference.slope)
    assert fit.constant == pytest.approx(np.exp(reference.intercept))
    assert fit.stderr == pytest.approx(reference.stderr)
    half = stats.t.ppf(0.95, 20 - 2) * reference.stderr
    np.testing.assert_allclose(
        fit.confidence_interval, (-reference.slope - half, -reference.slope + half)
    )


def test_fit_rate_interval_covers_the_true_rate():
    # The t-interval must contain the true exponent in about 95% of replicates.
    widths = [10, 20, 40, 80, 160]
    hits = 0
    n_replicates = 1000
    for seed in range(n_replicates):
        errors = _synthetic(1.3, 0.5, widths, 2, noise=0.3, seed=seed)
        low, high = fit_rate(widths, errors).confidence_interval
        hits += low <= 1.3 <= high
    # binomial standard deviation at n = 1000 is 0.007
    assert 0.93 <= hits / n_replicates <= 0.97


def test_fit_rate_two_points_has_no_interval():
    fit = fit_rate([10, 100], [1.0, 0.1])
    assert fit.rate == pytest.approx(1.0)
    assert np.isnan(fit.stderr) and np.all(np.isnan(fit.confidence_interval))


@pytest.mark.parametrize(
    "widths, errors, match",
    [
        ([1, 2], [1.0, -1.0], "positive finite errors"),
        ([1, 2], [1.0, np.nan], "positive finite errors"),
        ([1, 1], [1.0, 0.5], "two distinct widths"),
        ([1, 2, 3], [1.0, 0.5], "n_widths"),
        ([0, 2], [1.0, 0.5], "widths must be positive"),
    ],
)
def test_fit_rate_rejects_bad_input(widths, errors, match):
    with pytest.raises(ValueError, match=match):
        fit_rate(widths, errors)


def test_fit_rate_rejects_bad_level():
    with pytest.raises(ValueError, match="confidence_level"):
        fit_rate([1, 2], [1.0, 0.5], confidence_level=1.5)


def test_local_rates_of_a_broken_power_law():
    # e = m^-1 up to m = 8, then m^-2 (continuous at 8): local rates 1, 1, 2, 2
    widths = np.array([2, 4, 8, 16, 32])
    errors = np.where(widths <= 8, 1.0 / widths, 8.0 / widths**2)
    np.testing.assert_allclose(local_rates(widths, errors), [1, 1, 2, 2])
    # geometric mean over seeds: seed factors that multiply to one cancel
    seeded = errors[:, None] * np.array([0.5, 2.0])
    np.testing.assert_allclose(local_rates(widths, seeded), [1, 1, 2, 2])


@pytest.fixture(scope="module")
def sphere_data():
    X, y, target = make_sphere_regression(60, 3, smoothness=1.0, max_degree=8, random_state=0)
    return X, y, target


def _network():
    return GDNetworkRegressor(depth=1, max_iter=30, learning_rate=1.0)


def test_width_study_pipeline_matches_separate_fits(sphere_data):
    X, y, target = sphere_data
    model = make_pipeline(StandardScaler(), _network())
    result = width_study(
        model,
        X,
        y,
        widths=[8, 32, 128],
        seeds=[0, 1],
        param_name="gdnetworkregressor__width",
        scoring=make_l2_error_scorer(target),
    )
    assert isinstance(result, WidthStudyResult)
    assert result.errors.shape == result.fit_times.shape == (3, 2)
    assert result.name == "GDNetworkRegressor"
    assert np.all(result.fit_times > 0)
    for i, width in enumerate([8, 32, 128]):
        for j, seed in enumerate([0, 1]):
            fitted = clone(model).set_params(
                gdnetworkregressor__width=width, gdnetworkregressor__random_state=seed
            )
            fitted.fit(X, y)
            assert result.errors[i, j] == pytest.approx(l2_error(fitted, target), rel=1e-10)
    # different seeds give different networks
    assert not np.allclose(result.errors[:, 0], result.errors[:, 1])
    assert result.rate.rate == pytest.approx(fit_rate(result.widths, result.errors).rate)
    np.testing.assert_allclose(result.local_rates, local_rates(result.widths, result.errors))
    records = result.to_records()
    assert len(records) == 6
    assert records[1] == {
        "name": "GDNetworkRegressor",
        "width": 8,
        "seed": 1,
        "error": result.errors[0, 1],
        "fit_time": result.fit_times[0, 1],
        "fit_failed": False,
    }


def test_l2_scorer_selects_width_in_grid_search(sphere_data):
    X, y, target = sphere_data
    scorer = make_l2_error_scorer(target)
    model = make_pipeline(StandardScaler(), _network().set_params(random_state=0))
    search = GridSearchCV(model, {"gdnetworkregressor__width": [2, 64]}, scoring=scorer, cv=2)
    search.fit(X, y)
    # the continuous error is independent of the fold: each candidate's CV
    # score is the error of a network fitted on half of the data
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert -search.best_score_ == pytest.approx(
        min(-search.cv_results_["mean_test_score"]), rel=1e-12
    )
    refit = (
        clone(model)
        .set_params(gdnetworkregressor__width=search.best_params_["gdnetworkregressor__width"])
        .fit(X, y)
    )
    assert l2_error(search.best_estimator_, target) == pytest.approx(l2_error(refit, target))


def test_width_study_parallel_and_backends_agree(sphere_data):
    X, y, target = sphere_data
    kwargs = dict(widths=[8, 32], seeds=[0, 1], scoring=make_l2_error_scorer(target))
    serial = width_study(_network(), X, y, **kwargs)
    parallel = width_study(_network(), X, y, n_jobs=2, **kwargs)
    with joblib.parallel_config(backend="threading", n_jobs=2):
        threaded = width_study(_network(), X, y, **kwargs)
    np.testing.assert_allclose(parallel.errors, serial.errors, rtol=1e-10)
    np.testing.assert_allclose(threaded.errors, serial.errors, rtol=1e-10)


def test_width_study_with_string_scoring_and_test_set(sphere_data):
    X, y, target = sphere_data
    X_test, y_test, _ = make_sphere_regression(50, 3, max_degree=8, random_state=0)
    result = width_study(
        _network(),
        X,
        y,
        widths=[8, 32],
        seeds=[3],
        scoring="neg_root_mean_squared_error",
        X_test=X_test[:30],
        y_test=target(X_test[:30]),
    )
    model = _network().set_params(width=32, random_state=3).fit(X, y)
    rmse = np.sqrt(np.mean((model.predict(X_test[:30]) - target(X_test[:30])) ** 2))
    assert result.errors[1, 0] == pytest.approx(rmse)


def test_width_study_multimetric_matches_single_metric(sphere_data):
    X, y, target = sphere_data
    l2 = make_l2_error_scorer(target)
    kwargs = dict(widths=[8, 32], seeds=[0, 1])
    both = width_study(
        _network(), X, y, scoring={"l2": l2, "rmse": "neg_root_mean_squared_error"}, **kwargs
    )
    assert set(both) == {"l2", "rmse"}
    np.testing.assert_allclose(
        both["l2"].errors, width_study(_network(), X, y, scoring=l2, **kwargs).errors
    )
    rmse = width_study(_network(), X, y, scoring="neg_root_mean_squared_error", **kwargs)
    np.testing.assert_allclose(both["rmse"].errors, rmse.errors)
    assert both["l2"].name == "GDNetworkRegressor l2"


def test_width_study_verbose_reports_on_stdout_like_the_estimators(sphere_data, capsys):
    # scikit-learn's searches and this package's estimators print progress on
    # stdout; the study used to print on stderr
    X, y, target = sphere_data
    width_study(
        _network(), X, y, widths=[8], seeds=[0], scoring=make_l2_error_scorer(target), verbose=1
    )
    captured = capsys.readouterr()
    assert "totalling 1 fits" in captured.out
    assert "width=8 seed=0" in captured.out
    assert captured.err == ""
    _network().set_params(width=8, verbose=1).fit(X, y)
    estimator_output = capsys.readouterr()
    assert "loss" in estimator_output.out and estimator_output.err == ""


def test_width_study_validates(sphere_data):
    X, y, target = sphere_data
    scorer = make_l2_error_scorer(target)
    with pytest.raises(ValueError, match="no parameter 'units'"):
        width_study(_network(), X, y, widths=[8], param_name="units", scoring=scorer)
    with pytest.raises(ValueError, match="no seed parameter"):
        width_study(KernelRidge(), X, y, widths=[1.0], param_name="alpha", scoring=scorer)
    with pytest.raises(ValueError, match="non-empty"):
        width_study(_network(), X, y, widths=[], scoring=scorer)
    with pytest.raises(ValueError, match="both X_test and y_test"):
        width_study(_network(), X, y, widths=[8], scoring=scorer, X_test=X)
    with pytest.raises(ValueError, match="seeds must be integers"):
        width_study(_network(), X, y, widths=[8], seeds=[0.5], scoring=scorer)
    # an estimator without a seed runs once per "width" with seeds=None
    result = width_study(
        KernelRidge(), X, y, widths=[1e-3, 1.0], param_name="alpha", seeds=None, scoring=scorer
    )
    assert result.seeds == [None] and result.errors.shape == (2, 1)


@pytest.fixture
def pyplot():
    plt = pytest.importorskip("matplotlib.pyplot")
    yield plt
    plt.close("all")


def test_display_from_study(pyplot):
    widths = np.array([8, 32, 128, 512])
    errors = _synthetic(0.5, 2.0, widths, 3, noise=0.05, seed=0)
    result = WidthStudyResult(widths, [0, 1, 2], errors, np.ones_like(errors), name="net")
    display = WidthStudyDisplay.from_study(result, reference_slopes=(0.5, 1.0))
    assert display.ax_.get_xscale() == display.ax_.get_yscale() == "log"
    assert display.figure_ is display.ax_.figure
    assert len(display.points_.get_offsets()) == 12
    np.testing.assert_allclose(display.line_.get_ydata(), np.exp(np.log(errors).mean(axis=1)))
    for line, slope in zip(display.reference_lines_, (0.5, 1.0)):
        x, y = line.get_xdata(), line.get_ydata()
        np.testing.assert_allclose(np.diff(np.log(y)) / np.diff(np.log(x)), -slope)
    fit_x, fit_y = display.fit_line_.get_xdata(), display.fit_line_.get_ydata()
    np.testing.assert_allclose(np.diff(np.log(fit_y)) / np.diff(np.log(fit_x)), -result.rate.rate)
    labels = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert labels[:2] == ["net", f"net: fitted rate {result.rate.rate:.2f}"]


def test_display_overlays_on_given_axes(pyplot):
    _, ax = pyplot.subplots()
    first = WidthStudyDisplay([1, 2, 4], [1.0, 0.5, 0.25], name="a").plot(ax=ax)
    second = WidthStudyDisplay([1, 2, 4], [2.0, 1.0, 0.5], name="b").plot(
        ax=ax, reference_slopes=(), show_seeds=False
    )
    assert first.ax_ is second.ax_ is ax
    assert second.points_ is None and second.reference_lines_ == []


def test_display_from_estimator(pyplot, sphere_data):
    X, y, target = sphere_data
    display = WidthStudyDisplay.from_estimator(
        _network(), X, y, widths=[8, 32], seeds=[0], scoring=make_l2_error_scorer(target)
    )
    assert display.result_.errors.shape == (2, 1)
    np.testing.assert_allclose(display.line_.get_ydata(), display.result_.errors[:, 0])


def test_display_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"sklearn-gdnet\[plots\]"):
        WidthStudyDisplay([1, 2], [1.0, 0.5]).plot()
