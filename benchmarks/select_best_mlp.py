"""The selection runs of the best-mlp recipe (benchmarks/accuracy.py): each candidate
trains on the first 50,000 MNIST training rows and is scored on the last 10,000 after every
epoch; the test rows are never read. The candidate with the best last-epoch validation
accuracy is the recipe.

    python benchmarks/select_best_mlp.py NAME [NAME ...] > log    # one candidate per process
    python benchmarks/select_best_mlp.py --collect log1 log2 ... --json results/best_mlp_selection.json

Candidates run in parallel processes on one thread each (the machine is shared), each
printing one line per epoch; --collect turns those lines into the JSON record.
"""
import argparse
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

VALIDATION_ROWS = 10000
COMMON = {"layer_sizes": [784, 800, 800, 10], "epochs": 30, "learning_rate": 1e-3,
          "optimizer": "adam", "lr_schedule": "cosine", "batch_size": 128}
CANDIDATES = {
    "A": dict(COMMON, dropout=0.3, max_norm=3.5, augment="affine"),
    "B": dict(COMMON, augment="affine"),
}
LINE = re.compile(r"^(\w+) epoch (\d+) loss (\S+) acc (\S+) val (\S+) t (\d+)")


def run(name):
    import numpy as np

    import mnist_idx
    from cmlp import Network

    config = dict(CANDIDATES[name])
    X, y = mnist_idx.load("train", None)
    X = np.ascontiguousarray(X, dtype=np.float32) / np.float32(255)
    n = X.shape[0] - VALIDATION_ROWS
    net = Network(config.pop("layer_sizes"), seed=0, n_threads=1)
    start = time.perf_counter()

    def progress(epoch, h):
        print(f"{name} epoch {epoch} loss {h['loss'][-1]:.4f} acc {h['accuracy'][-1]:.4f} "
              f"val {h['val_accuracy'][-1]:.4f} t {time.perf_counter() - start:.0f}",
              flush=True)

    net.fit(X[:n], y[:n], validation_data=(X[n:], y[n:]), callback=progress, **config)


def collect(paths):
    runs = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                m = LINE.match(line)
                if m:
                    run = runs.setdefault(m.group(1), {"config": CANDIDATES[m.group(1)],
                                                       "val_accuracy": [], "loss": [],
                                                       "wall_s": 0})
                    run["val_accuracy"].append(float(m.group(5)))
                    run["loss"].append(float(m.group(3)))
                    run["wall_s"] = int(m.group(6))
    for run in runs.values():
        run["last_epoch_val_accuracy"] = run["val_accuracy"][-1]
        run["complete"] = len(run["val_accuracy"]) == run["config"]["epochs"]
    done = {k: r for k, r in runs.items() if r["complete"]}
    chosen = max(done, key=lambda k: done[k]["last_epoch_val_accuracy"]) if done else None
    return {"protocol": f"train on the first {60000 - VALIDATION_ROWS:,} training rows, "
                        f"score the last {VALIDATION_ROWS:,} after every epoch; "
                        "one thread per candidate, seed 0, float32",
            "chosen": chosen, "candidates": runs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=", ".join(CANDIDATES))
    ap.add_argument("--collect", nargs="+", metavar="LOG")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in CANDIDATES]
    if unknown:
        ap.error(f"unknown candidates {unknown}; expected some of {list(CANDIDATES)}")
    if args.collect:
        record = collect(args.collect)
        text = json.dumps(record, indent=1)
        if args.json:
            with open(args.json, "w") as f:
                f.write(text + "\n")
        print(text)
        return
    for name in args.names:
        run(name)


if __name__ == "__main__":
    main()
