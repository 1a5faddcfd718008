"""The seed notebook's numpy MLP, kept in its own style, generalised to a hidden width H.

This is the baseline the issue asks cmlp to beat: column-major data (``X`` is ``(784, m)``,
one example per column; in the notebook ``X_train = data[1000:m].T[1:n] / 255.`` is an
F-contiguous array, reproduced here as ``X_rowmajor.T``), float64, the builtin-``sum`` softmax,
scalar bias gradients and a one-hot rebuilt on every step.  Only two things are added:
``H`` (the notebook has H = 10) and ``dtype`` so the same code can run in float32 (the
parameters are cast after ``np.random.rand`` and the one-hot is built in ``dtype``; without
that numpy would promote ``dZ2`` to float64).  ``m`` is the batch's size, as in the notebook
where the batch is the whole training set.  Mini-batch training needs one more change: the
notebook's one-hot width ``Y.max() + 1`` breaks on a batch that happens to hold no 9, so the
mini-batch benchmark passes ``n_classes=10``; the full-batch step runs the notebook as written.
"""
import numpy as np


def init_params(H=10, dtype=np.float64):
    W1 = np.random.rand(H, 784) - 0.5
    b1 = np.random.rand(H, 1) - 0.5
    W2 = np.random.rand(10, H) - 0.5
    b2 = np.random.rand(10, 1) - 0.5
    return tuple(a.astype(dtype) for a in (W1, b1, W2, b2))


def ReLU(Z):
    return np.maximum(Z, 0)


def softmax(Z):
    # builtin sum over a 2-D array: a Python loop adding the 10 rows (np.sum(..., axis=0)
    # is the vectorised spelling; the notebook's users run this one)
    A = np.exp(Z) / sum(np.exp(Z))
    return A


def forward_prop(W1, b1, W2, b2, X):
    Z1 = W1.dot(X) + b1
    A1 = ReLU(Z1)
    Z2 = W2.dot(A1) + b2
    A2 = softmax(Z2)
    return Z1, A1, Z2, A2


def ReLU_deriv(Z):
    return Z > 0


def one_hot(Y, dtype=np.float64, n_classes=None):
    # the notebook's width is Y.max() + 1; a mini-batch without a 9 then breaks the
    # subtraction below, so mini-batch training passes n_classes=10
    width = Y.max() + 1 if n_classes is None else n_classes
    one_hot_Y = np.zeros((Y.size, width), dtype=dtype)
    one_hot_Y[np.arange(Y.size), Y] = 1
    one_hot_Y = one_hot_Y.T
    return one_hot_Y


def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y, n_classes=None):
    m = Y.size
    one_hot_Y = one_hot(Y, A2.dtype, n_classes)
    dZ2 = A2 - one_hot_Y
    dW2 = 1 / m * dZ2.dot(A1.T)
    db2 = 1 / m * np.sum(dZ2)
    dZ1 = W2.T.dot(dZ2) * ReLU_deriv(Z1)
    dW1 = 1 / m * dZ1.dot(X.T)
    db1 = 1 / m * np.sum(dZ1)
    return dW1, db1, dW2, db2


def update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha):
    W1 = W1 - alpha * dW1
    b1 = b1 - alpha * db1
    W2 = W2 - alpha * dW2
    b2 = b2 - alpha * db2
    return W1, b1, W2, b2


def get_predictions(A2):
    return np.argmax(A2, 0)


def gradient_descent_step(params, X, Y, alpha, n_classes=None):
    """One iteration of the notebook's ``gradient_descent`` loop (without its printing)."""
    W1, b1, W2, b2 = params
    Z1, A1, Z2, A2 = forward_prop(W1, b1, W2, b2, X)
    dW1, db1, dW2, db2 = backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y, n_classes)
    return update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, alpha)
