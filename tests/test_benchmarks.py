"""The benchmark scripts still run (a tiny configuration; no timing is checked)."""

import importlib.util
from pathlib import Path

import pytest

from sklearn_gdnet import _network

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("numpy_only", [False, True])
def test_bench_gd_prints_its_table(monkeypatch, capsys, numpy_only):
    bench = load("bench_gd")
    monkeypatch.setattr(bench, "PAUSE", 0.0)
    monkeypatch.setattr(_network, "_fused", _network._fused)  # restored after --numpy-only
    bench.main(["--repeats", "1", "--widths", "8"] + (["--numpy-only"] if numpy_only else []))
    out = capsys.readouterr().out
    rows = [
        line.split()
        for line in out.splitlines()
        if line.split()[:2] in (["float64", "8"], ["float32", "8"])
    ]
    assert len(rows) == 2
    for row in rows:
        assert all(float(v) > 0 for v in row[2:])
        # one repeat: the ratio's quartiles over repeats are the ratio itself
        assert row[4] == row[5] == row[6]
    assert ("NumPy only" in out) == (numpy_only or _network._fused is None)


def test_profile_step_accounts_for_the_step(capsys):
    load("profile_step").main(["--width", "8", "--steps", "5"])
    out = capsys.readouterr().out
    assert "product (2000, 8) @ (8, 8)" in out
    assert "fit:" in out
    assert _network._fused is None or "C kernel relu_output" in out


@pytest.mark.skipif(_network._fused is None, reason="C kernels not built")
def test_bench_kernels_prints_a_row_per_kernel(capsys):
    load("bench_kernels").main(["--repeats", "1", "--widths", "8", "40"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    timed = [row for row in rows if row and row[-1].replace(".", "").isdigit()]
    assert len(timed) == 3 * 2 * 2  # kernels x dtypes x widths
    for row in timed:
        assert all(float(v) > 0 for v in row[-3:])


def test_bench_1d_prints_both_cores_and_their_ratio(capsys):
    from sklearn_gdnet import _network_1d

    load("bench_1d").main(["--quick"])
    out = capsys.readouterr().out
    steps, rest = out.split("width study")
    study, grid = rest.split("per-seed step")
    rows = [line.split() for line in steps.splitlines() if line.split()[:1] in (["8"], ["16"])]
    assert len(rows) == 2
    for row in rows:
        assert len(row) == 10
        float(row[6])  # the ratio dense / 1-d (NumPy or C)
    assert _network_1d.FORCE is None and _network_1d.USE_C  # the switches are restored
    study = [line.split() for line in study.splitlines()]
    assert [row[0] for row in study if len(row) == 4] == ["8"]
    grid_rows = [line.split() for line in grid.splitlines() if line.split()[:1] in (["8"], ["16"])]
    assert len(grid_rows) == 2 and all(len(row) == 8 for row in grid_rows)
    assert "numpy:" in grid and " min on one core" in grid


def test_bench_defaults_prints_its_table(capsys):
    load("bench_defaults").main(["--quick"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert len(rows) == 3
    for row in rows:
        # normalize_y is TransformedTargetRegressor with a StandardScaler: the same fit
        assert float(row[-2]) == 1.0 and row[-1] == "0"
