/* Kernels for narrow layers (few outputs, many inputs), where BLAS gemm runs far below peak.
 *
 * forward:    Z (n x H)  = X (n x K) WP + b   (WP: the K x H weights with their rows padded
 *                                              with zeros to CMLP_NARROW_PAD columns)
 * accumulate: dWT (H x K) += D^T (H x n) X (n x K)
 *
 * H is at most CMLP_NARROW_PAD.
 *
 * Each is compiled for several instruction sets (AVX-512, AVX with FMA, baseline) and the
 * best one the CPU supports is picked at run time, so one wheel runs on any x86-64 CPU.
 * cmlp_simd_select forces a path (the tests run every available one).
 */
#ifndef CMLP_NARROW_H
#define CMLP_NARROW_H

#include <stddef.h>

#define CMLP_NARROW_PAD 16

void cmlp_narrow_forward_f32(const float *X, ptrdiff_t n, int K, const float *WP,
                             const float *b, int H, float *Z);
void cmlp_narrow_forward_f64(const double *X, ptrdiff_t n, int K, const double *WP,
                             const double *b, int H, double *Z);
void cmlp_narrow_accumulate_f32(const float *X, ptrdiff_t n, int K, const float *D, int H,
                                float *dWT);
void cmlp_narrow_accumulate_f64(const double *X, ptrdiff_t n, int K, const double *D, int H,
                                double *dWT);

/* x[i] = exp(x[i]) for the softmax, vectorised (relative error ~1e-7; see narrow_impl.h). */
void cmlp_exp_f32(float *x, ptrdiff_t n);

/* "auto", "avx512", "avx_fma" or "generic"; returns 0, or -1 if this CPU lacks it. */
int cmlp_simd_select(const char *name);
/* The name of the path in use. */
const char *cmlp_simd_name(void);
/* 1 if the CPU (and this build) can run the named path. */
int cmlp_simd_available(const char *name);

/* 1 if the extension was compiled with OpenMP. */
int cmlp_openmp_enabled(void);

#endif
