/* The int8 kernels for AVX-512 VNNI: vpdpbusd multiplies 4 u8 inputs by 4 s8 weights and
 * adds the four products into a 32-bit lane, 16 lanes a vector. Tiles of up to 6 rows x 64
 * outputs: 24 accumulators, each weight vector loaded once for the tile's rows, each input
 * quad broadcast from memory. The inputs are taken in chunks of QUAD_CHUNK quads; where the
 * layer has several column strips, the tile's rows first list the quads of a chunk that are
 * not zero in all of them (blank pixels, inactive units), once, and every strip then runs
 * over that list alone, with no test in its inner loop. A single strip (an output layer)
 * would not repay the list: it runs over every quad. Compiled for AVX-512F + VNNI; run only
 * where the dispatcher (int8.c) found them. */
#include "portable.h"
#include "int8.h"
#include "int8_row.h"

#if CMLP_X86
#include <immintrin.h>
#if defined(_MSC_VER)
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vnni"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vnni")
#endif

CMLP_INT8_DECLARE_PATH(vnni512)

#if defined(_MSC_VER)
#define ALWAYS_INLINE __forceinline
#else
#define ALWAYS_INLINE inline __attribute__((always_inline))
#endif

enum { TILE_ROWS = 6, QUAD_CHUNK = 512 };

/* quads: the quads to take (n_quads of them), or NULL for q0, q0 + 1, ... */
static ALWAYS_INLINE void tile(const uint8_t *Q, int k_pad, const int32_t *quads, int q0,
                               int n_quads, const int8_t *W, int h_pad, int j0, int32_t *acc,
                               int first, const int rows, const int nv)
{
    __m512i c[TILE_ROWS][4];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++)
            c[r][v] = first ? _mm512_setzero_si512()
                            : _mm512_loadu_si512((const void *)(acc + (ptrdiff_t)r * h_pad +
                                                                j0 + 16 * v));
    for (int i = 0; i < n_quads; i++) {
        const int q = quads != NULL ? quads[i] : q0 + i;
        const int8_t *w = W + ((ptrdiff_t)q * h_pad + j0) * 4;
        __m512i wv[4];
        for (int v = 0; v < nv; v++) wv[v] = _mm512_loadu_si512((const void *)(w + 64 * v));
        for (int r = 0; r < rows; r++) {
            int32_t bits;
            memcpy(&bits, Q + (ptrdiff_t)r * k_pad + 4 * q, sizeof bits);
            const __m512i x = _mm512_set1_epi32(bits);
            for (int v = 0; v < nv; v++) c[r][v] = _mm512_dpbusd_epi32(c[r][v], x, wv[v]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++)
            _mm512_storeu_si512((void *)(acc + (ptrdiff_t)r * h_pad + j0 + 16 * v), c[r][v]);
}

/* The quads in [q0, q1) where some of the rows' inputs are not zero, into quads. */
static ALWAYS_INLINE int nonzero_quads(const uint8_t *Q, int k_pad, int q0, int q1,
                                       int32_t *quads, const int rows)
{
    int n = 0;
    for (int q = q0; q < q1; q++) {
        int32_t any = 0;
        for (int r = 0; r < rows; r++) {
            int32_t bits;
            memcpy(&bits, Q + (ptrdiff_t)r * k_pad + 4 * q, sizeof bits);
            any |= bits;
        }
        quads[n] = q;
        n += any != 0;
    }
    return n;
}

/* Rows [0, rows) of Q (rows a constant after inlining) times W into acc. */
static ALWAYS_INLINE void row_group(const uint8_t *Q, int k_pad, const int8_t *W, int h_pad,
                                    int32_t *acc, const int rows)
{
    int32_t quads[QUAD_CHUNK];
    for (int q0 = 0; q0 < k_pad / 4; q0 += QUAD_CHUNK) {
        const int q1 = k_pad / 4 - q0 < QUAD_CHUNK ? k_pad / 4 : q0 + QUAD_CHUNK;
        const int listed = h_pad > 64;
        const int n_quads = listed ? nonzero_quads(Q, k_pad, q0, q1, quads, rows) : q1 - q0;
        const int32_t *list = listed ? quads : NULL;
        int j0 = 0;
#define TILE(NV) tile(Q, k_pad, list, q0, n_quads, W, h_pad, j0, acc, q0 == 0, rows, NV)
        for (; j0 + 64 <= h_pad; j0 += 64) TILE(4);
        switch ((h_pad - j0) / 16) {
        case 3: TILE(3); break;
        case 2: TILE(2); break;
        case 1: TILE(1); break;
        default: break;
        }
#undef TILE
    }
}

void cmlp_int8_product_vnni512(const uint8_t *Q, ptrdiff_t n, int k_pad, const int8_t *W,
                               int h_pad, int32_t *acc)
{
    ptrdiff_t i = 0;
    for (; i + TILE_ROWS <= n; i += TILE_ROWS)
        row_group(Q + i * k_pad, k_pad, W, h_pad, acc + i * h_pad, TILE_ROWS);
    const uint8_t *X = Q + i * k_pad;
    int32_t *A = acc + i * h_pad;
    switch (n - i) {
    case 5: row_group(X, k_pad, W, h_pad, A, 5); break;
    case 4: row_group(X, k_pad, W, h_pad, A, 4); break;
    case 3: row_group(X, k_pad, W, h_pad, A, 3); break;
    case 2: row_group(X, k_pad, W, h_pad, A, 2); break;
    case 1: row_group(X, k_pad, W, h_pad, A, 1); break;
    default: break;
    }
}

int cmlp_int8_quantize_vnni512(const float *X, ptrdiff_t n, int K, ptrdiff_t ldx,
                               uint8_t *Q, int k_pad, float *scale, int32_t *zero)
{
    const __m512i exponent = _mm512_set1_epi32(0x7f800000);
    __mmask16 bad = 0;
    int bad_tail = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *x = X + i * ldx;
        uint8_t *q = Q + i * k_pad;
        __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
        float lo, hi, inverse;
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            const __m512 v = _mm512_loadu_ps(x + k);
            vlo = _mm512_min_ps(vlo, v);
            vhi = _mm512_max_ps(vhi, v);
            bad |= _mm512_cmpeq_epi32_mask(
                _mm512_and_si512(_mm512_castps_si512(v), exponent), exponent);
        }
        lo = _mm512_reduce_min_ps(vlo);
        hi = _mm512_reduce_max_ps(vhi);
        for (; k < K; k++) {
            lo = x[k] < lo ? x[k] : lo;
            hi = x[k] > hi ? x[k] : hi;
            bad_tail |= cmlp_int8_nonfinite(x[k]);
        }
        cmlp_int8_row_params(lo, hi, &scale[i], &inverse, &zero[i]);
        const __m512 inv = _mm512_set1_ps(inverse);
        const __m512i z = _mm512_set1_epi32(zero[i]), top = _mm512_set1_epi32(255);
        for (k = 0; k + 16 <= K; k += 16) {
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + k), inv));
            v = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(v, z),
                                                  _mm512_setzero_si512()), top);
            _mm_storeu_si128((__m128i *)(void *)(q + k), _mm512_cvtepi32_epi8(v));
        }
        for (; k < K; k++) q[k] = cmlp_int8_quantize_one(x[k], inverse, zero[i]);
        memset(q + K, 0, (size_t)(k_pad - K));
    }
    return bad != 0 || bad_tail;
}

#if defined(_MSC_VER)
#elif defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#else
typedef int cmlp_no_vnni_here; /* a unit must declare something */
#endif
