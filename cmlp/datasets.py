"""MNIST readers: CSV (every common layout), IDX (gzip or raw), the bundled sample, downloads.

Every loader returns ``(X, y)``: ``X`` float32, C-contiguous, ``(n_samples, n_pixels)``,
scaled to [0, 1]; ``y`` int64 labels in 0-9 (``None`` for a CSV without labels).

This module is the validation layer for data files: a bad file raises ``DatasetError`` (a
``ValueError``) naming the file and, where it applies, the row, line and column, so nothing
downstream (the network, the compiled kernels) ever sees malformed data. It imports no
compiled code.
"""
import csv
import gzip
import hashlib
import http.client
import io
import os
import re
import stat
import struct
import urllib.request
import zlib
from importlib import resources
from pathlib import Path
from typing import NamedTuple, Optional, Tuple

import numpy as np
import pandas as pd

from cmlp._files import file_size, open_regular, read_exactly_into, write_atomically

__all__ = [
    "DatasetError",
    "DownloadError",
    "MNIST_MIRRORS",
    "fetch_mnist",
    "load_csv",
    "load_idx",
    "load_mnist",
    "load_path",
    "load_sample",
]

# Public mirrors of the original MNIST .gz files, tried in order (the original
# yann.lecun.com site is not dependable for downloads).
# Override per call with ``fetch_mnist(mirrors=...)``.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# Standard file stems per split: (images, labels). Either ``stem`` or ``stem.gz`` is accepted.
_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# md5 and size of the *decompressed* content. The .gz bytes differ between mirrors (gzip
# header timestamps), the content does not, so this is what a download is checked against.
_MNIST_CHECKSUMS = {
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", 47_040_016),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", 60_008),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", 7_840_016),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", 10_008),
}

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_N_CLASSES = 10
_CHUNK = 1 << 20
# Longest first line read while detecting the layout: a row of 784 pixels is ~3 kB, a
# 1000x1000 image ~4 MB; a file with no newline is not read whole.
_MAX_LINE = 1 << 24
# Every later line is capped by the column count the first line gave: a pixel written out
# takes at most a few characters ("255", "0.00392156862745098"), so 64 per column bounds any
# real row, and a line beyond it is refused before pandas (or csv) holds more of it than
# that: a 1 GB line never reaches memory (pandas needs ~5 bytes per byte of a line).
_CHARS_PER_COLUMN = 64
_MIN_ROW_CAP = 4096
_PANDAS_CHUNK = 1 << 18
# Deflate cannot compress better than 1032:1, so an IDX header declaring more data than
# that per byte of a .gz file is refused before decompressing anything (a gzip bomb).
_DEFLATE_MAX_RATIO = 1032


class DatasetError(ValueError):
    """A data file is malformed; the message names the file and where the problem is.

    A ValueError: the row and column (CSV) or the header field (IDX) of the first problem.

    Examples
    --------
    >>> from cmlp.datasets import DatasetError, load_csv
    >>> try:
    ...     load_csv("broken.csv")
    ... except DatasetError as error:
    ...     print(error)  # doctest: +SKIP
    """


class DownloadError(OSError):
    """A download failed: no mirror delivered the file with the expected content.

    An OSError whose message lists each URL tried and what went wrong there.

    Examples
    --------
    >>> from cmlp.datasets import DownloadError, fetch_mnist
    >>> try:
    ...     fetch_mnist(mirrors=["http://127.0.0.1:9/"], timeout=1)
    ... except DownloadError as error:
    ...     print("no mirror answered")  # doctest: +SKIP
    """


# ---------------------------------------------------------------------------------------
# shared helpers


def _existing_file(path, what):
    """Return ``path`` as a Path if it names a regular file (following symlinks).

    Raises FileNotFoundError, IsADirectoryError or OSError (a FIFO, a device, a symlink
    loop, no permission), each naming the path. Every later open goes through
    open_regular too, which re-checks the file it actually opened.
    """
    path = Path(os.fspath(path))
    open_regular(path, what).close()
    return path


class _OwningGzipFile(gzip.GzipFile):
    """A GzipFile that closes the file object it was given (gzip.open only does that for
    files it opened by name)."""

    def __init__(self, raw):
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self):
        try:
            super().close()
        finally:
            self._raw.close()


def _open_binary(path):
    """Open a regular file for reading bytes, transparently decompressing gzip (detected by
    content, not by name: mirrors and users rename files freely)."""
    raw = open_regular(path, "data file")
    try:
        is_gzip = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        return _OwningGzipFile(raw) if is_gzip else raw
    except BaseException:
        raw.close()
        raise


def _scale(pixels):
    """uint8 or float pixel values 0-255 -> new float32 C-contiguous array in [0, 1].

    CSV and IDX both go through here so the same image gives bit-identical rows.
    """
    X = np.array(pixels, dtype=np.float32, order="C", copy=True)
    X /= np.float32(255)
    return X


# ---------------------------------------------------------------------------------------
# CSV


class _Layout(NamedTuple):
    """What the first line of a CSV file told us."""

    header_line: int  # 1-based line of the header, 0 without a header
    has_label: bool  # label in the first column
    n_columns: int
    names: Optional[Tuple[str, ...]]  # header names, None without a header


_KNOWN_LAYOUTS = (
    "'label,1x1,...,28x28' (Kaggle MNIST in CSV), 'label,pixel0,...', 'label,pixel1,...', "
    "'pixel0,...' without a label column (Kaggle digit-recognizer test.csv), "
    "or no header with the label in the first column"
)


def _open_text(path):
    """Text view of a maybe-gzipped file, ready for csv.reader.

    utf-8-sig drops the byte-order mark spreadsheet programs put in front of the header.
    """
    # surrogateescape: bytes that are not UTF-8 come through as lone surrogates, so that
    # _lines can say in which row and column they are instead of failing the whole read.
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="",
                            errors="surrogateescape")


# What reading a file as text can raise when the file is binary or a damaged gzip.
_UNREADABLE_TEXT = (UnicodeDecodeError, csv.Error, EOFError, zlib.error, gzip.BadGzipFile)


def _unreadable(path, exc):
    if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
        return DatasetError(f"'{path}': truncated or corrupt gzip data ({exc})")
    return DatasetError(f"'{path}': not a readable text CSV file ({type(exc).__name__}: {exc})")


def _row_cap(layout):
    """The longest line (in characters) a row of this layout may take."""
    return min(_MAX_LINE, max(_MIN_ROW_CAP, _CHARS_PER_COLUMN * layout.n_columns))


def _too_long(path, cap, line, row, layout):
    where = f"line {line}" if row is None else f"row {row} (line {line})"
    why = ("not a CSV of images" if layout is None else
           f"at most {_CHARS_PER_COLUMN} per column of the {layout.n_columns} the first line "
           "has; not a row of this CSV")
    return DatasetError(f"'{path}': {where} is longer than {cap:,} characters ({why})")


def _lines(f, path, layout=None):
    """The lines of a text file for csv.reader, each refused with DatasetError past its
    cap (_MAX_LINE before the layout is known, _row_cap after) before more is read."""
    cap = _MAX_LINE if layout is None else _row_cap(layout)
    number = row = 0
    while True:
        line = f.readline(cap + 1)
        if not line:
            return
        number += 1
        if layout is not None and number > layout.header_line and line.strip():
            row += 1
        if len(line.rstrip("\r\n")) > cap:
            raise _too_long(path, cap, number, row if layout is not None else None, layout)
        bad = _NOT_UTF8.search(line)
        if bad is not None:
            raise _not_utf8(path, line, bad.start(), number, row, layout)
        yield line


_NOT_UTF8 = re.compile("[\udc80-\udcff]+")  # bytes surrogateescape could not decode


def _not_utf8(path, line, at, number, row, layout):
    in_data = layout is not None and number > layout.header_line
    where = f"row {row} (line {number})" if in_data else f"line {number}"
    j = line.count(",", 0, at)
    column = _column(layout, j) if layout is not None and j < layout.n_columns \
        else f", column {j + 1}"
    raw = _NOT_UTF8.match(line, at).group().encode("utf-8", "surrogateescape")
    return DatasetError(f"'{path}': {where}{column}: bytes {raw!r} are not UTF-8 text "
                        "(not a readable text CSV file)")


class _LongLine(Exception):
    """Internal: _CappedLines met a line past its cap (the scan then says where)."""


class _CappedLines(io.RawIOBase):
    """A binary stream for pandas that hands on whole lines only and raises _LongLine at a
    line longer than ``cap`` bytes, having held at most ``cap`` bytes of it.

    Lines end at \\n or \\r (pandas' C parser ends them at either). Reads are at most
    ``cap`` bytes, so a line within one read is never too long; a line spread over reads is
    measured as it grows.
    """

    def __init__(self, raw, cap):
        super().__init__()
        self._raw, self._cap = raw, cap
        self._chunk = min(cap, _PANDAS_CHUNK)
        self._ready = memoryview(b"")  # complete lines not yet handed on
        self._tail = bytearray()  # the start of a line whose end has not been read
        self._eof = False

    def readable(self):
        return True

    def readinto(self, buffer):
        while not len(self._ready) and not self._eof:
            self._fill()
        n = min(len(buffer), len(self._ready))
        buffer[:n] = self._ready[:n]
        self._ready = self._ready[n:]
        return n

    def _fill(self):
        data = self._raw.read(self._chunk)
        if not data:
            self._eof = True
            if len(self._tail) > self._cap:
                raise _LongLine
            self._ready, self._tail = memoryview(bytes(self._tail)), bytearray()
            return
        ends = [at for at in (data.find(b"\n"), data.find(b"\r")) if at >= 0]
        if not ends:
            self._tail += data
            if len(self._tail) > self._cap:
                raise _LongLine
            return
        if len(self._tail) + min(ends) > self._cap:
            raise _LongLine
        last = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        self._tail += data[:last]
        self._ready = memoryview(bytes(self._tail))
        self._tail = bytearray(data[last:])


def _is_blank(fields):
    # pandas skips empty and whitespace-only lines; the error-path scan does the same so
    # both count rows alike.
    return not fields or (len(fields) == 1 and not fields[0].strip())


# A number as pandas' C parser reads one: ASCII digits only. Python's float() also takes
# "1_0" and other scripts' digits ("\u0663"), which pandas refuses; the row-by-row scan must
# refuse the same cells to say where they are.
_NUMBER = re.compile(
    r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)\s*",
    re.IGNORECASE)


def _is_number(text):
    return _NUMBER.fullmatch(text) is not None


def _read_first_row(path):
    """(fields, line number) of the first non-blank line, or (None, 0) for an empty file."""
    try:
        with _open_text(path) as f:
            reader = csv.reader(_lines(f, path))
            for fields in reader:
                if not _is_blank(fields):
                    return fields, reader.line_num
    except _UNREADABLE_TEXT as exc:
        raise _unreadable(path, exc) from None
    return None, 0


def _grid_width(lower):
    """Width of a Kaggle 'RxC' pixel grid: how many '1x1', '1x2', ... names lead (28)."""
    width = 0
    while width < len(lower) and lower[width] == f"1x{width + 1}":
        width += 1
    return width


def _expected_pixel_names(lower):
    """The pixel column names of the layout that ``lower[0]`` announces, or None."""
    n = len(lower)
    if lower[0] == "pixel0":
        return [f"pixel{i}" for i in range(n)]
    if lower[0] == "pixel1":
        return [f"pixel{i}" for i in range(1, n + 1)]
    if lower[0] == "1x1":
        width = _grid_width(lower)
        n_rows = -(-n // width)
        return [f"{r}x{c}" for r in range(1, n_rows + 1) for c in range(1, width + 1)][:n]
    return None


def _pixel_header_problem(names, first_column):
    """None if ``names`` are the pixel columns of a known layout, else what is wrong."""
    if not names:
        return "no pixel columns"
    lower = [name.lower() for name in names]
    expected = _expected_pixel_names(lower)
    if expected is None:
        hint = ""
        if lower[0] in ("", "unnamed: 0"):
            hint = " (an index column? write the CSV with index=False)"
        return (
            f"column {first_column} is {names[0]!r}, expected 'pixel0', 'pixel1' or '1x1'{hint}"
        )
    for j, (got, want) in enumerate(zip(lower, expected)):
        if got != want:
            return f"column {first_column + j} is {names[j]!r}, expected {want!r}"
    if lower[0] == "1x1" and len(lower) % _grid_width(lower):
        last = first_column + len(lower) - 1
        return f"the pixel grid ends mid-row at column {last} ({names[-1]!r})"
    return None


def _detect_layout(path):
    """Read only the first line and decide which CSV layout the file uses."""
    first, line = _read_first_row(path)
    if first is None:
        raise DatasetError(f"'{path}': empty file, expected MNIST-like CSV")
    if all(_is_number(field) for field in first):
        if len(first) < 2:
            raise DatasetError(f"'{path}': line {line} has a single column, no pixel columns")
        return _Layout(0, True, len(first), None)

    names = tuple(field.strip() for field in first)
    has_label = names[0].lower() == "label"
    pixel_names = names[1:] if has_label else names
    problem = _pixel_header_problem(pixel_names, first_column=2 if has_label else 1)
    if problem is None:
        return _Layout(line, has_label, len(names), names)

    if sum(map(_is_number, first)) > len(first) // 2:
        # Mostly numbers: a data row with a bad cell, not a header.
        j = next(j for j, field in enumerate(first) if not _is_number(field))
        raise DatasetError(
            f"'{path}': row 1 (line {line}), column {j + 1}: {_describe_cell(first[j])}"
        )
    raise DatasetError(
        f"'{path}': line {line}: header matches no known MNIST CSV layout: {problem}. "
        f"Known layouts: {_KNOWN_LAYOUTS}"
    )


_MISSING = {"na", "n/a", "nan", "-nan", "null", "none", "<na>"}


def _describe_cell(text):
    """Why a cell that should hold a finite number does not."""
    stripped = text.strip()
    if not stripped:
        return "empty cell, expected a number"
    if stripped.lower() in _MISSING:
        return f"missing value {text!r}, expected a number"
    if _is_number(stripped):
        return f"value {text!r} is not finite"
    return f"non-numeric value {text!r}, expected a number"


def _column(layout, j):
    """', column 3 ('1x2')' for messages; columns are 1-based like a spreadsheet's."""
    if layout.names is not None:
        return f", column {j + 1} ({layout.names[j]!r})"
    if layout.has_label and j == 0:
        return ", column 1 (label)"
    return f", column {j + 1}"


def _row_problem(fields, layout):
    """What is wrong with one CSV row (a list of strings) as ``(where, what)``, or None."""
    if len(fields) != layout.n_columns:
        source = "the header" if layout.header_line else "the first row"
        return "", f"{len(fields)} fields, expected {layout.n_columns} as in {source}"
    j = next((j for j, field in enumerate(fields) if not _is_number(field)), None)
    if j is not None:
        return _column(layout, j), _describe_cell(fields[j])
    values = np.array(fields, dtype=np.float64)
    nonfinite = np.flatnonzero(~np.isfinite(values))
    if nonfinite.size:
        j = nonfinite[0]
        return _column(layout, j), _describe_cell(fields[j])
    start = 0
    if layout.has_label:
        if not _LABEL.fullmatch(fields[0]):
            return _column(layout, 0), f"label {fields[0].strip()} is not an integer in 0-9"
        start = 1
    outside = np.flatnonzero((values[start:] < 0) | (values[start:] > 255))
    if outside.size:
        j = start + outside[0]
        return _column(layout, j), f"pixel value {fields[j].strip()} is outside 0-255"
    return None


# A label as CSV writers spell the integers 0-9: "7", "07", "+7", "7.0". Matched on the
# text, because any float parse accepts 0.99999999 (float32: 1.0) or 1e0 as a digit.
_LABEL = re.compile(r"\s*\+?0*[0-9](?:\.0*)?\s*")


def _find_csv_problem(path, layout):
    """Scan the file row by row and describe its first problem (slow: error path only)."""
    with _open_text(path) as f:
        reader = csv.reader(_lines(f, path, layout))
        row = 0
        for fields in reader:
            if reader.line_num <= layout.header_line or _is_blank(fields):
                continue
            row += 1
            problem = _row_problem(fields, layout)
            if problem is not None:
                where, what = problem
                return f"'{path}': row {row} (line {reader.line_num}){where}: {what}"
    return None


def _csv_error(path, layout, cause):
    """The DatasetError for a file the fast path rejected, located by a row-by-row scan."""
    try:
        problem = _find_csv_problem(path, layout)
    except _UNREADABLE_TEXT as exc:
        return _unreadable(path, exc)
    except DatasetError as exc:  # a line too long to read
        return exc
    if problem is not None:
        return DatasetError(problem)
    # Not expected: pandas rejected something the scan accepts. Keep pandas' words.
    detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return DatasetError(f"'{path}': could not read as MNIST-like CSV{detail}")


def _read_values(path, layout):
    """(pixels float32, label strings or None) via pandas' C parser: the fast path, no
    validation."""
    # float32 parses as fast as uint8 here and also accepts '0.0'-style pixels; empty
    # cells become NaN, which the range check below turns into an error. Labels are read
    # as text and matched exactly (_LABEL).
    first = 1 if layout.has_label else 0
    dtypes = {j: np.float32 for j in range(first, layout.n_columns)}
    if layout.has_label:
        dtypes[0] = str
    with _open_binary(path) as f:
        table = pd.read_csv(
            _CappedLines(f, _row_cap(layout)),
            header=None,
            skiprows=layout.header_line,  # lines up to and including the header
            dtype=dtypes,
            engine="c",
            encoding="utf-8-sig",
        )
    if table.shape[1] != layout.n_columns:
        return None, None
    labels = table.pop(0) if layout.has_label else None
    return table.to_numpy(dtype=np.float32), labels


def _values_ok(pixels, labels):
    """Cheap whole-array checks; any failure sends us to the row-by-row diagnosis."""
    # NaN (an empty cell, a short row) makes min/max NaN and fails both comparisons.
    if not (pixels.min() >= 0 and pixels.max() <= 255):
        return False
    if labels is not None:
        return bool(labels.str.fullmatch(_LABEL).fillna(False).all())
    return True


def load_csv(path):
    """Read MNIST-like CSV in any common layout.

    The layout is detected from the first line: Kaggle "MNIST in CSV" (``label,1x1,...,28x28``),
    ``label,pixel0,...`` or ``label,pixel1,...``, no header with the label first, or a header
    ``pixel0,...`` without a label column (for prediction). Pixels must be 0-255 and labels
    integers 0-9 (``7``, ``07``, ``+7`` and ``7.0`` are; ``0.99999999`` and ``1e0`` are not).
    Any pixel count is accepted; the file may be gzip-compressed.

    Parameters
    ----------
    path : str or os.PathLike
        A regular file.

    Returns
    -------
    X : numpy.ndarray
        float32, C-contiguous, ``(n, n_pixels)``, scaled to [0, 1].
    y : numpy.ndarray or None
        int64 labels ``(n,)``, or None for a file without a label column.

    Raises
    ------
    DatasetError
        The first problem, naming the file, row, line and column: a wrong column count, a
        non-numeric cell, a pixel outside 0-255, a label that is not an integer 0-9, ragged
        rows, an unknown header, a truncated gzip file.
    OSError
        A path that is missing, not a regular file (a directory, a FIFO, a device), or
        unreadable.

    Examples
    --------
    >>> from cmlp.datasets import load_csv
    >>> X, y = load_csv("mnist_train.csv")  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((60000, 784), (60000,))
    """
    path = _existing_file(path, "CSV file")
    layout = _detect_layout(path)
    pixels, labels, parse_error = None, None, None
    try:
        pixels, labels = _read_values(path, layout)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"'{path}': has a header but no data rows") from None
    except _LongLine:
        raise _csv_error(path, layout, None) from None
    except (ValueError, OverflowError) as exc:
        # e.g. "could not convert string to float: 'x'": no row, no column. Locate it below,
        # outside this block, so pandas' traceback is not chained to ours.
        parse_error = exc
    except _UNREADABLE_TEXT as exc:  # a truncated .gz, undecodable text
        raise _unreadable(path, exc) from None
    if pixels is None or not _values_ok(pixels, labels):
        raise _csv_error(path, layout, parse_error)

    if layout.has_label:
        return _scale(pixels), pd.to_numeric(labels.str.strip()).to_numpy().astype(np.int64)
    return _scale(pixels), None


# ---------------------------------------------------------------------------------------
# IDX


_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def _read_idx(path, kind):
    """The uint8 items of an IDX file as a 2-D array, after checking the header.

    The header is read first and decides how much is read: a file declaring more items than
    it holds is refused before the data is allocated, and a gzip stream is decompressed only
    as far as the header allows (never whole, however much it would expand to).
    """
    try:
        with _open_binary(path) as f:
            n_items, item_size = _idx_header(f, path, kind)
            expected = n_items * item_size
            stored = file_size(f.fileobj if isinstance(f, gzip.GzipFile) else f)
            _check_idx_capacity(path, kind, n_items, expected, stored, isinstance(f, gzip.GzipFile))
            items = np.empty(expected, dtype=np.uint8)
            found = read_exactly_into(f, items)
            if found < expected:
                raise DatasetError(
                    f"'{path}': truncated: header declares {n_items} {kind} ({expected} bytes "
                    f"of data) but the file has {found} bytes")
            extra = len(f.read(_CHUNK))
            if extra:
                more = "+" if extra == _CHUNK else ""
                raise DatasetError(
                    f"'{path}': {extra}{more} unexpected bytes after the {n_items} {kind} "
                    f"declared in the header")
    except _GZIP_ERRORS as exc:
        raise DatasetError(f"'{path}': truncated or corrupt gzip data ({exc})") from None
    return items.reshape(n_items, item_size)


def _idx_header(f, path, kind):
    """(number of items, bytes per item) from an IDX header, magic number checked."""
    magic, ndim = (_IDX_IMAGES_MAGIC, 3) if kind == "images" else (_IDX_LABELS_MAGIC, 1)
    header_size = 4 + 4 * ndim
    header = f.read(header_size)
    if len(header) < header_size:
        raise DatasetError(
            f"'{path}': truncated IDX {kind} file: {len(header)} bytes, shorter than the "
            f"{header_size}-byte header"
        )
    (found,) = struct.unpack(">I", header[:4])
    if found != magic:
        hint = ""
        if found in (_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC):
            other = "images" if found == _IDX_IMAGES_MAGIC else "labels"
            hint = f" (this is an IDX {other} file; are images and labels swapped?)"
        raise DatasetError(
            f"'{path}': magic number {found}, expected {magic} for an IDX {kind} file{hint}"
        )
    dims = struct.unpack(f">{ndim}I", header[4:])
    item_size = dims[1] * dims[2] if kind == "images" else 1
    if item_size == 0:
        raise DatasetError(f"'{path}': header declares {dims[1]}x{dims[2]} images")
    return dims[0], item_size


def _check_idx_capacity(path, kind, n_items, expected, stored, compressed):
    """Refuse a header declaring more data than the file can hold, before allocating it."""
    header_size = 16 if kind == "images" else 8
    if not compressed:
        if stored - header_size < expected:
            raise DatasetError(
                f"'{path}': truncated: header declares {n_items} {kind} ({expected} bytes of "
                f"data) but the file has {stored - header_size} bytes"
            )
        return
    if expected > _DEFLATE_MAX_RATIO * stored:
        raise DatasetError(
            f"'{path}': header declares {n_items} {kind} ({expected} bytes of data), more "
            f"than a {stored}-byte gzip file can hold (deflate expands at most "
            f"{_DEFLATE_MAX_RATIO}:1)"
        )


def load_idx(images_path, labels_path=None):
    """Read an IDX images file and, if given, an IDX labels file (each gzip or raw).

    Checks the magic numbers (2051 images, 2049 labels), that the data length matches the
    header, that both files hold the same number of items and that labels are 0-9.

    Parameters
    ----------
    images_path : str or os.PathLike
        The IDX images file (``*-images-idx3-ubyte`` or the same with ``.gz``).
    labels_path : str or os.PathLike or None, default=None
        The IDX labels file; None reads the images only.

    Returns
    -------
    X : numpy.ndarray
        float32, C-contiguous, ``(n, rows * cols)``, scaled to [0, 1].
    y : numpy.ndarray or None
        int64 labels ``(n,)``, or None without a labels file.

    Raises
    ------
    DatasetError
        A file that is not IDX, truncated, of another kind, a count mismatch, a label
        outside 0-9.
    OSError
        A path that is missing, not a regular file, or unreadable.

    Examples
    --------
    >>> from cmlp.datasets import load_idx
    >>> X, y = load_idx("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    ... # doctest: +SKIP
    """
    images_path = _existing_file(images_path, "IDX images file")
    if labels_path is None:
        return _scale(_read_idx(images_path, "images")), None
    labels_path = _existing_file(labels_path, "IDX labels file")
    images = _read_idx(images_path, "images")
    labels = _read_idx(labels_path, "labels")[:, 0]
    if len(images) != len(labels):
        raise DatasetError(
            f"'{images_path}' holds {len(images)} images but '{labels_path}' holds "
            f"{len(labels)} labels"
        )
    bad = np.flatnonzero(labels >= _N_CLASSES)
    if bad.size:
        raise DatasetError(
            f"'{labels_path}': label {labels[bad[0]]} of item {bad[0] + 1} (of {len(labels)}, "
            "counting from 1) is outside 0-9"
        )
    return _scale(images), labels.astype(np.int64)


# ---------------------------------------------------------------------------------------
# Standard MNIST files: finding, loading, downloading


def _cache_dir():
    """Per-user cache: $XDG_CACHE_HOME/cmlp/mnist, else ~/.cache/cmlp/mnist."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cmlp" / "mnist"


def _search_dirs(data_dir):
    """Where to look, in order: the argument if given, else $CMLP_DATA, then the cache."""
    if data_dir is not None:
        return [Path(os.fspath(data_dir))]
    dirs = []
    if os.environ.get("CMLP_DATA"):
        dirs.append(Path(os.environ["CMLP_DATA"]))
    dirs.append(_cache_dir())
    return dirs


def _find_file(directory, stem):
    """``stem.gz`` or ``stem`` inside directory, or None."""
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def _check_split(split):
    if split not in _SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def load_mnist(split="train", data_dir=None, *, require_labels=True):
    """Load the standard MNIST IDX files of one split.

    Looks in ``data_dir`` if given, else in ``$CMLP_DATA`` and then the user cache
    (``$XDG_CACHE_HOME/cmlp/mnist`` or ``~/.cache/cmlp/mnist``), for
    ``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]`` (``t10k-*`` for
    ``split="test"``). `fetch_mnist` downloads them into the cache.

    Parameters
    ----------
    split : {"train", "test"}, default="train"
        The 60,000 training rows or the 10,000 test rows.
    data_dir : str or os.PathLike or None, default=None
        The directory holding the files; None searches ``$CMLP_DATA``, then the cache.
    require_labels : bool, default=True
        False accepts a directory with the images file only, and returns ``y=None``.

    Returns
    -------
    X : numpy.ndarray
        float32 ``(n, 784)`` in [0, 1].
    y : numpy.ndarray or None
        int64 labels ``(n,)``; None when the labels file is absent and not required.

    Raises
    ------
    FileNotFoundError
        The files are in none of the directories searched; the message names the missing
        file(s).
    DatasetError
        A file is damaged (see `load_idx`).

    Examples
    --------
    >>> from cmlp.datasets import load_mnist
    >>> X, y = load_mnist("test")  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((10000, 784), (10000,))
    """
    _check_split(split)
    stems = _SPLIT_FILES[split]
    searched = _search_dirs(data_dir)
    for directory in searched:
        images, labels = (_find_file(directory, stem) for stem in stems)
        if images is not None and (labels is not None or not require_labels):
            return load_idx(images, labels)
    wanted = stems if require_labels else stems[:1]
    if len(searched) == 1:  # one place: say exactly which file is not there
        missing = [stem for stem in wanted if _find_file(searched[0], stem) is None]
    else:
        missing = list(wanted)
    what = " and ".join(f"{stem}[.gz]" for stem in missing)
    looked = ", ".join(f"'{d}'" for d in searched)
    raise FileNotFoundError(
        f"MNIST {split} file{'s' if len(missing) > 1 else ''} {what} not found in {looked}. "
        f"Download them with `cmlp fetch` or cmlp.datasets.fetch_mnist() (or "
        f"`fetch_mnist(data_dir=...)`), or set $CMLP_DATA to a directory that holds them."
    )


def _content_md5(source):
    """md5 and length of a file's decompressed content (gzip or raw), streamed; source is a
    path or a binary file open for reading (read from its start)."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    if isinstance(source, io.IOBase):
        source.seek(0)
        is_gzip = source.read(2) == _GZIP_MAGIC
        source.seek(0)
        f = gzip.GzipFile(fileobj=source, mode="rb") if is_gzip else source
    else:
        f = _open_binary(source)
    try:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    finally:
        if f is not source:
            f.close()
    return digest.hexdigest(), size


def _checksum_problem(path, stem):
    """None if the file holds exactly the expected MNIST content, else what is wrong."""
    md5, size = _MNIST_CHECKSUMS[stem]
    try:
        found_md5, found_size = _content_md5(path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        return f"truncated or corrupt gzip data ({exc})"
    if (found_md5, found_size) != (md5, size):
        return (
            f"checksum mismatch: decompressed content has md5 {found_md5} ({found_size} bytes), "
            f"expected {md5} ({size} bytes)"
        )
    return None


def _copy(source, target):
    """Copy a stream in chunks; return the number of bytes copied."""
    total = 0
    for chunk in iter(lambda: source.read(_CHUNK), b""):
        target.write(chunk)
        total += len(chunk)
    return total


def _download_to(url, final_path, stem, timeout):
    """Download url to final_path through write_atomically: the file appears only once its
    content verifies, with the permissions any new file gets."""

    def download(out):
        request = urllib.request.Request(url, headers={"User-Agent": "cmlp"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            received = _copy(response, out)
        # http.client's read(n) returns short data, not an error, when the server hangs up
        # early; without Content-Length the gzip check below catches the truncation.
        if expected is not None and received != int(expected):
            raise DownloadError(f"connection closed after {received} of {expected} bytes")
        out.flush()
        problem = _checksum_problem(out, stem)
        if problem is not None:
            raise DownloadError(problem)

    write_atomically(final_path, download, f"the download of {stem}")


def fetch_mnist(data_dir=None, mirrors=None, timeout=60.0):
    """Download the four MNIST files, verified, and return the directory holding them.

    Each file is tried from each mirror in turn; the md5 of its decompressed content must
    match before it is moved into place, so no partial or corrupt file is ever left. Files
    already present with the right content are not downloaded again. ``cmlp fetch`` on the
    command line does the same.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Where to put them; default ``$CMLP_DATA`` if set, else the user cache
        (``$XDG_CACHE_HOME/cmlp/mnist`` or ``~/.cache/cmlp/mnist``).
    mirrors : sequence of str, optional
        Base URLs, tried in order (default `MNIST_MIRRORS`).
    timeout : float, default=60.0
        Seconds per network operation.

    Returns
    -------
    pathlib.Path
        The directory holding the four files.

    Raises
    ------
    DownloadError
        No mirror delivered a file with the expected content.
    ValueError
        An empty list of mirrors.

    Examples
    --------
    >>> from cmlp.datasets import fetch_mnist, load_mnist
    >>> directory = fetch_mnist()  # doctest: +SKIP
    >>> X, y = load_mnist("train", data_dir=directory)  # doctest: +SKIP
    """
    mirrors = MNIST_MIRRORS if mirrors is None else tuple(mirrors)
    if not mirrors:
        raise ValueError("mirrors must name at least one base URL")
    directory = _search_dirs(data_dir)[0]
    directory.mkdir(parents=True, exist_ok=True)
    for stem in _MNIST_CHECKSUMS:
        existing = _find_file(directory, stem)
        if existing is not None and _checksum_problem(existing, stem) is None:
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + stem + ".gz"
            try:
                _download_to(url, directory / (stem + ".gz"), stem, timeout)
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # URLError/HTTPError/timeouts are OSError; DownloadError covers the checks.
                failures.append(f"{url}: {exc}")
        else:
            raise DownloadError(
                f"could not download {stem}.gz into '{directory}':\n  " + "\n  ".join(failures)
            )
    return directory


# ---------------------------------------------------------------------------------------
# Bundled sample and path dispatch


def load_sample():
    """The 10,000 MNIST test images shipped inside the package.

    MNIST (Yann LeCun, Corinna Cortes, Christopher Burges), CC BY-SA 3.0; see
    ``cmlp/data/README.md``. Found through importlib.resources, so it works from an installed
    wheel, with no network.

    Returns
    -------
    X : numpy.ndarray
        float32 ``(10000, 784)`` in [0, 1].
    y : numpy.ndarray
        int64 labels ``(10000,)``.

    Examples
    --------
    >>> from cmlp.datasets import load_sample
    >>> X, y = load_sample()
    >>> X.shape, X.dtype, y[:5].tolist()
    ((10000, 784), dtype('float32'), [7, 2, 1, 0, 4])
    """
    data = resources.files(__package__).joinpath("data")
    images, labels = (data.joinpath(stem + ".gz") for stem in _SPLIT_FILES["test"])
    with resources.as_file(images) as images_path, resources.as_file(labels) as labels_path:
        return load_idx(images_path, labels_path)


def load_path(path, split="train", *, require_labels=True):
    """Load whatever ``path`` is: a CSV file or a directory of MNIST IDX files.

    Parameters
    ----------
    path : str or os.PathLike
        A CSV file (read by `load_csv`) or a directory holding MNIST's IDX files of
        ``split`` (read by `load_mnist`).
    split : {"train", "test"}, default="train"
        Which IDX files a directory must hold.
    require_labels : bool, default=True
        For a directory: False accepts the images file alone.

    Returns
    -------
    X : numpy.ndarray
        float32 ``(n, n_features)`` in [0, 1].
    y : numpy.ndarray or None
        int64 labels, or None for data without labels.

    Raises
    ------
    DatasetError
        A malformed file.
    OSError
        A missing or unreadable path.

    Examples
    --------
    >>> from cmlp.datasets import load_path
    >>> X, y = load_path("mnist_test.csv")  # doctest: +SKIP
    """
    path = Path(os.fspath(path))
    if path.is_dir():
        _check_split(split)
        return load_mnist(split, data_dir=path, require_labels=require_labels)
    return load_csv(path)
