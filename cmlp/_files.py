"""Opening files that come from users: regular files only, errors that name the path.

Model and data files are untrusted input. A path can name a FIFO (whose open() waits for a
writer forever), a device such as /dev/zero (endless data), a directory or a symlink loop;
none of these is a model or a data set, so they are refused before anything is read.
"""
import errno
import os
import stat

# Opening a FIFO for reading blocks until a writer appears; O_NONBLOCK makes that open
# return at once, so the fstat check below can refuse it. Regular files ignore the flag.
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode):
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _check_regular(mode, path, what):
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, f"{what} expected, got a directory", path)
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL,
                      f"{what} must be a regular file, this is {_kind(mode)}", path)


def _named(error, path, what):
    """The same kind of OSError, saying what was being opened and naming the user's path."""
    if isinstance(error, FileNotFoundError):
        return FileNotFoundError(errno.ENOENT, f"{what} not found", path)
    reason = error.strerror or str(error)
    return OSError(error.errno, f"cannot open {what}: {reason}", path)


def open_regular(path, what):
    """Open ``path`` for reading bytes, after checking that it is a regular file.

    Raises FileNotFoundError, PermissionError, IsADirectoryError or OSError (a FIFO, a
    device, a socket, a symlink loop), each naming ``path``. The file is stat'ed before it is
    opened (so a device is never opened) and fstat'ed after (so a path swapped in between
    cannot slip through).
    """
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as error:  # missing, no permission on a directory, a symlink loop
        raise _named(error, path, what) from None
    _check_regular(mode, path, what)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:  # no read permission, or removed since the stat
        raise _named(error, path, what) from None
    try:
        _check_regular(os.fstat(fd).st_mode, path, what)
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_size(f):
    """Size in bytes of an open regular file."""
    return os.fstat(f.fileno()).st_size


def read_at_most(f, limit):
    """Read until EOF but never more than ``limit`` bytes; None if the data goes on beyond.

    For streams whose length is not known ahead (a gzip member, a zip member whose declared
    size is untrusted): memory stays bounded by ``limit`` whatever the stream claims.
    """
    data = f.read(limit + 1)
    return None if len(data) > limit else data


def read_exactly_into(f, buffer, chunk=1 << 20):
    """Fill ``buffer`` (a writable bytes-like) from ``f`` in chunks; return the bytes read
    (less than len(buffer) only if the stream ended). Chunks bound the temporaries that
    readers without a real readinto (gzip, zip members) allocate."""
    view = memoryview(buffer).cast("B")
    done = 0
    while done < len(view):
        data = f.read(min(chunk, len(view) - done))
        if not data:
            break
        view[done:done + len(data)] = data
        done += len(data)
    return done
