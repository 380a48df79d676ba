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
from ._memory import check_fits_in_memory
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
    "study_n_samples",
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
    _check_sphere_memory(n_samples, n_features, n_terms=0)
    rng = check_random_state(random_state)
    return _sample_sphere(rng, n_samples, n_features)


def _check_sphere_memory(n_samples, n_features, n_terms):
    # Gaussian draw and its normalized copy (2 n d), the projections on the
    # poles and their clipped copy (2 n K), and a few length-n vectors; the
    # peak measured at n = 2e6, d = 3, K = 31 is 0.86 times this count.
    n_values = 2 * n_samples * n_features + 2 * n_samples * n_terms + 8 * n_samples
    n_values += 2 * n_terms * n_features
    check_fits_in_memory(
        8 * n_values,
        f"Sampling {n_samples} points on the sphere in R^{n_features}"
        + (f" with a {n_terms}-term target" if n_terms else ""),
        "Use fewer samples (n_samples), fewer features or a lower max_degree.",
    )


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
    _check_sphere_memory(n_samples, n_features, n_terms=max_degree + 1)
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


def _bump_squared_norm():
    # (1/2) int_{-1}^{1} exp(-2 x^2 / w^2) dx = (1/2) w sqrt(pi / 2) erf(sqrt(2) / w)
    return np.sqrt(np.pi / 2) * _BUMP_WIDTH * special.erf(np.sqrt(2) / _BUMP_WIDTH) / 2


def _gaussian(x, amplitude, std):
    return amplitude / (std * np.sqrt(2 * np.pi)) * np.exp(-(x**2) / (2 * std**2))


def _gaussian_squared_norm(amplitude, std):
    # g^2 = a^2 / (2 pi s^2) exp(-x^2 / s^2) and int_{-1}^{1} exp(-x^2 / s^2) dx
    # = s sqrt(pi) erf(1 / s); half of a^2 erf(1 / s) / (2 s sqrt(pi)) under dx / 2.
    return amplitude**2 * special.erf(1.0 / std) / (4.0 * std * np.sqrt(np.pi))


def _cusp(x):
    return 1.0 - np.sqrt(np.abs(x))


def _step(x):
    return (x > 0).astype(float)


# name: (function, exact squared L2 norm under dx / 2 on [-1, 1], smoothness,
# parameters and their defaults); the function and the norm take the parameters.
_INTERVAL_TARGETS = {
    "bump": (_bump, _bump_squared_norm, np.inf, {}),
    "cusp": (_cusp, lambda: 1.0 / 6.0, 1.0, {}),
    "gaussian": (_gaussian, _gaussian_squared_norm, np.inf, {"amplitude": 0.25, "std": 0.2}),
    "step": (_step, lambda: 0.5, 0.5, {}),
}


class IntervalTarget:
    """One of the 1-d targets of the shallow-network study on ``[-1, 1]``.

    ==============  =================================================  ==================
    name            function                                           in :math:`H^r` for
    ==============  =================================================  ==================
    ``"gaussian"``  :math:`\\frac{a}{s\\sqrt{2\\pi}} e^{-x^2 / (2 s^2)}`  every ``r``
    ``"cusp"``      :math:`1 - \\sqrt{|x|}`                             ``r < 1``
    ``"step"``      :math:`1\\{x > 0\\}`                                 ``r < 1/2``
    ``"bump"``      :math:`\\exp(-(x / 0.25)^2)`                        every ``r``
    ==============  =================================================  ==================

    The first three are the targets of Gentile and Welper [1]_. Their
    Gaussians have ``s = 0.2`` and ``a = 0.1``, ``0.25`` (the one of the
    paper's main figure, the default here) or ``0.5``. The ``"bump"`` is this
    package's own smooth target; it is not one of the study's and is harder
    to approximate (taller and narrower than the study's Gaussians).

    Every target knows its exact :math:`L^2` norm, derived by hand. Under the
    normalized measure ``dx / 2`` on ``[-1, 1]``:

    .. math::

        \\|\\mathrm{gaussian}\\|^2 = \\frac{a^2 \\operatorname{erf}(1/s)}{4 s \\sqrt\\pi},
        \\qquad \\|\\mathrm{cusp}\\|^2 = \\frac16, \\qquad \\|\\mathrm{step}\\|^2 = \\frac12,
        \\qquad \\|\\mathrm{bump}\\|^2 = \\frac{w}{2} \\sqrt{\\frac\\pi2}
        \\operatorname{erf}\\Big(\\frac{\\sqrt2}{w}\\Big), \\ w = 0.25 .

    Under the Lebesgue measure ``dx`` (what the study reports) each squared
    norm doubles; see :func:`sklearn_gdnet.metrics.l2_norm`.

    Parameters
    ----------
    name : {"gaussian", "cusp", "step", "bump"}
        Which target.

    amplitude : float, default=None
        ``a`` of the Gaussian; None means 0.25. Only for ``"gaussian"``.

    std : float, default=None
        ``s`` of the Gaussian, positive; None means 0.2. Only for ``"gaussian"``.

    Attributes
    ----------
    domain : str
        ``"interval"``.

    n_features : int
        ``1``.

    smoothness : float
        The Sobolev exponent above (``inf`` for the Gaussian and the bump).

    params : dict
        The parameters of the target (empty but for the Gaussian).

    References
    ----------
    .. [1] R. Gentile, G. Welper, "Approximation results for Gradient Descent
       trained Shallow Neural Networks in 1d", arXiv:2209.08399, 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.datasets import IntervalTarget
    >>> cusp = IntervalTarget("cusp")
    >>> cusp(np.array([[-1.0], [0.0], [0.25]]))
    array([0. , 1. , 0.5])
    >>> round(cusp.l2_norm ** 2, 12)  # (1/2) * integral over [-1, 1]
    0.166666666667
    >>> gaussian = IntervalTarget("gaussian", amplitude=0.5)
    >>> gaussian
    IntervalTarget('gaussian', amplitude=0.5, std=0.2)
    >>> round(float(gaussian(np.array([0.0]))[0]), 6)  # a / (s sqrt(2 pi))
    0.997356
    """

    domain = "interval"
    n_features = 1

    def __init__(self, name, *, amplitude=None, std=None):
        if name not in _INTERVAL_TARGETS:
            raise ValueError(
                f"Unknown interval target {name!r}; expected one of {sorted(_INTERVAL_TARGETS)}."
            )
        defaults = _INTERVAL_TARGETS[name][3]
        given = {k: v for k, v in {"amplitude": amplitude, "std": std}.items() if v is not None}
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ValueError(
                f"The interval target {name!r} takes no parameter {unknown[0]!r}; only "
                "'gaussian' has parameters (amplitude, std)."
            )
        params = {**defaults, **given}
        for key, value in params.items():
            if not (isinstance(value, Real) and np.isfinite(value)):
                raise ValueError(f"{key} must be a finite number; got {value!r}.")
            params[key] = float(value)
        if "std" in params and not params["std"] > 0:
            raise ValueError(f"std must be positive; got {params['std']!r}.")
        self.name = name
        self.params = params
        self.smoothness = _INTERVAL_TARGETS[name][2]

    def __call__(self, X):
        """Evaluate at ``X`` of shape ``(n_samples, 1)`` or ``(n_samples,)``."""
        X = np.asarray(X, dtype=float)
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        elif X.ndim != 1:
            raise ValueError(f"X must have shape (n_samples, 1); got {X.shape}.")
        return _INTERVAL_TARGETS[self.name][0](X, **self.params)

    @property
    def l2_norm(self):
        """Exact L2 norm under the normalized measure ``dx / 2`` on ``[-1, 1]``."""
        return float(np.sqrt(_INTERVAL_TARGETS[self.name][1](**self.params)))

    def __repr__(self):
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"IntervalTarget({self.name!r}{params})"

    def __eq__(self, other):
        return (
            isinstance(other, IntervalTarget)
            and other.name == self.name
            and other.params == self.params
        )

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.params.items()))))


def study_n_samples(width, target):
    """Number of training points of the shallow 1-d study for a network of this width.

    Gentile and Welper train a network of width ``m`` on ``2 m`` equispaced
    points of ``[-1, 1]``, and on ``2 m + 1`` for the cusp, so that its
    singularity at 0 is a training point (``numpy.linspace(-1, 1, 2m + 1)``
    contains 0, ``numpy.linspace(-1, 1, 2m)`` does not).

    Parameters
    ----------
    width : int
        The width ``m >= 1``.

    target : str or IntervalTarget
        The target (its name decides the ``+ 1``).

    Returns
    -------
    n_samples : int
        ``2 m``, or ``2 m + 1`` for the cusp.

    Examples
    --------
    >>> from sklearn_gdnet.datasets import study_n_samples
    >>> study_n_samples(10, "gaussian"), study_n_samples(10, "cusp")
    (20, 21)
    """
    name = target.name if isinstance(target, IntervalTarget) else target
    if not (isinstance(width, Integral) and width >= 1):
        raise ValueError(f"width must be a positive integer; got {width!r}.")
    return 2 * int(width) + (name == "cusp")


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left"), None],
        "target": [StrOptions(set(_INTERVAL_TARGETS)), IntervalTarget],
        "sampling": [StrOptions({"equispaced", "uniform"})],
        "width": [Interval(Integral, 1, None, closed="left"), None],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_interval_regression(
    n_samples=None,
    *,
    target="cusp",
    sampling="equispaced",
    width=None,
    noise=0.0,
    random_state=None,
):
    """Regression on ``[-1, 1]`` with a 1-d target of the shallow-network study.

    Parameters
    ----------
    n_samples : int, default=None
        Number of points; None means 100, or the study's number for
        ``width`` (see below). Pass ``n_samples`` or ``width``, not both.

    target : {"gaussian", "cusp", "step", "bump"} or IntervalTarget, default="cusp"
        The target function, see :class:`IntervalTarget`; pass an
        :class:`IntervalTarget` for a Gaussian with other parameters, e.g.
        ``IntervalTarget("gaussian", amplitude=0.5)``.

    sampling : {"equispaced", "uniform"}, default="equispaced"
        ``"equispaced"``: ``numpy.linspace(-1, 1, n_samples)``;
        ``"uniform"``: i.i.d. uniform points, sorted.

    width : int, default=None
        The training grid of Gentile and Welper's study for networks of this
        width ``m``: ``n_samples = 2 m`` equispaced points, ``2 m + 1`` for the
        cusp so that 0 is a point (:func:`study_n_samples`).

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

    The study's grid for a network of width 2, on the cusp (0 is a point):

    >>> X, y, target = make_interval_regression(target="cusp", width=2)
    >>> X.ravel()
    array([-1. , -0.5,  0. ,  0.5,  1. ])
    """
    function = target if isinstance(target, IntervalTarget) else IntervalTarget(target)
    if width is not None:
        if n_samples is not None:
            raise ValueError(
                f"Pass n_samples or width, not both; got n_samples={n_samples} and "
                f"width={width} (the study uses {study_n_samples(width, function)} points)."
            )
        n_samples = study_n_samples(width, function)
    elif n_samples is None:
        n_samples = 100
    # x, y and one temporary at a time: three length-n vectors at the peak (measured)
    check_fits_in_memory(
        8 * 4 * n_samples,
        f"Sampling {n_samples} points on [-1, 1]",
        "Use fewer samples (n_samples).",
    )
    rng = check_random_state(random_state)
    if sampling == "equispaced":
        x = np.linspace(-1.0, 1.0, n_samples)
    else:
        x = np.sort(rng.uniform(-1.0, 1.0, n_samples))
    X = x[:, None]
    y = function(X)
    if noise > 0:
        y = y + noise * rng.standard_normal(n_samples)
    return X, y, function
