/* One instruction set's version of the narrow kernels, for one element type.
 * Included by simd_isa.h, which defines T (element type), VW (lanes), TARGET, FN (a name
 * with the set's suffix) and the vector types VEC and UVEC. The code uses GCC vector
 * extensions; the compiler maps them to the target's registers.
 */

/* Z rows [0, R) = X rows [0, R) times WP (K x PAD, the weights with zero-padded columns)
 * plus the padded bias. Each row's outputs sit in NV vectors: every k broadcasts one x per
 * row against the same NV weight vectors, R x NV accumulators in registers, and no
 * horizontal sums. Only the first H of the NV * VW lanes are stored. */
#define FORWARD_TILE(R, NV)                                                                  \
    TARGET static void FN(forward_tile_##R##x##NV)(const T *X, int K, const T *WP,          \
                                                   const T *bias, int H, T *Z) {            \
        VEC acc[R][NV];                                                                     \
        for (int v = 0; v < NV; v++) {                                                      \
            VEC b = *(const UVEC *)(bias + v * VW);                                         \
            for (int r = 0; r < R; r++) acc[r][v] = b;                                      \
        }                                                                                   \
        for (int k = 0; k < K; k++) {                                                       \
            VEC w[NV];                                                                      \
            if (k % (64 / (int)sizeof(T)) == 0) /* each row's next cache lines, early */   \
                for (int r = 0; r < R; r++)                                                 \
                    __builtin_prefetch(X + (ptrdiff_t)r * K + k + PREFETCH_AHEAD);          \
            for (int v = 0; v < NV; v++)                                                    \
                w[v] = *(const UVEC *)(WP + (ptrdiff_t)k * CMLP_NARROW_PAD + v * VW);       \
            for (int r = 0; r < R; r++) {                                                   \
                T x = X[(ptrdiff_t)r * K + k];                                              \
                for (int v = 0; v < NV; v++) acc[r][v] += x * w[v];                         \
            }                                                                               \
        }                                                                                   \
        for (int r = 0; r < R; r++) {                                                       \
            T lanes[NV * VW];                                                               \
            memcpy(lanes, acc[r], sizeof(lanes));                                           \
            memcpy(Z + (ptrdiff_t)r * H, lanes, H * sizeof(T));                             \
        }                                                                                   \
    }

/* All rows for one vector count NV: tiles of R rows (about 12 accumulators), then of M rows,
 * then single rows. A single row has one accumulator chain per vector and runs at FMA
 * latency, not throughput: callers keep row counts multiples of R where they can. */
#define FORWARD_ROWS(NV, R, M)                                                              \
    TARGET static void FN(forward_rows_##NV)(const T *X, ptrdiff_t n, int K, const T *WP,  \
                                             const T *bias, int H, T *Z) {                  \
        ptrdiff_t i = 0;                                                                    \
        for (; i + R <= n; i += R)                                                          \
            FN(forward_tile_##R##x##NV)(X + i * K, K, WP, bias, H, Z + i * H);             \
        for (; i + M <= n; i += M)                                                          \
            FN(forward_tile_##M##x##NV)(X + i * K, K, WP, bias, H, Z + i * H);             \
        for (; i < n; i++)                                                                  \
            FN(forward_tile_1x##NV)(X + i * K, K, WP, bias, H, Z + i * H);                 \
    }

FORWARD_TILE(12, 1)
FORWARD_TILE(4, 1)
FORWARD_TILE(1, 1)
FORWARD_ROWS(1, 12, 4)
#if CMLP_NARROW_PAD / VW >= 2
FORWARD_TILE(6, 2)
FORWARD_TILE(2, 2)
FORWARD_TILE(1, 2)
FORWARD_ROWS(2, 6, 2)
#endif
#if CMLP_NARROW_PAD / VW >= 4
FORWARD_TILE(4, 3)
FORWARD_TILE(2, 3)
FORWARD_TILE(1, 3)
FORWARD_ROWS(3, 4, 2)
FORWARD_TILE(3, 4)
FORWARD_TILE(1, 4)
FORWARD_ROWS(4, 3, 1)
#endif
#if CMLP_NARROW_PAD / VW >= 8
FORWARD_TILE(2, 5)
FORWARD_TILE(1, 5)
FORWARD_ROWS(5, 2, 1)
FORWARD_TILE(2, 6)
FORWARD_TILE(1, 6)
FORWARD_ROWS(6, 2, 1)
FORWARD_TILE(2, 7)
FORWARD_TILE(1, 7)
FORWARD_ROWS(7, 2, 1)
FORWARD_TILE(2, 8)
FORWARD_TILE(1, 8)
FORWARD_ROWS(8, 2, 1)
#endif

TARGET static void FN(forward)(const T *X, ptrdiff_t n, int K, const T *WP, const T *b,
                               int H, T *Z) {
    T bias[CMLP_NARROW_PAD] = {0};
    memcpy(bias, b, H * sizeof(T));
    switch ((H + VW - 1) / VW) {
    case 1: FN(forward_rows_1)(X, n, K, WP, bias, H, Z); break;
#if CMLP_NARROW_PAD / VW >= 2
    case 2: FN(forward_rows_2)(X, n, K, WP, bias, H, Z); break;
#endif
#if CMLP_NARROW_PAD / VW >= 4
    case 3: FN(forward_rows_3)(X, n, K, WP, bias, H, Z); break;
    case 4: FN(forward_rows_4)(X, n, K, WP, bias, H, Z); break;
#endif
#if CMLP_NARROW_PAD / VW >= 8
    case 5: FN(forward_rows_5)(X, n, K, WP, bias, H, Z); break;
    case 6: FN(forward_rows_6)(X, n, K, WP, bias, H, Z); break;
    case 7: FN(forward_rows_7)(X, n, K, WP, bias, H, Z); break;
    case 8: FN(forward_rows_8)(X, n, K, WP, bias, H, Z); break;
#endif
    }
}

/* dWT[j0 .. j0+J) x [k, k + C*VW) += sum_i D[i, j] X[i, k..]: J x C accumulators stay in
 * registers while the rows stream past, so each X line is loaded once per column tile. */
#define ACCUMULATE_TILE(J, C)                                                             \
    TARGET static void FN(accumulate_tile_##J##x##C)(const T *X, ptrdiff_t n, int K,     \
                                                     const T *D, int H, T *dWT) {        \
        VEC acc[J][C];                                                                   \
        for (int j = 0; j < J; j++)                                                      \
            for (int c = 0; c < C; c++)                                                  \
                acc[j][c] = *(const UVEC *)(dWT + (ptrdiff_t)j * K + c * VW);            \
        for (ptrdiff_t i = 0; i < n; i++) {                                              \
            VEC x[C];                                                                    \
            for (int c = 0; c < C; c++) x[c] = *(const UVEC *)(X + i * K + c * VW);      \
            for (int j = 0; j < J; j++) {                                                \
                T d = D[i * H + j];                                                      \
                for (int c = 0; c < C; c++) acc[j][c] += d * x[c];                       \
            }                                                                            \
        }                                                                                \
        for (int j = 0; j < J; j++)                                                      \
            for (int c = 0; c < C; c++)                                                  \
                *(UVEC *)(dWT + (ptrdiff_t)j * K + c * VW) = acc[j][c];                  \
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
    TARGET static void FN(accumulate_columns_##C)(const T *X, ptrdiff_t n, int K,       \
                                                  const T *D, int H, T *dWT) {          \
        int j = 0;                                                                      \
        for (; j + 6 <= H; j += 6)                                                      \
            FN(accumulate_tile_6x##C)(X, n, K, D + j, H, dWT + (ptrdiff_t)j * K);       \
        for (; j + 4 <= H; j += 4)                                                      \
            FN(accumulate_tile_4x##C)(X, n, K, D + j, H, dWT + (ptrdiff_t)j * K);       \
        for (; j + 2 <= H; j += 2)                                                      \
            FN(accumulate_tile_2x##C)(X, n, K, D + j, H, dWT + (ptrdiff_t)j * K);       \
        for (; j < H; j++)                                                              \
            FN(accumulate_tile_1x##C)(X, n, K, D + j, H, dWT + (ptrdiff_t)j * K);       \
    }

ACCUMULATE_COLUMNS(2)
ACCUMULATE_COLUMNS(1)

TARGET static void FN(accumulate)(const T *X, ptrdiff_t n, int K, const T *D, int H,
                                  T *dWT) {
    int k = 0;
    for (; k + 2 * VW <= K; k += 2 * VW) FN(accumulate_columns_2)(X + k, n, K, D, H, dWT + k);
    for (; k + VW <= K; k += VW) FN(accumulate_columns_1)(X + k, n, K, D, H, dWT + k);
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
typedef int FN(ivec) __attribute__((vector_size(VW * sizeof(T))));

TARGET static inline VEC FN(vexp)(VEC x) {
    const VEC lo = (VEC){0} - 87.3365447504f, hi = (VEC){0} + 88.0f;
    const VEC magic = (VEC){0} + 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    FN(ivec) below = x < lo, above = x > hi;
    x = (VEC)((below & (FN(ivec))lo) | (~below & (FN(ivec))x));
    x = (VEC)((above & (FN(ivec))hi) | (~above & (FN(ivec))x));
    VEC n = (x * 1.44269504088896341f + magic) - magic;
    VEC r = x - n * 0.693359375f + n * 2.12194440e-4f;
    VEC p = (VEC){0} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    VEC y = p * r * r + r + 1.0f;
    FN(ivec) bits = (__builtin_convertvector(n, FN(ivec)) + 127) << 23;
    return y * (VEC)bits;
}

TARGET static void FN(exp_inplace)(T *x, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + VW <= n; i += VW) *(UVEC *)(x + i) = FN(vexp)(*(const UVEC *)(x + i));
    if (i < n) { /* the tail through one padded vector */
        T lanes[VW] = {0};
        memcpy(lanes, x + i, (n - i) * sizeof(T));
        VEC v;
        memcpy(&v, lanes, sizeof(v));
        v = FN(vexp)(v);
        memcpy(lanes, &v, sizeof(v));
        memcpy(x + i, lanes, (n - i) * sizeof(T));
    }
}
#endif

#undef FORWARD_TILE
#undef FORWARD_ROWS
#undef ACCUMULATE_TILE
#undef ACCUMULATE_COLUMNS
