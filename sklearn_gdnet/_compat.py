"""The one place where scikit-learn's private helpers are imported.

scikit-learn does not promise to keep these names stable; if one moves, only
this file changes.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Integral,
    Interval,
    Real,
    StrOptions,
    validate_params,
)

__all__ = [
    "HasMethods",
    "Integral",
    "Interval",
    "Real",
    "StrOptions",
    "_fit_context",
    "validate_params",
]
