/* Run-time choice among the instruction-set versions of the SIMD kernels (simd.h). */
#include <stdint.h> /* int32_t, int64_t */
#include <string.h> /* memcpy, strcmp */

#include "simd.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define CMLP_X86 1
#endif

/* Baseline: whatever the compiler targets by default (SSE2 on x86-64, NEON on arm64).
 * 16 vector registers there and with AVX: tiles of 6 x 2 accumulators; AVX-512 has 32. */
#define TARGET
#define ISA generic
#define VW_F32 4
#define VW_F64 2
#define TILE_VECS 2
#define SLIM_ROWS 8
#define DOT_ACCUMULATORS 12
#include "simd_isa.h"

#ifdef CMLP_X86
#define TARGET __attribute__((target("avx,fma")))
#define ISA avx_fma
#define VW_F32 8
#define VW_F64 4
#define TILE_VECS 2
#define SLIM_ROWS 8
#define DOT_ACCUMULATORS 12
#include "simd_isa.h"

#define TARGET __attribute__((target("avx512f,fma")))
#define ISA avx512
#define VW_F32 16
#define VW_F64 8
#define TILE_VECS 4
#define SLIM_ROWS 12
#define DOT_ACCUMULATORS 24
#include "simd_isa.h"
#endif

typedef struct {
    const char *name;
    void (*forward_f32)(const float *, ptrdiff_t, int, const float *, const float *, int,
                        float *);
    void (*forward_f64)(const double *, ptrdiff_t, int, const double *, const double *, int,
                        double *);
    void (*accumulate_f32)(const float *, ptrdiff_t, int, const float *, int, float *,
                           const void *, ptrdiff_t);
    void (*accumulate_f64)(const double *, ptrdiff_t, int, const double *, int, double *,
                           const void *, ptrdiff_t);
    void (*exp_f32)(float *, ptrdiff_t);
    void (*product_f32)(int, int, int, const float *, ptrdiff_t, ptrdiff_t, const float *,
                        ptrdiff_t, float *, ptrdiff_t, int);
    void (*product_f64)(int, int, int, const double *, ptrdiff_t, ptrdiff_t, const double *,
                        ptrdiff_t, double *, ptrdiff_t, int);
} simd_path;

static const simd_path PATHS[] = {
#ifdef CMLP_X86
    {"avx512", forward_avx512_f32, forward_avx512_f64, accumulate_avx512_f32,
     accumulate_avx512_f64, exp_inplace_avx512_f32, product_avx512_f32, product_avx512_f64},
    {"avx_fma", forward_avx_fma_f32, forward_avx_fma_f64, accumulate_avx_fma_f32,
     accumulate_avx_fma_f64, exp_inplace_avx_fma_f32, product_avx_fma_f32,
     product_avx_fma_f64},
#endif
    {"generic", forward_generic_f32, forward_generic_f64, accumulate_generic_f32,
     accumulate_generic_f64, exp_inplace_generic_f32, product_generic_f32,
     product_generic_f64},
};
#define N_PATHS ((int)(sizeof(PATHS) / sizeof(PATHS[0])))

static const simd_path *current = &PATHS[N_PATHS - 1];

static int supported(const char *name) {
#ifdef CMLP_X86
    __builtin_cpu_init();
    if (strcmp(name, "avx512") == 0) return __builtin_cpu_supports("avx512f");
    if (strcmp(name, "avx_fma") == 0)
        return __builtin_cpu_supports("avx") && __builtin_cpu_supports("fma");
#endif
    return strcmp(name, "generic") == 0;
}

int cmlp_simd_available(const char *name) { return supported(name); }

int cmlp_simd_select(const char *name) {
    for (int p = 0; p < N_PATHS; p++) {
        /* PATHS is ordered best first: "auto" takes the first one the CPU supports. */
        int wanted = strcmp(name, "auto") == 0 || strcmp(name, PATHS[p].name) == 0;
        if (wanted && supported(PATHS[p].name)) {
            current = &PATHS[p];
            return 0;
        }
    }
    return -1;
}

const char *cmlp_simd_name(void) { return current->name; }

int cmlp_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

void cmlp_narrow_forward_f32(const float *X, ptrdiff_t n, int K, const float *WT,
                             const float *b, int H, float *Z) {
    current->forward_f32(X, n, K, WT, b, H, Z);
}

void cmlp_narrow_forward_f64(const double *X, ptrdiff_t n, int K, const double *WT,
                             const double *b, int H, double *Z) {
    current->forward_f64(X, n, K, WT, b, H, Z);
}

void cmlp_narrow_accumulate_f32(const float *X, ptrdiff_t n, int K, const float *D, int H,
                                float *dWT, const void *ahead, ptrdiff_t ahead_bytes) {
    current->accumulate_f32(X, n, K, D, H, dWT, ahead, ahead_bytes);
}

void cmlp_narrow_accumulate_f64(const double *X, ptrdiff_t n, int K, const double *D, int H,
                                double *dWT, const void *ahead, ptrdiff_t ahead_bytes) {
    current->accumulate_f64(X, n, K, D, H, dWT, ahead, ahead_bytes);
}

void cmlp_exp_f32(float *x, ptrdiff_t n) { current->exp_f32(x, n); }

void cmlp_tile_product_f32(int m, int n, int k, const float *A, ptrdiff_t a_row,
                           ptrdiff_t a_col, const float *B, ptrdiff_t ldb, float *C,
                           ptrdiff_t ldc, int accumulate) {
    current->product_f32(m, n, k, A, a_row, a_col, B, ldb, C, ldc, accumulate);
}

void cmlp_tile_product_f64(int m, int n, int k, const double *A, ptrdiff_t a_row,
                           ptrdiff_t a_col, const double *B, ptrdiff_t ldb, double *C,
                           ptrdiff_t ldc, int accumulate) {
    current->product_f64(m, n, k, A, a_row, a_col, B, ldb, C, ldc, accumulate);
}
