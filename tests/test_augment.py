"""Image augmentation (cmlp.augment): the compiled warp against exact numpy transforms, the
random transforms' seeding, and fit(augment=...)."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cmlp import Network, _augment
from cmlp.augment import Augmenter, make_augmenter


def _images(n=6, h=28, w=28, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, h * w)).astype(np.float32)


def _warp(X, maps, h, w):
    out = np.empty_like(X)
    _augment.warp(X, np.arange(len(X), dtype=np.int64), np.asarray(maps, dtype=np.float64),
                  np.zeros((0, 2, h * w), dtype=np.float32), np.full(len(X), -1, np.int64),
                  out, h, w, 2)
    return out


def test_warp_shifts_and_rotates_exactly():
    h, w = 5, 7
    X = _images(3, h, w)
    images = X.reshape(-1, h, w)
    identity = [[1, 0, 0, 0, 1, 0]] * 3
    assert_array_equal(_warp(X, identity, h, w), X)
    # output (i, j) reads source (i + 1, j - 2): the image moves up 1 and right 2, zeros come in
    shifted = _warp(X, [[1, 0, 1, 0, 1, -2]] * 3, h, w).reshape(-1, h, w)
    expected = np.zeros_like(images)
    expected[:, :h - 1, 2:] = images[:, 1:, :w - 2]
    assert_array_equal(shifted, expected)
    # output (i, j) reads source (j, h - 1 - i) of a square image: a quarter turn
    square = _images(2, 6, 6)
    turned = _warp(square, [[0, 1, 0, -1, 0, 5]] * 2, 6, 6).reshape(-1, 6, 6)
    assert_array_equal(turned, np.rot90(square.reshape(-1, 6, 6), k=1, axes=(1, 2)))


def test_warp_interpolates_bilinearly():
    X = _images(1, 4, 4)
    half = _warp(X, [[1, 0, 0.5, 0, 1, 0.25]], 4, 4).reshape(4, 4)
    img = X.reshape(4, 4).astype(np.float64)
    padded = np.zeros((5, 5))
    padded[:4, :4] = img
    expected = (0.5 * 0.75 * padded[:4, :4] + 0.5 * 0.25 * padded[:4, 1:]
                + 0.5 * 0.75 * padded[1:, :4] + 0.5 * 0.25 * padded[1:, 1:])
    assert_allclose(half, expected, rtol=1e-6)


def test_no_transform_gives_the_images_in_the_given_order():
    X = _images(10)
    rows = np.array([3, 1, 4, 1, 5])
    out = Augmenter(shift=0, rotation=0, scale=0).transform(X, rows, np.random.default_rng(0))
    assert_allclose(out, X[rows], atol=1e-6)


@pytest.mark.parametrize("augment", ["affine", "elastic"])
def test_transforms_are_seeded_small_and_thread_independent(augment):
    X = _images(50)
    augmenter = make_augmenter(augment)
    rows = np.arange(50)
    a = augmenter.transform(X, rows, np.random.default_rng(1), n_threads=1)
    b = augmenter.transform(X, rows, np.random.default_rng(1), n_threads=2)
    c = augmenter.transform(X, rows, np.random.default_rng(2))
    assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.min() >= 0 and a.max() <= 1  # a convex mix of pixels and zeros
    assert np.abs(a - X).mean() > 0.01


def test_fields_and_shapes_are_checked():
    with pytest.raises(ValueError, match="not a square image"):
        Augmenter().shape_for(780)
    assert Augmenter(image_shape=(20, 39)).shape_for(780) == (20, 39)
    with pytest.raises(ValueError, match="image_shape"):
        Augmenter(image_shape=(20, 40)).shape_for(780)
    with pytest.raises(ValueError, match="augment must be"):
        make_augmenter("sideways")
    with pytest.raises(ValueError, match="rotation"):
        Augmenter(rotation=-1)


def test_fit_with_augmentation_is_reproducible_and_differs_from_plain():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (300, 64)).astype(np.float32)
    y = rng.integers(0, 3, 300)

    def train(augment, n_threads=1):
        net = Network([64, 20, 3], seed=0, n_threads=n_threads)
        net.fit(X, y, epochs=2, learning_rate=0.01, batch_size=30, optimizer="adam",
                augment=augment)
        return net._params

    assert_array_equal(train("affine"), train("affine"))
    assert_allclose(train("affine", n_threads=2), train("affine"), rtol=1e-4, atol=1e-6)
    assert not np.allclose(train("affine"), train(None))
    with pytest.raises(ValueError, match="not a square image"):
        Network([60, 5, 3]).fit(X[:, :60], y, epochs=1, learning_rate=0.1, augment=True)
