"""Threads that wait at a barrier sleep instead of spinning (libgomp's OMP_WAIT_POLICY).

libgomp's default spins up to 300,000 times at every barrier before sleeping. That pays
when each thread owns a core, but when another process keeps one of them busy (a shared
machine, a second job), the thread left on that core burns its share of it spinning and
then waits a whole scheduler slice to run again, while its partner spins at the next
barrier: mini-batch training of 784-128-10 at batch 32 on 2 threads ran at 0.07-0.14 of
n_threads=1's speed. Sleeping waiters run at 0.8-1.1 of it busy and about par idle
(benchmarks/busy_core.py; figures in its commit). A thread that sleeps is woken through
the kernel, which also lets it preempt the other process promptly.

libgomp reads its settings once, when it is loaded, so cmlp sets the policy in the
environment just while its kernels load, and only if the user has not chosen one
(OMP_WAIT_POLICY, GOMP_SPINCOUNT); setting either restores libgomp's own behaviour. It
has no effect when libgomp was loaded before cmlp by something else, and none on results.
"""
import os

_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def load_kernels_with_passive_waits():
    if any(name in os.environ for name in _VARIABLES):
        from cmlp import _kernels  # noqa: F401
        return
    os.environ["OMP_WAIT_POLICY"] = "passive"
    try:
        from cmlp import _kernels  # noqa: F401  (loads libgomp, which reads the variable)
    finally:
        del os.environ["OMP_WAIT_POLICY"]  # child processes see the user's environment
