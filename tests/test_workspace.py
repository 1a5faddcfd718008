"""The work buffers of the training kernels (cmlp/_workspace.pyx): their sizing rules, and
the checks that keep a kernel from reading a workspace made for another dtype or shape."""
import numpy as np
import pytest

from cmlp import Network, _kernels, _unit_split, _workspace
from cmlp._codes import OptimizerKind
from cmlp._settings import OptimizerSettings
from cmlp._workspace import Workspace
from cmlp.optimizers import SGD


@pytest.mark.parametrize("sizes, dtype, batch_rows, n_threads, block", [
    ([784, 10, 10], "float32", 10_000, 2, _workspace.NARROW_BLOCK_ROWS),   # narrow first layer
    ([784, 10, 10], "float32", 100, 2, 50),                                # ... a small batch
    ([784, 128, 10], "float32", 10_000, 2, _workspace.TILE_BLOCK_ROWS[4]),  # tile kernels
    ([784, 128, 10], "float64", 10_000, 2, _workspace.TILE_BLOCK_ROWS[8]),  # half the rows
    ([784, 128, 10], "float32", 512, 1, 256),    # the unit split: up to the tiles' limit
    ([784, 128, 10], "float32", 32, 2, 16),      # ... one block per thread
    ([784, 800, 10], "float32", 10_000, 2, _workspace.TILE_BLOCK_ROWS[4]),  # a wide first layer
    ([784, 800, 800, 10], "float32", 10_000, 2, _workspace.MAX_BLOCK_ROWS),  # BLAS: a wide
    ([784, 128, 300], "float64", 10_000, 1, _workspace.MAX_BLOCK_ROWS),      # later layer
    ([784, 2048, 10], "float32", 10_000, 2, _workspace.MAX_BLOCK_ROWS),      # too wide for tiles
    ([784, 800, 800, 10], "float32", 128, 2, 64),  # the unit split: one block per thread
    ([784, 800, 10], "float64", 3, 2, 2),
])
def test_block_rows_follow_the_layer_shapes(sizes, dtype, batch_rows, n_threads, block):
    work = Workspace(sizes, dtype, batch_rows, n_threads)
    assert work.block_rows == block
    assert work.n_threads == n_threads
    assert work.act_width == sum(sizes[1:])
    assert work.dtype == np.dtype(dtype) and work.layer_sizes == tuple(sizes)


def test_threads_beyond_the_rows_are_not_used():
    work = Workspace([20, 30, 4], "float32", 3, 8)
    assert work.n_threads == 3 and work.block_rows == 1


def test_small_batches_held_whole_take_the_unit_split():
    work = Workspace([784, 32, 10], "float32", 64, 2)
    assert work.splits_units(64) and work.splits_units(1)
    assert not work.splits_units(129)  # more rows than the workspace holds
    wide = Workspace([784, 32, 10], "float32", 10_000, 2)
    assert not wide.splits_units(_workspace.UNIT_SPLIT_MAX_ROWS + 1)


@pytest.mark.parametrize("args, error, match", [
    (([4, 3], "int32", 10, 1), TypeError, "float32 or float64"),
    (([4, 3], "float32", 0, 1), ValueError, "batch_rows=0"),
    (([4, 3], "float32", 10, 0), ValueError, "n_threads=0"),
])
def test_bad_workspaces_are_refused(args, error, match):
    with pytest.raises(error, match=match):
        Workspace(*args)


@pytest.mark.parametrize("kernel", [_kernels.train_epoch, _unit_split.train_epoch])
def test_a_kernel_refuses_a_workspace_of_the_other_dtype(kernel):
    net = Network([12, 9, 4], dtype="float64", n_threads=1)
    X = np.zeros((8, 12))
    y = np.zeros(8, np.intc)
    opt = OptimizerSettings(OptimizerKind.SGD, learning_rate=0.1)
    empty = np.empty(0)
    work = Workspace(net.layer_sizes, "float32", 8, 1)
    before = net._params.copy()
    with pytest.raises(TypeError, match="holds float32, not 8-byte floats"):
        kernel(X, y, None, 8, net._params, net._sizes, 0, 0.0, opt, empty, empty, work,
               np.empty_like(net._params))
    with pytest.raises(TypeError):
        kernel(X, y, None, 8, net._params, net._sizes, 0, 0.0, opt, empty, empty, None,
               np.empty_like(net._params))
    np.testing.assert_array_equal(net._params, before)


def test_rows_done_counts_the_last_epoch():
    net = Network([12, 9, 4], n_threads=1, seed=0)
    X = np.random.default_rng(0).random((50, 12), dtype=np.float32)
    y = np.arange(50) % 4
    with net._trainer(X, y, batch_size=16, optimizer=_sgd_state(net)) as trainer:
        assert trainer.rows_done() == 0
        trainer.epoch(learning_rate=0.1)
        assert trainer.rows_done() == 50
    assert trainer.rows_done() == 0  # no epoch running


def _sgd_state(net):
    return SGD().make_state(net.n_params, net.dtype)
