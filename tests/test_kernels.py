"""The compiled kernels against the numpy reference on one set of weights.

Tolerances. float64: both sides do the same arithmetic in a different order (BLAS blocking),
so they agree to a few ulps of the largest term; rtol 1e-10 leaves room for sums over
hundreds of rows. float32: the kernels compute in float32 and the reference runs in float64
on the very same float32 weights, so the gap is float32 rounding accumulated over the
longest sum (784 inputs or up to 300 rows): about sqrt(k) * 6e-8 relative to the terms,
which for gradients (differences of nearly equal terms) needs an absolute floor as well.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from cmlp import Network, reference

TOL = {
    "float32": {"rtol": 2e-4, "atol": 2e-6},
    "float64": {"rtol": 1e-10, "atol": 1e-13},
}
SHAPES = [  # (rows, layer sizes)
    (1, [3, 2]),                  # batch of 1, no hidden layer
    (1, [5, 4, 3]),
    (7, [13, 5, 3]),              # sizes that are multiples of nothing
    (37, [20, 17, 11, 4]),        # two hidden layers
    (129, [784, 10, 10]),         # the notebook's network
    (33, [6, 1, 3]),              # a hidden layer of one unit
    (50, [10, 300, 5]),           # wide
    (23, [8, 7, 6, 5, 4]),        # three hidden layers
]


def _problem(sizes, n, dtype, activation="relu", seed=0):
    net = Network(sizes, dtype=dtype, seed=seed, activation=activation)
    rng = np.random.default_rng(seed + 1)
    # Perturb biases away from zero so their gradients are exercised through every layer.
    for b in net.biases:
        b[...] = rng.normal(0, 0.1, b.shape)
    X = rng.uniform(0, 1, (n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n)
    return net, X, y


def _in_float64(arrays):
    return [a.astype(np.float64) for a in arrays]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n, sizes", SHAPES)
@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_gradients_match_reference(dtype, n, sizes, l2):
    net, X, y = _problem(sizes, n, dtype)
    loss, grad_weights, grad_biases = net.gradients(X, y, l2=l2)
    ref_loss, ref_weights, ref_biases = reference.gradients(
        _in_float64(net.weights), _in_float64(net.biases), X.astype(np.float64), y, l2=l2)
    assert_allclose(loss, ref_loss, **TOL[dtype])
    for got, expected in zip(grad_weights + grad_biases, ref_weights + ref_biases):
        assert got.dtype == np.dtype(dtype)
        assert_allclose(got, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n, sizes", SHAPES)
def test_forward_matches_reference(dtype, n, sizes):
    net, X, _ = _problem(sizes, n, dtype)
    expected = reference.forward(_in_float64(net.weights), _in_float64(net.biases),
                                 X.astype(np.float64))[-1]
    proba = net.predict_proba(X)
    assert proba.shape == (n, sizes[-1])
    assert_allclose(proba, expected, **TOL[dtype])
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n, sizes", [(1, [5, 4, 3]), (37, [20, 17, 11, 4]), (50, [10, 300, 5])])
def test_other_activations_match_reference(activation, dtype, n, sizes):
    net, X, y = _problem(sizes, n, dtype, activation=activation)
    loss, grad_weights, grad_biases = net.gradients(X, y)
    W64, b64, X64 = _in_float64(net.weights), _in_float64(net.biases), X.astype(np.float64)
    ref_loss, ref_weights, ref_biases = reference.gradients(W64, b64, X64, y, activation)
    assert_allclose(loss, ref_loss, **TOL[dtype])
    for got, expected in zip(grad_weights + grad_biases, ref_weights + ref_biases):
        assert_allclose(got, expected, **TOL[dtype])
    assert_allclose(net.predict_proba(X), reference.forward(W64, b64, X64, activation)[-1],
                    **TOL[dtype])


def test_prediction_in_chunks_matches_one_pass():
    """predict_proba runs 4096 rows at a time; rows past a chunk boundary must be right."""
    net, X, _ = _problem([12, 9, 4], 4096 * 2 + 5, "float64")
    expected = reference.forward(net.weights, net.biases, X)[-1]
    assert_allclose(net.predict_proba(X), expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_survives_huge_logits(dtype):
    net = Network([2, 3], dtype=dtype, seed=0)
    net.weights[0][...] = [[1e4, 0, -1e4], [0, 0, 0]]
    proba = net.predict_proba(np.array([[1.0, 0.0], [-1.0, 0.0]]))
    assert np.isfinite(proba).all()
    assert_allclose(proba, [[1, 0, 0], [0, 0, 1]], atol=1e-6)
    loss, _, _ = net.gradients(np.array([[1.0, 0.0]]), np.array([2]))
    assert loss == pytest.approx(2e4, rel=1e-5)  # log-sum-exp, not log(0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_full_batch_step_is_gradient_descent(dtype):
    net, X, y = _problem([13, 5, 3], 40, dtype)
    before = [w.copy() for w in net.weights + net.biases]
    _, grad_weights, grad_biases = net.gradients(X, y)
    net.fit(X, y, epochs=1, learning_rate=0.3)
    for old, new, grad in zip(before, net.weights + net.biases, grad_weights + grad_biases):
        assert_allclose(new, old - 0.3 * grad, **TOL[dtype])
