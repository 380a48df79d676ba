"""Edge cases of the C kernels that the estimators cannot reach (issue 12, item 10)."""

import numpy as np
import pytest

from sklearn_gdnet import _network

fused = _network._fused
needs_kernels = pytest.mark.skipif(fused is None, reason="C kernels not built")


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (40, 33), (70, 600)])
def test_mask_mul_with_zero_input_features_still_masks_and_sums(dtype, shape):
    # With x of shape (n, 0) the first layer's weight gradient is empty, but the
    # delta must still be masked and its column sums formed, exactly as without x.
    rng = np.random.default_rng(0)
    n, m = shape
    h = np.maximum(rng.standard_normal(shape), 0).astype(dtype)
    d = rng.standard_normal(shape).astype(dtype)
    expected = np.where(h > 0, d, 0).astype(dtype)
    x, g = np.empty((n, 0), dtype=dtype), np.empty((0, m), dtype=dtype)

    kept, colsum_kept = d.copy(), np.full(m, np.nan, dtype=dtype)
    fused.mask_mul(kept, h, colsum_kept, x, g, False)
    np.testing.assert_array_equal(kept, d)  # write=False leaves d alone

    colsum = np.full(m, np.nan, dtype=dtype)
    fused.mask_mul(d, h, colsum, x, g)
    np.testing.assert_array_equal(d, expected)
    reference = expected.astype(np.float64).sum(axis=0)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    scale = np.abs(expected).astype(np.float64).sum(axis=0) + 1
    np.testing.assert_array_less(np.abs(colsum - reference), tol * scale)
    np.testing.assert_array_less(np.abs(colsum_kept - reference), tol * scale)
