/* A row's quantization parameters, the same in every instruction-set unit (int8.h): its
 * range [min(0, lo), max(0, hi)] over 255 steps. A value x becomes
 * clamp(round_to_nearest_even(x * inverse) + zero, 0, 255): one multiply and one rounding
 * (the vector conversions round as lrintf does in the default mode), no add in float that a
 * compiler could fuse differently in different units. */
#ifndef CMLP_INT8_ROW_H
#define CMLP_INT8_ROW_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline void cmlp_int8_row_params(float lo, float hi, float *scale, float *inverse,
                                        int32_t *zero)
{
    long z;
    if (lo > 0.0f) lo = 0.0f;
    if (hi < 0.0f) hi = 0.0f;
    if (!(hi - lo > 0.0f) || !(hi - lo < 3.0e38f)) { /* all zero, or no usable range */
        *scale = (hi - lo > 0.0f) ? (hi - lo) / 255.0f : 1.0f;
        *inverse = 0.0f;
        *zero = 0;
        return;
    }
    *scale = (hi - lo) / 255.0f;
    *inverse = 255.0f / (hi - lo);
    z = lrintf(-lo * *inverse);
    *zero = (int32_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

/* 1 if x is NaN or infinite: its exponent bits all set. */
static inline int cmlp_int8_nonfinite(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return (bits & 0x7f800000u) == 0x7f800000u;
}

static inline uint8_t cmlp_int8_quantize_one(float x, float inverse, int32_t zero)
{
    long q = lrintf(x * inverse) + zero;
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

#endif
