/* Denormal floats flushed to zero while cmlp's kernels run, on the calling thread only.
 *
 * Intel cores take about a hundred times longer over arithmetic on denormals, and training
 * makes them: Adam's moment estimates for weights that never get a gradient (MNIST's blank
 * border pixels) decay geometrically into that range. Measured: 784-800-10 Adam epochs went
 * from 2.6 s to 7.8 s within four epochs. Machine-learning frameworks flush them for the
 * same reason (TensorFlow by default, PyTorch with torch.set_flush_denormal). The previous
 * mode is restored, so code outside the kernels sees IEEE behaviour. x86 only (MXCSR's FTZ
 * and DAZ bits); elsewhere these do nothing. */
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
#else
static inline unsigned int cmlp_flush_denormals(void) { return 0; }
static inline void cmlp_restore_denormals(unsigned int previous) { (void)previous; }
#endif

#endif
