"""A sparse first layer: CSR rows times a dense weight matrix, and its weight gradient.

For inputs such as TF-IDF matrices (tens of thousands of columns, a fraction of a percent
non-zero) the first layer's product is the whole cost of a step, and densifying the rows
would multiply the memory by the inverse of the density. Both functions read the rows of a
batch where they are in the CSR arrays (rows lists them, in the batch's order), so a
shuffled epoch needs no copy of the matrix. Inputs are trusted (cmlp._sparse_training
checks them): indices within [0, W.shape[0]), indptr monotone, sizes consistent.
The index arrays are taken in scipy's own dtype (int32 for all but huge matrices), so the
matrix is used as it is, never copied.
"""
from cython cimport floating
from libc.stdint cimport int32_t, int64_t

ctypedef fused index_t:
    int32_t
    int64_t

from cmlp._kernels cimport update
from cmlp._settings cimport OptimizerConfig, OptimizerSettings


def csr_rows_times_dense(const floating[::1] data, const index_t[::1] indices,
                         const index_t[::1] indptr, const int64_t[::1] rows,
                         const floating[:, ::1] W, floating[:, ::1] out):
    """out[i] += X[rows[i]] @ W for every i: the non-zeros of each row scale W's rows."""
    cdef Py_ssize_t i, p, j, k, width = W.shape[1]
    cdef floating value
    cdef const floating* w
    cdef floating* o
    with nogil:
        for i in range(rows.shape[0]):
            o = &out[i, 0]
            for p in range(indptr[rows[i]], indptr[rows[i] + 1]):
                value = data[p]
                w = &W[indices[p], 0]
                for j in range(width):
                    o[j] += value * w[j]


def csr_rows_transpose_times_dense(const floating[::1] data, const index_t[::1] indices,
                                   const index_t[::1] indptr, const int64_t[::1] rows,
                                   const floating[:, ::1] D, floating[:, ::1] grad):
    """grad += X[rows]^T @ D: each non-zero of row rows[i] adds its value times D[i] to
    the gradient row of its column (only the columns present are touched)."""
    cdef Py_ssize_t i, p, j, width = D.shape[1]
    cdef floating value
    cdef const floating* d
    cdef floating* g
    with nogil:
        for i in range(rows.shape[0]):
            d = &D[i, 0]
            for p in range(indptr[rows[i]], indptr[rows[i] + 1]):
                value = data[p]
                g = &grad[indices[p], 0]
                for j in range(width):
                    g[j] += value * d[j]


def apply_update(floating[::1] params, const floating[::1] grads,
                 OptimizerSettings optimizer not None, floating[::1] state_a,
                 floating[::1] state_b):
    """One optimizer step of the compiled kernels (cmlp._kernels.update, the formulas of
    the dense training loop) on flat parameters; advances optimizer.step."""
    cdef OptimizerConfig config = optimizer.config()
    cdef floating* a = &state_a[0] if state_a.shape[0] > 0 else NULL
    cdef floating* b = &state_b[0] if state_b.shape[0] > 0 else NULL
    with nogil:
        update(&params[0], &grads[0], params.shape[0], &config, a, b, 1)
    optimizer.step = config.step
