"""The shallow 1-d study preset against the published protocol, re-implemented by hand."""

import json

import numpy as np
import pytest

from sklearn_gdnet.__main__ import main
from sklearn_gdnet.datasets import IntervalTarget, make_interval_regression
from sklearn_gdnet.metrics import l2_error
from sklearn_gdnet.presets import (
    SHALLOW_1D_WIDTHS,
    Shallow1DStudyDisplay,
    shallow_1d_study,
    study_intervals,
)
from sklearn_gdnet.presets import _shallow_network as shallow_network


def test_published_step_counts():
    # Gentile and Welper's script: steps = 100 * intervals
    assert SHALLOW_1D_WIDTHS == (10, 18, 32, 56, 100, 178, 316, 562, 1000)
    for width in SHALLOW_1D_WIDTHS:
        assert study_intervals("cusp", width) == study_intervals("step", width) == 100
        assert study_intervals("gaussian", width) == 400
        assert study_intervals("gaussian-0.1", width) == 400
    half = [study_intervals("gaussian-0.5", m) for m in SHALLOW_1D_WIDTHS]
    assert half == [50, 50, 50, 50, 50, 50, 100, 200, 400]
    with pytest.raises(ValueError, match="no step count"):
        study_intervals("bump", 10)
    with pytest.raises(ValueError, match="no step count"):
        study_intervals(IntervalTarget("gaussian", std=0.3), 10)


def _adam(x, y, a, theta0, n_steps, *, loss, eps_form, lr=1e-3, gamma=1.0):
    """Adam on the loss of m^-1/2 sum_r a_r relu(x - theta_r), StepLR(steps / 4, gamma).

    ``loss="mse"``: PyTorch's MSELoss, mean of e^2; ``"half"``: 1/(2n) sum e^2.
    ``eps_form="torch"``: eps added to the bias-corrected sqrt(v) (PyTorch);
    ``"efficient"``: to the raw sqrt(v), the bias corrections in the step
    (Kingma and Ba's efficient form, Section 2).
    """
    m = a.size
    theta = theta0.copy()
    mom, vel = np.zeros(m), np.zeros(m)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    scale = 2.0 if loss == "mse" else 1.0
    for k in range(n_steps):
        active = x[:, None] > theta[None, :]
        f = (a[None, :] * (x[:, None] - theta[None, :]) * active).sum(axis=1) / np.sqrt(m)
        e = f - y
        # d/dtheta_r of (scale / 2n) sum e^2: scale/n sum_i e_i (-a_r / sqrt(m)) 1{x_i > theta_r}
        grad = -scale / x.size * (e[:, None] * active).sum(axis=0) * a / np.sqrt(m)
        rate = lr * gamma ** (k // (n_steps // 4))
        t = k + 1
        mom = beta1 * mom + (1 - beta1) * grad
        vel = beta2 * vel + (1 - beta2) * grad**2
        if eps_form == "torch":
            m_hat, v_hat = mom / (1 - beta1**t), vel / (1 - beta2**t)
            theta = theta - rate * m_hat / (np.sqrt(v_hat) + eps)
        else:
            step = rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
            theta = theta - step * mom / (np.sqrt(vel) + eps)
    return theta


@pytest.mark.parametrize("target, n_steps", [("cusp", 400), ("gaussian", 10_400)])
def test_preset_takes_the_published_adam_steps(target, n_steps):
    # 10,400 steps is more than 10,000: the schedule then decays by 0.2 every 2,600 steps
    result = shallow_1d_study([target], widths=(10, 18), seeds=(3,), n_steps=n_steps)
    X, y, function = make_interval_regression(
        target=IntervalTarget("gaussian", amplitude=0.25) if target == "gaussian" else target,
        width=10,
    )
    net = shallow_network(10, 3, n_steps, "adam", 1e-3).fit(X, y)
    # the model: unit inner weights, Rademacher output signs with m^-1/2, only theta trained
    np.testing.assert_array_equal(net.params_["W1"], 1.0)
    a = net.params_["W2"][:, 0]
    np.testing.assert_array_equal(np.abs(a), 1.0)
    theta0 = result.initial_breakpoints[0][0][0]
    assert np.all(np.abs(theta0) <= 1.0)
    x = X[:, 0]
    f = (a * np.maximum(x[:, None] - result.final_breakpoints[0][0][0], 0)).sum(1) / np.sqrt(10)
    np.testing.assert_allclose(net.predict(X), f, atol=1e-12)
    gamma = 0.2 if n_steps > 10_000 else 1.0
    theta = result.final_breakpoints[0][0][0]
    # Adam in Kingma and Ba's efficient form on half the mean squared error: the same steps
    reference = _adam(x, y, a, theta0, n_steps, loss="half", eps_form="efficient", gamma=gamma)
    np.testing.assert_allclose(theta, reference, rtol=0, atol=1e-12)
    # PyTorch's run (MSELoss, its Adam, StepLR) from the same start: Adam does not see the
    # loss scale but for eps (1e-8) against sqrt(v), and eps enters after the bias correction;
    # late gradients are small, so the breakpoints differ a little (documented bound 1e-3)
    published = _adam(x, y, a, theta0, n_steps, loss="mse", eps_form="torch", gamma=gamma)
    np.testing.assert_allclose(theta, published, rtol=0, atol=1e-3)
    # the movement in the three norms, from the breakpoints
    moved = np.abs(reference - theta0)
    assert result.movement["sup"][0, 0, 0] == pytest.approx(moved.max(), abs=1e-10)
    assert result.movement["mean_abs"][0, 0, 0] == pytest.approx(moved.mean(), abs=1e-10)
    assert result.movement["rms"][0, 0, 0] == pytest.approx(np.sqrt(np.mean(moved**2)), abs=1e-10)
    # the estimator's own record of the movement agrees
    for norm, value in net.breakpoint_movement_.items():
        assert result.movement[norm][0, 0, 0] == pytest.approx(value, rel=1e-9)
    # the error: Lebesgue L2 norm on [-1, 1]; the Riemann sum on 100 m points is close to
    # the integral computed by the metrics module's Gauss rule
    assert result.errors[0, 0, 0] == pytest.approx(
        l2_error(net, function, measure="lebesgue", n_points=4000), rel=2e-2
    )
    assert result.n_steps.tolist() == [[n_steps, n_steps]]


def test_published_step_counts_are_the_default():
    result = shallow_1d_study(
        ["gaussian-0.5", "cusp"],
        widths=(10, 316),
        seeds=(0,),
        n_steps=None,
        solver="gd",
        learning_rate=1e-4,
    )
    assert result.n_steps.tolist() == [[5000, 10000], [10000, 10000]]


@pytest.fixture(scope="module")
def tiny():
    return shallow_1d_study(["cusp", "step"], widths=(10, 18, 32), seeds=(0, 1, 2), n_steps=60)


def test_rates_and_medians(tiny):
    errors = tiny.errors[1]
    np.testing.assert_allclose(tiny.medians("step"), np.median(errors, axis=1))
    means = errors.mean(axis=1)
    expected = np.log(means[:-1] / means[1:]) / np.log(np.array([18, 32]) / np.array([10, 18]))
    np.testing.assert_allclose(tiny.local_rates("step"), expected)
    slope = np.polyfit(np.log(np.repeat([10, 18, 32], 3)), np.log(errors.ravel()), 1)[0]
    assert tiny.rate("step").rate == pytest.approx(-slope)
    text = str(tiny)
    assert "target cusp" in text and "target step" in text and "1/24" in text
    payload = json.loads(json.dumps(tiny.to_dict()))
    assert len(payload["results"]) == 2 * 3 * 3
    assert payload["summary"]["cusp"]["sup"]["median"] == pytest.approx(
        tiny.medians("cusp", "sup").tolist()
    )


def test_gd_solver_uses_the_automatic_step():
    result = shallow_1d_study(["cusp"], widths=(10, 18), seeds=(0,), n_steps=5, solver="gd")
    assert result.solver == "gd"
    assert np.all(result.learning_rates > 0) and not np.any(result.learning_rates == 1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"targets": ["moon"]}, "moon"),
        ({"targets": ["cusp", "cusp"]}, "distinct"),
        ({"targets": ["gaussian-x"]}, "amplitude"),
        ({"widths": (10,)}, "two distinct"),
        ({"solver": "sgd"}, "solver"),
        ({"seeds": ()}, "at least one seed"),
    ],
)
def test_bad_parameters(kwargs, message):
    params = {"targets": ["cusp"], "widths": (10, 18), "seeds": (0,), "n_steps": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        shallow_1d_study(**params)


def test_display(tiny):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    display = Shallow1DStudyDisplay.from_result(tiny)
    assert display.axes_.shape == (2, 2)
    labels = [line.get_label() for line in display.axes_[0, 0].get_lines()]
    assert "m^-1/24 (proven)" in labels
    # the proven slope: the reference line falls by (32 / 10)^(-1/24) over the widths
    (ref,) = [line for line in display.axes_[0, 0].get_lines() if "1/24" in line.get_label()]
    y = ref.get_ydata()
    assert y[-1] / y[0] == pytest.approx((32 / 10) ** (-1 / 24))
    plt.close(display.figure_)


def test_cli_preset(tmp_path, capsys, tiny):
    path = tmp_path / "shallow.json"
    argv = ["--preset", "shallow-1d", "--targets", "cusp,step", "--widths", "32,10,18"]
    argv += ["--seeds", "0,1,2", "--steps", "60", "-q", "--output", str(path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("Shallow 1-d study")
    payload = json.loads(path.read_text())
    np.testing.assert_allclose([r["error"] for r in payload["results"]], tiny.errors.ravel())
    csv_path = tmp_path / "shallow.csv"
    assert main([*argv[:-1], str(csv_path)]) == 0
    assert csv_path.read_text().startswith("target,width,seed,n_steps")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--targets", "cusp"], "--targets applies to --preset shallow-1d only"),
        (["--preset", "shallow-1d", "--depth", "2"], "--depth applies to"),
        (["--preset", "shallow-1d", "--targets", "bump"], "expected targets among"),
        (["--preset", "shallow-1d", "--learning-rate", "auto"], "Adam takes a number"),
    ],
)
def test_cli_refuses(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def _bench():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_1d_study.py"
    spec = importlib.util.spec_from_file_location("bench_1d_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_estimate_and_study_run(capsys):
    bench = _bench()
    wall = bench.main(["--widths", "10,18", "--targets", "cusp", "--max-steps", "5"])
    assert wall > 0 and "estimated full grid" in capsys.readouterr().out
    wall, result = bench.main(
        ["--study", "--widths", "10,18", "--targets", "step", "--seeds", "2", "--steps", "5"]
    )
    assert result.errors.shape == (1, 2, 2)
    out = capsys.readouterr().out
    assert "grid: 1 targets x 2 widths x 2 seeds = 4 fits" in out
    assert "extrapolated for 100 seeds" in out


def test_each_seed_is_its_standalone_fit(tiny):
    # seeds of one width may be trained together; each must be the fit of its own seed
    alone = shallow_1d_study(["step"], widths=(10, 18, 32), seeds=(1,), n_steps=60)
    np.testing.assert_allclose(alone.errors[0, :, 0], tiny.errors[1, :, 1], rtol=1e-9)
    for i in range(3):
        np.testing.assert_allclose(
            alone.final_breakpoints[0][i][0], tiny.final_breakpoints[1][i][1], rtol=0, atol=1e-12
        )


def test_bench_1d_study_option(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_1d.py"
    spec = importlib.util.spec_from_file_location("bench_1d", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    wall, result = bench.main(["--study", "--quick"])
    assert result.errors.shape == (1, 2, 2) and wall > 0
    assert "grid: 1 targets x 2 widths x 2 seeds" in capsys.readouterr().out
