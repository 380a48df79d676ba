"""Training loops: pure functions on arrays, with history and stopping rules.

The loss is the user guide's

    L(theta) = 1/(2N) * sum_i w_i * ||f(x_i) - y_i||^2,     N = n * k,

with sample weights normalized to mean one by the caller. One loop serves
gradient descent (with optional heavy-ball momentum) and Adam; L-BFGS goes
through SciPy. Every loop

* records ``losses[t]``, the loss after ``t`` steps (``losses[0]`` at the start);
* stops on a non-finite or exploding loss and restores the last good iterate;
* stops on ``KeyboardInterrupt`` with the last finished step in place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from ._network import (
    NetworkSpec,
    Workspace,
    backward,
    forward,
    forward_top,
    gradients,
    lowest_layer,
)

__all__ = ["LEARNING_RATE_SAFETY", "TrainResult", "auto_learning_rate", "train"]

#: ``learning_rate="auto"`` takes this fraction of the stability limit
#: ``2 N / lambda_max``. One half gives ``eta = N / lambda_max``: the step that
#: removes the top eigendirection of the linearized residual in one step, with
#: room for the kernel to grow during training.
LEARNING_RATE_SAFETY = 0.5

#: A loss above this multiple of ``max(L(theta_0), L(0))`` counts as diverged.
DIVERGENCE_FACTOR = 1e4


def auto_learning_rate(lambda_max: float, n_targets: int) -> float:
    """The step ``SAFETY * 2 N / lambda_max`` used by ``learning_rate="auto"``."""
    if not np.isfinite(lambda_max) or lambda_max <= 0:
        raise ValueError(
            f"The largest NTK eigenvalue is {lambda_max!r}; no step size can be derived "
            "from it. Pass a numeric learning_rate."
        )
    return LEARNING_RATE_SAFETY * 2.0 * n_targets / lambda_max


@dataclass
class TrainResult:
    """What a training run did."""

    losses: list = field(default_factory=list)
    n_steps: int = 0
    stop: str = "max_iter"  # "max_iter", "tol", "diverged", "interrupted", "converged"
    diverged_loss: float | None = None


def _loss(out, Y, w, resid):
    np.subtract(out, Y, out=resid)
    per_sample = np.einsum("ij,ij->i", resid, resid, dtype=np.float64)
    return 0.5 * float(per_sample @ w) / resid.size


class _Printer:
    """Progress lines at most once a second (every step with verbose >= 2)."""

    def __init__(self, verbose, max_iter):
        self.verbose = verbose
        self.width = len(str(max_iter))
        self.start = self.last = time.perf_counter()

    def __call__(self, step, loss, final=False):
        if not self.verbose:
            return
        now = time.perf_counter()
        if final or step == 0 or self.verbose >= 2 or now - self.last >= 1.0:
            self.last = now
            print(
                f"step {step:>{self.width}d}  loss {loss:.6e}  elapsed {now - self.start:.2f}s",
                flush=True,
            )


class _GD:
    """theta <- theta - eta * grad, fused into the gradient's matrix product."""

    def __init__(self, params, groups, learning_rate, momentum):
        self.eta = learning_rate
        self.momentum = momentum
        self.velocity = {g: np.zeros_like(params[g]) for g in groups} if momentum else None

    def update(self, spec, ws, groups, params):
        if not self.momentum:
            gradients(spec, ws, groups, out=params, alpha=-self.eta, beta=1.0)
            return
        gradients(spec, ws, groups, out=self.velocity, alpha=-self.eta, beta=self.momentum)
        for g in groups:
            params[g] += self.velocity[g]


class _Adam:
    """Adam (Kingma & Ba) with the usual constants."""

    def __init__(self, params, groups, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
        self.eta, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.t = 0
        self.grad = {g: np.empty_like(params[g]) for g in groups}
        self.m = {g: np.zeros_like(params[g]) for g in groups}
        self.v = {g: np.zeros_like(params[g]) for g in groups}

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

    ``optimizer_state`` carries momentum or Adam buffers between calls so that
    ``partial_fit`` and ``warm_start`` continue the same run; pass a dict and
    it is filled.
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
    state = {} if optimizer_state is None else optimizer_state
    key = (solver, learning_rate, momentum)
    if state.get("key") != key:
        state["key"] = key
        state["opt"] = (
            _GD(params, groups, learning_rate, momentum)
            if solver == "gd"
            else _Adam(params, groups, learning_rate)
        )
    opt = state["opt"]
    # ReLU, one output and the C kernels: forward pass, loss and the output
    # layer's backward pass in one (see `forward_top`).
    top = ws.top_fused
    if top:
        y_top = np.ascontiguousarray(Y[:, 0], dtype=dtype)
        w_top = np.ascontiguousarray(w)
        scale_top = np.ascontiguousarray(scale[:, 0])
        need_delta = lowest <= spec.depth
    prev = {g: params[g].copy() for g in groups}
    reference = max(0.5 * float(np.einsum("ij,ij->i", Y, Y, dtype=np.float64) @ w) / N, 0.0)
    printer = _Printer(verbose, max_iter)
    result = TrainResult()
    best, no_improvement = np.inf, 0
    updating = False
    try:
        for step in range(max_iter + 1):
            if top:
                sq = forward_top(params, spec, ws, y_top, w_top, scale_top, need_delta)
                loss = 0.5 * sq / N
            else:
                loss = _loss(forward(params, spec, X, ws), Y, w, resid)
            if step == 0:
                reference = max(reference, loss)
            if not np.isfinite(loss) or loss > DIVERGENCE_FACTOR * reference:
                if step == 0:
                    raise FloatingPointError(
                        f"The loss at the starting parameters is {loss!r}; check the "
                        "scale of X and y and the initialization scales."
                    )
                for g in groups:
                    np.copyto(params[g], prev[g])
                state.clear()  # momentum or moments of a diverged run are no use
                result.stop, result.diverged_loss = "diverged", loss
                result.n_steps = step - 1
                break
            result.losses.append(loss)
            result.n_steps = step
            printer(step, loss, final=step == max_iter)
            if step == max_iter:
                break
            if n_iter_no_change is not None:
                no_improvement = no_improvement + 1 if loss > best - tol else 0
                best = min(best, loss)
                if no_improvement > n_iter_no_change:
                    result.stop = "tol"
                    break
            if top:
                backward(params, spec, ws, None, lowest, top_done=True, w1=w1)
            else:
                np.multiply(resid, scale, out=resid)
                backward(params, spec, ws, resid, lowest, w1=w1)
            updating = True
            for g in groups:
                np.copyto(prev[g], params[g])
            opt.update(spec, ws, groups, params)
            updating = False
    except KeyboardInterrupt:
        if updating:  # the interrupted step is incomplete: return to the last finished one
            for g in groups:
                np.copyto(params[g], prev[g])
        result.stop = "interrupted"
    return result


def _train_lbfgs(params, spec, X, Y, sample_weight, groups, *, max_iter, tol, verbose):
    """L-BFGS-B through SciPy on the flattened trained groups (float64)."""
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
        for g, part, shape in zip(groups, np.split(theta, splits), shapes):
            params[g][...] = part.reshape(shape)

    def fun(theta):
        unpack(theta)
        loss = _loss(forward(params, spec, X, ws), Y, w, resid)
        np.multiply(resid, scale, out=resid)
        backward(params, spec, ws, resid, lowest)
        gradients(spec, ws, groups, out=grad)
        return loss, np.concatenate([grad[g].ravel() for g in groups]).astype(np.float64)

    theta0 = np.concatenate([params[g].ravel() for g in groups]).astype(np.float64)
    result = TrainResult()
    result.losses.append(fun(theta0)[0])
    last = {"theta": theta0.copy()}
    printer = _Printer(verbose, max_iter)
    printer(0, result.losses[0])

    def callback(intermediate_result):
        last["theta"] = intermediate_result.x.copy()
        result.losses.append(float(intermediate_result.fun))
        result.n_steps += 1
        printer(result.n_steps, result.losses[-1])

    try:
        opt = minimize(
            fun,
            theta0,
            jac=True,
            method="L-BFGS-B",
            callback=callback,
            options={"maxiter": max_iter, "gtol": tol, "maxfun": 20 * max_iter + 20},
        )
        result.stop = "converged" if opt.status == 0 else "max_iter"
    except KeyboardInterrupt:
        result.stop = "interrupted"
    unpack(last["theta"])
    return result
