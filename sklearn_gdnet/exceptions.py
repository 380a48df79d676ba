"""Warnings raised by sklearn_gdnet."""

__all__ = ["DivergenceWarning"]


class DivergenceWarning(RuntimeWarning):
    """Gradient descent diverged; the last good iterate was restored.

    Raised when the training loss becomes non-finite or explodes. The
    estimator stays usable: it keeps the parameters of the last step whose
    loss was finite. A smaller ``learning_rate`` (or ``learning_rate="auto"``)
    usually helps.
    """
