"""Another extension can cimport cmlp's kernels: build one against the installed .pxd files."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("Cython")

SOURCE = textwrap.dedent("""
    # cython: language_level=3
    from cmlp._blas cimport gemm
    from cmlp._kernels cimport softmax_cross_entropy

    def product(double[:, ::1] A, double[:, ::1] B, double[:, ::1] C):
        with nogil:
            gemm(False, False, A.shape[0], B.shape[1], A.shape[1], 1.0, &A[0, 0],
                 A.shape[1], &B[0, 0], B.shape[1], 0.0, &C[0, 0], C.shape[1])

    def softmax_loss(float[:, ::1] Z, int[::1] y):
        cdef double loss = 0
        cdef Py_ssize_t correct = 0
        with nogil:
            softmax_cross_entropy(&Z[0, 0], &y[0], Z.shape[0], Z.shape[1], &loss, &correct)
        return loss, correct
""")

SETUP = textwrap.dedent("""
    import sys
    from Cython.Build import cythonize
    from setuptools import setup
    setup(ext_modules=cythonize("embedder.pyx", include_path=[sys.argv[1]]),
          script_args=["build_ext", "--inplace"])
""")


def test_an_extension_cimports_gemm_and_softmax(tmp_path):
    (tmp_path / "embedder.pyx").write_text(SOURCE)
    (tmp_path / "setup.py").write_text(SETUP)
    import cmlp

    # The directory holding the cmlp package, where the .pxd files are found.
    package_root = os.path.dirname(os.path.dirname(cmlp.__file__))
    build = subprocess.run([sys.executable, "setup.py", package_root], cwd=tmp_path,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    sys.path.insert(0, str(tmp_path))
    try:
        import embedder
    finally:
        sys.path.remove(str(tmp_path))
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    C = np.zeros((3, 5))
    embedder.product(A, B, C)
    np.testing.assert_allclose(C, A @ B, rtol=1e-12)
    Z = np.array([[2.0, 0.0], [0.0, 3.0]], dtype=np.float32)
    loss, correct = embedder.softmax_loss(Z, np.array([0, 0], dtype=np.int32))
    assert correct == 1
    assert loss == pytest.approx(np.log1p(np.exp(-2)) + np.log1p(np.exp(3)), rel=1e-6)
    np.testing.assert_allclose(Z.sum(axis=1), 1, rtol=1e-6)
