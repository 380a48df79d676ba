"""scikit-learn estimators for networks trained by gradient descent and their
infinite-width kernel limit."""

from ._gd_network import GDNetworkRegressor
from .exceptions import DivergenceWarning

__version__ = "0.1.0.dev0"

__all__ = [
    "DivergenceWarning",
    "GDNetworkRegressor",
    "__version__",
]
