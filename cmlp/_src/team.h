/* The OpenMP team, for code running inside a Cython `parallel()` block: its size, this
 * thread's number, and a barrier (a pragma, which Cython cannot write itself; an orphaned
 * barrier binds to the enclosing parallel region). Without OpenMP the team is one thread. */
#ifndef CMLP_TEAM_H
#define CMLP_TEAM_H

#ifdef _OPENMP
#include <omp.h>
static inline int cmlp_team_size(void) { return omp_get_num_threads(); }
static inline int cmlp_thread_number(void) { return omp_get_thread_num(); }
static inline void cmlp_barrier(void)
{
#pragma omp barrier
}
/* The team size OpenMP would pick: OMP_NUM_THREADS, or omp_set_num_threads (threadpoolctl's
 * limit) on this thread, else the CPUs of the affinity mask libgomp saw at start. */
static inline int cmlp_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int cmlp_team_size(void) { return 1; }
static inline int cmlp_thread_number(void) { return 0; }
static inline void cmlp_barrier(void) {}
static inline int cmlp_max_threads(void) { return 1; }
#endif

#endif
