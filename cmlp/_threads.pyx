"""How many threads cmlp's kernels run: the CPUs this process may use, and no more.

n_threads=None follows scikit-learn's OpenMP code (sklearn.utils._openmp_helpers,
_openmp_effective_n_threads): OMP_NUM_THREADS when set, else the smaller of OpenMP's own
default (which also reflects threadpoolctl's limit on OpenMP) and joblib's cpu_count, which
counts the CPUs of the affinity mask (taskset) and of the cgroup quota (v1 and v2, as in a
container with --cpus=1), where os.cpu_count() sees every CPU of the machine.

Fork: libgomp's thread pool does not survive fork(); a child forked after cmlp ran a team of
threads hangs in its first parallel region. Such a child (multiprocessing's default start
method on Linux) runs cmlp on one thread instead; results then are those of n_threads=1.

Compiled with the kernels, whose thread counts it decides: the compiled inference Model
asks it too, and compiled code imports nothing of the Python layers above it.
"""
import os
from functools import lru_cache

from cmlp import _kernels

# n_threads above this many per CPU of the machine is refused: thousands of threads under a
# memory limit end the process inside libgomp, past any Python exception.
MAX_THREADS_PER_CPU = 4

_pool = {"started": False, "forked": False}


def _mark_forked_child():
    if _pool["started"]:
        _pool["forked"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked_child)


@lru_cache(maxsize=None)
def usable_cpus():
    """CPUs this process may run on: affinity mask and cgroup CPU quota (joblib/loky)."""
    from joblib import cpu_count

    return max(1, cpu_count())


def max_threads():
    """The largest n_threads a Network accepts."""
    return MAX_THREADS_PER_CPU * (os.cpu_count() or 1)


def check_n_threads(n_threads):
    """n_threads (validated as a positive int or None) within max_threads()."""
    if n_threads is not None and n_threads > max_threads():
        raise ValueError(
            f"n_threads={n_threads} is more than {MAX_THREADS_PER_CPU} threads per CPU of "
            f"this machine ({os.cpu_count()} CPUs): at most {max_threads()}; None uses the "
            f"CPUs this process may run on ({usable_cpus()})")
    return n_threads


def default_threads():
    """Threads for n_threads=None (scikit-learn's rule, see the module docstring)."""
    omp = _kernels.openmp_max_threads()
    if os.environ.get("OMP_NUM_THREADS"):
        return max(1, omp)
    return max(1, min(omp, usable_cpus()))


def kernel_threads(n_threads):
    """The team size for a kernel call of a Network with this n_threads."""
    if not _kernels.openmp_enabled() or _pool["forked"]:
        return 1
    threads = min(n_threads or default_threads(), max_threads())
    if threads > 1:
        _pool["started"] = True
    return threads
