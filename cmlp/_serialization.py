"""Network files: a .npz archive with a format name and version, read without pickle.

A model file is untrusted input (README, "Trust model"). ``load`` never lets the file decide
how much memory to allocate: it reads the zip directory and the small metadata arrays first
(each through a reader bounded to a few kilobytes), derives from ``layer_sizes`` and ``dtype``
exactly which arrays must follow and how many bytes each holds, checks every size the archive
declares against that (and against what the file's length can physically hold), and only
then allocates the parameters and reads them straight into place.
"""
import os
import struct
import zipfile
import zlib

import numpy as np

from cmlp import reference
from cmlp._files import (
    file_size, open_regular, read_at_most, read_exactly_into, write_atomically)
from cmlp._validation import DTYPES

FORMAT = "cmlp-network"
FORMAT_VERSION = 1

# Limits on what a model file may declare, checked before anything is allocated.
MAX_LAYERS = 1000  # weight matrices
MAX_LAYER_SIZE = 2**31 - 1  # the kernels hold layer sizes as int32
MAX_PARAMETERS = 2**31  # 8 GiB as float32: far beyond any MLP cmlp trains, short of absurd

_METADATA = ("format", "format_version", "layer_sizes", "dtype", "activation")
# Files written before regression have no "loss": they are all cross-entropy networks.
_OPTIONAL_METADATA = ("loss",)
_SMALL_MEMBER = 1 << 16  # bytes; the metadata arrays are a few hundred bytes each
_NPY_HEADER_MAX = 10_000  # numpy's own default max_header_size
_NPY_OVERHEAD = (10, 12 + _NPY_HEADER_MAX)  # bytes before the data in .npy versions 1.0/2.0
# Deflate cannot compress better than 1032:1 (zlib's "technical details"), so a member
# declaring more than that per stored byte is lying about its size: a zip bomb.
_DEFLATE_MAX_RATIO = 1032
_EOCD = struct.Struct("<4s4H2LH")  # zip end of central directory record


class _Invalid(ValueError):
    """Internal: what is wrong with a model file, before the path is put in front."""


# ---------------------------------------------------------------------------------------
# load


def load(cls, path):
    path = os.fspath(path)
    with open_regular(path, "model file") as f:
        try:
            return _read_network(cls, f)
        except _Invalid as error:
            raise ValueError(f"{path} {error}") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
                ValueError, TypeError, NotImplementedError, RuntimeError, struct.error,
                OverflowError, UnicodeDecodeError, KeyError) as error:
            # Anything zipfile or numpy's header parser says about a damaged archive.
            raise ValueError(
                f"{path} is a damaged cmlp model file ({type(error).__name__}: {error})"
            ) from None


def _read_network(cls, f):
    size = file_size(f)
    _check_zip_directory(f, size)
    with zipfile.ZipFile(f) as archive:
        members = _members(archive, size)
        if "format" not in members:
            raise _Invalid(f"is not a cmlp model file: it has no '{FORMAT}' marker")
        meta = {name: _read_small(archive, members, name)
                for name in _METADATA + _OPTIONAL_METADATA if name in members}
        sizes, dtype, activation, loss = _check_metadata(meta)
        shapes = _expected_shapes(sizes)
        _check_member_names(members, shapes)
        for name, shape in shapes.items():
            _check_declared_size(members[name], name, shape, dtype)
        try:
            network = cls(sizes, dtype=dtype, activation=activation, loss=loss)
        except (TypeError, ValueError) as error:
            raise _Invalid(f"is a damaged cmlp model file: {error}") from None
        for l, (W, b) in enumerate(zip(network.weights, network.biases)):
            _read_floats(archive, members[f"weight_{l}"], f"weight_{l}", W)
            _read_floats(archive, members[f"bias_{l}"], f"bias_{l}", b)
    problem = unusable(network)
    if problem is not None:
        raise _Invalid(problem)
    return network


def _check_zip_directory(f, size):
    """Refuse a zip whose directory lists more members than a model has, before zipfile
    builds an object per member."""
    tail_size = min(size, _EOCD.size + 0xFFFF)  # the record, then at most a 64 KiB comment
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise _Invalid("is not a cmlp model file: expected a .npz (zip) archive written by "
                       "Network.save")
    _, disk, _, _, entries, directory_size, _, _ = _EOCD.unpack_from(tail, at)
    most = len(_METADATA) + len(_OPTIONAL_METADATA) + 2 * MAX_LAYERS
    if disk != 0 or entries > most or directory_size > most * 1024:
        raise _Invalid(f"is not a cmlp model file: its zip directory lists {entries} members "
                       f"in {directory_size} bytes; a model has at most {most}")
    f.seek(0)


def _members(archive, size):
    """{array name: ZipInfo}, each checked for sizes the file can actually hold."""
    members = {}
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy") or name[:-4] in members:
            raise _Invalid(f"is not a cmlp model file: unexpected member {name!r}")
        if info.flag_bits & 0x1:
            raise _Invalid(f"is a damaged cmlp model file: member {name!r} is encrypted")
        if info.header_offset < 0:  # zipfile's guess when bytes before the directory are lost
            raise _Invalid(f"is truncated: member {name!r} starts before the file does")
        if info.header_offset + info.compress_size > size:
            raise _Invalid(f"is truncated: member {name!r} extends past the end of the file")
        if info.compress_type == zipfile.ZIP_STORED:
            consistent = info.file_size == info.compress_size
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            consistent = info.file_size <= _DEFLATE_MAX_RATIO * info.compress_size + 1024
        else:
            raise _Invalid(f"is a damaged cmlp model file: member {name!r} uses compression "
                           f"method {info.compress_type}; expected stored or deflated")
        if not consistent:
            raise _Invalid(
                f"is a damaged cmlp model file (a zip bomb?): member {name!r} declares "
                f"{info.file_size} bytes from {info.compress_size} stored bytes")
        members[name[:-4]] = info
    return members


def _npy_header(stream, name):
    """(shape, fortran_order, dtype) from a .npy header, read with numpy's size cap."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream, max_header_size=_NPY_HEADER_MAX)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream, max_header_size=_NPY_HEADER_MAX)
    raise _Invalid(f"is a damaged cmlp model file: array {name!r} has .npy version {version}")


def _read_small(archive, members, name):
    """A metadata array (a string, an int or a short int vector), read with a bounded reader."""
    info = members[name]
    if info.file_size > _SMALL_MEMBER:
        raise _Invalid(f"is a damaged cmlp model file: array {name!r} declares "
                       f"{info.file_size} bytes; metadata arrays are small")
    with archive.open(info) as stream:
        shape, fortran, dtype = _npy_header(stream, name)
        data = read_at_most(stream, _SMALL_MEMBER)
    if data is None or dtype.hasobject or dtype.kind not in "iuU" or len(shape) > 1:
        raise _Invalid(f"is a damaged cmlp model file: array {name!r} has dtype {dtype} and "
                       f"shape {shape}; expected a string or integers")
    count = int(np.prod(shape, dtype=object))
    if count * dtype.itemsize != len(data):
        raise _Invalid(f"is a damaged cmlp model file: array {name!r} holds {len(data)} "
                       f"bytes, its header declares {count} x {dtype.itemsize}")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _scalar(meta, name, kind):
    value = meta.get(name)
    if value is None:
        raise _Invalid(f"is a damaged cmlp model file: array {name!r} is missing")
    if value.shape != () or value.dtype.kind not in kind:
        raise _Invalid(f"is a damaged cmlp model file: array {name!r} has dtype "
                       f"{value.dtype} and shape {value.shape}, expected a scalar")
    return value[()]


def _check_metadata(meta):
    """(layer_sizes, dtype name, activation, loss) from the metadata arrays, each checked."""
    if _scalar(meta, "format", "U") != FORMAT:
        raise _Invalid(f"is not a cmlp model file: it has no '{FORMAT}' marker")
    version = int(_scalar(meta, "format_version", "iu"))
    if version != FORMAT_VERSION:
        raise _Invalid(f"has cmlp model format version {version}; this cmlp reads version "
                       f"{FORMAT_VERSION}")
    sizes = meta.get("layer_sizes")
    if sizes is None:
        raise _Invalid("is a damaged cmlp model file: array 'layer_sizes' is missing")
    if sizes.ndim != 1 or sizes.dtype.kind not in "iu" or not 2 <= len(sizes) <= MAX_LAYERS + 1:
        raise _Invalid(f"is a damaged cmlp model file: layer_sizes has dtype {sizes.dtype} and "
                       f"shape {sizes.shape}; expected 2 to {MAX_LAYERS + 1} integers")
    sizes = [int(s) for s in sizes]
    if not all(1 <= s <= MAX_LAYER_SIZE for s in sizes):
        raise _Invalid(f"is a damaged cmlp model file: layer_sizes {sizes} are not all "
                       f"within 1 to {MAX_LAYER_SIZE}")
    problem = _size_problem(sizes)
    if problem is not None:
        raise _Invalid(problem)
    dtype = str(_scalar(meta, "dtype", "U"))
    if dtype not in DTYPES:
        raise _Invalid(f"is a damaged cmlp model file: dtype {dtype!r}, expected one of "
                       f"{DTYPES}")
    activation = str(_scalar(meta, "activation", "U"))
    if activation not in reference.ACTIVATIONS:
        raise _Invalid(f"is a damaged cmlp model file: activation {activation!r}, expected "
                       f"one of {reference.ACTIVATIONS}")
    loss = str(_scalar(meta, "loss", "U")) if "loss" in meta else "cross_entropy"
    if loss not in reference.LOSSES:
        raise _Invalid(f"is a damaged cmlp model file: loss {loss!r}, expected one of "
                       f"{reference.LOSSES}")
    return sizes, dtype, activation, loss


def _size_problem(sizes):
    """None, or why load refuses a network of these layer sizes (checked by save too, so
    that nothing is saved that cannot be loaded)."""
    if len(sizes) - 1 > MAX_LAYERS:
        return (f"has {len(sizes) - 1:,} layers of weights, above the limit of "
                f"{MAX_LAYERS:,} that load accepts")
    if max(sizes) > MAX_LAYER_SIZE:
        return f"has a layer of {max(sizes):,} units, above load's limit of {MAX_LAYER_SIZE:,}"
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMETERS:
        return (f"has layer_sizes {sizes}: {n_params:,} parameters, above the limit of "
                f"{MAX_PARAMETERS:,} that load accepts")
    return None


def _expected_shapes(sizes):
    shapes = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"weight_{l}"] = (fan_in, fan_out)
        shapes[f"bias_{l}"] = (fan_out,)
    return shapes


def _check_member_names(members, shapes):
    expected = set(_METADATA) | set(shapes)
    missing = sorted(expected - set(members), key=_member_order)
    expected |= set(_OPTIONAL_METADATA)
    if missing:
        raise _Invalid(f"is a damaged cmlp model file: array {missing[0]!r} is missing")
    extra = sorted(set(members) - expected)
    if extra:
        raise _Invalid(f"is a damaged cmlp model file: unexpected array {extra[0]!r}")


def _member_order(name):
    return (name not in _METADATA, len(name), name)


def _check_declared_size(info, name, shape, dtype):
    """The member's declared size must be that of the expected array plus a .npy header."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    low, high = _NPY_OVERHEAD
    if not nbytes + low <= info.file_size <= nbytes + high:
        raise _Invalid(
            f"is a damaged cmlp model file: array {name!r} declares {info.file_size} bytes, "
            f"expected about {nbytes} for shape {shape} of {dtype}")


def _read_floats(archive, info, name, out):
    """Read a member's data straight into ``out`` after checking its .npy header."""
    with archive.open(info) as stream:
        shape, fortran, dtype = _npy_header(stream, name)
        good_dtype = dtype.kind == "f" and dtype.itemsize == out.dtype.itemsize
        if not good_dtype or tuple(shape) != out.shape:
            raise _Invalid(f"is a damaged cmlp model file: array {name!r} has dtype {dtype} "
                           f"and shape {tuple(shape)}, expected {out.dtype} and {out.shape}")
        if stream.tell() + out.nbytes != info.file_size:
            raise _Invalid(f"is a damaged cmlp model file: array {name!r} declares "
                           f"{info.file_size} bytes, its header and shape "
                           f"{stream.tell() + out.nbytes}")
        # Fortran order (np.save of a transposed array): read into the transpose's layout.
        target = np.empty(out.shape[::-1], out.dtype) if fortran else out
        if read_exactly_into(stream, target) != out.nbytes:
            raise _Invalid(f"is truncated: array {name!r} ends early")
        if stream.read(1):  # also the read that makes zipfile check the CRC
            raise _Invalid(f"is a damaged cmlp model file: array {name!r} goes on past its "
                           f"declared size")
    if fortran:
        out[...] = target.T
    if not dtype.isnative:
        out.byteswap(inplace=True)


# ---------------------------------------------------------------------------------------
# what makes a model unusable (checked by both save and load)


def unusable(network):
    """None, or why the network's parameters cannot give finite predictions.

    Non-finite parameters, or finite ones so large that the forward pass overflows (a model
    that diverged, e.g. weights of 1e29, or one crafted to overflow): both would only ever
    raise FloatingPointError. For inputs with every feature in [-1, 1] (the range of scaled
    data, [0, 1] images included) the first layer is checked exactly: its largest
    pre-activation there, sum_i |W_ij| + |b_j|, reached at a corner of that box, must be
    finite. The whole network is then run by the reference, in the network's dtype, on probe
    rows (zeros, ones, minus ones, seeded uniform rows in [-1, 1] and in [0, 1], and the
    corners of both boxes that drive the first layer's largest units furthest), and every
    layer's pre-activations must stay finite (tanh and logistic would hide an overflow).
    Deeper layers are probed, not bounded: inputs that reach no probe's path can still
    overflow a model that passes, and predicting them then raises FloatingPointError.
    """
    params = network._params
    if not np.isfinite(params).all():
        return "holds NaN or infinite parameters"
    W0, b0 = network.weights[0], network.biases[0]
    with np.errstate(all="ignore"):
        reach = np.abs(W0).sum(axis=0, dtype=np.float64) + np.abs(b0)
    if (reach > np.finfo(network.dtype).max).any():
        return _overflows(params, "an input in [-1, 1] can drive a first-layer unit to "
                                  f"{reach.max():.3g}")
    n_in = network.layer_sizes[0]
    rng = np.random.default_rng(0)
    corners = []
    for j in np.argsort(reach)[::-1][:4]:
        corners += [np.sign(W0[:, j]), -np.sign(W0[:, j]), W0[:, j] > 0, W0[:, j] < 0]
    probes = np.vstack([np.zeros(n_in), np.ones(n_in), -np.ones(n_in),
                        rng.uniform(-1, 1, (5, n_in)), rng.uniform(0, 1, (5, n_in))]
                       + [np.asarray(c, dtype=np.float64)[None] for c in corners])
    A = probes.astype(network.dtype)
    with np.errstate(all="ignore"):
        for l, (W, b) in enumerate(zip(network.weights, network.biases)):
            Z = A @ W + b
            if not np.isfinite(Z).all():
                return _overflows(params, f"the forward pass of inputs in [-1, 1] or [0, 1] "
                                          f"overflows in layer {l}")
            A = reference.activate(Z, network.activation)
    return None


def _overflows(params, how):
    return (f"holds weights that overflow (largest |weight| {float(np.abs(params).max()):.3g}):"
            f" {how}, so the model cannot predict")


# ---------------------------------------------------------------------------------------
# save


def save(network, path):
    """Write the network as a .npz archive through cmlp._files.write_atomically (all or
    nothing, open()'s permissions and errors), after refusing what load would refuse."""
    problem = unusable(network) or _size_problem(network.layer_sizes)
    if problem is not None:
        shown = os.fsdecode(os.fspath(path))
        raise ValueError(f"cannot save the network to {shown}: it {problem}")
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
    write_atomically(path, lambda f: np.savez(f, **arrays), "the network")
