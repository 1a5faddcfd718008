"""Property-based fuzzing: the file loaders and the Network API raise only documented errors.

Loaders get mutations of real files (byte flips, truncations, inserted and deleted bytes,
header fields and tokens replaced); a loader either returns well-formed arrays or raises
DatasetError / ValueError (a model) or OSError. The Network API gets arrays of every shape,
dtype, memory layout, flag and value class (NaN, inf, huge, subnormal), labels of every
kind and batch sizes above n; it either returns well-formed results or raises ValueError,
TypeError or FloatingPointError (TrainingDiverged is one). Never a crash, a hang or another
exception. Every test is bounded by max_examples and a deadline and derandomized (fixed seed,
no example database), so CI runs the same cases every time; ``pytest
--hypothesis-show-statistics tests/test_fuzz.py`` prints how many ran per target.
"""
import gzip
import io
import re
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the test extra")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from cmlp import Network  # noqa: E402
from cmlp.datasets import DatasetError, load_csv, load_idx, load_sample  # noqa: E402

pytestmark = pytest.mark.slow  # seconds per target: left out of the quick run

FUZZ = settings(
    derandomize=True,  # the same examples on every run and machine
    database=None,
    deadline=2000,  # ms per example: a hang or a pathological slow path fails
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
FILE_EXAMPLES = 300
API_EXAMPLES = 250

_WORK = Path(tempfile.mkdtemp(prefix="cmlp-fuzz-"))  # one file rewritten per example


# ---------------------------------------------------------------------------------------
# mutations of a file's bytes


def _mutations(tokens):
    """A strategy of functions bytes -> bytes: 1-4 edits, each a byte flip, truncation,
    insertion, deletion, overwrite, or a token of the format replaced by another."""
    position = st.floats(0, 1, exclude_max=True)
    blob = st.binary(min_size=1, max_size=16)
    token = st.sampled_from(tokens)
    edit = st.one_of(
        st.tuples(st.just("flip"), position, st.integers(1, 255)),
        st.tuples(st.just("truncate"), position, st.none()),
        st.tuples(st.just("insert"), position, blob),
        st.tuples(st.just("delete"), position, st.integers(1, 64)),
        st.tuples(st.just("overwrite"), position, blob),
        st.tuples(st.just("token"), token, token),
    )
    return st.lists(edit, min_size=1, max_size=4)


def _apply(data, edits):
    data = bytearray(data)
    for kind, where, what in edits:
        if kind == "token":
            at = data.find(where)
            if at >= 0:
                data[at:at + len(where)] = what
            continue
        i = int(where * len(data)) if data else 0
        if kind == "flip" and data:
            data[i] ^= what
        elif kind == "truncate":
            del data[i:]
        elif kind == "insert":
            data[i:i] = what
        elif kind == "delete":
            del data[i:i + what]
        elif kind == "overwrite":
            data[i:i + len(what)] = what
    return bytes(data)


def _reason(error):
    """A short class of an error message for hypothesis' statistics (paths and numbers cut)."""
    text = str(error).replace(str(_WORK), "")
    for marker in (": ", " is ", " has ", " holds "):
        text = text.split(marker, 1)[-1] if marker in text[:60] else text
    return type(error).__name__ + ": " + re.sub(r"\d+", "N", " ".join(text.split()[:4]))


def _write(name, data):
    path = _WORK / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------
# model files


def _model_bytes(compress):
    net = Network([6, 5, 3], seed=0, activation="tanh")
    path = _WORK / "base.npz"
    net.save(path)
    data = path.read_bytes()
    if compress:
        arrays = dict(np.load(path))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        data = buffer.getvalue()
    return data


_MODELS = {compress: _model_bytes(compress) for compress in (False, True)}
_MODEL_TOKENS = [
    b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"\x93NUMPY", b"(6, 5)", b"(5, 3)", b"(5,)",
    b"(3,)", b"(3,)", b"<f4", b"<f8", b"<i8", b"|O", b"<c8", b"<f2", b"'fortran_order': False",
    b"'fortran_order': True", b"cmlp-network", b"tanh", b"relu", b"float32", b"float64",
    b"weight_0", b"weight_1", b"bias_1", b"layer_sizes", b"(60000, 50000)", b"(3,), (2,)",
    b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x08\x00", b"\x00\x00",
]


def _load_and_predict(path):
    """A model file is refused with a clear error, or loads and predicts finite values."""
    try:
        net = Network.load(path)
    except (ValueError, OSError) as error:
        event(f"refused: {_reason(error)}")
        return
    event("loaded")
    X = np.linspace(-1, 1, 4 * net.n_features, dtype=net.dtype).reshape(4, -1)
    proba = net.predict_proba(X)
    assert proba.shape == (4, net.n_classes) and np.isfinite(proba).all()


@settings(FUZZ, max_examples=FILE_EXAMPLES)
@given(compress=st.booleans(), edits=_mutations(_MODEL_TOKENS))
def test_fuzz_model_file(compress, edits):
    _load_and_predict(_write("model.npz", _apply(_MODELS[compress], edits)))


_META_VALUES = st.sampled_from([
    np.array("cmlp-network"), np.array(1), np.array(2), np.array([6, 5, 3]),
    np.array([6, 5, 3], dtype=np.int32), np.array([6, 5]), np.array([6, 5, 3, 2]),
    np.array([6, 0, 3]), np.array([6.0, 5.0, 3.0]), np.array([2**40, 2**40, 3]),
    np.array("float32"), np.array("float64"), np.array("float16"), np.array("tanh"),
    np.array("relu"), np.array("swish"), np.array(b"relu"), np.array(["relu"]),
])


@st.composite
def _array_edits(draw):
    """Semantic edits of a model's arrays: keys dropped or added, values swapped, dtype,
    shape, layout and byte order changed, NaN/inf/huge entries."""
    name = st.sampled_from(["format", "format_version", "layer_sizes", "dtype", "activation",
                            "weight_0", "bias_0", "weight_1", "bias_1", "weight_2", "extra"])
    edit = st.one_of(
        st.tuples(st.just("drop"), name, st.none()),
        st.tuples(st.just("meta"), name, _META_VALUES),
        st.tuples(st.just("astype"), name, st.sampled_from(
            ["float64", "float32", ">f4", "float16", "int32", "complex64", "object", "bool"])),
        st.tuples(st.just("reshape"), name, st.sampled_from([(-1,), (1, -1), "T"])),
        st.tuples(st.just("fortran"), name, st.none()),
        st.tuples(st.just("value"), name, st.sampled_from([np.nan, np.inf, 1e30, 3e38, 1e-40])),
    )
    return draw(st.lists(edit, min_size=1, max_size=3))


@settings(FUZZ, max_examples=200)
@given(edits=_array_edits(), compress=st.booleans())
def test_fuzz_model_arrays(edits, compress):
    arrays = dict(np.load(io.BytesIO(_MODELS[False])))
    for kind, name, what in edits:
        if kind == "drop":
            arrays.pop(name, None)
        elif kind == "meta":
            arrays[name] = what
        elif name in arrays:
            a = arrays[name]
            with np.errstate(all="ignore"):
                if kind == "astype":
                    try:
                        arrays[name] = a.astype(what)
                    except ValueError:  # a string to a number: not an edit
                        pass
                elif kind == "reshape":
                    arrays[name] = a.T if what == "T" else a.reshape(what)
                elif kind == "fortran":
                    arrays[name] = np.asfortranarray(a)
                elif kind == "value" and a.dtype.kind == "f" and a.size:
                    a = a.copy()
                    a.flat[0] = what
                    arrays[name] = a
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **arrays)  # pickles object arrays
    _load_and_predict(_write("arrays.npz", buffer.getvalue()))


# ---------------------------------------------------------------------------------------
# IDX files


def _idx_pair_bytes(n=12, rows=5, cols=4):
    rng = np.random.default_rng(1)
    images = struct.pack(">IIII", 2051, n, rows, cols) + rng.integers(
        0, 256, n * rows * cols, dtype=np.uint8).tobytes()
    labels = struct.pack(">II", 2049, n) + rng.integers(0, 10, n, dtype=np.uint8).tobytes()
    return images, labels


_IDX = _idx_pair_bytes()
_IDX_TOKENS = [b"\x00\x00\x08\x03", b"\x00\x00\x08\x01", b"\x00\x00\x00\x0c", b"\x00\x00\x00\x05",
               b"\x00\x00\x00\x04", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x1f\x8b"]


@settings(FUZZ, max_examples=FILE_EXAMPLES)
@given(which=st.sampled_from(["images", "labels"]), compress=st.booleans(),
       mutate_compressed=st.booleans(), edits=_mutations(_IDX_TOKENS))
def test_fuzz_idx_files(which, compress, mutate_compressed, edits):
    files = {}
    for kind, data in zip(("images", "labels"), _IDX):
        if kind == which and not (compress and mutate_compressed):
            data = _apply(data, edits)  # header and data edits on the raw content
        if compress:
            data = gzip.compress(data, mtime=0)
            if kind == which and mutate_compressed:
                data = _apply(data, edits)  # damage to the gzip stream itself
        files[kind] = _write(f"{kind}.idx", data)
    try:
        X, y = load_idx(files["images"], files["labels"])
    except (DatasetError, OSError) as error:
        event(f"refused: {_reason(error)}")
        return
    event("loaded")
    assert X.dtype == np.float32 and X.flags.c_contiguous and X.ndim == 2
    assert ((X >= 0) & (X <= 1)).all() and len(y) == len(X)
    assert y.dtype == np.int64 and ((y >= 0) & (y < 10)).all()


# ---------------------------------------------------------------------------------------
# CSV files


def _csv_bytes(n=6):
    X, y = load_sample()
    pixels = np.rint(X[:n, :40] * 255).astype(int)
    lines = ["label," + ",".join(f"pixel{i}" for i in range(40))]
    lines += [f"{label}," + ",".join(map(str, row)) for label, row in zip(y[:n], pixels)]
    return ("\n".join(lines) + "\n").encode()


_CSV = _csv_bytes()
_CSV_TOKENS = [b",", b"\n", b"\r\n", b"label", b"pixel0", b"pixel1", b"1x1", b"0", b"255", b"256",
               b"-1", b"nan", b"inf", b"1e309", b"0.99999999", b"7.0", b'"', b"\x00", b"\xef\xbb\xbf",
               b" ", b"", b"\xff\xfe", b"1,2", b"9", b"10"]


@settings(FUZZ, max_examples=FILE_EXAMPLES)
@given(compress=st.booleans(), edits=_mutations(_CSV_TOKENS))
def test_fuzz_csv_file(compress, edits):
    data = _apply(_CSV, edits)
    path = _write("data.csv", gzip.compress(data, mtime=0) if compress else data)
    try:
        X, y = load_csv(path)
    except (DatasetError, OSError) as error:
        event(f"refused: {_reason(error)}")
        return
    event("loaded")
    assert X.dtype == np.float32 and X.flags.c_contiguous and X.ndim == 2 and len(X) > 0
    assert ((X >= 0) & (X <= 1)).all()
    if y is not None:
        assert y.dtype == np.int64 and len(y) == len(X) and ((y >= 0) & (y < 10)).all()


# ---------------------------------------------------------------------------------------
# the Network API

_N_FEATURES, _N_CLASSES = 5, 3
_API_ERRORS = (ValueError, TypeError, FloatingPointError)

_SPECIAL = [np.nan, np.inf, -np.inf, 1e38, -3e38, 1e300, 1e-45, 5e-324, 65504.0, 1e20]
_X_DTYPES = ["float32", "float64"] * 4 + ["float16", "int8", "int64", "uint8", "bool",
                                          "complex64", "object", "U3"]
_Y_DTYPES = ["int64", "int32", "uint8"] * 3 + ["float64", "float32", "bool", "object", "U3",
                                              "complex64"]


@st.composite
def _arrays(draw, n_rows, width, valid):
    """An array meant as X (width given) or y (width None). ``valid``: the right dtype kind
    and shape with ordinary values (any layout and flags); else any of a wrong dtype, a wrong
    shape or a special value may be drawn."""
    labels = width is None
    dtypes = _Y_DTYPES[:3] if labels and valid else _X_DTYPES[:2] if valid else \
        _Y_DTYPES if labels else _X_DTYPES
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    if labels:
        shapes = [(n_rows,)] if valid else [(n_rows,)] * 6 + [(n_rows, 1), (n_rows + 1,), ()]
        elements = st.integers(0, _N_CLASSES - 1)
    else:
        shapes = [(n_rows, width)] if valid else [(n_rows, width)] * 6 + [
            (n_rows, width + 1), (n_rows,), (n_rows, width, 1), (0, width)]
        elements = st.floats(-2, 2, width=32)
    shape = draw(st.sampled_from(shapes))
    size = int(np.prod(shape))
    values = draw(st.lists(elements, min_size=size, max_size=size))
    if size and not valid and draw(st.booleans(), label="special value"):
        special = st.sampled_from([-1, _N_CLASSES, 0.5, np.nan, 2**40]) if labels \
            else st.sampled_from(_SPECIAL)
        values[draw(st.integers(0, size - 1))] = draw(special)
    base = np.array(values, dtype=object).reshape(shape)
    with np.errstate(all="ignore"):
        try:
            array = base.astype(dtype)
        except (ValueError, OverflowError, TypeError):
            array = base.astype("float64")
    layout = draw(st.sampled_from(["C", "F", "strided", "readonly", "list"]), label="layout")
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim >= 1:
        array = np.repeat(array, 2, axis=0)[::2]
    elif layout == "readonly":
        array = array.copy()
        array.flags.writeable = False
    elif layout == "list":
        array = array.tolist()
    return array


@settings(FUZZ, max_examples=API_EXAMPLES)
@given(data=st.data(), n_rows=st.integers(1, 40), dtype=st.sampled_from(["float32", "float64"]),
       method=st.sampled_from(["predict", "predict_proba", "score", "gradients", "fit"]),
       valid=st.booleans())
def test_fuzz_network_api(data, n_rows, dtype, method, valid):
    net = Network([_N_FEATURES, 4, _N_CLASSES], seed=0, dtype=dtype, n_threads=1)
    X = data.draw(_arrays(n_rows, _N_FEATURES, valid), label="X")
    y = data.draw(_arrays(n_rows, None, valid), label="y")
    before = net._params.copy()
    try:
        if method == "predict":
            out = net.predict(X)
            assert out.shape == (n_rows,) and ((out >= 0) & (out < _N_CLASSES)).all()
        elif method == "predict_proba":
            out = net.predict_proba(X)
            assert out.shape == (n_rows, _N_CLASSES) and np.isfinite(out).all()
            np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-4)
        elif method == "score":
            assert 0 <= net.score(X, y) <= 1
        elif method == "gradients":
            loss, grad_weights, grad_biases = net.gradients(X, y)
            assert np.isfinite(loss)
            assert all(np.isfinite(g).all() for g in grad_weights + grad_biases)
        else:
            batch = data.draw(st.one_of(st.none(), st.integers(1, 2 * n_rows + 5)), label="batch")
            rate = data.draw(st.sampled_from([1e-3, 0.5, 1e30]), label="learning_rate")
            net.fit(X, y, epochs=2, learning_rate=rate, batch_size=batch, shuffle=True)
            assert np.isfinite(net._params).all()
        event(f"{method}: returned")
    except _API_ERRORS as error:
        event(f"{method}: {type(error).__name__}")
        # A refused call leaves the network usable; a diverged fit restores finite weights.
        assert np.isfinite(net._params).all()
        if method != "fit":
            np.testing.assert_array_equal(net._params, before)
