"""Width studies: error versus width over seeds, the fitted rate, and its plot.

A width study fits clones of one estimator for every (width, seed) pair,
scores each with a scorer (typically :func:`sklearn_gdnet.metrics.make_l2_error_scorer`)
and fits the rate ``r`` of ``error ~ C * width^-r`` by least squares in log-log
coordinates. The fits run through scikit-learn's ``Parallel``, so ``n_jobs``
and joblib backends (``joblib.parallel_config(backend=...)``, dask) apply.
"""

from __future__ import annotations

import itertools
import time
import traceback
import warnings
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from numbers import Integral, Real

import numpy as np
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring
from sklearn.utils.parallel import Parallel, delayed

from . import _batched

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
    return _fit_log_log(x, np.log(errors).ravel(), confidence_level)


def _fit_log_log(x, z, confidence_level):
    """Least squares of ``z = log C - rate * x`` with the slope's t-interval."""
    n = x.shape[0]
    if n == 0 or np.ptp(x) == 0:
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
    access (properties ``rate``, ``local_rates`` and ``mean_errors``). Fits
    that failed (see ``error_score`` in :func:`width_study`) are flagged in
    ``fit_failed`` and left out of all three.

    Parameters
    ----------
    widths : ndarray of shape (n_widths,)
        The widths as numbers: for tuple values of the width parameter
        (``hidden_layer_sizes=(m, m)``), their common entry ``m``.

    seeds : list
        The seeds (``[None]`` when the study did not set one).

    errors : ndarray of shape (n_widths, n_seeds)
        ``errors[i, j]``: minus the score of the estimator of width
        ``widths[i]`` and seed ``seeds[j]`` (minus ``error_score`` where the
        fit failed).

    fit_times : ndarray of shape (n_widths, n_seeds)
        Seconds spent in ``fit``.

    param_name : str
        The width parameter that was varied.

    name : str
        Name of the estimator (for tables and legends).

    confidence_level : float
        Level of the rate's confidence interval.

    fit_failed : ndarray of bool of shape (n_widths, n_seeds), default=None
        Where fitting or scoring raised; None means no fit failed.

    param_values : list, default=None
        The values of ``param_name`` as they were set (tuples stay tuples);
        None means ``widths``.
    """

    widths: np.ndarray
    seeds: list
    errors: np.ndarray
    fit_times: np.ndarray
    param_name: str = "width"
    name: str = "estimator"
    confidence_level: float = 0.95
    fit_failed: np.ndarray | None = None
    param_values: list | None = None
    _rate: RateFit | None = field(default=None, init=False, repr=False, compare=False)

    def _succeeded(self):
        if self.fit_failed is None:
            return np.ones(np.shape(self.errors), dtype=bool)
        return ~np.asarray(self.fit_failed, dtype=bool)

    def _log_mean_errors(self):
        ok = self._succeeded()
        _check_widths_errors(self.widths, np.where(ok, self.errors, 1.0))
        return _log_means(self.errors, ok)

    @property
    def rate(self) -> RateFit:
        """The rate fitted over all widths and successful seeds (:func:`fit_rate`)."""
        if self._rate is None:
            ok = self._succeeded()
            if ok.all():
                self._rate = fit_rate(
                    self.widths, self.errors, confidence_level=self.confidence_level
                )
            else:
                widths, errors = _check_widths_errors(self.widths, np.where(ok, self.errors, 1.0))
                x = np.broadcast_to(np.log(widths)[:, None], errors.shape)[ok]
                self._rate = _fit_log_log(x, np.log(errors[ok]), self.confidence_level)
        return self._rate

    @property
    def local_rates(self) -> np.ndarray:
        """Rates between neighbouring widths (:func:`local_rates`); nan next to a
        width whose fits all failed."""
        return -np.diff(self._log_mean_errors()) / np.diff(np.log(self.widths))

    @property
    def mean_errors(self) -> np.ndarray:
        """Geometric mean of the errors over successful seeds, per width."""
        return np.exp(self._log_mean_errors())

    def to_records(self):
        """One dict per (width, seed): ``name, width, seed, error, fit_time, fit_failed``."""
        failed = ~self._succeeded()
        return [
            {
                "name": self.name,
                "width": int(w) if float(w).is_integer() else float(w),
                "seed": seed,
                "error": float(self.errors[i, j]),
                "fit_time": float(self.fit_times[i, j]),
                "fit_failed": bool(failed[i, j]),
            }
            for i, w in enumerate(self.widths)
            for j, seed in enumerate(self.seeds)
        ]


def _log_means(errors, mask):
    """Mean of ``log(errors)`` over the masked seeds of each width; nan where none is."""
    counts = mask.sum(axis=1)
    sums = np.where(mask, np.log(np.where(mask, errors, 1.0)), 0.0).sum(axis=1)
    return np.divide(sums, counts, out=np.full(counts.shape, np.nan), where=counts > 0)


def _seed_param_for(param_name):
    prefix, sep, _ = param_name.rpartition("__")
    return f"{prefix}{sep}random_state"


def _owner_name(estimator, param_name):
    prefix = param_name.rpartition("__")[0]
    owner = estimator.get_params()[prefix] if prefix else estimator
    return type(owner).__name__


def _width_value(value):
    """The value to set and its width as a number; tuples are constant-width layer sizes."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (tuple, list, np.ndarray)):
        entries = [v.item() if isinstance(v, np.generic) else v for v in np.ravel(value)]
        if (
            not entries
            or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in entries)
            or len(set(entries)) != 1
            or entries[0] < 1
        ):
            raise ValueError(
                "A tuple width (hidden_layer_sizes) must hold one positive integer m, "
                f"repeated once per layer, so that the width is m; got {value!r}."
            )
        return tuple(entries), float(entries[0])
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"widths must be numbers or tuples of integers; got {value!r}.")
    return value, float(value)


class _Failure:
    """What went wrong in one (width, seed) task, for the warning and the log."""

    def __init__(self, stage, exc):
        self.stage = stage
        self.summary = f"{type(exc).__name__}: {exc}"
        self.traceback = "".join(traceback.format_exception(exc))


def _fit_and_score(
    estimator, params, X, y, X_eval, y_eval, scorer, fit_params, error_score, trained=None
):
    """Fit a clone and score it; ``trained`` is its run trained with other seeds, if any."""
    start = time.perf_counter()
    try:
        estimator = clone(estimator).set_params(**params)
        with _batched.replaying(trained) if trained is not None else nullcontext():
            estimator.fit(X, y, **fit_params)
    except Exception as exc:
        if error_score == "raise":
            raise
        return _Failure("fit", exc), time.perf_counter() - start
    fit_time = time.perf_counter() - start
    try:
        scores = scorer(estimator, X_eval, y_eval)
    except Exception as exc:
        if error_score == "raise":
            raise
        return _Failure("score", exc), fit_time
    if isinstance(scores, dict):
        return {key: -float(value) for key, value in scores.items()}, fit_time
    return -float(scores), fit_time


def _train_seeds_together(estimator, values, seeds, task_params, X, y, fit_params):
    """Runs of the seeds of each width trained together, where that is possible.

    Returns ``{(i, j): trajectory}`` and ``{(i, j): seconds}``, each seed's
    share of its batch's training time. Only networks of this package whose
    runs the batched loop reproduces are batched (see `_batched`); everything
    else is fitted seed by seed as before.
    """
    trained, times = {}, {}
    if len(seeds) < 2 or seeds[0] is None or not _batched.trains_through_the_loop(estimator):
        return trained, times
    for i in range(len(values)):

        def fit(j, i=i):
            clone(estimator).set_params(**task_params(i, j)).fit(X, y, **fit_params)

        start = time.perf_counter()
        runs = _batched.batch_trajectories([partial(fit, j) for j in range(len(seeds))])
        if runs is None:
            break  # not a run the batched loop computes, at any width
        elapsed = time.perf_counter() - start
        done = [j for j, run in enumerate(runs) if run is not None]
        for j in done:
            trained[i, j] = runs[j]
            times[i, j] = elapsed / len(done)
    return trained, times


def _report_failures(failures, n_fits, error_score):
    """Raise when every fit failed, warn (like scikit-learn's searches) when some did."""
    if not failures:
        return
    groups = defaultdict(list)
    for (width, seed), failure in failures:
        groups[(failure.stage, failure.summary)].append((failure, width, seed))
    details = []
    for (stage, _), items in groups.items():
        pairs = ", ".join(f"(width={w}, seed={s})" for _, w, s in items)
        details.append(
            f"{'-' * 80}\n{len(items)} fits failed in {stage} at {pairs} with the "
            f"following error:\n{items[0][0].traceback}"
        )
    if len(failures) == n_fits:
        raise ValueError(
            f"All the {n_fits} fits of the width study failed. The estimator or its "
            "parameters are likely misconfigured.\n\nBelow are more details about the "
            "failures:\n" + "\n".join(details)
        )
    warnings.warn(
        f"\n{len(failures)} fits failed out of a total of {n_fits}. Their errors are "
        f"set to -error_score = {-error_score!r} and left out of the rates.\n"
        "If these failures are not expected, you can try to debug them by setting "
        "error_score='raise'.\n\nBelow are more details about the failures:\n" + "\n".join(details),
        FitFailedWarning,
        stacklevel=3,
    )


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
    error_score=np.nan,
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

    widths : array-like of int or of tuple
        The widths, ideally increasing and spread geometrically. A tuple, for
        a parameter such as :class:`~sklearn.neural_network.MLPRegressor`'s
        ``hidden_layer_sizes``, is set as given and must repeat one width
        ``m`` (``(m,)``, ``(m, m)``, ...), which is the width of the rate.

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
        ``joblib.parallel_config`` context. Inside
        ``joblib.parallel_config(backend="dask")`` the fits run on a dask
        cluster, with the same errors seed for seed (see :ref:`cluster`).

    verbose : int, default=0
        ``>= 1``: the number of fits, then one line per finished fit, on
        standard output like scikit-learn's searches and this package's
        estimators.

    error_score : "raise" or float, default=np.nan
        What to do when a fit (or its scoring) raises, as in scikit-learn's
        searches: ``"raise"`` stops the study with the error; a number is
        recorded as the score of that fit (its error is ``-error_score``), the
        fit is flagged in ``fit_failed`` and left out of the rates, and a
        :class:`~sklearn.exceptions.FitFailedWarning` lists the failures. If
        every fit fails, a ``ValueError`` says why.

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
    ...     widths=[(2, 2), (8, 8), (32, 32)],
    ...     param_name="mlpregressor__hidden_layer_sizes",
    ...     seeds=[0, 1],
    ...     scoring=make_l2_error_scorer(target),
    ... )
    >>> result.errors.shape
    (3, 2)
    >>> result.widths
    array([ 2.,  8., 32.])
    >>> result.local_rates.shape
    (2,)
    """
    try:
        values = None if isinstance(widths, str) else list(widths)
    except TypeError:  # a scalar
        values = None
    if not values:
        raise ValueError(f"widths must be a non-empty sequence; got {widths!r}.")
    values, numeric = zip(*(_width_value(v) for v in values))
    values, numeric = list(values), np.array(numeric, dtype=float)
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
    if not (
        error_score == "raise"
        if isinstance(error_score, str)
        else isinstance(error_score, Real) and not isinstance(error_score, bool)
    ):
        raise ValueError(f"error_score must be 'raise' or a number; got {error_score!r}.")
    if (X_test is None) != (y_test is None):
        raise ValueError("Pass both X_test and y_test, or neither.")
    scorer = check_scoring(estimator, scoring=scoring)
    X_eval, y_eval = (X, y) if X_test is None else (X_test, y_test)
    fit_params = {} if fit_params is None else fit_params
    name = _owner_name(estimator, param_name) if name is None else name

    grid = [(i, j) for i in range(len(values)) for j in range(len(seeds))]

    def task_params(i, j):
        task = {param_name: values[i]}
        if seeds[j] is not None:
            task[seed_param] = seeds[j]
        return task

    # Seeds of one width that the exact 1-d core computes train together (the
    # fits below then hand each seed's run over instead of training it).
    trained, batch_times = _train_seeds_together(
        estimator, values, seeds, task_params, X, y, fit_params
    )
    tasks = (
        delayed(_fit_and_score)(
            estimator,
            task_params(i, j),
            X,
            y,
            X_eval,
            y_eval,
            scorer,
            fit_params,
            error_score,
            trained.get((i, j)),
        )
        for i, j in grid
    )
    if verbose:
        print(
            f"[width_study] Fitting {name} at {len(values)} widths x {len(seeds)} seeds, "
            f"totalling {len(grid)} fits",
            flush=True,
        )
    outputs = {}
    failures = []
    fit_times = np.empty((len(values), len(seeds)))
    start = time.perf_counter()
    results_iter = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    for done, ((i, j), (output, fit_time)) in enumerate(zip(grid, results_iter), start=1):
        outputs[i, j] = output
        fit_times[i, j] = fit_time + batch_times.get((i, j), 0.0)
        if isinstance(output, _Failure):
            failures.append(((values[i], seeds[j]), output))
            shown = f"FAILED in {output.stage}: {output.summary}"
        elif isinstance(output, dict):
            shown = " ".join(f"{key}={value:.4g}" for key, value in output.items())
        else:
            shown = f"error={output:.4g}"
        if verbose:
            print(
                f"[width_study] END {param_name}={values[i]} seed={seeds[j]}; {shown}; "
                f"fit={fit_time:.2f}s ({done}/{len(grid)}, {time.perf_counter() - start:.1f}s)",
                flush=True,
            )
    _report_failures(failures, len(grid), error_score)

    first = next(out for out in outputs.values() if not isinstance(out, _Failure))
    keys = list(first) if isinstance(first, dict) else [None]
    fit_failed = np.zeros(fit_times.shape, dtype=bool)
    errors = {key: np.empty(fit_times.shape) for key in keys}
    for (i, j), output in outputs.items():
        fit_failed[i, j] = isinstance(output, _Failure)
        for key in keys:
            if fit_failed[i, j]:
                errors[key][i, j] = -error_score
            else:
                errors[key][i, j] = output if key is None else output[key]
    results = {
        key: WidthStudyResult(
            widths=numeric.copy(),
            seeds=seeds,
            errors=value,
            fit_times=fit_times.copy(),
            param_name=param_name,
            name=name if key is None else f"{name} {key}",
            confidence_level=confidence_level,
            fit_failed=fit_failed.copy() if fit_failed.any() else None,
            param_values=list(values),
        )
        for key, value in errors.items()
    }
    return results[None] if None in results else results


# --- the plot --------------------------------------------------------------------------


# dotted, dash-dotted, long-dashed: reference slopes stay apart in print
_REFERENCE_STYLES = [(0, (1, 2)), (0, (6, 2, 1, 2)), (0, (8, 3))]


def _rate_or_none(widths, errors, usable):
    """The rate over the usable errors, or None where none can be fitted."""
    x = np.broadcast_to(np.log(widths)[:, None], errors.shape)[usable]
    if x.shape[0] < 2 or np.ptp(x) == 0:
        return None
    return _fit_log_log(x, np.log(errors[usable]), 0.95)


def _reference_segment(widths, mean, data, rate):
    """End points of ``c * width^-rate`` through the data's centre, clipped to its range.

    The line passes through the geometric means of the widths and of the
    mean errors; it is kept where the width lies within the widths and the
    value within the errors, so that it never widens the axes.
    """
    finite = np.isfinite(mean)
    if not finite.any() or data.size == 0:
        return None
    log_w = np.log(widths[finite])
    x0, y0 = log_w.mean(), np.log(mean[finite]).mean()
    low, high = log_w.min(), log_w.max()
    y_low, y_high = np.log(data.min()), np.log(data.max())
    if rate != 0:
        # y = y0 - rate (x - x0) stays in [y_low, y_high] for x between these two
        ends = sorted([x0 - (y_high - y0) / rate, x0 - (y_low - y0) / rate])
        low, high = max(low, ends[0]), min(high, ends[1])
    if not high > low:
        return None
    x = np.array([low, high])
    return np.exp(x), np.exp(y0 - rate * (x - x0))


def _import_pyplot(what="WidthStudyDisplay"):
    """``matplotlib.pyplot``, or an ImportError saying which display needs it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{what} needs matplotlib, an optional dependency: "
            "pip install 'sklearn-gdnet[plots]' (or pip install matplotlib)."
        ) from exc
    return plt


class WidthStudyDisplay:
    """Error versus width in log-log coordinates, with the fitted rate.

    Draws every (width, seed) error as a faint point, the geometric mean over
    seeds as a line, the fitted rate as a dashed line and reference slopes
    ``width^-r``. A reference line passes through the centre of the data (the
    geometric means of the widths and of the mean errors) and is drawn only
    where it stays within the range of the widths and of the errors, so that
    it never stretches the axes beyond the data. Each of the mean, the fit
    and every reference slope has one legend entry; on axes that already
    carry a reference slope (an overlay), it is not drawn again. Create the
    display with :meth:`from_study` or :meth:`from_estimator`; call
    :meth:`plot` again with ``ax=display.ax_`` to overlay several estimators.
    Needs matplotlib.

    Parameters
    ----------
    widths : ndarray of shape (n_widths,)
        The widths.

    errors : ndarray of shape (n_widths, n_seeds)
        The errors; entries that are not positive and finite (failed fits)
        are left out.

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
        The fitted rate (None when no rate could be fitted).

    reference_lines_ : list of matplotlib Line2D
        The reference slopes drawn by this call.

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
    >>> [text.get_text() for text in display.ax_.get_legend().get_texts()]
    ['GD', 'GD: fitted rate 0.51', 'width^-0.5', 'width^-1']
    """

    def __init__(self, widths, errors, *, rate=None, name=None):
        self.widths = np.asarray(widths, dtype=float)
        self.errors = np.asarray(errors, dtype=float).reshape(self.widths.shape[0], -1)
        if rate is None:
            rate = _rate_or_none(self.widths, self.errors, self._usable())
        self.rate = rate
        self.name = name

    def _usable(self):
        return np.isfinite(self.errors) & (self.errors > 0)

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
            Slopes already drawn on ``ax`` are not drawn again.

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
        label = "error" if name is None else name
        usable = self._usable()
        mean = np.exp(_log_means(self.errors, usable))
        (self.line_,) = ax.plot(self.widths, mean, "o-", label=label)
        color = self.line_.get_color()
        self.points_ = None
        if show_seeds:
            self.points_ = ax.scatter(
                np.broadcast_to(self.widths[:, None], self.errors.shape)[usable],
                self.errors[usable],
                color=color,
                alpha=0.3,
                s=12,
                label="_nolegend_",
            )
        self.fit_line_ = None
        if self.rate is not None:
            (self.fit_line_,) = ax.plot(
                self.widths,
                self.rate.constant * self.widths ** (-self.rate.rate),
                "--",
                color=color,
                alpha=0.7,
                label=f"{label}: fitted rate {self.rate.rate:.2f}",
            )
        self.reference_lines_ = []
        drawn = {line.get_gid() for line in ax.get_lines()}
        data = self.errors[usable] if show_seeds else mean[np.isfinite(mean)]
        for r, style in zip(reference_slopes, itertools.cycle(_REFERENCE_STYLES)):
            gid = f"sklearn_gdnet.reference_slope={float(r)!r}"
            segment = _reference_segment(self.widths, mean, data, float(r))
            if gid in drawn or segment is None:
                continue
            (line,) = ax.plot(
                *segment,
                linestyle=style,
                color="gray",
                linewidth=1,
                label=f"width^-{r:g}",
                gid=gid,
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
        try:
            rate = result.rate
        except ValueError:  # one width, or errors without a logarithm
            rate = None
        errors = np.where(result._succeeded(), result.errors, np.nan)
        display = cls(result.widths, errors, rate=rate, name=result.name)
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
