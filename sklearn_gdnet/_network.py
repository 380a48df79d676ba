"""The network core: parameter groups, initialization, forward and backward passes.

Everything here is a pure function of arrays. One formula covers both
parametrizations (see the user guide): layer ``l`` computes

    z_l = a_l * (h_{l-1} @ W_l) + c_l * b_l,        h_l = phi(z_l),

with the *multipliers* ``(a_l, c_l)`` equal to ``(weight_std / sqrt(fan_in),
bias_std)`` and N(0, 1) entries under the NTK parametrization, and ``(1, 1)``
with entries of variance ``weight_std**2 / fan_in`` and ``bias_std**2`` under
the standard parametrization. The same function results at initialization;
gradients differ by the multipliers, which is exactly the difference between
the two parametrizations' gradient-descent dynamics.

Weights are stored ``W_l`` of shape ``(fan_in, fan_out)`` and biases ``b_l`` of
shape ``(fan_out,)``, keyed by group name ``"W1", "b1", ..., "W{L+1}", "b{L+1}"``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, eigsh
from sklearn.utils import check_random_state

from . import _threads
from ._activations import get_activation

try:  # optional C kernels (setup.py); without them NumPy does the same passes
    from . import _fused
except ImportError:  # pragma: no cover - depends on the build
    _fused = None

__all__ = [
    "NetworkSpec",
    "Workspace",
    "backward",
    "empirical_ntk",
    "forward",
    "gradients",
    "group_names",
    "init_params",
    "jvp",
    "workspace_nbytes",
    "max_ntk_eigenvalue",
    "resolve_trainable",
]

PARAMETRIZATIONS = ("ntk", "standard")
TRAINABLE_SPELLINGS = ("all", "output", "hidden", "penultimate", "hidden_biases")


@dataclass(frozen=True)
class NetworkSpec:
    """Shape and scales of a fully connected network of constant width."""

    n_features: int
    n_outputs: int
    width: int
    depth: int
    activation: str = "relu"
    weight_std: float = 1.0
    bias_std: float = 0.1
    parametrization: str = "ntk"

    @cached_property
    def layer_dims(self) -> list[tuple[int, int]]:
        """``(fan_in, fan_out)`` of layers ``1 .. depth + 1``."""
        sizes = [self.n_features] + [self.width] * self.depth + [self.n_outputs]
        return list(zip(sizes[:-1], sizes[1:]))

    @cached_property
    def multipliers(self) -> list[tuple[float, float]]:
        """``(a_l, c_l)`` of layers ``1 .. depth + 1``."""
        if self.parametrization == "ntk":
            return [
                (self.weight_std / np.sqrt(fan_in), self.bias_std) for fan_in, _ in self.layer_dims
            ]
        return [(1.0, 1.0)] * (self.depth + 1)

    @cached_property
    def act(self):
        return get_activation(self.activation)

    @cached_property
    def core(self):
        """The module that computes this network's passes.

        `_network_1d` (exact, ``O(n + m log n)`` per pass) for one input
        feature, one hidden layer, a piecewise-linear activation and a width
        from which it is the faster (`_network_1d.MIN_WIDTH`); this module
        (dense, ``O(n m)`` per layer) otherwise. Both offer `Workspace`,
        `forward`, `backward`, `gradients` and `jvp` with the same meaning: the
        training loops and the estimator call them through ``spec.core`` and
        never ask which one it is.
        """
        from . import _network_1d

        return _network_1d if _network_1d.applies(self) else sys.modules[__name__]

    def __getstate__(self):
        # the cached core is a module, which pickle cannot store; it is chosen again
        state = dict(self.__dict__)
        state.pop("core", None)
        return state


def group_names(depth: int) -> list[str]:
    """Names of the parameter groups of a network with ``depth`` hidden layers."""
    return [f"{p}{l}" for l in range(1, depth + 2) for p in ("W", "b")]


def resolve_trainable(trainable, depth: int) -> tuple[str, ...]:
    """Turn a ``trainable`` specification into a tuple of group names.

    Spellings: ``"all"``; ``"output"`` (``W{L+1}, b{L+1}``); ``"hidden"``
    (every group but the output layer's); ``"penultimate"`` (``W{L}, b{L}``,
    the "second but last" layer of the approximation theory); ``"hidden_biases"``
    (``b1 .. bL``, the breakpoints of the shallow model); a group name such as
    ``"W2"``; or a sequence of group names.
    """
    names = group_names(depth)
    out = f"{depth + 1}"
    if isinstance(trainable, str):
        spelled = {
            "all": names,
            "output": [f"W{out}", f"b{out}"],
            "hidden": names[:-2],
            "penultimate": [f"W{depth}", f"b{depth}"],
            "hidden_biases": [f"b{l}" for l in range(1, depth + 1)],
        }
        if trainable in spelled:
            groups = spelled[trainable]
        elif trainable in names:
            groups = [trainable]
        else:
            raise ValueError(
                f"trainable={trainable!r} is neither one of {list(TRAINABLE_SPELLINGS)} "
                f"nor a parameter group of a depth-{depth} network {names}."
            )
    else:
        groups = list(trainable)
        unknown = [g for g in groups if g not in names]
        if unknown or not groups:
            raise ValueError(
                f"trainable={trainable!r} must name parameter groups among {names}; "
                f"unknown: {unknown or 'none given'}."
            )
    if not groups:
        raise ValueError(f"trainable={trainable!r} selects no group for depth {depth}.")
    return tuple(g for g in names if g in groups)


def init_params(spec: NetworkSpec, random_state=None, init="gaussian", dtype=np.float64):
    """Draw the initial parameters.

    ``init="gaussian"``: i.i.d. N(0, 1) entries under the NTK parametrization,
    N(0, weight_std**2 / fan_in) weights and N(0, bias_std**2) biases under the
    standard one. The draws depend on the layer sizes and seed only (never on
    the number of samples), drawn group by group in a fixed order.

    ``init="breakpoint"``: the shallow 1-d model
    ``f(x) = m**-0.5 * sum_r a_r * phi(x - theta_r)`` (needs ``depth=1``):
    unit effective inner weights, breakpoints ``theta_r`` uniform on [-1, 1]
    carried by the hidden bias, effective outer weights ``a_r / sqrt(m)`` with
    random signs ``a_r``, and a zero output bias. With ``d > 1`` features the
    inner weights are unit vectors ``v_r`` drawn uniformly on the sphere, so
    that the units are ridge functions ``phi(v_r . x - theta_r)``.
    """
    rng = check_random_state(random_state)
    params = {}
    if init == "gaussian":
        for l, (fan_in, fan_out) in enumerate(spec.layer_dims, start=1):
            w_scale = 1.0 if spec.parametrization == "ntk" else spec.weight_std / np.sqrt(fan_in)
            b_scale = 1.0 if spec.parametrization == "ntk" else spec.bias_std
            params[f"W{l}"] = (w_scale * rng.standard_normal((fan_in, fan_out))).astype(dtype)
            params[f"b{l}"] = (b_scale * rng.standard_normal(fan_out)).astype(dtype)
        return params
    if init == "breakpoint":
        if spec.depth != 1:
            raise ValueError(
                "init='breakpoint' describes the shallow model and needs depth=1; "
                f"got depth={spec.depth}."
            )
        (a1, c1), (a2, _) = spec.multipliers
        if a1 == 0 or c1 == 0 or a2 == 0:
            raise ValueError(
                "init='breakpoint' needs weight_std > 0 and bias_std > 0 so that the "
                "breakpoints and unit weights are representable."
            )
        m = spec.width
        theta = rng.uniform(-1.0, 1.0, size=m)
        signs = rng.choice([-1.0, 1.0], size=(m, spec.n_outputs))
        if spec.n_features == 1:
            directions = np.ones((1, m))
        else:
            directions = rng.standard_normal((spec.n_features, m))
            directions /= np.linalg.norm(directions, axis=0)
        params["W1"] = (directions / a1).astype(dtype)
        params["b1"] = (-theta / c1).astype(dtype)
        params["W2"] = (signs / (np.sqrt(m) * a2)).astype(dtype)
        params["b2"] = np.zeros(spec.n_outputs, dtype=dtype)
        return params
    raise ValueError(f"init must be 'gaussian' or 'breakpoint'; got {init!r}.")


# --- matrix products -----------------------------------------------------------------
#
# Every product goes through NumPy's BLAS (`_threads.matmul`), never SciPy's: SciPy
# ships a second BLAS with its own threads, and two pools taking turns within every
# step kept each other's idle threads spinning, which made a fit several times
# slower than one thread as soon as another process competed for the CPUs. How
# the products use threads is `_threads`' policy.


def _gemm(alpha, A, B, out, beta=0.0):
    """``out = alpha * A @ B + beta * out`` for dense arrays, writing into ``out``.

    ``A`` and ``B`` may be transposed views of C-contiguous arrays (NumPy hands
    them to BLAS as transposed, without copies); ``out`` is C-contiguous. With
    ``beta = 0`` the product is written into ``out`` directly. An inner
    dimension of one is an outer product.
    """
    if beta == 0.0:
        if A.shape[1] == 1:
            return np.multiply(A, alpha * B if alpha != 1.0 else B, out=out)
        _threads.matmul(A, B, out)
        if alpha != 1.0:
            out *= alpha
        return out
    return _axpby(alpha, _threads.matmul(A, B, np.empty_like(out)), beta, out, scratch=True)


def _matmul(alpha, A, B, out, beta=0.0):
    """Like `_gemm`, for a possibly sparse ``A``."""
    if sparse.issparse(A):
        return _axpby(alpha, np.asarray(A @ B), beta, out, scratch=True)
    return _gemm(alpha, A, B, out, beta)


def _axpby(alpha, x, beta, y, scratch=False):
    """``y = alpha * x + beta * y`` in place (``x`` is overwritten if ``scratch``)."""
    if beta == 0.0:
        return np.multiply(x, alpha, out=y)
    if beta != 1.0:
        y *= beta
    if alpha == 1.0:
        y += x
    elif scratch:
        x *= alpha
        y += x
    else:
        y += alpha * x
    return y


def _weights(params, spec: NetworkSpec, ws, l):
    """``a_l * W_l``, formed once per forward pass and kept in ``ws``.

    The forward product of layer ``l`` and the backward product through it both
    use the scaled weights, so one scaling per step replaces a scaling of the
    (larger) activations or deltas after each product.
    """
    a = spec.multipliers[l - 1][0]
    W = params[f"W{l}"]
    if a == 1.0:
        return W
    cached = ws.scaled_weights[l - 1]
    if cached is None or ws.scaled_stale[l - 1]:
        if cached is None or cached.shape != W.shape or cached.dtype != W.dtype:
            cached = ws.scaled_weights[l - 1] = np.empty_like(W)
        np.multiply(W, a, out=cached)
        ws.scaled_stale[l - 1] = False
    return cached


# --- forward and backward ------------------------------------------------------------


#: Up to this many input features, and from this width on, the first ReLU
#: layer's forward pass is one C pass (`_fused.linear_relu`) rather than a BLAS
#: product and a ReLU pass: measured faster from width 32 to 1024 in both dtypes
#: with 10 features (``benchmarks/bench_kernels.py``), and for up to about 12
#: features at widths 64 to 1024. At smaller widths the activations fit in cache
#: and BLAS is faster.
THIN_INPUT_MAX_FEATURES = 12
THIN_INPUT_MIN_WIDTH = 32
#: With a thin input, the gradient of ``W1`` is summed in the pass that masks
#: the first layer's delta (`_fused.mask_mul` with ``x``) while a row of that
#: delta takes at most this many bytes: measured 1.3 to 6 times faster than the
#: mask and a separate BLAS product up to float64 width 1024 and float32 width
#: 2048 in the same benchmark; for longer rows it ranged from 0.6 to 1.2 times
#: from run to run.
W1_GRAD_MAX_ROW_BYTES = 8192


class Workspace:
    """Preallocated buffers for repeated passes over one fixed input ``X``.

    ``zs[l]`` and ``hs[l + 1]`` hold the pre-activations and activations of
    hidden layer ``l + 1`` (``hs[0]`` is the input; for activations whose
    derivative is read off their output they are one buffer, the activation
    applied in place), ``deltas[l]`` the derivative of the backpropagated
    quantity with respect to ``z_{l+1}``.
    """

    def __init__(self, spec: NetworkSpec, X, dtype):
        n = X.shape[0]
        self.X = X
        self.out = np.empty((n, spec.n_outputs), dtype=dtype)
        self.zs = [np.empty((n, fo), dtype=dtype) for _, fo in spec.layer_dims[:-1]]
        # Where phi' can be read off phi(z), the activation overwrites z in place.
        shared = spec.act.derivative_from_output
        self.hs = [X] + [z if shared else np.empty_like(z) for z in self.zs]
        self.deltas = [np.empty((n, fo), dtype=dtype) for _, fo in spec.layer_dims]
        self.ones = np.ones(n, dtype=dtype)
        # ReLU layers with the C kernels: bias and activation in one pass, the
        # derivative mask applied in one pass that also sums each column of the
        # delta (the layer's bias gradient), recorded in ``colsums``.
        self.fused = _fused is not None and spec.act.name == "relu"
        self.colsums = [np.empty(fo, dtype=dtype) for _, fo in spec.layer_dims[:-1]]
        self.colsums_ready = [False] * spec.depth
        # With few input features, the first layer's product, bias and ReLU are
        # one C pass (`_fused.linear_relu`), which needs a C-ordered input.
        self.thin_input = (
            self.fused
            and not sparse.issparse(X)
            and X.dtype == dtype
            and X.shape[1] <= THIN_INPUT_MAX_FEATURES
            and spec.width >= THIN_INPUT_MIN_WIDTH
        )
        if self.thin_input:
            self.X = self.hs[0] = np.ascontiguousarray(X)
        # With one output, `forward_top` does the top hidden layer's bias and
        # ReLU, the output, the loss and the output layer's backward pass in one
        # pass; it leaves the output layer's weight gradient in ``out_grad``.
        self.top_fused = self.fused and spec.n_outputs == 1
        self.out_grad = np.empty(spec.width, dtype=dtype) if self.top_fused else None
        self.out_grad_ready = False
        self.w1_in_mask = (
            self.thin_input and spec.width * np.dtype(dtype).itemsize <= W1_GRAD_MAX_ROW_BYTES
        )
        self.w1_grad = np.empty((X.shape[1], spec.width), dtype=dtype) if self.w1_in_mask else None
        self.w1_grad_ready = False
        # ``a_l * W_l`` of the current forward pass (see `_weights`), and scratch
        # for gradients accumulated into existing arrays; both made when first needed.
        self.scaled_weights = [None] * (spec.depth + 1)
        self.scaled_stale = [True] * (spec.depth + 1)
        self.grad_scratch = {}


def workspace_nbytes(spec: NetworkSpec, n_samples: int, itemsize: int, n_input_copy=0) -> int:
    """Bytes a `Workspace` for ``n_samples`` rows allocates (at most).

    ``n_input_copy`` counts input values the workspace may copy (a contiguous
    copy of a thin input). The scaled weights and gradient scratch are included.
    """
    m, L, k, p = spec.width, spec.depth, spec.n_outputs, spec.n_features
    shared = spec.act.derivative_from_output
    per_row = (1 if shared else 2) * L * m + L * m + 2 * k + 1  # zs, hs, deltas, out, ones
    n_weights = sum(fan_in * fan_out for fan_in, fan_out in spec.layer_dims)
    n_biases = sum(fan_out for _, fan_out in spec.layer_dims)
    # colsums, out_grad, W1 gradient, scaled weights, gradient scratch
    per_net = L * m + m + p * m + 2 * n_weights + n_biases
    return itemsize * (n_samples * per_row + per_net + n_input_copy)


def _scaled(multiplier, x, dtype):
    """``multiplier * x`` in ``dtype`` for a kernel argument (``x`` itself for 1)."""
    return x if multiplier == 1.0 else (multiplier * x).astype(dtype, copy=False)


def forward(params, spec: NetworkSpec, X, workspace: Workspace | None = None, *, last=None):
    """Network output ``f(X)`` of shape ``(n, n_outputs)``.

    With a ``workspace`` the intermediate values are kept there for `backward`.
    With ``last`` only layers ``1 .. last`` are computed (nothing is returned).
    """
    if workspace is None:
        workspace = Workspace(spec, X, params["W1"].dtype)
    ws = workspace
    ws.scaled_stale = [True] * (spec.depth + 1)  # a new pass: perhaps new parameters
    act = spec.act
    L = spec.depth
    for l, (a, c) in enumerate(spec.multipliers[:last], start=1):
        z = ws.zs[l - 1] if l <= L else ws.out
        if l <= L and ws.fused:
            b = _scaled(c, params[f"b{l}"], z.dtype)
            if l == 1 and ws.thin_input:  # product, bias and ReLU in one pass
                _fused.linear_relu(z, ws.hs[0], params["W1"], b, a)
            else:  # product, then bias and ReLU in one pass
                _matmul(1.0, ws.hs[l - 1], _weights(params, spec, ws, l), out=z)
                _fused.relu_bias(z, b)
            continue
        _matmul(1.0, ws.hs[l - 1], _weights(params, spec, ws, l), out=z)
        if c != 0.0:
            b = params[f"b{l}"]
            z += b if c == 1.0 else c * b
        if l <= L:
            act.phi(z, out=ws.hs[l])
    return ws.out if last is None else None


def forward_top(params, spec: NetworkSpec, ws: Workspace, y, sample_weight, scale, need_delta):
    """`forward`, the loss and the start of `backward` at once (``ws.top_fused``).

    For a ReLU network with one output and the C kernels: the layers below the
    top hidden layer as in `forward`, the top layer's product, then one pass
    (`_fused.relu_output`) for its bias and ReLU, the output, the residual
    ``delta_out = scale * (f - y)``, the output layer's weight gradient
    (``ws.out_grad``, before its multiplier) and, with ``need_delta``, the top
    layer's delta and bias-gradient sums. Continue with
    ``backward(..., delta_out=None, top_done=True)``. The top layer's
    activations are not stored (no later pass needs them): ``ws.hs[L]`` holds
    its product ``a_L * h_{L-1} @ W_L`` afterwards.

    ``y``, ``sample_weight`` (float64) and ``scale`` are contiguous vectors.
    Returns ``sum_i sample_weight_i * (f(x_i) - y_i)**2``.
    """
    L = spec.depth
    forward(params, spec, ws.X, ws, last=L - 1)
    c = spec.multipliers[L - 1][1]
    z = ws.zs[L - 1]
    _matmul(1.0, ws.hs[L - 1], _weights(params, spec, ws, L), out=z)
    b = _scaled(c, params[f"b{L}"], z.dtype)
    c_out = spec.multipliers[L][1]
    v = _weights(params, spec, ws, L + 1)[:, 0]
    d, colsum = (ws.deltas[L - 1], ws.colsums[L - 1]) if need_delta else (None, None)
    loss = _fused.relu_output(
        z,
        b,
        v,
        c_out * float(params[f"b{L + 1}"][0]),
        y,
        sample_weight,
        scale,
        ws.out[:, 0],
        ws.deltas[L][:, 0],
        d,
        colsum,
        ws.out_grad,
    )
    ws.out_grad_ready = True
    ws.colsums_ready = [False] * L
    ws.colsums_ready[L - 1] = need_delta
    return loss


def backward(
    params, spec: NetworkSpec, ws: Workspace, delta_out, lowest=1, *, top_done=False, w1=False
):
    """Backpropagate ``delta_out = dLoss/df`` (per sample) to every layer.

    Fills ``ws.deltas[l - 1] = dLoss/dz_l`` for ``l = lowest .. L+1`` using the
    cached forward pass in ``ws``. Groups below ``lowest`` need no delta. With
    ``top_done``, `forward_top` has already filled the deltas of layers
    ``L .. L+1`` (``delta_out`` is then ignored). With ``w1`` (the gradient of
    ``W1`` will be asked for) and ``ws.w1_in_mask``, that gradient is summed in
    the pass that masks the first layer's delta, into ``ws.w1_grad``, and that
    delta is then not stored (``ws.deltas[0]`` is left unmasked).
    """
    act = spec.act
    L = spec.depth
    ws.w1_grad_ready = False
    if top_done:
        start = L - 1
    else:
        start = L
        np.copyto(ws.deltas[L], delta_out)
        ws.colsums_ready = [False] * L
        ws.out_grad_ready = False
    for l in range(start, lowest - 1, -1):
        d = ws.deltas[l - 1]
        W_next = _weights(params, spec, ws, l + 1)  # a_{l+1} * W_{l+1}
        if ws.fused:
            if l == L and W_next.shape[1] == 1:  # a single output: a masked outer product
                w = np.ascontiguousarray(W_next[:, 0])
                _fused.outer_mask(d, ws.deltas[L][:, 0], w, ws.hs[l], ws.colsums[l - 1])
            elif l == 1 and w1 and ws.w1_in_mask:  # mask, bias and W1 gradients in one pass
                _gemm(1.0, ws.deltas[l], W_next.T, out=d)
                # Both gradients of layer 1 are formed here; the masked delta itself
                # is not needed afterwards, so it is not written back.
                _fused.mask_mul(d, ws.hs[l], ws.colsums[l - 1], ws.hs[0], ws.w1_grad, False)
                ws.w1_grad_ready = True
            else:
                _gemm(1.0, ws.deltas[l], W_next.T, out=d)
                _fused.mask_mul(d, ws.hs[l], ws.colsums[l - 1])
            ws.colsums_ready[l - 1] = True
            continue
        _gemm(1.0, ws.deltas[l], W_next.T, out=d)
        act.mul_dphi(d, ws.zs[l - 1], ws.hs[l])
    return ws.deltas


def gradients(spec: NetworkSpec, ws: Workspace, groups, out, alpha=1.0, beta=0.0):
    """``out[g] = alpha * dLoss/dg + beta * out[g]`` for each group ``g``.

    Uses the deltas of the last `backward`. With ``out`` the parameters
    themselves, ``alpha = -learning_rate`` and ``beta = 1`` this *is* a
    gradient-descent update, done inside the matrix product.
    """
    for g in groups:
        l = int(g[1:])
        a, c = spec.multipliers[l - 1]
        delta = ws.deltas[l - 1]
        if g[0] == "W" and l == spec.depth + 1 and ws.out_grad_ready:  # from `forward_top`
            _axpby(alpha * a, ws.out_grad, beta, out[g][:, 0])
        elif g == "W1" and ws.w1_grad_ready:  # summed during `backward`
            _axpby(alpha * a, ws.w1_grad, beta, out[g])
        elif g[0] == "W" and beta == 0.0:
            _matmul(alpha * a, ws.hs[l - 1].T, delta, out=out[g])
        elif g[0] == "W":  # the product into scratch, then accumulated
            scratch = ws.grad_scratch.get(g)
            if scratch is None or scratch.shape != out[g].shape:
                scratch = ws.grad_scratch[g] = np.empty_like(out[g])
            _matmul(1.0, ws.hs[l - 1].T, delta, out=scratch)
            _axpby(alpha * a, scratch, beta, out[g], scratch=True)
        elif l <= spec.depth and ws.colsums_ready[l - 1]:  # summed during `backward`
            _axpby(alpha * c, ws.colsums[l - 1], beta, out[g])
        else:  # column sums as a matrix-vector product
            _axpby(alpha * c, ws.ones @ delta, beta, out[g], scratch=True)
    return out


def lowest_layer(groups) -> int:
    """The lowest layer index whose delta the gradient of ``groups`` needs."""
    return min(int(g[1:]) for g in groups)


def jvp(params, spec: NetworkSpec, ws: Workspace, tangent):
    """Directional derivative ``J @ tangent`` of the outputs, shape ``(n, k)``.

    ``tangent`` maps (some) group names to arrays shaped like the parameters;
    missing groups have zero tangent. Uses the forward pass cached in ``ws``.
    """
    act = spec.act
    L = spec.depth
    dh = None
    for l, (a, c) in enumerate(spec.multipliers, start=1):
        fan_out = spec.layer_dims[l - 1][1]
        dz = np.zeros((ws.hs[0].shape[0], fan_out), dtype=ws.out.dtype)
        if dh is not None:
            _gemm(1.0, dh, _weights(params, spec, ws, l), out=dz)
        if f"W{l}" in tangent:
            _matmul(a, ws.hs[l - 1], tangent[f"W{l}"], out=dz, beta=1.0)
        if f"b{l}" in tangent:
            dz += c * tangent[f"b{l}"]
        if l <= L:
            act.mul_dphi(dz, ws.zs[l - 1], ws.hs[l])
            dh = dz
    return dz


def empirical_ntk(params, spec: NetworkSpec, X, Y=None, trainable="all"):
    """Empirical NTK ``(1/k) sum_j <df_j(x)/dtheta, df_j(y)/dtheta>``.

    The sum runs over the trained groups. Per layer the inner product factors
    into Gram matrices of activations and of backpropagated deltas,
    ``a_l^2 (h_{l-1}(x).h_{l-1}(y)) (delta_l(x).delta_l(y))`` for weights and
    ``c_l^2 delta_l(x).delta_l(y)`` for biases, so the cost is
    ``O(n_X n_Y width)`` per layer and output, never the size of the Jacobian.

    Returns an array of shape ``(n_X, n_Y)``.
    """
    groups = resolve_trainable(trainable, spec.depth)
    dtype = params["W1"].dtype
    sides = []
    for Z in (X, X if Y is None else Y):
        ws = Workspace(spec, Z, dtype)
        forward(params, spec, Z, ws)
        sides.append(ws)
    k = spec.n_outputs
    lowest = lowest_layer(groups)
    gram_h = {}
    for l in {int(g[1:]) for g in groups if g[0] == "W"}:
        hx, hy = sides[0].hs[l - 1], sides[1].hs[l - 1]
        prod = hx @ hy.T
        gram_h[l] = np.asarray(prod.toarray() if sparse.issparse(prod) else prod)
    ntk = np.zeros((X.shape[0], sides[1].hs[0].shape[0]), dtype=dtype)
    for j in range(k):
        for ws in sides:
            e = np.zeros_like(ws.out)
            e[:, j] = 1.0
            backward(params, spec, ws, e, lowest)
        for g in groups:
            l = int(g[1:])
            a, c = spec.multipliers[l - 1]
            gram_d = sides[0].deltas[l - 1] @ sides[1].deltas[l - 1].T
            if g[0] == "W":
                ntk += a * a * gram_h[l] * gram_d
            else:
                ntk += c * c * gram_d
    return ntk / k


#: Up to this many outputs (``n * k``) or trained parameters, the top eigenvalue
#: comes from the dense Gram matrix in the smaller of the two spaces (the nonzero
#: eigenvalues of ``J J^T`` and ``J^T J`` agree): Lanczos needs a Krylov space of a
#: few vectors, which an operator of very low rank does not have.
DENSE_EIGEN_MAX = 32

_NON_FINITE_KERNEL = (
    "The network's {what} at its starting parameters is not finite: the inputs, the "
    "weight and bias scales or the sample weights are too large for {dtype} "
    "(max |X| = {xmax:.3g}). Scale the inputs, use smaller scales, or pass a "
    "numeric learning_rate."
)


def max_ntk_eigenvalue(params, spec, X, sample_weight=None, trainable="all", rtol=1e-6):
    """Largest eigenvalue of the weighted empirical NTK on the training set.

    The operator is ``u -> W^1/2 J J^T W^1/2 u`` on the ``n * k`` outputs
    (``J`` the Jacobian of all outputs with respect to the trained groups,
    ``W`` the sample weights), applied matrix-free as one backward and one
    forward-mode pass; the largest eigenvalue comes from Lanczos iterations, or
    from a dense Gram matrix when the outputs or the trained parameters are few.
    Gradient descent on the loss ``1/(2N) sum_i w_i ||f(x_i) - y_i||^2`` is
    stable for steps ``eta < 2 N / lambda_max``. Returns 0 for an operator that
    is zero (no trained parameter moves any output); raises ``ValueError``
    when the network or its kernel is not finite.
    """
    groups = resolve_trainable(trainable, spec.depth)
    dtype = params["W1"].dtype
    n, k = X.shape[0], spec.n_outputs
    sqrt_w = np.ones(n) if sample_weight is None else np.sqrt(sample_weight)
    core = spec.core
    ws = core.Workspace(spec, X, dtype)
    out = core.forward(params, spec, X, ws)

    def refuse(what):
        xmax = abs(X).max() if X.shape[0] * X.shape[1] else 0.0
        return ValueError(_NON_FINITE_KERNEL.format(what=what, dtype=dtype, xmax=float(xmax)))

    if not np.all(np.isfinite(out)):
        raise refuse("output")
    lowest = lowest_layer(groups)
    buf = {g: np.empty_like(params[g]) for g in groups}

    def pullback(u):  # J^T W^1/2 u into ``buf``
        u = np.asarray(u, dtype=np.float64).reshape(n, k) * sqrt_w[:, None]
        core.backward(params, spec, ws, u.astype(dtype, copy=False), lowest)
        core.gradients(spec, ws, groups, buf)

    def push(tangent):  # W^1/2 J tangent, flattened
        v = core.jvp(params, spec, ws, tangent).astype(np.float64)
        return (v * sqrt_w[:, None]).ravel()

    def matvec(u):
        pullback(u)
        v = push(buf)
        if not np.all(np.isfinite(v)):
            raise refuse("tangent kernel")
        return v

    N = n * k
    P = sum(params[g].size for g in groups)
    if min(N, P) <= DENSE_EIGEN_MAX:
        if N <= P:
            gram = np.column_stack([matvec(e) for e in np.eye(N)])
        else:  # J^T W J, one parameter direction at a time
            shapes = [(g, params[g].shape, params[g].size) for g in groups]
            columns = []
            for e in np.eye(P):
                parts = np.split(e, np.cumsum([size for _, _, size in shapes])[:-1])
                tangent = {
                    g: part.reshape(shape).astype(dtype)
                    for (g, shape, _), part in zip(shapes, parts)
                }
                pullback(push(tangent))
                columns.append(np.concatenate([buf[g].ravel() for g in groups]))
            gram = np.column_stack(columns).astype(np.float64)
            if not np.all(np.isfinite(gram)):
                raise refuse("tangent kernel")
        size = np.abs(gram).max()
        if size == 0:
            return 0.0
        gram /= size  # eigvalsh squares entries: keep them near one
        return float(np.linalg.eigvalsh(0.5 * (gram + gram.T))[-1]) * size
    v0 = np.ones(N)  # deterministic start; the top mode has a large mean part
    probe = matvec(v0)
    if not probe.any():  # a second, generic direction tells a zero operator
        v0 = np.random.default_rng(0).standard_normal(N)
        probe = matvec(v0)
        if not probe.any():
            return 0.0
    # Lanczos on the operator divided by the size of its first image, so that
    # its vectors and coefficients stay near one whatever the scale of the kernel.
    size = np.abs(probe).max() / np.abs(v0).max()
    op = LinearOperator((N, N), matvec=lambda u: matvec(u) / size, dtype=np.float64)
    # A small Krylov space suffices: the top eigenvalue of an NTK Gram matrix is
    # well separated, and each operator application costs about two GD steps.
    try:
        lam = eigsh(op, k=1, which="LA", tol=rtol, v0=v0, ncv=6, return_eigenvectors=False)
    except (ArpackError, ArpackNoConvergence):  # a degenerate Krylov space: widen it
        v0 = np.random.default_rng(0).standard_normal(N)
        lam = eigsh(
            op, k=1, which="LA", tol=rtol, v0=v0, ncv=min(N, 20), return_eigenvectors=False
        )
    return float(lam[0]) * size
