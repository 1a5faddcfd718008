"""Optimizers (SGD, Momentum, Adam), their state for the compiled epoch loop, and
learning-rate schedules.

`SGD`, `Momentum` and `Adam` are small objects naming an update rule and its
hyperparameters, for `cmlp.Network.fit`'s ``optimizer=`` (the strings "sgd", "momentum"
and "adam" stay as shortcuts). An `OptimizerState` holds one rule's moments and step count
for one network. The update formulas themselves live in cmlp/_kernels.pyx (``update``) and,
readable, in cmlp/reference.py, which the tests compare update by update.
"""
import math

import numpy as np

from cmlp._codes import OptimizerKind
from cmlp._settings import OptimizerSettings
from cmlp._validation import check_choice, check_real

__all__ = ["SGD", "Momentum", "Adam", "Optimizer", "OptimizerState",
           "scheduled_learning_rate", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "cosine", "exponential")


class Optimizer:
    """An update rule and its hyperparameters: the base of `SGD`, `Momentum` and `Adam`.

    Parameters
    ----------
    learning_rate : float, optional
        The step size (at the start, under a schedule). Give it here or to
        `cmlp.Network.fit`, not to both.

    Raises
    ------
    ValueError
        A learning rate that is not a positive finite number.

    Examples
    --------
    >>> from cmlp.optimizers import Adam, Optimizer
    >>> isinstance(Adam(1e-3), Optimizer), Adam.name
    (True, 'adam')
    """

    #: The rule's name, as `cmlp.Network.fit`'s string shortcut spells it.
    name = ""

    def __init__(self, learning_rate=None):
        self.learning_rate = (None if learning_rate is None else
                              check_real("learning_rate", learning_rate, positive=True))

    def _hyperparameters(self):
        """The rule's hyperparameters but the learning rate (OptimizerState's arguments)."""
        return {}

    def make_state(self, n_params, dtype):
        """Fresh moments and step count of this rule for a network.

        Parameters
        ----------
        n_params : int
            The network's parameter count (`cmlp.Network.n_params`).
        dtype : numpy.dtype or str
            The network's dtype.

        Returns
        -------
        OptimizerState
            Zero moments and step count, this rule's hyperparameters.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp.optimizers import Momentum
        >>> state = Momentum(momentum=0.5).make_state(3, np.float64)
        >>> state.config.momentum, state.state_a
        (0.5, array([0., 0., 0.]))
        """
        return OptimizerState(self.name, n_params, dtype, **self._hyperparameters())

    def __repr__(self):
        settings = {} if self.learning_rate is None else {"learning_rate": self.learning_rate}
        settings.update(self._hyperparameters())
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``w -= learning_rate * g``.

    Parameters
    ----------
    learning_rate : float, optional
        The step size; or give it to `cmlp.Network.fit`.

    Examples
    --------
    >>> from cmlp.optimizers import SGD
    >>> SGD(0.1)
    SGD(learning_rate=0.1)
    """

    name = "sgd"


class Momentum(Optimizer):
    """Gradient descent with momentum or Nesterov momentum.

    PyTorch's formulation: ``v = momentum * v + g``; ``w -= learning_rate * v`` (Nesterov:
    ``w -= learning_rate * (g + momentum * v)``).

    Parameters
    ----------
    learning_rate : float, optional
        The step size; or give it to `cmlp.Network.fit`.
    momentum : float, default=0.9
        The momentum coefficient, in [0, 1).
    nesterov : bool, default=False
        Nesterov momentum.

    Raises
    ------
    ValueError
        A hyperparameter out of its range.

    Examples
    --------
    >>> from cmlp.optimizers import Momentum
    >>> Momentum(0.05, momentum=0.95, nesterov=True)
    Momentum(learning_rate=0.05, momentum=0.95, nesterov=True)
    """

    name = "momentum"

    def __init__(self, learning_rate=None, *, momentum=0.9, nesterov=False):
        super().__init__(learning_rate)
        self.momentum = check_real("momentum", momentum, low=0.0, high=1.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)

    def _hyperparameters(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma and Ba), epsilon added after the bias correction as PyTorch does.

    Parameters
    ----------
    learning_rate : float, optional
        The step size; or give it to `cmlp.Network.fit`.
    beta1 : float, default=0.9
        The first moment's decay, in [0, 1).
    beta2 : float, default=0.999
        The second moment's decay, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root of the second moment; positive.

    Raises
    ------
    ValueError
        A hyperparameter out of its range.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.datasets import load_sample
    >>> from cmlp.optimizers import Adam
    >>> X, y = load_sample()
    >>> net = Network([784, 32, 10], seed=0)
    >>> history = net.fit(X, y, epochs=2, batch_size=64, optimizer=Adam(1e-3, beta2=0.99))
    >>> history["loss"][-1] < history["loss"][0]
    True
    """

    name = "adam"

    def __init__(self, learning_rate=None, *, beta1=0.9, beta2=0.999, epsilon=1e-8):
        super().__init__(learning_rate)
        self.beta1 = check_real("beta1", beta1, low=0.0, high=1.0)
        self.beta2 = check_real("beta2", beta2, low=0.0, high=1.0)
        self.epsilon = check_real("epsilon", epsilon, positive=True)

    def _hyperparameters(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}


_RULES = (SGD, Momentum, Adam)
# Each rule's hyperparameters by name, with their defaults: what a string shortcut takes.
_RULE_DEFAULTS = {rule.name: rule()._hyperparameters() for rule in _RULES}


def optimizer_for_fit(optimizer, learning_rate, n_params, dtype, **given):
    """Network.fit's optimizer: (an OptimizerState for the network, the learning rate).

    ``optimizer`` is a name, an Optimizer or an OptimizerState; ``given`` holds fit's
    momentum, nesterov, beta1, beta2 and epsilon, None where not given. A name takes those
    its rule has (the others belong to other rules: checked, not used); an object carries
    its own, so giving any of them beside one is an error, as is a learning rate given
    twice.
    """
    given = {key: value for key, value in given.items() if value is not None}
    if isinstance(optimizer, str):
        check_choice("optimizer", optimizer, OPTIMIZERS)
        # Every rule is made, so that a value out of range is refused whichever is chosen.
        rules = {rule.name: rule(None, **{k: v for k, v in given.items()
                                          if k in _RULE_DEFAULTS[rule.name]})
                 for rule in _RULES}
        optimizer = rules[optimizer]
    elif given:
        raise TypeError(f"{', '.join(sorted(given))} cannot be given to fit beside an "
                        f"optimizer object, which carries its own: give them to it")
    if isinstance(optimizer, Optimizer):
        if learning_rate is not None and optimizer.learning_rate is not None:
            raise TypeError(f"the learning rate is given twice: learning_rate={learning_rate!r} "
                            f"and {optimizer!r}; give it once")
        if learning_rate is None:
            learning_rate = optimizer.learning_rate
        state = optimizer.make_state(n_params, dtype)
    elif isinstance(optimizer, OptimizerState):
        state = optimizer
        if state.state_a.dtype != np.dtype(dtype) or state.n_params != n_params:
            raise ValueError("the OptimizerState was made for another network: expected "
                             f"{n_params} parameters of {np.dtype(dtype).name}")
    else:
        raise TypeError(f"optimizer must be one of {OPTIMIZERS}, an Optimizer (SGD, Momentum, "
                        f"Adam) or an OptimizerState, got {optimizer!r}")
    if learning_rate is None:
        raise TypeError("fit needs a learning rate: learning_rate=..., or an optimizer "
                        "object that carries one, such as Adam(1e-3)")
    return state, check_real("learning_rate", learning_rate, positive=True)


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

    Attributes
    ----------
    name : str
        The update rule.
    config : object
        What the kernels read: the attributes ``kind`` (its code), ``learning_rate`` (set
        per epoch by the schedule), ``momentum``, ``beta1``, ``beta2``, ``epsilon``, and
        ``step``, the updates made so far (an interrupted epoch counts those it made).
    state_a, state_b : numpy.ndarray
        The moments: momentum's velocity, Adam's first and second moments (empty where the
        rule keeps none).

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
    >>> state.config.step  # 2 epochs of 100 batches of the 10,000-row sample
    200
    """

    def __init__(self, name, n_params, dtype, *, momentum=0.9, nesterov=False,
                 beta1=0.9, beta2=0.999, epsilon=1e-8):
        check_choice("optimizer", name, OPTIMIZERS)
        self.name = name
        self.n_params = n_params
        kind = {"sgd": OptimizerKind.SGD, "adam": OptimizerKind.ADAM,
                "momentum": OptimizerKind.NESTEROV if nesterov else OptimizerKind.MOMENTUM}
        self.config = OptimizerSettings(
            kind[name],
            learning_rate=0.0,  # set per epoch by the schedule
            momentum=check_real("momentum", momentum, low=0.0, high=1.0),
            beta1=check_real("beta1", beta1, low=0.0, high=1.0),
            beta2=check_real("beta2", beta2, low=0.0, high=1.0),
            epsilon=check_real("epsilon", epsilon, positive=True))
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
