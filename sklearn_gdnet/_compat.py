"""The one place where scikit-learn's private helpers are imported.

scikit-learn does not promise to keep these names stable; if one moves, only
this file changes.
"""

from sklearn.base import _fit_context
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import (
    HasMethods,
    Integral,
    Interval,
    Real,
    StrOptions,
    validate_params,
)
from sklearn.utils.metadata_routing import (
    MetadataRequest,
    _MetadataRequester,
    _routing_enabled,
    get_routing_for_object,
)
from sklearn.utils.validation import _check_sample_weight

__all__ = [
    "HasMethods",
    "Integral",
    "Interval",
    "MetadataRequest",
    "Real",
    "StrOptions",
    "_MetadataRequester",
    "_check_sample_weight",
    "_fit_context",
    "_routing_enabled",
    "get_routing_for_object",
    "get_chunk_n_rows",
    "validate_params",
]
