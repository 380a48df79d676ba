"""Training loops: pure functions on arrays, with history, stopping rules and rollback.

The loss is

    L(theta) = 1/(2N) * sum_i w_i * ||f(x_i) - y_i||^2,     N = n * k,

with sample weights normalized to mean one by the caller. One loop serves
gradient descent (with optional heavy-ball momentum) and Adam; L-BFGS goes
through SciPy. A step is: the backward pass at ``theta_t`` (from the forward pass
that measured its loss), saving ``theta_t`` and the optimizer state, the update
to ``theta_{t+1}``, and the forward pass that measures ``L(theta_{t+1})``. It is
*finished* when that loss is recorded. Every loop

* records ``losses[t] = L(theta_{t+1})``, the loss after each finished step, and
  the loss at the starting parameters separately;
* stops on a non-finite or exploding loss and returns to the last finished step;
* on ``KeyboardInterrupt`` returns to the last finished step, parameters and
  optimizer state together, so that continuing the run from there takes the
  same steps as a run that was never interrupted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from ._batched import replayable
from ._core import Workspace, backward, forward, gradients
from ._network import NetworkSpec, forward_top, lowest_layer

__all__ = [
    "LEARNING_RATE_SAFETY",
    "TrainResult",
    "auto_learning_rate",
    "check_starting_loss",
    "train",
]

#: ``learning_rate="auto"`` takes this fraction of the stability limit
#: ``2 N / lambda_max``. One half gives ``eta = N / lambda_max``: the step that
#: removes the top eigendirection of the linearized residual in one step, with
#: room for the kernel to grow during training.
LEARNING_RATE_SAFETY = 0.5

#: A loss above this multiple of ``max(L(theta_0), L(0))`` counts as diverged.
DIVERGENCE_FACTOR = 1e4

#: Corrections L-BFGS-B keeps (SciPy's default ``maxcor``).
LBFGS_MEMORY = 10


def auto_learning_rate(lambda_max: float, n_targets: int) -> float:
    """The step ``SAFETY * 2 N / lambda_max`` used by ``learning_rate="auto"``."""
    if lambda_max == 0:
        raise ValueError(
            "The trained parameters have no gradient at initialization (the largest "
            "eigenvalue of the tangent kernel is 0; for example every ReLU unit of a "
            "layer is inactive on every sample), so no step size can be derived. Pass "
            "a numeric learning_rate, another random_state, a larger width or other "
            "trainable groups."
        )
    if not np.isfinite(lambda_max) or lambda_max < 0:
        raise ValueError(
            f"The largest NTK eigenvalue is {lambda_max!r}; no step size can be derived "
            "from it. Pass a numeric learning_rate."
        )
    step = LEARNING_RATE_SAFETY * 2.0 * n_targets / lambda_max
    if not np.isfinite(step):
        raise ValueError(
            f"The largest NTK eigenvalue is {lambda_max!r}, so small that the step "
            "size it implies is not finite; the weight and bias scales or the inputs "
            "are too small. Pass a numeric learning_rate."
        )
    return step


def check_starting_loss(loss, out, Y):
    """Refuse a start whose loss is not finite, naming the cause."""
    if np.isfinite(loss):
        return
    if not np.all(np.isfinite(out)):
        cause = (
            "the network's output at its starting parameters is not finite: the inputs "
            "or the weight and bias scales are too large for the network's dtype"
        )
    else:
        cause = (
            f"the targets are too large for the loss to be represented (max |y| = "
            f"{float(np.max(np.abs(Y))):.3g}); use normalize_y=True"
        )
    raise ValueError(f"The training loss at the starting parameters is {loss!r}: {cause}.")


@dataclass
class TrainResult:
    """What a training run did."""

    #: ``losses[t]`` is the loss after step ``t + 1`` of this call.
    losses: list = field(default_factory=list)
    #: Loss at the parameters the call started from (None if interrupted first).
    initial_loss: float | None = None
    #: "max_iter", "tol", "diverged", "interrupted", "converged" or "stalled".
    stop: str = "max_iter"
    diverged_loss: float | None = None
    #: Step size of the step that diverged (None for L-BFGS or no divergence).
    diverged_rate: float | None = None
    message: str = ""
    #: Largest ``|f(x_i)|`` over the training samples at the kept parameters.
    output_size: float = 0.0
    #: ``learning_rates[t]`` is the step size of step ``t + 1`` (NaN for L-BFGS).
    learning_rates: list = field(default_factory=list)

    @property
    def n_steps(self) -> int:
        return len(self.losses)


def _loss(out, Y, w, resid):
    np.subtract(out, Y, out=resid)
    per_sample = np.einsum("ij,ij->i", resid, resid, dtype=np.float64)
    return 0.5 * float(per_sample @ w) / resid.size


def _largest(out):
    return float(np.abs(out).max()) if out.size else 0.0


def _copy_groups(src, dst, groups):
    """Save (or restore) the iterate: ``dst[g][...] = src[g]`` for each group."""
    for g in groups:
        np.copyto(dst[g], src[g])


class _Printer:
    """Progress lines at most once a second (every step with verbose >= 2)."""

    def __init__(self, verbose, max_iter):
        self.verbose = verbose
        self.width = len(str(max_iter))
        self.start = self.last = time.perf_counter()
        self.printed = None

    def __call__(self, step, loss, final=False):
        if not self.verbose or self.printed == step:
            return
        now = time.perf_counter()
        if final or step == 0 or self.verbose >= 2 or now - self.last >= 1.0:
            self.last, self.printed = now, step
            print(
                f"step {step:>{self.width}d}  loss {loss:.6e}  elapsed {now - self.start:.2f}s",
                flush=True,
            )


class _Optimizer:
    """An update rule with state that can be saved and restored in place."""

    def arrays(self):
        """The state's arrays (saved and restored by value)."""
        return []

    def scalars(self):
        return {}

    def set_scalars(self, values):
        pass

    def saved(self):
        """Room for one copy of the state."""
        return [np.empty_like(a) for a in self.arrays()], {}

    def save(self, into):
        for dst, src in zip(into[0], self.arrays()):
            np.copyto(dst, src)
        into[1].clear()
        into[1].update(self.scalars())

    def restore(self, saved):
        for dst, src in zip(self.arrays(), saved[0]):
            np.copyto(dst, src)
        self.set_scalars(saved[1])


class _GD(_Optimizer):
    """theta <- theta - eta * grad; with momentum v <- mu v - eta grad, theta += v."""

    def __init__(self, params, groups, learning_rate, momentum):
        self.eta = learning_rate
        self.momentum = momentum
        self.velocity = {g: np.zeros_like(params[g]) for g in groups} if momentum else None

    def arrays(self):
        return list(self.velocity.values()) if self.momentum else []

    def update(self, spec, ws, groups, params):
        if not self.momentum:
            gradients(spec, ws, groups, out=params, alpha=-self.eta, beta=1.0)
            return
        gradients(spec, ws, groups, out=self.velocity, alpha=-self.eta, beta=self.momentum)
        for g in groups:
            params[g] += self.velocity[g]


class _Adam(_Optimizer):
    """Adam (Kingma & Ba) with the usual constants."""

    def __init__(self, params, groups, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
        self.eta, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.t = 0
        self.grad = {g: np.empty_like(params[g]) for g in groups}
        self.m = {g: np.zeros_like(params[g]) for g in groups}
        self.v = {g: np.zeros_like(params[g]) for g in groups}

    def arrays(self):
        return list(self.m.values()) + list(self.v.values())

    def scalars(self):
        return {"t": self.t}

    def set_scalars(self, values):
        self.t = values["t"]

    def update(self, spec, ws, groups, params):
        gradients(spec, ws, groups, out=self.grad)
        self.t += 1
        step = self.eta * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for g in groups:
            m, v, grad = self.m[g], self.v[g], self.grad[g]
            m *= self.beta1
            m += (1 - self.beta1) * grad
            v *= self.beta2
            v += (1 - self.beta2) * grad * grad
            params[g] -= step * m / (np.sqrt(v) + self.eps)


def optimizer_state_nbytes(solver, momentum, n_trained, itemsize):
    """Bytes of an optimizer's state and of the copy saved at every step."""
    if solver == "adam":
        return 5 * n_trained * itemsize  # gradient, two moments, two saved moments
    if solver == "gd" and momentum:
        return 2 * n_trained * itemsize  # velocity and its saved copy
    if solver == "lbfgs":
        # SciPy's L-BFGS-B: 2 m n corrections and about 5 n of work space, its
        # bounds and iterate, the float64 iterate and gradient made for it here,
        # and the accepted iterate kept at each step.
        return (2 * LBFGS_MEMORY + 12) * n_trained * 8 + n_trained * itemsize
    return 0


@replayable  # a width study may hand this run's result over, computed with other seeds
def train(
    params,
    spec: NetworkSpec,
    X,
    Y,
    sample_weight,
    groups,
    *,
    solver="gd",
    learning_rate=1e-3,
    momentum=0.0,
    max_iter=200,
    tol=0.0,
    n_iter_no_change=None,
    verbose=0,
    optimizer_state=None,
):
    """Train ``params`` in place on ``(X, Y)``; return a `TrainResult`.

    ``learning_rate`` is one step size, or one per step (an array of at least
    ``max_iter`` entries, from a schedule). ``optimizer_state`` carries momentum
    or Adam buffers between calls so that ``partial_fit`` and ``warm_start``
    continue the same run; pass a dict and it is filled. The state is kept when
    only the step size changes between calls (Adam's moments and step count,
    the heavy-ball velocity) and starts afresh when the solver changes or
    momentum is switched on or off. Whatever stops the run, ``params`` and
    ``optimizer_state`` are left at the last finished step. With
    ``n_iter_no_change`` the run stops when the loss has not improved by
    ``tol`` for that many consecutive steps of this call.
    """
    if solver == "lbfgs":
        return _train_lbfgs(
            params,
            spec,
            X,
            Y,
            sample_weight,
            groups,
            max_iter=max_iter,
            tol=tol,
            verbose=verbose,
        )
    dtype = params["W1"].dtype
    ws = Workspace(spec, X, dtype)
    resid = np.empty_like(Y)
    w = np.asarray(sample_weight, dtype=np.float64)
    N = Y.size
    scale = (sample_weight / N).astype(dtype)[:, None]
    lowest = lowest_layer(groups)
    w1 = "W1" in groups
    rates = np.broadcast_to(np.asarray(learning_rate, dtype=np.float64), (max_iter,))
    state = {} if optimizer_state is None else optimizer_state
    key = (solver, bool(momentum))
    if state.get("key") != key:
        state["key"] = key
        state["opt"] = (
            _GD(params, groups, None, momentum) if solver == "gd" else _Adam(params, groups, None)
        )
    opt = state["opt"]
    if solver == "gd":
        opt.momentum = momentum
    # ReLU, one output and the C kernels: forward pass, loss and the output
    # layer's backward pass in one (see `forward_top`).
    top = ws.top_fused
    if top:
        y_top = np.ascontiguousarray(Y[:, 0], dtype=dtype)
        w_top = np.ascontiguousarray(w)
        scale_top = np.ascontiguousarray(scale[:, 0])
        need_delta = lowest <= spec.depth

    def evaluate():  # the forward pass and loss at the current parameters
        if top:
            return 0.5 * forward_top(params, spec, ws, y_top, w_top, scale_top, need_delta) / N
        return _loss(forward(params, spec, X, ws), Y, w, resid)

    saved_params = {g: np.empty_like(params[g]) for g in groups}
    saved_opt = opt.saved()
    stateful = bool(saved_opt[0])  # momentum or Adam
    reference = max(0.5 * float(np.einsum("ij,ij->i", Y, Y, dtype=np.float64) @ w) / N, 0.0)
    printer = _Printer(verbose, max_iter)
    result = TrainResult()
    losses = result.losses
    best, no_improvement = np.inf, 0
    pending = -1  # ``len(losses)`` while a step that changed the parameters is unfinished
    try:
        loss = evaluate()
        check_starting_loss(loss, ws.out, Y)
        result.initial_loss = best = loss
        reference = max(reference, loss)
        printer(0, loss, final=max_iter == 0)
        for step in range(1, max_iter + 1):
            if top:
                backward(params, spec, ws, None, lowest, top_done=True, w1=w1)
            else:
                np.multiply(resid, scale, out=resid)
                backward(params, spec, ws, resid, lowest, w1=w1)
            _copy_groups(params, saved_params, groups)
            if stateful:
                opt.save(saved_opt)
            pending = len(losses)
            opt.eta = rate = float(rates[step - 1])
            opt.update(spec, ws, groups, params)
            loss = evaluate()
            if not np.isfinite(loss) or loss > DIVERGENCE_FACTOR * reference:
                _copy_groups(saved_params, params, groups)
                opt.restore(saved_opt)
                result.stop, result.diverged_loss = "diverged", loss
                result.diverged_rate = rate
                break
            result.learning_rates.append(rate)  # trimmed below if the step is undone
            losses.append(loss)  # the step is finished
            printer(step, loss, final=step == max_iter)
            if n_iter_no_change is not None:
                no_improvement = no_improvement + 1 if loss > best - tol else 0
                best = min(best, loss)
                if no_improvement > n_iter_no_change:
                    result.stop = "tol"
                    break
    except KeyboardInterrupt:
        if pending == len(losses):  # the step under way changed the parameters
            _copy_groups(saved_params, params, groups)
            opt.restore(saved_opt)
        result.stop = "interrupted"
    del result.learning_rates[len(losses) :]  # an interrupt between the two appends
    if result.initial_loss is not None:
        # ws.out is the output of the kept parameters unless a step was undone
        undone = result.stop == "diverged" or pending == len(losses)
        result.output_size = _largest(forward(params, spec, X, ws) if undone else ws.out)
    if losses and result.stop != "max_iter":
        printer(len(losses), losses[-1], final=True)
    return result


class _Diverged(Exception):
    pass


def _unpack(theta, params, groups, splits, shapes):
    """Write the flat L-BFGS iterate into the parameter arrays."""
    for g, part, shape in zip(groups, np.split(theta, splits), shapes):
        params[g][...] = part.reshape(shape)


def _save_theta(theta):
    """Keep a copy of an accepted L-BFGS iterate."""
    return np.array(theta, dtype=np.float64, copy=True)


def _train_lbfgs(params, spec, X, Y, sample_weight, groups, *, max_iter, tol, verbose):
    """L-BFGS-B through SciPy on the flattened trained groups (float64).

    SciPy's curvature pairs live inside one call: a continued run starts a new
    L-BFGS run from the current parameters.
    """
    dtype = params["W1"].dtype
    ws = Workspace(spec, X, dtype)
    resid = np.empty_like(Y)
    w = np.asarray(sample_weight, dtype=np.float64)
    scale = (sample_weight / Y.size).astype(dtype)[:, None]
    lowest = lowest_layer(groups)
    shapes = [params[g].shape for g in groups]
    sizes = [params[g].size for g in groups]
    splits = np.cumsum(sizes)[:-1]
    grad = {g: np.empty_like(params[g]) for g in groups}

    def unpack(theta):
        _unpack(theta, params, groups, splits, shapes)

    def fun(theta):
        unpack(theta)
        loss = _loss(forward(params, spec, X, ws), Y, w, resid)
        if not np.isfinite(loss):  # let the line search back off
            return np.inf, np.zeros_like(theta)
        np.multiply(resid, scale, out=resid)
        backward(params, spec, ws, resid, lowest)
        gradients(spec, ws, groups, out=grad)
        return loss, np.concatenate([grad[g].ravel() for g in groups]).astype(np.float64)

    result = TrainResult()
    losses = result.losses
    printer = _Printer(verbose, max_iter)
    theta0 = np.concatenate([params[g].ravel() for g in groups]).astype(np.float64)
    # (accepted iterate, number of losses recorded with it), replaced in one store
    accepted = [(theta0, 0)]
    try:
        loss0 = _loss(forward(params, spec, X, ws), Y, w, resid)
        check_starting_loss(loss0, ws.out, Y)
        result.initial_loss = loss0
        reference = max(loss0, 0.5 * float(np.einsum("ij,ij->i", Y, Y) @ w) / Y.size)
        printer(0, loss0, final=max_iter == 0)

        def callback(intermediate_result):
            loss = float(intermediate_result.fun)
            if not np.isfinite(loss) or loss > DIVERGENCE_FACTOR * reference:
                raise _Diverged(loss)
            theta = _save_theta(intermediate_result.x)
            result.learning_rates.append(np.nan)  # no step size; trimmed with losses
            losses.append(loss)
            accepted[0] = (theta, len(losses))  # the iteration is finished
            printer(len(losses), loss)

        if max_iter > 0:
            opt = minimize(
                fun,
                theta0,
                jac=True,
                method="L-BFGS-B",
                callback=callback,
                options={
                    "maxiter": max_iter,
                    "gtol": tol,
                    "maxfun": 20 * max_iter + 20,
                    "maxcor": LBFGS_MEMORY,
                },
            )
            if opt.status == 0:
                result.stop = "converged"
            elif opt.status != 1 or len(losses) < max_iter:
                result.stop, result.message = "stalled", str(opt.message)
    except _Diverged as exc:
        result.stop, result.diverged_loss = "diverged", exc.args[0]
    except KeyboardInterrupt:
        result.stop = "interrupted"
    theta, n_kept = accepted[0]
    del losses[n_kept:]
    del result.learning_rates[n_kept:]
    unpack(theta)
    if result.initial_loss is not None:
        result.output_size = _largest(forward(params, spec, X, ws))
    if losses:
        printer(len(losses), losses[-1], final=True)
    return result
