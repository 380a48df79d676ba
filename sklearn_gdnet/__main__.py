"""The command-line studies: ``python -m sklearn_gdnet`` or ``sklearn-gdnet``.

The default preset, ``--preset sphere``, runs the theory's setting
(:func:`sklearn_gdnet.presets.sphere_study`): gradient-descent networks of
several widths and seeds on the sphere, trained on the continuous loss of a
Sobolev target, with the error decomposition (network, linearization at
initialization, infinite-width limit after the same steps, converged kernel)
and the fitted rate. ``--preset width-study`` is the study on random samples
of any built-in target, with the NTK limit and a kernel-ridge baseline. The
tool parses options, calls the preset and prints or writes its result. Run
``python -m sklearn_gdnet --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PRESETS = ("sphere", "width-study", "shallow-1d")
# The sphere preset's defaults: a target of degrees 1..16 on a 561-node rule
# exact to degree 32, the widths and seeds of the width study; about 12 s of
# CPU time.
SPHERE_DEFAULTS = {
    "n_features": 3,
    "smoothness": 1.0,
    "max_degree": 16,
    "widths": (8, 16, 32, 64, 128, 256),
    "seeds": (0, 1, 2),
    "steps": 4000,
}
# --preset width-study: the default keeps most widths below the number of
# samples and runs in well under a minute on two cores.
DEFAULTS = {
    "target": "sphere",
    "n_samples": 400,
    "n_features": 3,
    "smoothness": 1.0,
    "widths": (8, 16, 32, 64, 128, 256),
    "seeds": (0, 1, 2),
    "steps": 1000,
    "depth": 1,
    "activation": "relu",
    "learning_rate": "auto",
    "noise": 0.0,
    "data_seed": 0,
    "n_jobs": 1,
}
TARGETS = ("sphere", "gaussian", "bump", "cusp", "step")
# the options that only some presets read (dest names), and those presets
_SPHERE_AND_WIDTH = ("sphere", "width-study")
OPTION_PRESETS = {
    "target": ("width-study",),
    "n_samples": ("width-study",),
    "noise": ("width-study",),
    "no_ntk": ("width-study",),
    "no_kernel_ridge": ("width-study",),
    "max_degree": ("sphere",),
    "n_features": _SPHERE_AND_WIDTH,
    "smoothness": _SPHERE_AND_WIDTH,
    "data_seed": _SPHERE_AND_WIDTH,
    "depth": _SPHERE_AND_WIDTH,
    "activation": _SPHERE_AND_WIDTH,
    "targets": ("shallow-1d",),
    "solver": ("shallow-1d",),
}
# --preset shallow-1d: the published widths, 10 of the published 100 seeds
SHALLOW_DEFAULTS = {
    "widths": (10, 18, 32, 56, 100, 178, 316, 562, 1000),
    "seeds": tuple(range(10)),
    "targets": ("gaussian", "cusp", "step"),
    "solver": "adam",
}
SHALLOW_TARGETS = ("gaussian", "gaussian-0.1", "gaussian-0.25", "gaussian-0.5", "cusp", "step")
# options that only the sphere target reads
SPHERE_OPTIONS = ("n_features", "smoothness")
# the seeds numpy and scikit-learn accept
SEED_RANGE = (0, 2**32 - 1)
# The targets have L2 norms of order one; noise far above that measures
# nothing, and its squares overflow in float64 from about 1e154 on.
MAX_NOISE = 1e6
# seconds to wait for the dask scheduler of --scheduler
SCHEDULER_TIMEOUT_S = 30


# --- options ---------------------------------------------------------------------------


def _parse_int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None


def _int_list(text, *, low=None, high=None, what="values"):
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 16,64,256; got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    bad = [v for v in values if (low is not None and v < low) or (high is not None and v > high)]
    if bad:
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise argparse.ArgumentTypeError(f"{what} must be integers {bounds}; got {bad[0]}")
    return values


def _widths(text):
    return _int_list(text, low=1, what="widths")


def _seeds(text):
    return _int_list(text, low=SEED_RANGE[0], high=SEED_RANGE[1], what="seeds")


def _shallow_targets(text):
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("expected at least one target")
    bad = [v for v in values if v not in SHALLOW_TARGETS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"expected targets among {', '.join(SHALLOW_TARGETS)}; got {bad[0]!r}"
        )
    # gaussian is gaussian-0.25
    canonical = ["gaussian-0.25" if v == "gaussian" else v for v in values]
    if len(set(canonical)) != len(canonical):
        raise argparse.ArgumentTypeError(f"expected distinct targets; got {text!r}")
    return values


def _seed(text):
    value = _parse_int(text)
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(
            f"expected a seed in [{SEED_RANGE[0]}, {SEED_RANGE[1]}]; got {value}"
        )
    return value


def _positive_int(text):
    value = _parse_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


def _n_jobs(text):
    value = _parse_int(text)
    cores = os.cpu_count() or 1
    if value == 0 or abs(value) > cores:
        raise argparse.ArgumentTypeError(
            f"expected a nonzero integer between -{cores} and {cores} (this machine has "
            f"{cores} cores; -1 means all of them, -2 all but one); got {value}"
        )
    return value


def _float(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None


def _learning_rate(text):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a positive number; got {text!r}"
        ) from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite step size; got {value}")
    return value


def _noise(text):
    value = _float(text)
    if not 0 <= value <= MAX_NOISE:
        raise argparse.ArgumentTypeError(
            f"expected a number >= 0 and <= {MAX_NOISE:g} (the targets have L2 norms of "
            f"order one); got {value}"
        )
    return value


def _smoothness(text):
    value = _float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {value}")
    return value


EPILOG = """\
presets:
  sphere (default)  networks on S^{d-1} trained on the continuous loss of a
                    Sobolev target (a quadrature rule as training set); error
                    of the network, its linearization at initialization, the
                    infinite-width limit after the same steps, the converged
                    kernel solution; fitted rate of the networks' error
  width-study       random samples of a target (--target, --n-samples,
                    --noise), with the NTK limit and a kernel-ridge baseline
  shallow-1d        the published shallow 1-d study (Gentile and Welper):
                    breakpoints of m^-1/2 sum_r a_r relu(x - theta_r) trained
                    by Adam (lr 1e-3, 100 x intervals steps, step decay) on
                    2m points; median L2 error and breakpoint movement per
                    width, local and fitted rates (--targets, --solver;
                    --steps overrides the published step counts)

  --scheduler ADDRESS runs the fits on a dask cluster (pip install
  "dask[distributed]"; start the scheduler and workers there first).

example: how fast does the error of trained networks fall with the width?
  sklearn-gdnet --preset width-study --smoothness 2 --widths 4,8,16,32,64 \\
      --steps 2000 --output study.json --plot study.png

  On 400 points of the sphere S^2 (target of Sobolev smoothness 2), the mean
  error over 3 seeds falls from 0.17 at width 4 to 0.022 at width 64, fitted
  rate 0.70 [0.38, 1.02] (95% CI); the local rates (1.7, 0.61, 0.42, 0.26)
  slow down as the networks approach their infinite-width (NTK) limit, error
  0.014, and kernel ridge reaches 0.0052. About half a minute on two cores.
"""


def build_parser():
    """The argument parser of the command-line study."""
    d = DEFAULTS
    parser = argparse.ArgumentParser(
        prog="sklearn-gdnet",
        description=(
            "Width studies: continuous L2 error of gradient-descent networks of "
            "several widths beside their infinite-width (NTK) limit, with the "
            "fitted rate error ~ width^-rate."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default="sphere",
        help="the study (default: %(default)s; see below)",
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--target",
        choices=TARGETS,
        default=None,
        help="width-study only: 'sphere': Sobolev target on S^{d-1}; 'gaussian', 'bump', "
        f"'cusp', 'step': the 1-d targets on [-1, 1] (default: {d['target']})",
    )
    data.add_argument(
        "--n-samples",
        type=_positive_int,
        default=None,
        help=f"width-study only: training points, at least 2 (default: {d['n_samples']})",
    )
    data.add_argument(
        "--max-degree",
        type=_positive_int,
        default=None,
        help="sphere only: highest degree of the target; the training rule is exact to "
        f"twice that (default: {SPHERE_DEFAULTS['max_degree']})",
    )
    data.add_argument(
        "--n-features",
        type=_positive_int,
        default=None,
        help="ambient dimension d of the sphere, >= 2; sphere, or width-study with --target "
        f"sphere (default: {d['n_features']})",
    )
    data.add_argument(
        "--smoothness",
        type=_smoothness,
        default=None,
        help="Sobolev smoothness of the sphere target, > 0; sphere, or width-study with "
        "--target sphere "
        f"(default: {d['smoothness']})",
    )
    data.add_argument(
        "--noise",
        type=_noise,
        default=None,
        help=f"width-study only: standard deviation of label noise, in [0, {MAX_NOISE:g}] "
        f"(default: {d['noise']})",
    )
    data.add_argument(
        "--data-seed",
        type=_seed,
        default=None,
        help=f"seed of the data and the target, in [0, {SEED_RANGE[1]}] "
        f"(default: {d['data_seed']})",
    )
    study = parser.add_argument_group("study")
    study.add_argument(
        "--widths",
        type=_widths,
        default=None,
        help="comma-separated distinct widths, studied in increasing order (default: "
        f"{','.join(map(str, d['widths']))}; shallow-1d: "
        f"{','.join(map(str, SHALLOW_DEFAULTS['widths']))})",
    )
    study.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        help=f"comma-separated initialization seeds in [0, {SEED_RANGE[1]}] "
        f"(default: {','.join(map(str, d['seeds']))}; shallow-1d: 0,...,9)",
    )
    study.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        help="gradient-descent steps, also the NTK's n_steps (default: "
        f"{SPHERE_DEFAULTS['steps']} for sphere, {d['steps']} for width-study, the published "
        "counts for shallow-1d)",
    )
    study.add_argument(
        "--depth",
        type=_positive_int,
        default=None,
        help=f"hidden layers (default: {d['depth']})",
    )
    study.add_argument(
        "--activation",
        default=None,
        choices=("relu", "tanh", "erf", "gelu", "softplus", "sigmoid"),
        help=f"activation (default: {d['activation']})",
    )
    study.add_argument(
        "--learning-rate",
        type=_learning_rate,
        default=None,
        help="step size shared by the networks and the NTK; 'auto' takes half "
        "the largest stable step of the NTK, 2N / lambda_max (default: auto; 1e-3 for "
        "shallow-1d with adam)",
    )
    study.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=None,
        help=f"parallel fits, -1 for all cores; the sphere and shallow-1d presets run "
        f"each fit on one BLAS thread (default: {d['n_jobs']})",
    )
    study.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the fits on the dask cluster of this scheduler (e.g. tcp://host:8786), "
        "through joblib's dask backend; needs dask[distributed]",
    )
    study.add_argument("--no-ntk", action="store_true", help="width-study only: skip the NTK limit")
    study.add_argument(
        "--no-kernel-ridge",
        action="store_true",
        help="width-study only: skip the kernel-ridge baseline",
    )
    shallow = parser.add_argument_group("shallow-1d")
    shallow.add_argument(
        "--targets",
        type=_shallow_targets,
        default=None,
        help="comma-separated targets among "
        f"{', '.join(SHALLOW_TARGETS)} (gaussian: amplitude 0.25) "
        f"(default: {','.join(SHALLOW_DEFAULTS['targets'])})",
    )
    shallow.add_argument(
        "--solver",
        choices=("adam", "gd"),
        default=None,
        help="adam: the published training (lr 1e-3, step decay); gd: gradient descent at "
        "the automatic step (default: adam)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--output",
        type=Path,
        help="write every error to FILE.csv or FILE.json (checked before the study)",
        metavar="FILE",
    )
    out.add_argument(
        "--plot",
        type=Path,
        help="draw the study's figure to FILE.png (checked before the study)",
        metavar="FILE",
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


def _check_output_path(parser, option, path, suffixes):
    """Refuse, before any work, a path that the results could not be written to."""
    shown = repr(str(path))
    if path.suffix.lower() not in suffixes:
        parser.error(f"{option} must end in {' or '.join(suffixes)}; got {shown}")
    if "\x00" in str(path):
        parser.error(f"{option} contains a NUL character: {shown}")
    try:
        if path.is_dir():
            parser.error(f"{option} {shown} is an existing folder; give a file name")
        if path.exists() and not path.is_file():
            parser.error(
                f"{option} {shown} exists and is not a regular file (a device or a "
                "socket); give the name of a file"
            )
        folder = path.parent
        if not folder.exists():
            parser.error(f"{option} {shown}: the folder {str(folder)!r} does not exist")
        if not folder.is_dir():
            parser.error(f"{option} {shown}: {str(folder)!r} is not a folder")
        # The results are written to a temporary file there, then renamed.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".sklearn-gdnet-", suffix=".tmp"):
            pass
    except OSError as exc:
        parser.error(f"{option} {shown} cannot be written: {exc.strerror or exc}")


def _option(name):
    return "--" + name.replace("_", "-")


def _unset(value):
    return value is None or value is False


def _check_preset_options(parser, args):
    """Refuse the options of another preset; fill in the defaults of this one."""
    for name, presets in OPTION_PRESETS.items():
        if args.preset not in presets and not _unset(getattr(args, name)):
            parser.error(
                f"{_option(name)} applies to --preset {' and '.join(presets)} only; "
                f"got --preset {args.preset}"
            )
    if args.preset == "shallow-1d":
        for name, value in SHALLOW_DEFAULTS.items():
            if getattr(args, name) is None:
                setattr(args, name, value)
        # None: the preset's published step counts and step size
        return
    defaults = SPHERE_DEFAULTS if args.preset == "sphere" else DEFAULTS
    names = ["widths", "seeds", "steps", "data_seed", "depth", "activation", "learning_rate"]
    if args.preset == "sphere":
        names += ["n_features", "smoothness", "max_degree"]
    else:
        names += ["target", "n_samples", "noise"]
    for name in names:
        if getattr(args, name) is None:
            setattr(args, name, defaults.get(name, DEFAULTS.get(name)))


def _check_scheduler(parser, args):
    if args.scheduler is not None:
        if args.n_jobs is not None:
            parser.error(
                "--n-jobs and --scheduler exclude each other: the cluster's workers "
                "decide how many fits run at once"
            )
        if not args.scheduler.strip():
            parser.error(
                "--scheduler needs the address of a dask scheduler, e.g. tcp://127.0.0.1:8786"
            )
        try:
            import distributed  # noqa: F401
        except ImportError:
            parser.error('--scheduler needs dask.distributed: pip install "dask[distributed]"')
        args.n_jobs = -1
    elif args.n_jobs is None:
        args.n_jobs = DEFAULTS["n_jobs"]


def _check_args(parser, args):
    """Check what the option types alone cannot: combinations, output paths."""
    _check_preset_options(parser, args)
    _check_scheduler(parser, args)
    if args.preset != "width-study":
        pass
    elif args.target == "sphere":
        args.n_features = DEFAULTS["n_features"] if args.n_features is None else args.n_features
        args.smoothness = DEFAULTS["smoothness"] if args.smoothness is None else args.smoothness
        if args.n_features < 2:
            parser.error(f"--n-features must be >= 2 for the sphere; got {args.n_features}")
    else:
        for name in SPHERE_OPTIONS:
            if getattr(args, name) is not None:
                parser.error(
                    f"--{name.replace('_', '-')} applies to --target sphere only; "
                    f"got --target {args.target}"
                )
    if len(set(args.widths)) != len(args.widths):
        parser.error(f"--widths must be distinct; got {','.join(map(str, args.widths))}")
    if len(args.widths) < 2:
        parser.error("--widths needs at least two distinct widths to fit a rate")
    args.widths = tuple(sorted(args.widths))
    if args.preset == "sphere" and args.n_features < 2:
        parser.error(f"--n-features must be >= 2 for the sphere; got {args.n_features}")
    if args.preset == "width-study" and args.n_samples < 2:
        parser.error("--n-samples must be at least 2")
    if args.preset == "shallow-1d" and args.solver == "adam" and args.learning_rate == "auto":
        parser.error(
            "--learning-rate auto is the automatic step of --solver gd; Adam takes a "
            "number (the study's is 1e-3)"
        )
    if args.output is not None:
        _check_output_path(parser, "--output", args.output, (".csv", ".json"))
    if args.plot is not None:
        _check_output_path(parser, "--plot", args.plot, (".png",))
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib: pip install 'sklearn-gdnet[plots]'")


# --- the study -------------------------------------------------------------------------


def _progress(args, message):
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


def _config(args):
    """The options that describe the study (sphere-only ones only for the sphere)."""
    keys = [
        "target",
        "n_samples",
        *(SPHERE_OPTIONS if args.target == "sphere" else ()),
        "noise",
        "data_seed",
        "widths",
        "seeds",
        "steps",
        "depth",
        "activation",
        "learning_rate",
        "n_jobs",
        "no_ntk",
        "no_kernel_ridge",
    ]
    config = {key: getattr(args, key) for key in keys}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def _make_data(args):
    from .datasets import make_interval_regression, make_sphere_regression

    if args.target == "sphere":
        X, y, target = make_sphere_regression(
            args.n_samples,
            args.n_features,
            smoothness=args.smoothness,
            noise=args.noise,
            random_state=args.data_seed,
        )
        description = f"sphere S^{args.n_features - 1}, Sobolev smoothness {args.smoothness:g}"
    else:
        X, y, target = make_interval_regression(
            args.n_samples,
            target=args.target,
            sampling="equispaced",
            noise=args.noise,
            random_state=args.data_seed,
        )
        description = f"{target!r} on [-1, 1]" if target.params else f"{args.target} on [-1, 1]"
    return X, y, target, description


def _shared_params(args):
    return {"depth": args.depth, "activation": args.activation}


def _fit_ntk(args, X, y, learning_rate):
    from ._ntk import NTKRegressor

    # the limit of the networks of the study, which train on y as given
    model = NTKRegressor(
        **_shared_params(args), n_steps=args.steps, learning_rate=learning_rate, normalize_y=False
    )
    return model.fit(X, y)


def _ntk_errors(ntk, target):
    """Errors of the infinite-width network: of its mean, and root-mean-square.

    ``predict`` gives the mean over initializations; a single wide network
    also carries its random initial function, so its expected squared error
    is the squared error of the mean plus the integrated variance. The second
    number is the one the networks' errors approach as the width grows.
    """
    from .metrics import integration_rule

    nodes, weights = integration_rule(target.domain, target.n_features)
    mean, std = ntk.predict(nodes, return_std=True)
    squared_bias = weights @ (mean - target(nodes)) ** 2
    return float(np.sqrt(squared_bias)), float(np.sqrt(squared_bias + weights @ std**2))


# The kernel-ridge baseline holds the n x n kernel, its training fold's
# copy and the solver's factorization at once.
_KERNEL_RIDGE_MATRICES = 3

# What a study's preparation may refuse with: bad values the option types could
# not see (they reach the library's own validation) and requests too large.
_PREPARE_ERRORS = (
    ValueError,
    TypeError,
    OverflowError,
    MemoryError,
    FloatingPointError,
    RuntimeError,
)


def prepare_study(args):
    """Everything before the fits: data, scorer, step size, and every check.

    Generates the data (memory-guarded), checks that the baselines fit in
    memory, fits the NTK limit when asked (its step is the networks'), and
    fits the widest network for zero steps, which validates its parameters
    and its memory need. Raises ``ValueError``, ``MemoryError``, ... when the
    study cannot run; nothing expensive has happened by then.
    """
    from ._gd_network import GDNetworkRegressor
    from ._memory import check_fits_in_memory
    from .metrics import make_l2_error_scorer

    X, y, target, description = _make_data(args)
    scorer = make_l2_error_scorer(target)
    if not args.no_kernel_ridge:
        check_fits_in_memory(
            _KERNEL_RIDGE_MATRICES * 8 * args.n_samples**2,
            f"The kernel-ridge baseline on {args.n_samples} samples",
            "Pass --no-kernel-ridge or use fewer samples.",
        )
    learning_rate = args.learning_rate
    ntk = None
    if not args.no_ntk:
        _progress(args, f"[sklearn-gdnet] NTK limit after {args.steps} steps ...")
        ntk = _fit_ntk(args, X, y, learning_rate)
        learning_rate = float(ntk.learning_rate_)
    # The widest network for zero steps: its parameters and memory need are
    # checked now, not after the narrower ones have trained. Without the NTK,
    # its automatic step is every width's step.
    probe = GDNetworkRegressor(
        width=max(args.widths),
        **_shared_params(args),
        max_iter=0,
        learning_rate=learning_rate,
        normalize_y=False,
        random_state=0,
    ).fit(X, y)
    learning_rate = float(probe.learning_rate_)
    return {
        "X": X,
        "y": y,
        "target": target,
        "description": description,
        "scorer": scorer,
        "learning_rate": learning_rate,
        "ntk": ntk,
    }


def run_study(args, prepared=None):
    """Run the study described by parsed ``args``; return a dict of results."""
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV

    from ._gd_network import GDNetworkRegressor
    from .metrics import l2_error
    from .model_selection import width_study

    start = time.perf_counter()
    prepared = prepare_study(args) if prepared is None else prepared
    X, y, target = prepared["X"], prepared["y"], prepared["target"]
    learning_rate = prepared["learning_rate"]
    results = {
        "description": prepared["description"],
        "config": _config(args),
        "target_l2_norm": target.l2_norm,
        "learning_rate": learning_rate,
        "ntk_error": None,
        "ntk_rms_error": None,
    }
    if prepared["ntk"] is not None:
        results["ntk_error"], results["ntk_rms_error"] = _ntk_errors(prepared["ntk"], target)

    _progress(
        args,
        f"[sklearn-gdnet] GD networks: widths {list(args.widths)}, seeds "
        f"{list(args.seeds)}, {args.steps} steps of size {learning_rate:.4g} ...",
    )
    # the network of the theory, whose limit the NTK errors describe
    network = GDNetworkRegressor(
        **_shared_params(args), max_iter=args.steps, learning_rate=learning_rate, normalize_y=False
    )
    # stdout carries the report; the study's progress goes with ours to stderr
    with contextlib.redirect_stdout(sys.stderr):
        results["study"] = width_study(
            network,
            X,
            y,
            widths=list(args.widths),
            seeds=list(args.seeds),
            scoring=prepared["scorer"],
            n_jobs=min(args.n_jobs, len(args.widths) * len(args.seeds)),
            verbose=0 if args.quiet else 1,
            error_score=np.nan,
            name="gd",
        )

    kernel_ridge_error = None
    if not args.no_kernel_ridge:
        _progress(args, "[sklearn-gdnet] kernel ridge (RBF, alpha and gamma by 5-fold CV) ...")
        search = GridSearchCV(
            KernelRidge(kernel="rbf"),
            {"alpha": np.logspace(-6, 0, 4), "gamma": np.logspace(-1, 2, 4)},
            cv=min(5, args.n_samples),
            scoring="neg_mean_squared_error",
        ).fit(X, y)
        kernel_ridge_error = l2_error(search.best_estimator_, target)
        results["kernel_ridge_params"] = {k: float(v) for k, v in search.best_params_.items()}
    results["kernel_ridge_error"] = kernel_ridge_error
    results["elapsed_s"] = time.perf_counter() - start
    return results


# --- reporting -------------------------------------------------------------------------


def _fmt(value, spec=".4g"):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return format(value, spec)


def _rate(study):
    """The fitted rate, or None where errors of zero or non-finite errors forbid it."""
    try:
        return study.rate
    except ValueError:
        return None


def _local_rates(study):
    try:
        return study.local_rates
    except ValueError:
        return np.full(study.widths.shape[0] - 1, np.nan)


def _mean_errors(study):
    try:
        return study.mean_errors
    except ValueError:
        return np.full(study.widths.shape[0], np.nan)


def _per_width(study, reduce):
    """``reduce`` over the successful seeds of each width (nan where all failed)."""
    failed = np.zeros(study.errors.shape, bool) if study.fit_failed is None else study.fit_failed
    return np.array(
        [reduce(row[~bad]) if (~bad).any() else np.nan for row, bad in zip(study.errors, failed)]
    )


def format_table(results):
    """The printed report: one row per (estimator, width), then the fitted rate."""
    study = results["study"]
    config = results["config"]
    local = np.concatenate([[np.nan], _local_rates(study)])
    header = ["estimator", "width", "error", "min", "max", "local rate"]
    rows = [
        ["gd network", str(int(w)), _fmt(e), _fmt(lo), _fmt(hi), _fmt(r, ".3f")]
        for w, e, lo, hi, r in zip(
            study.widths,
            _mean_errors(study),
            _per_width(study, np.min),
            _per_width(study, np.max),
            local,
        )
    ]
    if results["ntk_error"] is not None:
        rows.append(["ntk limit", "inf", _fmt(results["ntk_rms_error"]), "", "", ""])
        rows.append(["ntk mean", "inf", _fmt(results["ntk_error"]), "", "", ""])
    if results["kernel_ridge_error"] is not None:
        rows.append(["kernel ridge", "-", _fmt(results["kernel_ridge_error"]), "", "", ""])
    sizes = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(header)]

    def line(cells):
        return "  ".join(
            c.ljust(s) if i == 0 else c.rjust(s) for i, (c, s) in enumerate(zip(cells, sizes))
        ).rstrip()

    rate = _rate(study)
    lines = [
        f"Width study: {results['description']}, {config['n_samples']} samples, "
        f"{config['steps']} GD steps of size {results['learning_rate']:.4g}, "
        f"depth {config['depth']}, seeds {','.join(map(str, study.seeds))}",
        f"Continuous L2 error (target L2 norm {results['target_l2_norm']:.4g}); "
        "gd network: geometric mean, min and max over seeds",
        "",
        line(header),
        line(["-" * s for s in sizes]),
        *(line(row) for row in rows),
        "",
        "gd network fitted rate (error ~ width^-rate): "
        + (str(rate) if rate is not None else "not available (errors <= 0)"),
    ]
    if study.fit_failed is not None:
        lines.append(
            f"{int(study.fit_failed.sum())} of {study.fit_failed.size} gd fits failed and are "
            "left out (see the warning above)"
        )
    if results["ntk_error"] is not None:
        lines.append(
            "ntk limit: root-mean-square error of an infinitely wide network over "
            "initializations (what gd networks approach); ntk mean: error of the "
            "mean prediction"
        )
    if results["kernel_ridge_error"] is not None:
        params = results["kernel_ridge_params"]
        lines.append(
            f"kernel ridge: RBF kernel, alpha={params['alpha']:.3g}, "
            f"gamma={params['gamma']:.3g} chosen by 5-fold CV on the training data"
        )
    return "\n".join(lines)


def _records(results):
    records = [dict(r, estimator="gd") for r in results["study"].to_records()]
    for r in records:
        del r["name"]
    single = {
        "ntk": results["ntk_rms_error"],
        "ntk_mean": results["ntk_error"],
        "kernel_ridge": results["kernel_ridge_error"],
    }
    records += [
        {"estimator": name, "width": None, "seed": None, "error": error}
        for name, error in single.items()
        if error is not None
    ]
    return records


def _json_safe(value):
    """JSON has no NaN or infinity: every non-finite number becomes null."""
    if isinstance(value, dict):
        return {key: _json_safe(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _payload(results):
    study = results["study"]
    rate = _rate(study)
    return _json_safe(
        {
            "description": results["description"],
            "config": results["config"],
            "learning_rate": results["learning_rate"],
            "target_l2_norm": results["target_l2_norm"],
            "results": _records(results),
            "gd_rate": None
            if rate is None
            else {
                "rate": rate.rate,
                "constant": rate.constant,
                "stderr": rate.stderr,
                "confidence_interval": list(rate.confidence_interval),
                "confidence_level": rate.confidence_level,
            },
            "gd_local_rates": [
                {"from_width": int(a), "to_width": int(b), "rate": r}
                for a, b, r in zip(study.widths[:-1], study.widths[1:], _local_rates(study))
            ],
            "gd_failed_fits": 0 if study.fit_failed is None else int(study.fit_failed.sum()),
            "ntk_error": results["ntk_error"],
            "ntk_rms_error": results["ntk_rms_error"],
            "kernel_ridge_error": results["kernel_ridge_error"],
            "kernel_ridge_params": results.get("kernel_ridge_params"),
            "elapsed_s": results["elapsed_s"],
        }
    )


def _write_atomically(path, write):
    """``write(temporary_path)``, then rename it onto ``path``: never a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sklearn-gdnet-", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_output(results, path):
    """Write every error to ``path`` (.csv: one row per fit; .json: all results)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        fields = ["estimator", "width", "seed", "error", "fit_time", "fit_failed"]

        def write(tmp):
            with tmp.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(_records(results))

    else:
        text = json.dumps(_payload(results), indent=2, allow_nan=False) + "\n"

        def write(tmp):
            tmp.write_text(text)

    _write_atomically(path, write)


def write_plot(results, path):
    """Draw error versus width, with the NTK and kernel-ridge levels, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .model_selection import WidthStudyDisplay

    display = WidthStudyDisplay.from_study(results["study"], name="gd network")
    ax = display.ax_
    if results["ntk_error"] is not None and np.isfinite(results["ntk_rms_error"]):
        ax.axhline(results["ntk_rms_error"], color="C1", ls="-.", label="NTK limit")
    if results["kernel_ridge_error"] is not None and np.isfinite(results["kernel_ridge_error"]):
        ax.axhline(results["kernel_ridge_error"], color="C2", ls="-.", label="kernel ridge")
    ax.set_ylabel("continuous L2 error")
    ax.set_title(results["description"])
    ax.legend()

    def write(tmp):
        display.figure_.savefig(tmp, dpi=120, bbox_inches="tight", format="png")

    try:
        _write_atomically(path, write)
    finally:
        plt.close(display.figure_)


def _save_elsewhere(results, args, failed_path, exc):
    """The study ran but its file could not be written: keep the result in a temp file."""
    fd, fallback = tempfile.mkstemp(prefix="sklearn-gdnet-", suffix=".json")
    os.close(fd)
    Path(fallback).write_text(json.dumps(_payload(results), indent=2, allow_nan=False) + "\n")
    print(
        f"sklearn-gdnet: error: could not write {str(failed_path)!r} "
        f"({exc.strerror or exc}); the results are saved in {fallback}",
        file=sys.stderr,
        flush=True,
    )


# --- the presets ------------------------------------------------------------------------


def run_preset(args):
    """Call the library preset named by ``args.preset``; return its result object."""
    from . import presets

    if args.preset == "sphere":
        return presets.sphere_study(
            n_features=args.n_features,
            smoothness=args.smoothness,
            max_degree=args.max_degree,
            widths=args.widths,
            seeds=args.seeds,
            n_steps=args.steps,
            depth=args.depth,
            activation=args.activation,
            learning_rate=args.learning_rate,
            random_state=args.data_seed,
            n_jobs=args.n_jobs,
            verbose=0 if args.quiet else 1,
        )
    if args.preset == "shallow-1d":
        return presets.shallow_1d_study(
            args.targets,
            widths=args.widths,
            seeds=args.seeds,
            solver=args.solver,
            n_steps=args.steps,
            learning_rate=args.learning_rate,
            n_jobs=args.n_jobs,
            verbose=0 if args.quiet else 1,
        )
    raise ValueError(f"unknown preset {args.preset!r}")  # pragma: no cover


def write_preset_output(result, path):
    """Write a preset's result: .csv one row per (width, seed), .json everything."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        records = result.to_records()
        fields = list(records[0])

        def write(tmp):
            with tmp.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(_json_safe(records))

    else:
        text = json.dumps(_json_safe(result.to_dict()), indent=2, allow_nan=False) + "\n"

        def write(tmp):
            tmp.write_text(text)

    _write_atomically(path, write)


def write_preset_plot(result, path):
    """Draw a preset's figure (``result.plot()``) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    display = result.plot()

    def write(tmp):
        display.figure_.savefig(tmp, dpi=120, bbox_inches="tight", format="png")

    try:
        _write_atomically(path, write)
    finally:
        plt.close(display.figure_)


@contextlib.contextmanager
def _cluster(args):
    """joblib's dask backend on the scheduler of ``--scheduler``, or nothing."""
    if args.scheduler is None:
        yield
        return
    import joblib
    from distributed import Client

    _progress(args, f"[sklearn-gdnet] connecting to the dask scheduler {args.scheduler} ...")
    with Client(args.scheduler, timeout=SCHEDULER_TIMEOUT_S) as client:
        _progress(args, f"[sklearn-gdnet] dask cluster: {client}")
        with joblib.parallel_config(backend="dask"):
            yield


def _main_preset(parser, args):
    from threadpoolctl import threadpool_limits

    try:
        # A preset is many small problems (kernel matrices of a few hundred rows, networks
        # of a few hundred units): one BLAS thread per fit, and parallel fits by --n-jobs.
        # BLAS's own threads spin on a loaded machine, which made the default study two to
        # three times slower (measured with other processes holding the cores).
        with _cluster(args), threadpool_limits(limits=1, user_api="blas"):
            result = run_preset(args)
    except OSError as exc:  # the scheduler cannot be reached
        if args.scheduler is None:
            raise
        parser.error(f"cannot reach the dask scheduler {args.scheduler!r}: {exc}")
    except _PREPARE_ERRORS as exc:
        print(
            f"sklearn-gdnet: error: the study failed: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(result, flush=True)
    status = 0
    for path, write in [(args.output, write_preset_output), (args.plot, write_preset_plot)]:
        if path is None:
            continue
        try:
            write(result, path)
        except OSError as exc:
            fd, fallback = tempfile.mkstemp(prefix="sklearn-gdnet-", suffix=".json")
            os.close(fd)
            Path(fallback).write_text(
                json.dumps(_json_safe(result.to_dict()), indent=2, allow_nan=False) + "\n"
            )
            print(
                f"sklearn-gdnet: error: could not write {str(path)!r} "
                f"({exc.strerror or exc}); the results are saved in {fallback}",
                file=sys.stderr,
                flush=True,
            )
            status = 1
        else:
            _progress(args, f"[sklearn-gdnet] wrote {path}")
    _progress(args, f"[sklearn-gdnet] done in {result.elapsed_s:.1f} s")
    return status


def main(argv=None):
    """Entry point of ``python -m sklearn_gdnet`` and the ``sklearn-gdnet`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    if args.preset != "width-study":
        return _main_preset(parser, args)
    try:
        prepared = prepare_study(args)
    except _PREPARE_ERRORS as exc:
        parser.error(f"cannot run this study: {exc}")
    try:
        with _cluster(args):
            results = run_study(args, prepared)
    except OSError as exc:  # the scheduler cannot be reached
        if args.scheduler is None:
            raise
        parser.error(f"cannot reach the dask scheduler {args.scheduler!r}: {exc}")
    except _PREPARE_ERRORS as exc:  # e.g. every fit of the study failed
        message = f"the study failed: {type(exc).__name__}: {exc}"
        print(f"sklearn-gdnet: error: {message}", file=sys.stderr)
        return 1
    print(format_table(results), flush=True)
    status = 0
    for path, write in [(args.output, write_output), (args.plot, write_plot)]:
        if path is None:
            continue
        try:
            write(results, path)
        except OSError as exc:
            _save_elsewhere(results, args, path, exc)
            status = 1
        else:
            _progress(args, f"[sklearn-gdnet] wrote {path}")
    _progress(args, f"[sklearn-gdnet] done in {results['elapsed_s']:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
