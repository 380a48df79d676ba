"""The optional C kernels of the ReLU training step, against NumPy's formulas.

Each kernel replaces two or three NumPy passes; here each is compared with
those passes written out, and a whole training run with the kernels is
compared with the same run on NumPy alone.
"""

import os

import numpy as np
import pytest
from scipy import sparse

from sklearn_gdnet import GDNetworkRegressor, _network

fused = _network._fused


def test_kernels_are_built_where_required():
    # CI sets this: a build that silently fell back to NumPy must not pass there.
    if os.environ.get("SKLEARN_GDNET_REQUIRE_C") != "1":
        pytest.skip("SKLEARN_GDNET_REQUIRE_C is not set")
    assert fused is not None, "sklearn_gdnet._fused was not built; see setup.py"


needs_kernels = pytest.mark.skipif(fused is None, reason="C kernels not built")


def arrays(n, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, m)).astype(dtype)
    h = np.maximum(rng.standard_normal((n, m)), 0).astype(dtype)
    h[rng.random((n, m)) < 0.1] = 0.0  # exact zeros: relu'(0) = 0 here, as in NumPy's path
    d = rng.standard_normal((n, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    r = rng.standard_normal(n).astype(dtype)
    return z, h, d, b, r


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 33), (300, 256)])
def test_relu_bias_matches_numpy(dtype, shape):
    z, _, _, b, _ = arrays(*shape, dtype)
    expected = np.maximum(z + b, 0)
    fused.relu_bias(z, b)
    np.testing.assert_array_equal(z, expected)


@needs_kernels
def test_relu_bias_keeps_nan_like_numpy():
    z = np.array([[np.nan, -1.0, 2.0, -np.inf, np.inf]])
    b = np.zeros(5)
    fused.relu_bias(z, b)
    np.testing.assert_array_equal(z, np.maximum([[np.nan, -1.0, 2.0, -np.inf, np.inf]], 0))


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 33), (300, 256)])
def test_outer_mask_matches_numpy(dtype, shape):
    _, h, d, _, r = arrays(*shape, dtype)
    w = np.random.default_rng(1).standard_normal(shape[1]).astype(dtype)
    colsum = np.full(shape[1], np.nan, dtype=dtype)  # overwritten, not accumulated into
    expected = np.multiply.outer(r, w) * (h > 0)
    fused.outer_mask(d, r, w, h, colsum)
    np.testing.assert_array_equal(d, expected)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(colsum, expected.sum(axis=0, dtype=np.float64), rtol=tol, atol=tol)
    d2 = np.empty_like(d)
    fused.outer_mask(d2, r, w, h, None)
    np.testing.assert_array_equal(d2, expected)


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 33), (300, 256)])
def test_mask_mul_matches_numpy(dtype, shape):
    _, h, d, _, _ = arrays(*shape, dtype)
    expected = d * (h > 0)
    colsum = np.full(shape[1], np.nan, dtype=dtype)
    d2 = d.copy()
    fused.mask_mul(d, h, colsum)
    np.testing.assert_array_equal(d, expected)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(colsum, expected.sum(axis=0, dtype=np.float64), rtol=tol, atol=tol)
    fused.mask_mul(d2, h, None)
    np.testing.assert_array_equal(d2, expected)


@needs_kernels
def test_kernels_reject_bad_arrays():
    z, h, d, b, r = arrays(5, 4, np.float64)
    with pytest.raises(TypeError, match="float32 or float64"):
        fused.relu_bias(z.astype(np.int64), b)
    with pytest.raises(TypeError, match="one dtype"):
        fused.relu_bias(z, b.astype(np.float32))
    with pytest.raises(ValueError, match="entries"):
        fused.relu_bias(z, b[:3])
    with pytest.raises(ValueError, match="C-contiguous"):
        fused.relu_bias(np.asfortranarray(z), b)
    with pytest.raises(TypeError, match="2-d"):
        fused.mask_mul(d.ravel(), h, None)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        fused.outer_mask(d, r[:3], b, h, None)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        fused.mask_mul(d, np.ascontiguousarray(h[:, :3]), None)
    z.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fused.relu_bias(z, b)


@needs_kernels
@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(parametrization="standard"),
        dict(bias_std=0.0),
        dict(trainable="hidden_biases"),
        dict(trainable="penultimate"),
        dict(solver="adam"),
        dict(momentum=0.9),
        dict(depth=3),
        dict(depth=1),
        dict(depth=1, trainable="output"),
        dict(sparse=True),
    ],
)
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_training_with_kernels_matches_numpy(monkeypatch, params, n_outputs):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(60, 3))
    y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2]
    if n_outputs > 1:
        y = np.column_stack([y * (j + 1) for j in range(n_outputs)])
    kwargs = dict(width=24, depth=2, learning_rate=0.05, max_iter=40, random_state=0)
    params = dict(params)  # shared between the parametrized cases: do not mutate
    if params.pop("sparse", False):
        X[np.abs(X) < 0.5] = 0.0
        X = sparse.csr_matrix(X)
    kwargs.update(params)
    with_kernels = GDNetworkRegressor(**kwargs).fit(X, y)
    monkeypatch.setattr(_network, "_fused", None)
    numpy_only = GDNetworkRegressor(**kwargs).fit(X, y)
    assert with_kernels.n_iter_ == numpy_only.n_iter_
    np.testing.assert_allclose(with_kernels.loss_curve_, numpy_only.loss_curve_, rtol=1e-12)
    for g, value in numpy_only.params_.items():
        np.testing.assert_allclose(with_kernels.params_[g], value, rtol=1e-10, atol=1e-13)
