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
    """The directory holding cmlp_inference.h, for a C or Cython extension's include path
    (as numpy.get_include()); cmlp/inference.pxd is found through the installed package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")
