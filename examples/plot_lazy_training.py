"""
=====================================================
Lazy training: wide networks approach the NTK limit
=====================================================

Wide networks in the NTK parametrization train *lazily*: their weights move
little from the initialization, and the network evolves like its
linearization, a kernel method with the neural tangent kernel (Jacot et al.
2018; Lee et al. 2019, "Wide neural networks of any depth evolve as linear
models under gradient descent"). This example shows both halves of that
statement on the circle :math:`S^1`:

1. after :math:`k` gradient-descent steps of size :math:`\\eta`, a network of
   width :math:`m` is close to the prediction of
   ``NTKRegressor(n_steps=k, learning_rate=eta)``, and closer the wider it is;
2. the relative distance of the weights from their initialization,
   ``distance_from_init_``, shrinks like :math:`m^{-1/2}`.

A network carries its random initial function :math:`f_0`, a draw of a
Gaussian process that does not vanish as the width grows. The infinite-width
prediction *for that draw* is

.. math::

   f_k(x) = f_0(x) + T(x, X)\\, T^{-1}\\big(I - (I - \\eta T / N)^k\\big)\\,(y - f_0(X)),

which is ``f_0`` plus the prediction of ``NTKRegressor(n_steps=k,
learning_rate=eta)`` fitted to the residual ``y - f_0(X)``. That is what we
compare each network with.
"""

# %%
# Settings
# --------
# ``SKLEARN_GDNET_EXAMPLES_QUICK=1`` runs fewer widths and seeds.
import os

import matplotlib.pyplot as plt
import numpy as np

from sklearn_gdnet import GDNetworkRegressor, NTKRegressor
from sklearn_gdnet.datasets import make_sphere_regression
from sklearn_gdnet.metrics import integration_rule
from sklearn_gdnet.model_selection import WidthStudyDisplay

QUICK = os.environ.get("SKLEARN_GDNET_EXAMPLES_QUICK", "0") not in ("", "0")
if QUICK:
    widths, seeds = [16, 128, 1024], [0, 1]
else:
    widths, seeds = [16, 64, 256, 1024, 4096], [0, 1, 2, 3]
n_samples, n_steps, depth = 40, 200, 1

# %%
# Data on the circle, and the step size of the limit
# --------------------------------------------------
X, y, target = make_sphere_regression(
    n_samples, n_features=2, smoothness=2.0, noise=0.05, random_state=0
)
# The limit's automatic step is half its stability bound 2N / lambda_max.
# Narrow networks have larger tangent kernels than the limit; half of it again
# keeps every width stable. All networks and the limit use this one step.
limit = NTKRegressor(depth=depth, n_steps=n_steps, normalize_y=False)  # trains on y as given
learning_rate = 0.5 * limit.fit(X, y).learning_rate_
nodes, weights = integration_rule("sphere", 2, n_points=512)
angle = np.arctan2(nodes[:, 1], nodes[:, 0])
order = np.argsort(angle)


def l2_distance(f, g):
    """Continuous L2 distance on the circle (normalized measure)."""
    return float(np.sqrt(weights @ (f - g) ** 2))


def ntk_prediction(f0_train, f0_nodes):
    """The infinite-width prediction after ``n_steps`` steps, from the initial function f0."""
    limit = NTKRegressor(
        depth=depth, n_steps=n_steps, learning_rate=learning_rate, normalize_y=False
    )
    return f0_nodes + limit.fit(X, y - f0_train).predict(nodes)


# %%
# Train the networks
# ------------------
# For every width and seed: the initial network (``max_iter=0``), its
# infinite-width prediction, and the trained network.
gap = np.empty((len(widths), len(seeds)))
moved = {group: np.empty_like(gap) for group in ("W1", "W2")}
curves = {}
for i, width in enumerate(widths):
    for j, seed in enumerate(seeds):
        params = dict(
            width=width,
            depth=depth,
            learning_rate=learning_rate,
            normalize_y=False,  # the network of the theory, whose limit is the NTK
            random_state=seed,
        )
        initial = GDNetworkRegressor(max_iter=0, **params).fit(X, y)
        expected = ntk_prediction(initial.predict(X), initial.predict(nodes))
        network = GDNetworkRegressor(max_iter=n_steps, **params).fit(X, y)
        predicted = network.predict(nodes)
        gap[i, j] = l2_distance(predicted, expected)
        for group in moved:
            moved[group][i, j] = network.distance_from_init_[group]
        if seed == seeds[0]:
            curves[width] = (predicted, expected)

print(f"{n_samples} samples on S^1, {n_steps} GD steps of size {learning_rate:.4g}, seeds {seeds}")
print("width   L2 gap to NTK prediction   rel. distance W1   rel. distance W2")
for i, width in enumerate(widths):
    print(
        f"{width:5d}   {gap[i].mean():24.4g}   {moved['W1'][i].mean():16.4g}"
        f"   {moved['W2'][i].mean():16.4g}"
    )

# %%
# The networks and their infinite-width prediction
# ------------------------------------------------
# Seed 0 at the narrowest and the widest width: the wide network lies on top
# of the NTK's prediction from the same initial function.
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharey=True)
for ax, width in zip(axes, [widths[0], widths[-1]]):
    predicted, expected = curves[width]
    ax.plot(angle[order], target(nodes)[order], "k", lw=1, label="target")
    ax.plot(angle[order], expected[order], "C1", lw=2, label="NTK, k steps")
    ax.plot(angle[order], predicted[order], "C0--", label=f"GD network, m = {width}")
    ax.plot(np.arctan2(X[:, 1], X[:, 0]), y, "k.", ms=4)
    ax.set_xlabel("angle")
    ax.set_title(f"width {width}")
    ax.legend(fontsize="small")
fig.tight_layout()

# %%
# Both gaps shrink with the width
# -------------------------------
# Distance to the NTK prediction (left) and relative distance travelled by
# the weights of each layer (right), over seeds, with the fitted rates. The
# theory bounds both by a constant times :math:`m^{-1/2}` (Lee et al. 2019); the
# printed rates show how close to that asymptotic rate these widths come.
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
display = WidthStudyDisplay(widths, gap, name="GD network vs NTK").plot(
    ax=axes[0], reference_slopes=(0.5,)
)
axes[0].set_ylabel("continuous L2 distance")
for group, values in moved.items():
    WidthStudyDisplay(widths, values, name=group).plot(ax=axes[1], reference_slopes=())
axes[1].set_ylabel("distance_from_init_")
fig.tight_layout()
plt.show()

print(f"gap to NTK prediction: {display.rate}")
for group, values in moved.items():
    print(f"distance from init, {group}: {WidthStudyDisplay(widths, values).rate}")
