"""Training and prediction on sparse input (scipy CSR/CSC), for cmlp.sklearn.

The first layer's product and weight gradient run compiled on the CSR arrays
(cmlp._sparse), reading each batch's rows where they are: the matrix is never densified.
The layers after it are dense and small (a batch times the hidden widths) and run in numpy,
with the equations of cmlp.reference; the optimizer steps are the dense loop's compiled
update (cmlp._kernels.update) on the network's flat parameters and the moments of its
OptimizerState, so that dense and sparse fits continue each other.
"""
import numpy as np
import scipy.sparse as sp

from cmlp import _sparse, reference
from cmlp._training import TrainingDiverged

_PREDICT_ROWS = 1024  # rows per block of a prediction: bounded memory for any n


class SparseMatrix:
    """A CSR matrix in the network's dtype (checked once). A CSR matrix of that dtype is
    used as it is: its arrays, int32 or int64 indices alike, are not copied."""

    def __init__(self, X, dtype, n_features):
        X = sp.csr_matrix(X, dtype=dtype)  # CSC and CSR arrays alike become a CSR matrix
        if X.shape[1] != n_features:
            raise ValueError(f"X has {X.shape[1]} features, but the network takes {n_features}")
        # The compiled loops index W by these: a malformed matrix must not reach them.
        if (X.indptr[0] != 0 or X.indptr[-1] != X.indices.size or X.data.size != X.indices.size
                or (np.diff(X.indptr) < 0).any()
                or (X.indices.size and (X.indices.min() < 0 or X.indices.max() >= n_features))):
            raise ValueError("X is a malformed sparse matrix: its indptr must rise from 0 to "
                             "nnz and its column indices lie in [0, n_features)")
        X.sum_duplicates()
        if not np.isfinite(X.data).all():
            raise ValueError("X holds NaN or infinity; expected finite values")
        self.shape = X.shape
        self.data = np.ascontiguousarray(X.data)
        self.indices, self.indptr = X.indices, X.indptr
        if self.indices.dtype != self.indptr.dtype:  # the compiled loops take one index type
            self.indices, self.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)

    def first_layer(self, rows, W, b):
        """Z = X[rows] @ W + b, (len(rows), W.shape[1])."""
        out = np.empty((len(rows), W.shape[1]), dtype=W.dtype)
        out[...] = b
        _sparse.csr_rows_times_dense(self.data, self.indices, self.indptr, rows, W, out)
        return out

    def add_first_layer_gradient(self, rows, delta, grad):
        """grad += X[rows]^T delta."""
        _sparse.csr_rows_transpose_times_dense(self.data, self.indices, self.indptr, rows,
                                               np.ascontiguousarray(delta), grad)


def outputs(network, X):
    """The network's outputs (probabilities, or values) for a SparseMatrix, block by block."""
    weights, biases = network.weights, network.biases
    result = np.empty((X.shape[0], network.n_outputs), dtype=network.dtype)
    for first in range(0, X.shape[0], _PREDICT_ROWS):
        rows = np.arange(first, min(first + _PREDICT_ROWS, X.shape[0]), dtype=np.int64)
        A = X.first_layer(rows, weights[0], biases[0])
        for W, b in zip(weights[1:], biases[1:]):
            A = reference.activate(A, network.activation) @ W + b
        with np.errstate(over="ignore"):
            result[first:first + len(rows)] = reference.output(A, network.loss)
    if not np.isfinite(result).all():
        raise FloatingPointError("the network's outputs overflowed on sparse input: rescale "
                                 "the inputs, or retrain with a smaller learning_rate")
    return result


def loss_and_gradients(network, X, rows, y, sample_weight, l2, l2_per_weight, grads):
    """The objective of cmlp.reference (weighted mean loss plus penalty) of the rows of a
    SparseMatrix, with its gradients written into grads (flat, the network's layout)."""
    weights, biases = network.weights, network.biases
    grad_weights, grad_biases = network._layer_views(grads)
    acts = []  # the hidden layers' outputs
    logits = X.first_layer(rows, weights[0], biases[0])
    for W, b in zip(weights[1:], biases[1:]):
        acts.append(reference.activate(logits, network.activation))
        logits = acts[-1] @ W + b
    w = (np.ones(len(rows)) if sample_weight is None
         else np.asarray(sample_weight[rows], dtype=np.float64))
    total = w.sum()
    row_loss, delta = _loss_and_delta(logits, y[rows], network.loss)
    inverse = 1 / total if total > 0 else 0.0
    delta = (delta * (w * inverse)[:, None]).astype(network.dtype)
    l2 = l2 * inverse if l2_per_weight else l2
    value = float(w @ row_loss) * inverse
    for l in range(len(weights) - 1, 0, -1):
        grad_weights[l][...] = acts[l - 1].T @ delta + l2 * weights[l]
        grad_biases[l][...] = delta.sum(axis=0)
        delta = (delta @ weights[l].T) * reference.activation_derivative(
            acts[l - 1], network.activation)
    np.multiply(weights[0], l2, out=grad_weights[0])  # in place: W0 is most of the memory
    X.add_first_layer_gradient(rows, delta, grad_weights[0])
    grad_biases[0][...] = delta.sum(axis=0)
    if l2:  # a float64 sum of squares without a squared (or float64) copy of each W
        value += 0.5 * l2 * sum(float(np.einsum("ij,ij->", W, W, dtype=np.float64))
                                for W in weights)
    return value


def _loss_and_delta(Z, y, loss):
    """Per-row loss and d loss / d z, as cmlp.reference._objective defines them."""
    Z = Z.astype(np.float64)
    if loss == "cross_entropy":
        log_p = reference.log_softmax(Z)
        n = len(y)
        delta = np.exp(log_p)
        delta[np.arange(n), y] -= 1
        return -log_p[np.arange(n), y], delta
    t = np.asarray(y, dtype=np.float64).reshape(Z.shape)
    if loss == "squared_error":
        return 0.5 * ((Z - t) ** 2).sum(axis=1), Z - t
    if loss == "binary_cross_entropy":
        softplus = np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))
        return (softplus - t * Z).sum(axis=1), reference.activate(Z, "logistic") - t
    with np.errstate(over="ignore"):
        e = np.exp(Z)
    t_log_t = t * np.log(np.where(t > 0, t, 1))
    return (e - t * Z + t_log_t - t).sum(axis=1), e - t


def _update(params, grads, opt):
    """One optimizer step on the flat parameters: the dense loop's compiled update."""
    _sparse.apply_update(params, grads, opt.config, opt.state_a, opt.state_b)


class SparseTrainer:
    """The Trainer interface (cmlp._training) over a SparseMatrix: epoch(), a context
    manager, draw_call_streams(). Mini-batches in an order drawn from the network's
    generator, each step: compiled sparse first layer, numpy after it, one update."""

    def __init__(self, network, X, y, sample_weight, *, batch_size, shuffle, optimizer, l2,
                 l2_per_weight):
        self.network, self.X, self.y = network, X, y
        self.sample_weight = sample_weight
        self.n = X.shape[0]
        self.rows = self.n if batch_size is None else min(batch_size, self.n)
        self.shuffle = shuffle and self.rows < self.n
        self.optimizer, self.l2, self.l2_per_weight = optimizer, l2, l2_per_weight
        self.grads = np.empty_like(network._params)
        # The weights at an epoch's start, to restore if it diverges: one buffer for the
        # whole fit, refilled in place each epoch (no allocation per epoch).
        self.epoch_start = np.empty_like(network._params)

    def draw_call_streams(self):
        """Nothing to draw: no dropout or augmentation on sparse input."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def epoch(self, learning_rate, index=0):
        network, opt = self.network, self.optimizer
        opt.config.learning_rate = learning_rate
        order = (network._rng.permutation(self.n) if self.shuffle
                 else np.arange(self.n)).astype(np.int64)
        np.copyto(self.epoch_start, network._params)
        loss_sum = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for first in range(0, self.n, self.rows):
                rows = order[first:first + self.rows]
                loss = loss_and_gradients(network, self.X, rows, self.y, self.sample_weight,
                                          self.l2, self.l2_per_weight, self.grads)
                loss_sum += loss * len(rows)
                _update(network._params, self.grads, opt)
        loss = loss_sum / self.n
        if not (np.isfinite(loss) and np.isfinite(network._params).all()):
            network._params[...] = self.epoch_start
            raise TrainingDiverged(
                f"training diverged in epoch {index}: the loss became {loss}; the weights "
                "were restored to those before it. Try a smaller learning_rate.")
        return loss, 0
