"""The network core against independent derivations.

Forward pass against a direct transcription of the network's definition (user
guide, "The network family"), gradients
against central finite differences, the empirical NTK against the sum of
Jacobian inner products and against the hand-derivable infinite-width value.
"""

import numpy as np
import pytest
from scipy import sparse

from sklearn_gdnet._activations import ACTIVATIONS
from sklearn_gdnet._network import (
    NetworkSpec,
    Workspace,
    backward,
    empirical_ntk,
    forward,
    gradients,
    group_names,
    init_params,
    jvp,
    max_ntk_eigenvalue,
    resolve_trainable,
)

TRAINABLE = ["all", "output", "hidden", "penultimate", "hidden_biases", ("W1", "b3")]


def reference_forward(params, spec, X):
    """The network of the user guide's definition, written out layer by layer."""
    phi = ACTIVATIONS[spec.activation].phi
    h = X
    for l in range(1, spec.depth + 2):
        W, b = params[f"W{l}"], params[f"b{l}"]
        if spec.parametrization == "ntk":
            z = spec.weight_std / np.sqrt(W.shape[0]) * h @ W + spec.bias_std * b
        else:
            z = h @ W + b
        h = phi(z) if l <= spec.depth else z
    return h


def loss(params, spec, X, Y, w):
    r = reference_forward(params, spec, X) - Y
    return 0.5 * np.sum(w[:, None] * r * r) / r.size


def analytic_gradient(params, spec, X, Y, w, groups):
    ws = Workspace(spec, X, np.float64)
    r = forward(params, spec, X, ws) - Y
    backward(params, spec, ws, w[:, None] * r / r.size, lowest=min(int(g[1:]) for g in groups))
    return gradients(spec, ws, groups, out={g: np.empty_like(params[g]) for g in groups})


def problem(activation="tanh", parametrization="ntk", depth=2, seed=0):
    rng = np.random.default_rng(seed)
    spec = NetworkSpec(
        n_features=3,
        n_outputs=2,
        width=5,
        depth=depth,
        activation=activation,
        weight_std=1.3,
        bias_std=0.4,
        parametrization=parametrization,
    )
    params = init_params(spec, random_state=seed)
    X = rng.standard_normal((7, 3))
    Y = rng.standard_normal((7, 2))
    w = rng.uniform(0.5, 2.0, size=7)
    return spec, params, X, Y, w / w.mean()


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_forward_matches_reference(activation, parametrization):
    spec, params, X, _, _ = problem(activation, parametrization)
    assert np.allclose(forward(params, spec, X), reference_forward(params, spec, X), rtol=1e-13)


@pytest.mark.parametrize("trainable", TRAINABLE, ids=str)
@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradient_matches_finite_differences(activation, parametrization, trainable):
    spec, params, X, Y, w = problem(activation, parametrization)
    groups = resolve_trainable(trainable, spec.depth)
    grads = analytic_gradient(params, spec, X, Y, w, groups)
    eps = 1e-6
    for g in groups:
        numeric = np.empty_like(params[g])
        for idx in np.ndindex(params[g].shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[g][idx] += eps
            minus[g][idx] -= eps
            numeric[idx] = (loss(plus, spec, X, Y, w) - loss(minus, spec, X, Y, w)) / (2 * eps)
        assert np.allclose(grads[g], numeric, rtol=1e-5, atol=1e-9), g


def test_sparse_input_gives_the_same_gradient():
    spec, params, X, Y, w = problem("relu")
    X[X < 0.3] = 0.0
    groups = resolve_trainable("all", spec.depth)
    dense = analytic_gradient(params, spec, X, Y, w, groups)
    csr = analytic_gradient(params, spec, sparse.csr_matrix(X), Y, w, groups)
    for g in groups:
        assert np.allclose(dense[g], csr[g], rtol=1e-12, atol=1e-14)


def test_jvp_matches_finite_differences():
    spec, params, X, _, _ = problem("softplus")
    rng = np.random.default_rng(1)
    tangent = {g: rng.standard_normal(params[g].shape) for g in ("W1", "b2", "W3")}
    ws = Workspace(spec, X, np.float64)
    forward(params, spec, X, ws)
    eps = 1e-6
    plus = {g: p + eps * tangent.get(g, 0) for g, p in params.items()}
    minus = {g: p - eps * tangent.get(g, 0) for g, p in params.items()}
    numeric = (reference_forward(plus, spec, X) - reference_forward(minus, spec, X)) / (2 * eps)
    assert np.allclose(jvp(params, spec, ws, tangent), numeric, rtol=1e-6, atol=1e-9)


def jacobian_by_finite_differences(params, spec, X, groups, output):
    eps = 1e-6
    columns = []
    for g in groups:
        for idx in np.ndindex(params[g].shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[g][idx] += eps
            minus[g][idx] -= eps
            diff = reference_forward(plus, spec, X) - reference_forward(minus, spec, X)
            columns.append(diff[:, output] / (2 * eps))
    return np.column_stack(columns)


@pytest.mark.parametrize("trainable", ["all", "penultimate", "hidden_biases", "output"])
def test_empirical_ntk_is_the_jacobian_inner_product(trainable):
    spec, params, X, _, _ = problem("tanh")
    groups = resolve_trainable(trainable, spec.depth)
    Y = X[:4] + 0.5
    expected = np.zeros((X.shape[0], Y.shape[0]))
    for j in range(spec.n_outputs):
        Jx = jacobian_by_finite_differences(params, spec, X, groups, j)
        Jy = jacobian_by_finite_differences(params, spec, Y, groups, j)
        expected += Jx @ Jy.T / spec.n_outputs
    assert np.allclose(empirical_ntk(params, spec, X, Y, trainable), expected, rtol=1e-6, atol=1e-8)


def test_max_ntk_eigenvalue_matches_dense_eigenvalue():
    # One output: the n x n empirical NTK is the whole operator.
    rng = np.random.default_rng(0)
    spec = NetworkSpec(n_features=4, n_outputs=1, width=64, depth=2, activation="relu")
    params = init_params(spec, random_state=0)
    X = rng.standard_normal((60, 4))
    w = rng.uniform(0.2, 3.0, size=60)
    sqrt_w = np.sqrt(w)
    gram = sqrt_w[:, None] * empirical_ntk(params, spec, X) * sqrt_w[None, :]
    expected = np.linalg.eigvalsh(gram)[-1]
    assert max_ntk_eigenvalue(params, spec, X, w, rtol=1e-10) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_empirical_ntk_approaches_the_relu_hand_value(depth):
    # Hand value of the ReLU recursion: sigma_w = sqrt(2), sigma_b = 0, |x|^2 = d gives
    # NTK(x, x) = 2 (L + 1) in the infinite-width limit.
    d = 5
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, d))
    X *= np.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True)
    target = 2.0 * (depth + 1)
    errors = []
    widths = [16, 256, 4096]
    for width in widths:
        spec = NetworkSpec(
            n_features=d,
            n_outputs=1,
            width=width,
            depth=depth,
            activation="relu",
            weight_std=np.sqrt(2.0),
            bias_std=0.0,
        )
        diag = [
            np.diag(empirical_ntk(init_params(spec, random_state=s), spec, X)) for s in range(4)
        ]
        errors.append(np.sqrt(np.mean((np.asarray(diag) - target) ** 2)) / target)
    # The fluctuations shrink like width^-1/2: 16x the width, about 1/4 the error.
    assert errors[-1] < 0.1
    assert errors[2] < errors[1] < errors[0]
    assert errors[-1] < 0.6 * errors[1] < 0.6**2 * errors[0]


def test_group_names_and_trainable_spellings():
    assert group_names(2) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert resolve_trainable("penultimate", 3) == ("W3", "b3")
    assert resolve_trainable("output", 1) == ("W2", "b2")
    assert resolve_trainable("hidden", 1) == ("W1", "b1")
    assert resolve_trainable("hidden_biases", 2) == ("b1", "b2")
    assert resolve_trainable(["b2", "W1"], 2) == ("W1", "b2")
    assert resolve_trainable("W2", 2) == ("W2",)
    with pytest.raises(ValueError, match="W7"):
        resolve_trainable(("W1", "W7"), 2)
    with pytest.raises(ValueError, match="neither one of"):
        resolve_trainable("everything", 2)


def test_parametrizations_agree_at_initialization():
    spec_ntk = NetworkSpec(3, 2, 16, 2, "tanh", 1.4, 0.3, "ntk")
    spec_std = NetworkSpec(3, 2, 16, 2, "tanh", 1.4, 0.3, "standard")
    X = np.random.default_rng(0).standard_normal((5, 3))
    f_ntk = forward(init_params(spec_ntk, 3), spec_ntk, X)
    f_std = forward(init_params(spec_std, 3), spec_std, X)
    assert np.allclose(f_ntk, f_std, rtol=1e-12)


def test_initialization_does_not_depend_on_the_data():
    spec = NetworkSpec(3, 1, 8, 2)
    a, b = init_params(spec, 7), init_params(spec, 7)
    assert all(np.array_equal(a[g], b[g]) for g in a)
    assert init_params(spec, 7, dtype=np.float32)["W2"].dtype == np.float32


def test_breakpoint_initialization_is_the_shallow_model():
    m = 50
    spec = NetworkSpec(1, 1, m, 1, "relu", weight_std=0.7, bias_std=1.9)
    params = init_params(spec, random_state=0, init="breakpoint")
    # Recover theta_r and a_r from the parameters and the multipliers.
    theta = -spec.bias_std * params["b1"]
    a = params["W2"][:, 0] * spec.weight_std / np.sqrt(m) * np.sqrt(m)
    assert np.allclose(spec.weight_std * params["W1"], 1.0)
    assert np.all(np.abs(theta) <= 1) and np.allclose(np.abs(a), 1.0)
    x = np.linspace(-1, 1, 41)[:, None]
    expected = (np.maximum(x - theta[None, :], 0) @ a) / np.sqrt(m)
    assert np.allclose(forward(params, spec, x)[:, 0], expected, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="depth=1"):
        init_params(NetworkSpec(1, 1, m, 2), 0, init="breakpoint")
