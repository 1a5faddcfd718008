/* Ctrl-C inside the compiled loops, which run for seconds without the GIL.
 *
 * Python's signal handlers only run when the main thread calls PyErr_CheckSignals with the
 * GIL. So the thread that called into cmlp (OpenMP's thread 0, which holds the caller's
 * Python thread state) looks at the clock between batches and between blocks of rows, and
 * every CMLP_SIGNAL_INTERVAL seconds takes the GIL briefly to run the handlers. When one
 * raises (KeyboardInterrupt), the exception stays set in that thread state and `stop` is
 * raised: the other threads see it at their next check, the loop ends without applying a
 * half-computed update, and the Cython caller re-raises the exception once it holds the GIL.
 * A clock read costs some 20 ns, the GIL a few microseconds every 50 ms: nothing measurable.
 * Long matrix products are cut into pieces with a look between them (polled_gemm in
 * _kernels.pyx), so no single BLAS call holds a check back for long.
 */
#ifndef CMLP_INTERRUPT_H
#define CMLP_INTERRUPT_H

#include <Python.h>

#define CMLP_SIGNAL_INTERVAL 0.05

#ifdef _WIN32
#include <windows.h>
static inline double cmlp_seconds(void) { return GetTickCount64() * 1e-3; }
#else
#include <time.h>
static inline double cmlp_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}
#endif

typedef struct {
    double next_check;  /* written and read by the caller's thread only */
    int stop;           /* set once by the caller's thread, read by every thread */
    /* For the tests (cmlp._kernels.interrupt_test_settings): the interval between checks,
       the checks done, and the check (counted from 1; 0: none) at which to act as if
       Ctrl-C had been pressed just before it. Caller's thread only. */
    double interval;
    long checks;
    long interrupt_at;
} cmlp_interrupt;

static inline void cmlp_interrupt_init(cmlp_interrupt* s)
{
    s->interval = CMLP_SIGNAL_INTERVAL;
    s->next_check = cmlp_seconds() + s->interval;
    s->stop = 0;
    s->checks = 0;
    s->interrupt_at = 0;
}

static inline void cmlp_interrupt_set_interval(cmlp_interrupt* s, double interval)
{
    s->interval = interval;
    s->next_check = cmlp_seconds() + interval;
}

static inline int cmlp_interrupt_stopped(const cmlp_interrupt* s)
{
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_load_n(&s->stop, __ATOMIC_RELAXED);
#else
    return *(volatile const int*)&s->stop;
#endif
}

/* Whether to stop: on the caller's thread (is_caller), runs Python's signal handlers when
 * the interval has passed; on the others, only reads the flag. s may be NULL (no checks). */
static inline int cmlp_interrupt_poll(cmlp_interrupt* s, int is_caller)
{
    double now;
    PyGILState_STATE gil;
    if (s == NULL)
        return 0;
    if (!is_caller || s->stop)
        return cmlp_interrupt_stopped(s);
    now = cmlp_seconds();
    if (now < s->next_check)
        return 0;
    gil = PyGILState_Ensure();
    if (++s->checks == s->interrupt_at)
        PyErr_SetInterrupt();
    if (PyErr_CheckSignals() != 0) {
#if defined(__GNUC__) || defined(__clang__)
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
#else
        *(volatile int*)&s->stop = 1;
#endif
    }
    PyGILState_Release(gil);
    /* measured from the end of the check: a main thread that waited long for the GIL
       does not come straight back for it */
    s->next_check = cmlp_seconds() + s->interval;
    return s->stop;
}

#endif
