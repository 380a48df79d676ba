"""Width studies on a dask cluster through joblib's dask backend: the same errors, seed for seed."""

import json

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

from sklearn_gdnet import GDNetworkRegressor, width_study  # noqa: E402
from sklearn_gdnet import __main__ as cli  # noqa: E402
from sklearn_gdnet.datasets import make_sphere_regression  # noqa: E402
from sklearn_gdnet.metrics import make_l2_error_scorer  # noqa: E402
from sklearn_gdnet.presets import sphere_study  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    # one in-process worker with two threads: the dask backend runs two fits at once
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster


def test_width_study_on_the_dask_backend_gives_the_sequential_errors(cluster):
    X, y, target = make_sphere_regression(40, 3, random_state=0)
    net = GDNetworkRegressor(depth=1, max_iter=20, learning_rate=1.0, normalize_y=False)
    kwargs = dict(widths=[4, 16], seeds=[0, 1, 2], scoring=make_l2_error_scorer(target))
    sequential = width_study(net, X, y, n_jobs=1, **kwargs)
    with distributed.Client(cluster) as client, joblib.parallel_config(backend="dask"):
        with distributed.get_task_stream(client) as stream:
            on_cluster = width_study(net, X, y, **kwargs)
    # the fits ran as dask tasks ...
    assert len(stream.data) > 0
    # ... and each (width, seed) has the error of the sequential study
    np.testing.assert_allclose(on_cluster.errors, sequential.errors, rtol=1e-12)
    assert on_cluster.seeds == sequential.seeds


def test_sphere_preset_on_the_dask_backend_gives_the_sequential_errors(cluster):
    kwargs = dict(max_degree=2, widths=(4, 8), seeds=(0, 1), n_steps=10)
    sequential = sphere_study(**kwargs, n_jobs=1)
    with distributed.Client(cluster) as client, joblib.parallel_config(backend="dask"):
        with distributed.get_task_stream(client) as stream:
            on_cluster = sphere_study(**kwargs)
    assert len(stream.data) > 0
    for name in ["network_errors", "linearized_errors", "network_to_linearized"]:
        np.testing.assert_allclose(
            getattr(on_cluster.decomposition, name),
            getattr(sequential.decomposition, name),
            rtol=1e-12,
        )


def test_cli_scheduler_option_runs_the_study_on_the_cluster(cluster, tmp_path, capsys):
    argv = ["--max-degree", "2", "--widths", "4,8", "--seeds", "0,1", "--steps", "10", "-q"]
    local, remote = tmp_path / "local.json", tmp_path / "remote.json"
    assert cli.main([*argv, "--output", str(local)]) == 0
    with distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream:
            assert (
                cli.main([*argv, "--scheduler", cluster.scheduler_address, "--output", str(remote)])
                == 0
            )
        assert len(stream.data) > 0
    a, b = (json.loads(p.read_text())["results"] for p in (local, remote))
    assert [(r["width"], r["seed"]) for r in a] == [(r["width"], r["seed"]) for r in b]
    np.testing.assert_allclose(
        [r["network_error"] for r in b], [r["network_error"] for r in a], rtol=1e-12
    )


def test_cli_width_study_on_the_cluster(cluster, tmp_path, capsys):
    argv = ["--preset", "width-study", "--n-samples", "24", "--widths", "4,8", "--seeds", "0,1"]
    argv += ["--steps", "5", "--no-kernel-ridge", "-q"]
    local, remote = tmp_path / "local.json", tmp_path / "remote.json"
    assert cli.main([*argv, "--output", str(local)]) == 0
    address = cluster.scheduler_address
    assert cli.main([*argv, "--scheduler", address, "--output", str(remote)]) == 0
    a, b = (json.loads(p.read_text())["results"] for p in (local, remote))
    np.testing.assert_allclose([r["error"] for r in b], [r["error"] for r in a], rtol=1e-12)


def test_cli_unreachable_scheduler_is_a_clean_error(monkeypatch, capsys):
    monkeypatch.setattr(cli, "SCHEDULER_TIMEOUT_S", 1)
    argv = ["--max-degree", "2", "--widths", "4,8", "--seeds", "0", "--steps", "2", "-q"]
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--scheduler", "tcp://127.0.0.1:1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "cannot reach the dask scheduler 'tcp://127.0.0.1:1'" in err
    assert "Traceback" not in err


def test_shallow_preset_on_the_dask_backend_gives_the_sequential_results(cluster):
    from sklearn_gdnet.presets import shallow_1d_study

    kwargs = dict(targets=["cusp"], widths=(10, 18), seeds=(0, 1), n_steps=30)
    sequential = shallow_1d_study(**kwargs, n_jobs=1)
    with distributed.Client(cluster) as client, joblib.parallel_config(backend="dask"):
        with distributed.get_task_stream(client) as stream:
            on_cluster = shallow_1d_study(**kwargs)
    assert len(stream.data) > 0
    np.testing.assert_allclose(on_cluster.errors, sequential.errors, rtol=1e-12)
    np.testing.assert_allclose(on_cluster.movement["sup"], sequential.movement["sup"], rtol=1e-12)
