"""
======================================================
The shallow 1-d model: training only the breakpoints
======================================================

Gentile and Welper (arXiv:2209.08399) study the shallow network on
:math:`[-1, 1]`

.. math::

   f(x) = \\frac{1}{\\sqrt m} \\sum_{r=1}^m a_r \\, \\mathrm{relu}(x - \\theta_r),

with fixed random signs :math:`a_r = \\pm 1` and the breakpoints
:math:`\\theta_r` trained by gradient descent. In
:class:`~sklearn_gdnet.GDNetworkRegressor` this is ``depth=1``,
``init="breakpoint"`` and ``trainable="hidden_biases"`` with the unit scale
``weight_std=1`` (with ``init="breakpoint"`` the biases always act with
multiplier one, so ``bias_std`` plays no part).

We train it on the three 1-d targets of the study, of decreasing smoothness
(:func:`~sklearn_gdnet.datasets.make_interval_regression`): the Gaussian
:math:`\\frac{a}{s\\sqrt{2\\pi}} e^{-x^2/(2s^2)}` with :math:`a = 0.25`,
:math:`s = 0.2`, the cusp :math:`1 - \\sqrt{|x|}` and the step
:math:`1\\{x > 0\\}`, and measure the continuous :math:`L^2` error as the
width :math:`m` grows, under the Lebesgue measure :math:`dx` as the study does.
"""

# %%
# Settings
# --------
# ``SKLEARN_GDNET_EXAMPLES_QUICK=1`` runs a reduced study.
import os

import matplotlib.pyplot as plt
import numpy as np

from sklearn_gdnet import GDNetworkRegressor
from sklearn_gdnet.datasets import make_interval_regression
from sklearn_gdnet.metrics import make_l2_error_scorer
from sklearn_gdnet.model_selection import WidthStudyDisplay, width_study

QUICK = os.environ.get("SKLEARN_GDNET_EXAMPLES_QUICK", "0") not in ("", "0")
if QUICK:
    widths, seeds = [8, 32, 128], [0, 1]
else:
    widths, seeds = [8, 16, 32, 64, 128, 256, 512], [0, 1, 2]
n_samples, n_steps = 500, 500
targets = ["gaussian", "cusp", "step"]

# %%
# The model
# ---------
# Only the breakpoints move. Training converges within a few hundred steps
# with the automatic step size (half the largest stable step of the
# network's tangent kernel at initialization).
breakpoint_model = GDNetworkRegressor(
    depth=1,
    init="breakpoint",
    trainable="hidden_biases",
    weight_std=1.0,
    max_iter=n_steps,
    normalize_y=False,  # the model of the paper, on the targets as given
)

# %%
# What a trained model looks like
# -------------------------------
# One network of width 32 per target, with its breakpoints before and after
# training (ticks at the bottom).
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True)
grid = np.linspace(-1, 1, 801)[:, None]
for ax, name in zip(axes, targets):
    X, y, target = make_interval_regression(n_samples, target=name)
    model = breakpoint_model.set_params(width=32, random_state=0).fit(X, y)
    ax.plot(grid[:, 0], target(grid), "k", lw=1, label="target")
    ax.plot(grid[:, 0], model.predict(grid), "C0", label="trained, m = 32")
    before = -model.initial_params_["b1"]
    after = -model.params_["b1"]
    ax.plot(before, np.full_like(before, -0.45), "|", color="gray", label="breakpoints, init")
    ax.plot(after, np.full_like(after, -0.35), "|", color="C0", label="breakpoints, trained")
    ax.set_title(name)
    ax.set_xlim(-1, 1)
axes[0].legend(fontsize="x-small", loc="upper left")
fig.tight_layout()

# %%
# Error versus width
# ------------------
# One width study per target: every width is trained with every seed (the
# seed draws the breakpoints and the signs), and the error is the continuous
# :math:`L^2` error under the Lebesgue measure :math:`dx` (what the study
# reports; the default, normalized measure :math:`dx/2` gives errors smaller
# by :math:`\\sqrt 2`).
studies = {}
for name in targets:
    X, y, target = make_interval_regression(n_samples, target=name)
    studies[name] = width_study(
        breakpoint_model,
        X,
        y,
        widths=widths,
        seeds=seeds,
        scoring=make_l2_error_scorer(target, measure="lebesgue"),
        name=name,
    )

# sphinx_gallery_thumbnail_number = 2
fig, ax = plt.subplots(figsize=(9, 5))
for study in studies.values():
    # reference slopes through the first study's data, drawn once
    WidthStudyDisplay.from_study(study, ax=ax, reference_slopes=(0.5, 1.0), show_seeds=False)
ax.set_ylabel("continuous L2 error (dx)")
ax.set_title("breakpoint model trained by GD")
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
fig.tight_layout()
plt.show()

# %%
# Fitted and local rates
# ----------------------
# The fitted rate ``r`` of ``error ~ C m^-r`` over all widths and seeds, with
# its 95% confidence interval, and the local rates between neighbouring widths.
print(f"widths {widths}, seeds {seeds}, {n_samples} equispaced samples, {n_steps} GD steps")
for name, study in studies.items():
    print(f"{name:8s}: fitted {study.rate}")

print("\ncontinuous L2 error (geometric mean over seeds)")
print("target    " + "  ".join(f"{f'm={m}':>9s}" for m in widths))
for name, study in studies.items():
    print(f"{name:8s}  " + "  ".join(f"{e:9.4f}" for e in study.mean_errors))

print("\nlocal rates between neighbouring widths")
print("target    " + "  ".join(f"{f'{a}->{b}':>9s}" for a, b in zip(widths[:-1], widths[1:])))
for name, study in studies.items():
    print(f"{name:8s}  " + "  ".join(f"{r:9.2f}" for r in study.local_rates))

# %%
# Reading the numbers
# -------------------
# The smoother the target, the faster the error falls: in the full run
# (widths 8 to 512, three seeds) the fitted rates order as Gaussian > cusp >
# step (0.84, 0.43 and 0.14).
# The local rates are noisy at small widths, where a few breakpoints and their
# random signs decide much. For the cusp they flatten beyond width 64, at
# least partly because of the fixed budget of 500 steps: at width 256, seed 0,
# 4000 steps bring the error from 0.023 to 0.018, while 2000 instead of 500
# training points change nothing. For the step the rate stays low throughout,
# as its smoothness (below 1/2) suggests.
