# INTERNAL to cmlp (see cmlp/_kernels.pxd).
#
# Where each layer lives, for every walk over the layers (training, the unit split,
# inference): the one statement of the layouts.
#
# Parameters: one flat array; for each layer l in order, the weights W_l (sizes[l] x
# sizes[l+1], row-major), then the biases b_l (sizes[l+1]).
# Activations of a block of n rows: one flat array; layer l's output starts at
# n * (sizes[1] + ... + sizes[l]) and is (n x sizes[l+1]), row-major.
# Packed weights: the narrow layers' weights transposed, one row per output
# (pack_narrow_layers), layer after layer; other layers take no room there.

cdef extern from "simd.h" nogil:
    int NARROW_MAX_OUTPUTS "CMLP_NARROW_MAX_OUTPUTS"

cdef enum:
    NARROW_MIN_INPUTS = 64


cdef inline bint is_narrow(int n_in, int n_out) noexcept nogil:
    """Whether a layer of this shape runs on the narrow kernels (few outputs, many inputs:
    BLAS gemm reaches a fraction of its peak there)."""
    return n_out <= NARROW_MAX_OUTPUTS and n_in >= NARROW_MIN_INPUTS


cdef struct Layer:
    int n_in
    int n_out
    bint narrow           # runs on the narrow kernels
    Py_ssize_t weights    # where W_l starts in the parameters
    Py_ssize_t biases     # where b_l starts in the parameters
    Py_ssize_t packed     # where its packed weights start (narrow layers)
    Py_ssize_t outputs    # output units of the layers before it: in the activations of a
                          # block of n rows, this layer's outputs start at n * outputs


cdef inline Layer layer_at(const int* sizes, int l) noexcept nogil:
    """Layer l of a network of these layer sizes."""
    cdef Layer layer
    cdef int k
    layer.weights = layer.packed = layer.outputs = 0
    for k in range(l):
        layer.weights += <Py_ssize_t> sizes[k] * sizes[k + 1] + sizes[k + 1]
        if is_narrow(sizes[k], sizes[k + 1]):
            layer.packed += <Py_ssize_t> sizes[k] * sizes[k + 1]
        layer.outputs += sizes[k + 1]
    layer.n_in = sizes[l]
    layer.n_out = sizes[l + 1]
    layer.narrow = is_narrow(layer.n_in, layer.n_out)
    layer.biases = layer.weights + <Py_ssize_t> layer.n_in * layer.n_out
    return layer


cdef inline Py_ssize_t inputs_at(const Layer* layer) noexcept nogil:
    """Where a hidden layer's inputs (the previous layer's outputs) start, per row of a
    block, in the activations; layer 0's inputs are the data."""
    return layer.outputs - layer.n_in
