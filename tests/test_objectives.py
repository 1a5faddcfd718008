"""Every objective of cmlp.reference.LOSSES (softmax, identity, logistic and exponential
outputs), per-row sample weights and scikit-learn's
L2 scaling (l2_per_weight): the reference against finite differences, the kernels against
the reference, in both dtypes and through both epoch loops (row split, unit split)."""
import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose

from cmlp import Network, _workspace, reference

from test_kernels import TOL, _in_float64
from test_optimizers import CASES
from test_reference import _numerical_gradient

LOSSES = reference.LOSSES


def _targets(loss, rng, n, n_out):
    if loss == "cross_entropy":
        return rng.integers(0, n_out, n)
    if loss == "binary_cross_entropy":  # 0/1 labels and, as the loss allows, soft targets
        return np.where(rng.random((n, n_out)) < 0.2, rng.random((n, n_out)),
                        rng.integers(0, 2, (n, n_out)))
    if loss == "poisson":  # counts, zeros included (0 log 0 = 0)
        return rng.poisson(1.5, (n, n_out)).astype(float)
    return rng.normal(size=(n, n_out))


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("l2_per_weight", [False, True])
@pytest.mark.parametrize("sizes, n", [([4, 1], 5), ([5, 4, 3], 6), ([3, 6, 5, 2], 1)])
def test_reference_objectives_match_finite_differences(loss, weighted, l2_per_weight, sizes,
                                                       n):
    rng = np.random.default_rng(n * 11 + len(sizes))
    if loss == "cross_entropy" and sizes[-1] == 1:
        sizes = sizes[:-1] + [2]
    weights = [rng.normal(0, 0.7, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    X = rng.normal(size=(n, sizes[0]))
    y = _targets(loss, rng, n, sizes[-1])
    w = rng.uniform(0.1, 3, n) if weighted else None
    options = dict(activation="tanh", l2=0.05, loss=loss, sample_weight=w,
                   l2_per_weight=l2_per_weight)
    value, grad_weights, grad_biases = reference.gradients(weights, biases, X, y, **options)

    def f():
        return reference.loss(weights, biases, X, y, **options)

    assert value == pytest.approx(f())
    for p, g in zip(weights + biases, grad_weights + grad_biases):
        assert_allclose(g, _numerical_gradient(f, p), rtol=1e-5, atol=1e-8)


def test_reference_definitions_are_scikit_learns():
    """Weighted mean over rows, half squared error, alpha / (2 S) |W|^2 (sklearn >= 1.7's
    _backprop, written out), for a network without hidden layer."""
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    X, Y, w = rng.normal(size=(7, 3)), rng.normal(size=(7, 2)), rng.uniform(0, 2, 7)
    alpha = 0.3
    Z = X @ W + b
    expected = ((w[:, None] * 0.5 * (Z - Y) ** 2).sum() + 0.5 * alpha * (W * W).sum()) / w.sum()
    value, (gW,), (gb,) = reference.gradients([W], [b], X, Y, l2=alpha, loss="squared_error",
                                              sample_weight=w, l2_per_weight=True)
    assert value == pytest.approx(expected)
    assert_allclose(gW, (X.T @ (w[:, None] * (Z - Y)) + alpha * W) / w.sum())
    assert_allclose(gb, (w[:, None] * (Z - Y)).sum(axis=0) / w.sum())


def _problem(sizes, n, dtype, loss, activation="relu", seed=0):
    net = Network(sizes, dtype=dtype, seed=seed, activation=activation, loss=loss)
    rng = np.random.default_rng(seed + 1)
    for b in net.biases:
        b[...] = rng.normal(0, 0.1, b.shape)
    X = rng.uniform(0, 1, (n, sizes[0])).astype(dtype)
    return net, X, _targets(loss, rng, n, sizes[-1]), rng.uniform(0, 2, n)


SHAPES = [(1, [3, 1]), (7, [13, 5, 3]), (37, [20, 17, 11, 4]), (129, [784, 10, 10]),
          (50, [10, 300, 5]), (300, [70, 10, 2])]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n, sizes", SHAPES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("weighted, l2_per_weight", [(False, False), (True, False),
                                                     (True, True), (False, True)])
def test_kernel_objectives_match_reference(dtype, n, sizes, loss, weighted, l2_per_weight):
    if loss == "cross_entropy" and sizes[-1] == 1:
        sizes = sizes[:-1] + [2]
    net, X, y, w = _problem(sizes, n, dtype, loss)
    w = w.astype(dtype) if weighted else None
    got = net.gradients(X, y, l2=0.01, sample_weight=w, l2_per_weight=l2_per_weight)
    expected = reference.gradients(
        _in_float64(net.weights), _in_float64(net.biases), X.astype(np.float64), y, l2=0.01,
        loss=loss, sample_weight=w, l2_per_weight=l2_per_weight)
    assert_allclose(got[0], expected[0], **TOL[dtype])
    for g, e in zip(got[1] + got[2], expected[1] + expected[2]):
        assert g.dtype == np.dtype(dtype)
        assert_allclose(g, e, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["identity", "tanh"])
@pytest.mark.parametrize("n, sizes", SHAPES)
def test_regression_outputs_and_identity_activation_match_reference(dtype, activation, n,
                                                                     sizes):
    net, X, y, _ = _problem(sizes, n, dtype, "squared_error", activation=activation)
    W64, b64, X64 = _in_float64(net.weights), _in_float64(net.biases), X.astype(np.float64)
    expected = reference.forward(W64, b64, X64, activation, "squared_error")[-1]
    assert_allclose(net.predict(X), expected, **TOL[dtype])
    got = net.gradients(X, y)
    ref = reference.gradients(W64, b64, X64, y, activation, loss="squared_error")
    for g, e in zip([got[0]] + got[1] + got[2], [ref[0]] + ref[1] + ref[2]):
        assert_allclose(g, e, **TOL[dtype])


def test_integer_weights_equal_repeated_rows():
    net, X, y, _ = _problem([6, 5, 2], 9, "float64", "squared_error")
    counts = np.array([0, 1, 2, 3, 1, 0, 2, 1, 1])
    weighted = net.gradients(X, y, sample_weight=counts)
    repeated = net.gradients(np.repeat(X, counts, axis=0), np.repeat(y, counts, axis=0))
    for a, b in zip([weighted[0]] + weighted[1] + weighted[2],
                    [repeated[0]] + repeated[1] + repeated[2]):
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_batch_of_zero_weights_changes_nothing():
    net, X, y, _ = _problem([6, 5, 3], 8, "float64", "cross_entropy")
    before = net._params.copy()
    loss, gw, gb = net.gradients(X, y, l2=0.1, sample_weight=np.zeros(8), l2_per_weight=True)
    assert loss == 0 and all(not g.any() for g in gw + gb)
    net.fit(X, y, epochs=2, learning_rate=0.1, sample_weight=np.zeros(8), l2=0.1,
            l2_per_weight=True)
    assert_allclose(net._params, before)


def _replay(net, X, y, w, orders, batch_size, make_optimizer, lr, loss, l2):
    """numpy replay of fit's epochs over the given row orders, one update per batch."""
    params = [p.astype(np.float64) for p in net.weights + net.biases]
    k = len(net.weights)
    optimizer = make_optimizer(lr)
    for order in orders:
        for start in range(0, len(X), batch_size):
            rows = order[start:start + batch_size]
            _, gw, gb = reference.gradients(params[:k], params[k:], X[rows], y[rows], l2=l2,
                                            loss=loss, sample_weight=w[rows],
                                            l2_per_weight=True)
            optimizer.step(params, gw + gb)
    return params


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("split", ["units", "rows"])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("name, options, make_optimizer", [CASES[0], CASES[3]])
def test_shuffled_weighted_epochs_match_reference(dtype, loss, split, n_threads, name, options,
                                                  make_optimizer, monkeypatch):
    """Targets and weights are read through the epoch's row order, in both loops."""
    if split == "rows":
        monkeypatch.setattr(_workspace, "UNIT_SPLIT_MAX_ROWS", 0)
    net, X, y, w = _problem([12, 9, 7, 3], 45, dtype, loss, seed=3)
    net.n_threads = n_threads
    w = w.astype(dtype)
    lr = 0.01 if name == "adam" else 0.1
    rng = copy.deepcopy(net._rng)  # fit draws one permutation per epoch from it
    orders = [rng.permutation(45) for _ in range(2)]
    expected = _replay(net, X.astype(np.float64), y, w.astype(np.float64), orders, 11,
                       make_optimizer, lr, loss, 0.01)
    history = net.fit(X, y, epochs=2, learning_rate=lr, batch_size=11, optimizer=name,
                      sample_weight=w, l2=0.01, l2_per_weight=True, **options)
    for got, want in zip(net.weights + net.biases, expected):
        assert_allclose(got, want, **TOL[dtype])
    assert np.all(np.isfinite(history["loss"]))
    assert ("accuracy" in history) == (loss == "cross_entropy")


def test_regression_fit_learns_a_linear_map():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    Y = X @ rng.normal(size=(5, 2)) + 0.5
    net = Network([5, 2], dtype="float64", seed=0, loss="squared_error")
    net.fit(X, Y, epochs=200, learning_rate=0.05, batch_size=50, optimizer="adam")
    assert net.score(X, Y) > 0.999
    assert net.predict(X).shape == (400, 2)
    with pytest.raises(TypeError, match="predict_proba"):
        net.predict_proba(X)


def test_regression_input_errors_name_the_problem():
    net = Network([3, 2], loss="squared_error")
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"\(n_samples, 2\)"):
        net.fit(X, np.zeros(4), epochs=1, learning_rate=0.1)
    with pytest.raises(ValueError, match="NaN"):
        net.fit(X, np.full((4, 2), np.nan), epochs=1, learning_rate=0.1)
    with pytest.raises(ValueError, match="sample_weight"):
        net.fit(X, np.zeros((4, 2)), epochs=1, learning_rate=0.1, sample_weight=[1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        net.fit(X, np.zeros((4, 2)), epochs=1, learning_rate=0.1,
                sample_weight=[1, -1, 1, 1])
    with pytest.raises(ValueError, match="loss"):
        Network([3, 2], loss="hinge")
    Network([3, 1], loss="squared_error")  # one output is fine for regression
    with pytest.raises(ValueError, match="at least 2"):
        Network([3, 1])


def test_regression_network_saves_and_loads(tmp_path):
    net, X, _, _ = _problem([5, 4, 2], 6, "float64", "squared_error")
    net.save(tmp_path / "r.npz")
    loaded = Network.load(tmp_path / "r.npz")
    assert loaded.loss == "squared_error"
    assert_allclose(loaded.predict(X), net.predict(X))


def test_logistic_and_poisson_objectives_are_scikit_learns():
    """binary_cross_entropy and poisson are scikit-learn's binary_log_loss and (half)
    poisson_loss of its MLPs, summed over the outputs and averaged over the rows."""
    base = pytest.importorskip("sklearn.neural_network._base")
    if not hasattr(base, "poisson_loss"):
        pytest.skip("scikit-learn's MLPs have the poisson loss from 1.7 on")
    rng = np.random.default_rng(3)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    X = rng.normal(size=(9, 3))
    Z = X @ W + b
    Y = rng.integers(0, 2, (9, 2)).astype(float)
    value = reference.loss([W], [b], X, Y, loss="binary_cross_entropy")
    assert value == pytest.approx(base.binary_log_loss(Y, 1 / (1 + np.exp(-Z))), rel=1e-12)
    counts = rng.poisson(2.0, (9, 2)).astype(float)
    value = reference.loss([W], [b], X, counts, loss="poisson")
    assert value == pytest.approx(base.poisson_loss(counts, np.exp(Z)), rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_network_outputs_of_the_logistic_and_poisson_losses(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(dtype)
    multilabel = Network([4, 8, 3], dtype=dtype, seed=0, loss="binary_cross_entropy")
    expected = reference.forward(multilabel.weights, multilabel.biases, X,
                                 loss="binary_cross_entropy")[-1]
    proba = multilabel.predict_proba(X)
    assert_allclose(proba, expected, rtol=TOL[dtype]["rtol"] * 10, atol=1e-7)
    assert_allclose(multilabel.predict(X), proba > 0.5)
    assert multilabel.predict(X).dtype == np.int64
    counts = Network([4, 8, 2], dtype=dtype, seed=0, loss="poisson")
    values = counts.predict(X)
    assert (values > 0).all()
    assert_allclose(values, reference.forward(counts.weights, counts.biases, X,
                                              loss="poisson")[-1], rtol=1e-5)
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        multilabel.fit(X, np.full((300, 3), 2.0), epochs=1, learning_rate=0.1)
    with pytest.raises(ValueError, match="non-negative"):
        counts.fit(X, np.full((300, 2), -1.0), epochs=1, learning_rate=0.1)
    history = counts.fit(X, rng.poisson(1.0, (300, 2)), epochs=3, learning_rate=0.05,
                         batch_size=32, early_stopping=True, validation_fraction=0.2)
    assert np.isfinite(history["val_loss"]).all() and "val_r2" in history


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "poisson"])
def test_logistic_and_poisson_networks_save_load_and_freeze(tmp_path, loss):
    from cmlp.inference import Model

    X = np.random.default_rng(1).normal(size=(20, 5))
    net = Network([5, 6, 3], dtype="float64", seed=2, loss=loss)
    net.save(tmp_path / "net.npz")
    loaded = Network.load(tmp_path / "net.npz")
    assert loaded.loss == loss
    assert_allclose(loaded.predict(X), net.predict(X), rtol=0, atol=0)
    frozen = Model(net)
    expected = net._proba(np.ascontiguousarray(X))
    if loss == "binary_cross_entropy":
        assert_allclose(frozen.predict_proba(X), expected, rtol=1e-15)
    else:
        with pytest.raises(TypeError, match="use predict"):
            frozen.predict_proba(X)
        assert_allclose(frozen.predict(X), expected, rtol=1e-15)
