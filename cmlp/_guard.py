"""Who may use a Network at once: many readers, or one trainer, never both.

Readers (predict, predict_proba, score, gradients) only read the parameters and bring their
own work buffers, so any number of them run together without the GIL. fit writes the
parameters after every batch: a reader meanwhile would see a mix of two updates, and a second
fit would interleave its updates with the first's. Rather than make anyone wait (a web
server's request thread blocked behind an hour of training), a conflicting call raises
RuntimeError at once. The training thread itself may read (validation, callbacks).
"""
import functools
import os
import threading
import weakref
from contextlib import contextmanager
from typing import Any, Callable, TypeVar, cast

# The decorators keep the signature of the method they wrap (for type checkers).
_Method = TypeVar("_Method", bound=Callable[..., Any])

# Every guard of this process, so that a forked child can reset them: the calls they were
# counting ran in threads that do not exist in the child, and a lock held at fork time
# would never be released there.
_GUARDS: "weakref.WeakSet[object]" = weakref.WeakSet()


def _reset_after_fork():
    for guard in list(_GUARDS):
        guard._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class UseGuard:
    """Readers together, or one writer (and its own thread's reads); conflicts raise."""

    def __init__(self):
        self._reset()
        _GUARDS.add(self)

    def _reset(self):
        self._lock = threading.Lock()
        self._readers = 0
        self._writer = None  # the ident of the thread inside fit

    # enter_reading and exit_reading take the lock by hand: `with` costs more, and a
    # prediction of one row pays for both.
    def enter_reading(self, what):
        """Count one more reader, or raise if another thread is training."""
        self._lock.acquire()
        writer = self._writer
        if writer is not None and writer != threading.get_ident():
            self._lock.release()
            raise RuntimeError(
                f"{what} was called while another thread is training this Network (fit); "
                "wait for fit to return, or predict with a copy of the network")
        self._readers += 1
        self._lock.release()

    def exit_reading(self):
        self._lock.acquire()
        self._readers -= 1
        self._lock.release()

    @contextmanager
    def reading(self, what):
        self.enter_reading(what)
        try:
            yield
        finally:
            self.exit_reading()

    @contextmanager
    def writing(self, what):
        with self._lock:
            if self._writer is not None:
                raise RuntimeError(
                    f"{what} was called while this Network is already being trained (fit) "
                    "in another thread")
            if self._readers:
                raise RuntimeError(
                    f"{what} was called while {self._readers} other call(s) are predicting "
                    "with this Network; training would change the weights under them")
            self._writer = threading.get_ident()
        try:
            yield
        finally:
            with self._lock:
                self._writer = None


def reads(method: _Method) -> _Method:
    """Run a Network method as a reader of its parameters (see UseGuard).

    Written out rather than through the reading() context manager, which costs 2-3 us:
    as much as predicting one row."""
    name = method.__name__

    @functools.wraps(method)
    def reader(self, *args, **kwargs):
        guard = self._guard
        guard.enter_reading(name)
        try:
            return method(self, *args, **kwargs)
        finally:
            guard.exit_reading()
    return cast(_Method, reader)


def writes(method: _Method) -> _Method:
    """Run a Network method as the one writer of its parameters (see UseGuard)."""
    @functools.wraps(method)
    def writer(self, *args, **kwargs):
        with self._guard.writing(method.__name__):
            return method(self, *args, **kwargs)
    return cast(_Method, writer)
