"""Row-major gemm over scipy's Fortran BLAS, shared by every kernel.

Fortran BLAS is column-major. A C-ordered matrix read as Fortran is its transpose, so
C = op(A) op(B) in row-major is C^T = op(B)^T op(A)^T in column-major: swap the operands
and the m/n sizes (scikit-learn's ``sklearn/utils/_cython_blas.pyx``, ``_gemm`` RowMajor).
This is the only place in cmlp that knows about that trick.
"""
import numpy as np

from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* A, int lda,
               const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil:
    """C (m x n) = alpha op(A) op(B) + beta C; op(A) is m x k, op(B) is k x n; all row-major.

    lda, ldb and ldc are the row strides (in elements) of A, B and C as stored.
    """
    cdef char ta = b't' if trans_a else b'n'
    cdef char tb = b't' if trans_b else b'n'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> B, &ldb,
              <float*> A, &lda, &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> B, &ldb,
              <double*> A, &lda, &beta, C, &ldc)


def gemm_checked(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C,
                 floating alpha=1.0, floating beta=0.0,
                 bint trans_a=False, bint trans_b=False):
    """Python entry to ``gemm`` for tests and embedders: checks shapes, then computes in place.

    C = alpha op(A) op(B) + beta C, with op a transpose when asked for.
    """
    cdef int m = A.shape[1] if trans_a else A.shape[0]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int k_b = B.shape[1] if trans_b else B.shape[0]
    cdef int n = B.shape[0] if trans_b else B.shape[1]
    if k != k_b or C.shape[0] != m or C.shape[1] != n:
        raise ValueError(
            f"gemm shapes do not fit: op(A) is {m}x{k}, op(B) is {k_b}x{n}, C is "
            f"{C.shape[0]}x{C.shape[1]}; expected op(A) m x k, op(B) k x n, C m x n")
    if m == 0 or n == 0:
        return
    if k == 0:
        # BLAS leaves C untouched when k == 0 only if beta == 1; make the empty product explicit.
        np.multiply(C, beta, out=np.asarray(C))
        return
    with nogil:
        gemm(trans_a, trans_b, m, n, k, alpha, &A[0, 0], A.shape[1],
             &B[0, 0], B.shape[1], beta, &C[0, 0], C.shape[1])
