"""Fit time of cmlp.sklearn's estimators against scikit-learn's, same data, same parameters,
same thread count.

    python benchmarks/sklearn_estimators.py [--threads 1,2] [--repeats 5] [--mnist-epochs 5]
                                            [--skip-mnist] [--json PATH]

Small data: scikit-learn's bundled data sets (standardised), each estimator with its
defaults (hidden (100,), adam, batch min(200, n), max_iter 200, tol 1e-4) and random_state
0: the whole fit, which stops by the same rule in both (n_iter_ reported, and the time per
epoch, since the two may stop after different epoch counts). MNIST scale: 60,000 x 784
(pixels / 255), the defaults with max_iter=--mnist-epochs and tol=0, so both run exactly
that many epochs. Threads: threadpoolctl limits every BLAS and OpenMP pool of the process
to t, and cmlp gets n_threads=t. Each cell is the median of --repeats fits (MNIST: of
max(1, repeats // 2)); the figures of every repeat go to the JSON file. Both libraries
run in float32 and in float64: each computes in the dtype of X (cmlp's default dtype=None),
and the ratios compare the same dtype.
"""
import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _small_sets():
    from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits, load_iris,
                                  load_wine)
    from sklearn.preprocessing import StandardScaler

    sets = {}
    for name, loader, kind in [("digits", load_digits, "clf"), ("iris", load_iris, "clf"),
                               ("wine", load_wine, "clf"),
                               ("breast_cancer", load_breast_cancer, "clf"),
                               ("diabetes", load_diabetes, "reg")]:
        X, y = loader(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        if kind == "reg":
            y = (y - y.mean()) / y.std()
        sets[name] = (X, y, kind)
    return sets


def _mnist():
    from mnist_idx import load

    X, y = load("train")
    return X.reshape(len(X), -1) / 255.0, y, "clf"


def _estimator(library, kind, dtype, threads, **params):
    if library == "sklearn":
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        return (MLPClassifier if kind == "clf" else MLPRegressor)(random_state=0, **params)
    from cmlp.sklearn import MLPClassifier, MLPRegressor
    return (MLPClassifier if kind == "clf" else MLPRegressor)(
        random_state=0, dtype=dtype, n_threads=threads, **params)


def _time_fit(library, X, y, kind, dtype, threads, params):
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    X = X.astype(dtype)
    model = _estimator(library, kind, dtype, threads, **params)
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        elapsed = time.perf_counter() - start
    return elapsed, model.n_iter_, float(model.score(X, y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mnist-epochs", type=int, default=5)
    parser.add_argument("--skip-mnist", action="store_true")
    parser.add_argument("--json", default="benchmarks/results/sklearn_estimators.json")
    args = parser.parse_args(argv)
    import cmlp
    import sklearn
    from threadpoolctl import threadpool_info

    threads = [int(t) for t in args.threads.split(",")]
    sets = [(name, data, {}, args.repeats) for name, data in _small_sets().items()]
    if not args.skip_mnist:
        sets.append(("mnist", _mnist(), {"max_iter": args.mnist_epochs, "tol": 0.0},
                     max(1, args.repeats // 2)))
    runs = [("sklearn", "float32"), ("sklearn", "float64"), ("cmlp", "float32"),
            ("cmlp", "float64")]
    results = []
    print(f"cmlp {cmlp.__version__}, scikit-learn {sklearn.__version__}, numpy "
          f"{np.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print("BLAS:", ", ".join(sorted({f"{p['internal_api']} {p.get('version')}"
                                     for p in threadpool_info()})))
    for name, (X, y, kind), params, repeats in sets:
        for t in threads:
            for library, dtype in runs:
                times, iters, scores = [], [], []
                for _ in range(repeats):
                    elapsed, n_iter, score = _time_fit(library, X, y, kind, dtype, t, params)
                    times.append(elapsed)
                    iters.append(n_iter)
                    scores.append(score)
                row = {"data": name, "shape": list(X.shape), "threads": t, "library": library,
                       "dtype": dtype, "times": times, "n_iter": iters, "train_score": scores,
                       "median": statistics.median(times),
                       "per_epoch": statistics.median(s / i for s, i in zip(times, iters))}
                results.append(row)
                print(f"{name:14s} t={t} {library:7s} {dtype}: fit {row['median']:.3f} s, "
                      f"{row['per_epoch'] * 1e3:.2f} ms/epoch, n_iter {iters[0]}, "
                      f"train score {scores[0]:.4f}", file=sys.stderr, flush=True)
    print("\n| data | threads | sklearn f32 fit (s) | cmlp f32 fit (s) | ratio f32 | "
          "per epoch f32 | sklearn f64 fit (s) | cmlp f64 fit (s) | ratio f64 | "
          "per epoch f64 | n_iter sk / cmlp f32, f64 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (X, _, _), _, _ in sets:
        for t in threads:
            cell = {(r["library"], r["dtype"]): r for r in results
                    if r["data"] == name and r["threads"] == t}
            sk32, sk64 = cell["sklearn", "float32"], cell["sklearn", "float64"]
            f32, f64 = cell["cmlp", "float32"], cell["cmlp", "float64"]
            print(f"| {name} {X.shape[0]}x{X.shape[1]} | {t} | {sk32['median']:.3f} | "
                  f"{f32['median']:.3f} | {sk32['median'] / f32['median']:.1f}x | "
                  f"{sk32['per_epoch'] / f32['per_epoch']:.1f}x | {sk64['median']:.3f} | "
                  f"{f64['median']:.3f} | {sk64['median'] / f64['median']:.1f}x | "
                  f"{sk64['per_epoch'] / f64['per_epoch']:.1f}x | "
                  f"{sk32['n_iter'][0]} / {f32['n_iter'][0]}, "
                  f"{sk64['n_iter'][0]} / {f64['n_iter'][0]} |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"results": results, "versions": {
        "cmlp": cmlp.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__}},
        indent=1))


if __name__ == "__main__":
    main()
