"""The continuous-L2 scorer inside scikit-learn's metadata routing."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import Ridge
from sklearn.metrics import make_scorer, r2_score
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.utils.metadata_routing import get_routing_for_object

from sklearn_gdnet.datasets import make_interval_regression
from sklearn_gdnet.metrics import l2_error, make_l2_error_scorer


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


@pytest.fixture(scope="module")
def data():
    X, y, target = make_interval_regression(40, target="gaussian", noise=0.05, random_state=0)
    weights = np.linspace(0.2, 3.0, 40)
    return X, y, target, weights


def _fold_errors(X, y, weights, target, alpha=1.0, n_splits=5):
    """The same cross-validation written out: weighted fit per fold, error of each."""
    errors, r2 = [], []
    for train, test in KFold(n_splits).split(X):
        model = Ridge(alpha=alpha).fit(X[train], y[train], sample_weight=weights[train])
        errors.append(l2_error(model, target))
        r2.append(r2_score(y[test], model.predict(X[test]), sample_weight=weights[test]))
    return np.array(errors), np.array(r2)


def test_cross_validate_routes_sample_weight_to_fit_and_not_to_the_l2_scorer(routing, data):
    X, y, target, weights = data
    scoring = {
        "l2": make_l2_error_scorer(target),
        "r2": make_scorer(r2_score).set_score_request(sample_weight=True),
    }
    result = cross_validate(
        Ridge().set_fit_request(sample_weight=True),
        X,
        y,
        cv=KFold(5),
        scoring=scoring,
        params={"sample_weight": weights},
    )
    errors, r2 = _fold_errors(X, y, weights, target)
    np.testing.assert_allclose(-result["test_l2"], errors, rtol=1e-10)
    np.testing.assert_allclose(result["test_r2"], r2, rtol=1e-10)
    # the weights did reach fit: unweighted fits give other errors
    unweighted, _ = _fold_errors(X, y, np.ones_like(weights), target)
    assert not np.allclose(errors, unweighted)


def test_grid_search_with_routing_and_an_explicit_request(routing, data):
    X, y, target, weights = data
    scorer = make_l2_error_scorer(target).set_score_request(sample_weight=False)
    routing_info = get_routing_for_object(scorer)
    assert routing_info.consumes("score", ["sample_weight"]) == set()
    search = GridSearchCV(
        Ridge().set_fit_request(sample_weight=True),
        {"alpha": [1e-3, 10.0]},
        scoring=scorer,
        cv=KFold(5),
    ).fit(X, y, sample_weight=weights)
    for k, alpha in enumerate([1e-3, 10.0]):
        errors, _ = _fold_errors(X, y, weights, target, alpha=alpha)
        assert search.cv_results_["mean_test_score"][k] == pytest.approx(-errors.mean(), rel=1e-10)


def test_set_score_request_refuses_metadata_it_cannot_use(routing, data):
    _, _, target, _ = data
    scorer = make_l2_error_scorer(target)
    with pytest.raises(ValueError, match="integral over the whole domain"):
        scorer.set_score_request(sample_weight=True)
    with pytest.raises(ValueError, match="cannot use 'groups'"):
        scorer.set_score_request(groups="my_groups")
    assert scorer.set_score_request(sample_weight=None) is scorer


def test_set_score_request_needs_routing(data):
    _, _, target, _ = data
    with pytest.raises(RuntimeError, match="enable_metadata_routing=True"):
        make_l2_error_scorer(target).set_score_request(sample_weight=False)


def test_multimetric_search_with_sample_weight_without_routing(data):
    # scikit-learn's multi-metric scorer asks every scorer whether it takes
    # sample_weight; the L2 scorer used to have no answer (AttributeError).
    X, y, target, weights = data
    search = GridSearchCV(
        Ridge(),
        {"alpha": [1e-3, 10.0]},
        scoring={"l2": make_l2_error_scorer(target), "r2": "r2"},
        refit="l2",
        cv=KFold(5),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.fit(X, y, sample_weight=weights)
    # no "statistically incorrect results" warning: the integral has no per-sample terms
    assert not [w for w in caught if "make_l2_error_scorer" in str(w.message)]
    errors, _ = _fold_errors(X, y, weights, target, alpha=1e-3)
    assert search.cv_results_["mean_test_l2"][0] == pytest.approx(-errors.mean(), rel=1e-10)
