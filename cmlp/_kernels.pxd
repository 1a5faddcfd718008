# INTERNAL to cmlp: not installed, no stable interface; it changes with any commit. Other
# projects use the public API in cmlp/inference.pxd (README, "Embedding").
#
# The compiled core of cmlp, shared by its extension modules.
#
# Every function trusts its inputs (the Python layer, cmlp/network.py, validates them) and
# runs without the GIL. The layouts of the parameters, of a block's activations and of the
# packed narrow weights are stated once, in cmlp/_layers.pxd, whose layer_at every walk over
# the layers reads.
#
# Narrow layers (few outputs, many inputs; see is_narrow) run on their own kernels, which
# read the weights from `packed` (pack_narrow_layers: transposed, one row per output) and
# accumulate their weight gradients transposed, as (fan_out x fan_in), in `narrow_grads`
# (add_narrow_gradients adds them to the gradients in the params layout).
from cython cimport floating
from libc.stdint cimport int64_t

from cmlp._codes cimport (Activation, Loss, OptimizerKind, RELU, TANH, LOGISTIC, IDENTITY,
                          CROSS_ENTROPY, SQUARED_ERROR, BINARY_CROSS_ENTROPY, POISSON,
                          SGD, MOMENTUM, NESTEROV, ADAM)
from cmlp._settings cimport Dropout, DropoutPlan, Objective, OptimizerConfig, OptimizerSettings
from cmlp._layers cimport Layer, inputs_at, is_narrow, layer_at
from cmlp._workspace cimport Work, Workspace, cmlp_publish_rows

# Ctrl-C inside long loops without the GIL (see _src/interrupt.h).
cdef extern from "interrupt.h" nogil:
    ctypedef struct cmlp_interrupt:
        double interval
        long checks
        long interrupt_at
    void cmlp_interrupt_init(cmlp_interrupt* s)
    void cmlp_interrupt_set_interval(cmlp_interrupt* s, double interval)
    int cmlp_interrupt_poll(cmlp_interrupt* s, int is_caller)
    int cmlp_interrupt_stopped(const cmlp_interrupt* s)

cdef struct Net:
    const int* sizes      # n_layers + 1 layer sizes
    int n_layers
    int activation        # an Activation
    Py_ssize_t n_params
    Py_ssize_t act_width  # sizes[1] + ... + sizes[n_layers]: activation values per row
    bint has_narrow       # some layer runs on the narrow kernels
    # The objective (set_objective; make_net gives unweighted cross-entropy). Targets and
    # weights are indexed by row of the data, not of a block (see output_step).
    int loss              # a Loss
    const void* targets   # all but CROSS_ENTROPY: n x sizes[n_layers] values of the params' type
    const void* weights   # per-row sample weights of the params' type, or NULL (all 1)
    bint l2_per_weight    # divide l2 by the batch's weight sum (scikit-learn's alpha)

cdef struct Columns:       # a block's inputs without the columns zero in all its rows
    const void* values    # rows x count values of the params' type: those kept, in order
    const int* index      # count column numbers, rising
    int count             # 0: nothing left out (values and index unused)

cdef struct UpdateRule:   # one optimizer step
    const OptimizerConfig* config
    double step_size      # ADAM: the learning rate with this step's bias corrections
    double epsilon        # ADAM: epsilon scaled to match

cdef void interrupt_start(cmlp_interrupt* interrupt) noexcept nogil

cdef void interrupt_finish(const cmlp_interrupt* interrupt) noexcept nogil

cdef bint polled_gemm(bint trans_a, bint trans_b, int m, int n, int k, const floating* A,
                      int lda, const floating* B, int ldb, floating beta, floating* C,
                      int ldc, cmlp_interrupt* interrupt, bint caller) noexcept nogil

cdef bint product(bint trans_a, int m, int n, int k, const floating* A, int lda,
                  const floating* B, int ldb, bint accumulate, floating* C,
                  int ldc, cmlp_interrupt* interrupt, bint caller) noexcept nogil

cdef void simd_product(int m, int n, int k, const floating* A, int lda, const floating* B,
                       int ldb, const int* b_rows, bint accumulate, floating* C,
                       int ldc) noexcept nogil

cdef void add_column_sums(const floating* D, Py_ssize_t n, int stride, Py_ssize_t first,
                          Py_ssize_t stop, floating* out) noexcept nogil

cdef double add_l2(floating* grads, const floating* W, Py_ssize_t size,
                   double l2) noexcept nogil

cdef void activate(floating* A, Py_ssize_t size, int activation) noexcept nogil

cdef void multiply_by_derivative(floating* D, const floating* A, Py_ssize_t size,
                                 int activation) noexcept nogil

cdef void narrow_forward(const floating* X, Py_ssize_t n, int K, const floating* WT,
                         const floating* b, int H, floating* Z) noexcept nogil

cdef void pack_narrow_rows(const floating* W, int n_in, int n_out, Py_ssize_t first,
                           Py_ssize_t stop, floating* packed) noexcept nogil

cdef void pack_narrow_layers(const int* sizes, int n_layers, const floating* params,
                             floating* packed) noexcept nogil

cdef bint compacts_inputs(const Net* net, const Work* work, Py_ssize_t rows) noexcept nogil

cdef void mark_nonzero_columns(const floating* X, Py_ssize_t rows, int n_features,
                               int* marks) noexcept nogil

cdef Columns gather_columns(const floating* X, Py_ssize_t rows, Py_ssize_t first,
                            Py_ssize_t stop, int n_features, const int* marks, int n_marks,
                            int* index, floating* values) noexcept nogil

cdef bint input_weight_gradient(const Layer* layer, const floating* X,
                                const Columns* columns, Py_ssize_t rows, int first, int stop,
                                const floating* delta, bint accumulate, floating* gW,
                                cmlp_interrupt* interrupt, bint caller) noexcept nogil

cdef bint wide_preactivations(const Layer* layer, const floating* inputs,
                              const Columns* columns, Py_ssize_t rows, const floating* params,
                              int first, int stop, floating* out, cmlp_interrupt* interrupt,
                              bint caller) noexcept nogil

cdef bint forward(const Net* net, const floating* X, const Columns* columns, Py_ssize_t n,
                  const floating* params, const floating* packed, floating* acts,
                  const Dropout* drop, int64_t first_position, cmlp_interrupt* interrupt,
                  bint caller) noexcept nogil

cdef void softmax_cross_entropy(floating* Z, const int* y, Py_ssize_t n, int n_classes,
                                double* loss_sum, Py_ssize_t* n_correct) noexcept nogil

cdef void output_delta(floating* P, const int* y, Py_ssize_t n, int n_classes,
                       floating scale) noexcept nogil

cdef double batch_weight(const floating* weights, const int64_t* order, Py_ssize_t first,
                         Py_ssize_t n) noexcept nogil

cdef inline double inverse_weight(double weight) noexcept nogil:
    """1 / S: a batch whose weights are all zero contributes nothing (not NaN)."""
    return 1 / weight if weight > 0 else 0

cdef void output_step(const Net* net, floating* Z, const int* y, const int64_t* order,
                      Py_ssize_t first, Py_ssize_t n, floating scale, double* loss_sum,
                      Py_ssize_t* n_correct) noexcept nogil

cdef bint backward_accumulate(const Net* net, const floating* X, const Columns* columns,
                              Py_ssize_t n, const floating* params, floating* acts,
                              floating* delta_a, floating* delta_b, floating* grads,
                              floating* narrow_grads, const floating* X_next,
                              Py_ssize_t n_next, const Dropout* drop,
                              int64_t first_position, cmlp_interrupt* interrupt,
                              bint caller) noexcept nogil

cdef void add_narrow_gradients(const Net* net, const floating* narrow_grads,
                               floating* grads) noexcept nogil

cdef UpdateRule update_rule(const OptimizerConfig* config, long step) noexcept nogil

cdef void apply_update(const UpdateRule* rule, floating* params, const floating* grads,
                       floating* state_a, floating* state_b, Py_ssize_t n) noexcept nogil

cdef void update(floating* params, const floating* grads, Py_ssize_t n_params,
                 OptimizerConfig* config, floating* state_a, floating* state_b,
                 int n_threads) noexcept nogil

cdef int raise_pending() except -1

cdef Net make_net(const int[::1] sizes, int activation, Py_ssize_t n_params)

cdef void set_objective(Net* net, Objective objective, floating[::1] params) except *

