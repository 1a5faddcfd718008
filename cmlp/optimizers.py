"""Optimizer settings and state, handed to the compiled epoch loop; learning-rate schedules.

The update formulas themselves live in cmlp/_kernels.pyx (``update``) and, readable, in
cmlp/reference.py (SGD, Momentum, Adam), which the tests compare update by update.
"""
import math

import numpy as np

from cmlp._codes import OptimizerKind
from cmlp._validation import check_choice, check_real

__all__ = ["OptimizerState", "scheduled_learning_rate", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "cosine", "exponential")


class OptimizerState:
    """Hyperparameters, step count and moment buffers of one optimizer.

    Handed to `cmlp.Network.fit` as ``optimizer=``, it carries the moments and the step count
    from one call to the next (training one epoch per call, as `cmlp.sklearn` does).

    Parameters
    ----------
    name : {"sgd", "momentum", "adam"}
        The update rule.
    n_params : int
        The network's parameter count (`cmlp.Network.n_params`).
    dtype : numpy.dtype or str
        The network's dtype.
    momentum : float, default=0.9
        The momentum coefficient.
    nesterov : bool, default=False
        Nesterov momentum.
    beta1 : float, default=0.9
        Adam's first-moment decay.
    beta2 : float, default=0.999
        Adam's second-moment decay.
    epsilon : float, default=1e-8
        Adam's epsilon.

    Raises
    ------
    ValueError
        An unknown optimizer name or an out-of-range hyperparameter.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.datasets import load_sample
    >>> from cmlp.optimizers import OptimizerState
    >>> X, y = load_sample()
    >>> net = Network([784, 10], seed=0)
    >>> state = OptimizerState("adam", net.n_params, net.dtype)
    >>> for epoch in range(2):  # the moments carry over between the calls
    ...     history = net.fit(X, y, epochs=1, learning_rate=1e-3, batch_size=100,
    ...                       optimizer=state)
    """

    def __init__(self, name, n_params, dtype, *, momentum=0.9, nesterov=False,
                 beta1=0.9, beta2=0.999, epsilon=1e-8):
        check_choice("optimizer", name, OPTIMIZERS)
        self.name = name
        self.n_params = n_params
        kind = {"sgd": OptimizerKind.SGD, "adam": OptimizerKind.ADAM,
                "momentum": OptimizerKind.NESTEROV if nesterov else OptimizerKind.MOMENTUM}
        self.config = {
            "kind": kind[name],
            "learning_rate": 0.0,  # set per epoch by the schedule
            "momentum": check_real("momentum", momentum, low=0.0, high=1.0),
            "beta1": check_real("beta1", beta1, low=0.0, high=1.0),
            "beta2": check_real("beta2", beta2, low=0.0, high=1.0),
            "epsilon": check_real("epsilon", epsilon, positive=True),
            "step": 0,
        }
        n_state = {"sgd": 0, "momentum": 1, "adam": 2}[name]
        self.state_a = np.zeros(n_params if n_state >= 1 else 0, dtype=dtype)
        self.state_b = np.zeros(n_params if n_state >= 2 else 0, dtype=dtype)


def scheduled_learning_rate(schedule, base, epoch, epochs, decay):
    """The learning rate of one epoch under a schedule.

    ``constant``: ``base``. ``cosine``: ``base * (1 + cos(pi * epoch / epochs)) / 2``, annealed
    towards 0 (PyTorch's CosineAnnealingLR with ``eta_min = 0``). ``exponential``:
    ``base * decay ** epoch``.

    Parameters
    ----------
    schedule : {"constant", "cosine", "exponential"}
        The schedule.
    base : float
        The rate of the first epoch.
    epoch : int
        The epoch, counted from 0.
    epochs : int
        The epochs of the run.
    decay : float
        The exponential schedule's factor.

    Returns
    -------
    float
        The rate of that epoch.

    Raises
    ------
    ValueError
        An unknown schedule.

    Examples
    --------
    >>> from cmlp.optimizers import scheduled_learning_rate
    >>> round(scheduled_learning_rate("cosine", 0.1, 5, 10, 0.95), 6)
    0.05
    """
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    if schedule == "exponential":
        return base * decay ** epoch
    raise ValueError(f"unknown lr_schedule {schedule!r}; expected one of {SCHEDULES}")
