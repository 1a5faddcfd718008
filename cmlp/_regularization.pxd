# Dropout masks and the max-norm bound, for the epoch loops of cmlp._kernels and
# cmlp._unit_split (cmlp/_regularization.pyx; the same math, readable, in cmlp/dropout.py
# and cmlp/reference.py).
from cython cimport floating
from libc.stdint cimport int64_t

from cmlp._settings cimport Dropout, DropoutPlan

cdef bint dropping(const Dropout* d, int layer) noexcept nogil

cdef void drop_units(floating* A, Py_ssize_t rows, Py_ssize_t stride, Py_ssize_t first,
                     Py_ssize_t stop, const Dropout* d, int layer,
                     int64_t first_position) noexcept nogil

cdef void drop_derivative(floating* D, const floating* A, Py_ssize_t rows, Py_ssize_t stride,
                          Py_ssize_t first, Py_ssize_t stop, int activation,
                          const Dropout* d, int layer, int64_t first_position) noexcept nogil

cdef void max_norm_share(const int* sizes, int n_layers, floating* params, double bound,
                         int n_threads, int t) noexcept nogil

cdef Dropout dropout_config(DropoutPlan plan)
