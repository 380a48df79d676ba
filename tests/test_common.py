"""scikit-learn's estimator checks on several configurations of each estimator."""

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    parametrize_with_checks,
)

from sklearn_gdnet import GDNetworkRegressor
from sklearn_gdnet.schedules import StepDecay

GD_CONFIGURATIONS = [
    GDNetworkRegressor(random_state=0),
    GDNetworkRegressor(width=64, activation="tanh", parametrization="standard", random_state=0),
    GDNetworkRegressor(width=64, trainable="output", random_state=0),
    GDNetworkRegressor(
        width=64,
        depth=1,
        init="breakpoint",
        trainable="hidden_biases",
        weight_std=1.0,
        bias_std=1.0,
        random_state=0,
    ),
    GDNetworkRegressor(
        width=32, solver="adam", learning_rate=0.01, lr_schedule=StepDecay(50, 0.5), random_state=0
    ),
]


@parametrize_with_checks(GD_CONFIGURATIONS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", GD_CONFIGURATIONS, ids=repr)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", GD_CONFIGURATIONS, ids=repr)
def test_dataframe_column_names_consistency(estimator):
    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)
