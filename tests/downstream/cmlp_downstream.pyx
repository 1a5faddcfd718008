"""Predict with a cmlp network from Cython, without the GIL.

Uses only cmlp's documented inference API: cmlp/inference.pxd (cimported below) and the
header it names, found on the include path given by cmlp.get_include().
"""
from cython cimport floating
from libc.stdint cimport int64_t

from cmlp cimport inference as ci

ci.import_inference()  # like numpy's import_array(): checks the installed cmlp's version

ABI_VERSION = ci.CMLP_INFERENCE_ABI_VERSION  # what this module was built against


cdef int _check(const ci.cmlp_model* model, Py_ssize_t n_features, int dtype) except -1:
    if ci.cmlp_model_dtype(model) != dtype:
        raise TypeError("X's dtype is not the model's")
    if ci.cmlp_model_n_features(model) != n_features:
        raise ValueError("X has the wrong number of features")
    return 0


cdef int _raise(int status) except -1:
    if status == ci.CMLP_NONFINITE_INPUT:
        raise ValueError("X holds NaN or infinity")
    raise RuntimeError(f"cmlp prediction failed with status {status}")


def predict_proba(model, const floating[:, ::1] X, floating[:, ::1] out):
    """Probabilities of X's rows into out; the GIL is released while computing."""
    cdef const ci.cmlp_model* m = ci.cmlp_model_from_object(model)
    cdef int status
    _check(m, X.shape[1], ci.CMLP_FLOAT32 if floating is float else ci.CMLP_FLOAT64)
    if out.shape[0] != X.shape[0] or out.shape[1] != ci.cmlp_model_n_classes(m):
        raise ValueError("out has the wrong shape")
    with nogil:
        if floating is float:
            status = ci.cmlp_predict_proba_f32(m, &X[0, 0], X.shape[0], &out[0, 0])
        else:
            status = ci.cmlp_predict_proba_f64(m, &X[0, 0], X.shape[0], &out[0, 0])
    if status != ci.CMLP_OK:
        _raise(status)


def predict(model, const floating[:, ::1] X, int64_t[::1] labels):
    """Labels of X's rows into labels; the GIL is released while computing."""
    cdef const ci.cmlp_model* m = ci.cmlp_model_from_object(model)
    cdef int status
    _check(m, X.shape[1], ci.CMLP_FLOAT32 if floating is float else ci.CMLP_FLOAT64)
    if labels.shape[0] != X.shape[0]:
        raise ValueError("labels has the wrong length")
    with nogil:
        if floating is float:
            status = ci.cmlp_predict_f32(m, &X[0, 0], X.shape[0], &labels[0])
        else:
            status = ci.cmlp_predict_f64(m, &X[0, 0], X.shape[0], &labels[0])
    if status != ci.CMLP_OK:
        _raise(status)
