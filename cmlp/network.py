"""The Network class: parameters, validation, fit/predict, save/load.

Python validates, Cython computes: every array handed to cmlp._kernels here is already
C-contiguous, of the network's dtype, finite and correctly shaped.
"""
import copy
import os
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import (
    TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union)

import numpy as np

from cmlp import _inference
from cmlp import _kernels
from cmlp import _serialization
from cmlp import _threads
from cmlp import _unit_split
from cmlp import dropout as _dropout
from cmlp.augment import make_augmenter
from cmlp._codes import Activation, Loss
from cmlp._guard import UseGuard, reads, writes
from cmlp._training import (  # noqa: F401 (TrainingDiverged: public here)
    Trainer, TrainingDiverged, hold_out_rows)
from cmlp._pool import WorkspacePool
from cmlp._settings import Objective
from cmlp._workspace import Workspace
from cmlp._validation import (
    check_choice, check_dtype, check_layer_sizes, check_positive_int, check_real,
    check_sample_weight, check_targets, check_X, check_y)
from cmlp.initializers import INITIALIZERS, initial_layer
from cmlp.optimizers import (SCHEDULES, Optimizer, OptimizerState, optimizer_for_fit,
                              scheduled_learning_rate)
from cmlp.reference import ACTIVATIONS, LOSSES

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

# Work buffers kept per network (training's and prediction's sizes; see cmlp._pool).
_KEPT_WORKSPACES = 4


# Attributes of a Network object that no copy or pickle takes along (see _snapshot).
_OWN_STATE = frozenset({"_guard", "_workspaces", "_predictor_cache", "_running"})


class Network:
    """A fully-connected network, trained and run by compiled kernels.

    ReLU (or tanh, logistic, identity) hidden layers, and a softmax output with
    cross-entropy, or an identity output with squared error (regression).

    Parameters
    ----------
    layer_sizes : sequence of int
        Inputs, hidden widths, classes (or outputs); ``[784, 10, 10]`` is the
        notebook's network.
    dtype : "float32" or "float64"
        The type of the parameters and of the computation.
    seed : int or None
        Seeds the numpy Generator used for the initial weights and for shuffling; the same
        seed gives bit-identical networks and (at the same thread count) training runs.
    activation : "relu", "tanh", "logistic" or "identity"
        Hidden-layer activation.
    init : "he", "glorot" or "uniform"
        He normal (default, suited to ReLU), Glorot uniform, or the notebook's
        uniform(-0.5, 0.5) for weights and biases.
    n_threads : int or None
        Threads used while computing. None: one per CPU this process may run on (its
        affinity mask and cgroup CPU quota), or OMP_NUM_THREADS, or threadpoolctl's OpenMP
        limit (see cmlp._threads); at most 4 per CPU of the machine. A batch is split across
        them, each calling single-threaded BLAS; the result depends on the count, not on
        timing. In a child forked after cmlp ran threads, one thread (libgomp's pool does
        not survive fork; the spawn and forkserver start methods keep the threads).
    loss : "cross_entropy", "squared_error", "binary_cross_entropy" or "poisson"
        cross_entropy: softmax output, integer labels 0..K-1. The others take targets y of
        shape (n_samples, n_outputs), or (n_samples,) for one output, and sum a row's loss
        over the outputs: squared_error, identity output (regression), half the squared
        error; binary_cross_entropy, a logistic output per unit (multilabel, or one unit
        for two classes), targets in [0, 1]; poisson, an exponential output (log link),
        half the Poisson deviance, targets >= 0 (cmlp.reference gives every objective's
        exact definition).

    Attributes
    ----------
    weights : list of numpy.ndarray
        Per layer, a ``(fan_in, fan_out)`` view of the parameters: writing to it changes
        the network.
    biases : list of numpy.ndarray
        Per layer, a ``(fan_out,)`` view of the parameters.
    layer_sizes : list of int
        Inputs, hidden widths, outputs.
    dtype : numpy.dtype
        float32 or float64.
    n_features, n_classes, n_outputs, n_params : int
        Inputs, outputs (classes), outputs, parameters in all.
    is_classifier : bool
        True for a cross_entropy network.
    history_ : dict
        The history of the last `fit`, filled epoch by epoch (it survives a
        KeyboardInterrupt).

    Raises
    ------
    ValueError
        An unknown option, fewer than two layer sizes, a size below 1.
    TypeError
        Layer sizes that are not integers.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.datasets import load_sample
    >>> X, y = load_sample()
    >>> net = Network([784, 32, 10], seed=0)
    >>> history = net.fit(X[:2000], y[:2000], epochs=5, learning_rate=1e-3,
    ...                   batch_size=64, optimizer="adam")
    >>> net.score(X[8000:], y[8000:]) > 0.8
    True
    """

    def __init__(self, layer_sizes: "Sequence[int]", *, dtype: Any = "float32",
                 seed: "Optional[int]" = None, activation: str = "relu", init: str = "he",
                 n_threads: "Optional[int]" = None, loss: str = "cross_entropy") -> None:
        self.loss = check_choice("loss", loss, LOSSES)
        self.layer_sizes = check_layer_sizes(
            layer_sizes, min_outputs=2 if self.loss == "cross_entropy" else 1)
        self.dtype = check_dtype(dtype)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.init = check_choice("init", init, INITIALIZERS)
        self.n_threads = _threads.check_n_threads(
            check_positive_int("n_threads", n_threads, allow_none=True))
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._sizes = np.asarray(self.layer_sizes, dtype=np.int32)
        layers = [initial_layer(self._rng, fan_in, fan_out, init)
                  for fan_in, fan_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:])]
        self._params = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in layers])
        self._params = self._params.astype(self.dtype)
        self._workspaces = WorkspacePool(_KEPT_WORKSPACES)
        self._guard = UseGuard()
        self._running = None  # the Trainer of a fit in progress, for epoch_progress

    # --- copies and pickles: a consistent snapshot, or RuntimeError during another's fit ---

    def _snapshot(self, what, memo=None):
        """A deep copy of the network's state, taken as a reader (see cmlp._guard): raises
        RuntimeError while another thread is inside fit, rather than copy weights from the
        middle of an update. Locks, work buffers and the cached predictor belong to this
        object, not to a copy or a pickle."""
        state = {key: value for key, value in self.__dict__.items()
                 if key not in _OWN_STATE}
        return self._guard.call_reading(what, copy.deepcopy, state, memo)

    def __getstate__(self):
        return self._snapshot("pickle")

    def __deepcopy__(self, memo):
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        clone.__setstate__(self._snapshot("copy.deepcopy", memo))
        return clone

    def __copy__(self):
        # A shallow copy sharing the weights would train them under another guard than the
        # original's: copies get weights of their own.
        clone = type(self).__new__(type(self))
        clone.__setstate__(self._snapshot("copy.copy"))
        return clone

    def __setstate__(self, state):
        self.__dict__.update(state)
        if not self._params.flags.writeable:  # e.g. from a read-only memory map (joblib)
            self._params = self._params.copy()
        self._workspaces = WorkspacePool(_KEPT_WORKSPACES)
        self._guard = UseGuard()
        self._running = None

    # --- parameters: views into one flat array, the layout the kernels use ---

    def _layer_views(self, flat):
        weights, biases, offset = [], [], 0
        for fan_in, fan_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            weights.append(flat[offset:offset + fan_in * fan_out].reshape(fan_in, fan_out))
            offset += fan_in * fan_out
            biases.append(flat[offset:offset + fan_out])
            offset += fan_out
        return weights, biases

    @property
    def weights(self) -> "List[np.ndarray]":
        """Weights per layer, (fan_in, fan_out) views: writing to them changes the network."""
        return self._layer_views(self._params)[0]

    @property
    def biases(self) -> "List[np.ndarray]":
        """Biases per layer, (fan_out,) views: writing to them changes the network."""
        return self._layer_views(self._params)[1]

    @property
    def n_features(self) -> int:
        """Inputs per row."""
        return self.layer_sizes[0]

    @property
    def n_classes(self) -> int:
        """Classes (outputs of the last layer)."""
        return self.layer_sizes[-1]

    @property
    def n_outputs(self) -> int:
        """Outputs of the last layer (the classes of a classifier)."""
        return self.layer_sizes[-1]

    @property
    def is_classifier(self) -> bool:
        """True for a cross_entropy network (softmax output, integer labels)."""
        return self.loss == "cross_entropy"

    @property
    def _multilabel(self):
        """A logistic output per unit: probabilities, and 0/1 labels per output."""
        return self.loss == "binary_cross_entropy"

    @property
    def n_params(self) -> int:
        """Weights and biases in all."""
        return int(self._params.size)

    @property
    def epoch_progress(self) -> "Optional[Tuple[int, int]]":
        """How far `fit` is inside its current epoch: (rows trained on, rows per epoch).

        The compiled epoch publishes its count after every update (every batch; once per
        epoch in full-batch training), so another thread, such as a progress display, can
        follow a long epoch while ``fit`` runs without the GIL. None when no ``fit`` is
        running.

        Examples
        --------
        >>> import threading
        >>> import numpy as np
        >>> from cmlp import Network
        >>> X = np.random.default_rng(0).random((20000, 64), dtype=np.float32)
        >>> y = np.arange(20000) % 10
        >>> net = Network([64, 32, 10], seed=0)
        >>> net.epoch_progress is None
        True
        >>> seen = []
        >>> fit = threading.Thread(target=net.fit, args=(X, y),
        ...                        kwargs=dict(epochs=3, batch_size=32, learning_rate=0.01))
        >>> fit.start()
        >>> while fit.is_alive():
        ...     seen.append(net.epoch_progress)
        >>> fit.join()
        >>> all(p is None or 0 <= p[0] <= p[1] == 20000 for p in seen)
        True
        """
        trainer = self._running
        return None if trainer is None else (trainer.rows_done(), trainer.n)

    def __repr__(self):
        loss = "" if self.is_classifier else f", loss={self.loss!r}"
        return (f"Network({self.layer_sizes}, dtype={self.dtype.name!r}, "
                f"activation={self.activation!r}{loss})")

    # --- work buffers: each call borrows its own from a small pool ---

    def _workspace(self, batch_rows):
        """A context manager lending a cmlp._workspace.Workspace for batches of batch_rows
        to one call (see cmlp._pool.WorkspacePool):
        ``with self._workspace(rows) as work: kernel(..., work, ...)``."""
        key = (batch_rows, self._kernel_threads())
        return self._workspaces.borrow(
            key, lambda: Workspace(self.layer_sizes, self.dtype, *key))

    def _kernel_threads(self):
        return _threads.kernel_threads(self.n_threads)

    @staticmethod
    def _epoch_kernel(batch_rows, work):
        """The epoch loop for this batch size: threads split the rows of each batch, or,
        for small batches that the workspace holds whole, each layer's units."""
        return _unit_split.train_epoch if work.splits_units(batch_rows) else _kernels.train_epoch

    @contextmanager
    def _threads(self):
        """While computing, BLAS runs one thread inside each of cmlp's own threads.

        Without OpenMP, cmlp runs one thread and n_threads goes to BLAS instead. Inside an
        outer _threads of the same limit (one epoch per fit call: cmlp.sklearn), nothing is
        set again: threadpoolctl takes about 0.3 ms per limit, as long as a small epoch.
        """
        blas_threads = 1 if _kernels.openmp_enabled() else self.n_threads
        if blas_threads is None or getattr(_blas_limit, "active", None) == blas_threads:
            yield
            return
        with _blas_controller().limit(limits=blas_threads, user_api="blas"):
            outer, _blas_limit.active = getattr(_blas_limit, "active", None), blas_threads
            try:
                yield
            finally:
                _blas_limit.active = outer

    @contextmanager
    def _publishing(self, trainer):
        """While fit runs: epoch_progress reads trainer's count."""
        self._running = trainer
        try:
            yield
        finally:
            self._running = None

    def _activation_code(self):
        return Activation[self.activation.upper()]

    def _check_y(self, y, n_samples, name="y"):
        """Labels (int32) for cross-entropy, (n, n_outputs) targets for squared error."""
        if self.is_classifier:
            return check_y(y, n_samples, self.n_classes, name=name)
        y = check_targets(y, n_samples, self.n_outputs, self.dtype, name=name)
        if self.loss == "binary_cross_entropy" and ((y < 0) | (y > 1)).any():
            raise ValueError(f"{name} must hold targets in [0, 1] for binary_cross_entropy")
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError(f"{name} must hold non-negative targets for the poisson loss")
        return y

    def _kernel_args(self, y, sample_weight=None, l2_per_weight=False):
        """The labels and the Objective the kernels take for validated y and weights; None
        for the plain mean cross-entropy."""
        if self.is_classifier and sample_weight is None and not l2_per_weight:
            return y, None
        objective = Objective(Loss[self.loss.upper()], None if self.is_classifier else y,
                              sample_weight, l2_per_weight=bool(l2_per_weight))
        return (y if self.is_classifier else None), objective

    # --- inference ---

    def _predictor(self):
        """The compiled predictor (cmlp._inference) over this network's own parameters: it
        reads them where they are, so changes through the weight views count at once. Made
        once, and again if the parameter array is replaced."""
        predictor = self.__dict__.get("_predictor_cache")
        if (predictor is None or predictor.params is not self._params
                or predictor.activation != self.activation or predictor.loss != self.loss):
            predictor = _inference.Model._view(self._params, self.layer_sizes,
                                               self.activation, self.loss)
            self._predictor_cache = predictor
        return predictor

    def _model_state(self):
        """What cmlp.inference.Model copies: (a C-ordered copy of the parameters, layer
        sizes, activation, loss), read while no fit changes the weights."""
        with self._guard.reading("Model"):
            params = np.array(self._params, dtype=self.dtype, copy=True, order="C")
        return params, self.layer_sizes, self.activation, self.loss

    def _prediction_threads(self, X):
        """Threads for predicting X: counting the CPUs costs as much as predicting a row, and
        calls below _inference.PARALLEL_MIN_ROWS run on the calling thread anyway."""
        try:
            rows = len(X)
        except TypeError:
            return 1  # not an array: validation will say what is wrong
        return self._kernel_threads() if rows >= _inference.PARALLEL_MIN_ROWS else 1

    @reads
    def predict_proba(self, X: "ArrayLike", out: "Optional[np.ndarray]" = None
                      ) -> np.ndarray:
        """Class probabilities of the rows of X.

        Prediction runs on cmlp's own kernels, never BLAS, changes no process-wide
        setting, and gives a row the same bits whatever rows come with it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite values; converted to the network's dtype if need be.
        out : numpy.ndarray of shape (n_samples, n_classes), optional
            C-contiguous, the network's dtype: filled and returned, for callers that
            reuse their buffers.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            Each row sums to 1.

        Raises
        ------
        ValueError
            X of the wrong shape, or holding NaN or infinity; an unusable ``out``.
        TypeError
            A squared_error network (use `predict`).
        FloatingPointError
            Outputs that are not finite (weights or inputs near the dtype's maximum).

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp import Network
        >>> net = Network([4, 3], seed=0)
        >>> proba = net.predict_proba(np.ones((2, 4), dtype=np.float32))
        >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1))
        ((2, 3), True)
        """
        if not self.is_classifier and not self._multilabel:
            raise TypeError("predict_proba needs a cross_entropy or binary_cross_entropy "
                            f"network; this one is {self.loss!r}: use predict")
        if self._multilabel:
            return self._predictor().outputs(X, out, n_threads=self._prediction_threads(X))
        return self._predictor().predict_proba(X, out, n_threads=self._prediction_threads(X))

    def _proba(self, X):
        """The outputs (probabilities, or a regression's values) of an already validated X."""
        return self._predictor().outputs(X, n_threads=self._prediction_threads(X))

    @reads
    def predict(self, X: "ArrayLike", out: "Optional[np.ndarray]" = None) -> np.ndarray:
        """Predicted class labels (or, for squared_error and poisson, values) of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite values.
        out : numpy.ndarray, optional
            Filled and returned: int64 ``(n_samples,)`` for labels, or the network's dtype
            ``(n_samples, n_outputs)`` for values.

        Returns
        -------
        numpy.ndarray
            int64 labels ``(n_samples,)``, each row's first largest probability (the argmax
            of `predict_proba`); for binary_cross_entropy int64 ``(n_samples, n_outputs)``,
            1 where an output's probability exceeds 0.5; for squared_error and poisson the
            values ``(n_samples, n_outputs)``.

        Raises
        ------
        ValueError
            X of the wrong shape, or holding NaN or infinity; an unusable ``out``.
        FloatingPointError
            Outputs that are not finite.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp import Network
        >>> net = Network([4, 3], seed=0)
        >>> net.predict(np.ones((2, 4))).dtype
        dtype('int64')
        """
        if self._multilabel:
            labels = self._predictor().outputs(X, n_threads=self._prediction_threads(X)) > 0.5
            if out is None:
                return labels.astype(np.int64)
            if not (isinstance(out, np.ndarray) and out.dtype == np.int64
                    and out.shape == labels.shape):
                raise ValueError(f"out must be an int64 array of shape {labels.shape}")
            out[...] = labels
            return out
        return self._predictor().predict(X, out, n_threads=self._prediction_threads(X))

    @reads
    def score(self, X: "ArrayLike", y: "ArrayLike") -> float:
        """Accuracy of the predictions of X against y (for squared_error, R^2).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite values.
        y : array-like
            Integer labels ``(n_samples,)``; for squared_error the targets.

        Returns
        -------
        float
            The fraction of rows whose predicted label equals y; for squared_error the
            coefficient of determination R^2, averaged over the outputs.

        Raises
        ------
        ValueError
            Shapes that do not match, labels out of range, NaN or infinity.

        Examples
        --------
        >>> from cmlp import Network
        >>> from cmlp.datasets import load_sample
        >>> X, y = load_sample()
        >>> 0 <= Network([784, 10], seed=0).score(X[:100], y[:100]) <= 1
        True
        """
        X = check_X(X, self.n_features, self.dtype)
        y = self._check_y(y, X.shape[0])
        outputs = self._predictor().predict(X, n_threads=self._prediction_threads(X))
        if self.is_classifier:
            return float(np.mean(outputs == y))
        if self._multilabel:  # every output of the row right
            hits = (np.asarray(outputs) > 0.5) == (np.asarray(y) > 0.5)
            return float(np.mean(hits.all(axis=1)))
        return _r2(y, outputs)

    @reads
    def to_onnx(self, path: "Union[str, os.PathLike[str]]", *,
                opset: "Optional[int]" = None) -> str:
        """Write the network as an ONNX model.

        The graph has a ``Gemm`` per layer, ``Relu``/``Tanh``/``Sigmoid`` between them, and
        ``Softmax`` and ``ArgMax`` giving the outputs ``probabilities`` and ``label``, those
        of `predict_proba` and `predict`; see `cmlp.onnx.to_onnx`. Needs the onnx extra
        (``pip install "cmlp[onnx]"``).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write.
        opset : int, optional
            The ONNX opset, 13 or later (default 17).

        Returns
        -------
        str
            The path written.

        Raises
        ------
        ImportError
            onnx is not installed.
        ValueError
            An opset below 13.

        Examples
        --------
        >>> from cmlp import Network
        >>> Network([784, 10, 10], seed=0).to_onnx("net.onnx")  # doctest: +SKIP
        """
        from cmlp.onnx import to_onnx

        return to_onnx(self, path, opset=opset)

    @reads
    def to_c(self, path: "Union[str, os.PathLike[str]]", *, variant: Optional[str] = None,
             name: str = "cmlp_model") -> str:
        """Write the network to path as one dependency-free C99 file.

        Static const weights and the functions <name>_predict_proba / <name>_predict (a
        regression network's: <name>_predict_values), no allocation, nothing beyond
        <math.h>; see cmlp.export_c.to_c and the guide "C export and int8 inference".

        Parameters
        ----------
        path : str or os.PathLike
            The file to write, atomically.
        variant : "float32", "float64" or "int8", optional
            The arithmetic of the C code; default: the network's dtype.
        name : str, default="cmlp_model"
            The prefix of every name in the file (a C identifier).

        Returns
        -------
        str
            path.

        Raises
        ------
        ValueError
            For an unknown variant, a name that is not a C identifier, or weights that
            are not finite.

        Examples
        --------
        >>> import os, tempfile
        >>> from cmlp import Network
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.h")
        >>> Network([4, 8, 3], seed=0).to_c(path, name="tiny") == path
        True
        """
        from cmlp.export_c import to_c

        return to_c(self, path, variant=variant, name=name)

    @reads
    def gradients(self, X: "ArrayLike", y: "ArrayLike", l2: float = 0.0, *,
                  sample_weight: "Optional[ArrayLike]" = None, l2_per_weight: bool = False,
                  dropout: "Union[None, float, Sequence[float]]" = None,
                  dropout_seed: int = 0, dropout_epoch: int = 0
                  ) -> "Tuple[float, List[np.ndarray], List[np.ndarray]]":
        """The mean loss over X and its gradients, by the compiled kernels.

        The same layout as `cmlp.reference.gradients`, which the tests hold these to.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite values.
        y : array-like
            Labels ``(n_samples,)``; for squared_error the targets.
        l2 : float, default=0.0
            Adds ``l2 / 2`` times the sum of the squared weights to the loss.
        sample_weight : array-like of shape (n_samples,), optional
            The mean becomes ``sum_i w_i loss_i / sum_i w_i``.
        l2_per_weight : bool, default=False
            Divide ``l2`` by the sum of the weights (scikit-learn's ``alpha``).
        dropout : float or sequence of float, optional
            Rates as in `fit`: units are dropped as training drops them for the first
            rows of epoch ``dropout_epoch`` with seed ``dropout_seed``
            (`cmlp.dropout.masks` gives the same masks).
        dropout_seed : int, default=0
            The seed of the masks.
        dropout_epoch : int, default=0
            The epoch of the masks.

        Returns
        -------
        loss : float
            The mean loss.
        grad_weights : list of numpy.ndarray
            ``(fan_in, fan_out)`` per layer.
        grad_biases : list of numpy.ndarray
            ``(fan_out,)`` per layer.

        Raises
        ------
        ValueError
            Shapes that do not match, labels out of range, NaN or infinity, bad rates.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp import Network
        >>> net = Network([4, 5, 3], seed=0)
        >>> loss, grad_weights, grad_biases = net.gradients(np.ones((2, 4)), [0, 2])
        >>> [g.shape for g in grad_weights]
        [(4, 5), (5, 3)]
        """
        X = check_X(X, self.n_features, self.dtype)
        y = self._check_y(y, X.shape[0])
        l2 = check_real("l2", l2, low=0.0)
        sample_weight = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        labels, objective = self._kernel_args(y, sample_weight, l2_per_weight)
        drop = _dropout.epoch_plan(_dropout.check_rates(dropout, self.layer_sizes),
                                      dropout_seed, dropout_epoch)
        grads = np.empty_like(self._params)
        with self._threads(), self._workspace(X.shape[0]) as work:
            loss, _ = _kernels.loss_and_gradients(
                X, labels, self._params, self._sizes, self._activation_code(), l2, work,
                grads, objective, drop)
        grad_weights, grad_biases = self._layer_views(grads)
        return loss, grad_weights, grad_biases

    def _flat_loss_and_gradients(self, X, labels, objective, l2, grads):
        """Loss and flat gradients (into grads) of validated arrays at the current
        parameters: for optimizers that work on the flat vector (L-BFGS)."""
        with self._threads(), self._workspace(X.shape[0]) as work:
            return _kernels.loss_and_gradients(
                X, labels, self._params, self._sizes, self._activation_code(), l2, work,
                grads, objective)[0]

    # --- training ---

    def _trainer(self, X, y, *, batch_size=None, shuffle=True, optimizer, l2=0.0,
                 sample_weight=None, l2_per_weight=False, dropout=None, max_norm=None,
                 augment=None):
        """A Trainer (cmlp._training) over X, y, checked here once, for callers that run
        the epochs themselves (cmlp.sklearn's convergence loop): ``with net._trainer(...)
        as t: t.epoch(learning_rate, index)``, inside ``net._guard.call_writing("fit",
        run)`` as fit is (no predictions from other threads meanwhile, no second fit).
        optimizer is an OptimizerState made for this network; the other arguments are
        fit's."""
        X = check_X(X, self.n_features, self.dtype)
        y = self._check_y(y, X.shape[0])
        sample_weight = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        batch_size = check_positive_int("batch_size", batch_size, allow_none=True)
        l2 = check_real("l2", l2, low=0.0)
        rates = _dropout.check_rates(dropout, self.layer_sizes)
        max_norm = 0.0 if max_norm is None else check_real("max_norm", max_norm, positive=True)
        augmenter = make_augmenter(augment)
        if augmenter is not None:
            augmenter.shape_for(self.n_features)
        if (not isinstance(optimizer, OptimizerState) or optimizer.state_a.dtype != self.dtype
                or optimizer.n_params != self.n_params):
            raise ValueError("optimizer must be an OptimizerState made for this network: "
                             f"{self.n_params} parameters of {self.dtype.name}")
        labels, objective = self._kernel_args(y, sample_weight, l2_per_weight)
        return Trainer(self, X, labels, objective, batch_size=batch_size, shuffle=shuffle,
                       optimizer=optimizer, l2=l2, rates=rates, max_norm=max_norm,
                       augmenter=augmenter)

    @writes
    def fit(self, X: "ArrayLike", y: "ArrayLike", *, epochs: int,
            learning_rate: "Optional[float]" = None,
            batch_size: "Optional[int]" = None, shuffle: bool = True,
            validation_data: "Optional[Tuple[ArrayLike, ArrayLike]]" = None,
            verbose: "Union[bool, int]" = 0,
            optimizer: "Union[str, Optimizer, OptimizerState]" = "sgd",
            momentum: "Optional[float]" = None, nesterov: "Optional[bool]" = None,
            beta1: "Optional[float]" = None, beta2: "Optional[float]" = None,
            epsilon: "Optional[float]" = None, l2: float = 0.0,
            lr_schedule: str = "constant", lr_decay: float = 0.95,
            early_stopping: bool = False, validation_fraction: float = 0.1,
            patience: int = 10,
            callback: "Optional[Callable[[int, Dict[str, Any]], Any]]" = None,
            sample_weight: "Optional[ArrayLike]" = None, l2_per_weight: bool = False,
            dropout: "Union[None, float, Sequence[float]]" = None,
            max_norm: "Optional[float]" = None, augment: Any = None
            ) -> "Dict[str, Any]":
        """Train by gradient descent; the whole epoch runs compiled, without the GIL.

        Ctrl-C stops it within a fraction of a second: ``KeyboardInterrupt`` propagates,
        the weights are those of the last completed update, and ``history_`` holds the
        epochs done.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite values.
        y : array-like
            Integer labels ``(n_samples,)`` in ``0 .. n_classes - 1``; for squared_error
            the targets ``(n_samples, n_outputs)`` (or ``(n_samples,)`` for one output).
        epochs : int
            Passes over the data; with ``batch_size=None`` one epoch is one iteration.
        learning_rate : float, optional
            The step size (at the start, under a schedule). Required unless ``optimizer``
            is an object that carries it, such as ``Adam(1e-3)``.
        batch_size : int, optional
            Rows per update; None is full-batch gradient descent, the notebook's method.
        shuffle : bool, default=True
            Draw a new order of the rows every epoch (mini-batches).
        validation_data : (X_val, y_val), optional
            Scored after every epoch (``val_loss``, ``val_accuracy`` in the history).
        verbose : int, default=0
            Print the loss and accuracy every ``verbose`` epochs (0: never).
        optimizer : {"sgd", "momentum", "adam"}, Optimizer or OptimizerState, default="sgd"
            The update rule: a name, or an object with its hyperparameters
            (`~cmlp.optimizers.SGD`, `~cmlp.optimizers.Momentum`,
            `~cmlp.optimizers.Adam`); an `~cmlp.optimizers.OptimizerState` carries its
            moments and step count from one call to the next. With an object, give the
            hyperparameters to it, not to fit.
        momentum : float, optional
            With ``optimizer="momentum"``: the momentum coefficient (default 0.9).
        nesterov : bool, optional
            With ``optimizer="momentum"``: Nesterov momentum (default False).
        beta1 : float, optional
            With ``optimizer="adam"``: the first-moment decay (default 0.9).
        beta2 : float, optional
            With ``optimizer="adam"``: the second-moment decay (default 0.999).
        epsilon : float, optional
            With ``optimizer="adam"``: added after the bias correction, PyTorch's
            formulation (default 1e-8).
        l2 : float, default=0.0
            Weight decay: ``l2 / 2`` times the squared weights (not biases) in the loss.
        lr_schedule : {"constant", "cosine", "exponential"}, default="constant"
            The learning rate over the epochs: constant, cosine annealing towards 0, or
            times ``lr_decay`` each epoch.
        lr_decay : float, default=0.95
            The factor of the exponential schedule.
        early_stopping : bool, default=False
            Hold out ``validation_fraction`` of the rows (or use ``validation_data``), stop
            after ``patience`` epochs without a better validation accuracy, and restore the
            best epoch's weights.
        validation_fraction : float, default=0.1
            The rows held out for early stopping.
        patience : int, default=10
            Epochs without improvement before early stopping stops.
        callback : callable, optional
            ``callback(epoch, history)``, called after each epoch.
        sample_weight : array-like of shape (n_samples,), optional
            Each batch's loss is ``sum_i w_i loss_i / sum_i w_i`` (a batch of zero weights
            changes nothing).
        l2_per_weight : bool, default=False
            Divide ``l2`` by that sum in every batch: scikit-learn's ``alpha``.
        dropout : float or sequence of float, optional
            Inverted dropout while training: one rate for every hidden layer (inputs kept),
            or ``len(layer_sizes) - 1`` rates (the inputs, then each hidden layer). The
            masks come from the network's seed (see `cmlp.dropout`).
        max_norm : float, optional
            Bound the norm of each hidden unit's incoming weights after every update.
        augment : bool, str, dict or Augmenter, optional
            Train on randomly transformed images, new ones every epoch: True or
            ``"affine"`` (shifts, rotations, scalings), ``"elastic"``, a dict of
            `~cmlp.augment.Augmenter` arguments, or an Augmenter. Rows must be square
            images unless the Augmenter says their shape.

        Returns
        -------
        dict
            Per-epoch lists: ``loss``, ``accuracy`` (of the forward passes during the
            epoch), ``learning_rate``, ``elapsed`` (seconds since fit started), and with
            validation ``val_loss`` and ``val_accuracy``; with early stopping also
            ``best_epoch``. A squared_error network has no ``accuracy``, and ``val_r2``
            in place of ``val_accuracy``. The same dict is ``history_``.

        Raises
        ------
        ValueError
            Wrong shapes, NaN or infinity, labels out of range, unknown options.
        TypeError
            Arguments of the wrong type; no learning rate, or one given twice;
            hyperparameters given beside an optimizer object.
        TrainingDiverged
            The loss or the weights became NaN or infinite; the newest finite weights are
            restored.
        RuntimeError
            Another thread uses the network meanwhile.

        Examples
        --------
        >>> from cmlp import Network
        >>> from cmlp.datasets import load_sample
        >>> X, y = load_sample()
        >>> net = Network([784, 10, 10], seed=0)
        >>> history = net.fit(X[:1000], y[:1000], epochs=20, learning_rate=0.11)
        >>> len(history["loss"]), history["loss"][-1] < history["loss"][0]
        (20, True)
        """
        X = check_X(X, self.n_features, self.dtype)
        y = self._check_y(y, X.shape[0])
        sample_weight = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        epochs = check_positive_int("epochs", epochs)
        opt, learning_rate = optimizer_for_fit(
            optimizer, learning_rate, self.n_params, self.dtype, momentum=momentum,
            nesterov=nesterov, beta1=beta1, beta2=beta2, epsilon=epsilon)
        batch_size = check_positive_int("batch_size", batch_size, allow_none=True)
        verbose = 1 if verbose is True else check_positive_int("verbose", verbose) if verbose else 0
        l2 = check_real("l2", l2, low=0.0)
        check_choice("lr_schedule", lr_schedule, SCHEDULES)
        lr_decay = check_real("lr_decay", lr_decay, positive=True)
        patience = check_positive_int("patience", patience)
        rates = _dropout.check_rates(dropout, self.layer_sizes)
        max_norm = 0.0 if max_norm is None else check_real("max_norm", max_norm, positive=True)
        augmenter = make_augmenter(augment)
        if augmenter is not None:
            augmenter.shape_for(self.n_features)
        if validation_data is not None:
            X_val, y_val = self._check_validation_data(validation_data)
        elif early_stopping:
            X, y, sample_weight, X_val, y_val = self._split_validation(
                X, y, sample_weight, validation_fraction)
        else:
            X_val = y_val = None
        labels, objective = self._kernel_args(y, sample_weight, l2_per_weight)
        score_name = "val_accuracy" if self.is_classifier or self._multilabel else "val_r2"
        trainer = Trainer(self, X, labels, objective, batch_size=batch_size, shuffle=shuffle,
                          optimizer=opt, l2=l2, rates=rates, max_norm=max_norm,
                          augmenter=augmenter)

        history: "Dict[str, Any]" = {"loss": [], "learning_rate": [], "elapsed": []}
        if self.is_classifier:
            history["accuracy"] = []
        if X_val is not None:
            history["val_loss"], history[score_name] = [], []
        # Filled epoch by epoch, so the epochs done survive a KeyboardInterrupt.
        self.history_ = history
        best_score, best_params = -np.inf, None
        best_epoch: Any = None
        n = X.shape[0]
        start = time.perf_counter()
        with trainer, self._publishing(trainer), _whole_epochs(history):
            for epoch in range(epochs):
                rate = scheduled_learning_rate(lr_schedule, learning_rate, epoch, epochs,
                                               lr_decay)
                loss, n_correct = trainer.epoch(rate, epoch)
                history["loss"].append(loss)
                if self.is_classifier:
                    history["accuracy"].append(n_correct / n)
                history["learning_rate"].append(opt.config.learning_rate)
                if X_val is not None:
                    val_loss, val_score = self._evaluate(X_val, y_val)
                    history["val_loss"].append(val_loss)
                    history[score_name].append(val_score)
                history["elapsed"].append(time.perf_counter() - start)
                if verbose and epoch % verbose == 0:
                    unit = "Iteration" if batch_size is None else "Epoch"
                    print(progress_line(history, epoch, unit), flush=True)
                if callback is not None:
                    callback(epoch, history)
                if early_stopping:
                    if history[score_name][-1] > best_score:
                        best_score, best_epoch = history[score_name][-1], epoch
                        best_params = self._params.copy()
                    elif epoch - best_epoch >= patience:
                        break
        if early_stopping:
            self._params[...] = best_params
            history["best_epoch"] = best_epoch
        return history

    def _check_validation_data(self, validation_data):
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise TypeError("validation_data must be a pair (X_val, y_val)") from None
        X_val = check_X(X_val, self.n_features, self.dtype, name="X_val")
        return X_val, self._check_y(y_val, X_val.shape[0], name="y_val")

    def _split_validation(self, X, y, sample_weight, fraction):
        fraction = check_real("validation_fraction", fraction, positive=True, high=1.0)
        n_val = int(round(fraction * X.shape[0]))
        if n_val < 1 or n_val >= X.shape[0]:
            raise ValueError(
                f"validation_fraction={fraction} of {X.shape[0]} rows leaves {n_val} "
                "validation rows; expected at least one validation and one training row")
        # A spawned child stream: holding out rows does not shift the shuffling that follows.
        val, train = hold_out_rows(X.shape[0], n_val, self._rng.spawn(1)[0])
        weights = sample_weight[train] if sample_weight is not None else None
        return X[train], y[train], weights, X[val], y[val]

    def _evaluate(self, X, y):
        """(mean cross-entropy, accuracy) on validated arrays; for squared_error (mean
        loss, R^2)."""
        return self._evaluate_outputs(self._proba(X), y)

    def _evaluate_outputs(self, proba, y):
        """_evaluate from the outputs (probabilities, or values) already computed."""
        if self._multilabel or self.loss == "poisson":
            value = _mean_elementwise_loss(self.loss, proba, y)
            if self._multilabel:
                return value, float(np.mean(((proba > 0.5) == (y > 0.5)).all(axis=1)))
            return value, _r2(y, proba)
        if not self.is_classifier:
            residual = proba.astype(np.float64) - y
            return 0.5 * float((residual * residual).sum(axis=1).mean()), _r2(y, proba)
        picked = np.maximum(proba[np.arange(len(y)), y], np.finfo(self.dtype).tiny)
        return float(-np.log(picked).mean()), float(np.mean(proba.argmax(axis=1) == y))

    def _forward_is_finite(self, X):
        """Whether the current weights give finite outputs for the rows X."""
        if not np.isfinite(self._params).all():
            return False
        try:
            self._proba(X)
        except FloatingPointError:
            return False
        return True

    def _roll_back(self, fallback):
        """Restore the newest kept weights whose forward pass is finite; returns which."""
        for params, label in fallback.newest_first():
            self._params[...] = params
            if self._forward_is_finite(fallback.check_rows):
                return label
        return label + " (whose outputs are not finite either: check the inputs' scale)"

    # --- persistence ---

    @reads
    def save(self, path: "Union[str, os.PathLike[str]]") -> None:
        """Write the network to a versioned ``.npz`` file, atomically.

        A temp file beside the destination is written, synced and renamed into place: a
        crash leaves the old file or the new one. See :doc:`/guide/saving`.

        Parameters
        ----------
        path : str or os.PathLike
            The destination; a symlink is followed (its target replaced).

        Raises
        ------
        OSError
            The file cannot be written.
        ValueError
            Parameters that `load` would refuse (NaN, infinite or overflowing).

        Examples
        --------
        >>> from cmlp import Network
        >>> Network([784, 10, 10], seed=0).save("net.npz")  # doctest: +SKIP
        """
        _serialization.save(self, path)

    @classmethod
    def load(cls, path: "Union[str, os.PathLike[str]]") -> "Network":
        """Read a network written by `save`, treating the file as untrusted input.

        Parameters
        ----------
        path : str or os.PathLike
            A regular file.

        Returns
        -------
        Network
            The network, with the saved layer sizes, dtype, activation and parameters.

        Raises
        ------
        OSError
            A missing, unreadable or irregular file (directory, FIFO, device).
        ValueError
            Anything but a cmlp model file: another format, damaged, inconsistent sizes,
            non-finite or overflowing parameters.

        Examples
        --------
        >>> from cmlp import Network
        >>> net = Network.load("net.npz")  # doctest: +SKIP
        """
        return _serialization.load(cls, path)


_blas_limit = threading.local()  # the BLAS limit a _threads block of this thread has set


@lru_cache(maxsize=None)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # inspecting the loaded libraries is slow: do it once


@contextmanager
def _whole_epochs(history):
    """On KeyboardInterrupt, drop an epoch recorded only in some of history's lists (Ctrl-C
    between two appends), so that every list holds the same epochs."""
    try:
        yield
    except KeyboardInterrupt:
        done = min(len(values) for values in history.values())
        for values in history.values():
            del values[done:]
        raise


def _mean_elementwise_loss(loss, outputs, y):
    """The mean over rows of binary_cross_entropy's or poisson's loss (cmlp.reference) from
    the outputs (probabilities, or exp of the last layer) and targets."""
    p = outputs.astype(np.float64)
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if loss == "binary_cross_entropy":
            tiny = np.finfo(outputs.dtype).eps
            p = np.clip(p, tiny, 1 - tiny)
            rows = -(y * np.log(p) + (1 - y) * np.log1p(-p)).sum(axis=1)
        else:
            t_log_t = y * np.log(np.where(y > 0, y, 1))
            rows = (p - y * np.log(p) + t_log_t - y).sum(axis=1)
    return float(rows.mean())


def _r2(y, predicted):
    """The coefficient of determination, averaged over the outputs (scikit-learn's r2_score
    with its defaults: a constant target scores 1 if predicted exactly, else 0)."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    residual = ((y - np.asarray(predicted, dtype=np.float64).reshape(y.shape)) ** 2).sum(axis=0)
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    scores = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1),
                      np.where(residual == 0, 1.0, 0.0))
    return float(scores.mean())


def progress_line(history, epoch, unit, val_name="val_accuracy"):
    """The notebook-style progress line of fit(verbose=k) and of the CLI, e.g.
    "Iteration:    10  loss: 1.9402  accuracy: 0.4431" (unit "Iteration" or "Epoch")."""
    line = f"{unit}: {epoch:5d}  loss: {history['loss'][-1]:.4f}"
    if history.get("accuracy"):
        line += f"  accuracy: {history['accuracy'][-1]:.4f}"
    if history.get("val_accuracy"):
        line += f"  {val_name}: {history['val_accuracy'][-1]:.4f}"
    return line
