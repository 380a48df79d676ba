import csv
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sklearn_gdnet import GDNetworkRegressor, NTKRegressor
from sklearn_gdnet.__main__ import build_parser, main
from sklearn_gdnet.datasets import make_interval_regression, make_sphere_regression
from sklearn_gdnet.metrics import l2_error

TINY = ["--preset", "width-study", "--n-samples", "24",
        "--widths", "4,16", "--seeds", "0,1", "--steps", "10"]


def _run(capsys, *argv):
    assert main([*TINY, *argv]) == 0
    return capsys.readouterr()


def test_json_output_holds_every_error_and_the_rates(tmp_path, capsys):
    path = tmp_path / "study.json"
    captured = _run(capsys, "--no-ntk", "--target", "cusp", "--output", str(path))
    payload = json.loads(path.read_text())
    gd = [r for r in payload["results"] if r["estimator"] == "gd"]
    assert [(r["width"], r["seed"]) for r in gd] == [(4, 0), (4, 1), (16, 0), (16, 1)]
    # each error is the continuous error of the same network fitted here
    X, y, target = make_interval_regression(24, target="cusp")
    for record in gd:
        model = GDNetworkRegressor(
            width=record["width"],
            depth=1,
            max_iter=10,
            learning_rate=payload["learning_rate"],
            normalize_y=False,
            random_state=record["seed"],
        ).fit(X, y)
        assert record["error"] == pytest.approx(l2_error(model, target), rel=1e-8)
    # the rate is the least-squares slope of log error on log width
    reference = stats.linregress(np.log([r["width"] for r in gd]), np.log([r["error"] for r in gd]))
    assert payload["gd_rate"]["rate"] == pytest.approx(-reference.slope)
    assert payload["gd_rate"]["stderr"] == pytest.approx(reference.stderr)
    assert payload["config"]["widths"] == [4, 16]
    (baseline,) = [r for r in payload["results"] if r["estimator"] == "kernel_ridge"]
    assert baseline["error"] == payload["kernel_ridge_error"] > 0
    # the table on stdout, progress on stderr
    assert "gd network fitted rate" in captured.out
    assert "cusp on [-1, 1]" in captured.out
    assert "[width_study]" in captured.err and "[width_study]" not in captured.out


def test_ntk_limit_shares_steps_and_step_size(tmp_path, capsys):
    path = tmp_path / "study.json"
    captured = _run(capsys, "--no-kernel-ridge", "--output", str(path))
    payload = json.loads(path.read_text())
    X, y, target = make_sphere_regression(24, 3, random_state=0)
    # "auto" is the infinite-width network's rule, then shared by every network
    ntk = NTKRegressor(depth=1, n_steps=10, normalize_y=False).fit(X, y)
    assert payload["learning_rate"] == pytest.approx(ntk.learning_rate_)
    assert payload["ntk_error"] == pytest.approx(l2_error(ntk, target), rel=1e-8)
    assert payload["ntk_rms_error"] >= payload["ntk_error"]
    assert "ntk limit" in captured.out and "ntk mean" in captured.out
    # The rms error is the width -> infinity limit of a network's expected squared
    # error: Monte Carlo over wide networks trained with the same step.
    squared = [
        l2_error(
            GDNetworkRegressor(
                width=1024,
                depth=1,
                max_iter=10,
                learning_rate=payload["learning_rate"],
                normalize_y=False,
                random_state=seed,
            ).fit(X, y),
            target,
        )
        ** 2
        for seed in range(24)
    ]
    standard_error = np.std(squared) / np.sqrt(len(squared))
    assert abs(np.mean(squared) - payload["ntk_rms_error"] ** 2) < 4 * standard_error + 2e-3


def test_csv_output_and_quiet(tmp_path, capsys):
    path = tmp_path / "study.csv"
    captured = _run(capsys, "--no-ntk", "--no-kernel-ridge", "--quiet", "--output", str(path))
    assert captured.err == ""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert {row["estimator"] for row in rows} == {"gd"}
    assert all(float(row["error"]) > 0 and float(row["fit_time"]) >= 0 for row in rows)
    lines = captured.out.splitlines()
    table_rows = [line.split() for line in lines if line.startswith("gd network")]
    assert [row[2] for row in table_rows[:2]] == ["4", "16"]
    assert table_rows[2][2] == "fitted"


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "study.png"
    _run(capsys, "--no-ntk", "--no-kernel-ridge", "--plot", str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--widths", "a,b"], "comma-separated integers"),
        (["--widths", "0,4"], "widths must be integers >= 1"),
        (["--widths", "8"], "two distinct widths"),
        (["--seeds", "x"], "comma-separated integers"),
        (["--steps", "-1"], "positive integer"),
        (["--learning-rate", "fast"], "'auto' or a positive number"),
        (["--learning-rate", "-2"], "positive finite step size"),
        (["--target", "moon"], "invalid choice"),
        (["--output", "study.txt"], ".csv or .json"),
        (["--plot", "study.jpg"], ".png"),
        (["--noise", "-1"], ">= 0"),
        (["--n-features", "1"], ">= 2"),
        (["--unknown"], "unrecognized arguments"),
    ],
)
def test_bad_options_exit_with_code_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("usage: sklearn-gdnet")


def test_help_lists_the_options():
    text = build_parser().format_help()
    for option in ["--target", "--widths", "--seeds", "--steps", "--output", "--plot"]:
        assert option in text


@pytest.mark.parametrize("target", ["bump", "step"])
def test_interval_targets(target, tmp_path, capsys):
    path = tmp_path / "study.json"
    captured = _run(capsys, "--target", target, "--no-kernel-ridge", "--output", str(path))
    assert f"{target} on [-1, 1]" in captured.out
    payload = json.loads(path.read_text())
    assert payload["config"]["target"] == target
    assert payload["ntk_error"] > 0 and len(payload["gd_local_rates"]) == 1


def test_console_script_is_declared():
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts["sklearn-gdnet"] == "sklearn_gdnet.__main__:main"


def test_module_runs_as_a_subprocess(tmp_path):
    path = tmp_path / "study.json"
    completed = subprocess.run(
        [sys.executable, "-m", "sklearn_gdnet", *TINY, "--output", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "gd network fitted rate" in completed.stdout
    assert "done in" in completed.stderr
    payload = json.loads(path.read_text())
    assert payload["ntk_error"] > 0 and payload["kernel_ridge_error"] > 0


def test_report_survives_errors_without_a_rate(tmp_path):
    from sklearn_gdnet.__main__ import format_table, write_output
    from sklearn_gdnet.model_selection import WidthStudyResult

    # an exact fit (error 0) has no logarithm: the report says so instead of failing
    study = WidthStudyResult(np.array([4.0, 8.0]), [0], np.array([[0.1], [0.0]]), np.ones((2, 1)))
    results = {
        "study": study,
        "config": {"n_samples": 3, "steps": 1, "depth": 1},
        "description": "x",
        "learning_rate": 1.0,
        "target_l2_norm": 1.0,
        "ntk_error": None,
        "ntk_rms_error": None,
        "kernel_ridge_error": None,
        "elapsed_s": 0.0,
    }
    assert "not available" in format_table(results)
    write_output(results, tmp_path / "study.json")
    payload = json.loads((tmp_path / "study.json").read_text())
    assert payload["gd_rate"] is None and payload["gd_local_rates"][0]["rate"] is None
