"""cmlp: compiled multi-layer perceptrons.

Cython kernels over BLAS (scipy.linalg.cython_blas) train and run fully-connected
networks; cmlp.reference holds the same math in plain numpy.
"""
import os

from cmlp._wait_policy import load_kernels_with_passive_waits

load_kernels_with_passive_waits()  # before anything loads libgomp: see cmlp/_wait_policy.py

from cmlp.network import Network, TrainingDiverged  # noqa: E402

# The one place the version is written: pyproject.toml reads it from here (setuptools'
# dynamic version), and `cmlp --version` prints it.
__version__ = "0.1.0"
__all__ = ["Network", "TrainingDiverged", "__version__", "get_include"]


def get_include():
    """The directory holding ``cmlp_inference.h``, for a C or Cython extension.

    As ``numpy.get_include()``: give it as ``include_dirs`` of the extension; Cython finds
    ``cmlp/inference.pxd`` through the installed package. See :doc:`/guide/embedding`.

    Returns
    -------
    str
        An absolute path inside the installed package.

    Examples
    --------
    >>> import os
    >>> import cmlp
    >>> os.path.isfile(os.path.join(cmlp.get_include(), "cmlp_inference.h"))
    True
    """
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")
