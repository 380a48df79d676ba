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
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    # widths below, at and between the kernel's chunks of 32 (float64) or 64
    # (float32) columns; row counts below, at and between its blocks of 32 rows
    "n, p, m",
    [(1, 1, 1), (5, 3, 7), (32, 10, 32), (33, 12, 64), (70, 2, 100), (300, 10, 256)],
)
def test_linear_relu_matches_numpy(dtype, n, p, m):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, p)).astype(dtype)
    W = rng.standard_normal((p, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    alpha = 0.37
    expected = np.maximum(alpha * (x.astype(np.float64) @ W) + b, 0)  # float64 reference
    z = np.full((n, m), np.nan, dtype=dtype)  # every entry is written
    fused.linear_relu(z, x, W, b, alpha)
    tol = 1e-13 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(z, expected, rtol=tol, atol=tol * np.abs(expected).max())
    assert (z >= 0).all()


@needs_kernels
def test_linear_relu_keeps_nan_and_exact_zeros():
    x = np.array([[1.0, 0.0], [np.nan, 1.0], [1.0, 1.0]])
    W = np.array([[1.0, -1.0, 0.0], [2.0, 1.0, 0.0]])
    b = np.array([-1.0, 1.0, 0.0])
    z = np.empty((3, 3))
    fused.linear_relu(z, x, W, b, 1.0)
    # rows by hand: [1-1, -1+1, 0] -> zeros; NaN row stays NaN; [3-1, 0+1, 0]
    np.testing.assert_array_equal(z, [[0.0, 0.0, 0.0], [np.nan] * 3, [2.0, 1.0, 0.0]])


def relu_output_by_numpy(z, b, v, c, y, sw, scale):
    """What `relu_output` computes, pass by pass."""
    h = np.maximum(z + b, 0)
    out = h @ v + c
    e = out - y
    r = scale * e
    d = np.multiply.outer(r, v) * (h > 0)
    loss = float(sw @ (e.astype(np.float64) ** 2))
    return h, out, r, d, d.sum(axis=0), h.T @ r, loss


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
# widths below, at and between the kernel's dot-product chunks (16 float64, 32 float32)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (33, 16), (50, 33), (300, 256)])
def test_relu_output_matches_numpy(dtype, shape):
    n, m = shape
    rng = np.random.default_rng(3)
    z = rng.standard_normal((n, m)).astype(dtype)
    z[rng.random((n, m)) < 0.1] = 0.0  # exact zeros after the bias too
    b = np.where(rng.random(m) < 0.3, 0.0, rng.standard_normal(m)).astype(dtype)
    v = rng.standard_normal(m).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    sw = rng.random(n)
    scale = (sw / n).astype(dtype)
    h, out, r, d, colsum, gh, loss = relu_output_by_numpy(z, b, v, 0.3, y, sw, scale)
    got = {k: np.full(s, np.nan, dtype=dtype) for k, s in [("out", n), ("r", n), ("gh", m)]}
    got_d, got_cs = np.full((n, m), np.nan, dtype=dtype), np.full(m, np.nan, dtype=dtype)
    z_before = z.copy()
    got_loss = fused.relu_output(
        z, b, v, 0.3, y, sw, scale, got["out"], got["r"], got_d, got_cs, got["gh"]
    )
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_array_equal(z, z_before)  # read only
    np.testing.assert_allclose(got["out"], out, rtol=tol, atol=tol)
    np.testing.assert_allclose(got["r"], r, rtol=10 * tol, atol=tol * np.abs(r).max())
    # d is r * v * mask exactly, with the kernel's own r
    np.testing.assert_array_equal(got_d, np.multiply.outer(got["r"], v) * (h > 0))
    np.testing.assert_allclose(got_d, d, rtol=10 * tol, atol=tol * np.abs(d).max())
    np.testing.assert_allclose(got_cs, colsum, rtol=10 * tol, atol=tol * np.abs(d).sum())
    np.testing.assert_allclose(got["gh"], gh, rtol=10 * tol, atol=tol * np.abs(h).sum())
    np.testing.assert_allclose(got_loss, loss, rtol=10 * tol)
    # without d and colsum: the same output, residual and gradient
    out2, r2, gh2 = np.empty(n, dtype), np.empty(n, dtype), np.empty(m, dtype)
    loss2 = fused.relu_output(z, b, v, 0.3, y, sw, scale, out2, r2, None, None, gh2)
    np.testing.assert_array_equal(out2, got["out"])
    np.testing.assert_array_equal(gh2, got["gh"])
    assert loss2 == got_loss


@needs_kernels
def test_relu_output_by_hand():
    # one row, two units: h = [2, 0], out = 2 * 3 + 0 * 5 + 1 = 7, e = 7 - 4 = 3
    z = np.array([[1.0, -3.0]])
    out, r, d, cs, gh = np.empty(1), np.empty(1), np.empty((1, 2)), np.empty(2), np.empty(2)
    args = (np.array([1.0, 1.0]), np.array([3.0, 5.0]), 1.0, np.array([4.0]))
    loss = fused.relu_output(z, *args, np.array([2.0]), np.array([0.5]), out, r, d, cs, gh)
    assert loss == 2.0 * 3.0**2
    np.testing.assert_array_equal(z, [[1.0, -3.0]])  # left as it is
    assert out[0] == 7.0 and r[0] == 1.5
    np.testing.assert_array_equal(d, [[4.5, 0.0]])  # r * v where h > 0
    np.testing.assert_array_equal(cs, [4.5, 0.0])
    np.testing.assert_array_equal(gh, [3.0, 0.0])  # r * h


@needs_kernels
def test_relu_output_propagates_nan():
    z = np.array([[np.nan, 1.0], [1.0, 1.0]])
    out, r, gh = np.empty(2), np.empty(2), np.empty(2)
    ones = np.ones(2)
    loss = fused.relu_output(z, np.zeros(2), ones, 0.0, ones, ones, ones, out, r, None, None, gh)
    assert np.isnan(loss) and np.isnan(out[0]) and out[1] == 2.0


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
# rows around the kernel's groups of 32; columns around its vectors (8 or 16 values);
# features around the 12 it sums in registers at a time
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (8, 16), (65, 33), (300, 256), (70, 600)])
@pytest.mark.parametrize("p", [1, 10, 12, 13, 25])
def test_mask_mul_sums_the_first_layer_gradient(dtype, shape, p):
    _, h, d, _, _ = arrays(*shape, dtype)
    x = np.random.default_rng(5).standard_normal((shape[0], p)).astype(dtype)
    expected = d * (h > 0)
    colsum = np.empty(shape[1], dtype=dtype)
    g = np.full((p, shape[1]), np.nan, dtype=dtype)  # overwritten, not accumulated into
    d_before = d.copy()
    colsum2, g2 = np.empty_like(colsum), np.full_like(g, np.nan)
    fused.mask_mul(d, h, colsum2, x, g2, False)  # d left as it is
    np.testing.assert_array_equal(d, d_before)
    fused.mask_mul(d, h, colsum, x, g)
    np.testing.assert_array_equal(d, expected)
    reference = x.T.astype(np.float64) @ expected
    tol = 1e-12 if dtype == np.float64 else 1e-5
    scale = np.abs(x).T @ np.abs(expected)  # bounds the rounding of each entry
    np.testing.assert_array_less(np.abs(g - reference), tol * (scale + 1))
    np.testing.assert_array_equal(g2, g)  # the same sums either way
    np.testing.assert_array_equal(colsum2, colsum)
    with pytest.raises(ValueError, match="both x and g"):
        fused.mask_mul(d, h, colsum, x)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        fused.mask_mul(d, h, colsum, np.ones((shape[0] + 1, p), dtype=dtype), g)


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
    x, W = np.ones((5, 2)), np.ones((2, 4))
    with pytest.raises(ValueError, match="inconsistent shapes"):
        fused.linear_relu(z, x, np.ones((3, 4)), b, 1.0)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        fused.linear_relu(z, x[:4], W, b, 1.0)
    with pytest.raises(TypeError, match="one dtype"):
        fused.linear_relu(z, x.astype(np.float32), W, b, 1.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        fused.linear_relu(z, np.asfortranarray(np.ones((5, 3)))[:, :2], W, b, 1.0)
    n1, m1 = np.ones(5), np.ones(4)
    with pytest.raises(TypeError, match="sw must be float64"):
        fused.relu_output(z, b, m1, 0.0, n1, n1.astype(np.float32), n1, n1, n1, None, None, m1)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        fused.relu_output(z, b, m1, 0.0, n1[:4], n1, n1, n1, n1, None, None, m1)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        fused.relu_output(z, b, m1, 0.0, n1, n1, n1, n1, n1, d[:, :3].copy(), None, m1)
    z.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fused.relu_bias(z, b)
    with pytest.raises(ValueError, match="read-only"):
        fused.linear_relu(z, x, W, b, 1.0)


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
        # the one-pass first layer (`linear_relu`), with chunks and a remainder
        dict(width=70, n_features=12),
        dict(width=70, n_features=12, order="F"),
        dict(width=70, n_features=13),  # too many features: BLAS and relu_bias
    ],
)
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_training_with_kernels_matches_numpy(monkeypatch, params, n_outputs):
    params = dict(params)  # shared between the parametrized cases: do not mutate
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(60, params.pop("n_features", 3)))
    if params.pop("order", "C") == "F":
        X = np.asfortranarray(X)
    y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2]
    if n_outputs > 1:
        y = np.column_stack([y * (j + 1) for j in range(n_outputs)])
    kwargs = dict(width=24, depth=2, learning_rate=0.05, max_iter=40, random_state=0)
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


@needs_kernels
def test_float32_training_with_kernels_matches_numpy(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(80, 10)).astype(np.float32)
    y = (np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2]).astype(np.float32)
    kwargs = dict(width=100, depth=2, learning_rate=0.05, max_iter=30, random_state=0)
    with_kernels = GDNetworkRegressor(**kwargs).fit(X, y)
    assert with_kernels.params_["W1"].dtype == np.float32
    monkeypatch.setattr(_network, "_fused", None)
    numpy_only = GDNetworkRegressor(**kwargs).fit(X, y)
    np.testing.assert_allclose(with_kernels.loss_curve_, numpy_only.loss_curve_, rtol=1e-4)
    for g, value in numpy_only.params_.items():
        np.testing.assert_allclose(with_kernels.params_[g], value, rtol=1e-3, atol=1e-5)


@needs_kernels
def test_workspace_uses_one_pass_first_layer_only_where_it_applies():
    spec = _network.NetworkSpec(n_features=12, width=32, depth=2, n_outputs=1)
    X = np.ones((5, 12))
    assert _network.Workspace(spec, X, np.float64).thin_input
    ws = _network.Workspace(spec, np.asfortranarray(X), np.float64)  # copied to C order
    assert ws.thin_input and ws.hs[0].flags.c_contiguous
    assert not _network.Workspace(spec, X.astype(np.float32), np.float64).thin_input
    assert not _network.Workspace(spec, sparse.csr_matrix(X), np.float64).thin_input
    wide = _network.NetworkSpec(n_features=13, width=32, depth=2, n_outputs=1)
    assert not _network.Workspace(wide, np.ones((5, 13)), np.float64).thin_input
    assert _network.Workspace(spec, X, np.float64).w1_in_mask
    long_rows = _network.NetworkSpec(n_features=12, width=2048, depth=2, n_outputs=1)
    assert not _network.Workspace(long_rows, X, np.float64).w1_in_mask  # 16 KiB rows
    assert _network.Workspace(long_rows, X.astype(np.float32), np.float32).w1_in_mask
    narrow = _network.NetworkSpec(n_features=12, width=31, depth=2, n_outputs=1)
    assert not _network.Workspace(narrow, X, np.float64).thin_input
    tanh = _network.NetworkSpec(n_features=12, width=32, depth=2, n_outputs=1, activation="tanh")
    assert not _network.Workspace(tanh, X, np.float64).thin_input


@needs_kernels
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize(
    "groups",
    [None, ("W1", "b1"), ("b2",), ("W2",), ("W_out", "b_out")],
)
def test_forward_top_gives_the_gradients_of_the_layer_by_layer_passes(
    depth, parametrization, groups
):
    # `forward_top` + `backward(top_done=True)` against `forward` + `backward`,
    # whose gradients test_network checks by finite differences.
    spec = _network.NetworkSpec(
        n_features=4, n_outputs=1, width=37, depth=depth, parametrization=parametrization
    )
    rng = np.random.default_rng(4)
    params = _network.init_params(spec, 4)
    X = rng.standard_normal((50, 4))
    y = rng.standard_normal((50, 1))
    sw = rng.random(50) * 2
    scale = (sw / y.size)[:, None]
    groups = list(params) if groups is None else [g.replace("_out", str(depth + 1)) for g in groups]
    lowest = _network.lowest_layer(groups)

    ws = _network.Workspace(spec, X, np.float64)
    resid = _network.forward(params, spec, X, ws) - y
    expected_loss = float(sw @ (resid[:, 0] ** 2))
    _network.backward(params, spec, ws, resid * scale, lowest)
    expected = _network.gradients(
        spec, ws, groups, out={g: np.empty_like(params[g]) for g in groups}
    )

    ws = _network.Workspace(spec, X, np.float64)
    assert ws.top_fused
    loss = _network.forward_top(
        params, spec, ws, y[:, 0].copy(), sw, scale[:, 0].copy(), lowest <= depth
    )
    assert ws.w1_in_mask  # W1's gradient comes from the masking pass too
    _network.backward(params, spec, ws, None, lowest, top_done=True, w1="W1" in groups)
    assert ws.w1_grad_ready == ("W1" in groups and depth > 1)
    got = _network.gradients(spec, ws, groups, out={g: np.empty_like(params[g]) for g in groups})
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-13)
    for g in groups:
        np.testing.assert_allclose(got[g], expected[g], rtol=1e-12, atol=1e-15, err_msg=g)


@needs_kernels
def test_weighted_training_with_kernels_matches_numpy(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(60, 3))
    y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2]
    sw = rng.random(60) * 3
    kwargs = dict(width=40, depth=2, learning_rate=0.05, max_iter=40, random_state=0)
    with_kernels = GDNetworkRegressor(**kwargs).fit(X, y, sample_weight=sw)
    monkeypatch.setattr(_network, "_fused", None)
    numpy_only = GDNetworkRegressor(**kwargs).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(with_kernels.loss_curve_, numpy_only.loss_curve_, rtol=1e-12)
    for g, value in numpy_only.params_.items():
        np.testing.assert_allclose(with_kernels.params_[g], value, rtol=1e-10, atol=1e-13)
