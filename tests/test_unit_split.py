"""Small batches split each layer's units across threads (cmlp/_unit_split.pyx): checked
against the numpy reference, update by update, and against the row split. (Built without
OpenMP, the same loop runs on one thread.)"""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from cmlp import Network, _kernels, _unit_split, _workspace
from cmlp._codes import OptimizerKind
from cmlp._settings import OptimizerSettings

from test_optimizers import CASES, TOL, _reference_training

SHAPES = [
    [12, 9, 7, 4],        # wide layers only
    [70, 10, 5],          # narrow layers (at most 16 outputs, at least 64 inputs)
    [80, 33, 12, 3],      # a narrow layer after a wide one
    [12, 2, 5, 4],        # a layer with fewer units than threads
]


def _training_kernel(net, batch_size):
    with net._workspace(batch_size) as work:
        return net._epoch_kernel(batch_size, work)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [4, 11, 64])
def test_small_batches_take_the_unit_split(n_threads, batch_size):
    net = Network([784, 32, 10], n_threads=n_threads)
    assert _training_kernel(net, batch_size) is _unit_split.train_epoch
    assert _training_kernel(net, _workspace.UNIT_SPLIT_MAX_ROWS + 1) is _kernels.train_epoch
    # a narrow first layer works in blocks of 120 rows: one thread cannot hold 200
    narrow = Network([784, 10, 10], n_threads=1)
    assert _training_kernel(narrow, 200) is _kernels.train_epoch


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SHAPES, ids=str)
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("name, options, make_optimizer", CASES)
def test_unit_split_matches_reference(dtype, sizes, n_threads, name, options, make_optimizer):
    rng = np.random.default_rng(7)
    X = rng.uniform(0, 1, (45, sizes[0])).astype(dtype)  # batches of 11, the last of 1
    y = rng.integers(0, sizes[-1], 45)
    net = Network(sizes, dtype=dtype, seed=4, n_threads=n_threads)
    assert _training_kernel(net, 11) is _unit_split.train_epoch
    lr = 0.01 if name == "adam" else 0.1
    expected = _reference_training(net, X.astype(np.float64), y, 11, 2, make_optimizer, lr,
                                   l2=0.01)
    history = net.fit(X, y, epochs=2, learning_rate=lr, batch_size=11, shuffle=False,
                      optimizer=name, l2=0.01, **options)
    for got, want in zip(net.weights + net.biases, expected):
        assert_allclose(got, want, **TOL[dtype])
    assert np.all(np.isfinite(history["loss"]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SHAPES, ids=str)
def test_unit_split_gives_the_row_split_results(dtype, sizes, monkeypatch):
    """Shuffled epochs with L2: the same history (loss with penalty, accuracy) and weights
    as the row split, up to rounding."""
    rng = np.random.default_rng(8)
    X = rng.uniform(0, 1, (300, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], 300)

    def train():
        net = Network(sizes, dtype=dtype, seed=5, n_threads=2)
        history = net.fit(X, y, epochs=3, learning_rate=0.05, batch_size=32, optimizer="adam",
                          l2=0.001)
        return net, history

    split_net, split_history = train()
    monkeypatch.setattr(_workspace, "UNIT_SPLIT_MAX_ROWS", 0)
    rows_net, rows_history = train()
    assert_allclose(split_history["loss"], rows_history["loss"], **TOL[dtype])
    assert split_history["accuracy"] == rows_history["accuracy"]
    assert_allclose(split_net._params, rows_net._params, **TOL[dtype])


def test_unit_split_is_reproducible():
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, (500, 784)).astype(np.float32)
    y = rng.integers(0, 10, 500)
    runs = []
    for _ in range(2):
        net = Network([784, 64, 10], seed=1, n_threads=2)
        net.fit(X, y, epochs=2, learning_rate=0.01, batch_size=64, optimizer="momentum")
        runs.append(net._params)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_unit_split_refuses_a_workspace_smaller_than_the_batch():
    net = Network([12, 9, 4], n_threads=2)
    X = np.zeros((40, 12), np.float32)
    y = np.zeros(40, np.intc)
    opt = OptimizerSettings(OptimizerKind.SGD, learning_rate=0.1)
    empty = np.empty(0, np.float32)
    with pytest.raises(ValueError, match="whole batch"), net._workspace(10) as work:
        _unit_split.train_epoch(X, y, None, 40, net._params, net._sizes, 0, 0.0, opt, empty,
                                empty, work, np.empty_like(net._params))


@pytest.mark.parametrize("n_threads", [2, 3])
def test_barrier_gives_the_same_training_whether_threads_spin_or_sleep(n_threads):
    """cmlp's barrier (_src/team.h) spins, then sleeps: with no spinning at all every wait
    takes the sleeping path, which must hand over the same data (bit for bit)."""
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (300, 80)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    runs = []
    for spin in (0, None):
        previous = _unit_split.barrier_spin_limit(spin)
        try:
            net = Network([80, 33, 10], seed=2, n_threads=n_threads)
            net.fit(X, y, epochs=2, learning_rate=0.05, batch_size=16, optimizer="adam")
        finally:
            _unit_split.barrier_spin_limit(previous)
        runs.append(net._params)
    assert _unit_split.barrier_spin_limit() == previous
    np.testing.assert_array_equal(runs[0], runs[1])
