/* The rows of an epoch done so far, published by the training loops (which run without the
 * GIL) for a progress display that reads them from another thread while the epoch runs
 * (cmlp.Network.epoch_progress). A relaxed atomic store: the reader wants a recent count,
 * never a torn one, and nothing else is ordered by it. */
#ifndef CMLP_PROGRESS_H
#define CMLP_PROGRESS_H

#include <stdint.h>

static inline void cmlp_publish_rows(int64_t* counter, int64_t rows)
{
#if defined(__GNUC__) || defined(__clang__)
    __atomic_store_n(counter, rows, __ATOMIC_RELAXED);
#else
    *(volatile int64_t*)counter = rows;
#endif
}

static inline int64_t cmlp_read_rows(const int64_t* counter)
{
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
#else
    return *(const volatile int64_t*)counter;
#endif
}

#endif
