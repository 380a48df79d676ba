"""The activation table: phi against textbook definitions, phi' against finite differences."""

import math

import numpy as np
import pytest

from sklearn_gdnet._activations import ACTIVATIONS, get_activation

TEXTBOOK = {
    "relu": lambda z: max(z, 0.0),
    "tanh": math.tanh,
    "erf": math.erf,
    "sigmoid": lambda z: 1.0 / (1.0 + math.exp(-z)),
    "softplus": lambda z: math.log1p(math.exp(z)),
    "gelu": lambda z: 0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0))),
    "identity": lambda z: z,
}

Z = np.array([-3.1, -1.2, -0.4, 0.3, 0.9, 2.6])


def test_every_activation_has_a_textbook_definition():
    assert set(TEXTBOOK) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_phi_matches_the_definition(name):
    act = get_activation(name)
    expected = np.array([TEXTBOOK[name](z) for z in Z])
    assert np.allclose(act.phi(Z), expected, rtol=1e-14, atol=1e-15)
    out = Z.copy()
    act.phi(out, out=out)  # in place, as the forward pass uses it
    assert np.allclose(out, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_finite_differences(name):
    act = get_activation(name)
    eps = 1e-6
    f = np.vectorize(TEXTBOOK[name])
    numeric = (f(Z + eps) - f(Z - eps)) / (2 * eps)
    assert np.allclose(act.dphi(Z), numeric, rtol=1e-7, atol=1e-9)
    delta = np.linspace(0.5, 1.5, Z.size)
    expected = delta * numeric
    act.mul_dphi(delta, Z, act.phi(Z))
    assert np.allclose(delta, expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_float32_stays_float32(name):
    z = Z.astype(np.float32)
    act = get_activation(name)
    assert act.phi(z).dtype == np.float32
    delta = np.ones_like(z)
    act.mul_dphi(delta, z, act.phi(z))
    assert delta.dtype == np.float32


def test_unknown_activation_is_named_in_the_error():
    with pytest.raises(ValueError, match="'swish'.*relu"):
        get_activation("swish")
