"""The command line refuses bad options and unwritable paths before the study; valid JSON."""

import errno
import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from sklearn_gdnet import __main__ as cli
from sklearn_gdnet.model_selection import WidthStudyResult

FAST = ["--preset", "width-study", "--n-samples", "24",
        "--widths", "4,8", "--seeds", "0", "--steps", "5", "-q"]
GD_ONLY = [*FAST, "--no-ntk", "--no-kernel-ridge"]


def _strict_json(text):
    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def no_study(monkeypatch):
    """Fail the test if the study would start."""

    def started(args):
        raise AssertionError("the study started although the options were invalid")

    monkeypatch.setattr(cli, "prepare_study", started)
    monkeypatch.setattr(cli, "run_study", started)


def _exit_code_and_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return info.value.code, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--n-jobs", "0"], "argument --n-jobs: expected a nonzero integer"),
        (["--n-jobs", str(10 * (os.cpu_count() or 1))], "argument --n-jobs"),
        (["--seeds", "-1"], "argument --seeds: seeds must be integers in [0, 4294967295]"),
        (["--seeds", "4294967296"], "argument --seeds: seeds must be integers in"),
        (["--data-seed", "-5"], "argument --data-seed: expected a seed in [0, 4294967295]"),
        (["--learning-rate", "inf"], "argument --learning-rate: expected a positive finite"),
        (["--learning-rate", "nan"], "argument --learning-rate: expected a positive finite"),
        (["--smoothness", "inf"], "argument --smoothness: expected a finite number > 0"),
        (["--noise", "inf"], "argument --noise: expected a number >= 0 and <= 1e+06"),
        (["--noise", "1e300"], "argument --noise: expected a number >= 0 and <= 1e+06"),
        (["--noise", "nan"], "argument --noise"),
        (["--widths", "8,8,16"], "--widths must be distinct"),
        (["--target", "cusp", "--n-features", "4"], "--n-features applies to --target sphere"),
        (["--target", "step", "--smoothness", "2"], "--smoothness applies to --target sphere"),
    ],
)
def test_bad_values_exit_2_with_a_message_before_the_study(argv, message, capsys, no_study):
    code, err = _exit_code_and_error([*FAST, *argv], capsys)
    assert code == 2
    assert err.startswith("usage: sklearn-gdnet")
    assert message in err


MEMORY_CASES = [
    (["--widths", "4,100000000"], "Training a width-100000000, depth-1 network"),
    (["--n-samples", "100000000"], "Sampling 100000000 points on the sphere"),
    (["--target", "cusp", "--n-samples", "100000000"], "Sampling 100000000 points on [-1, 1]"),
    (["--n-samples", "30000"], "The kernel-ridge baseline on 30000 samples"),
    (["--n-features", "10000000"], "needs about"),
]

# Runs the cases in a child process whose address space is capped, so that a
# guard that failed would end in a MemoryError there, not in the machine's
# out-of-memory killer; the package's own limit is set to 1 GiB.
_MEMORY_SCRIPT = """
import contextlib, io, json, sys
import sklearn_gdnet._memory as memory
from sklearn_gdnet.__main__ import main
memory.MEMORY_LIMIT = 2**30
outcomes = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code
    outcomes.append([code, err.getvalue()])
print(json.dumps(outcomes))
"""


def test_requests_too_large_for_memory_exit_2_before_allocating():
    resource = pytest.importorskip("resource")

    def cap_address_space():
        resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))

    argvs = [[*FAST, "--no-ntk", *argv] for argv, _ in MEMORY_CASES]
    completed = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, json.dumps(argvs)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=cap_address_space,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr
    for (code, err), (argv, message) in zip(json.loads(completed.stdout), MEMORY_CASES):
        assert code == 2, (argv, err)
        assert "sklearn-gdnet: error: cannot run this study:" in err
        assert message in err and "GiB" in err and "Traceback" not in err


@pytest.fixture
def places(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "full.json").symlink_to("/dev/full")
    return tmp_path


@pytest.mark.parametrize(
    "option, name, message",
    [
        ("--output", "missing/study.json", "the folder"),
        ("--output", "a_file/study.json", "is not a folder"),
        ("--output", "folder.json", "is an existing folder"),
        ("--output", "full.json", "is not a regular file"),
        ("--output", "/dev/full", "must end in .csv or .json"),
        ("--plot", "missing/study.png", "does not exist"),
        ("--plot", "a_file/study.png", "is not a folder"),
        ("--plot", "study.json", "must end in .png"),
    ],
)
def test_unwritable_paths_are_refused_before_the_study(
    option, name, message, places, capsys, no_study
):
    path = name if name.startswith("/") else str(places / name)
    code, err = _exit_code_and_error([*FAST, option, path], capsys)
    assert code == 2 and message in err


def test_a_read_only_folder_is_refused(places, capsys, no_study):
    folder = places / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):  # root writes anywhere
            pytest.skip("running with permission to write to read-only folders")
        code, err = _exit_code_and_error([*FAST, "--output", str(folder / "x.json")], capsys)
    finally:
        folder.chmod(0o700)
    assert code == 2 and "cannot be written" in err


def test_a_failed_write_after_the_study_keeps_the_result(places, capsys, monkeypatch):
    def full_disk(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "_write_atomically", full_disk)
    status = cli.main([*FAST, "--no-kernel-ridge", "--output", str(places / "x.json")])
    assert status == 1
    err = capsys.readouterr().err
    saved = re.search(r"the results are saved in (\S+)", err).group(1)
    try:
        payload = _strict_json(open(saved).read())
    finally:
        os.unlink(saved)
    assert "No space left on device" in err
    assert len([r for r in payload["results"] if r["estimator"] == "gd"]) == 2


def _results(errors, fit_failed=None, ntk=np.nan):
    study = WidthStudyResult(
        np.array([4.0, 8.0, 16.0]),
        [0, 1],
        np.asarray(errors, dtype=float),
        np.ones((3, 2)),
        fit_failed=fit_failed,
    )
    return {
        "study": study,
        "config": {"n_samples": 3, "steps": 1, "depth": 1},
        "description": "x",
        "learning_rate": 1.0,
        "target_l2_norm": 1.0,
        "ntk_error": ntk,
        "ntk_rms_error": np.inf,
        "kernel_ridge_error": None,
        "elapsed_s": 0.0,
    }


def test_json_output_never_holds_nan_or_infinity(tmp_path):
    failed = np.array([[False, False], [True, False], [False, False]])
    results = _results([[0.5, 0.4], [np.nan, 0.2], [0.1, np.inf]], fit_failed=failed)
    cli.write_output(results, tmp_path / "study.json")
    text = (tmp_path / "study.json").read_text()
    payload = _strict_json(text)
    assert "NaN" not in text and "Infinity" not in text
    assert payload["ntk_error"] is None and payload["ntk_rms_error"] is None
    gd = [r for r in payload["results"] if r["estimator"] == "gd"]
    assert [r["error"] for r in gd] == [0.5, 0.4, None, 0.2, 0.1, None]
    assert [r["fit_failed"] for r in gd] == [False, False, True, False, False, False]
    assert payload["gd_failed_fits"] == 1
    assert "1 of 6 gd fits failed" in cli.format_table(results)


def test_json_config_has_no_sphere_fields_for_1d_targets(tmp_path, capsys):
    path = tmp_path / "study.json"
    for target in ["cusp", "sphere"]:
        cli.main([*GD_ONLY, "--target", target, "--output", str(path)])
        config = _strict_json(path.read_text())["config"]
        assert config["target"] == target
        assert ("n_features" in config) == ("smoothness" in config) == (target == "sphere")
        assert "quiet" not in config and "output" not in config
    assert config["n_features"] == 3 and config["smoothness"] == 1.0


def test_gaussian_target_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "study.json"
    cli.main([*GD_ONLY, "--target", "gaussian", "--output", str(path)])
    payload = _strict_json(path.read_text())
    # a = 0.25, s = 0.2: ||g||^2 = a^2 erf(1/s) / (4 s sqrt(pi)) under dx / 2
    assert payload["target_l2_norm"] ** 2 == pytest.approx(0.0625 / (0.8 * np.sqrt(np.pi)), 1e-9)


def test_widths_are_studied_in_increasing_order(tmp_path, capsys):
    path = tmp_path / "study.json"
    cli.main([*GD_ONLY, "--widths", "8,2,4", "--output", str(path)])
    payload = _strict_json(path.read_text())
    assert payload["config"]["widths"] == [2, 4, 8]
    assert [r["from_width"] for r in payload["gd_local_rates"]] == [2, 4]


def test_help_example_shows_a_decay_and_runs_as_written():
    epilog = cli.build_parser().epilog
    command = re.search(r"(sklearn-gdnet --.*?)\n\n", epilog, re.S).group(1)
    argv = shlex.split(command.replace("\\\n", " "))[1:]
    args = cli.build_parser().parse_args(argv)
    assert len(args.widths) >= 4
    # the quoted rate's confidence interval lies above zero: the error falls
    low, high = map(float, re.search(r"rate [\d.]+ \[([-\d.]+), ([-\d.]+)\]", epilog).groups())
    assert 0 < low < high


def test_a_study_whose_fits_all_fail_ends_with_a_message(capsys, monkeypatch):
    from sklearn_gdnet import _gd_network

    real_fit = _gd_network.GDNetworkRegressor.fit

    def fit_only_the_probe(self, X, y, sample_weight=None):
        if self.max_iter > 0:
            raise FloatingPointError("the loss overflowed")
        return real_fit(self, X, y, sample_weight)

    monkeypatch.setattr(_gd_network.GDNetworkRegressor, "fit", fit_only_the_probe)
    assert cli.main(GD_ONLY) == 1
    err = capsys.readouterr().err
    # the message says what failed in each fit, as scikit-learn's searches do
    assert "sklearn-gdnet: error: the study failed: ValueError: All the 2 fits" in err
    assert "FloatingPointError: the loss overflowed" in err
