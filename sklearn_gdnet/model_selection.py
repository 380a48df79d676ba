"""Width studies: error versus width over seeds, the fitted rate, and its plot.

A width study fits clones of one estimator for every (width, seed) pair,
scores each with a scorer (typically :func:`sklearn_gdnet.metrics.make_l2_error_scorer`)
and fits the rate ``r`` of ``error ~ C * width^-r`` by least squares in log-log
coordinates. The fits run through scikit-learn's ``Parallel``, so ``n_jobs``
and joblib backends (``joblib.parallel_config(backend=...)``, dask) apply.
"""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from scipy import stats
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.utils.parallel import Parallel, delayed

__all__ = [
    "RateFit",
    "WidthStudyDisplay",
    "WidthStudyResult",
    "fit_rate",
    "local_rates",
    "width_study",
]


# --- rates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RateFit:
    """Least-squares fit of ``error = constant * width^-rate`` in log-log coordinates.

    Returned by :func:`fit_rate`.

    Parameters
    ----------
    rate : float
        The fitted rate ``r`` (minus the log-log slope); positive when the
        error falls with the width.

    constant : float
        The fitted constant ``C``.

    stderr : float
        Standard error of the slope from the regression (``nan`` with fewer
        than three points).

    confidence_interval : tuple of float
        ``(low, high)`` for the rate: ``rate -+ t_{(1+level)/2, n-2} * stderr``.

    confidence_level : float
        The level of the interval.

    n_points : int
        Number of (width, error) pairs in the fit (all seeds).
    """

    rate: float
    constant: float
    stderr: float
    confidence_interval: tuple[float, float]
    confidence_level: float
    n_points: int

    def __str__(self):
        low, high = self.confidence_interval
        return (
            f"rate {self.rate:.3f} [{low:.3f}, {high:.3f}] "
            f"({100 * self.confidence_level:g}% CI, {self.n_points} points)"
        )


def _check_widths_errors(widths, errors):
    widths = np.asarray(widths, dtype=float)
    errors = np.asarray(errors, dtype=float)
    if errors.ndim == 1:
        errors = errors[:, None]
    if widths.ndim != 1 or errors.ndim != 2 or errors.shape[0] != widths.shape[0]:
        raise ValueError(
            "errors must have shape (n_widths,) or (n_widths, n_seeds) with "
            f"n_widths = len(widths) = {widths.shape[0]}; got {errors.shape}."
        )
    if np.any(widths <= 0) or not np.all(np.isfinite(widths)):
        raise ValueError(f"widths must be positive and finite; got {widths}.")
    if np.any(~np.isfinite(errors)) or np.any(errors <= 0):
        raise ValueError(
            "A rate needs positive finite errors (log-log fit); got "
            f"{errors[~np.isfinite(errors) | (errors <= 0)][:5]} among them. "
            "Scores must be negative errors (greater is better)."
        )
    return widths, errors


def fit_rate(widths, errors, *, confidence_level=0.95):
    """Fit ``error = C * width^-rate`` by least squares on ``log(error)``.

    All seeds enter the regression as separate points:
    ``log e_ij = log C - rate * log m_i + eps_ij``. The confidence interval is
    the t-interval of the slope of this regression, valid for independent
    errors ``eps_ij`` with a common variance.

    Parameters
    ----------
    widths : array-like of shape (n_widths,)
        Positive widths ``m_i``.

    errors : array-like of shape (n_widths,) or (n_widths, n_seeds)
        Positive errors ``e_ij``.

    confidence_level : float, default=0.95
        Level of the interval, in (0, 1).

    Returns
    -------
    fit : RateFit
        The rate, constant, standard error and confidence interval.

    See Also
    --------
    local_rates : Rates between neighbouring widths.

    Examples
    --------
    >>> from sklearn_gdnet.model_selection import fit_rate
    >>> fit = fit_rate([10, 100, 1000], [[1.0, 1.1], [0.1, 0.11], [0.01, 0.011]])
    >>> round(fit.rate, 6), round(fit.constant, 6)
    (1.0, 10.488088)
    """
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be in (0, 1); got {confidence_level}.")
    widths, errors = _check_widths_errors(widths, errors)
    x = np.repeat(np.log(widths), errors.shape[1])
    z = np.log(errors).ravel()
    n = x.shape[0]
    if np.ptp(x) == 0:
        raise ValueError("A rate needs at least two distinct widths.")
    x_mean, z_mean = x.mean(), z.mean()
    sxx = np.sum((x - x_mean) ** 2)
    slope = np.sum((x - x_mean) * (z - z_mean)) / sxx
    intercept = z_mean - slope * x_mean
    if n > 2:
        residual = z - intercept - slope * x
        stderr = float(np.sqrt(residual @ residual / (n - 2) / sxx))
        half = stats.t.ppf(0.5 + confidence_level / 2, n - 2) * stderr
    else:
        stderr = half = np.nan
    rate = float(-slope)
    return RateFit(
        rate=rate,
        constant=float(np.exp(intercept)),
        stderr=stderr,
        confidence_interval=(rate - half, rate + half),
        confidence_level=confidence_level,
        n_points=n,
    )


def local_rates(widths, errors):
    """Compute the rates between neighbouring widths from the geometric mean over seeds.

    .. math::

        r_i = -\\frac{\\log \\bar e_{i+1} - \\log \\bar e_i}{\\log m_{i+1} - \\log m_i},
        \\qquad \\log \\bar e_i = \\operatorname{mean}_j \\log e_{ij}.

    Parameters
    ----------
    widths : array-like of shape (n_widths,)
        Positive widths, in the order of the study.

    errors : array-like of shape (n_widths,) or (n_widths, n_seeds)
        Positive errors.

    Returns
    -------
    rates : ndarray of shape (n_widths - 1,)
        ``rates[i]`` is the rate between ``widths[i]`` and ``widths[i + 1]``.

    Examples
    --------
    >>> from sklearn_gdnet.model_selection import local_rates
    >>> local_rates([1, 2, 4], [1.0, 0.5, 0.125])
    array([1., 2.])
    """
    widths, errors = _check_widths_errors(widths, errors)
    log_mean = np.log(errors).mean(axis=1)
    return -np.diff(log_mean) / np.diff(np.log(widths))


# --- the study -------------------------------------------------------------------------


@dataclass
class WidthStudyResult:
    """Every error of a width study, with its fitted and local rates.

    Returned by :func:`width_study`; the rates are computed from the errors on
    access (properties ``rate``, ``local_rates`` and ``mean_errors``).

    Parameters
    ----------
    widths : ndarray of shape (n_widths,)
        The widths.

    seeds : list
        The seeds (``[None]`` when the study did not set one).

    errors : ndarray of shape (n_widths, n_seeds)
        ``errors[i, j]``: minus the score of the estimator of width
        ``widths[i]`` and seed ``seeds[j]``.

    fit_times : ndarray of shape (n_widths, n_seeds)
        Seconds spent in ``fit``.

    param_name : str
        The width parameter that was varied.

    name : str
        Name of the estimator (for tables and legends).

    confidence_level : float
        Level of the rate's confidence interval.
    """

    widths: np.ndarray
    seeds: list
    errors: np.ndarray
    fit_times: np.ndarray
    param_name: str = "width"
    name: str = "estimator"
    confidence_level: float = 0.95
    _rate: RateFit | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def rate(self) -> RateFit:
        """The rate fitted over all widths and seeds (:func:`fit_rate`)."""
        if self._rate is None:
            self._rate = fit_rate(self.widths, self.errors, confidence_level=self.confidence_level)
        return self._rate

    @property
    def local_rates(self) -> np.ndarray:
        """Rates between neighbouring widths (:func:`local_rates`)."""
        return local_rates(self.widths, self.errors)

    @property
    def mean_errors(self) -> np.ndarray:
        """Geometric mean of the errors over seeds, per width."""
        return np.exp(np.log(self.errors).mean(axis=1))

    def to_records(self):
        """One dict per (width, seed): ``name, width, seed, error, fit_time``."""
        return [
            {
                "name": self.name,
                "width": int(w) if float(w).is_integer() else float(w),
                "seed": seed,
                "error": float(self.errors[i, j]),
                "fit_time": float(self.fit_times[i, j]),
            }
            for i, w in enumerate(self.widths)
            for j, seed in enumerate(self.seeds)
        ]


def _seed_param_for(param_name):
    prefix, sep, _ = param_name.rpartition("__")
    return f"{prefix}{sep}random_state"


def _owner_name(estimator, param_name):
    prefix = param_name.rpartition("__")[0]
    owner = estimator.get_params()[prefix] if prefix else estimator
    return type(owner).__name__


def _fit_and_score(estimator, params, X, y, X_eval, y_eval, scorer, fit_params):
    estimator = clone(estimator).set_params(**params)
    start = time.perf_counter()
    estimator.fit(X, y, **fit_params)
    fit_time = time.perf_counter() - start
    scores = scorer(estimator, X_eval, y_eval)
    if isinstance(scores, dict):
        return {key: -float(value) for key, value in scores.items()}, fit_time
    return -float(scores), fit_time


def width_study(
    estimator,
    X,
    y,
    *,
    widths,
    scoring,
    param_name="width",
    seeds=(0, 1, 2),
    seed_param=None,
    X_test=None,
    y_test=None,
    fit_params=None,
    n_jobs=None,
    verbose=0,
    confidence_level=0.95,
    name=None,
):
    """Fit an estimator at several widths and seeds and record its errors.

    For every pair ``(width, seed)`` a clone of ``estimator`` gets
    ``set_params(**{param_name: width, seed_param: seed})``, is fitted on
    ``(X, y)`` and scored with ``scoring`` on ``(X_test, y_test)`` (or on the
    training data when no test set is given; a continuous-L2 scorer ignores
    them). The error is minus the score, scikit-learn's greater-is-better
    convention turned around. The fits run in parallel through scikit-learn's
    ``Parallel``.

    Parameters
    ----------
    estimator : estimator object
        An estimator with a width parameter, e.g.
        :class:`~sklearn_gdnet.GDNetworkRegressor` or a pipeline ending in one.

    X : array-like of shape (n_samples, n_features)
        Training inputs.

    y : array-like of shape (n_samples,)
        Training targets.

    widths : array-like of int
        The widths, ideally increasing and spread geometrically.

    scoring : str, callable, list or dict
        A scorer ``scorer(estimator, X, y)`` returning minus an error, such as
        :func:`~sklearn_gdnet.metrics.make_l2_error_scorer` or
        ``"neg_root_mean_squared_error"``; see
        :func:`sklearn.metrics.check_scoring`. A list or dict of scorers
        (scikit-learn's multi-metric form) scores every fit with each of them
        and returns one result per scorer.

    param_name : str, default="width"
        The width parameter, with the ``step__`` prefix inside a pipeline,
        e.g. ``"gdnetworkregressor__width"``.

    seeds : iterable of int or None, default=(0, 1, 2)
        Values of ``seed_param``, one fit per width and seed. ``None`` fits
        once per width without setting a seed.

    seed_param : str, default=None
        The seed parameter; None takes ``random_state`` next to
        ``param_name`` (``"gdnetworkregressor__random_state"`` in the example
        above).

    X_test, y_test : array-like, default=None
        Data the scorer sees; None passes the training data.

    fit_params : dict, default=None
        Extra keyword arguments for ``fit``.

    n_jobs : int, default=None
        Number of parallel fits; None means 1 unless in a
        ``joblib.parallel_config`` context.

    verbose : int, default=0
        ``>= 1``: one line per finished fit on stderr.

    confidence_level : float, default=0.95
        Level of the rate's confidence interval.

    name : str, default=None
        Name for tables and legends; None uses the class name of the
        estimator that owns ``param_name``.

    Returns
    -------
    result : WidthStudyResult or dict of str to WidthStudyResult
        All errors and fit times, with ``rate`` and ``local_rates``; a dict
        keyed by scorer name for multi-metric ``scoring``.

    See Also
    --------
    WidthStudyDisplay : Plot of a study.
    sklearn.model_selection.validation_curve : The same loop without seeds.

    Examples
    --------
    >>> from sklearn.neural_network import MLPRegressor
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sklearn_gdnet.datasets import make_interval_regression
    >>> from sklearn_gdnet.metrics import make_l2_error_scorer
    >>> from sklearn_gdnet.model_selection import width_study
    >>> X, y, target = make_interval_regression(30, target="bump")
    >>> model = make_pipeline(
    ...     FunctionTransformer(), MLPRegressor(solver="lbfgs", max_iter=200)
    ... )
    >>> result = width_study(
    ...     model, X, y,
    ...     widths=[2, 8, 32],
    ...     param_name="mlpregressor__hidden_layer_sizes",
    ...     seeds=[0, 1],
    ...     scoring=make_l2_error_scorer(target),
    ... )
    >>> result.errors.shape
    (3, 2)
    >>> result.local_rates.shape
    (2,)
    """
    widths = np.asarray(widths)
    if widths.ndim != 1 or widths.shape[0] < 1:
        raise ValueError(f"widths must be a non-empty 1-d sequence; got {widths!r}.")
    params = estimator.get_params()
    if param_name not in params:
        raise ValueError(
            f"{type(estimator).__name__} has no parameter {param_name!r}; for a "
            "pipeline use '<step>__width', e.g. 'gdnetworkregressor__width'."
        )
    seeds = [None] if seeds is None else list(seeds)
    if seeds != [None]:
        seed_param = _seed_param_for(param_name) if seed_param is None else seed_param
        if seed_param not in params:
            raise ValueError(
                f"{type(estimator).__name__} has no seed parameter {seed_param!r}; "
                "pass seed_param=... or seeds=None."
            )
        if not all(isinstance(s, Integral) for s in seeds):
            raise ValueError(f"seeds must be integers; got {seeds}.")
    if not (isinstance(confidence_level, Real) and 0 < confidence_level < 1):
        raise ValueError(f"confidence_level must be in (0, 1); got {confidence_level}.")
    if (X_test is None) != (y_test is None):
        raise ValueError("Pass both X_test and y_test, or neither.")
    scorer = check_scoring(estimator, scoring=scoring)
    X_eval, y_eval = (X, y) if X_test is None else (X_test, y_test)
    fit_params = {} if fit_params is None else fit_params
    name = _owner_name(estimator, param_name) if name is None else name

    # tuples for MLPRegressor's hidden_layer_sizes-style width parameters stay as given
    grid = [(i, j) for i in range(widths.shape[0]) for j in range(len(seeds))]

    def task_params(i, j):
        width = widths[i].item()
        task = {param_name: width}
        if seeds[j] is not None:
            task[seed_param] = seeds[j]
        return task

    tasks = (
        delayed(_fit_and_score)(
            estimator, task_params(i, j), X, y, X_eval, y_eval, scorer, fit_params
        )
        for i, j in grid
    )
    errors = {}
    fit_times = np.empty((widths.shape[0], len(seeds)))
    start = time.perf_counter()
    outputs = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    for done, ((i, j), (error, fit_time)) in enumerate(zip(grid, outputs), start=1):
        for key, value in error.items() if isinstance(error, dict) else [(None, error)]:
            errors.setdefault(key, np.empty_like(fit_times))[i, j] = value
        fit_times[i, j] = fit_time
        if verbose:
            shown = " ".join(
                f"{'error' if key is None else key}={value[i, j]:.4g}"
                for key, value in errors.items()
            )
            print(
                f"[width_study] {name} width={widths[i]} seed={seeds[j]} {shown} "
                f"fit={fit_time:.2f}s ({done}/{len(grid)}, "
                f"{time.perf_counter() - start:.1f}s)",
                file=sys.stderr,
                flush=True,
            )
    results = {
        key: WidthStudyResult(
            widths=widths.astype(float),
            seeds=seeds,
            errors=value,
            fit_times=fit_times.copy(),
            param_name=param_name,
            name=name if key is None else f"{name} {key}",
            confidence_level=confidence_level,
        )
        for key, value in errors.items()
    }
    return results[None] if None in results else results


# --- the plot --------------------------------------------------------------------------


# dotted, dash-dotted, long-dashed: reference slopes stay apart in print
_REFERENCE_STYLES = [(0, (1, 2)), (0, (6, 2, 1, 2)), (0, (8, 3))]


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "WidthStudyDisplay needs matplotlib, an optional dependency: "
            "pip install 'sklearn-gdnet[plots]' (or pip install matplotlib)."
        ) from exc
    return plt


class WidthStudyDisplay:
    """Error versus width in log-log coordinates, with the fitted rate.

    Draws every (width, seed) error as a faint point, the geometric mean over
    seeds as a line, the fitted rate as a dashed line and reference slopes
    ``width^-r`` through the first mean error. Create it with
    :meth:`from_study` or :meth:`from_estimator`; call :meth:`plot` again with
    ``ax=display.ax_`` to overlay several estimators. Needs matplotlib.

    Parameters
    ----------
    widths : ndarray of shape (n_widths,)
        The widths.

    errors : ndarray of shape (n_widths, n_seeds)
        The errors.

    rate : RateFit, default=None
        The fitted rate; None fits it (when there are two or more widths).

    name : str, default=None
        Legend label.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The geometric mean error per width.

    points_ : matplotlib PathCollection
        Every error (``None`` when ``show_seeds=False``).

    fit_line_ : matplotlib Line2D or None
        The fitted rate.

    reference_lines_ : list of matplotlib Line2D
        The reference slopes.

    ax_ : matplotlib Axes
        Axes with the plot.

    figure_ : matplotlib Figure
        Figure containing the plot.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.model_selection import WidthStudyDisplay
    >>> widths = np.array([8, 32, 128])
    >>> errors = np.array([[0.4, 0.5], [0.2, 0.26], [0.1, 0.12]])
    >>> display = WidthStudyDisplay(widths, errors, name="GD").plot()
    >>> display.ax_.get_xscale()
    'log'
    """

    def __init__(self, widths, errors, *, rate=None, name=None):
        self.widths = np.asarray(widths, dtype=float)
        self.errors = np.asarray(errors, dtype=float).reshape(self.widths.shape[0], -1)
        if rate is None and np.unique(self.widths).shape[0] > 1:
            rate = fit_rate(self.widths, self.errors)
        self.rate = rate
        self.name = name

    def plot(self, ax=None, *, name=None, reference_slopes=(0.5, 1.0), show_seeds=True):
        """Draw the study.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        name : str, default=None
            Legend label; None uses the display's name.

        reference_slopes : iterable of float, default=(0.5, 1.0)
            Rates ``r`` of the reference lines ``width^-r``; empty for none.

        show_seeds : bool, default=True
            Draw each seed's error as a point.

        Returns
        -------
        display : WidthStudyDisplay
            The object, with the matplotlib artists stored.
        """
        plt = _import_pyplot()
        if ax is None:
            _, ax = plt.subplots()
        name = self.name if name is None else name
        mean = np.exp(np.log(self.errors).mean(axis=1))
        label = name if name is not None else "error"
        if self.rate is not None:
            label = f"{label} (rate {self.rate.rate:.2f})"
        (self.line_,) = ax.plot(self.widths, mean, "o-", label=label)
        color = self.line_.get_color()
        self.points_ = None
        if show_seeds:
            self.points_ = ax.scatter(
                np.repeat(self.widths, self.errors.shape[1]),
                self.errors.ravel(),
                color=color,
                alpha=0.3,
                s=12,
            )
        self.fit_line_ = None
        if self.rate is not None:
            (self.fit_line_,) = ax.plot(
                self.widths,
                self.rate.constant * self.widths ** (-self.rate.rate),
                "--",
                color=color,
                alpha=0.7,
            )
        self.reference_lines_ = []
        for r, style in zip(reference_slopes, itertools.cycle(_REFERENCE_STYLES)):
            (line,) = ax.plot(
                self.widths,
                mean[0] * (self.widths / self.widths[0]) ** (-r),
                linestyle=style,
                color="gray",
                linewidth=1,
                label=f"width^-{r:g}",
            )
            self.reference_lines_.append(line)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("width")
        ax.set_ylabel("error")
        ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_study(
        cls, result, *, ax=None, name=None, reference_slopes=(0.5, 1.0), show_seeds=True
    ):
        """Plot a :class:`WidthStudyResult`.

        Parameters
        ----------
        result : WidthStudyResult
            The output of :func:`width_study`.

        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        name : str, default=None
            Legend label; None uses ``result.name``.

        reference_slopes : iterable of float, default=(0.5, 1.0)
            Rates of the reference lines.

        show_seeds : bool, default=True
            Draw each seed's error as a point.

        Returns
        -------
        display : WidthStudyDisplay
            The drawn display.
        """
        rate = result.rate if np.unique(result.widths).shape[0] > 1 else None
        display = cls(result.widths, result.errors, rate=rate, name=result.name)
        return display.plot(
            ax=ax, name=name, reference_slopes=reference_slopes, show_seeds=show_seeds
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        widths,
        scoring,
        param_name="width",
        seeds=(0, 1, 2),
        n_jobs=None,
        ax=None,
        name=None,
        reference_slopes=(0.5, 1.0),
        show_seeds=True,
        **study_params,
    ):
        """Run :func:`width_study` and plot it.

        Parameters
        ----------
        estimator : estimator object
            Estimator with a width parameter.

        X : array-like of shape (n_samples, n_features)
            Training inputs.

        y : array-like of shape (n_samples,)
            Training targets.

        widths : array-like of int
            The widths.

        scoring : str or callable
            Scorer returning minus an error.

        param_name : str, default="width"
            The width parameter.

        seeds : iterable of int or None, default=(0, 1, 2)
            The seeds.

        n_jobs : int, default=None
            Number of parallel fits.

        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        name : str, default=None
            Legend label.

        reference_slopes : iterable of float, default=(0.5, 1.0)
            Rates of the reference lines.

        show_seeds : bool, default=True
            Draw each seed's error as a point.

        **study_params : dict
            Further arguments of :func:`width_study`.

        Returns
        -------
        display : WidthStudyDisplay
            The drawn display; the study is in ``display.result_``.
        """
        _import_pyplot()  # fail before the fits, not after
        result = width_study(
            estimator,
            X,
            y,
            widths=widths,
            scoring=scoring,
            param_name=param_name,
            seeds=seeds,
            n_jobs=n_jobs,
            name=name,
            **study_params,
        )
        display = cls.from_study(
            result, ax=ax, reference_slopes=reference_slopes, show_seeds=show_seeds
        )
        display.result_ = result
        return display
