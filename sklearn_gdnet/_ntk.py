"""NTKRegressor: the infinitely wide network, trained by kernel solves.

The estimator validates, freezes the kernel configuration of the fit, and
dispatches by ``solver`` to the pure solvers of :mod:`sklearn_gdnet._ntk_solvers`,
the way :class:`~sklearn.linear_model.Ridge` dispatches to its solvers.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
from scipy import linalg, sparse
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import (
    Integral,
    Interval,
    Real,
    StrOptions,
    _check_sample_weight,
    _fit_context,
)
from ._family import FAMILY_CONSTRAINTS
from ._memory import check_fits_in_memory
from ._network import resolve_trainable
from ._ntk_solvers import (
    SOLVERS,
    Dynamics,
    FittedKernels,
    plan_fit,
    predict_covariance,
    predict_tiles,
    spectral_factor,
    tile_budget,
)
from ._targets import _normalized_targets, _target_normalization
from .kernels import _Recursion

__all__ = ["NTKRegressor", "spectral_factor"]


@contextmanager
def _transaction(estimator):
    """Restore the estimator's previous state if the block fails in any way.

    Validation, memory checks and the solve all run on new state; a failure
    (an error, a ``MemoryError``, a ``KeyboardInterrupt`` inside LAPACK) leaves
    the previous fit, feature names included, exactly as it was.
    """
    saved = dict(vars(estimator))
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        raise


def normalized_sample_weight(sample_weight, X):
    """Weights scaled to mean one, and ``(max(w), mean(w / max(w)))``.

    Scaled by the largest weight first, so that neither ``5e-324`` nor ``1e308``
    overflows or underflows the normalization.
    """
    w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    w_max = float(w.max(initial=0.0))
    if not w_max > 0:
        raise ValueError("sample_weight must have a positive entry; all weights are zero.")
    scaled = w / w_max
    mean = float(scaled.mean())
    return scaled / mean, (w_max, mean)


def _scaled_alpha(alpha, weight_scale):
    """``alpha / mean(w)``: the ridge for weights of mean one, without overflow."""
    if alpha == 0:
        return 0.0
    w_max, mean = weight_scale
    return min(float(alpha) / w_max / mean, np.finfo(np.float64).max)


def _as_dtype(values, dtype):
    """``values`` in the dtype of ``X``; refuse what that dtype cannot hold."""
    largest = float(np.max(np.abs(values), initial=0.0))
    if largest > float(np.finfo(dtype).max):
        raise FloatingPointError(
            f"The predictions (up to {largest:.3g}) exceed the range of {np.dtype(dtype)}, "
            "the dtype of X. Pass X as float64, or scale y."
        )
    return values.astype(dtype, copy=False)


class NTKRegressor(RegressorMixin, BaseEstimator):
    """The infinitely wide network of the family, trained by gradient descent.

    Predictions of a fully connected network of infinite width (NTK
    parametrization, see the user guide) trained on the weighted mean
    squared loss ``1/(2N) sum_i w_i ||f(x_i) - y_i||^2``: after ``n_steps``
    gradient-descent steps of size ``learning_rate``, after gradient flow for
    time ``learning_rate * n_steps``, or converged, with the ridge ``alpha``.
    This is the width -> infinity limit of
    :class:`~sklearn_gdnet.GDNetworkRegressor` with the same ``depth``,
    ``activation``, ``weight_std``, ``bias_std``, ``trainable``,
    ``learning_rate``, ``normalize_y`` and ``max_iter = n_steps``, averaged
    over its random initialization. With ``finite_width=m`` it is instead the
    linearization of one random network of width ``m``.

    By default (``normalize_y=True``, as in ``GDNetworkRegressor``) the
    network is trained on the targets centered and scaled to unit variance,
    and its predictions, standard deviations and covariances are mapped back
    to the units of ``y``.

    ``solver`` picks how: exactly, from a Cholesky factorization or one
    eigendecomposition of the ``n x n`` training kernel, or from one
    eigendecomposition of an ``r x r`` matrix of features accumulated over
    tiles of rows (Nystroem features of the kernel, or the Jacobian of a
    finite network), which reaches millions of samples. Read more in the
    :ref:`user guide <ntk_solvers>`.

    Parameters
    ----------
    depth : int, default=2
        Number of hidden layers ``L``.
    activation : str, default="relu"
        Activation of the hidden layers (a key of the activation table).
    weight_std : float, default=1.0
        ``sigma_w``.
    bias_std : float, default=0.1
        ``sigma_b``.
    trainable : str or tuple of str, default="all"
        The parameter groups gradient descent moves, spelled as for
        ``GDNetworkRegressor`` ("all", "output", "hidden", "penultimate",
        "hidden_biases", a group name or a tuple of them).
    kernel : {"ntk", "nngp"}, default="ntk"
        Train with the NTK of the ``trainable`` groups, or with the NNGP (the
        NTK when only the output layer is trained; ``trainable`` is then
        ignored).
    alpha : float, default=0.0
        Ridge. Converged (``n_steps=None``) this is kernel ridge regression,
        :class:`~sklearn.kernel_ridge.KernelRidge` with the same
        ``sample_weight``; at a finite time it is gradient descent on the loss
        plus ``alpha / (2N) ||theta - theta_0||^2`` of the linearized network
        (``neural-tangents``' ``diag_reg``). With ``alpha=0`` the converged
        solution is the minimum-norm interpolant: eigenvalues below
        ``n eps lambda_max`` count as zero, with a warning where this makes
        the answer non-unique.
    n_steps : int, default=None
        Number of gradient-descent steps (or flow time in units of
        ``learning_rate``); ``None`` means converged. :meth:`predict_path`
        predicts at any other number of steps from the same fit.
    learning_rate : float or "auto", default="auto"
        Step size ``eta``. "auto" follows ``GDNetworkRegressor``:
        ``eta = 0.5 * 2 N / (lambda_max + alpha)`` with ``lambda_max`` the
        largest eigenvalue of the training kernel weighted by
        ``w / mean(w)``.
    dynamics : {"gd", "flow"}, default="gd"
        Discrete gradient-descent steps or gradient flow.
    normalize_y : bool, default=True
        Train on ``(y - mean) / std`` (each output, weighted by
        ``sample_weight``; a constant output is only centered), exactly as
        ``GDNetworkRegressor`` does, and return predictions in the units of
        ``y``: means ``mean + std * m(x)``, standard deviations ``std * s(x)``
        and covariances ``std**2 * C(x, x')`` for each output, where ``m``,
        ``s``, ``C`` are those of the normalized targets. ``False`` trains on
        ``y`` itself (the network of the theory, and ``KernelRidge`` with the
        same kernel when converged).
    finite_width : int, default=None
        ``None``: the infinite-width limit (the analytic kernel). An integer
        ``m``: the linearization of one random network of width ``m``, drawn
        with ``random_state`` exactly as ``GDNetworkRegressor`` draws it, whose
        kernel is its empirical NTK. The name differs from
        ``GDNetworkRegressor``'s ``width`` on purpose: copying the shared
        parameters of a network never turns the limit into one random
        network.
    solver : {"auto", "cholesky", "eigh", "nystroem", "jacobian"}, default="auto"
        * "cholesky": converged only; exact, as ``KernelRidge`` (falls back
          to "eigh" when the kernel is numerically singular and
          ``alpha=0``). ``O(n^3 / 3)`` time, ``2.5 n^2`` floats.
        * "eigh": every dynamics and :meth:`predict_path` from one exact
          eigendecomposition. ``O(n^3)`` time, ``2.5 n^2`` floats.
        * "nystroem": every dynamics, exact for the Nystroem approximation
          of the kernel on ``n_components`` centers; equal to "eigh" when
          ``n_components >= n``. ``O(n M^2)`` time, ``O(M^2)`` memory plus
          tiles.
        * "jacobian" (``finite_width`` only): every dynamics, exact, from the
          Jacobian of the network (``r = n_outputs * P`` features for ``P``
          trained parameters). ``O(n r^2)`` time, ``O(r^2)`` memory plus
          tiles.
        * "auto": "jacobian" for a finite network with ``r < n``; else
          "cholesky" (converged) or "eigh" (finite ``n_steps``) up to 30,000
          or 10,000 samples respectively, as long as they fit in the available
          memory; else "nystroem".
    n_components : int, default=1000
        Number ``M`` of Nystroem centers (capped at ``n_samples``).
    centers : {"uniform", "leverage"}, default="uniform"
        How the Nystroem centers are drawn from the training points:
        uniformly, or by approximate ridge leverage scores (see the user
        guide). Seeded by ``random_state``.
    working_memory : float, default=None
        MiB for one tile of rows in the low-rank solvers and in prediction;
        ``None`` uses ``sklearn.get_config()["working_memory"]``. Tiles never
        take more than a quarter of the available memory.
    random_state : int, RandomState instance or None, default=None
        Seeds the network of ``finite_width`` and the Nystroem centers.

    Attributes
    ----------
    solver_ : str
        The solver used.
    dual_coef_ : ndarray of shape (n_samples, n_outputs) or None
        ``M y`` of the exact solvers: predictions are ``T(x, X) @ dual_coef_``
        (with ``normalize_y``: ``std * M (y - mean) / std``, and predictions
        ``T(x, X) @ dual_coef_ + mean``). ``None`` for the low-rank solvers.
    eigenvalues_ : ndarray or None
        Eigenvalues of ``W^1/2 T W^1/2`` (weights of mean one; "eigh") or of
        ``Phi^T W Phi`` ("nystroem", "jacobian"), ascending; ``None`` after a
        Cholesky solve.
    learning_rate_ : float or None
        The step size of finite-time predictions (``n_steps`` and
        :meth:`predict_path`); ``None`` after a Cholesky solve.
    n_components_ : int or None
        Number of features of a low-rank solver; ``None`` for exact solvers.
    component_indices_ : ndarray of shape (n_components_,) or None
        Indices of the Nystroem centers in the training set.
    X_fit_ : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Training inputs, needed to evaluate the kernel in ``predict``.
    network_params_ : dict or None
        The random network of ``finite_width`` (``None`` for the limit).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn_gdnet.GDNetworkRegressor : The finite network this is the limit of.
    sklearn_gdnet.NTK : The kernel, for KernelRidge or Gaussian processes.

    Notes
    -----
    With ``T`` the training kernel, ``W`` the sample weights scaled to mean
    one, ``N = n k`` (``k`` outputs) and ``W^1/2 T W^1/2 = V diag(lambda)
    V^T``, the linearized network trained from ``f_0`` is

    .. math::

        f_t(x) = f_0(x) + T(x, X) M_t (y - f_0(X)), \\qquad
        M_t = W^{1/2} V \\operatorname{diag}(g_t(\\lambda)) V^T W^{1/2},

    with ``mu = lambda + alpha`` and ``g = (1 - (1 - eta mu / N)^k) / mu``
    after ``k`` GD steps, ``g = (1 - exp(-t mu / N)) / mu`` after flow for
    ``t = eta k``, and ``g = 1 / mu`` converged (then
    ``M = (T + alpha W^-1)^-1``: ``KernelRidge`` with the same
    ``sample_weight``, for weights of mean one). ``predict`` returns the mean
    over initializations, ``T(x, X) M y`` (``f_0`` has mean 0).

    ``predict(X, return_std=True)`` also returns the standard deviation over
    initializations (``return_cov=True``: the covariance): ``f_0`` is a
    centered Gaussian process with the NNGP covariance ``K``, so

    .. math::

        \\operatorname{Cov}(f_t(x), f_t(x')) = K(x, x') - T(x, X) M_t K(X, x')
            - K(x, X) M_t^T T(X, x') + T(x, X) M_t K(X, X) M_t^T T(X, x').

    Here ``y`` is the target trained on: with ``normalize_y=True`` it is
    ``(y - m) / s`` (``m``, ``s`` the weighted mean and standard deviation of
    each output), the means are ``m + s f_t(x)``, the standard deviations
    ``s`` times the above and the covariances ``s^2`` times it, which is how
    ``GDNetworkRegressor(normalize_y=True)`` maps its network back.

    References
    ----------
    .. [1] A. Jacot, F. Gabriel, C. Hongler, "Neural tangent kernel", NeurIPS 2018.
    .. [2] J. Lee et al., "Wide neural networks of any depth evolve as linear
       models under gradient descent", NeurIPS 2019.
    .. [3] A. Rudi, L. Carratino, L. Rosasco, "FALKON: An optimal large scale
       kernel method", NeurIPS 2017.
    .. [4] G. Welper, "Approximation and gradient descent training with neural
       networks", arXiv:2405.11696.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet import NTKRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(50, 2))
    >>> y = np.sin(3 * X[:, 0])
    >>> converged = NTKRegressor(depth=2).fit(X, y)
    >>> float(np.abs(converged.predict(X) - y).max()) < 1e-6
    True
    >>> early = NTKRegressor(depth=2, n_steps=10).fit(X, y)
    >>> mean, std = early.predict(X[:3], return_std=True)
    >>> mean.shape, std.shape
    ((3,), (3,))
    >>> early.predict_path(X[:3], [0, 10, 100]).shape  # one eigendecomposition
    (3, 3)
    >>> low_rank = NTKRegressor(solver="nystroem", n_components=20, random_state=0)
    >>> low_rank.fit(X, y).n_components_
    20
    """

    _parameter_constraints: dict = {
        **FAMILY_CONSTRAINTS,
        "kernel": [StrOptions({"ntk", "nngp"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "n_steps": [Interval(Integral, 0, None, closed="left"), None],
        "dynamics": [StrOptions({"gd", "flow"})],
        "finite_width": [Interval(Integral, 1, None, closed="left"), None],
        "solver": [StrOptions({"auto", "cholesky", "eigh", "nystroem", "jacobian"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "centers": [StrOptions({"uniform", "leverage"})],
        "working_memory": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        depth=2,
        *,
        activation="relu",
        weight_std=1.0,
        bias_std=0.1,
        trainable="all",
        kernel="ntk",
        alpha=0.0,
        n_steps=None,
        learning_rate="auto",
        dynamics="gd",
        finite_width=None,
        normalize_y=True,
        solver="auto",
        n_components=1000,
        centers="uniform",
        working_memory=None,
        random_state=None,
    ):
        self.depth = depth
        self.activation = activation
        self.weight_std = weight_std
        self.bias_std = bias_std
        self.trainable = trainable
        self.kernel = kernel
        self.alpha = alpha
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.dynamics = dynamics
        self.finite_width = finite_width
        self.normalize_y = normalize_y
        self.solver = solver
        self.n_components = n_components
        self.centers = centers
        self.working_memory = working_memory
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags

    # -- fit ---------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on ``(X, y)``.

        A fit is a transaction: if it fails or is interrupted, the previous
        fit is left untouched.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights ``w_i`` of the loss; scaled to mean one (``alpha`` is
            scaled with them, as in ``KernelRidge``).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with _transaction(self):
            self._fit(X, y, sample_weight)
        return self

    def _fit(self, X, y, sample_weight):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            multi_output=True,
            y_numeric=True,
            dtype=[np.float64, np.float32],
        )
        Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        w, weight_scale = normalized_sample_weight(sample_weight, X)
        # GDNetworkRegressor's normalization: the same weighted mean and scale
        y_mean, y_std = _target_normalization(Y, w, self.normalize_y)
        Y = _normalized_targets(Y, y_mean, y_std, np.float64)
        # The kernel is trained on the NNGP when only the output layer trains.
        trainable = "output" if self.kernel == "nngp" else self.trainable
        groups = resolve_trainable(trainable, self.depth)
        n, k = Y.shape
        solver, budget = plan_fit(
            self.solver,
            n=n,
            k=k,
            d=X.shape[1],
            sparse_X=sparse.issparse(X),
            n_steps=self.n_steps,
            n_components=self.n_components,
            working_memory=self.working_memory,
            rec=_Recursion.build(
                self.depth, self.activation, self.weight_std, self.bias_std, groups
            ),
            finite_width=self.finite_width,
            groups=groups,
        )
        rng = check_random_state(self.random_state)
        kernels = FittedKernels.build(
            depth=self.depth,
            activation=self.activation,
            weight_std=self.weight_std,
            bias_std=self.bias_std,
            groups=groups,
            finite_width=self.finite_width,
            n_features=X.shape[1],
            n_outputs=k,
            random_state=rng,
            budget=budget,
        )
        dynamics = Dynamics(
            kind=self.dynamics,
            learning_rate=self.learning_rate,
            alpha=_scaled_alpha(self.alpha, weight_scale),
            n_eff=float(n * k),
            n_steps=self.n_steps,
        )
        solution = SOLVERS[solver](
            kernels,
            X,
            Y,
            w,
            dynamics,
            n_components=self.n_components,
            centers=self.centers,
            random_state=rng,
            budget=budget,
        )

        self.solver_ = solution.solver
        self.X_fit_ = X
        self.network_params_ = None if kernels.network is None else kernels.network.params
        spectrum = solution.spectrum
        self.eigenvalues_ = None if spectrum is None else spectrum.lam
        self.learning_rate_ = None if spectrum is None else spectrum.learning_rate
        dual = getattr(solution, "dual_coef", None)
        self.dual_coef_ = None if dual is None else dual * y_std
        self.n_components_ = getattr(solution, "n_components", None)
        self.component_indices_ = getattr(solution, "indices", None)
        self._solution = solution
        self._y_ndim = y.ndim
        self._y_mean, self._y_std = y_mean, y_std
        self._working_memory = self.working_memory

    # -- predict -----------------------------------------------------------------------

    def _validate_test(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, reset=False, accept_sparse="csr", dtype=[np.float64, np.float32]
        )

    def _budget(self):
        return tile_budget(self._working_memory)

    def _shape(self, values, dtype):
        """Means ``(..., n, k)`` of the normalized targets in the units of ``y``.

        ``(..., n)`` for 1-d targets, in the dtype of ``X``.
        """
        with np.errstate(over="ignore"):  # refused by _as_dtype, with its reason
            values = values * self._y_std + self._y_mean
        if self._y_ndim == 1:
            values = values[..., 0]
        return _as_dtype(values, dtype)

    def _spread(self, values, dtype, power=1):
        """Standard deviations ``(..., n)`` (``power=2``: covariances ``(..., n, n)``)
        of the normalized targets, per output in the units of ``y``.

        ``(..., n)`` for 1-d targets, else ``(..., n, n_outputs)``.
        """
        scale = self._y_std**power
        with np.errstate(over="ignore"):  # refused by _as_dtype, with its reason
            values = values * scale[0] if self._y_ndim == 1 else values[..., None] * scale
        return _as_dtype(values, dtype)

    def _check_variance_memory(self, n_test=0, full=False):
        need, what = self._solution.variance_memory(n_test if full else 0, self._budget())
        if full:
            what += f" and the covariance of {n_test} points"
        check_fits_in_memory(
            need,
            f"The ensemble's variance ({what})",
            "Ask for the mean only, or for return_std instead of the full covariance, "
            "or predict fewer points at a time.",
        )

    def predict(self, X, return_std=False, return_cov=False):
        """Mean (and spread) over initializations of the trained network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs; evaluated in tiles of rows, so any number of them.
        return_std : bool, default=False
            Also return the standard deviation over random initializations
            (formula in the class Notes).
        return_cov : bool, default=False
            Also return the covariance over random initializations between
            the rows of ``X`` (``n_samples^2`` floats).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Mean prediction, in the dtype of ``X``.
        y_std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Standard deviation, the same for every output up to the factor
            ``std`` of that output with ``normalize_y``; only returned when
            ``return_std`` is True.
        y_cov : ndarray of shape (n_samples, n_samples) or \
(n_samples, n_samples, n_outputs)
            Covariance, the same for every output up to the factor ``std**2``
            of that output with ``normalize_y``; only returned when
            ``return_cov`` is True.
        """
        if return_std and return_cov:
            raise RuntimeError("At most one of return_std or return_cov can be requested.")
        X = self._validate_test(X)
        sol = self._solution
        steps = sol.fitted_steps()
        if return_cov:
            self._check_variance_memory(X.shape[0], full=True)
            mean, cov = predict_covariance(sol, X, steps)
            return self._shape(mean, X.dtype), self._spread(cov, X.dtype, power=2)
        if return_std:
            self._check_variance_memory()
        means, stds = predict_tiles(sol, X, [steps], return_std, self._budget())
        mean = self._shape(means[0], X.dtype)
        if not return_std:
            return mean
        return mean, self._spread(stds[0], X.dtype)

    def predict_path(self, X, n_steps, return_std=False):
        """Predictions after each of several numbers of steps, from the one fit.

        One eigendecomposition serves every time: only the factor
        ``g(lambda)`` changes (see the class Notes).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        n_steps : array-like of shape (n_times,)
            Numbers of gradient-descent steps: non-negative integers for
            ``dynamics="gd"``, non-negative reals for ``"flow"`` (time
            ``learning_rate_ * n_steps``); ``np.inf`` is the converged
            solution.
        return_std : bool, default=False
            Also return the standard deviation over initializations.

        Returns
        -------
        y_mean : ndarray of shape (n_times, n_samples) or (n_times, n_samples, n_outputs)
            Mean predictions, one row per entry of ``n_steps``.
        y_std : ndarray of shape (n_times, n_samples) or (n_times, n_samples, n_outputs)
            Standard deviations; only returned when ``return_std`` is True.
        """
        X = self._validate_test(X)
        sol = self._solution
        if sol.spectrum is None:
            raise ValueError(
                "predict_path needs the eigendecomposition of the training kernel, but this "
                "fit used solver_='cholesky' (the converged solution only). Refit with "
                "solver='eigh', 'nystroem' or 'jacobian'."
            )
        steps = self._validate_steps(n_steps)
        k = sol.spectrum.beta.shape[1]
        check_fits_in_memory(
            8.0 * len(steps) * X.shape[0] * (k + (1 if return_std else 0)),
            f"predict_path at {len(steps)} step counts on {X.shape[0]} points",
            "Ask for fewer step counts or points at a time.",
        )
        if return_std:
            self._check_variance_memory()
        for s in steps:
            sol.spectrum.check_steps(s, stacklevel=3)
        means, stds = predict_tiles(sol, X, steps, return_std, self._budget())
        mean = self._shape(np.stack(means), X.dtype)
        if not return_std:
            return mean
        return mean, self._spread(np.stack(stds), X.dtype)

    def _validate_steps(self, n_steps):
        values = np.asarray(n_steps, dtype=object).ravel()
        if values.size == 0:
            raise ValueError("n_steps must list at least one number of steps.")
        steps = []
        for v in values:
            try:
                f = float(v)
            except (TypeError, ValueError):
                f = math.nan
            if not (f >= 0):
                raise ValueError(f"n_steps must be non-negative numbers or np.inf; got {v!r}.")
            if math.isinf(f):
                steps.append(math.inf)
            elif self._solution.spectrum.dynamics.kind == "gd":
                if not f.is_integer():
                    raise ValueError(
                        f"dynamics='gd' takes whole numbers of steps; got {v!r} (use "
                        "dynamics='flow' for continuous time)."
                    )
                steps.append(int(v) if isinstance(v, Integral) else int(f))
            else:
                steps.append(f)
        return steps

    def sample_y(self, X, n_samples=1, random_state=0):
        """Draw trained networks from the ensemble over initializations, at ``X``.

        Each draw is the linearized network trained from one random initial
        function ``f_0``: Gaussian with the mean and covariance of
        :meth:`predict`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples_X, n_features)
            Inputs.
        n_samples : int, default=1
            Number of draws.
        random_state : int, RandomState instance or None, default=0
            Seeds the draws.

        Returns
        -------
        y_samples : ndarray of shape (n_samples_X, n_samples) or \
(n_samples_X, n_outputs, n_samples)
            The draws.
        """
        if not (isinstance(n_samples, Integral) and n_samples >= 1):
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        X = self._validate_test(X)
        self._check_variance_memory(X.shape[0], full=True)
        mean, cov = predict_covariance(self._solution, X, self._solution.fitted_steps())
        s, Q = linalg.eigh(cov, check_finite=False)
        root = Q * np.sqrt(np.maximum(s, 0.0))
        rng = check_random_state(random_state)
        n, k = mean.shape
        z = rng.standard_normal((n, k * n_samples))
        draws = mean[:, :, None] + (root @ z).reshape(n, k, n_samples)
        draws = draws * self._y_std[:, None] + self._y_mean[:, None]
        if self._y_ndim == 1:
            draws = draws[:, 0, :]
        return _as_dtype(draws, X.dtype)
