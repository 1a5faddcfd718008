/* The int8 kernels for AVX2 processors without VNNI. vpmaddubsw (u8 x s8 pairs into int16)
 * would saturate for u8 inputs up to 255, so inputs and weights are widened to int16 and
 * multiplied with vpmaddwd, exact in int32 like vpdpbusd: the same sums, bit for bit.
 * Tiles of 4 rows x 8 outputs; each 32-bit lane first holds the sum of an input pair, the
 * pairs are added once at the end of the tile. Compiled for AVX2; run only where the
 * dispatcher (int8.c) found it. */
#include "portable.h"
#include "int8.h"
#include "int8_row.h"

#if CMLP_X86
#include <immintrin.h>
#if defined(_MSC_VER)
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

CMLP_INT8_DECLARE_PATH(avx2)

#if defined(_MSC_VER)
#define ALWAYS_INLINE __forceinline
#else
#define ALWAYS_INLINE inline __attribute__((always_inline))
#endif

/* The 8 outputs' sums from the pair sums: lo holds outputs 0-3, hi 4-7, two lanes each. */
static ALWAYS_INLINE __m256i pairs_added(__m256i lo, __m256i hi)
{
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), 0xD8); /* 0, 2, 1, 3 */
}

static ALWAYS_INLINE void tile(const uint8_t *Q, int k_pad, const int8_t *W, int h_pad,
                               int j0, int32_t *acc, const int rows)
{
    __m256i lo[4], hi[4];
    for (int r = 0; r < rows; r++) lo[r] = hi[r] = _mm256_setzero_si256();
    for (int q = 0; q < k_pad / 4; q++) {
        int32_t bits[4], any = 0;
        for (int r = 0; r < rows; r++) {
            memcpy(&bits[r], Q + (ptrdiff_t)r * k_pad + 4 * q, sizeof bits[r]);
            any |= bits[r];
        }
        if (any == 0) continue; /* zero in every row: blank pixels, inactive units */
        const int8_t *w = W + ((ptrdiff_t)q * h_pad + j0) * 4;
        const __m256i w8 = _mm256_loadu_si256((const __m256i *)(const void *)w);
        const __m256i wlo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w8));
        const __m256i whi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w8, 1));
        for (int r = 0; r < rows; r++) {
            const __m256i x = _mm256_cvtepu8_epi16(_mm_set1_epi32(bits[r]));
            lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(x, wlo));
            hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(x, whi));
        }
    }
    for (int r = 0; r < rows; r++)
        _mm256_storeu_si256((__m256i *)(void *)(acc + (ptrdiff_t)r * h_pad + j0),
                            pairs_added(lo[r], hi[r]));
}

void cmlp_int8_product_avx2(const uint8_t *Q, ptrdiff_t n, int k_pad, const int8_t *W,
                            int h_pad, int32_t *acc)
{
    ptrdiff_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j0 = 0; j0 < h_pad; j0 += 8)
            tile(Q + i * k_pad, k_pad, W, h_pad, j0, acc + i * h_pad, 4);
    for (; i < n; i++)
        for (int j0 = 0; j0 < h_pad; j0 += 8)
            tile(Q + i * k_pad, k_pad, W, h_pad, j0, acc + i * h_pad, 1);
}

int cmlp_int8_quantize_avx2(const float *X, ptrdiff_t n, int K, ptrdiff_t ldx, uint8_t *Q,
                            int k_pad, float *scale, int32_t *zero)
{
    const __m256i exponent = _mm256_set1_epi32(0x7f800000);
    __m256i bad = _mm256_setzero_si256();
    int bad_tail = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *x = X + i * ldx;
        uint8_t *q = Q + i * k_pad;
        __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
        float lo = 0.0f, hi = 0.0f, inverse, lanes[16];
        int k = 0;
        for (; k + 8 <= K; k += 8) {
            const __m256 v = _mm256_loadu_ps(x + k);
            vlo = _mm256_min_ps(vlo, v);
            vhi = _mm256_max_ps(vhi, v);
            bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(
                _mm256_and_si256(_mm256_castps_si256(v), exponent), exponent));
        }
        _mm256_storeu_ps(lanes, vlo);
        _mm256_storeu_ps(lanes + 8, vhi);
        for (int l = 0; l < 8; l++) {
            lo = lanes[l] < lo ? lanes[l] : lo;
            hi = lanes[8 + l] > hi ? lanes[8 + l] : hi;
        }
        for (; k < K; k++) {
            lo = x[k] < lo ? x[k] : lo;
            hi = x[k] > hi ? x[k] : hi;
            bad_tail |= cmlp_int8_nonfinite(x[k]);
        }
        cmlp_int8_row_params(lo, hi, &scale[i], &inverse, &zero[i]);
        const __m256 inv = _mm256_set1_ps(inverse);
        const __m256i z = _mm256_set1_epi32(zero[i]);
        for (k = 0; k + 8 <= K; k += 8) {
            __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), inv));
            v = _mm256_add_epi32(v, z); /* packus saturates to [0, 255] below */
            __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(v),
                                             _mm256_extracti128_si256(v, 1));
            _mm_storel_epi64((__m128i *)(void *)(q + k), _mm_packus_epi16(words, words));
        }
        for (; k < K; k++) q[k] = cmlp_int8_quantize_one(x[k], inverse, zero[i]);
        memset(q + K, 0, (size_t)(k_pad - K));
    }
    return !_mm256_testz_si256(bad, bad) || bad_tail;
}

#if defined(_MSC_VER)
#elif defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#else
typedef int cmlp_no_avx2_here; /* a unit must declare something */
#endif
