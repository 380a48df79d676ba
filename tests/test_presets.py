"""The study presets, checked against the same models fitted and measured by hand."""

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from sklearn_gdnet import GDNetworkRegressor, NTKRegressor
from sklearn_gdnet.__main__ import main
from sklearn_gdnet.datasets import make_sphere_quadrature
from sklearn_gdnet.metrics import l2_error
from sklearn_gdnet.presets import SphereStudyResult, sphere_study

TINY_SPHERE = dict(max_degree=3, widths=(4, 16), seeds=(0, 1), n_steps=15)


@pytest.fixture(scope="module")
def tiny_sphere():
    return sphere_study(**TINY_SPHERE)


def test_sphere_study_errors_are_those_of_networks_fitted_by_hand(tiny_sphere):
    result = tiny_sphere
    assert isinstance(result, SphereStudyResult)
    d = result.decomposition
    # the training set: a rule exact to degree 6 on S^2, (6 + 1) * (6 // 2 + 1) nodes
    X, y, w, target = make_sphere_quadrature(max_degree=3, random_state=0)
    assert result.n_training == X.shape[0] == 28
    # the step: half the limit's automatic step on this training set
    limit = NTKRegressor(depth=1, n_steps=1).fit(X, y, sample_weight=w)
    assert d.learning_rate == pytest.approx(0.5 * limit.learning_rate_)
    for i, width in enumerate(TINY_SPHERE["widths"]):
        for j, seed in enumerate(TINY_SPHERE["seeds"]):
            net = GDNetworkRegressor(
                width=width,
                depth=1,
                max_iter=15,
                learning_rate=d.learning_rate,
                normalize_y=False,
                random_state=seed,
            ).fit(X, y, sample_weight=w)
            # measured on the metrics module's own (independent) rule
            assert d.network_errors[i, j] == pytest.approx(l2_error(net, target), rel=1e-6)
    # the limit after the same steps, from the kernel model directly
    ntk = NTKRegressor(depth=1, n_steps=15, learning_rate=d.learning_rate, normalize_y=False)
    ntk.fit(X, y, sample_weight=w)
    assert d.limit_error == pytest.approx(l2_error(ntk, target), rel=1e-6)
    # the rate: least squares of log error on log width over every seed
    widths = np.repeat(d.widths, 2)
    ref = stats.linregress(np.log(widths), np.log(d.network_errors.ravel()))
    assert result.rate.rate == pytest.approx(-ref.slope)
    assert result.rate.stderr == pytest.approx(ref.stderr)


def test_sphere_study_prints_and_serializes(tiny_sphere):
    text = str(tiny_sphere)
    for label in ["network", "linearized", "|net-lin|", "inf, same steps", "converged"]:
        assert label in text
    assert "fitted rate" in text
    payload = json.loads(json.dumps(tiny_sphere.to_dict()))
    assert len(payload["results"]) == 4
    assert payload["rate"]["rate"] == pytest.approx(tiny_sphere.rate.rate)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"widths": (8,)}, "at least two distinct"),
        ({"widths": (8, 8)}, "at least two distinct"),
        ({"n_features": 1}, "n_features must be an integer >= 2"),
        ({"smoothness": -1.0}, "smoothness"),
        ({"n_steps": 0}, "n_steps"),
        ({"seeds": ()}, "at least one seed"),
    ],
)
def test_sphere_study_refuses_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sphere_study(**{**TINY_SPHERE, **kwargs})


def test_cli_default_preset_is_the_sphere_study(tmp_path, capsys, tiny_sphere):
    path = tmp_path / "sphere.json"
    argv = ["--max-degree", "3", "--widths", "16,4", "--seeds", "0,1", "--steps", "15", "-q"]
    assert main([*argv, "--output", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Sphere study:")
    payload = json.loads(path.read_text())
    assert payload["preset"] == "sphere"
    errors = [r["network_error"] for r in payload["results"]]
    np.testing.assert_allclose(errors, tiny_sphere.decomposition.network_errors.ravel())
    csv_path = tmp_path / "sphere.csv"
    assert main([*argv, "--output", str(csv_path)]) == 0
    assert csv_path.read_text().splitlines()[0].startswith("width,seed,network_error")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--n-samples", "40"], "--n-samples applies to --preset width-study only"),
        (["--no-ntk"], "--no-ntk applies to --preset width-study only"),
        (["--preset", "width-study", "--max-degree", "4"], "--max-degree applies to"),
        (["--scheduler", "tcp://x:1", "--n-jobs", "1"], "exclude each other"),
    ],
)
def test_cli_refuses_options_of_another_preset(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_sphere_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "sphere.png"
    argv = ["--max-degree", "2", "--widths", "4,8", "--seeds", "0", "--steps", "3", "-q"]
    assert main([*argv, "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_module_default_runs_as_a_subprocess():
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "sklearn_gdnet",
            "--max-degree",
            "2",
            "--widths",
            "4,8",
            "--seeds",
            "0",
            "--steps",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Sphere study" in completed.stdout and "fitted rate" in completed.stdout
    assert "done in" in completed.stderr


def test_sphere_study_limit_spectrum_follows_the_kernel_flow_prediction():
    # Funk-Hecke eigenvalues of the NTK predict the limit's residual energy per degree,
    # (1 - eta lambda_k)^(2 n_steps) |a_k|^2; measured on the exact evaluation rule
    result = sphere_study(max_degree=6, widths=(8, 16), seeds=(0,), n_steps=200)
    d = result.decomposition
    big = d.predicted_spectrum > 1e-3 * d.target_spectrum.max()
    assert big.sum() >= 3
    np.testing.assert_allclose(d.limit_spectrum[big], d.predicted_spectrum[big], rtol=0.15)
    assert result.to_dict()["predicted_limit_spectrum"] == pytest.approx(
        d.predicted_spectrum.tolist()
    )
