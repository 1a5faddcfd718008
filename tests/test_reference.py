"""The numpy reference against central finite differences of its own loss."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from cmlp import reference


def _random_problem(sizes, n, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.7, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    X = rng.normal(size=(n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    return weights, biases, X, y


def _numerical_gradient(f, array, step=1e-6):
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + step
        plus = f()
        array[index] = saved - step
        minus = f()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * step)
    return grad


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
@pytest.mark.parametrize("sizes, n", [([4, 3], 5), ([5, 4, 3], 6), ([3, 6, 5, 4], 1)])
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_gradients_match_finite_differences(activation, sizes, n, l2):
    weights, biases, X, y = _random_problem(sizes, n, seed=len(sizes) * 7 + n)
    # ReLU is not differentiable at 0; with normal inputs no pre-activation lands there.
    loss, grad_weights, grad_biases = reference.gradients(weights, biases, X, y, activation, l2)

    def f():
        return reference.loss(weights, biases, X, y, activation, l2)

    assert loss == pytest.approx(f())
    for W, gW in zip(weights, grad_weights):
        assert_allclose(gW, _numerical_gradient(f, W), rtol=1e-5, atol=1e-8)
    for b, gb in zip(biases, grad_biases):
        assert_allclose(gb, _numerical_gradient(f, b), rtol=1e-5, atol=1e-8)


def test_output_bias_gradient_is_per_unit():
    """The seed notebook summed db into one scalar, so its output biases never learned."""
    weights, biases, X, y = _random_problem([4, 3, 5], 8, seed=3)
    _, _, grad_biases = reference.gradients(weights, biases, X, y)
    assert grad_biases[-1].shape == (5,)
    assert np.ptp(grad_biases[-1]) > 0
    # Softmax rows sum to 1, so the output bias gradient sums to zero over units.
    assert grad_biases[-1].sum() == pytest.approx(0, abs=1e-12)


def test_softmax_is_stable_for_huge_logits():
    Z = np.array([[1000.0, 0.0, -1000.0], [-5e4, -5e4, -5e4]])
    P = reference.softmax(Z)
    assert np.isfinite(P).all()
    assert_allclose(P.sum(axis=1), 1.0)
    assert_allclose(P[1], 1 / 3)


def test_onehot_width_is_number_of_classes():
    """A batch whose largest label is below n_classes - 1 still gets full-width gradients."""
    weights, biases, X, _ = _random_problem([4, 6], 3, seed=0)
    y = np.array([0, 1, 1])
    _, grad_weights, _ = reference.gradients(weights, biases, X, y)
    assert grad_weights[0].shape == (4, 6)
    assert np.abs(grad_weights[0][:, 5]).sum() > 0
