"""BLAS threads: one per process in the services, and one inside the fits that measured faster so.

The API and the workers run several processes on a few cores and score one user at a time:
BLAS threads only fight each other there. A few fits (alternating least squares, the softmax,
similarity blocks) do many small products, where thread hand-offs cost more than they save.
"""
from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits


def single_threaded_blas() -> None:
    """Limit BLAS to one thread for the rest of the process."""
    threadpool_limits(limits=1, user_api="blas")


def one_blas_thread():
    """A context in which BLAS runs on one thread."""
    return threadpool_limits(limits=1, user_api="blas")


def with_one_blas_thread(method):
    """Decorator: run ``method`` with BLAS on one thread."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return method(*args, **kwargs)
    return wrapper
