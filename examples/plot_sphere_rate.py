"""
=========================================================
Error versus width on the sphere: GD networks and limits
=========================================================

How fast does the error of a network trained by gradient descent fall as the
width grows, and how does it compare with the network's infinite-width limit
and with kernel ridge? This example runs the width study of the theory
(Welper, arXiv:2405.11696) on the sphere :math:`S^2`:

* the target has Sobolev smoothness :math:`s = 2`
  (:func:`~sklearn_gdnet.datasets.make_sphere_regression`), so its exact
  continuous :math:`L^2` error can be measured against any estimate
  (:func:`~sklearn_gdnet.metrics.make_l2_error_scorer`);
* shallow ReLU networks of several widths
  (:class:`~sklearn_gdnet.GDNetworkRegressor`) are trained for a fixed number
  of full-batch gradient-descent steps, over several seeds;
* the same training of the linearized network of each width
  (``NTKRegressor(finite_width=m)``: kernel gradient descent with the empirical NTK
  of one random network of width :math:`m`, started from the zero function);
* kernel ridge with the NTK, approximated by :math:`m` Nystroem features
  (the kernel method's own notion of width);
* the infinite-width limit of the networks' training
  (``NTKRegressor(n_steps=k)``) and exact kernel ridge baselines (with the
  NTK and with an RBF kernel) do not depend on the width and appear as levels.
"""

# %%
# Settings
# --------
# ``SKLEARN_GDNET_EXAMPLES_QUICK=1`` runs a reduced study (the documentation
# build in CI does); the numbers in the text come from the full settings.
import os
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
from sklearn.kernel_approximation import Nystroem
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_gdnet import GDNetworkRegressor, NTKRegressor
from sklearn_gdnet.datasets import make_sphere_regression
from sklearn_gdnet.kernels import NTK
from sklearn_gdnet.metrics import integration_rule, l2_error, make_l2_error_scorer
from sklearn_gdnet.model_selection import WidthStudyDisplay, width_study

QUICK = os.environ.get("SKLEARN_GDNET_EXAMPLES_QUICK", "0") not in ("", "0")
if QUICK:
    n_samples, widths, seeds, n_steps = 300, [8, 32, 128], [0, 1], 500
else:
    n_samples, widths, seeds, n_steps = 1000, [8, 16, 32, 64, 128, 256], [0, 1, 2], 1000
depth, smoothness = 1, 2.0

# %%
# Data: a target of known smoothness on the sphere
# ------------------------------------------------
# The target is a sum of zonal spherical harmonics of degrees 1 to 30 with
# coefficients :math:`k^{-(s + 1/2)}`; it knows its exact :math:`L^2` norm.
# The scorer integrates the squared error over the whole sphere with a
# product rule exact for spherical polynomials of degree up to 127.
X, y, target = make_sphere_regression(
    n_samples, n_features=3, smoothness=smoothness, random_state=0
)
scorer = make_l2_error_scorer(target)
print(f"{n_samples} points on S^2, target L2 norm {target.l2_norm:.4f}")

# %%
# The infinite-width limit fixes the step size
# --------------------------------------------
# ``NTKRegressor`` with ``n_steps=k`` predicts what an infinitely wide network
# of the same family predicts after ``k`` gradient-descent steps, averaged
# over its initialization. Its ``learning_rate="auto"`` is half the largest
# stable step of the limit kernel. All networks below train with one and the
# same step, so they are runs of one and the same training at different widths.
# The networks' own tangent kernels fluctuate around the limit's, and a narrow
# network's largest eigenvalue can be more than twice the limit's: take half
# the limit's automatic step, a quarter of its stability bound, for everyone.
# The study trains on y as given (normalize_y=False), the setting of the theory.
theory = dict(depth=depth, n_steps=n_steps, normalize_y=False)
learning_rate = 0.5 * NTKRegressor(**theory).fit(X, y).learning_rate_
limit = NTKRegressor(**theory, learning_rate=learning_rate).fit(X, y)

# A single wide network also carries its random initial function: its expected
# squared error is the squared error of the mean plus the variance over
# initializations, which ``predict(..., return_std=True)`` provides.
nodes, weights = integration_rule("sphere", 3)
mean, std = limit.predict(nodes, return_std=True)
limit_mean_error = np.sqrt(weights @ (mean - target(nodes)) ** 2)
limit_rms_error = np.sqrt(limit_mean_error**2 + weights @ std**2)
print(f"step size {learning_rate:.4g}, {n_steps} steps")
print(f"NTK limit: error of the mean {limit_mean_error:.4f}, rms over inits {limit_rms_error:.4f}")

# %%
# Kernel ridge baselines
# ----------------------
# Converged training of the infinitely wide network with a ridge is kernel
# ridge with the NTK; an RBF kernel is the usual baseline. Both are tuned by
# cross-validation on the training data only.
ntk_ridge = GridSearchCV(
    KernelRidge(kernel=NTK(depth=depth)), {"alpha": np.logspace(-4, 0, 5)}, cv=5
).fit(X, y)
rbf_ridge = GridSearchCV(
    KernelRidge(kernel="rbf"),
    {"alpha": np.logspace(-6, 0, 4), "gamma": np.logspace(-1, 2, 4)},
    cv=5,
).fit(X, y)
ntk_ridge_error = l2_error(ntk_ridge.best_estimator_, target)
rbf_ridge_error = l2_error(rbf_ridge.best_estimator_, target)
for name, search, error in [
    ("NTK", ntk_ridge, ntk_ridge_error),
    ("RBF", rbf_ridge, rbf_ridge_error),
]:
    params = ", ".join(f"{k}={v:.3g}" for k, v in search.best_params_.items())
    print(f"kernel ridge, {name}: {error:.4f} ({params})")

# %%
# Width studies
# -------------
# :func:`~sklearn_gdnet.model_selection.width_study` fits a clone for every
# width and seed and records the continuous error. The same call works for
# the GD network, for its linearization, whose width is ``finite_width``, and for
# kernel ridge with the NTK approximated by ``m`` Nystroem features, a
# pipeline whose width is ``nystroem__n_components`` (the seed goes to
# ``nystroem__random_state``, next to it).
network = GDNetworkRegressor(
    depth=depth, max_iter=n_steps, learning_rate=learning_rate, normalize_y=False
)
linearized = NTKRegressor(**theory, learning_rate=learning_rate)
nystroem_ridge = make_pipeline(
    Nystroem(kernel=NTK(depth=depth)), Ridge(alpha=ntk_ridge.best_params_["alpha"])
)
study = partial(width_study, X=X, y=y, widths=widths, seeds=seeds, scoring=scorer)
studies = {
    "GD network": study(network),
    "linearized network": study(linearized, param_name="finite_width"),
    "NTK ridge, m Nystroem features": study(nystroem_ridge, param_name="nystroem__n_components"),
}

# %%
# Errors and fitted rates
# -----------------------
# The fitted rate ``r`` of ``error ~ C width^-r`` comes with a 95% confidence
# interval over all widths and seeds; the local rates between neighbouring
# widths show where the fall levels off at the level of the limit, which
# trains on the same finite sample.
print(f"widths {widths}, seeds {seeds}, {n_samples} samples, {n_steps} steps")
for name, study in studies.items():
    print(f"\n{name}: fitted {study.rate}")
    print("  width   mean error   local rate to next width")
    local = list(study.local_rates) + [np.nan]
    for width, error, rate in zip(widths, study.mean_errors, local):
        print(f"  {width:5d}   {error:10.4f}   {rate:8.3f}")

# %%
# Plot
# ----
fig, ax = plt.subplots(figsize=(9, 5))
for name, study in studies.items():
    WidthStudyDisplay.from_study(study, ax=ax, name=name, reference_slopes=())
levels = {
    "NTK limit (rms over inits)": limit_rms_error,
    "kernel ridge, NTK": ntk_ridge_error,
    "kernel ridge, RBF": rbf_ridge_error,
}
for (label, level), style in zip(levels.items(), ["-.", ":", "--"]):
    ax.axhline(level, color="gray", ls=style, label=label)
ax.set_ylabel("continuous L2 error")
ax.set_title(f"Sobolev smoothness {smoothness:g} on $S^2$, {n_samples} samples")
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
fig.tight_layout()
plt.show()

# %%
# Reading the plot
# ----------------
# The networks' error falls with the width towards the level of the
# infinite-width limit of the same training: a single wide network keeps its
# random initial function, so its level is the root-mean-square error over
# initializations, slightly above the error of the limit's mean prediction.
# The linearized networks, started from the zero function, approach the
# limit's mean from above as well. Because the training set is finite and the
# number of steps fixed, the limit itself has an error, and the width study
# measures the approach to it: the fitted rate describes these widths, this
# sample size and this number of steps, and the local rates show where the
# fall levels off.
#
# Kernel ridge, converged and with a ridge chosen by cross-validation, is far
# more accurate here than the early-stopped limit: a fixed number of
# gradient-descent steps fits the directions of small kernel eigenvalues
# (rough components of the target) last, which is the implicit regularization
# the theory works with. Its Nystroem approximation with :math:`m` features
# falls towards it fastest of all: a width study measures a rate for any
# estimator with a size parameter, not only for networks.
