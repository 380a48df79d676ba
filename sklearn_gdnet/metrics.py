"""Continuous L2 errors on the interval and the sphere, and a scorer built on them.

The theory measures errors in the continuous norm

.. math::

    \\|g - f\\|_{L^2(\\mu)} = \\Big(\\int (g(x) - f(x))^2 \\, d\\mu(x)\\Big)^{1/2}

with, by default, the *normalized* measure ``mu``: ``dx / 2`` on ``[-1, 1]``,
the uniform probability measure on the sphere :math:`S^{d-1}`. A test-set mean
squared error is a Monte Carlo estimate of it; the rules here are deterministic
and much more accurate (see :func:`integration_rule` for what each one
integrates exactly). Every function also takes ``measure="lebesgue"``: ``dx``
on the interval (what the shallow 1-d study of Gentile and Welper reports),
the surface measure of total mass :math:`|S^{d-1}|` on the sphere.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special
from sklearn.utils import check_random_state

from ._compat import (
    Integral,
    Interval,
    MetadataRequest,
    StrOptions,
    _MetadataRequester,
    _routing_enabled,
    get_routing_for_object,
    validate_params,
)
from ._memory import check_fits_in_memory
from ._quadrature import quadrature_rule
from ._spectra import residual_spectrum

__all__ = [
    "integration_rule",
    "l2_error",
    "l2_norm",
    "make_l2_error_scorer",
    "measure_mass",
    "quadrature_rule",
    "residual_spectrum",
]

_DEFAULT_POINTS = {"interval": 2000, 2: 4096, 3: 8192}
_DEFAULT_MONTE_CARLO_POINTS = 20000
_MEASURES = {"normalized", "lebesgue"}


def measure_mass(domain="interval", n_features=None, measure="lebesgue"):
    """Total mass of the domain under a measure: what the rule's weights sum to.

    ``"normalized"``: 1. ``"lebesgue"``: 2 for ``[-1, 1]`` (``dx``), and the
    surface area :math:`|S^{d-1}| = 2 \\pi^{d/2} / \\Gamma(d/2)` for the sphere
    (:math:`2\\pi` for the circle, :math:`4\\pi` for :math:`S^2`). An
    :math:`L^2` norm under the Lebesgue measure is the normalized one times
    the square root of this mass.

    Parameters
    ----------
    domain : {"interval", "sphere"}, default="interval"
        The domain.

    n_features : int, default=None
        Ambient dimension ``d`` of the sphere (required for ``"sphere"``).

    measure : {"normalized", "lebesgue"}, default="lebesgue"
        The measure.

    Returns
    -------
    mass : float
        The total mass.

    Examples
    --------
    >>> from sklearn_gdnet.metrics import measure_mass
    >>> measure_mass("interval")
    2.0
    >>> round(measure_mass("sphere", n_features=3), 12)  # 4 pi
    12.566370614359
    """
    if measure not in _MEASURES:
        raise ValueError(f"measure must be one of {sorted(_MEASURES)}; got {measure!r}.")
    if measure == "normalized":
        return 1.0
    if domain == "interval":
        return 2.0
    if domain != "sphere":
        raise ValueError(f"domain must be 'interval' or 'sphere'; got {domain!r}.")
    if n_features is None or n_features < 2:
        raise ValueError(
            f"The sphere needs the ambient dimension n_features >= 2; got n_features={n_features}."
        )
    d = float(n_features)
    return float(2.0 * np.pi ** (d / 2) / special.gamma(d / 2))


@validate_params(
    {
        "domain": [StrOptions({"interval", "sphere"})],
        "n_features": [Interval(Integral, 1, None, closed="left"), None],
        "n_points": [Interval(Integral, 2, None, closed="left"), None],
        "random_state": ["random_state"],
        "measure": [StrOptions(_MEASURES)],
    },
    prefer_skip_nested_validation=True,
)
def integration_rule(
    domain="interval", n_features=None, n_points=None, random_state=0, *, measure="normalized"
):
    """Compute the nodes and weights of the rule used for continuous L2 errors.

    The weights are positive and sum to one (normalized measure), or to the
    total mass of the domain with ``measure="lebesgue"`` (:func:`measure_mass`).

    * ``domain="interval"``: composite Gauss-Legendre with ``n_points / 2``
      nodes on each of ``[-1, 0]`` and ``[0, 1]`` (default 2000 nodes in all).
      Exact for piecewise polynomials of degree ``< n_points`` with a break at
      0 only; the singularities of the cusp and the step sit at that break, so
      their norms come out to about ``1e-9`` (cusp) and to rounding (step). A
      kink inside a panel (a ReLU breakpoint of an estimate) limits the
      relative accuracy of a squared error to roughly ``(2 / n_points)^2``;
      measured on width-256 ReLU networks trained on the three 1-d targets,
      the default error agrees with a 100 times finer rule to ``1e-7``
      (relative). Computing the nodes costs about a second at
      ``n_points=10**4`` and grows quadratically beyond.
    * ``domain="sphere"``, ``n_features=2``: ``n_points`` equispaced angles
      (trapezoid rule), exact for trigonometric polynomials of degree
      ``< n_points`` (default 4096).
    * ``domain="sphere"``, ``n_features=3``: product rule, Gauss-Legendre in
      :math:`\\cos\\theta` (``q`` nodes) times ``2 q`` equispaced azimuths, with
      ``q = ceil(sqrt(n_points / 2))``; exact for spherical polynomials of degree
      ``< 2 q`` (default ``q = 64``, 8192 nodes, exact to degree 127). ReLU
      networks have kinks, so for them the rule is accurate rather than
      exact: the errors of trained ReLU networks of widths 8 and 256 agree
      with a 64 times finer rule to about ``3e-5`` (relative).
    * ``domain="sphere"``, ``n_features >= 4``: a fixed seeded sample of
      ``n_points`` uniform points (default 20000), equal weights; the relative
      standard error of a squared error is ``std(e^2) / (mean(e^2) sqrt(n))``,
      typically about 1% at the default.

    Parameters
    ----------
    domain : {"interval", "sphere"}, default="interval"
        ``[-1, 1]`` or the unit sphere :math:`S^{d-1}`.

    n_features : int, default=None
        Ambient dimension ``d`` of the sphere (required for ``"sphere"``);
        must be 1 or None for the interval.

    n_points : int, default=None
        Size of the rule; the defaults are given above.

    random_state : int, RandomState instance or None, default=0
        Seed of the Monte Carlo sample (``n_features >= 4`` only).

    measure : {"normalized", "lebesgue"}, default="normalized"
        Weights summing to one, or to the total mass of the domain (2 on
        ``[-1, 1]``, :math:`|S^{d-1}|` on the sphere).

    Returns
    -------
    nodes : ndarray of shape (n_nodes, n_features)
        The integration nodes.

    weights : ndarray of shape (n_nodes,)
        Positive weights summing to one (``measure="normalized"``) or to the
        total mass (``measure="lebesgue"``).

    Examples
    --------
    >>> from sklearn_gdnet.metrics import integration_rule
    >>> nodes, weights = integration_rule("interval", n_points=10)
    >>> round(float(weights @ nodes[:, 0] ** 4), 12)  # (1/2) * integral of x^4
    0.2
    >>> nodes, weights = integration_rule("sphere", n_features=3)
    >>> round(float(weights @ nodes[:, 2] ** 2), 12)  # E[x_3^2] = 1/3
    0.333333333333
    >>> nodes, weights = integration_rule("interval", measure="lebesgue")
    >>> round(float(weights @ nodes[:, 0] ** 2), 12)  # integral of x^2 dx
    0.666666666667
    """
    nodes, weights = _normalized_rule(domain, n_features, n_points, random_state)
    return nodes, weights * measure_mass(domain, n_features, measure)


def _check_rule_memory(n_nodes, n_features):
    # nodes, weights and the meshgrid / Gaussian temporaries of the rule
    check_fits_in_memory(
        8 * n_nodes * (2 * n_features + 4),
        f"An integration rule of {n_nodes} nodes in dimension {n_features}",
        "Use a smaller n_points.",
    )


def _normalized_rule(domain, n_features, n_points, random_state):
    if domain == "interval":
        if n_features not in (None, 1):
            raise ValueError(f"The interval has n_features=1; got n_features={n_features}.")
        n_points = _DEFAULT_POINTS["interval"] if n_points is None else n_points
        _check_rule_memory(n_points, 1)
        t, w = _gauss_legendre(max(n_points // 2, 1))
        # [-1, 1] -> [-1, 0] and [0, 1]; weights of the normalized measure dx / 2
        nodes = np.concatenate([(t - 1.0) / 2.0, (t + 1.0) / 2.0])
        weights = np.concatenate([w, w]) / 4.0
        return nodes[:, None], weights

    if n_features is None or n_features < 2:
        raise ValueError(
            f"The sphere needs the ambient dimension n_features >= 2; got n_features={n_features}."
        )
    if n_features == 2:
        n_points = _DEFAULT_POINTS[2] if n_points is None else n_points
        _check_rule_memory(n_points, 2)
        angles = 2.0 * np.pi * np.arange(n_points) / n_points
        nodes = np.column_stack([np.cos(angles), np.sin(angles)])
        return nodes, np.full(n_points, 1.0 / n_points)
    if n_features == 3:
        n_points = _DEFAULT_POINTS[3] if n_points is None else n_points
        q = int(np.ceil(np.sqrt(n_points / 2.0)))
        _check_rule_memory(2 * q * q, 3)
        z, wz = _gauss_legendre(q)
        phi = 2.0 * np.pi * np.arange(2 * q) / (2 * q)
        Z, PHI = np.meshgrid(z, phi, indexing="ij")
        R = np.sqrt(1.0 - Z**2)
        nodes = np.column_stack([(R * np.cos(PHI)).ravel(), (R * np.sin(PHI)).ravel(), Z.ravel()])
        # The area element is dz dphi; the total measure 4 pi normalizes it.
        weights = np.repeat(wz / 2.0, 2 * q) / (2 * q)
        return nodes, weights
    n_points = _DEFAULT_MONTE_CARLO_POINTS if n_points is None else n_points
    _check_rule_memory(n_points, n_features)
    rng = check_random_state(random_state)
    X = rng.standard_normal((n_points, n_features))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, np.full(n_points, 1.0 / n_points)


@lru_cache(maxsize=16)
def _gauss_legendre(n):
    # scipy's Golub-Welsch/asymptotic nodes: 50x faster than numpy's at n = 1000
    nodes, weights = special.roots_legendre(n)
    nodes.flags.writeable = False
    weights.flags.writeable = False
    return nodes, weights


def _resolve_domain(target, domain, n_features):
    domain = getattr(target, "domain", None) if domain is None else domain
    if domain is None:
        raise ValueError(
            "Cannot tell the domain of the target; pass domain='interval' or "
            "domain='sphere' (targets from sklearn_gdnet.datasets carry it)."
        )
    if n_features is None:
        n_features = getattr(target, "n_features", None)
    if domain == "interval":
        n_features = 1
    return domain, n_features


def _predict(estimator, X):
    values = estimator.predict(X) if hasattr(estimator, "predict") else estimator(X)
    values = np.asarray(values, dtype=float)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape != (X.shape[0],):
        raise ValueError(
            "The continuous L2 error needs one output per point; got predictions "
            f"of shape {values.shape} for {X.shape[0]} points."
        )
    return values


def l2_norm(
    function,
    *,
    domain=None,
    n_features=None,
    n_points=None,
    random_state=0,
    measure="normalized",
):
    """Compute the continuous L2 norm of a function.

    Parameters
    ----------
    function : callable or estimator
        Maps ``X`` of shape ``(n_points, n_features)`` to ``(n_points,)``; an
        object with ``predict`` is evaluated through ``predict``.

    domain : {"interval", "sphere"}, default=None
        Domain of integration; None reads ``function.domain``.

    n_features : int, default=None
        Dimension of the sphere's ambient space; None reads
        ``function.n_features``.

    n_points : int, default=None
        Size of the rule, see :func:`integration_rule`.

    random_state : int, RandomState instance or None, default=0
        Seed of the Monte Carlo rule (spheres in ``d >= 4`` only).

    measure : {"normalized", "lebesgue"}, default="normalized"
        ``dx / 2`` on ``[-1, 1]`` and the uniform probability measure on the
        sphere, or ``dx`` and the surface measure (the norm grows by the
        square root of :func:`measure_mass`).

    Returns
    -------
    norm : float
        :math:`(\\int f^2 \\, d\\mu)^{1/2}`.

    Examples
    --------
    >>> from sklearn_gdnet.metrics import l2_norm
    >>> round(l2_norm(lambda X: X[:, 0], domain="interval") ** 2, 12)  # 1/3
    0.333333333333
    >>> round(l2_norm(lambda X: X[:, 0], domain="interval", measure="lebesgue") ** 2, 12)
    0.666666666667
    """
    domain, n_features = _resolve_domain(function, domain, n_features)
    nodes, weights = integration_rule(domain, n_features, n_points, random_state, measure=measure)
    values = _predict(function, nodes)
    return float(np.sqrt(weights @ values**2))


def l2_error(
    estimator,
    target,
    *,
    domain=None,
    n_features=None,
    n_points=None,
    relative=False,
    random_state=0,
    measure="normalized",
):
    """Compute the continuous L2 error of an estimator against a target function.

    .. math::

        \\|\\hat f - f\\|_{L^2(\\mu)}
        = \\Big(\\sum_j w_j (\\hat f(x_j) - f(x_j))^2\\Big)^{1/2}

    with the nodes and weights of :func:`integration_rule`.

    Parameters
    ----------
    estimator : fitted estimator or callable
        Evaluated through ``predict`` if it has one, else called.

    target : callable
        The target function, e.g. from :mod:`sklearn_gdnet.datasets`.

    domain : {"interval", "sphere"}, default=None
        Domain of integration; None reads ``target.domain``.

    n_features : int, default=None
        Ambient dimension of the sphere; None reads ``target.n_features``.

    n_points : int, default=None
        Size of the rule, see :func:`integration_rule` (accuracy stated there).

    relative : bool, default=False
        Divide by the L2 norm of the target (computed by the same rule); the
        ratio does not depend on the measure.

    random_state : int, RandomState instance or None, default=0
        Seed of the Monte Carlo rule (spheres in ``d >= 4`` only).

    measure : {"normalized", "lebesgue"}, default="normalized"
        ``"normalized"``: ``dx / 2`` on ``[-1, 1]``, the uniform probability
        measure on the sphere (the theory's convention). ``"lebesgue"``:
        ``dx`` on ``[-1, 1]`` (what Gentile and Welper report), the surface
        measure on the sphere. The Lebesgue error is the normalized one times
        ``sqrt(measure_mass(...))``: ``sqrt(2)`` on the interval.

    Returns
    -------
    error : float
        The (relative) continuous L2 error.

    See Also
    --------
    make_l2_error_scorer : The same error as a scikit-learn scorer.
    measure_mass : The total mass of each measure.

    Notes
    -----
    Gentile and Welper's shallow 1-d study [1]_ reports, for a network of
    width ``m``, the Riemann sum

    .. math::

        \\Big(\\sum_{j=1}^{N} |f(x_j) - g(x_j)|^2 \\, h\\Big)^{1/2},
        \\qquad x_j = \\texttt{linspace(-1, 1, N)}, \\quad N = 100 m,
        \\quad h = 2 / N,

    an approximation of :math:`(\\int_{-1}^{1} |f - g|^2 \\, dx)^{1/2}`, the
    error under the Lebesgue measure: compare it with
    ``l2_error(..., measure="lebesgue")``, not with the default, which is
    smaller by the factor :math:`\\sqrt 2`. The Riemann sum's weights add up
    to 2 like ``dx``, but its ``N`` points span ``N - 1`` cells, so it differs
    from the integral by a relative amount of order :math:`1 / N`, plus the
    effect of kinks and of the cusp between grid points; the rule used here is
    accurate to about ``1e-7`` relative (:func:`integration_rule`).

    References
    ----------
    .. [1] R. Gentile, G. Welper, "Approximation results for Gradient Descent
       trained Shallow Neural Networks in 1d", arXiv:2209.08399, 2022.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn_gdnet.datasets import make_interval_regression
    >>> from sklearn_gdnet.metrics import l2_error
    >>> X, y, target = make_interval_regression(50, target="step")
    >>> constant = LinearRegression().fit(X * 0, y)  # predicts mean(y) = 0.5
    >>> round(l2_error(constant, target), 6)  # |1{x>0} - 1/2| = 1/2 everywhere
    0.5
    >>> round(l2_error(constant, target, measure="lebesgue") ** 2, 6)  # (1/4) * 2
    0.5
    """
    return _L2ErrorScorer(
        target, domain, n_features, n_points, relative, random_state, measure
    ).error(estimator)


class _L2ErrorScorer(_MetadataRequester):
    """Callable ``scorer(estimator, X, y) -> -error`` (greater is better).

    The rule and the target's values on it are computed once; ``X``, ``y``
    and any routed metadata are ignored because the error is an integral over
    the whole domain. It takes part in scikit-learn's metadata routing as a
    scorer that consumes nothing (see :meth:`set_score_request`).
    """

    def __init__(self, target, domain, n_features, n_points, relative, random_state, measure):
        if measure not in _MEASURES:
            raise ValueError(f"measure must be one of {sorted(_MEASURES)}; got {measure!r}.")
        domain, n_features = _resolve_domain(target, domain, n_features)
        self.target = target
        self.domain = domain
        self.n_features = n_features
        self.relative = relative
        self.measure = measure
        self.nodes, self.weights = integration_rule(
            domain, n_features, n_points, random_state, measure=measure
        )
        self.target_values = _predict(target, self.nodes)
        self.target_norm = float(np.sqrt(self.weights @ self.target_values**2))
        if relative and self.target_norm == 0:
            raise ValueError("relative=True needs a target with nonzero L2 norm.")

    def error(self, estimator):
        """The continuous L2 error of ``estimator`` (a positive number)."""
        residual = _predict(estimator, self.nodes) - self.target_values
        error = float(np.sqrt(self.weights @ residual**2))
        return error / self.target_norm if self.relative else error

    def __call__(self, estimator, X=None, y=None, **kwargs):
        """Return minus the continuous L2 error of ``estimator``.

        Parameters
        ----------
        estimator : fitted estimator or callable
            Evaluated on the rule's nodes.

        X, y : array-like, default=None
            Ignored: the error is an integral over the domain.

        **kwargs : dict
            Metadata (``sample_weight``, ...); ignored for the same reason.

        Returns
        -------
        score : float
            ``-error``.
        """
        return -self.error(estimator)

    def set_score_request(self, **kwargs):
        """Declare the metadata this scorer takes in metadata routing: none.

        scikit-learn's routing asks every scorer whether it wants metadata
        passed to a search or to ``cross_validate``. The continuous error
        integrates over the domain and has no per-sample terms, so it can use
        no ``sample_weight``: it requests nothing by default, which lets
        ``sample_weight`` go to the estimator's ``fit`` alone, and accepts
        explicit ``False`` or ``None``. Available when routing is enabled,
        ``sklearn.set_config(enable_metadata_routing=True)``.

        Parameters
        ----------
        **kwargs : dict
            ``param_name=False`` (not requested) or ``None`` (the default).

        Returns
        -------
        self : object
            The scorer.
        """
        if not _routing_enabled():
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. "
                "You can enable it using sklearn.set_config(enable_metadata_routing=True)."
            )
        for param, alias in kwargs.items():
            if alias is not False and alias is not None:
                raise ValueError(
                    f"The continuous L2 error cannot use {param!r}: it is an integral "
                    "over the whole domain, not a mean over samples. Route "
                    f"{param!r} to the estimator instead (e.g. "
                    f"set_fit_request({param}=True)) and pass {param}=False here."
                )
        request = MetadataRequest(owner=self)
        for param, alias in kwargs.items():
            request.score.add_request(param=param, alias=alias)
        self._metadata_request = request
        return self

    def _get_metadata_request(self):
        if hasattr(self, "_metadata_request"):
            return get_routing_for_object(self._metadata_request)
        return MetadataRequest(owner=self)

    def _accept_sample_weight(self):
        # Without metadata routing, scikit-learn's searches hand sample_weight
        # to every scorer that accepts it and warn that the others give
        # "statistically incorrect results". This one takes it and rightly
        # ignores it: the integral has no per-sample terms.
        return True

    def __repr__(self):
        kind = "relative " if self.relative else ""
        return (
            f"make_l2_error_scorer({self.target!r}, domain={self.domain!r}, "
            f"measure={self.measure!r}) "
            f"[negative {kind}L2 error over {self.nodes.shape[0]} nodes]"
        )


def make_l2_error_scorer(
    target,
    *,
    domain=None,
    n_features=None,
    n_points=None,
    relative=False,
    random_state=0,
    measure="normalized",
):
    """Make a scorer that returns the negative continuous L2 error.

    The scorer has scikit-learn's signature ``scorer(estimator, X, y)`` and
    its greater-is-better convention, so it plugs into ``cross_validate``,
    ``validation_curve``, ``GridSearchCV`` and
    :func:`sklearn_gdnet.model_selection.width_study`. It ignores ``X`` and
    ``y``: the error is an integral over the whole domain against the known
    target, not an average over a test fold. Pass several scorers in a dict
    to also get fold-based scores.

    It takes part in metadata routing
    (``sklearn.set_config(enable_metadata_routing=True)``) as a scorer that
    requests no metadata: ``sample_weight`` routed to the estimator's ``fit``
    weights the training, and the error stays the unweighted integral. It has
    ``set_score_request`` like scikit-learn's scorers.

    Parameters
    ----------
    target : callable
        The target function, e.g. from :mod:`sklearn_gdnet.datasets`.

    domain : {"interval", "sphere"}, default=None
        Domain of integration; None reads ``target.domain``.

    n_features : int, default=None
        Ambient dimension of the sphere; None reads ``target.n_features``.

    n_points : int, default=None
        Size of the rule, see :func:`integration_rule` (accuracy stated there).

    relative : bool, default=False
        Divide by the L2 norm of the target.

    random_state : int, RandomState instance or None, default=0
        Seed of the Monte Carlo rule (spheres in ``d >= 4`` only).

    measure : {"normalized", "lebesgue"}, default="normalized"
        The measure of the error, see :func:`l2_error`;
        ``"lebesgue"`` on the interval is what Gentile and Welper report.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> -error``; it pickles when the target does,
        so it works with process-based joblib backends.

    See Also
    --------
    l2_error : The error itself.

    Examples
    --------
    >>> from sklearn.kernel_ridge import KernelRidge
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_gdnet.datasets import make_interval_regression
    >>> from sklearn_gdnet.metrics import make_l2_error_scorer
    >>> X, y, target = make_interval_regression(40, target="bump")
    >>> scorer = make_l2_error_scorer(target)
    >>> search = GridSearchCV(
    ...     KernelRidge(kernel="rbf", gamma=10.0),
    ...     {"alpha": [1e-6, 1e-1, 1e1]},
    ...     scoring=scorer,
    ...     cv=3,
    ... ).fit(X, y)
    >>> search.best_params_
    {'alpha': 1e-06}
    >>> bool(search.best_score_ < 0)
    True
    """
    return _L2ErrorScorer(target, domain, n_features, n_points, relative, random_state, measure)
