"""The math of cmlp in plain numpy: readable, slow, and the yardstick for the kernels.

Same equations and the same parameter layout as cmlp/_kernels.pyx: weights[l] is
(fan_in, fan_out), biases[l] is (fan_out,), X is (n_samples, n_features), row-major.
The tests run this and the kernels on one set of weights and compare every result.
"""
import numpy as np

__all__ = ["forward", "loss", "gradients", "softmax", "log_softmax", "activate",
           "activation_derivative", "max_norm", "output", "SGD", "Momentum", "Adam",
           "ACTIVATIONS", "LOSSES"]

ACTIVATIONS = ("relu", "tanh", "logistic", "identity")
# The objective's loss and its output layer: "cross_entropy" with a softmax output and
# integer labels y; "squared_error" with an identity output and targets y of shape
# (n_samples, n_outputs); "binary_cross_entropy" with a logistic (sigmoid) output per unit
# and targets in [0, 1] of that shape (multilabel, or one unit for two classes); "poisson"
# with an exponential output (log link) and non-negative targets of that shape. These names
# in upper case are the members of the kernels' enums (cmlp/_codes.pxd; a test holds them
# together).
LOSSES = ("cross_entropy", "squared_error", "binary_cross_entropy", "poisson")


def activate(Z, activation):
    """Apply a hidden-layer activation elementwise.

    Parameters
    ----------
    Z : numpy.ndarray
        Pre-activations.
    activation : {"relu", "tanh", "logistic", "identity"}
        The activation.

    Returns
    -------
    numpy.ndarray
        ``f(Z)``, Z's shape.

    Raises
    ------
    ValueError
        An unknown activation.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.reference import activate
    >>> activate(np.array([-1.0, 2.0]), "relu")
    array([0., 2.])
    """
    if activation == "relu":
        return np.maximum(Z, 0)
    if activation == "tanh":
        return np.tanh(Z)
    if activation == "logistic":
        return 1 / (1 + np.exp(-Z))
    if activation == "identity":
        return Z
    raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")


def activation_derivative(A, activation):
    """The activation's derivative f'(Z), written through A = f(Z) as the kernels do.

    Parameters
    ----------
    A : numpy.ndarray
        Activations ``f(Z)``.
    activation : {"relu", "tanh", "logistic", "identity"}
        The activation.

    Returns
    -------
    numpy.ndarray
        ``f'(Z)``, A's shape.

    Raises
    ------
    ValueError
        An unknown activation.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.reference import activation_derivative
    >>> activation_derivative(np.array([0.0, 2.0]), "relu")
    array([0., 1.])
    """
    if activation == "relu":
        return (A > 0).astype(A.dtype)
    if activation == "tanh":
        return 1 - A * A
    if activation == "logistic":
        return A * (1 - A)
    if activation == "identity":
        return np.ones_like(A)
    raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")


def log_softmax(Z):
    """Row-wise log-softmax, shifted by the row maximum so that exp never overflows.

    Parameters
    ----------
    Z : numpy.ndarray of shape (n_samples, n_classes)
        Logits.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_classes)
        ``Z - logsumexp(Z)`` of each row.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.reference import log_softmax
    >>> bool(np.allclose(np.exp(log_softmax(np.array([[1000.0, 1000.0]]))), 0.5))
    True
    """
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(Z):
    """Row-wise softmax, through `log_softmax` (no overflow for large logits).

    Parameters
    ----------
    Z : numpy.ndarray of shape (n_samples, n_classes)
        Logits.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_classes)
        Probabilities; each row sums to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.reference import softmax
    >>> softmax(np.array([[0.0, 0.0]]))
    array([[0.5, 0.5]])
    """
    return np.exp(log_softmax(Z))


def output(Z, loss):
    """The output layer of a loss applied to the last layer's values.

    Parameters
    ----------
    Z : numpy.ndarray of shape (n_samples, n_outputs)
        The last layer's pre-activations.
    loss : str
        One of `LOSSES`: softmax (cross_entropy), identity (squared_error), logistic
        (binary_cross_entropy) or exponential (poisson, the log link).

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_outputs)
        Probabilities or predicted values.

    Raises
    ------
    ValueError
        An unknown loss.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp import reference
    >>> reference.output(np.zeros((1, 2)), "binary_cross_entropy")
    array([[0.5, 0.5]])
    """
    if loss == "cross_entropy":
        return softmax(Z)
    if loss == "squared_error":
        return Z
    if loss == "binary_cross_entropy":
        return activate(Z, "logistic")
    if loss == "poisson":
        return np.exp(Z)
    raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")


def forward(weights, biases, X, activation="relu", loss="cross_entropy"):
    """Every layer's output, from the first hidden layer to the network's outputs.

    Parameters
    ----------
    weights : list of numpy.ndarray
        ``(fan_in, fan_out)`` per layer.
    biases : list of numpy.ndarray
        ``(fan_out,)`` per layer.
    X : numpy.ndarray of shape (n_samples, n_features)
        Inputs.
    activation : str, default="relu"
        The hidden layers' activation.
    loss : str, default="cross_entropy"
        One of `LOSSES`: softmax, identity, logistic or exponential output (see `output`).

    Returns
    -------
    list of numpy.ndarray
        ``[A_1, ..., A_{L-1}, P]``: the last is the class probabilities (cross_entropy,
        binary_cross_entropy) or the predicted values.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp import Network
    >>> from cmlp import reference
    >>> net = Network([4, 5, 3], dtype="float64", seed=0)
    >>> X = np.random.default_rng(0).random((6, 4))
    >>> y = np.array([0, 1, 2, 0, 1, 2])
    >>> P = reference.forward(net.weights, net.biases, X)[-1]
    >>> bool(np.allclose(P, net.predict_proba(X)))
    True
    """
    logits, hidden = _logits_and_hidden(weights, biases, X, activation)
    return hidden[1:] + [output(logits, loss)]


def _logits_and_hidden(weights, biases, X, activation):
    hidden = [X]
    for W, b in zip(weights[:-1], biases[:-1]):
        hidden.append(activate(hidden[-1] @ W + b, activation))
    return hidden[-1] @ weights[-1] + biases[-1], hidden


def _dropped_logits_and_hidden(weights, biases, X, activation, masks):
    """Like _logits_and_hidden with dropout: masks[0] multiplies the inputs, masks[l] hidden
    layer l's outputs (None: no dropout there). Also returns the hidden outputs before
    their masks (for f') and the masks, one entry per layer."""
    masks = list(masks) + [None] * (len(weights) - len(masks))
    hidden = [X if masks[0] is None else X * masks[0]]
    undropped = [None]
    for l, (W, b) in enumerate(zip(weights[:-1], biases[:-1]), start=1):
        A = activate(hidden[-1] @ W + b, activation)
        undropped.append(A)
        hidden.append(A if masks[l] is None else A * masks[l])
    return hidden[-1] @ weights[-1] + biases[-1], hidden, undropped, masks


def _objective(weights, biases, X, y, activation, l2, loss, sample_weight, l2_per_weight,
               masks=None):
    """(value, output delta, hidden outputs) of the batch objective

        sum_i w_i loss_i / S  +  l2_S / 2 * sum_l |W_l|^2,   S = sum_i w_i (n without weights)

    where l2_S = l2 / S with l2_per_weight (scikit-learn's alpha: its penalty is
    alpha / (2 S) |W|^2), else l2. loss_i is -log softmax(z_i)[y_i] (cross_entropy);
    or, summed over the outputs j: (z_ij - y_ij)^2 / 2 (squared_error);
    -y log s(z) - (1 - y) log(1 - s(z)) = softplus(z) - y z, s the logistic function
    (binary_cross_entropy); or half the Poisson deviance, exp(z) - y z + y log y - y
    (poisson, log link; 0 log 0 = 0). The output delta is d value / d z =
    w_i (softmax(z_i) - onehot(y_i)) / S, or w_i (output(z_i) - y_i) / S for the others.
    With dropout masks (see gradients), the network is the one the masks leave; also
    returns the hidden outputs before their masks and the masks, one per layer.
    """
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = w.sum()
    logits, hidden, undropped, masks = _dropped_logits_and_hidden(
        weights, biases, X, activation, masks or [])
    if loss == "cross_entropy":
        log_p = log_softmax(logits)
        row_loss = -log_p[np.arange(n), y]
        onehot = np.zeros_like(logits)
        onehot[np.arange(n), y] = 1  # width = number of classes, not max(y) + 1
        delta = np.exp(log_p) - onehot
    elif loss == "squared_error":
        residual = logits - np.asarray(y, dtype=logits.dtype).reshape(logits.shape)
        row_loss = 0.5 * (residual * residual).sum(axis=1)
        delta = residual
    elif loss == "binary_cross_entropy":
        t = np.asarray(y, dtype=logits.dtype).reshape(logits.shape)
        softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
        row_loss = (softplus - t * logits).sum(axis=1)
        delta = activate(logits, "logistic") - t
    elif loss == "poisson":
        t = np.asarray(y, dtype=logits.dtype).reshape(logits.shape)
        t_log_t = t * np.log(np.where(t > 0, t, 1))
        row_loss = (np.exp(logits) - t * logits + t_log_t - t).sum(axis=1)
        delta = np.exp(logits) - t
    else:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    l2 = l2 / total if l2_per_weight else l2
    value = (w @ row_loss) / total + 0.5 * l2 * sum(float((W * W).sum()) for W in weights)
    return value, delta * (w / total)[:, None], hidden, l2, undropped, masks


def loss(weights, biases, X, y, activation="relu", l2=0.0, loss="cross_entropy",
         sample_weight=None, l2_per_weight=False):
    """The weighted mean loss plus the L2 penalty; cross-entropy from the log-sum-exp.

    Parameters
    ----------
    weights : list of numpy.ndarray
        ``(fan_in, fan_out)`` per layer.
    biases : list of numpy.ndarray
        ``(fan_out,)`` per layer.
    X : numpy.ndarray of shape (n_samples, n_features)
        Inputs.
    y : numpy.ndarray
        Integer labels ``(n_samples,)``, or targets ``(n_samples, n_outputs)``.
    activation : str, default="relu"
        The hidden layers' activation.
    l2 : float, default=0.0
        Adds ``l2 / 2`` times the sum of the squared weights.
    loss : str, default="cross_entropy"
        One of `LOSSES` (see `_objective` for each one's definition).
    sample_weight : numpy.ndarray of shape (n_samples,), optional
        The mean becomes ``sum_i w_i loss_i / sum_i w_i``.
    l2_per_weight : bool, default=False
        Divide ``l2`` by the sum of the weights (scikit-learn's ``alpha``).

    Returns
    -------
    float
        The objective.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp import Network
    >>> from cmlp import reference
    >>> net = Network([4, 5, 3], dtype="float64", seed=0)
    >>> X = np.random.default_rng(0).random((6, 4))
    >>> y = np.array([0, 1, 2, 0, 1, 2])
    >>> value = reference.loss(net.weights, net.biases, X, y)
    >>> bool(np.isclose(value, net.gradients(X, y)[0]))
    True
    """
    return _objective(weights, biases, X, y, activation, l2, loss, sample_weight,
                      l2_per_weight)[0]


def gradients(weights, biases, X, y, activation="relu", l2=0.0, loss="cross_entropy",
              sample_weight=None, l2_per_weight=False, masks=None):
    """The objective and its gradients, by backpropagation.

    Parameters
    ----------
    weights : list of numpy.ndarray
        ``(fan_in, fan_out)`` per layer.
    biases : list of numpy.ndarray
        ``(fan_out,)`` per layer.
    X : numpy.ndarray of shape (n_samples, n_features)
        Inputs.
    y : numpy.ndarray
        Integer labels ``(n_samples,)``, or targets ``(n_samples, n_outputs)``.
    activation : str, default="relu"
        The hidden layers' activation.
    l2 : float, default=0.0
        Adds ``l2 / 2`` times the sum of the squared weights.
    loss : str, default="cross_entropy"
        One of `LOSSES` (see `_objective` for each one's definition).
    sample_weight : numpy.ndarray of shape (n_samples,), optional
        The mean becomes ``sum_i w_i loss_i / sum_i w_i``.
    l2_per_weight : bool, default=False
        Divide ``l2`` by the sum of the weights.
    masks : list of numpy.ndarray or None, optional
        Inverted dropout, as `cmlp.dropout.masks` gives them: ``masks[0]`` multiplies the
        inputs and ``masks[l]`` the outputs of hidden layer l (None or a missing entry: no
        dropout there).

    Returns
    -------
    loss : float
        The objective.
    grad_weights : list of numpy.ndarray
        ``(fan_in, fan_out)`` per layer.
    grad_biases : list of numpy.ndarray
        ``(fan_out,)`` per layer.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp import Network
    >>> from cmlp import reference
    >>> net = Network([4, 5, 3], dtype="float64", seed=0)
    >>> X = np.random.default_rng(0).random((6, 4))
    >>> y = np.array([0, 1, 2, 0, 1, 2])
    >>> _, gw, gb = reference.gradients(net.weights, net.biases, X, y)
    >>> bool(np.allclose(gw[0], net.gradients(X, y)[1][0]))
    True
    """
    value, delta, hidden, l2, undropped, masks = _objective(
        weights, biases, X, y, activation, l2, loss, sample_weight, l2_per_weight, masks)
    grad_weights = [None] * len(weights)
    grad_biases = [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        grad_weights[l] = hidden[l].T @ delta + l2 * weights[l]
        grad_biases[l] = delta.sum(axis=0)  # per unit, not one scalar
        if l > 0:
            delta = (delta @ weights[l].T) * activation_derivative(undropped[l], activation)
            if masks[l] is not None:
                delta = delta * masks[l]
    return value, grad_weights, grad_biases


def max_norm(weights, bound):
    """Scale each hidden unit's incoming weights back onto a norm bound, in place.

    Every column of each weight matrix but the last whose norm exceeds ``bound`` is scaled
    to norm ``bound``.

    Parameters
    ----------
    weights : list of numpy.ndarray
        ``(fan_in, fan_out)`` per layer, changed in place.
    bound : float
        The largest norm allowed.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.reference import max_norm
    >>> weights = [np.full((4, 2), 3.0), np.ones((2, 2))]
    >>> max_norm(weights, 1.0)
    >>> np.linalg.norm(weights[0], axis=0)
    array([1., 1.])
    """
    for W in weights[:-1]:
        norms = np.sqrt((W * W).sum(axis=0))
        W *= np.where(norms > bound, bound / np.maximum(norms, np.finfo(W.dtype).tiny), 1)


# --- Optimizers: one update of a list of parameter arrays, PyTorch's formulation. ---

class SGD:
    """Plain gradient descent: ``p -= lr g``.

    Parameters
    ----------
    learning_rate : float
        The step size.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.reference import SGD
    >>> p = [np.ones(2)]
    >>> SGD(0.5).step(p, [np.ones(2)])
    >>> p[0]
    array([0.5, 0.5])
    """
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    def step(self, params, grads):
        """Update the parameters in place by one step.

        Parameters
        ----------
        params : list of numpy.ndarray
            The parameters, changed in place.
        grads : list of numpy.ndarray
            Their gradients.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp.reference import SGD
        >>> p = [np.zeros(1)]
        >>> SGD(1.0).step(p, [np.ones(1)])
        """
        for p, g in zip(params, grads):
            p -= self.learning_rate * g


class Momentum:
    """Momentum: ``v = mu v + g; p -= lr v`` (Nesterov: ``p -= lr (g + mu v)``).

    PyTorch's formulation (torch.optim.SGD with momentum, no dampening).

    Parameters
    ----------
    learning_rate : float
        The step size.
    momentum : float, default=0.9
        ``mu``.
    nesterov : bool, default=False
        Nesterov's variant.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.reference import Momentum
    >>> optimizer, p = Momentum(0.1), [np.zeros(2)]
    >>> optimizer.step(p, [np.ones(2)])
    """

    def __init__(self, learning_rate, momentum=0.9, nesterov=False):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocity = None

    def step(self, params, grads):
        """Update the parameters in place by one step.

        Parameters
        ----------
        params : list of numpy.ndarray
            The parameters, changed in place.
        grads : list of numpy.ndarray
            Their gradients.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp.reference import Momentum
        >>> p = [np.zeros(1)]
        >>> Momentum(1.0).step(p, [np.ones(1)])
        """
        if self.velocity is None:
            self.velocity = [np.zeros_like(p) for p in params]
        for p, g, v in zip(params, grads, self.velocity):
            v *= self.momentum
            v += g
            p -= self.learning_rate * (g + self.momentum * v if self.nesterov else v)


class Adam:
    """Adam (Kingma and Ba, 2015) with bias correction, as torch.optim.Adam.

    Parameters
    ----------
    learning_rate : float, default=1e-3
        The step size.
    beta1 : float, default=0.9
        The first moment's decay.
    beta2 : float, default=0.999
        The second moment's decay.
    epsilon : float, default=1e-8
        Added to the root of the corrected second moment.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.reference import Adam
    >>> optimizer, p = Adam(0.1), [np.zeros(2)]
    >>> optimizer.step(p, [np.ones(2)])
    """

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.t = 0
        self.m = self.s = None

    def step(self, params, grads):
        """Update the parameters in place by one step.

        Parameters
        ----------
        params : list of numpy.ndarray
            The parameters, changed in place.
        grads : list of numpy.ndarray
            Their gradients.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp.reference import Adam
        >>> p = [np.zeros(1)]
        >>> Adam(0.1).step(p, [np.ones(1)])
        """
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.s = [np.zeros_like(p) for p in params]
        self.t += 1
        step_size = self.learning_rate / (1 - self.beta1 ** self.t)
        root_correction = np.sqrt(1 - self.beta2 ** self.t)
        for p, g, m, s in zip(params, grads, self.m, self.s):
            m *= self.beta1
            m += (1 - self.beta1) * g
            s *= self.beta2
            s += (1 - self.beta2) * g * g
            p -= step_size * m / (np.sqrt(s) / root_correction + self.epsilon)
