"""The error decomposition and the GD-against-flow study."""

import matplotlib
import numpy as np
import pytest
from sklearn.base import clone
from sphere_helpers import eigenvalues_from_kernel_matrix

from sklearn_gdnet import DivergenceWarning, GDNetworkRegressor, NTKRegressor
from sklearn_gdnet.datasets import make_sphere_quadrature
from sklearn_gdnet.kernels import nngp_ntk
from sklearn_gdnet.metrics import l2_error, quadrature_rule
from sklearn_gdnet.schedules import StepDecay
from sklearn_gdnet.studies import (
    ErrorDecompositionDisplay,
    GDFlowDisplay,
    error_decomposition,
    gd_flow_study,
    kernel_flow_spectrum,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def data():
    # exact to degree 10, target of degrees <= 5 (232 is a rule of 66 nodes)
    return make_sphere_quadrature(10, max_degree=5, smoothness=1.0, random_state=0)


@pytest.fixture(scope="module")
def decomposition(data):
    X, y, w, target = data
    net = GDNetworkRegressor(depth=1, max_iter=30, learning_rate=2.0)
    return error_decomposition(
        net, X, y, target, sample_weight=w, widths=[16, 256], seeds=[0, 1], max_degree=8
    )


def test_errors_are_those_of_independent_fits(data, decomposition):
    X, y, w, target = data
    r = decomposition
    assert r.learning_rate == 2.0 and r.n_steps == 30 and r.time == 60.0
    for i, m in enumerate(r.widths):
        for j, seed in enumerate(r.seeds):
            net = GDNetworkRegressor(
                width=int(m),
                depth=1,
                max_iter=30,
                learning_rate=2.0,
                normalize_y=False,  # the network the study trains
                random_state=seed,
            ).fit(X, y, sample_weight=w)
            # l2_error's own fixed rule on S^2 (a separate implementation)
            assert r.network_errors[i, j] == pytest.approx(l2_error(net, target), rel=1e-9)
    limit = NTKRegressor(depth=1, n_steps=30, learning_rate=2.0).fit(X, y, sample_weight=w)
    assert r.limit_error == pytest.approx(l2_error(limit, target), rel=1e-9)
    converged = NTKRegressor(depth=1).fit(X, y, sample_weight=w)
    assert r.converged_error == pytest.approx(l2_error(converged, target), rel=1e-9)
    assert r.target_norm == pytest.approx(target.l2_norm, rel=1e-12)
    assert r.limit_rms_error > r.limit_error


def test_spectra_add_up_to_the_errors(decomposition):
    r = decomposition
    # target of degree 5, networks of every degree: most energy is below degree 8
    np.testing.assert_allclose(r.target_spectrum.sum(), r.target_norm**2, rtol=1e-10)
    assert r.target_spectrum[6:].max() < 1e-20
    for spectra, errors in [
        (r.network_spectra, r.network_errors),
        (r.linearized_spectra, r.linearized_errors),
    ]:
        assert np.all(spectra.sum(axis=-1) <= errors**2 * (1 + 1e-9))
        assert np.all(spectra.sum(axis=-1) > 0.5 * errors**2)
    assert r.limit_spectrum.sum() <= r.limit_error**2 * (1 + 1e-9)


@pytest.mark.parametrize("activation, ratio", [("erf", 4.0), ("relu", 2**1.5)])
def test_linearization_is_the_first_order_taylor_model_of_the_same_network(data, activation, ratio):
    # One step: f_1 - f_lin_1 = O(eta^2) for a smooth activation. A different initial draw
    # or a different time convention in the linearization would leave an O(eta) or O(1)
    # gap instead. For ReLU the remainder comes from the units whose kink crosses a point:
    # on a set of measure O(eta) the gap is O(eta), so its L2 norm is O(eta^1.5).
    X, y, w, target = data
    gaps = []
    for eta in (0.4, 0.2, 0.1):
        r = error_decomposition(
            GDNetworkRegressor(depth=1, max_iter=1, learning_rate=eta, activation=activation),
            X, y, target, sample_weight=w, widths=[32], seeds=[3], max_degree=2,
        )  # fmt: skip
        gaps.append(r.network_to_linearized[0, 0])
    ratios = np.array(gaps[:-1]) / np.array(gaps[1:])
    np.testing.assert_allclose(ratios, ratio, rtol=0.1)


def test_at_step_zero_network_and_linearization_coincide(data):
    X, y, w, target = data
    r = error_decomposition(
        GDNetworkRegressor(depth=2, max_iter=0, learning_rate=1.0),
        X, y, target, sample_weight=w, widths=[8], seeds=[0], max_degree=2,
    )  # fmt: skip
    assert r.network_to_linearized[0, 0] < 1e-12
    assert r.network_errors[0, 0] == pytest.approx(r.linearized_errors[0, 0], rel=1e-12)
    # the limit's mean model starts from zero: its error is the target's norm
    assert r.limit_error == pytest.approx(r.target_norm, rel=1e-12)


def test_training_the_output_layer_alone_is_linear(data):
    # the network is linear in its output layer: network and linearization coincide
    X, y, w, target = data
    r = error_decomposition(
        GDNetworkRegressor(depth=2, max_iter=20, learning_rate=1.0, trainable="output"),
        X, y, target, sample_weight=w, widths=[16], seeds=[0], max_degree=2,
    )  # fmt: skip
    assert r.network_to_linearized[0, 0] < 1e-10 * r.network_errors[0, 0]
    assert r.network_errors[0, 0] < 0.99 * r.target_norm  # it did train


def test_width_brings_the_network_to_its_linearization(decomposition):
    # lazy training: the distance falls like width^-1/2 (a factor 4 from 16 to 256)
    gap = decomposition.mean_over_seeds(decomposition.network_to_linearized)
    assert gap[1] < gap[0] / 2.5


def test_rms_over_initializations_matches_monte_carlo(data):
    # limit_rms_error^2 = E ||f_0 + T M (y - f_0(X)) - g||^2 over f_0 ~ GP(0, NNGP), here by
    # sampling f_0 jointly on the training set and a small evaluation rule
    X, y, w, target = data
    rule_degree = 12
    r = error_decomposition(
        GDNetworkRegressor(depth=1, max_iter=10, learning_rate=2.0),
        X, y, target, sample_weight=w, widths=[8], seeds=[0], max_degree=2,
        rule_degree=rule_degree,
    )  # fmt: skip
    nodes, v = quadrature_rule("sphere", 3, degree=rule_degree)
    Z = np.vstack([X, nodes])
    K = nngp_ntk(Z, depth=1)[0]
    L = np.linalg.cholesky(K + 1e-10 * np.eye(len(Z)))
    n_draws = 4000
    draws = L @ np.random.default_rng(0).standard_normal((len(Z), n_draws))
    f0_X, f0_nodes = draws[: len(X)], draws[len(X) :]
    # one fit for all draws: with k outputs the loss has N = n k, so the step is k times larger
    limit = NTKRegressor(depth=1, n_steps=10, learning_rate=2.0 * n_draws)
    fitted = limit.fit(X, y[:, None] - f0_X, sample_weight=w).predict(nodes)
    errors2 = v @ (f0_nodes + fitted - target(nodes)[:, None]) ** 2
    standard_error = errors2.std() / np.sqrt(errors2.size)
    assert abs(errors2.mean() - r.limit_rms_error**2) < 4 * standard_error


def test_prediction_of_the_limit_spectrum(data):
    X, y, w, target = data
    lam = eigenvalues_from_kernel_matrix((("depth", 1),), 9, 40)
    r = error_decomposition(
        GDNetworkRegressor(depth=1, max_iter=30, learning_rate=2.0),
        X, y, target, sample_weight=w, widths=[8], seeds=[0], max_degree=8, eigenvalues=lam,
    )  # fmt: skip
    a = np.zeros(9)
    a[: len(target.coefficients)] = target.coefficients  # degrees 0..5
    expected = kernel_flow_spectrum(a, lam, n_steps=30, learning_rate=2.0)
    np.testing.assert_allclose(r.predicted_spectrum, expected, atol=1e-14)
    # the measured limit follows it to the training rule's aliasing (ReLU kernel, degree 10)
    scale = r.target_spectrum.max()
    assert np.abs(r.predicted_spectrum - r.limit_spectrum).max() < 0.05 * scale
    assert r.limit_spectrum[1] < 0.2 * r.target_spectrum[1]  # low degrees are learned


def test_result_table_and_records(decomposition):
    text = str(decomposition)
    assert "width" in text and "infinite width" in text and "converged" in text
    records = decomposition.to_records()
    assert len(records) == 4
    assert records[0]["width"] == 16 and records[0]["seed"] == 0
    assert records[-1]["network_error"] == decomposition.network_errors[1, 1]


def test_display_draws_errors_and_spectra(data, decomposition):
    display = ErrorDecompositionDisplay.from_result(decomposition)
    assert len(display.axes_) == 2
    assert {"network", "linearized", "limit", "converged", "spectrum_target"} <= set(display.lines_)
    assert "spectrum_predicted" not in display.lines_
    np.testing.assert_allclose(
        display.lines_["spectrum_limit"].get_ydata(), decomposition.limit_spectrum
    )
    with pytest.raises(ValueError, match="two panels"):
        ErrorDecompositionDisplay(decomposition).plot(axes=[display.axes_[0]])
    matplotlib.pyplot.close("all")


def test_decomposition_validation(data):
    X, y, w, target = data
    with pytest.raises(TypeError, match="GDNetworkRegressor"):
        error_decomposition(NTKRegressor(), X, y, target, widths=[4])
    with pytest.raises(ValueError, match="solver='adam'"):
        error_decomposition(GDNetworkRegressor(solver="adam"), X, y, target, widths=[4])
    with pytest.raises(ValueError, match="parametrization"):
        error_decomposition(GDNetworkRegressor(parametrization="standard"), X, y, target)
    # the limits take steps of one size; a decaying step is another dynamics
    scheduled = GDNetworkRegressor(lr_schedule=StepDecay(step_size=10, gamma=0.5))
    with pytest.raises(ValueError, match="lr_schedule=StepDecay"):
        error_decomposition(scheduled, X, y, target, widths=[4])
    with pytest.raises(ValueError, match="domain"):
        error_decomposition(GDNetworkRegressor(), X, y, lambda Z: Z[:, 0])
    with pytest.raises(ValueError, match="widths"):
        error_decomposition(GDNetworkRegressor(), X, y, target, widths=[0])
    with pytest.raises(ValueError, match="dimension"):
        error_decomposition(GDNetworkRegressor(), X[:, :2], y, target)
    with pytest.raises(ValueError, match="non-zero"):
        error_decomposition(GDNetworkRegressor(), X, y, target, sample_weight=0 * w)


def test_diverging_networks_are_flagged(data):
    X, y, w, target = data
    with pytest.warns(DivergenceWarning) as record:
        r = error_decomposition(
            GDNetworkRegressor(depth=1, max_iter=20, learning_rate=200.0),
            X, y, target, sample_weight=w, widths=[8], seeds=[0], max_degree=2,
        )  # fmt: skip
    messages = [str(w.message) for w in record]
    assert any("diverged for (width, seed) in [(8, 0)]" in m for m in messages)
    assert any("exceeds the stability limit" in m for m in messages)  # the limit's own
    assert r.diverged.all()
    assert np.isfinite(r.network_errors).all()


# --- gradient descent against gradient flow ---------------------------------------------


@pytest.fixture(scope="module")
def gd_flow(data):
    X, y, w, target = data
    net = GDNetworkRegressor(width=64, depth=1, random_state=0)
    return gd_flow_study(net, X, y, target, sample_weight=w, n_steps=[8, 16, 32, 64, 128])


def test_gd_converges_to_flow_at_first_order(gd_flow):
    r = gd_flow
    np.testing.assert_allclose(r.learning_rates * r.n_steps, r.time)
    # measured 1.006 (limit) and 1.006 (network) on this problem
    assert 0.95 < r.limit_order.rate < 1.05
    assert 0.85 < r.network_order.rate < 1.15
    assert np.all(np.diff(r.limit_to_flow) < 0)
    np.testing.assert_allclose(r.limit_local_orders, 1.0, atol=0.05)
    assert r.network_local_orders.shape == (3,)
    assert not r.network_diverged.any()


def test_gd_flow_distances_are_those_of_independent_fits(data, gd_flow):
    X, y, w, target = data
    r = gd_flow
    flow = NTKRegressor(depth=1, dynamics="flow", n_steps=10, learning_rate=r.time / 10)
    flow.fit(X, y, sample_weight=w)
    gd = NTKRegressor(depth=1, n_steps=16, learning_rate=r.time / 16).fit(X, y, sample_weight=w)
    distance = l2_error(gd, flow.predict, domain="sphere", n_features=3)
    assert r.limit_to_flow[1] == pytest.approx(distance, rel=1e-8)
    assert r.flow_error == pytest.approx(l2_error(flow, target), rel=1e-9)
    nets = [
        GDNetworkRegressor(width=64, depth=1, random_state=0, max_iter=k, learning_rate=r.time / k,
                           normalize_y=False)
        .fit(X, y, sample_weight=w)
        for k in (32, 64)
    ]  # fmt: skip
    distance = l2_error(nets[0], nets[1].predict, domain="sphere", n_features=3)
    assert r.network_increments[2] == pytest.approx(distance, rel=1e-8)


def test_gd_flow_validation(data):
    X, y, w, target = data
    net = GDNetworkRegressor(width=8, depth=1, random_state=0)
    with pytest.raises(ValueError, match="constant ratio"):
        gd_flow_study(net, X, y, target, n_steps=[8, 16, 24])
    with pytest.raises(ValueError, match="at least three"):
        gd_flow_study(net, X, y, target, n_steps=[8, 16])
    with pytest.raises(ValueError, match="random_state"):
        gd_flow_study(clone(net).set_params(random_state=None), X, y, target)
    with pytest.raises(ValueError, match="time"):
        gd_flow_study(net, X, y, target, time=-1.0)


def test_gd_flow_display(gd_flow):
    display = GDFlowDisplay.from_result(gd_flow)
    assert set(display.lines_) == {"limit", "network", "reference"}
    assert display.ax_.get_xscale() == "log"
    assert "order" in str(gd_flow)
    matplotlib.pyplot.close("all")
