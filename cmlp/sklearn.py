"""scikit-learn estimators over cmlp.Network: MLPClassifier and MLPRegressor.

Drop-in for sklearn.neural_network's estimators of the same names: the same constructor
parameters (names, defaults, meaning), fitted attributes, convergence rule and warnings.
This layer only validates (sklearn.utils.validation), encodes labels, and runs the
convergence loop one epoch at a time; every epoch, loss and gradient is Network's compiled
code (Network.fit with a persistent OptimizerState; L-BFGS through scipy.optimize.minimize
on the compiled loss and gradients). Added parameters: dtype, n_threads, class_weight.

Where cmlp differs from scikit-learn (docs/guide/sklearn.rst lists them all):
- The optimizers follow PyTorch's formulation (cmlp.reference.Momentum, Adam): SGD momentum
  v = mu v + g, p -= lr v, and Adam's epsilon added to the bias-corrected root; scikit-learn
  folds the learning rate into its velocity and its Adam epsilon into the raw root. With a
  constant learning rate the momentum updates are identical; Adam's differ only by epsilon.
- For multi-output regression loss_ is the objective cmlp minimises: half the squared error
  summed over the outputs (scikit-learn's gradient is the same; its reported loss divides
  the data term by n_outputs).
"""
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp

try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "cmlp.sklearn needs scikit-learn, which is not installed: "
        'pip install "cmlp[sklearn]" (or pip install scikit-learn)') from error
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import (
    _check_sample_weight, check_is_fitted, column_or_1d, validate_data)

from cmlp import _skl2onnx, _sparse_training
from cmlp.network import Network, TrainingDiverged
from cmlp.optimizers import OptimizerState

__all__ = ["MLPClassifier", "MLPRegressor", "TrainingDivergedError"]

_NONFINITE_MESSAGE = ("Solver produced non-finite parameter weights. The input data may "
                      "contain large values and need to be preprocessed.")


class TrainingDivergedError(TrainingDiverged, ValueError):
    """A fit diverged (the loss or the weights became NaN or infinite).

    Both cmlp's `~cmlp.TrainingDiverged` and the ValueError scikit-learn's estimators raise
    in this case, so code written for either catches it. The message gives scikit-learn's
    text and cmlp's account (the epoch, the loss, which weights were restored). With
    ``early_stopping=True`` a fit does not raise it: it keeps the best validation model.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.sklearn import MLPRegressor, TrainingDivergedError
    >>> X = np.random.default_rng(0).random((50, 3))
    >>> try:
    ...     MLPRegressor(solver="sgd", learning_rate_init=1e30).fit(X, X[:, 0])
    ... except TrainingDivergedError as error:
    ...     print(isinstance(error, ValueError))
    True
    """

_STOCHASTIC_SOLVERS = ("sgd", "adam")
# scikit-learn's out_activation_ for each of the network's losses
_OUT_ACTIVATIONS = {"cross_entropy": "softmax", "binary_cross_entropy": "logistic",
                    "squared_error": "identity", "poisson": "exp"}


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the fit loops, L-BFGS."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"}), None],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        # cmlp's own regularisation, for the stochastic solvers (see Network.fit)
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like", None],
        "max_norm": [Interval(Real, 0, None, closed="neither"), None],
        "augment": [StrOptions({"affine", "elastic"}), dict, "boolean", None],
    }

    # --- fitting ---

    def _fit(self, X, y, sample_weight, incremental):
        self._validate_params()
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
        if any(not isinstance(h, Integral) or h < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        # scikit-learn's rule: coefs_ assigned to an unfitted estimator are trained further
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        if not first_pass and hasattr(self, "_network"):
            self._sync_parameters()
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        sample_weight = self._sample_weight(sample_weight, X, y, incremental)
        y = self._network_targets(y)
        rng = check_random_state(self.random_state)
        if first_pass:
            self._initialize(X.shape[1], hidden, rng, X.dtype)
        elif not hasattr(self, "_network"):
            self._adopt_assigned_parameters(X.shape[1], rng, X.dtype)
        if self._network.layer_sizes[1:-1] != hidden:
            raise ValueError(
                f"hidden_layer_sizes changed from {self._network.layer_sizes[1:-1]} to "
                f"{hidden} since the network was built; fit with warm_start=False")
        # Once, in the network's dtype and layout, so no epoch converts them again.
        if sp.issparse(X):
            if self.dropout is not None or self.max_norm is not None or self.augment:
                raise ValueError("dropout, max_norm and augment take dense X; got a sparse "
                                 "matrix")
            X = sp.csr_matrix(X, dtype=self._network.dtype)
        else:
            X = np.ascontiguousarray(X, dtype=self._network.dtype)
        if self._network.loss != "cross_entropy":  # targets, in the network's dtype
            y = np.ascontiguousarray(y, dtype=self._network.dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=self._network.dtype)
        try:
            if self.solver == "lbfgs":
                self._fit_lbfgs(X, y, sample_weight)
            else:
                self._fit_stochastic(X, y, sample_weight, rng, incremental)
        finally:
            self._expose_parameters()
        if not np.isfinite(self._network._params).all():
            raise TrainingDivergedError(_NONFINITE_MESSAGE)
        return self

    def _adopt_assigned_parameters(self, n_features, rng, X_dtype):
        """A network holding the coefs_ and intercepts_ assigned to an unfitted estimator
        (checked: one weight matrix and bias vector per layer, shapes that chain)."""
        coefs, intercepts = list(self.coefs_), list(self.intercepts_)
        if not coefs or len(coefs) != len(intercepts):
            raise ValueError("coefs_ and intercepts_ must be lists of one array per layer, of "
                             f"the same length; got {len(coefs)} and {len(intercepts)}")
        coefs = [np.asarray(c) for c in coefs]
        sizes = [n_features] + [c.shape[-1] if c.ndim == 2 else -1 for c in coefs]
        for layer, W in enumerate(coefs):
            b = np.asarray(intercepts[layer])
            if W.shape != (sizes[layer], sizes[layer + 1]) or b.shape != (sizes[layer + 1],):
                raise ValueError(
                    f"coefs_[{layer}] and intercepts_[{layer}] have shapes {W.shape} and "
                    f"{b.shape}; expected ({sizes[layer]}, n_units) and (n_units,)")
        if sizes[-1] != self._n_network_outputs():
            raise ValueError(f"coefs_[-1] has {sizes[-1]} outputs; these targets need "
                             f"{self._n_network_outputs()}")
        self._network = Network(sizes, dtype=self._network_dtype(X_dtype),
                                seed=rng.randint(np.iinfo(np.int32).max),
                                activation=self.activation, n_threads=self.n_threads,
                                loss=self._network_loss())
        for view, W in zip(self._network.weights, coefs):
            view[...] = W
        for view, b in zip(self._network.biases, intercepts):
            view[...] = b
        if not np.isfinite(self._network._params).all():
            raise ValueError("coefs_ or intercepts_ hold NaN or infinity")
        self.n_layers_, self.n_outputs_ = len(sizes), sizes[-1]
        self.out_activation_ = _OUT_ACTIVATIONS[self._network.loss]
        self._best_params = self._network._params.copy()
        for name, value in (("n_iter_", 0), ("t_", 0), ("_optimizer", None),
                            ("loss_curve_", []), ("_no_improvement_count", 0),
                            ("best_loss_", None if self.early_stopping else np.inf),
                            ("validation_scores_", [] if self.early_stopping else None),
                            ("validation_loss_curve_", [] if self.early_stopping else None),
                            ("best_validation_score_",
                             -np.inf if self.early_stopping else None)):
            if not hasattr(self, name):
                setattr(self, name, value)
        self._expose_parameters()

    def _network_dtype(self, X_dtype):
        """The dtype given, else X's: float32 data trains in float32, any other in float64."""
        if self.dtype is not None:
            return self.dtype
        return "float32" if X_dtype == np.float32 else "float64"

    def _initialize(self, n_features, hidden, rng, X_dtype):
        """A new Network with scikit-learn's initial weights (Glorot uniform, biases too,
        drawn from random_state in its order); its own seed, for the batch order, too."""
        sizes = [n_features] + hidden + [self._n_network_outputs()]
        self._network = Network(sizes, dtype=self._network_dtype(X_dtype), seed=0,
                                activation=self.activation, n_threads=self.n_threads,
                                loss=self._network_loss())
        factor = 2.0 if self.activation == "logistic" else 6.0
        for W, b in zip(self._network.weights, self._network.biases):
            bound = np.sqrt(factor / (W.shape[0] + W.shape[1]))
            W[...] = rng.uniform(-bound, bound, W.shape)
            b[...] = rng.uniform(-bound, bound, b.shape)
        # The batch order's seed is drawn after the weights, so that random_state gives
        # scikit-learn's initial weights, bit for bit (in float64).
        self._network.seed = rng.randint(np.iinfo(np.int32).max)
        self._network._rng = np.random.default_rng(self._network.seed)
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(sizes)
        self.n_outputs_ = sizes[-1]
        self.out_activation_ = _OUT_ACTIVATIONS[self._network.loss]
        self._optimizer = None
        self._best_params = self._network._params.copy()
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None

    def _sample_weight(self, sample_weight, X, y, incremental):
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        return sample_weight

    def _fit_stochastic(self, X, y, sample_weight, rng, incremental):
        network = self._network
        if not incremental or getattr(self, "_optimizer", None) is None:
            # sklearn's SGD without momentum is plain SGD; with it, (Nesterov) momentum.
            name = "adam" if self.solver == "adam" else "momentum" if self.momentum > 0 else "sgd"
            self._optimizer = OptimizerState(
                name, network.n_params, network.dtype, momentum=self.momentum,
                nesterov=self.nesterovs_momentum, beta1=self.beta_1, beta2=self.beta_2,
                epsilon=self.epsilon)
            self._learning_rate = float(self.learning_rate_init)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.early_stopping and self.validation_scores_ is None:  # warm start, newly on
            self.validation_scores_, self.validation_loss_curve_ = [], []
            self.best_validation_score_, self.best_loss_ = -np.inf, None
        if self.early_stopping:
            # scikit-learn stratifies on its label-binarized y: True/False for two classes
            stratify = (None if not is_classifier(self) or self._output == "multilabel" else
                        y.astype(bool) if self._output == "binary" else y)
            parts = train_test_split(X, y, *([sample_weight] if sample_weight is not None else []),
                                     random_state=rng, test_size=self.validation_fraction,
                                     stratify=stratify)
            X, X_val, y, y_val = parts[:4]
            sample_weight, weight_val = parts[4:] if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It "
                              "is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        self.n_iter_ = 0  # scikit-learn's: the epochs of this call
        # X, y and the weights are checked once; every epoch reuses the trainer's buffers.
        if sp.issparse(X):  # a compiled sparse first layer; the matrix stays sparse
            trainer = _sparse_training.SparseTrainer(
                network, _sparse_training.SparseMatrix(X, network.dtype, network.n_features),
                y, sample_weight, batch_size=batch_size, shuffle=self.shuffle,
                optimizer=self._optimizer, l2=self.alpha, l2_per_weight=True)
        else:
            trainer = network._trainer(
                X, y, batch_size=batch_size, shuffle=self.shuffle, optimizer=self._optimizer,
                l2=self.alpha, l2_per_weight=True, sample_weight=sample_weight,
                dropout=self.dropout, max_norm=self.max_norm, augment=self.augment)
        def run_epochs():  # as the one writer of the network, as fit is
            with trainer:
                for _ in range(self.max_iter):
                    if self.n_iter_ > 0:  # the streams one-epoch fit calls drew each time
                        trainer.draw_call_streams()
                    try:
                        loss, _ = trainer.epoch(self._learning_rate, 0)
                    except TrainingDiverged as error:
                        if not self.early_stopping:
                            raise TrainingDivergedError(
                                f"{_NONFINITE_MESSAGE} ({error})") from error
                        # scikit-learn's: the epoch counts, scores NaN; the best model stays
                        self.n_iter_ += 1
                        self.loss_ = np.nan
                        self.loss_curve_.append(np.nan)
                        self.validation_scores_.append(np.nan)
                        self.validation_loss_curve_.append(np.nan)
                        warnings.warn(f"Training diverged; the best validation model is kept "
                                      f"({error})", ConvergenceWarning)
                        break
                    self.n_iter_ += 1
                    self.loss_ = float(loss)
                    self.t_ += n_samples
                    self.loss_curve_.append(self.loss_)
                    if self.verbose:
                        print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                    if self.early_stopping:
                        self._record_validation(X_val, y_val, weight_val)
                    else:
                        self._record_loss()
                    if self.solver == "sgd" and self.learning_rate == "invscaling":
                        self._learning_rate = (self.learning_rate_init
                                               / (self.t_ + 1) ** self.power_t)
                    if self._no_improvement_count > self.n_iter_no_change:
                        if self._should_stop():
                            break
                        self._no_improvement_count = 0
                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        warnings.warn(
                            "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                            "optimization hasn't converged yet." % self.max_iter,
                            ConvergenceWarning)

        try:
            network._guard.call_writing("fit", run_epochs)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if self.early_stopping:
            network._params[...] = self._best_params

    def _record_loss(self):
        """scikit-learn's rule: an epoch improves if its loss is below the best by tol."""
        if self.loss_curve_[-1] > self.best_loss_ - self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if self.loss_curve_[-1] < self.best_loss_:
            self.best_loss_ = self.loss_curve_[-1]

    def _record_validation(self, X_val, y_val, weight_val):
        score = self._score_encoded(X_val, y_val, weight_val)
        self.validation_scores_.append(score)
        try:
            loss = self._network._evaluate_outputs(self._network_outputs(X_val), y_val)[0]
        except FloatingPointError:
            loss = np.nan
        self.validation_loss_curve_.append(loss)
        if self.verbose:
            print("Validation score: %f" % score)
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_params = self._network._params.copy()

    def _should_stop(self):
        """After n_iter_no_change epochs without improvement: stop, or (sgd, adaptive)
        divide the learning rate by 5 until it falls below 1e-6."""
        what = ("Validation score" if self.early_stopping else "Training loss")
        message = ("%s did not improve more than tol=%f for %d consecutive epochs."
                   % (what, self.tol, self.n_iter_no_change))
        if self.solver == "sgd" and self.learning_rate == "adaptive":
            if self._learning_rate > 1e-6:
                self._learning_rate /= 5.0
                if self.verbose:
                    print("Setting learning rate to %f" % self._learning_rate)
                return False
            message += " Learning rate too small. Stopping."
        if self.verbose:
            print(message)
        return True

    def _fit_lbfgs(self, X, y, sample_weight):
        """scipy's L-BFGS-B on the compiled loss and gradients of the whole data set."""
        if self.dropout is not None or self.max_norm is not None or self.augment:
            raise ValueError("dropout, max_norm and augment work with solver 'sgd' or "
                             "'adam', not 'lbfgs'")
        network = self._network
        labels, objective = network._kernel_args(y, sample_weight, l2_per_weight=True)
        grads = np.empty_like(network._params)
        if sp.issparse(X):
            matrix = _sparse_training.SparseMatrix(X, network.dtype, network.n_features)
            every_row = np.arange(X.shape[0], dtype=np.int64)

        def loss_and_gradient(params):
            network._params[...] = params
            with np.errstate(over="ignore", invalid="ignore"):
                if sp.issparse(X):
                    loss = _sparse_training.loss_and_gradients(
                        network, matrix, every_row, y, sample_weight, self.alpha, True, grads)
                else:
                    loss = network._flat_loss_and_gradients(X, labels, objective, self.alpha,
                                                            grads)
            return loss, grads.astype(np.float64)

        with network._threads():
            result = scipy.optimize.minimize(
                loss_and_gradient, network._params.astype(np.float64), method="L-BFGS-B",
                jac=True, options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                   "gtol": self.tol})
        network._params[...] = result.x
        self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        if result.status != 0:
            message = result.message
            if isinstance(message, bytes):
                message = message.decode("latin1")
            warnings.warn(
                "lbfgs failed to converge after %d iteration(s) (status=%d):\n%s\n\n"
                "Increase the number of iterations to improve the convergence (max_iter=%d)."
                % (result.nit, result.status, message, self.max_iter), ConvergenceWarning)

    def _network_outputs(self, X):
        """The network's outputs for checked X of its dtype, dense or sparse."""
        network = self._network
        if sp.issparse(X):
            return _sparse_training.outputs(
                network, _sparse_training.SparseMatrix(X, network.dtype, network.n_features))
        return network._proba(np.ascontiguousarray(X, dtype=network.dtype))

    def _network_predict(self, X):
        """Network.predict's answer (class indices, 0/1 per output, or values) for X."""
        if not sp.issparse(X):
            return self._network.predict(X)
        outputs = self._network_outputs(X)
        if self._network.loss == "cross_entropy":
            return outputs.argmax(axis=1)
        if self._network.loss == "binary_cross_entropy":
            return (outputs > 0.5).astype(np.int64)
        return outputs

    def _expose_parameters(self):
        """coefs_ and intercepts_ as scikit-learn's lists: views of the network's weights."""
        self.coefs_ = self._network.weights
        self.intercepts_ = self._network.biases
        self._exposed = (self.coefs_, list(self.coefs_), self.intercepts_,
                         list(self.intercepts_))

    def _sync_parameters(self):
        """Take in arrays assigned to coefs_ / intercepts_ (or their items) since the last
        fit: scikit-learn's estimators compute with whatever those lists hold, so loading or
        pruning weights by assignment must work here too. They are checked (one array per
        layer, the layer's shape, finite) and copied into the network."""
        coefs, coef_items, intercepts, intercept_items = self._exposed
        if (self.coefs_ is coefs and self.intercepts_ is intercepts
                and all(a is b for a, b in zip(coefs, coef_items))
                and all(a is b for a, b in zip(intercepts, intercept_items))
                and len(coefs) == len(coef_items) and len(intercepts) == len(intercept_items)):
            return
        network = self._network
        new = []
        for name, given, views in (("coefs_", self.coefs_, network.weights),
                                   ("intercepts_", self.intercepts_, network.biases)):
            if not isinstance(given, (list, tuple)) or len(given) != len(views):
                raise ValueError(f"{name} must be a list of {len(views)} arrays, one per layer; "
                                 f"got {type(given).__name__} of length "
                                 f"{len(given) if hasattr(given, '__len__') else '?'}")
            for layer, (array, view) in enumerate(zip(given, views)):
                array = np.asarray(array)
                if array.shape != view.shape or array.dtype.kind not in "biuf":
                    raise ValueError(f"{name}[{layer}] must be a real array of shape "
                                     f"{view.shape}; got {array.dtype} of shape {array.shape}")
                if not np.isfinite(array).all():
                    raise ValueError(f"{name}[{layer}] holds NaN or infinity")
                new.append((view, array))
        for view, array in new:
            view[...] = array
        self._expose_parameters()

    def _fitted_network(self):
        """The network, after taking in any assignment to coefs_ / intercepts_."""
        self._sync_parameters()
        return self._network

    def __getstate__(self):
        state = super().__getstate__()
        if "_network" in state:  # assignments to coefs_ go into the network that is pickled
            self._sync_parameters()
            state = dict(super().__getstate__())  # may be __dict__ itself
            state.pop("_exposed", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_network" in state:  # pickled views come back as copies: point them again
            self._expose_parameters()

    # --- prediction ---

    def to_onnx(self, path=None, *, opset=None):
        """The fitted estimator as an ONNX model, written to path if given.

        Parameters
        ----------
        path : str or path-like, optional
            Where to write the model (atomically); None only returns it.
        opset : int, optional
            The ONNX opset (17 unless given; 13 at the least).

        Returns
        -------
        onnx.ModelProto
            Input "X" (N x n_features, the network's dtype). A classifier's outputs are
            "label", predict's labels (of ``classes_``, not indices; multilabel: the 0/1
            indicator), and "probabilities", predict_proba's; a regressor's "variable",
            predict's values (N x n_outputs).

        Raises
        ------
        ImportError
            Without the onnx package (pip install "cmlp[onnx]").

        Examples
        --------
        >>> model = MLPClassifier(max_iter=5).fit(X, y).to_onnx("mlp.onnx")  # doctest: +SKIP

        To convert a Pipeline holding the estimator, use skl2onnx.to_onnx: cmlp registers
        its converters with skl2onnx.
        """
        from cmlp.onnx import to_model_for_estimator, write_model

        check_is_fitted(self)
        model = to_model_for_estimator(self, opset=opset)
        if path is not None:
            write_model(model, path)
        return model

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 "%s is not stochastic." % self.solver)
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's MLPClassifier, compiled.

    The same constructor parameters, defaults, fitted attributes, convergence rule and
    warnings as ``sklearn.neural_network.MLPClassifier``, over a cmlp Network (a softmax
    output for several classes, one logistic unit for two, a logistic unit per label for
    multilabel targets); every epoch, loss and gradient is cmlp's compiled code. Where it
    differs is in :doc:`/guide/sklearn`.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        The width of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        The hidden layers' activation.
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
        The optimizer: L-BFGS (scipy.optimize.minimize on the compiled loss and
        gradients), SGD with momentum, or Adam.
    alpha : float, default=0.0001
        The L2 penalty, divided by the batch's (weighted) row count.
    batch_size : int or "auto", default="auto"
        Rows per update; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The SGD solver's schedule.
    learning_rate_init : float, default=0.001
        The first learning rate (solvers "sgd" and "adam").
    power_t : float, default=0.5
        The exponent of "invscaling".
    max_iter : int, default=200
        Epochs at most (L-BFGS: iterations).
    shuffle : bool, default=True
        Shuffle the rows every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    tol : float, default=1e-4
        The improvement below which an epoch does not count as one.
    verbose : bool, default=False
        Print the loss of every epoch.
    warm_start : bool, default=False
        Start the next fit from the current weights.
    momentum : float, default=0.9
        The SGD solver's momentum.
    nesterovs_momentum : bool, default=True
        Nesterov's momentum.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their score has not
        improved by ``tol`` for ``n_iter_no_change`` epochs.
    validation_fraction : float, default=0.1
        The rows held out for early stopping.
    beta_1 : float, default=0.9
        Adam's first-moment decay.
    beta_2 : float, default=0.999
        Adam's second-moment decay.
    epsilon : float, default=1e-8
        Adam's epsilon.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    max_fun : int, default=15000
        Loss evaluations at most (L-BFGS).
    dtype : "float32", "float64" or None, default=None
        The precision the network computes in (X is converted to it); cmlp's addition.
        None: X's, as scikit-learn does: float32 data trains in float32, any other in
        float64 (the parameters and outputs follow). "float32" trains float64 data in
        float32, about twice as fast.
    n_threads : int or None, default=None
        Threads cmlp computes with (None: one per CPU); cmlp's addition.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying the sample weights: {label: weight} (labels
        not listed weigh 1), or "balanced", ``n_samples / (n_classes * bincount(y))``.
        "balanced" needs all of y at once, so partial_fit refuses it.
    dropout : float or sequence of float, default=None
        Dropout rates while training (solvers "sgd" and "adam"), as in
        `cmlp.Network.fit`: one for every hidden layer, or the inputs' and each hidden
        layer's. Predictions use none.
    max_norm : float, default=None
        A bound on each hidden unit's incoming weight norm while training.
    augment : str, bool or dict, default=None
        Image augmentation while training ("affine", "elastic", True or a dict of
        `cmlp.augment.Augmenter` arguments; rows must be square images).

    Attributes
    ----------
    classes_ : numpy.ndarray
        The labels, sorted.
    coefs_ : list of numpy.ndarray
        Weights per layer, views of the network's parameters; assigned arrays are checked
        and used (as scikit-learn's). Two classes have one logistic output unit, as in
        scikit-learn.
    intercepts_ : list of numpy.ndarray
        Biases per layer, views of the network's parameters.
    loss_ : float
        The last epoch's loss.
    best_loss_ : float or None
        The lowest loss (None with early stopping).
    loss_curve_ : list of float
        The loss of every epoch.
    validation_scores_ : list of float or None
        The held-out accuracy of every epoch (early stopping).
    validation_loss_curve_ : list of float or None
        The held-out loss of every epoch (early stopping; cmlp's addition).
    best_validation_score_ : float or None
        The best of them.
    n_iter_ : int
        Epochs run by the last fit or partial_fit call.
    t_ : int
        Rows seen by the solver.
    n_layers_ : int
        Layers, inputs and outputs included.
    n_outputs_ : int
        Output units.
    out_activation_ : str
        "softmax", or "logistic" (two classes, multilabel).
    n_features_in_ : int
        Features seen in fit.
    feature_names_in_ : numpy.ndarray
        Their names, for a DataFrame X with string column names.

    Examples
    --------
    >>> from cmlp.datasets import load_sample
    >>> from cmlp.sklearn import MLPClassifier
    >>> X, y = load_sample()
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0)
    >>> clf.fit(X[:2000], y[:2000]).score(X[8000:], y[8000:]) > 0.8  # doctest: +SKIP
    True
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, n_threads=None, class_weight=None, dropout=None,
                 max_norm=None, augment=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_threads = n_threads
        self.dropout = dropout
        self.max_norm = max_norm
        self.augment = augment
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and the labels y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, dense or sparse (CSR/CSC; converted to the network's dtype).
        y : array-like of shape (n_samples,)
            Any labels: strings, integers, a pandas Series.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights (scikit-learn's weighted objective); multiplied by ``class_weight``.

        Returns
        -------
        MLPClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            Bad parameters or data: NaN, sparse or multilabel input, fewer than two classes.

        Examples
        --------
        >>> from cmlp.datasets import load_sample
        >>> from cmlp.sklearn import MLPClassifier
        >>> X, y = load_sample()
        >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3).fit(X[:500], y[:500])
        ... # doctest: +SKIP
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Run one epoch over X and y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, dense or sparse (CSR/CSC; converted to the network's dtype).
        y : array-like of shape (n_samples,)
            The labels.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights.
        classes : array-like, optional
            Every label of every call: needed on the first call.

        Returns
        -------
        MLPClassifier
            The estimator.

        Raises
        ------
        ValueError
            No ``classes`` on the first call, other ``classes`` than before, labels not in them.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp.datasets import load_sample
        >>> from cmlp.sklearn import MLPClassifier
        >>> X, y = load_sample()
        >>> clf = MLPClassifier(hidden_layer_sizes=(16,))
        >>> for start in range(0, 2000, 500):
        ...     clf = clf.partial_fit(X[start:start + 500], y[start:start + 500],
        ...                           classes=np.arange(10))
        """
        first_call = not hasattr(self, "classes_") or not hasattr(self, "_network")
        if first_call:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._set_classes(np.asarray(classes), "classes")
        elif classes is not None and not np.array_equal(
                np.unique(np.asarray(classes)), self.classes_):
            raise ValueError("`classes=%r` is not the same as on last call to partial_fit, "
                             "was: %r" % (classes, self.classes_))
        return self._fit(X, y, sample_weight, incremental=True)

    def _set_classes(self, labels, name):
        check_classification_targets(labels)
        self.classes_ = unique_labels(labels)

    def _validate_input(self, X, y, incremental, reset):
        """X, and y as class indices (n_samples,) or, multilabel, a 0/1 indicator matrix."""
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             accept_sparse=["csr", "csc"],
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind == "multiclass-multioutput":
            raise ValueError("MLPClassifier takes one label per sample or a multilabel "
                             "indicator matrix of 0 and 1; got multiclass-multioutput targets")
        multilabel = kind == "multilabel-indicator"
        if not incremental and (reset or not hasattr(self, "classes_")):
            self._set_classes(y, "y")
            self._output = ("multilabel" if multilabel else
                            "multiclass" if len(self.classes_) > 2 else "binary")
        else:
            classes = unique_labels(y)
            if not incremental and self.warm_start:
                if set(classes.tolist()) != set(self.classes_.tolist()):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_)):
                raise ValueError("`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
            if not hasattr(self, "_output"):  # partial_fit's first call: classes given
                self._output = ("multilabel" if multilabel else
                                "multiclass" if len(self.classes_) > 2 else "binary")
            if multilabel != (self._output == "multilabel"):
                raise ValueError(f"y is {kind} but the network was fitted for "
                                 f"{self._output} targets")
        if multilabel:
            return X, y.astype(np.int32)
        return X, np.searchsorted(self.classes_, y).astype(np.int32)

    def _network_loss(self):
        return "cross_entropy" if self._output == "multiclass" else "binary_cross_entropy"

    def _n_network_outputs(self):
        """scikit-learn's output units: one per class (softmax), one logistic unit for two
        classes (or one), one per label (multilabel)."""
        return len(self.classes_) if self._output != "binary" else 1

    def _network_targets(self, y):
        """Class indices as the network takes them: int32 labels for the softmax, 0/1
        targets (n_samples, n_outputs) for the logistic units."""
        if self._output == "multiclass":
            return y
        if self._output == "binary":
            return (y == 1).astype(np.float64).reshape(-1, 1)
        return y.astype(np.float64)

    def _sample_weight(self, sample_weight, X, y, incremental):
        sample_weight = super()._sample_weight(sample_weight, X, y, incremental)
        if self.class_weight is None:
            return sample_weight
        if self._output == "multilabel":
            raise ValueError("class_weight is not supported for multilabel targets")
        if self.class_weight == "balanced" and incremental:
            raise ValueError("class_weight 'balanced' is not supported for partial_fit: pass "
                             "a dict, e.g. from sklearn.utils.class_weight.compute_class_weight"
                             "('balanced', classes=classes, y=y_all)")
        if isinstance(self.class_weight, dict):
            per_class = np.array([self.class_weight.get(c, 1.0) for c in self.classes_],
                                 dtype=np.float64)
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"class_weight names labels {sorted(unknown, key=str)} "
                                 f"that are not in classes_ {self.classes_.tolist()}")
        else:
            present = np.unique(y)
            per_class = np.ones(len(self.classes_))
            per_class[present] = compute_class_weight(
                "balanced", classes=present, y=y)
        weights = per_class[y]
        return weights if sample_weight is None else weights * sample_weight

    def _score_encoded(self, X, y, sample_weight):
        try:
            predicted = self._network_predict(X)
        except FloatingPointError:  # a diverged network: scikit-learn scores it NaN
            return np.nan
        if self._output == "binary":
            y, predicted = y.ravel(), predicted.ravel()
        return float(accuracy_score(y, predicted, sample_weight=sample_weight))

    def predict(self, X):
        """Predict the labels of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, dense or sparse (CSR/CSC; converted to the network's dtype).

        Returns
        -------
        numpy.ndarray of shape (n_samples,) or (n_samples, n_classes)
            Labels of the type of ``classes_``; for multilabel targets the 0/1 indicator.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before fit.

        Examples
        --------
        >>> from cmlp.datasets import load_sample
        >>> from cmlp.sklearn import MLPClassifier
        >>> X, y = load_sample()
        >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3).fit(X[:500], y[:500])
        ... # doctest: +SKIP
        >>> clf.predict(X[:3])  # doctest: +SKIP
        array([7, 2, 1])
        """
        check_is_fitted(self)
        outputs = self._outputs(X)
        if self._output == "multilabel":
            return (outputs > 0.5).astype(np.int64)
        if self._output == "binary":
            return self.classes_[(outputs[:, 0] > 0.5).astype(np.intp)] \
                if len(self.classes_) == 2 else np.repeat(self.classes_, len(outputs))
        return self.classes_[outputs.argmax(axis=1)]

    def predict_proba(self, X):
        """Class probabilities of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, dense or sparse (CSR/CSC; converted to the network's dtype).

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            The network's dtype, columns in the order of ``classes_`` (two columns for
            one logistic unit, as scikit-learn); for multilabel targets each label's
            probability.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before fit.

        Examples
        --------
        >>> from cmlp.datasets import load_sample
        >>> from cmlp.sklearn import MLPClassifier
        >>> X, y = load_sample()
        >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3).fit(X[:500], y[:500])
        ... # doctest: +SKIP
        >>> clf.predict_proba(X[:3]).shape  # doctest: +SKIP
        (3, 10)
        """
        check_is_fitted(self)
        outputs = self._outputs(X)
        if self._output == "binary":
            return np.hstack([1 - outputs, outputs])
        return outputs

    def _outputs(self, X):
        network = self._fitted_network()
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False,
                          accept_sparse=["csr", "csc"])
        if sp.issparse(X):
            return self._network_outputs(X)
        return network.predict_proba(X)

    def predict_log_proba(self, X):
        """The logarithm of `predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, dense or sparse (CSR/CSC; converted to the network's dtype).

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            Log-probabilities (``-inf`` where a probability is 0).

        Examples
        --------
        >>> from cmlp.datasets import load_sample
        >>> from cmlp.sklearn import MLPClassifier
        >>> X, y = load_sample()
        >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3).fit(X[:500], y[:500])
        ... # doctest: +SKIP
        >>> clf.predict_log_proba(X[:3]).shape  # doctest: +SKIP
        (3, 10)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's MLPRegressor, compiled.

    The same constructor parameters, defaults, fitted attributes, convergence rule and
    warnings as ``sklearn.neural_network.MLPRegressor``, over a cmlp Network (identity
    output with squared error, or exponential output with the Poisson loss), for one
    output or several.

    Parameters
    ----------
    loss : "squared_error" or "poisson", default="squared_error"
        Half the squared error with an identity output, or half the Poisson deviance with
        an exponential output (log link; targets must be non-negative).
    hidden_layer_sizes : array-like of int, default=(100,)
        The width of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        The hidden layers' activation.
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
        The optimizer: L-BFGS (scipy.optimize.minimize on the compiled loss and
        gradients), SGD with momentum, or Adam.
    alpha : float, default=0.0001
        The L2 penalty, divided by the batch's (weighted) row count.
    batch_size : int or "auto", default="auto"
        Rows per update; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The SGD solver's schedule.
    learning_rate_init : float, default=0.001
        The first learning rate (solvers "sgd" and "adam").
    power_t : float, default=0.5
        The exponent of "invscaling".
    max_iter : int, default=200
        Epochs at most (L-BFGS: iterations).
    shuffle : bool, default=True
        Shuffle the rows every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split.
    tol : float, default=1e-4
        The improvement below which an epoch does not count as one.
    verbose : bool, default=False
        Print the loss of every epoch.
    warm_start : bool, default=False
        Start the next fit from the current weights.
    momentum : float, default=0.9
        The SGD solver's momentum.
    nesterovs_momentum : bool, default=True
        Nesterov's momentum.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their score has not
        improved by ``tol`` for ``n_iter_no_change`` epochs.
    validation_fraction : float, default=0.1
        The rows held out for early stopping.
    beta_1 : float, default=0.9
        Adam's first-moment decay.
    beta_2 : float, default=0.999
        Adam's second-moment decay.
    epsilon : float, default=1e-8
        Adam's epsilon.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    max_fun : int, default=15000
        Loss evaluations at most (L-BFGS).
    dtype : "float32", "float64" or None, default=None
        The precision the network computes in (X is converted to it); cmlp's addition.
        None: X's, as scikit-learn does (float32 data in float32, any other in float64).
    n_threads : int or None, default=None
        Threads cmlp computes with (None: one per CPU); cmlp's addition.
    dropout : float or sequence of float, default=None
        Dropout rates while training (solvers "sgd" and "adam"), as in
        `cmlp.Network.fit`: one for every hidden layer, or the inputs' and each hidden
        layer's. Predictions use none.
    max_norm : float, default=None
        A bound on each hidden unit's incoming weight norm while training.
    augment : str, bool or dict, default=None
        Image augmentation while training ("affine", "elastic", True or a dict of
        `cmlp.augment.Augmenter` arguments; rows must be square images).

    Attributes
    ----------
    coefs_ : list of numpy.ndarray
        Weights per layer, views of the network's parameters.
    intercepts_ : list of numpy.ndarray
        Biases per layer.
    loss_ : float
        The last epoch's loss; for several outputs the halved squared error summed over
        them (scikit-learn averages its reported loss over the outputs; the gradients
        agree).
    best_loss_ : float or None
        The lowest loss (None with early stopping).
    loss_curve_ : list of float
        The loss of every epoch.
    validation_scores_ : list of float or None
        The held-out R^2 of every epoch (early stopping).
    validation_loss_curve_ : list of float or None
        The held-out loss of every epoch (early stopping; cmlp's addition).
    best_validation_score_ : float or None
        The best of them.
    n_iter_ : int
        Epochs run by the last fit or partial_fit call.
    t_ : int
        Rows seen by the solver.
    n_layers_ : int
        Layers, inputs and outputs included.
    n_outputs_ : int
        Outputs.
    out_activation_ : str
        "identity", or "exp" (loss="poisson").
    n_features_in_ : int
        Features seen in fit.
    feature_names_in_ : numpy.ndarray
        Their names, for a DataFrame X with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp.sklearn import MLPRegressor
    >>> X = np.random.default_rng(0).random((200, 3))
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0)
    >>> reg.fit(X, X.sum(axis=1)).predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype=None, n_threads=None, dropout=None, max_norm=None,
                 augment=None):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_threads = n_threads
        self.dropout = dropout
        self.max_norm = max_norm
        self.augment = augment

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and the targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, dense or sparse (CSR/CSC; converted to the network's dtype).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights.

        Returns
        -------
        MLPRegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            Bad parameters or data.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp.sklearn import MLPRegressor
        >>> X = np.random.default_rng(0).random((100, 3))
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5).fit(X, X[:, 0])
        ... # doctest: +SKIP
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch over X and y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, dense or sparse (CSR/CSC; converted to the network's dtype).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights.

        Returns
        -------
        MLPRegressor
            The estimator.

        Raises
        ------
        ValueError
            Targets with another number of outputs than before.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp.sklearn import MLPRegressor
        >>> X = np.random.default_rng(0).random((100, 3))
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,)).partial_fit(X, X[:, 0])
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             accept_sparse=["csr", "csc"],
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:  # scikit-learn's warning for a column vector
            y = column_or_1d(y, warn=True)
        y = y.reshape(len(y), -1)
        if not reset and hasattr(self, "_network") and y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y.shape[1]} outputs; the network was fitted with "
                             f"{self.n_outputs_}")
        self._y_shape = y.shape[1]
        return X, y

    def _n_network_outputs(self):
        return self._y_shape

    def _score_encoded(self, X, y, sample_weight):
        try:
            predicted = self._network_predict(X)
        except FloatingPointError:  # a diverged network: scikit-learn scores it NaN
            return np.nan
        if not np.isfinite(predicted).all():
            return np.nan
        return float(r2_score(y, predicted, sample_weight=sample_weight))

    def _network_loss(self):
        return self.loss

    def _network_targets(self, y):
        return y

    def predict(self, X):
        """Predict the targets of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data, dense or sparse (CSR/CSC; converted to the network's dtype).

        Returns
        -------
        numpy.ndarray
            The network's dtype, ``(n_samples,)`` for one output, else
            ``(n_samples, n_outputs)``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before fit.

        Examples
        --------
        >>> import numpy as np
        >>> from cmlp.sklearn import MLPRegressor
        >>> X = np.random.default_rng(0).random((100, 3))
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5).fit(X, X[:, 0])
        ... # doctest: +SKIP
        >>> reg.predict(X[:2]).shape  # doctest: +SKIP
        (2,)
        """
        check_is_fitted(self)
        network = self._fitted_network()
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False,
                          accept_sparse=["csr", "csc"])
        predicted = self._network_outputs(X) if sp.issparse(X) else network.predict(X)
        return predicted.ravel() if predicted.shape[1] == 1 else predicted


# skl2onnx converts pipelines holding these estimators once it is imported.
_skl2onnx.install()
