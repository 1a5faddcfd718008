"""Work buffers of the training and gradient kernels, and the rules that size them.

A Workspace holds every thread's buffers for batches of up to ``batch_rows`` rows of one
network shape and dtype; a kernel takes one as its ``workspace`` argument and reads the
pointers with ``Workspace.view``. Network keeps a few in a pool (cmlp._pool), lent one call
at a time.

The tuning limits live here, next to the block sizes they decide: rows a thread puts
through forward and backward at once. A narrow first layer wants blocks small enough for
X's rows to stay in cache between its forward and weight-gradient passes; layers of up to
TILE_MAX_WIDTH units run fastest on the tile kernels (cmlp._kernels.product), in blocks
they take (up to TILE_MAX_ROWS rows), and best in blocks of TILE_BLOCK_ROWS, whose rows of
X stay in L2 for the weight gradient. float64 rows take twice the bytes, so half the rows.
Mini-batches the unit split takes whole keep one block per thread. Short blocks suit a wide
first layer (its products leave out X's zero columns) but not a wide layer after it: its
whole weight gradient is read and written again for every block, so a network with a layer
after the first wider than TILE_BLOCK_MAX_WIDTH takes BLAS's long gemms in blocks of
MAX_BLOCK_ROWS, which bounds the work memory of full-batch runs. (The measurements behind
these choices are in the commits that made them.)
"""
import numpy as np

# A multiple of every row tile of the narrow kernels (12, 6, 4, 3, 2).
NARROW_BLOCK_ROWS = 120
# By itemsize: the same bytes of X in every block.
TILE_BLOCK_ROWS = {4: 128, 8: 64}
TILE_BLOCK_MAX_WIDTH = 256
# The tile kernels' limits (_workspace.pxd) as Python sees them: (rows, columns).
TILE_LIMITS = (TILE_MAX_ROWS, TILE_MAX_WIDTH)
MAX_BLOCK_ROWS = 2048
# Mini-batches up to this size are split across threads by units, not rows (_unit_split):
# a row split makes each thread a private copy of the gradients to zero and sum, passes
# over every parameter that cost as much as a small batch's products (on one thread the
# unit split's loop is a little faster too). A module global, so tests can lower it.
UNIT_SPLIT_MAX_ROWS = 512


def narrow_layer(int n_in, int n_out):
    """Whether a layer of this shape runs on the narrow kernels."""
    return bool(is_narrow(n_in, n_out))


def narrow_weights_size(layer_sizes):
    """Weights in the narrow layers of a network of these layer sizes."""
    return sum(n_in * n_out for n_in, n_out in zip(layer_sizes, layer_sizes[1:])
               if is_narrow(n_in, n_out))


def block_rows(layer_sizes, dtype, Py_ssize_t batch_rows, int n_threads):
    """Rows each thread puts through forward and backward at once (see the module's text)."""
    cdef Py_ssize_t per_thread = (batch_rows + n_threads - 1) // n_threads
    if is_narrow(layer_sizes[0], layer_sizes[1]):
        return min(per_thread, NARROW_BLOCK_ROWS)
    if max(layer_sizes[1:]) <= TILE_MAX_WIDTH:
        if batch_rows <= UNIT_SPLIT_MAX_ROWS:
            return min(per_thread, TILE_MAX_ROWS)
        if max(layer_sizes[2:], default=0) <= TILE_BLOCK_MAX_WIDTH:
            return min(per_thread, TILE_BLOCK_ROWS[np.dtype(dtype).itemsize])
    return min(per_thread, MAX_BLOCK_ROWS)


def _aligned(shape, dtype, fill=None, Py_ssize_t alignment=64):
    """An array (np.empty, or filled with fill) whose data starts on a cache line: vector
    loads that straddle two lines cost the SIMD kernels up to a fifth of their speed."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    raw = np.empty(size * dtype.itemsize + alignment, dtype=np.uint8)
    skip = -raw.ctypes.data % alignment
    out = raw[skip:skip + size * dtype.itemsize].view(dtype).reshape(shape)
    if fill is not None:
        out[...] = fill
    return out


cdef void* _address(array) except? NULL:
    return <void*> <size_t> array.ctypes.data


cdef class Workspace:
    """Every thread's work buffers for batches of up to batch_rows rows.

    Parameters
    ----------
    layer_sizes : sequence of int
        The network's layer sizes.
    dtype : numpy dtype
        float32 or float64, the network's.
    batch_rows : int
        The most rows one call puts through (a batch, or all of X for a full batch).
    n_threads : int
        Threads that share the rows (at most batch_rows of them are used).
    """

    def __init__(self, layer_sizes, dtype, Py_ssize_t batch_rows, int n_threads):
        sizes = tuple(int(size) for size in layer_sizes)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"a Workspace holds float32 or float64, not {dtype}")
        if batch_rows < 1 or n_threads < 1:
            raise ValueError(f"a Workspace needs at least one row and one thread, got "
                             f"batch_rows={batch_rows}, n_threads={n_threads}")
        n_threads = <int> min(n_threads, batch_rows)
        block = block_rows(sizes, dtype, batch_rows, n_threads)
        act_width = sum(sizes[1:])
        hidden = sizes[1:len(sizes) - 1]  # (no negative indices: wraparound is off)
        delta_width = max(hidden, default=1)
        n_params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
        narrow_size = max(1, narrow_weights_size(sizes))
        acts = _aligned((n_threads, block * act_width), dtype)
        delta_a = _aligned((n_threads, block * delta_width), dtype)
        delta_b = _aligned((n_threads, block * delta_width), dtype)
        # Thread 0 sums into the destination; the others need their own.
        grads = np.empty((max(1, n_threads - 1), n_params), dtype=dtype)
        narrow_grads = _aligned((n_threads, narrow_size), dtype)
        x_block = _aligned((n_threads, block * sizes[0]), dtype)
        y_block = np.empty((n_threads, block), dtype=np.intc)
        # Room to skip the first layer's zero columns where the tile kernels run it.
        skips = (not is_narrow(sizes[0], sizes[1]) and sizes[1] <= TILE_MAX_WIDTH
                 and block <= TILE_MAX_ROWS)
        x_columns = _aligned((n_threads, block * sizes[0]) if skips else 1, dtype)
        column_marks = np.zeros((n_threads, sizes[0]), dtype=np.intc)
        column_index = np.zeros((n_threads, sizes[0]), dtype=np.intc)
        loss = np.empty(n_threads, dtype=np.float64)
        correct = np.empty(n_threads, dtype=np.intp)
        packed = _aligned(narrow_size, dtype, 0)
        rows_done = np.zeros(1, dtype=np.int64)
        self._buffers = (acts, delta_a, delta_b, grads, narrow_grads, x_block, y_block,
                         x_columns, column_marks, column_index, loss, correct, packed,
                         rows_done)
        self.work.acts = _address(acts)
        self.work.delta_a = _address(delta_a)
        self.work.delta_b = _address(delta_b)
        self.work.grads = _address(grads)
        self.work.narrow_grads = _address(narrow_grads)
        self.work.narrow_size = narrow_size
        self.work.x_block = _address(x_block)
        self.work.y_block = <int*> _address(y_block)
        self.work.x_columns = _address(x_columns) if skips else NULL
        self.work.column_marks = <int*> _address(column_marks)
        self.work.column_index = <int*> _address(column_index)
        self.work.loss = <double*> _address(loss)
        self.work.correct = <Py_ssize_t*> _address(correct)
        self.work.packed = _address(packed)
        self.work.block_rows = block
        self.work.delta_width = delta_width
        self.work.n_threads = n_threads
        self.work.interrupt = NULL
        self.work.rows_done = <int64_t*> _address(rows_done)
        self.dtype, self.layer_sizes = dtype, sizes
        self.batch_rows, self.act_width = batch_rows, act_width

    @property
    def n_threads(self):
        """Threads that share the rows (no more than batch_rows)."""
        return self.work.n_threads

    @property
    def block_rows(self):
        """Rows each thread puts through forward and backward at once."""
        return self.work.block_rows

    cdef Work view(self, size_t itemsize) except *:
        """The buffers' pointers, for a kernel computing in floats of itemsize bytes."""
        if itemsize != self.dtype.itemsize:
            raise TypeError(f"the workspace holds {self.dtype}, not {itemsize}-byte floats")
        return self.work

    def splits_units(self, Py_ssize_t batch_rows):
        """Whether batches of batch_rows train on the unit split (cmlp._unit_split): small
        batches the threads hold whole. On one thread that loop also saves zeroing the
        gradients."""
        return (batch_rows <= UNIT_SPLIT_MAX_ROWS
                and self.n_threads * self.block_rows >= batch_rows)

    def rows_done(self):
        """The rows of the running (or last) epoch trained on so far, as the compiled loops
        publish them after each update (see _src/progress.h): read from another thread."""
        return cmlp_read_rows(self.work.rows_done)
