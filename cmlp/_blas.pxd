# INTERNAL to cmlp: not installed, no stable interface (the public Cython API is
# cmlp/inference.pxd).
# The one gemm wrapper of cmlp: row-major (C-ordered) operands, float and double.
from cython cimport floating

cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* A, int lda,
               const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil
