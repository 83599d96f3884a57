"""numpy's and scipy's BLAS held to one thread around a fit: its sums, hence their last bits,
are then the same on any machine (OpenBLAS splits a dot product of over 10,000 numbers
between its threads, each summing its share)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def one_blas_thread(fit: Callable[P, R]) -> Callable[P, R]:
    """``fit`` with numpy's and scipy's BLAS on one thread. A training's linear algebra is
    small (a calibrator's two coefficients, the purchase process's four parameters): a team of
    BLAS threads spun for it on a busy 2-core machine, costing more CPU than the work
    (``training.models.fit_calibrator`` of 40,000 rows: 0.25-1 s of CPU on two threads, 0.06 s
    on one), and its sums, hence their last bits, followed the machine's core count."""

    @functools.wraps(fit)
    def on_one_thread(*args: P.args, **kwargs: P.kwargs) -> R:
        from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

        with threadpool_limits(limits=1, user_api="blas"):
            return fit(*args, **kwargs)

    return on_one_thread
