"""Optimizers in the compiled epoch loop against the numpy reference, update by update."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from cmlp import Network, network, reference
from cmlp.optimizers import scheduled_learning_rate

TOL = {"float32": {"rtol": 1e-4, "atol": 1e-6}, "float64": {"rtol": 1e-9, "atol": 1e-12}}
CASES = [
    ("sgd", {}, reference.SGD),
    ("momentum", {"momentum": 0.9}, lambda lr: reference.Momentum(lr, 0.9)),
    ("momentum", {"momentum": 0.5, "nesterov": True},
     lambda lr: reference.Momentum(lr, 0.5, nesterov=True)),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-7},
     lambda lr: reference.Adam(lr, 0.8, 0.99, 1e-7)),
]


def _reference_training(net, X, y, batch_size, epochs, make_optimizer, learning_rate,
                        schedule="constant", l2=0.0):
    """Plain numpy replay of fit(shuffle=False): batches in row order, one update each."""
    params = [p.astype(np.float64) for p in net.weights + net.biases]
    n_layers = len(net.weights)
    optimizer = make_optimizer(learning_rate)
    for epoch in range(epochs):
        optimizer.learning_rate = scheduled_learning_rate(schedule, learning_rate, epoch,
                                                          epochs, 0.95)
        for start in range(0, len(X), batch_size):
            rows = slice(start, start + batch_size)
            _, gw, gb = reference.gradients(params[:n_layers], params[n_layers:], X[rows],
                                            y[rows], l2=l2)
            optimizer.step(params, gw + gb)
    return params


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, options, make_optimizer", CASES)
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("n_threads", [1, 3])  # with threads, updates add their partial sums
@pytest.mark.parametrize("split", ["units", "rows"])  # the two epoch loops (network.py)
def test_updates_match_reference(dtype, name, options, make_optimizer, schedule, n_threads,
                                 split, monkeypatch):
    if split == "rows":
        monkeypatch.setattr(network, "_UNIT_SPLIT_MAX_ROWS", 0)
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, (45, 12)).astype(dtype)  # 45 = 4 batches of 11 and one of 1
    y = rng.integers(0, 4, 45)
    net = Network([12, 9, 7, 4], dtype=dtype, seed=3, n_threads=n_threads)
    lr = 0.01 if name == "adam" else 0.2
    expected = _reference_training(net, X.astype(np.float64), y, 11, 3, make_optimizer, lr,
                                   schedule, l2=0.01)
    net.fit(X, y, epochs=3, learning_rate=lr, batch_size=11, shuffle=False, optimizer=name,
            lr_schedule=schedule, l2=0.01, **options)
    for got, want in zip(net.weights + net.biases, expected):
        assert_allclose(got, want, **TOL[dtype])


def test_learning_rate_schedules():
    assert scheduled_learning_rate("constant", 0.1, 7, 10, 0.9) == 0.1
    assert scheduled_learning_rate("cosine", 0.1, 0, 10, 0.9) == pytest.approx(0.1)
    assert scheduled_learning_rate("cosine", 0.1, 5, 10, 0.9) == pytest.approx(0.05)
    assert scheduled_learning_rate("exponential", 0.1, 2, 10, 0.9) == pytest.approx(0.081)


def test_history_records_scheduled_rates():
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(20, 4)), rng.integers(0, 2, 20)
    history = Network([4, 2], seed=0).fit(X, y, epochs=4, learning_rate=0.1,
                                          lr_schedule="exponential", lr_decay=0.5)
    assert_allclose(history["learning_rate"], [0.1, 0.05, 0.025, 0.0125])


def test_shuffled_epochs_differ_from_unshuffled_but_repeat_with_seed():
    rng = np.random.default_rng(1)
    X, y = rng.uniform(size=(60, 5)).astype(np.float32), rng.integers(0, 3, 60)

    def train(shuffle, seed):
        net = Network([5, 4, 3], seed=seed)
        net.fit(X, y, epochs=2, learning_rate=0.5, batch_size=7, shuffle=shuffle)
        return net.weights[0].copy()

    assert np.array_equal(train(True, 0), train(True, 0))
    assert not np.array_equal(train(True, 0), train(False, 0))
