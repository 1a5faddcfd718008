/* Denormal floats flushed to zero while cmlp's kernels run, on the calling thread only.
 *
 * Intel cores take about a hundred times longer over arithmetic on denormals, and training
 * makes them: Adam's moment estimates for weights that never get a gradient (MNIST's blank
 * border pixels) decay geometrically into that range. Measured: 784-800-10 Adam epochs went
 * from 2.6 s to 7.8 s within four epochs. Machine-learning frameworks flush them for the
 * same reason (TensorFlow by default, PyTorch with torch.set_flush_denormal). The previous
 * mode is restored, so code outside the kernels sees IEEE behaviour. x86 (MXCSR's FTZ and DAZ
 * bits) and arm64 (FPCR's FZ bit); elsewhere these do nothing. */
#ifndef CMLP_DENORMALS_H
#define CMLP_DENORMALS_H

#if defined(__x86_64__) || defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define CMLP_FTZ_DAZ 0x8040u /* flush-to-zero (results) and denormals-are-zero (inputs) */
static inline unsigned int cmlp_flush_denormals(void)
{
    unsigned int previous = _mm_getcsr();
    _mm_setcsr(previous | CMLP_FTZ_DAZ);
    return previous;
}
static inline void cmlp_restore_denormals(unsigned int previous) { _mm_setcsr(previous); }
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
/* FPCR's FZ bit flushes denormal inputs and results of float and double arithmetic (NEON's
 * included) to zero. The bits FPCR defines all lie in its low 32. */
#define CMLP_FPCR_FZ (1u << 24)
static inline unsigned int cmlp_flush_denormals(void)
{
    unsigned long long previous, flushed;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(previous));
    flushed = previous | CMLP_FPCR_FZ;
    __asm__ __volatile__("msr fpcr, %0" : : "r"(flushed));
    return (unsigned int)previous;
}
static inline void cmlp_restore_denormals(unsigned int previous)
{
    unsigned long long mode = previous;
    __asm__ __volatile__("msr fpcr, %0" : : "r"(mode));
}
#else
static inline unsigned int cmlp_flush_denormals(void) { return 0; }
static inline void cmlp_restore_denormals(unsigned int previous) { (void)previous; }
#endif

#endif
