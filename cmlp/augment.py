"""Random image transforms for training batches: affine maps (shift, rotation, scale) and
elastic distortions (Simard, Steinkraus and Platt 2003), drawn from a seeded generator.

Rows of X are images (row-major, height x width; square ones need no shape). Every epoch,
fit asks the augmenter for the epoch's rows, in the epoch's order, each one warped by its
own random map; the compiled loop then trains on them as they come. Elastic fields are the
expensive part (a Gaussian smoothing of a random field per image); they are drawn as a bank
of n_fields smoothed fields per epoch, each image taking one of them at random, flipped and
transposed at random -- 8 variants per field.
"""
import math

import numpy as np

from cmlp import _augment
from cmlp._validation import check_positive_int, check_real

__all__ = ["Augmenter", "make_augmenter"]


class Augmenter:
    """Random affine and elastic transforms of images.

    Parameters
    ----------
    image_shape : (height, width) or None
        None: square images of the data's width.
    shift : float
        Largest shift in pixels, in each direction (uniform in [-shift, shift]).
    rotation : float
        Largest rotation in degrees (uniform in [-rotation, rotation]).
    scale : float
        Largest relative change of size (uniform in [1 - scale, 1 + scale]), the same on
        both axes.
    elastic_alpha, elastic_sigma : float
        Simard et al.'s elastic distortion: a field of uniform(-1, 1) displacements
        smoothed by a Gaussian of elastic_sigma pixels and scaled by elastic_alpha pixels
        (0: none; Simard et al. used alpha 34, sigma 4 on 29 x 29 images).
    n_fields : int
        Smoothed fields drawn per epoch, shared out among the images.

    Raises
    ------
    ValueError
        A shape or an amount out of range.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.augment import Augmenter
    >>> from cmlp.datasets import load_sample
    >>> X, y = load_sample()
    >>> augmenter = Augmenter(shift=3, rotation=10, elastic_alpha=34)
    >>> history = Network([784, 16, 10], seed=0).fit(
    ...     X[:1000], y[:1000], epochs=2, learning_rate=1e-3, batch_size=100,
    ...     optimizer="adam", augment=augmenter)
    """

    def __init__(self, image_shape=None, *, shift=2.0, rotation=12.0, scale=0.1,
                 elastic_alpha=0.0, elastic_sigma=4.0, n_fields=256):
        self.image_shape = None if image_shape is None else _check_shape(image_shape)
        self.shift = check_real("shift", shift, low=0.0)
        self.rotation = check_real("rotation", rotation, low=0.0, high=180.0)
        self.scale = check_real("scale", scale, low=0.0, high=0.9)
        self.elastic_alpha = check_real("elastic_alpha", elastic_alpha, low=0.0)
        self.elastic_sigma = check_real("elastic_sigma", elastic_sigma, positive=True)
        self.n_fields = check_positive_int("n_fields", n_fields)

    def __repr__(self):
        return (f"Augmenter(image_shape={self.image_shape}, shift={self.shift}, "
                f"rotation={self.rotation}, scale={self.scale}, "
                f"elastic_alpha={self.elastic_alpha}, elastic_sigma={self.elastic_sigma})")

    def shape_for(self, n_features):
        """The (height, width) of images of n_features pixels.

        Parameters
        ----------
        n_features : int
            Pixels per image.

        Returns
        -------
        tuple of int
            ``image_shape`` if given, else the side of a square image twice.

        Raises
        ------
        ValueError
            The pixels do not fill ``image_shape``, or (without it) are not a square number.

        Examples
        --------
        >>> from cmlp.augment import Augmenter
        >>> Augmenter().shape_for(784)
        (28, 28)
        """
        if self.image_shape is not None:
            h, w = self.image_shape
            if h * w != n_features:
                raise ValueError(f"image_shape {self.image_shape} has {h * w} pixels; the "
                                 f"data have {n_features} features")
            return h, w
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(f"augment needs images: {n_features} features is not a square "
                             "image; give Augmenter(image_shape=(height, width))")
        return side, side

    def transform(self, X, rows, rng, out=None, n_threads=1):
        """The images X[rows], each warped by its own random transform.

        Parameters
        ----------
        X : numpy.ndarray of shape (n_samples, n_features)
            C-contiguous float32 or float64 images.
        rows : array-like of int
            The rows to transform, in the order wanted.
        rng : numpy.random.Generator
            Draws the transforms.
        out : numpy.ndarray of shape (len(rows), n_features), optional
            X's dtype: filled and returned.
        n_threads : int, default=1
            Threads that share the images.

        Returns
        -------
        numpy.ndarray of shape (len(rows), n_features)
            The transformed images.

        Raises
        ------
        ValueError
            Images whose shape does not fit (see `shape_for`).

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp.augment import Augmenter
        >>> from cmlp.datasets import load_sample
        >>> X, _ = load_sample()
        >>> moved = Augmenter().transform(X, [0, 1, 2], np.random.default_rng(0))
        >>> moved.shape
        (3, 784)
        """
        h, w = self.shape_for(X.shape[1])
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        n = rows.shape[0]
        if out is None:
            out = np.empty((n, X.shape[1]), dtype=X.dtype)
        maps = self._affine_maps(n, h, w, rng)
        if self.elastic_alpha > 0:
            fields = self._fields(h, w, rng)
            field_of = rng.integers(0, fields.shape[0], size=n).astype(np.int64)
        else:
            fields = np.zeros((0, 2, h * w), dtype=np.float32)
            field_of = np.full(n, -1, dtype=np.int64)
        _augment.warp(X, rows, maps, fields, field_of, out, h, w, n_threads)
        return out

    def _affine_maps(self, n, h, w, rng):
        """Per image, the 2 x 3 map from an output pixel (i, j, 1) to its source (y, x):
        rotation and scale about the centre, then a shift."""
        angle = np.deg2rad(rng.uniform(-self.rotation, self.rotation, n))
        zoom = rng.uniform(1 - self.scale, 1 + self.scale, n)
        shift = rng.uniform(-self.shift, self.shift, (n, 2))
        cy, cx = (h - 1) / 2, (w - 1) / 2
        # Output = R (zoom) (source - c) + c + shift, inverted: source = R^-1 / zoom ...
        cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
        dy, dx = -shift[:, 0], -shift[:, 1]
        maps = np.empty((n, 6))
        maps[:, 0], maps[:, 1] = cos, sin
        maps[:, 3], maps[:, 4] = -sin, cos
        maps[:, 2] = cy - cos * (cy - dy) - sin * (cx - dx)
        maps[:, 5] = cx + sin * (cy - dy) - cos * (cx - dx)
        return maps

    def _fields(self, h, w, rng):
        """n_fields smoothed random displacement fields, and their 8 flips and transposes
        (square images), as (k, 2, h * w) float32: dy, then dx."""
        from scipy.ndimage import gaussian_filter

        raw = rng.uniform(-1, 1, (self.n_fields, 2, h, w))
        smooth = gaussian_filter(raw, sigma=(0, 0, self.elastic_sigma, self.elastic_sigma),
                                 mode="constant")
        smooth *= self.elastic_alpha
        variants = [smooth, smooth[:, :, ::-1, :], smooth[:, :, :, ::-1],
                    smooth[:, :, ::-1, ::-1]]
        if h == w:
            variants += [v.transpose(0, 1, 3, 2)[:, ::-1] for v in variants]
        fields = np.concatenate(variants)
        return np.ascontiguousarray(fields.reshape(fields.shape[0], 2, h * w),
                                    dtype=np.float32)


def _check_shape(shape):
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be (height, width); got {shape!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"image_shape must be positive; got {shape!r}")
    return h, w


def make_augmenter(augment):
    """An Augmenter from `cmlp.Network.fit`'s ``augment`` argument.

    Parameters
    ----------
    augment : None, bool, str, dict or Augmenter
        None or False: none. True or ``"affine"``: the default affine transforms.
        ``"elastic"``: affine and elastic. A dict: `Augmenter`'s arguments. An Augmenter:
        itself.

    Returns
    -------
    Augmenter or None
        None for no augmentation.

    Raises
    ------
    ValueError
        An unknown name or bad arguments.

    Examples
    --------
    >>> from cmlp.augment import make_augmenter
    >>> make_augmenter("elastic").elastic_alpha
    34.0
    """
    if augment is None or augment is False:
        return None
    if isinstance(augment, Augmenter):
        return augment
    if augment is True or augment == "affine":
        return Augmenter()
    if augment == "elastic":
        return Augmenter(elastic_alpha=34.0)
    if isinstance(augment, dict):
        return Augmenter(**augment)
    raise ValueError(f"augment must be None, True, 'affine', 'elastic', a dict of Augmenter "
                     f"arguments or an Augmenter; got {augment!r}")
