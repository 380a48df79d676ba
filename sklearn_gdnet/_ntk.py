"""NTKRegressor: the infinitely wide network, trained by kernel solves.

The estimator validates, builds the training kernel with
:mod:`sklearn_gdnet.kernels` (or the empirical NTK of one random network),
and hands it to the pure spectral solver below.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import gen_batches
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import (
    Integral,
    Interval,
    Real,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    get_chunk_n_rows,
)
from ._family import FAMILY_CONSTRAINTS
from ._memory import check_fits_in_memory
from ._network import NetworkSpec, empirical_ntk, init_params, resolve_trainable
from ._optim import auto_learning_rate
from .exceptions import DivergenceWarning
from .kernels import _kernel_diagonals, _kernel_matrices, _Recursion

__all__ = ["NTKRegressor"]

#: Peak memory of ``fit`` in units of one ``n x n`` float64 matrix: the kernel and
#: the eigenvectors (the eigensolver works in place on the kernel), plus slack for
#: the tiles and LAPACK workspace.
MEMORY_FACTOR = 2.5


# --- the spectral solver: pure functions of arrays -----------------------------------


def spectral_factor(lam, *, n_steps, learning_rate, dynamics, n_eff, alpha, cutoff=0.0):
    """The function ``g(lambda)`` with ``M = W^1/2 V diag(g) V^T W^1/2``.

    * ``n_steps=None``: ``1 / (lambda + alpha)``; for ``alpha = 0`` the
      pseudo-inverse, ``0`` where ``lambda <= cutoff``.
    * ``"gd"``: ``(1 - (1 - eta lambda / N)^k) / lambda``, computed as
      ``-expm1(k log1p(-eta lambda / N)) / lambda`` (no cancellation as
      ``lambda -> 0``) with the limit ``k eta / N`` at ``lambda = 0``.
    * ``"flow"``: ``(1 - exp(-t lambda / N)) / lambda = -expm1(-t lambda / N) /
      lambda`` with ``t = eta k`` and the limit ``t / N``.
    """
    lam = np.maximum(lam, 0.0)
    positive = lam > 0
    safe = np.where(positive, lam, 1.0)
    if n_steps is None:
        if alpha > 0:
            return 1.0 / (lam + alpha)
        return np.where(lam > cutoff, 1.0 / safe, 0.0)
    if dynamics == "flow":
        t = learning_rate * n_steps
        return np.where(positive, -np.expm1(-t * lam / n_eff) / safe, t / n_eff)
    c = learning_rate * lam / n_eff
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        stable = -np.expm1(n_steps * np.log1p(-np.minimum(c, 1.0))) / safe
        # c >= 1 (beyond the monotone regime): no cancellation, use the power
        direct = (1.0 - (1.0 - c) ** n_steps) / safe
    g = np.where(c < 1.0, stable, direct)
    return np.where(positive, g, n_steps * learning_rate / n_eff)


def _posterior_variance(A, K_test_train, k_test_diag, K_train):
    """``K(x,x) - 2 A K(X,x) + A K(X,X) A^T`` row by row, for ``A = T(x,X) M``."""
    var = k_test_diag - 2.0 * np.einsum("ij,ij->i", A, K_test_train)
    var += np.einsum("ij,ij->i", A @ K_train, A)
    return np.maximum(var, 0.0)


def _check_memory(n_samples, factor=MEMORY_FACTOR):
    check_fits_in_memory(
        factor * n_samples**2 * 8,
        f"NTKRegressor on n_samples={n_samples} ({factor:g} matrices of n_samples x "
        "n_samples float64)",
        "Use a low-rank approximation instead, e.g. make_pipeline(Nystroem("
        "kernel=sklearn_gdnet.NTK(...), n_components=2000), Ridge(alpha=...)), or "
        "subsample the training set.",
    )


# --- the estimator --------------------------------------------------------------------


class NTKRegressor(RegressorMixin, BaseEstimator):
    """The infinitely wide network of the family, trained by gradient descent.

    Predictions of a fully connected network of infinite width (NTK
    parametrization, see the user guide) trained on the weighted mean
    squared loss ``1/(2N) sum_i w_i ||f(x_i) - y_i||^2``: after ``n_steps``
    gradient-descent steps of size ``learning_rate``, after gradient flow for
    time ``learning_rate * n_steps``, or converged (kernel ridge with ridge
    ``alpha``). This is the width -> infinity limit of
    :class:`~sklearn_gdnet.GDNetworkRegressor` with the same ``depth``,
    ``activation``, ``weight_std``, ``bias_std``, ``trainable``,
    ``learning_rate`` and ``max_iter = n_steps``, averaged over its random
    initialization. Finite training goes through one eigendecomposition of
    the weighted training kernel; the converged case uses a Cholesky
    factorization, as :class:`~sklearn.kernel_ridge.KernelRidge` does, and
    falls back to the eigendecomposition when the kernel is numerically
    singular.

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
        Ridge of the converged solution (``n_steps=None``); unused otherwise.
        With ``alpha=0`` the converged solution is the minimum-norm
        interpolant (eigenvalues below ``n * eps * lambda_max`` are dropped,
        with a warning where this makes the answer non-unique).
    n_steps : int, default=None
        Number of gradient-descent steps (or flow time in units of
        ``learning_rate``); ``None`` means converged.
    learning_rate : float or "auto", default="auto"
        Step size ``eta``. "auto" follows ``GDNetworkRegressor``:
        ``eta = 0.5 * 2 N / lambda_max`` with ``lambda_max`` the largest
        eigenvalue of the training kernel weighted by ``w / mean(w)``.
    dynamics : {"gd", "flow"}, default="gd"
        Discrete gradient-descent steps or gradient flow.
    width : int, default=None
        ``None`` uses the analytic (infinite-width) kernel. An integer uses
        the empirical NTK of one random network of that width, drawn with
        ``random_state`` exactly as ``GDNetworkRegressor`` draws it: the
        linearized finite network. ``return_std`` then combines this ``T``
        with the analytic NNGP ``K``.
    random_state : int, RandomState instance or None, default=None
        Seeds the network of ``width``; unused when ``width=None``.

    Attributes
    ----------
    dual_coef_ : ndarray of shape (n_samples, n_outputs)
        ``M y``: predictions are ``T(x, X) @ dual_coef_``.
    eigenvalues_ : ndarray of shape (n_samples,) or None
        Eigenvalues of ``W^1/2 T W^1/2`` (``None`` after a Cholesky solve).
    learning_rate_ : float or None
        The step size used (``None`` when ``n_steps=None``).
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs, needed to evaluate the kernel in ``predict``.
    network_params_ : dict or None
        The random network of ``width`` (``None`` for the analytic kernel).
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
    With ``T`` the training kernel, ``W`` the sample weights, ``N = k sum_i w_i``
    (``n k`` for unit weights, ``k`` outputs) and ``W^1/2 T W^1/2 = V
    diag(lambda) V^T``, the linearized network trained from ``f_0`` is

    .. math::

        f_t(x) = f_0(x) + T(x, X) M_t (y - f_0(X)), \\qquad
        M_t = W^{1/2} V \\operatorname{diag}(g_t(\\lambda)) V^T W^{1/2},

    with ``g = (1 - (1 - eta lambda / N)^k) / lambda`` after ``k`` GD steps,
    ``g = (1 - exp(-t lambda / N)) / lambda`` after flow for ``t = eta k``, and
    ``g = 1 / (lambda + alpha)`` converged (then ``M = (T + alpha W^-1)^-1``:
    ``KernelRidge`` with the same ``sample_weight``). ``predict`` returns the
    mean over initializations, ``T(x, X) M y`` (``f_0`` has mean 0).

    ``predict(X, return_std=True)`` also returns the standard deviation over
    initializations: ``f_0`` is a centered Gaussian process with the NNGP
    covariance ``K``, so

    .. math::

        \\operatorname{Var} f_t(x) = K(x, x) - 2\\, T(x, X) M_t K(X, x)
            + T(x, X) M_t K(X, X) M_t^T T(X, x).

    References
    ----------
    .. [1] A. Jacot, F. Gabriel, C. Hongler, "Neural tangent kernel", NeurIPS 2018.
    .. [2] J. Lee et al., "Wide neural networks of any depth evolve as linear
       models under gradient descent", NeurIPS 2019.
    .. [3] G. Welper, "Approximation and gradient descent training with neural
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
    """

    _parameter_constraints: dict = {
        **FAMILY_CONSTRAINTS,
        "kernel": [StrOptions({"ntk", "nngp"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "n_steps": [Interval(Integral, 0, None, closed="left"), None],
        "dynamics": [StrOptions({"gd", "flow"})],
        "width": [Interval(Integral, 1, None, closed="left"), None],
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
        width=None,
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
        self.width = width
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = False
        return tags

    # -- kernels -----------------------------------------------------------------------

    def _tangent_groups(self):
        # Training with the NNGP is training the output layer alone.
        return "output" if self.kernel == "nngp" else self.trainable

    def _kernels(self, X, Y=None, *, want_K=False):
        """``(K, T)`` of ``X`` against ``Y``: NNGP (if asked) and tangent kernel."""
        rec = _Recursion.build(
            self.depth, self.activation, self.weight_std, self.bias_std, self._tangent_groups()
        )
        if self.network_params_ is None:
            return _kernel_matrices(rec, X, Y, want_K=want_K, want_T=True)
        K = _kernel_matrices(rec, X, Y, want_K=True, want_T=False)[0] if want_K else None
        T = empirical_ntk(self.network_params_, self._spec, X, Y, self._tangent_groups())
        return K, np.asarray(T, dtype=np.float64)

    # -- fit / predict -----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the infinitely wide network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights ``w_i`` of the loss.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=[np.float64, np.float32]
        )
        Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        resolve_trainable(self._tangent_groups(), self.depth)  # clear error early
        n, k = Y.shape
        _check_memory(n)
        self._y_ndim = y.ndim
        self.X_fit_ = X
        self.network_params_ = None
        if self.width is not None:
            self._spec = NetworkSpec(
                n_features=X.shape[1],
                n_outputs=k,
                width=self.width,
                depth=self.depth,
                activation=self.activation,
                weight_std=float(self.weight_std),
                bias_std=float(self.bias_std),
            )
            self.network_params_ = init_params(self._spec, self.random_state)

        S = self._kernels(X)[1]
        sw = np.sqrt(w)
        if np.any(w != 1.0):
            S *= sw[:, None]  # W^1/2 T W^1/2, in place
            S *= sw[None, :]
        n_eff = k * w.sum()
        self.learning_rate_ = None
        self.eigenvalues_ = None
        self._sqrt_w = sw
        if self.n_steps is None:
            self._solve_cholesky(S, Y, n_eff, n_zero=int(np.sum(w == 0)))
        else:
            self._solve_spectral(S, Y, n_eff, n_zero=int(np.sum(w == 0)))
        return self

    def _solve_cholesky(self, S, Y, n_eff, n_zero):
        """Converged solution by Cholesky, as KernelRidge; eigenvalues if ill-conditioned.

        With ``alpha = 0`` the factorization is accepted only when LAPACK's
        condition estimate is above ``n * eps``, the same cutoff below which
        the spectral solver treats eigenvalues as zero; otherwise (and when the
        factorization fails) the minimum-norm spectral solution is used.
        """
        sw = self._sqrt_w
        n = S.shape[0]
        diagonal = S.diagonal().copy()
        S.flat[:: n + 1] += self.alpha
        # 1-norm of the symmetric matrix, by row blocks to keep memory flat
        anorm = max(np.abs(S[i : i + 512]).sum(axis=1).max() for i in range(0, n, 512))
        try:
            # S is symmetric: its transpose is the F-ordered array LAPACK works on in place
            factor = linalg.cho_factor(S.T, lower=True, overwrite_a=True, check_finite=False)
            rcond, _ = linalg.lapack.dpocon(factor[0], anorm, uplo="L")
            well_posed = self.alpha > 0 or rcond > n * np.finfo(np.float64).eps
        except linalg.LinAlgError:
            well_posed = False
        if not well_posed:
            # The factorization overwrote one triangle and the diagonal of S.T; its
            # other triangle is intact: restore the diagonal and solve from that one.
            S.flat[:: n + 1] = diagonal
            return self._solve_spectral(S, Y, n_eff, n_zero, lower=False)
        self._factor, self._V, self._g = factor, None, None
        self.dual_coef_ = sw[:, None] * linalg.cho_solve(factor, sw[:, None] * Y)

    def _solve_spectral(self, S, Y, n_eff, n_zero, lower=True):
        sw = self._sqrt_w
        n = S.shape[0]
        lam, V = linalg.eigh(S.T, lower=lower, overwrite_a=True, check_finite=False, driver="evr")
        del S
        lam_max = max(lam[-1], 0.0)
        cutoff = n * np.finfo(np.float64).eps * lam_max
        if self.n_steps is not None:
            if self.learning_rate == "auto":
                # GDNetworkRegressor's rule with weights normalized to mean 1
                w_mean = float(np.mean(sw**2))
                self.learning_rate_ = auto_learning_rate(lam_max / w_mean, n * Y.shape[1])
            else:
                self.learning_rate_ = float(self.learning_rate)
            if self.dynamics == "gd" and self.learning_rate_ * lam_max > 2.0 * n_eff:
                warnings.warn(
                    f"learning_rate={self.learning_rate_:.4g} exceeds the stability limit "
                    f"2 N / lambda_max = {2.0 * n_eff / lam_max:.4g}: the linearized "
                    "gradient descent diverges and its predictions grow like "
                    f"|1 - eta lambda_max / N|^n_steps.",
                    DivergenceWarning,
                    stacklevel=3,
                )
        elif self.alpha == 0 and np.sum(lam <= cutoff) > n_zero:
            rank = int(np.sum(lam > cutoff))
            warnings.warn(
                f"The training kernel is singular (numerical rank {rank} of {n}, e.g. "
                "duplicate points): the converged interpolant is not unique. Returning the "
                "minimum-norm solution; set alpha > 0 for kernel ridge.",
                linalg.LinAlgWarning,
                stacklevel=3,
            )
        g = spectral_factor(
            lam,
            n_steps=self.n_steps,
            learning_rate=self.learning_rate_,
            dynamics=self.dynamics,
            n_eff=n_eff,
            alpha=self.alpha,
            cutoff=cutoff,
        )
        self.eigenvalues_ = lam
        self._factor, self._V, self._g = None, V, g
        self.dual_coef_ = sw[:, None] * (V @ (g[:, None] * (V.T @ (sw[:, None] * Y))))

    def _apply_M(self, T_test_train):
        """``T(x, X) M`` for a chunk of test rows."""
        sw = self._sqrt_w
        if self._V is None:
            rhs = sw[:, None] * T_test_train.T
            return (sw[:, None] * linalg.cho_solve(self._factor, rhs)).T
        P = (T_test_train * sw) @ self._V
        P *= self._g
        return (P @ self._V.T) * sw

    def predict(self, X, return_std=False):
        """Mean (and standard deviation) over initializations of the trained network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        return_std : bool, default=False
            Also return the standard deviation over random initializations
            (formula in the class Notes). Evaluates the NNGP on the training
            set once per call (memory ``n_train^2`` floats).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Mean prediction, in the dtype of ``X``.
        y_std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Standard deviation, the same for every output; only returned
            when ``return_std`` is True.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        n_train, k = self.dual_coef_.shape
        mean = np.empty((X.shape[0], k))
        std = np.empty(X.shape[0]) if return_std else None
        K_train = None
        if return_std:
            _check_memory(n_train, factor=1.5)
            K_train = self._kernels(self.X_fit_, want_K=True)[0]
            rec = _Recursion.build(self.depth, self.activation, self.weight_std, self.bias_std)
        row_bytes = 8 * n_train * (4 if return_std else 2)
        chunk = get_chunk_n_rows(row_bytes, max_n_rows=max(X.shape[0], 1))
        for rows in gen_batches(X.shape[0], chunk):
            K, T = self._kernels(X[rows], self.X_fit_, want_K=return_std)
            mean[rows] = T @ self.dual_coef_
            if return_std:
                k_diag = _kernel_diagonals(rec, X[rows])[0]
                std[rows] = np.sqrt(_posterior_variance(self._apply_M(T), K, k_diag, K_train))
        if self._y_ndim == 1:
            mean = mean[:, 0]
        elif return_std:
            std = np.repeat(std[:, None], k, axis=1)
        mean = mean.astype(X.dtype, copy=False)
        if return_std:
            return mean, std.astype(X.dtype, copy=False)
        return mean
