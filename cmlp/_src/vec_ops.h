/* The vector operations of one instruction set for one element type, as intrinsics that GCC,
 * Clang and MSVC all know (no compiler's vector extensions). Included by simd_isa.h once per
 * element type, with T (float or double; CMLP_F32 defined for float), VW (lanes) and FN (a
 * name with the set's and type's suffix) defined, and exactly one of
 *   CMLP_VEC_AVX512, CMLP_VEC_AVX, CMLP_VEC_SSE2, CMLP_VEC_NEON, CMLP_VEC_SCALAR
 * naming the set. Defines
 *   VEC                     the vector type
 *   VZERO() VSET1(x)        all lanes 0, all lanes x
 *   VLOADU(p) VSTOREU(p, v) unaligned load and store; VSTORE(p, v) aligned (VW * sizeof(T))
 *   VADD VSUB VMUL VMAX VMIN   lane-wise; VMAX(c, x) and VMIN(c, x) return x where x is NaN
 *   VFMA(a, b, c)           a * b + c (fused where the set has FMA)
 *   VINT_BITS(v)            float only: lanes holding integers in [0, 2^31) -> the floats
 *                           whose bit patterns those integers are
 *   FN(lane_sums)(v)        lane i = the sum of the lanes of v[i], i < VW (v overwritten)
 * simd_isa.h undefines them again. */

/* VOP(add) -> _mm256_add_ps: pasted in one step, as some intrinsics' prefixes are macros. */
#define VOP_(prefix, op, suffix) VOP__(prefix, op, suffix)
#define VOP__(prefix, op, suffix) prefix##_##op##_##suffix

#if defined(CMLP_VEC_AVX512)
#ifdef CMLP_F32
#define VEC __m512
#define VSUF ps
#define VINT_BITS(v) _mm512_castsi512_ps(_mm512_cvttps_epi32(v))
#else
#define VEC __m512d
#define VSUF pd
#endif
#define VOP(op) VOP_(_mm512, op, VSUF)
#define VZERO() VOP(setzero)()
#define VSET1(x) VOP(set1)(x)
#define VLOADU(p) VOP(loadu)(p)
#define VSTOREU(p, v) VOP(storeu)((p), (v))
#define VSTORE(p, v) VOP(store)((p), (v))
#define VADD(a, b) VOP(add)((a), (b))
#define VSUB(a, b) VOP(sub)((a), (b))
#define VMUL(a, b) VOP(mul)((a), (b))
#define VMAX(a, b) VOP(max)((a), (b))
#define VMIN(a, b) VOP(min)((a), (b))
#define VFMA(a, b, c) VOP(fmadd)((a), (b), (c))
/* Lane sums by folding pairs of vectors with two-source permutes: each step halves both
 * the number of vectors and the width of the blocks still to be added (VW - 1 adds and
 * twice as many permutes for VW sums). */
#ifdef CMLP_F32
#define FOLD(v, h, even, odd)                                                                \
    for (int i = 0; i < h; i++)                                                              \
        v[i] = _mm512_add_ps(_mm512_permutex2var_ps(v[2 * i], even, v[2 * i + 1]),         \
                             _mm512_permutex2var_ps(v[2 * i], odd, v[2 * i + 1]));
static CMLP_INLINE VEC FN(lane_sums)(VEC *v) {
    FOLD(v, 8, _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
         _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
    FOLD(v, 4, _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27),
         _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31))
    FOLD(v, 2, _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29),
         _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31))
    FOLD(v, 1, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
         _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31))
    return v[0];
}
#undef FOLD
#else
#define FOLD(v, h, even, odd)                                                                \
    for (int i = 0; i < h; i++)                                                              \
        v[i] = _mm512_add_pd(_mm512_permutex2var_pd(v[2 * i], even, v[2 * i + 1]),         \
                             _mm512_permutex2var_pd(v[2 * i], odd, v[2 * i + 1]));
static CMLP_INLINE VEC FN(lane_sums)(VEC *v) {
    FOLD(v, 4, _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11),
         _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15))
    FOLD(v, 2, _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13),
         _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15))
    FOLD(v, 1, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14),
         _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15))
    return v[0];
}
#undef FOLD
#endif

#elif defined(CMLP_VEC_AVX)
/* AVX with FMA, without AVX2: no 256-bit integer arithmetic (VINT_BITS converts only). */
#ifdef CMLP_F32
#define VEC __m256
#define VSUF ps
#define VINT_BITS(v) _mm256_castsi256_ps(_mm256_cvttps_epi32(v))
#else
#define VEC __m256d
#define VSUF pd
#endif
#define VOP(op) VOP_(_mm256, op, VSUF)
#define VZERO() VOP(setzero)()
#define VSET1(x) VOP(set1)(x)
#define VLOADU(p) VOP(loadu)(p)
#define VSTOREU(p, v) VOP(storeu)((p), (v))
#define VSTORE(p, v) VOP(store)((p), (v))
#define VADD(a, b) VOP(add)((a), (b))
#define VSUB(a, b) VOP(sub)((a), (b))
#define VMUL(a, b) VOP(mul)((a), (b))
#define VMAX(a, b) VOP(max)((a), (b))
#define VMIN(a, b) VOP(min)((a), (b))
#define VFMA(a, b, c) VOP(fmadd)((a), (b), (c))
#ifdef CMLP_F32
/* Horizontal adds within 128-bit halves, then the halves of vectors 0-3 and 4-7 added. */
static CMLP_INLINE VEC FN(lane_sums)(VEC *v) {
    __m256 lo = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    __m256 hi = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(lo, hi, 0x20),
                         _mm256_permute2f128_ps(lo, hi, 0x31));
}
#else
static CMLP_INLINE VEC FN(lane_sums)(VEC *v) {
    __m256d a = _mm256_hadd_pd(v[0], v[1]), b = _mm256_hadd_pd(v[2], v[3]);
    return _mm256_add_pd(_mm256_permute2f128_pd(a, b, 0x20),
                         _mm256_permute2f128_pd(a, b, 0x31));
}
#endif

#elif defined(CMLP_VEC_SSE2)
#ifdef CMLP_F32
#define VEC __m128
#define VSUF ps
#define VINT_BITS(v) _mm_castsi128_ps(_mm_cvttps_epi32(v))
#else
#define VEC __m128d
#define VSUF pd
#endif
#define VOP(op) VOP_(_mm, op, VSUF)
#define VZERO() VOP(setzero)()
#define VSET1(x) VOP(set1)(x)
#define VLOADU(p) VOP(loadu)(p)
#define VSTOREU(p, v) VOP(storeu)((p), (v))
#define VSTORE(p, v) VOP(store)((p), (v))
#define VADD(a, b) VOP(add)((a), (b))
#define VSUB(a, b) VOP(sub)((a), (b))
#define VMUL(a, b) VOP(mul)((a), (b))
#define VMAX(a, b) VOP(max)((a), (b))
#define VMIN(a, b) VOP(min)((a), (b))
#define VFMA(a, b, c) VADD(VMUL((a), (b)), (c)) /* SSE2 has no FMA */
#ifdef CMLP_F32
/* A 4 x 4 transpose folded into the adds. */
static CMLP_INLINE VEC FN(lane_sums)(VEC *v) {
    __m128 ab = _mm_add_ps(_mm_unpacklo_ps(v[0], v[1]), _mm_unpackhi_ps(v[0], v[1]));
    __m128 cd = _mm_add_ps(_mm_unpacklo_ps(v[2], v[3]), _mm_unpackhi_ps(v[2], v[3]));
    return _mm_add_ps(_mm_movelh_ps(ab, cd), _mm_movehl_ps(cd, ab));
}
#else
static CMLP_INLINE VEC FN(lane_sums)(VEC *v) {
    return _mm_add_pd(_mm_unpacklo_pd(v[0], v[1]), _mm_unpackhi_pd(v[0], v[1]));
}
#endif

#elif defined(CMLP_VEC_NEON)
#ifdef CMLP_F32
#define VEC float32x4_t
#define VSUF f32
#define VINT_BITS(v) vreinterpretq_f32_s32(vcvtq_s32_f32(v))
#else
#define VEC float64x2_t
#define VSUF f64
#endif
#define VOP(op) CAT(op, VSUF)
#define VZERO() VOP(vdupq_n)(0)
#define VSET1(x) VOP(vdupq_n)(x)
#define VLOADU(p) VOP(vld1q)(p)
#define VSTOREU(p, v) VOP(vst1q)((p), (v))
#define VSTORE(p, v) VOP(vst1q)((p), (v))
#define VADD(a, b) VOP(vaddq)((a), (b))
#define VSUB(a, b) VOP(vsubq)((a), (b))
#define VMUL(a, b) VOP(vmulq)((a), (b))
#define VMAX(a, b) VOP(vmaxq)((a), (b)) /* NaN in, NaN out */
#define VMIN(a, b) VOP(vminq)((a), (b))
#define VFMA(a, b, c) VOP(vfmaq)((c), (a), (b))
#ifdef CMLP_F32
static CMLP_INLINE VEC FN(lane_sums)(VEC *v) {
    return vpaddq_f32(vpaddq_f32(v[0], v[1]), vpaddq_f32(v[2], v[3]));
}
#else
static CMLP_INLINE VEC FN(lane_sums)(VEC *v) { return vpaddq_f64(v[0], v[1]); }
#endif

#elif defined(CMLP_VEC_SCALAR)
/* Any other processor: one lane, plain C. */
#define VEC T
#define VZERO() ((T)0)
#define VSET1(x) ((T)(x))
#define VLOADU(p) (*(p))
#define VSTOREU(p, v) (*(p) = (v))
#define VSTORE(p, v) (*(p) = (v))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VMAX(c, x) ((x) < (c) ? (c) : (x)) /* false for NaN: x kept */
#define VMIN(c, x) ((x) > (c) ? (c) : (x))
#define VFMA(a, b, c) ((a) * (b) + (c))
#ifdef CMLP_F32
static CMLP_INLINE float FN(int_bits)(float v) {
    int32_t i = v == v ? (int32_t)v : 0; /* NaN: any bits; the caller's result is NaN */
    float f;
    memcpy(&f, &i, sizeof(f));
    return f;
}
#define VINT_BITS(v) FN(int_bits)(v)
#endif
static CMLP_INLINE VEC FN(lane_sums)(VEC *v) { return v[0]; }

#else
#error "vec_ops.h: no instruction set chosen"
#endif
