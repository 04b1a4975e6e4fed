"""Native thread pools sized to the process model.

LightGBM and XGBoost (OpenMP) and NumPy's BLAS each start one thread per core by default. One
process per core, each with a pool per core, is what made a single prediction wait half a second
under 8 concurrent requests on 2 cores (issue 16): the pools of every process fight for the same
cores. Each process here gets ``cores it may use // processes sharing them`` threads.

The limit is set two ways, because a library reads it at two different moments:

- the environment (``OMP_NUM_THREADS`` and the BLAS variables), read once when a library is first
  loaded: for a process that has not imported LightGBM yet (a gunicorn worker right after fork);
- ``threadpoolctl.threadpool_limits`` (the library scikit-learn uses for the same purpose), which
  calls each already-loaded library's own setter: for a process that imported them before it
  forked (a Celery prefork child). An OpenMP limit set this way holds for the calling thread, the
  one that runs requests and tasks in both process models.
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_info, threadpool_limits

# Set for libraries loaded later; the BLAS ones matter to NumPy and scikit-learn.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cores_available() -> int:
    """Cores this process may run on (its CPU affinity, which a container's cpuset narrows), at
    least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform (macOS)
        return max(1, os.cpu_count() or 1)


def openmp_threads() -> int:
    """The threads an OpenMP pool of this process may use now: the limit :func:`limit_native_threads`
    or ``OMP_NUM_THREADS`` set (the smallest of the loaded runtimes'), else one per core."""
    limits = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "openmp"]
    return max(1, min(limits)) if limits else cores_available()


def threads_per_process(processes: int, cores: int | None = None) -> int:
    """Native threads for each of ``processes`` processes sharing ``cores`` (default: those this
    process may use): ``cores // processes``, at least 1."""
    cores = cores_available() if cores is None else cores
    return max(1, cores // max(1, processes))


SETTING = "NATIVE_THREADS"  # unset or "auto": sized; a number: that many; "library": their defaults


def configured_threads(processes: int, setting: str | None = None) -> int | None:
    """The threads a process of ``processes`` sharing this machine's cores should use, read from
    ``setting`` (default: the ``NATIVE_THREADS`` environment variable): unset or ``auto`` sizes
    them (:func:`threads_per_process`), a number sets them, ``library`` answers None (leave each
    library's own default: one thread per core, for comparison in benchmarks). Raises ValueError
    for anything else."""
    value = (os.environ.get(SETTING, "") if setting is None else setting).strip().lower()
    if value in ("", "auto"):
        return threads_per_process(processes)
    if value == "library":
        return None
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise ValueError(f"{SETTING}={value!r}: use auto, library or a number of threads from 1")


def size_native_threads(processes: int) -> int | None:
    """Limit this process's native pools as ``NATIVE_THREADS`` says for ``processes`` processes
    sharing the cores (:func:`configured_threads`); the threads set, or None when left to the
    libraries."""
    threads = configured_threads(processes)
    return None if threads is None else limit_native_threads(threads)


def limit_native_threads(threads: int) -> int:
    """Limit OpenMP and BLAS pools of this process to ``threads`` (for libraries loaded from now
    on, through the environment, and for those already loaded, through threadpoolctl); returns
    ``threads``. Raises ValueError for fewer than 1."""
    if threads < 1:
        raise ValueError(f"native threads must be at least 1, not {threads}")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    threadpool_limits(limits=threads)
    return threads
