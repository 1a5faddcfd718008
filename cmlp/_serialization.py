"""Network files: a .npz archive with a format name and version, read without pickle.

A model file is untrusted input (README, "Trust model"). ``load`` never lets the file decide
how much memory to allocate: it reads the zip directory and the small metadata arrays first
(each through a reader bounded to a few kilobytes), derives from ``layer_sizes`` and ``dtype``
exactly which arrays must follow and how many bytes each holds, checks every size the archive
declares against that (and against what the file's length can physically hold), and only
then allocates the parameters and reads them straight into place.
"""
import errno
import os
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np

from cmlp import reference
from cmlp._files import file_size, open_regular, read_at_most, read_exactly_into
from cmlp._validation import DTYPES

try:  # POSIX: a save in progress holds a lock on its temp file (see _remove_stale_temps)
    import fcntl
except ImportError:  # Windows: no cleanup of temp files left by killed saves
    fcntl = None  # type: ignore[assignment]

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
_TEMP_SUFFIX = ".cmlp-save"
_TEMP_TOKEN = 12  # hex digits of randomness in a temp file's name


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
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMETERS:
        raise _Invalid(f"declares layer_sizes {sizes}: {n_params:,} parameters, above the "
                       f"limit of {MAX_PARAMETERS:,} that load accepts")
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
    that diverged, e.g. weights of 1e29): both would only ever predict NaN. The overflow check
    runs the reference forward pass, in the network's dtype, on probe inputs with every
    feature in [-1, 1] (zeros, ones, minus ones and a few seeded uniform rows): the range of
    scaled data. Inputs far outside it can still overflow a model that passes.
    """
    params = network._params
    if not np.isfinite(params).all():
        return "holds NaN or infinite parameters"
    n_in = network.layer_sizes[0]
    probes = np.concatenate([np.zeros((1, n_in)), np.ones((1, n_in)), -np.ones((1, n_in)),
                             np.random.default_rng(0).uniform(-1, 1, (5, n_in))])
    A = probes.astype(network.dtype)
    with np.errstate(all="ignore"):
        for l, (W, b) in enumerate(zip(network.weights, network.biases)):
            Z = A @ W + b
            A = reference.activate(Z, network.activation) if l < len(network.weights) - 1 else Z
    if not np.isfinite(A).all():
        return (f"holds weights that overflow (largest |weight| "
                f"{float(np.abs(params).max()):.3g}): the forward pass of inputs in [-1, 1] "
                f"gives non-finite outputs, so the model cannot predict")
    return None


# ---------------------------------------------------------------------------------------
# save


def save(network, path):
    """Write to a temporary file beside the destination, then rename it into place.

    os.replace is atomic on one filesystem, so a crash mid-save leaves either the old file
    or the new one, never a half-written one. The temp file is named
    ``.<name>.<random>.cmlp-save`` and locked (flock) while the save runs; a save that was
    killed leaves its temp file unlocked, and the next save to the same name removes it.
    A symlink destination is followed: the file it points to is replaced, the link stays.
    The new file gets the permissions a plain open() would: those of the file it replaces,
    else 0666 minus the umask (and the directory's default ACL), because the temp file is
    created with mode 0666 rather than tempfile's 0600.
    """
    path = os.fspath(path)
    problem = unusable(network)
    if problem is not None:
        raise ValueError(f"cannot save the network to {path}: it {problem}")
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
    target = _destination(path)
    directory, name = os.path.split(target)
    try:
        _remove_stale_temps(directory, name)
        fd, tmp = _locked_temp(directory, name)
    except OSError as error:
        raise _save_error(error, path) from None
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            np.savez(f, **arrays)
            f.flush()
            _keep_mode(fd, target)
            os.fsync(fd)
        os.replace(tmp, target)  # while still locked, so no cleaner can take it first
    except BaseException as error:
        _unlink_quietly(tmp)
        if isinstance(error, OSError):
            raise _save_error(error, path) from None
        raise
    finally:
        os.close(fd)


def _save_error(error, path):
    reason = error.strerror or str(error)
    return OSError(error.errno, f"could not save the network: {reason}", path)


def _destination(path):
    """The file a save to ``path`` must replace: a symlink's target, not the link."""
    target = os.path.realpath(path)
    if os.path.islink(target):  # realpath gives up on a loop and returns a link
        raise OSError(errno.ELOOP, "could not save the network: a symlink loop", path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "could not save the network: a directory", path)
    return target


def _temp_prefix(name):
    # Leaves room in NAME_MAX (255) for the random part and the suffix.
    return "." + name[:200] + "."


def _locked_temp(directory, name):
    """(fd, path) of a new, empty temp file that this process holds an exclusive lock on."""
    while True:
        tmp = os.path.join(directory, _temp_prefix(name) + secrets.token_hex(_TEMP_TOKEN // 2)
                           + _TEMP_SUFFIX)
        # Mode 0666: the umask and a default ACL then apply, as for any new file.
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0), 0o666)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return fd, tmp
        # A cleaner locked it between our open and our flock, and removed it: try again.
        os.close(fd)


def _remove_stale_temps(directory, name):
    """Remove temp files of earlier saves to the same name whose process died.

    A live save holds an exclusive flock on its temp file until it has renamed it; the
    kernel drops the lock when the process dies, however it dies (SIGKILL included). So an
    unlocked temp file with our name pattern belongs to no running save.
    """
    if fcntl is None:
        return
    prefix = _temp_prefix(name)
    for entry in os.scandir(directory):
        middle = entry.name[len(prefix):-len(_TEMP_SUFFIX)]
        if not (entry.name.startswith(prefix) and entry.name.endswith(_TEMP_SUFFIX)
                and len(middle) == _TEMP_TOKEN and all(c in "0123456789abcdef" for c in middle)):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue  # renamed or removed meanwhile, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            opened = os.fstat(fd)
            current = os.stat(entry.path, follow_symlinks=False)
            if stat.S_ISREG(opened.st_mode) and (opened.st_dev, opened.st_ino) == (
                    current.st_dev, current.st_ino):
                os.unlink(entry.path)
        except OSError:
            pass  # locked by a running save (BlockingIOError), or gone
        finally:
            os.close(fd)


def _keep_mode(fd, target):
    """Give the new file the permission bits of the file it replaces, as open() keeps them."""
    try:
        old = os.stat(target)
    except OSError:
        return  # a new file: the mode os.open gave it is already right
    if stat.S_ISREG(old.st_mode) and hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(old.st_mode) & 0o777)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
