"""The solvers section of benchmarks/bench_ntk.py runs (tiny sizes; no timing is checked)."""

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_ntk", BENCHMARKS / "bench_ntk.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_ntk_solver_rows():
    bench = _bench()
    rows = []
    bench.bench_solver_accuracy(60, rows, n_test=20)
    assert len(rows) == 7
    for name, error, _, target, _ in rows:  # exact features: errors at rounding level
        assert 0 <= error < target, name
    rows = []
    params = dict(solver="nystroem", n_components=20, n_steps=10, random_state=0)
    bench.bench_solver_scale("tiny", 100, params, 300, rows, n_test=20)
    (_, seconds, *_), (_, peak_mib, *_) = rows
    assert seconds > 0 and peak_mib > 0


def test_bench_ntk_activation_rows():
    # Section 5 at a tiny size: the series kernel's rows and the former quadrature's.
    bench = _bench()
    rows = []
    bench.bench_activations(12, rows, n_pairs=2, activations=("tanh",))
    assert len(rows) == 5
    (_, t_relu, *_), (_, t_new, _, t_old, _), accuracy, hard, structure = rows
    assert t_relu > 0 and t_new > 0 and t_old > 0
    assert 0 <= accuracy[1] < 1e-6  # the series against adaptive 2-d integration
    assert 0 <= hard[1] < 1e-6 < hard[3]  # at large variances the former rule failed
    assert structure[1] > -1e-12  # smallest eigenvalue / largest of the series NTK
