"""Property-based tests of the command line: any argv gives exit 0 or a clean exit 2.

The first property runs the parser and every check before the study, on
arbitrary argument lists; the study itself is replaced by a stub that records
the validated options, so the time per example is that of parsing. The second
runs small valid studies for real and checks the exit status and the JSON.
"""

import contextlib
import io
import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from unittest import mock

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sklearn_gdnet import __main__ as cli  # noqa: E402

OPTIONS = [
    "--preset",
    "--max-degree",
    "--targets",
    "--solver",
    "--target",
    "--n-samples",
    "--n-features",
    "--smoothness",
    "--noise",
    "--data-seed",
    "--widths",
    "--seeds",
    "--steps",
    "--depth",
    "--activation",
    "--learning-rate",
    "--n-jobs",
    "--output",
    "--plot",
]
FLAGS = ["--no-ntk", "--no-kernel-ridge", "-q", "--quiet", "--unknown", "-x", "--", "-"]

# one folder for the whole module: hypothesis forbids function-scoped fixtures
_PLACES = tempfile.TemporaryDirectory(prefix="sklearn-gdnet-fuzz-")
PLACES = Path(_PLACES.name)
(PLACES / "a_file").write_text("x")
(PLACES / "folder.json").mkdir(exist_ok=True)
if not (PLACES / "full.json").is_symlink():
    (PLACES / "full.json").symlink_to("/dev/full")
PATHS = [
    str(PLACES / name)
    for name in [
        "ok.json",
        "ok.csv",
        "ok.png",
        "missing/x.json",
        "a_file/x.json",
        "folder.json",
        "full.json",
        "x.txt",
        "a_file/x.png",
        "x" * 300 + ".json",
    ]
] + ["/dev/full", "", "x\x00.json", "/"]

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, -1, 2**32 - 1, 2**32, 10**8, 10**300]),
).map(str)
number_lists = st.lists(st.integers(min_value=-5, max_value=2**33), min_size=0, max_size=4).map(
    lambda values: ",".join(map(str, values))
)
words = st.sampled_from(
    ["auto", "relu", "tanh", "sphere", "cusp", "gaussian", "moon", "1e999", "nan", "-inf", "", " "]
    + ["width-study", "sphere", "shallow-1d", "adam", "gd", "cusp,step", "gaussian-0.5"]
)
values = st.one_of(numbers, number_lists, words, st.sampled_from(PATHS), st.text(max_size=8))
pairs = st.tuples(st.sampled_from(OPTIONS), values).map(list)
flags = st.sampled_from(FLAGS).map(lambda flag: [flag])
argvs = st.lists(st.one_of(pairs, pairs, flags, values.map(lambda v: [v])), max_size=6).map(
    lambda chunks: [token for chunk in chunks for token in chunk]
)


class _StudyReached(Exception):
    def __init__(self, args):
        self.args_ = args


def _reach(args):
    raise _StudyReached(args)


def _assert_valid(args):
    """What the study may rely on once the checks have passed."""
    assert args.preset in cli.PRESETS
    assert args.scheduler is None  # never given in these argument lists
    if args.preset == "sphere":
        assert args.target is None and args.n_samples is None and args.noise is None
        assert not args.no_ntk and not args.no_kernel_ridge
        assert args.max_degree >= 1 and args.n_features >= 2 and args.steps >= 1
        assert 0 <= args.data_seed <= 2**32 - 1
    elif args.preset == "shallow-1d":
        for name in ["target", "n_samples", "noise", "max_degree", "n_features", "smoothness"]:
            assert getattr(args, name) is None, name
        assert args.data_seed is None and args.depth is None and args.activation is None
        assert args.targets and set(args.targets) <= set(cli.SHALLOW_TARGETS)
        assert args.solver in ("adam", "gd")
        assert args.steps is None or args.steps >= 1
        assert (
            args.learning_rate is None
            or args.learning_rate == "auto"
            or (math.isfinite(args.learning_rate) and args.learning_rate > 0)
        )
        assert not (args.solver == "adam" and args.learning_rate == "auto")
    else:
        assert args.max_degree is None and args.targets is None and args.solver is None
        _assert_valid_width_study(args)
    widths = list(args.widths)
    assert len(widths) >= 2 and widths == sorted(set(widths)) and widths[0] >= 1
    assert all(0 <= s <= 2**32 - 1 for s in args.seeds)
    assert args.n_jobs != 0 and abs(args.n_jobs) <= (os.cpu_count() or 1)
    for path, suffixes in [(args.output, (".csv", ".json")), (args.plot, (".png",))]:
        if path is not None:
            assert path.suffix.lower() in suffixes
            assert path.parent.is_dir() and not path.is_dir()


def _assert_valid_width_study(args):
    assert args.target in cli.TARGETS
    assert args.n_samples >= 2
    widths = list(args.widths)
    assert len(widths) >= 2 and widths == sorted(set(widths)) and widths[0] >= 1
    assert all(0 <= s <= 2**32 - 1 for s in args.seeds)
    assert 0 <= args.data_seed <= 2**32 - 1
    assert 0 <= args.noise <= cli.MAX_NOISE
    assert args.learning_rate == "auto" or (
        math.isfinite(args.learning_rate) and args.learning_rate > 0
    )
    assert args.n_jobs != 0 and abs(args.n_jobs) <= (os.cpu_count() or 1)
    if args.target == "sphere":
        assert args.n_features >= 2 and math.isfinite(args.smoothness) and args.smoothness > 0
    else:
        assert args.n_features is None and args.smoothness is None
    for path, suffixes in [(args.output, (".csv", ".json")), (args.plot, (".png",))]:
        if path is not None:
            assert path.suffix.lower() in suffixes
            assert path.parent.is_dir() and not path.is_dir()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(argv=argvs)
def test_any_argv_exits_0_or_2_with_a_message_never_a_traceback(argv):
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.object(cli, "prepare_study", _reach),
        mock.patch.object(cli, "run_preset", _reach),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            cli.main(argv)
        except SystemExit as exc:
            assert exc.code in (0, 2), (argv, exc.code, err.getvalue())
            if exc.code == 2:
                assert err.getvalue().startswith("usage: sklearn-gdnet"), err.getvalue()
                assert "sklearn-gdnet: error: " in err.getvalue()
            else:
                assert "usage: sklearn-gdnet" in out.getvalue()  # --help
            return
        except _StudyReached as reached:
            _assert_valid(reached.args_)
            return
    raise AssertionError(f"main returned without running the study: {argv}")


small_configs = st.fixed_dictionaries(
    {
        "--target": st.sampled_from(cli.TARGETS),
        "--n-samples": st.integers(2, 16),
        "--widths": st.lists(st.integers(1, 12), min_size=2, max_size=3, unique=True),
        "--seeds": st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=2),
        "--steps": st.integers(1, 4),
        "--depth": st.integers(1, 2),
        # closed-form kernels: the quadrature ones (tanh, ...) take seconds per fit
        "--activation": st.sampled_from(["relu", "erf"]),
        "--noise": st.sampled_from([0.0, 1e-3, 1.0, cli.MAX_NOISE]),
        "--learning-rate": st.one_of(
            st.just("auto"), st.floats(1e-3, 1e3).map(lambda v: f"{v:.3g}")
        ),
        "--data-seed": st.integers(0, 2**32 - 1),
    }
)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(config=small_configs, skip_ntk=st.booleans(), skip_ridge=st.booleans())
def test_small_valid_studies_exit_0_with_valid_json(config, skip_ntk, skip_ridge):
    argv = ["-q", "--preset", "width-study", "--output", str(PLACES / "run.json")]
    for option, value in config.items():
        argv += [option, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    argv += ["--no-ntk"] * skip_ntk + ["--no-kernel-ridge"] * skip_ridge
    err = io.StringIO()
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        # divergence at a large step or failed fits are reported, not fatal
        warnings.simplefilter("ignore")
        assert cli.main(argv) == 0, err.getvalue()

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    payload = json.loads((PLACES / "run.json").read_text(), parse_constant=refuse)
    gd = [r for r in payload["results"] if r["estimator"] == "gd"]
    assert len(gd) == len(config["--widths"]) * len(config["--seeds"])
