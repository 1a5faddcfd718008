"""Optimizer settings and state, handed to the compiled epoch loop; learning-rate schedules.

The update formulas themselves live in cmlp/_kernels.pyx (``update``) and, readable, in
cmlp/reference.py (SGD, Momentum, Adam), which the tests compare update by update.
"""
import math

import numpy as np

from cmlp._validation import check_choice, check_real

OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "cosine", "exponential")

# Codes of the OptimizerKind enum in _kernels.pxd.
_SGD, _MOMENTUM, _NESTEROV, _ADAM = 0, 1, 2, 3


class OptimizerState:
    """Hyperparameters, step count and moment buffers of one optimizer over flat params."""

    def __init__(self, name, n_params, dtype, *, momentum=0.9, nesterov=False,
                 beta1=0.9, beta2=0.999, epsilon=1e-8):
        check_choice("optimizer", name, OPTIMIZERS)
        self.name = name
        self.n_params = n_params
        kind = {"sgd": _SGD, "momentum": _NESTEROV if nesterov else _MOMENTUM, "adam": _ADAM}
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
    """Learning rate for epoch (0-based) of epochs.

    constant: base.  cosine: base * (1 + cos(pi * epoch / epochs)) / 2, annealed towards 0
    (PyTorch's CosineAnnealingLR with eta_min = 0).  exponential: base * decay ** epoch.
    """
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    if schedule == "exponential":
        return base * decay ** epoch
    raise ValueError(f"unknown lr_schedule {schedule!r}; expected one of {SCHEDULES}")
