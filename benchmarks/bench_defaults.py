"""Default estimators on ordinary data against scikit-learn's own remedy.

The scikit-learn workflows a new user tries first: ``make_regression``
(unscaled targets of spread about 100) at depths 1 and 2, and the diabetes data
with standardized features. The peer, measured in the same run, is
``TransformedTargetRegressor(regressor=GDNetworkRegressor(normalize_y=False),
transformer=StandardScaler())``: the estimator's default ``normalize_y=True``
should reach at least its R^2, with no warning. Prints R^2 (on the training
data, as a check of the optimization) and the ratio.

Run: ``python benchmarks/bench_defaults.py``.
"""

import argparse
import warnings

from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, make_regression
from sklearn.preprocessing import StandardScaler

from sklearn_gdnet import GDNetworkRegressor


def cases(quick=False):
    n = 60 if quick else 200
    X, y = make_regression(n_samples=n, n_features=10, noise=1.0, random_state=0)
    yield "make_regression, depth 2", X, y, dict(depth=2)
    yield "make_regression, depth 1", X, y, dict(depth=1)
    Xd, yd = load_diabetes(return_X_y=True)
    if quick:
        Xd, yd = Xd[:60], yd[:60]
    yield "diabetes, scaled X, depth 2", StandardScaler().fit_transform(Xd), yd, dict(depth=2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few steps (tests)")
    args = parser.parse_args(argv)
    extra = dict(max_iter=20) if args.quick else {}
    print(f"{'data':<30} {'default R^2':>12} {'TTR R^2':>9} {'ratio':>6} {'warnings':>8}")
    for name, X, y, params in cases(args.quick):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            net = GDNetworkRegressor(random_state=0, **params, **extra).fit(X, y)
        ours = net.score(X, y)
        peer = TransformedTargetRegressor(
            regressor=GDNetworkRegressor(random_state=0, normalize_y=False, **params, **extra),
            transformer=StandardScaler(),
        )
        ref = peer.fit(X, y).score(X, y)
        print(f"{name:<30} {ours:>12.4f} {ref:>9.4f} {ours / ref:>6.3f} {len(caught):>8}")


if __name__ == "__main__":
    main()
