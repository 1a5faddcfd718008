"""Dropout and max-norm in the compiled epoch loops, held to the numpy reference: the
masks the kernels used (computed again by cmlp.dropout.masks) go into
cmlp.reference.gradients, and the two must agree gradient by gradient, update by update."""
import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose

from cmlp import Network, _kernels, _regularization, _unit_split, _workspace, dropout, reference

from test_optimizers import TOL

ACTIVATIONS = ["relu", "tanh", "logistic", "identity"]
SHAPES = [
    [12, 9, 7, 4],        # wide layers
    [70, 10, 5],          # a narrow hidden layer (at most 16 outputs, at least 64 inputs)
    [80, 33, 12, 3],      # a narrow layer after a wide one
]


def _rates(sizes):
    return [0.2] + [0.5] * (len(sizes) - 2)


def _data(sizes, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], n)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SHAPES, ids=str)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_dropout_gradients_match_reference(dtype, sizes, activation, n_threads):
    X, y = _data(sizes, 37, dtype)
    net = Network(sizes, dtype=dtype, seed=1, activation=activation, n_threads=n_threads)
    rates = _rates(sizes)
    loss, gw, gb = net.gradients(X, y, l2=0.01, dropout=rates, dropout_seed=11,
                                 dropout_epoch=4)
    masks = dropout.masks(rates, sizes, seed=11, epoch=4, n_rows=37)
    W64 = [w.astype(np.float64) for w in net.weights]
    b64 = [b.astype(np.float64) for b in net.biases]
    ref_loss, ref_w, ref_b = reference.gradients(W64, b64, X.astype(np.float64), y,
                                                 activation, l2=0.01, masks=masks)
    assert_allclose(loss, ref_loss, **TOL[dtype])
    for got, want in zip(gw + gb, ref_w + ref_b):
        assert_allclose(got, want, **TOL[dtype])
    # the masks matter: without them the gradients differ
    _, plain_w, _ = reference.gradients(W64, b64, X.astype(np.float64), y, activation)
    assert not np.allclose(plain_w[0], ref_w[0])


def test_masks_drop_at_their_rates_and_scale_the_kept():
    sizes = [300, 200, 100, 10]
    masks = dropout.masks([0.2, 0.5, 0.7], sizes, seed=3, epoch=0, n_rows=500)
    for m, rate in zip(masks, [0.2, 0.5, 0.7]):
        assert abs((m == 0).mean() - rate) < 0.01
        assert_allclose(m[m != 0], 1 / (1 - rate))
    # other seeds, epochs and rows give other masks; a rate of 0 gives none
    assert not np.array_equal(masks[1], dropout.masks([0.2, 0.5, 0.7], sizes, 4, 0, 500)[1])
    assert not np.array_equal(masks[1], dropout.masks([0.2, 0.5, 0.7], sizes, 3, 1, 500)[1])
    assert_allclose(masks[1][100:], dropout.masks([0.2, 0.5, 0.7], sizes, 3, 0, 400, 100)[1])
    assert dropout.masks([0.0, 0.5, 0.5], sizes, 3, 0, 5)[0] is None


def _replay(net, X, y, batch_size, epochs, learning_rate, rates, seed, max_norm):
    """fit(shuffle=False, optimizer="momentum") in numpy with the kernels' masks."""
    params = [p.astype(np.float64) for p in net.weights + net.biases]
    n_layers = len(net.weights)
    optimizer = reference.Momentum(learning_rate, 0.9)
    for epoch in range(epochs):
        for start in range(0, len(X), batch_size):
            rows = slice(start, start + batch_size)
            n = len(X[rows])
            masks = dropout.masks(rates, net.layer_sizes, seed, epoch, n, first_row=start)
            _, gw, gb = reference.gradients(params[:n_layers], params[n_layers:], X[rows],
                                            y[rows], net.activation, masks=masks)
            optimizer.step(params, gw + gb)
            if max_norm:
                reference.max_norm(params[:n_layers], max_norm)
    return params


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SHAPES, ids=str)
@pytest.mark.parametrize("n_threads", [1, 3])
@pytest.mark.parametrize("split", ["units", "rows"])  # the two epoch loops (network.py)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_training_with_dropout_and_max_norm_matches_reference(dtype, sizes, n_threads, split,
                                                              activation, monkeypatch):
    if split == "rows":
        monkeypatch.setattr(_workspace, "UNIT_SPLIT_MAX_ROWS", 0)
    X, y = _data(sizes, 45, dtype, seed=2)  # batches of 11, the last of 1
    net = Network(sizes, dtype=dtype, seed=4, activation=activation, n_threads=n_threads)
    with net._workspace(11) as work:
        loop = net._epoch_kernel(11, work)
    assert loop is (_unit_split.train_epoch if split == "units" else _kernels.train_epoch)
    # fit draws the dropout seed first from the network's generator (no shuffling here)
    seed = int(copy.deepcopy(net._rng).integers(2**63))
    rates = _rates(sizes)
    expected = _replay(net, X.astype(np.float64), y, 11, 2, 0.1, rates, seed, max_norm=0.9)
    net.fit(X, y, epochs=2, learning_rate=0.1, batch_size=11, shuffle=False,
            optimizer="momentum", dropout=rates, max_norm=0.9)
    for got, want in zip(net.weights + net.biases, expected):
        assert_allclose(got, want, **TOL[dtype])
    for W in net.weights[:-1]:  # the bound held, and was reached
        norms = np.sqrt((W.astype(np.float64) ** 2).sum(axis=0))
        assert norms.max() <= 0.9 * (1 + 1e-5)
        assert norms.max() >= 0.9 * (1 - 1e-5)


@pytest.mark.parametrize("batch_size", [32, 600])  # the unit split, the row split
def test_dropout_runs_depend_on_the_seed_not_on_the_threads(batch_size):
    X, y = _data([64, 40, 30, 5], 1200, "float64", seed=5)

    def train(seed, n_threads):
        net = Network([64, 40, 30, 5], dtype="float64", seed=seed, n_threads=n_threads)
        history = net.fit(X, y, epochs=2, learning_rate=0.05, batch_size=batch_size,
                          optimizer="momentum", dropout=[0.1, 0.5, 0.3], max_norm=2.0)
        return net._params, history["loss"]

    one, loss_one = train(7, 1)
    again, loss_again = train(7, 1)
    two, loss_two = train(7, 2)
    other, _ = train(8, 1)
    assert np.array_equal(one, again) and loss_one == loss_again
    assert_allclose(two, one, rtol=1e-9, atol=1e-12)  # the same masks, up to rounding
    assert_allclose(loss_two, loss_one, rtol=1e-9)
    assert not np.allclose(other, one)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_max_norm_matches_reference(dtype):
    rng = np.random.default_rng(6)
    net = Network([30, 50, 40, 10], dtype=dtype, seed=0)
    for W in net.weights:
        W *= rng.uniform(0.2, 3, W.shape[1])  # some columns over the bound, some under
    expected = [W.astype(np.float64) for W in net.weights]
    reference.max_norm(expected, 1.5)
    output_before = net.weights[-1].copy()
    _regularization.max_norm(net._params, net._sizes, 1.5)
    for got, want in zip(net.weights, expected):
        assert_allclose(got, want, **TOL[dtype])
    assert np.array_equal(net.weights[-1], output_before)  # the output layer is not bounded
    assert np.sqrt((expected[0] ** 2).sum(axis=0)).max() == pytest.approx(1.5)


def test_prediction_uses_no_dropout():
    X, y = _data([20, 30, 4], 50, "float64")
    net = Network([20, 30, 4], dtype="float64", seed=0)
    net.fit(X, y, epochs=2, learning_rate=0.1, batch_size=10, dropout=[0.3, 0.5])
    expected = reference.forward(net.weights, net.biases, X)[-1]
    assert_allclose(net.predict_proba(X), expected, rtol=1e-12)
    assert_allclose(net.predict_proba(X), net.predict_proba(X), rtol=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"dropout": 1.0}, "dropout rates must be in"),
    ({"dropout": -0.1}, "dropout rates must be in"),
    ({"dropout": [0.1, 0.2, 0.3]}, "dropout has 3 rates; expected 2"),
    ({"max_norm": 0}, "max_norm"),
    ({"max_norm": -1}, "max_norm"),
])
def test_bad_options_are_refused(kwargs, message):
    X, y = _data([16, 8, 3], 10, "float32")
    with pytest.raises(ValueError, match=message):
        Network([16, 8, 3]).fit(X, y, epochs=1, learning_rate=0.1, **kwargs)


def test_scikit_learn_estimators_take_the_options():
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.datasets import load_digits

    from cmlp.sklearn import MLPClassifier

    X, y = load_digits(return_X_y=True)  # 8 x 8 images
    X = X / 16
    augment = {"shift": 0.5, "rotation": 5.0, "scale": 0.05}  # mild: 8 x 8 pixels
    clf = MLPClassifier((40,), max_iter=15, random_state=0, dropout=0.2, max_norm=2.0,
                        augment=augment, n_threads=1)
    with pytest.warns(Warning):  # 15 iterations do not converge
        clf.fit(X[:1200], y[:1200])
    assert clone(clf).get_params()["augment"] == augment
    assert np.sqrt((clf.coefs_[0].astype(np.float64) ** 2).sum(axis=0)).max() <= 2.0001
    assert clf.score(X[1200:], y[1200:]) > 0.6  # it learned (plain 15 iterations: 0.81)
    with pytest.raises(ValueError, match="lbfgs"):
        MLPClassifier((5,), solver="lbfgs", dropout=0.5).fit(X[:50], y[:50])
