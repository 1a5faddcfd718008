"""Checks of user input. Everything the kernels receive has passed through here."""
import numbers

import numpy as np

DTYPES = ("float32", "float64")


def check_dtype(dtype):
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be one of {DTYPES}, got {dtype!r}") from None
    if resolved.name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {resolved.name!r}")
    return resolved


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {tuple(choices)}")
    return value


def check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def check_real(name, value, *, positive=False, low=None, high=None):
    """A finite real number, optionally > 0 or within [low, high)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    if high is not None and value >= high:
        raise ValueError(f"{name} must be below {high}, got {value}")
    return value


def check_layer_sizes(layer_sizes, min_outputs=2):
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise TypeError(f"layer_sizes must be a sequence of integers, got {layer_sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(
            f"layer_sizes needs at least two sizes (inputs and classes), got {sizes}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"layer sizes must be integers, got {size!r} in {sizes}")
        if size < 1:
            raise ValueError(f"every layer size must be at least 1, got {size} in {sizes}")
    if sizes[-1] < min_outputs:
        raise ValueError(f"the output layer needs at least {min_outputs} classes, got {sizes[-1]}")
    return [int(size) for size in sizes]


def check_X(X, n_features, dtype, name="X"):
    """X as a C-contiguous (n, n_features) array of dtype with only finite values."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no rows")
    if X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features per row, the network expects {n_features}")
    with np.errstate(over="ignore"):  # values beyond float32 become inf, caught below
        X = np.ascontiguousarray(X, dtype=dtype)
    bad = first_nonfinite(X)
    if bad is not None:
        raise ValueError(
            f"{name} holds NaN or infinity (first at row {bad[0]}, column {bad[1]}: "
            f"{X[bad[0], bad[1]]}); expected finite values")
    return X


_FINITE_CHUNK = 1 << 18  # values checked at once


def first_nonfinite(X):
    """(row, column) of the first NaN or infinity of a 2-D array, or None.

    Checked in blocks of rows, so the boolean temporaries stay small whatever X's size: X
    may be a memory map of gigabytes that the caller never meant to hold in memory."""
    rows = max(1, _FINITE_CHUNK // max(1, X.shape[1]))
    for start in range(0, X.shape[0], rows):
        finite = np.isfinite(X[start:start + rows])
        if not finite.all():
            row, column = np.argwhere(~finite)[0]
            return start + int(row), int(column)
    return None


def check_y(y, n_samples, n_classes, name="y"):
    """Integer labels in [0, n_classes) as an int32 array of length n_samples."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} rows but {name} has {y.shape[0]} labels")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{name} must hold integer class labels, got non-integral values")
    elif y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    low, high = y.min(), y.max()
    if low < 0 or high >= n_classes:
        bad = low if low < 0 else high
        raise ValueError(
            f"{name} holds label {bad:g}, outside [0, {n_classes}) for a network with "
            f"{n_classes} output classes")
    return np.ascontiguousarray(y, dtype=np.int32)


def check_targets(y, n_samples, n_outputs, dtype, name="y"):
    """Regression targets as a C-contiguous (n_samples, n_outputs) array of dtype, finite;
    a 1-D y is one output."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {y.dtype}")
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise ValueError(
            f"{name} must be (n_samples, {n_outputs}) targets for a network with {n_outputs} "
            f"outputs{' (or 1-D)' if n_outputs == 1 else ''}, got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} rows but {name} has {y.shape[0]}")
    with np.errstate(over="ignore"):
        y = np.ascontiguousarray(y, dtype=dtype)
    if not np.isfinite(y).all():
        raise ValueError(f"{name} holds NaN or infinity; expected finite targets")
    return y


def check_sample_weight(sample_weight, n_samples, dtype):
    """Per-row weights as a C-contiguous (n_samples,) array of dtype: finite, >= 0."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must hold real numbers, got dtype {w.dtype}")
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must be 1-D with one weight per row ({n_samples}), got shape "
            f"{w.shape}")
    w = np.ascontiguousarray(w, dtype=dtype)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must hold finite, non-negative weights")
    return w
