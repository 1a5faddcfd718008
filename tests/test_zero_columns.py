"""The first layer leaves out the input columns that are zero in every row of a block
(cmlp._kernels.gather_columns): the same results bit for bit, on every SIMD path, in the
row split, the unit split and prediction, and the left-out weights are never read."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from cmlp import Network, _kernels, _workspace
from cmlp.inference import Model
from cmlp._codes import Activation, OptimizerKind
from cmlp._settings import OptimizerSettings


def _windowed(rng, n, n_features, dtype):
    """Rows non-zero only in a window of columns, as images are: across a batch, about a
    quarter of the columns (and the last fifth always) are zero."""
    X = rng.uniform(0.1, 1, (n, n_features))
    starts = rng.integers(0, n_features // 3, n)
    columns = np.arange(n_features)
    inside = (columns >= starts[:, None]) & (columns < starts[:, None] + 2 * n_features // 5)
    return np.where(inside, X, 0).astype(dtype)


@pytest.fixture
def skipping():
    """Restores the switch after a test that turns it off."""
    previous = _kernels.skip_zero_columns()
    yield
    _kernels.skip_zero_columns(previous)


def _train(X, y, sizes, dtype, n_threads, batch_size, skip, **options):
    _kernels.skip_zero_columns(skip)
    net = Network(sizes, dtype=dtype, seed=3, n_threads=n_threads)
    history = net.fit(X, y, epochs=2, learning_rate=0.05, batch_size=batch_size, **options)
    return net._params.copy(), history


# Wide layers only; a narrow last layer; a first layer wider than TILE_BLOCK_MAX_WIDTH.
SHAPES = [[150, 40, 30, 5], [100, 64, 10], [60, 270, 5]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SHAPES, ids=str)
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("batch_size, split", [(11, "units"), (300, "rows"), (None, "rows")])
@pytest.mark.parametrize("options", [{"optimizer": "adam", "l2": 0.01},
                                     {"optimizer": "sgd", "dropout": [0.2, 0.1]}],
                         ids=["adam-l2", "sgd-input-dropout"])
def test_skipping_zero_columns_changes_no_bit(simd_path, dtype, sizes, n_threads, batch_size,
                                             split, options, skipping, monkeypatch):
    if split == "rows":
        monkeypatch.setattr(_workspace, "UNIT_SPLIT_MAX_ROWS", 0)
    options = dict(options)
    if "dropout" in options:
        options["dropout"] = options["dropout"] + [0.0] * (len(sizes) - 3)
    rng = np.random.default_rng(11)
    X = _windowed(rng, 700, sizes[0], dtype)
    y = rng.integers(0, sizes[-1], 700)
    skipped, skipped_history = _train(X, y, sizes, dtype, n_threads, batch_size, True,
                                      **options)
    dense, dense_history = _train(X, y, sizes, dtype, n_threads, batch_size, False, **options)
    assert_array_equal(skipped, dense)
    assert skipped_history["loss"] == dense_history["loss"]


def _epoch_with_an_infinite_weight(X, y, n_threads, batch_size, column, skip):
    """The parameters after one epoch (the training kernel called directly, without the
    divergence check of fit) of a network whose first layer has an infinite weight on the
    given input column. Its hidden units are tanh, which passes NaN on (ReLU would turn
    it to 0)."""
    _kernels.skip_zero_columns(skip)
    net = Network([X.shape[1], 48, 4], dtype=X.dtype, seed=2, n_threads=n_threads,
                  activation="tanh")
    net._params[column * 48] = np.inf  # W_0[column, 0]
    settings = OptimizerSettings(OptimizerKind.SGD, learning_rate=0.05)
    empty = np.empty(0, X.dtype)
    with net._workspace(batch_size) as work:
        kernel = net._epoch_kernel(batch_size, work)
        kernel(X, y, None, batch_size, net._params, net._sizes, Activation.TANH, 0.0,
               settings, empty, empty, work, np.empty_like(net._params))
    return net._params


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("batch_size, split", [(16, "units"), (200, "rows")])
def test_the_weights_of_zero_columns_are_not_read(simd_path, dtype, n_threads, batch_size,
                                                  split, skipping, monkeypatch):
    """An infinite weight on a column that is zero in every row would turn the outputs to
    NaN (0 times infinity) if the products read it: they do not, and it gets no update,
    while the dense products read it."""
    if split == "rows":
        monkeypatch.setattr(_workspace, "UNIT_SPLIT_MAX_ROWS", 0)
    rng = np.random.default_rng(12)
    X = _windowed(rng, 400, 120, dtype)
    y = rng.integers(0, 4, 400).astype(np.intc)
    column = np.flatnonzero(~X.any(axis=0))[0]
    params = _epoch_with_an_infinite_weight(X, y, n_threads, batch_size, column, True)
    assert params[column * 48] == np.inf
    assert np.isfinite(np.delete(params, column * 48)).all()
    params = _epoch_with_an_infinite_weight(X, y, n_threads, batch_size, column, False)
    assert np.isnan(params).any()


def test_nearly_dense_inputs_keep_every_column(skipping):
    """Where fewer than an eighth of the columns could be left out (here 5 of 80), none is:
    the products read every weight."""
    rng = np.random.default_rng(13)
    X = rng.uniform(0.1, 1, (64, 80)).astype(np.float32)
    X[:, :5] = 0
    y = rng.integers(0, 4, 64).astype(np.intc)
    params = _epoch_with_an_infinite_weight(X, y, 1, 16, 0, True)
    assert np.isnan(params).any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", [[150, 40, 5], [150, 300, 12]], ids=str)
def test_prediction_gives_each_row_the_same_bits_alone_or_in_a_batch(simd_path, dtype,
                                                                    sizes):
    """A row alone is zero in more columns than the batch it sits in: its prediction leaves
    out more, and still equals the batch's bit for bit (and the frozen Model's)."""
    rng = np.random.default_rng(14)
    X = _windowed(rng, 300, sizes[0], dtype)
    net = Network(sizes, dtype=dtype, seed=5)
    whole = net.predict_proba(X)
    alone = np.vstack([net.predict_proba(X[i:i + 1]) for i in range(0, len(X), 7)])
    assert_array_equal(alone, whole[::7])
    assert_array_equal(Model(net).predict_proba(X), whole)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_prediction_does_not_read_the_weights_of_zero_columns(simd_path, dtype):
    rng = np.random.default_rng(15)
    X = _windowed(rng, 200, 120, dtype)
    column = np.flatnonzero(~X.any(axis=0))[0]
    net = Network([120, 48, 4], dtype=dtype, seed=2, activation="tanh")
    net.weights[0][column, 0] = np.inf
    assert np.isfinite(net.predict_proba(X)).all()
    assert np.isfinite(Model(net).predict_proba(X[:1])).all()
