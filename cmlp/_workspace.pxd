# INTERNAL to cmlp (see cmlp/_kernels.pxd).
#
# The work memory of the training and gradient kernels (cmlp._kernels, cmlp._unit_split):
# how many rows a thread puts through at once, and the buffers that needs, owned by one
# Workspace object per (layer sizes, dtype, batch rows, threads).
from libc.stdint cimport int64_t

from cmlp._layers cimport is_narrow

# The rows of the epoch done, for a progress display in another thread (see _src/progress.h).
cdef extern from "progress.h" nogil:
    void cmlp_publish_rows(int64_t* counter, int64_t rows)
    int64_t cmlp_read_rows(const int64_t* counter)

# Tuning limits the kernels and the block sizes share (why each: _workspace.pyx).
cdef enum:
    TILE_MAX_ROWS = 256
    TILE_MAX_WIDTH = 1024


cdef struct Work:   # pointers into a Workspace's buffers
    # Per-thread buffers are laid out thread after thread with these strides.
    void* acts            # block_rows * act_width
    void* delta_a         # block_rows * delta_width
    void* delta_b
    void* grads           # n_params, for every thread but the first (which sums into the
                          # destination itself)
    void* narrow_grads    # narrow_size: the narrow layers' weight gradients, transposed
    Py_ssize_t narrow_size
    void* x_block         # block_rows * n_features (rows gathered in shuffled order)
    int* y_block          # block_rows
    # The non-zero columns of a block (cmlp._kernels.gather_columns); x_columns is NULL
    # where the first layer does not run on the tile kernels.
    void* x_columns       # block_rows * n_features: a block's rows, those columns only
    int* column_marks     # n_features
    int* column_index     # n_features
    double* loss          # one per thread
    Py_ssize_t* correct   # one per thread
    void* packed          # shared: narrow layers' weights as pack_narrow_layers lays them out
    Py_ssize_t block_rows
    Py_ssize_t delta_width
    int n_threads
    void* interrupt       # a cmlp_interrupt (_src/interrupt.h) for training loops, else NULL
    int64_t* rows_done    # the epoch's rows trained on so far (_src/progress.h)


cdef class Workspace:
    cdef Work work                    # a fresh copy per call: each sets its own interrupt
    cdef readonly object dtype        # numpy dtype of every floating buffer
    cdef readonly tuple layer_sizes
    cdef readonly Py_ssize_t batch_rows
    cdef readonly Py_ssize_t act_width
    cdef tuple _buffers               # the arrays work points into, kept alive

    cdef Work view(self, size_t itemsize) except *
