"""Who may use a Network at once: many readers, or one trainer, never both.

Readers (predict, predict_proba, score, gradients, copies and pickles) only read the
parameters and bring their own work buffers, so any number of them run together without the
GIL. fit writes the parameters after every batch: a reader meanwhile would see a mix of two
updates, and a second fit would interleave its updates with the first's. Rather than make
anyone wait (a web server's request thread blocked behind an hour of training), a conflicting
call raises RuntimeError at once. The training thread itself may read (validation, callbacks).

Why compiled: Python runs signal handlers (KeyboardInterrupt) between bytecodes, so a guard
written in Python can be interrupted between taking a count and the ``try`` that gives it
back, leaving a reader counted forever (every later fit refuses) or its lock held (every
later call hangs). Compiled code runs no handler between its own statements: here the count
is taken, the call made inside ``try``, and the count given back in ``finally`` with no point
in between where an interrupt can land. The state is behind a real lock, not the GIL, so the
guard stays correct on free-threaded Python; the lock is held only for a few C statements
that neither call Python nor wait for anything.
"""
import functools
import os
import weakref

from cpython.pythread cimport (
    PyThread_acquire_lock, PyThread_allocate_lock, PyThread_get_thread_ident,
    PyThread_release_lock, PyThread_type_lock, WAIT_LOCK)

# Every guard of this process, so that a forked child can reset them: the calls they were
# counting ran in threads that do not exist in the child, and a lock held at fork time
# would never be released there.
_GUARDS = weakref.WeakSet()


def _reset_after_fork():
    for guard in list(_GUARDS):
        (<UseGuard> guard)._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


cdef class UseGuard:
    """Readers together, or one writer (and its own thread's reads); conflicts raise."""

    cdef PyThread_type_lock _lock
    cdef Py_ssize_t _count      # readers inside
    cdef bint _writing
    cdef unsigned long _owner   # the ident of the thread inside fit, if _writing
    cdef object __weakref__

    def __cinit__(self):
        self._reset()
        _GUARDS.add(self)

    cdef _reset(self):
        # A lock held at fork time is never released in the child, and freeing a held lock
        # is undefined: the old one is left behind (a few bytes, once per fork).
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError("no memory for a lock")
        self._count = 0
        self._writing = False
        self._owner = 0

    cdef inline void _take(self) noexcept:
        PyThread_acquire_lock(self._lock, WAIT_LOCK)

    cdef inline void _give(self) noexcept:
        PyThread_release_lock(self._lock)

    cdef int _enter_reading(self, what) except -1:
        cdef unsigned long me = PyThread_get_thread_ident()
        self._take()
        if self._writing and self._owner != me:
            self._give()
            raise RuntimeError(
                f"{what} was called while another thread is training this Network (fit); "
                "wait for fit to return, or predict with a copy of the network")
        self._count += 1
        self._give()
        return 0

    cdef void _exit_reading(self) noexcept:
        self._take()
        self._count -= 1
        self._give()

    cdef int _enter_writing(self, what) except -1:
        cdef Py_ssize_t readers
        self._take()
        if self._writing:
            self._give()
            raise RuntimeError(
                f"{what} was called while this Network is already being trained (fit) "
                "in another thread")
        readers = self._count
        if readers:
            self._give()
            raise RuntimeError(
                f"{what} was called while {readers} other call(s) are predicting "
                "with this Network; training would change the weights under them")
        self._writing = True
        self._owner = PyThread_get_thread_ident()
        self._give()
        return 0

    cdef void _exit_writing(self) noexcept:
        self._take()
        self._writing = False
        self._owner = 0
        self._give()

    # --- for Python callers ---

    def call_reading(self, what, func, *args):
        """``func(*args)`` as a reader: raises RuntimeError if another thread is training."""
        self._enter_reading(what)
        try:
            return func(*args)
        finally:
            self._exit_reading()

    def call_writing(self, what, func, *args):
        """``func(*args)`` as the one writer: raises RuntimeError if any other call is in."""
        self._enter_writing(what)
        try:
            return func(*args)
        finally:
            self._exit_writing()

    def reading(self, what):
        """A context manager: a reader for the duration of a ``with`` block. From Python
        code prefer call_reading: a ``with`` statement in Python can be interrupted between
        __enter__ and its block."""
        return _Reading(self, what)

    @property
    def _readers(self):
        """Readers inside now (for tests and diagnostics)."""
        return self._count

    @property
    def _writer(self):
        """The ident of the thread inside fit, or None."""
        return self._owner if self._writing else None


cdef class _Reading:
    cdef UseGuard guard
    cdef object what

    def __cinit__(self, UseGuard guard, what):
        self.guard = guard
        self.what = what

    def __enter__(self):
        self.guard._enter_reading(self.what)

    def __exit__(self, *exc_info):
        self.guard._exit_reading()
        return False


def reads(method):
    """Run a Network method as a reader of its parameters (see UseGuard)."""
    name = method.__name__

    def reader(self, *args, **kwargs):
        cdef UseGuard guard = self._guard
        guard._enter_reading(name)
        try:
            return method(self, *args, **kwargs)
        finally:
            guard._exit_reading()
    return functools.wraps(method)(reader)


def writes(method):
    """Run a Network method as the one writer of its parameters (see UseGuard)."""
    name = method.__name__

    def writer(self, *args, **kwargs):
        cdef UseGuard guard = self._guard
        guard._enter_writing(name)
        try:
            return method(self, *args, **kwargs)
        finally:
            guard._exit_writing()
    return functools.wraps(method)(writer)
