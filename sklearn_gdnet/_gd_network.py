"""GDNetworkRegressor: a fully connected network trained by full-batch gradient descent."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import gen_batches
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
from ._network import (
    NetworkSpec,
    forward,
    init_params,
    max_ntk_eigenvalue,
    resolve_trainable,
)
from ._optim import auto_learning_rate, train
from .exceptions import DivergenceWarning

__all__ = ["GDNetworkRegressor"]

#: ``learning_rate="auto"`` for Adam, which does not follow the NTK step rule.
ADAM_DEFAULT_STEP = 1e-3
#: Rows per chunk in ``predict`` are chosen so that one chunk's hidden
#: activations stay below this many bytes.
PREDICT_CHUNK_BYTES = 64 * 2**20


class GDNetworkRegressor(RegressorMixin, BaseEstimator):
    """Fully connected network of constant width trained by full-batch gradient descent.

    The network has ``depth`` hidden layers of ``width`` units; under the NTK
    parametrization (default) layer ``l`` computes
    ``z_l = weight_std / sqrt(fan_in) * W_l h_{l-1} + bias_std * b_l`` with all
    entries of ``W_l, b_l`` drawn i.i.d. N(0, 1), and the output is linear.
    Training minimizes the weighted mean squared error
    ``1/(2N) sum_i w_i ||f(x_i) - y_i||^2`` (``N = n_samples * n_outputs``,
    sample weights normalized to mean one) by full-batch gradient descent with
    a fixed step, moving only the ``trainable`` parameter groups. This is the
    network of the approximation theory of gradient-trained networks; its
    infinite-width limit is :class:`~sklearn_gdnet.NTKRegressor` with the same
    shared parameters.

    Parameters
    ----------
    width : int, default=128
        Number of units of every hidden layer.

    depth : int, default=2
        Number of hidden layers ``L``.

    activation : {"relu", "tanh", "erf", "sigmoid", "softplus", "gelu", \
"identity"}, default="relu"
        Activation of the hidden layers.

    weight_std : float, default=1.0
        Weight scale ``sigma_w``: the weights of a layer with ``fan_in`` inputs
        act with variance ``sigma_w**2 / fan_in``.

    bias_std : float, default=0.1
        Bias scale ``sigma_b``.

    parametrization : {"ntk", "standard"}, default="ntk"
        ``"ntk"``: N(0, 1) parameters with the scales as multipliers in the
        forward pass (the parametrization of the NTK theory). ``"standard"``:
        the scales are in the initial distribution and the forward pass is
        ``W h + b``. Both give the same function at initialization and
        different gradient dynamics.

    trainable : str or tuple of str, default="all"
        Parameter groups moved by training, among ``"W1", "b1", ...,
        "W{L+1}", "b{L+1}"``. Spellings: ``"all"``; ``"output"`` (the last
        layer); ``"hidden"`` (all but the last layer); ``"penultimate"``
        (``W{L}, b{L}``, the "second but last" layer trained in the
        approximation theory); ``"hidden_biases"`` (the breakpoints of the
        shallow 1-d model); one group name; or a tuple of group names.

    init : {"gaussian", "breakpoint"}, default="gaussian"
        ``"gaussian"``: the initialization described above. ``"breakpoint"``:
        the shallow 1-d model ``f(x) = m**-0.5 * sum_r a_r * phi(x - theta_r)``
        with unit inner weights, random signs ``a_r`` and breakpoints
        ``theta_r`` uniform on [-1, 1]; needs ``depth=1``. With several
        features the inner weights are random unit vectors (ridge functions).
        Combine it with ``trainable="hidden_biases"`` to train only the
        breakpoints.

    solver : {"gd", "adam", "lbfgs"}, default="gd"
        ``"gd"``: full-batch gradient descent with a fixed step (with
        heavy-ball ``momentum`` if nonzero). ``"adam"`` and ``"lbfgs"`` are
        provided for comparison runs.

    learning_rate : "auto" or float, default="auto"
        Step size ``eta``. ``"auto"`` takes ``0.5 * 2N / lambda_max``, where
        ``lambda_max`` is the largest eigenvalue of the sample-weighted
        empirical NTK at initialization: half the largest stable step of the
        linearized dynamics. For ``solver="adam"``, ``"auto"`` means 1e-3;
        ``solver="lbfgs"`` ignores it.

    momentum : float, default=0.0
        Heavy-ball momentum for ``solver="gd"``, in [0, 1).

    max_iter : int, default=200
        Number of gradient steps (iterations for L-BFGS). ``0`` leaves the
        network at its initialization.

    tol : float, default=0.0
        Improvement of the training loss that counts as progress for
        ``n_iter_no_change``.

    n_iter_no_change : int or None, default=None
        Stop when the loss has not improved by ``tol`` for this many
        consecutive steps. ``None`` runs exactly ``max_iter`` steps, as the
        theory does.

    warm_start : bool, default=False
        Continue from the previous fit's parameters, step size and optimizer
        state instead of starting over.

    random_state : int, RandomState instance or None, default=None
        Seeds the initialization. The draw does not depend on the number of
        samples.

    verbose : int, default=0
        ``1``: a progress line (step, loss, elapsed time) about once a second;
        ``2``: every step.

    Attributes
    ----------
    params_ : dict of str to ndarray
        The parameters per group, ``W{l}`` of shape ``(fan_in, fan_out)`` and
        ``b{l}`` of shape ``(fan_out,)``, in the chosen parametrization.

    initial_params_ : dict of str to ndarray
        The parameters at initialization of the trained groups.

    trainable_groups_ : tuple of str
        The groups that training moves.

    learning_rate_ : float or None
        The step size used (``None`` for L-BFGS).

    n_iter_ : int
        Number of steps taken, over all calls of a warm-started run.

    loss_curve_ : list of float
        ``loss_curve_[t]`` is the training loss after ``t`` steps;
        ``loss_curve_[0]`` is the loss at initialization.

    distance_from_init_ : dict of str to float
        ``||theta_g - theta_g(0)|| / ||theta_g(0)||`` for each trained group
        ``g`` (Frobenius norms); for a group initialized at zero the
        denominator is ``sqrt(theta_g.size)``, the norm of an N(0, 1) draw.

    n_outputs_ : int
        Number of outputs.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    NTKRegressor : The infinite-width limit of the same network and training.
    sklearn.neural_network.MLPRegressor : Mini-batch trained perceptrons.

    Notes
    -----
    Gradient descent updates ``theta <- theta - eta * grad L(theta)``; on the
    linearized model the residual contracts along each eigenvector of the
    weighted NTK Gram matrix by ``1 - eta * lambda / N``, hence the stability
    limit ``eta < 2 N / lambda_max``. A run whose loss becomes non-finite or
    exceeds 1e4 times its starting scale stops, restores the last good
    parameters and emits a :class:`~sklearn_gdnet.exceptions.DivergenceWarning`.
    A ``KeyboardInterrupt`` stops training after the last finished step and
    leaves a usable estimator.

    References
    ----------
    .. [1] G. Welper, "Approximation and Gradient Descent Training with Neural
       Networks", arXiv:2405.11696, 2024.
    .. [2] A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel:
       Convergence and Generalization in Neural Networks", NeurIPS 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet import GDNetworkRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(100, 2))
    >>> y = np.sin(3 * X[:, 0]) * X[:, 1]
    >>> net = GDNetworkRegressor(width=64, depth=2, max_iter=300, random_state=0)
    >>> net.fit(X, y).predict(X[:3]).shape
    (3,)
    >>> net.loss_curve_[-1] < net.loss_curve_[0]
    True
    """

    _parameter_constraints: dict = {
        **FAMILY_CONSTRAINTS,
        "width": [Interval(Integral, 1, None, closed="left")],
        "parametrization": [StrOptions({"ntk", "standard"})],
        "init": [StrOptions({"gaussian", "breakpoint"})],
        "solver": [StrOptions({"gd", "adam", "lbfgs"})],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        width=128,
        depth=2,
        *,
        activation="relu",
        weight_std=1.0,
        bias_std=0.1,
        parametrization="ntk",
        trainable="all",
        init="gaussian",
        solver="gd",
        learning_rate="auto",
        momentum=0.0,
        max_iter=200,
        tol=0.0,
        n_iter_no_change=None,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.width = width
        self.depth = depth
        self.activation = activation
        self.weight_std = weight_std
        self.bias_std = bias_std
        self.parametrization = parametrization
        self.trainable = trainable
        self.init = init
        self.solver = solver
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on ``(X, y)`` for ``max_iter`` gradient steps.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs. float32 input trains in float32.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss; normalized to mean one.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        continuing = self.warm_start and hasattr(self, "params_")
        return self._fit(X, y, sample_weight, continuing, self.max_iter)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Take one gradient step on ``(X, y)``, continuing the current run.

        The first call initializes the network (and the step size when
        ``learning_rate="auto"``); later calls continue from the current
        parameters and optimizer state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss; normalized to mean one.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, hasattr(self, "params_"), 1)

    def _fit(self, X, y, sample_weight, continuing, n_steps):
        X, y = self._validate_fit_data(X, y, continuing)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        w = w * (w.size / w.sum())

        if continuing and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} outputs but the network was fitted with {self.n_outputs_}."
            )
        if continuing:
            self._check_same_architecture()
        spec = self._spec(n_outputs=Y.shape[1], architecture=self._architecture_params())
        _check_memory(spec, X.shape[0], X.dtype.itemsize)
        if not continuing:  # prepare everything first: a failure leaves no half state
            groups = resolve_trainable(self.trainable, self.depth)
            params = init_params(spec, self.random_state, self.init, X.dtype)
            step = self._initial_learning_rate(spec, params, groups, X, w, Y.size)
            self._y_ndim = y.ndim
            self.n_outputs_ = Y.shape[1]
            self.trainable_groups_ = groups
            self.params_ = params
            self.initial_params_ = {g: params[g].copy() for g in groups}
            self.learning_rate_ = step
            self.n_iter_ = 0
            self.loss_curve_ = []
            self._optimizer_state = {}
            self._architecture = self._architecture_params()
        elif self.learning_rate != "auto" and self.solver != "lbfgs":
            self.learning_rate_ = float(self.learning_rate)

        result = train(
            self.params_,
            spec,
            X,
            Y,
            w,
            self.trainable_groups_,
            solver=self.solver,
            learning_rate=self.learning_rate_,
            momentum=self.momentum,
            max_iter=n_steps,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            verbose=self.verbose,
            optimizer_state=self._optimizer_state,
        )
        losses = result.losses[1:] if self.loss_curve_ else result.losses
        self.loss_curve_.extend(losses)
        self.n_iter_ += result.n_steps
        self.distance_from_init_ = {
            g: _relative_distance(self.params_[g], self.initial_params_[g])
            for g in self.trainable_groups_
        }
        self._report(result, n_steps)
        return self

    _ARCHITECTURE = (
        "width",
        "depth",
        "activation",
        "weight_std",
        "bias_std",
        "parametrization",
        "init",
        "trainable",
    )

    def _architecture_params(self):
        return {name: getattr(self, name) for name in self._ARCHITECTURE}

    def _check_same_architecture(self):
        changed = [
            name
            for name, value in self._architecture_params().items()
            if value != self._architecture[name]
        ]
        if changed:
            raise ValueError(
                f"Cannot continue the run: {', '.join(changed)} changed since it started "
                f"(was {', '.join(f'{n}={self._architecture[n]!r}' for n in changed)}). "
                "Set warm_start=False, or call fit instead of partial_fit, to start over."
            )

    def _validate_fit_data(self, X, y, continuing):
        dtype = self.params_["W1"].dtype if continuing else [np.float64, np.float32]
        X, y = validate_data(
            self,
            X,
            y,
            reset=not continuing,
            accept_sparse="csr",
            dtype=dtype,
            multi_output=True,
            y_numeric=True,
        )
        return X, np.ascontiguousarray(y, dtype=X.dtype)

    def _spec(self, n_outputs=None, architecture=None):
        """The network: of the current parameters, or of the fitted run by default."""
        arch = self._architecture if architecture is None else architecture
        return NetworkSpec(
            n_features=self.n_features_in_,
            n_outputs=self.n_outputs_ if n_outputs is None else n_outputs,
            width=arch["width"],
            depth=arch["depth"],
            activation=arch["activation"],
            weight_std=float(arch["weight_std"]),
            bias_std=float(arch["bias_std"]),
            parametrization=arch["parametrization"],
        )

    def _initial_learning_rate(self, spec, params, groups, X, w, n_targets):
        if self.solver == "lbfgs":
            return None
        if self.learning_rate != "auto":
            return float(self.learning_rate)
        if self.solver == "adam":
            return ADAM_DEFAULT_STEP
        lam = max_ntk_eigenvalue(params, spec, X, w, groups)
        return auto_learning_rate(lam, n_targets)

    def _report(self, result, n_steps):
        if result.stop == "diverged":
            warnings.warn(
                f"Gradient descent diverged at step {self.n_iter_ + 1} with "
                f"learning_rate={self.learning_rate_:.4g} (training loss "
                f"{result.diverged_loss:.3g}); the parameters after step "
                f"{self.n_iter_} were restored. Use a smaller learning_rate, for "
                "example learning_rate='auto' or a quarter of this one.",
                DivergenceWarning,
                stacklevel=3,
            )
        elif result.stop == "interrupted":
            warnings.warn(
                f"Training interrupted by the user after {self.n_iter_} steps; the "
                "estimator keeps the last finished step.",
                RuntimeWarning,
                stacklevel=3,
            )
        elif result.stop == "max_iter" and self.n_iter_no_change is not None and n_steps > 1:
            warnings.warn(
                f"The loss was still improving by more than tol={self.tol} after "
                f"max_iter={n_steps} steps.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def predict(self, X):
        """Network output at ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, one-dimensional when the network was fitted on a
            one-dimensional ``y``.
        """
        check_is_fitted(self)
        dtype = self.params_["W1"].dtype
        X = validate_data(self, X, reset=False, accept_sparse="csr", dtype=dtype)
        spec = self._spec()
        rows = max(1, PREDICT_CHUNK_BYTES // (dtype.itemsize * max(self.width, 1) * 2))
        out = np.empty((X.shape[0], self.n_outputs_), dtype=dtype)
        for batch in gen_batches(X.shape[0], rows):
            out[batch] = forward(self.params_, spec, X[batch])
        return out.ravel() if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


def _check_memory(spec, n_samples, itemsize):
    # Two workspaces (training and step-size estimate) of pre-activations,
    # activations and deltas, and five copies of the parameters (current,
    # previous, initial, two optimizer buffers).
    per_sample = 3 * spec.width * spec.depth + 3 * spec.n_outputs
    n_params = sum((fan_in + 1) * fan_out for fan_in, fan_out in spec.layer_dims)
    check_fits_in_memory(
        itemsize * (2 * n_samples * per_sample + 5 * n_params),
        f"Training a width-{spec.width}, depth-{spec.depth} network on {n_samples} samples",
        "Use fewer samples, a smaller width, or float32 input.",
    )


def _relative_distance(theta, theta0):
    norm0 = np.linalg.norm(theta0)
    denom = norm0 if norm0 > 0 else np.sqrt(theta0.size)
    return float(np.linalg.norm(theta - theta0) / denom)
