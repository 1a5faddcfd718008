"""One adapter per implementation measured, all with the same small interface.

Each adapter is built for one configuration (hidden width ``H``, dtype, thread count, seed,
learning rate), converts the raw uint8 MNIST arrays into its own layout and dtype in
``prepare`` (outside the timings, but inside the peak-memory figure), and then offers

* ``fullbatch_steps(k)``: ``k`` full-batch gradient-descent steps (forward, backward, update)
  written with that library's own idioms;
* ``epoch(batch_size)``: one shuffled epoch of plain mini-batch SGD;
* ``check()``: a sanity figure (training accuracy) so a broken step cannot look fast.

Thread counts are set by the worker before an adapter is built (threadpoolctl for every BLAS
and OpenMP pool, ``torch.set_num_threads``) and passed to cmlp as ``n_threads``.
``to_accuracy_*`` at the end run the time-to-98% recipe for cmlp and PyTorch.
"""
import importlib
import time

import numpy as np

N_CLASSES = 10
N_FEATURES = 784


def _scaled(X_u8, dtype):
    X = np.empty(X_u8.shape, dtype=dtype)
    np.divide(X_u8, 255.0, out=X, casting="unsafe")
    return X


def module_version(name):
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - a peer that does not import is skipped
        how = ("build and install it: pip install -e ." if name == "cmlp"
               else 'install the extra: pip install "cmlp[bench]"')
        return None, f"{name} not importable ({type(exc).__name__}: {exc}); {how}"
    return getattr(mod, "__version__", "?"), None


# --------------------------------------------------------------------------- numpy (notebook)
class NotebookNumpy:
    """The seed notebook's code (see notebook.py): column-major X (784, m)."""

    library = "numpy"

    def __init__(self, H, dtype, threads, seed, lr):
        import notebook as nb
        self.nb, self.H, self.dtype, self.lr = nb, H, np.dtype(dtype), lr
        np.random.seed(seed)  # the notebook uses numpy's global state
        self.params = nb.init_params(H, self.dtype)

    def prepare(self, X_u8, y):
        # data.T[1:] / 255. in the notebook: an F-contiguous (784, m) array
        self.X = _scaled(X_u8, self.dtype).T
        self.Y = y
        assert self.X.flags.f_contiguous and self.X.shape[0] == N_FEATURES

    def fullbatch_steps(self, k):
        params = self.params
        for _ in range(k):
            params = self.nb.gradient_descent_step(params, self.X, self.Y, self.lr)
        self.params = params

    def epoch(self, batch_size):
        params, X, Y = self.params, self.X, self.Y
        perm = np.random.permutation(Y.size)
        for i in range(0, Y.size, batch_size):
            idx = perm[i:i + batch_size]
            params = self.nb.gradient_descent_step(params, X[:, idx], Y[idx], self.lr,
                                                   n_classes=N_CLASSES)
        self.params = params

    def check(self):
        W1, b1, W2, b2 = self.params
        A2 = self.nb.forward_prop(W1, b1, W2, b2, self.X)[3]
        return {"train_accuracy": float(np.mean(self.nb.get_predictions(A2) == self.Y)),
                "param_dtype": str(W1.dtype)}


# --------------------------------------------------------------------------- cmlp
class Cmlp:
    library = "cmlp"

    def __init__(self, H, dtype, threads, seed, lr):
        from cmlp import Network
        self.net = Network([N_FEATURES, H, N_CLASSES], dtype=np.dtype(dtype).name, seed=seed,
                           n_threads=threads)
        self.dtype, self.lr = np.dtype(dtype), lr
        self.in_fit_step_s = []  # per-epoch times read from hist["elapsed"]

    def prepare(self, X_u8, y):
        self.X = _scaled(X_u8, self.dtype)
        self.y = y

    def _fit(self, **kw):
        hist = self.net.fit(self.X, self.y, learning_rate=self.lr, optimizer="sgd", verbose=0, **kw)
        el = list(hist.get("elapsed", []))
        self.in_fit_step_s.extend(np.diff([0.0] + el)[1:].tolist() if len(el) > 1 else [])
        return hist

    def fullbatch_steps(self, k):
        # batch_size=None: full-batch GD, one epoch = one step; nothing to shuffle in a full batch
        self._fit(epochs=k, batch_size=None, shuffle=False)

    def epoch(self, batch_size):
        self._fit(epochs=1, batch_size=batch_size, shuffle=True)

    def check(self):
        return {"train_accuracy": float(self.net.score(self.X, self.y)),
                "param_dtype": self.dtype.name}


# --------------------------------------------------------------------------- PyTorch
class _TorchBase:
    library = "torch"

    def __init__(self, H, dtype, threads, seed, lr):
        import torch
        self.torch = torch
        torch.manual_seed(seed)
        self.H, self.lr = H, lr
        self.tdtype = {np.dtype("float32"): torch.float32,
                       np.dtype("float64"): torch.float64}[np.dtype(dtype)]
        self.dtype = np.dtype(dtype)
        self.gen = torch.Generator().manual_seed(seed)

    def prepare(self, X_u8, y):
        t = self.torch
        self.X = t.from_numpy(_scaled(X_u8, self.dtype))
        self.y = t.from_numpy(y)

    def epoch(self, batch_size):
        n = self.y.shape[0]
        perm = self.torch.randperm(n, generator=self.gen)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            self._step(self.X[idx], self.y[idx])

    def fullbatch_steps(self, k):
        for _ in range(k):
            self._step(self.X, self.y)


class TorchNN(_TorchBase):
    """PyTorch as its users write it: nn.Sequential, autograd, torch.optim.SGD."""

    def __init__(self, H, dtype, threads, seed, lr):
        super().__init__(H, dtype, threads, seed, lr)
        nn = self.torch.nn
        self.model = nn.Sequential(nn.Linear(N_FEATURES, H), nn.ReLU(),
                                   nn.Linear(H, N_CLASSES)).to(self.tdtype)
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = self.torch.optim.SGD(self.model.parameters(), lr=lr)

    def _step(self, X, y):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(X), y)
        loss.backward()
        self.opt.step()

    def check(self):
        with self.torch.no_grad():
            acc = (self.model(self.X).argmax(1) == self.y).double().mean().item()
        return {"train_accuracy": acc, "param_dtype": str(self.model[0].weight.dtype)}


class TorchOps(_TorchBase):
    """PyTorch as hand-written tensor operations: the DESIGN.md equations, no autograd."""

    def __init__(self, H, dtype, threads, seed, lr):
        super().__init__(H, dtype, threads, seed, lr)
        t = self.torch
        kw = {"dtype": self.tdtype}
        # torch's own (out, in) weight layout, as nn.Linear keeps it: with it the weight
        # gradient is dZ^T X, a shape MKL runs several times faster than X^T dZ for H = 10
        self.W1 = t.randn(H, N_FEATURES, generator=self.gen, **kw) * (2.0 / N_FEATURES) ** 0.5
        self.b1 = t.zeros(H, **kw)
        self.W2 = t.randn(N_CLASSES, H, generator=self.gen, **kw) * (2.0 / H) ** 0.5
        self.b2 = t.zeros(N_CLASSES, **kw)

    def prepare(self, X_u8, y):
        super().prepare(X_u8, y)
        self.Y1 = self.torch.nn.functional.one_hot(self.y, N_CLASSES).to(self.tdtype)

    def grads(self, X, Y1):
        t = self.torch
        n = X.shape[0]
        Z1 = t.addmm(self.b1, X, self.W1.t())
        A1 = t.relu(Z1)
        Z2 = t.addmm(self.b2, A1, self.W2.t())
        dZ2 = t.softmax(Z2, dim=1).sub_(Y1).div_(n)
        dW2 = dZ2.t().mm(A1)
        db2 = dZ2.sum(0)
        dZ1 = dZ2.mm(self.W2).masked_fill_(Z1 <= 0, 0)
        dW1 = dZ1.t().mm(X)
        db1 = dZ1.sum(0)
        return dW1, db1, dW2, db2

    def _sgd(self, X, Y1):
        with self.torch.inference_mode():
            g = self.grads(X, Y1)
            for p, gp in zip((self.W1, self.b1, self.W2, self.b2), g):
                p.add_(gp, alpha=-self.lr)

    def fullbatch_steps(self, k):
        for _ in range(k):
            self._sgd(self.X, self.Y1)

    def epoch(self, batch_size):
        n = self.y.shape[0]
        perm = self.torch.randperm(n, generator=self.gen)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            self._sgd(self.X[idx], self.Y1[idx])

    def predict(self, X):
        with self.torch.inference_mode():
            return self.torch.addmm(self.b2, self.torch.relu(
                self.torch.addmm(self.b1, X, self.W1.t())), self.W2.t()).argmax(1)

    def check(self):
        acc = (self.predict(self.X) == self.y).double().mean().item()
        return {"train_accuracy": acc, "param_dtype": str(self.W1.dtype)}


# --------------------------------------------------------------------------- scikit-learn
class Sklearn:
    """MLPClassifier, solver="sgd", no momentum, no L2, constant learning rate.

    One ``partial_fit`` call is one epoch; with ``batch_size = n`` that is one full-batch step.
    scikit-learn has no dtype switch: it keeps float32 when given float32 input (reported
    as ``param_dtype``).
    """

    library = "sklearn"

    def __init__(self, H, dtype, threads, seed, lr):
        from sklearn.neural_network import MLPClassifier
        self.make = lambda batch_size, shuffle: MLPClassifier(
            hidden_layer_sizes=(H,), activation="relu", solver="sgd", batch_size=batch_size,
            learning_rate="constant", learning_rate_init=lr, momentum=0.0,
            nesterovs_momentum=False, alpha=0.0, max_iter=1, shuffle=shuffle,
            random_state=seed, tol=0.0, early_stopping=False)
        self.dtype = np.dtype(dtype)
        self.clf = None
        self.classes = np.arange(N_CLASSES)

    def prepare(self, X_u8, y):
        self.X = _scaled(X_u8, self.dtype)
        self.y = y

    def fullbatch_steps(self, k):
        if self.clf is None:
            self.clf = self.make(self.y.shape[0], False)
        for _ in range(k):
            self.clf.partial_fit(self.X, self.y, classes=self.classes)

    def epoch(self, batch_size):
        if self.clf is None:
            self.clf = self.make(batch_size, True)
        self.clf.partial_fit(self.X, self.y, classes=self.classes)

    def check(self):
        return {"train_accuracy": float(self.clf.score(self.X, self.y)),
                "param_dtype": str(self.clf.coefs_[0].dtype)}


# --------------------------------------------------------------------------- the weight check
# The correctness column: every peer that can load weights starts from cmlp's initial weights
# (Network(seed=seed).weights), takes one full-batch step over the same rows, and hands back
# its weights as cmlp lays them out: [(W (fan_in, fan_out), b), ...] in numpy.
def cmlp_initial_layers(H, dtype, seed):
    from cmlp import Network
    net = Network([N_FEATURES, H, N_CLASSES], dtype=np.dtype(dtype).name, seed=seed)
    return [(W.copy(), b.copy()) for W, b in zip(net.weights, net.biases)]


def cmlp_one_step(X, y, H, dtype, seed, lr):
    """cmlp's layers after one full-batch SGD step over (X, y) from its initial weights."""
    from cmlp import Network
    net = Network([N_FEATURES, H, N_CLASSES], dtype=np.dtype(dtype).name, seed=seed,
                  n_threads=1)
    net.fit(X, y, epochs=1, learning_rate=lr, batch_size=None, shuffle=False)
    return [(W.copy(), b.copy()) for W, b in zip(net.weights, net.biases)]


def max_difference(layers_a, layers_b):
    return float(max(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
                     for la, lb in zip(layers_a, layers_b) for a, b in zip(la, lb)))


def _torch_nn_layers(model):
    return [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
            for m in (model[0], model[2])]


def _torch_nn_load(torch, model, layers):
    with torch.no_grad():
        for m, (W, b) in zip((model[0], model[2]), layers):
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            m.bias.copy_(torch.from_numpy(b))


def _torch_nn_check(self, X, y, layers):
    _torch_nn_load(self.torch, self.model, layers)
    self._step(self.torch.from_numpy(X), self.torch.from_numpy(y))
    return _torch_nn_layers(self.model)


def _torch_ops_check(self, X, y, layers):
    t = self.torch
    (W1, b1), (W2, b2) = layers
    self.W1, self.b1 = t.from_numpy(np.ascontiguousarray(W1.T)), t.from_numpy(b1.copy())
    self.W2, self.b2 = t.from_numpy(np.ascontiguousarray(W2.T)), t.from_numpy(b2.copy())
    Xt = t.from_numpy(X)
    self._sgd(Xt, t.nn.functional.one_hot(t.from_numpy(y), N_CLASSES).to(self.tdtype))
    return [(self.W1.numpy().T.copy(), self.b1.numpy().copy()),
            (self.W2.numpy().T.copy(), self.b2.numpy().copy())]


TorchNN.check_step = _torch_nn_check
TorchOps.check_step = _torch_ops_check


# --------------------------------------------------------------------------- torch.compile
class TorchCompile(_TorchBase):
    """torch.compile (inductor) of two training steps: nn.Sequential + CrossEntropyLoss +
    torch.optim.SGD (the model and optimizer.step compiled, PyTorch's own recipe), and the
    hand-written step of TorchOps compiled whole. Both are compiled and tried on a few steps
    in ``prepare``; the faster is kept for the timings (``mode`` in the results). Compile
    time (the first calls at every batch shape) is reported apart, as ``compile_s``."""

    def __init__(self, H, dtype, threads, seed, lr):
        super().__init__(H, dtype, threads, seed, lr)
        t = self.torch
        nn = t.nn
        self.H = H
        self.model = nn.Sequential(nn.Linear(N_FEATURES, H), nn.ReLU(),
                                   nn.Linear(H, N_CLASSES)).to(self.tdtype)
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = t.optim.SGD(self.model.parameters(), lr=lr)
        self.compiled_model = t.compile(self.model)
        self.compiled_opt_step = t.compile(self.opt.step)
        self.ops = TorchOps(H, dtype, threads, seed, lr)
        lr_ = lr

        def ops_step(W1, b1, W2, b2, X, Y1):
            n = X.shape[0]
            Z1 = t.addmm(b1, X, W1.t())
            A1 = t.relu(Z1)
            Z2 = t.addmm(b2, A1, W2.t())
            dZ2 = (t.softmax(Z2, dim=1) - Y1) / n
            dW2 = dZ2.t().mm(A1)
            db2 = dZ2.sum(0)
            dZ1 = dZ2.mm(W2).masked_fill(Z1 <= 0, 0)
            dW1 = dZ1.t().mm(X)
            db1 = dZ1.sum(0)
            return W1 - lr_ * dW1, b1 - lr_ * db1, W2 - lr_ * dW2, b2 - lr_ * db2

        self.compiled_ops_step = t.compile(ops_step)
        self.mode = None
        self.compile_s = {}

    def _nn_step(self, X, y):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.compiled_model(X), y)
        loss.backward()
        self.compiled_opt_step()

    def _ops_step(self, X, Y1):
        o = self.ops
        with self.torch.no_grad():
            o.W1, o.b1, o.W2, o.b2 = self.compiled_ops_step(o.W1, o.b1, o.W2, o.b2, X, Y1)

    def prepare(self, X_u8, y):
        super().prepare(X_u8, y)
        self.Y1 = self.torch.nn.functional.one_hot(self.y, N_CLASSES).to(self.tdtype)

    def _batches(self, batch_size):
        n = self.y.shape[0]
        sizes = [n] if batch_size is None else sorted({min(batch_size, n), n % batch_size} - {0})
        return sizes

    def choose(self, batch_size, trials=20):
        """Compile both styles at every batch shape of the run, time a few steps of each,
        keep the faster."""
        times = {}
        for mode in ("nn+optim", "hand-written"):
            t0 = time.perf_counter()
            for rows in self._batches(batch_size):
                self._one(mode, rows)  # compiles
                self._one(mode, rows)  # a second shape recompiles with dynamic shapes
            self.compile_s[mode] = time.perf_counter() - t0
            rows = self._batches(batch_size)[-1]
            k = 3 if batch_size is None else trials
            t0 = time.perf_counter()
            for _ in range(k):
                self._one(mode, rows)
            times[mode] = (time.perf_counter() - t0) / k
        self.mode = min(times, key=times.get)
        self.trial_s = times

    def _one(self, mode, rows, idx=None):
        X = self.X[:rows] if idx is None else self.X[idx]
        if mode == "nn+optim":
            self._nn_step(X, self.y[:rows] if idx is None else self.y[idx])
        else:
            self._ops_step(X, self.Y1[:rows] if idx is None else self.Y1[idx])

    def fullbatch_steps(self, k):
        if self.mode is None:
            self.choose(None)
        for _ in range(k):
            self._one(self.mode, self.y.shape[0])

    def epoch(self, batch_size):
        if self.mode is None:
            self.choose(batch_size)
        n = self.y.shape[0]
        perm = self.torch.randperm(n, generator=self.gen)
        for i in range(0, n, batch_size):
            self._one(self.mode, None, perm[i:i + batch_size])

    def check_step(self, X, y, layers):
        t = self.torch
        Xt = t.from_numpy(X)
        if self.mode == "nn+optim":
            _torch_nn_load(t, self.model, layers)
            self._nn_step(Xt, t.from_numpy(y))
            return _torch_nn_layers(self.model)
        o = self.ops
        (W1, b1), (W2, b2) = layers
        o.W1, o.b1 = t.from_numpy(np.ascontiguousarray(W1.T)), t.from_numpy(b1.copy())
        o.W2, o.b2 = t.from_numpy(np.ascontiguousarray(W2.T)), t.from_numpy(b2.copy())
        self._ops_step(Xt, t.nn.functional.one_hot(t.from_numpy(y), N_CLASSES).to(self.tdtype))
        return [(o.W1.numpy().T.copy(), o.b1.numpy().copy()),
                (o.W2.numpy().T.copy(), o.b2.numpy().copy())]

    def check(self):
        with self.torch.no_grad():
            if self.mode == "nn+optim":
                pred = self.model(self.X).argmax(1)
            else:
                pred = self.ops.predict(self.X)
            acc = (pred == self.y).double().mean().item()
        return {"train_accuracy": acc, "param_dtype": str(self.tdtype), "mode": self.mode,
                "compile_s": self.compile_s, "trial_step_s": self.trial_s}


# --------------------------------------------------------------------------- JAX
class _Jax:
    """JAX with jax.jit: the same equations through jax.grad of the mean cross-entropy, plain
    SGD, weights (fan_in, fan_out). XLA's CPU threads follow the NPROC environment variable
    (run.py sets it with the other thread variables)."""

    library = "jax"

    def __init__(self, H, dtype, threads, seed, lr):
        import jax
        if np.dtype(dtype) == np.float64:
            jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        from jax import lax
        self.jax, self.jnp, self.lax = jax, jnp, lax
        self.dtype, self.lr = np.dtype(dtype), lr
        self.rng = np.random.default_rng(seed)
        self.compile_s = 0.0
        layers = cmlp_initial_layers(H, dtype, seed)  # any start will do for the timings
        self.params = tuple(jnp.asarray(a) for W, b in layers for a in (W, b))

        def loss(params, X, y):
            W1, b1, W2, b2 = params
            A1 = jax.nn.relu(X @ W1 + b1)
            Z = A1 @ W2 + b2
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(Z), y[:, None], axis=1))

        def step(params, X, y):
            g = jax.grad(loss)(params, X, y)
            return tuple(p - lr * gp for p, gp in zip(params, g))

        def step_rows(params, X, y, idx):
            return step(params, X[idx], y[idx])

        def steps(params, X, y, k):
            return lax.fori_loop(0, k, lambda i, p: step(p, X, y), params)

        def scan_epoch(params, X, y, idx2d):
            return lax.scan(lambda p, idx: (step(p, X[idx], y[idx]), None), params, idx2d)[0]

        self.step = jax.jit(step)
        self.step_rows = jax.jit(step_rows)
        self.steps = jax.jit(steps)
        self.scan_epoch = jax.jit(scan_epoch)

    def prepare(self, X_u8, y):
        self.X = self.jnp.asarray(_scaled(X_u8, self.dtype))
        self.y = self.jnp.asarray(y.astype(np.int32))
        self.n = int(y.shape[0])

    def _timed_compile(self, fn, *args):
        t0 = time.perf_counter()
        fn.lower(*args).compile()
        self.compile_s += time.perf_counter() - t0

    def _done(self):
        self.jax.block_until_ready(self.params)

    def check_step(self, X, y, layers):
        params = tuple(self.jnp.asarray(a) for W, b in layers for a in (W, b))
        out = self.step(params, self.jnp.asarray(X), self.jnp.asarray(y.astype(np.int32)))
        out = [np.asarray(a) for a in out]
        return [(out[0], out[1]), (out[2], out[3])]

    def check(self):
        W1, b1, W2, b2 = self.params
        jnp = self.jnp
        pred = jnp.argmax(jnp.maximum(self.X @ W1 + b1, 0) @ W2 + b2, axis=1)
        return {"train_accuracy": float(jnp.mean(pred == self.y)),
                "param_dtype": str(W1.dtype), "compile_s": self.compile_s,
                "devices": [str(d) for d in self.jax.devices()]}


class JaxLoop(_Jax):
    """A Python loop over a jitted step (full batch: the step on all rows; mini-batch: the
    step gathers its rows, X[idx], inside the jitted function)."""

    def fullbatch_steps(self, k):
        if not self.compile_s:
            self._timed_compile(self.step, self.params, self.X, self.y)
        for _ in range(k):
            self.params = self.step(self.params, self.X, self.y)
        self._done()

    def epoch(self, batch_size):
        perm = self.rng.permutation(self.n).astype(np.int32)
        if not self.compile_s:
            for rows in sorted({min(batch_size, self.n), self.n % batch_size} - {0}):
                self._timed_compile(self.step_rows, self.params, self.X, self.y, perm[:rows])
        for i in range(0, self.n, batch_size):
            self.params = self.step_rows(self.params, self.X, self.y, perm[i:i + batch_size])
        self._done()


class JaxScan(_Jax):
    """One XLA program per epoch: lax.scan of the step over the permuted indices, shaped
    (batches, batch_size) (a last, smaller batch takes one jitted step); full batch:
    lax.fori_loop over the k steps."""

    def fullbatch_steps(self, k):
        if not self.compile_s:
            self._timed_compile(self.steps, self.params, self.X, self.y, k)
        self.params = self.steps(self.params, self.X, self.y, k)
        self._done()

    def epoch(self, batch_size):
        perm = self.rng.permutation(self.n).astype(np.int32)
        whole = self.n // batch_size * batch_size
        idx2d = perm[:whole].reshape(-1, batch_size)
        if not self.compile_s:
            self._timed_compile(self.scan_epoch, self.params, self.X, self.y, idx2d)
            if whole < self.n:
                self._timed_compile(self.step_rows, self.params, self.X, self.y, perm[whole:])
        self.params = self.scan_epoch(self.params, self.X, self.y, idx2d)
        if whole < self.n:
            self.params = self.step_rows(self.params, self.X, self.y, perm[whole:])
        self._done()


PEERS = {
    "cmlp": (Cmlp, "cmlp"),
    "numpy": (NotebookNumpy, "numpy"),
    "torch-nn": (TorchNN, "torch"),
    "torch-ops": (TorchOps, "torch"),
    "sklearn": (Sklearn, "sklearn"),
    "torch-compile": (TorchCompile, "torch"),
    "jax-loop": (JaxLoop, "jax"),
    "jax-scan": (JaxScan, "jax"),
}


# --------------------------------------------------------------------------- time to accuracy
def _torch_eval(predict, Xte, yte):
    t0 = time.perf_counter()
    acc = (predict(Xte) == yte).double().mean().item()
    return acc, time.perf_counter() - t0


def cmlp_trajectory(recipe, seed):
    """The initial (W, b) of each layer and a function giving each epoch's row order, as
    ``Network(seed=seed).fit`` draws them: one Generator, the layers' He-normal weights
    first, then one permutation per epoch. PyTorch runs from the same start through the
    same batches, so both reach the target at the same epoch (barring rounding) and the
    time to it compares speed, not the luck of two random streams."""
    from cmlp.initializers import initial_layer
    rng = np.random.default_rng(seed)
    sizes = [N_FEATURES, recipe["hidden"], N_CLASSES]
    layers = [initial_layer(rng, a, b, "he") for a, b in zip(sizes[:-1], sizes[1:])]
    return layers, rng.permutation


def to_accuracy_torch(kind, Xtr, ytr, Xte, yte, recipe, seed):
    """Run the recipe in PyTorch ("nn" = nn.Sequential + torch.optim.Adam, "ops" = tensors +
    hand-written Adam) from cmlp's start and batch order (cmlp_trajectory), stopping at the
    target.  Returns per-epoch test accuracy and times."""
    import torch
    H, lr, bs, dtype = recipe["hidden"], recipe["learning_rate"], recipe["batch_size"], recipe["dtype"]
    b1_, b2_, eps = 0.9, 0.999, 1e-8
    tdt = getattr(torch, dtype)
    layers, permutation = cmlp_trajectory(recipe, seed)
    start = [(torch.from_numpy(W.T.copy()).to(tdt), torch.from_numpy(b).to(tdt))
             for W, b in layers]  # torch keeps weights as (out, in)
    X = torch.from_numpy(_scaled(Xtr, dtype))
    y = torch.from_numpy(ytr)
    Xt = torch.from_numpy(_scaled(Xte, dtype))
    yt = torch.from_numpy(yte)
    n = y.shape[0]
    if kind == "nn":
        nn = torch.nn
        model = nn.Sequential(nn.Linear(N_FEATURES, H), nn.ReLU(), nn.Linear(H, N_CLASSES)).to(tdt)
        with torch.no_grad():
            for layer, (W, b) in zip((model[0], model[2]), start):
                layer.weight.copy_(W)
                layer.bias.copy_(b)
        opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(b1_, b2_), eps=eps)
        loss_fn = nn.CrossEntropyLoss()

        def train_batch(xb, yb):
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()

        def predict(Xq):
            with torch.no_grad():
                return model(Xq).argmax(1)
    else:
        ops = TorchOps(H, dtype, None, seed, lr)
        (ops.W1, ops.b1), (ops.W2, ops.b2) = start
        Y1 = torch.nn.functional.one_hot(y, N_CLASSES).to(tdt)
        params = [ops.W1, ops.b1, ops.W2, ops.b2]
        m = [torch.zeros_like(p) for p in params]
        v = [torch.zeros_like(p) for p in params]
        state = {"t": 0}

        def train_batch(xb, idx):
            with torch.inference_mode():
                g = ops.grads(xb, Y1[idx])
                state["t"] += 1
                t = state["t"]
                bc1, bc2 = 1 - b1_ ** t, 1 - b2_ ** t
                for p, gp, mp, vp in zip(params, g, m, v):
                    mp.mul_(b1_).add_(gp, alpha=1 - b1_)
                    vp.mul_(b2_).addcmul_(gp, gp, value=1 - b2_)
                    denom = (vp.sqrt() / bc2 ** 0.5).add_(eps)
                    p.addcdiv_(mp, denom, value=-lr / bc1)

        predict = ops.predict
    accs, train_s, eval_s = [], [], []
    t_train = 0.0
    decay = recipe.get("lr_decay") if recipe.get("lr_schedule") == "exponential" else None
    sched = None
    if kind == "nn" and decay:
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=decay)
    for epoch in range(recipe["max_epochs"]):
        if kind != "nn":
            lr = recipe["learning_rate"] * (decay ** epoch if decay else 1.0)
        t0 = time.perf_counter()
        perm = torch.from_numpy(permutation(n))
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            train_batch(X[idx], y[idx] if kind == "nn" else idx)
        if sched is not None:
            sched.step()
        t_train += time.perf_counter() - t0
        acc, te = _torch_eval(predict, Xt, yt)
        accs.append(acc)
        train_s.append(t_train)
        eval_s.append(te)
        if acc >= recipe["target"]:
            break
    return {"val_accuracy": accs, "train_elapsed": train_s, "eval_s": eval_s}


class _TargetReached(Exception):
    pass


def to_accuracy_cmlp(Xtr, ytr, Xte, yte, recipe, seed):
    """One ``fit`` with validation data, stopped at the target by raising from cmlp's
    ``callback(epoch, history)`` (the history dict is kept by reference).  ``elapsed``
    includes cmlp's own per-epoch evaluation of the test set; one ``score`` on the test set
    is timed afterwards and subtracted per epoch to estimate training-only time."""
    from cmlp import Network
    dtype = recipe["dtype"]
    X, Xt = _scaled(Xtr, dtype), _scaled(Xte, dtype)
    net = Network([N_FEATURES, recipe["hidden"], N_CLASSES], dtype=dtype, seed=seed,
                  n_threads=recipe["threads"])
    kept = {}

    def stop_at_target(epoch, history):
        kept["h"] = history
        if history["val_accuracy"][-1] >= recipe["target"]:
            raise _TargetReached

    try:
        hist = net.fit(X, ytr, epochs=recipe["max_epochs"], learning_rate=recipe["learning_rate"],
                       batch_size=recipe["batch_size"], shuffle=True, optimizer=recipe["optimizer"],
                       beta1=0.9, beta2=0.999, epsilon=1e-8, validation_data=(Xt, yte),
                       lr_schedule=recipe.get("lr_schedule", "constant"),
                       lr_decay=recipe.get("lr_decay", 0.95),
                       verbose=0, callback=stop_at_target)
    except _TargetReached:
        hist = kept["h"]
    ev = []
    for _ in range(3):
        t0 = time.perf_counter()
        net.score(Xt, yte)
        ev.append(time.perf_counter() - t0)
    e = float(np.median(ev))
    el = [float(x) for x in hist["elapsed"]]
    return {"val_accuracy": [float(a) for a in hist["val_accuracy"]],
            "train_elapsed": [t - e * (i + 1) for i, t in enumerate(el)],
            "elapsed_with_eval": el, "eval_s": [e] * len(el)}
