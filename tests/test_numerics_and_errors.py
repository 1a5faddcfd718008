"""Wrong answers are never finite: every activation raises FloatingPointError when the
forward pass overflows; load's probe covers [0, 1] inputs as well as [-1, 1]; CSV errors
name the file, the 1-based row and the column's header; a closed output pipe is quiet."""
import subprocess
import sys

import numpy as np
import pytest

from cmlp import Network, datasets
from cmlp.inference import Model
from cmlp.reference import ACTIVATIONS


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error"])
def test_every_activation_raises_on_overflow(activation, dtype, loss):
    net = Network([6, 8, 3], seed=0, activation=activation, dtype=dtype, loss=loss)
    big = np.finfo(dtype).max / 2
    X = np.full((5, 6), 0.5, dtype)
    X[3] = big  # finite, but the first layer's products overflow
    calls = [lambda: net.predict(X), lambda: Model(net).predict(X)]
    if loss == "cross_entropy":
        calls += [lambda: net.predict_proba(X), lambda: Model(net).predict_proba(X)]
    for call in calls:
        with pytest.raises(FloatingPointError, match=r"overflowed \(first at row 3\)"):
            call()
    X[3] = -big
    for call in calls:
        with pytest.raises(FloatingPointError, match=r"overflowed \(first at row 3\)"):
            call()
    # The other rows alone are fine.
    assert np.isfinite(net.predict(X[:3]).astype(float)).all()


def _crafted(dtype="float32"):
    """784-4-3: the ones, minus ones, zeros and uniform [-1, 1] rows of the old probe cancel
    in the first unit (half its weights +c, half -c), an image whose first half is ink does
    not: 392c, finite, then times 4 in the next layer, past the dtype's maximum."""
    net = Network([784, 4, 3], seed=0, dtype=dtype)
    c = np.finfo(dtype).max / 600
    net.weights[0][...] = 0
    net.weights[0][:392, 0] = c
    net.weights[0][392:, 0] = -c
    net.biases[0][...] = 0
    net.weights[1][...] = 0
    net.weights[1][0, 0] = 4
    image = np.zeros((1, 784), dtype)
    image[0, :392] = 1.0
    return net, image


def test_a_model_that_overflows_on_a_0_1_image_is_refused_by_save_and_load(tmp_path):
    net, image = _crafted()
    with pytest.raises(FloatingPointError):
        net.predict_proba(image)
    with pytest.raises(ValueError, match="overflow"):
        net.save(tmp_path / "crafted.npz")
    arrays = {"format": np.array("cmlp-network"), "format_version": np.array(1),
              "layer_sizes": np.array(net.layer_sizes), "dtype": np.array("float32"),
              "activation": np.array("relu"), "loss": np.array("cross_entropy")}
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"weight_{l}"], arrays[f"bias_{l}"] = W, b
    np.savez(tmp_path / "crafted.npz", **arrays)
    with pytest.raises(ValueError, match="overflow"):
        Network.load(tmp_path / "crafted.npz")


def test_tanh_hiding_an_overflow_is_caught_by_the_probe(tmp_path):
    net = Network([5, 4, 3], seed=0, activation="tanh")
    net.weights[1][...] = np.finfo(np.float32).max / 2  # the second layer overflows, tanh'd
    with pytest.raises(ValueError, match="overflows in layer 1"):
        net.save(tmp_path / "m.npz")


HEADER = "label," + ",".join(f"pixel{i}" for i in range(4)) + "\n"


@pytest.mark.parametrize("cell, column", [
    ("1_0", "pixel2"),
    ("\u0663", "pixel2"),          # an Arabic-Indic three
    ("\uff11", "pixel2"),          # a full-width one
    ("0x10", "pixel2"),
])
def test_a_cell_pandas_refuses_is_located_by_row_and_header(tmp_path, cell, column):
    path = tmp_path / "cells.csv"
    path.write_text(HEADER + "3,0,0,0,0\n" + f"4,0,0,{cell},0\n" + "5,0,0,0,0\n",
                    encoding="utf-8")
    with pytest.raises(datasets.DatasetError) as excinfo:
        datasets.load_csv(path)
    message = str(excinfo.value)
    assert str(path) in message and "row 2 (line 3)" in message, message
    assert f"column 4 ('{column}')" in message and repr(cell) in message, message


def test_a_label_in_other_digits_is_located_too(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(HEADER + "3,0,0,0,0\n" + "\u0663,0,0,0,0\n", encoding="utf-8")
    with pytest.raises(datasets.DatasetError, match=r"row 2 \(line 3\), column 1 \('label'\)"):
        datasets.load_csv(path)


def test_such_a_cell_in_a_headerless_first_row_is_located(tmp_path):
    path = tmp_path / "bare.csv"
    path.write_text("3,0,1_0,0,0\n4,0,0,0,0\n")
    with pytest.raises(datasets.DatasetError, match=r"row 1 \(line 1\), column 3"):
        datasets.load_csv(path)


@pytest.mark.subprocess
def test_cmlp_train_into_a_closed_pipe_exits_quietly():
    process = subprocess.Popen(
        [sys.executable, "-m", "cmlp", "train", "--epochs", "5000", "--print-every", "1",
         "--dev-size", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(3):
        assert process.stdout.readline()
    process.stdout.close()  # `| head -3`
    status = process.wait(timeout=300)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert status in (0, 141), (status, stderr)
    assert stderr == ""


@pytest.mark.parametrize("gz", [False, True])
def test_bytes_that_are_not_utf8_are_located_by_row_and_header(tmp_path, gz):
    import gzip

    data = (HEADER + "3,0,0,0,0\n").encode() + b"4,0,\xe9,0,0\n" + b"5,0,0,0,0\n"
    path = tmp_path / ("latin.csv.gz" if gz else "latin.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(datasets.DatasetError,
                       match=r"row 2 \(line 3\), column 3 \('pixel1'\): bytes b'\\xe9'"):
        datasets.load_csv(path)
    path.write_bytes(b"\xe9" + data[1:])  # in the first line: no layout yet
    with pytest.raises(datasets.DatasetError,
                       match=r"line 1, column 1: bytes b'\\xe9' are not UTF-8 text"):
        datasets.load_csv(path)
