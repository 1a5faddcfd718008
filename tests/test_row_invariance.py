"""One row, one answer: a row's prediction does not depend on the rows computed with it.

Alone, at any place in a batch, in a permuted batch, in any slice, or in a batch split over
any number of threads, a row gets the same bits, on every SIMD path the host has and in
both dtypes (scikit-learn's check_methods_subset_invariance and
check_methods_sample_order_invariance, bit for bit). The shapes cross every remainder the
kernels handle apart: inputs (k) that are not a multiple of any vector width, tiny ones
included; outputs that are not; row counts that are not a multiple of any row tile (the
narrow kernels' tiles of 2 to 12 rows, the tile product's 6, 4, 2 and 1, the 128-row blocks
of a prediction).
"""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from cmlp import Network, _inference, _workspace
from cmlp.inference import Model

DTYPES = ["float32", "float64"]
# Narrow layers (few outputs, >= 64 inputs): every input count a vector width (4, 8, 16
# floats; 2, 4, 8 doubles) leaves a remainder of, and some it does not.
NARROW_INPUTS = [64, 65, 67, 71, 100, 127, 130, 300, 785]
NARROW_OUTPUTS = [1, 2, 3, 5, 7, 10, 13, 16]
NETWORKS = [
    [3, 100, 10],         # scikit-learn's checks: 3 features, 100 hidden units, a few classes
    [3, 100, 1],
    [1, 5, 2],
    [5, 37, 7],
    [3, 17, 33, 4],
    [67, 13, 3],          # a narrow first layer with a partial vector of inputs
    [130, 16, 100, 5],    # a narrow layer, then a narrow-sized one that is not (16 inputs)
    [100, 7],             # no hidden layer
    [30, 300, 7],         # wider than a tile panel
    [9, 200, 17, 3],
    [784, 128, 10],
    [2, 300, 257, 2],
]


def _data(n, n_features, dtype, seed=0):
    return np.random.default_rng(seed).normal(size=(n, n_features)).astype(dtype)


def _assert_each_row_is_alone(predict, X, whole, label=""):
    """predict(X[i:i+1]) == whole[i] for every row, and every slice of up to 13 rows at
    every offset of the first 29 rows gives its rows' values."""
    for i in range(len(X)):
        assert_array_equal(predict(X[i:i + 1]), whole[i:i + 1], err_msg=f"{label} row {i}")
    for length in range(2, 14):
        for start in range(0, min(len(X) - length, 29) + 1):
            assert_array_equal(predict(X[start:start + length]), whole[start:start + length],
                               err_msg=f"{label} rows {start}:{start + length}")


def _assert_order_does_not_matter(predict, X, whole, seed=0):
    rng = np.random.default_rng(seed)
    for order in (rng.permutation(len(X)), np.arange(len(X))[::-1], rng.permutation(len(X))):
        assert_array_equal(predict(X[order]), whole[order])
    doubled = np.concatenate([X[1:], X])  # every row at a second place, one row apart
    assert_array_equal(predict(doubled), np.concatenate([whole[1:], whole]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_inputs", NARROW_INPUTS)
def test_a_narrow_layers_outputs_for_a_row_do_not_depend_on_its_neighbours(simd_path, dtype,
                                                                         n_inputs):
    # The narrow kernels' tiles take 2 to 12 rows, and 1 for the rows left over: the last
    # n_inputs % (vector width) inputs must be summed the same way in all of them.
    for n_outputs in NARROW_OUTPUTS:
        assert _workspace.narrow_layer(n_inputs, n_outputs)
        net = Network([n_inputs, n_outputs], dtype=dtype, seed=n_outputs,
                      loss="squared_error")  # identity output: the layer's raw values
        X = _data(37, n_inputs, dtype, seed=n_inputs)
        whole = net.predict(X).reshape(len(X), -1)
        predict = lambda rows: net.predict(rows).reshape(len(rows), -1)
        for i in range(len(X)):
            assert_array_equal(predict(X[i:i + 1]), whole[i:i + 1],
                               err_msg=f"{n_inputs}-{n_outputs} row {i}")
        _assert_order_does_not_matter(predict, X, whole)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", NETWORKS, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error"])
def test_a_rows_prediction_is_the_same_alone_in_any_batch_and_any_order(simd_path, dtype,
                                                                        sizes, loss):
    if loss == "cross_entropy" and sizes[-1] < 2:
        pytest.skip("a classifier has at least two classes")
    net = Network(sizes, dtype=dtype, seed=1, activation="tanh", loss=loss, n_threads=1)
    model = Model(net)
    predict = model.predict_proba if loss == "cross_entropy" else model.predict
    X = _data(41, sizes[0], dtype)
    whole = predict(X)
    _assert_each_row_is_alone(predict, X, whole, label="-".join(map(str, sizes)))
    _assert_order_does_not_matter(predict, X, whole)
    network_predict = net.predict_proba if loss == "cross_entropy" else net.predict
    assert_array_equal(network_predict(X), whole)  # the Network's own path: the same bits
    assert_array_equal(network_predict(X[7:8]), whole[7:8])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", [[3, 100, 10], [67, 13, 3], [30, 300, 7], [784, 128, 10]],
                         ids=lambda s: "-".join(map(str, s)))
def test_a_rows_prediction_is_the_same_on_any_number_of_threads(simd_path, dtype, sizes):
    # Enough rows for up to 4 threads to take 128-row blocks, plus a partial block; the rows
    # are permuted too, so each row lands in another block on another thread.
    net = Network(sizes, dtype=dtype, seed=2, activation="relu")
    model = Model(net)
    X = _data(4 * _inference.PARALLEL_MIN_ROWS + 77, sizes[0], dtype, seed=5)
    one = model.predict_proba(X, n_threads=1)
    order = np.random.default_rng(3).permutation(len(X))
    for n_threads in (2, 3, 4, 8):
        assert_array_equal(model.predict_proba(X, n_threads=n_threads), one)
        assert_array_equal(model.predict_proba(X[order], n_threads=n_threads), one[order])
        assert_array_equal(model.predict_proba(X[5:-3], n_threads=n_threads), one[5:-3])
    for n_threads in (1, 2, 3):
        net.n_threads = n_threads
        assert_array_equal(net.predict_proba(X), one)
        assert_array_equal(net.predict_proba(X[order]), one[order])
    for i in (0, 127, 128, 300, len(X) - 1):
        assert_array_equal(model.predict_proba(X[i:i + 1]), one[i:i + 1], err_msg=f"row {i}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_random_shapes_give_each_row_one_answer(simd_path, dtype):
    # Shapes drawn at random (fixed seed) around the kernels' edges: 1-3 hidden layers of
    # 1-300 units, 1-800 inputs, 1-17 outputs.
    rng = np.random.default_rng(18)
    for trial in range(12):
        depth = int(rng.integers(1, 4))
        sizes = ([int(rng.choice([1, 2, 3, 5, 64, 67, 100, 130, 785]))]
                 + [int(rng.integers(1, 301)) for _ in range(depth - 1)]
                 + [int(rng.integers(2, 18))])
        net = Network(sizes, dtype=dtype, seed=trial, activation="logistic")
        model = Model(net)
        X = _data(int(rng.integers(2, 60)), sizes[0], dtype, seed=trial)
        whole = model.predict_proba(X)
        for i in range(len(X)):
            assert_array_equal(model.predict_proba(X[i:i + 1]), whole[i:i + 1],
                               err_msg=f"{sizes} row {i}")
        _assert_order_does_not_matter(model.predict_proba, X, whole, seed=trial)
