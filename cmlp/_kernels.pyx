"""Forward and backward propagation, the optimizers and the epoch loop, for any depth.

The equations (per batch of n rows, L layers, hidden activation f):
    A_0 = X,  A_l = f(A_{l-1} W_l + b_l),  P = softmax(A_{L-1} W_L + b_L)
    loss = mean_i(-log P[i, y_i]) + l2/2 * sum_l |W_l|^2
    D_L = (P - onehot(y)) / n
(f may be the identity.) The objective generalises this (output_step, cmlp.reference):
rows weighted by w_i, the mean taken as sum_i w_i loss_i / S with S = sum_i w_i, the
delta D_L = w_i (P - onehot(y_i)) / S; or, for regression, an identity output Z with
loss_i = |Z_i - T_i|^2 / 2 and D_L = w_i (Z_i - T_i) / S; l2 optionally divided by S.
    dW_l = A_{l-1}^T D_l + l2 W_l,   db_l = column sums of D_l
    D_{l-1} = (D_l W_l^T) * f'(A_{l-1})     (f' written in terms of f's output)

Rows are independent until the gradients are summed, so a batch is cut into one chunk per
thread (OpenMP, single-threaded BLAS inside), and each chunk into blocks of rows that go
through forward and backward while they are still in cache. Each thread sums its gradients
privately; the chunks' sums are added in a fixed order, so a thread count always gives the
same result. (Small mini-batches split each layer's units across threads instead:
cmlp/_unit_split.pyx.) Layouts: see _layers.pxd; work buffers: _workspace.pyx. Matrix
products go through product(): the SIMD tile kernels of _src/simd.c, or cmlp._blas.gemm
where those do not fit; narrow layers have kernels of their own in _src/simd.c as well.
"""
import threading

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf, fabs, log, log1p, tanh, tanhf, sqrt, sqrtf
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t

from cmlp._blas cimport gemm
from cmlp._regularization cimport (
    drop_derivative, drop_units, dropping, dropout_config, max_norm_share)
from cmlp._workspace cimport TILE_MAX_ROWS, TILE_MAX_WIDTH

cdef extern from "simd.h" nogil:
    void cmlp_narrow_forward_f32(const float* X, Py_ssize_t n, int K, const float* WT,
                                 const float* b, int H, float* Z)
    void cmlp_narrow_forward_f64(const double* X, Py_ssize_t n, int K, const double* WT,
                                 const double* b, int H, double* Z)
    void cmlp_narrow_accumulate_f32(const float* X, Py_ssize_t n, int K, const float* D,
                                    int H, float* dWT, const void* ahead,
                                    Py_ssize_t ahead_bytes)
    void cmlp_narrow_accumulate_f64(const double* X, Py_ssize_t n, int K, const double* D,
                                    int H, double* dWT, const void* ahead,
                                    Py_ssize_t ahead_bytes)
    int cmlp_simd_select(const char* name)
    const char* cmlp_simd_name()
    const char* cmlp_simd_baseline()
    int cmlp_simd_available(const char* name)
    int cmlp_openmp_enabled()
    void cmlp_exp_f32(float* x, Py_ssize_t n)
    void cmlp_tile_product_f32(int m, int n, int k, const float* A, Py_ssize_t a_row,
                               Py_ssize_t a_col, const float* B, Py_ssize_t ldb,
                               const int* b_rows, float* C, Py_ssize_t ldc, const int* c_rows,
                               int accumulate)
    void cmlp_tile_product_f64(int m, int n, int k, const double* A, Py_ssize_t a_row,
                               Py_ssize_t a_col, const double* B, Py_ssize_t ldb,
                               const int* b_rows, double* C, Py_ssize_t ldc, const int* c_rows,
                               int accumulate)

cdef extern from "denormals.h" nogil:
    unsigned int cmlp_flush_denormals()
    void cmlp_restore_denormals(unsigned int previous)

cdef extern from "team.h" nogil:
    int cmlp_max_threads()

cmlp_simd_select(b"auto")
# Serialises the process-wide switches below (select_simd_path, use_tile_products): with no
# GIL (free-threaded CPython) two threads could otherwise interleave their writes.
_settings_lock = threading.Lock()

# Products over at most this many rows of a batch and with at most this many columns run on
# the tile kernels, the others on BLAS (see product; use_tile_products changes them). The
# defaults are cmlp._workspace's, which sizes the blocks of rows by them.
cdef int tile_max_rows = TILE_MAX_ROWS
cdef int tile_max_width = TILE_MAX_WIDTH
# Whether the first layer leaves out zero input columns (skip_zero_columns; compacts_inputs).
cdef bint skips_zero_columns = True

# Long BLAS products are cut into pieces of about this much work in float64, twice as much
# in float32 (multiply-adds counted as two flops), with a look for Ctrl-C between them
# (polled_gemm): a piece takes some tens of milliseconds on one core, long enough that
# OpenBLAS's packing of the other operand again for each piece costs little.
PIECE_FLOPS = 2.0 ** 30
cdef double piece_flops = PIECE_FLOPS
# The tests' settings of every training call's cmlp_interrupt (interrupt_test_settings),
# and the checks the last one made.
cdef double test_interval = -1  # < 0: the default interval
cdef long test_interrupt_at = 0
cdef long last_checks = 0


# ---------------------------------------------------------------------------------------
# Element-wise pieces

cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef void activate(floating* A, Py_ssize_t size, int activation) noexcept nogil:
    cdef Py_ssize_t i
    # Branch-free selects (not "if x < 0: x = 0"): on random signs a branch mispredicts half
    # the time, and the select vectorises.
    if activation == RELU:
        for i in range(size):
            A[i] = A[i] if A[i] > 0 else 0
    elif activation == TANH:
        for i in range(size):
            if floating is float:
                A[i] = tanhf(A[i])
            else:
                A[i] = tanh(A[i])
    elif activation == LOGISTIC:
        for i in range(size):
            A[i] = 1 / (1 + _exp(-A[i]))
    # IDENTITY: nothing to do


cdef void multiply_by_derivative(floating* D, const floating* A, Py_ssize_t size,
                                 int activation) noexcept nogil:
    """D *= f'(Z), with f' expressed through A = f(Z), so Z need not be kept."""
    cdef Py_ssize_t i
    if activation == RELU:
        for i in range(size):
            D[i] = D[i] if A[i] > 0 else 0
    elif activation == TANH:
        for i in range(size):
            D[i] *= 1 - A[i] * A[i]
    elif activation == LOGISTIC:
        for i in range(size):
            D[i] *= A[i] * (1 - A[i])
    # IDENTITY: f' = 1


cdef void add_column_sums(const floating* D, Py_ssize_t n, int stride, Py_ssize_t first,
                          Py_ssize_t stop, floating* out) noexcept nogil:
    """out[j] += the sum over the n rows of D (row stride stride) of D[:, j], for j in
    [first, stop)."""
    cdef Py_ssize_t i, j
    for i in range(n):
        for j in range(first, stop):
            out[j] += D[i * stride + j]


cdef double add_l2(floating* grads, const floating* W, Py_ssize_t size,
                   double l2) noexcept nogil:
    """grads += l2 W over size weights; returns their sum of squares."""
    cdef Py_ssize_t p
    cdef double squares = 0
    for p in range(size):
        squares += <double> W[p] * W[p]
        grads[p] += <floating> l2 * W[p]
    return squares


# ---------------------------------------------------------------------------------------
# Matrix products

cdef void interrupt_start(cmlp_interrupt* interrupt) noexcept nogil:
    """cmlp_interrupt_init, with the tests' settings if any (interrupt_test_settings)."""
    cmlp_interrupt_init(interrupt)
    if test_interval >= 0:
        cmlp_interrupt_set_interval(interrupt, test_interval)
    interrupt.interrupt_at = test_interrupt_at


cdef void interrupt_finish(const cmlp_interrupt* interrupt) noexcept nogil:
    """Keep the count of checks a training call made, for the tests."""
    global last_checks
    last_checks = interrupt.checks


cdef inline bint _split_rows(int m, int n) noexcept nogil:
    """Whether polled_gemm cuts an m x n result into bands of rows (else of columns).
    Tried on OpenBLAS's dgemm and sgemm over many shapes, the pieces gave every element the
    bits of the whole product when bands of rows were cut and n was a multiple of 8, or bands
    of columns with m and n both multiples of 8 (columns failed in float64 for n = 4 mod 8):
    cut like that where possible, the longer side otherwise (then the last bits may differ
    from an uncut product's, as they do between thread counts)."""
    if n % 8 == 0 and m % 8 != 0:
        return True
    return m >= n


cdef bint polled_gemm(bint trans_a, bint trans_b, int m, int n, int k, const floating* A,
                      int lda, const floating* B, int ldb, floating beta, floating* C,
                      int ldc, cmlp_interrupt* interrupt, bint caller) noexcept nogil:
    """gemm(trans_a, trans_b, m, n, k, 1, A, lda, B, ldb, beta, C, ldc) in pieces of about
    piece_flops, looking for Ctrl-C before each (cmlp_interrupt_poll; thread 0 is the
    caller); returns whether to stop, C then being partly computed. interrupt NULL: one piece.

    Pieces are bands of rows or of columns of C, never a cut of k (that would change the
    sums), 64 wide or a multiple of it, the last one taking the rest: so each element goes
    through the micro-kernel that the whole product gives it (no edge made in the middle,
    no piece small enough for OpenBLAS's small-matrix kernels). OpenBLAS's dgemm and its
    AVX-512 sgemm then give the whole product's bits; its AVX2 sgemm does not."""
    cdef double work = 2.0 * m * n * k
    cdef double budget = piece_flops * (2 if floating is float else 1)
    cdef bint by_rows
    cdef Py_ssize_t total, piece, first = 0, size
    if cmlp_interrupt_poll(interrupt, caller):
        return True
    if interrupt == NULL or work <= budget:
        gemm(trans_a, trans_b, m, n, k, <floating> 1, A, lda, B, ldb, beta, C, ldc)
        return False
    by_rows = _split_rows(m, n)
    if (m if by_rows else n) < 128 <= (n if by_rows else m):
        by_rows = not by_rows  # the chosen side has no room for two pieces
    total = m if by_rows else n
    piece = <Py_ssize_t> (budget / (work / total)) // 64 * 64
    piece = max(64, piece)
    while first < total:
        if first > 0 and cmlp_interrupt_poll(interrupt, caller):
            return True
        size = piece if total - first >= 2 * piece else total - first
        if by_rows:  # row i of op(A) starts at A + i * lda, or at A + i transposed
            gemm(trans_a, trans_b, <int> size, n, k, <floating> 1,
                 A + first * (1 if trans_a else lda), lda, B, ldb, beta, C + first * ldc, ldc)
        else:  # column j of op(B) starts at B + j, or at B + j * ldb transposed
            gemm(trans_a, trans_b, m, <int> size, k, <floating> 1, A, lda,
                 B + first * (ldb if trans_b else 1), ldb, beta, C + first, ldc)
        first += size
    return False


cdef bint product(bint trans_a, int m, int n, int k, const floating* A, int lda,
                  const floating* B, int ldb, bint accumulate, floating* C,
                  int ldc, cmlp_interrupt* interrupt, bint caller) noexcept nogil:
    """C = op(A) B, or C += op(A) B, all row-major; op(A) is A (m x k, row stride lda) or,
    with trans_a, the transpose of A (k x m). The batch's rows are A's rows: m, or k with
    trans_a (the forward product A W, the weight gradient A^T D). Returns whether to stop
    for Ctrl-C (polled_gemm's interrupt and caller), C then being partly computed.

    BLAS packs both operands on every call, which for the thin products of a small batch
    costs about as much as the arithmetic. Measured on one core of a Xeon with AVX-512
    (784 inputs, 128-800 outputs, float32): up to 128 rows the tile kernels run at 110-140
    GFLOP/s where OpenBLAS sgemm reaches 65-125; at 2048 rows OpenBLAS is level or ahead.
    Up to tile_max_width columns the tiles win over whole epochs, by more where the first
    layer leaves out zero input columns, which BLAS cannot; on dense inputs they are level
    with BLAS up to about 1024 columns (float64 full batches lose up to a tenth), beyond
    which BLAS's packed copy of A, reused across all columns, pays off. Which blocks run at
    all on the tiles is _workspace.block_rows's choice."""
    cdef Py_ssize_t a_row = 1 if trans_a else lda
    cdef Py_ssize_t a_col = lda if trans_a else 1
    if (k if trans_a else m) > tile_max_rows or n > tile_max_width:
        return polled_gemm(trans_a, False, m, n, k, A, lda, B, ldb,
                           <floating> (1 if accumulate else 0), C, ldc, interrupt, caller)
    if cmlp_interrupt_poll(interrupt, caller):
        return True
    on_tiles(m, n, k, A, a_row, a_col, B, ldb, NULL, C, ldc, NULL, accumulate)
    return False


cdef void simd_product(int m, int n, int k, const floating* A, int lda, const floating* B,
                       int ldb, const int* b_rows, bint accumulate, floating* C,
                       int ldc) noexcept nogil:
    """C = A B, or C += A B, row-major, always on the tile kernels (never BLAS, whatever the
    sizes): for prediction (cmlp._inference), which must not depend on BLAS's process-wide
    thread pool. Row p of B is row b_rows[p] of the B given (NULL: in order)."""
    on_tiles(m, n, k, A, lda, 1, B, ldb, b_rows, C, ldc, NULL, accumulate)


cdef inline void on_tiles(int m, int n, int k, const floating* A, Py_ssize_t a_row,
                          Py_ssize_t a_col, const floating* B, int ldb, const int* b_rows,
                          floating* C, int ldc, const int* c_rows,
                          bint accumulate) noexcept nogil:
    """The tile kernels' product (_src/simd.h), B's and C's rows optionally picked."""
    if floating is float:
        cmlp_tile_product_f32(m, n, k, A, a_row, a_col, B, ldb, b_rows, C, ldc, c_rows,
                              accumulate)
    else:
        cmlp_tile_product_f64(m, n, k, A, a_row, a_col, B, ldb, b_rows, C, ldc, c_rows,
                              accumulate)


# ---------------------------------------------------------------------------------------
# The first layer on the non-zero columns of its inputs
#
# Inputs such as images are zero in many columns (MNIST's 784 pixels: about 40% of them in
# a batch of 32). A zero input adds exactly nothing to the first layer's sums (W is finite),
# so its products may leave out the columns that are zero in every row of a block: the
# same chains of FMAs over the other columns, in the same order, give the same results
# bit for bit. Only the tile kernels can pick B's and C's rows, so only blocks they take.

cdef bint compacts_inputs(const Net* net, const Work* work, Py_ssize_t rows) noexcept nogil:
    """Whether the first layer's products of a block of rows may skip columns: the
    workspace has room for it and the tile kernels run them."""
    return (skips_zero_columns and work.x_columns != NULL
            and not is_narrow(net.sizes[0], net.sizes[1])
            and rows <= tile_max_rows and net.sizes[1] <= tile_max_width)


cdef void mark_nonzero_columns(const floating* X, Py_ssize_t rows, int n_features,
                               int* marks) noexcept nogil:
    """marks[j] = 1 where column j of X (rows x n_features) holds a non-zero, else 0."""
    cdef Py_ssize_t i
    cdef int j
    cdef const floating* x
    memset(marks, 0, n_features * sizeof(int))
    for i in range(rows):
        x = X + i * n_features
        for j in range(n_features):
            marks[j] = marks[j] | (x[j] != 0)


cdef Columns gather_columns(const floating* X, Py_ssize_t rows, Py_ssize_t first,
                            Py_ssize_t stop, int n_features, const int* marks, int n_marks,
                            int* index, floating* values) noexcept nogil:
    """The columns marked in any of n_marks arrays of marks (n_features apart), listed in
    index (which may be marks itself when n_marks is 1), and rows [first, stop) of X
    restricted to them into values (rows x count). Not worth it (count 0 returned) when
    fewer than an eighth of the columns are left out."""
    cdef Columns columns
    cdef Py_ssize_t i
    cdef int j, p, t, count = 0, marked
    columns.index = index
    columns.values = values
    columns.count = 0
    if n_marks == 1:  # first only count them (vectorised): dense rows stop there
        for j in range(n_features):
            count += marks[j]
    else:
        for j in range(n_features):
            marked = 0
            for t in range(n_marks):
                marked = marked | marks[t * n_features + j]
            count += marked
    if count * 8 > n_features * 7:
        return columns
    count = 0
    for j in range(n_features):  # index may be marks itself: index[count] follows marks[j]
        marked = 0
        for t in range(n_marks):
            marked = marked | marks[t * n_features + j]
        if marked:
            index[count] = j
            count += 1
    columns.count = count
    for i in range(first, stop):
        for p in range(count):
            values[i * count + p] = X[i * n_features + index[p]]
    return columns


cdef bint input_weight_gradient(const Layer* layer, const floating* X,
                                const Columns* columns, Py_ssize_t rows, int first, int stop,
                                const floating* delta, bint accumulate, floating* gW,
                                cmlp_interrupt* interrupt, bint caller) noexcept nogil:
    """Rows [first, stop) of the first layer's weight gradient gW: X (rows x n_in)
    transposed times delta (rows x n_out), or added to them. With columns (count > 0), X's
    kept columns; the rows of gW of the others are zeroed (kept, with accumulate). Returns
    whether to stop for Ctrl-C (see product)."""
    cdef int n_in = layer.n_in, n_out = layer.n_out, lo = 0, hi, j
    cdef const int* index
    if columns == NULL or columns.count == 0:
        return product(True, stop - first, n_out, <int> rows, X + first, n_in, delta, n_out,
                       accumulate, gW + <Py_ssize_t> first * n_out, n_out, interrupt, caller)
    if cmlp_interrupt_poll(interrupt, caller):
        return True
    index = columns.index
    while lo < columns.count and index[lo] < first:
        lo += 1
    hi = lo
    for j in range(first, stop):
        if hi < columns.count and index[hi] == j:
            hi += 1
        elif not accumulate:
            memset(gW + <Py_ssize_t> j * n_out, 0, n_out * sizeof(floating))
    on_tiles(hi - lo, n_out, <int> rows, <const floating*> columns.values + lo, 1,
             columns.count, delta, n_out, NULL, gW, n_out, index + lo, accumulate)
    return False


# ---------------------------------------------------------------------------------------
# Narrow layers

cdef void pack_narrow_rows(const floating* W, int n_in, int n_out, Py_ssize_t first,
                           Py_ssize_t stop, floating* packed) noexcept nogil:
    """Rows [first, stop) of a narrow layer's weights W (n_in x n_out) into packed, the
    layer's transposed copy (n_out x n_in), as the forward kernel reads them: one row of
    weights per output. W is read in order, packed written in n_out streams."""
    cdef Py_ssize_t k
    cdef int j
    for k in range(first, stop):
        for j in range(n_out):
            packed[j * <Py_ssize_t> n_in + k] = W[k * n_out + j]


cdef void pack_narrow_layers(const int* sizes, int n_layers, const floating* params,
                             floating* packed) noexcept nogil:
    """packed gets each narrow layer's transposed weights (pack_narrow_rows), layer after
    layer, for a network of n_layers layers of sizes (params in the layout above)."""
    cdef Layer layer
    cdef int l
    for l in range(n_layers):
        layer = layer_at(sizes, l)
        if layer.narrow:
            pack_narrow_rows(params + layer.weights, layer.n_in, layer.n_out, 0, layer.n_in,
                             packed + layer.packed)


cdef void narrow_forward(const floating* X, Py_ssize_t n, int K, const floating* WT,
                         const floating* b, int H, floating* Z) noexcept nogil:
    if floating is float:
        cmlp_narrow_forward_f32(X, n, K, WT, b, H, Z)
    else:
        cmlp_narrow_forward_f64(X, n, K, WT, b, H, Z)


cdef inline void _narrow_accumulate(const floating* X, Py_ssize_t n, int K,
                                    const floating* D, int H, floating* dWT,
                                    const floating* X_next, Py_ssize_t n_next) noexcept nogil:
    if floating is float:
        cmlp_narrow_accumulate_f32(X, n, K, D, H, dWT, X_next, n_next * sizeof(float))
    else:
        cmlp_narrow_accumulate_f64(X, n, K, D, H, dWT, X_next, n_next * sizeof(double))


# ---------------------------------------------------------------------------------------
# Forward, loss, backward, update

cdef bint wide_preactivations(const Layer* layer, const floating* inputs,
                              const Columns* columns, Py_ssize_t rows, const floating* params,
                              int first, int stop, floating* out, cmlp_interrupt* interrupt,
                              bint caller) noexcept nogil:
    """Output units [first, stop) of a layer that is not narrow, before its activation,
    into out (rows x layer.n_out): each row starts as the biases and the product of the
    inputs (rows x layer.n_in) and W_l's columns is added to it; with columns (count > 0,
    the first layer), of the inputs' kept columns and W's rows of them. Returns whether to
    stop for Ctrl-C (see product), out then being incomplete."""
    cdef Py_ssize_t i
    cdef int n_in = layer.n_in, n_out = layer.n_out
    cdef const floating* W = params + layer.weights + first
    for i in range(rows):
        memcpy(out + i * n_out + first, params + layer.biases + first,
               (stop - first) * sizeof(floating))
    if columns == NULL or columns.count == 0:
        return product(False, <int> rows, stop - first, n_in, inputs, n_in, W, n_out, True,
                       out + first, n_out, interrupt, caller)
    if cmlp_interrupt_poll(interrupt, caller):
        return True
    on_tiles(<int> rows, stop - first, columns.count, <const floating*> columns.values,
             columns.count, 1, W, n_out, columns.index, out + first, n_out, NULL, True)
    return False


cdef bint forward(const Net* net, const floating* X, const Columns* columns, Py_ssize_t n,
                  const floating* params, const floating* packed, floating* acts,
                  const Dropout* drop, int64_t first_position, cmlp_interrupt* interrupt,
                  bint caller) noexcept nogil:
    """Fill acts with every layer's output; the last layer holds the logits (no softmax).
    Returns whether to stop for Ctrl-C (product's interrupt and caller), acts then being
    incomplete. columns: X's non-zero columns (gather_columns), or NULL.

    packed holds the narrow layers' weights from pack_narrow_layers. With drop (training;
    NULL for prediction), hidden outputs go through drop_units, the rows being positions
    first_position.. of the epoch (dropout of the inputs is the caller's)."""
    cdef const floating* inputs
    cdef floating* out
    cdef Layer layer
    cdef int l, n_out
    for l in range(net.n_layers):
        if cmlp_interrupt_poll(interrupt, caller):  # between long passes over wide blocks
            return True
        layer = layer_at(net.sizes, l)
        n_out = layer.n_out
        inputs = X if l == 0 else acts + n * inputs_at(&layer)
        out = acts + n * layer.outputs
        if layer.narrow:
            narrow_forward(inputs, n, layer.n_in, packed + layer.packed, params + layer.biases,
                           n_out, out)
        elif wide_preactivations(&layer, inputs, columns if l == 0 else NULL, n, params, 0,
                                 n_out, out, interrupt, caller):
            return True
        if l < net.n_layers - 1:
            activate(out, n * n_out, net.activation)
            drop_units(out, n, n_out, 0, n_out, drop, l + 1, first_position)
    return False


cdef void softmax_cross_entropy(floating* Z, const int* y, Py_ssize_t n, int n_classes,
                                double* loss_sum, Py_ssize_t* n_correct) noexcept nogil:
    """Logits to probabilities in place, row by row, shifting by the row max before exp.

    With labels y (not NULL) it also adds each row's cross-entropy, log-sum-exp minus the
    true logit (never log of a probability), to loss_sum and counts argmax hits. The logs
    of the row sums are taken 32 rows at a time, as the log of their product.
    The exps run over the whole block at once, so that they vectorise.
    """
    cdef Py_ssize_t i
    cdef int j, best
    cdef floating top, total
    cdef floating* z
    cdef double sums = 1  # product of up to 32 rows' sums, each in [1, n_classes]: one log
    for i in range(n):  # shift by the row max; count hits; take the true logit off the loss
        z = Z + i * n_classes
        best = 0
        top = z[0]
        for j in range(1, n_classes):
            if z[j] > top:
                top = z[j]
                best = j
        for j in range(n_classes):
            z[j] -= top
        if y != NULL:
            loss_sum[0] -= z[y[i]]
            if best == y[i]:
                n_correct[0] += 1
    if floating is float:
        cmlp_exp_f32(Z, n * n_classes)
    else:
        for i in range(n * n_classes):
            Z[i] = exp(Z[i])
    for i in range(n):  # normalise; the log of the sum completes the row's loss
        z = Z + i * n_classes
        total = 0
        for j in range(n_classes):
            total += z[j]
        if y != NULL:
            sums *= total
            if i % 32 == 31 or i == n - 1:
                loss_sum[0] += log(sums)
                sums = 1
        total = 1 / total
        for j in range(n_classes):
            z[j] *= total


cdef void output_delta(floating* P, const int* y, Py_ssize_t n, int n_classes,
                       floating scale) noexcept nogil:
    """The output delta scale * (P - onehot(y)) of n rows, in place over their
    probabilities P."""
    cdef Py_ssize_t i, p
    for i in range(n):
        P[i * n_classes + y[i]] -= 1
    for p in range(n * n_classes):
        P[p] *= scale


cdef inline Py_ssize_t _row(const int64_t* order, Py_ssize_t first, Py_ssize_t r) noexcept nogil:
    """The data row that row r of a block starting at position first holds."""
    return order[first + r] if order != NULL else first + r


cdef double batch_weight(const floating* weights, const int64_t* order, Py_ssize_t first,
                         Py_ssize_t n) noexcept nogil:
    """S, the sum of the sample weights (a Net's weights, NULL if none) of n rows from
    position first; n without weights."""
    cdef Py_ssize_t r
    cdef double total = 0
    if weights == NULL:
        return <double> n
    for r in range(n):
        total += weights[_row(order, first, r)]
    return total


cdef void _elementwise_output_step(int loss, floating* Z, const floating* targets,
                                   const floating* weights, const int64_t* order,
                                   Py_ssize_t first, Py_ssize_t n, int n_out, floating scale,
                                   double* loss_sum) noexcept nogil:
    """output_step for the losses whose output unit stands alone (cmlp.reference._objective):
    BINARY_CROSS_ENTROPY, loss softplus(z) - t z (stable for any z), delta logistic(z) - t;
    POISSON, loss exp(z) - t z + t log t - t, delta exp(z) - t."""
    cdef Py_ssize_t r, row
    cdef int j
    cdef const floating* t
    cdef floating w, z, e, factor
    cdef double row_loss
    for r in range(n):
        row = _row(order, first, r)
        w = weights[row] if weights != NULL else 1
        t = targets + row * n_out
        factor = scale * w
        row_loss = 0
        for j in range(n_out):
            z = Z[r * n_out + j]
            if loss == BINARY_CROSS_ENTROPY:
                e = _exp(-fabs(z))  # in (0, 1]: neither exp overflows
                row_loss += (<double> (z if z > 0 else 0) + log1p(<double> e)
                             - <double> t[j] * z)
                # logistic(z) from e: 1 / (1 + e) for z >= 0, e / (1 + e) below
                Z[r * n_out + j] = factor * ((1 if z >= 0 else e) / (1 + e) - t[j])
            else:
                e = _exp(z)
                row_loss += <double> e - <double> t[j] * z
                if t[j] > 0:
                    row_loss += <double> t[j] * log(<double> t[j]) - t[j]
                Z[r * n_out + j] = factor * (e - t[j])
        loss_sum[0] += w * row_loss


cdef void output_step(const Net* net, floating* Z, const int* y, const int64_t* order,
                      Py_ssize_t first, Py_ssize_t n, floating scale, double* loss_sum,
                      Py_ssize_t* n_correct) noexcept nogil:
    """The output layer of a block of n rows: adds their loss, sum_i w_i loss_i, to loss_sum
    (and, for cross-entropy, the argmax hits to n_correct) and overwrites their outputs Z
    with the delta scale * w_i * dloss_i/dz (scale = 1 / S, see batch_weight).

    y holds the block's labels (cross-entropy); the block's row r is the data's row
    order[first + r] (first + r if order is NULL), where its target and weight are read.
    """
    cdef const floating* weights = <const floating*> net.weights
    cdef const floating* targets = <const floating*> net.targets
    cdef const floating* t
    cdef int j, n_out = net.sizes[net.n_layers]
    cdef Py_ssize_t r, row
    cdef floating w, d, factor
    cdef double row_loss
    if net.loss == CROSS_ENTROPY:
        if weights == NULL:  # the fast path: whole block, one log per 32 rows
            softmax_cross_entropy(Z, y, n, n_out, loss_sum, n_correct)
            output_delta(Z, y, n, n_out, scale)
            return
        for r in range(n):
            w = weights[_row(order, first, r)]
            row_loss = 0
            softmax_cross_entropy(Z + r * n_out, y + r, 1, n_out, &row_loss, n_correct)
            loss_sum[0] += w * row_loss
            output_delta(Z + r * n_out, y + r, 1, n_out, scale * w)
    elif net.loss == BINARY_CROSS_ENTROPY or net.loss == POISSON:
        _elementwise_output_step(net.loss, Z, targets, weights, order, first, n, n_out,
                                 scale, loss_sum)
    else:  # SQUARED_ERROR
        for r in range(n):
            row = _row(order, first, r)
            w = weights[row] if weights != NULL else 1
            t = targets + row * n_out
            row_loss = 0
            factor = scale * w
            for j in range(n_out):
                d = Z[r * n_out + j] - t[j]
                row_loss += <double> d * d
                Z[r * n_out + j] = factor * d
            loss_sum[0] += 0.5 * w * row_loss


cdef bint backward_accumulate(const Net* net, const floating* X, const Columns* columns,
                              Py_ssize_t n, const floating* params, floating* acts,
                              floating* delta_a, floating* delta_b, floating* grads,
                              floating* narrow_grads, const floating* X_next,
                              Py_ssize_t n_next, const Dropout* drop,
                              int64_t first_position, cmlp_interrupt* interrupt,
                              bint caller) noexcept nogil:
    """Add the gradients of n rows to grads (params layout), except the weight gradients of
    narrow layers, which go transposed, as (fan_out x fan_in), to narrow_grads, layer after
    layer (add_narrow_gradients moves them into grads).

    Expects acts from forward() with the last layer already turned into the output delta
    (output_step), which carries the scale and the weights. delta_a and delta_b each hold
    n x (widest hidden layer) values; the deltas of hidden layers alternate between them.
    X_next (NULL if none) is the next n_next rows the caller will pass: a narrow first layer
    pulls them toward the cache while it works on these. drop and columns: forward's (deltas
    of dropped units are 0, kept ones scaled). Returns whether to stop for Ctrl-C
    (forward's interrupt and caller), grads then being incomplete.
    """
    cdef Layer layer
    cdef int l, n_in, n_out
    cdef floating* delta = acts + n * layer_at(net.sizes, net.n_layers - 1).outputs
    cdef floating* spare = delta_a
    cdef floating* inputs
    cdef const floating* W
    cdef floating* gW

    for l in range(net.n_layers - 1, -1, -1):
        if cmlp_interrupt_poll(interrupt, caller):  # between long passes over wide blocks
            return True
        layer = layer_at(net.sizes, l)
        n_in, n_out = layer.n_in, layer.n_out
        W = params + layer.weights
        gW = grads + layer.weights
        inputs = <floating*> X if l == 0 else acts + n * inputs_at(&layer)
        if layer.narrow:
            _narrow_accumulate(inputs, n, n_in, delta, n_out, narrow_grads + layer.packed,
                               X_next if l == 0 else NULL, n_next * n_in)
        elif l == 0:
            if input_weight_gradient(&layer, inputs, columns, n, 0, n_in, delta, True, gW,
                                     interrupt, caller):
                return True
        elif product(True, n_in, n_out, <int> n, inputs, n_in, delta, n_out, True, gW, n_out,
                     interrupt, caller):
            return True
        add_column_sums(delta, n, n_out, 0, n_out, gW + <Py_ssize_t> n_in * n_out)
        if l > 0:
            if polled_gemm(False, True, <int> n, n_in, n_out, delta, n_out, W, n_out,
                           <floating> 0, spare, n_in, interrupt, caller):
                return True
            if dropping(drop, l):
                drop_derivative(spare, inputs, n, n_in, 0, n_in, net.activation, drop, l,
                                first_position)
            else:
                multiply_by_derivative(spare, inputs, n * n_in, net.activation)
            delta = spare
            spare = delta_b if delta == delta_a else delta_a
    return False


cdef void add_narrow_gradients(const Net* net, const floating* narrow_grads,
                               floating* grads) noexcept nogil:
    """grads += the narrow layers' weight gradients that backward_accumulate left transposed."""
    cdef const floating* dWT
    cdef floating* dW
    cdef Layer layer
    cdef Py_ssize_t k
    cdef int l, j
    for l in range(net.n_layers):
        layer = layer_at(net.sizes, l)
        if layer.narrow:
            dWT = narrow_grads + layer.packed
            dW = grads + layer.weights
            for k in range(layer.n_in):
                for j in range(layer.n_out):
                    dW[k * layer.n_out + j] += dWT[<Py_ssize_t> j * layer.n_in + k]


cdef UpdateRule update_rule(const OptimizerConfig* config, long step) noexcept nogil:
    """Update number step (counted from 1) of this optimizer."""
    cdef UpdateRule rule
    rule.config = config
    # lr m_hat / (sqrt(s_hat) + eps) = step_size m / (sqrt(s) + eps'), with the bias
    # corrections folded into two per-step constants so the Adam loop vectorises.
    rule.step_size = (config.learning_rate * sqrt(1 - config.beta2 ** step)
                      / (1 - config.beta1 ** step))
    rule.epsilon = config.epsilon * sqrt(1 - config.beta2 ** step)
    return rule


cdef void apply_update(const UpdateRule* rule, floating* params, const floating* grads,
                       floating* state_a, floating* state_b, Py_ssize_t n) noexcept nogil:
    """One optimizer step over n parameters, in PyTorch's formulation.

    MOMENTUM: v = mu v + g; p -= lr v.  NESTEROV: the same v; p -= lr (g + mu v).
    ADAM: m = b1 m + (1-b1) g; s = b2 s + (1-b2) g^2; p -= lr m_hat / (sqrt(s_hat) + eps).
    Element-wise, so any split of the parameters across threads gives the same result.
    """
    cdef Py_ssize_t i
    cdef floating lr = <floating> rule.config.learning_rate
    cdef floating mu = <floating> rule.config.momentum
    cdef floating b1 = <floating> rule.config.beta1
    cdef floating b2 = <floating> rule.config.beta2
    cdef floating step_size = <floating> rule.step_size
    cdef floating eps = <floating> rule.epsilon
    cdef int kind = rule.config.kind
    if kind == SGD:
        for i in range(n):
            params[i] -= lr * grads[i]
    elif kind == MOMENTUM:
        for i in range(n):
            state_a[i] = mu * state_a[i] + grads[i]
            params[i] -= lr * state_a[i]
    elif kind == NESTEROV:
        for i in range(n):
            state_a[i] = mu * state_a[i] + grads[i]
            params[i] -= lr * (grads[i] + mu * state_a[i])
    else:  # ADAM
        for i in range(n):
            state_a[i] = b1 * state_a[i] + (1 - b1) * grads[i]
            state_b[i] = b2 * state_b[i] + (1 - b2) * grads[i] * grads[i]
            params[i] -= step_size * state_a[i] / (_sqrt(state_b[i]) + eps)


cdef void update(floating* params, const floating* grads, Py_ssize_t n_params,
                 OptimizerConfig* config, floating* state_a, floating* state_b,
                 int n_threads) noexcept nogil:
    """The next optimizer step over all parameters, split in n_threads contiguous chunks.

    state_a and state_b are NULL for optimizers that keep no such state."""
    cdef Py_ssize_t chunk = (n_params + n_threads - 1) // n_threads, first
    cdef int t
    cdef unsigned int fp_mode
    cdef UpdateRule rule
    config.step += 1
    rule = update_rule(config, config.step)
    for t in prange(n_threads, num_threads=n_threads, schedule="static", chunksize=1):
        first = t * chunk
        if first < n_params:
            fp_mode = cmlp_flush_denormals()
            apply_update(&rule, params + first, grads + first,
                         state_a + first if state_a != NULL else NULL,
                         state_b + first if state_b != NULL else NULL,
                         min(chunk, n_params - first))
            cmlp_restore_denormals(fp_mode)


# ---------------------------------------------------------------------------------------
# A batch across threads

cdef void _thread_pass(const Net* net, const Work* work, int t, const floating* X,
                       const int* y, const int64_t* order, Py_ssize_t start, Py_ssize_t stop,
                       floating scale, const floating* params, floating* grads,
                       const Dropout* drop) noexcept nogil:
    """Thread t's share of a batch: rows [start, stop), block by block; their gradients are
    summed into grads (params layout), which it zeroes first. drop: dropout (or NULL), the
    rows' positions in the epoch being their indices into order."""
    cdef Py_ssize_t n_features = net.sizes[0], rows, next_rows, r, block_start
    cdef int n_layers = net.n_layers
    cdef floating* acts = <floating*> work.acts + t * work.block_rows * net.act_width
    cdef floating* delta_a = <floating*> work.delta_a + t * work.block_rows * work.delta_width
    cdef floating* delta_b = <floating*> work.delta_b + t * work.block_rows * work.delta_width
    cdef floating* x_block = <floating*> work.x_block + t * work.block_rows * n_features
    cdef floating* narrow_grads = <floating*> work.narrow_grads + t * work.narrow_size
    cdef int* y_block = work.y_block + t * work.block_rows
    cdef floating* x_columns = (<floating*> work.x_columns + t * work.block_rows * n_features
                                if work.x_columns != NULL else NULL)
    cdef int* marks = work.column_marks + t * n_features
    cdef Columns columns
    cdef const floating* xb
    cdef const int* yb
    cdef bint drop_inputs = dropping(drop, 0)
    cdef unsigned int fp_mode = cmlp_flush_denormals()
    memset(grads, 0, net.n_params * sizeof(floating))
    memset(narrow_grads, 0, work.narrow_size * sizeof(floating))
    work.loss[t] = 0
    work.correct[t] = 0
    block_start = start
    while block_start < stop:
        if cmlp_interrupt_poll(<cmlp_interrupt*> work.interrupt, t == 0):
            break  # Ctrl-C: train_epoch drops this batch's gradients
        rows = min(work.block_rows, stop - block_start)
        if order != NULL:
            for r in range(rows):
                memcpy(x_block + r * n_features, X + order[block_start + r] * n_features,
                       n_features * sizeof(floating))
                if y != NULL:  # regression has targets (read in place) instead of labels
                    y_block[r] = y[order[block_start + r]]
            xb = x_block
            yb = y_block
        elif drop_inputs:  # a copy to drop inputs in
            memcpy(x_block, X + block_start * n_features, rows * n_features * sizeof(floating))
            xb = x_block
            yb = y + block_start if y != NULL else NULL
        else:
            xb = X + block_start * n_features
            yb = y + block_start if y != NULL else NULL
        if drop_inputs:
            drop_units(x_block, rows, n_features, 0, n_features, drop, 0, block_start)
        columns.count = 0
        if compacts_inputs(net, work, rows):
            mark_nonzero_columns(xb, rows, <int> n_features, marks)
            columns = gather_columns(xb, rows, 0, rows, <int> n_features, marks, 1,
                                     work.column_index + t * n_features, x_columns)
        if forward(net, xb, &columns, rows, params, <floating*> work.packed, acts, drop,
                   block_start, <cmlp_interrupt*> work.interrupt, t == 0):
            break
        output_step(net, acts + rows * (net.act_width - net.sizes[n_layers]), yb, order,
                    block_start, rows, scale, &work.loss[t], &work.correct[t])
        # The next block, pulled toward the cache meanwhile where its rows are contiguous.
        next_rows = (0 if order != NULL or drop_inputs
                     else min(work.block_rows, stop - block_start - rows))
        if backward_accumulate(net, xb, &columns, rows, params, acts, delta_a, delta_b, grads,
                               narrow_grads, xb + rows * n_features if next_rows else NULL,
                               next_rows, drop, block_start, <cmlp_interrupt*> work.interrupt,
                               t == 0):
            break
        block_start += rows
    if net.has_narrow:
        add_narrow_gradients(net, narrow_grads, grads)
    cmlp_restore_denormals(fp_mode)


cdef void _add_other_threads(const Net* net, const Work* work, int n_threads,
                             floating* grads) noexcept nogil:
    """grads (thread 0's sums) += the sums of threads 1, 2, ... in that order."""
    cdef Py_ssize_t p
    cdef int t
    cdef const floating* parts = <floating*> work.grads
    cdef floating total
    for p in prange(net.n_params, num_threads=n_threads, schedule="static"):
        total = grads[p]  # assignments, not +=, so Cython keeps total private to each thread
        for t in range(n_threads - 1):
            total = total + parts[t * net.n_params + p]
        grads[p] = total


cdef double _add_penalty(const Net* net, const floating* params, double l2,
                         floating* grads) noexcept nogil:
    """grads += l2 W for every weight (not bias); returns the penalty l2/2 sum W^2."""
    cdef Layer layer
    cdef double squares = 0
    cdef int l
    if l2 == 0:
        return 0
    for l in range(net.n_layers):
        layer = layer_at(net.sizes, l)
        squares += add_l2(grads + layer.weights, params + layer.weights,
                          layer.biases - layer.weights, l2)
    return 0.5 * l2 * squares


cdef double _batch_gradients(const Net* net, const Work* work, const floating* X,
                             const int* y, const int64_t* order, Py_ssize_t start,
                             Py_ssize_t n, const floating* params, double l2,
                             floating* grads, Py_ssize_t* n_correct,
                             const Dropout* drop) noexcept nogil:
    """Gradients of rows [start, start + n) (of order, if given) into grads; returns the
    (weighted) mean loss with its penalty and adds the correct predictions to n_correct."""
    cdef int t, n_threads = <int> min(<Py_ssize_t> work.n_threads, n)
    cdef Py_ssize_t chunk = (n + n_threads - 1) // n_threads
    cdef double inverse = inverse_weight(batch_weight(<const floating*> net.weights, order,
                                                      start, n))
    cdef floating scale = <floating> inverse
    cdef double loss = 0
    pack_narrow_layers(net.sizes, net.n_layers, params, <floating*> work.packed)
    if n_threads == 1:  # no OpenMP region: cheaper for small batches
        _thread_pass(net, work, 0, X, y, order, start, start + n, scale, params, grads, drop)
    else:
        for t in prange(n_threads, num_threads=n_threads, schedule="static", chunksize=1):
            _thread_pass(net, work, t, X, y, order, start + t * chunk,
                         start + min(n, (t + 1) * chunk), scale, params,
                         grads if t == 0 else <floating*> work.grads + (t - 1) * net.n_params,
                         drop)
        _add_other_threads(net, work, n_threads, grads)
    for t in range(n_threads):
        loss += work.loss[t]
        n_correct[0] += work.correct[t]
    return loss * inverse + _add_penalty(net, params, l2 * inverse if net.l2_per_weight else l2,
                                         grads)


# ---------------------------------------------------------------------------------------
# Python entry points: typed memoryviews in, one nogil block each.

def use_tile_products(int max_rows=TILE_MAX_ROWS, int max_width=TILE_MAX_WIDTH):
    """Products over up to max_rows rows of a batch and with up to max_width columns run on
    the tile kernels, the others on BLAS (0: BLAS for all); no arguments restore the
    defaults. Returns the previous (max_rows, max_width). For tests and benchmarks."""
    global tile_max_rows, tile_max_width
    with _settings_lock:
        previous = (tile_max_rows, tile_max_width)
        tile_max_rows = max_rows
        tile_max_width = max_width
    return previous


def skip_zero_columns(enabled=None):
    """Whether the first layer's products leave out the columns of a block's inputs that
    are zero in all its rows (the results are the same bits either way); sets it when
    given, returns the previous setting. For tests and benchmarks."""
    global skips_zero_columns
    with _settings_lock:
        previous = bool(skips_zero_columns)
        if enabled is not None:
            skips_zero_columns = bool(enabled)
    return previous


def tile_product(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C,
                 bint trans_a=False, bint accumulate=False):
    """C = op(A) B (or +=) through product(); A's row stride is its stored width. Sizes
    unchecked: for the tests."""
    cdef int m = C.shape[0], n = C.shape[1], k = B.shape[0]
    # with k = 0 (A or B empty) nothing is read from them
    cdef const floating* a = &A[0, 0] if A.shape[0] > 0 else NULL
    cdef const floating* b = &B[0, 0] if k > 0 else NULL
    with nogil:
        product(trans_a, m, n, k, a, <int> A.shape[1], b, n, accumulate, &C[0, 0], n, NULL,
                True)


def interrupt_test_settings(interval=None, interrupt_at=0, piece=None):
    """For the tests: every later training call (train_epoch, loss_and_gradients, the unit
    split's train_epoch) looks for Ctrl-C every interval seconds (None: the default), acts
    as if Ctrl-C came just before its check number interrupt_at (counted from 1; 0: never),
    and cuts BLAS products into pieces of about piece flops (None: PIECE_FLOPS; float32
    pieces take twice as many). Returns the previous settings as a tuple to pass back."""
    global test_interval, test_interrupt_at, piece_flops
    with _settings_lock:
        previous = (None if test_interval < 0 else test_interval, test_interrupt_at,
                    piece_flops)
        test_interval = -1 if interval is None else interval
        test_interrupt_at = interrupt_at
        piece_flops = PIECE_FLOPS if piece is None else piece
    return previous


def interrupt_checks():
    """How many times the last training call's thread looked for Ctrl-C (ran Python's
    signal handlers): for the tests."""
    return last_checks


def denormal_product(float a, float b):
    """a * b in float32 the way the kernels compute (denormals flushed): for the tests."""
    cdef unsigned int fp_mode
    cdef volatile float x = a, y = b, z
    with nogil:
        fp_mode = cmlp_flush_denormals()
        z = x * y
        cmlp_restore_denormals(fp_mode)
    return z


def simd_path():
    """The instruction set the SIMD kernels use: "avx512", "avx_fma" or "generic"."""
    return cmlp_simd_name().decode()


def simd_baseline():
    """What the "generic" path computes with: "sse2" (x86-64), "neon" (arm64) or "scalar"
    (other targets, and builds with CMLP_SCALAR_KERNELS defined)."""
    return cmlp_simd_baseline().decode()


def simd_available(str name):
    return bool(cmlp_simd_available(name.encode()))


def select_simd_path(str name):
    """Force the SIMD kernels onto one instruction set ("auto" picks the best)."""
    cdef int status
    with _settings_lock:
        status = cmlp_simd_select(name.encode())
    if status != 0:
        raise ValueError(f"SIMD path {name!r} is not available on this CPU")


def openmp_enabled():
    """Whether this build runs threads of its own (OpenMP); without, n_threads goes to BLAS."""
    return bool(cmlp_openmp_enabled())


def openmp_max_threads():
    """omp_get_max_threads() for this thread (1 without OpenMP): see cmlp._threads."""
    return cmlp_max_threads()


cdef int raise_pending() except -1:
    """Propagate the exception a signal handler left set (see _src/interrupt.h)."""
    return -1


cdef Net make_net(const int[::1] sizes, int activation, Py_ssize_t n_params):
    cdef Net net
    cdef int l
    net.sizes = &sizes[0]
    net.n_layers = sizes.shape[0] - 1
    net.activation = activation
    net.n_params = n_params
    net.act_width = 0
    net.has_narrow = False
    for l in range(1, sizes.shape[0]):
        net.act_width += sizes[l]
        net.has_narrow = net.has_narrow or is_narrow(sizes[l - 1], sizes[l])
    net.loss = CROSS_ENTROPY
    net.targets = NULL
    net.weights = NULL
    net.l2_per_weight = False
    return net


cdef void set_objective(Net* net, Objective objective, floating[::1] params) except *:
    """net's objective (None: unweighted cross-entropy). Its arrays must outlive the call
    that uses net: the objective holds them."""
    cdef const floating[:, ::1] targets
    cdef const floating[::1] weights
    if objective is None:
        return
    net.loss = objective.loss
    net.l2_per_weight = objective.l2_per_weight
    if objective.targets is not None:
        targets = objective.targets
        net.targets = &targets[0, 0]
    if objective.sample_weight is not None:
        weights = objective.sample_weight
        net.weights = &weights[0]


def loss_and_gradients(const floating[:, ::1] X, const int[::1] y, floating[::1] params,
                       const int[::1] sizes, int activation, double l2,
                       Workspace workspace not None, floating[::1] grads, Objective objective=None,
                       DropoutPlan dropout=None):
    """Mean loss (with penalty) and number of correct argmax predictions; gradients to grads.

    y is None for SQUARED_ERROR; objective None is the unweighted cross-entropy; dropout
    (X's rows are the epoch's first rows) may be None."""
    cdef Net net = make_net(sizes, activation, params.shape[0])
    cdef Work work = workspace.view(sizeof(floating))
    cdef Dropout drop = dropout_config(dropout)
    cdef Py_ssize_t n_correct = 0
    cdef double loss
    cdef const int* y_data = &y[0] if y is not None else NULL
    cdef cmlp_interrupt interrupt
    set_objective(&net, objective, params)
    interrupt_start(&interrupt)
    work.interrupt = &interrupt
    with nogil:
        loss = _batch_gradients(&net, &work, &X[0, 0], y_data, NULL, 0, X.shape[0],
                                &params[0], l2, &grads[0], &n_correct,
                                &drop if drop.n_layers > 0 else NULL)
        cmlp_interrupt_poll(&interrupt, True)
    interrupt_finish(&interrupt)
    if cmlp_interrupt_stopped(&interrupt):
        raise_pending()  # grads are incomplete
    return loss, n_correct


def train_epoch(const floating[:, ::1] X, const int[::1] y, const int64_t[::1] order,
                Py_ssize_t batch_size, floating[::1] params, const int[::1] sizes,
                int activation, double l2, OptimizerSettings optimizer not None,
                floating[::1] state_a, floating[::1] state_b, Workspace workspace not None,
                floating[::1] grads, Objective objective=None, DropoutPlan dropout=None,
                double max_norm=0):
    """One pass over X in batches, updating params after each; all of it without the GIL.

    order is a permutation of the rows (each batch takes the next rows of it) or None
    (rows in place, in order). optimizer.step is advanced by the updates made. y is None
    for SQUARED_ERROR; objective None is the unweighted cross-entropy; dropout may be None;
    max_norm > 0 bounds each hidden unit's incoming weights after every update. Returns
    (mean loss over the epoch, each batch's counted by its rows; correct predictions).
    """
    cdef Net net = make_net(sizes, activation, params.shape[0])
    cdef Work work = workspace.view(sizeof(floating))
    cdef OptimizerConfig config = optimizer.config()
    cdef Py_ssize_t n = X.shape[0], start, rows, n_correct = 0
    cdef double loss_sum = 0
    cdef Dropout drop = dropout_config(dropout)
    cdef const Dropout* drop_ptr = &drop if drop.n_layers > 0 else NULL
    cdef int t
    cdef const int64_t* order_data = &order[0] if order is not None else NULL
    # Optimizers without state are handed empty arrays.
    cdef floating* state_a_data = &state_a[0] if state_a.shape[0] > 0 else NULL
    cdef floating* state_b_data = &state_b[0] if state_b.shape[0] > 0 else NULL
    cdef const int* y_data = &y[0] if y is not None else NULL
    cdef cmlp_interrupt interrupt
    set_objective(&net, objective, params)
    interrupt_start(&interrupt)
    work.interrupt = &interrupt
    with nogil:
        start = 0
        cmlp_publish_rows(work.rows_done, 0)
        while start < n and not cmlp_interrupt_poll(&interrupt, True):
            rows = min(batch_size, n - start)
            loss_sum += rows * _batch_gradients(&net, &work, &X[0, 0], y_data, order_data,
                                                start, rows, &params[0], l2, &grads[0],
                                                &n_correct, drop_ptr)
            if cmlp_interrupt_poll(&interrupt, True):
                break  # the gradients are incomplete: the weights stay the last update's
            update(&params[0], &grads[0], net.n_params, &config, state_a_data, state_b_data,
                   work.n_threads)
            if max_norm > 0:
                for t in prange(work.n_threads, num_threads=work.n_threads, schedule="static",
                                chunksize=1):
                    max_norm_share(net.sizes, net.n_layers, &params[0], max_norm,
                                   work.n_threads, t)
            start += rows
            cmlp_publish_rows(work.rows_done, start)
    interrupt_finish(&interrupt)
    optimizer.step = config.step  # Ctrl-C included: Adam's next bias correction follows on
    if cmlp_interrupt_stopped(&interrupt):
        raise_pending()
    return loss_sum / n, n_correct
