"""Many seeds of one shallow network on one input feature, trained at once.

A width study fits the same network with many ``random_state`` values on the
same data. For networks that the exact 1-d core computes (`_network_1d`), the
seeds' units can share one sorted copy of the samples: one pass over arrays
with a leading seed axis replaces one small pass per seed, whose cost is
mostly NumPy's fixed cost per call. `train_seeds` runs that batched training
for the plain runs it can reproduce (gradient descent with or without
momentum, or Adam, at a fixed step, for ``max_iter`` steps, from a fresh
start); each seed's trajectory is what a standalone fit computes, up to
rounding.

The estimator stays one network per ``fit``: a batched trajectory is handed
to that seed's own ``fit`` by `replaying`, and the training loop
(`_optim.train`, decorated with `replayable`) returns it instead of training
when, and only when, it is asked for exactly that run (the same network,
initial parameters, data, solver, step and number of steps). Every other call
trains as usual, so the fitted estimator is the estimator's own work in all
its attributes. A seed whose batched run would have diverged, or stopped
early, is not replayed: its fit trains on its own.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from dataclasses import dataclass

import numpy as np

from . import _network_1d

__all__ = ["batch_trajectories", "probe", "replayable", "replaying", "train_seeds"]

#: The loop's rule for a diverged run (`_optim.DIVERGENCE_FACTOR`), repeated
#: here to avoid an import cycle; a test checks that they agree.
DIVERGENCE_FACTOR = 1e4
#: Adam's constants, as in `_optim._Adam`.
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8

#: Private switch for tests and benchmarks: False fits every seed on its own.
ENABLED = True

_REPLAY: contextvars.ContextVar = contextvars.ContextVar("gdnet_replay", default=None)


@dataclass
class Trajectory:
    """One seed's batched run: what `_optim.train` would have computed."""

    spec: object
    groups: tuple
    solver: str
    learning_rate: np.ndarray  # the step size of each step
    momentum: float
    max_iter: int
    X: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray
    initial: dict
    final: dict
    losses: list
    initial_loss: float
    output_size: float
    opt_arrays: dict

    def matches(self, params, spec, X, Y, sample_weight, groups, kwargs) -> bool:
        known = {"solver", "learning_rate", "momentum", "max_iter", "tol", "n_iter_no_change"}
        known |= {"verbose", "optimizer_state"}
        if any(key not in known and value is not None for key, value in kwargs.items()):
            return False  # a setting this replay knows nothing of
        if (
            kwargs.get("solver", "gd") != self.solver
            or not _same_rates(kwargs.get("learning_rate"), self.learning_rate)
            or kwargs.get("momentum", 0.0) != self.momentum
            or kwargs.get("max_iter") != self.max_iter
            or kwargs.get("n_iter_no_change") is not None
            or kwargs.get("verbose", 0)
            or kwargs.get("optimizer_state")  # a continued run
            or tuple(groups) != self.groups
            or spec != self.spec
        ):
            return False
        return (
            all(np.array_equal(params[g], self.initial[g]) for g in params)
            and _same(X, self.X)
            and _same(Y, self.Y)
            and _same(sample_weight, self.sample_weight)
        )

    def apply(self, params, optimizer_state):
        """Leave ``params`` and ``optimizer_state`` as the real run would; its result."""
        from . import _optim

        for g in self.groups:
            params[g][...] = self.final[g]
        if optimizer_state is not None:
            optimizer_state["key"] = (self.solver, bool(self.momentum))
            last_rate = float(self.learning_rate[-1])
            if self.solver == "adam":
                opt = _optim._Adam(params, self.groups, last_rate)
                opt.t = self.max_iter
                for g in self.groups:
                    opt.m[g][...] = self.opt_arrays["m"][g]
                    opt.v[g][...] = self.opt_arrays["v"][g]
            else:
                opt = _optim._GD(params, self.groups, last_rate, self.momentum)
                for g in self.groups if self.momentum else ():
                    opt.velocity[g][...] = self.opt_arrays["velocity"][g]
            optimizer_state["opt"] = opt
        result = _optim.TrainResult()
        result.losses = list(self.losses)
        result.learning_rates = [float(rate) for rate in self.learning_rate]
        result.initial_loss = self.initial_loss
        result.output_size = self.output_size
        return result


def _same_rates(rates, expected):
    """Whether ``rates`` (a step size, or one per step) are the run's ``expected`` ones."""
    if rates is None:
        return False
    rates = np.asarray(rates, dtype=np.float64)
    if rates.shape not in ((), expected.shape):
        return False
    return np.array_equal(np.broadcast_to(rates, expected.shape), expected)


def _same(a, b):
    return a is b or (a.shape == b.shape and np.array_equal(a, b))


class _Recorded(Exception):  # noqa: N818 - not an error: carries a probe's record
    """Raised by a probe's training call, with its arguments, to end the fit there."""


def replayable(train):
    """Let `replaying` stand in for ``train`` on the one run it reproduces."""

    @functools.wraps(train)
    def train_or_replay(params, spec, X, Y, sample_weight, groups, **kwargs):
        run = _REPLAY.get()
        if run is _PROBE:
            initial = {g: p.copy() for g, p in params.items()}
            raise _Recorded(initial, spec, X, Y, sample_weight, tuple(groups), kwargs)
        if run is not None and run.matches(params, spec, X, Y, sample_weight, groups, kwargs):
            return run.apply(params, kwargs.get("optimizer_state"))
        return train(params, spec, X, Y, sample_weight, groups, **kwargs)

    return train_or_replay


_PROBE = object()


def probe(fit):
    """The arguments of the training call that ``fit()`` makes, without training.

    The fit ends at that call (a fit is a transaction: the estimator is left as
    it was). None if the fit fails before, or makes no such call.
    """
    token = _REPLAY.set(_PROBE)
    try:
        fit()
    except _Recorded as record:
        return record.args
    except Exception:
        return None
    finally:
        _REPLAY.reset(token)
    return None


#: Seeds trained in one batch: at most this many entries in the passes' largest
#: arrays (``S * 2k * 2(n + 1)`` float64, about 1.3 MB), so that they stay in
#: cache. With 100 seeds at n = 2000 in one batch (6.4 MB arrays) the batched
#: run took 1.7 times as long as the seeds fitted one by one
#: (``benchmarks/bench_1d.py``); in batches of 20 it was 1.4 to 1.8 times faster.
BATCH_MAX_ENTRIES = 160_000


def trains_through_the_loop(estimator) -> bool:
    """Whether ``estimator`` (or a pipeline's last step) is a network of this package.

    Only their fits reach `_optim.train`, where a probe stops: probing any other
    estimator would fit it in full.
    """
    from ._gd_network import GDNetworkRegressor

    if not ENABLED:
        return False
    final = getattr(estimator, "_final_estimator", estimator)
    return isinstance(final, GDNetworkRegressor)


def batch_trajectories(fits):
    """Trajectories for the fits that can be trained together, None for the others.

    None in place of the list when the first fit's run is not one the batched
    loop computes (the others, of the same estimator, are not either).

    ``fits`` are zero-argument callables, one standalone ``fit`` per seed (of
    the same estimator and data). Each is probed for its training call; the
    calls that the batched loop reproduces and that agree in everything but
    the initial parameters and the step are trained together, in batches of
    `BATCH_MAX_ENTRIES`.
    """
    out = [None] * len(fits)
    first = probe(fits[0]) if len(fits) > 1 else None
    if first is None or not _reproducible(first):
        return None  # the others would not be either: no more probing
    records = [first] + [probe(fit) for fit in fits[1:]]
    groups_of = {}
    for i, record in enumerate(records):
        if record is None or not _reproducible(record):
            continue
        _, spec, X, Y, w, groups, kwargs = record
        key = (spec, groups, kwargs.get("solver", "gd"), kwargs.get("momentum", 0.0))
        key += (kwargs["max_iter"],)
        groups_of.setdefault(key, []).append(i)
    for members in groups_of.values():
        if len(members) < 2:
            continue  # nothing to share: the fit trains on its own
        _, spec, X, Y, w, groups, kwargs = records[members[0]]
        # every fit of a study sees the same arrays once validated, but each
        # validation makes its own copy: batch only what is equal
        members = [
            i for i in members if all(_same(a, b) for a, b in zip(records[i][2:5], (X, Y, w)))
        ]
        largest = max(1, BATCH_MAX_ENTRIES // (4 * spec.n_outputs * (X.shape[0] + 1)))
        n_batches = -(-len(members) // largest)
        per_batch = -(-len(members) // n_batches)  # batches of equal size
        for start in range(0, len(members), per_batch):
            chunk = members[start : start + per_batch]
            runs = train_seeds(
                spec,
                X,
                Y,
                w,
                groups,
                [records[i][0] for i in chunk],
                solver=kwargs.get("solver", "gd"),
                learning_rate=np.array(
                    [_rates(records[i][6]["learning_rate"], kwargs["max_iter"]) for i in chunk]
                ),
                momentum=kwargs.get("momentum", 0.0),
                max_iter=kwargs["max_iter"],
            )
            for i, run in zip(chunk, runs):
                out[i] = run
    return out


def _rates(learning_rate, max_iter):
    return np.broadcast_to(np.asarray(learning_rate, dtype=np.float64), (max_iter,))


def _reproducible(record) -> bool:
    """Whether the batched loop computes this training call's run."""
    _, spec, X, Y, w, groups, kwargs = record
    known = {"solver", "learning_rate", "momentum", "max_iter", "tol", "n_iter_no_change"}
    known |= {"verbose", "optimizer_state"}
    return (
        _network_1d.computes(spec)
        and _network_1d.FORCE != "dense"
        and not any(key not in known and value is not None for key, value in kwargs.items())
        and kwargs.get("solver", "gd") in ("gd", "adam")
        and kwargs.get("n_iter_no_change") is None
        and not kwargs.get("verbose", 0)
        and not kwargs.get("optimizer_state")
        and kwargs.get("max_iter", 0) > 0
        and kwargs.get("learning_rate") is not None
        and np.ndim(kwargs["learning_rate"]) <= 1
        and isinstance(X, np.ndarray)
    )


@contextlib.contextmanager
def replaying(trajectory):
    """Within the block, a training call for ``trajectory``'s run returns it."""
    token = _REPLAY.set(trajectory)
    try:
        yield
    finally:
        _REPLAY.reset(token)


# --- the batched passes ----------------------------------------------------------------


class _Batch:
    """The passes of ``S`` networks of one specification on one shared input."""

    def __init__(self, spec, X, dtype, S):
        self.spec, self.S = spec, S
        self.ws = _network_1d.Workspace(spec, X, dtype)

    def forward(self, P):
        """Outputs of every seed, sorted samples: shape ``(S, k, n)`` (float64)."""
        spec, ws = self.spec, self.ws
        (a1, c1), (a2, c2) = spec.multipliers
        # views of the parameters, which the update changes only after `gradients`
        u = P["W1"][:, 0] if a1 == 1.0 else P["W1"][:, 0] * a1
        v = P["b1"] if c1 == 1.0 else c1 * P["b1"]
        alpha = np.swapaxes(P["W2"], 1, 2).astype(np.float64)  # (S, k, m)
        if a2 != 1.0:
            alpha *= a2
        self.u, self.v, self.alpha = u, v, alpha
        b2 = c2 * P["b2"].astype(np.float64)
        f, self.col, self.any_neg, self.finite = _network_1d._outputs(ws, u, v, alpha, b2)
        return f

    def backward(self, delta):
        """Per seed and unit, the sums of ``delta`` (``(S, k, n)``, sorted) over active samples."""
        self.G, self.T0 = _network_1d._sums_over_active(self.ws, delta, self.col, self.any_neg)

    def _over_outputs(self, G):
        """``sum_j alpha[:, j] * G[:, j]`` (one product with one output: einsum's is slow)."""
        if G.shape[1] == 1:
            return self.alpha[:, 0] * G[:, 0]
        return np.einsum("sjr,sjr->sr", self.alpha, G)

    def gradients(self, groups):
        """``dLoss/dg`` of every seed, shaped like the batched parameters."""
        (a1, c1), (a2, c2) = self.spec.multipliers
        k = self.ws.k
        G0, G1 = self.G[:, :k], self.G[:, k:]
        out = {}
        for g in groups:
            if g == "W1":
                out[g] = (a1 * self._over_outputs(G1))[:, None, :]
            elif g == "b1":
                out[g] = c1 * self._over_outputs(G0)
            elif g == "W2":
                grad = self.u[:, None, :] * G1
                grad += self.v[:, None, :] * G0
                grad *= a2
                out[g] = np.swapaxes(grad, 1, 2)
            else:
                out[g] = c2 * self.T0
        return out


def train_seeds(
    spec, X, Y, sample_weight, groups, initials, *, solver, learning_rate, momentum, max_iter
):
    """Train the seeds whose initial parameters are ``initials`` together.

    ``learning_rate`` holds the step sizes of each seed's steps, shape
    ``(S, max_iter)``. Returns one `Trajectory` per
    seed, or None for a seed whose run diverged (its fit must train on its own,
    which reproduces the divergence exactly).
    """
    S = len(initials)
    lr = np.asarray(learning_rate, dtype=np.float64)
    dtype = initials[0]["W1"].dtype
    batch = _Batch(spec, X, dtype, S)
    ws = batch.ws
    P = {g: np.stack([p[g] for p in initials]) for g in initials[0]}
    order = ws.order
    Ys = np.ascontiguousarray(Y[order].T, dtype=dtype)  # (k, n), sorted
    w = np.asarray(sample_weight, dtype=np.float64)[order]
    N = Y.size
    scale = (w / N).astype(dtype)
    reference = 0.5 * float(np.einsum("ij,ij->i", Y, Y, dtype=np.float64) @ sample_weight) / N

    def per_seed(a):  # a step size per seed, broadcast against group g
        return {g: a.reshape((S,) + (1,) * (P[g].ndim - 1)) for g in groups}

    spline = _network_1d._kernels()

    def evaluate():
        """Outputs (float64), residuals and losses per seed, as `_optim._loss`.

        With the C kernels also the weighted residual that the next step's
        `backward` takes (None without them: the loop forms it).
        """
        f = batch.forward(P)
        if spline is not None:  # (its sum of squares in an order of its own)
            resid, delta, loss = np.empty(f.shape, dtype=dtype), np.empty(f.shape), np.empty(S)
            spline.residual(f, Ys, scale, w, resid, delta, loss)
        else:
            resid, delta = f.astype(dtype) - Ys, None
            loss = np.einsum("skn,skn,n->s", resid, resid, w, dtype=np.float64)
        loss = 0.5 * loss / N
        return f, resid, delta, loss

    f, resid, delta, loss = evaluate()
    initial_loss = loss.copy()
    alive = np.isfinite(loss)
    reference = np.maximum(reference, loss)
    history = np.empty((max_iter, S))
    state = {}
    if solver == "adam":
        state["m"] = {g: np.zeros_like(P[g]) for g in groups}
        state["v"] = {g: np.zeros_like(P[g]) for g in groups}
    elif momentum:
        state["velocity"] = {g: np.zeros_like(P[g]) for g in groups}
    for t in range(1, max_iter + 1):
        eta = per_seed(lr[:, t - 1])
        if delta is None:
            resid *= scale
            delta = resid.astype(np.float64)
        batch.backward(delta)
        grads = batch.gradients(groups)
        saved = {g: P[g].copy() for g in groups}
        if solver == "adam":
            step_size = lr[:, t - 1] * np.sqrt(1 - BETA2**t) / (1 - BETA1**t)
            step = per_seed(step_size)
            for g in groups:
                if spline is not None:  # the same operations, in one pass
                    grad = np.ascontiguousarray(grads[g], dtype=np.float64)
                    spline.adam(
                        P[g], state["m"][g], state["v"][g], grad, step_size, BETA1, BETA2, EPS
                    )
                    continue
                m, v, grad = state["m"][g], state["v"][g], grads[g].astype(dtype)
                m *= BETA1
                m += (1 - BETA1) * grad
                v *= BETA2
                v += (1 - BETA2) * grad * grad
                P[g] -= step[g] * m / (np.sqrt(v) + EPS)
        elif momentum:
            for g in groups:
                vel = state["velocity"][g]
                vel *= momentum
                vel += (-eta[g] * grads[g]).astype(dtype)
                P[g] += vel
        else:
            for g in groups:
                P[g] += (-eta[g] * grads[g]).astype(dtype)
        f, resid, delta, loss = evaluate()
        bad = ~np.isfinite(loss) | (loss > DIVERGENCE_FACTOR * reference)
        if bad.any():  # these seeds stop here; keep their arrays finite for the others
            alive &= ~bad
            for g in groups:
                P[g][bad] = saved[g][bad]
                for arrays in state.values():
                    arrays[g][bad] = 0.0
            resid[bad] = 0.0
            if delta is not None:
                delta[bad] = 0.0
        history[t - 1] = loss
    out_f = f.astype(dtype)
    size = np.abs(out_f).max(axis=(1, 2)) if out_f.size else np.zeros(S)
    runs = []
    for s in range(S):
        if not alive[s]:
            runs.append(None)
            continue
        runs.append(
            Trajectory(
                spec=spec,
                groups=tuple(groups),
                solver=solver,
                learning_rate=lr[s].copy(),
                momentum=momentum,
                max_iter=max_iter,
                X=X,
                Y=Y,
                sample_weight=sample_weight,
                initial=initials[s],
                final={g: P[g][s] for g in groups},
                losses=[float(x) for x in history[:, s]],
                initial_loss=float(initial_loss[s]),
                output_size=float(size[s]),
                opt_arrays={
                    name: {g: arrays[g][s] for g in groups} for name, arrays in state.items()
                },
            )
        )
    return runs
