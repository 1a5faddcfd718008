/* Kernels for narrow layers (few outputs, many inputs), where BLAS gemm runs far below peak.
 *
 * forward:    Z (n x H)  = X (n x K) WT^T + b     (WT is the layer's weights transposed, H x K)
 * accumulate: dWT (H x K) += D^T (H x n) X (n x K)
 *
 * Each is compiled for several instruction sets (AVX-512, AVX with FMA, baseline) and the
 * best one the CPU supports is picked at run time, so one wheel runs on any x86-64 CPU.
 * cmlp_simd_select forces a path (the tests run every available one).
 */
#ifndef CMLP_NARROW_H
#define CMLP_NARROW_H

#include <stddef.h>

void cmlp_narrow_forward_f32(const float *X, ptrdiff_t n, int K, const float *WT,
                             const float *b, int H, float *Z);
void cmlp_narrow_forward_f64(const double *X, ptrdiff_t n, int K, const double *WT,
                             const double *b, int H, double *Z);
void cmlp_narrow_accumulate_f32(const float *X, ptrdiff_t n, int K, const float *D, int H,
                                float *dWT);
void cmlp_narrow_accumulate_f64(const double *X, ptrdiff_t n, int K, const double *D, int H,
                                double *dWT);

/* "auto", "avx512", "avx_fma" or "generic"; returns 0, or -1 if this CPU lacks it. */
int cmlp_simd_select(const char *name);
/* The name of the path in use. */
const char *cmlp_simd_name(void);
/* 1 if the CPU (and this build) can run the named path. */
int cmlp_simd_available(const char *name);

/* 1 if the extension was compiled with OpenMP. */
int cmlp_openmp_enabled(void);

#endif
