"""benchmarks/bench_threads.py still runs (a tiny configuration; no timing is checked)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_threads.py"


def test_bench_threads_reports_both_figures(capsys):
    spec = importlib.util.spec_from_file_location("bench_threads", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(["--quick", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "(fastest)" in out and "(one thread)" in out
    assert len(results) == 2 and all(r > 0 for r in results.values())
