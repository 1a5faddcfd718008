"""Forward and backward propagation, the optimizers and the epoch loop, for any depth.

Layout (see _kernels.pxd): one flat parameter array, one flat activation array. Every
matrix product goes through cmlp._blas.gemm. The per-element loops are plain C loops on
raw pointers; the Python entry points at the bottom take typed memoryviews, release the
GIL once and run a whole step or a whole epoch without it.

The equations (per batch of n rows, L layers, hidden activation f):
    A_0 = X,  A_l = f(A_{l-1} W_l + b_l),  P = softmax(A_{L-1} W_L + b_L)
    loss = mean_i(-log P[i, y_i]) + l2/2 * sum_l |W_l|^2
    D_L = (P - onehot(y)) / n
    dW_l = A_{l-1}^T D_l + l2 W_l,   db_l = column sums of D_l
    D_{l-1} = (D_l W_l^T) * f'(A_{l-1})     (f' written in terms of f's output)
"""
from cython cimport floating
from libc.math cimport exp, expf, log, tanh, tanhf, sqrt
from libc.string cimport memcpy
from libc.stdint cimport int64_t

from cmlp._blas cimport gemm


# ---------------------------------------------------------------------------------------
# Element-wise pieces

cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef void _add_bias_rows(floating* Z, const floating* b, Py_ssize_t n, int width) noexcept nogil:
    """Every row of Z (n x width) becomes b; the gemm then adds the product (beta = 1)."""
    cdef Py_ssize_t i
    for i in range(n):
        memcpy(Z + i * width, b, width * sizeof(floating))


cdef void _activate(floating* A, Py_ssize_t size, int activation) noexcept nogil:
    cdef Py_ssize_t i
    if activation == RELU:
        for i in range(size):
            if A[i] < 0:
                A[i] = 0
    elif activation == TANH:
        for i in range(size):
            if floating is float:
                A[i] = tanhf(A[i])
            else:
                A[i] = tanh(A[i])
    else:  # LOGISTIC
        for i in range(size):
            A[i] = 1 / (1 + _exp(-A[i]))


cdef void _multiply_by_derivative(floating* D, const floating* A, Py_ssize_t size,
                                  int activation) noexcept nogil:
    """D *= f'(Z), with f' expressed through A = f(Z), so Z need not be kept."""
    cdef Py_ssize_t i
    if activation == RELU:
        for i in range(size):
            if A[i] <= 0:
                D[i] = 0
    elif activation == TANH:
        for i in range(size):
            D[i] *= 1 - A[i] * A[i]
    else:  # LOGISTIC
        for i in range(size):
            D[i] *= A[i] * (1 - A[i])


cdef void _column_sums(const floating* D, Py_ssize_t n, int width, floating* out) noexcept nogil:
    cdef Py_ssize_t i, j
    for j in range(width):
        out[j] = 0
    for i in range(n):
        for j in range(width):
            out[j] += D[i * width + j]


# ---------------------------------------------------------------------------------------
# Forward, loss, backward, update

cdef void forward(const floating* X, Py_ssize_t n, const int* sizes, int n_layers,
                  const floating* params, int activation, floating* acts) noexcept nogil:
    """Fill acts with every layer's output; the last layer holds the logits (no softmax)."""
    cdef const floating* inputs = X
    cdef const floating* W = params
    cdef floating* out = acts
    cdef int l, n_in, n_out
    for l in range(n_layers):
        n_in = sizes[l]
        n_out = sizes[l + 1]
        _add_bias_rows(out, W + <Py_ssize_t> n_in * n_out, n, n_out)
        gemm(False, False, <int> n, n_out, n_in, <floating> 1, inputs, n_in, W, n_out,
             <floating> 1, out, n_out)
        if l < n_layers - 1:
            _activate(out, n * n_out, activation)
        inputs = out
        out += n * n_out
        W += <Py_ssize_t> n_in * n_out + n_out


cdef void softmax_cross_entropy(floating* Z, const int* y, Py_ssize_t n, int n_classes,
                                double* loss_sum, Py_ssize_t* n_correct) noexcept nogil:
    """Logits to probabilities in place, row by row, shifting by the row max before exp.

    With labels y (not NULL) it also adds each row's cross-entropy, log-sum-exp minus the
    true logit (never log of a probability), to loss_sum and counts argmax hits.
    """
    cdef Py_ssize_t i
    cdef int j, best
    cdef floating top, total, true_logit = 0
    cdef floating* z
    for i in range(n):
        z = Z + i * n_classes
        best = 0
        top = z[0]
        for j in range(1, n_classes):
            if z[j] > top:
                top = z[j]
                best = j
        if y != NULL:
            true_logit = z[y[i]]
        total = 0
        for j in range(n_classes):
            z[j] = _exp(z[j] - top)
            total += z[j]
        for j in range(n_classes):
            z[j] /= total
        if y != NULL:
            loss_sum[0] += log(<double> total) + top - true_logit
            if best == y[i]:
                n_correct[0] += 1


cdef double backward(const floating* X, const int* y, Py_ssize_t n, const int* sizes,
                     int n_layers, const floating* params, int activation, double l2,
                     floating* acts, floating* delta_a, floating* delta_b,
                     floating* grads) noexcept nogil:
    """Gradients of the mean loss into grads (same layout as params); returns the L2 penalty.

    Expects acts from forward() with the last layer already turned into probabilities,
    and overwrites those with the output delta. delta_a and delta_b each hold
    n x (widest hidden layer) values; the deltas of hidden layers alternate between them.
    """
    cdef Py_ssize_t i, p, n_w, param_offset = 0, output_offset = 0
    cdef int l, n_in, n_out, n_classes = sizes[n_layers]
    cdef double penalty = 0
    cdef floating scale = <floating> (1.0 / n)
    cdef floating* delta
    cdef floating* spare = delta_a
    cdef floating* inputs
    cdef const floating* W
    cdef floating* gW

    # Walk to the last layer's offsets; the loop below steps back from there.
    for l in range(n_layers - 1):
        param_offset += <Py_ssize_t> sizes[l] * sizes[l + 1] + sizes[l + 1]
        output_offset += n * sizes[l + 1]

    # Output delta (P - onehot(y)) / n, in place over the probabilities.
    delta = acts + output_offset
    for i in range(n):
        delta[i * n_classes + y[i]] -= 1
    for p in range(n * n_classes):
        delta[p] *= scale

    for l in range(n_layers - 1, -1, -1):
        n_in = sizes[l]
        n_out = sizes[l + 1]
        n_w = <Py_ssize_t> n_in * n_out
        W = params + param_offset
        gW = grads + param_offset
        inputs = <floating*> X if l == 0 else acts + output_offset - n * n_in
        gemm(True, False, n_in, n_out, <int> n, <floating> 1, inputs, n_in, delta, n_out,
             <floating> 0, gW, n_out)
        _column_sums(delta, n, n_out, gW + n_w)
        if l2 != 0:
            for p in range(n_w):
                penalty += <double> W[p] * W[p]
                gW[p] += <floating> l2 * W[p]
        if l > 0:
            gemm(False, True, <int> n, n_in, n_out, <floating> 1, delta, n_out, W, n_out,
                 <floating> 0, spare, n_in)
            _multiply_by_derivative(spare, inputs, n * n_in, activation)
            delta = spare
            spare = delta_b if delta == delta_a else delta_a
            param_offset -= <Py_ssize_t> sizes[l - 1] * n_in + n_in
            output_offset -= n * n_in
    return 0.5 * l2 * penalty


cdef double loss_and_gradients_step(const floating* X, const int* y, Py_ssize_t n,
                                    const int* sizes, int n_layers, const floating* params,
                                    int activation, double l2, floating* acts,
                                    floating* delta_a, floating* delta_b, floating* grads,
                                    Py_ssize_t* n_correct) noexcept nogil:
    """Forward, loss and backward over one batch; returns the mean loss with its penalty."""
    cdef double loss_sum = 0
    cdef Py_ssize_t last = 0
    cdef int l
    for l in range(n_layers - 1):
        last += n * sizes[l + 1]
    forward(X, n, sizes, n_layers, params, activation, acts)
    softmax_cross_entropy(acts + last, y, n, sizes[n_layers], &loss_sum, n_correct)
    return loss_sum / n + backward(X, y, n, sizes, n_layers, params, activation, l2,
                                   acts, delta_a, delta_b, grads)


cdef void update(floating* params, const floating* grads, Py_ssize_t n_params,
                 OptimizerConfig* config, floating* state_a, floating* state_b) noexcept nogil:
    """One optimizer step over the flat parameters, in PyTorch's formulation.

    MOMENTUM: v = mu v + g; p -= lr v.  NESTEROV: the same v; p -= lr (g + mu v).
    ADAM: m = b1 m + (1-b1) g; s = b2 s + (1-b2) g^2; p -= lr m_hat / (sqrt(s_hat) + eps).
    """
    cdef Py_ssize_t i
    cdef floating lr = <floating> config.learning_rate
    cdef floating mu = <floating> config.momentum
    cdef floating b1 = <floating> config.beta1
    cdef floating b2 = <floating> config.beta2
    cdef floating eps = <floating> config.epsilon
    cdef floating step_size, root_correction
    config.step += 1
    if config.kind == SGD:
        for i in range(n_params):
            params[i] -= lr * grads[i]
    elif config.kind == MOMENTUM or config.kind == NESTEROV:
        for i in range(n_params):
            state_a[i] = mu * state_a[i] + grads[i]
        if config.kind == MOMENTUM:
            for i in range(n_params):
                params[i] -= lr * state_a[i]
        else:
            for i in range(n_params):
                params[i] -= lr * (grads[i] + mu * state_a[i])
    else:  # ADAM
        step_size = <floating> (config.learning_rate / (1 - config.beta1 ** config.step))
        root_correction = <floating> sqrt(1 - config.beta2 ** config.step)
        for i in range(n_params):
            state_a[i] = b1 * state_a[i] + (1 - b1) * grads[i]
            state_b[i] = b2 * state_b[i] + (1 - b2) * grads[i] * grads[i]
            params[i] -= step_size * state_a[i] / (
                (<floating> sqrt(state_b[i])) / root_correction + eps)


# ---------------------------------------------------------------------------------------
# Python entry points: typed memoryviews in, one nogil block each.

def predict_proba(const floating[:, ::1] X, const floating[::1] params, const int[::1] sizes,
                  int activation, floating[::1] acts, floating[:, ::1] out):
    """Class probabilities of every row of X into out, chunk by chunk through acts.

    acts must hold chunk * sum(sizes[1:]) values; the chunk is derived from its length.
    """
    cdef int n_layers = sizes.shape[0] - 1
    cdef Py_ssize_t width = 0, chunk, start, rows, last = 0, i
    cdef int n_classes = sizes[n_layers]
    cdef int l
    for l in range(1, n_layers + 1):
        width += sizes[l]
    chunk = acts.shape[0] // width
    with nogil:
        start = 0
        while start < X.shape[0]:
            rows = min(chunk, X.shape[0] - start)
            last = rows * (width - n_classes)
            forward(&X[start, 0], rows, &sizes[0], n_layers, &params[0], activation, &acts[0])
            softmax_cross_entropy(&acts[last], NULL, rows, n_classes, NULL, NULL)
            memcpy(&out[start, 0], &acts[last], rows * n_classes * sizeof(floating))
            start += rows


def loss_and_gradients(const floating[:, ::1] X, const int[::1] y, const floating[::1] params,
                       const int[::1] sizes, int activation, double l2,
                       floating[::1] acts, floating[::1] delta_a, floating[::1] delta_b,
                       floating[::1] grads):
    """Mean loss (with penalty) and number of correct argmax predictions; gradients to grads."""
    cdef Py_ssize_t n_correct = 0
    cdef double loss
    with nogil:
        loss = loss_and_gradients_step(&X[0, 0], &y[0], X.shape[0], &sizes[0],
                                       sizes.shape[0] - 1, &params[0], activation, l2,
                                       &acts[0], &delta_a[0], &delta_b[0], &grads[0],
                                       &n_correct)
    return loss, n_correct


def train_epoch(const floating[:, ::1] X, const int[::1] y, const int64_t[::1] order,
                Py_ssize_t batch_size, floating[::1] params, const int[::1] sizes,
                int activation, double l2, dict optimizer,
                floating[::1] state_a, floating[::1] state_b,
                floating[::1] acts, floating[::1] delta_a, floating[::1] delta_b,
                floating[::1] grads, floating[:, ::1] x_batch, int[::1] y_batch):
    """One pass over X in batches, updating params after each; all of it without the GIL.

    order is a permutation of the rows (rows are gathered into x_batch/y_batch) or None
    (rows are taken in place, in file order). optimizer holds the OptimizerConfig fields;
    its "step" is advanced. Returns (mean loss over the epoch, correct predictions).
    """
    cdef OptimizerConfig config
    cdef Py_ssize_t n = X.shape[0], n_features = X.shape[1], start, rows, r
    cdef Py_ssize_t n_correct = 0
    cdef int n_layers = sizes.shape[0] - 1
    cdef double loss_sum = 0
    cdef bint gather = order is not None
    cdef const floating* xb
    cdef const int* yb
    # Optimizers without state are handed empty arrays.
    cdef floating* state_a_data = &state_a[0] if state_a.shape[0] > 0 else NULL
    cdef floating* state_b_data = &state_b[0] if state_b.shape[0] > 0 else NULL
    config.kind = optimizer["kind"]
    config.learning_rate = optimizer["learning_rate"]
    config.momentum = optimizer["momentum"]
    config.beta1 = optimizer["beta1"]
    config.beta2 = optimizer["beta2"]
    config.epsilon = optimizer["epsilon"]
    config.step = optimizer["step"]
    with nogil:
        start = 0
        while start < n:
            rows = min(batch_size, n - start)
            if gather:
                for r in range(rows):
                    memcpy(&x_batch[r, 0], &X[order[start + r], 0],
                           n_features * sizeof(floating))
                    y_batch[r] = y[order[start + r]]
                xb = &x_batch[0, 0]
                yb = &y_batch[0]
            else:
                xb = &X[start, 0]
                yb = &y[start]
            loss_sum += rows * loss_and_gradients_step(
                xb, yb, rows, &sizes[0], n_layers, &params[0], activation, l2, &acts[0],
                &delta_a[0], &delta_b[0], &grads[0], &n_correct)
            update(&params[0], &grads[0], params.shape[0], &config,
                   state_a_data, state_b_data)
            start += rows
    optimizer["step"] = config.step
    return loss_sum / n, n_correct
