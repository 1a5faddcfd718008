"""cmlp.sklearn against scikit-learn's MLP on a sparse TF-IDF-shaped matrix: fit time and
peak memory, same data, same parameters, one thread each.

    python benchmarks/sparse_tfidf.py [--rows 20000] [--terms 50000] [--density 0.002]
                                      [--epochs 3] [--dtype float64] [--json PATH]

The matrix is synthesised (no text needed): each document draws its number of distinct
terms from a Poisson law (mean density x terms), the terms themselves from a Zipf-like law
(rank^-1.1, as word frequencies go; a term drawn again adds to its count, and rows are topped
up with new draws until they hold their number of distinct terms, so that the density is the
one asked for), and term counts from 1 + Poisson(0.5); then TF-IDF with
scikit-learn's TfidfTransformer (smooth idf, l2-normalised rows), a CSR matrix.
Labels: 5 classes from a random linear function of the TF-IDF values, so there is signal.
Both fit MLPClassifier(hidden_layer_sizes=(100,), solver="adam", max_iter=--epochs, tol=0,
random_state=0): exactly --epochs epochs each. Each library runs in a fresh subprocess so
that its peak resident memory (ru_maxrss) is its own; the matrix's own size is reported too.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def make_matrix(rows, terms, density, seed=0):
    import numpy as np
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    lengths = np.maximum(1, rng.poisson(density * terms, rows))
    weights = np.arange(1, terms + 1, dtype=np.float64) ** -1.1
    weights /= weights.sum()
    X = sp.csr_matrix((rows, terms))
    missing = lengths
    for _ in range(50):  # Zipf draws repeat frequent terms: redraw until each row has its
        # number of distinct terms (the repeats add to those terms' counts)
        indptr = np.concatenate([[0], np.cumsum(missing)])
        indices = rng.choice(terms, size=int(indptr[-1]), p=weights)
        counts = 1 + rng.poisson(0.5, size=indices.size)
        X = X + sp.csr_matrix((counts.astype(np.float64), indices, indptr),
                              shape=(rows, terms))
        X.sum_duplicates()
        missing = lengths - np.diff(X.indptr)
        if not missing.any():
            break
    X = TfidfTransformer().fit_transform(X).tocsr()
    direction = rng.normal(size=(terms, 5))
    y = np.asarray((X @ direction).argmax(axis=1)).ravel()
    return X, y


def _child(args):
    import warnings

    import numpy as np
    from threadpoolctl import threadpool_limits

    X, y = make_matrix(args.rows, args.terms, args.density)
    X = X.astype(args.dtype)
    if args.library == "sklearn":
        from sklearn.neural_network import MLPClassifier
        model = MLPClassifier(hidden_layer_sizes=(100,), max_iter=args.epochs, tol=0,
                              random_state=0)
    else:
        from cmlp.sklearn import MLPClassifier
        model = MLPClassifier(hidden_layer_sizes=(100,), max_iter=args.epochs, tol=0,
                              random_state=0, n_threads=1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(X, y)
        elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    matrix_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
    print(json.dumps({"library": args.library, "fit_s": elapsed, "n_iter": model.n_iter_,
                      "train_score": float(model.score(X, y)), "peak_rss_mb": peak / 1024,
                      "rss_before_fit_mb": before / 1024, "matrix_mb": matrix_mb,
                      "nnz": int(X.nnz), "density": X.nnz / (X.shape[0] * X.shape[1]),
                      "dense_would_be_mb": X.shape[0] * X.shape[1] * X.dtype.itemsize / 2**20,
                      "dtype": args.dtype}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--terms", type=int, default=50000)
    parser.add_argument("--density", type=float, default=0.002)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--library", help=argparse.SUPPRESS)
    parser.add_argument("--json", default="benchmarks/results/sparse_tfidf.json")
    args = parser.parse_args(argv)
    if args.library:
        return _child(args)
    results = []
    for library in ("sklearn", "cmlp"):
        command = [sys.executable, __file__, "--library", library, "--rows", str(args.rows),
                   "--terms", str(args.terms), "--density", str(args.density),
                   "--epochs", str(args.epochs), "--dtype", args.dtype]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(results[-1], flush=True)
    sk, cm = results
    print(f"\nfit {sk['fit_s']:.2f} s (scikit-learn) / {cm['fit_s']:.2f} s (cmlp) = "
          f"{sk['fit_s'] / cm['fit_s']:.1f}x; peak RSS {sk['peak_rss_mb']:.0f} / "
          f"{cm['peak_rss_mb']:.0f} MB; the matrix {cm['matrix_mb']:.0f} MB "
          f"(dense: {cm['dense_would_be_mb']:.0f} MB)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
