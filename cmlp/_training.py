"""The training loop's state, kept between epochs: Network.fit, cmlp.sklearn and the CLI
loop over one Trainer.

A Trainer is made from arrays Network has already validated (X, y, weights in the
network's dtype and layout), holds the work buffers, the gradient buffer, the optimizer's
state and the weights to fall back on, and runs one compiled epoch per ``epoch()`` call.
Nothing is validated, converted or allocated again per epoch: a caller that trains one
epoch at a time (scikit-learn's convergence loop) pays for its checks once per fit.
"""
from contextlib import ExitStack

import numpy as np

from cmlp import dropout as _dropout
from cmlp._settings import Objective

# Rows of _Fallback.check_rows a Ctrl-C looks at (see Trainer.epoch).
_INTERRUPT_CHECK_ROWS = 16


class TrainingDiverged(FloatingPointError):
    """The loss or the weights became NaN or infinite during `Network.fit`.

    `Network.fit` raises it after restoring the newest weights (from before ``fit``, or
    after one of the last two finite epochs) whose predictions are finite; the message says
    which. A smaller learning rate usually helps.

    Examples
    --------
    >>> import numpy as np
    >>> from cmlp import Network, TrainingDiverged
    >>> X = np.random.default_rng(0).random((64, 4), dtype=np.float32)
    >>> y = np.arange(64) % 2
    >>> net = Network([4, 8, 2], seed=0)
    >>> try:
    ...     net.fit(X, y, epochs=5, learning_rate=1e38)
    ... except TrainingDiverged as error:
    ...     print("diverged")
    diverged
    """


class Trainer:
    """One training run over validated data; a context manager holding the work buffers.

    Its caller holds the network's use guard as the writer (Network.fit does, through
    @writes; others call ``network._guard.call_writing("fit", run)``), so that no other
    thread predicts from weights in the middle of an update.

    Parameters
    ----------
    network : cmlp.Network
        The network whose parameters are trained in place.
    X, labels, objective
        Validated data as Network._kernel_args gives them.
    batch_size : int or None
        Rows per update (None: the whole of X, one update per epoch).
    shuffle : bool
        Each epoch takes the rows in a new order drawn from the network's generator.
    optimizer : cmlp.optimizers.OptimizerState
        Moments and step count, carried over from epoch to epoch.
    l2, rates, max_norm, augmenter
        Weight decay, checked dropout rates, max-norm bound (0: none), an Augmenter or None.

    Examples
    --------
    >>> with network._trainer(X, y, batch_size=32) as trainer:  # doctest: +SKIP
    ...     for epoch in range(10):
    ...         loss, n_correct = trainer.epoch(learning_rate=0.1, index=epoch)
    """

    def __init__(self, network, X, labels, objective, *, batch_size, shuffle, optimizer,
                 l2=0.0, rates=(), max_norm=0.0, augmenter=None):
        self.network = network
        self.X, self.labels, self.objective = X, labels, objective
        self.n = X.shape[0]
        self.rows = self.n if batch_size is None else min(batch_size, self.n)
        self.gather = shuffle and self.rows < self.n  # a full batch needs no shuffling
        self.optimizer = optimizer
        self.l2, self.rates, self.max_norm = l2, rates, max_norm
        self.augmenter = augmenter
        self.grads = np.empty_like(network._params)
        self.fallback = _Fallback(network._params, X)
        self._X_epoch = np.empty_like(X) if augmenter is not None else None
        self._stack = None
        self.draw_call_streams()

    def draw_call_streams(self):
        """The random streams a call of Network.fit draws once: the dropout seed and the
        augmentation's generator (drawn only when used, so runs without them keep their
        random stream). cmlp.sklearn draws them again per epoch, as its one-epoch fit
        calls did, so its results stay what they were."""
        rng = self.network._rng
        self.dropout_seed = int(rng.integers(2**63)) if any(self.rates) else 0
        self.augment_rng = rng.spawn(1)[0] if self.augmenter is not None else None

    def __enter__(self):
        network = self.network
        self._stack = ExitStack()
        try:
            self._stack.enter_context(network._threads())
            self.work = self._stack.enter_context(network._workspace(self.rows))
        except BaseException:
            self._stack.close()
            raise
        self._train_epoch = network._epoch_kernel(self.rows, self.work)
        return self

    def __exit__(self, *exc):
        self._stack.close()
        self._stack = None
        return False

    def rows_done(self):
        """The rows of the running (or last) epoch trained on so far, as the compiled loop
        publishes them after each update: read from another thread while epoch() runs."""
        return self.work.rows_done() if self._stack is not None else 0

    def epoch(self, learning_rate, index=0):
        """One pass over the data at learning_rate; returns (mean loss, correct argmax
        predictions). index numbers the epoch for dropout's masks and in messages.

        Raises TrainingDiverged (the weights restored to the newest kept ones whose outputs
        are finite) if the loss or the weights stop being finite; on KeyboardInterrupt the
        weights are those of the last update, or restored likewise if they diverged.
        """
        network, opt = self.network, self.optimizer
        opt.config.learning_rate = learning_rate
        n = self.n
        order = network._rng.permutation(n).astype(np.int64) if self.gather else None
        X_in, labels_in, objective_in = self.X, self.labels, self.objective
        if self.augmenter is not None:  # the epoch's rows, transformed, in its order
            order = np.arange(n, dtype=np.int64) if order is None else order
            self.augmenter.transform(self.X, order, self.augment_rng, out=self._X_epoch,
                                     n_threads=network._kernel_threads())
            X_in, labels_in, objective_in = (
                self._X_epoch, _in_order(self.labels, order),
                _objective_in_order(self.objective, order))
            order = None
        try:
            loss, n_correct = self._train_epoch(
                X_in, labels_in, order, batch_size=self.rows, params=network._params,
                sizes=network._sizes, activation=network._activation_code(), l2=self.l2,
                optimizer=opt.config, state_a=opt.state_a, state_b=opt.state_b,
                workspace=self.work, grads=self.grads, objective=objective_in,
                dropout=_dropout.epoch_plan(self.rates, self.dropout_seed, index),
                max_norm=self.max_norm)
        except KeyboardInterrupt:
            # The kernels stop between updates; an epoch diverging meanwhile must not
            # leave unusable weights behind.
            # A few of the check rows: a blown-up network fails on nearly all of them, and
            # a forward pass over all of them would hold Ctrl-C back on wide layers.
            if not network._forward_is_finite(
                    self.fallback.check_rows[:_INTERRUPT_CHECK_ROWS]):
                network._roll_back(self.fallback)
            raise
        if not (np.isfinite(loss) and np.isfinite(network._params).all()):
            restored = network._roll_back(self.fallback)
            raise TrainingDiverged(
                f"training diverged in epoch {index}: the loss became {loss}; the "
                f"weights were restored to {restored}. Try a smaller learning_rate.")
        self.fallback.keep(network._params, index)
        return loss, n_correct


class _Fallback:
    """Weights to fall back on if training diverges or is interrupted mid-divergence.

    A diverging epoch can end with finite but huge weights (max |w| ~ 9e28 after one wild
    update) whose loss was still finite, since the loss is measured before the update; the
    next epoch's then is NaN. So the start of fit and the ends of the last two finite epochs
    are kept, and a rollback takes the newest whose forward pass on check_rows (up to 512
    rows spread over X: a blown-up network fails on nearly every row) is finite.
    """

    def __init__(self, params, X):
        self.check_rows = np.ascontiguousarray(X[::max(1, X.shape[0] // 512)][:512])
        self._kept = [(params.copy(), "those before fit")]

    def keep(self, params, epoch):
        label = f"those after epoch {epoch}"
        if len(self._kept) == 3:  # the oldest epoch's buffer is reused; fit's start stays
            old, _ = self._kept.pop(1)
            old[...] = params
            self._kept.append((old, label))
        else:
            self._kept.append((params.copy(), label))

    def newest_first(self):
        return reversed(self._kept)


def hold_out_rows(n_rows, n_held, rng):
    """The one way Network.fit (validation_fraction) and the command line (--dev-size) hold
    out validation rows: the first n_held of a permutation of the rows drawn from rng, as the
    seed notebook did. Returns (held-out rows, training rows), index arrays.

    (cmlp.sklearn's early stopping keeps scikit-learn's own stratified train_test_split, so
    that an estimator holds out the rows scikit-learn's would for the same random_state.)
    """
    order = rng.permutation(n_rows)
    return order[:n_held], order[n_held:]


def _in_order(values, order):
    return None if values is None else np.ascontiguousarray(values[order])


def _objective_in_order(objective, order):
    """The Objective (see Network._kernel_args) with its per-row arrays in order."""
    if objective is None:
        return None
    return Objective(objective.loss, _in_order(objective.targets, order),
                     _in_order(objective.sample_weight, order),
                     l2_per_weight=objective.l2_per_weight)
