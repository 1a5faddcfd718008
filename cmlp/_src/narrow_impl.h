/* One instruction set's version of the narrow kernels, for one element type.
 * Included by simd_isa.h, which defines T (element type), VW (lanes), FN (a name with the
 * set's suffix), ENTRY (an entry point's name), DOT_ACCUMULATORS (vector accumulators a tile
 * may keep in registers) and, through vec_ops.h, the vector type VEC and its operations.
 */

/* The count (< VW) values at p, then zeros, as a vector. */
static CMLP_INLINE VEC FN(padded)(const T *p, int count) {
    T lanes[VW] = {0};
    memcpy(lanes, p, count * sizeof(T));
    return VLOADU(lanes);
}

/* Z rows [0, R) x columns [0, J) (row stride H) = X rows (K inputs each) times the rows of
 * WT (J x K: the layer's weights transposed, one row per output) plus bias: R x J dot
 * products, each kept as VW partial sums in a register while the inputs stream past and
 * summed across lanes at the end. No lane is wasted on padding, whatever J is.
 *
 * The last K % VW inputs go through the same vector FMA as the others, from copies padded
 * with zeros, so each dot product is the same sequence of operations in a tile of any R:
 * a row's outputs do not depend on the rows computed with it. (Scalar code there would
 * leave fusing to the compiler, which decided differently in different tiles.) */
#define FORWARD_TILE(R, J)                                                                  \
    static void FN(forward_tile_##R##x##J)(const T *X, int K, const T *WT, const T *bias,  \
                                           int H, T *Z) {                                   \
        enum { N = R * J, GROUPS = (N + VW - 1) / VW };                                    \
        VEC acc[GROUPS * VW];                                                               \
        for (int a = 0; a < GROUPS * VW; a++) acc[a] = VZERO();                             \
        int k = 0;                                                                          \
        for (; k + VW <= K; k += VW) {                                                      \
            VEC x[R];                                                                       \
            for (int r = 0; r < R; r++) {                                                   \
                CMLP_PREFETCH(X + (ptrdiff_t)r * K + k + PREFETCH_AHEAD);                   \
                x[r] = VLOADU(X + (ptrdiff_t)r * K + k);                                    \
            }                                                                               \
            for (int j = 0; j < J; j++) {                                                   \
                VEC w = VLOADU(WT + (ptrdiff_t)j * K + k);                                  \
                for (int r = 0; r < R; r++) acc[r * J + j] = VFMA(x[r], w, acc[r * J + j]); \
            }                                                                               \
        }                                                                                   \
        if (k < K) { /* the last K % VW inputs, zero-padded */                            \
            VEC x[R];                                                                       \
            for (int r = 0; r < R; r++) x[r] = FN(padded)(X + (ptrdiff_t)r * K + k, K - k); \
            for (int j = 0; j < J; j++) {                                                   \
                VEC w = FN(padded)(WT + (ptrdiff_t)j * K + k, K - k);                       \
                for (int r = 0; r < R; r++) acc[r * J + j] = VFMA(x[r], w, acc[r * J + j]); \
            }                                                                               \
        }                                                                                   \
        T sums[GROUPS * VW];                                                                \
        for (int g = 0; g < GROUPS; g++) VSTOREU(sums + g * VW, FN(lane_sums)(acc + g * VW)); \
        for (int r = 0; r < R; r++)                                                         \
            for (int j = 0; j < J; j++) Z[(ptrdiff_t)r * H + j] = sums[r * J + j] + bias[j]; \
    }

/* All rows for J outputs: tiles of R rows (about DOT_ACCUMULATORS accumulators), then
 * single rows. Callers keep row counts multiples of R where they can (see network.py). */
#define FORWARD_ROWS(J, R)                                                                  \
    FORWARD_TILE(R, J)                                                                      \
    FORWARD_TILE(1, J)                                                                      \
    static void FN(forward_rows_##J)(const T *X, ptrdiff_t n, int K, const T *WT,          \
                                     const T *bias, int H, T *Z) {                          \
        ptrdiff_t i = 0;                                                                    \
        for (; i + R <= n; i += R)                                                          \
            FN(forward_tile_##R##x##J)(X + i * K, K, WT, bias, H, Z + i * H);               \
        for (; i < n; i++)                                                                  \
            FN(forward_tile_1x##J)(X + i * K, K, WT, bias, H, Z + i * H);                   \
    }

#if DOT_ACCUMULATORS >= 24
#define MAX_DOT_OUTPUTS 8
FORWARD_ROWS(1, 12)
FORWARD_ROWS(2, 12)
FORWARD_ROWS(3, 8)
FORWARD_ROWS(4, 6)
FORWARD_ROWS(5, 4)
FORWARD_ROWS(6, 4)
FORWARD_ROWS(7, 3)
FORWARD_ROWS(8, 3)
#else
#define MAX_DOT_OUTPUTS 4
FORWARD_ROWS(1, 12)
FORWARD_ROWS(2, 6)
FORWARD_ROWS(3, 4)
FORWARD_ROWS(4, 3)
#endif

/* Z (n x H) = X (n x K) W + b, with WT = W transposed (H x K). The outputs go in about
 * equal groups of at most MAX_DOT_OUTPUTS (10 outputs: two groups of 5), each group one
 * pass over the rows. */
void ENTRY(forward)(const T *X, ptrdiff_t n, int K, const T *WT, const T *b, int H, T *Z) {
    int groups = (H + MAX_DOT_OUTPUTS - 1) / MAX_DOT_OUTPUTS;
    for (int g = 0, j = 0; g < groups; g++) {
        int J = (H - j) / (groups - g);
        const T *wt = WT + (ptrdiff_t)j * K;
        switch (J) {
        case 1: FN(forward_rows_1)(X, n, K, wt, b + j, H, Z + j); break;
        case 2: FN(forward_rows_2)(X, n, K, wt, b + j, H, Z + j); break;
        case 3: FN(forward_rows_3)(X, n, K, wt, b + j, H, Z + j); break;
        case 4: FN(forward_rows_4)(X, n, K, wt, b + j, H, Z + j); break;
#if MAX_DOT_OUTPUTS >= 8
        case 5: FN(forward_rows_5)(X, n, K, wt, b + j, H, Z + j); break;
        case 6: FN(forward_rows_6)(X, n, K, wt, b + j, H, Z + j); break;
        case 7: FN(forward_rows_7)(X, n, K, wt, b + j, H, Z + j); break;
        case 8: FN(forward_rows_8)(X, n, K, wt, b + j, H, Z + j); break;
#endif
        }
        j += J;
    }
}

/* The accumulate kernel works from cache (the caller's block of rows was just read by the
 * forward pass); meanwhile it pulls the memory the caller reads next, [*ahead, ahead_end),
 * toward L2, one cache line per row it processes, so the next forward pass need not wait
 * on memory. */
#define PULL_AHEAD(ahead, ahead_end)                                                     \
    if (ahead < ahead_end) {                                                             \
        CMLP_PREFETCH_L2(ahead);                                                         \
        ahead += 64;                                                                     \
    }

/* dWT[j0 .. j0+J) x [k, k + C*VW) += sum_i D[i, j] X[i, k..]: J x C accumulators stay in
 * registers while the rows stream past, so each X line is loaded once per column tile. */
#define ACCUMULATE_TILE(J, C)                                                             \
    static void FN(accumulate_tile_##J##x##C)(const T *X, ptrdiff_t n, int K,            \
                                              const T *D, int H, T *dWT,                 \
                                              const char **ahead,                        \
                                              const char *ahead_end) {                   \
        VEC acc[J][C];                                                                   \
        const char *next = *ahead;                                                       \
        for (int j = 0; j < J; j++)                                                      \
            for (int c = 0; c < C; c++)                                                  \
                acc[j][c] = VLOADU(dWT + (ptrdiff_t)j * K + c * VW);                     \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            VEC x[C];                                                                    \
            PULL_AHEAD(next, ahead_end)                                                  \
            for (int c = 0; c < C; c++) x[c] = VLOADU(X + i * K + c * VW);               \
            for (int j = 0; j < J; j++) {                                                \
                VEC d = VSET1(D[i * H + j]);                                             \
                for (int c = 0; c < C; c++) acc[j][c] = VFMA(d, x[c], acc[j][c]);        \
            }                                                                            \
        }                                                                                \
        for (int j = 0; j < J; j++)                                                      \
            for (int c = 0; c < C; c++)                                                  \
                VSTOREU(dWT + (ptrdiff_t)j * K + c * VW, acc[j][c]);                     \
        *ahead = next;                                                                   \
    }

ACCUMULATE_TILE(6, 2)
ACCUMULATE_TILE(4, 2)
ACCUMULATE_TILE(2, 2)
ACCUMULATE_TILE(1, 2)
ACCUMULATE_TILE(6, 1)
ACCUMULATE_TILE(4, 1)
ACCUMULATE_TILE(2, 1)
ACCUMULATE_TILE(1, 1)

#define ACCUMULATE_COLUMNS(C)                                                            \
    static void FN(accumulate_columns_##C)(const T *X, ptrdiff_t n, int K, const T *D,  \
                                           int H, T *dWT, const char **ahead,           \
                                           const char *ahead_end) {                     \
        int j = 0;                                                                      \
        for (; j + 6 <= H; j += 6)                                                      \
            FN(accumulate_tile_6x##C)(X, n, K, D + j, H, dWT + (ptrdiff_t)j * K, ahead, \
                                      ahead_end);                                       \
        for (; j + 4 <= H; j += 4)                                                      \
            FN(accumulate_tile_4x##C)(X, n, K, D + j, H, dWT + (ptrdiff_t)j * K, ahead, \
                                      ahead_end);                                       \
        for (; j + 2 <= H; j += 2)                                                      \
            FN(accumulate_tile_2x##C)(X, n, K, D + j, H, dWT + (ptrdiff_t)j * K, ahead, \
                                      ahead_end);                                       \
        for (; j < H; j++)                                                              \
            FN(accumulate_tile_1x##C)(X, n, K, D + j, H, dWT + (ptrdiff_t)j * K, ahead, \
                                      ahead_end);                                       \
    }

ACCUMULATE_COLUMNS(2)
ACCUMULATE_COLUMNS(1)

void ENTRY(accumulate)(const T *X, ptrdiff_t n, int K, const T *D, int H, T *dWT,
                       const void *ahead, ptrdiff_t ahead_bytes) {
    const char *next = (const char *)ahead, *end = next ? next + ahead_bytes : NULL;
    int k = 0;
    for (; k + 2 * VW <= K; k += 2 * VW)
        FN(accumulate_columns_2)(X + k, n, K, D, H, dWT + k, &next, end);
    for (; k + VW <= K; k += VW)
        FN(accumulate_columns_1)(X + k, n, K, D, H, dWT + k, &next, end);
    for (; k < K; k++)  /* the last K % VW columns, scalar */
        for (int j = 0; j < H; j++) {
            T total = dWT[(ptrdiff_t)j * K + k];
            for (ptrdiff_t i = 0; i < n; i++) total += D[i * H + j] * X[i * K + k];
            dWT[(ptrdiff_t)j * K + k] = total;
        }
}

#ifdef CMLP_F32
/* exp of every x[i], in place, for the softmax: Cephes' expf (range reduction by ln 2 and
 * a degree-6 polynomial, relative error ~1e-7) on whole vectors. Inputs are clamped to
 * [-87.3, 88]: below, the result is 2^-126 instead of a smaller number, harmless where
 * it is added to exp(0) = 1; NaN stays NaN. */
static CMLP_INLINE VEC FN(vexp)(VEC x) {
    const VEC magic = VSET1(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    x = VMIN(VSET1(88.0f), VMAX(VSET1(-87.3365447504f), x));
    VEC n = VSUB(VFMA(x, VSET1(1.44269504088896341f), magic), magic);
    VEC r = VFMA(n, VSET1(-0.693359375f), x);
    r = VFMA(n, VSET1(2.12194440e-4f), r);
    VEC p = VSET1(1.9875691500e-4f);
    p = VFMA(p, r, VSET1(1.3981999507e-3f));
    p = VFMA(p, r, VSET1(8.3334519073e-3f));
    p = VFMA(p, r, VSET1(4.1665795894e-2f));
    p = VFMA(p, r, VSET1(1.6666665459e-1f));
    p = VFMA(p, r, VSET1(5.0000001201e-1f));
    VEC y = VADD(VFMA(VMUL(p, r), r, r), VSET1(1.0f));
    /* 2^n from its bit pattern, (n + 127) << 23, formed in floats (exact: n is an integer
     * in [-126, 127]) so that no integer vector arithmetic is needed (AVX has none) */
    VEC scale = VINT_BITS(VMUL(VADD(n, VSET1(127.0f)), VSET1(8388608.0f)));
    return VMUL(y, scale);
}

void ENTRY(exp_inplace)(T *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(x + i, FN(vexp)(VLOADU(x + i)));
    if (i < n) { /* the tail through one padded vector */
        T lanes[VW] = {0};
        memcpy(lanes, x + i, (n - i) * sizeof(T));
        VSTOREU(lanes, FN(vexp)(VLOADU(lanes)));
        memcpy(x + i, lanes, (n - i) * sizeof(T));
    }
}
#endif

#undef FORWARD_TILE
#undef FORWARD_ROWS
#undef MAX_DOT_OUTPUTS
#undef ACCUMULATE_TILE
#undef ACCUMULATE_COLUMNS
#undef PULL_AHEAD
