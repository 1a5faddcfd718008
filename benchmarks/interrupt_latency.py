"""How long Ctrl-C takes to stop `Network.fit`, and what an epoch costs, per shape.

For each case a child process trains once briefly (so that its work buffers exist), then
--repeats times starts a `fit` that would run for ever, with a timer thread that sends the
process SIGINT (as a terminal's Ctrl-C does) 0.5-1.5 s later (delays drawn from a fixed
seed, the same for every build): the latency is the time from the signal to the caught
`KeyboardInterrupt` (median and max). Each case's epoch time is measured too, in a child of
its own (median of --speed-repeats epochs after one warm-up fit), so that builds can be
compared.

Builds: by default this checkout's in-place build; ``--build NAME=PATH`` (repeatable) runs
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
import tempfile
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
    import json, os, signal, sys, threading, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    import numpy as np
    from cmlp import Network

    mode, sizes, dtype, n, batch, threads, repeats, delays = json.loads(sys.argv[1])
    rng = np.random.default_rng(0)
    X = rng.random((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n)
    net = Network(sizes, dtype=dtype, seed=0, n_threads=threads)
    # One short fit first: the timed ones then find their work buffers made (a workspace is
    # kept per batch size) and enter the compiled loop at once.
    warm = n if batch is None else batch
    net.fit(X[:warm], y[:warm], epochs=1, learning_rate=1e-4, batch_size=batch)
    if mode == "speed":
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            net.fit(X, y, epochs=1, learning_rate=1e-4, batch_size=batch)
            times.append(time.perf_counter() - start)
        print(json.dumps({"epoch_seconds": times}))
        sys.exit()
    latencies = []
    for delay in delays:
        sent = []

        def ctrl_c():  # what a terminal's Ctrl-C does: SIGINT to the process
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Timer(delay, ctrl_c)
        timer.start()
        try:
            net.fit(X, y, epochs=10**9, learning_rate=1e-4, batch_size=batch)
        except KeyboardInterrupt:
            latencies.append(time.perf_counter() - sent[0])
        if not np.isfinite(net.predict_proba(X[:5])).all():
            sys.exit("the interrupted network did not predict finite values")
    print(json.dumps({"latencies": latencies}))
""")


def _child(build, args, timeout):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.abspath(build) + os.pathsep + env.get("PYTHONPATH", "")
    # Started elsewhere than here: `python -c` puts its working directory first on sys.path,
    # and a checkout's cmlp there would win over the build asked for. SIGINT at its default
    # disposition in the child, whatever this process inherited.
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], env=env,
                             cwd=tempfile.gettempdir(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out, err = child.communicate(timeout=timeout)
    if child.returncode != 0:
        raise RuntimeError(err)
    return json.loads(out.strip().splitlines()[-1])


def latency(build, case, delays):
    _, sizes, dtype, n, batch, threads = case
    return _child(build, ["latency", sizes, dtype, n, batch, threads, 0, delays],
                  600)["latencies"]


def epoch_seconds(build, case, repeats):
    _, sizes, dtype, n, batch, threads = case
    return _child(build, ["speed", sizes, dtype, n, batch, threads, repeats, []],
                  1800)["epoch_seconds"]


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
    builds = ([tuple(b.split("=", 1)) for b in args.build]
              or [("this checkout", os.path.dirname(HERE))])
    cases = [c for c in CASES
             if not args.only or any(s in c[0] for s in args.only.split(","))]
    waits = random.Random(0)
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "loadavg_at_start": os.getloadavg()},
               "cases": {}}
    for case in cases:
        entry = results["cases"][case[0]] = {}
        print(case[0], file=sys.stderr, flush=True)
        delays = [0.5 + waits.random() for _ in range(args.repeats)]
        seconds = {name: latency(path, case, delays) for name, path in builds}
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
