"""Points on the sphere, targets of known smoothness and the 1-d targets.

Every generator returns ``X, y, target``: the inputs, the (possibly noisy)
responses and the noiseless target function as a callable object. The target
objects know their domain (``"sphere"`` or ``"interval"``) and their exact
L2 norm under the normalized measure, so that the continuous L2 error of any
estimate (see :mod:`sklearn_gdnet.metrics`) can be put in relation to a known
number.
"""

from __future__ import annotations

import numpy as np
from scipy import special
from sklearn.utils import check_random_state

from ._compat import Integral, Interval, Real, StrOptions, validate_params
from ._quadrature import make_interval_quadrature, make_sphere_quadrature, quadrature_training_set

__all__ = [
    "IntervalTarget",
    "SphereHarmonicTarget",
    "harmonic_dimension",
    "make_interval_quadrature",
    "make_interval_regression",
    "make_sphere_quadrature",
    "make_sphere_regression",
    "quadrature_training_set",
    "sample_sphere",
    "zonal_harmonic",
]


# --- the sphere ------------------------------------------------------------------------


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def sample_sphere(n_samples=100, n_features=3, *, random_state=None):
    """Draw points uniformly from the unit sphere :math:`S^{d-1}` in ``R^d``.

    Normalized standard Gaussian vectors are uniform on the sphere because the
    Gaussian distribution is rotation invariant.

    Parameters
    ----------
    n_samples : int, default=100
        Number of points.

    n_features : int, default=3
        Ambient dimension ``d``; the points lie on :math:`S^{d-1}`.

    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Points of Euclidean norm one.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.datasets import sample_sphere
    >>> X = sample_sphere(5, n_features=3, random_state=0)
    >>> X.shape
    (5, 3)
    >>> bool(np.allclose(np.linalg.norm(X, axis=1), 1.0))
    True
    """
    rng = check_random_state(random_state)
    return _sample_sphere(rng, n_samples, n_features)


def _sample_sphere(rng, n_samples, n_features):
    X = rng.standard_normal((n_samples, n_features))
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    # A zero vector has probability zero; redraw rather than divide by it.
    while np.any(norms == 0):  # pragma: no cover
        bad = norms[:, 0] == 0
        X[bad] = rng.standard_normal((int(bad.sum()), n_features))
        norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / norms


def harmonic_dimension(degree, n_features):
    """Dimension ``N(d, k)`` of the spherical harmonics of degree ``k`` on ``S^{d-1}``.

    .. math::

        N(d, 0) = 1, \\qquad
        N(d, k) = \\frac{2k + d - 2}{k} \\binom{k + d - 3}{k - 1} \\quad (k \\ge 1).

    Parameters
    ----------
    degree : int or array-like of int
        The degree ``k >= 0``.

    n_features : int
        Ambient dimension ``d >= 2``.

    Returns
    -------
    dimension : float or ndarray
        ``N(d, k)`` (as floats, exact for all practical sizes).

    Examples
    --------
    >>> from sklearn_gdnet.datasets import harmonic_dimension
    >>> [int(harmonic_dimension(k, 3)) for k in range(4)]  # 2k + 1 on S^2
    [1, 3, 5, 7]
    >>> [int(harmonic_dimension(k, 2)) for k in range(4)]  # cos and sin on S^1
    [1, 2, 2, 2]
    """
    k = np.asarray(degree, dtype=float)
    d = float(n_features)
    safe_k = np.where(k == 0, 1.0, k)
    dim = (2 * safe_k + d - 2) / safe_k * special.binom(safe_k + d - 3, safe_k - 1)
    dim = np.where(k == 0, 1.0, dim)
    return dim[()] if dim.ndim == 0 else dim


def zonal_harmonic(degree, t, n_features):
    """The zonal polynomial :math:`P_k^{(d)}(t)`, normalized so that ``P(1) = 1``.

    :math:`P_k^{(d)} = C_k^{(\\lambda)} / C_k^{(\\lambda)}(1)` with the Gegenbauer
    polynomial :math:`C_k^{(\\lambda)}`, :math:`\\lambda = (d - 2) / 2`; for
    ``d = 2`` it is the Chebyshev polynomial :math:`T_k` and for ``d = 3`` the
    Legendre polynomial. For every pole ``z`` on the sphere,
    ``x -> P_k(x . z)`` is a spherical harmonic of degree ``k`` with
    :math:`\\int P_k(x \\cdot z)^2 \\, d\\sigma(x) = 1 / N(d, k)` (normalized
    measure, addition theorem).

    Parameters
    ----------
    degree : int
        Degree ``k >= 0``.

    t : array-like
        Arguments in ``[-1, 1]``.

    n_features : int
        Ambient dimension ``d >= 2``.

    Returns
    -------
    values : ndarray
        :math:`P_k^{(d)}(t)`, same shape as ``t``.

    Examples
    --------
    >>> from sklearn_gdnet.datasets import zonal_harmonic
    >>> zonal_harmonic(2, [1.0, 0.0], n_features=3)  # Legendre (3 t^2 - 1) / 2
    array([ 1. , -0.5])
    """
    t = np.asarray(t, dtype=float)
    if n_features == 2:
        return special.eval_chebyt(degree, t)
    lam = (n_features - 2) / 2.0
    return special.eval_gegenbauer(degree, lam, t) / special.eval_gegenbauer(degree, lam, 1.0)


class SphereHarmonicTarget:
    """A finite spherical-harmonic expansion with one zonal term per degree.

    .. math::

        f(x) = \\sum_{k} a_k \\sqrt{N(d, k)} \\, P_k^{(d)}(x \\cdot z_k),
        \\qquad x \\in S^{d-1},

    with coefficients ``a_k``, poles ``z_k`` on the sphere, the zonal
    polynomials :func:`zonal_harmonic` and the dimensions
    :func:`harmonic_dimension`. Each term has L2 norm ``|a_k|`` under the
    normalized surface measure and terms of different degrees are orthogonal,
    so the exact L2 norm is :math:`\\|f\\| = (\\sum_k a_k^2)^{1/2}` and the
    Sobolev norm is
    :math:`\\|f\\|_{H^s}^2 = \\sum_k (1 + k (k + d - 2))^s a_k^2`.

    Parameters
    ----------
    coefficients : array-like of shape (n_degrees,)
        ``a_k`` for the degrees ``k = 0, 1, ..., n_degrees - 1``.

    poles : array-like of shape (n_degrees, n_features)
        One unit vector per degree.

    Attributes
    ----------
    domain : str
        ``"sphere"``.

    n_features : int
        Ambient dimension ``d``.

    degrees : ndarray of shape (n_degrees,)
        ``0, 1, ..., n_degrees - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.datasets import SphereHarmonicTarget
    >>> f = SphereHarmonicTarget([0.0, 2.0], poles=[[0, 0, 1], [0, 0, 1]])
    >>> f(np.array([[0.0, 0.0, 1.0]]))  # 2 * sqrt(3) * x_3
    array([3.46410162])
    >>> f.l2_norm
    2.0
    """

    domain = "sphere"

    def __init__(self, coefficients, poles):
        self.coefficients = np.asarray(coefficients, dtype=float)
        poles = np.asarray(poles, dtype=float)
        if poles.ndim != 2 or poles.shape[0] != self.coefficients.shape[0]:
            raise ValueError(
                "poles must have shape (n_degrees, n_features) with n_degrees = "
                f"len(coefficients) = {self.coefficients.shape[0]}; "
                f"got {poles.shape}."
            )
        self.poles = poles / np.linalg.norm(poles, axis=1, keepdims=True)
        self.n_features = poles.shape[1]
        self.degrees = np.arange(self.coefficients.shape[0])

    def __call__(self, X):
        """Evaluate the target at the rows of ``X`` (points on the sphere)."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n_samples, {self.n_features}); got {X.shape}.")
        T = np.clip(X @ self.poles.T, -1.0, 1.0)
        dims = harmonic_dimension(self.degrees, self.n_features)
        y = np.zeros(X.shape[0])
        for k, (a, dim) in enumerate(zip(self.coefficients, dims)):
            if a != 0.0:
                y += a * np.sqrt(dim) * zonal_harmonic(k, T[:, k], self.n_features)
        return y

    @property
    def l2_norm(self):
        """Exact L2 norm under the normalized surface measure."""
        return float(np.sqrt(np.sum(self.coefficients**2)))

    def sobolev_norm(self, smoothness):
        """Exact :math:`H^s` norm, with weights ``(1 + k (k + d - 2))^s``."""
        k = self.degrees
        weights = (1.0 + k * (k + self.n_features - 2.0)) ** smoothness
        return float(np.sqrt(np.sum(weights * self.coefficients**2)))

    def __repr__(self):
        return f"SphereHarmonicTarget(n_features={self.n_features}, max_degree={self.degrees[-1]})"


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 2, None, closed="left")],
        "smoothness": [Interval(Real, 0, None, closed="neither")],
        "max_degree": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_sphere_regression(
    n_samples=200,
    n_features=3,
    *,
    smoothness=1.0,
    max_degree=30,
    noise=0.0,
    random_state=None,
):
    """Regression on the sphere with a target of Sobolev smoothness ``s``.

    The target is a :class:`SphereHarmonicTarget` with one zonal harmonic of
    unit L2 norm per degree ``k = 1, ..., max_degree``, a pole ``z_k`` drawn
    uniformly on the sphere, a random sign and the magnitude

    .. math::

        |a_k| = k^{-(s + 1/2)}, \\qquad a_0 = 0 .

    Why this rule: the Sobolev norm of order ``r`` is
    :math:`\\sum_k k^{2r} a_k^2 = \\sum_k k^{2(r - s) - 1}`, which stays bounded
    as ``max_degree`` grows exactly when ``r < s``. The untruncated series is
    therefore in :math:`H^r(S^{d-1})` for every ``r < s`` and not in
    :math:`H^s`: its smoothness is ``s``. The truncation at ``max_degree``
    removes a squared L2 mass of about ``max_degree^(-2s) / (2s)``; error
    levels well above that see smoothness ``s``. The mean is zero (``a_0 = 0``).

    The poles and signs are drawn first, then the points, from the one
    ``random_state``. For fresh points with the same target, call
    ``target(sample_sphere(...))``.

    Parameters
    ----------
    n_samples : int, default=200
        Number of training points, uniform on :math:`S^{d-1}`.

    n_features : int, default=3
        Ambient dimension ``d``.

    smoothness : float, default=1.0
        Sobolev smoothness ``s > 0``.

    max_degree : int, default=30
        Highest degree of the expansion.

    noise : float, default=0.0
        Standard deviation of Gaussian noise added to ``y``.

    random_state : int, RandomState instance or None, default=None
        Seed for poles, signs, points and noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Points on the sphere.

    y : ndarray of shape (n_samples,)
        ``target(X)`` plus noise.

    target : SphereHarmonicTarget
        The noiseless target, a callable with exact ``l2_norm``.

    See Also
    --------
    sklearn_gdnet.metrics.l2_error : Continuous L2 error against the target.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.datasets import make_sphere_regression
    >>> X, y, target = make_sphere_regression(50, smoothness=2.0, random_state=0)
    >>> X.shape, y.shape
    ((50, 3), (50,))
    >>> bool(np.allclose(target(X), y))
    True
    >>> k = np.arange(1, 31)
    >>> bool(np.isclose(target.l2_norm, np.sqrt(np.sum(k ** -5.0))))
    True
    """
    rng = check_random_state(random_state)
    k = np.arange(max_degree + 1, dtype=float)
    magnitudes = np.zeros_like(k)
    magnitudes[1:] = k[1:] ** -(smoothness + 0.5)
    signs = rng.choice([-1.0, 1.0], size=k.shape[0])
    poles = _sample_sphere(rng, k.shape[0], n_features)
    target = SphereHarmonicTarget(signs * magnitudes, poles)
    X = _sample_sphere(rng, n_samples, n_features)
    y = target(X)
    if noise > 0:
        y = y + noise * rng.standard_normal(n_samples)
    return X, y, target


# --- the interval ----------------------------------------------------------------------

_BUMP_WIDTH = 0.25


def _bump(x):
    return np.exp(-((x / _BUMP_WIDTH) ** 2))


def _cusp(x):
    return 1.0 - np.sqrt(np.abs(x))


def _step(x):
    return (x > 0).astype(float)


# name: (function, exact squared L2 norm under dx / 2 on [-1, 1], smoothness)
_INTERVAL_TARGETS = {
    "bump": (
        _bump,
        np.sqrt(np.pi / 2) * _BUMP_WIDTH * special.erf(np.sqrt(2) / _BUMP_WIDTH) / 2,
        np.inf,
    ),
    "cusp": (_cusp, 1.0 / 6.0, 1.0),
    "step": (_step, 0.5, 0.5),
}


class IntervalTarget:
    """One of the 1-d targets of the shallow-network study on ``[-1, 1]``.

    ===========  ==============================  ==================================
    name         function                        smoothness
    ===========  ==============================  ==================================
    ``"bump"``   :math:`\\exp(-(x / 0.25)^2)`     infinitely smooth
    ``"cusp"``   :math:`1 - \\sqrt{|x|}`          in :math:`H^r` for ``r < 1``
    ``"step"``   :math:`1\\{x > 0\\}`              in :math:`H^r` for ``r < 1/2``
    ===========  ==============================  ==================================

    Parameters
    ----------
    name : {"bump", "cusp", "step"}
        Which target.

    Attributes
    ----------
    domain : str
        ``"interval"``.

    n_features : int
        ``1``.

    smoothness : float
        The Sobolev exponent above (``inf`` for the bump).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.datasets import IntervalTarget
    >>> cusp = IntervalTarget("cusp")
    >>> cusp(np.array([[-1.0], [0.0], [0.25]]))
    array([0. , 1. , 0.5])
    >>> round(cusp.l2_norm ** 2, 12)  # (1/2) * integral over [-1, 1]
    0.166666666667
    """

    domain = "interval"
    n_features = 1

    def __init__(self, name):
        if name not in _INTERVAL_TARGETS:
            raise ValueError(
                f"Unknown interval target {name!r}; expected one of {sorted(_INTERVAL_TARGETS)}."
            )
        self.name = name
        self.smoothness = _INTERVAL_TARGETS[name][2]

    def __call__(self, X):
        """Evaluate at ``X`` of shape ``(n_samples, 1)`` or ``(n_samples,)``."""
        X = np.asarray(X, dtype=float)
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        elif X.ndim != 1:
            raise ValueError(f"X must have shape (n_samples, 1); got {X.shape}.")
        return _INTERVAL_TARGETS[self.name][0](X)

    @property
    def l2_norm(self):
        """Exact L2 norm under the normalized measure ``dx / 2`` on ``[-1, 1]``."""
        return float(np.sqrt(_INTERVAL_TARGETS[self.name][1]))

    def __repr__(self):
        return f"IntervalTarget({self.name!r})"


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "target": [StrOptions(set(_INTERVAL_TARGETS))],
        "sampling": [StrOptions({"equispaced", "uniform"})],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_interval_regression(
    n_samples=100,
    *,
    target="cusp",
    sampling="equispaced",
    noise=0.0,
    random_state=None,
):
    """Regression on ``[-1, 1]`` with a 1-d target of the shallow-network study.

    Parameters
    ----------
    n_samples : int, default=100
        Number of points.

    target : {"bump", "cusp", "step"}, default="cusp"
        The target function, see :class:`IntervalTarget`.

    sampling : {"equispaced", "uniform"}, default="equispaced"
        ``"equispaced"``: ``numpy.linspace(-1, 1, n_samples)``;
        ``"uniform"``: i.i.d. uniform points, sorted.

    noise : float, default=0.0
        Standard deviation of Gaussian noise added to ``y``.

    random_state : int, RandomState instance or None, default=None
        Seed for the points (``"uniform"``) and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, 1)
        The points.

    y : ndarray of shape (n_samples,)
        ``target(X)`` plus noise.

    target : IntervalTarget
        The noiseless target, a callable with exact ``l2_norm``.

    Examples
    --------
    >>> from sklearn_gdnet.datasets import make_interval_regression
    >>> X, y, target = make_interval_regression(5, target="step")
    >>> X.ravel()
    array([-1. , -0.5,  0. ,  0.5,  1. ])
    >>> y
    array([0., 0., 0., 1., 1.])
    """
    rng = check_random_state(random_state)
    if sampling == "equispaced":
        x = np.linspace(-1.0, 1.0, n_samples)
    else:
        x = np.sort(rng.uniform(-1.0, 1.0, n_samples))
    function = IntervalTarget(target)
    X = x[:, None]
    y = function(X)
    if noise > 0:
        y = y + noise * rng.standard_normal(n_samples)
    return X, y, function
