"""Candidate models fit side by side, one lane per core.

Choosing a target's model fits every type of the zoo on the same sample (250,000 rows at most):
each fit is small, and a library's own threads spend much of it waiting at their barriers, more so
on a shared machine. Fitting two candidates at once on one thread each uses the cores instead.
Models that train on the same library form of the rows (LightGBM and its random-forest mode share
one binned Dataset, whose labels each fit sets) run one after the other in one lane; lanes run in
a thread pool (the libraries release the GIL while they train). Each candidate's fit does not
depend on which lane ran it or when, so the results are the same in any order.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from threadpoolctl import threadpool_limits

from ml_pipeline.threads import openmp_threads


def thread_budget(num_threads: int) -> int:
    """The native threads training may use: ``num_threads`` (a TrainConfig's), or when 0 the
    process's OpenMP limit (:func:`~ml_pipeline.threads.openmp_threads`: a Celery child or the
    CLI has its share of the cores, ml_pipeline.threads)."""
    return num_threads or openmp_threads()


def lane_workers(setting: int, lanes: int, budget: int) -> int:
    """Threads fitting candidates at once: ``setting``, or when 0 the thread ``budget``; at
    most one per lane, at least 1."""
    return max(1, min(setting or budget, lanes))


def run_lanes(lanes: list[list[str]], fit: Callable[[str, int], object], workers: int, threads: int) -> dict:
    """``fit(kind, threads)`` for every kind of every lane, the kinds of one lane in order and
    the lanes on ``workers`` threads, each fit's native code on ``threads`` threads (BLAS too,
    for the whole call); returns {kind: result}. An exception of any fit is raised here."""
    if workers <= 1:
        return {kind: fit(kind, threads) for lane in lanes for kind in lane}

    def run(lane: list[str]) -> list[tuple[str, object]]:
        return [(kind, fit(kind, threads)) for kind in lane]

    with threadpool_limits(limits=threads, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        done = [pool.submit(run, lane) for lane in lanes]
        return {kind: result for future in done for kind, result in future.result()}
