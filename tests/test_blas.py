"""The gemm wrapper against numpy: every transpose combination, sizes including 1, both dtypes."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from cmlp._blas import gemm_checked

# scikit-learn's tolerances for its BLAS wrappers (sklearn/utils/tests/test_cython_blas.py).
RTOL = {np.float32: 1e-6, np.float64: 1e-12}
SIZES = [(1, 1, 1), (1, 5, 3), (4, 1, 7), (6, 9, 1), (17, 13, 29), (64, 10, 784)]


def _stored(rng, rows, cols, transposed, dtype):
    """An operand whose op() is rows x cols, stored C-contiguous (transposed if asked)."""
    A = rng.standard_normal((cols, rows) if transposed else (rows, cols)).astype(dtype)
    return A, (A.T if transposed else A)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, n, k", SIZES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_numpy(dtype, m, n, k, trans_a, trans_b):
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    A, op_a = _stored(rng, m, k, trans_a, dtype)
    B, op_b = _stored(rng, k, n, trans_b, dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    expected = 1.5 * op_a.astype(np.float64) @ op_b.astype(np.float64) - 0.5 * C
    gemm_checked(A, B, C, alpha=1.5, beta=-0.5, trans_a=trans_a, trans_b=trans_b)
    assert_allclose(C, expected, rtol=RTOL[dtype] * max(k, 1) * 10, atol=RTOL[dtype] * k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_beta_zero_overwrites_garbage(dtype):
    A = np.ones((2, 3), dtype=dtype)
    B = np.ones((3, 4), dtype=dtype)
    C = np.full((2, 4), np.nan, dtype=dtype)
    gemm_checked(A, B, C)
    assert_allclose(C, np.full((2, 4), 3.0))


def test_gemm_accepts_read_only_operands():
    A = np.arange(6, dtype=np.float64).reshape(2, 3)
    A.setflags(write=False)
    C = np.zeros((2, 2))
    gemm_checked(A, A, C, trans_b=True)
    assert_allclose(C, A @ A.T)


def test_gemm_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes do not fit"):
        gemm_checked(np.ones((2, 3)), np.ones((4, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="C is 3x2"):
        gemm_checked(np.ones((2, 3)), np.ones((3, 2)), np.zeros((3, 2)))
