"""What both estimators of the network family share: their parameters' constraints."""

from ._activations import ACTIVATIONS
from ._compat import Integral, Interval, Real, StrOptions

#: Validation of the parameters that describe the network family, identical in
#: GDNetworkRegressor and NTKRegressor so that one can be handed the other's.
FAMILY_CONSTRAINTS: dict = {
    "depth": [Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "weight_std": [Interval(Real, 0, None, closed="neither")],
    "bias_std": [Interval(Real, 0, None, closed="left")],
    "trainable": [str, tuple, list],
    "learning_rate": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
    "normalize_y": ["boolean"],
    "random_state": ["random_state"],
}
