"""How long Ctrl-C takes to stop `Network.fit`, and what an epoch costs, per shape.

For each case a child process trains (for ever); once training is under way the parent
sends it SIGINT and the child reports when its `KeyboardInterrupt` was caught: the latency
is that time minus the time the signal was sent (median and max of --repeats children).
The signal lands at a different point of a batch in each repeat (a wait drawn from a fixed
seed). Each case's epoch time is measured too, in a child of its own (median of --repeats
epochs after one warm-up epoch), so that builds can be compared.

Builds: by default the cmlp this checkout imports; ``--build NAME=PATH`` (repeatable) runs
the children with PATH first on PYTHONPATH (e.g. an in-place build of another commit), the
builds taking turns case by case so that they share the machine's conditions.

    python benchmarks/interrupt_latency.py                      # this checkout
    python benchmarks/interrupt_latency.py --build main=/tmp/main --build branch=.

Prints a table and writes every figure to --json (default
benchmarks/results/interrupt_latency.json). Timings on a busy machine are worth little:
say so when quoting them.
"""
import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name, layer sizes, dtype, rows, batch size (None: full batch), threads
CASES = [
    ("784-16384-10 f64 batch 128", [784, 16384, 10], "float64", 4096, 128, 2),
    ("784-16384-10 f64 full batch", [784, 16384, 10], "float64", 2048, None, 2),
    ("784-8192-10 f32 batch 4096", [784, 8192, 10], "float32", 8192, 4096, 2),
    ("784-256-10000 f32 batch 4096", [784, 256, 10000], "float32", 8192, 4096, 2),
    ("784-256-10000 f32 batch 128", [784, 256, 10000], "float32", 4096, 128, 2),
    ("784-128-10 f32 batch 128", [784, 128, 10], "float32", 20000, 128, 2),
]

CHILD = textwrap.dedent("""
    import json, signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    import numpy as np
    from cmlp import Network

    mode, sizes, dtype, n, batch, threads, repeats = json.loads(sys.argv[1])
    rng = np.random.default_rng(0)
    X = rng.random((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n)
    net = Network(sizes, dtype=dtype, seed=0, n_threads=threads)
    if mode == "speed":
        net.fit(X, y, epochs=1, learning_rate=1e-4, batch_size=batch)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            net.fit(X, y, epochs=1, learning_rate=1e-4, batch_size=batch)
            times.append(time.perf_counter() - start)
        print(json.dumps({"epoch_seconds": times}))
        sys.exit()
    print("training", flush=True)
    try:
        net.fit(X, y, epochs=10**9, learning_rate=1e-4, batch_size=batch)
    except KeyboardInterrupt:
        stopped = time.time()
        usable = bool(np.isfinite(net.predict_proba(X[:5])).all())
        print(json.dumps({"stopped": stopped, "usable": usable}))
""")


def _child(build, args):
    env = dict(os.environ)
    if build is not None:
        env["PYTHONPATH"] = os.path.abspath(build) + os.pathsep + env.get("PYTHONPATH", "")
    # SIGINT at its default disposition in the child, whatever this process inherited
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def latency(build, case, wait):
    _, sizes, dtype, n, batch, threads = case
    child = _child(build, ["latency", sizes, dtype, n, batch, threads, 0])
    try:
        line = child.stdout.readline().strip()
        if line != "training":
            raise RuntimeError(child.stderr.read())
        time.sleep(wait)  # past the first batch's start (workspace, first products)
        sent = time.time()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if child.returncode != 0:
        raise RuntimeError(err)
    report = json.loads(out.strip().splitlines()[-1])
    if not report["usable"]:
        raise RuntimeError("the interrupted network did not predict finite values")
    return report["stopped"] - sent


def epoch_seconds(build, case, repeats):
    _, sizes, dtype, n, batch, threads = case
    child = _child(build, ["speed", sizes, dtype, n, batch, threads, repeats])
    out, err = child.communicate(timeout=1800)
    if child.returncode != 0:
        raise RuntimeError(err)
    return json.loads(out.strip().splitlines()[-1])["epoch_seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", default=[],
                        help="NAME=PATH: children import cmlp from PATH (repeatable)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--speed-repeats", type=int, default=3)
    parser.add_argument("--no-speed", action="store_true", help="latency only")
    parser.add_argument("--only", default="", help="comma-separated case-name substrings")
    parser.add_argument("--json", default=os.path.join(HERE, "results",
                                                       "interrupt_latency.json"))
    args = parser.parse_args()
    builds = [tuple(b.split("=", 1)) for b in args.build] or [("this checkout", None)]
    cases = [c for c in CASES
             if not args.only or any(s in c[0] for s in args.only.split(","))]
    waits = random.Random(0)
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "loadavg_at_start": os.getloadavg()},
               "cases": {}}
    for case in cases:
        entry = results["cases"][case[0]] = {}
        print(case[0], file=sys.stderr, flush=True)
        seconds = {name: [] for name, _ in builds}
        for _ in range(args.repeats):
            wait = 1.0 + waits.random()
            for name, path in builds:  # the builds take turns: the same load for each
                seconds[name].append(latency(path, case, wait))
        for name, path in builds:
            entry[name] = {"latency_seconds": seconds[name],
                           "latency_median": statistics.median(seconds[name]),
                           "latency_max": max(seconds[name])}
            if not args.no_speed:
                epochs = epoch_seconds(path, case, args.speed_repeats)
                entry[name].update(epoch_seconds=epochs,
                                   epoch_median=statistics.median(epochs))
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    header = "| case | build | latency median (s) | latency max (s) | epoch median (s) |"
    print(header)
    print("|" + "---|" * 5)
    for case_name, entry in results["cases"].items():
        for name, r in entry.items():
            epoch = f"{r['epoch_median']:.2f}" if "epoch_median" in r else "-"
            print(f"| {case_name} | {name} | {r['latency_median']:.2f} | "
                  f"{r['latency_max']:.2f} | {epoch} |")
    print(f"load average at start {results['machine']['loadavg_at_start']}, "
          f"at end {results['machine']['loadavg_at_end']}")


if __name__ == "__main__":
    main()
