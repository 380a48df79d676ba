"""scikit-learn estimators for networks trained by gradient descent and their
infinite-width kernel limit."""

from . import datasets, metrics, model_selection, schedules, studies
from ._gd_network import GDNetworkRegressor
from ._ntk import NTKRegressor
from .exceptions import DivergenceWarning
from .kernels import NNGP, NTK
from .metrics import make_l2_error_scorer
from .model_selection import WidthStudyDisplay, width_study

__version__ = "0.1.0.dev0"

__all__ = [
    "DivergenceWarning",
    "GDNetworkRegressor",
    "NNGP",
    "NTK",
    "NTKRegressor",
    "WidthStudyDisplay",
    "datasets",
    "make_l2_error_scorer",
    "metrics",
    "model_selection",
    "schedules",
    "studies",
    "width_study",
    "__version__",
]
