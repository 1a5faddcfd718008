/* One instruction set's version of the narrow kernels, for one element type.
 * Included by narrow.c with T (element type), VW (lanes), SUFFIX and TARGET defined.
 * The code uses GCC vector extensions; the compiler maps them to the target's registers.
 */
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SUFFIX)
#define VEC FN(vec)
#define UVEC FN(uvec)

typedef T VEC __attribute__((vector_size(VW * sizeof(T))));
/* The same vector type with element alignment, for unaligned loads and stores. */
typedef T UVEC __attribute__((vector_size(VW * sizeof(T)), aligned(sizeof(T))));

/* Sum of the lanes as a tree (log2(VW) dependent adds, not VW): the forward kernel does
 * one of these per row and output, so a serial chain here dominated narrow layers. */
TARGET static inline T FN(hsum)(VEC v) {
    T lanes[VW];
    memcpy(lanes, &v, sizeof(v));
    for (int width = VW / 2; width >= 1; width /= 2)
        for (int lane = 0; lane < width; lane++) lanes[lane] += lanes[lane + width];
    return lanes[0];
}

/* Dot products of R rows of X with J rows of WT: out[r][j] = x_r . w_j over K. */
#define FORWARD_TILE(R, J)                                                                    \
    TARGET static void FN(forward_tile_##R##x##J)(const T *X, int K, const T *WT,          \
                                                  const T *b, int H, T *Z) {               \
        VEC acc[R][J];                                                                     \
        for (int r = 0; r < R; r++)                                                        \
            for (int j = 0; j < J; j++) acc[r][j] = (VEC){0};                              \
        int k = 0;                                                                         \
        for (; k + VW <= K; k += VW) {                                                     \
            VEC x[R], w[J];                                                                \
            for (int r = 0; r < R; r++) x[r] = *(const UVEC *)(X + (ptrdiff_t)r * K + k);  \
            for (int j = 0; j < J; j++) w[j] = *(const UVEC *)(WT + (ptrdiff_t)j * K + k); \
            for (int r = 0; r < R; r++)                                                    \
                for (int j = 0; j < J; j++) acc[r][j] += x[r] * w[j];                      \
        }                                                                                  \
        for (int r = 0; r < R; r++)                                                        \
            for (int j = 0; j < J; j++) {                                                  \
                T total = FN(hsum)(acc[r][j]);                                             \
                for (int kk = k; kk < K; kk++)                                             \
                    total += X[(ptrdiff_t)r * K + kk] * WT[(ptrdiff_t)j * K + kk];         \
                Z[(ptrdiff_t)r * H + j] = b[j] + total;                                    \
            }                                                                              \
    }

FORWARD_TILE(2, 4)
FORWARD_TILE(2, 2)
FORWARD_TILE(2, 1)
FORWARD_TILE(1, 4)
FORWARD_TILE(1, 2)
FORWARD_TILE(1, 1)

#define FORWARD_ROWS(R)                                                                 \
    TARGET static void FN(forward_rows_##R)(const T *X, int K, const T *WT, const T *b, \
                                            int H, T *Z) {                             \
        int j = 0;                                                                     \
        for (; j + 4 <= H; j += 4)                                                     \
            FN(forward_tile_##R##x4)(X, K, WT + (ptrdiff_t)j * K, b + j, H, Z + j);    \
        for (; j + 2 <= H; j += 2)                                                     \
            FN(forward_tile_##R##x2)(X, K, WT + (ptrdiff_t)j * K, b + j, H, Z + j);    \
        for (; j < H; j++)                                                             \
            FN(forward_tile_##R##x1)(X, K, WT + (ptrdiff_t)j * K, b + j, H, Z + j);    \
    }

FORWARD_ROWS(2)
FORWARD_ROWS(1)

TARGET static void FN(forward)(const T *X, ptrdiff_t n, int K, const T *WT, const T *b,
                               int H, T *Z) {
    ptrdiff_t i = 0;
    for (; i + 2 <= n; i += 2) FN(forward_rows_2)(X + i * K, K, WT, b, H, Z + i * H);
    for (; i < n; i++) FN(forward_rows_1)(X + i * K, K, WT, b, H, Z + i * H);
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

#undef FORWARD_TILE
#undef FORWARD_ROWS
#undef ACCUMULATE_TILE
#undef ACCUMULATE_COLUMNS
#undef VEC
#undef UVEC
#undef FN
#undef CAT
#undef CAT_
