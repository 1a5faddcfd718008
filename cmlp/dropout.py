"""Dropout rates and masks: the settings handed to the compiled epoch loops, and the masks
they use, computed again in numpy (for cmlp.reference and the tests).

A unit j of layer l (l = 0: the inputs, l >= 1: hidden layer l's outputs) in row position p
of an epoch is dropped when a hash of (seed, epoch, l, p, j) falls below rate_l * 2**32;
kept units are scaled by 1 / (1 - rate_l) (inverted dropout: prediction needs no change).
The same function of counters is computed in cmlp/_regularization.pyx, wherever the mask is
needed, so a mask never depends on the thread that computes it.
"""
import numpy as np

from cmlp._settings import DropoutPlan

__all__ = ["masks"]

_M64 = (1 << 64) - 1
_GOLDEN64 = 0x9E3779B97F4A7C15
_GOLDEN32 = np.uint32(0x9E3779B9)


def check_rates(dropout, layer_sizes):
    """Per-layer rates (the inputs, then each hidden layer) from a number (every hidden
    layer; inputs 0), a sequence of len(layer_sizes) - 1 numbers, or None."""
    n = len(layer_sizes) - 1
    if dropout is None:
        return (0.0,) * n
    if np.ndim(dropout) == 0:
        rates = (0.0,) + (float(dropout),) * (n - 1)
    else:
        rates = tuple(float(r) for r in dropout)
        if len(rates) != n:
            raise ValueError(
                f"dropout has {len(rates)} rates; expected {n}: one for the inputs and one "
                f"per hidden layer of {list(layer_sizes)}")
    for r in rates:
        if not 0.0 <= r < 1.0:
            raise ValueError(f"dropout rates must be in [0, 1); got {r}")
    return rates


def epoch_plan(rates, seed, epoch):
    """The epoch's DropoutPlan, as the kernels take it, or None without dropout."""
    if not any(rates):
        return None
    thresholds = np.array([min(round(r * 2**32), 2**32 - 1) for r in rates], dtype=np.uint32)
    return DropoutPlan(thresholds, np.array([1 / (1 - r) for r in rates], dtype=np.float64),
                       int(seed) & _M64, int(epoch))


def _mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix32(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def _row_keys(seed, epoch, layer, positions):
    base = _mix64((int(seed) + _GOLDEN64 * (int(epoch) + 1)) & _M64)
    base = _mix64(base ^ layer)
    return np.array([_mix64((base + int(p)) & _M64) >> 32 for p in positions], dtype=np.uint32)


def masks(rates, layer_sizes, seed, epoch, n_rows, first_row=0):
    """The dropout multipliers training applies to some rows of an epoch.

    Computed in numpy from the same hash the compiled loops use, for `cmlp.reference.gradients`
    and the tests.

    Parameters
    ----------
    rates : sequence of float
        One rate per layer input: the inputs, then each hidden layer.
    layer_sizes : sequence of int
        The network's layer sizes.
    seed : int
        The dropout seed of the run.
    epoch : int
        The epoch, counted from 0.
    n_rows : int
        How many rows.
    first_row : int, default=0
        The position in the epoch of the first row.

    Returns
    -------
    list of numpy.ndarray or None
        One ``(n_rows, width)`` array per rate: 0 for dropped units, ``1 / (1 - rate)`` for
        kept ones; None where the rate is 0.

    Examples
    --------
    >>> from cmlp.dropout import masks
    >>> m = masks([0.0, 0.5], [4, 6, 2], seed=1, epoch=0, n_rows=3)
    >>> m[0] is None, m[1].shape
    (True, (3, 6))
    """
    rates = check_rates(rates, layer_sizes)
    config = epoch_plan(rates, seed, epoch)
    out = []
    for layer, rate in enumerate(rates):
        if rate == 0:
            out.append(None)
            continue
        keys = _row_keys(config.seed, epoch, layer,
                         range(first_row, first_row + n_rows))
        units = np.arange(layer_sizes[layer], dtype=np.uint32) * _GOLDEN32
        hashes = _mix32(keys[:, None] ^ units[None, :])
        kept = hashes >= config.thresholds[layer]
        out.append(np.where(kept, config.scales[layer], 0.0))
    return out
