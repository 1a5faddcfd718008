/* One instruction set's version of the tile product, for one element type.
 * Included by simd_isa.h, which defines T, VW, FN, ENTRY and VEC (see narrow_impl.h),
 * the tile shapes TILE_ROWS x TILE_VECS (the main tile) and SLIM_ROWS x 1 (for a last panel
 * one vector wide), and TILE_DEPTH (rows of B per chunk).
 *
 * C (m x n) = op(A) B, or C += op(A) B, with B and C row-major and
 * op(A)[r, p] = A[r * a_row + p * a_col] (A itself, or its transpose). A tile of C stays in
 * registers while p runs down a chunk of TILE_DEPTH rows of B: each step loads a few vectors
 * of one row of B and multiplies them by one broadcast value of op(A) per tile row. The
 * chunk of B, one tile wide, stays in cache while the row tiles go past; A is read where it
 * lies. For the thin products of a mini-batch this beats BLAS, which packs both operands on
 * every call.
 *
 * Row p of B may be row b_rows[p] of the matrix given, and row r of C row c_rows[r] (either
 * NULL: the rows in order): the first layer's products skip the inputs that are zero in
 * every row of a block that way (cmlp._kernels.gather_columns).
 */

/* Row r of matrix M (row stride ld) as picked: the r-th of rows, or the r-th in order. */
#define PICKED_ROW(M, ld, rows, r) ((M) + (ptrdiff_t)((rows) ? (rows)[r] : (r)) * (ld))

#define PRODUCT_TILE(R, NV)                                                                 \
    static void FN(product_tile_##R##x##NV)(int k, const T *A, ptrdiff_t a_row,            \
                                            ptrdiff_t a_col, const T *B, ptrdiff_t ldb,     \
                                            T *C, ptrdiff_t ldc, const int *c_rows,         \
                                            int accumulate) {                               \
        VEC acc[R][NV];                                                                    \
        for (int r = 0; r < R; r++)                                                        \
            for (int v = 0; v < NV; v++)                                                   \
                acc[r][v] = accumulate ? VLOADU(PICKED_ROW(C, ldc, c_rows, r) + v * VW)    \
                                       : VZERO();                                          \
        for (int p = 0; p < k; p++) {                                                      \
            VEC b[NV];                                                                     \
            for (int v = 0; v < NV; v++) b[v] = VLOADU(B + p * ldb + v * VW);              \
            for (int r = 0; r < R; r++) {                                                  \
                VEC a = VSET1(A[r * a_row + p * a_col]);                                   \
                for (int v = 0; v < NV; v++) acc[r][v] = VFMA(a, b[v], acc[r][v]);         \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < R; r++)                                                        \
            for (int v = 0; v < NV; v++)                                                   \
                VSTOREU(PICKED_ROW(C, ldc, c_rows, r) + v * VW, acc[r][v]);                \
    }

/* Every value of C is one chain of FMAs down p, from C's value or zero, whatever the shape
 * of the tile that holds it, so a row's result never depends on which rows are computed
 * with it (a prediction of one row equals that row's in a batch, bit for bit).
 *
 * A product of a single row (a one-row prediction) runs across many columns at once:
 * NV independent chains, up to ROW_VECS vectors, hide the FMA's latency, and B is read
 * once either way. */
#define ROW_VECS 8
#define PRODUCT_ROW(NV)                                                                     \
    static void FN(product_row_##NV)(int k, const T *A, ptrdiff_t a_col, const T *B,       \
                                     ptrdiff_t ldb, const int *b_rows, T *C,               \
                                     int accumulate) {                                     \
        VEC acc[NV];                                                                       \
        for (int v = 0; v < NV; v++) acc[v] = accumulate ? VLOADU(C + v * VW) : VZERO();   \
        for (int p = 0; p < k; p++) {                                                      \
            VEC a = VSET1(A[p * a_col]);                                                   \
            const T *row = PICKED_ROW(B, ldb, b_rows, p);                                  \
            for (int v = 0; v < NV; v++) acc[v] = VFMA(a, VLOADU(row + v * VW), acc[v]);  \
        }                                                                                  \
        for (int v = 0; v < NV; v++) VSTOREU(C + v * VW, acc[v]);                          \
    }
PRODUCT_ROW(8)
PRODUCT_ROW(4)
PRODUCT_ROW(2)
PRODUCT_ROW(1)

/* Row 0 of C, columns [0, width) (a multiple of VW). */
static void FN(product_row)(int width, int k, const T *A, ptrdiff_t a_col, const T *B,
                            ptrdiff_t ldb, const int *b_rows, T *C, int accumulate) {
    int j = 0;
    for (; j + ROW_VECS * VW <= width; j += ROW_VECS * VW)
        FN(product_row_8)(k, A, a_col, B + j, ldb, b_rows, C + j, accumulate);
    for (; j + 4 * VW <= width; j += 4 * VW)
        FN(product_row_4)(k, A, a_col, B + j, ldb, b_rows, C + j, accumulate);
    for (; j + 2 * VW <= width; j += 2 * VW)
        FN(product_row_2)(k, A, a_col, B + j, ldb, b_rows, C + j, accumulate);
    for (; j < width; j += VW)
        FN(product_row_1)(k, A, a_col, B + j, ldb, b_rows, C + j, accumulate);
}

/* Every row of one panel: whole tiles of R rows, then the rows below them in tiles of 4, 2
 * and 1 rows while the panel's chunk of B is still in cache.
 * (Here and below, MACRO expands TILE_ROWS and the like before MACRO_ pastes them.) */
#if SLIM_ROWS == 4 || SLIM_ROWS == 2 || SLIM_ROWS == 1
#error "SLIM_ROWS would name a tile twice: pick another"
#endif
/* A tile from row i: C and c_rows as it reads them. */
#define PANEL_C(i) (c_rows ? C : C + (i) * ldc)
#define PANEL_ROWS(i) (c_rows ? c_rows + (i) : NULL)
#define PRODUCT_PANEL(R, NV) PRODUCT_PANEL_(R, NV)
#define PRODUCT_PANEL_(R, NV)                                                               \
    PRODUCT_TILE(R, NV)                                                                    \
    PRODUCT_TILE(4, NV)                                                                    \
    PRODUCT_TILE(2, NV)                                                                    \
    PRODUCT_TILE(1, NV)                                                                    \
    static void FN(product_panel_##NV)(int m, int k, const T *A, ptrdiff_t a_row,          \
                                       ptrdiff_t a_col, const T *B, ptrdiff_t ldb, T *C,    \
                                       ptrdiff_t ldc, const int *c_rows, int accumulate) {  \
        int i = 0;                                                                         \
        for (; i + R <= m; i += R)                                                         \
            FN(product_tile_##R##x##NV)(k, A + i * a_row, a_row, a_col, B, ldb,            \
                                        PANEL_C(i), ldc, PANEL_ROWS(i), accumulate);        \
        for (; i + 4 <= m; i += 4)                                                         \
            FN(product_tile_4x##NV)(k, A + i * a_row, a_row, a_col, B, ldb, PANEL_C(i),    \
                                    ldc, PANEL_ROWS(i), accumulate);                        \
        for (; i + 2 <= m; i += 2)                                                         \
            FN(product_tile_2x##NV)(k, A + i * a_row, a_row, a_col, B, ldb, PANEL_C(i),    \
                                    ldc, PANEL_ROWS(i), accumulate);                        \
        if (i < m)                                                                         \
            FN(product_tile_1x##NV)(k, A + i * a_row, a_row, a_col, B, ldb, PANEL_C(i),    \
                                    ldc, PANEL_ROWS(i), accumulate);                        \
    }

PRODUCT_PANEL(TILE_ROWS, TILE_VECS)
PRODUCT_PANEL(SLIM_ROWS, 1)

/* One panel of columns [j, j + width) of C, in chunks of TILE_DEPTH rows of B. Each chunk
 * of the panel is first copied to a contiguous buffer when more than one row tile will
 * read it (rows of a wide B lie a page or more apart, and walking down them directly
 * costs a TLB miss every row or two), and always when b_rows picks B's rows. */
#define PRODUCT_COLUMNS(NV, R) PRODUCT_COLUMNS_(NV, R)
#define PRODUCT_COLUMNS_(NV, R)                                                            \
    static void FN(product_columns_##NV)(int m, int k, const T *A, ptrdiff_t a_row,        \
                                         ptrdiff_t a_col, const T *B, ptrdiff_t ldb,        \
                                         const int *b_rows, T *C, ptrdiff_t ldc,            \
                                         const int *c_rows, int accumulate) {               \
        CMLP_ALIGN64 T packed[TILE_DEPTH * NV * VW];                                       \
        for (int p0 = 0; p0 < k || p0 == 0; p0 += TILE_DEPTH) {                           \
            int depth = k - p0 < TILE_DEPTH ? k - p0 : TILE_DEPTH;                         \
            const T *panel = B + (ptrdiff_t)p0 * ldb;                                      \
            ptrdiff_t stride = ldb;                                                        \
            if (m > R || b_rows) {                                                         \
                for (int p = 0; p < depth; p++) {                                          \
                    const T *row = PICKED_ROW(B, ldb, b_rows, p0 + p);                     \
                    for (int v = 0; v < NV; v++)                                           \
                        VSTORE(packed + (p * NV + v) * VW, VLOADU(row + v * VW));          \
                }                                                                          \
                panel = packed;                                                            \
                stride = NV * VW;                                                          \
            }                                                                              \
            FN(product_panel_##NV)(m, depth, A + p0 * a_col, a_row, a_col, panel, stride,  \
                                   C, ldc, c_rows, accumulate || p0 > 0);                  \
        }                                                                                  \
    }
PRODUCT_COLUMNS(TILE_VECS, TILE_ROWS)
PRODUCT_COLUMNS(1, SLIM_ROWS)

/* The last width (< VW) columns: B's columns copied into zero-padded vectors, and each tile
 * of C computed in a buffer one vector wide, then stored into (or added to) C. */
static void FN(product_tail)(int m, int k, int width, const T *A, ptrdiff_t a_row,
                             ptrdiff_t a_col, const T *B, ptrdiff_t ldb, const int *b_rows,
                             T *C, ptrdiff_t ldc, const int *c_rows, int accumulate) {
    CMLP_ALIGN64 T packed[TILE_DEPTH * VW];
    CMLP_ALIGN64 T tile[SLIM_ROWS * VW];
    for (int p0 = 0; p0 < k || p0 == 0; p0 += TILE_DEPTH) {
        int depth = k - p0 < TILE_DEPTH ? k - p0 : TILE_DEPTH;
        int add = accumulate || p0 > 0;
        for (int p = 0; p < depth; p++) {
            const T *row = PICKED_ROW(B, ldb, b_rows, p0 + p);
            for (int c = 0; c < VW; c++) packed[p * VW + c] = c < width ? row[c] : 0;
        }
        for (int i = 0; i < m; i += SLIM_ROWS) {
            int rows = m - i < SLIM_ROWS ? m - i : SLIM_ROWS;
            const T *a = A + (ptrdiff_t)i * a_row + (ptrdiff_t)p0 * a_col;
            FN(product_panel_1)(rows, depth, a, a_row, a_col, packed, VW, tile, VW, NULL, 0);
            for (int r = 0; r < rows; r++) {
                T *c_row = PICKED_ROW(C, ldc, c_rows, i + r);
                for (int c = 0; c < width; c++)
                    c_row[c] = add ? c_row[c] + tile[r * VW + c] : tile[r * VW + c];
            }
        }
    }
}

/* Panel by panel, or for a single row across all its columns at once; then the last
 * columns (< VW), every row. */
void ENTRY(product)(int m, int n, int k, const T *A, ptrdiff_t a_row, ptrdiff_t a_col,
                    const T *B, ptrdiff_t ldb, const int *b_rows, T *C, ptrdiff_t ldc,
                    const int *c_rows, int accumulate) {
    const int wide_end = n - n % (TILE_VECS * VW), slim_end = n - n % VW;
    if (m == 1) {
        FN(product_row)(slim_end, k, A, a_col, B, ldb, b_rows,
                        PICKED_ROW(C, ldc, c_rows, 0), accumulate);
    } else {
        for (int j = 0; j < wide_end; j += TILE_VECS * VW)
            FN(CAT(product_columns, TILE_VECS))(m, k, A, a_row, a_col, B + j, ldb, b_rows,
                                                C + j, ldc, c_rows, accumulate);
        for (int j = wide_end; j < slim_end; j += VW)
            FN(product_columns_1)(m, k, A, a_row, a_col, B + j, ldb, b_rows, C + j, ldc,
                                  c_rows, accumulate);
    }
    if (slim_end < n)
        FN(product_tail)(m, k, n - slim_end, A, a_row, a_col, B + slim_end, ldb, b_rows,
                         C + slim_end, ldc, c_rows, accumulate);
}

#undef PICKED_ROW
#undef PANEL_C
#undef PANEL_ROWS
#undef PRODUCT_TILE
#undef PRODUCT_ROW
#undef ROW_VECS
#undef PRODUCT_PANEL
#undef PRODUCT_PANEL_
#undef PRODUCT_COLUMNS
#undef PRODUCT_COLUMNS_
