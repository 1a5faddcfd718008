"""Train a small network with cmlp, predict with cmlp_downstream from several threads at
once (each call releases the GIL), compare with Network.predict; exit 0 only if they agree.

Run from anywhere after installing this package: python check.py
"""
import sys
import threading

import numpy as np

import cmlp
import cmlp_downstream
from cmlp.datasets import load_sample
from cmlp.inference import Model

TOL = {"float32": 1e-5, "float64": 1e-12}
BATCHES = (1, 7, 64, 129, 500)  # rows per call
N_THREADS = 8


def check(dtype):
    X, y = load_sample()
    X, y = X[:3000].astype(dtype), y[:3000]
    net = cmlp.Network([784, 32, 10], dtype=dtype, seed=0, n_threads=1)
    net.fit(X[:2000], y[:2000], epochs=2, learning_rate=0.05, batch_size=64)
    X_test = X[2000:]
    expected_proba = net.predict_proba(X_test)
    expected_labels = net.predict(X_test)
    model = Model(net)

    probs = np.full_like(expected_proba, np.nan)
    labels = np.full(len(X_test), -1, dtype=np.int64)
    errors = []

    slices, start = [], 0
    while start < len(X_test):  # consecutive slices of varied sizes
        stop = min(start + BATCHES[len(slices) % len(BATCHES)], len(X_test))
        slices.append(slice(start, stop))
        start = stop

    def work(t):  # thread t takes every N_THREADS-th slice
        try:
            for rows in slices[t::N_THREADS]:
                cmlp_downstream.predict_proba(model, X_test[rows], probs[rows])
                cmlp_downstream.predict(model, X_test[rows], labels[rows])
        except Exception as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(N_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        print(f"{dtype}: a thread failed: {errors[0]!r}")
        return False
    gap = float(np.max(np.abs(probs - expected_proba)))
    # Labels must agree except where Network's two best probabilities tie within rounding.
    top2 = np.sort(expected_proba, axis=1)[:, -2:]
    tie = top2[:, 1] - top2[:, 0] <= 2 * TOL[dtype]
    wrong = np.flatnonzero((labels != expected_labels) & ~tie)
    accuracy = float(np.mean(labels == y[2000:]))
    print(f"{dtype}: {len(X_test)} rows on {N_THREADS} threads; largest probability "
          f"difference {gap:.2e} (allowed {TOL[dtype]:.0e}); {len(wrong)} labels differ; "
          f"accuracy {accuracy:.3f}")
    return gap <= TOL[dtype] and len(wrong) == 0 and bool(np.all(labels >= 0))


def main():
    print(f"cmlp {cmlp.__version__} from {cmlp.__file__}; cmlp_downstream built against "
          f"ABI {cmlp_downstream.ABI_VERSION}")
    ok = all([check("float32"), check("float64")])
    print("agree" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
