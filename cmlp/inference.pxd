# cmlp's public, stable Cython API: predict with a trained network from Cython without the
# GIL, from many threads at once. The only .pxd promised to other projects (cmlp's other
# .pxd files are internal and change without notice).
#
#     from cmlp cimport inference as ci
#     ci.import_inference()                     # at module level, once (like import_array)
#
#     def probabilities(model, float[:, ::1] X, float[:, ::1] out):
#         cdef const ci.cmlp_model* m = ci.cmlp_model_from_object(model)  # a Model
#         cdef int status
#         with nogil:
#             status = ci.cmlp_predict_proba_f32(m, &X[0, 0], X.shape[0], &out[0, 0])
#
# where model is a cmlp.inference.Model(network), which the caller keeps alive while it
# uses the pointer. Build with include_dirs=[cmlp.get_include()]; tests/downstream/ in the
# cmlp repository is a complete example. The declarations below mirror
# cmlp/include/cmlp_inference.h, which documents them and serves C extensions as well.
from libc.stdint cimport int64_t

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
        CMLP_NOT_IMPORTED
        CMLP_NOT_A_CLASSIFIER
        CMLP_MULTILABEL

    ctypedef struct cmlp_model:
        pass

    # With the GIL. 0, or -1 with ImportError set (cmlp missing, or of another ABI version).
    int cmlp_import_inference() except -1
    # With the GIL: the model inside a cmlp.inference.Model (TypeError for anything else).
    const cmlp_model* cmlp_model_from_object(object obj) except NULL

    int cmlp_model_dtype(const cmlp_model* model) noexcept nogil
    int cmlp_model_n_features(const cmlp_model* model) noexcept nogil
    int cmlp_model_n_classes(const cmlp_model* model) noexcept nogil

    # n_rows rows of X (n_rows x n_features, row-major, the model's dtype) into out
    # (n_rows x n_classes) or labels (n_rows); return CMLP_OK or one of the codes above.
    int cmlp_predict_proba_f32(const cmlp_model* model, const float* X, Py_ssize_t n_rows,
                               float* out) noexcept nogil
    int cmlp_predict_proba_f64(const cmlp_model* model, const double* X, Py_ssize_t n_rows,
                               double* out) noexcept nogil
    int cmlp_predict_f32(const cmlp_model* model, const float* X, Py_ssize_t n_rows,
                         int64_t* labels) noexcept nogil
    int cmlp_predict_f64(const cmlp_model* model, const double* X, Py_ssize_t n_rows,
                         int64_t* labels) noexcept nogil


cdef inline int import_inference() except -1:
    """Import cmlp.inference and check that it matches the version this module was built
    against; call it once at module level before anything else here."""
    return cmlp_import_inference()
