"""cmlp.datasets treats data files as untrusted: special files, bombs, endless lines, labels."""
import errno
import gzip
import os
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from cmlp.datasets import DatasetError, load_csv, load_idx, load_path
from fifo import unblock_fifo_later

SMALL_PEAK = 8 << 20


def idx_header(kind, n, rows=28, cols=28):
    if kind == "images":
        return struct.pack(">IIII", 2051, n, rows, cols)
    return struct.pack(">II", 2049, n)


def write_pair(directory, n=20, compress=True):
    rng = np.random.default_rng(0)
    images = idx_header("images", n) + rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes()
    labels = idx_header("labels", n) + rng.integers(0, 10, n, dtype=np.uint8).tobytes()
    paths = []
    for name, data in (("images", images), ("labels", labels)):
        path = directory / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(data) if compress else data)
        paths.append(path)
    return paths


def traced_peak(call):
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------------------
# CSV labels


@pytest.mark.parametrize("label", ["0.99999999", "1.0000001", "1e0", "0x1", "1.5", "10",
                                   "-1", "nan"])
def test_csv_label_must_be_an_exact_integer(tmp_path, label):
    """float32 parses 0.99999999 and 1.0000001 as 1.0: labels are matched as text."""
    path = tmp_path / "d.csv"
    path.write_text("label,pixel0,pixel1\n3,0,255\n" f"{label},1,2\n")
    with pytest.raises(DatasetError, match=r"row 2 \(line 3\), column 1 \('label'\): "):
        load_csv(path)


def test_csv_label_spellings_of_integers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("label,pixel0\n7,0\n7.0,0\n07,0\n+7,0\n 7 ,0\n0,0\n9.,0\n")
    X, y = load_csv(path)
    assert y.tolist() == [7, 7, 7, 7, 7, 0, 9] and y.dtype == np.int64


# ---------------------------------------------------------------------------------------
# CSV sizes


def test_csv_endless_line_is_not_read_whole(tmp_path):
    """A 32 MB file without a newline: refused after one bounded line, not parsed."""
    path = tmp_path / "long.csv"
    with open(path, "w") as f:
        for _ in range(32):
            f.write("0," * (1 << 19))
    with pytest.raises(DatasetError, match="line 1 is longer than"):
        load_csv(path)


# ---------------------------------------------------------------------------------------
# IDX sizes


def test_idx_gzip_bomb_is_not_decompressed(tmp_path):
    """20 images declared, 200 MB of zeros after them in ~200 kB of gzip: refused after
    reading what the header allows plus one chunk."""
    images, labels = write_pair(tmp_path)
    body = gzip.decompress(images.read_bytes())
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    parts = [compressor.compress(body)]
    zeros = bytes(1 << 20)
    parts += [compressor.compress(zeros) for _ in range(200)]
    parts.append(compressor.flush())
    images.write_bytes(b"".join(parts))
    assert images.stat().st_size < 1 << 20
    start = time.perf_counter()

    def load():
        with pytest.raises(DatasetError, match="unexpected bytes after the 20 images"):
            load_idx(images, labels)

    assert traced_peak(load) < SMALL_PEAK
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("compress", [True, False])
def test_idx_header_declaring_more_than_the_file_holds(tmp_path, compress):
    """2**32 - 1 images of 28x28 declared (3.4 TB): refused before allocating."""
    images, labels = write_pair(tmp_path, compress=compress)
    data = images.read_bytes()
    body = gzip.decompress(data) if compress else data
    body = idx_header("images", 2**32 - 1) + body[16:]
    images.write_bytes(gzip.compress(body) if compress else body)
    match = "more than a .*-byte gzip file can hold" if compress else "truncated: header"

    def load():
        with pytest.raises(DatasetError, match=match):
            load_idx(images, labels)

    assert traced_peak(load) < SMALL_PEAK


# ---------------------------------------------------------------------------------------
# what the path names


@pytest.mark.parametrize("loader", ["csv", "idx-images", "idx-labels", "path"])
def test_fifo_does_not_hang(tmp_path, loader):
    images, labels = write_pair(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    unblock_fifo_later(fifo)
    call = {
        "csv": lambda: load_csv(fifo),
        "idx-images": lambda: load_idx(fifo, labels),
        "idx-labels": lambda: load_idx(images, fifo),
        "path": lambda: load_path(fifo),
    }[loader]
    start = time.perf_counter()
    with pytest.raises(OSError, match="FIFO") as excinfo:
        call()
    assert time.perf_counter() - start < 2
    assert excinfo.value.filename == str(fifo)


@pytest.mark.parametrize("loader", ["csv", "idx"])
def test_dev_zero_is_not_read(tmp_path, loader):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    images, labels = write_pair(tmp_path)
    with pytest.raises(OSError, match="character device") as excinfo:
        load_csv("/dev/zero") if loader == "csv" else load_idx("/dev/zero", labels)
    assert excinfo.value.filename == "/dev/zero"


def test_symlink_loop_and_directory(tmp_path):
    loop = tmp_path / "loop.csv"
    os.symlink(loop, loop)
    with pytest.raises(OSError) as excinfo:
        load_csv(loop)
    assert excinfo.value.errno == errno.ELOOP and excinfo.value.filename == str(loop)
    with pytest.raises(IsADirectoryError) as excinfo:
        load_idx(tmp_path, tmp_path)
    assert excinfo.value.filename == str(tmp_path)


def test_no_file_descriptor_left_open(tmp_path):
    """Every path through the loaders closes what it opened (gzip wrappers included)."""
    images, labels = write_pair(tmp_path)
    csv = tmp_path / "d.csv.gz"
    csv.write_bytes(gzip.compress(b"label,pixel0\n1,0\n2,x\n"))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        load_idx(images, labels)
        with pytest.raises(DatasetError):
            load_csv(csv)
        with pytest.raises(DatasetError):
            load_idx(labels, images)
    assert len(os.listdir("/proc/self/fd")) == before
