"""Sparse input (CSR/CSC, float32/float64) in cmlp.sklearn: a compiled sparse first layer
(cmlp._sparse) whose gradients equal the dense kernels', fits that equal dense fits, and
predictions that never densify the matrix."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

sp = pytest.importorskip("scipy.sparse")
pytest.importorskip("sklearn")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from cmlp import Network, _sparse_training  # noqa: E402
from cmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

X, y = load_digits(n_class=3, return_X_y=True)
X = X / 16.0


def _targets(loss):
    return {"cross_entropy": y.astype(np.int32), "binary_cross_entropy": np.eye(3)[y],
            "poisson": y[:, None] * 1.0, "squared_error": np.c_[y, -y] * 1.0}[loss]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy", "poisson",
                                  "squared_error"])
def test_sparse_gradients_equal_the_dense_kernels(dtype, loss):
    targets = _targets(loss)
    net = Network([64, 7, 5, targets.shape[1] if targets.ndim == 2 else 3], dtype=dtype,
                  seed=0, loss=loss, activation="tanh")
    w = np.random.default_rng(0).random(len(X))
    value, grad_w, grad_b = net.gradients(X, targets, l2=0.3, sample_weight=w,
                                          l2_per_weight=True)
    grads = np.empty_like(net._params)
    matrix = _sparse_training.SparseMatrix(sp.csr_matrix(X), net.dtype, 64)
    sparse_targets = targets if loss == "cross_entropy" else targets.astype(dtype)
    sparse_value = _sparse_training.loss_and_gradients(
        net, matrix, np.arange(len(X), dtype=np.int64), sparse_targets, w.astype(dtype), 0.3,
        True, grads)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    assert_allclose(sparse_value, value, **tol)
    for dense, sparse in zip(grad_w + grad_b, sum(net._layer_views(grads), [])):
        assert_allclose(sparse, dense, **tol)


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_matrix, sp.csr_array])
@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_sparse_fits_equal_dense_fits(container, solver):
    params = dict(n_threads=1, solver=solver, hidden_layer_sizes=15, random_state=1,
                  max_iter=25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**params).fit(X, y)
        sparse = MLPClassifier(**params).fit(container(X), y)
    assert_allclose(sparse.predict_proba(container(X)), dense.predict_proba(X), atol=1e-9)
    assert_array_equal(sparse.predict(container(X)), dense.predict(X))
    assert_array_equal(sparse.predict(X), dense.predict(X))  # dense rows, sparse-fitted


def test_sparse_float32_regression_early_stopping_and_partial_fit():
    Xs = sp.csr_matrix(X.astype(np.float32))
    reg = MLPRegressor(n_threads=1, random_state=0, max_iter=15, early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(Xs, y * 1.0)
    assert reg.coefs_[0].dtype == np.float32 and reg.predict(Xs).dtype == np.float32
    assert len(reg.validation_loss_curve_) == reg.n_iter_
    clf = MLPClassifier(n_threads=1, random_state=0)
    for _ in range(20):
        clf.partial_fit(Xs, y, classes=[0, 1, 2])
    assert clf.score(Xs, y) > 0.9
    with pytest.raises(ValueError, match="dense X"):
        MLPClassifier(n_threads=1, dropout=0.1).fit(Xs, y)


def test_a_malformed_sparse_matrix_is_refused_before_the_compiled_loops():
    Xs = sp.csr_matrix(X[:20])
    Xs.indices[3] = 10_000  # a column far outside the 64 features
    with pytest.raises(ValueError, match="malformed sparse matrix"):
        _sparse_training.SparseMatrix(Xs, np.float64, 64)
    bad = sp.csr_matrix(X[:20])
    bad.indptr[5] = bad.indptr[6] + 1  # falling
    with pytest.raises(ValueError, match="malformed sparse matrix"):
        _sparse_training.SparseMatrix(bad, np.float64, 64)


def test_a_csr_matrix_is_used_as_it_is_with_int32_or_int64_indices():
    Xs = sp.csr_matrix(X)
    assert Xs.indices.dtype == np.int32
    matrix = _sparse_training.SparseMatrix(Xs, np.float64, 64)
    for mine, theirs in [(matrix.data, Xs.data), (matrix.indices, Xs.indices),
                         (matrix.indptr, Xs.indptr)]:
        assert np.shares_memory(mine, theirs)  # no copy of the matrix
    wide = sp.csr_matrix(X)
    wide.indices, wide.indptr = wide.indices.astype(np.int64), wide.indptr.astype(np.int64)
    net = Network([64, 6, 3], seed=0, activation="tanh", dtype="float64")
    rows = np.arange(0, len(X), 3, dtype=np.int64)
    results = []
    for csr in (Xs, wide):
        grads = np.empty_like(net._params)
        value = _sparse_training.loss_and_gradients(
            net, _sparse_training.SparseMatrix(csr, np.float64, 64), rows, y.astype(np.int32),
            None, 0.1, True, grads)
        results.append((value, grads))
    assert results[0][0] == results[1][0]
    assert_array_equal(results[0][1], results[1][1])
    mixed = sp.csr_matrix(X)
    mixed.indptr = mixed.indptr.astype(np.int64)  # one index type for both, as scipy keeps
    assert _sparse_training.SparseMatrix(mixed, np.float64, 64).indices.dtype == np.int64


def test_a_diverging_sparse_epoch_restores_the_weights_before_it():
    clf = MLPClassifier(n_threads=1, solver="sgd", learning_rate_init=1e12, momentum=0.0,
                        random_state=0, max_iter=5)
    with pytest.raises(ValueError, match="restored"):
        clf.fit(sp.csr_matrix(X * 1e3), y)
    assert all(np.isfinite(W).all() for W in clf.coefs_)
