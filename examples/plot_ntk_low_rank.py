"""
=====================================================================
The infinite-width limit past the n^2 wall: low-rank NTK solvers
=====================================================================

:class:`~sklearn_gdnet.NTKRegressor` solves the linearized training of the
infinitely wide network exactly from the ``n x n`` training kernel
(``solver="cholesky"`` or ``"eigh"``), which costs ``O(n^3)`` time and
``O(n^2)`` memory. ``solver="nystroem"`` replaces the kernel by its Nystroem
approximation on ``M`` centers and solves *every* dynamics (gradient-descent
steps, flow, converged) exactly for that approximation, from one
eigendecomposition of an ``M x M`` matrix accumulated over tiles of rows:
``O(n M^2)`` time and ``O(M^2)`` memory.

How large must ``M`` be? This example fits the same early-stopped and
converged training on points of the sphere :math:`S^2` with a growing number
of centers, drawn uniformly or by ridge leverage scores, and plots the
distance of the predictions to the exact solution against ``M``, beside the
error of the exact solution itself. The low-rank error falls quickly with
``M`` and vanishes when every point is a center; once it is far below the
exact solution's own error, more centers buy nothing.
"""

# %%
# Settings
# --------
# ``SKLEARN_GDNET_EXAMPLES_QUICK=1`` runs a smaller problem.
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from sklearn_gdnet import NTKRegressor
from sklearn_gdnet.datasets import make_sphere_regression
from sklearn_gdnet.metrics import l2_error

QUICK = os.environ.get("SKLEARN_GDNET_EXAMPLES_QUICK", "0") not in ("", "0")
n_samples = 400 if QUICK else 3000
components = [10, 40, 160, n_samples] if QUICK else [10, 30, 100, 300, 1000, n_samples]
depth, n_steps = 2, 300

X, y, target = make_sphere_regression(
    n_samples, n_features=3, smoothness=1.5, noise=0.05, random_state=0
)
X_test, _, _ = make_sphere_regression(2000, n_features=3, smoothness=1.5, random_state=1)

# %%
# The exact solutions
# -------------------
# Early stopping after ``n_steps`` gradient-descent steps (one
# eigendecomposition of the ``n x n`` kernel), and kernel ridge (Cholesky).
trainings = {
    f"GD, {n_steps} steps": dict(n_steps=n_steps),
    "converged, ridge 1e-3": dict(alpha=1e-3),
}
exact = {}
for name, params in trainings.items():
    solver = "eigh" if "n_steps" in params else "cholesky"
    start = time.perf_counter()
    model = NTKRegressor(depth=depth, solver=solver, **params).fit(X, y)
    elapsed = time.perf_counter() - start
    exact[name] = model.predict(X_test)
    print(
        f"exact ({solver}), {name}: L2 error {l2_error(model, target):.4f}, "
        f"fit {elapsed:.2f} s"
    )

# %%
# Nystroem solutions with M centers
# ---------------------------------
# The distance to the exact predictions, relative to their size, for each
# training, each number of centers and both rules for drawing the centers.
distance = {}
for name, params in trainings.items():
    for centers in ("uniform", "leverage"):
        rows = []
        for m in components:
            model = NTKRegressor(
                depth=depth,
                solver="nystroem",
                n_components=m,
                centers=centers,
                random_state=0,
                **params,
            ).fit(X, y)
            pred = model.predict(X_test)
            rows.append(np.sqrt(np.mean((pred - exact[name]) ** 2) / np.mean(exact[name] ** 2)))
        distance[name, centers] = rows
        print(
            f"{name}, {centers} centers: relative distance to exact "
            + ", ".join(f"M={m}: {d:.1e}" for m, d in zip(components, rows))
        )

# %%
# Plot
# ----
# Distances below about 1e-10 are rounding: with every point a center the
# Nystroem solution *is* the exact one.
fig, ax = plt.subplots(figsize=(7, 4.5))
styles = {"uniform": "o-", "leverage": "s--"}
for (name, centers), rows in distance.items():
    ax.loglog(components, np.maximum(rows, 1e-16), styles[centers], label=f"{name}, {centers}")
ax.axvline(n_samples, color="gray", ls=":", label=f"M = n = {n_samples}")
ax.set_xlabel("number of Nystroem centers M")
ax.set_ylabel("relative RMS distance to the exact predictions")
ax.set_title("Low-rank NTK solutions converge to the exact one")
ax.legend(fontsize="small")
fig.tight_layout()
plt.show()

# %%
# Reading the plot
# ----------------
# The kernel's eigenvalues decay like a power of their index (for the ReLU
# NTK on :math:`S^{d-1}`, like :math:`k^{-d}` in the degree :math:`k`), so a
# rank-``M`` approximation captures all but a tail of the spectrum, and the
# error of the predictions falls like a power of ``M``. Early-stopped
# training is easier to approximate than the converged solution: it has not
# yet learned the directions of small eigenvalues, which are the ones a
# low-rank approximation misses. For ``n = 10^6`` points, where the exact
# solvers are out of reach, the user guide's recipe chooses ``M`` so that this
# distance is well below the statistical error.
