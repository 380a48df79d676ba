"""Study presets: the package's standard studies as functions returning result objects.

Each preset builds the data, the models and the training of one study,
runs it, and returns a result object that prints as a table, writes itself as
records and draws itself. The command-line tool (``python -m sklearn_gdnet``)
parses its options, calls a preset and prints or writes the result; the same
studies run from Python with the same defaults.

- :func:`sphere_study`: the theory's own setting, gradient-descent networks on
  the sphere trained on the continuous loss of a Sobolev target, with the
  error decomposition (network, linearization, infinite-width limit,
  converged kernel) and the fitted rate;
- :func:`shallow_1d_study`: the published shallow 1-d study (Gentile and
  Welper): breakpoints of ``m^-1/2 sum_r a_r relu(x - theta_r)`` trained by
  Adam, the L2 error and the breakpoint movement per width.

The (width, seed) fits go through joblib, so every preset runs on a dask
cluster inside ``joblib.parallel_config(backend="dask")`` (see
:ref:`presets`).
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from ._gd_network import GDNetworkRegressor
from .model_selection import RateFit, fit_rate, local_rates
from .studies import ErrorDecompositionDisplay, ErrorDecompositionResult, error_decomposition

__all__ = [
    "SHALLOW_1D_WIDTHS",
    "Shallow1DStudyDisplay",
    "Shallow1DStudyResult",
    "SphereStudyResult",
    "shallow_1d_study",
    "sphere_study",
    "study_intervals",
]


def _rate_or_none(widths, errors):
    """The fitted rate, or None where an error is zero, infinite or missing."""
    try:
        return fit_rate(widths, errors)
    except ValueError:
        return None


def _local_or_nan(widths, errors):
    try:
        return local_rates(widths, errors)
    except ValueError:
        return np.full(len(widths) - 1, np.nan)


def _fmt(value, spec=".4g"):
    if value is None or not np.isfinite(value):
        return "-"
    return format(value, spec)


def _table(header, rows):
    """Columns left-aligned for the first, right-aligned for the others."""
    sizes = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(header)]

    def line(cells):
        return "  ".join(
            c.ljust(s) if i == 0 else c.rjust(s) for i, (c, s) in enumerate(zip(cells, sizes))
        ).rstrip()

    return [line(header), line(["-" * s for s in sizes]), *(line(r) for r in rows)]


def _rate_dict(rate):
    if rate is None:
        return None
    return {
        "rate": rate.rate,
        "constant": rate.constant,
        "stderr": rate.stderr,
        "confidence_interval": list(rate.confidence_interval),
        "confidence_level": rate.confidence_level,
        "n_points": rate.n_points,
    }


# --- the sphere study in the theory's setting ---------------------------------------------


@dataclass
class SphereStudyResult:
    """The sphere study: error decomposition per width and the networks' fitted rate.

    Returned by :func:`sphere_study`. ``print(result)`` shows the table.

    Parameters
    ----------
    config : dict
        The study's parameters (the arguments of :func:`sphere_study`).

    description : str
        One line naming the target and the training set.

    n_training : int
        Number of nodes of the quadrature training set.

    decomposition : ErrorDecompositionResult
        Every error and spectrum (:func:`~sklearn_gdnet.studies.error_decomposition`).

    rate : RateFit or None
        Fit of ``network error ~ C * width^-rate`` over every (width, seed);
        None when an error is zero or not finite.

    elapsed_s : float
        Wall-clock seconds of the study.
    """

    config: dict
    description: str
    n_training: int
    decomposition: ErrorDecompositionResult
    rate: RateFit | None
    elapsed_s: float = field(default=0.0)

    @property
    def widths(self) -> np.ndarray:
        """The widths."""
        return self.decomposition.widths

    @property
    def local_rates(self) -> np.ndarray:
        """Rates between neighbouring widths of the networks' geometric-mean errors."""
        return _local_or_nan(self.widths, self.decomposition.network_errors)

    def __str__(self):
        d = self.decomposition
        net = d.mean_over_seeds(d.network_errors)
        lin = d.mean_over_seeds(d.linearized_errors)
        gap = d.mean_over_seeds(d.network_to_linearized)
        local = np.concatenate([[np.nan], self.local_rates])
        header = ["width", "network", "linearized", "|net-lin|", "local rate"]
        rows = [
            [
                str(int(m)) + (" (diverged)" if d.diverged[i].any() else ""),
                _fmt(net[i]),
                _fmt(lin[i]),
                _fmt(gap[i]),
                _fmt(local[i], ".3f"),
            ]
            for i, m in enumerate(d.widths)
        ]
        rows += [
            ["inf, same steps", _fmt(d.limit_error), "", "", ""],
            ["inf, rms", _fmt(d.limit_rms_error), "", "", ""],
            ["converged", _fmt(d.converged_error), "", "", ""],
        ]
        rate = "not available (an error is zero or not finite)" if self.rate is None else self.rate
        return "\n".join(
            [
                f"Sphere study: {self.description}",
                f"{d.n_steps} GD steps of size {d.learning_rate:.4g} (time {d.time:.4g}), "
                f"depth {self.config['depth']}, {self.config['activation']}; seeds "
                f"{','.join(map(str, d.seeds))}",
                f"Continuous L2 error (target L2 norm {d.target_norm:.4g}), geometric mean "
                "over seeds",
                "",
                *_table(header, rows),
                "",
                f"network fitted rate (error ~ width^-rate): {rate}",
                "network: the trained network; linearized: its linearization at initialization",
                "  after the same steps; |net-lin|: the distance between them (what width removes)",
                "inf, same steps: the infinite-width limit after the same steps (mean over",
                "  initializations; rms: root-mean-square over them, the level wide networks",
                "  approach); converged: the kernel solution at infinite time. The gap from inf",
                "  to the target is what time and smoothness decide.",
            ]
        )

    def to_records(self):
        """One dict per (width, seed) with every error (see ``decomposition.to_records``)."""
        return self.decomposition.to_records()

    def to_dict(self):
        """Everything but the spectra, as plain Python values (for JSON)."""
        d = self.decomposition
        return {
            "preset": "sphere",
            "description": self.description,
            "config": dict(self.config),
            "n_training": self.n_training,
            "n_steps": d.n_steps,
            "learning_rate": d.learning_rate,
            "target_l2_norm": d.target_norm,
            "results": self.to_records(),
            "limit_error": d.limit_error,
            "limit_rms_error": d.limit_rms_error,
            "converged_error": d.converged_error,
            "rate": _rate_dict(self.rate),
            "local_rates": [
                {"from_width": int(a), "to_width": int(b), "rate": float(r)}
                for a, b, r in zip(self.widths[:-1], self.widths[1:], self.local_rates)
            ],
            "degrees": d.degrees.tolist(),
            "target_spectrum": d.target_spectrum.tolist(),
            "limit_spectrum": d.limit_spectrum.tolist(),
            "converged_spectrum": d.converged_spectrum.tolist(),
            "predicted_limit_spectrum": None
            if d.predicted_spectrum is None
            else d.predicted_spectrum.tolist(),
            "elapsed_s": self.elapsed_s,
        }

    def plot(self, axes=None, **kwargs):
        """Draw errors against width and the residual spectra.

        Parameters
        ----------
        axes : array-like of two matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.

        **kwargs
            Passed to
            :meth:`~sklearn_gdnet.studies.ErrorDecompositionDisplay.from_result`.

        Returns
        -------
        display : ErrorDecompositionDisplay
            The drawn display.
        """
        return ErrorDecompositionDisplay.from_result(self.decomposition, axes=axes, **kwargs)


def _check_positive_int(value, name, minimum=1):
    if not (isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def sphere_study(
    *,
    n_features: int = 3,
    smoothness: float = 1.0,
    max_degree: int = 16,
    widths=(8, 16, 32, 64, 128, 256),
    seeds=(0, 1, 2),
    n_steps: int = 4000,
    depth: int = 1,
    activation: str = "relu",
    learning_rate="auto",
    random_state: int = 0,
    n_jobs=None,
    verbose: int = 0,
) -> SphereStudyResult:
    """The width study in the theory's setting: the sphere, a Sobolev target, the continuous loss.

    The target on the sphere :math:`S^{d-1}` is a sum of zonal harmonics of
    degrees ``1..max_degree`` with coefficients ``k^-(smoothness + 1/2)``
    (Sobolev smoothness ``smoothness``;
    :func:`~sklearn_gdnet.datasets.make_sphere_regression`). The training set
    is a quadrature rule exact to degree ``2 * max_degree`` with its weights as
    sample weights (:func:`~sklearn_gdnet.datasets.make_sphere_quadrature`),
    so the training loss is the continuous loss
    :math:`\\frac12 \\|f - g\\|^2_{L^2}` with no sampling error. For every
    width and seed a network (:class:`~sklearn_gdnet.GDNetworkRegressor` in
    the NTK parametrization, plain gradient descent, trained on ``y`` as
    given) takes ``n_steps`` steps; the study measures the continuous error of
    the network, of its linearization at initialization after the same steps,
    of the infinite-width limit after the same steps and of the converged
    kernel solution (:func:`~sklearn_gdnet.studies.error_decomposition`), and
    fits the rate of the networks' error in the width.

    Parameters
    ----------
    n_features : int, default=3
        Ambient dimension ``d`` (the sphere :math:`S^{d-1}`), at least 2.

    smoothness : float, default=1.0
        Sobolev smoothness ``s > 0`` of the target.

    max_degree : int, default=16
        Highest degree of the target; the training rule is exact to twice
        that, the residual spectra go up to it.

    widths : sequence of int, default=(8, 16, 32, 64, 128, 256)
        The widths, at least two distinct ones (sorted).

    seeds : sequence of int, default=(0, 1, 2)
        The networks' random states.

    n_steps : int, default=4000
        Gradient-descent steps of every model.

    depth : int, default=1
        Hidden layers.

    activation : str, default="relu"
        Activation of the networks.

    learning_rate : "auto" or float, default="auto"
        The common step size; ``"auto"`` takes half the automatic step of the
        infinite-width limit (a quarter of its stability bound).

    random_state : int, default=0
        Seed of the target (poles and signs of its harmonics).

    n_jobs : int, default=None
        (width, seed) fits run in parallel by joblib; inside
        ``joblib.parallel_config(backend="dask")`` they run on a dask cluster.

    verbose : int, default=0
        ``>= 1``: one line per finished (width, seed) on stderr.

    Returns
    -------
    result : SphereStudyResult
        The decomposition and the fitted rate; ``print(result)`` shows the
        table, ``result.plot()`` draws it.

    See Also
    --------
    sklearn_gdnet.studies.error_decomposition : The study on any training set.
    sklearn_gdnet.model_selection.width_study : Errors of any estimator over widths.

    References
    ----------
    .. [1] G. Welper, "Approximation and gradient descent training with neural
       networks", arXiv:2405.11696.

    Examples
    --------
    >>> from sklearn_gdnet.presets import sphere_study
    >>> result = sphere_study(max_degree=4, widths=(8, 32), seeds=(0,), n_steps=20)
    >>> result.decomposition.network_errors.shape
    (2, 1)
    >>> result.n_training  # a rule exact to degree 8 on S^2
    45
    """
    n_features = _check_positive_int(n_features, "n_features", 2)
    if not (isinstance(smoothness, Real) and np.isfinite(smoothness) and smoothness > 0):
        raise ValueError(f"smoothness must be a finite number > 0; got {smoothness!r}.")
    max_degree = _check_positive_int(max_degree, "max_degree", 1)
    n_steps = _check_positive_int(n_steps, "n_steps", 1)
    widths = sorted(int(_check_positive_int(m, "widths", 1)) for m in widths)
    if len(set(widths)) < 2 or len(set(widths)) != len(widths):
        raise ValueError(f"widths must be at least two distinct integers; got {widths}.")
    seeds = [_check_positive_int(s, "seeds", 0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed.")

    from .datasets import make_sphere_quadrature

    start = _time.perf_counter()
    X, y, w, target = make_sphere_quadrature(
        n_features=n_features,
        smoothness=smoothness,
        max_degree=max_degree,
        random_state=random_state,
    )
    network = GDNetworkRegressor(
        depth=depth, activation=activation, max_iter=n_steps, learning_rate=learning_rate
    )
    # the tangent kernel's eigenvalue per degree (Funk-Hecke): the kernel-flow prediction
    # of the limit's residual spectrum
    from .kernels import NTK

    eigenvalues = NTK(
        depth=depth,
        activation=activation,
        weight_std=network.weight_std,
        bias_std=network.bias_std,
    ).sphere_eigenvalues(n_features, max_degree)
    decomposition = error_decomposition(
        network,
        X,
        y,
        target,
        sample_weight=w,
        widths=widths,
        seeds=seeds,
        max_degree=max_degree,
        eigenvalues=eigenvalues,
        n_jobs=n_jobs,
        verbose=verbose,
    )
    config = {
        "n_features": n_features,
        "smoothness": float(smoothness),
        "max_degree": max_degree,
        "widths": widths,
        "seeds": seeds,
        "n_steps": n_steps,
        "depth": depth,
        "activation": activation,
        "learning_rate": learning_rate,
        "random_state": random_state,
    }
    description = (
        f"Sobolev target of smoothness {smoothness:g} on S^{n_features - 1} "
        f"(degrees 1..{max_degree}), trained on the continuous loss: "
        f"{X.shape[0]}-node rule exact to degree {2 * max_degree}"
    )
    return SphereStudyResult(
        config=config,
        description=description,
        n_training=int(X.shape[0]),
        decomposition=decomposition,
        rate=_rate_or_none(decomposition.widths, decomposition.network_errors),
        elapsed_s=_time.perf_counter() - start,
    )


# --- the shallow 1-d study ------------------------------------------------------------------

#: The widths of the published shallow 1-d study.
SHALLOW_1D_WIDTHS = (10, 18, 32, 56, 100, 178, 316, 562, 1000)

#: The proven rate of the shallow 1-d study's L2 error in the width.
SHALLOW_1D_PROVEN_RATE = 1 / 24

#: Steps per "interval" of the published protocol (steps = 100 * intervals).
_STEPS_PER_INTERVAL = 100

#: The three norms of the breakpoint movement.
MOVEMENT_NORMS = ("sup", "mean_abs", "rms")


def _study_target(target):
    """An IntervalTarget from a name ('gaussian', 'gaussian-0.5', 'cusp', ...) or itself."""
    from .datasets import IntervalTarget

    if isinstance(target, IntervalTarget):
        return target
    if not isinstance(target, str):
        raise TypeError(
            "targets must be names such as 'gaussian', 'gaussian-0.1', 'cusp', 'step' or "
            f"IntervalTarget objects; got {target!r}."
        )
    name, _, amplitude = target.partition("-")
    if name == "gaussian":
        try:
            value = 0.25 if not amplitude else float(amplitude)
        except ValueError:
            raise ValueError(
                f"A Gaussian target is 'gaussian' or 'gaussian-A' with an amplitude A such as "
                f"0.1, 0.25, 0.5; got {target!r}."
            ) from None
        return IntervalTarget("gaussian", amplitude=value)
    if amplitude:
        raise ValueError(f"Only the Gaussian takes an amplitude; got {target!r}.")
    return IntervalTarget(name)


def _target_label(target):
    if target.name == "gaussian":
        return f"gaussian-{target.params['amplitude']:g}"
    return target.name


def study_intervals(target, width):
    """The number of "intervals" of 100 Adam steps in the published shallow 1-d study.

    Gentile and Welper train for ``100 * intervals`` steps: 100 intervals for
    the cusp and the step, 400 for the Gaussians of amplitude 0.1 and 0.25,
    and for amplitude 0.5: 50 below width 316, 100 from 316, 200 from 562,
    400 from 1000.

    Parameters
    ----------
    target : str or IntervalTarget
        The target: ``"gaussian"`` (amplitude 0.25), ``"gaussian-A"`` for
        amplitude ``A``, ``"cusp"``, ``"step"``, or an
        :class:`~sklearn_gdnet.datasets.IntervalTarget`.

    width : int
        The width ``m``.

    Returns
    -------
    intervals : int
        The number of intervals; the study takes ``100 * intervals`` steps.

    Raises
    ------
    ValueError
        For a target outside the study (the bump, other Gaussian widths or
        amplitudes): it has no published step count.

    Examples
    --------
    >>> from sklearn_gdnet.presets import study_intervals
    >>> study_intervals("cusp", 10), study_intervals("gaussian-0.5", 562)
    (100, 200)
    """
    target = _study_target(target)
    width = _check_positive_int(width, "width", 1)
    if target.name in ("cusp", "step"):
        return 100
    if target.name == "gaussian" and target.params["std"] == 0.2:
        amplitude = target.params["amplitude"]
        if amplitude in (0.1, 0.25):
            return 400
        if amplitude == 0.5:
            return 400 if width >= 1000 else 200 if width >= 562 else 100 if width >= 316 else 50
    raise ValueError(
        f"The published study has no step count for {target!r}; pass n_steps explicitly."
    )


def _shallow_network(width, seed, n_steps, solver, learning_rate):
    """The study's model: m^-1/2 sum_r a_r relu(x - theta_r), only theta trained."""
    from .schedules import StepDecay

    schedule = None
    if solver == "adam":
        # PyTorch's StepLR(step_size=steps / 4, gamma=0.2 if intervals > 100 else 1)
        intervals = n_steps / _STEPS_PER_INTERVAL
        gamma = 0.2 if intervals > 100 else 1.0
        schedule = StepDecay(step_size=max(1, n_steps // 4), gamma=gamma)
    return GDNetworkRegressor(
        width=width,
        depth=1,
        activation="relu",
        init="breakpoint",
        trainable="hidden_biases",
        parametrization="ntk",
        # unit multipliers: the stored inner weight is 1, the stored bias is -theta,
        # the output weights are the signs a_r with the multiplier m^-1/2
        weight_std=1.0,
        bias_std=1.0,
        solver=solver,
        learning_rate=learning_rate,
        lr_schedule=schedule,
        max_iter=n_steps,
        normalize_y=False,
        random_state=seed,
    )


def _riemann_l2_error(predict, target, width):
    """The study's L2 error: (sum |f - g|^2 h)^1/2 on 100 m points, h = 2 / (100 m)."""
    n_fine = 100 * width
    x = np.linspace(-1.0, 1.0, n_fine)
    residual = predict(x[:, None]) - target(x)
    return float(np.sqrt(np.sum(residual**2) * 2.0 / n_fine))


def _knots(net):
    """Breakpoints theta_r = -b_r / w_r of the study's network (unit multipliers)."""
    return -net.params_["b1"] / net.params_["W1"][0]


def _seed_batching():
    """The module that trains the seeds of one shallow network together, if there is one."""
    try:
        from . import _batched
    except ImportError:  # a package without the exact 1-d core: one seed at a time
        return None
    return _batched


def _shallow_task(target, width, seeds, n_steps, solver, learning_rate):
    """Fit the seeds of one (target, width) and measure each; seeds trained together if possible.

    Where the exact 1-d core can train the seeds' networks together, their
    trajectories are computed in one batched run and handed to each seed's
    own ``fit`` (which returns the same network as a standalone fit, up to
    rounding); otherwise each seed trains on its own.
    """
    from contextlib import nullcontext
    from functools import partial

    from .datasets import make_interval_regression

    X, y, _ = make_interval_regression(target=target, width=width)
    nets = [_shallow_network(width, seed, n_steps, solver, learning_rate) for seed in seeds]
    batching = _seed_batching()
    runs, shared = [None] * len(nets), 0.0
    if batching is not None and len(nets) > 1:
        start = _time.perf_counter()
        runs = batching.batch_trajectories([partial(net.fit, X, y) for net in nets])
        done = sum(run is not None for run in runs)
        shared = (_time.perf_counter() - start) / max(done, 1)
    outputs = []
    for net, run in zip(nets, runs):
        start = _time.perf_counter()
        with batching.replaying(run) if run is not None else nullcontext():
            net.fit(X, y)
        elapsed = _time.perf_counter() - start + (shared if run is not None else 0.0)
        initial = -net.initial_params_["b1"] / net.params_["W1"][0]
        final = _knots(net)
        moved = np.abs(final - initial)
        movement = {
            "sup": float(moved.max()),
            "mean_abs": float(moved.mean()),
            "rms": float(np.sqrt(np.mean(moved**2))),
        }
        error = _riemann_l2_error(net.predict, target, width)
        outputs.append(
            (error, movement, initial, final, float(net.loss_), float(net.learning_rate_), elapsed)
        )
    return outputs


#: Seeds of one (target, width) trained together in one task at most (the
#: unit of parallel work, also on a cluster).
_SEEDS_PER_TASK = 10


@dataclass
class Shallow1DStudyResult:
    """The shallow 1-d study: L2 errors and breakpoint movements per target, width and seed.

    Returned by :func:`shallow_1d_study`. ``print(result)`` shows, per target,
    the median error and movement per width, the local rates and the fitted
    rates with their confidence intervals.

    Parameters
    ----------
    targets : list of str
        The targets' labels (``"gaussian-0.25"``, ``"cusp"``, ``"step"``, ...).

    widths : ndarray of shape (n_widths,)
        The widths.

    seeds : list of int
        The seeds.

    solver : str
        ``"adam"`` or ``"gd"``.

    n_steps : ndarray of shape (n_targets, n_widths)
        Steps of every fit of a (target, width).

    learning_rates : ndarray of shape (n_targets, n_widths, n_seeds)
        The base step size of each fit.

    errors : ndarray of shape (n_targets, n_widths, n_seeds)
        The L2 error (Lebesgue measure on [-1, 1], Riemann sum on ``100 m``
        points) after training.

    movement : dict of str to ndarray of shape (n_targets, n_widths, n_seeds)
        Breakpoint movement ``theta(T) - theta(0)`` in the norms ``"sup"``
        (``||.||_inf``), ``"mean_abs"`` (``||.||_1 / m``) and ``"rms"``
        (``||.||_2 / sqrt(m)``).

    losses : ndarray of shape (n_targets, n_widths, n_seeds)
        Final training loss in the package's convention ``1/(2n) sum e_i^2``
        (half of PyTorch's ``MSELoss``).

    initial_breakpoints, final_breakpoints : list of list of ndarray
        ``[t][i]`` of shape ``(n_seeds, widths[i])``: the breakpoints before
        and after training.

    fit_times : ndarray of shape (n_targets, n_widths, n_seeds)
        Seconds per fit.

    elapsed_s : float
        Wall-clock seconds of the study.
    """

    targets: list
    widths: np.ndarray
    seeds: list
    solver: str
    n_steps: np.ndarray
    learning_rates: np.ndarray
    errors: np.ndarray
    movement: dict
    losses: np.ndarray
    initial_breakpoints: list
    final_breakpoints: list
    fit_times: np.ndarray
    elapsed_s: float = 0.0

    def _values(self, quantity):
        if quantity == "error":
            return self.errors
        if quantity in self.movement:
            return self.movement[quantity]
        raise ValueError(f"quantity must be 'error' or one of {MOVEMENT_NORMS}; got {quantity!r}.")

    def _index(self, target):
        if isinstance(target, Integral):
            return int(target)
        if target not in self.targets:
            raise ValueError(f"Unknown target {target!r}; the study has {self.targets}.")
        return self.targets.index(target)

    def medians(self, target, quantity="error"):
        """Median over seeds per width of ``quantity`` ('error', 'sup', 'mean_abs', 'rms')."""
        return np.median(self._values(quantity)[self._index(target)], axis=1)

    def local_rates(self, target, quantity="error"):
        """The study's local slopes ``log(e_{i-1} / e_i) / log(m_i / m_{i-1})`` of seed means."""
        means = self._values(quantity)[self._index(target)].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(means[:-1] / means[1:]) / np.log(self.widths[1:] / self.widths[:-1])

    def rate(self, target, quantity="error"):
        """Least-squares fit ``quantity ~ C * width^-rate`` over every seed, or None."""
        return _rate_or_none(self.widths, self._values(quantity)[self._index(target)])

    def __str__(self):
        lines = [
            f"Shallow 1-d study: f(x) = m^-1/2 sum_r a_r relu(x - theta_r), breakpoints "
            f"trained by {self.solver}"
            + (" (lr 1e-3, the published schedule)" if self.solver == "adam" else ""),
            f"{len(self.seeds)} seed(s); L2 error on [-1, 1] (Lebesgue, 100 m points); "
            "movement ||theta(T) - theta(0)||; medians over seeds; local rates of seed means",
        ]
        for t, label in enumerate(self.targets):
            err_local = np.concatenate([[np.nan], self.local_rates(t)])
            mov_local = np.concatenate([[np.nan], self.local_rates(t, "sup")])
            header = ["width", "steps", "L2 error", "rate", "sup move", "rate", "rms move"]
            rows = [
                [
                    str(int(m)),
                    str(int(self.n_steps[t, i])),
                    _fmt(e),
                    _fmt(re, ".3f"),
                    _fmt(s),
                    _fmt(rs, ".3f"),
                    _fmt(r),
                ]
                for i, (m, e, re, s, rs, r) in enumerate(
                    zip(
                        self.widths,
                        self.medians(t),
                        err_local,
                        self.medians(t, "sup"),
                        mov_local,
                        self.medians(t, "rms"),
                    )
                )
            ]
            fitted = []
            for quantity, name in [("error", "L2 error"), ("sup", "sup movement")]:
                rate = self.rate(t, quantity)
                fitted.append(
                    f"{name} ~ width^-rate: " + ("not available" if rate is None else str(rate))
                )
            lines += ["", f"target {label}", *_table(header, rows), *fitted]
        lines.append(f"(proven rate of the L2 error: 1/24 = {SHALLOW_1D_PROVEN_RATE:.4f})")
        return "\n".join(lines)

    def to_records(self):
        """One dict per (target, width, seed)."""
        return [
            {
                "target": label,
                "width": int(m),
                "seed": seed,
                "n_steps": int(self.n_steps[t, i]),
                "learning_rate": float(self.learning_rates[t, i, j]),
                "error": float(self.errors[t, i, j]),
                **{
                    f"movement_{norm}": float(self.movement[norm][t, i, j])
                    for norm in MOVEMENT_NORMS
                },
                "loss": float(self.losses[t, i, j]),
                "fit_time": float(self.fit_times[t, i, j]),
            }
            for t, label in enumerate(self.targets)
            for i, m in enumerate(self.widths)
            for j, seed in enumerate(self.seeds)
        ]

    def to_dict(self):
        """Every number but the breakpoints, as plain Python values (for JSON)."""
        summary = {}
        for t, label in enumerate(self.targets):
            summary[label] = {
                quantity: {
                    "median": self.medians(t, quantity).tolist(),
                    "local_rates": self.local_rates(t, quantity).tolist(),
                    "rate": _rate_dict(self.rate(t, quantity)),
                }
                for quantity in ("error", *MOVEMENT_NORMS)
            }
        return {
            "preset": "shallow-1d",
            "targets": list(self.targets),
            "widths": self.widths.tolist(),
            "seeds": list(self.seeds),
            "solver": self.solver,
            "n_steps": self.n_steps.tolist(),
            "proven_rate": SHALLOW_1D_PROVEN_RATE,
            "summary": summary,
            "results": self.to_records(),
            "elapsed_s": self.elapsed_s,
        }

    def plot(self, axes=None):
        """Draw the study's figure (:class:`Shallow1DStudyDisplay`)."""
        return Shallow1DStudyDisplay.from_result(self, axes=axes)


def shallow_1d_study(
    targets=("gaussian", "cusp", "step"),
    *,
    widths=SHALLOW_1D_WIDTHS,
    seeds=tuple(range(10)),
    solver="adam",
    n_steps=None,
    learning_rate=None,
    n_jobs=None,
    verbose=0,
) -> Shallow1DStudyResult:
    """The published shallow 1-d study: breakpoints trained by Adam, error and movement per width.

    The protocol of Gentile and Welper [1]_: the network
    ``f(x) = m**-0.5 * sum_r a_r * relu(x - theta_r)`` with fixed Rademacher
    signs ``a_r``, inner weight 1 and breakpoints ``theta_r(0) ~ U(-1, 1)``
    (:class:`~sklearn_gdnet.GDNetworkRegressor` with ``init="breakpoint"``,
    ``trainable="hidden_biases"``, unit multipliers), trained on the study's
    grid (``2 m`` equispaced points of ``[-1, 1]``, ``2 m + 1`` for the cusp;
    :func:`~sklearn_gdnet.datasets.make_interval_regression` with ``width``)
    by full-batch Adam at step 1e-3 for ``100 * intervals`` steps
    (:func:`study_intervals`) with the step decay
    ``StepDecay(step_size=steps / 4, gamma=0.2 if intervals > 100 else 1)``
    (PyTorch's ``StepLR``). Measured after training: the :math:`L^2` error
    under the Lebesgue measure on ``[-1, 1]`` by the Riemann sum
    ``(sum_j |f(x_j) - g(x_j)|^2 h)^{1/2}`` on ``100 m`` equispaced points,
    ``h = 2 / (100 m)``, and the breakpoint movement
    ``||theta(T) - theta(0)||`` in the sup, mean-absolute and RMS norms.

    Parameters
    ----------
    targets : sequence of str or IntervalTarget, default=("gaussian", "cusp", "step")
        ``"gaussian"`` (amplitude 0.25, the paper's main figure),
        ``"gaussian-0.1"``, ``"gaussian-0.5"``, ``"cusp"``, ``"step"``, or
        :class:`~sklearn_gdnet.datasets.IntervalTarget` objects (those outside
        the study need ``n_steps``).

    widths : sequence of int, default=(10, 18, 32, 56, 100, 178, 316, 562, 1000)
        The widths, at least two distinct ones (sorted).

    seeds : sequence of int, default=range(10)
        The networks' random states (the published study has 100).

    solver : {"adam", "gd"}, default="adam"
        ``"adam"``: the published training. ``"gd"``: plain gradient descent
        for the same number of steps at the automatic step size (no schedule).

    n_steps : int, default=None
        Steps of every fit; None takes the published count per target and
        width. The schedule's ``gamma`` is 0.2 when ``n_steps > 10000``.

    learning_rate : float or "auto", default=None
        None: 1e-3 for Adam, ``"auto"`` for gradient descent.

    n_jobs : int, default=None
        Tasks run in parallel by joblib (one task per target, width and up to
        10 seeds); inside ``joblib.parallel_config(backend="dask")`` on a dask
        cluster. Where the package's exact 1-d core can, the seeds of a task
        are trained together, each seed's network the one a standalone fit
        gives.

    verbose : int, default=0
        ``>= 1``: one line per finished fit on stderr.

    Returns
    -------
    result : Shallow1DStudyResult
        Errors, movements and breakpoints; ``print(result)`` shows the
        tables, ``result.plot()`` draws the study's figure.

    Notes
    -----
    PyTorch's ``MSELoss`` is the mean of the squared residuals, twice this
    package's loss ``1/(2n) sum e_i^2``, so its gradients are twice ours.
    Adam's step ``m / (sqrt(v) + eps)`` does not see that factor but through
    ``eps`` (1e-8), and this package adds ``eps`` to ``sqrt(v)`` before the
    bias correction (Kingma and Ba's efficient form) where PyTorch adds it
    after. Late in training the breakpoints' gradients are small (1e-5 to
    1e-4), so the two runs differ slightly: at width 10 after 10,400 steps on
    the Gaussian the breakpoints of a NumPy re-implementation of the PyTorch
    run and of this preset differ by 1.1e-4 at most (tested with a bound of
    1e-3), against breakpoint movements of order 0.1. The errors are measured
    after the last step (the published script logs every 100 steps, the last
    time 99 steps before the end).

    See Also
    --------
    Shallow1DStudyDisplay : The study's figure.
    study_intervals : The published step counts.

    References
    ----------
    .. [1] R. Gentile, G. Welper, "Approximation results for Gradient Descent
       trained Shallow Neural Networks in 1d", arXiv:2209.08399, 2022.

    Examples
    --------
    >>> from sklearn_gdnet.presets import shallow_1d_study
    >>> result = shallow_1d_study(["cusp"], widths=(10, 18), seeds=(0, 1), n_steps=50)
    >>> result.errors.shape  # (targets, widths, seeds)
    (1, 2, 2)
    >>> sorted(result.movement)
    ['mean_abs', 'rms', 'sup']
    """
    import sys

    from sklearn.utils.parallel import Parallel, delayed

    if isinstance(targets, str):
        targets = [targets]
    targets = [_study_target(t) for t in targets]
    if not targets:
        raise ValueError("targets must hold at least one target.")
    labels = [_target_label(t) for t in targets]
    if len(set(labels)) != len(labels):
        raise ValueError(f"targets must be distinct; got {labels}.")
    widths = sorted(_check_positive_int(m, "widths", 1) for m in widths)
    if len(widths) < 2 or len(set(widths)) != len(widths):
        raise ValueError(f"widths must be at least two distinct integers; got {widths}.")
    seeds = [_check_positive_int(s, "seeds", 0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed.")
    if solver not in ("adam", "gd"):
        raise ValueError(f"solver must be 'adam' or 'gd'; got {solver!r}.")
    if n_steps is not None:
        n_steps = _check_positive_int(n_steps, "n_steps", 1)
    if learning_rate is None:
        learning_rate = 1e-3 if solver == "adam" else "auto"
    steps = np.array(
        [
            [
                n_steps if n_steps is not None else _STEPS_PER_INTERVAL * study_intervals(target, m)
                for m in widths
            ]
            for target in targets
        ]
    )

    start = _time.perf_counter()
    # one task per (target, width, chunk of seeds), the longest first: the longest fits
    # start early and the workers stay busy
    chunks = [
        list(range(k, min(k + _SEEDS_PER_TASK, len(seeds))))
        for k in range(0, len(seeds), _SEEDS_PER_TASK)
    ]
    grid = [(t, i, c) for t in range(len(targets)) for i in range(len(widths)) for c in chunks]
    grid.sort(key=lambda tic: -widths[tic[1]] * steps[tic[0], tic[1]])
    tasks = (
        delayed(_shallow_task)(
            targets[t], widths[i], [seeds[j] for j in c], int(steps[t, i]), solver, learning_rate
        )
        for t, i, c in grid
    )
    shape = (len(targets), len(widths), len(seeds))
    errors, losses, rates, times = (np.empty(shape) for _ in range(4))
    movement = {norm: np.empty(shape) for norm in MOVEMENT_NORMS}
    initial = [[np.empty((len(seeds), m)) for m in widths] for _ in targets]
    final = [[np.empty((len(seeds), m)) for m in widths] for _ in targets]
    outputs = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    done = 0
    for (t, i, c), out in zip(grid, outputs):
        for j, (error, moved, theta0, theta, loss, rate, elapsed) in zip(c, out):
            errors[t, i, j], losses[t, i, j] = error, loss
            rates[t, i, j], times[t, i, j] = rate, elapsed
            for norm in MOVEMENT_NORMS:
                movement[norm][t, i, j] = moved[norm]
            initial[t][i][j], final[t][i][j] = theta0, theta
            done += 1
            if verbose:
                print(
                    f"[shallow_1d_study] {labels[t]} width={widths[i]} seed={seeds[j]} "
                    f"steps={steps[t, i]} error={error:.4g} sup move={moved['sup']:.4g} "
                    f"({done}/{errors.size}, {_time.perf_counter() - start:.1f}s)",
                    file=sys.stderr,
                    flush=True,
                )
    return Shallow1DStudyResult(
        targets=labels,
        widths=np.asarray(widths),
        seeds=seeds,
        solver=solver,
        n_steps=steps,
        learning_rates=rates,
        errors=errors,
        movement=movement,
        losses=losses,
        initial_breakpoints=initial,
        final_breakpoints=final,
        fit_times=times,
        elapsed_s=_time.perf_counter() - start,
    )


class Shallow1DStudyDisplay:
    """The shallow 1-d study's figure: error and breakpoint movement against width.

    One column per target; top row the :math:`L^2` error, bottom row the sup
    movement of the breakpoints, each as box plots over seeds at every width
    with the medians joined, on log-log axes, with reference slopes
    ``m^{-1/24}`` (the proven rate), ``m^{-1/2}`` and ``m^{-1}`` through the
    median at the narrowest width. Create it with :meth:`from_result`. Needs
    matplotlib.

    Parameters
    ----------
    result : Shallow1DStudyResult
        The output of :func:`shallow_1d_study`.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes of shape (2, n_targets)
        The panels.

    figure_ : matplotlib Figure
        The figure.

    Examples
    --------
    >>> from sklearn_gdnet.presets import Shallow1DStudyDisplay, shallow_1d_study
    >>> result = shallow_1d_study(["step"], widths=(10, 18), seeds=(0, 1), n_steps=20)
    >>> Shallow1DStudyDisplay.from_result(result).axes_.shape
    (2, 1)
    """

    #: reference slopes drawn on the error panels: (rate, label)
    REFERENCE_RATES = ((SHALLOW_1D_PROVEN_RATE, "m^-1/24 (proven)"), (0.5, "m^-1/2"), (1.0, "m^-1"))

    def __init__(self, result):
        self.result = result

    @classmethod
    def from_result(cls, result, *, axes=None):
        """Draw a :class:`Shallow1DStudyResult`.

        Parameters
        ----------
        result : Shallow1DStudyResult
            The study.

        axes : array-like of matplotlib Axes of shape (2, n_targets), default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : Shallow1DStudyDisplay
            The drawn display.
        """
        return cls(result).plot(axes=axes)

    def plot(self, axes=None):
        """Draw the panels.

        Parameters
        ----------
        axes : array-like of matplotlib Axes of shape (2, n_targets), default=None
            Axes to draw on; None makes a new figure.

        Returns
        -------
        display : Shallow1DStudyDisplay
            The object, with ``axes_`` and ``figure_``.
        """
        from .model_selection import _import_pyplot

        plt = _import_pyplot("Shallow1DStudyDisplay")
        r = self.result
        n = len(r.targets)
        if axes is None:
            _, axes = plt.subplots(2, n, figsize=(4.2 * n, 7), squeeze=False, layout="constrained")
        axes = np.asarray(axes, dtype=object).reshape(2, -1)
        if axes.shape[1] != n:
            raise ValueError(
                f"Shallow1DStudyDisplay needs axes of shape (2, {n}); got {axes.shape}."
            )
        m = r.widths.astype(float)
        for t, label in enumerate(r.targets):
            for row, (quantity, ylabel) in enumerate(
                [("error", "L2 error"), ("sup", "breakpoint movement (sup)")]
            ):
                ax = axes[row, t]
                values = r._values(quantity)[t]
                ax.boxplot(
                    list(values),
                    positions=m,
                    widths=0.25 * m,
                    manage_ticks=False,
                    showfliers=True,
                    flierprops={"markersize": 2},
                )
                median = np.median(values, axis=1)
                ax.plot(m, median, "o-", color="C0", markersize=3, label="median")
                if quantity == "error":
                    for k, (rate, name) in enumerate(self.REFERENCE_RATES):
                        ax.plot(
                            m,
                            median[0] * (m / m[0]) ** -rate,
                            linestyle=("--", ":", "-.")[k % 3],
                            color="gray",
                            label=name,
                        )
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xticks(m, labels=[str(int(w)) for w in r.widths], fontsize="x-small")
                ax.xaxis.set_minor_locator(plt.NullLocator())
                ax.set_xlabel("width m")
                ax.set_ylabel(ylabel)
                if row == 0:
                    ax.set_title(label)
                ax.legend(fontsize="x-small")
        self.axes_ = axes
        self.figure_ = axes[0, 0].figure
        return self
