/* The OpenMP team, for code running inside a Cython `parallel()` block: its size, this
 * thread's number, and a barrier of cmlp's own that spins for a while, then sleeps.
 *
 * Why not `#pragma omp barrier`: libgomp decides once per process whether its waits spin
 * (OMP_WAIT_POLICY=active, and by default for up to 300,000 iterations) or sleep at once
 * (passive). Spinning collapses training when another process keeps one of the cores busy
 * (a waiter burns the core its partner needs); sleeping at once costs a futex wake-up at
 * every barrier, and a mini-batch step crosses several: on two idle cores, batch 32 ran at
 * half the speed of one thread. This barrier spins while its waits are short; a wait that
 * outlasts its spin budget sleeps, and when the process's threads are being preempted (the
 * machine has more runnable threads than cores) it also drops the budget to a microsecond,
 * then earns its spinning back wait by wait (see cmlp_barrier_wait). Without OpenMP the team
 * is one thread and the barrier does nothing; on Windows (MSVC's OpenMP 2.0, no GCC
 * atomics) it is OpenMP's.
 */
#ifndef CMLP_TEAM_H
#define CMLP_TEAM_H

#include "portable.h"

#ifdef _OPENMP
#include <omp.h>
static inline int cmlp_team_size(void) { return omp_get_num_threads(); }
static inline int cmlp_thread_number(void) { return omp_get_thread_num(); }
/* The team size OpenMP would pick: OMP_NUM_THREADS, or omp_set_num_threads (threadpoolctl's
 * limit) on this thread, else the CPUs of the affinity mask libgomp saw at start. */
static inline int cmlp_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int cmlp_team_size(void) { return 1; }
static inline int cmlp_thread_number(void) { return 0; }
static inline int cmlp_max_threads(void) { return 1; }
#endif

#if defined(_OPENMP) && (defined(__GNUC__) || defined(__clang__)) && !defined(_WIN32)
#define CMLP_OWN_BARRIER 1
#else
#define CMLP_OWN_BARRIER 0
#endif

/* Spin budget of a wait, in nanoseconds. While the machine is contended
 * (cmlp_team_contended), a wait that outlasts the budget resets it to the minimum and one
 * that ends within it leaves it there: the last thread was likely descheduled, and a
 * spinning waiter would keep its core looking busy so that the scheduler does not move the
 * partner onto it. Otherwise every wait doubles it, up to the maximum: on idle cores a long
 * wait is a partner with more work, and a small budget would make the next waits of a few
 * microseconds sleep too, each wake-up on the critical path. So on two idle cores a step's
 * waits end spinning; with a core busy, most sleep after a microsecond, which is about
 * what the passive policy costs. */
#define CMLP_SPIN_MIN_NS 1000
#define CMLP_SPIN_MAX_NS 100000

/* Contended: since the last look, the process's threads were preempted (involuntary
 * context switches) at least CMLP_PREEMPTIONS_MIN times, and more than
 * CMLP_PREEMPTIONS_PER_S times a second. On an idle machine they are a few dozen a second
 * (timer and kernel work); with another process on one of two cores, thousands. A look
 * that finds neither starts a new count once CMLP_PREEMPTIONS_WINDOW_NS has passed. A
 * verdict of contended holds for CMLP_CONTENDED_HOLD_NS before the next look, so a busy
 * machine costs one getrusage per hold. */
#define CMLP_PREEMPTIONS_MIN 4
#define CMLP_PREEMPTIONS_PER_S 500
#define CMLP_PREEMPTIONS_WINDOW_NS 20000000LL
#define CMLP_CONTENDED_HOLD_NS 50000000LL

/* The maximum in use (0: sleep at once, as the passive policy): for benchmarks. Each
 * extension module including this header has its own; _unit_split's is the one used. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))
#endif
static int cmlp_spin_max_ns = CMLP_SPIN_MAX_NS;

/* One per parallel region, shared by its threads (every thread passes the same one). */
typedef struct {
    int size;                /* threads in the team (cmlp_barrier_start) */
    int spin_ns;             /* the current spin budget, adapted by every wait */
    CMLP_ALIGN64 int arrived;          /* threads at the barrier, this generation */
    CMLP_ALIGN64 unsigned generation;  /* barriers completed: the word waiters sleep on */
    int sleepers;            /* waiters asleep (or about to be) on generation */
} cmlp_barrier_t;

#if CMLP_OWN_BARRIER

#include <time.h>
#if defined(__linux__)
#include <limits.h>
#include <linux/futex.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if CMLP_X86
#define CMLP_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CMLP_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CMLP_CPU_RELAX() ((void)0)
#endif

static inline long long cmlp_team_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* Sleep while *word == value (or return at once if it no longer is). */
static inline void cmlp_team_sleep(unsigned* word, unsigned value)
{
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
    struct timespec pause = {0, 20000};
    (void)word;
    (void)value;
    nanosleep(&pause, NULL);
#endif
}

static inline void cmlp_team_wake(unsigned* word)
{
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;  /* sleepers poll */
#endif
}

/* The machine's state as the barrier last saw it, shared by every team of the process. */
static long long cmlp_contended_until_ns;  /* a verdict of contended holds until then */
#if defined(__linux__)
static long cmlp_preemptions_seen;         /* ru_nivcsw of the process at the last look */
static long long cmlp_preemptions_seen_ns; /* when */
#endif

/* Whether the process's threads are being preempted (see CMLP_PREEMPTIONS_PER_S); asked
 * only by a wait that outlasted its budget. Threads may ask at once: a look reads the
 * count and its time apart, so the worst a race does is count a window from a slightly
 * different start. Where the count is not available the answer is always yes, which is the
 * plain spin-then-sleep policy. */
static inline int cmlp_team_contended(long long now)
{
#if defined(__linux__)
    struct rusage usage;
    long preempted;
    long long elapsed;
    int contended;
    if (now < __atomic_load_n(&cmlp_contended_until_ns, __ATOMIC_RELAXED))
        return 1;
    if (getrusage(RUSAGE_SELF, &usage) != 0)
        return 1;
    preempted = usage.ru_nivcsw - __atomic_load_n(&cmlp_preemptions_seen, __ATOMIC_RELAXED);
    elapsed = now - __atomic_load_n(&cmlp_preemptions_seen_ns, __ATOMIC_RELAXED);
    contended = preempted >= CMLP_PREEMPTIONS_MIN
                && preempted * (1000000000LL / CMLP_PREEMPTIONS_PER_S) > elapsed;
    if (!contended && elapsed < CMLP_PREEMPTIONS_WINDOW_NS)
        return 0;  /* too few yet: keep counting from the same start */
    __atomic_store_n(&cmlp_preemptions_seen, usage.ru_nivcsw, __ATOMIC_RELAXED);
    __atomic_store_n(&cmlp_preemptions_seen_ns, now, __ATOMIC_RELAXED);
    if (contended)
        __atomic_store_n(&cmlp_contended_until_ns, now + CMLP_CONTENDED_HOLD_NS,
                         __ATOMIC_RELAXED);
    return contended;
#else
    (void)now;
    return 1;
#endif
}

/* Doubles the team's spin budget (last seen as budget), up to the maximum in use. */
static inline void cmlp_barrier_grow(cmlp_barrier_t* b, long long budget)
{
    if (budget < cmlp_spin_max_ns)
        __atomic_store_n(&b->spin_ns, (int)(2 * budget < cmlp_spin_max_ns
                                            ? 2 * budget : cmlp_spin_max_ns),
                         __ATOMIC_RELAXED);
}

/* Every thread of the team calls it once, before its first cmlp_barrier_wait. */
static inline void cmlp_barrier_start(cmlp_barrier_t* b)
{
#pragma omp master
    {
        b->size = omp_get_num_threads();
        b->spin_ns = cmlp_spin_max_ns;
        b->arrived = 0;
        b->generation = 0;
        b->sleepers = 0;
    }
#pragma omp barrier
}

/* Returns once every thread of the team has called it; what each thread wrote before it is
 * visible to all after it. */
static inline void cmlp_barrier_wait(cmlp_barrier_t* b)
{
    unsigned generation = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    long long start, now, budget;
    int spins;
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == b->size) {
        /* the last to arrive: reset the count, then let the others go */
        __atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&b->generation, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&b->sleepers, __ATOMIC_SEQ_CST) > 0)
            cmlp_team_wake(&b->generation);
        return;
    }
    budget = __atomic_load_n(&b->spin_ns, __ATOMIC_RELAXED);
    start = cmlp_team_ns();
    do {
        for (spins = 0; spins < 32; spins++) {
            if (__atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) != generation) {
                if (start >= __atomic_load_n(&cmlp_contended_until_ns, __ATOMIC_RELAXED))
                    cmlp_barrier_grow(b, budget);
                return;
            }
            CMLP_CPU_RELAX();
        }
    } while ((now = cmlp_team_ns()) - start < budget);
    if (cmlp_team_contended(now))
        __atomic_store_n(&b->spin_ns,
                         budget < CMLP_SPIN_MIN_NS ? (int)budget : CMLP_SPIN_MIN_NS,
                         __ATOMIC_RELAXED);
    else
        cmlp_barrier_grow(b, budget);  /* contention has passed: earn the budget back */
    /* Sleep. The releaser bumps generation, then reads sleepers; we bump sleepers, then
     * read generation (all sequentially consistent): one of us sees the other's write, and
     * the futex itself returns at once if generation moved in between. */
    __atomic_add_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&b->generation, __ATOMIC_SEQ_CST) == generation)
        cmlp_team_sleep(&b->generation, generation);
    __atomic_sub_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
}

#elif defined(_OPENMP)

static inline void cmlp_barrier_start(cmlp_barrier_t* b) { (void)b; }
static inline void cmlp_barrier_wait(cmlp_barrier_t* b)
{
    (void)b;
#pragma omp barrier
}

#else

static inline void cmlp_barrier_start(cmlp_barrier_t* b) { (void)b; }
static inline void cmlp_barrier_wait(cmlp_barrier_t* b) { (void)b; }

#endif

#endif
