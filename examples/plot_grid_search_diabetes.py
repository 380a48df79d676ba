"""
============================================================
Tuning width, depth and step against kernel ridge baselines
============================================================

:class:`~sklearn_gdnet.GDNetworkRegressor` is an ordinary scikit-learn
estimator: it goes into a :class:`~sklearn.pipeline.Pipeline` and
:class:`~sklearn.model_selection.GridSearchCV` like any other. Here a grid
search over the width, the depth and the step size of gradient descent on the
diabetes data that ships with scikit-learn is compared with three baselines
tuned the same way:

* kernel ridge with an RBF kernel;
* kernel ridge with the neural tangent kernel of the same network family
  (:class:`~sklearn_gdnet.kernels.NTK`), i.e. the infinitely wide network
  trained to convergence with a ridge;
* :class:`~sklearn_gdnet.NTKRegressor`, the infinitely wide network after a
  finite number of gradient-descent steps (early stopping instead of a ridge).
"""

# %%
# Data and settings
# -----------------
# Features and target are standardized inside the models (the network's
# output starts near zero and its step-size rule assumes targets of order
# one), so cross-validation sees no information from the validation folds.
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_gdnet import GDNetworkRegressor, NTKRegressor
from sklearn_gdnet.kernels import NTK

QUICK = os.environ.get("SKLEARN_GDNET_EXAMPLES_QUICK", "0") not in ("", "0")

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
cv = KFold(n_splits=3 if QUICK else 5, shuffle=True, random_state=0)
print(f"{X_train.shape[0]} training and {X_test.shape[0]} test samples, {X.shape[1]} features")


def standardized(regressor):
    """``regressor`` on standardized features, predicting a standardized target."""
    return TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), regressor), transformer=StandardScaler()
    )


# %%
# The models and their grids
# --------------------------
# Parameters of a step inside the pipeline are addressed as
# ``regressor__<step>__<parameter>``. The GD network trains for a fixed
# number of full-batch steps; its grid covers the width, the depth and the
# step size ``learning_rate`` (``"auto"`` is half the largest stable step of
# the network's tangent kernel at initialization).
prefix = "regressor__gdnetworkregressor__"
network_grid = {
    prefix + "width": [16, 64] if QUICK else [16, 64, 128],
    prefix + "depth": [1, 2],
    prefix + "learning_rate": [0.3, "auto"] if QUICK else [0.3, 1.0, "auto"],
}
models = {
    "GD network": (
        standardized(GDNetworkRegressor(max_iter=300, random_state=0)),
        network_grid,
    ),
    "NTK, k GD steps": (
        standardized(NTKRegressor()),
        {
            "regressor__ntkregressor__depth": [1, 2],
            "regressor__ntkregressor__n_steps": [10, 30, 100, 300, 1000],
        },
    ),
    "kernel ridge, NTK": (
        standardized(KernelRidge()),
        {
            "regressor__kernelridge__kernel": [NTK(depth=1), NTK(depth=2)],
            "regressor__kernelridge__alpha": np.logspace(-2, 2, 5),
        },
    ),
    "kernel ridge, RBF": (
        standardized(KernelRidge(kernel="rbf")),
        {
            "regressor__kernelridge__alpha": np.logspace(-2, 1, 4),
            "regressor__kernelridge__gamma": np.logspace(-3, -1, 3),
        },
    ),
}

# %%
# Grid searches
# -------------
# Every model is tuned by the same cross-validation on the training set and
# scored once on the held-out test set.
searches = {}
for name, (model, grid) in models.items():
    searches[name] = GridSearchCV(model, grid, cv=cv, scoring="r2").fit(X_train, y_train)


def short(params):
    """Parameter names without the pipeline prefixes, for printing."""

    def show(value):
        return f"{value:.3g}" if isinstance(value, float) else repr(value)

    return ", ".join(f"{key.rsplit('__', 1)[-1]}={show(value)}" for key, value in params.items())


print(f"{'model':18s}  {'CV R2':>6s}  {'test R2':>7s}  best parameters")
test_scores = {}
for name, search in searches.items():
    test_scores[name] = search.score(X_test, y_test)
    print(
        f"{name:18s}  {search.best_score_:6.3f}  {test_scores[name]:7.3f}  "
        f"{short(search.best_params_)}"
    )

# %%
# The network's grid
# ------------------
# Mean cross-validated :math:`R^2` of every width, depth and step.
results = searches["GD network"].cv_results_
steps = network_grid[prefix + "learning_rate"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, depth in zip(axes, network_grid[prefix + "depth"]):
    for step in steps:
        mask = [
            p[prefix + "depth"] == depth and p[prefix + "learning_rate"] == step
            for p in results["params"]
        ]
        widths = [p[prefix + "width"] for p, keep in zip(results["params"], mask) if keep]
        ax.plot(widths, results["mean_test_score"][mask], "o-", label=f"learning_rate={step!r}")
    ax.set_xscale("log")
    ax.set_xlabel("width")
    ax.set_title(f"depth {depth}")
axes[0].set_ylabel("mean CV $R^2$")
axes[0].legend(fontsize="small")
fig.tight_layout()

# %%
# Comparison
# ----------
fig, ax = plt.subplots(figsize=(7, 3.5))
names = list(searches)
position = np.arange(len(names))
ax.barh(position + 0.2, [searches[n].best_score_ for n in names], 0.4, label="CV (train)")
ax.barh(position - 0.2, [test_scores[n] for n in names], 0.4, label="test")
ax.set_yticks(position, names)
ax.set_xlabel("$R^2$")
ax.set_xlim(0, 0.7)
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# On this small, noisy data set (442 patients) all four models end up close:
# what matters most is the amount of regularization, a ridge for kernel
# ridge, the number of steps for the NTK limit, and the step size and width
# for the finite network trained for a fixed number of steps.
