/* The entry points of each instruction set's kernels (simd_isa.h), for the dispatcher in
 * simd.c. Each set's unit is compiled for that set alone, so no other code can run its
 * instructions by accident: GCC and Clang by the target pragmas at the top of the unit,
 * MSVC by the unit's /arch: flag, which setup.py adds (ISA_UNITS). The AVX-512 and AVX
 * units are empty on other processors. */
#ifndef CMLP_SIMD_PATHS_H
#define CMLP_SIMD_PATHS_H

#include <stddef.h>

#include "portable.h"

#define CMLP_DECLARE_PATH(ISA)                                                              \
    void cmlp_forward_##ISA##_f32(const float *X, ptrdiff_t n, int K, const float *WT,      \
                                  const float *b, int H, float *Z);                         \
    void cmlp_forward_##ISA##_f64(const double *X, ptrdiff_t n, int K, const double *WT,    \
                                  const double *b, int H, double *Z);                       \
    void cmlp_accumulate_##ISA##_f32(const float *X, ptrdiff_t n, int K, const float *D,    \
                                     int H, float *dWT, const void *ahead,                  \
                                     ptrdiff_t ahead_bytes);                                \
    void cmlp_accumulate_##ISA##_f64(const double *X, ptrdiff_t n, int K, const double *D,  \
                                     int H, double *dWT, const void *ahead,                 \
                                     ptrdiff_t ahead_bytes);                                \
    void cmlp_exp_inplace_##ISA##_f32(float *x, ptrdiff_t n);                               \
    void cmlp_product_##ISA##_f32(int m, int n, int k, const float *A, ptrdiff_t a_row,     \
                                  ptrdiff_t a_col, const float *B, ptrdiff_t ldb,           \
                                  const int *b_rows, float *C, ptrdiff_t ldc,               \
                                  const int *c_rows, int accumulate);                       \
    void cmlp_product_##ISA##_f64(int m, int n, int k, const double *A, ptrdiff_t a_row,    \
                                  ptrdiff_t a_col, const double *B, ptrdiff_t ldb,          \
                                  const int *b_rows, double *C, ptrdiff_t ldc,              \
                                  const int *c_rows, int accumulate);

CMLP_DECLARE_PATH(generic)
#if CMLP_X86
CMLP_DECLARE_PATH(avx_fma)
CMLP_DECLARE_PATH(avx512)
#endif

#endif
