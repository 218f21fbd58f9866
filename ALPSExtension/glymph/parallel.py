"""Numpy work on all CPU cores from threads of one process.

numpy's ufuncs and linear algebra, scipy's filters, ``hashlib`` and file reads release the GIL on
large arrays, so a few threads over slabs of one array run in parallel without copying the array
into other processes (what ``multiprocessing`` or dask would do). Results are the same as a
serial loop: each piece is computed by the same code, and pieces are returned in order.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity where the system reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


WORKERS = min(cpu_cores(), 4)  # threads for one array's pieces; more gains little on memory-bound work


def thread_map(
    function: Callable[[T], R], items: Iterable[T], workers: int = WORKERS, blas_threads: int | None = None
) -> list[R]:
    """``[function(item) for item in items]`` on ``workers`` threads, in order.

    ``blas_threads``: limit BLAS to this many threads meanwhile (1 when each piece does its own
    small matrix products: OpenBLAS's own threads would otherwise compete with these).
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with _blas_limit(blas_threads), ThreadPoolExecutor(min(workers, len(items))) as pool:
        return list(pool.map(function, items))


def in_background(function: Callable[..., R], *args: Any) -> Future[R]:
    """Start ``function(*args)`` on a thread now; ``.result()`` waits for it (and raises its error).

    A daemon thread: a command that stops early (a user error, Ctrl-C, a GUI's Cancel) exits
    without waiting for work whose result nobody will take."""
    future: Future[R] = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as error:  # handed to whoever takes the result
            future.set_exception(error)

    threading.Thread(target=run, name=f"glymph-{getattr(function, '__name__', 'task')}", daemon=True).start()
    return future


def with_one_blas_thread(function: Callable[..., R]) -> Callable[..., R]:
    """``function`` run with BLAS held to one thread. Its results then do not depend on how many
    threads the process allows: OpenBLAS splits a product's sums by its thread count, which moves
    the last bits of least-squares fits, and a cohort's tasks run single-threaded
    (``glymph.cohort.runner.thread_environment``) while a single run has every core. For work made
    of small matrix products, where BLAS's own threads gain nothing."""

    @functools.wraps(function)
    def held(*args: Any, **kwargs: Any) -> R:
        with _blas_limit(1):
            return function(*args, **kwargs)

    return held


def _blas_limit(threads: int | None):
    if threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")
