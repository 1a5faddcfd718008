"""cmlp.datasets: CSV layouts, IDX, the bundled sample, bad files, downloads (local server)."""
import gzip
import hashlib
import http.server
import re
import shutil
import socket
import struct
import threading

import numpy as np
import pandas as pd
import pytest

from cmlp.datasets import (
    MNIST_MIRRORS,
    DatasetError,
    DownloadError,
    fetch_mnist,
    load_csv,
    load_idx,
    load_mnist,
    load_path,
    load_sample,
)

# From /work/shared/data/README.md.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
N_ROWS = 300  # slice of the real data used for CSV round trips, for speed

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
ALL_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


# ---------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def train(mnist_dir):
    return load_mnist("train", data_dir=mnist_dir)


@pytest.fixture(scope="module")
def raw_slice(mnist_dir):
    """First N_ROWS train images/labels as uint8, parsed here independently of cmlp."""
    with gzip.open(mnist_dir / TRAIN_IMAGES) as f:
        images = np.frombuffer(f.read(16 + N_ROWS * 784), np.uint8, offset=16)
    with gzip.open(mnist_dir / TRAIN_LABELS) as f:
        labels = np.frombuffer(f.read(8 + N_ROWS), np.uint8, offset=8)
    return images.reshape(N_ROWS, 784), labels


def idx_bytes(array, kind):
    """An IDX file's bytes for uint8 images (n, rows, cols) or labels (n,)."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 2051 if kind == "images" else 2049
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def write_idx_pair(directory, images, labels, prefix="t10k", compress=True):
    """Write an images/labels IDX pair with the standard names; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    paths = []
    for kind, array in (("images", images), ("labels", labels)):
        stem = f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"
        data = idx_bytes(array, kind)
        path = directory / (stem + suffix)
        path.write_bytes(gzip.compress(data) if compress else data)
        paths.append(path)
    return paths


def small_images(n=20, seed=0):
    """n random 28x28 uint8 images and labels, for IDX files made on the spot."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    return images, rng.integers(0, 10, n).astype(np.uint8)


def assert_error(error_type, path, *fragments):
    """load_csv(path) must raise error_type with a message naming path and all fragments."""
    with pytest.raises(error_type) as excinfo:
        load_csv(path)
    message = str(excinfo.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ---------------------------------------------------------------------------------------
# CSV layouts round-trip to the IDX arrays


def _kaggle_names(side=28):
    return [f"{r}x{c}" for r in range(1, side + 1) for c in range(1, side + 1)]


CSV_LAYOUTS = {
    "kaggle": dict(names=["label"] + _kaggle_names(), label=True),
    "pixel0": dict(names=["label"] + [f"pixel{i}" for i in range(784)], label=True),
    "pixel1": dict(names=["label"] + [f"pixel{i}" for i in range(1, 785)], label=True),
    "no-header": dict(names=None, label=True),
    "pixels-only": dict(names=[f"pixel{i}" for i in range(784)], label=False),
}


@pytest.mark.parametrize("layout", CSV_LAYOUTS)
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_csv_layouts_load_to_the_idx_arrays(layout, compression, raw_slice, train, tmp_path):
    images, labels = raw_slice
    spec = CSV_LAYOUTS[layout]
    table = np.column_stack([labels, images]) if spec["label"] else images
    path = tmp_path / "mnist.csv"  # no .gz suffix: gzip must be detected from the content
    pd.DataFrame(table).to_csv(
        path, index=False, header=spec["names"] or False, compression=compression
    )

    X, y = load_csv(path)

    X_idx, y_idx = train
    assert X.dtype == np.float32 and X.flags.c_contiguous and X.shape == (N_ROWS, 784)
    np.testing.assert_array_equal(X, X_idx[:N_ROWS])
    if spec["label"]:
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, y_idx[:N_ROWS])
    else:
        assert y is None


def test_csv_other_pixel_counts_and_byte_order_mark(raw_slice, tmp_path):
    images, labels = raw_slice
    crop = images.reshape(-1, 28, 28)[:, 7:21, 7:21].reshape(-1, 196)  # 14x14 grid
    path = tmp_path / "crop.csv"
    frame = pd.DataFrame(np.column_stack([labels, crop]), columns=["label"] + _kaggle_names(14))
    frame.to_csv(path, index=False, encoding="utf-8-sig")  # spreadsheet-style BOM

    X, y = load_csv(path)

    np.testing.assert_array_equal(X, crop.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, labels)


def test_csv_accepts_float_text_and_blank_lines(tmp_path):
    path = tmp_path / "floats.csv"
    path.write_text("label,pixel0,pixel1\n3,0.0,255.0\n\n7, 51 ,\"102\"\n")
    X, y = load_csv(path)
    np.testing.assert_array_equal(X, np.array([[0, 1], [0.2, 0.4]], np.float32))
    np.testing.assert_array_equal(y, [3, 7])


# ---------------------------------------------------------------------------------------
# IDX and the standard files


def test_idx_train_and_test_label_counts(train, mnist_dir):
    X, y = train
    assert X.shape == (60000, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y, minlength=10).tolist() == TRAIN_COUNTS

    X_test, y_test = load_idx(mnist_dir / TEST_IMAGES, mnist_dir / TEST_LABELS)
    assert X_test.shape == (10000, 784)
    assert np.bincount(y_test, minlength=10).tolist() == TEST_COUNTS


def test_idx_matches_independent_parse(train, raw_slice):
    images, labels = raw_slice
    X, y = train
    np.testing.assert_array_equal(X[:N_ROWS], images / np.float32(255))
    np.testing.assert_array_equal(y[:N_ROWS], labels)


def test_load_sample_is_the_mnist_test_set():
    X, y = load_sample()
    assert X.shape == (10000, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == TEST_COUNTS


def test_load_sample_equals_full_test_split(mnist_dir):
    X, y = load_sample()
    X_full, y_full = load_mnist("test", data_dir=mnist_dir)
    np.testing.assert_array_equal(X, X_full)
    np.testing.assert_array_equal(y, y_full)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("misleading_names", [False, True])
def test_idx_gzip_detected_by_content(compress, misleading_names, tmp_path):
    images, labels = small_images()
    img_path, lbl_path = write_idx_pair(tmp_path, images, labels, compress=compress)
    if misleading_names:  # raw files called .gz and gzip files without .gz
        img_path = img_path.rename(tmp_path / ("images" + ("" if compress else ".gz")))
        lbl_path = lbl_path.rename(tmp_path / ("labels" + ("" if compress else ".gz")))
    X, y = load_idx(img_path, lbl_path)
    np.testing.assert_array_equal(X, images.reshape(20, -1) / np.float32(255))
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_search_order_and_raw_files(tmp_path, monkeypatch):
    images, labels = small_images()
    env_dir, cache_home = tmp_path / "env", tmp_path / "xdg"
    write_idx_pair(cache_home / "cmlp" / "mnist", images, labels, compress=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.setenv("CMLP_DATA", str(env_dir))  # empty: falls through to the cache

    X, y = load_mnist("test")
    np.testing.assert_array_equal(y, labels)

    write_idx_pair(env_dir, images[:5], labels[:5])  # $CMLP_DATA wins once it has the files
    assert len(load_mnist("test")[1]) == 5
    assert len(load_mnist("test", data_dir=cache_home / "cmlp" / "mnist")[1]) == 20


def test_load_mnist_missing_lists_places_and_suggests_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CMLP_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as excinfo:
        load_mnist("train")
    message = str(excinfo.value)
    assert str(tmp_path / "env") in message
    assert str(tmp_path / "xdg" / "cmlp" / "mnist") in message
    assert "train-images-idx3-ubyte" in message and "fetch_mnist" in message

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("CMLP_DATA")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "given"))):
        load_mnist("test", data_dir=tmp_path / "given")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_cache = tmp_path / "home" / ".cache" / "cmlp" / "mnist"
    with pytest.raises(FileNotFoundError, match=re.escape(str(home_cache))):
        load_mnist("test")


def test_load_mnist_rejects_unknown_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist("validation")


def test_load_path_dispatches_on_file_or_directory(tmp_path):
    images, labels = small_images()
    write_idx_pair(tmp_path / "idx", images, labels, prefix="train")
    X, y = load_path(tmp_path / "idx")  # train split by default
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        load_path(tmp_path / "idx", split="test")

    csv_path = tmp_path / "small.csv"
    csv_path.write_text("label,pixel0\n4,255\n")
    X, y = load_path(str(csv_path))
    assert X.tolist() == [[1.0]] and y.tolist() == [4]


# ---------------------------------------------------------------------------------------
# bad CSV files: a DatasetError naming the file, the row (and line) and the column

H = "label,pixel0,pixel1,pixel2\n"
OK = "1,0,128,255\n"

BAD_CSV = {
    # name: (content, fragments expected in the message)
    "empty": ("", ["empty file"]),
    "blank-lines-only": ("\n \n\n", ["empty file"]),
    "header-only": (H, ["no data rows"]),
    "wrong-column-count": (H + "1,0,0\n1,0,0\n", ["row 1 (line 2)", "3 fields, expected 4"]),
    "ragged-long-row": (H + OK + OK + "1,0,0,0,0\n", ["row 3 (line 4)", "5 fields, expected 4"]),
    "ragged-short-row": (H + OK + "1,0,0\n" + OK, ["row 2 (line 3)", "3 fields, expected 4"]),
    "trailing-comma": (H + "1,0,0,0,\n", ["row 1 (line 2)", "5 fields"]),
    "non-numeric": (H + OK + "1,0,abc,0\n", ["row 2 (line 3), column 3 ('pixel1')", "'abc'"]),
    "pixel-above-255": (
        H + OK + "1,0,0,256\n", ["row 2 (line 3), column 4 ('pixel2')", "256", "0-255"]
    ),
    "pixel-negative": (H + "1,-1,0,0\n", ["row 1 (line 2), column 2 ('pixel0')", "-1", "0-255"]),
    "pixel-infinite": (H + "1,0,inf,0\n", ["row 1 (line 2), column 3 ('pixel1')", "not finite"]),
    "label-above-9": (
        H + OK + OK + "10,0,0,0\n", ["row 3 (line 4), column 1 ('label')", "label 10", "0-9"]
    ),
    "label-negative": (H + "-1,0,0,0\n", ["row 1 (line 2), column 1 ('label')", "0-9"]),
    "label-fractional": (H + "2.5,0,0,0\n", ["row 1 (line 2), column 1 ('label')", "2.5"]),
    "nan-cell": (
        H + OK + "1,0,nan,0\n", ["row 2 (line 3), column 3 ('pixel1')", "missing value 'nan'"]
    ),
    "NA-cell": (H + "1,NA,0,0\n", ["row 1 (line 2), column 2 ('pixel0')", "missing value 'NA'"]),
    "empty-cell": (H + OK + "1,0,,0\n", ["row 2 (line 3), column 3 ('pixel1')", "empty cell"]),
    "blank-line-before-bad-row": (H + OK + "\n" + "1,0,x,0\n", ["row 2 (line 4), column 3"]),
    "header-unknown-names": ("label,a,b,c\n" + OK, ["line 1", "no known", "'a'"]),
    "header-skips-a-pixel": (
        "label,pixel0,pixel2,pixel3\n" + OK, ["line 1", "column 3 is 'pixel2', expected 'pixel1'"]
    ),
    "header-index-column": (",label,pixel0\n0,1,0\n", ["line 1", "index=False"]),
    "header-incomplete-grid": ("label,1x1,1x2,2x1\n1,0,0,0\n", ["line 1", "mid-row"]),
    "header-label-only": ("label\n1\n", ["line 1", "no pixel columns"]),
    "no-header-single-column": ("5\n3\n", ["line 1", "single column"]),
    "no-header-bad-first-row": ("5,0,abc,0\n", ["row 1 (line 1), column 3", "'abc'"]),
    "no-header-empty-cell": ("5,0,0,0\n5,0,,0\n", ["row 2 (line 2), column 3", "empty cell"]),
    "no-header-ragged": ("5,0,0,0\n5,0,0\n", ["row 2 (line 2)", "expected 4 as in the first row"]),
    "no-header-label-above-9": ("5,0,0,0\n12,0,0,0\n", ["row 2 (line 2), column 1 (label)", "12"]),
    "pixels-only-out-of-range": (
        "pixel0,pixel1\n0,0\n0,300\n", ["row 2 (line 3), column 2 ('pixel1')", "300"]
    ),
}


@pytest.mark.parametrize("case", BAD_CSV)
def test_bad_csv_names_file_row_and_column(case, tmp_path):
    content, fragments = BAD_CSV[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(content)
    message = assert_error(DatasetError, path, *fragments)
    assert "Traceback" not in message and "C error" not in message


def test_bad_cell_deep_in_a_real_kaggle_file(raw_slice, tmp_path):
    images, labels = raw_slice
    frame = pd.DataFrame(np.column_stack([labels, images]), columns=["label"] + _kaggle_names())
    frame = frame.astype(object)
    frame.iloc[249, 5] = "12a"  # data row 250, file column 6 = pixel '1x5'
    path = tmp_path / "mnist_train.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError) as excinfo:
        load_csv(path)
    assert str(path) in str(excinfo.value)
    assert "row 250 (line 251), column 6 ('1x5')" in str(excinfo.value)
    # Located, so pandas' own exception is not chained under ours.
    assert excinfo.value.__cause__ is None and excinfo.value.__context__ is None


def test_csv_missing_file_and_binary_file(tmp_path, mnist_dir):
    assert_error(FileNotFoundError, tmp_path / "missing.csv", "not found")
    assert_error(DatasetError, mnist_dir / TEST_IMAGES, "not a readable text CSV")


def test_csv_truncated_gzip(tmp_path):
    rng = np.random.default_rng(0)
    columns = ["label", "pixel0", "pixel1", "pixel2"]
    frame = pd.DataFrame(rng.integers(0, 10, (5000, 4)), columns=columns)
    data = gzip.compress(frame.to_csv(index=False).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    assert_error(DatasetError, path, "truncated or corrupt gzip")


# ---------------------------------------------------------------------------------------
# bad IDX files


@pytest.fixture
def idx_pair(tmp_path):
    images, labels = small_images()
    return write_idx_pair(tmp_path, images, labels, compress=False)


def test_idx_missing_file(idx_pair, tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope"))):
        load_idx(tmp_path / "nope", idx_pair[1])


def test_idx_swapped_files(idx_pair):
    images, labels = idx_pair
    with pytest.raises(DatasetError, match="magic number 2049, expected 2051.*swapped") as excinfo:
        load_idx(labels, images)
    assert str(labels) in str(excinfo.value)


def test_idx_wrong_magic(idx_pair):
    images, labels = idx_pair
    images.write_bytes(b"\x00\x00\x08\x04" + images.read_bytes()[4:])  # 2052: 4-d
    expected = f"'{images}': magic number 2052, expected 2051"
    with pytest.raises(DatasetError, match=re.escape(expected)):
        load_idx(images, labels)


@pytest.mark.parametrize("which", ["images", "labels"])
def test_idx_truncated_raw(idx_pair, which):
    path = idx_pair[0] if which == "images" else idx_pair[1]
    path.write_bytes(path.read_bytes()[:-3])
    expected = f"'{path}': truncated: header declares 20 {which}"
    with pytest.raises(DatasetError, match=re.escape(expected)):
        load_idx(*idx_pair)


def test_idx_header_shorter_than_header(idx_pair):
    images, labels = idx_pair
    images.write_bytes(images.read_bytes()[:10])
    expected = f"'{images}': truncated IDX images file: 10 bytes"
    with pytest.raises(DatasetError, match=re.escape(expected)):
        load_idx(images, labels)


def test_idx_trailing_bytes(idx_pair):
    images, labels = idx_pair
    labels.write_bytes(labels.read_bytes() + b"\x00\x01")
    with pytest.raises(DatasetError, match=re.escape(f"'{labels}': 2 unexpected bytes")):
        load_idx(images, labels)


def test_idx_truncated_gzip(tmp_path, mnist_dir):
    cut = tmp_path / TEST_IMAGES
    data = (mnist_dir / TEST_IMAGES).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=re.escape(f"'{cut}': truncated or corrupt gzip")):
        load_idx(cut, mnist_dir / TEST_LABELS)


def test_idx_count_mismatch(tmp_path):
    images, labels = small_images()
    img_path, _ = write_idx_pair(tmp_path / "a", images, labels)
    _, lbl_path = write_idx_pair(tmp_path / "b", images[:19], labels[:19])
    with pytest.raises(DatasetError, match="holds 20 images but .* holds 19 labels") as excinfo:
        load_idx(img_path, lbl_path)
    assert str(img_path) in str(excinfo.value) and str(lbl_path) in str(excinfo.value)


def test_idx_label_outside_range(tmp_path):
    images, labels = small_images()
    labels[7] = 10
    img_path, lbl_path = write_idx_pair(tmp_path, images, labels)
    expected = f"'{lbl_path}': label 10 of item 8 (of 20, counting from 1) is outside 0-9"
    with pytest.raises(DatasetError, match=re.escape(expected)):
        load_idx(img_path, lbl_path)


# ---------------------------------------------------------------------------------------
# fetch_mnist against a local HTTP server


class _MirrorHandler(http.server.BaseHTTPRequestHandler):
    """Serves /<mode>/<file>: good, corrupt (valid gzip, wrong content), drop (closes
    mid-file after a full Content-Length), drop-nolength (closes mid-file, no length)."""

    def do_GET(self):
        mode, _, name = self.path.strip("/").partition("/")
        self.server.requests.append((mode, name))
        body = self.server.files.get(name)
        if body is None or mode not in ("good", "corrupt", "drop", "drop-nolength"):
            self.send_error(404)
            return
        if mode == "corrupt":
            body = self.server.corrupt(name)
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        if mode != "drop-nolength":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if mode in ("good", "corrupt") else body[: len(body) // 2])
        self.close_connection = True

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def mirror(mnist_dir):
    """Base URL of a local server holding the MNIST .gz files; yields (url, server)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MirrorHandler)
    server.files = {name: (mnist_dir / name).read_bytes() for name in ALL_FILES}
    server.requests = []

    def corrupt(name):
        content = bytearray(gzip.decompress(server.files[name]))
        content[len(content) // 2] ^= 0xFF  # one flipped byte in otherwise valid gzip
        return gzip.compress(bytes(content), compresslevel=1)

    server.corrupt = corrupt
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


@pytest.fixture
def target(tmp_path, mnist_dir, mirror):
    """Download dir pre-seeded with the (valid) 10 MB train images, so tests move ~2 MB."""
    directory = tmp_path / "mnist"
    directory.mkdir()
    shutil.copy(mnist_dir / TRAIN_IMAGES, directory / TRAIN_IMAGES)
    mirror[1].requests.clear()
    return directory


def _content_md5(path):
    return hashlib.md5(gzip.decompress(path.read_bytes())).hexdigest()


def test_fetch_downloads_verifies_and_skips_valid_files(target, mirror, mnist_dir):
    url, server = mirror
    assert fetch_mnist(data_dir=target, mirrors=[url + "/good/"], timeout=10) == target
    assert sorted(p.name for p in target.iterdir()) == sorted(ALL_FILES)  # no temp files
    for name in ALL_FILES:
        assert _content_md5(target / name) == _content_md5(mnist_dir / name)
    assert sorted(server.requests) == sorted(("good", n) for n in ALL_FILES if n != TRAIN_IMAGES)
    assert np.bincount(load_mnist("test", data_dir=target)[1]).tolist() == TEST_COUNTS

    server.requests.clear()
    fetch_mnist(data_dir=target, mirrors=[url + "/good"], timeout=10)
    assert server.requests == []  # everything present and valid: nothing downloaded


def test_fetch_checksum_failure_leaves_nothing(target, mirror):
    url, _ = mirror
    with pytest.raises(DownloadError, match="checksum mismatch") as excinfo:
        fetch_mnist(data_dir=target, mirrors=[url + "/corrupt/"], timeout=10)
    assert "train-labels-idx1-ubyte.gz" in str(excinfo.value)
    assert [p.name for p in target.iterdir()] == [TRAIN_IMAGES]


def test_fetch_falls_back_to_next_mirror(target, mirror):
    url, server = mirror
    mirrors = [url + "/corrupt/", url + "/missing/", url + "/good/"]
    fetch_mnist(data_dir=target, mirrors=mirrors, timeout=10)
    assert sorted(p.name for p in target.iterdir()) == sorted(ALL_FILES)
    assert server.requests[:3] == [
        ("corrupt", TRAIN_LABELS), ("missing", TRAIN_LABELS), ("good", TRAIN_LABELS)
    ]
    assert np.bincount(load_mnist("train", data_dir=target)[1]).tolist() == TRAIN_COUNTS


@pytest.mark.parametrize(
    "mode, reason", [("drop", "connection closed after"), ("drop-nolength", "truncated")]
)
def test_fetch_dropped_connection_leaves_no_partial_file(mode, reason, target, mirror):
    url, _ = mirror
    with pytest.raises(DownloadError, match=reason):
        fetch_mnist(data_dir=target, mirrors=[url + f"/{mode}/"], timeout=10)
    assert [p.name for p in target.iterdir()] == [TRAIN_IMAGES]


def test_fetch_replaces_a_corrupt_existing_file(target, mirror, mnist_dir):
    url, server = mirror
    (target / TEST_LABELS).write_bytes(server.corrupt(TEST_LABELS))
    fetch_mnist(data_dir=target, mirrors=[url + "/good/"], timeout=10)
    assert _content_md5(target / TEST_LABELS) == _content_md5(mnist_dir / TEST_LABELS)
    assert ("good", TEST_LABELS) in server.requests


def test_fetch_unreachable_mirror_reports_each_failure(target):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    with pytest.raises(DownloadError) as excinfo:
        fetch_mnist(data_dir=target, mirrors=[dead, dead + "again/"], timeout=5)
    message = str(excinfo.value)
    assert dead + TRAIN_LABELS in message and dead + "again/" + TRAIN_LABELS in message
    assert [p.name for p in target.iterdir()] == [TRAIN_IMAGES]


def test_fetch_defaults_to_the_user_cache(tmp_path, mnist_dir, mirror, monkeypatch):
    url, _ = mirror
    monkeypatch.delenv("CMLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "cmlp" / "mnist"
    cache.mkdir(parents=True)
    shutil.copy(mnist_dir / TRAIN_IMAGES, cache / TRAIN_IMAGES)
    assert fetch_mnist(mirrors=[url + "/good/"], timeout=10) == cache
    assert len(load_mnist("test")[1]) == 10000


def test_default_mirrors_are_https_and_overridable():
    assert len(MNIST_MIRRORS) >= 2
    assert all(m.startswith("https://") and m.endswith("/") for m in MNIST_MIRRORS)
    with pytest.raises(ValueError, match="at least one"):
        fetch_mnist(mirrors=[])
