"""Warnings raised by sklearn_gdnet."""

__all__ = ["DivergenceWarning"]


class DivergenceWarning(RuntimeWarning):
    """Gradient descent diverged; the last good iterate was restored.

    Raised when the training loss becomes non-finite or explodes. The
    estimator stays usable: it keeps the last finished step (parameters and
    optimizer state). The message says what applies: ``normalize_y=True``
    for targets far from order one, a smaller numeric ``learning_rate`` when
    the automatic step was outgrown, or a smaller (or automatic) step.
    """
