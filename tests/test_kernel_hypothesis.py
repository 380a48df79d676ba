"""Property-based tests of the NTK and NNGP kernels (issue 12).

Over activations, depths, scales, trained groups, input shapes and magnitudes
(from 1e-170 to 1e170): a kernel evaluation either raises a ``ValueError`` with
a message, or returns a finite, exactly symmetric, positive semi-definite
matrix whose diagonal is ``diag(X)`` bit for bit, with a finite gradient of the
right shape. Bounded: 30 examples of at most 12 points.
"""

import warnings

import numpy as np
import pytest

from sklearn_gdnet._activations import ACTIVATIONS
from sklearn_gdnet.kernels import NNGP, NTK

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    database=None,
)


@st.composite
def cases(draw):
    activation = draw(st.sampled_from(sorted(ACTIVATIONS)))
    depth = draw(st.integers(1, 4))
    weight_std = 10.0 ** draw(st.floats(-1.5, 1.0))
    bias_std = draw(st.one_of(st.just(0.0), st.floats(1e-3, 3.0)))
    cls = draw(st.sampled_from([NTK, NNGP]))
    params = dict(depth=depth, activation=activation, weight_std=weight_std, bias_std=bias_std)
    if cls is NTK:
        params["trainable"] = draw(st.sampled_from(["all", "output", "hidden", "hidden_biases"]))
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    scale = 10.0 ** draw(st.one_of(st.integers(-3, 2), st.integers(-170, 170)))
    X = rng.normal(size=(n, d)) * scale
    if n > 2 and draw(st.booleans()):
        X[-1] = X[0]  # a duplicate
    return cls(**params), X


@SETTINGS
@given(cases())
def test_kernels_give_a_clear_error_or_a_finite_psd_matrix(case):
    kernel, X = case
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no silent overflow either
        try:
            M = kernel(X)
            M_grad, grad = kernel(X, eval_gradient=True)
            diag = kernel.diag(X)
        except ValueError as exc:
            assert str(exc)
            event("ValueError")
            return
    event("finite")
    assert M.shape == (len(X), len(X)) and np.isfinite(M).all()
    assert np.array_equal(M, M.T)
    assert np.array_equal(np.diag(M), diag)
    assert grad.shape == (len(X), len(X), kernel.n_dims) and np.isfinite(grad).all()
    top = np.abs(M).max()
    assert np.allclose(M_grad, M, rtol=1e-12, atol=1e-14 * top)
    if top > 0 and np.isfinite(top * len(X)):
        eig = np.linalg.eigvalsh(M / top)
        # ReLU's dual is not differentiable at correlation 1: a rounded correlation
        # of nearly collinear points costs sqrt(eps) there (the Hermite series and
        # the smooth closed forms are PSD to rounding).
        tol = 1e-8 if kernel.activation == "relu" else 1e-12
        assert eig.min() >= -tol * len(X), eig.min()
