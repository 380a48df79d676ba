"""One BLAS pool and the thread policy of the training loop (issue 11, item 2).

Speed is shown by ``benchmarks/bench_threads.py``; here: which BLAS runs, how
many threads it gets, that blocked products are the products, and that results
do not depend on the number of threads.
"""

import threading
import time

import numpy as np
import pytest
import scipy.linalg.blas
from threadpoolctl import threadpool_info, threadpool_limits

from sklearn_gdnet import GDNetworkRegressor, _threads


def data(n=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.sin(X[:, 0]) + 0.5 * X[:, 1]


def blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_training_never_calls_scipys_blas(monkeypatch):
    # Before: every product of the training loop went through scipy.linalg.blas,
    # a second OpenBLAS with its own threads beside NumPy's.
    def refuse(*args, **kwargs):
        raise AssertionError("SciPy's BLAS was called")

    for name in ("dgemm", "sgemm", "dgemv", "sgemv"):
        monkeypatch.setattr(scipy.linalg.blas, name, refuse)
    X, y = data()
    for dtype, activation in [(np.float64, "relu"), (np.float32, "tanh")]:
        net = GDNetworkRegressor(width=64, activation=activation, max_iter=3, random_state=0)
        net.fit(X.astype(dtype), y.astype(dtype)).predict(X.astype(dtype))


def test_blas_runs_on_one_thread_inside_a_fit_and_is_restored(monkeypatch):
    seen = {}
    real_train = __import__("sklearn_gdnet._gd_network", fromlist=["train"]).train

    def spying_train(*args, **kwargs):
        seen["blas"], seen["allowed"] = blas_threads(), _threads.n_threads()
        return real_train(*args, **kwargs)

    monkeypatch.setattr("sklearn_gdnet._gd_network.train", spying_train)
    X, y = data()
    before = blas_threads()
    GDNetworkRegressor(width=16, max_iter=2, random_state=0).fit(X, y)
    assert set(seen["blas"]) == {1}
    assert seen["allowed"] == min(max(before), _threads._cpu_count())
    assert blas_threads() == before
    with threadpool_limits(1):  # a user's limit is honoured
        GDNetworkRegressor(width=16, max_iter=2, random_state=0).fit(X, y)
        assert seen["allowed"] == 1
    assert blas_threads() == before


@pytest.mark.parametrize("shape", [(700, 48, 64), (40, 700, 300), (1, 3, 2000)])
@pytest.mark.parametrize("transposed", [False, True])
def test_blocked_products_are_the_products(monkeypatch, shape, transposed):
    monkeypatch.setattr(_threads, "FLOPS_PER_BLOCK", 1e4)  # many blocks
    monkeypatch.setattr(_threads, "BLOCK_MIN_SIDE", 16)
    rng = np.random.default_rng(0)
    rows, inner, cols = shape
    A = rng.standard_normal((inner, rows)).T if transposed else rng.standard_normal((rows, inner))
    B = rng.standard_normal((inner, cols))
    out = np.full((rows, cols), np.nan)
    with _threads.thread_policy():
        _threads.matmul(A, B, out)
    np.testing.assert_allclose(out, A @ B, rtol=1e-12, atol=1e-12)


def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    # The blocks depend on the shapes only, and each is one single-threaded BLAS
    # call: one thread and all threads give the same bits (before, OpenBLAS's own
    # threading summed differently with 1 and 2 threads).
    monkeypatch.setattr(_threads, "FLOPS_PER_BLOCK", 2e5)
    monkeypatch.setattr(_threads, "BLOCK_MIN_SIDE", 16)
    monkeypatch.setattr(_threads, "_cpu_count", lambda: 4)
    X, y = data(n=400)
    fits = []
    for limit in (1, 4):
        with threadpool_limits(limit):
            net = GDNetworkRegressor(width=96, depth=2, max_iter=4, random_state=0).fit(X, y)
            fits.append((net.learning_rate_, net.loss_curve_, net.params_, net.predict(X)))
    assert fits[0][0] == fits[1][0] and fits[0][1] == fits[1][1]
    for g in fits[0][2]:
        np.testing.assert_array_equal(fits[0][2][g], fits[1][2][g])
    np.testing.assert_array_equal(fits[0][3], fits[1][3])


def test_an_interrupt_in_a_blocked_product_leaves_the_helpers_idle(monkeypatch):
    monkeypatch.setattr(_threads, "FLOPS_PER_BLOCK", 1e4)
    monkeypatch.setattr(_threads, "BLOCK_MIN_SIDE", 16)
    monkeypatch.setattr(_threads, "_cpu_count", lambda: 3)
    main = threading.get_ident()
    real = np.matmul
    calls = []

    def interrupting(A, B, out=None):
        time.sleep(0.002)  # every thread gets blocks
        calls.append(threading.get_ident())
        if calls.count(main) == 2 and threading.get_ident() == main:
            raise KeyboardInterrupt
        return real(A, B, out=out)

    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((600, 40)), rng.standard_normal((40, 40))
    out = np.empty((600, 40))
    monkeypatch.setattr(_threads.np, "matmul", interrupting)
    with threadpool_limits(3), _threads.thread_policy():
        with pytest.raises(KeyboardInterrupt):
            _threads.matmul(A, B, out)
        assert len(calls) < 600 // 16  # the blocks left were not computed
        monkeypatch.setattr(_threads.np, "matmul", real)
        _threads.matmul(A, B, out)  # the helpers are free again
    np.testing.assert_allclose(out, A @ B, rtol=1e-12)


def test_an_interrupt_while_waiting_for_the_helpers_waits_them_out():
    # A SIGINT can arrive while the calling thread waits for its helpers; the
    # interrupt is raised only after every helper has finished its block, so
    # no helper writes into the product during the caller's rollback.
    class Helper:
        def __init__(self, interrupts):
            self.interrupts, self.done = interrupts, False

        def result(self):
            if self.interrupts:
                self.interrupts -= 1
                raise KeyboardInterrupt
            self.done = True

    helpers = [Helper(2), Helper(0), Helper(1)]
    with pytest.raises(KeyboardInterrupt):
        _threads._wait_for(helpers)
    assert all(h.done for h in helpers)
    _threads._wait_for([Helper(0)])  # no interrupt: returns normally


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_helpers():
    import multiprocessing

    # the parent's helpers exist and have been used
    assert _threads._helpers().submit(lambda: 1).result() == 1
    with multiprocessing.get_context("fork").Pool(1) as pool:
        # before: the child queued work for helper threads that fork did not copy
        assert pool.apply_async(_child_uses_helpers).get(timeout=60) == 2


def _child_uses_helpers():
    return _threads._helpers().submit(lambda: 2).result(timeout=20)


def test_concurrent_fits_in_threads_equal_sequential_fits(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(_threads, "FLOPS_PER_BLOCK", 2e5)
    monkeypatch.setattr(_threads, "BLOCK_MIN_SIDE", 16)
    X, y = data(n=300)
    before = blas_threads()

    def fit(seed):
        net = GDNetworkRegressor(width=64, max_iter=5, random_state=seed)
        return net.fit(X, y).predict(X)

    sequential = [fit(seed) for seed in range(4)]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(fit, range(4)))
    for a, b in zip(sequential, concurrent):
        np.testing.assert_array_equal(a, b)
    assert blas_threads() == before  # restored once the last fit left
