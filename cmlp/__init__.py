"""cmlp: compiled multi-layer perceptrons.

Cython kernels over BLAS (scipy.linalg.cython_blas) train and run fully-connected
networks; cmlp.reference holds the same math in plain numpy.
"""
from cmlp._wait_policy import load_kernels_with_passive_waits

load_kernels_with_passive_waits()  # before anything loads libgomp: see cmlp/_wait_policy.py

from cmlp.network import Network, TrainingDiverged  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Network", "TrainingDiverged", "__version__"]
