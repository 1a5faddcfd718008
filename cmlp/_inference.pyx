"""Prediction: a network's forward pass and softmax, n rows into the caller's buffer.

Behind Network.predict / predict_proba / score and behind the public inference API
(cmlp.inference.Model, cmlp/inference.pxd, cmlp/include/cmlp_inference.h).

Every call brings its own work memory (the stack for a few rows, malloc otherwise), so any
number of threads may predict with one model at once. Products run on cmlp's tile and narrow
kernels only, never on BLAS: a prediction neither depends on nor touches BLAS's thread pool,
or any other process-wide setting. Large calls from Network are cut into one chunk of rows
per thread (OpenMP); the C API computes on the calling thread.

Narrow layers (few outputs, many inputs) run fastest on the narrow kernels, which read the
weights transposed (pack_narrow_layers). A Model packs them once, when it is made; a Network's
view of its own weights, which the user may change at any time, packs them again when they
differ from the copy it last packed (Model._packing). Either way every call runs the same
kernels, so a row's result does not depend on the rows predicted with it.
"""
import numpy as np

from cmlp import _codes

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t, uint64_t, uintptr_t
from libc.math cimport NAN, exp
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy
from cpython.pycapsule cimport PyCapsule_New
from cpython.pythread cimport (PyThread_acquire_lock, PyThread_allocate_lock, PyThread_free_lock,
                               PyThread_release_lock, PyThread_type_lock, WAIT_LOCK)

from cmlp._codes cimport BINARY_CROSS_ENTROPY, CROSS_ENTROPY, LOGISTIC, POISSON
from cmlp._kernels cimport (Columns, activate, gather_columns, mark_nonzero_columns,
                            narrow_forward, pack_narrow_layers, simd_product,
                            softmax_cross_entropy)
from cmlp._layers cimport Layer, is_narrow, layer_at

cdef extern from "denormals.h" nogil:
    unsigned int cmlp_flush_denormals()
    void cmlp_restore_denormals(unsigned int previous)

cdef extern from "int8.h" nogil:
    ctypedef struct cmlp_int8_layer:
        int n_in, n_out, k_pad, h_pad
        const int8_t* weights
        const int32_t* colsum
        const float* scale
        const float* bias
    ctypedef struct cmlp_int8_net:
        int n_layers
        int activation
        int output
        const cmlp_int8_layer* layers
    int cmlp_int8_predict(const cmlp_int8_net* net, const float* X, Py_ssize_t n,
                          float* out, int64_t* labels)
    int cmlp_int8_select(const char* name)
    const char* cmlp_int8_name()
    int cmlp_int8_available(const char* name)

cmlp_int8_select(b"auto")

cdef extern from "cmlp_inference.h":
    enum:
        CMLP_INFERENCE_ABI_VERSION
        CMLP_INFERENCE_API_VERSION
        CMLP_FLOAT32
        CMLP_FLOAT64
        CMLP_OK
        CMLP_NONFINITE_INPUT
        CMLP_NONFINITE_OUTPUT
        CMLP_WRONG_DTYPE
        CMLP_BAD_ARGUMENT
        CMLP_NO_MEMORY
        CMLP_NOT_A_CLASSIFIER
        CMLP_MULTILABEL
    const char* CMLP_INFERENCE_CAPSULE

    ctypedef struct cmlp_model:
        pass

    ctypedef struct cmlp_inference_api:
        unsigned int abi_version
        unsigned int api_version
        const cmlp_model* (*model_from_object)(object) except NULL
        int (*model_dtype)(const cmlp_model*) noexcept nogil
        int (*model_n_features)(const cmlp_model*) noexcept nogil
        int (*model_n_classes)(const cmlp_model*) noexcept nogil
        int (*predict_proba_f32)(const cmlp_model*, const float*, Py_ssize_t,
                                 float*) noexcept nogil
        int (*predict_proba_f64)(const cmlp_model*, const double*, Py_ssize_t,
                                 double*) noexcept nogil
        int (*predict_f32)(const cmlp_model*, const float*, Py_ssize_t,
                           int64_t*) noexcept nogil
        int (*predict_f64)(const cmlp_model*, const double*, Py_ssize_t,
                           int64_t*) noexcept nogil

ABI_VERSION = CMLP_INFERENCE_ABI_VERSION
API_VERSION = CMLP_INFERENCE_API_VERSION

cdef enum:
    # Rows that go through all layers at once: their activations stay in cache, and the
    # tile kernels take up to 256 rows.
    BLOCK_ROWS = 128
    # Work memory up to this size lives on the stack (a call of a few rows allocates nothing).
    STACK_BYTES = 16384
    # Network calls cut rows across threads from this many rows per thread on.
    MIN_ROWS_PER_THREAD = 64
    MAX_THREADS = 256


# Calls of fewer rows run on one thread, whatever n_threads says.
PARALLEL_MIN_ROWS = 2 * MIN_ROWS_PER_THREAD


cdef struct ModelData:
    int dtype                 # CMLP_FLOAT32 or CMLP_FLOAT64
    int n_layers
    int activation            # an Activation (cmlp/_codes.pxd)
    bint softmax              # a classifier's softmax output; else see output
    int output                # the Loss (cmlp/_codes.pxd) whose output layer runs
    const int* sizes          # n_layers + 1
    const void* params        # the layout of cmlp._kernels: W_0, b_0, W_1, b_1, ...
    const void* packed        # the narrow layers' weights, transposed; NULL: _predict packs
    Py_ssize_t narrow_size    # values in packed
    int max_hidden            # widest hidden layer (0 without one)
    const cmlp_int8_net* int8  # a quantized model's (float32 inputs); NULL: float weights


# ---------------------------------------------------------------------------------------
# The computation (no GIL; trusts its inputs)

cdef bint _nonfinite(const floating* x, Py_ssize_t size) noexcept nogil:
    """Whether x holds NaN or infinity: an exponent of all ones, found with integer
    operations that vectorise (a float compare loop would stop at the first hit)."""
    cdef Py_ssize_t i
    cdef const uint32_t* u32
    cdef const uint64_t* u64
    cdef uint32_t hits32 = 0
    cdef uint64_t hits64 = 0
    if floating is float:
        u32 = <const uint32_t*> x
        for i in range(size):
            hits32 |= (u32[i] & 0x7f800000u) == 0x7f800000u
        return hits32 != 0
    else:
        u64 = <const uint64_t*> x
        for i in range(size):
            hits64 |= (u64[i] & 0x7ff0000000000000u) == 0x7ff0000000000000u
        return hits64 != 0


cdef bint _narrow_weights_match(const ModelData* m, const floating* params,
                                floating* copy, bint update) noexcept nogil:
    """Whether copy holds every narrow layer's weights as params has them now, layer after
    layer (bit for bit); with update, copy them there too."""
    cdef Layer layer
    cdef Py_ssize_t size
    cdef int l
    for l in range(m.n_layers):
        layer = layer_at(m.sizes, l)
        if layer.narrow:
            size = (layer.biases - layer.weights) * sizeof(floating)
            if update:
                memcpy(copy + layer.packed, params + layer.weights, size)
            elif memcmp(copy + layer.packed, params + layer.weights, size) != 0:
                return False
    return True


cdef bint _forward(const ModelData* m, const floating* X, Py_ssize_t rows,
                   const floating* packed, floating* hidden, floating* kept, int* index,
                   floating* probs, unsigned char* overflowed) noexcept nogil:
    """Class probabilities of rows of X (at most BLOCK_ROWS) into probs (rows x classes).

    hidden holds 2 x rows x max_hidden values: the hidden layers' outputs alternate between
    its halves. packed is NULL or the narrow layers' packed weights. A first layer on the
    tile kernels leaves out the columns of X that are zero in every row (the same bits: see
    cmlp._kernels.gather_columns), given room for their values (kept, rows x n_features)
    and numbers (index, n_features); kept NULL reads every column. Returns whether some
    row's pre-activations overflowed in a layer, and marks those rows in overflowed (rows
    flags): tanh, logistic and relu (of -inf) would turn the overflow into finite outputs
    that are wrong, so the caller must not trust them."""
    cdef const floating* params = <const floating*> m.params
    cdef const floating* inputs = X
    cdef floating* dest
    cdef Layer layer
    cdef Columns columns
    cdef Py_ssize_t i, half = rows * m.max_hidden
    cdef int l, n_in, n_out
    cdef bint any_overflow = False
    for i in range(rows):
        overflowed[i] = 0
    for l in range(m.n_layers):
        layer = layer_at(m.sizes, l)
        n_in, n_out = layer.n_in, layer.n_out
        dest = probs if l == m.n_layers - 1 else hidden + (l % 2) * half
        if packed != NULL and layer.narrow:
            narrow_forward(inputs, rows, n_in, packed + layer.packed, params + layer.biases,
                           n_out, dest)
        else:
            for i in range(rows):  # rows start as the bias; the product is added to them
                memcpy(dest + i * n_out, params + layer.biases, n_out * sizeof(floating))
            columns.count = 0
            if l == 0 and kept != NULL:
                mark_nonzero_columns(X, rows, n_in, index)
                columns = gather_columns(X, rows, 0, rows, n_in, index, 1, index, kept)
            if columns.count:
                simd_product(<int> rows, n_out, columns.count, kept, columns.count,
                             params + layer.weights, n_out, columns.index, True, dest, n_out)
            else:
                simd_product(<int> rows, n_out, n_in, inputs, n_in, params + layer.weights,
                             n_out, NULL, True, dest, n_out)
        if _nonfinite(dest, rows * n_out):  # rare: find the rows
            any_overflow = True
            for i in range(rows):
                if _nonfinite(dest + i * n_out, n_out):
                    overflowed[i] = 1
        if l < m.n_layers - 1:
            activate(dest, rows * n_out, m.activation)
        inputs = dest
    if m.softmax:
        softmax_cross_entropy(probs, NULL, rows, m.sizes[m.n_layers], NULL, NULL)
    elif m.output == BINARY_CROSS_ENTROPY:
        activate(probs, rows * m.sizes[m.n_layers], LOGISTIC)
    elif m.output == POISSON:
        for i in range(rows * m.sizes[m.n_layers]):
            probs[i] = exp(probs[i])
    return any_overflow


cdef int _predict_rows(const ModelData* m, const floating* X, Py_ssize_t n,
                       const floating* packed, floating* out, int64_t* labels) noexcept nogil:
    """Rows [0, n) of X, block by block, on this thread: probabilities into out (n x classes)
    or, if out is NULL, labels into labels. Returns a CMLP_ status."""
    cdef int n_classes = m.sizes[m.n_layers], j, best
    cdef Py_ssize_t n_features = m.sizes[0], first, rows, i, values, block
    cdef double stack[2048]  # STACK_BYTES
    cdef unsigned char overflowed[BLOCK_ROWS]
    cdef void* heap = NULL
    cdef floating* work
    cdef floating* hidden
    cdef floating* kept = NULL
    cdef int* index = NULL
    cdef Py_ssize_t kept_at = 0, kept_values = 0
    cdef floating* probs
    cdef floating* p
    cdef int status = CMLP_OK
    cdef unsigned int fp_mode
    if n <= 0:
        return CMLP_OK
    if floating is float:
        if m.int8 != NULL:
            return cmlp_int8_predict(m.int8, X, n, out, labels)
    block = min(n, <Py_ssize_t> BLOCK_ROWS)
    values = 2 * block * m.max_hidden + (block * n_classes if out == NULL else 0)
    if packed == NULL or not is_narrow(m.sizes[0], m.sizes[1]):  # on the tile kernels
        kept_at = values
        kept_values = block * n_features
        values += kept_values + n_features  # the column numbers as ints: n_features is room
    if values * sizeof(floating) <= sizeof(stack):
        work = <floating*> stack
    else:
        heap = malloc(values * sizeof(floating) + 64)
        if heap == NULL:
            return CMLP_NO_MEMORY
        work = <floating*> ((<uintptr_t> heap + 63) & ~(<uintptr_t> 63))  # a cache line
    hidden = work
    if kept_values:
        kept = work + kept_at
        index = <int*> (kept + kept_values)
    fp_mode = cmlp_flush_denormals()
    first = 0
    while first < n:
        rows = min(block, n - first)
        if _nonfinite(X + first * n_features, rows * n_features):
            status = CMLP_NONFINITE_INPUT
            break
        probs = out + first * n_classes if out != NULL else work + 2 * block * m.max_hidden
        if _forward(m, X + first * n_features, rows, packed, hidden, kept, index, probs,
                    overflowed):
            for i in range(rows):  # an overflowed row's outputs are NaN, whatever came out
                if overflowed[i]:
                    for j in range(n_classes):
                        probs[i * n_classes + j] = NAN
        if m.softmax:
            for i in range(rows * n_classes):  # NaN fails every comparison
                if not probs[i] == probs[i]:
                    status = CMLP_NONFINITE_OUTPUT  # the other rows are still computed
        elif _nonfinite(probs, rows * n_classes):  # a regression's values: infinity too
            status = CMLP_NONFINITE_OUTPUT
        if out == NULL and not m.softmax:  # one logistic unit: class 1 above 0.5
            for i in range(rows):
                labels[first + i] = 1 if probs[i] > 0.5 else 0
        elif out == NULL:
            for i in range(rows):  # the first largest, as numpy's argmax
                p = probs + i * n_classes
                best = 0
                for j in range(1, n_classes):
                    if p[j] > p[best]:
                        best = j
                labels[first + i] = best
        first += rows
    cmlp_restore_denormals(fp_mode)
    free(heap)
    return status


cdef int _combine(int a, int b) noexcept nogil:
    """One status for a call from those of its chunks: failures first, then bad input."""
    if a < 0 or b < 0:
        return min(a, b)
    if a == CMLP_OK or b == CMLP_OK:
        return max(a, b)
    return min(a, b)


cdef int _predict(const ModelData* m, const floating* X, Py_ssize_t n, floating* out,
                  int64_t* labels, int n_threads) noexcept nogil:
    """All n rows, on up to n_threads threads (each with its own work memory)."""
    cdef const floating* packed = <const floating*> m.packed
    cdef floating* own_packed = NULL
    cdef Py_ssize_t chunk, first
    cdef int t, status = CMLP_OK
    cdef int statuses[MAX_THREADS]
    if packed == NULL and m.narrow_size > 0:
        own_packed = <floating*> malloc(m.narrow_size * sizeof(floating))
        if own_packed == NULL:
            return CMLP_NO_MEMORY
        pack_narrow_layers(m.sizes, m.n_layers, <const floating*> m.params, own_packed)
        packed = own_packed
    n_threads = <int> max(1, min(<Py_ssize_t> min(n_threads, MAX_THREADS),
                                 n // MIN_ROWS_PER_THREAD))
    if n_threads == 1:  # no OpenMP region: cheaper for a few rows
        status = _predict_rows(m, X, n, packed, out, labels)
    else:
        # Whole blocks per thread: every row meets the same kernels in the same place of its
        # block whatever the thread count, so the count does not change a single bit.
        chunk = (n + n_threads - 1) // n_threads
        chunk = (chunk + BLOCK_ROWS - 1) // BLOCK_ROWS * BLOCK_ROWS
        n_threads = <int> ((n + chunk - 1) // chunk)
        for t in prange(n_threads, num_threads=n_threads, schedule="static", chunksize=1):
            first = t * chunk
            statuses[t] = _predict_rows(
                m, X + first * m.sizes[0], min(chunk, n - first), packed,
                out + first * m.sizes[m.n_layers] if out != NULL else NULL,
                labels + first if labels != NULL else NULL)
        for t in range(n_threads):
            status = _combine(status, statuses[t])
    free(own_packed)
    return status


# ---------------------------------------------------------------------------------------
# The C API (cmlp_inference.h), exported as a capsule

cdef int _model_dtype(const cmlp_model* model) noexcept nogil:
    return (<const ModelData*> model).dtype


cdef int _model_n_features(const cmlp_model* model) noexcept nogil:
    return (<const ModelData*> model).sizes[0]


cdef int _model_n_classes(const cmlp_model* model) noexcept nogil:
    cdef const ModelData* m = <const ModelData*> model
    return m.sizes[m.n_layers]


cdef int _check_call(const cmlp_model* model, const void* X, Py_ssize_t n, void* out,
                     int dtype) noexcept nogil:
    if model == NULL or n < 0 or (n > 0 and (X == NULL or out == NULL)):
        return CMLP_BAD_ARGUMENT
    if (<const ModelData*> model).dtype != dtype:
        return CMLP_WRONG_DTYPE
    return CMLP_OK


cdef int _label_status(const ModelData* m) noexcept nogil:
    """Whether a row has one label: softmax's argmax, or one logistic unit's threshold."""
    if m.softmax or (m.output == BINARY_CROSS_ENTROPY and m.sizes[m.n_layers] == 1):
        return CMLP_OK
    if m.output == BINARY_CROSS_ENTROPY:
        return CMLP_MULTILABEL
    return CMLP_NOT_A_CLASSIFIER


cdef inline int _dtype_code(const floating* kind) noexcept nogil:
    return CMLP_FLOAT32 if floating is float else CMLP_FLOAT64


cdef int _api_predict_proba(const cmlp_model* model, const floating* X, Py_ssize_t n,
                            floating* out) noexcept nogil:
    cdef int status = _check_call(model, X, n, out, _dtype_code(X))
    if status != CMLP_OK:
        return status
    return _predict(<const ModelData*> model, X, n, out, NULL, 1)


cdef int _api_predict(const cmlp_model* model, const floating* X, Py_ssize_t n,
                      int64_t* labels) noexcept nogil:
    cdef int status = _check_call(model, X, n, labels, _dtype_code(X))
    if status == CMLP_OK:
        status = _label_status(<const ModelData*> model)
    if status != CMLP_OK:
        return status
    return _predict(<const ModelData*> model, X, n, <floating*> NULL, labels, 1)


cdef const cmlp_model* _model_from_object(object obj) except NULL:
    if not isinstance(obj, Model):
        raise TypeError(
            f"expected a cmlp.inference.Model, got {type(obj).__name__}; make one with "
            "cmlp.inference.Model(network)")
    return <const cmlp_model*> &(<Model> obj).data


cdef cmlp_inference_api _api
_api.abi_version = CMLP_INFERENCE_ABI_VERSION
_api.api_version = CMLP_INFERENCE_API_VERSION
_api.model_from_object = _model_from_object
_api.model_dtype = _model_dtype
_api.model_n_features = _model_n_features
_api.model_n_classes = _model_n_classes
_api.predict_proba_f32 = _api_predict_proba[float]
_api.predict_proba_f64 = _api_predict_proba[double]
_api.predict_f32 = _api_predict[float]
_api.predict_f64 = _api_predict[double]
_C_API = PyCapsule_New(<void*> &_api, CMLP_INFERENCE_CAPSULE, NULL)


# ---------------------------------------------------------------------------------------
# Python

cdef int _compute(const ModelData* m, const floating[:, ::1] X, out, bint labels,
                  int n_threads) except? -100:
    """_predict on validated arrays: out is (n, classes) of X's dtype, or (n,) int64."""
    cdef floating[:, ::1] probs
    cdef int64_t[::1] classes
    cdef int status
    cdef Py_ssize_t n = X.shape[0]
    if labels:
        classes = out
        with nogil:
            status = _predict(m, &X[0, 0], n, <floating*> NULL, &classes[0], n_threads)
    else:
        probs = out
        with nogil:
            status = _predict(m, &X[0, 0], n, &probs[0, 0], NULL, n_threads)
    return status


def _overflow_error(proba, X, params):
    """NaN probabilities come from logits that overflowed (inputs or weights near the dtype's
    maximum, or the weights of a diverged training): never hand them back, since an argmax
    of them is garbage."""
    row = int(np.argwhere(~np.isfinite(proba))[0, 0])
    largest = max(abs(float(X.max())), abs(float(X.min())))  # no temporary the size of X
    return FloatingPointError(
        f"the network's outputs overflowed (first at row {row}): its weights reach "
        f"{float(np.abs(params).max()):.3g} and the inputs {largest:.3g} in "
        f"absolute value, too large for {params.dtype.name}; rescale the inputs, or "
        "retrain (with a smaller learning_rate if the training diverged)")


def _rebuild(params, layer_sizes, activation, loss, frozen, quantize=None):
    """Unpickle a Model (see Model.__reduce__); a quantized one is quantized again from its
    float weights, which gives the same integers.

    params may arrive read-only (pickle protocol 5 builds arrays over the pickle's own bytes;
    joblib.load(mmap_mode="r") maps the file read-only): the model only reads them, so they
    are used where they are, not copied. A frozen model's array is then made read-only, so
    nothing reached through the model writes to it."""
    cdef Model model = Model.__new__(Model)
    params = np.asarray(params)  # a memory map stays a view of its file
    sizes = [int(s) for s in layer_sizes]
    expected = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    if params.ndim != 1 or params.shape[0] != expected or not params.flags.c_contiguous:
        raise ValueError(f"a pickled Model's parameters have shape {params.shape}; expected "
                         f"({expected},) for layer sizes {sizes}")
    model._setup(params, sizes, activation, loss, frozen)
    if frozen and params.flags.writeable:
        params.flags.writeable = False
    if quantize is not None:
        model._quantize(quantize)
    return model


def int8_path():
    """The int8 kernels that quantized models run on in this process.

    Picked when cmlp is imported: the best this CPU runs. Every path computes the same
    integers, so the choice changes speed, never a result.

    Returns
    -------
    str
        "vnni512" (AVX-512 VNNI), "avx2" or "generic" (plain C).

    Examples
    --------
    >>> from cmlp.inference import int8_path
    >>> int8_path() in ("vnni512", "avx2", "generic")
    True
    """
    return cmlp_int8_name().decode()


def int8_available(str name):
    """Whether this CPU (and build) can run the named int8 kernels."""
    return bool(cmlp_int8_available(name.encode()))


def select_int8_path(str name):
    """Use the named int8 kernels ("auto": the best this CPU runs) for every quantized
    Model of the process; raises ValueError if the CPU lacks them. For tests and
    benchmarks: every path computes the same integers."""
    if cmlp_int8_select(name.encode()) != 0:
        raise ValueError(f"int8 path {name!r} is not available on this CPU; available: "
                         f"{[p for p in ('vnni512', 'avx2', 'generic') if int8_available(p)]}")


cdef object _FLOAT32 = np.dtype(np.float32)
cdef object _FLOAT64 = np.dtype(np.float64)
cdef object _INT64 = np.dtype(np.int64)
cdef object _ndarray = np.ndarray


cdef class _PackedWeights:
    """A Network view's narrow layers packed, with the weights they were packed from."""
    cdef object source    # a copy of the narrow layers' weights, as _narrow_weights_match
    cdef object packed    # as _pack
    cdef void* source_data
    cdef const void* packed_data


cdef class Model:
    """A trained network frozen for prediction, safe to share between threads.

    ``Model(network)`` copies a cmlp Network's weights (with the narrow layers packed once)
    into an immutable model; later training of the network does not change it.
    ``predict_proba`` and ``predict`` release the GIL while they compute, on cmlp's own
    kernels, never BLAS; Cython and C code reach the same model through
    ``cmlp/inference.pxd`` and ``cmlp_inference.h`` (``cmlp.get_include()``).

    Parameters
    ----------
    network : cmlp.Network
        The network to copy.
    quantize : None or "int8", default=None
        "int8": weights quantized per output unit to int8, each layer's input quantized per
        row, as it comes, to u8 (see cmlp/_int8.py); products in exact int32 sums on
        AVX-512 VNNI where the CPU has it, else AVX2 or plain C (int8_path()), all giving
        the same bits. The model then takes and returns float32, whatever the network's
        dtype, through the same Python, Cython and C functions.

    Attributes
    ----------
    dtype : numpy.dtype
        float32 or float64 (float32 for an int8 model).
    layer_sizes : tuple of int
        Inputs, hidden widths, outputs.
    activation : str
        The hidden layers' activation.
    loss : str
        "cross_entropy" (softmax output) or "squared_error" (identity output).
    quantize : None or str
        "int8" for a quantized model.
    n_features, n_classes : int
        Inputs and outputs.

    Raises
    ------
    TypeError
        Anything but a cmlp Network.
    ValueError
        If quantize is not None or "int8", or a layer is too wide for int32 sums.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.datasets import load_sample
    >>> from cmlp.inference import Model
    >>> X, y = load_sample()
    >>> net = Network([784, 10, 10], seed=0)
    >>> model = Model(net)
    >>> bool((model.predict(X[:100]) == net.predict(X[:100])).all())
    True
    >>> int8 = Model(net, quantize="int8")
    >>> int8.predict_proba(X[:2]).dtype
    dtype('float32')
    """
    cdef ModelData data
    cdef object _params   # the arrays data points into, kept alive here
    cdef object _packed
    cdef _PackedWeights _view_packing  # a view's: see _packing
    # Guards _view_packing, which threads calling a view read and replace: without the GIL
    # (free-threaded CPython) a reference read while another thread swaps it could be freed.
    cdef PyThread_type_lock _packing_lock
    cdef object _sizes
    cdef bint _frozen     # a Model's own copy, not a Network's live view
    cdef readonly object dtype
    cdef readonly tuple layer_sizes
    cdef readonly str activation
    cdef readonly str loss   # "cross_entropy" (softmax output) or "squared_error" (identity)
    cdef readonly object quantize  # None, or "int8"
    cdef object _int8_arrays  # the quantized layers' arrays, which _int8_layers points into
    cdef cmlp_int8_layer* _int8_layers
    cdef cmlp_int8_net _int8_net

    def __cinit__(self):
        self._packing_lock = PyThread_allocate_lock()
        if self._packing_lock == NULL:
            raise MemoryError("could not allocate a Model's lock")

    def __dealloc__(self):
        if self._packing_lock != NULL:
            PyThread_free_lock(self._packing_lock)
        free(self._int8_layers)

    def __init__(self, network, *, quantize=None):
        # The network hands over a copy of its state (Network._model_state): this module
        # imports nothing of the Python layers above it.
        model_state = getattr(type(network), "_model_state", None)
        if model_state is None:
            raise TypeError(
                f"Model(network) takes a cmlp.Network, got {type(network).__name__}")
        if quantize not in (None, "int8"):
            raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
        params, layer_sizes, activation, loss = model_state(network)
        self._setup(params, layer_sizes, activation, loss, True)
        params.flags.writeable = False
        if quantize is not None:
            self._quantize(quantize)

    cdef _quantize(self, str kind):
        """Turn this (frozen) model into an int8 one: weights quantized per output unit,
        layer inputs per row as they come (see cmlp/_int8.py); float32 inputs and outputs."""
        from cmlp._int8 import quantize_params
        cdef const int8_t[:, :, ::1] packed
        cdef const int32_t[::1] colsum
        cdef const float[::1] scale, bias
        cdef cmlp_int8_layer* layers
        cdef int l
        arrays = quantize_params(self._params, self.layer_sizes)
        layers = <cmlp_int8_layer*> malloc(len(arrays) * sizeof(cmlp_int8_layer))
        if layers == NULL:
            raise MemoryError("no memory for the quantized layers")
        for l, layer in enumerate(arrays):
            for name in ("packed", "colsum", "scale", "bias"):
                layer[name].flags.writeable = False
            packed, colsum = layer["packed"], layer["colsum"]
            scale, bias = layer["scale"], layer["bias"]
            layers[l].n_in, layers[l].n_out = layer["fan_in"], layer["fan_out"]
            layers[l].k_pad, layers[l].h_pad = layer["k_pad"], layer["h_pad"]
            layers[l].weights = &packed[0, 0, 0]
            layers[l].colsum = &colsum[0]
            layers[l].scale = &scale[0]
            layers[l].bias = &bias[0]
        self._int8_arrays = arrays
        self._int8_layers = layers
        self._int8_net.n_layers = self.data.n_layers
        self._int8_net.activation = self.data.activation
        self._int8_net.output = self.data.output
        self._int8_net.layers = layers
        self.quantize = kind
        self.dtype = _FLOAT32
        self.data.dtype = CMLP_FLOAT32
        self.data.narrow_size = 0
        self.data.packed = NULL
        self.data.int8 = &self._int8_net

    @staticmethod
    def _view(params, layer_sizes, activation, loss):
        """For Network: a model that reads params where they are (the network's own array,
        which the user may change between calls; see _packing)."""
        cdef Model model = Model.__new__(Model)
        model._setup(params, layer_sizes, activation, loss, False)
        return model

    cdef _setup(self, params, layer_sizes, str activation, str loss, bint pack):
        cdef float[::1] packed32
        cdef double[::1] packed64
        cdef const float[::1] params32  # const: read-only arrays (memory maps) are welcome
        cdef const double[::1] params64
        cdef int[::1] sizes
        cdef int l
        self._frozen = pack
        self.layer_sizes = tuple([int(s) for s in layer_sizes])
        self.activation = activation
        self.loss = loss
        self.data.output = _codes.Loss[loss.upper()]
        self.data.softmax = self.data.output == CROSS_ENTROPY
        self._params = params
        self._sizes = np.asarray(self.layer_sizes, dtype=np.int32)
        sizes = self._sizes
        self.data.n_layers = len(self.layer_sizes) - 1
        self.data.activation = _codes.Activation[activation.upper()]
        self.data.sizes = &sizes[0]
        self.data.max_hidden = 0
        self.data.narrow_size = 0
        for l in range(self.data.n_layers):
            if 0 < l:
                self.data.max_hidden = max(self.data.max_hidden, sizes[l])
            if is_narrow(sizes[l], sizes[l + 1]):
                self.data.narrow_size += <Py_ssize_t> sizes[l] * sizes[l + 1]
        self.data.packed = NULL
        self.data.int8 = NULL
        if params.dtype == _FLOAT32:
            self.dtype = _FLOAT32
            self.data.dtype = CMLP_FLOAT32
            params32 = params
            self.data.params = &params32[0]
        elif params.dtype == _FLOAT64:
            self.dtype = _FLOAT64
            self.data.dtype = CMLP_FLOAT64
            params64 = params
            self.data.params = &params64[0]
        else:
            raise TypeError(f"a model holds float32 or float64 weights, not {params.dtype}")
        if pack and self.data.narrow_size > 0:
            self._packed = np.empty(self.data.narrow_size, dtype=self.dtype)
            if self.data.dtype == CMLP_FLOAT32:
                packed32 = self._packed
                pack_narrow_layers(self.data.sizes, self.data.n_layers,
                                   <const float*> self.data.params, &packed32[0])
                self.data.packed = &packed32[0]
            else:
                packed64 = self._packed
                pack_narrow_layers(self.data.sizes, self.data.n_layers,
                                   <const double*> self.data.params, &packed64[0])
                self.data.packed = &packed64[0]
            self._packed.flags.writeable = False

    def __reduce__(self):
        # Network's copies and pickles carry its predictor along: the params array is the
        # network's own, so the copy reads the copy's array (pickle keeps the identity).
        return _rebuild, (self._params, self.layer_sizes, self.activation, self.loss,
                          self._frozen, self.quantize)

    def __repr__(self):
        loss = "" if self.data.softmax else f", loss={self.loss!r}"
        quantize = "" if self.quantize is None else f", quantize={self.quantize!r}"
        return (f"Model({list(self.layer_sizes)}, dtype={self.dtype.name!r}, "
                f"activation={self.activation!r}{loss}{quantize})")

    @property
    def n_features(self):
        """Inputs per row."""
        return self.layer_sizes[0]

    @property
    def n_classes(self):
        """Outputs (the classes of a classifier)."""
        return self.data.sizes[self.data.n_layers]

    @property
    def params(self):
        """The network's parameters in cmlp's flat layout (a read-only view for a Model)."""
        return self._params

    def predict_proba(self, X, out=None, *, n_threads=1):
        """Class probabilities of the rows of X (binary_cross_entropy: each output's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite values (converted to the model's dtype if need be).
        out : numpy.ndarray of shape (n_samples, n_classes), optional
            C-contiguous, the model's dtype: filled and returned.
        n_threads : int, default=1
            Threads that share the rows; a row's result does not depend on it.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            Each row sums to 1 (softmax outputs).

        Raises
        ------
        ValueError
            X of the wrong shape or holding NaN or infinity; an unusable ``out``.
        TypeError
            A squared_error or poisson model (use `predict`).
        FloatingPointError
            Outputs that are not finite.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp import Network
        >>> from cmlp.inference import Model
        >>> model = Model(Network([4, 3], seed=0))
        >>> model.predict_proba(np.ones((2, 4))).shape
        (2, 3)
        """
        if not self.data.softmax and self.data.output != BINARY_CROSS_ENTROPY:
            raise TypeError("predict_proba needs a cross_entropy or binary_cross_entropy "
                            f"network; this one is {self.loss!r}: use predict")
        return self._run(X, out, False, n_threads)

    def predict(self, X, out=None, *, n_threads=1):
        """Predicted class labels (or a regression's values) of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite values.
        out : numpy.ndarray, optional
            Filled and returned: int64 ``(n_samples,)``, or for a squared_error model the
            model's dtype ``(n_samples, n_outputs)``.
        n_threads : int, default=1
            Threads that share the rows.

        Returns
        -------
        numpy.ndarray
            int64 labels ``(n_samples,)``; for squared_error and poisson the values; for
            binary_cross_entropy each output's probability (threshold at 0.5 for labels,
            as Network.predict does).

        Raises
        ------
        ValueError
            X of the wrong shape or holding NaN or infinity; an unusable ``out``.
        FloatingPointError
            Outputs that are not finite.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp import Network
        >>> from cmlp.inference import Model
        >>> Model(Network([4, 3], seed=0)).predict(np.ones((2, 4))).dtype
        dtype('int64')
        """
        return self._run(X, out, self.data.softmax, n_threads)

    def outputs(self, X, out=None, *, n_threads=1):
        """The last layer's outputs: probabilities (cross_entropy) or values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite values.
        out : numpy.ndarray of shape (n_samples, n_outputs), optional
            C-contiguous, the model's dtype: filled and returned.
        n_threads : int, default=1
            Threads that share the rows.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_outputs)
            Probabilities or values.

        Raises
        ------
        ValueError
            X of the wrong shape or holding NaN or infinity.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp import Network
        >>> from cmlp.inference import Model
        >>> Model(Network([4, 3], seed=0)).outputs(np.ones((1, 4))).shape
        (1, 3)
        """
        return self._run(X, out, False, n_threads)

    cdef object _run(self, X, out, bint labels, n_threads):
        if n_threads != 1:
            from cmlp import _threads
            from cmlp._validation import check_positive_int
            # one thread in a forked child, whose OpenMP pool would hang
            n_threads = _threads.kernel_threads(check_positive_int("n_threads", n_threads))
        if type(X) is not _ndarray or (<object> X).dtype is not self.dtype or X.ndim != 2 \
                or not X.flags.c_contiguous or X.shape[1] != self.data.sizes[0] \
                or X.shape[0] == 0:
            X = self._checked(X)
        if out is None:
            if labels:
                out = np.empty(X.shape[0], dtype=_INT64)
            else:
                out = np.empty((X.shape[0], self.data.sizes[self.data.n_layers]),
                               dtype=self.dtype)
        else:
            self._check_out(X, out, labels)
        cdef ModelData data = self.data  # this call's: a view's packed weights go in it
        cdef _PackedWeights packing = None  # and are kept alive here while it computes
        if data.packed == NULL and data.narrow_size > 0:
            packing = self._packing()
            data.packed = packing.packed_data
        if data.dtype == CMLP_FLOAT32:
            status = _compute[float](&data, X, out, labels, n_threads)
        else:
            status = _compute[double](&data, X, out, labels, n_threads)
        if status != CMLP_OK:
            self._raise(status, X, out, labels)
        return out

    cdef _PackedWeights _packing(self):
        """A view's narrow layers packed: again only when their weights have changed since
        the last call. Comparing them with a copy costs a fraction of packing them (one row
        of 784-10-10: 3.7 us of 6.8 went to packing the first layer)."""
        cdef _PackedWeights p, replaced
        cdef float[::1] source32, packed32
        cdef double[::1] source64, packed64
        # Held only to read or swap the reference, never while Python code runs (so never
        # while another thread holding the GIL waits for it).
        PyThread_acquire_lock(self._packing_lock, WAIT_LOCK)
        p = self._view_packing
        PyThread_release_lock(self._packing_lock)
        if p is not None:
            if self.data.dtype == CMLP_FLOAT32:
                if _narrow_weights_match(&self.data, <const float*> self.data.params,
                                         <float*> p.source_data, False):
                    return p
            elif _narrow_weights_match(&self.data, <const double*> self.data.params,
                                       <double*> p.source_data, False):
                return p
        # A new pair, never changed once made: other threads may be computing with the last.
        p = _PackedWeights.__new__(_PackedWeights)
        p.source = np.empty(self.data.narrow_size, dtype=self.dtype)
        p.packed = np.empty(self.data.narrow_size, dtype=self.dtype)
        if self.data.dtype == CMLP_FLOAT32:
            source32, packed32 = p.source, p.packed
            _narrow_weights_match(&self.data, <const float*> self.data.params, &source32[0],
                                  True)
            pack_narrow_layers(self.data.sizes, self.data.n_layers,
                               <const float*> self.data.params, &packed32[0])
            p.source_data, p.packed_data = &source32[0], &packed32[0]
        else:
            source64, packed64 = p.source, p.packed
            _narrow_weights_match(&self.data, <const double*> self.data.params, &source64[0],
                                  True)
            pack_narrow_layers(self.data.sizes, self.data.n_layers,
                               <const double*> self.data.params, &packed64[0])
            p.source_data, p.packed_data = &source64[0], &packed64[0]
        PyThread_acquire_lock(self._packing_lock, WAIT_LOCK)
        replaced = self._view_packing  # released below, after the lock
        self._view_packing = p
        PyThread_release_lock(self._packing_lock)
        return p

    cdef object _checked(self, X):
        from cmlp._validation import check_X
        return check_X(X, self.data.sizes[0], self.dtype)

    cdef _check_out(self, X, out, bint labels):
        n, n_classes = X.shape[0], self.data.sizes[self.data.n_layers]
        shape = (n,) if labels else (n, n_classes)
        dtype = _INT64 if labels else self.dtype
        if type(out) is not _ndarray or out.dtype != dtype or out.shape != shape \
                or not out.flags.c_contiguous or not out.flags.writeable:
            got = (f"a {'' if out.flags.c_contiguous else 'non-contiguous '}"
                   f"{'' if out.flags.writeable else 'read-only '}{out.dtype} array of shape "
                   f"{out.shape}" if isinstance(out, np.ndarray) else type(out).__name__)
            raise ValueError(f"out must be a writeable C-contiguous {dtype} array of shape "
                             f"{shape}; got {got}")
        if np.may_share_memory(out, X):
            raise ValueError("out must not overlap X")

    cdef _raise(self, int status, X, out, bint labels):
        if status == CMLP_NONFINITE_INPUT:
            from cmlp._validation import check_X
            check_X(X, self.data.sizes[0], self.dtype)  # raises, naming the first bad value
            raise ValueError("X holds NaN or infinity; expected finite values")
        if status == CMLP_NONFINITE_OUTPUT:
            if labels:  # the probabilities, computed again (the NaN stays, unreported)
                out = np.empty((X.shape[0], self.n_classes), dtype=self.dtype)
                if self.data.dtype == CMLP_FLOAT32:
                    _compute[float](&self.data, X, out, False, 1)
                else:
                    _compute[double](&self.data, X, out, False, 1)
            raise _overflow_error(out, X, self._params)
        if status == CMLP_NO_MEMORY:
            raise MemoryError("no memory for the prediction's work buffers")
        raise RuntimeError(f"prediction failed with status {status}")
