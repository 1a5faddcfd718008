/* The int8 kernels in plain C (any processor; compilers vectorise the integer loops). */
#include <string.h>

#include "int8.h"
#include "int8_row.h"

CMLP_INT8_DECLARE_PATH(generic)

void cmlp_int8_product_generic(const uint8_t *Q, ptrdiff_t n, int k_pad, const int8_t *W,
                               int h_pad, int32_t *acc)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const uint8_t *x = Q + i * k_pad;
        int32_t *a = acc + i * h_pad;
        memset(a, 0, (size_t)h_pad * sizeof(int32_t));
        for (int q = 0; q < k_pad / 4; q++) {
            const int32_t x0 = x[4 * q], x1 = x[4 * q + 1], x2 = x[4 * q + 2],
                          x3 = x[4 * q + 3];
            const int8_t *w = W + (ptrdiff_t)q * h_pad * 4;
            if ((x0 | x1 | x2 | x3) == 0) continue; /* zeros (ReLU's) add nothing */
            for (int j = 0; j < h_pad; j++)
                a[j] += x0 * w[4 * j] + x1 * w[4 * j + 1] + x2 * w[4 * j + 2] +
                        x3 * w[4 * j + 3];
        }
    }
}

int cmlp_int8_quantize_generic(const float *X, ptrdiff_t n, int K, ptrdiff_t ldx,
                               uint8_t *Q, int k_pad, float *scale, int32_t *zero)
{
    int bad = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const float *x = X + i * ldx;
        uint8_t *q = Q + i * k_pad;
        float lo = 0.0f, hi = 0.0f, inverse;
        for (int k = 0; k < K; k++) {
            lo = x[k] < lo ? x[k] : lo;
            hi = x[k] > hi ? x[k] : hi;
            bad |= cmlp_int8_nonfinite(x[k]);
        }
        cmlp_int8_row_params(lo, hi, &scale[i], &inverse, &zero[i]);
        for (int k = 0; k < K; k++) q[k] = cmlp_int8_quantize_one(x[k], inverse, zero[i]);
        memset(q + K, 0, (size_t)(k_pad - K));
    }
    return bad;
}
