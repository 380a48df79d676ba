"""width_study: tuple widths, error_score, output streams; the display's references and legend."""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import FitFailedWarning
from sklearn.neural_network import MLPRegressor

from sklearn_gdnet.datasets import make_interval_regression
from sklearn_gdnet.metrics import l2_error, make_l2_error_scorer
from sklearn_gdnet.model_selection import (
    WidthStudyDisplay,
    WidthStudyResult,
    fit_rate,
    width_study,
)


class _PowerLaw(RegressorMixin, BaseEstimator):
    """Predicts the target plus width^-1 * (1 + seed / 10); fails where told.

    Its continuous error is known in closed form, which makes the study's
    bookkeeping checkable by hand.
    """

    def __init__(self, width=1, random_state=0, fail_at=(), fail_in="fit"):
        self.width = width
        self.random_state = random_state
        self.fail_at = fail_at
        self.fail_in = fail_in

    def fit(self, X, y):
        if self.fail_in == "fit" and (self.width, self.random_state) in self.fail_at:
            raise ValueError(f"cannot fit width {self.width}")
        self.is_fitted_ = True
        return self

    def predict(self, X):
        if self.fail_in == "predict" and (self.width, self.random_state) in self.fail_at:
            raise FloatingPointError("prediction overflowed")
        return _TARGET(X) + self.error()

    def error(self):
        return (1 + self.random_state / 10) / self.width


_, _, _TARGET = make_interval_regression(5, target="gaussian")
X_SMALL = np.linspace(-1, 1, 5)[:, None]
Y_SMALL = _TARGET(X_SMALL)
SCORER = make_l2_error_scorer(_TARGET)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tuple_widths_for_hidden_layer_sizes():
    X, y, target = make_interval_regression(30, target="gaussian")
    model = MLPRegressor(solver="lbfgs", max_iter=20)
    scorer = make_l2_error_scorer(target)
    widths = [(2, 2), (8, 8)]
    result = width_study(
        model, X, y, widths=widths, param_name="hidden_layer_sizes", seeds=[0, 1], scoring=scorer
    )
    np.testing.assert_array_equal(result.widths, [2.0, 8.0])
    assert result.param_values == [(2, 2), (8, 8)]
    for i, sizes in enumerate(widths):
        for j, seed in enumerate([0, 1]):
            fitted = MLPRegressor(
                solver="lbfgs", max_iter=20, hidden_layer_sizes=sizes, random_state=seed
            ).fit(X, y)
            assert result.errors[i, j] == pytest.approx(l2_error(fitted, target), rel=1e-10)
    # numpy integers and one-layer tuples work too
    result = width_study(
        model,
        X,
        y,
        widths=[(np.int64(3),), (6,)],
        param_name="hidden_layer_sizes",
        seeds=[0],
        scoring=scorer,
    )
    np.testing.assert_array_equal(result.widths, [3.0, 6.0])


@pytest.mark.parametrize("bad", [(4, 8), (), (0,), (2.5,)])
def test_tuple_widths_must_repeat_one_width(bad):
    with pytest.raises(ValueError, match="tuple width"):
        width_study(
            MLPRegressor(), X_SMALL, Y_SMALL, widths=[bad, (8,)],
            param_name="hidden_layer_sizes", scoring=SCORER,
        )


def _study(**kwargs):
    defaults = dict(widths=[2, 4, 8, 16], seeds=[0, 1, 2], scoring=SCORER)
    return width_study(_PowerLaw(**kwargs.pop("model", {})), X_SMALL, Y_SMALL, **defaults, **kwargs)


def test_known_errors_without_failures():
    result = _study()
    expected = np.outer(1 / np.array([2, 4, 8, 16]), 1 + np.array([0, 1, 2]) / 10)
    # a constant offset c has continuous L2 error |c| under dx / 2
    np.testing.assert_allclose(result.errors, expected, rtol=1e-12)
    assert result.fit_failed is None
    assert result.rate.rate == pytest.approx(1.0)


@pytest.mark.parametrize("stage", ["fit", "predict"])
def test_a_failing_fit_no_longer_aborts_the_study(stage):
    fail_at = ((4, 1), (16, 0))
    with pytest.warns(FitFailedWarning, match="2 fits failed out of a total of 12") as record:
        result = _study(model={"fail_at": fail_at, "fail_in": stage})
    message = str(record[0].message)
    assert "(width=4, seed=1)" in message and "(width=16, seed=0)" in message
    assert ("cannot fit width" if stage == "fit" else "prediction overflowed") in message
    assert ("in fit" if stage == "fit" else "in score") in message
    failed = np.zeros((4, 3), dtype=bool)
    failed[1, 1] = failed[3, 0] = True
    np.testing.assert_array_equal(result.fit_failed, failed)
    assert np.all(np.isnan(result.errors[failed]))
    assert [r["fit_failed"] for r in result.to_records()] == list(failed.ravel())
    # the rate and the local rates are those of the successful fits
    widths = np.repeat([2, 4, 8, 16], 3).reshape(4, 3)
    ok = ~failed
    reference = stats.linregress(np.log(widths[ok]), np.log(result.errors[ok]))
    assert result.rate.rate == pytest.approx(-reference.slope)
    assert result.rate.n_points == 10
    means = [np.exp(np.log(result.errors[i, ok[i]]).mean()) for i in range(4)]
    np.testing.assert_allclose(result.mean_errors, means)
    np.testing.assert_allclose(
        result.local_rates, -np.diff(np.log(means)) / np.diff(np.log([2, 4, 8, 16]))
    )


def test_numeric_error_score_is_recorded_but_kept_out_of_the_rate():
    with pytest.warns(FitFailedWarning, match="-error_score = 5.0"):
        result = _study(model={"fail_at": ((8, 2),)}, error_score=-5.0)
    assert result.errors[2, 2] == 5.0
    ok = ~result.fit_failed
    x = np.log(np.repeat([2, 4, 8, 16], 3).reshape(4, 3))[ok]
    assert result.rate.rate == pytest.approx(-stats.linregress(x, np.log(result.errors[ok])).slope)


def test_error_score_raise_and_all_failed():
    with pytest.raises(ValueError, match="cannot fit width 4"):
        _study(model={"fail_at": ((4, 1),)}, error_score="raise")
    everything = tuple((w, s) for w in [2, 4, 8, 16] for s in [0, 1, 2])
    with pytest.raises(ValueError, match="All the 12 fits of the width study failed"):
        _study(model={"fail_at": everything})
    with pytest.raises(ValueError, match="error_score"):
        _study(error_score="ignore")


def test_failures_in_parallel_workers():
    with pytest.warns(FitFailedWarning, match="1 fits failed"):
        result = _study(model={"fail_at": ((8, 0),)}, n_jobs=2)
    assert result.fit_failed.sum() == 1 and np.isnan(result.errors[2, 0])


def test_verbose_lines_on_stdout_name_the_failure(capsys):
    with pytest.warns(FitFailedWarning):
        _study(model={"fail_at": ((8, 0),)}, verbose=1)
    out, err = capsys.readouterr()
    assert "totalling 12 fits" in out
    assert "width=8 seed=0; FAILED in fit: ValueError: cannot fit width 8" in out
    assert err == ""


# --- the display -----------------------------------------------------------------------


@pytest.fixture
def pyplot():
    plt = pytest.importorskip("matplotlib.pyplot")
    yield plt
    plt.close("all")


def _slow_decay():
    # error falls by a factor 1.6 over a 100-fold range of widths (rate 0.1):
    # reference slopes 0.5 and 1 drawn over the whole range would run far below
    widths = np.array([10, 32, 100, 316, 1000])
    rng = np.random.default_rng(0)
    errors = 0.3 * widths[:, None] ** -0.1 * np.exp(0.05 * rng.standard_normal((5, 4)))
    return widths, errors


def test_references_stay_within_the_datas_range(pyplot):
    widths, errors = _slow_decay()
    display = WidthStudyDisplay(widths, errors, name="net").plot(reference_slopes=(0.5, 1.0, 0.0))
    assert len(display.reference_lines_) == 3
    for line, slope in zip(display.reference_lines_, (0.5, 1.0, 0.0)):
        x, y = line.get_xdata(), line.get_ydata()
        assert widths.min() <= x.min() and x.max() <= widths.max()
        assert errors.min() * (1 - 1e-12) <= y.min() and y.max() <= errors.max() * (1 + 1e-12)
        np.testing.assert_allclose(np.diff(np.log(y)) / np.diff(np.log(x)), -slope, atol=1e-12)
    # the axes hug the data: before, the slope-1 reference went 100 times below it
    low, high = display.ax_.get_ylim()
    assert low > errors.min() / 1.5 and high < errors.max() * 1.5


def test_one_legend_entry_each_and_a_labelled_fit(pyplot):
    widths, errors = _slow_decay()
    _, ax = pyplot.subplots()
    first = WidthStudyDisplay(widths, errors, name="a").plot(ax=ax)
    second = WidthStudyDisplay(widths, errors * 2, name="b").plot(ax=ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "a",
        f"a: fitted rate {first.rate.rate:.2f}",
        "width^-0.5",
        "width^-1",
        "b",
        f"b: fitted rate {second.rate.rate:.2f}",
    ]
    assert second.reference_lines_ == []  # already on the axes


def test_from_estimator_on_given_axes_draws_references_once(pyplot):
    _, ax = pyplot.subplots()
    kwargs = dict(widths=[2, 4, 8], seeds=[0, 1], scoring=SCORER)
    WidthStudyDisplay.from_estimator(_PowerLaw(), X_SMALL, Y_SMALL, ax=ax, name="a", **kwargs)
    WidthStudyDisplay.from_estimator(_PowerLaw(), X_SMALL, Y_SMALL, ax=ax, name="b", **kwargs)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels.count("width^-0.5") == 1 and labels.count("width^-1") == 1


def test_display_of_a_study_with_failed_fits(pyplot):
    widths = np.array([4.0, 8.0, 16.0])
    errors = np.array([[0.5, np.nan], [0.25, 0.3], [0.125, 0.11]])
    failed = np.isnan(errors)
    result = WidthStudyResult(widths, [0, 1], errors, np.ones_like(errors), fit_failed=failed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no log-of-nan warnings
        display = WidthStudyDisplay.from_study(result)
    assert len(display.points_.get_offsets()) == 5
    np.testing.assert_allclose(display.line_.get_ydata()[0], 0.5)
    assert display.rate.rate == pytest.approx(result.rate.rate)
    assert result.rate.rate == pytest.approx(
        fit_rate([4, 8, 8, 16, 16], [0.5, 0.25, 0.3, 0.125, 0.11]).rate
    )
