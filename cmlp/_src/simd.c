/* Run-time choice among the instruction-set versions of the SIMD kernels (simd.h). Each
 * version is its own compilation unit (simd_generic.c, simd_avx_fma.c, simd_avx512.c), so
 * this file is compiled for the baseline and runs on any processor of its architecture. */
#include "portable.h"
#include "simd.h"
#include "simd_paths.h"

#if CMLP_X86 && defined(_MSC_VER)
#include <intrin.h> /* __cpuid, __cpuidex, _xgetbv */
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
                        ptrdiff_t, const int *, float *, ptrdiff_t, const int *, int);
    void (*product_f64)(int, int, int, const double *, ptrdiff_t, ptrdiff_t, const double *,
                        ptrdiff_t, const int *, double *, ptrdiff_t, const int *, int);
} simd_path;

static const simd_path PATHS[] = {
#define PATH(ISA)                                                                           \
    {#ISA, cmlp_forward_##ISA##_f32, cmlp_forward_##ISA##_f64, cmlp_accumulate_##ISA##_f32, \
     cmlp_accumulate_##ISA##_f64, cmlp_exp_inplace_##ISA##_f32, cmlp_product_##ISA##_f32,   \
     cmlp_product_##ISA##_f64}
#if CMLP_X86
    PATH(avx512),
    PATH(avx_fma),
#endif
    PATH(generic),
};
#define N_PATHS ((int)(sizeof(PATHS) / sizeof(PATHS[0])))

static const simd_path *current = &PATHS[N_PATHS - 1];
/* current is read by kernels running in any thread while cmlp_simd_select may change it (a
 * test's switch; the Python side serialises the switches): one atomic pointer access each. */
#if defined(__GNUC__) || defined(__clang__)
#define CURRENT() __atomic_load_n(&current, __ATOMIC_RELAXED)
#define SET_CURRENT(path) __atomic_store_n(&current, (path), __ATOMIC_RELAXED)
#else /* MSVC: aligned pointer loads and stores are single accesses on its targets */
#define CURRENT() (*(const simd_path *volatile *)&current)
#define SET_CURRENT(path) (*(const simd_path *volatile *)&current = (path))
#endif

#if CMLP_X86 && defined(_MSC_VER)
/* MSVC has no __builtin_cpu_supports: the CPUID bits, and XGETBV for whether the operating
 * system saves the vector registers (YMM for AVX; opmask and ZMM too for AVX-512), as
 * GCC's libgcc checks them. */
static int msvc_has_avx_fma(void) {
    int info[4];
    __cpuid(info, 1);
    int osxsave = (info[2] >> 27) & 1, avx = (info[2] >> 28) & 1, fma = (info[2] >> 12) & 1;
    return osxsave && avx && fma && (_xgetbv(0) & 0x6) == 0x6;
}

static int msvc_has_avx512f(void) {
    int info[4];
    __cpuid(info, 0);
    if (info[0] < 7 || !msvc_has_avx_fma()) return 0;
    __cpuidex(info, 7, 0);
    return ((info[1] >> 16) & 1) && (_xgetbv(0) & 0xe6) == 0xe6;
}
#endif

static int supported(const char *name) {
#if CMLP_X86 && defined(_MSC_VER)
    if (strcmp(name, "avx512") == 0) return msvc_has_avx512f();
    if (strcmp(name, "avx_fma") == 0) return msvc_has_avx_fma();
#elif CMLP_X86
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
            SET_CURRENT(&PATHS[p]);
            return 0;
        }
    }
    return -1;
}

const char *cmlp_simd_name(void) { return CURRENT()->name; }

int cmlp_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

void cmlp_narrow_forward_f32(const float *X, ptrdiff_t n, int K, const float *WT,
                             const float *b, int H, float *Z) {
    CURRENT()->forward_f32(X, n, K, WT, b, H, Z);
}

void cmlp_narrow_forward_f64(const double *X, ptrdiff_t n, int K, const double *WT,
                             const double *b, int H, double *Z) {
    CURRENT()->forward_f64(X, n, K, WT, b, H, Z);
}

void cmlp_narrow_accumulate_f32(const float *X, ptrdiff_t n, int K, const float *D, int H,
                                float *dWT, const void *ahead, ptrdiff_t ahead_bytes) {
    CURRENT()->accumulate_f32(X, n, K, D, H, dWT, ahead, ahead_bytes);
}

void cmlp_narrow_accumulate_f64(const double *X, ptrdiff_t n, int K, const double *D, int H,
                                double *dWT, const void *ahead, ptrdiff_t ahead_bytes) {
    CURRENT()->accumulate_f64(X, n, K, D, H, dWT, ahead, ahead_bytes);
}

void cmlp_exp_f32(float *x, ptrdiff_t n) { CURRENT()->exp_f32(x, n); }

void cmlp_tile_product_f32(int m, int n, int k, const float *A, ptrdiff_t a_row,
                           ptrdiff_t a_col, const float *B, ptrdiff_t ldb, const int *b_rows,
                           float *C, ptrdiff_t ldc, const int *c_rows, int accumulate) {
    CURRENT()->product_f32(m, n, k, A, a_row, a_col, B, ldb, b_rows, C, ldc, c_rows,
                           accumulate);
}

void cmlp_tile_product_f64(int m, int n, int k, const double *A, ptrdiff_t a_row,
                           ptrdiff_t a_col, const double *B, ptrdiff_t ldb, const int *b_rows,
                           double *C, ptrdiff_t ldc, const int *c_rows, int accumulate) {
    CURRENT()->product_f64(m, n, k, A, a_row, a_col, B, ldb, b_rows, C, ldc, c_rows,
                           accumulate);
}
