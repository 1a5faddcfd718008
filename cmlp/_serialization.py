"""Network files: a .npz archive with a format name and version, read without pickle."""
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "cmlp-network"
FORMAT_VERSION = 1


def save(network, path):
    """Write to a temporary file beside path, then rename it into place.

    os.replace is atomic on one filesystem, so a crash mid-save leaves either the old file
    or the new one, never a half-written one.
    """
    path = os.fspath(path)
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "layer_sizes": np.array(network.layer_sizes, dtype=np.int64),
        "dtype": np.array(network.dtype.name),
        "activation": np.array(network.activation),
        "loss": np.array(network.loss),
    }
    for l, (W, b) in enumerate(zip(network.weights, network.biases)):
        arrays[f"weight_{l}"] = W
        arrays[f"bias_{l}"] = b
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".cmlp-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(cls, path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a cmlp model file: expected a .npz (zip) archive "
                         "written by Network.save")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable cmlp model file (.npz): {error}") from None
    if arrays.get("format") is None or str(arrays["format"]) != FORMAT:
        raise ValueError(f"{path} is not a cmlp model file: it has no '{FORMAT}' marker")
    version = int(arrays.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has cmlp model format version {version}; this cmlp reads version "
            f"{FORMAT_VERSION}")
    try:
        network = cls([int(s) for s in arrays["layer_sizes"]], dtype=str(arrays["dtype"]),
                      activation=str(arrays["activation"]),
                      # files from before regression have no "loss": all cross-entropy
                      loss=str(arrays.get("loss", "cross_entropy")))
        for l, (W, b) in enumerate(zip(network.weights, network.biases)):
            W[...] = _stored(arrays, f"weight_{l}", W.shape)
            b[...] = _stored(arrays, f"bias_{l}", b.shape)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is a damaged cmlp model file: {error}") from None
    if not np.isfinite(network._params).all():
        raise ValueError(f"{path} holds NaN or infinite parameters")
    return network


def _stored(arrays, name, shape):
    if name not in arrays:
        raise KeyError(f"array {name!r} is missing")
    array = arrays[name]
    if array.shape != shape:
        raise ValueError(f"array {name!r} has shape {array.shape}, expected {shape}")
    return array
