"""GDNetworkRegressor: a fully connected network trained by full-batch gradient descent."""

from __future__ import annotations

import copy
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
from ._core import forward, workspace_nbytes
from ._family import FAMILY_CONSTRAINTS
from ._memory import check_fits_in_memory
from ._network import (
    THIN_INPUT_MAX_FEATURES,
    NetworkSpec,
    init_params,
    max_ntk_eigenvalue,
    resolve_trainable,
)
from ._optim import auto_learning_rate, optimizer_state_nbytes, train
from ._targets import _normalized_targets, _target_normalization
from ._threads import thread_policy
from .exceptions import DivergenceWarning
from .schedules import schedule_rates

__all__ = ["GDNetworkRegressor"]

#: ``learning_rate="auto"`` for Adam, which does not follow the NTK step rule.
ADAM_DEFAULT_STEP = 1e-3
#: ``n_iter_no_change`` when only ``tol`` is given (MLPRegressor's default).
DEFAULT_N_ITER_NO_CHANGE = 10
#: The bias multiplier (and bias scale) of ``init="breakpoint"``, whatever
#: ``bias_std`` is: the hidden biases store ``-theta_r`` itself, so that a step
#: moves the breakpoints as in the shallow model ``sum_r a_r phi(x - theta_r)``.
BREAKPOINT_BIAS_MULTIPLIER = 1.0
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
    shared parameters (``normalize_y`` included: both estimators standardize
    the targets by default, and ``normalize_y=False`` in both gives the
    theory's network on the targets as given).

    By default (``normalize_y=True``) the network is trained on the targets
    centered and scaled to unit variance, and its predictions are mapped back,
    as :class:`~sklearn.gaussian_process.GaussianProcessRegressor` does: the
    theory, and the automatic step, assume targets of order one, and most data
    sets do not have them.

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
        Bias scale ``sigma_b``. Not used by ``init="breakpoint"``, whose
        biases act with multiplier 1 (see ``init``).

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
        breakpoints. The biases then act with multiplier 1 under both
        parametrizations and ``bias_std`` is not used: the hidden bias of unit
        ``r`` stores ``-theta_r`` in input units, and a step moves the
        breakpoints as it moves ``theta`` in the shallow model (one Adam step
        of size ``eta`` moves each by about ``eta``), whatever ``bias_std``
        is. Under the NTK parametrization, ``weight_std=1`` makes the stored
        output weights the signs ``a_r`` themselves.

    solver : {"gd", "adam", "lbfgs"}, default="gd"
        ``"gd"``: full-batch gradient descent with a fixed step (with
        heavy-ball ``momentum`` if nonzero). ``"adam"`` and ``"lbfgs"`` are
        provided for comparison runs.

    learning_rate : "auto" or float, default="auto"
        Step size ``eta``. ``"auto"`` takes ``0.5 * 2N / lambda_max``, where
        ``lambda_max`` is the largest eigenvalue of the sample-weighted
        empirical NTK at initialization: half the largest stable step of the
        linearized dynamics. It does not depend on the targets, but the
        linearization it relies on holds for targets of order one (the
        parameters then move little); ``normalize_y=True`` provides such
        targets. For ``solver="adam"``, ``"auto"`` means 1e-3;
        ``solver="lbfgs"`` ignores it. A warm-started run keeps its automatic
        step; a run continued with another solver derives it anew, for
        gradient descent from the kernel of the network as it is then. A
        numeric step changed between calls of a warm-started run applies from
        the next step on, and the optimizer state (Adam's moments and step
        count, the momentum velocity) is kept. With ``lr_schedule`` this is the
        base step size.

    lr_schedule : callable or None, default=None
        Step size per step: ``lr_schedule(k, base)`` is the step size of step
        ``k`` (0 for the first step of the run) given the base step
        ``learning_rate_``, for example
        :class:`~sklearn_gdnet.schedules.StepDecay` (PyTorch's ``StepLR``
        stepped once per step). ``None`` keeps the step constant. Works with
        ``solver="gd"`` (with or without momentum) and ``"adam"``; L-BFGS has
        no step size and refuses a schedule. The schedule counts the steps of
        the whole run: a ``warm_start`` fit or ``partial_fit`` that continues
        a run of ``n_iter_`` steps starts at ``k = n_iter_``, so a run split
        into several calls takes the same steps as one uninterrupted fit; a
        new run starts at ``k = 0``. With momentum the step size of step ``k``
        multiplies that step's gradient: ``v <- momentum * v - eta_k * grad``.

    normalize_y : bool, default=True
        Train on ``(y - mean) / std`` (each output, weighted by
        ``sample_weight``; a constant output is only centered) and return
        predictions in the units of ``y``, like ``GaussianProcessRegressor``
        and ``TransformedTargetRegressor`` with a ``StandardScaler``. ``False``
        trains on ``y`` itself: the network of the theory; use it for targets
        of order one. Either way the infinite-width limit of the same training
        is ``NTKRegressor`` with the same shared parameters, ``normalize_y``
        among them. The losses are those of the targets trained on.

    momentum : float, default=0.0
        Heavy-ball momentum for ``solver="gd"``, in [0, 1).

    max_iter : int, default=200
        Number of gradient steps (iterations for L-BFGS). ``0`` leaves the
        network at its initialization.

    tol : float, default=0.0
        Improvement of the training loss that counts as progress for
        ``n_iter_no_change``; for L-BFGS the gradient tolerance ``gtol``. A
        positive ``tol`` with ``n_iter_no_change=None`` stops after 10 steps
        without progress, as in ``MLPRegressor``.

    n_iter_no_change : int or None, default=None
        Stop when the loss has not improved by ``tol`` for this many
        consecutive steps of one call. With ``tol=0`` and ``None``, exactly
        ``max_iter`` steps are taken, as in the theory. When a stopping rule is
        set and ``max_iter`` ends a run that was still improving, a
        :class:`~sklearn.exceptions.ConvergenceWarning` is emitted. Ignored by
        L-BFGS.

    warm_start : bool, default=False
        Continue from the previous fit's parameters, step size and optimizer
        state instead of starting over. The optimizer state (Adam's moments
        and step count, the momentum velocity) survives a change of
        ``learning_rate``, ``lr_schedule`` or of a nonzero ``momentum``;
        switching momentum on starts from a zero velocity, switching it off
        drops the velocity, and a change of ``solver`` starts a new state.

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
        The base step size of the last call (``None`` for L-BFGS); without
        ``lr_schedule`` the step size of every step of that call.

    learning_rate_curve_ : list of float
        ``n_iter_`` entries, like ``loss_curve_``: the step size used at each
        step of the run (NaN for the iterations of L-BFGS, which has none).

    n_iter_ : int
        Number of steps taken, over all calls of a warm-started run.

    loss_curve_ : list of float
        ``n_iter_`` entries: ``loss_curve_[t]`` is the training loss after
        step ``t + 1``, i.e. of the parameters that step produced (as in
        ``MLPRegressor``, one entry per iteration; unlike it, each entry is
        the loss of the parameters after the step, so ``loss_curve_[-1]`` is
        the loss of the fitted network).

    loss_ : float
        Training loss of the fitted parameters (at initialization when no
        step was taken).

    best_loss_ : float
        Smallest training loss in ``loss_curve_`` (``loss_`` when it is
        empty).

    distance_from_init_ : dict of str to float
        ``||theta_g - theta_g(0)||_2 / ||theta_g(0)||_2`` for each trained
        group ``g``: the relative Euclidean norm of the group's stored entries
        (the Frobenius norm of a weight matrix; under the NTK parametrization
        the N(0, 1) entries, before the multipliers), measured from the start
        of the run. For a group initialized at zero the denominator is
        ``sqrt(theta_g.size)``, the norm of an N(0, 1) draw.

    breakpoint_movement_ : dict of str to float or None
        For a network with one input feature and one hidden layer: how far
        the breakpoints ``theta_r = -c b_r / (a w_r)`` (the knots of ReLU
        units, in the units of ``X``, after the multipliers ``a, c`` of the
        parametrization) moved from the start of the run, ``dtheta = theta -
        theta(0)`` over the ``m`` units with a nonzero inner weight both at
        the start and now (a unit with ``w_r = 0`` is a constant and has no
        breakpoint): ``{"sup": max_r |dtheta_r|, "mean_abs": sum_r
        |dtheta_r| / m, "rms": sqrt(sum_r dtheta_r**2 / m)}``, the norms
        ``||dtheta||_inf``, ``||dtheta||_1 / m`` and ``||dtheta||_2 /
        sqrt(m)`` of the shallow 1-d study [3]_. ``None`` for other networks
        and when no unit has a breakpoint.

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
    limit ``eta < 2 N / lambda_max``.

    Failures leave the estimator as it was before the call: ``fit`` and
    ``partial_fit`` validate, check memory, initialize and train on new state
    that replaces the fitted one only when the call succeeds. A run whose loss
    becomes non-finite or exceeds 1e4 times its starting scale stops at the
    last finished step and emits a
    :class:`~sklearn_gdnet.exceptions.DivergenceWarning` whose advice depends
    on the cause. A ``KeyboardInterrupt`` during training keeps the last
    finished step, parameters and optimizer state together (a warm-started
    continuation then takes the same steps as an uninterrupted run; L-BFGS
    starts a new curvature history) and warns; an interrupt before the first
    step of a call finishes changes nothing and is raised. Samples of weight
    zero are left out. A fit whose arrays would not fit in memory (available
    memory or the process's address-space limit) raises ``MemoryError``
    before allocating them.

    Differences from ``MLPRegressor``: full-batch steps of a fixed size, no
    regularization, ``tol`` and ``n_iter_no_change`` off by default (the
    theory runs a fixed number of steps), ``loss_curve_`` entries measured
    after each step, and the loss ``1/(2N) sum_i w_i ||f(x_i) - y_i||^2``
    (``MLPRegressor`` divides by the number of samples only).

    Inside ``fit`` and ``predict`` BLAS runs on one thread and large matrix
    products are split into blocks handed to the threads BLAS was allowed
    (``threadpoolctl`` limits apply): results do not depend on the number of
    threads, and a machine shared with other processes slows a fit down
    gracefully.

    References
    ----------
    .. [1] G. Welper, "Approximation and Gradient Descent Training with Neural
       Networks", arXiv:2405.11696, 2024.
    .. [2] A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel:
       Convergence and Generalization in Neural Networks", NeurIPS 2018.
    .. [3] R. Gentile, G. Welper, "Approximation results for Gradient
       Descent trained Shallow Neural Networks in 1d", arXiv:2209.08399, 2022.

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
    >>> len(net.loss_curve_) == net.n_iter_ == 300
    True
    >>> net.loss_ == net.loss_curve_[-1] < net.loss_curve_[0]
    True

    Targets far from order one are handled by ``normalize_y``; the network of
    the theory, on the targets as given, is one parameter away:

    >>> net = GDNetworkRegressor(width=64, random_state=0).fit(X, 1000 * y + 500)
    >>> bool(net.score(X, 1000 * y + 500) > 0.9)
    True
    >>> theory = GDNetworkRegressor(width=64, normalize_y=False, random_state=0).fit(X, y)
    """

    _parameter_constraints: dict = {
        **FAMILY_CONSTRAINTS,
        "width": [Interval(Integral, 1, None, closed="left")],
        "parametrization": [StrOptions({"ntk", "standard"})],
        "init": [StrOptions({"gaussian", "breakpoint"})],
        "solver": [StrOptions({"gd", "adam", "lbfgs"})],
        "lr_schedule": [None, callable],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "normalize_y": ["boolean"],
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
        lr_schedule=None,
        normalize_y=True,
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
        self.lr_schedule = lr_schedule
        self.normalize_y = normalize_y
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

        The fit is a transaction: if it fails (bad input, a request too large
        for memory, a start that is not finite, an interrupt before the first
        step), the estimator keeps what it had before the call.

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
        ``learning_rate="auto"``, and the target normalization when
        ``normalize_y=True``); later calls continue from the current
        parameters and optimizer state, with the first call's normalization.

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
        # A transaction: the new state is built beside the fitted one and
        # replaces it in one step; whatever fails restores the previous one
        # (validation itself writes n_features_in_ and feature_names_in_).
        previous = dict(self.__dict__)
        try:
            # non-finite values are detected and reported, not warned about on the way
            with thread_policy(), np.errstate(over="ignore", invalid="ignore"):
                state, result = self._train(X, y, sample_weight, continuing, n_steps)
            self.__dict__.update(state)  # one call: an interrupt comes before or after it
        except BaseException:
            self.__dict__ = previous
            raise
        self._report(result, n_steps)
        return self

    def _train(self, X, y, sample_weight, continuing, n_steps):
        """Validate, check memory, initialize and train; return the new attributes."""
        if self.solver == "lbfgs" and self.lr_schedule is not None:
            raise ValueError(
                f"solver='lbfgs' takes no step size, so lr_schedule={self.lr_schedule!r} "
                "cannot apply; use solver='gd' or 'adam', or lr_schedule=None."
            )
        X, Y, w, y_ndim = self._validate_fit_data(X, y, sample_weight, continuing)
        if continuing:
            if Y.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"y has {Y.shape[1]} outputs but the network was fitted with {self.n_outputs_}."
                )
            self._check_same_architecture()
            groups, (y_mean, y_std) = self.trainable_groups_, (self._y_mean, self._y_std)
        else:
            groups = resolve_trainable(self.trainable, self.depth)
            y_mean, y_std = _target_normalization(Y, w, self.normalize_y)
        Y = _normalized_targets(Y, y_mean, y_std, X.dtype)
        spec = self._spec(n_outputs=Y.shape[1], architecture=self._architecture_params())
        rule = (self.solver, self.learning_rate)
        needs_kernel = (
            self.learning_rate == "auto"
            and self.solver == "gd"
            and not (continuing and self._step_rule == rule)
        )
        _check_memory(spec, X, groups, self.solver, self.momentum, continuing, needs_kernel)

        if continuing:  # train copies; the fitted arrays stay as they are until success
            params = {g: p.copy() if g in groups else p for g, p in self.params_.items()}
            optimizer_state = copy.deepcopy(self._optimizer_state)
            initial_params = self.initial_params_
        else:
            params = init_params(spec, self.random_state, self.init, X.dtype)
            optimizer_state = {}
            initial_params = {g: params[g].copy() for g in groups}
        if self.solver == "lbfgs":
            step = None
        elif self.learning_rate != "auto":
            step = float(self.learning_rate)
        elif self.solver == "adam":
            step = ADAM_DEFAULT_STEP
        elif not needs_kernel:  # a continued run keeps its automatic step
            step = self.learning_rate_
        else:  # of the network as it is now: at initialization, or where a run switched
            step = auto_learning_rate(max_ntk_eigenvalue(params, spec, X, w, groups), Y.size)
        start = self.n_iter_ if continuing else 0  # the schedule counts the run's steps
        rates = None if step is None else schedule_rates(self.lr_schedule, step, start, n_steps)

        patience = self.n_iter_no_change
        if patience is None and self.tol > 0:
            patience = DEFAULT_N_ITER_NO_CHANGE
        result = train(
            params,
            spec,
            X,
            Y,
            w,
            groups,
            solver=self.solver,
            learning_rate=rates,
            momentum=self.momentum,
            max_iter=n_steps,
            tol=self.tol,
            n_iter_no_change=patience,
            verbose=self.verbose,
            optimizer_state=optimizer_state,
        )
        if result.stop == "interrupted" and not result.losses:
            raise KeyboardInterrupt  # no step of this call finished: it changes nothing
        _check_representable(result.output_size, y_mean, y_std, X.dtype)
        result.target_std = _target_normalization(Y, w)[1] * y_std  # for the advice

        losses = list(self.loss_curve_) if continuing else []
        losses += result.losses
        rate_curve = list(self.learning_rate_curve_) if continuing else []
        rate_curve += result.learning_rates
        loss = losses[-1] if result.losses else result.initial_loss
        state = {
            "params_": params,
            "initial_params_": initial_params,
            "trainable_groups_": groups,
            "learning_rate_": step,
            "n_iter_": (self.n_iter_ if continuing else 0) + result.n_steps,
            "loss_curve_": losses,
            "learning_rate_curve_": rate_curve,
            "loss_": loss,
            "best_loss_": min(losses) if losses else loss,
            "distance_from_init_": {
                g: _relative_distance(params[g], initial_params[g]) for g in groups
            },
            "breakpoint_movement_": _breakpoint_movement(params, initial_params, spec),
            "n_outputs_": Y.shape[1],
            "_y_ndim": y_ndim,
            "_y_mean": y_mean,
            "_y_std": y_std,
            "_optimizer_state": optimizer_state,
            "_architecture": self._architecture_params(),
            "_step_rule": rule,
        }
        if continuing:
            state["_y_ndim"] = self._y_ndim
        return state, result

    _ARCHITECTURE = (
        "width",
        "depth",
        "activation",
        "weight_std",
        "bias_std",
        "parametrization",
        "init",
        "trainable",
        "normalize_y",
    )

    def _architecture_params(self):
        return {name: getattr(self, name) for name in self._ARCHITECTURE}

    def _check_same_architecture(self):
        changed = [
            name
            for name, value in self._architecture_params().items()
            if value != self._architecture.get(name, value)
        ]
        if changed:
            raise ValueError(
                f"Cannot continue the run: {', '.join(changed)} changed since it started "
                f"(was {', '.join(f'{n}={self._architecture[n]!r}' for n in changed)}). "
                "Set warm_start=False, or call fit instead of partial_fit, to start over."
            )

    def _validate_fit_data(self, X, y, sample_weight, continuing):
        """Checked ``X``, 2-d float64 ``Y`` and weights normalized to mean one.

        Samples of weight zero take no part in the loss, its gradient or its
        kernel, and are left out.
        """
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
        Y = np.asarray(y, dtype=np.float64)
        y_ndim = Y.ndim
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        w = w / w.max()  # mean one without overflow: the largest weight is one first
        w *= w.size / w.sum()
        if not np.all(w > 0):
            keep = w > 0
            X, Y, w = X[keep], Y[keep], w[keep]
            w *= w.size / w.sum()
        limit = np.finfo(X.dtype).max / 16
        if np.abs(Y).max() > limit:
            raise ValueError(
                f"y has values up to {np.abs(Y).max():.3g}, too large for a network "
                f"that trains and predicts in {X.dtype} (up to about {limit:.3g}). "
                "Pass X as float64."
            )
        return X, Y, w, y_ndim

    def _spec(self, n_outputs=None, architecture=None):
        """The network: of the given parameters, or of the fitted run by default."""
        arch = self._architecture if architecture is None else architecture
        return NetworkSpec(
            n_features=self.n_features_in_,
            n_outputs=self.n_outputs_ if n_outputs is None else n_outputs,
            width=arch["width"],
            depth=arch["depth"],
            activation=arch["activation"],
            weight_std=float(arch["weight_std"]),
            # the shallow model's breakpoints live in input units (see ``init``)
            bias_std=BREAKPOINT_BIAS_MULTIPLIER
            if arch["init"] == "breakpoint"
            else float(arch["bias_std"]),
            parametrization=arch["parametrization"],
        )

    def _report(self, result, n_steps):
        name = {"gd": "Gradient descent", "adam": "Adam", "lbfgs": "L-BFGS"}[self.solver]
        if result.stop == "diverged":
            step = self.learning_rate_
            at = "" if step is None else f" with learning_rate={step:.4g}"
            if self.lr_schedule is not None and result.diverged_rate is not None:
                at += f" (a step of {result.diverged_rate:.4g} by lr_schedule)"
            warnings.warn(
                f"{name} diverged at step {self.n_iter_ + 1}{at} (training loss "
                f"{result.diverged_loss:.3g}); the parameters after step {self.n_iter_} "
                f"were kept. {self._divergence_advice(result)}",
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
        elif result.stop == "stalled":
            warnings.warn(
                f"L-BFGS stopped after {result.n_steps} of max_iter={n_steps} iterations "
                f"without reaching tol={self.tol}: {result.message}",
                ConvergenceWarning,
                stacklevel=3,
            )
        elif result.stop == "max_iter" and n_steps > 1 and self._stopping_rule():
            warnings.warn(
                f"{name} reached max_iter={n_steps} steps while the loss was still "
                f"improving by more than tol={self.tol}; increase max_iter.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _stopping_rule(self):
        if self.solver == "lbfgs":
            return self.tol > 0
        return self.n_iter_no_change is not None or self.tol > 0

    def _divergence_advice(self, result):
        step = self.learning_rate_
        spread = np.max(result.target_std)
        if not self.normalize_y and not 0.1 <= spread <= 10:
            return (
                f"The targets are not of order one (standard deviation up to {spread:.3g}), "
                "which the automatic step and the theory assume: use normalize_y=True"
                + (
                    ", or a smaller learning_rate."
                    if step is None
                    else f", or a smaller learning_rate such as {step / 4:.3g}."
                )
            )
        if self.solver == "lbfgs":
            return "Check the scale of X and the initialization scales."
        if self.learning_rate == "auto" and self.solver == "gd":
            return (
                f"learning_rate='auto' gave {step:.4g}, half the stability limit of the "
                "tangent kernel at initialization, but training moved to where the kernel "
                f"is larger. Pass a smaller numeric learning_rate, for example {step / 4:.3g}."
            )
        advice = (
            f"Use a smaller learning_rate, for example {step / 4:.3g} (a quarter of {step:.4g})"
        )
        if self.solver == "gd":
            advice += ", or learning_rate='auto'"
        return advice + "."

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
            one-dimensional ``y``; with ``normalize_y=True`` in the units of
            ``y``.
        """
        check_is_fitted(self)
        dtype = self.params_["W1"].dtype
        X = validate_data(self, X, reset=False, accept_sparse="csr", dtype=dtype)
        spec = self._spec()
        rows = max(1, PREDICT_CHUNK_BYTES // (dtype.itemsize * spec.width * 2))
        rows = min(rows, X.shape[0])
        check_fits_in_memory(
            workspace_nbytes(spec, rows, dtype.itemsize)
            + X.shape[0] * spec.n_outputs * dtype.itemsize,
            f"Predicting with a width-{spec.width}, depth-{spec.depth} network",
            "Predict on fewer samples at a time.",
        )
        out = np.empty((X.shape[0], self.n_outputs_), dtype=dtype)
        with thread_policy():
            for batch in gen_batches(X.shape[0], rows):
                out[batch] = forward(self.params_, spec, X[batch])
        if self._architecture["normalize_y"]:
            out *= self._y_std.astype(dtype)
            out += self._y_mean.astype(dtype)
        return out.ravel() if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


def _check_representable(output_size, y_mean, y_std, dtype):
    """Refuse a network whose training predictions overflow once mapped back to y."""
    with np.errstate(over="ignore"):
        reach = output_size * np.max(y_std) + np.max(np.abs(y_mean))
    if not reach <= np.finfo(dtype).max:
        raise ValueError(
            f"The network's outputs on the training samples reach {output_size:.3g} in "
            f"units of the normalized targets; times their standard deviation "
            f"{np.max(y_std):.3g} they exceed the range of {np.dtype(dtype)}. The "
            "initialization (weight_std, bias_std, depth) is too large for these inputs."
        )


def _check_memory(spec, X, groups, solver, momentum, continuing, needs_kernel):
    """Refuse a fit whose arrays would not fit in memory, before allocating them.

    New parameters (all groups for a new run, with a float64 draw of the largest
    layer, and their initial copy; the trained groups for a continued one), and
    the larger of the step-size estimate (a workspace, a gradient and the
    forward-mode pass's two temporaries) and the training loop (a workspace, the
    residual, the saved iterate and the optimizer's state and its saved copy).
    """
    n = X.shape[0]
    itemsize = np.dtype(X.dtype).itemsize
    sizes = {
        f"{p}{l}": fo * (fi if p == "W" else 1)
        for l, (fi, fo) in enumerate(spec.layer_dims, 1)
        for p in "Wb"
    }
    n_trained = sum(sizes[g] for g in groups)
    if continuing:
        persistent = n_trained * itemsize
    else:
        largest = max(fi * fo for fi, fo in spec.layer_dims)
        persistent = (sum(sizes.values()) + n_trained) * itemsize + 8 * largest
    thin = X.shape[1] * n if X.shape[1] <= THIN_INPUT_MAX_FEATURES else 0
    work = workspace_nbytes(spec, n, itemsize, n_input_copy=thin)
    targets = n * spec.n_outputs * (8 + 2 * itemsize)
    kernel = (
        work + n_trained * itemsize + 2 * n * spec.width * itemsize + 16 * n * spec.n_outputs * 8
    )
    training = (
        work + n_trained * itemsize + optimizer_state_nbytes(solver, momentum, n_trained, itemsize)
    )
    check_fits_in_memory(
        persistent + targets + max(kernel if needs_kernel else 0, training),
        f"Training a width-{spec.width}, depth-{spec.depth} network on {n} samples",
        "Use fewer samples, a smaller width, or float32 input.",
    )


def _breakpoints(W1, b1, spec):
    """Knots ``-c b_r / (a w_r)`` of a one-feature layer (NaN where ``w_r = 0``)."""
    a, c = spec.multipliers[0]
    w = a * np.asarray(W1[0], dtype=np.float64)
    b = c * np.asarray(b1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(w != 0, -b / np.where(w != 0, w, 1.0), np.nan)


def _breakpoint_movement(params, initial_params, spec):
    """Sup, mean absolute and RMS movement of the breakpoints (None if there are none)."""
    if spec.n_features != 1 or spec.depth != 1:
        return None
    start = {g: initial_params.get(g, params[g]) for g in ("W1", "b1")}
    moved = _breakpoints(params["W1"], params["b1"], spec) - _breakpoints(
        start["W1"], start["b1"], spec
    )
    moved = np.abs(moved[np.isfinite(moved)])
    if not moved.size:
        return None
    return {
        "sup": float(moved.max()),
        "mean_abs": float(moved.mean()),
        "rms": float(np.sqrt(np.mean(moved**2))),
    }


def _relative_distance(theta, theta0):
    norm0 = np.linalg.norm(theta0)
    denom = norm0 if norm0 > 0 else np.sqrt(theta0.size)
    return float(np.linalg.norm(theta - theta0) / denom)
