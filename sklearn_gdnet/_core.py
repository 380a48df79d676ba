"""The network passes, computed by the core that the network's specification chooses.

`NetworkSpec.core` is the one place that decides: the dense passes of
`_network` or the exact passes of `_network_1d` for one input feature. The
training loops and the estimator call these functions and never ask which
core computes them.
"""

from __future__ import annotations

__all__ = ["Workspace", "backward", "forward", "gradients", "jvp", "workspace_nbytes"]


def Workspace(spec, X, dtype):  # noqa: N802 - stands for the cores' Workspace classes
    """Buffers for repeated passes over one fixed input ``X``."""
    return spec.core.Workspace(spec, X, dtype)


def forward(params, spec, X, workspace=None):
    """Network output ``f(X)`` of shape ``(n, n_outputs)``."""
    return spec.core.forward(params, spec, X, workspace)


def backward(params, spec, ws, delta_out, lowest=1, **kwargs):
    """Backpropagate ``delta_out = dLoss/df`` for `gradients`."""
    return spec.core.backward(params, spec, ws, delta_out, lowest, **kwargs)


def gradients(spec, ws, groups, out, alpha=1.0, beta=0.0):
    """``out[g] = alpha * dLoss/dg + beta * out[g]`` for each group ``g``."""
    return spec.core.gradients(spec, ws, groups, out, alpha, beta)


def jvp(params, spec, ws, tangent):
    """Directional derivative ``J @ tangent`` of the outputs."""
    return spec.core.jvp(params, spec, ws, tangent)


def workspace_nbytes(spec, n_samples, itemsize, n_input_copy=0):
    """Bytes a `Workspace` for ``n_samples`` rows allocates (at most)."""
    return spec.core.workspace_nbytes(spec, n_samples, itemsize, n_input_copy)
