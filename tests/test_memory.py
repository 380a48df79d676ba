"""The memory model honours the process's limits and guards the GD paths (issue 12, item 1).

Limits are set in a subprocess with ``resource.setrlimit``, never by exhausting
the machine: the child lowers its own address-space limit to a little above
what it already maps, so that a refused request is one that really could not
be allocated there.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sklearn_gdnet import GDNetworkRegressor
from sklearn_gdnet import _memory as memory
from sklearn_gdnet._gd_network import _check_memory
from sklearn_gdnet._network import (
    NetworkSpec,
    Workspace,
    backward,
    forward,
    gradients,
    init_params,
    workspace_nbytes,
)

resource = pytest.importorskip("resource")
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/status"
)


def run_limited(body, headroom_mib):
    """Run ``body`` in a child whose RLIMIT_AS is its current size + headroom."""
    script = textwrap.dedent(
        """
        import resource, numpy as np
        from sklearn_gdnet import GDNetworkRegressor
        from sklearn_gdnet import _memory as memory
        with open("/proc/self/status") as f:
            size = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (size + {headroom} * 2**20, resource.RLIM_INFINITY))
        """
    ).format(headroom=headroom_mib) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_gd_fit_over_the_address_space_limit_is_refused_before_allocation():
    # The child sees the room under its limit. Width 4000 and depth 2 on 1000
    # samples need about 0.4 GiB in float64, against 300 MiB of room. Without the
    # guard NumPy fails part-way through ("Unable to allocate"); with it the fit
    # is refused naming the limit, the previous model survives, and a fit that
    # fits succeeds.
    out = run_limited(
        """
        room = memory.memory_limits()["the address-space limit (ulimit -v)"]
        print("room", room / 2**20, memory.available_memory() / 2**20)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((1000, 5)); y = X[:, 0]
        net = GDNetworkRegressor(width=32, max_iter=2, random_state=0).fit(X, y)
        before = net.predict(X)
        try:
            net.set_params(width=4000).fit(X, y)
        except MemoryError as exc:
            print("refused:", exc)
        assert np.array_equal(net.predict(X), before)
        net.set_params(width=256).fit(X, y)
        print("fitted", net.n_iter_)
        """,
        headroom_mib=300,
    )
    room, available = map(float, out.splitlines()[0].split()[1:])
    assert 250 < room <= 300  # what was mapped after the limit was set is small
    assert available <= room
    assert "refused: Training a width-4000" in out
    assert "address-space limit (ulimit -v)" in out
    assert "fitted 2" in out


def test_lbfgs_memory_is_counted(monkeypatch):
    # L-BFGS keeps 2 * 10 corrections of the trained parameters (and work space):
    # a limit that admits gradient descent can refuse L-BFGS.
    X = np.zeros((10, 3))
    spec = NetworkSpec(3, 1, 2000, 2, "relu")
    groups = ("W1", "b1", "W2", "b2", "W3", "b3")
    needs = {}
    for solver in ("gd", "lbfgs"):
        monkeypatch.setattr(memory, "MEMORY_LIMIT", 0)
        with pytest.raises(MemoryError) as exc:
            _check_memory(spec, X, groups, solver, 0.0, False, False)
        needs[solver] = float(str(exc.value).split("about ")[1].split(" GiB")[0])
    n_params = 3 * 2000 + 2000 + 2000 * 2000 + 2000 + 2000 + 1
    lbfgs_extra = needs["lbfgs"] - needs["gd"]
    assert lbfgs_extra * 2**30 >= 20 * n_params * 8


def test_workspace_estimate_bounds_what_a_workspace_allocates():
    # The estimate against the arrays a Workspace really holds after a pass.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    for activation in ("relu", "tanh"):
        spec = NetworkSpec(4, 2, 64, 3, activation)
        params = init_params(spec, 0)
        ws = Workspace(spec, X, np.float64)
        forward(params, spec, X, ws)
        backward(params, spec, ws, np.ones((50, 2)), 1)
        gradients(spec, ws, list(params), {g: np.empty_like(p) for g, p in params.items()}, 1, 1)
        held = {
            id(a): a.nbytes
            for value in vars(ws).values()
            for a in (value if isinstance(value, list | dict) else [value])
            for a in (a.values() if isinstance(a, dict) else [a])
            if isinstance(a, np.ndarray) and a is not X
        }
        assert sum(held.values()) <= workspace_nbytes(spec, 50, 8)


def test_memory_limit_is_a_cap_and_named(monkeypatch):
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 2**20)
    assert memory.available_memory() == 2**20
    with pytest.raises(MemoryError, match=r"MEMORY_LIMIT\). Use less"):
        memory.check_fits_in_memory(2**21, "Something", "Use less.")
    memory.check_fits_in_memory(2**19, "Something", "Use less.")


def test_predict_is_guarded(monkeypatch):
    X = np.random.default_rng(0).standard_normal((20, 3))
    net = GDNetworkRegressor(width=64, max_iter=1, random_state=0).fit(X, X[:, 0])
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 1000)
    with pytest.raises(MemoryError, match="Predicting"):
        net.predict(X)
