"""Files cmlp reads from users and files it writes for them.

Reading: model and data files are untrusted input. A path can name a FIFO (whose open()
waits for a writer forever), a device such as /dev/zero (endless data), a directory or a
symlink loop; none of these is a model or a data set, so they are refused before anything
is read.

Writing: every file cmlp writes (models, ONNX exports, predictions, plots, downloads) goes
through write_atomically, which writes like ``open(path, "wb")`` would but all at once.
"""
import errno
import os
import secrets
import stat

try:  # POSIX: a write in progress holds a lock on its temp file (see _remove_stale_temps)
    import fcntl
except ImportError:  # Windows: no cleanup of temp files left by killed writers
    fcntl = None  # type: ignore[assignment]

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


# ---------------------------------------------------------------------------------------
# writing

_TEMP_SUFFIX = ".cmlp-save"
_TEMP_TOKEN = 12  # hex digits of randomness in a temp file's name


def write_atomically(path, write, what="the file"):
    """Write a file through ``write(f)`` (``f`` a binary file object, readable too), all or
    nothing.

    The rules are open(path, "wb")'s, with one difference: the data goes to a temporary file
    beside the destination that is renamed over it once complete (os.replace is atomic on
    one file system), so a crash, a full disk or an exception in ``write`` leaves the old file
    or the new one, never a half-written one, and no temp file. Like open():

    - a new file gets mode 0666 minus the umask (and the directory's default ACL); a
      replaced file keeps its permission bits;
    - a file open() may not write (write-protected, for a user who is not root) is refused
      with PermissionError, as is a directory (IsADirectoryError);
    - a symlink is followed: the file it points to is replaced, the link stays;
    - ``path`` may be str, bytes or path-like; a trailing slash names a directory;
    - a device or a FIFO (/dev/null, /dev/stdout) is written into, not replaced;
    - errors are OSErrors of open()'s kind whose filename is ``path`` as given (never the
      temp file), and whose message says ``what`` was being written.

    The temp file is named ``.<name>.<random>.cmlp-save`` and locked (flock) while the write
    runs; a writer that was killed leaves its temp file unlocked, and the next write to the
    same name removes it. Returns ``path``.
    """
    given = os.fspath(path)  # str or bytes, as open() names it in errors
    name = os.fsdecode(os.fspath(path))
    try:
        target = _destination(name)
        if _is_special(target):
            _write_into(target, write)
            return given
        directory, base = os.path.split(target)
        _remove_stale_temps(directory, base)
        fd, tmp = _locked_temp(directory, base)
    except OSError as error:
        raise _write_error(error, given, what) from None
    try:
        with os.fdopen(fd, "w+b", closefd=False) as f:  # readable: a writer may check its data
            write(f)
            f.flush()
            _keep_mode(fd, target)
            os.fsync(fd)
        os.replace(tmp, target)  # while still locked, so no cleaner can take it first
    except BaseException as error:
        _unlink_quietly(tmp)
        # The file system's errors (a full disk, a rename refused) are put in the user's
        # words; write's own (a failed download, say) propagate as they are.
        if isinstance(error, OSError) and error.errno is not None \
                and type(error).__module__ == "builtins":
            raise _write_error(error, given, what) from None
        raise
    finally:
        os.close(fd)
    return given


def _write_error(error, path, what):
    """An OSError of the same kind (errno picks the subclass) naming the user's path."""
    reason = error.strerror or str(error)
    return OSError(error.errno, f"could not write {what}: {reason}", path)


def _destination(path):
    """The file a write to ``path`` must replace (a symlink's target, not the link), after
    refusing what open(path, "w") refuses."""
    if path.endswith(os.sep) or (os.altsep and path.endswith(os.altsep)):
        # names a directory: open(path, "w") refuses it, whether a file of that name exists
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
    target = os.path.realpath(path)
    if os.path.islink(target):  # realpath gives up on a loop and returns a link
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
    if os.path.isdir(target):
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
    if os.path.exists(target) and not os.access(target, os.W_OK):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))  # as open() would
    return target


def _is_special(path):
    """Whether path names a device, a FIFO or a socket (not a new or a regular file)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _write_into(path, write):
    """A device or a FIFO (/dev/null, /dev/stdout) has nothing to replace atomically, and a
    temp file beside it would land in /dev: it is written into, as open() would."""
    with open(path, "wb") as f:
        write(f)


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
    """Remove temp files of earlier writes to the same name whose process died.

    A live write holds an exclusive flock on its temp file until it has renamed it; the
    kernel drops the lock when the process dies, however it dies (SIGKILL included). So an
    unlocked temp file with our name pattern belongs to no running write.
    """
    if fcntl is None:
        return
    prefix = _temp_prefix(name)
    for entry in os.scandir(directory or "."):
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
            pass  # locked by a running write (BlockingIOError), or gone
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
