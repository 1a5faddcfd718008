"""Work buffers lent to one call at a time (a Network's cmlp._workspace.Workspace).

Predictions, gradients and fit release the GIL, so several Python threads may be inside the
kernels of one Network at once: each call borrows a workspace of its own for as long as it
runs and gives it back after. Why a pool rather than a new workspace per call or one per
thread: allocating costs little next to a big batch but about as much as a one-row
prediction; thread-local caches would keep memory for every thread of a server's pool. The
few most recently returned workspaces are kept (training's, prediction's sizes), so ever new
batch sizes do not pile up memory either.

Compiled for the same reason as cmlp._guard: the pool's lock is taken and released in C,
where no KeyboardInterrupt can land in between and leave it held (every later call of every
thread would hang). It is a real lock, not the GIL, held only while the idle list changes.
"""
import os
import weakref

from cpython.pythread cimport (
    PyThread_acquire_lock, PyThread_allocate_lock, PyThread_release_lock,
    PyThread_type_lock, WAIT_LOCK)

_POOLS = weakref.WeakSet()


def _reset_after_fork():
    # The lock's holder may not exist in the child; the old lock is left behind (see _guard).
    for pool in list(_POOLS):
        (<WorkspacePool> pool)._new_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


cdef class WorkspacePool:
    """Workspaces lent by key; keeps ``keep`` idle."""

    cdef PyThread_type_lock _lock
    cdef list _idle  # (key, workspace), oldest first
    cdef Py_ssize_t _keep
    cdef object __weakref__

    def __cinit__(self, Py_ssize_t keep):
        self._new_lock()
        self._idle = []
        self._keep = keep
        _POOLS.add(self)

    cdef _new_lock(self):
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError("no memory for a lock")

    def borrow(self, key, make):
        """A context manager lending a workspace for ``key`` to one call: entering gives
        it (``make()`` builds one if none is idle), leaving returns it.
        Keys are tuples of ints: comparing them runs no Python code under the lock."""
        return _Loan(self, key, make)

    cdef object _take(self, key):
        cdef Py_ssize_t i
        workspace = None
        PyThread_acquire_lock(self._lock, WAIT_LOCK)
        for i in range(len(self._idle)):
            if self._idle[i][0] == key:
                workspace = self._idle.pop(i)[1]
                break
        PyThread_release_lock(self._lock)
        return workspace

    cdef void _give(self, key, workspace) noexcept:
        cdef list dropped = None
        cdef Py_ssize_t extra
        PyThread_acquire_lock(self._lock, WAIT_LOCK)
        self._idle.append((key, workspace))
        extra = len(self._idle) - self._keep
        if extra > 0:
            dropped = self._idle[:extra]
            del self._idle[:extra]
        PyThread_release_lock(self._lock)
        # dropped (the oldest workspaces) is freed here, after the lock is released

    def __len__(self):
        return len(self._idle)


cdef class _Loan:
    cdef WorkspacePool pool
    cdef object key, make, workspace

    def __cinit__(self, WorkspacePool pool, key, make):
        self.pool, self.key, self.make = pool, key, make

    def __enter__(self):
        workspace = self.pool._take(self.key)
        if workspace is None:
            workspace = self.make()
        self.workspace = workspace
        return workspace

    def __exit__(self, *exc_info):
        workspace, self.workspace = self.workspace, None
        if workspace is not None:
            self.pool._give(self.key, workspace)
        return False
