"""The command-line width study: ``python -m sklearn_gdnet`` or ``sklearn-gdnet``.

Trains gradient-descent networks of several widths and seeds on a built-in
target, computes the infinite-width limit of the same training (the NTK after
the same number of steps with the same step size) and a kernel-ridge
baseline, and reports the continuous L2 error of each with the fitted rate
of the networks' error in the width. Run ``python -m sklearn_gdnet --help``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

# The default keeps most widths below the number of samples (the
# under-parametrized regime of the theory) and runs in well under a minute on
# two cores; its errors fall with the width towards the NTK limit.
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
TARGETS = ("sphere", "bump", "cusp", "step")


# --- options ---------------------------------------------------------------------------


def _int_list(text):
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 16,64,256; got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _positive_int_list(text):
    values = _int_list(text)
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers; got {text!r}")
    return values


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


def _learning_rate(text):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a positive number; got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive step size; got {value}")
    return value


def _nonnegative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0; got {value}")
    return value


def _positive_float(text):
    value = _nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number > 0; got 0")
    return value


def build_parser():
    """The argument parser of the command-line study."""
    d = DEFAULTS
    parser = argparse.ArgumentParser(
        prog="sklearn-gdnet",
        description=(
            "Width study: continuous L2 error of gradient-descent networks of "
            "several widths, of their NTK limit after the same steps, and of a "
            "kernel-ridge baseline, with the fitted rate error ~ width^-rate."
        ),
        epilog=(
            "Example: sklearn-gdnet --target cusp --widths 8,32,128 --seeds 0,1 "
            "--steps 300 --output study.json --plot study.png"
        ),
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--target",
        choices=TARGETS,
        default=d["target"],
        help="'sphere': Sobolev target on S^{d-1}; 'bump', 'cusp', 'step': "
        "the 1-d targets on [-1, 1] (default: %(default)s)",
    )
    data.add_argument(
        "--n-samples",
        type=_positive_int,
        default=d["n_samples"],
        help="training points (default: %(default)s)",
    )
    data.add_argument(
        "--n-features",
        type=_positive_int,
        default=d["n_features"],
        help="ambient dimension d of the sphere, >= 2 (default: %(default)s)",
    )
    data.add_argument(
        "--smoothness",
        type=_positive_float,
        default=d["smoothness"],
        help="Sobolev smoothness of the sphere target (default: %(default)s)",
    )
    data.add_argument(
        "--noise",
        type=_nonnegative_float,
        default=d["noise"],
        help="standard deviation of label noise (default: %(default)s)",
    )
    data.add_argument(
        "--data-seed",
        type=int,
        default=d["data_seed"],
        help="seed of the data and the target (default: %(default)s)",
    )
    study = parser.add_argument_group("study")
    study.add_argument(
        "--widths",
        type=_positive_int_list,
        default=d["widths"],
        help=f"comma-separated widths (default: {','.join(map(str, d['widths']))})",
    )
    study.add_argument(
        "--seeds",
        type=_int_list,
        default=d["seeds"],
        help=f"comma-separated initialization seeds (default: {','.join(map(str, d['seeds']))})",
    )
    study.add_argument(
        "--steps",
        type=_positive_int,
        default=d["steps"],
        help="gradient-descent steps, also the NTK's n_steps (default: %(default)s)",
    )
    study.add_argument(
        "--depth",
        type=_positive_int,
        default=d["depth"],
        help="hidden layers (default: %(default)s)",
    )
    study.add_argument(
        "--activation",
        default=d["activation"],
        choices=("relu", "tanh", "erf", "gelu", "softplus", "sigmoid"),
        help="activation (default: %(default)s)",
    )
    study.add_argument(
        "--learning-rate",
        type=_learning_rate,
        default=d["learning_rate"],
        help="step size shared by the networks and the NTK; 'auto' takes half "
        "the largest stable step of the NTK, 2N / lambda_max (default: %(default)s)",
    )
    study.add_argument(
        "--n-jobs",
        type=int,
        default=d["n_jobs"],
        help="parallel fits, -1 for all cores (default: %(default)s)",
    )
    study.add_argument("--no-ntk", action="store_true", help="skip the NTK limit")
    study.add_argument(
        "--no-kernel-ridge", action="store_true", help="skip the kernel-ridge baseline"
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--output",
        type=Path,
        help="write every error to FILE.csv or FILE.json",
        metavar="FILE",
    )
    out.add_argument(
        "--plot", type=Path, help="draw error versus width to FILE.png", metavar="FILE"
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


def _check_args(parser, args):
    if args.output is not None and args.output.suffix.lower() not in (".csv", ".json"):
        parser.error(f"--output must end in .csv or .json; got {str(args.output)!r}")
    if args.plot is not None:
        if args.plot.suffix.lower() != ".png":
            parser.error(f"--plot must end in .png; got {str(args.plot)!r}")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib: pip install 'sklearn-gdnet[plots]'")
    if args.target == "sphere" and args.n_features < 2:
        parser.error(f"--n-features must be >= 2 for the sphere; got {args.n_features}")
    if len(set(args.widths)) < 2:
        parser.error("--widths needs at least two distinct widths to fit a rate")
    if args.n_samples < 2:
        parser.error("--n-samples must be at least 2")


# --- the study -------------------------------------------------------------------------


def _progress(args, message):
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


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
        description = f"{args.target} on [-1, 1]"
    return X, y, target, description


def _shared_params(args):
    return {"depth": args.depth, "activation": args.activation}


def _fit_ntk(args, X, y, learning_rate):
    from ._ntk import NTKRegressor

    model = NTKRegressor(**_shared_params(args), n_steps=args.steps, learning_rate=learning_rate)
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


def run_study(args):
    """Run the study described by parsed ``args``; return a dict of results."""
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV

    from ._gd_network import GDNetworkRegressor
    from .metrics import l2_error, make_l2_error_scorer
    from .model_selection import width_study

    start = time.perf_counter()
    X, y, target, description = _make_data(args)
    scorer = make_l2_error_scorer(target)
    results = {
        "description": description,
        "config": {
            k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
        "target_l2_norm": target.l2_norm,
    }

    learning_rate = args.learning_rate
    ntk_error = ntk_rms_error = None
    if not args.no_ntk:
        _progress(args, f"[sklearn-gdnet] NTK limit after {args.steps} steps ...")
        ntk = _fit_ntk(args, X, y, learning_rate)
        learning_rate = float(ntk.learning_rate_)
        ntk_error, ntk_rms_error = _ntk_errors(ntk, target)
    elif learning_rate == "auto":
        # Without the NTK, take the finite network's rule at the widest width so
        # that every width trains with one and the same step.
        probe = GDNetworkRegressor(
            width=max(args.widths),
            **_shared_params(args),
            max_iter=0,
            normalize_y=False,
            random_state=0,
        ).fit(X, y)
        learning_rate = float(probe.learning_rate_)
    results["learning_rate"] = learning_rate
    results["ntk_error"] = ntk_error
    results["ntk_rms_error"] = ntk_rms_error

    _progress(
        args,
        f"[sklearn-gdnet] GD networks: widths {list(args.widths)}, seeds "
        f"{list(args.seeds)}, {args.steps} steps of size {learning_rate:.4g} ...",
    )
    # the network of the theory, whose limit the NTK errors describe
    network = GDNetworkRegressor(
        **_shared_params(args), max_iter=args.steps, learning_rate=learning_rate, normalize_y=False
    )
    study = width_study(
        network,
        X,
        y,
        widths=list(args.widths),
        seeds=list(args.seeds),
        scoring=scorer,
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 1,
        name="gd",
    )
    results["study"] = study

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


def format_table(results):
    """The printed report: one row per (estimator, width), then the fitted rate."""
    study = results["study"]
    config = results["config"]
    local = np.concatenate([[np.nan], _local_rates(study)])
    header = ["estimator", "width", "error", "min", "max", "local rate"]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_errors = study.mean_errors
    rows = [
        ["gd network", str(int(w)), _fmt(e), _fmt(lo), _fmt(hi), _fmt(r, ".3f")]
        for w, e, lo, hi, r in zip(
            study.widths,
            mean_errors,
            study.errors.min(axis=1),
            study.errors.max(axis=1),
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
        + (str(_rate(study)) if _rate(study) is not None else "not available (errors <= 0)"),
    ]
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


def _finite_or_none(value):
    # JSON has no NaN; an undefined interval (two points) is written as null
    return float(value) if np.isfinite(value) else None


def write_output(results, path):
    """Write every error to ``path`` (.csv: one row per fit; .json: all results)."""
    records = _records(results)
    path = Path(path)
    if path.suffix.lower() == ".csv":
        fields = ["estimator", "width", "seed", "error", "fit_time"]
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)
        return
    study = results["study"]
    rate = _rate(study)
    payload = {
        "description": results["description"],
        "config": results["config"],
        "learning_rate": results["learning_rate"],
        "target_l2_norm": results["target_l2_norm"],
        "results": records,
        "gd_rate": None
        if rate is None
        else {
            "rate": rate.rate,
            "constant": rate.constant,
            "stderr": _finite_or_none(rate.stderr),
            "confidence_interval": [_finite_or_none(v) for v in rate.confidence_interval],
            "confidence_level": rate.confidence_level,
        },
        "gd_local_rates": [
            {"from_width": int(a), "to_width": int(b), "rate": _finite_or_none(r)}
            for a, b, r in zip(study.widths[:-1], study.widths[1:], _local_rates(study))
        ],
        "ntk_error": results["ntk_error"],
        "ntk_rms_error": results["ntk_rms_error"],
        "kernel_ridge_error": results["kernel_ridge_error"],
        "kernel_ridge_params": results.get("kernel_ridge_params"),
        "elapsed_s": results["elapsed_s"],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def write_plot(results, path):
    """Draw error versus width, with the NTK and kernel-ridge levels, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .model_selection import WidthStudyDisplay

    display = WidthStudyDisplay.from_study(results["study"], name="gd network")
    ax = display.ax_
    if results["ntk_error"] is not None:
        ax.axhline(results["ntk_rms_error"], color="C1", ls="-.", label="NTK limit")
    if results["kernel_ridge_error"] is not None:
        ax.axhline(results["kernel_ridge_error"], color="C2", ls="-.", label="kernel ridge")
    ax.set_ylabel("continuous L2 error")
    ax.set_title(results["description"])
    ax.legend()
    display.figure_.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(display.figure_)


def main(argv=None):
    """Entry point of ``python -m sklearn_gdnet`` and the ``sklearn-gdnet`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    results = run_study(args)
    print(format_table(results))
    if args.output is not None:
        write_output(results, args.output)
        _progress(args, f"[sklearn-gdnet] wrote {args.output}")
    if args.plot is not None:
        write_plot(results, args.plot)
        _progress(args, f"[sklearn-gdnet] wrote {args.plot}")
    _progress(args, f"[sklearn-gdnet] done in {results['elapsed_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
