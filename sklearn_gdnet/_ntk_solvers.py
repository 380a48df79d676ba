"""The solvers of NTKRegressor: pure functions of arrays, chosen by ``solver``.

Every solver computes the same thing, the linearized training of the network
family on the training kernel ``T`` with sample weights ``w`` (normalized to
mean one, ``W = diag(w)``, ``N = n k``): after ``k`` gradient-descent steps,
after gradient flow, or converged, with the ridge ``alpha`` at every time.
With an eigendecomposition of the weighted kernel the predictions are

    f(x) = p(x) . (g(lambda) * beta),

where ``g`` is `spectral_factor` and ``p(x)``, ``lambda``, ``beta`` come from

* ``"eigh"``: ``W^1/2 T W^1/2 = V diag(lambda) V^T`` (``n x n``),
  ``p(x) = V^T W^1/2 T(X, x)``, ``beta = V^T W^1/2 y``;
* ``"nystroem"`` and ``"jacobian"``: features ``phi`` with ``T ~ Phi Phi^T``
  (exact for the Jacobian of a finite network, the Nystroem approximation
  otherwise) and ``Phi^T W Phi = U diag(lambda) U^T`` (``r x r``, accumulated
  over row tiles so that the ``n x r`` matrix ``Phi`` is never held),
  ``p(x) = U^T phi(x)``, ``beta = U^T Phi^T W y``. The nonzero eigenvalues are
  those of ``W^1/2 Phi Phi^T W^1/2``, and ``Phi^T W^1/2 g(W^1/2 Phi Phi^T W^1/2)
  = g(Phi^T W Phi) Phi^T W^1/2``, so this is the exact solution for the
  approximated kernel.

``"cholesky"`` solves the converged problem ``(T + alpha W^-1) c = y`` by a
Cholesky factorization, as :class:`~sklearn.kernel_ridge.KernelRidge` does.

Nothing here reads an estimator: `FittedKernels` freezes the kernel
configuration of one fit, and the solution objects hold what prediction needs.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, sparse
from scipy.linalg import blas
from sklearn import get_config
from sklearn.utils import check_random_state, gen_batches

from . import _memory, _threads
from ._activations import MAX_SERIES_TERMS, HermiteSeriesDual
from ._network import (
    NetworkSpec,
    Workspace,
    backward,
    empirical_ntk,
    forward,
    init_params,
    lowest_layer,
)
from ._optim import auto_learning_rate
from ._threads import n_threads, thread_policy
from .exceptions import DivergenceWarning
from .kernels import TILE, _kernel_diagonals, _kernel_matrices, _Recursion

__all__ = [
    "AUTO_EXACT_MAX_SAMPLES",
    "Dynamics",
    "FittedKernels",
    "choose_solver",
    "jacobian_features",
    "leverage_scores",
    "nystroem_centers",
    "predict_covariance",
    "plan_fit",
    "predict_tiles",
    "solve_cholesky",
    "solve_eigh",
    "solve_jacobian",
    "solve_nystroem",
    "solver_memory",
    "spectral_factor",
]

EPS = np.finfo(np.float64).eps
#: Peak memory of the exact solvers in units of one ``n x n`` float64 matrix: the
#: kernel and the eigenvectors (LAPACK works in place on the kernel), plus slack
#: for LAPACK's workspace (measured by ``benchmarks/bench_ntk.py``).
EXACT_MEMORY_FACTOR = 2.5
#: Peak memory of the low-rank solvers in units of one ``r x r`` float64 matrix:
#: the normalization of the centers, the accumulated ``Phi^T W Phi``, its
#: eigenvectors and the projection formed from them.
LOW_RANK_MEMORY_FACTOR = 4.0
#: ``solver="auto"`` uses an exact solver up to these sizes (when it fits in
#: memory): beyond them a Cholesky factorization (about ``n^3 / 3`` flops) and
#: a full eigendecomposition (about ``9 n^3`` flops) take minutes on a laptop.
AUTO_EXACT_MAX_SAMPLES = {"cholesky": 30_000, "eigh": 10_000}


# --- the spectral factor ---------------------------------------------------------------


def spectral_factor(lam, *, n_steps, learning_rate, dynamics, n_eff, alpha, cutoff=None):
    """The function ``g`` of the eigenvalues: ``f(x) = p(x) . (g(lambda) * beta)``.

    With ``mu = lambda + alpha`` (the ridge acts at every time: gradient
    descent on the loss plus ``alpha / (2N) ||theta - theta_0||^2`` of the
    linearized network):

    * converged (``n_steps`` None or infinite): ``1 / mu``; ``0`` where
      ``mu = 0`` (the pseudo-inverse).
    * ``"gd"``: ``(1 - (1 - eta mu / N)^k) / mu``, computed as
      ``-expm1(k log1p(-eta mu / N)) / mu`` while ``eta mu / N < 1`` (no
      cancellation as ``mu -> 0``), with the limit ``k eta / N`` at ``mu = 0``.
      Beyond the stable range the power is evaluated directly: its values
      grow like ``|1 - eta mu / N|^k``.
    * ``"flow"``: ``(1 - exp(-t mu / N)) / mu`` with ``t = eta k`` and the limit
      ``t / N``; ``k`` may be any non-negative real here.

    Eigenvalues at or below ``cutoff`` (when given) are treated as zero
    *and their directions dropped* (``g = 0``): they are below the numerical
    resolution of the kernel, and an exact null direction of the kernel
    contributes nothing to a prediction, whatever ``g`` is.
    """
    lam = np.maximum(np.asarray(lam, dtype=np.float64), 0.0)
    mu = lam + alpha
    positive = mu > 0
    safe = np.where(positive, mu, 1.0)
    with np.errstate(all="ignore"):
        if n_steps is None or math.isinf(n_steps):
            g = np.where(positive, 1.0 / safe, 0.0)
        elif dynamics == "flow":
            t = float(learning_rate) * float(n_steps)
            g = np.where(positive, -np.expm1(-t * mu / n_eff) / safe, t / n_eff)
        else:
            k = float(n_steps)
            c = float(learning_rate) * mu / n_eff
            stable = -np.expm1(k * np.log1p(-np.minimum(c, 1.0))) / safe
            direct = (1.0 - (1.0 - c) ** k) / safe
            g = np.where(c < 1.0, stable, direct)
            g = np.where(positive, g, k * float(learning_rate) / n_eff)
    if cutoff is not None:
        g = np.where(lam > cutoff, g, 0.0)
    return g


@dataclass(frozen=True)
class Dynamics:
    """The training the predictions describe (frozen at fit)."""

    kind: str  # "gd" or "flow"
    learning_rate: object  # "auto" or a positive float
    alpha: float  # ridge for weights normalized to mean one
    n_eff: float  # N = n_samples * n_outputs
    n_steps: object  # the fitted step count; None: converged


class Spectrum:
    """Eigenvalues, coefficients and the step size of one eigendecomposition.

    ``n_rows`` (the number of training rows) sets the numerical resolution
    ``n eps lambda_max`` below which eigenvalues count as zero when
    ``alpha = 0``, the rule of the converged minimum-norm solution.
    """

    def __init__(self, lam, beta, dynamics: Dynamics, n_rows, *, n_structural_zeros=None):
        if not np.all(np.isfinite(beta)):
            raise ValueError(
                "The targets overflow float64 in the solve (their projections on the "
                "kernel's eigenvectors are not finite). Scale y, for example with "
                "sklearn.compose.TransformedTargetRegressor."
            )
        self.lam = lam
        self.beta = beta
        self.dynamics = dynamics
        self.lam_max = max(float(lam[-1]), 0.0) if lam.size else 0.0
        self.cutoff = n_rows * EPS * self.lam_max if dynamics.alpha == 0 else None
        # Exact zeros of known origin (zero weights): no reason to warn.
        self.n_structural_zeros = n_structural_zeros
        self.learning_rate = self._resolve_learning_rate()

    def _resolve_learning_rate(self):
        dyn = self.dynamics
        if dyn.learning_rate != "auto":
            return float(dyn.learning_rate)
        top = self.lam_max + dyn.alpha
        if dyn.n_steps is None and not (np.isfinite(top) and top > 0):
            return None  # converged: no step is needed, and none can be derived
        # GDNetworkRegressor's rule (weights normalized to mean one), on the
        # largest eigenvalue of the regularized dynamics
        return auto_learning_rate(top, dyn.n_eff)

    def factor(self, n_steps):
        if n_steps is not None and not math.isinf(n_steps) and self.learning_rate is None:
            raise ValueError(
                "Predictions after a number of steps need a step size, and none can be "
                f"derived from the largest eigenvalue {self.lam_max!r} of the training "
                "kernel. Fit with a numeric learning_rate."
            )
        dyn = self.dynamics
        return spectral_factor(
            self.lam,
            n_steps=n_steps,
            learning_rate=self.learning_rate,
            dynamics=dyn.kind,
            n_eff=dyn.n_eff,
            alpha=dyn.alpha,
            cutoff=self.cutoff,
        )

    def check_steps(self, n_steps, stacklevel=4):
        """Warn about unstable or unresolved dynamics; refuse what overflows.

        Returns the factor ``g`` for ``n_steps``.
        """
        dyn = self.dynamics
        g = self.factor(n_steps)
        finite_time = n_steps is not None and not math.isinf(n_steps)
        top = self.lam_max + dyn.alpha
        unstable = (
            dyn.kind == "gd"
            and n_steps is not None
            and self.learning_rate is not None
            and self.learning_rate * top > 2.0 * dyn.n_eff
        )
        if unstable and not finite_time:
            raise ValueError(
                f"Gradient descent with learning_rate={self.learning_rate:.4g} diverges "
                f"(above 2 N / lambda_max = {2.0 * dyn.n_eff / top:.4g}): it has no "
                "converged limit."
            )
        if unstable:
            rate = self.learning_rate * top / dyn.n_eff
            if not (np.all(np.isfinite(g)) and np.all(np.isfinite(g[:, None] * self.beta))):
                raise ValueError(
                    f"The linearized gradient descent diverges (learning_rate * "
                    f"lambda_max / N = {rate:.4g} > 2) and its predictions after "
                    f"n_steps={n_steps} steps overflow float64: they grow like "
                    f"|1 - eta lambda_max / N|^n_steps = 10^{n_steps * np.log10(rate - 1):.4g}. "
                    f"Use a learning_rate below the stability limit 2 N / lambda_max = "
                    f"{2.0 * dyn.n_eff / top:.4g}, or fewer steps."
                )
            warnings.warn(
                f"learning_rate={self.learning_rate:.4g} exceeds the stability limit "
                f"2 N / lambda_max = {2.0 * dyn.n_eff / top:.4g}: the linearized "
                "gradient descent diverges and its predictions grow like "
                "|1 - eta lambda_max / N|^n_steps.",
                DivergenceWarning,
                stacklevel=stacklevel,
            )
        if self.n_structural_zeros is not None and self.cutoff is not None:
            n_below = int(np.sum(self.lam <= self.cutoff))
            if n_below > self.n_structural_zeros and self._resolves_below_cutoff(n_steps):
                rank = self.lam.size - n_below
                warnings.warn(
                    f"The training kernel is singular (numerical rank {rank} of "
                    f"{self.lam.size}, e.g. duplicate or nearly duplicate points): "
                    + (
                        "the converged interpolant is not unique. Returning the "
                        "minimum-norm solution"
                        if not finite_time
                        else f"after n_steps={n_steps} the dynamics have trained "
                        "directions whose eigenvalues are below the kernel's numerical "
                        "resolution n eps lambda_max; they are treated as zero, as in "
                        "the converged minimum-norm solution"
                    )
                    + "; set alpha > 0 for kernel ridge.",
                    linalg.LinAlgWarning,
                    stacklevel=stacklevel,
                )
        return g

    def _resolves_below_cutoff(self, n_steps):
        if n_steps is None or math.isinf(n_steps):
            return True
        # The dropped directions would have moved by about 1 - exp(-t cutoff / N).
        return self.learning_rate * float(n_steps) * self.cutoff >= self.dynamics.n_eff


# --- kernels of one fit ------------------------------------------------------------------


def _dense(X):
    return np.asarray(X.toarray() if sparse.issparse(X) else X, dtype=np.float64)


def tile_budget(working_memory=None) -> int:
    """Bytes for one tile: ``working_memory`` MiB, or scikit-learn's setting."""
    mib = get_config()["working_memory"] if working_memory is None else working_memory
    return int(float(mib) * 2**20)


def rows_per_tile(row_bytes, budget, n_rows):
    """Rows of a tile whose ``row_bytes`` per row stay within ``budget`` (at least one)."""
    return int(max(1, min(max(n_rows, 1), budget // max(int(row_bytes), 1))))


@dataclass(frozen=True)
class FiniteNetwork:
    """One random network of a finite width: its parameters and trained groups."""

    params: dict
    spec: NetworkSpec
    groups: tuple

    @staticmethod
    def n_parameters(spec: NetworkSpec, groups=None) -> int:
        sizes = {}
        for l, (fan_in, fan_out) in enumerate(spec.layer_dims, start=1):
            sizes[f"W{l}"] = fan_in * fan_out
            sizes[f"b{l}"] = fan_out
        return sum(v for g, v in sizes.items() if groups is None or g in groups)

    @property
    def n_features(self) -> int:
        """``r = k P``: the Jacobian's columns over all outputs."""
        return self.spec.n_outputs * self.n_parameters(self.spec, self.groups)

    def workspace_row_bytes(self) -> int:
        """Bytes per input row of a forward and backward pass."""
        spec = self.spec
        return 8 * (3 * spec.width * spec.depth + 3 * spec.n_outputs + spec.n_features)

    def block_edge(self, budget) -> int:
        """Edge of square blocks of `empirical_ntk` within ``budget`` bytes.

        One block of ``e x e`` holds a Gram matrix per trained weight group,
        the deltas' Gram matrix, two temporaries and the output; each side
        holds a forward and backward pass.
        """
        n_w = sum(g[0] == "W" for g in self.groups)
        a, b = 8.0 * (n_w + 4), 2.0 * self.workspace_row_bytes()
        return max(1, int((-b + math.sqrt(b * b + 4 * a * budget)) / (2 * a)))


@dataclass(frozen=True)
class FittedKernels:
    """The kernels of one fit, frozen: ``predict`` reads nothing else.

    ``rec`` gives the NNGP ``K`` and, without ``network``, the tangent kernel
    ``T`` of the trained groups; with ``network``, ``T`` is the empirical NTK
    of that finite network. Inputs may be sparse: they are densified tile by
    tile.
    """

    rec: _Recursion
    network: FiniteNetwork | None
    budget: int

    @classmethod
    def build(
        cls,
        *,
        depth,
        activation,
        weight_std,
        bias_std,
        groups,
        finite_width,
        n_features,
        n_outputs,
        random_state,
        budget,
    ):
        rec = _Recursion.build(depth, activation, weight_std, bias_std, groups)
        network = None
        if finite_width is not None:
            spec = cls.network_spec(
                depth, activation, weight_std, bias_std, finite_width, n_features, n_outputs
            )
            network = FiniteNetwork(init_params(spec, random_state), spec, tuple(groups))
        return cls(rec, network, budget)

    @staticmethod
    def network_spec(depth, activation, weight_std, bias_std, width, n_features, n_outputs):
        return NetworkSpec(
            n_features=n_features,
            n_outputs=n_outputs,
            width=width,
            depth=depth,
            activation=activation,
            weight_std=float(weight_std),
            bias_std=float(bias_std),
        )

    # Column blocks for sparse second arguments: a dense copy of a block of
    # rows stays within a quarter of the budget.
    def _column_edge(self, Y):
        return max(1, self.budget // (4 * 8 * max(Y.shape[1], 1)))

    def _analytic(self, X, Y, want_K, want_T):
        # inside a tile worker the tiles are the parallelism: the kernel stays serial
        n_jobs = 1 if getattr(_in_tile_worker, "active", False) else None
        if not (sparse.issparse(X) or sparse.issparse(Y)):
            return _kernel_matrices(self.rec, X, Y, want_K=want_K, want_T=want_T, n_jobs=n_jobs)
        return _blocked_pair(
            lambda A, B: _kernel_matrices(
                self.rec,
                _dense(A),
                None if B is None else _dense(B),
                want_K=want_K,
                want_T=want_T,
                n_jobs=n_jobs,
            ),
            X,
            Y,
            self._column_edge(X if Y is None else Y),
        )

    def tangent(self, X, Y=None):
        """``T(X, Y)`` (``Y=None``: ``T(X, X)``), float64."""
        if self.network is None:
            return self._analytic(X, Y, want_K=False, want_T=True)[1]
        net = self.network

        def block(A, B):
            A = _as_float64(A)
            return np.asarray(
                empirical_ntk(
                    net.params, net.spec, A, None if B is None else _as_float64(B), net.groups
                ),
                dtype=np.float64,
            )

        return _blocked_pair(lambda A, B: (block(A, B),), X, Y, net.block_edge(self.budget))[0]

    def nngp(self, X, Y=None):
        """``K(X, Y)``: the analytic NNGP (also for a finite network)."""
        return self._analytic(X, Y, want_K=True, want_T=False)[0]

    def both(self, X, Y):
        """``(K(X, Y), T(X, Y))``."""
        if self.network is None:
            return self._analytic(X, Y, want_K=True, want_T=True)
        return self.nngp(X, Y), self.tangent(X, Y)

    def nngp_diag(self, X):
        return _kernel_diagonals(self.rec, _dense(X))[0]

    def tangent_diag(self, X):
        """``T(x, x)`` for every row, in tiles."""
        if self.network is None:
            edge = self._column_edge(X)
            parts = [_kernel_diagonals(self.rec, _dense(X[r]))[1] for r in _batches(X, edge)]
        else:
            edge = min(256, self.network.block_edge(self.budget))
            parts = [np.diag(self.tangent(X[r])) for r in _batches(X, edge)]
        return np.concatenate(parts) if parts else np.empty(0)


def _batches(X, edge):
    return gen_batches(X.shape[0], max(int(edge), 1))


# --- row tiles on several threads ----------------------------------------------------

#: Rows of one tile of the low-rank solvers at most: the tiles in flight (one per
#: thread) stay small, and the threads' shares of the tiles stay even.
MAX_TILE_ROWS = 4096

_in_tile_worker = threading.local()


def tile_threads(kernels) -> int:
    """Threads that process row tiles (inside `thread_policy`); 1 for a finite network.

    The network's forward and backward passes parallelize their own products.
    """
    return 1 if kernels.network is not None else n_threads()


def parallel_tiles(work, batches, n_slots):
    """``work(rows, slot)`` for every tile, on ``n_slots`` threads.

    Thread ``slot`` (``0`` is the caller) takes the tiles ``slot, slot +
    n_slots, ...`` in order, so that per-slot accumulators need no lock and,
    added in the order of the slots, give the same bits on every run (with the
    same number of threads). Run inside `thread_policy`, so that each thread's
    BLAS calls are single-threaded: a BLAS library's own threads spin, and wait
    for the one that another process has descheduled, at every product. The
    first error is raised after every thread has finished its current tile.
    """
    batches = list(batches)
    n_slots = max(1, min(int(n_slots), len(batches)))
    stop = []

    def drain(slot):
        _in_tile_worker.active = True
        try:
            for rows in batches[slot::n_slots]:
                if stop:
                    return
                work(rows, slot)
        except BaseException:
            stop.append(True)  # the other threads stop after their current tile
            raise
        finally:
            _in_tile_worker.active = False

    if n_slots == 1:
        drain(0)
        return
    with ThreadPoolExecutor(n_slots - 1, thread_name_prefix="sklearn_gdnet_tiles") as pool:
        futures = [pool.submit(drain, slot) for slot in range(1, n_slots)]
        try:
            drain(0)
        finally:
            # an interrupt while waiting stops the threads after their current
            # tile (else they would go on through all of theirs, minutes at scale)
            _threads._wait_for(futures, on_interrupt=lambda: stop.append(True))


def _as_float64(X):
    if sparse.issparse(X):
        return X.astype(np.float64)
    return np.asarray(X, dtype=np.float64)


def _blocked_pair(fn, X, Y, edge):
    """``fn`` on blocks of rows of ``X`` and ``Y`` (``Y=None``: symmetric), assembled.

    ``fn(A, B)`` returns a tuple of matrices (entries ``None`` are skipped);
    on the diagonal of a symmetric product it is called with ``B=None`` so that
    the kernel's exact diagonal is used, and the upper blocks are mirrored.
    """
    symmetric = Y is None
    Yv = X if symmetric else Y
    n_x, n_y = X.shape[0], Yv.shape[0]
    if n_x <= edge and n_y <= edge:
        return fn(X, Y)
    outs = None
    for i in range(0, n_x, edge):
        si = slice(i, min(i + edge, n_x))
        for j in range(i if symmetric else 0, n_y, edge):
            sj = slice(j, min(j + edge, n_y))
            tiles = fn(X[si], None if symmetric and i == j else Yv[sj])
            if outs is None:
                outs = [None if t is None else np.empty((n_x, n_y)) for t in tiles]
            for out, tile in zip(outs, tiles):
                if out is None:
                    continue
                out[si, sj] = tile
                if symmetric and i != j:
                    out[sj, si] = tile.T
    return tuple(outs)


def _check_finite_kernel(values, X):
    if not np.all(np.isfinite(values)):
        sq = _dense(X[: min(X.shape[0], 100_000)])
        largest = float(np.max(np.einsum("ij,ij->i", sq, sq), initial=0.0))
        raise ValueError(
            "The kernel of these inputs is not finite: the kernel recursion overflows "
            f"float64 (largest squared input norm seen: {largest:.3g}). Rescale X, for "
            "example with sklearn.preprocessing.StandardScaler."
        )


# --- memory model ----------------------------------------------------------------------


def kernel_scratch_bytes(rec) -> int:
    """Scratch of the kernel recursion: temporaries of one tile per thread.

    About sixteen ``TILE x TILE`` arrays; Hermite-series dual maps add the
    coefficients of a tile's rows and columns (four functions, at most
    ``MAX_SERIES_TERMS`` terms each).
    """
    per_thread = 16 * TILE**2 * 8
    if isinstance(rec.dual, HermiteSeriesDual):
        per_thread += 2 * 4 * MAX_SERIES_TERMS * TILE * 8
    return per_thread * (os.cpu_count() or 1)


def network_bytes(spec: NetworkSpec) -> int:
    """Bytes to draw and hold a network (the draw makes one float64 temporary)."""
    return 16 * FiniteNetwork.n_parameters(spec)


def solver_memory(
    solver, *, n, k, d, n_components, network_spec, groups, budget, sparse_X, scratch
):
    """Estimated peak bytes of ``fit`` with ``solver`` (see the module's constants).

    ``budget`` bytes of tiles, ``scratch`` bytes for the kernel recursion
    (`kernel_scratch_bytes`).
    """
    base = 8 * n * (k + 2) + scratch  # targets, weights and their roots
    workspace = 0
    if network_spec is not None:
        base += network_bytes(network_spec)
        workspace = FiniteNetwork(None, network_spec, ()).workspace_row_bytes()
    if solver in ("cholesky", "eigh"):
        tiles = budget if (network_spec is not None or sparse_X) else 0
        return base + EXACT_MEMORY_FACTOR * 8.0 * n * n + tiles
    if solver == "nystroem":
        M = min(n_components, n)
        row = 8 * (2 * M + k + d) + workspace
        # each tile thread beyond the first sums into its own M x M accumulator
        # (the normalization and the accumulators are alive together)
        factor = max(LOW_RANK_MEMORY_FACTOR, 1 + _planned_tile_threads(network_spec))
        return base + factor * 8.0 * M * M + 8 * M * d + min(budget, n * row)
    if solver == "jacobian":
        if network_spec is None:  # refused by the solver, with its reason
            return base
        r = network_spec.n_outputs * FiniteNetwork.n_parameters(network_spec, groups)
        row = 8 * (2 * r + k) + workspace
        return base + LOW_RANK_MEMORY_FACTOR * 8.0 * r * r + 8 * r * k + min(budget, n * row)
    raise ValueError(f"Unknown solver {solver!r}.")


def _planned_tile_threads(network_spec):
    """Threads that will share the tiles (`tile_threads` inside the thread policy)."""
    if network_spec is not None:
        return 1
    with thread_policy():
        return n_threads()


def choose_solver(solver, *, n, n_steps, network_spec, groups, memory_of):
    """``solver="auto"``: the exact solver while it is affordable, else a low-rank one.

    * a finite network with fewer Jacobian columns ``r = k P`` than samples:
      ``"jacobian"`` (exact, ``O(n r^2)``);
    * otherwise the exact solver of the requested dynamics, ``"cholesky"``
      (converged) or ``"eigh"`` (finite time), while ``n`` is at most
      `AUTO_EXACT_MAX_SAMPLES` and it fits in the available memory;
    * otherwise ``"nystroem"``.
    """
    if solver != "auto":
        return solver
    if network_spec is not None:
        r = network_spec.n_outputs * FiniteNetwork.n_parameters(network_spec, groups)
        if r < n:
            return "jacobian"
    exact = "cholesky" if n_steps is None else "eigh"
    if n <= AUTO_EXACT_MAX_SAMPLES[exact] and memory_of(exact) <= _memory.available_memory():
        return exact
    return "nystroem"


def _largest_fitting(fits, upper):
    """The largest ``m <= upper`` with ``fits(m)`` (``fits`` monotone), or 0."""
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def plan_fit(
    solver, *, n, k, d, sparse_X, n_steps, n_components, working_memory, rec, finite_width, groups
):
    """Choose the solver and the tile budget; refuse before allocating what does not fit.

    Returns ``(solver, budget)``. The :class:`MemoryError` states what the
    chosen solver needs and which other solvers (or how many Nystroem
    centers) fit.
    """
    available = _memory.available_memory()
    # a tile never takes more than a quarter of what is available
    budget = min(tile_budget(working_memory), max(available // 4, 1))
    spec = None
    if finite_width is not None:  # the shapes of the network (for its sizes only)
        spec = NetworkSpec(n_features=d, n_outputs=k, width=finite_width, depth=rec.depth)
    scratch = kernel_scratch_bytes(rec)

    def memory_of(name, M=n_components):
        return solver_memory(
            name,
            n=n,
            k=k,
            d=d,
            n_components=M,
            network_spec=spec,
            groups=groups,
            budget=budget,
            sparse_X=sparse_X,
            scratch=scratch,
        )

    if spec is not None and network_bytes(spec) > available:
        _memory.check_fits_in_memory(
            network_bytes(spec),
            f"A network of finite_width={finite_width} and depth={rec.depth} "
            f"({FiniteNetwork.n_parameters(spec)} parameters, drawn in float64)",
            "Use a smaller finite_width, or finite_width=None for the infinite-width "
            "limit, which needs no network.",
        )
    solver = choose_solver(
        solver, n=n, n_steps=n_steps, network_spec=spec, groups=groups, memory_of=memory_of
    )
    need = memory_of(solver)
    if need <= available:
        return solver, budget
    candidates = ["eigh", "nystroem"] + (["cholesky"] if n_steps is None else [])
    if spec is not None:
        candidates.append("jacobian")
    fitting = [
        f"solver={s!r} needs about {memory_of(s) / 2**30:.2f} GiB and fits"
        for s in sorted(candidates)
        if s != solver and memory_of(s) <= available
    ]
    M_fit = _largest_fitting(lambda m: memory_of("nystroem", m) <= available, min(n_components, n))
    if fitting:
        advice = "; ".join(fitting) + "."
    elif M_fit >= 1:
        advice = (
            f"No solver fits as configured; solver='nystroem' with n_components <= "
            f"{M_fit} would, or a smaller working_memory, or a subsample."
        )
    else:
        advice = "No solver fits, even with few components: free memory or subsample."
    sizes = {
        "cholesky": f"{EXACT_MEMORY_FACTOR:g} matrices of n_samples x n_samples float64",
        "eigh": f"{EXACT_MEMORY_FACTOR:g} matrices of n_samples x n_samples float64",
        "nystroem": f"n_components={min(n_components, n)}: {LOW_RANK_MEMORY_FACTOR:g} "
        "matrices of n_components x n_components float64 and one tile of rows",
        "jacobian": "the Jacobian's r x r products and one tile of rows",
    }
    _memory.check_fits_in_memory(
        need, f"NTKRegressor(solver={solver!r}) on n_samples={n} ({sizes[solver]})", advice
    )
    return solver, budget  # pragma: no cover - check_fits_in_memory raised


# --- the exact solvers -------------------------------------------------------------------


def _weighted_kernel(kernels, X, sw):
    S = kernels.tangent(X)
    _check_finite_kernel(S, X)
    if np.any(sw != 1.0):
        S *= sw[:, None]  # W^1/2 T W^1/2, in place
        S *= sw[None, :]
    return S


def _cholesky_if_well_posed(A, rcond_min):
    """Cholesky factor (lower, in place on the F-ordered ``A``) or None.

    Accepted when LAPACK's reciprocal condition estimate exceeds
    ``rcond_min``; the factorization overwrites the lower triangle and the
    diagonal of ``A`` only.
    """
    n = A.shape[0]
    # 1-norm of the symmetric matrix, by row blocks to keep memory flat
    anorm = max(np.abs(A[i : i + 512]).sum(axis=1).max() for i in range(0, n, 512))
    try:
        factor = linalg.cho_factor(A, lower=True, overwrite_a=True, check_finite=False)
        rcond, _ = linalg.lapack.dpocon(factor[0], anorm, uplo="L")
    except linalg.LinAlgError:
        return None
    return factor if rcond > rcond_min else None


def solve_cholesky(kernels, X, Y, w, dynamics, **_):
    """Converged solution ``(W^1/2 T W^1/2 + alpha I)^-1`` by Cholesky, as KernelRidge.

    With ``alpha = 0`` the factorization is accepted only when LAPACK's
    condition estimate is above ``n eps``, the same resolution below which
    the eigendecomposition treats eigenvalues as zero; otherwise the
    minimum-norm solution of `solve_eigh` is returned.
    """
    if dynamics.n_steps is not None:
        raise ValueError(
            "solver='cholesky' computes the converged solution only (n_steps=None); use "
            "solver='eigh' (exact) or 'nystroem' (low-rank) for a finite n_steps."
        )
    sw = np.sqrt(w)
    S = _weighted_kernel(kernels, X, sw)
    n = S.shape[0]
    diagonal = S.diagonal().copy()
    S.flat[:: n + 1] += dynamics.alpha
    # S is symmetric: its transpose is the F-ordered array LAPACK works on in place
    factor = _cholesky_if_well_posed(S.T, 0.0 if dynamics.alpha > 0 else n * EPS)
    if factor is None:
        # The factorization overwrote one triangle and the diagonal of S.T; its
        # other triangle is intact: restore the diagonal and solve from that one.
        S.flat[:: n + 1] = diagonal
        return _eigh_solution(kernels, X, Y, w, dynamics, S, lower=False)
    dual = sw[:, None] * linalg.cho_solve(factor, sw[:, None] * Y)
    if not np.all(np.isfinite(dual)):
        raise ValueError(
            "The targets overflow float64 in the solve (the dual coefficients are not "
            "finite). Scale y, for example with sklearn.compose.TransformedTargetRegressor."
        )
    return CholeskySolution(
        kernels=kernels, X_fit=X, sw=sw, factor=factor, dual_coef=dual, dynamics=dynamics
    )


def solve_eigh(kernels, X, Y, w, dynamics, **_):
    """Every dynamics from one eigendecomposition of the ``n x n`` weighted kernel."""
    S = _weighted_kernel(kernels, X, np.sqrt(w))
    return _eigh_solution(kernels, X, Y, w, dynamics, S, lower=True)


def _eigh_solution(kernels, X, Y, w, dynamics, S, lower):
    sw = np.sqrt(w)
    lam, V = linalg.eigh(S.T, lower=lower, overwrite_a=True, check_finite=False, driver="evr")
    del S
    beta = V.T @ (sw[:, None] * Y)
    spectrum = Spectrum(lam, beta, dynamics, X.shape[0], n_structural_zeros=int(np.sum(w == 0)))
    g = spectrum.check_steps(dynamics.n_steps, stacklevel=6)
    dual = sw[:, None] * (V @ (g[:, None] * beta))
    return DenseSpectralSolution(
        kernels=kernels, X_fit=X, sw=sw, V=V, spectrum=spectrum, dual_coef=dual
    )


# --- the low-rank solvers ----------------------------------------------------------------


class _Normalization:
    """``N`` with ``N N^T = A^+`` for a PSD ``A`` (the centers' kernel).

    A Cholesky factor ``A = L L^T`` when its reciprocal condition number
    exceeds ``rcond`` (``N = L^-T``, applied by triangular solves), else the
    pseudo-inverse square root from an eigendecomposition, eigenvalues at or
    below ``rcond lambda_max`` dropped, and those not above ten times the
    rounding level that the most negative computed eigenvalue shows.
    ``rcond=None`` is ``m eps``, the resolution of the converged minimum-norm
    solution.

    With ``invert=True`` the Cholesky factor is inverted once (``L^-1``, in
    place, about ``m^3 / 3`` flops) and every tile is multiplied by it: a
    triangular product runs about 1.4 times faster than a triangular solve
    (benchmarks/bench_ntk.py), and both lose the same ``eps cond(L)``.
    """

    def __init__(self, A, rcond=None, invert=False):
        m = A.shape[0]
        rcond = m * EPS if rcond is None else rcond
        # A is symmetric: its transpose is the F-ordered array LAPACK works on in place
        At = A.T if A.flags.c_contiguous else np.asfortranarray(A)
        diagonal = At.diagonal().copy()
        factor = _cholesky_if_well_posed(At, rcond)
        self.L_inv = None
        if factor is not None:
            self.L, self.N = factor[0], None
            self.rank = m
            if invert:
                # the lower triangle only; the upper one keeps A's entries, never read
                L_inv, info = linalg.lapack.dtrtri(self.L, lower=1, overwrite_c=1)
                if info == 0:
                    self.L, self.L_inv = None, L_inv
            return
        np.fill_diagonal(At, diagonal)  # the factorization left the upper triangle intact
        s, Q = linalg.eigh(At, lower=False, overwrite_a=True, check_finite=False, driver="evr")
        noise = 10.0 * max(-float(s[0]), 0.0) if s.size else 0.0
        keep = s > max(rcond * max(float(s[-1]), 0.0), noise)
        self.L, self.N = None, Q[:, keep] / np.sqrt(s[keep])
        self.rank = int(keep.sum())

    def features(self, K_rows):
        """``K(x, C) N`` for a tile ``K_rows`` of shape ``(t, m)`` (overwritten)."""
        if self.N is not None:
            return K_rows @ self.N
        if self.L_inv is not None:  # (L^-1 K^T)^T, in place on the F-ordered K^T
            out = blas.dtrmm(
                1.0, self.L_inv, np.asfortranarray(K_rows.T), side=0, lower=1, overwrite_b=1
            )
            return out.T
        # X L^T = K  <=>  L X^T = K^T, solved in place on the F-ordered K^T
        out = blas.dtrsm(
            1.0, self.L, np.asfortranarray(K_rows.T), side=0, lower=1, trans_a=0, overwrite_b=1
        )
        return out.T

    def times(self, U):
        """``N @ U``."""
        if self.N is not None:
            return self.N @ U
        if self.L_inv is not None:  # L^-T U
            return blas.dtrmm(1.0, self.L_inv, np.asfortranarray(U), side=0, lower=1, trans_a=1)
        return linalg.solve_triangular(self.L, U, lower=True, trans="T", check_finite=False)


def leverage_scores(kernels, X, w, pilot, budget):
    """Approximate ridge leverage scores of ``S = W^1/2 T W^1/2`` from a pilot sample.

    The ridge leverage scores ``[S (S + lambda I)^-1]_ii`` estimated from a
    uniform pilot sample ``P`` of ``m`` of the ``n`` points, each standing for
    ``n / m`` points (Musco and Musco, 2017, with uniform sampling
    probabilities ``m / n``; Alaoui and Mahoney, 2015):
    ``l_i = (S_ii - S_iP (S_PP + (m / n) lambda I)^-1 S_Pi) / lambda``, at the
    ridge ``lambda = trace(S) / m``, the smallest ridge at which the effective
    dimension ``sum_j lambda_j / (lambda_j + lambda)`` is at most ``m``.
    Returns the scores and ``lambda``; ``O(n m^2)`` time in tiles of rows.
    """
    n, m = X.shape[0], pilot.size
    sw = np.sqrt(w)
    diag = w * kernels.tangent_diag(X)
    ridge = float(diag.sum()) / m
    if not ridge > 0:
        return np.zeros(n), ridge
    S_pp = kernels.tangent(X[pilot]) * sw[pilot, None] * sw[None, pilot]
    S_pp.flat[:: m + 1] += ridge * m / n
    L = linalg.cholesky(S_pp, lower=True, overwrite_a=True, check_finite=False)
    scores = np.empty(n)
    for rows in gen_batches(n, rows_per_tile(8 * 2 * m, budget, n)):
        Z = kernels.tangent(X[rows], X[pilot])
        Z *= sw[rows, None]
        Z *= sw[None, pilot]
        Z = linalg.solve_triangular(L, Z.T, lower=True, check_finite=False)
        scores[rows] = (diag[rows] - np.einsum("ij,ij->j", Z, Z)) / ridge
    return np.maximum(scores, 0.0), ridge


def nystroem_centers(kernels, X, w, n_components, rule, random_state, budget):
    """Indices of the Nystroem centers, sorted.

    * ``"uniform"``: ``n_components`` training points drawn uniformly without
      replacement.
    * ``"leverage"``: drawn without replacement with probabilities
      proportional to the `leverage_scores` from a uniform pilot sample of
      ``n_components`` points, by exponential keys ``E_i / l_i`` (Efraimidis
      and Spirakis, 2006).

    Centers are drawn among the points of positive weight only: a point of
    weight zero takes no part in the training, so a center there is wasted.
    With ``n_components`` at least the number of such points, every one of them
    is a center (and the solution is exact).
    """
    n = X.shape[0]
    rng = check_random_state(random_state)
    support = np.flatnonzero(w > 0)
    if n_components >= support.size:
        return support
    # with all weights positive this is rng.choice(n, ...) itself
    pilot = np.sort(support[rng.choice(support.size, n_components, replace=False)])
    if rule == "uniform":
        return pilot
    scores, ridge = leverage_scores(kernels, X, w, pilot, budget)
    if not ridge > 0:
        return pilot
    with np.errstate(divide="ignore"):
        keys = rng.standard_exponential(n) / scores
    keys[w <= 0] = np.inf  # never a center
    return np.sort(np.argpartition(keys, n_components - 1)[:n_components])


def _accumulate(features_of, X, Y, w, r, budget, row_bytes, n_slots=1):
    """``Phi^T W Phi`` (its upper triangle, F-ordered) and ``Phi^T W Y`` over row tiles.

    ``n_slots`` threads each take every ``n_slots``-th tile of ``budget /
    n_slots`` bytes and accumulate into their own pair of sums, added at the end
    in a fixed order.
    """
    n, k = Y.shape
    sw = np.sqrt(w)
    n_slots = max(1, min(n_slots, n))
    step = min(rows_per_tile(row_bytes, budget // n_slots, n), MAX_TILE_ROWS)
    batches = list(gen_batches(n, step))
    n_slots = min(n_slots, len(batches))
    Cs = [np.zeros((r, r), order="F") for _ in range(n_slots)]
    bs = [np.zeros((r, k)) for _ in range(n_slots)]

    def work(rows, slot):
        B = features_of(X[rows])
        if not np.all(np.isfinite(B)):
            _check_finite_kernel(B, X[rows])
        B *= sw[rows, None]
        # C += B^T B on the upper triangle: B^T is F-ordered, so BLAS reads it in place
        Cs[slot] = blas.dsyrk(
            1.0, np.asfortranarray(B.T), beta=1.0, c=Cs[slot], trans=0, lower=0, overwrite_c=1
        )
        bs[slot] += B.T @ (sw[rows, None] * Y[rows])

    parallel_tiles(work, batches, n_slots)
    C, b = Cs[0], bs[0]
    for C_other, b_other in zip(Cs[1:], bs[1:]):
        C += C_other
        b += b_other
    return C, b


def _low_rank_spectrum(C, b, dynamics, n_rows):
    """Eigendecomposition of ``C`` (its upper triangle is read, and overwritten)."""
    lam, U = linalg.eigh(C, lower=False, overwrite_a=True, check_finite=False, driver="evr")
    spectrum = Spectrum(lam, U.T @ b, dynamics, n_rows)
    spectrum.check_steps(dynamics.n_steps, stacklevel=6)
    return spectrum, U


def solve_nystroem(kernels, X, Y, w, dynamics, *, n_components, centers, random_state, budget, **_):
    """Exact dynamics for the Nystroem approximation on ``n_components`` centers.

    ``T ~ T(X, C) T(C, C)^+ T(C, X)`` with features ``phi(x) = N^T T(C, x)``,
    ``N N^T = T(C, C)^+``. Time ``O(n M^2)``, memory ``O(M^2 + tile M)``.
    """
    n = X.shape[0]
    idx = nystroem_centers(kernels, X, w, n_components, centers, random_state, budget)
    Xc = X[idx]
    T_cc = kernels.tangent(Xc)
    _check_finite_kernel(T_cc, Xc)
    M = idx.size
    row_bytes = 8 * (2 * M + Y.shape[1] + (X.shape[1] if sparse.issparse(X) else 0))
    if kernels.network is not None:
        row_bytes += kernels.network.workspace_row_bytes()
    # One thread per BLAS call, the threads on tiles of rows: under contention the
    # BLAS's own threads spin and wait for the one that is descheduled.
    with thread_policy():
        norm = _Normalization(T_cc, invert=True)
        del T_cc
        C, b = _accumulate(
            lambda Xt: norm.features(kernels.tangent(Xt, Xc)),
            X,
            Y,
            w,
            norm.rank,
            budget,
            row_bytes,
            n_slots=tile_threads(kernels),
        )
        spectrum, U = _low_rank_spectrum(C, b, dynamics, n)
        del C
        projection = norm.times(U)  # T(x, C) @ projection = U^T phi(x)
        del U
    return NystroemSolution(
        kernels=kernels,
        X_fit=X,
        w=w,
        spectrum=spectrum,
        Xc=Xc,
        indices=idx,
        projection=projection,
    )


def jacobian_features(network: FiniteNetwork, X):
    """Rows of ``[J_1, ..., J_k] / sqrt(k)``: exact features of the empirical NTK.

    ``J_j`` is the Jacobian of output ``j`` with respect to the trained groups,
    in the order of ``network.groups`` (weights flattened row-major), so that
    ``Phi Phi^T`` equals `empirical_ntk` (which averages over the outputs).
    """
    params, spec, groups = network.params, network.spec, network.groups
    X = _dense(X)
    t, k = X.shape[0], spec.n_outputs
    P = FiniteNetwork.n_parameters(spec, groups)
    out = np.empty((t, k * P))
    ws = Workspace(spec, X, np.float64)
    forward(params, spec, X, ws)
    lowest = lowest_layer(groups)
    for j in range(k):
        e = np.zeros((t, k))
        e[:, j] = 1.0
        backward(params, spec, ws, e, lowest)
        col = j * P
        for g in groups:
            l = int(g[1:])
            a, c = spec.multipliers[l - 1]
            delta = ws.deltas[l - 1]
            if g[0] == "W":
                h = ws.hs[l - 1]
                size = h.shape[1] * delta.shape[1]
                # splitting the contiguous column range is a view of ``out``
                block = out[:, col : col + size].reshape(t, h.shape[1], delta.shape[1])
                assert np.shares_memory(block, out)
                np.multiply(h[:, :, None], a * delta[:, None, :], out=block)
            else:
                size = delta.shape[1]
                np.multiply(delta, c, out=out[:, col : col + size])
            col += size
    if k > 1:
        out /= np.sqrt(k)
    return out


def solve_jacobian(kernels, X, Y, w, dynamics, *, budget, **_):
    """Exact dynamics of a finite network's linearization from its Jacobian.

    The empirical NTK is ``Phi Phi^T`` with ``Phi`` the Jacobian (over the
    trained groups and the outputs), so every dynamics is an ``r x r``
    problem, ``r = k P``: time ``O(n r^2)``, memory ``O(r^2 + tile r)``.
    """
    net = kernels.network
    if net is None:
        raise ValueError(
            "solver='jacobian' linearizes a finite network; set finite_width to its width "
            "(finite_width=None is the infinite-width limit: use 'cholesky', 'eigh' or "
            "'nystroem')."
        )
    r = net.n_features
    row_bytes = 8 * (2 * r + Y.shape[1]) + net.workspace_row_bytes()
    C, b = _accumulate(lambda Xt: jacobian_features(net, Xt), X, Y, w, r, budget, row_bytes)
    spectrum, U = _low_rank_spectrum(C, b, dynamics, X.shape[0])
    return JacobianSolution(kernels=kernels, X_fit=X, w=w, spectrum=spectrum, U=U)


SOLVERS = {
    "cholesky": solve_cholesky,
    "eigh": solve_eigh,
    "nystroem": solve_nystroem,
    "jacobian": solve_jacobian,
}


# --- solutions: what prediction needs ----------------------------------------------------


def _posterior_variance(A, K_test_train, k_test_diag, K_train):
    """``K(x,x) - 2 A K(X,x) + A K(X,X) A^T`` row by row."""
    var = k_test_diag - 2.0 * np.einsum("ij,ij->i", A, K_test_train)
    var += np.einsum("ij,ij->i", A @ K_train, A)
    return np.maximum(var, 0.0)


@dataclass
class _Solution:
    kernels: FittedKernels
    X_fit: object

    solver = None
    spectrum = None

    def n_train(self):
        return self.X_fit.shape[0]

    def fitted_steps(self):
        """The ``n_steps`` of the fit (None: converged)."""
        return None if self.spectrum is None else self.spectrum.dynamics.n_steps

    # The means alone need no projection of every point: with ``project(x) =
    # rows(x) @ R``, ``means = rows(x) @ (R (g * beta))``, one coefficient column
    # per output and step (for the Nystroem features an ``M x k`` product per
    # tile instead of ``M x M``).
    def mean_coefficients(self, steps):
        """``(n_rows, k)`` per step, with ``means = self.rows(X_t) @ coefficients``."""
        beta = self.spectrum.beta
        return [self._right(self.spectrum.factor(s)[:, None] * beta) for s in steps]

    def mean_row_bytes(self):
        return self.row_bytes(False)


@dataclass
class CholeskySolution(_Solution):
    """Converged ridge solution from a Cholesky factor of ``W^1/2 T W^1/2 + alpha I``."""

    sw: np.ndarray = None
    factor: tuple = None
    dual_coef: np.ndarray = None
    dynamics: Dynamics = None
    solver = "cholesky"

    def row_bytes(self, want_var):
        return 8 * self.n_train() * (4 if want_var else 2)

    def project(self, X_t):
        return self.kernels.tangent(X_t, self.X_fit)

    def means(self, T, steps):
        return [T @ self.dual_coef for _ in steps]

    def rows(self, X_t):
        return self.project(X_t)

    def mean_coefficients(self, steps):
        return [self.dual_coef for _ in steps]

    def influence(self, T, g=None):
        """``T(x, X) M`` for the rows ``T`` of ``T(x, X)``."""
        sw = self.sw
        return (sw[:, None] * linalg.cho_solve(self.factor, sw[:, None] * T.T)).T

    def variance_context(self):
        return self.kernels.nngp(self.X_fit)

    def variance_memory(self, n_test, budget):
        return _dense_variance_memory(self.n_train(), n_test)

    def variances(self, X_t, T, steps, K_train):
        K = self.kernels.nngp(X_t, self.X_fit)
        kd = self.kernels.nngp_diag(X_t)
        return [_posterior_variance(self.influence(T), K, kd, K_train) for _ in steps]

    def covariance(self, X, T, g, K_train):
        A = self.influence(T)
        return _dense_covariance(self.kernels, X, self.X_fit, A, K_train)


def _dense_variance_memory(n, n_test):
    # the NNGP on the training set and a tile's product with it; the covariance
    # holds K(x, X), A and their products for all points
    need = 1.5 * 8.0 * n * n + 3 * 8.0 * n_test * (n + n_test)
    return need, f"the NNGP on the n_samples={n} training points"


def _dense_covariance(kernels, X, X_fit, A, K_train):
    K_xX = kernels.nngp(X, X_fit)
    AK = A @ K_xX.T
    cov = kernels.nngp(X) - AK - AK.T
    cov += (A @ K_train) @ A.T
    return cov


@dataclass
class DenseSpectralSolution(_Solution):
    """``n x n`` eigendecomposition: ``p(x) = V^T W^1/2 T(X, x)``."""

    sw: np.ndarray = None
    V: np.ndarray = None
    spectrum: Spectrum = None
    dual_coef: np.ndarray = None
    solver = "eigh"

    def row_bytes(self, want_var):
        return 8 * self.n_train() * (5 if want_var else 2)

    def project(self, X_t):
        return (self.kernels.tangent(X_t, self.X_fit) * self.sw) @ self.V

    def rows(self, X_t):
        return self.kernels.tangent(X_t, self.X_fit)

    def _right(self, coef):
        return self.sw[:, None] * (self.V @ coef)

    def means(self, P, steps):
        return [P @ (self.spectrum.factor(s)[:, None] * self.spectrum.beta) for s in steps]

    def influence(self, P, g):
        return ((P * g) @ self.V.T) * self.sw

    def variance_context(self):
        return self.kernels.nngp(self.X_fit)

    def variance_memory(self, n_test, budget):
        return _dense_variance_memory(self.n_train(), n_test)

    def variances(self, X_t, P, steps, K_train):
        K = self.kernels.nngp(X_t, self.X_fit)
        kd = self.kernels.nngp_diag(X_t)
        return [
            _posterior_variance(self.influence(P, self.spectrum.factor(s)), K, kd, K_train)
            for s in steps
        ]

    def covariance(self, X, P, g, K_train):
        return _dense_covariance(self.kernels, X, self.X_fit, self.influence(P, g), K_train)


@dataclass
class _LowRankSolution(_Solution):
    w: np.ndarray = None
    spectrum: Spectrum = None
    _variance_cache: object = field(default=None, repr=False)

    def means(self, P, steps):
        return [P @ (self.spectrum.factor(s)[:, None] * self.spectrum.beta) for s in steps]

    def variance_context(self):
        # Computed once, on the first request, from a pass over the training set.
        if self._variance_cache is None:
            self._variance_cache = self._variance_terms()
        return self._variance_cache


@dataclass
class NystroemSolution(_LowRankSolution):
    """Nystroem features on the centers ``Xc``; ``p(x) = T(x, C) @ projection``.

    The ensemble variance uses the Nystroem approximation of the NNGP on the
    same centers, ``K~(x, x') = K(x, C) K(C, C)^+ K(C, x')``, for the training
    points, and the exact ``K(x, x')`` between test points. With
    ``a(x) = W Phi U (g * p(x))`` (the influence of the training targets on
    ``x``), ``E = K(C, X) W Phi U`` (accumulated over row tiles),
    ``B = K(C, C)^+ E`` and ``H = E^T B``,

        Cov(x, x') = K(x, x') - K~(x, X) a(x') - a(x)^T K~(X, x') + a(x)^T K~(X, X) a(x')
                   = K(x, x') - b(x).(g p(x')) - (g p(x)).b(x') + (g p(x))^T H (g p(x')),
        b(x) = B^T K(C, x),

    the exact formula for the approximated kernels, equal to the exact one
    when every point is a center. It is written so that ``K(C, C)^+`` (whose
    condition number exceeds ``1e12`` for a few thousand centers on the
    sphere) only ever acts on ``E``, which lies in the range of ``K(C, C)``:
    the products ``K(x, C) B`` and ``E^T B`` are then backward stable, whereas
    the Nystroem residual ``K(x, x) - K(x, C) K(C, C)^+ K(C, x)`` that the
    algebraically equal form ``K - psi psi^T + q q^T`` computes loses about
    ``eps cond(K(C, C))`` relative to ``K(x, x)``.
    """

    Xc: object = None
    indices: np.ndarray = None
    projection: np.ndarray = None
    solver = "nystroem"

    @property
    def n_components(self):
        return self.indices.size

    def row_bytes(self, want_var):
        M, r = self.projection.shape
        extra = self.kernels.network.workspace_row_bytes() if self.kernels.network else 0
        return 8 * (M + r + (2 * M + 2 * r if want_var else 0)) + extra

    def project(self, X_t):
        return self.kernels.tangent(X_t, self.Xc) @ self.projection

    def rows(self, X_t):
        return self.kernels.tangent(X_t, self.Xc)

    def _right(self, coef):
        return self.projection @ coef

    def mean_row_bytes(self):
        extra = self.kernels.network.workspace_row_bytes() if self.kernels.network else 0
        return 8 * (self.projection.shape[0] + 2) + extra

    def variance_memory(self, n_test, budget):
        # the centers' NNGP and its normalization, E (one per tile thread), B and H,
        # and the tiles of the pass
        M, r = self.projection.shape
        threads = 1 if self.kernels.network is not None else _planned_tile_threads(None)
        need = 3 * 8.0 * M * M + (2 + threads) * 8.0 * M * r + budget
        need += 3 * 8.0 * n_test * (n_test + M + r)
        return need, f"the NNGP on {M} centers"

    def _variance_terms(self):
        M, r = self.projection.shape
        X, n = self.X_fit, self.n_train()
        n_slots = tile_threads(self.kernels)
        step = rows_per_tile(self.row_bytes(True), self.kernels.budget // n_slots, n)
        batches = list(gen_batches(n, min(step, MAX_TILE_ROWS)))
        n_slots = min(n_slots, len(batches))
        Ets = [np.zeros((r, M)) for _ in range(n_slots)]

        def work(rows, slot):  # a sum per thread
            K_t, T_t = self.kernels.both(X[rows], self.Xc)
            P_t = T_t @ self.projection
            P_t *= self.w[rows, None]
            Ets[slot] += P_t.T @ K_t

        parallel_tiles(work, batches, n_slots)
        Et = Ets[0]
        for other in Ets[1:]:
            Et += other
        # E is in the range of K(C, C): any backward-stable solve serves, however
        # ill-conditioned K(C, C) is, so the resolution is rounding's, not m eps
        norm_K = _Normalization(self.kernels.nngp(self.Xc), rcond=4 * EPS)
        B = norm_K.times(norm_K.features(Et.copy()).T)  # K(C, C)^+ E
        H = Et @ B
        return B, 0.5 * (H + H.T)

    def _b(self, X_t, ctx):
        return self.kernels.nngp(X_t, self.Xc) @ ctx[0]

    def variances(self, X_t, P, steps, ctx):
        kd = self.kernels.nngp_diag(X_t)
        b = self._b(X_t, ctx)
        out = []
        for s in steps:
            a = P * self.spectrum.factor(s)
            var = kd - 2.0 * np.einsum("ij,ij->i", a, b) + np.einsum("ij,ij->i", a @ ctx[1], a)
            out.append(np.maximum(var, 0.0))
        return out

    def covariance(self, X, P, g, ctx):
        a = P * g
        ab = a @ self._b(X, ctx).T
        return self.kernels.nngp(X) - ab - ab.T + (a @ ctx[1]) @ a.T


@dataclass
class JacobianSolution(_LowRankSolution):
    """Exact Jacobian features of a finite network; ``p(x) = U^T phi(x)``.

    The ensemble variance uses the analytic NNGP ``K`` exactly: with
    ``Z = W Phi U`` (rows computed tile by tile), ``q(x) = Z^T K(X, x)`` and
    ``G = Z^T K(X, X) Z``,
    ``Cov(x, x') = K(x, x') - (g p(x)).q(x') - q(x).(g p(x')) + (g p(x))^T G (g p(x'))``
    (``O(n^2 r)`` once, then ``O(n r)`` per test point).
    """

    U: np.ndarray = None
    solver = "jacobian"

    @property
    def n_components(self):
        return self.U.shape[0]

    def row_bytes(self, want_var):
        r = self.U.shape[1]
        return 8 * (3 * r + (2 * r if want_var else 0)) + self.kernels.network.workspace_row_bytes()

    def project(self, X_t):
        return jacobian_features(self.kernels.network, X_t) @ self.U

    def rows(self, X_t):
        return jacobian_features(self.kernels.network, X_t)

    def _right(self, coef):
        return self.U @ coef

    def variance_memory(self, n_test, budget):
        r = self.U.shape[1]
        need = 8.0 * r * r + budget + 3 * 8.0 * n_test * (n_test + r)
        return need, f"the NNGP against {r} Jacobian features"

    def _train_tiles(self):
        n = self.n_train()
        r = self.U.shape[1]
        # two tiles of Z and a block of K between them: 8 (e^2 + 2 e r) bytes
        edge = int(-r + math.sqrt(r * r + self.kernels.budget / 8))
        return list(gen_batches(n, max(1, edge)))

    def _Z(self, rows):
        Z = self.project(self.X_fit[rows])
        Z *= self.w[rows, None]
        return Z

    def _variance_terms(self):
        X = self.X_fit
        tiles = self._train_tiles()
        r = self.U.shape[1]
        G = np.zeros((r, r))
        for i, ri in enumerate(tiles):
            Zi = self._Z(ri)
            for rj in tiles[i:]:
                Zj = Zi if rj == ri else self._Z(rj)
                block = Zi.T @ (self.kernels.nngp(X[ri], X[rj]) @ Zj)
                G += block
                if rj != ri:
                    G += block.T
        return G

    def _q(self, X_t):
        q = np.zeros((X_t.shape[0], self.U.shape[1]))
        for rj in self._train_tiles():
            q += self.kernels.nngp(X_t, self.X_fit[rj]) @ self._Z(rj)
        return q

    def variances(self, X_t, P, steps, G):
        kd = self.kernels.nngp_diag(X_t)
        q = self._q(X_t)
        out = []
        for s in steps:
            a = P * self.spectrum.factor(s)
            var = kd - 2.0 * np.einsum("ij,ij->i", a, q) + np.einsum("ij,ij->i", a @ G, a)
            out.append(np.maximum(var, 0.0))
        return out

    def covariance(self, X, P, g, G):
        a = P * g
        aq = a @ self._q(X).T
        return self.kernels.nngp(X) - aq - aq.T + (a @ G) @ a.T


# --- prediction in tiles ----------------------------------------------------------------


def predict_tiles(solution, X, steps, want_std, budget):
    """Means (and standard deviations) at each of ``steps``, in row tiles of ``X``.

    Returns ``(means, stds)``: lists over ``steps`` of arrays of shape
    ``(n, n_outputs)`` and ``(n,)`` (``stds`` is None without ``want_std``).
    """
    n = X.shape[0]
    k = solution.spectrum.beta.shape[1] if solution.spectrum else solution.dual_coef.shape[1]
    means = [np.empty((n, k)) for _ in steps]
    stds = [np.empty(n) for _ in steps] if want_std else None
    row_bytes = solution.row_bytes(want_std) if want_std else solution.mean_row_bytes()
    row_bytes += 8 * X.shape[1] if sparse.issparse(X) else 0
    # the means alone: one product with the coefficients of every step
    coefs = None if want_std else np.hstack(solution.mean_coefficients(steps))

    def work(rows, slot):  # each tile writes its own rows of the outputs
        X_t = X[rows]
        if not want_std:
            R = solution.rows(X_t)
            if not np.all(np.isfinite(R)):
                _check_finite_kernel(R, X_t)
            values = R @ coefs
            for i, out in enumerate(means):
                out[rows] = values[:, i * k : (i + 1) * k]
            return
        P = solution.project(X_t)
        if not np.all(np.isfinite(P)):
            _check_finite_kernel(P, X_t)
        for out, mean in zip(means, solution.means(P, steps)):
            out[rows] = mean
        for out, var in zip(stds, solution.variances(X_t, P, steps, ctx)):
            out[rows] = np.sqrt(var)

    with thread_policy():  # see solve_nystroem
        ctx = solution.variance_context() if want_std else None
        n_slots = tile_threads(solution.kernels)
        step = rows_per_tile(row_bytes, budget // max(n_slots, 1), n)
        parallel_tiles(work, gen_batches(n, min(step, MAX_TILE_ROWS)), n_slots)
    for mean in means:
        if not np.all(np.isfinite(mean)):
            raise FloatingPointError(
                "The predictions are not finite: they overflow float64 (diverging "
                "dynamics, or inputs far larger than the training inputs)."
            )
    for std in stds or ():
        if not np.all(np.isfinite(std)):
            _refuse_variance(solution, X)
    return means, stds


def _refuse_variance(solution, X):
    largest = max(
        float(np.max(np.einsum("ij,ij->i", _dense(Z[:100_000]), _dense(Z[:100_000])), initial=0))
        for Z in (X, solution.X_fit)
    )
    raise ValueError(
        "The ensemble's variance is not finite: the NNGP of these inputs overflows float64 "
        f"(largest squared input norm: {largest:.3g}). Rescale X, for example with "
        "sklearn.preprocessing.StandardScaler, or ask for the mean only."
    )


def predict_covariance(solution, X, n_steps):
    """Mean ``(n, n_outputs)`` and covariance ``(n, n)`` over initializations at ``X``."""
    ctx = solution.variance_context()
    P = solution.project(X)
    if not np.all(np.isfinite(P)):
        _check_finite_kernel(P, X)
    mean = solution.means(P, [n_steps])[0]
    g = solution.spectrum.factor(n_steps) if solution.spectrum is not None else None
    cov = solution.covariance(X, P, g, ctx)
    cov = 0.5 * (cov + cov.T)
    if not np.all(np.isfinite(mean)):
        raise FloatingPointError("The predictions are not finite: they overflow float64.")
    if not np.all(np.isfinite(cov)):
        _refuse_variance(solution, X)
    return mean, cov
