"""The Network API: construction, validation of every bad input, persistence, determinism."""
import os

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from cmlp import Network, TrainingDiverged


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (50, 6)).astype(np.float32), rng.integers(0, 3, 50)


def test_layout_and_attributes():
    net = Network([784, 10, 10], seed=0)
    assert [W.shape for W in net.weights] == [(784, 10), (10, 10)]
    assert [b.shape for b in net.biases] == [(10,), (10,)]
    assert net.layer_sizes == [784, 10, 10] and net.dtype == np.float32
    assert net.n_params == 784 * 10 + 10 + 10 * 10 + 10


def test_he_initialisation_scale_and_uniform_option():
    he = Network([2000, 300, 10], seed=0)
    assert abs(he.weights[0].std() - np.sqrt(2 / 2000)) < 0.02 * np.sqrt(2 / 2000)
    assert not he.biases[0].any()
    uniform = Network([784, 10, 10], seed=0, init="uniform")
    assert -0.5 <= uniform.weights[0].min() and uniform.weights[0].max() < 0.5
    assert uniform.biases[0].any()


def test_same_seed_same_weights_bit_for_bit():
    a, b = Network([30, 20, 5], seed=42), Network([30, 20, 5], seed=42)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        assert_array_equal(x, y)
    c = Network([30, 20, 5], seed=43)
    assert not np.array_equal(a.weights[0], c.weights[0])


@pytest.mark.parametrize("batch_size", [None, 8])
def test_training_is_deterministic(data, batch_size):
    X, y = data
    runs = []
    for _ in range(2):
        net = Network([6, 5, 3], seed=7, n_threads=1)
        history = net.fit(X, y, epochs=5, learning_rate=0.1, batch_size=batch_size)
        runs.append((net.weights[0].copy(), history["loss"]))
    assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_fit_history_and_verbose_output(data, capsys):
    X, y = data
    history = Network([6, 5, 3], seed=0).fit(X, y, epochs=21, learning_rate=0.5, verbose=10,
                                              validation_data=(X[:10], y[:10]))
    assert len(history["loss"]) == len(history["val_accuracy"]) == 21
    assert history["loss"][-1] < history["loss"][0]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["0", "10", "20"]
    assert lines[0].startswith("Iteration:") and "accuracy:" in lines[0]


def test_predict_and_score(data):
    X, y = data
    net = Network([6, 3], seed=0)
    labels = net.predict(X)
    assert labels.shape == (50,) and labels.dtype.kind == "i"
    assert net.score(X, y) == pytest.approx(np.mean(labels == y))


def test_accepts_any_real_input_and_read_only_arrays(data):
    X, y = data
    net = Network([6, 3], seed=0, dtype="float64")
    expected = net.predict_proba(X)
    as_ints = (X * 0).astype(np.int16)
    assert net.predict_proba(as_ints).shape == (50, 3)
    fortran = np.asfortranarray(X)
    read_only = X.copy()
    read_only.setflags(write=False)
    assert np.allclose(net.predict_proba(fortran), expected)
    assert np.allclose(net.predict_proba(read_only), expected)
    assert np.allclose(net.predict_proba(X.tolist()), expected)


def test_save_load_round_trip(tmp_path, data):
    X, y = data
    net = Network([6, 4, 3], seed=0, dtype="float64", activation="tanh")
    net.fit(X, y, epochs=3, learning_rate=0.1)
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = Network.load(path)
    assert loaded.layer_sizes == net.layer_sizes and loaded.dtype == net.dtype
    assert loaded.activation == "tanh"
    assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp file left


def test_save_is_atomic(tmp_path, data, monkeypatch):
    """A failure while writing leaves the previous file intact and no temp file behind."""
    net = Network([6, 3], seed=0)
    path = tmp_path / "model.npz"
    net.save(path)
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        Network([6, 3], seed=1).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        Network.load(tmp_path / "missing.npz")
    good = tmp_path / "good.npz"
    Network([6, 3], seed=0).save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a cmlp model file: expected a .npz"):
        Network.load(truncated)
    cut_short = tmp_path / "cut_short.npz"  # the zip directory is intact, a member is not
    data = good.read_bytes()
    cut_short.write_bytes(data[:60] + bytes(len(data) - 60))
    with pytest.raises(ValueError, match="cmlp model"):
        Network.load(cut_short)
    text = tmp_path / "text.npz"
    text.write_text("label,1x1\n")
    with pytest.raises(ValueError, match="not a cmlp model file: expected a .npz"):
        Network.load(text)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    with pytest.raises(ValueError, match="not a cmlp model file"):
        Network.load(foreign)
    newer = tmp_path / "newer.npz"
    arrays = dict(np.load(good))
    arrays["format_version"] = np.array(99)
    np.savez(newer, **arrays)
    with pytest.raises(ValueError, match="version 99"):
        Network.load(newer)
    damaged = tmp_path / "damaged.npz"
    arrays = dict(np.load(good))
    arrays["weight_0"] = np.ones((5, 3))
    np.savez(damaged, **arrays)
    with pytest.raises(ValueError, match="shape"):
        Network.load(damaged)


@pytest.mark.parametrize("sizes, error, match", [
    ([784], ValueError, "at least two sizes"),
    ([784, 0, 10], ValueError, "at least 1"),
    ([784, -3, 10], ValueError, "at least 1"),
    ([784, 2.5, 10], TypeError, "integers"),
    ([784, 10, 1], ValueError, "at least 2 classes"),
    (784, TypeError, "sequence"),
])
def test_bad_layer_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        Network(sizes)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"dtype": "float16"}, ValueError, "dtype"),
    ({"dtype": "banana"}, TypeError, "dtype"),
    ({"activation": "gelu"}, ValueError, "activation"),
    ({"init": "zeros"}, ValueError, "init"),
    ({"n_threads": 0}, ValueError, "n_threads"),
])
def test_bad_constructor_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        Network([4, 3], **kwargs)


def _bad_X_cases():
    good = np.zeros((5, 6))
    nan = good.copy()
    nan[2, 4] = np.nan
    inf = good.copy()
    inf[1, 0] = np.inf
    return [
        (np.zeros((5, 7)), ValueError, "7 features per row, the network expects 6"),
        (np.zeros(6), ValueError, "2-D"),
        (np.zeros((2, 5, 6)), ValueError, "2-D"),
        (np.zeros((0, 6)), ValueError, "empty"),
        (nan, ValueError, r"NaN or infinity \(first at row 2, column 4"),
        (inf, ValueError, "NaN or infinity"),
        (np.full((5, 6), 1e39), ValueError, "NaN or infinity"),  # overflows float32
        (np.array([["a"] * 6] * 5), TypeError, "real numbers"),
        (np.zeros((5, 6), dtype=complex), TypeError, "real numbers"),
    ]


@pytest.mark.parametrize("X, error, match", _bad_X_cases())
def test_bad_X(X, error, match):
    net = Network([6, 3], seed=0)
    with pytest.raises(error, match=match):
        net.predict(X)
    with pytest.raises(error, match=match):
        net.fit(X, np.zeros(len(X), dtype=int), epochs=1, learning_rate=0.1)


@pytest.mark.parametrize("y, error, match", [
    (np.zeros(4, dtype=int), ValueError, "X has 5 rows but y has 4 labels"),
    (np.array([0, 1, 2, 3, 0]), ValueError, r"label 3, outside \[0, 3\)"),
    (np.array([0, 1, -1, 2, 0]), ValueError, r"label -1, outside"),
    (np.array([0, 1, 0.5, 2, 0]), ValueError, "integer class labels"),
    (np.array(["a", "b", "c", "a", "b"]), TypeError, "integer class labels"),
    (np.zeros((5, 1), dtype=int), ValueError, "1-D"),
])
def test_bad_y(y, error, match):
    net = Network([6, 3], seed=0)
    X = np.zeros((5, 6))
    with pytest.raises(error, match=match):
        net.fit(X, y, epochs=1, learning_rate=0.1)
    with pytest.raises(error, match=match):
        net.score(X, y)


def test_integral_float_labels_are_accepted(data):
    X, y = data
    Network([6, 3], seed=0).fit(X, y.astype(float), epochs=1, learning_rate=0.1)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"learning_rate": 0}, ValueError, "learning_rate must be positive"),
    ({"learning_rate": -0.1}, ValueError, "learning_rate must be positive"),
    ({"learning_rate": float("nan")}, ValueError, "learning_rate must be finite"),
    ({"learning_rate": float("inf")}, ValueError, "learning_rate must be finite"),
    ({"learning_rate": "0.1"}, TypeError, "learning_rate must be a real number"),
    ({"epochs": 0}, ValueError, "epochs must be at least 1"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"optimizer": "rmsprop"}, ValueError, "unknown optimizer"),
    ({"lr_schedule": "linear"}, ValueError, "unknown lr_schedule"),
    ({"momentum": 1.5}, ValueError, "momentum"),
    ({"l2": -1}, ValueError, "l2"),
    ({"validation_data": (np.zeros((3, 5)), np.zeros(3))}, ValueError, "X_val has 5 features"),
    ({"early_stopping": True, "validation_fraction": 1.0}, ValueError, "validation_fraction"),
])
def test_bad_fit_options(data, kwargs, error, match):
    X, y = data
    options = {"epochs": 1, "learning_rate": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        Network([6, 3], seed=0).fit(X, y, **options)


def test_divergence_stops_with_clear_error_and_finite_weights(data):
    X, y = data
    net = Network([6, 5, 3], seed=0, dtype="float32")
    with pytest.raises(TrainingDiverged, match="diverged in epoch .*smaller learning_rate"):
        net.fit(X * 1e4, y, epochs=50, learning_rate=1e30)
    assert all(np.isfinite(p).all() for p in net.weights + net.biases)


def test_early_stopping_restores_best_weights(data):
    X, y = data
    X_val, y_val = X[:20], (y[:20] + 1) % 3  # labels the training set contradicts
    seen = {}

    def remember(epoch, history):
        seen[epoch] = net.predict_proba(X_val)

    net = Network([6, 8, 3], seed=0)
    history = net.fit(X, y, epochs=200, learning_rate=0.5, validation_data=(X_val, y_val),
                      early_stopping=True, patience=5, callback=remember)
    best = history["best_epoch"]
    assert len(history["val_accuracy"]) == best + 6  # stopped patience epochs after best
    assert history["val_accuracy"][best] == max(history["val_accuracy"])
    assert_array_equal(net.predict_proba(X_val), seen[best])


def test_early_stopping_splits_off_validation_rows(data):
    X, y = data
    history = Network([6, 3], seed=0).fit(X, y, epochs=3, learning_rate=0.1,
                                          early_stopping=True, validation_fraction=0.2)
    assert len(history["val_accuracy"]) == 3 and "best_epoch" in history


def test_gil_is_released_during_training(data):
    """Another Python thread makes progress while fit runs in the compiled loop."""
    import threading
    import time

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(20000, 200)).astype(np.float32)
    y = rng.integers(0, 10, 20000)
    net = Network([200, 64, 10], seed=0, n_threads=1)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=count)
    thread.start()
    start = time.perf_counter()
    net.fit(X, y, epochs=1, learning_rate=0.01, batch_size=20000)
    end = time.perf_counter()
    done.set()
    thread.join()
    during = [t for t in ticks if start < t < end]
    # With the GIL held for the whole step the counter could not tick during it.
    assert len(during) >= 3, (end - start, len(during))


def test_work_buffers_do_not_pile_up(data):
    X, _ = data
    net = Network([6, 3], seed=0)
    for rows in range(1, 30):
        net.predict(X[:rows])
    assert len(net._workspaces) <= 4


def test_early_stopping_split_leaves_the_shuffle_stream_alone(data):
    """Holding out rows draws from a child stream, not from the shuffling stream."""
    X, y = data
    a, b = Network([6, 3], seed=0), Network([6, 3], seed=0)
    a.fit(X, y, epochs=1, learning_rate=0.1, early_stopping=True)
    b.fit(X, y, epochs=1, learning_rate=0.1)
    assert a._rng.random() == b._rng.random()
