"""The thread policy of the training loop: one BLAS pool, used one thread at a time.

Inside `thread_policy` (every fit, partial_fit and predict of the network
estimators) the BLAS libraries run on one thread each, and a large matrix
product is cut into blocks of rows (or columns) of its result whose sizes depend
on the shapes only; the blocks are handed out one at a time to the calling
thread and to up to ``n_threads - 1`` helper threads, each block a
single-threaded BLAS call.

Why not BLAS's own threads: OpenBLAS splits a product into one fixed share per
thread and its idle threads spin, so when another process holds a core the
whole product waits for the share whose thread is descheduled, and the spinning
threads take CPU time from everything else; a fit then ran several times slower
than on one thread. Blocks handed out on demand go to whichever thread is
running, helpers sleep while they wait, and a slow thread delays a product by
at most the block it holds. Because the blocks do not depend on the number of
threads, and each is computed by one thread, the results are bitwise the same
for any number of threads.

The number of threads is the BLAS libraries' setting when the policy is entered
(so ``threadpoolctl.threadpool_limits``, ``OMP_NUM_THREADS`` and friends keep
working), at most the CPUs this process may run on.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from threadpoolctl import ThreadpoolController  # a dependency of scikit-learn

__all__ = ["FLOPS_PER_BLOCK", "matmul", "n_threads", "thread_policy"]

#: A product is cut into blocks of about this many floating-point operations
#: (about a millisecond on one core): large enough that handing out a block costs
#: little against computing it, small enough that a thread descheduled by another
#: process holds up its product for about that long.
FLOPS_PER_BLOCK = 4e7
#: Rows (or columns) of a block are a multiple of this, and at least
#: `BLOCK_MIN_SIDE`: each block packs the whole of its other operand again, so
#: a block must be wide enough for that to cost little against its products
#: (at 128, one value moved per 128 multiply-adds).
BLOCK_ALIGN = 16
BLOCK_MIN_SIDE = 128

_lock = threading.Lock()
_active = 0  # number of threads inside `thread_policy`
_n_threads = 1  # threads a product may use while the policy is active
_restore = None  # the BLAS settings to put back when the last one leaves
_controller = None
_pool = None
_pool_pid = None


def _blas_controller():
    global _controller
    if _controller is None:
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def n_threads() -> int:
    """Threads a product may use now (1 outside `thread_policy`)."""
    return _n_threads if _active else 1


@contextmanager
def thread_policy():
    """Run BLAS on one thread and let `matmul` use the allowed threads in blocks."""
    global _active, _n_threads, _restore
    with _lock:
        if _active == 0:
            controller = _blas_controller()
            settings = [lib.num_threads for lib in controller.lib_controllers]
            allowed = min(max(settings, default=1), _cpu_count())
            controller.limit(limits=1)
            _restore, _n_threads = settings, max(1, allowed)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                for lib, value in zip(_blas_controller().lib_controllers, _restore):
                    lib.set_num_threads(value)


def _helpers():
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():  # a forked child has no helper threads
        _pool = ThreadPoolExecutor(max(1, _cpu_count() - 1), thread_name_prefix="sklearn_gdnet")
        _pool_pid = os.getpid()
    return _pool


def matmul(A, B, out):
    """``out = A @ B`` (dense 2-d arrays), in blocks on the allowed threads.

    The blocks depend on the shapes only; each is one single-threaded BLAS call
    inside `thread_policy`, so the result does not depend on the thread count.
    """
    rows, inner = A.shape
    cols = B.shape[1]
    flops = 2.0 * rows * inner * cols
    if flops < 2 * FLOPS_PER_BLOCK or not _active:
        return np.matmul(A, B, out=out)
    by_rows = rows >= cols
    length = rows if by_rows else cols
    per_line = flops / length
    step = max(BLOCK_MIN_SIDE, int(FLOPS_PER_BLOCK / per_line) // BLOCK_ALIGN * BLOCK_ALIGN)
    starts = range(0, length, step)
    if len(starts) == 1:
        return np.matmul(A, B, out=out)

    def block(start):
        stop = start + step
        if by_rows:
            np.matmul(A[start:stop], B, out=out[start:stop])
        else:
            np.matmul(A, B[:, start:stop], out=out[:, start:stop])

    helpers = min(n_threads() - 1, len(starts) - 1)
    if helpers <= 0:
        for start in starts:
            block(start)
        return out
    claims = iter(starts)
    claim_lock = threading.Lock()
    stop = []

    def drain():
        while not stop:
            with claim_lock:
                start = next(claims, None)
            if start is None:
                return
            block(start)

    pool = _helpers()
    futures = [pool.submit(drain) for _ in range(helpers)]
    try:
        drain()
    finally:
        stop.append(True)  # after an interrupt, helpers finish their block and stop
        _wait_for(futures)
    return out


def _wait_for(futures, on_interrupt=None):
    """Wait until every helper has stopped, even through a ``KeyboardInterrupt``.

    ``on_interrupt()``, if given, is called when an interrupt arrives, so that
    the helpers can be told to stop early (else they finish all their work).

    An interrupt that arrives while waiting is raised only once no helper can
    write into the product any more: the caller's rollback must not race with
    a block still being computed. So is a helper's own error (the interrupt
    first): the other helpers are waited out before it is raised, and a helper
    that raised ``KeyboardInterrupt`` itself is not waited for again.
    """
    interrupt = error = None
    for future in futures:
        while True:
            try:
                future.result()
            except KeyboardInterrupt as exc:  # arrived during the wait, or the helper's own
                interrupt = exc
                if on_interrupt is not None:
                    on_interrupt()
                if not future.done():
                    continue
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others
                error = exc if error is None else error
            break
    if interrupt is not None:
        raise interrupt
    if error is not None:
        raise error
