"""Target normalization shared by the estimators of the network family (``normalize_y``).

Both estimators train on ``(y - mean) / std`` (each output, weighted by the
sample weights) and map their predictions back, so that a network and its
infinite-width limit with the same ``normalize_y`` describe the same training.
"""

import numpy as np


def _target_normalization(Y, w, normalize=True):
    """Weighted mean and standard deviation of each output (zeros and ones if off).

    Computed on ``Y`` divided by its largest magnitude, so that squares cannot
    overflow. An output whose spread is below rounding of its mean is constant
    and gets a scale of one, as in scikit-learn's scalers.
    """
    k = Y.shape[1]
    if not normalize:
        return np.zeros(k), np.ones(k)
    size = _column_sizes(Y)
    Z = Y / size
    mean = w @ Z / w.sum()
    std = np.sqrt(w @ (Z - mean) ** 2 / w.sum())
    constant = std <= 10 * np.finfo(np.float64).eps * np.abs(mean)
    return mean * size, np.where(constant, 1.0, std * size)


def _column_sizes(Y):
    size = np.abs(Y).max(axis=0)
    size[size == 0] = 1.0
    return size


def _normalized_targets(Y, y_mean, y_std, dtype):
    """``(Y - mean) / std`` in the network's dtype, contiguous (``Y`` if off)."""
    if not y_mean.any() and np.all(y_std == 1.0):
        return np.ascontiguousarray(Y, dtype=dtype)
    size = _column_sizes(Y)
    # in units of the largest |y|: differences of huge values cannot overflow
    Z = (Y / size - y_mean / size) / (y_std / size)
    if not np.all(np.isfinite(Z)):
        raise ValueError(
            "The targets cannot be normalized: their spread is too small against "
            "their size. Use normalize_y=False."
        )
    return np.ascontiguousarray(Z, dtype=dtype)
