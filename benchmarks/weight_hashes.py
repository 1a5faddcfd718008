"""Hashes of the weights after short trainings, to compare two builds bit for bit.

Trains 784-128-10, 784-64-64-10, 784-256-10000 and 784-16384-10 on random data, in float32
and float64, on 1 and 2 threads, at batch 32, 128, 4096 and full batch, with SGD and Adam,
and the first three again on inputs that, like images, are zero in many columns (each row
non-zero in a window of 300 of its 784; 224 trainings, several minutes on 2 cores), and
writes {configuration: sha256 prefix of the weights} to the JSON path given. Run it under each build (PYTHONPATH=<other in-place build>)
and compare the files: equal hashes are equal bits.

    PYTHONPATH=/tmp/main python benchmarks/weight_hashes.py /tmp/main.json
    python benchmarks/weight_hashes.py /tmp/branch.json
"""
import hashlib
import itertools
import json
import sys
import time

import numpy as np
import cmlp
from cmlp import Network

SHAPES = {  # sizes: rows for (small batches, big batches)
    "784-128-10": ([784, 128, 10], 5000, 5000),
    "784-64-64-10": ([784, 64, 64, 10], 5000, 5000),
    "784-256-10000": ([784, 256, 10000], 1200, 4600),
    "784-16384-10": ([784, 16384, 10], 640, 4600),
}


def windowed(X, rng):
    """X with each row zero outside a window of 300 columns starting in its first 300."""
    starts = rng.integers(0, 300, len(X))
    columns = np.arange(X.shape[1])
    return np.where((columns >= starts[:, None]) & (columns < starts[:, None] + 300), X, 0)


out = {}
for name, (sizes, n_small, n_big) in SHAPES.items():
    # Only first layers the tile kernels run skip zero columns (cmlp._kernels.gather_columns).
    for inputs in ("", " sparse-inputs") if sizes[1] <= 256 else ("",):
        for dtype, threads, batch in itertools.product(("float32", "float64"), (1, 2),
                                                       (32, 128, 4096, None)):
            n = n_small if batch in (32, 128) else n_big
            if batch is None and sizes[1] >= 256:
                n = 2048
            r = np.random.default_rng(1)
            X = r.random((n, 784)).astype(dtype)
            y = r.integers(0, sizes[-1], n)
            if inputs:
                X = windowed(X, r)
            for opt in ("sgd", "adam"):
                net = Network(sizes, dtype=dtype, seed=0, n_threads=threads)
                t = time.perf_counter()
                net.fit(X, y, epochs=1 if batch is not None else 2, learning_rate=1e-3,
                        batch_size=batch, optimizer=opt)
                key = f"{name} {dtype} threads={threads} batch={batch or 'full'} {opt}{inputs}"
                out[key] = hashlib.sha256(net._params.tobytes()).hexdigest()[:16]
                print(key, out[key], f"{time.perf_counter() - t:.2f}s", flush=True)
json.dump(out, open(sys.argv[1], "w"), indent=1)
print(cmlp.__file__)
