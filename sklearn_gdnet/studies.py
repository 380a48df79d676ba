"""Studies in the theory's setting: the error decomposition with spectra, and GD against flow.

Both studies train :class:`~sklearn_gdnet.GDNetworkRegressor` networks and the
kernel models of the same family (:class:`~sklearn_gdnet.NTKRegressor`) on one
training set, typically a quadrature training set on which the training loss
is the continuous loss (:func:`~sklearn_gdnet.datasets.make_sphere_quadrature`),
and measure every model on one exact evaluation rule: the continuous
:math:`L^2` error against the target and the residual energy per
spherical-harmonic degree (:func:`~sklearn_gdnet.metrics.residual_spectrum`).
They return result objects that the displays draw. The networks are trained
on ``y`` as given (``normalize_y=False``), the training that the kernel models
describe.

Time convention: ``n_steps`` gradient-descent steps of size ``eta`` are the
time ``t = eta * n_steps``; with sample weights of mean one (on a quadrature
training set, ``w = n v``) the kernel dynamics shrink the residual's component
on a kernel eigenvalue ``lambda`` by ``(1 - eta lambda)^n_steps`` (GD) or
``exp(-lambda t)`` (flow), with ``lambda`` the eigenvalue of the kernel's
integral operator under the normalized measure
(:func:`kernel_flow_spectrum`).
"""

from __future__ import annotations

import sys
import time as _time
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array, check_consistent_length, column_or_1d
from sklearn.utils.parallel import Parallel, delayed

from ._compat import _check_sample_weight
from ._gd_network import GDNetworkRegressor
from ._ntk import NTKRegressor
from ._spectra import HarmonicProjector, kernel_flow_spectrum
from .exceptions import DivergenceWarning
from .model_selection import RateFit, _import_pyplot, fit_rate, local_rates

__all__ = [
    "ErrorDecompositionDisplay",
    "ErrorDecompositionResult",
    "GDFlowDisplay",
    "GDFlowResult",
    "error_decomposition",
    "gd_flow_study",
    "kernel_flow_spectrum",
]

#: ``learning_rate="auto"`` in the studies: this fraction of the automatic step
#: of the infinite-width limit, i.e. a quarter of the limit's stability bound
#: ``2 N / lambda_max``. The tangent kernels of narrow networks fluctuate around
#: the limit's, and their largest eigenvalue can exceed it by a factor of two.
STUDY_STEP_FRACTION = 0.5

#: The family's parameters that NTKRegressor shares with GDNetworkRegressor.
_FAMILY = ("depth", "activation", "weight_std", "bias_std", "trainable")


#: The networks, and the kernel models that describe them, train on ``y`` as given.
_THEORY = {"normalize_y": False}


# --- shared machinery -------------------------------------------------------------------


def _check_network(estimator):
    """The family parameters of a GD network whose training the kernel models describe."""
    if not isinstance(estimator, GDNetworkRegressor):
        raise TypeError(
            "The study needs a GDNetworkRegressor (the network whose training the kernel "
            f"models describe); got {type(estimator).__name__}."
        )
    params = estimator.get_params()
    required = {
        "solver": "gd",
        "momentum": 0.0,
        "parametrization": "ntk",
        "init": "gaussian",
        "n_iter_no_change": None,
        "warm_start": False,
        "lr_schedule": None,
    }
    wrong = {k: params[k] for k, v in required.items() if params[k] != v}
    if wrong:
        raise ValueError(
            "The kernel limit describes plain gradient descent from the Gaussian "
            "initialization in the NTK parametrization for exactly max_iter steps of "
            "one fixed size; "
            f"the estimator has {', '.join(f'{k}={v!r}' for k, v in wrong.items())} "
            f"(needs {', '.join(f'{k}={required[k]!r}' for k in wrong)})."
        )
    return {name: params[name] for name in _FAMILY}


def _check_training_data(X, y, sample_weight):
    X = check_array(X, dtype=np.float64)
    y = column_or_1d(np.asarray(y, dtype=np.float64), warn=False)
    check_consistent_length(X, y)
    w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    return X, y, w * (w.size / w.sum())


def _check_target(target, X):
    domain = getattr(target, "domain", None)
    n_features = getattr(target, "n_features", None)
    if domain not in ("sphere", "interval") or n_features is None:
        raise ValueError(
            "The target must be a function with attributes `domain` ('sphere' or "
            "'interval') and `n_features`, like the targets of sklearn_gdnet.datasets; "
            f"got {target!r}."
        )
    if n_features != X.shape[1]:
        raise ValueError(
            f"The target lives in dimension {n_features} but X has {X.shape[1]} features."
        )
    return domain, n_features


def _limit(family, **params):
    return NTKRegressor(**family, **_THEORY, **params)


def _study_learning_rate(estimator, family, X, y, w):
    """The one step of every model: fixed, or a fraction of the limit's automatic step."""
    if estimator.learning_rate != "auto":
        return float(estimator.learning_rate)
    probe = _limit(family, n_steps=1, learning_rate="auto").fit(X, y, sample_weight=w)
    return STUDY_STEP_FRACTION * probe.learning_rate_


def _fit_network(estimator, params, X, y, w):
    """Fit a clone; return it, whether it diverged and the fit time."""
    net = clone(estimator).set_params(**_THEORY, **params)
    start = _time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DivergenceWarning)
        net.fit(X, y, sample_weight=w)
    diverged = False
    for warning in caught:
        if issubclass(warning.category, DivergenceWarning):
            diverged = True
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return net, diverged, _time.perf_counter() - start


def _l2(weights, values):
    """Continuous L2 norms of the columns of ``values`` (or of one vector)."""
    return np.sqrt(np.maximum(weights @ np.asarray(values) ** 2, 0.0))


def _check_int_list(values, name, minimum):
    values = list(values)
    if not values or not all(isinstance(v, Integral) and v >= minimum for v in values):
        raise ValueError(
            f"{name} must be a non-empty sequence of integers >= {minimum}; got {values}."
        )
    return [int(v) for v in values]


# --- the error decomposition -------------------------------------------------------------


@dataclass
class ErrorDecompositionResult:
    """Continuous errors and residual spectra of a network, its linearization and its limits.

    Returned by :func:`error_decomposition`. Errors are continuous
    :math:`L^2` errors against the target under the normalized measure;
    spectra are residual energies per degree
    (:func:`~sklearn_gdnet.metrics.residual_spectrum`), all computed on one
    exact evaluation rule.

    Parameters
    ----------
    widths : ndarray of shape (n_widths,)
        The widths.

    seeds : list of int
        The seeds (random states of the networks).

    n_steps : int
        Number of gradient-descent steps of every model.

    learning_rate : float
        The common step size ``eta``; the time is ``eta * n_steps``.

    target_norm : float
        Continuous :math:`L^2` norm of the target.

    network_errors : ndarray of shape (n_widths, n_seeds)
        Error of the trained network.

    linearized_errors : ndarray of shape (n_widths, n_seeds)
        Error of the network's linearization at its initialization after the
        same steps, ``f_0 + T_0(x, X) M (y - f_0(X))``.

    network_to_linearized : ndarray of shape (n_widths, n_seeds)
        :math:`L^2` distance between the network and its linearization (what
        the nonlinearity of training adds; it vanishes as the width grows in
        the lazy regime).

    limit_error : float
        Error of the infinite-width limit after the same steps, averaged over
        initializations (``NTKRegressor(n_steps=n_steps)``, started from
        ``f_0 = 0``).

    limit_rms_error : float
        Root-mean-square error over random initializations of the
        infinite-width network: ``sqrt(limit_error^2 + int Var f(x) dmu)``,
        the level that the networks' errors approach as the width grows.

    converged_error : float
        Error of the converged kernel solution (kernel interpolation, or
        kernel ridge with the study's ``alpha``).

    degrees : ndarray of shape (n_degrees,)
        ``0, 1, ..., max_degree``.

    target_spectrum : ndarray of shape (n_degrees,)
        Energy of the target per degree (the residual of the zero function).

    network_spectra : ndarray of shape (n_widths, n_seeds, n_degrees)
        Residual energies of the networks.

    linearized_spectra : ndarray of shape (n_widths, n_seeds, n_degrees)
        Residual energies of the linearizations.

    limit_spectrum : ndarray of shape (n_degrees,)
        Residual energies of the infinite-width limit's mean.

    converged_spectrum : ndarray of shape (n_degrees,)
        Residual energies of the converged kernel solution.

    predicted_spectrum : ndarray of shape (n_degrees,) or None
        The kernel-dynamics prediction for the limit,
        :func:`kernel_flow_spectrum` of the target's energies with the given
        eigenvalues (None when none were given).

    diverged : ndarray of shape (n_widths, n_seeds)
        Whether a network's training diverged (its last good parameters are
        then measured).

    fit_times : ndarray of shape (n_widths, n_seeds)
        Seconds spent on each (width, seed): network, initial function and
        linearization.
    """

    widths: np.ndarray
    seeds: list
    n_steps: int
    learning_rate: float
    target_norm: float
    network_errors: np.ndarray
    linearized_errors: np.ndarray
    network_to_linearized: np.ndarray
    limit_error: float
    limit_rms_error: float
    converged_error: float
    degrees: np.ndarray
    target_spectrum: np.ndarray
    network_spectra: np.ndarray
    linearized_spectra: np.ndarray
    limit_spectrum: np.ndarray
    converged_spectrum: np.ndarray
    predicted_spectrum: np.ndarray | None
    diverged: np.ndarray
    fit_times: np.ndarray

    @property
    def time(self) -> float:
        """Training time ``learning_rate * n_steps``."""
        return self.learning_rate * self.n_steps

    def mean_over_seeds(self, values):
        """Geometric mean over seeds (axis 1) of per-(width, seed) errors."""
        values = np.asarray(values, dtype=float)
        with np.errstate(divide="ignore"):
            return np.exp(np.log(values).mean(axis=1))

    def to_records(self):
        """One dict per (width, seed) with every error, and the width-independent levels."""
        return [
            {
                "width": int(m),
                "seed": seed,
                "network_error": float(self.network_errors[i, j]),
                "linearized_error": float(self.linearized_errors[i, j]),
                "network_to_linearized": float(self.network_to_linearized[i, j]),
                "limit_error": self.limit_error,
                "limit_rms_error": self.limit_rms_error,
                "converged_error": self.converged_error,
                "diverged": bool(self.diverged[i, j]),
            }
            for i, m in enumerate(self.widths)
            for j, seed in enumerate(self.seeds)
        ]

    def __str__(self):
        head = (
            f"error decomposition after {self.n_steps} GD steps of size "
            f"{self.learning_rate:.4g} (time {self.time:.4g}); target L2 norm "
            f"{self.target_norm:.4g}; geometric means over {len(self.seeds)} seed(s)"
        )
        rows = [
            f"{'width':>7} {'network':>10} {'linearized':>10} {'|net-lin|':>10}",
        ]
        net = self.mean_over_seeds(self.network_errors)
        lin = self.mean_over_seeds(self.linearized_errors)
        gap = self.mean_over_seeds(self.network_to_linearized)
        for i, m in enumerate(self.widths):
            mark = " (diverged)" if self.diverged[i].any() else ""
            rows.append(f"{int(m):>7d} {net[i]:>10.4g} {lin[i]:>10.4g} {gap[i]:>10.4g}{mark}")
        levels = (
            f"infinite width, same steps: {self.limit_error:.4g} (mean model), "
            f"{self.limit_rms_error:.4g} (rms over initializations); "
            f"converged kernel solution: {self.converged_error:.4g}"
        )
        return "\n".join([head, *rows, levels])


def _decomposition_task(estimator, family, width, seed, learning_rate, X, y, w, nodes):
    params = {"width": width, "random_state": seed, "learning_rate": learning_rate}
    start = _time.perf_counter()
    net, diverged, _ = _fit_network(estimator, params, X, y, w)
    # The network at initialization: same draw, no step.
    initial = clone(estimator).set_params(**_THEORY, **params, max_iter=0)
    initial.fit(X, y, sample_weight=w)
    f0_train = initial.predict(X)
    # NTKRegressor(finite_width=m) draws the same network and trains from the zero function;
    # adding f_0 and fitting the residual y - f_0 gives the Taylor model of this network.
    linear = _limit(
        family,
        n_steps=estimator.max_iter,
        learning_rate=learning_rate,
        finite_width=width,
        random_state=seed,
    ).fit(X, y - f0_train, sample_weight=w)
    lin_values = initial.predict(nodes) + linear.predict(nodes)
    return net.predict(nodes), lin_values, diverged, _time.perf_counter() - start


def error_decomposition(
    estimator,
    X,
    y,
    target,
    *,
    sample_weight=None,
    widths=(16, 64, 256),
    seeds=(0, 1, 2),
    max_degree=20,
    alpha=0.0,
    eigenvalues=None,
    rule_degree=None,
    n_jobs=None,
    verbose=0,
):
    """Decompose the error of gradient-trained networks into width, time and smoothness.

    For every width ``m`` and seed, and with one step size ``eta`` and the
    estimator's ``max_iter`` steps ``k`` for every model, this measures the
    continuous :math:`L^2` error against ``target`` and the residual energy
    per spherical-harmonic degree of

    1. the network of width ``m`` trained by gradient descent
       (:class:`~sklearn_gdnet.GDNetworkRegressor`);
    2. its linearization at initialization after the same steps,
       ``f_0 + T_0(x, X) M_k (y - f_0(X))`` with the network's initial function
       ``f_0`` and empirical tangent kernel ``T_0`` (``f_0`` plus
       ``NTKRegressor(finite_width=m, random_state=seed)`` fitted to ``y - f_0(X)``);

    and, once,

    3. the infinite-width limit after the same steps
       (``NTKRegressor(n_steps=k)``: the mean over initializations, with the
       root-mean-square error over initializations as well);
    4. the converged kernel solution (``NTKRegressor(n_steps=None,
       alpha=alpha)``).

    The gap between the network and its linearization is what the
    nonlinearity of training adds, which width removes; the gap between the
    limit and the target is what time and smoothness decide, degree by
    degree (the kernel fits low degrees first). On a quadrature training set
    (:func:`~sklearn_gdnet.datasets.make_sphere_quadrature`) every model is
    trained on the continuous loss.

    Parameters
    ----------
    estimator : GDNetworkRegressor
        The network and its training: ``depth``, ``activation``,
        ``weight_std``, ``bias_std``, ``trainable``, ``max_iter`` (the number
        of steps ``k``) and ``learning_rate``. Must be plain gradient descent
        (``solver="gd"``, no momentum, no early stopping) in the NTK
        parametrization with the Gaussian initialization. ``width`` and
        ``random_state`` are set by the study.

    X : array-like of shape (n_samples, n_features)
        Training inputs.

    y : array-like of shape (n_samples,)
        Training targets.

    target : callable
        The target function, with ``domain`` and ``n_features`` attributes
        (the targets of :mod:`sklearn_gdnet.datasets`).

    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights (e.g. of a quadrature training set); normalized to mean
        one.

    widths : sequence of int, default=(16, 64, 256)
        The widths.

    seeds : sequence of int, default=(0, 1, 2)
        The networks' random states.

    max_degree : int, default=20
        Highest degree of the spectra.

    alpha : float, default=0.0
        Ridge of the converged kernel solution (0: interpolation).

    eigenvalues : array-like of shape (n_eigenvalues,), default=None
        The tangent kernel's eigenvalue per degree ``0, 1, ...`` on the
        sphere (normalized measure), at least ``max_degree + 1`` of them; with
        them the result holds the kernel-dynamics prediction of the limit's
        spectrum (:func:`kernel_flow_spectrum`). None: no prediction.

    rule_degree : int, default=None
        Degree of exactness of the evaluation rule; None: the default of
        :func:`~sklearn_gdnet.metrics.residual_spectrum`.

    n_jobs : int, default=None
        Number of (width, seed) fits run in parallel (joblib); inside
        ``joblib.parallel_config(backend="dask")`` they run on a dask cluster
        (see :ref:`cluster`).

    verbose : int, default=0
        ``>= 1``: one line per finished (width, seed) on stderr.

    Returns
    -------
    result : ErrorDecompositionResult
        Errors, distances and spectra; ``print(result)`` shows a table.

    Notes
    -----
    ``learning_rate="auto"`` on the estimator takes half the automatic step
    of the infinite-width limit on this training set, a quarter of its
    stability bound ``2 N / lambda_max``, for every model; a float is used
    as given. A network whose training diverges is measured at its last
    good parameters and flagged in ``result.diverged``.

    See Also
    --------
    ErrorDecompositionDisplay : Plot of the result.
    sklearn_gdnet.model_selection.width_study : Errors of one model over widths.

    References
    ----------
    .. [1] G. Welper, "Approximation and gradient descent training with neural
       networks", arXiv:2405.11696.
    .. [2] J. Lee et al., "Wide neural networks of any depth evolve as linear
       models under gradient descent", NeurIPS 2019.

    Examples
    --------
    >>> from sklearn_gdnet import GDNetworkRegressor
    >>> from sklearn_gdnet.datasets import make_sphere_quadrature
    >>> from sklearn_gdnet.studies import error_decomposition
    >>> X, y, w, target = make_sphere_quadrature(8, max_degree=4, random_state=0)
    >>> net = GDNetworkRegressor(depth=1, max_iter=20)
    >>> result = error_decomposition(
    ...     net, X, y, target, sample_weight=w, widths=[8, 32], seeds=[0], max_degree=4
    ... )
    >>> result.network_errors.shape, result.limit_spectrum.shape
    ((2, 1), (5,))
    """
    family = _check_network(estimator)
    X, y, w = _check_training_data(X, y, sample_weight)
    domain, n_features = _check_target(target, X)
    widths = _check_int_list(widths, "widths", 1)
    seeds = _check_int_list(seeds, "seeds", 0)
    if not (isinstance(max_degree, Integral) and max_degree >= 0):
        raise ValueError(f"max_degree must be an integer >= 0; got {max_degree!r}.")
    if not (isinstance(alpha, Real) and alpha >= 0):
        raise ValueError(f"alpha must be a number >= 0; got {alpha!r}.")
    n_steps = estimator.max_iter
    eta = _study_learning_rate(estimator, family, X, y, w)
    projector = HarmonicProjector(domain, n_features, max_degree, rule_degree)
    nodes, v = projector.nodes, projector.weights
    g = np.asarray(target(nodes), dtype=float)

    limit = _limit(family, n_steps=n_steps, learning_rate=eta).fit(X, y, sample_weight=w)
    limit_values, limit_std = limit.predict(nodes, return_std=True)
    converged = _limit(family, alpha=alpha).fit(X, y, sample_weight=w)
    converged_values = converged.predict(nodes)

    grid = [(i, j) for i in range(len(widths)) for j in range(len(seeds))]
    tasks = (
        delayed(_decomposition_task)(estimator, family, widths[i], seeds[j], eta, X, y, w, nodes)
        for i, j in grid
    )
    shape = (len(widths), len(seeds))
    net_values = np.empty((*shape, nodes.shape[0]))
    lin_values = np.empty_like(net_values)
    diverged = np.zeros(shape, dtype=bool)
    fit_times = np.empty(shape)
    start = _time.perf_counter()
    outputs = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    for done, ((i, j), out) in enumerate(zip(grid, outputs), start=1):
        net_values[i, j], lin_values[i, j], diverged[i, j], fit_times[i, j] = out
        if verbose:
            print(
                f"[error_decomposition] width={widths[i]} seed={seeds[j]} "
                f"network={_l2(v, net_values[i, j] - g):.4g} "
                f"linearized={_l2(v, lin_values[i, j] - g):.4g} "
                f"({done}/{len(grid)}, {_time.perf_counter() - start:.1f}s)",
                file=sys.stderr,
                flush=True,
            )
    if diverged.any():
        bad = [(widths[i], seeds[j]) for i, j in zip(*np.nonzero(diverged))]
        warnings.warn(
            f"Gradient descent diverged for (width, seed) in {bad} at learning_rate="
            f"{eta:.4g}; those networks are measured at their last good parameters. "
            "Use a smaller learning_rate.",
            DivergenceWarning,
            stacklevel=2,
        )

    net_res = (net_values - g).reshape(-1, nodes.shape[0]).T
    lin_res = (lin_values - g).reshape(-1, nodes.shape[0]).T
    spectra = projector.energies(
        np.column_stack([g, limit_values - g, converged_values - g, net_res, lin_res])
    )
    target_spectrum, limit_spectrum, converged_spectrum = spectra[:3]
    net_spectra = spectra[3 : 3 + len(grid)].reshape(*shape, -1)
    lin_spectra = spectra[3 + len(grid) :].reshape(*shape, -1)
    predicted = None
    if eigenvalues is not None:
        predicted = kernel_flow_spectrum(
            np.sqrt(target_spectrum), eigenvalues, n_steps=n_steps, learning_rate=eta
        )
    limit_error = float(_l2(v, limit_values - g))
    return ErrorDecompositionResult(
        widths=np.asarray(widths),
        seeds=seeds,
        n_steps=int(n_steps),
        learning_rate=float(eta),
        target_norm=float(_l2(v, g)),
        network_errors=_l2(v, net_res).reshape(shape),
        linearized_errors=_l2(v, lin_res).reshape(shape),
        network_to_linearized=_l2(
            v, (net_values - lin_values).reshape(-1, nodes.shape[0]).T
        ).reshape(shape),
        limit_error=limit_error,
        limit_rms_error=float(np.sqrt(limit_error**2 + v @ limit_std**2)),
        converged_error=float(_l2(v, converged_values - g)),
        degrees=np.arange(max_degree + 1),
        target_spectrum=target_spectrum,
        network_spectra=net_spectra,
        linearized_spectra=lin_spectra,
        limit_spectrum=limit_spectrum,
        converged_spectrum=converged_spectrum,
        predicted_spectrum=predicted,
        diverged=diverged,
        fit_times=fit_times,
    )


class ErrorDecompositionDisplay:
    """Errors against width beside the residual spectra of one width.

    Left panel: the continuous errors of the networks and of their
    linearizations (geometric mean over seeds, every seed as a faint point),
    the distance between the two, and the width-independent levels of the
    infinite-width limit (mean model and root-mean-square over
    initializations) and of the converged kernel solution. Right panel: the
    residual energy per degree of each model at one width (mean over seeds),
    with the target's energy and, when available, the kernel-dynamics
    prediction for the limit. Create it with :meth:`from_result`. Needs
    matplotlib.

    Parameters
    ----------
    result : ErrorDecompositionResult
        The output of :func:`error_decomposition`.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        The two panels.

    figure_ : matplotlib Figure
        The figure.

    lines_ : dict of str to matplotlib Line2D
        The drawn lines by name (``"network"``, ``"linearized"``,
        ``"network_to_linearized"``, ``"limit"``, ``"limit_rms"``,
        ``"converged"``, and ``"spectrum_<name>"`` for the spectra).

    Examples
    --------
    >>> from sklearn_gdnet import GDNetworkRegressor
    >>> from sklearn_gdnet.datasets import make_sphere_quadrature
    >>> from sklearn_gdnet.studies import ErrorDecompositionDisplay, error_decomposition
    >>> X, y, w, target = make_sphere_quadrature(8, max_degree=4, random_state=0)
    >>> result = error_decomposition(
    ...     GDNetworkRegressor(depth=1, max_iter=10), X, y, target,
    ...     sample_weight=w, widths=[8, 16], seeds=[0], max_degree=4,
    ... )
    >>> display = ErrorDecompositionDisplay.from_result(result)
    >>> len(display.axes_)
    2
    """

    def __init__(self, result):
        self.result = result

    @classmethod
    def from_result(cls, result, *, axes=None, width_index=-1, spectrum_floor=1e-6):
        """Draw an :class:`ErrorDecompositionResult`.

        Parameters
        ----------
        result : ErrorDecompositionResult
            The study.

        axes : array-like of two matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        width_index : int, default=-1
            Index of the width whose spectra are drawn (default: the widest).

        spectrum_floor : float, default=1e-6
            Lower end of the spectrum axis, relative to the target's largest
            energy (fitted degrees and the prediction reach rounding level).

        Returns
        -------
        display : ErrorDecompositionDisplay
            The drawn display.
        """
        return cls(result).plot(axes=axes, width_index=width_index, spectrum_floor=spectrum_floor)

    def plot(self, axes=None, *, width_index=-1, spectrum_floor=1e-6):
        """Draw the two panels.

        Parameters
        ----------
        axes : array-like of two matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        width_index : int, default=-1
            Index of the width whose spectra are drawn.

        spectrum_floor : float, default=1e-6
            Lower end of the spectrum axis, relative to the target's largest
            energy.

        Returns
        -------
        display : ErrorDecompositionDisplay
            The object, with the matplotlib artists stored.
        """
        plt = _import_pyplot("ErrorDecompositionDisplay")
        r = self.result
        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        axes = np.asarray(axes).ravel()
        if axes.shape[0] != 2:
            raise ValueError(
                f"ErrorDecompositionDisplay draws two panels; got {axes.shape[0]} axes."
            )
        ax, ax_spec = axes
        lines = {}
        widths = r.widths.astype(float)
        for key, values, style, label in [
            ("network", r.network_errors, "o-", "network"),
            ("linearized", r.linearized_errors, "s--", "linearization at init"),
            ("network_to_linearized", r.network_to_linearized, "^:", "|network - linearization|"),
        ]:
            (line,) = ax.plot(widths, r.mean_over_seeds(values), style, label=label)
            ax.scatter(
                np.repeat(widths, values.shape[1]),
                values.ravel(),
                color=line.get_color(),
                alpha=0.3,
                s=10,
            )
            lines[key] = line
        for key, level, style, label in [
            ("limit", r.limit_error, "-", "infinite width (mean)"),
            ("limit_rms", r.limit_rms_error, "-.", "infinite width (rms over inits)"),
            ("converged", r.converged_error, ":", "converged kernel solution"),
        ]:
            lines[key] = ax.axhline(level, linestyle=style, color="gray", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(widths, labels=[str(int(m)) for m in r.widths])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_xlabel("width")
        ax.set_ylabel("continuous L2 error")
        ax.set_title(f"after {r.n_steps} steps (time {r.time:.3g})")
        ax.legend(fontsize="small")

        i = width_index
        k = r.degrees
        for key, energies, style, label in [
            ("target", r.target_spectrum, "k-", "target"),
            ("network", r.network_spectra[i].mean(axis=0), "o-", f"network, width {r.widths[i]}"),
            ("linearized", r.linearized_spectra[i].mean(axis=0), "s--", "linearization"),
            ("limit", r.limit_spectrum, "-", "infinite width"),
            ("converged", r.converged_spectrum, ":", "converged"),
        ]:
            (lines[f"spectrum_{key}"],) = ax_spec.plot(
                k, energies, style, label=label, markersize=4
            )
        if r.predicted_spectrum is not None:
            (lines["spectrum_predicted"],) = ax_spec.plot(
                k, r.predicted_spectrum, "x", color="black", label="kernel-flow prediction"
            )
        ax_spec.set_yscale("log", nonpositive="mask")
        top = max(r.target_spectrum.max(), r.limit_spectrum.max(), r.network_spectra.max())
        ax_spec.set_ylim(spectrum_floor * r.target_spectrum.max(), 2 * top)
        ax_spec.set_xlabel("spherical-harmonic degree k")
        ax_spec.set_ylabel("residual energy of degree k")
        ax_spec.set_title("residual spectra")
        ax_spec.legend(fontsize="small")
        self.axes_ = axes
        self.figure_ = ax.figure
        self.lines_ = lines
        return self


# --- gradient descent against gradient flow ----------------------------------------------


@dataclass
class GDFlowResult:
    """How gradient descent with shrinking steps approaches gradient flow at a fixed time.

    Returned by :func:`gd_flow_study`. Distances and errors are continuous
    :math:`L^2` norms under the normalized measure.

    Parameters
    ----------
    time : float
        The fixed training time ``t = learning_rate * n_steps``.

    n_steps : ndarray of shape (n_runs,)
        Numbers of steps, increasing geometrically.

    learning_rates : ndarray of shape (n_runs,)
        ``time / n_steps``.

    limit_to_flow : ndarray of shape (n_runs,)
        Distance between the infinite-width limit after ``n_steps`` GD steps
        and after gradient flow for ``time`` (both exact kernel solutions).

    network_increments : ndarray of shape (n_runs - 1,)
        Distance between the networks trained with ``learning_rates[i]`` and
        ``learning_rates[i + 1]`` (same initialization); for a first-order
        method it is proportional to ``learning_rates[i]``.

    network_errors : ndarray of shape (n_runs,)
        Error of each network against the target.

    limit_errors : ndarray of shape (n_runs,)
        Error of the limit after GD against the target.

    flow_error : float
        Error of the limit after gradient flow against the target.

    network_diverged : ndarray of shape (n_runs,)
        Whether a network's training diverged.
    """

    time: float
    n_steps: np.ndarray
    learning_rates: np.ndarray
    limit_to_flow: np.ndarray
    network_increments: np.ndarray
    network_errors: np.ndarray
    limit_errors: np.ndarray
    flow_error: float
    network_diverged: np.ndarray

    @property
    def limit_order(self) -> RateFit:
        """Order ``p`` of ``limit_to_flow ~ C eta^p`` (log-log least squares, with interval)."""
        return fit_rate(1.0 / self.learning_rates, self.limit_to_flow)

    @property
    def network_order(self) -> RateFit:
        """Order ``p`` of ``network_increments ~ C eta^p`` (least squares in log-log)."""
        return fit_rate(1.0 / self.learning_rates[:-1], self.network_increments)

    @property
    def limit_local_orders(self) -> np.ndarray:
        """Orders between consecutive step sizes; they tend to ``p`` as ``eta -> 0``."""
        return local_rates(1.0 / self.learning_rates, self.limit_to_flow)

    @property
    def network_local_orders(self) -> np.ndarray:
        """Orders between consecutive increments; they tend to ``p`` as ``eta -> 0``."""
        return local_rates(1.0 / self.learning_rates[:-1], self.network_increments)

    def __str__(self):
        rows = [
            f"gradient descent against gradient flow at time {self.time:.4g}",
            f"{'n_steps':>8} {'eta':>10} {'|limit GD - flow|':>18} "
            f"{'|net(eta) - net(eta next)|':>27} {'network error':>14}",
        ]
        for i, (k, eta) in enumerate(zip(self.n_steps, self.learning_rates)):
            inc = f"{self.network_increments[i]:.4g}" if i < len(self.network_increments) else "-"
            rows.append(
                f"{int(k):>8d} {eta:>10.4g} {self.limit_to_flow[i]:>18.4g} {inc:>27} "
                f"{self.network_errors[i]:>14.4g}"
            )
        rows.append(
            f"order of the limit:   {_order_text(self.limit_order)}; local "
            f"{np.array2string(self.limit_local_orders, precision=3)}"
        )
        rows.append(
            f"order of the network: {_order_text(self.network_order)}; local "
            f"{np.array2string(self.network_local_orders, precision=3)}"
        )
        return "\n".join(rows)


def _order_text(fit):
    low, high = fit.confidence_interval
    return f"{fit.rate:.3f} [{low:.3f}, {high:.3f}]"


def _gd_flow_task(estimator, family, k, eta, X, y, w, nodes):
    net, diverged, _ = _fit_network(estimator, {"max_iter": k, "learning_rate": eta}, X, y, w)
    limit = _limit(family, n_steps=k, learning_rate=eta, dynamics="gd").fit(X, y, sample_weight=w)
    return net.predict(nodes), limit.predict(nodes), diverged


def gd_flow_study(
    estimator,
    X,
    y,
    target,
    *,
    sample_weight=None,
    time="auto",
    n_steps=(8, 16, 32, 64),
    rule_degree=None,
    n_jobs=None,
):
    """Measure how gradient descent approaches gradient flow as the step shrinks at fixed time.

    For a fixed time ``t`` and step counts ``n_1 < n_2 < ...`` growing
    geometrically, the network is trained with ``n_i`` steps of size
    ``eta_i = t / n_i`` from one and the same initialization, and its
    infinite-width limit after the same GD steps is compared with the limit
    after gradient flow for time ``t``. Gradient descent is the explicit
    Euler method of gradient flow, so both distances fall like ``eta^1``:

    * the limit: ``||f^GD_eta - f^flow||`` exactly, since per eigenvalue
      :math:`(1 - \\eta\\lambda)^{t/\\eta} - e^{-\\lambda t} \\approx
      -\\tfrac12 \\eta t \\lambda^2 e^{-\\lambda t}`;
    * the network, whose flow has no closed form: the increments
      ``||f_{eta_i} - f_{eta_{i+1}}||``, which for a method of order ``p``
      and a geometric sequence of steps are proportional to ``eta_i^p``.

    The orders are fitted in log-log coordinates over all runs
    (``result.limit_order``, ``result.network_order``, with confidence
    intervals) and between consecutive runs (``result.limit_local_orders``,
    ``result.network_local_orders``); with large first steps the local
    orders show where the asymptotic regime starts.

    Parameters
    ----------
    estimator : GDNetworkRegressor
        The network (plain gradient descent from the Gaussian initialization
        in the NTK parametrization) with an integer ``random_state``, so that
        every step size starts from the same network. Its ``max_iter`` and
        ``learning_rate`` are set by the study.

    X : array-like of shape (n_samples, n_features)
        Training inputs.

    y : array-like of shape (n_samples,)
        Training targets.

    target : callable
        The target, with ``domain`` and ``n_features`` (for the evaluation
        rule and the errors).

    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights (e.g. of a quadrature training set).

    time : float or "auto", default="auto"
        The time ``t``. "auto": ``n_steps[0]`` times half the automatic step
        of the infinite-width limit, so that the coarsest step is a quarter of
        the limit's stability bound.

    n_steps : sequence of int, default=(8, 16, 32, 64)
        Step counts, increasing with a constant ratio (e.g. doubling).

    rule_degree : int, default=None
        Degree of exactness of the evaluation rule; None: the default of
        :func:`~sklearn_gdnet.metrics.residual_spectrum` (for ``max_degree``
        0).

    n_jobs : int, default=None
        Number of runs in parallel (joblib).

    Returns
    -------
    result : GDFlowResult
        Distances, errors and the fitted orders; ``print(result)`` shows a
        table.

    See Also
    --------
    GDFlowDisplay : Plot of the result.

    References
    ----------
    .. [1] E. Hairer, S. P. Norsett, G. Wanner, "Solving Ordinary Differential
       Equations I", Springer, 1993, section II.3 (order of the Euler method).

    Examples
    --------
    >>> from sklearn_gdnet import GDNetworkRegressor
    >>> from sklearn_gdnet.datasets import make_sphere_quadrature
    >>> from sklearn_gdnet.studies import gd_flow_study
    >>> X, y, w, target = make_sphere_quadrature(8, max_degree=4, random_state=0)
    >>> net = GDNetworkRegressor(width=32, depth=1, random_state=0)
    >>> result = gd_flow_study(net, X, y, target, sample_weight=w, n_steps=[8, 16, 32, 64])
    >>> bool(0.8 < result.limit_order.rate < 1.2)
    True
    """
    family = _check_network(estimator)
    X, y, w = _check_training_data(X, y, sample_weight)
    domain, n_features = _check_target(target, X)
    steps = _check_int_list(n_steps, "n_steps", 1)
    if len(steps) < 3:
        raise ValueError(f"An order needs at least three step counts; got n_steps={steps}.")
    ratios = np.array(steps[1:]) / np.array(steps[:-1])
    if np.any(ratios <= 1) or not np.allclose(ratios, ratios[0]):
        raise ValueError(
            "n_steps must grow with a constant ratio (e.g. 8, 16, 32, 64), so that the "
            f"increments between runs measure the order; got {steps}."
        )
    if not isinstance(estimator.random_state, Integral):
        raise ValueError(
            "Set the estimator's random_state to an integer: every step size must start "
            f"from the same network; got random_state={estimator.random_state!r}."
        )
    if isinstance(time, str):
        if time != "auto":
            raise ValueError(f"time must be a positive number or 'auto'; got {time!r}.")
        probe = clone(estimator).set_params(learning_rate="auto")
        time = steps[0] * _study_learning_rate(probe, family, X, y, w)
    elif not (isinstance(time, Real) and time > 0 and np.isfinite(time)):
        raise ValueError(f"time must be a positive number or 'auto'; got {time!r}.")
    time = float(time)
    etas = time / np.array(steps, dtype=float)
    projector = HarmonicProjector(domain, n_features, 0, rule_degree)
    nodes, v = projector.nodes, projector.weights
    g = np.asarray(target(nodes), dtype=float)

    flow = _limit(family, n_steps=1, learning_rate=time, dynamics="flow").fit(X, y, sample_weight=w)
    flow_values = flow.predict(nodes)
    outputs = Parallel(n_jobs=n_jobs)(
        delayed(_gd_flow_task)(estimator, family, k, eta, X, y, w, nodes)
        for k, eta in zip(steps, etas)
    )
    nets = np.column_stack([o[0] for o in outputs])
    limits = np.column_stack([o[1] for o in outputs])
    diverged = np.array([o[2] for o in outputs])
    if diverged.any():
        warnings.warn(
            f"Gradient descent diverged at n_steps={[s for s, d in zip(steps, diverged) if d]}; "
            "choose a smaller time or more steps.",
            DivergenceWarning,
            stacklevel=2,
        )
    return GDFlowResult(
        time=time,
        n_steps=np.array(steps),
        learning_rates=etas,
        limit_to_flow=_l2(v, limits - flow_values[:, None]),
        network_increments=_l2(v, np.diff(nets, axis=1)),
        network_errors=_l2(v, nets - g[:, None]),
        limit_errors=_l2(v, limits - g[:, None]),
        flow_error=float(_l2(v, flow_values - g)),
        network_diverged=diverged,
    )


class GDFlowDisplay:
    """Distances to gradient flow against the step size, in log-log coordinates.

    Draws the limit's distance to its flow and the network's increments
    against the step size ``eta``, with a reference line of slope one (first
    order) through the middle of the data. Create it with
    :meth:`from_result`. Needs matplotlib.

    Parameters
    ----------
    result : GDFlowResult
        The output of :func:`gd_flow_study`.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes.

    figure_ : matplotlib Figure
        The figure.

    lines_ : dict of str to matplotlib Line2D
        ``"limit"``, ``"network"`` and ``"reference"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.studies import GDFlowDisplay, GDFlowResult
    >>> eta = np.array([0.4, 0.2, 0.1])
    >>> result = GDFlowResult(
    ...     time=1.0, n_steps=np.array([2, 4, 8]), learning_rates=eta,
    ...     limit_to_flow=eta / 10, network_increments=eta[:-1] / 5,
    ...     network_errors=np.ones(3), limit_errors=np.ones(3), flow_error=1.0,
    ...     network_diverged=np.zeros(3, dtype=bool),
    ... )
    >>> GDFlowDisplay.from_result(result).ax_.get_xscale()
    'log'
    """

    def __init__(self, result):
        self.result = result

    @classmethod
    def from_result(cls, result, *, ax=None):
        """Draw a :class:`GDFlowResult`.

        Parameters
        ----------
        result : GDFlowResult
            The study.

        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : GDFlowDisplay
            The drawn display.
        """
        return cls(result).plot(ax=ax)

    def plot(self, ax=None):
        """Draw the distances.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : GDFlowDisplay
            The object, with the matplotlib artists stored.
        """
        plt = _import_pyplot("GDFlowDisplay")
        if ax is None:
            _, ax = plt.subplots()
        r = self.result
        eta = r.learning_rates
        lines = {}
        (lines["limit"],) = ax.plot(
            eta,
            r.limit_to_flow,
            "o-",
            label=f"infinite width: |GD - flow| (order {r.limit_order.rate:.2f})",
        )
        (lines["network"],) = ax.plot(
            eta[:-1],
            r.network_increments,
            "s-",
            label=f"network: |f(eta) - f(next eta)| (order {r.network_order.rate:.2f})",
        )
        # slope one through the geometric middle of the limit's points
        mid = np.exp(np.mean(np.log(eta)))
        level = np.exp(np.mean(np.log(r.limit_to_flow)))
        (lines["reference"],) = ax.plot(
            eta, level * eta / mid, color="gray", linestyle=(0, (1, 2)), label="eta^1"
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step size eta")
        ax.set_ylabel("continuous L2 distance")
        ax.set_title(f"gradient descent against gradient flow at time {r.time:.3g}")
        ax.legend(fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        self.lines_ = lines
        return self
