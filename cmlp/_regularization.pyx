"""Dropout masks and the max-norm bound, applied inside the compiled epoch loops.

Dropout (inverted): during training, unit j of layer l (l = 0: the inputs) in row p of the
epoch is kept with probability 1 - rate_l and then multiplied by 1 / (1 - rate_l), else set
to 0; the backward pass multiplies its delta by the same factor. The mask is not stored:
it is a hash of (seed, epoch, layer, row position in the epoch, unit), computed again
wherever it is needed, so it does not depend on the thread, block or batch that computes
it, and a seed gives the same run at a given thread count. cmlp/dropout.py computes the
same masks in numpy (for the reference and the tests).

Max-norm: after each update, every hidden unit's incoming weight vector (a column of W_l,
(fan_in, fan_out)) whose Euclidean norm exceeds the bound is scaled back onto it.
"""
from cython cimport floating
from libc.math cimport sqrt
from libc.stdint cimport int64_t, uint32_t, uint64_t

from cmlp._codes cimport RELU, TANH, LOGISTIC, IDENTITY
from cmlp._layers cimport layer_at

import numpy as np

# Columns of W whose norms one pass gathers (a local buffer, nothing shared between threads).
cdef enum:
    NORM_COLUMNS = 256


cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    """The splitmix64 finaliser."""
    z = (z ^ (z >> 30)) * <uint64_t> 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t> 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint32_t mix32(uint32_t x) noexcept nogil:
    """Chris Wellons' lowbias32: a bijection of 32-bit integers with good avalanche."""
    x = x ^ (x >> 16)
    x = x * <uint32_t> 0x7FEB352D
    x = x ^ (x >> 15)
    x = x * <uint32_t> 0x846CA68B
    return x ^ (x >> 16)


cdef inline uint32_t row_key(const Dropout* d, int layer, int64_t position) noexcept nogil:
    cdef uint64_t z = mix64(d.seed + <uint64_t> 0x9E3779B97F4A7C15ULL * <uint64_t> (d.epoch + 1))
    z = mix64(z ^ <uint64_t> layer)
    z = mix64(z + <uint64_t> position)
    return <uint32_t> (z >> 32)


cdef bint dropping(const Dropout* d, int layer) noexcept nogil:
    return d != NULL and layer < d.n_layers and d.thresholds[layer] != 0


cdef void drop_units(floating* A, Py_ssize_t rows, Py_ssize_t stride, Py_ssize_t first,
                     Py_ssize_t stop, const Dropout* d, int layer,
                     int64_t first_position) noexcept nogil:
    """Units [first, stop) of rows first_position.. of layer's output A (row stride
    stride): kept ones times the scale, dropped ones 0. Nothing without dropout there."""
    cdef Py_ssize_t r, j
    cdef uint32_t key, threshold
    cdef floating scale
    cdef floating* a
    if not dropping(d, layer):
        return
    threshold = d.thresholds[layer]
    scale = <floating> d.scales[layer]
    for r in range(rows):
        key = row_key(d, layer, first_position + r)
        a = A + r * stride
        for j in range(first, stop):
            a[j] = a[j] * scale if mix32(key ^ (<uint32_t> j * <uint32_t> 0x9E3779B9)) >= threshold else 0


cdef void drop_derivative(floating* D, const floating* A, Py_ssize_t rows, Py_ssize_t stride,
                          Py_ssize_t first, Py_ssize_t stop, int activation,
                          const Dropout* d, int layer, int64_t first_position) noexcept nogil:
    """D *= mask * scale * f'(Z) for a layer whose output A went through drop_units: f' is
    written through the output before dropout, A / scale (ReLU: A > 0)."""
    cdef Py_ssize_t r, j
    cdef uint32_t key, threshold = d.thresholds[layer]
    cdef floating scale = <floating> d.scales[layer], keep = 1 / scale, a
    cdef floating* drow
    cdef const floating* arow
    for r in range(rows):
        key = row_key(d, layer, first_position + r)
        drow = D + r * stride
        arow = A + r * stride
        for j in range(first, stop):
            if mix32(key ^ (<uint32_t> j * <uint32_t> 0x9E3779B9)) < threshold:
                drow[j] = 0
            elif activation == RELU:
                drow[j] = drow[j] * scale if arow[j] > 0 else 0
            elif activation == IDENTITY:
                drow[j] *= scale
            else:
                a = arow[j] * keep
                drow[j] *= scale * ((1 - a * a) if activation == TANH else a * (1 - a))


cdef void max_norm_columns(floating* W, int n_in, int n_out, Py_ssize_t first,
                           Py_ssize_t stop, double bound) noexcept nogil:
    """Columns [first, stop) of W (n_in x n_out) with a norm above bound scaled onto it."""
    cdef double norms[NORM_COLUMNS]
    cdef floating factors[NORM_COLUMNS]
    cdef Py_ssize_t k, j, c, width
    cdef bint any_over
    cdef floating* row
    c = first
    while c < stop:
        width = min(<Py_ssize_t> NORM_COLUMNS, stop - c)
        for j in range(width):
            norms[j] = 0
        for k in range(n_in):  # row by row: contiguous reads
            row = W + k * <Py_ssize_t> n_out + c
            for j in range(width):
                norms[j] += <double> row[j] * row[j]
        any_over = False
        for j in range(width):
            if norms[j] > bound * bound:
                factors[j] = <floating> (bound / sqrt(norms[j]))
                any_over = True
            else:
                factors[j] = 1
        if any_over:
            for k in range(n_in):
                row = W + k * <Py_ssize_t> n_out + c
                for j in range(width):
                    row[j] *= factors[j]
        c += width


cdef void max_norm_share(const int* sizes, int n_layers, floating* params, double bound,
                         int n_threads, int t) noexcept nogil:
    """Thread t's share (of n_threads) of every hidden layer's columns, bounded."""
    cdef Py_ssize_t first, stop
    cdef int l
    for l in range(n_layers - 1):
        first = <Py_ssize_t> sizes[l + 1] * t // n_threads
        stop = <Py_ssize_t> sizes[l + 1] * (t + 1) // n_threads
        if stop > first:
            max_norm_columns(params + layer_at(sizes, l).weights, sizes[l], sizes[l + 1],
                             first, stop, bound)


cdef Dropout dropout_config(DropoutPlan plan):
    """The Dropout of an epoch's plan; None: no dropout (no layers)."""
    cdef Dropout none
    if plan is not None:
        return plan.config()
    none.seed = 0
    none.epoch = 0
    none.n_layers = 0
    none.thresholds = NULL
    none.scales = NULL
    return none


def max_norm(floating[::1] params, const int[::1] sizes, double bound):
    """Bound every hidden unit's incoming weights in params (the flat layout) in place: the
    compiled step the epoch loops take after each update."""
    with nogil:
        max_norm_share(&sizes[0], <int> sizes.shape[0] - 1, &params[0], bound, 1, 0)
