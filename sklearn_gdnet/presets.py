"""Study presets: the package's standard studies as functions returning result objects.

Each preset builds the data, the models and the training of one study,
runs it, and returns a result object that prints as a table, writes itself as
records and draws itself. The command-line tool (``python -m sklearn_gdnet``)
parses its options, calls a preset and prints or writes the result; the same
studies run from Python with the same defaults.

- :func:`sphere_study`: the theory's own setting, gradient-descent networks on
  the sphere trained on the continuous loss of a Sobolev target, with the
  error decomposition (network, linearization, infinite-width limit,
  converged kernel) and the fitted rate.

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
    "SphereStudyResult",
    "sphere_study",
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
    decomposition = error_decomposition(
        network,
        X,
        y,
        target,
        sample_weight=w,
        widths=widths,
        seeds=seeds,
        max_degree=max_degree,
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
