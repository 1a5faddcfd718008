"""Ctrl-C inside one batch: long products are cut into pieces with a look for signals
between them (cmlp._kernels.polled_gemm), on the row split and on the unit split.

Deterministic, not timed: cmlp._kernels.interrupt_test_settings makes every caller poll
run Python's signal handlers (interval 0), cuts products into small pieces, and acts as if
Ctrl-C came just before a given check; interrupt_checks counts the checks of the last call.
(How fast Ctrl-C stops real trainings: benchmarks/interrupt_latency.py.)
"""
import functools
import signal

import numpy as np
import pytest
from scipy.linalg import blas

from cmlp import Network, _kernels
from cmlp.optimizers import OptimizerState

# Wider than the tiles (BLAS products), with widths and halves of widths (each thread's
# share in the unit split) multiples of 8: cut products keep the bits of whole ones there,
# where the BLAS itself does (_blas_keeps_bits_when_cut).
SIZES = [304, 2096, 272, 10]
SMALL_PIECES = 2.0e6    # a few 64-row pieces per product of these sizes
PATHS = [pytest.param(None, 600, id="row-split-full-batch"),
         pytest.param(1000, 2000, id="row-split-batches"),
         pytest.param(128, 512, id="unit-split")]


@pytest.fixture
def settings():
    """interrupt_test_settings, restored after the test. Python's SIGINT handler is put in
    place meanwhile: the simulated Ctrl-C (PyErr_SetInterrupt) does nothing where SIGINT is
    ignored, as in a job a shell started with `&`."""
    previous = _kernels.interrupt_test_settings()
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield _kernels.interrupt_test_settings
    signal.signal(signal.SIGINT, handler)
    _kernels.interrupt_test_settings(*previous)


def _data(n, dtype):
    rng = np.random.default_rng(0)
    return rng.random((n, SIZES[0])).astype(dtype), rng.integers(0, SIZES[-1], n)


def _trained(X, y, dtype, batch_size, n_threads=2, epochs=1, optimizer="adam"):
    net = Network(SIZES, dtype=dtype, seed=0, n_threads=n_threads)
    net.fit(X, y, epochs=epochs, learning_rate=0.05, batch_size=batch_size, shuffle=False,
            optimizer=optimizer)
    return net


@functools.lru_cache(maxsize=None)
def _blas_keeps_bits_when_cut(dtype):
    """Whether this BLAS gives the products of SIZES, cut into 64-wide bands of rows or of
    columns (what polled_gemm does), the bits of the whole ones. OpenBLAS's dgemm does, and
    its sgemm on AVX-512; its sgemm on AVX2 hosts (the Haswell/Zen kernels) does not."""
    gemm = blas.sgemm if dtype == "float32" else blas.dgemm
    rng = np.random.default_rng(1)
    a = np.asfortranarray(rng.standard_normal((SIZES[1], SIZES[0])), dtype)
    b = np.asfortranarray(rng.standard_normal((SIZES[0], 600)), dtype)
    whole = gemm(1, a, b)
    by_rows = np.vstack([gemm(1, a[i:i + 64], b) for i in range(0, a.shape[0], 64)])
    by_columns = np.hstack([gemm(1, a, b[:, j:j + 64]) for j in range(0, b.shape[1], 64)])
    return np.array_equal(whole, by_rows) and np.array_equal(whole, by_columns)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size, n", PATHS)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_products_cut_in_pieces_train_to_the_same_bits(settings, dtype, batch_size, n,
                                                       n_threads):
    """Bit for bit where the BLAS keeps bits across cuts; elsewhere the pieces must still
    cover each product once (a band missed or done twice is far off), checked with plain
    SGD: Adam's first steps turn a last-bit difference of a gradient near zero into a
    different sign of its update."""
    X, y = _data(n, dtype)
    exact = _blas_keeps_bits_when_cut(dtype)
    optimizer = "adam" if exact else "sgd"
    whole = _trained(X, y, dtype, batch_size, n_threads, optimizer=optimizer)
    settings(piece=SMALL_PIECES)
    pieces = _trained(X, y, dtype, batch_size, n_threads, optimizer=optimizer)
    if exact:
        np.testing.assert_array_equal(pieces._params, whole._params)
    else:
        np.testing.assert_allclose(pieces._params, whole._params, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size, n", PATHS)
def test_a_batch_of_a_wide_layer_looks_for_signals_between_pieces(settings, dtype,
                                                                  batch_size, n):
    X, y = _data(batch_size or n, dtype)  # one batch
    settings(interval=0)
    _trained(X, y, dtype, batch_size)
    between_products = _kernels.interrupt_checks()
    settings(interval=0, piece=SMALL_PIECES)
    _trained(X, y, dtype, batch_size)
    between_pieces = _kernels.interrupt_checks()
    # forward, weight gradient: several 64-row pieces each
    assert between_pieces >= between_products + 4, (between_products, between_pieces)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size, n", PATHS)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_ctrl_c_part_way_through_a_batch_drops_it_whole(settings, dtype, batch_size, n,
                                                        n_threads):
    """Ctrl-C in the middle of the third batch: KeyboardInterrupt, the weights as the
    second update left them, an optimizer state that counts those two updates (Adam's bias
    correction of the next one follows on), and a network that trains on as before."""
    batch = batch_size or n
    X, y = _data(3 * batch, dtype)
    settings(interval=0, piece=SMALL_PIECES)
    _trained(X[:batch], y[:batch], dtype, batch, n_threads)
    one = _kernels.interrupt_checks()
    _trained(X[:2 * batch], y[:2 * batch], dtype, batch, n_threads)
    two = _kernels.interrupt_checks()
    per_batch = two - one
    assert per_batch >= 4
    two_updates = _trained(X[:2 * batch], y[:2 * batch], dtype, batch, n_threads)

    settings(interval=0, piece=SMALL_PIECES, interrupt_at=two + per_batch // 2)
    net = Network(SIZES, dtype=dtype, seed=0, n_threads=n_threads)
    state = OptimizerState("adam", net.n_params, dtype)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=1, learning_rate=0.05, batch_size=batch, shuffle=False,
                optimizer=state)
    np.testing.assert_array_equal(net._params, two_updates._params)
    assert state.config.step == 2

    settings(piece=SMALL_PIECES)
    net.fit(X, y, epochs=1, learning_rate=0.05, batch_size=batch, shuffle=False,
            optimizer="sgd")
    assert np.isfinite(net._params).all()
    assert np.allclose(net.predict_proba(X[:5]).sum(axis=1), 1, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ctrl_c_stops_a_gradient_part_way(settings, dtype):
    X, y = _data(600, dtype)
    net = Network(SIZES, dtype=dtype, seed=0, n_threads=2)
    settings(interval=0, piece=SMALL_PIECES)
    loss, gw, gb = net.gradients(X, y)
    assert _kernels.interrupt_checks() >= 4
    settings(interval=0, piece=SMALL_PIECES, interrupt_at=3)
    with pytest.raises(KeyboardInterrupt):
        net.gradients(X, y)
    settings(interval=0, piece=SMALL_PIECES)  # cut as the first call was
    again = net.gradients(X, y)
    assert again[0] == loss
    for a, b in zip(again[1] + again[2], gw + gb):
        np.testing.assert_array_equal(a, b)
