"""Epoch times with and without dropout, max-norm and augmentation, and against another
checkout of cmlp (the speed of training without the options must not change).

    python benchmarks/options_speed.py                       # this checkout, every case
    python benchmarks/options_speed.py --compare /path/to/other/checkout --rounds 5

Each round runs every case once in a fresh subprocess per checkout, alternating the
checkouts, so both see the same machine load; the report gives per-case medians over the
rounds and the ratio of the two checkouts. Data: the first rows of the MNIST training set
(benchmarks/mnist_idx.py: $CMLP_DATA or ../shared/data/mnist), float32.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)

# name: (layer sizes, batch size or None, threads, rows, epochs timed, fit options)
CASES = {
    "784-128-10 batch 32, 1 thread": ([784, 128, 10], 32, 1, 20000, 1, {}),
    "784-128-10 batch 128, 1 thread": ([784, 128, 10], 128, 1, 20000, 1, {}),
    "784-128-10 batch 128, 2 threads": ([784, 128, 10], 128, 2, 20000, 1, {}),
    "784-128-10 full batch step, 1 thread": ([784, 128, 10], None, 1, 10000, 10, {}),
    "784-128-10 batch 128 dropout 0.2/0.5": ([784, 128, 10], 128, 1, 20000, 1,
                                             {"dropout": [0.2, 0.5]}),
    "784-128-10 batch 128 max-norm 3": ([784, 128, 10], 128, 1, 20000, 1, {"max_norm": 3.0}),
    "784-128-10 batch 128 affine": ([784, 128, 10], 128, 1, 20000, 1, {"augment": "affine"}),
    "784-128-10 batch 128 elastic": ([784, 128, 10], 128, 1, 20000, 1,
                                     {"augment": "elastic"}),
    "784-800-800-10 batch 128, 1 thread": ([784, 800, 800, 10], 128, 1, 5000, 1, {}),
    "784-800-800-10 batch 128 dropout 0.3 max-norm 3.5": (
        [784, 800, 800, 10], 128, 1, 5000, 1, {"dropout": 0.3, "max_norm": 3.5}),
    "784-800-800-10 batch 128 affine": ([784, 800, 800, 10], 128, 1, 5000, 1,
                                        {"augment": "affine"}),
    "784-800-800-10 batch 128 all three": ([784, 800, 800, 10], 128, 1, 5000, 1,
                                           {"dropout": 0.3, "max_norm": 3.5,
                                            "augment": "affine"}),
}


def run_case(name):
    """Seconds per epoch of one case, in this process (the cmlp on sys.path)."""
    import numpy as np

    sys.path.insert(0, HERE)
    import mnist_idx
    from cmlp import Network

    sizes, batch, threads, rows, epochs, options = CASES[name]
    X, y = mnist_idx.load("train", None)
    X = np.ascontiguousarray(X[:rows], dtype=np.float32) / np.float32(255)
    y = y[:rows]
    net = Network(sizes, seed=0, n_threads=threads)
    net.fit(X[:256], y[:256], epochs=1, learning_rate=1e-3, optimizer="adam",
            batch_size=batch, **options)  # warm-up: workspace, imports
    start = time.perf_counter()
    net.fit(X, y, epochs=epochs, learning_rate=1e-3, optimizer="adam", batch_size=batch,
            **options)
    return (time.perf_counter() - start) / epochs


def in_subprocess(checkout, name, supported):
    if not supported and CASES[name][5]:
        return None  # a checkout without the options
    env = dict(os.environ, PYTHONPATH=checkout)
    out = subprocess.run([sys.executable, __file__, "--case", name], env=env, cwd=checkout,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", metavar="CHECKOUT", help="another cmlp checkout, built "
                    "in place, to time beside this one (options its fit lacks are skipped)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", nargs="+", metavar="TEXT",
                    help="cases whose names contain any of these")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    if args.case:
        print(run_case(args.case))
        return
    checkouts = {"this": REPO_ROOT}
    if args.compare:
        checkouts["other"] = os.path.abspath(args.compare)
    names = [n for n in CASES if not args.only or any(t in n for t in args.only)]
    times = {c: {n: [] for n in names} for c in checkouts}
    for r in range(args.rounds):
        for name in names:
            for c, path in (checkouts.items() if r % 2 == 0 else
                            reversed(list(checkouts.items()))):
                t = in_subprocess(path, name, supported=(c == "this"))
                if t is not None:
                    times[c][name].append(t)
                print(f"round {r + 1} {c:5s} {name}: {t}", file=sys.stderr, flush=True)
    base = "784-128-10 batch 128, 1 thread", "784-800-800-10 batch 128, 1 thread"
    print(f"{'case':55s} {'this (s)':>9s}" + (f" {'other (s)':>9s} {'ratio':>6s}"
                                               if args.compare else f" {'vs plain':>8s}"))
    for name in names:
        mine = statistics.median(times["this"][name])
        line = f"{name:55s} {mine:9.3f}"
        if args.compare and times["other"][name]:
            other = statistics.median(times["other"][name])
            line += f" {other:9.3f} {mine / other:6.2f}"
        elif not args.compare:
            plain = next((b for b in base if name.startswith(b.split(" batch")[0])), None)
            if plain in times["this"]:
                line += f" {mine / statistics.median(times['this'][plain]):8.2f}"
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "times": times, "compare": args.compare}, f,
                      indent=1)


if __name__ == "__main__":
    main()
