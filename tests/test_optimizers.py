"""Optimizers in the compiled epoch loop against the numpy reference, update by update."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from cmlp import Network, _workspace, reference
from cmlp.optimizers import SGD, Adam, Momentum, OptimizerState, scheduled_learning_rate

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
        monkeypatch.setattr(_workspace, "UNIT_SPLIT_MAX_ROWS", 0)
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


# --- optimizer objects (cmlp.optimizers.SGD, Momentum, Adam) ---


def _fit_weights(optimizer, **fit_args):
    X = np.random.default_rng(3).standard_normal((96, 12)).astype(np.float32)
    y = np.arange(96) % 4
    net = Network([12, 16, 4], seed=5)
    net.fit(X, y, epochs=3, batch_size=16, optimizer=optimizer, **fit_args)
    return net._params.copy()


@pytest.mark.parametrize("obj,name,given", [
    (SGD(0.05), "sgd", {}),
    (Momentum(0.05, momentum=0.8, nesterov=True), "momentum",
     {"momentum": 0.8, "nesterov": True}),
    (Adam(0.01, beta1=0.85, beta2=0.99, epsilon=1e-6), "adam",
     {"beta1": 0.85, "beta2": 0.99, "epsilon": 1e-6}),
])
def test_an_optimizer_object_trains_bit_for_bit_as_its_string_shortcut(obj, name, given):
    by_object = _fit_weights(obj)
    by_name = _fit_weights(name, learning_rate=obj.learning_rate, **given)
    np.testing.assert_array_equal(by_object, by_name)


def test_fit_takes_the_learning_rate_from_fit_when_the_object_has_none():
    np.testing.assert_array_equal(_fit_weights(Adam(beta2=0.99), learning_rate=0.01),
                                  _fit_weights(Adam(0.01, beta2=0.99)))


def test_hyperparameters_beside_an_object_or_a_state_are_refused_not_ignored():
    net = Network([4, 3], seed=0)
    X, y = np.zeros((8, 4), np.float32), np.arange(8) % 3
    with pytest.raises(TypeError, match="beta1 cannot be given to fit beside an optimizer"):
        net.fit(X, y, epochs=1, optimizer=Adam(0.1), beta1=0.5)
    state = OptimizerState("momentum", net.n_params, net.dtype)
    with pytest.raises(TypeError, match="momentum cannot be given"):
        net.fit(X, y, epochs=1, learning_rate=0.1, optimizer=state, momentum=0.5)


def test_the_learning_rate_must_be_given_once():
    net = Network([4, 3], seed=0)
    X, y = np.zeros((8, 4), np.float32), np.arange(8) % 3
    with pytest.raises(TypeError, match="given twice"):
        net.fit(X, y, epochs=1, learning_rate=0.1, optimizer=SGD(0.2))
    with pytest.raises(TypeError, match="needs a learning rate"):
        net.fit(X, y, epochs=1, optimizer="adam")
    with pytest.raises(TypeError, match="optimizer must be one of"):
        net.fit(X, y, epochs=1, learning_rate=0.1, optimizer=object())


@pytest.mark.parametrize("make,match", [
    (lambda: Adam(-1.0), "learning_rate must be positive"),
    (lambda: Adam(beta1=1.0), "beta1 must be below 1.0"),
    (lambda: Adam(epsilon=0), "epsilon must be positive"),
    (lambda: Momentum(momentum=-0.1), "momentum must be at least 0.0"),
])
def test_optimizer_objects_check_their_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_nesterov_must_be_a_bool():
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        Momentum(nesterov="yes")


def test_an_object_makes_a_fresh_state_and_reads_back():
    adam = Adam(1e-3, beta1=0.8)
    assert repr(adam) == "Adam(learning_rate=0.001, beta1=0.8, beta2=0.999, epsilon=1e-08)"
    state = adam.make_state(10, np.float32)
    assert state.name == "adam" and state.config.beta1 == 0.8
    assert state.state_a.shape == (10,) and state.state_a.dtype == np.float32
