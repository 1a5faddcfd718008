"""The private Trainer (cmlp._training): the epochs Network.fit runs, one call at a time."""
import threading

import numpy as np
import pytest

from cmlp import Network, TrainingDiverged, network
from cmlp._training import hold_out_rows
from cmlp.optimizers import OptimizerState


def _data(n=200, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, k, n)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", [
    dict(batch_size=16, optimizer="adam"),
    dict(batch_size=None, optimizer="momentum"),
    dict(batch_size=32, optimizer="sgd", dropout=0.2, max_norm=2.0, l2=0.01),
])
def test_trainer_epochs_are_fits_epochs_bit_for_bit(dtype, options):
    X, y = _data()
    options = dict(options)
    name = options.pop("optimizer")
    fitted = Network([12, 9, 3], dtype=dtype, seed=5, n_threads=1)
    history = fitted.fit(X, y, epochs=4, learning_rate=0.05, optimizer=name, **options)
    stepped = Network([12, 9, 3], dtype=dtype, seed=5, n_threads=1)
    opt = OptimizerState(name, stepped.n_params, stepped.dtype)
    losses = []
    def run():
        with stepped._trainer(X, y, optimizer=opt, **options) as trainer:
            for epoch in range(4):
                losses.append(trainer.epoch(0.05, epoch)[0])

    stepped._guard.call_writing("fit", run)
    assert np.array_equal(fitted._params, stepped._params)
    assert losses == history["loss"]


def test_trainer_rolls_back_divergence_and_runs_under_the_writers_guard():
    X, y = _data()
    net = Network([12, 9, 3], dtype="float64", seed=0, n_threads=1)
    opt = OptimizerState("sgd", net.n_params, net.dtype)
    before = net._params.copy()
    with net._trainer(X * 1e300, y, batch_size=20, optimizer=opt) as trainer:
        with pytest.raises(TrainingDiverged, match="diverged in epoch 0"):
            trainer.epoch(1e300, 0)
    assert np.array_equal(net._params, before)  # restored to those before fit
    errors = []

    def run():  # as cmlp.sklearn runs its epochs: the one writer
        with net._trainer(X, y, optimizer=opt):
            thread = threading.Thread(target=lambda: _catch(errors, net.predict, X))
            thread.start()
            thread.join()

    net._guard.call_writing("fit", run)
    assert errors and "training" in str(errors[0])
    net.predict(X)  # released on exit
    with pytest.raises(ValueError, match="OptimizerState made for this network"):
        net._trainer(X, y, optimizer=OptimizerState("sgd", 3, net.dtype))


def _catch(errors, function, *args):
    try:
        function(*args)
    except RuntimeError as error:
        errors.append(error)


@pytest.mark.parametrize("batch_size, n_threads", [(16, 1), (16, 2), (1024, 2), (None, 1)],
                         ids=["unit-split-1", "unit-split-2", "row-split", "full-batch"])
def test_epoch_progress_counts_the_rows_of_the_running_epoch(batch_size, n_threads):
    """Another thread follows fit inside its epochs: the count the compiled loop publishes
    after every update, a whole number of batches, and None outside fit."""
    rng = np.random.default_rng(0)
    n = 60_000
    X = rng.random((n, 64), dtype=np.float32)
    y = rng.integers(0, 10, n)
    net = Network([64, 48, 10], seed=0, n_threads=n_threads)
    assert net.epoch_progress is None
    fit = threading.Thread(target=net.fit, args=(X, y),
                           kwargs=dict(epochs=3, batch_size=batch_size, learning_rate=1e-3))
    seen = []
    fit.start()
    while fit.is_alive():
        seen.append(net.epoch_progress)
    fit.join()
    assert net.epoch_progress is None
    counts = [p for p in seen if p is not None]
    assert counts and all(total == n for _, total in counts)
    step = batch_size or n
    assert all(rows == n or rows % step == 0 for rows, _ in counts), counts[:20]
    if batch_size is not None:  # seen part-way through an epoch, not only at its ends
        assert any(0 < rows < n for rows, _ in counts)


def test_held_out_rows_split_every_row_once():
    held, kept = hold_out_rows(50, 7, np.random.default_rng(3))
    assert len(held) == 7 and len(kept) == 43
    assert sorted(np.concatenate([held, kept])) == list(range(50))
    again, _ = hold_out_rows(50, 7, np.random.default_rng(3))
    np.testing.assert_array_equal(held, again)


def test_fit_holds_out_validation_rows_by_the_shared_rule(monkeypatch):
    X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    y = np.arange(40) % 3
    calls = []

    def recording(n_rows, n_held, rng):
        calls.append(hold_out_rows(n_rows, n_held, rng))
        return calls[-1]

    monkeypatch.setattr(network, "hold_out_rows", recording)
    net = Network([6, 5, 3], seed=2)
    X_train, y_train, _, X_val, y_val = net._split_validation(X, y, None, 0.25)
    [(held, kept)] = calls
    assert len(held) == 10
    np.testing.assert_array_equal(X_val, X[held])
    np.testing.assert_array_equal(y_train, y[kept])
