"""scikit-learn estimators over cmlp.Network: MLPClassifier and MLPRegressor.

Drop-in for sklearn.neural_network's estimators of the same names: the same constructor
parameters (names, defaults, meaning), fitted attributes, convergence rule and warnings.
This layer only validates (sklearn.utils.validation), encodes labels, and runs the
convergence loop one epoch at a time; every epoch, loss and gradient is Network's compiled
code (Network.fit with a persistent OptimizerState; L-BFGS through scipy.optimize.minimize
on the compiled loss and gradients). Added parameters: dtype, n_threads, class_weight.

Where cmlp differs from scikit-learn (documented on the classes):
- Binary classification uses a 2-unit softmax output (out_activation_ "softmax",
  n_outputs_ 2, coefs_[-1] of shape (h, 2)), which gives the same model family as
  scikit-learn's one logistic unit. Multilabel targets raise ValueError.
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
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight, check_is_fitted, column_or_1d, validate_data)

from cmlp.network import Network
from cmlp.optimizers import OptimizerState

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")


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
        "dtype": [StrOptions({"float32", "float64"})],
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
        first_pass = not hasattr(self, "_network") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        sample_weight = self._sample_weight(sample_weight, X, y, incremental)
        rng = check_random_state(self.random_state)
        if first_pass:
            self._initialize(X.shape[1], hidden, rng)
        elif self._network.layer_sizes[1:-1] != hidden:
            raise ValueError(
                f"hidden_layer_sizes changed from {self._network.layer_sizes[1:-1]} to "
                f"{hidden} since the network was built; fit with warm_start=False")
        # Once, in the network's dtype and layout, so no epoch converts them again.
        X = np.ascontiguousarray(X, dtype=self._network.dtype)
        if not is_classifier(self):
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
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.")
        return self

    def _initialize(self, n_features, hidden, rng):
        """A new Network with scikit-learn's initial weights (Glorot uniform, biases too,
        drawn from random_state in its order); its own seed, for the batch order, too."""
        sizes = [n_features] + hidden + [self._n_network_outputs()]
        self._network = Network(sizes, dtype=self.dtype, seed=rng.randint(np.iinfo(np.int32).max),
                                activation=self.activation, n_threads=self.n_threads,
                                loss="cross_entropy" if is_classifier(self) else "squared_error")
        factor = 2.0 if self.activation == "logistic" else 6.0
        for W, b in zip(self._network.weights, self._network.biases):
            bound = np.sqrt(factor / (W.shape[0] + W.shape[1]))
            W[...] = rng.uniform(-bound, bound, W.shape)
            b[...] = rng.uniform(-bound, bound, b.shape)
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(sizes)
        self.n_outputs_ = sizes[-1]
        self.out_activation_ = "softmax" if is_classifier(self) else "identity"
        self._optimizer = None
        self._best_params = self._network._params.copy()
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _sample_weight(self, sample_weight, X, y, incremental):
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        return sample_weight

    def _fit_stochastic(self, X, y, sample_weight, rng, incremental):
        network = self._network
        if not incremental or self._optimizer is None:
            # sklearn's SGD without momentum is plain SGD; with it, (Nesterov) momentum.
            name = "adam" if self.solver == "adam" else "momentum" if self.momentum > 0 else "sgd"
            self._optimizer = OptimizerState(
                name, network.n_params, network.dtype, momentum=self.momentum,
                nesterov=self.nesterovs_momentum, beta1=self.beta_1, beta2=self.beta_2,
                epsilon=self.epsilon)
            self._learning_rate = float(self.learning_rate_init)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.early_stopping:
            stratify = y if is_classifier(self) else None
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
        try:
            # One BLAS limit for all epochs (Network.fit would set it again per epoch).
            with network._threads():
                for _ in range(self.max_iter):
                    history = network.fit(
                        X, y, epochs=1, learning_rate=self._learning_rate,
                        batch_size=batch_size, shuffle=self.shuffle, optimizer=self._optimizer,
                        l2=self.alpha, l2_per_weight=True, sample_weight=sample_weight,
                        dropout=self.dropout, max_norm=self.max_norm, augment=self.augment)
                    self.n_iter_ += 1
                    self.loss_ = float(history["loss"][0])
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

        def loss_and_gradient(params):
            network._params[...] = params
            loss = network._flat_loss_and_gradients(X, labels, objective, self.alpha, grads)
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

    def _expose_parameters(self):
        """coefs_ and intercepts_ as scikit-learn's lists: views of the network's weights."""
        self.coefs_ = self._network.weights
        self.intercepts_ = self._network.biases

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_network" in state:  # pickled views come back as copies: point them again
            self._expose_parameters()

    # --- prediction ---

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 "%s is not stochastic." % self.solver)
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's MLPClassifier, compiled.

    The same constructor parameters, defaults, fitted attributes, convergence rule and
    warnings as ``sklearn.neural_network.MLPClassifier``, over a cmlp Network (softmax
    output, cross-entropy); every epoch, loss and gradient is cmlp's compiled code. Where
    it differs is in :doc:`/guide/sklearn`.

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
    dtype : "float32" or "float64", default="float32"
        The precision the network computes in (X is converted to it); cmlp's addition.
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
        Weights per layer, views of the network's parameters. The output is a softmax for
        two classes too (2 columns), where scikit-learn uses one logistic unit: the same
        model family.
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
    best_validation_score_ : float or None
        The best of them.
    n_iter_ : int
        Epochs run.
    t_ : int
        Rows seen by the solver.
    n_layers_ : int
        Layers, inputs and outputs included.
    n_outputs_ : int
        Output units.
    out_activation_ : str
        "softmax".
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
                 dtype="float32", n_threads=None, class_weight=None, dropout=None,
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
            The data (dense; converted to ``dtype``).
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
            The data (dense; converted to ``dtype``).
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
        classes = np.unique(labels)
        if len(classes) < 2:
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes in the data; "
                             f"{name} holds only one class: {classes[0]!r}")
        self.classes_ = classes

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        kind = type_of_target(y)
        if kind.startswith("multilabel") or kind.startswith("multiclass-multioutput") or y.ndim > 1:
            raise ValueError(f"cmlp's MLPClassifier takes one label per sample; got {kind} "
                             "targets (for multilabel, wrap it in "
                             "sklearn.multioutput.MultiOutputClassifier)")
        check_classification_targets(y)
        if not incremental and (reset or not hasattr(self, "classes_")):
            self._set_classes(y, "y")
        elif incremental or self.warm_start:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(f"y holds labels {unseen.tolist()} not in classes_ "
                                 f"{self.classes_.tolist()}")
        return X, np.searchsorted(self.classes_, y).astype(np.int32)

    def _n_network_outputs(self):
        return len(self.classes_)

    def _sample_weight(self, sample_weight, X, y, incremental):
        sample_weight = super()._sample_weight(sample_weight, X, y, incremental)
        if self.class_weight is None:
            return sample_weight
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
        predicted = self._network.predict(X)
        return accuracy_score(y, predicted, sample_weight=sample_weight)

    def predict(self, X):
        """Predict the labels of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data (dense; converted to ``dtype``).

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
            Labels of the type of ``classes_``.

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
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_proba(self, X):
        """Class probabilities of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data (dense; converted to ``dtype``).

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            float64, columns in the order of ``classes_``.

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
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return self._network.predict_proba(X).astype(np.float64)

    def predict_log_proba(self, X):
        """The logarithm of `predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data (dense; converted to ``dtype``).

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
        tags.classifier_tags.multi_label = False
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's MLPRegressor, compiled.

    The same constructor parameters, defaults, fitted attributes, convergence rule and
    warnings as ``sklearn.neural_network.MLPRegressor``, over a cmlp Network (identity
    output, squared error), for one output or several.

    Parameters
    ----------
    loss : "squared_error", default="squared_error"
        scikit-learn also offers "poisson", which cmlp does not implement.
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
    dtype : "float32" or "float64", default="float32"
        The precision the network computes in (X is converted to it); cmlp's addition.
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
    best_validation_score_ : float or None
        The best of them.
    n_iter_ : int
        Epochs run.
    t_ : int
        Rows seen by the solver.
    n_layers_ : int
        Layers, inputs and outputs included.
    n_outputs_ : int
        Outputs.
    out_activation_ : str
        "identity".
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
        "loss": [StrOptions({"squared_error"})],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype="float32", n_threads=None, dropout=None, max_norm=None,
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
            The data (dense; converted to ``dtype``).
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
            The data (dense; converted to ``dtype``).
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
        return r2_score(y, self._network.predict(X), sample_weight=sample_weight)

    def predict(self, X):
        """Predict the targets of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data (dense; converted to ``dtype``).

        Returns
        -------
        numpy.ndarray
            float64, ``(n_samples,)`` for one output, else ``(n_samples, n_outputs)``.

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
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        predicted = self._network.predict(X).astype(np.float64)
        return predicted.ravel() if predicted.shape[1] == 1 else predicted
