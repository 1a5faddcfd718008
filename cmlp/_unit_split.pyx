"""Mini-batch epochs for small batches on several threads: each thread takes a share of
every layer's units instead of a share of the batch's rows.

The row split of _kernels gives each thread its own copy of the gradients, which are then
added up: for a small batch those passes over every parameter (zeroing, summing) cost as
much as the products themselves. Here thread t owns, in every layer l, a contiguous range
of its inputs (rows k of W_l) and of its outputs (entries of b_l), and computes

    forward   Z_l[:, own outputs]    = A_{l-1} W_l[:, own outputs] + b_l[own outputs]
              (narrow layers, a few outputs: all of them for own rows of the batch)
    backward  dW_l[own inputs, :]    = A_{l-1}[:, own inputs]^T D_l
              db_l[own outputs]      = column sums of D_l[:, own outputs]
              D_{l-1}[:, own inputs] = (D_l W_l[own inputs, :]^T) * f'(A_{l-1}[:, own inputs])

and then updates exactly the parameters whose gradients it wrote, so no gradient is ever
summed across threads and no parameter is touched twice. The threads wait for each other
(a barrier) between layers, since each layer needs all of the previous one's output. The
whole epoch runs in one parallel region. Results depend on the thread count (how the
products are cut), never on timing.

Ctrl-C: thread 0 looks for it between the pieces of its long products (see
_kernels.polled_gemm) and the other threads then skip the rest of theirs, but all of them
keep crossing the same barriers: a thread leaving early would leave the others waiting
for ever. They leave together, on a decision thread 0 writes before a barrier and every
thread reads after it (Epoch.stop), and never between a batch's gradients and its update.
"""
from cython cimport floating
from cython.parallel cimport parallel
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t

from cmlp._kernels cimport (
    Columns, Net, UpdateRule, activate, add_column_sums, add_l2, apply_update,
    batch_weight, cmlp_interrupt, cmlp_interrupt_poll, cmlp_interrupt_stopped,
    compacts_inputs, gather_columns, input_weight_gradient, interrupt_finish,
    interrupt_start, inverse_weight, make_net, mark_nonzero_columns, multiply_by_derivative,
    narrow_forward, output_step, pack_narrow_rows, polled_gemm, product, raise_pending,
    set_objective, update_rule, wide_preactivations)
from cmlp._layers cimport Layer, inputs_at, layer_at
from cmlp._workspace cimport Work, Workspace, cmlp_publish_rows
from cmlp._regularization cimport (
    drop_derivative, drop_units, dropping, dropout_config, max_norm_share)
from cmlp._settings cimport Dropout, DropoutPlan, Objective, OptimizerConfig, OptimizerSettings

cdef extern from "denormals.h" nogil:
    unsigned int cmlp_flush_denormals()
    void cmlp_restore_denormals(unsigned int previous)

cdef extern from "team.h" nogil:
    ctypedef struct cmlp_barrier_t:
        pass
    int cmlp_team_size()
    int cmlp_thread_number()
    void cmlp_barrier_start(cmlp_barrier_t* b)
    void cmlp_barrier_wait(cmlp_barrier_t* b)
    int cmlp_spin_max_ns


cdef struct Share:
    Py_ssize_t first
    Py_ssize_t stop


cdef inline Share _share(Py_ssize_t n, int n_threads, int t) noexcept nogil:
    """Thread t's contiguous part of n items cut in n_threads near-equal parts."""
    cdef Share s
    s.first = n * t // n_threads
    s.stop = n * (t + 1) // n_threads
    return s


cdef struct Epoch:
    # What every thread reads: the data, the parameters, the optimizer and the work buffers.
    const Net* net
    const void* X
    const int* y
    const int64_t* order    # the epoch's row order, or NULL for rows in place
    Py_ssize_t n
    Py_ssize_t batch_size
    void* params
    void* grads
    void* state_a           # NULL for optimizers without state
    void* state_b
    const Work* work        # the workspace's per-thread buffers, each used as one buffer for
                            # the whole batch: acts, delta_a/b, x_block/y_block, x_columns;
                            # per thread: loss and correct for the whole epoch, the column
                            # marks of its rows and its copy of their index; the packed
                            # weights
    const OptimizerConfig* config
    double l2
    const Dropout* drop     # NULL without dropout
    bint skips_columns      # the first layer leaves out zero columns (compacts_inputs):
                            # decided once, so that every thread crosses the same barriers
    double max_norm         # 0: none
    cmlp_barrier_t* barrier # the team's (team.h)
    int* stop               # [before the batch, before its update]: thread 0's decision to
                            # stop for Ctrl-C, written before a barrier, read after it
    long* steps_done        # the optimizer's step after the epoch (or after Ctrl-C stopped
                            # it): written by thread 0


cdef inline floating* _at(void* base, Py_ssize_t offset, floating* kind) noexcept nogil:
    """base, an array of floating, plus offset (kind is only there to pick the type)."""
    return <floating*> base + offset if base != NULL else NULL


cdef void _forward(const Epoch* e, int T, int t, const floating* xb,
                   const Columns* columns, Py_ssize_t rows, Py_ssize_t start) noexcept nogil:
    """Every layer's output for the batch (rows start.. of the epoch): own output units of
    wide layers, own rows of narrow ones, through dropout; a barrier after each layer.
    columns: the batch's non-zero columns (see _columns)."""
    cdef const Net* net = e.net
    cdef floating* acts = <floating*> e.work.acts
    cdef const floating* inputs
    cdef floating* out
    cdef const floating* params = <floating*> e.params
    cdef const floating* b
    cdef Layer layer
    cdef Py_ssize_t i
    cdef int l, n_in, n_out
    cdef Share mine
    for l in range(net.n_layers):
        layer = layer_at(net.sizes, l)
        n_in, n_out = layer.n_in, layer.n_out
        inputs = xb if l == 0 else acts + rows * inputs_at(&layer)
        out = acts + rows * layer.outputs
        b = params + layer.biases
        if layer.narrow:
            mine = _share(rows, T, t)
            if mine.stop > mine.first:
                narrow_forward(inputs + mine.first * n_in, mine.stop - mine.first, n_in,
                               <floating*> e.work.packed + layer.packed, b, n_out,
                               out + mine.first * n_out)
            if l < net.n_layers - 1:
                activate(out + mine.first * n_out, (mine.stop - mine.first) * n_out,
                         net.activation)
                drop_units(out + mine.first * n_out, mine.stop - mine.first, n_out, 0, n_out,
                           e.drop, l + 1, start + mine.first)
        else:
            mine = _share(n_out, T, t)
            if mine.stop > mine.first:
                wide_preactivations(&layer, inputs, columns if l == 0 else NULL, rows, params,
                                    <int> mine.first, <int> mine.stop, out,
                                    <cmlp_interrupt*> e.work.interrupt, t == 0)
                if l < net.n_layers - 1:
                    for i in range(rows):
                        activate(out + i * n_out + mine.first, mine.stop - mine.first,
                                 net.activation)
                    drop_units(out, rows, n_out, mine.first, mine.stop, e.drop, l + 1, start)
        # The output step reads own rows of the logits: a narrow last layer computed them
        # on this thread, so only a wide one needs the barrier.
        if l < net.n_layers - 1 or not layer.narrow:
            cmlp_barrier_wait(e.barrier)


cdef void _backward(const Epoch* e, int T, int t, const floating* xb,
                    const Columns* columns, const int* yb, Py_ssize_t start, Py_ssize_t rows,
                    double inverse, double* loss, Py_ssize_t* correct) noexcept nogil:
    """Output step (loss and delta) of own rows of the batch at position start, whose
    weights sum to 1 / inverse (inverse_weight), then every layer's gradients for own
    units, into e.grads (params layout); a barrier after each step but the last (the
    caller's, with its decision to stop)."""
    cdef const Net* net = e.net
    cdef const floating* params = <floating*> e.params
    cdef floating* grads = <floating*> e.grads
    cdef floating* delta
    cdef floating* spare = <floating*> e.work.delta_a
    cdef floating* other = <floating*> e.work.delta_b
    cdef floating* swap
    cdef const floating* inputs
    cdef floating scale = <floating> inverse
    cdef floating* acts = <floating*> e.work.acts
    cdef floating* gW
    cdef const floating* W
    cdef Layer layer
    cdef Py_ssize_t i
    cdef int l, n_in, n_out, n_classes = net.sizes[net.n_layers]
    cdef double data_loss = 0
    cdef Share mine, ins, outs

    delta = acts + rows * layer_at(net.sizes, net.n_layers - 1).outputs

    # Output delta w_i (P - onehot(y)) / weight of own rows, in place over their logits.
    mine = _share(rows, T, t)
    output_step(net, delta + mine.first * n_classes, yb + mine.first if yb != NULL else NULL,
                e.order, start + mine.first, mine.stop - mine.first, scale, &data_loss,
                correct)
    loss[0] += data_loss * (rows * inverse)  # the batch's mean, counted once per row
    cmlp_barrier_wait(e.barrier)

    for l in range(net.n_layers - 1, -1, -1):
        layer = layer_at(net.sizes, l)
        n_in, n_out = layer.n_in, layer.n_out
        inputs = xb if l == 0 else acts + rows * inputs_at(&layer)
        W = params + layer.weights
        gW = grads + layer.weights
        ins = _share(n_in, T, t)
        outs = _share(n_out, T, t)
        if ins.stop > ins.first and l == 0:
            input_weight_gradient(&layer, inputs, columns, rows, <int> ins.first,
                                  <int> ins.stop, delta, False, gW,
                                  <cmlp_interrupt*> e.work.interrupt, t == 0)
        elif ins.stop > ins.first:
            product(True, <int> (ins.stop - ins.first), n_out, <int> rows, inputs + ins.first,
                    n_in, delta, n_out, False, gW + ins.first * n_out, n_out,
                    <cmlp_interrupt*> e.work.interrupt, t == 0)
        if outs.stop > outs.first:
            memset(grads + layer.biases + outs.first, 0,
                   (outs.stop - outs.first) * sizeof(floating))
            add_column_sums(delta, rows, n_out, outs.first, outs.stop, grads + layer.biases)
        if l > 0:
            if ins.stop > ins.first:
                polled_gemm(False, True, <int> rows, <int> (ins.stop - ins.first), n_out,
                            delta, n_out, W + ins.first * n_out, n_out,
                            <floating> 0, spare + ins.first, n_in,
                            <cmlp_interrupt*> e.work.interrupt, t == 0)
                if dropping(e.drop, l):
                    drop_derivative(spare, inputs, rows, n_in, ins.first, ins.stop,
                                    net.activation, e.drop, l, start)
                else:
                    for i in range(rows):
                        multiply_by_derivative(spare + i * n_in + ins.first,
                                               inputs + i * n_in + ins.first,
                                               ins.stop - ins.first, net.activation)
            delta = spare
            swap = spare
            spare = other
            other = swap
            cmlp_barrier_wait(e.barrier)


cdef void _update_own(const Epoch* e, int T, int t, const UpdateRule* rule,
                      floating* params, floating* grads, Py_ssize_t rows, double l2,
                      double* loss) noexcept nogil:
    """The optimizer step (with the batch's L2, l2) on the parameters whose gradients
    thread t wrote."""
    cdef const Net* net = e.net
    cdef floating* kind = NULL
    cdef Py_ssize_t first, size
    cdef double squares = 0
    cdef Layer layer
    cdef int l, n_in, n_out
    cdef Share ins, outs
    for l in range(net.n_layers):
        layer = layer_at(net.sizes, l)
        n_in, n_out = layer.n_in, layer.n_out
        ins = _share(n_in, T, t)
        outs = _share(n_out, T, t)
        first = layer.weights + ins.first * n_out
        size = (ins.stop - ins.first) * n_out
        if l2 != 0:
            squares += add_l2(grads + first, params + first, size, l2)
        apply_update(rule, params + first, grads + first, _at(e.state_a, first, kind),
                     _at(e.state_b, first, kind), size)
        first = layer.biases + outs.first
        apply_update(rule, params + first, grads + first, _at(e.state_a, first, kind),
                     _at(e.state_b, first, kind), outs.stop - outs.first)
    loss[0] += rows * 0.5 * l2 * squares  # the penalty, counted once per row like the loss


cdef void _pack_own(const Epoch* e, int T, int t, const floating* params) noexcept nogil:
    """Own rows of every narrow layer's transposed weights (pack_narrow_rows), for the forward
    pass; each thread owns the same rows of W in the update."""
    cdef Layer layer
    cdef int l
    cdef Share ins
    for l in range(e.net.n_layers):
        layer = layer_at(e.net.sizes, l)
        if layer.narrow:
            ins = _share(layer.n_in, T, t)
            pack_narrow_rows(params + layer.weights, layer.n_in, layer.n_out, ins.first,
                             ins.stop, <floating*> e.work.packed + layer.packed)


cdef void _gather(const Epoch* e, int T, int t, Py_ssize_t start, Py_ssize_t rows,
                  floating* kind) noexcept nogil:
    """Own share of the batch's rows (in the epoch's order, or in place) into x_block and
    y_block, through input dropout."""
    cdef Py_ssize_t r, row, n_features = e.net.sizes[0]
    cdef Share mine = _share(rows, T, t)
    for r in range(mine.first, mine.stop):
        row = e.order[start + r] if e.order != NULL else start + r
        memcpy(<floating*> e.work.x_block + r * n_features,
               <const floating*> e.X + row * n_features, n_features * sizeof(floating))
        if e.y != NULL:  # regression has targets (read in place) instead of labels
            e.work.y_block[r] = e.y[row]
    drop_units(<floating*> e.work.x_block + mine.first * n_features, mine.stop - mine.first,
               n_features, 0, n_features, e.drop, 0, start + mine.first)


cdef Columns _columns(const Epoch* e, int T, int t, const floating* xb,
                      Py_ssize_t rows) noexcept nogil:
    """The batch's non-zero columns, from every thread's marks of its own rows: each thread
    lists them in its own index (the same list everywhere) and copies its own rows' values.
    Called between two barriers: after the marks, before the first layer."""
    cdef int n_features = e.net.sizes[0]
    cdef Share mine = _share(rows, T, t)
    return gather_columns(xb, rows, mine.first, mine.stop, n_features, e.work.column_marks, T,
                          e.work.column_index + t * n_features, <floating*> e.work.x_columns)


cdef void _run_thread(const Epoch* e, floating* kind) noexcept nogil:
    """One thread's part of the whole epoch."""
    cdef int T = cmlp_team_size(), t = cmlp_thread_number()
    cdef Py_ssize_t start = 0, rows
    cdef long step = e.config.step
    cdef double loss = 0, inverse
    cdef Py_ssize_t correct = 0
    cdef const floating* xb
    cdef const int* yb
    cdef UpdateRule rule
    cdef Columns columns
    cdef Share mine
    cdef int n_features = e.net.sizes[0]
    cdef unsigned int fp_mode = cmlp_flush_denormals()
    cmlp_barrier_start(e.barrier)
    _pack_own(e, T, t, <floating*> e.params)
    while start < e.n:
        if t == 0:  # the caller's thread looks for Ctrl-C (see _src/interrupt.h)
            e.stop[0] = cmlp_interrupt_poll(<cmlp_interrupt*> e.work.interrupt, True)
        rows = min(e.batch_size, e.n - start)
        if e.order != NULL or dropping(e.drop, 0):
            _gather(e, T, t, start, rows, kind)
            xb = <floating*> e.work.x_block
            yb = e.work.y_block if e.y != NULL else NULL
        else:
            xb = <const floating*> e.X + start * e.net.sizes[0]
            yb = e.y + start if e.y != NULL else NULL
        if e.skips_columns:
            mine = _share(rows, T, t)
            mark_nonzero_columns(xb + mine.first * n_features, mine.stop - mine.first,
                                 n_features, e.work.column_marks + t * n_features)
        # Every thread sums the same weights in the same order: the same S everywhere.
        inverse = inverse_weight(batch_weight(<const floating*> e.net.weights, e.order,
                                              start, rows))
        cmlp_barrier_wait(e.barrier)  # the batch's rows, marks and packed weights are complete
        if e.stop[0]:
            break  # every thread, after the same barrier: the last update stays whole
        columns.count = 0
        if e.skips_columns:
            columns = _columns(e, T, t, xb, rows)
            if columns.count:
                cmlp_barrier_wait(e.barrier)  # every row's kept columns are copied
        _forward(e, T, t, xb, &columns, rows, start)
        _backward(e, T, t, xb, &columns, yb, start, rows, inverse, &loss, &correct)
        if t == 0:  # set once some product stopped part-way: the gradients are incomplete
            e.stop[1] = cmlp_interrupt_stopped(<cmlp_interrupt*> e.work.interrupt)
        cmlp_barrier_wait(e.barrier)  # every gradient is complete (or abandoned)
        if e.stop[1]:
            break  # every thread, the parameters as the last update left them
        step += 1
        rule = update_rule(e.config, step)
        _update_own(e, T, t, &rule, <floating*> e.params, <floating*> e.grads, rows,
                    e.l2 * inverse if e.net.l2_per_weight else e.l2, &loss)
        if e.max_norm > 0:  # on column shares, across the row shares just updated
            cmlp_barrier_wait(e.barrier)
            max_norm_share(e.net.sizes, e.net.n_layers, <floating*> e.params, e.max_norm,
                           T, t)
            cmlp_barrier_wait(e.barrier)
        _pack_own(e, T, t, <floating*> e.params)
        start += rows
        if t == 0:
            cmlp_publish_rows(e.work.rows_done, start)
    e.work.loss[t] = loss
    e.work.correct[t] = correct
    if t == 0:
        e.steps_done[0] = step
    cmlp_restore_denormals(fp_mode)


def barrier_spin_limit(nanoseconds=None):
    """The longest a thread spins at a barrier before it sleeps (see _src/team.h); 0 sleeps
    at once. Sets it when given; returns the previous value. For benchmarks."""
    global cmlp_spin_max_ns
    previous = cmlp_spin_max_ns
    if nanoseconds is not None:
        cmlp_spin_max_ns = max(0, min(int(nanoseconds), 10 ** 9))
    return previous


def train_epoch(const floating[:, ::1] X, const int[::1] y, const int64_t[::1] order,
                Py_ssize_t batch_size, floating[::1] params, const int[::1] sizes,
                int activation, double l2, OptimizerSettings optimizer not None,
                floating[::1] state_a, floating[::1] state_b, Workspace workspace not None,
                floating[::1] grads, Objective objective=None, DropoutPlan dropout=None,
                double max_norm=0):
    """cmlp._kernels.train_epoch (same arguments, same results up to rounding) with each
    layer's units split across the workspace's threads; the workspace must hold a whole
    batch (n_threads x block_rows >= batch_size)."""
    cdef Net net = make_net(sizes, activation, params.shape[0])
    cdef OptimizerConfig config = optimizer.config()
    cdef long steps_done = config.step
    cdef Work work = workspace.view(sizeof(floating))  # per-thread buffers, used as one
    cdef Py_ssize_t n = X.shape[0]
    cdef Epoch e
    cdef Dropout drop = dropout_config(dropout)
    cdef cmlp_interrupt interrupt
    cdef cmlp_barrier_t barrier
    cdef int stop[2]
    cdef floating* kind = NULL
    cdef int t
    if work.n_threads * work.block_rows < min(batch_size, n):
        raise ValueError("the workspace does not hold a whole batch")
    set_objective(&net, objective, params)
    e.net = &net
    e.X = &X[0, 0]
    e.y = &y[0] if y is not None else NULL
    e.order = &order[0] if order is not None else NULL
    e.n = n
    e.batch_size = batch_size
    e.params = &params[0]
    e.grads = &grads[0]
    e.state_a = &state_a[0] if state_a.shape[0] > 0 else NULL
    e.state_b = &state_b[0] if state_b.shape[0] > 0 else NULL
    e.work = &work
    e.config = &config
    e.l2 = l2
    e.drop = &drop if drop.n_layers > 0 else NULL
    e.skips_columns = compacts_inputs(&net, &work, min(batch_size, n))
    e.max_norm = max_norm
    e.barrier = &barrier
    stop[0] = stop[1] = 0
    e.stop = stop
    e.steps_done = &steps_done
    for t in range(work.n_threads):
        work.loss[t] = 0
        work.correct[t] = 0
    interrupt_start(&interrupt)
    work.interrupt = &interrupt
    cmlp_publish_rows(work.rows_done, 0)
    with nogil, parallel(num_threads=work.n_threads):
        _run_thread(&e, kind)
    interrupt_finish(&interrupt)
    optimizer.step = steps_done  # Ctrl-C included: Adam's next bias correction follows on
    if cmlp_interrupt_stopped(&interrupt):
        raise_pending()
    total_loss = 0.0
    total_correct = 0
    for t in range(work.n_threads):  # a thread the runtime did not start left its zeros
        total_loss += work.loss[t]
        total_correct += work.correct[t]
    return total_loss / n, total_correct
