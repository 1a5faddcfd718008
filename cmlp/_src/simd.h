/* cmlp's SIMD kernels: narrow layers (few outputs, many inputs), where BLAS gemm runs far
 * below peak; the tile product of thin matrices (mini-batches), where BLAS spends its time
 * packing; and the softmax's exp.
 *
 * narrow forward:    Z (n x H)  = X (n x K) W + b   (given WT, W transposed: H x K)
 * narrow accumulate: dWT (H x K) += D^T (H x n) X (n x K), prefetching the ahead_bytes
 *                    at ahead (NULL: none), the memory the caller reads next
 * (narrow: H <= CMLP_NARROW_MAX_OUTPUTS; the kernels take any H, but wider layers run
 * faster on the tile product or BLAS)
 * tile product:      C = op(A) B                                   (any sizes)
 *
 * Each is compiled for several instruction sets (AVX-512, AVX with FMA, baseline) and the
 * best one the CPU supports is picked at run time, so one wheel runs on any x86-64 CPU.
 * cmlp_simd_select forces a path (the tests run every available one).
 */
#ifndef CMLP_SIMD_H
#define CMLP_SIMD_H

#include <stddef.h>

#define CMLP_NARROW_MAX_OUTPUTS 16

void cmlp_narrow_forward_f32(const float *X, ptrdiff_t n, int K, const float *WT,
                             const float *b, int H, float *Z);
void cmlp_narrow_forward_f64(const double *X, ptrdiff_t n, int K, const double *WT,
                             const double *b, int H, double *Z);
void cmlp_narrow_accumulate_f32(const float *X, ptrdiff_t n, int K, const float *D, int H,
                                float *dWT, const void *ahead, ptrdiff_t ahead_bytes);
void cmlp_narrow_accumulate_f64(const double *X, ptrdiff_t n, int K, const double *D, int H,
                                double *dWT, const void *ahead, ptrdiff_t ahead_bytes);

/* C (m x n) = op(A) B, or C += op(A) B if accumulate: B (k x n) and C row-major with row
 * strides ldb and ldc, op(A)[r, p] = A[r * a_row + p * a_col] (A, or A transposed). Row p
 * of B is row b_rows[p] of the B given, row r of C row c_rows[r] of the C given (either
 * NULL: in order). */
void cmlp_tile_product_f32(int m, int n, int k, const float *A, ptrdiff_t a_row,
                           ptrdiff_t a_col, const float *B, ptrdiff_t ldb, const int *b_rows,
                           float *C, ptrdiff_t ldc, const int *c_rows, int accumulate);
void cmlp_tile_product_f64(int m, int n, int k, const double *A, ptrdiff_t a_row,
                           ptrdiff_t a_col, const double *B, ptrdiff_t ldb, const int *b_rows,
                           double *C, ptrdiff_t ldc, const int *c_rows, int accumulate);

/* x[i] = exp(x[i]) for the softmax, vectorised (relative error ~1e-7; see narrow_impl.h). */
void cmlp_exp_f32(float *x, ptrdiff_t n);

/* "auto", "avx512", "avx_fma" or "generic"; returns 0, or -1 if this CPU lacks it. */
int cmlp_simd_select(const char *name);
/* The name of the path in use. */
const char *cmlp_simd_name(void);
/* 1 if the CPU (and this build) can run the named path. */
int cmlp_simd_available(const char *name);
/* What the generic path computes with: "sse2", "neon" or "scalar" (CMLP_SCALAR_KERNELS). */
const char *cmlp_simd_baseline(void);

/* 1 if the extension was compiled with OpenMP. */
int cmlp_openmp_enabled(void);

#endif
