"""
=================================================
Gradient descent against gradient flow on S^2
=================================================

The approximation theory of gradient-trained networks comes in two versions:
for gradient *flow* (Welper, arXiv:2309.04860) and for gradient *descent*
with a finite step (Welper, arXiv:2405.11696). Gradient descent with step
:math:`\\eta` is the explicit Euler method of the flow: after
:math:`k = t / \\eta` steps it should sit at distance :math:`O(\\eta)` from the
flow at time :math:`t`. This example measures that order, for a network of
finite width and for its infinite-width limit, with
:func:`~sklearn_gdnet.studies.gd_flow_study`:

* the infinite-width limit after :math:`k` GD steps and after flow for time
  :math:`t` are both exact kernel solutions (``NTKRegressor(dynamics="gd")``
  and ``NTKRegressor(dynamics="flow")``), so their distance is measured
  directly; per kernel eigenvalue :math:`\\lambda` it is
  :math:`(1 - \\eta\\lambda)^{t/\\eta} - e^{-\\lambda t} \\approx -\\tfrac12 \\eta t
  \\lambda^2 e^{-\\lambda t}`;
* the network's flow has no closed form; for a method of order :math:`p` and
  step sizes halving from run to run, the distance between consecutive runs
  falls like :math:`\\eta^p`.

The training set is an exact quadrature rule on the sphere with weights that
make the training loss the continuous loss
(:func:`~sklearn_gdnet.datasets.make_sphere_quadrature`).
"""

# %%
# Settings
# --------
# ``SKLEARN_GDNET_EXAMPLES_QUICK=1`` runs fewer step sizes.
import os

import matplotlib.pyplot as plt

from sklearn_gdnet import GDNetworkRegressor
from sklearn_gdnet.datasets import make_sphere_quadrature
from sklearn_gdnet.studies import GDFlowDisplay, gd_flow_study

QUICK = os.environ.get("SKLEARN_GDNET_EXAMPLES_QUICK", "0") not in ("", "0")
n_steps = [8, 16, 32, 64] if QUICK else [8, 16, 32, 64, 128, 256, 512]

# %%
# Continuous loss on the sphere
# -----------------------------
# A target of smoothness 1 made of harmonics up to degree 8, on the product
# rule exact to degree 16 (Gauss-Legendre in :math:`\cos\theta` times
# equispaced azimuths, 153 nodes), with ``sample_weight`` = 153 times the
# rule's weights: the package's loss is the quadrature of
# :math:`\frac12 \|f - g\|^2_{L^2}`.
X, y, sample_weight, target = make_sphere_quadrature(16, max_degree=8, random_state=0)
print(f"{X.shape[0]} nodes, target L2 norm {target.l2_norm:.4f}")

# %%
# The study
# ---------
# The time is ``"auto"``: the coarsest run uses half the infinite-width
# limit's automatic step, a quarter of its stability bound. Every run starts
# from the same network (``random_state=0``).
network = GDNetworkRegressor(width=256, depth=1, random_state=0)
result = gd_flow_study(
    network, X, y, target, sample_weight=sample_weight, time="auto", n_steps=n_steps
)
print(result)

# %%
# Both distances fall like the step size
# --------------------------------------
# Log-log plot of the distances against :math:`\eta`, with a reference slope
# of one. The fitted orders (printed above, with 95% intervals) are close to
# one for the limit and for the network: at a fixed time, gradient descent is
# a first-order approximation of gradient flow, for the network as for its
# kernel limit. The errors against the target (last column) barely depend on
# the step (about 3% between the coarsest and the finest run): at a fixed time
# the step size matters far less than the time itself.
display = GDFlowDisplay.from_result(result)
plt.show()
