"""Shared fixtures: where the full MNIST lives, if anywhere."""
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
