"""Shared fixtures: where the full MNIST lives, if anywhere; each SIMD path in turn."""
import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parent.parent
_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def find_mnist_dir():
    """The full MNIST IDX directory from $CMLP_DATA or ../shared/data/mnist, else None."""
    candidates = []
    if os.environ.get("CMLP_DATA"):
        candidates.append(Path(os.environ["CMLP_DATA"]))
    candidates.append(_REPO.parent / "shared" / "data" / "mnist")
    for directory in candidates:
        if all((directory / name).exists() for name in _MNIST_FILES):
            return directory
    return None


@pytest.fixture(scope="session")
def mnist_dir():
    directory = find_mnist_dir()
    if directory is None:
        pytest.skip("full MNIST not found: set $CMLP_DATA or provide ../shared/data/mnist")
    return directory


def _simd_paths():
    from cmlp import _kernels
    return [p for p in ("avx512", "avx_fma", "generic") if _kernels.simd_available(p)]


@pytest.fixture(params=_simd_paths())
def simd_path(request):
    """Each instruction-set path of the SIMD kernels this CPU supports, forced in turn."""
    from cmlp import _kernels
    _kernels.select_simd_path(request.param)
    yield request.param
    _kernels.select_simd_path("auto")
