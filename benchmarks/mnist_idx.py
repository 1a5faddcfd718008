"""A tiny reader for the MNIST IDX files (``*-idx3-ubyte.gz`` / ``*-idx1-ubyte.gz``).

Kept inside ``benchmarks/`` on purpose: the benchmarks must not depend on ``cmlp.datasets``,
the code they measure.  Files are found through ``$CMLP_DATA`` or ``../shared/data/mnist``
relative to the repository root.
"""
import gzip
import os
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def data_dir():
    """The folder holding the IDX files, or raise FileNotFoundError saying where we looked."""
    candidates = []
    if os.environ.get("CMLP_DATA"):
        candidates.append(Path(os.environ["CMLP_DATA"]))
    candidates.append(REPO_ROOT.parent / "shared" / "data" / "mnist")
    for c in candidates:
        if (c / (FILES["train"][0] + ".gz")).exists() or (c / FILES["train"][0]).exists():
            return c
    raise FileNotFoundError(
        "MNIST IDX files not found; looked in: " + ", ".join(str(c) for c in candidates)
        + ". Set CMLP_DATA to the folder holding train-images-idx3-ubyte.gz etc."
    )


def _read(path, magic, header):
    p = Path(path)
    if not p.exists() and p.with_suffix(p.suffix + ".gz").exists():
        p = p.with_suffix(p.suffix + ".gz")
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rb") as f:
        raw = f.read()
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise ValueError(f"{p}: magic number {got:#x}, expected {magic:#x}")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range((header - 4) // 4)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{p}: {data.size} bytes of data, header says {dims}")
    return data.reshape(dims)


def load(split="train", folder=None):
    """Return ``(images, labels)``: uint8 ``(n, 784)`` C-contiguous and int64 ``(n,)``."""
    folder = Path(folder) if folder is not None else data_dir()
    img_name, lab_name = FILES[split]
    images = _read(folder / img_name, 0x00000803, 16)
    labels = _read(folder / lab_name, 0x00000801, 8)
    images = np.ascontiguousarray(images.reshape(images.shape[0], -1))
    return images, labels.astype(np.int64)


if __name__ == "__main__":
    for split in ("train", "test"):
        X, y = load(split)
        print(split, X.shape, X.dtype, y.shape, np.bincount(y))
