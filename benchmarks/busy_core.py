"""Training speed of the default thread count against n_threads=1, idle and with a core busy.

    python benchmarks/busy_core.py                       # idle, busy, one core (~2-3 min)
    python benchmarks/busy_core.py --env OMP_WAIT_POLICY=passive --conditions busy
    python benchmarks/busy_core.py --data mnist           # MNIST's first rows (CMLP_DATA)

A thread team is only worth it when every member gets a core: with another process spinning
on one of two cores, each barrier waits for a descheduled partner. This starts such a
spinner (a process pinned to the last CPU of this process's affinity mask, burning it) and
measures examples per second of fit, full batch and mini-batch, for the default
n_threads=None and for n_threads=1, each in a fresh subprocess (so libgomp reads --env at
start), in three conditions: idle; busy (the spinner running); one core (the worker pinned
to one CPU, as under `taskset -c 0`). The figure is the median over epochs of examples/s.
The machine must otherwise be quiet: other load shows up as noise in every column.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODES = {"full batch": None, "mini-batch 32": 32}
CONDITIONS = ("idle", "busy", "one core")


def spin(cpu):
    """Burn one CPU until killed."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    while True:
        pass


def worker(config):
    """Train; print the median examples/s over the timed epochs as JSON."""
    if config.get("cpu") is not None:
        os.sched_setaffinity(0, {config["cpu"]})
    import numpy as np
    from cmlp import Network

    rng = np.random.default_rng(0)
    if config["data"] == "mnist":  # zero in many columns, which the first layer skips
        from cmlp.datasets import load_mnist
        X, y = load_mnist("train", os.environ.get("CMLP_DATA"))[:2]
        X, y = np.asarray(X[:config["rows"]], np.float32), np.asarray(y[:config["rows"]])
    else:
        X = rng.random((config["rows"], config["sizes"][0]), dtype=np.float32)
        y = rng.integers(0, config["sizes"][-1], config["rows"])
    net = Network(config["sizes"], seed=0, n_threads=config["threads"])
    rates, start = [], time.perf_counter()
    net.fit(X, y, epochs=1, learning_rate=1e-3, batch_size=config["batch"])  # warm-up
    while len(rates) < 3 or time.perf_counter() - start < config["seconds"]:
        t0 = time.perf_counter()
        net.fit(X, y, epochs=1, learning_rate=1e-3, batch_size=config["batch"])
        rates.append(config["rows"] / (time.perf_counter() - t0))
    print(json.dumps({"rate": statistics.median(rates), "threads": net._kernel_threads()}))


def measure(config, env):
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(config)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="784-128-10")
    parser.add_argument("--rows", type=int, default=12000)
    parser.add_argument("--data", choices=("random", "mnist"), default="random",
                        help="uniform random rows (dense), or MNIST's first rows")
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment of the workers, e.g. OMP_WAIT_POLICY=passive")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))

    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.update(item.split("=", 1) for item in args.env)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    sizes = [int(s) for s in args.sizes.split("-")]
    print(f"{args.sizes}, {args.rows} {args.data} rows float32, CPUs {cpus}, "
          f"env {args.env or 'default'}; "
          f"examples/s, median over epochs (default threads / n_threads=1 = ratio)")
    print("| condition | mode | default (threads) | n_threads=1 | default / 1 |")
    print("|---|---|---|---|---|")
    for condition in args.conditions.split(","):
        spinner = None
        if condition == "busy":
            spinner = subprocess.Popen([sys.executable, "-c",
                                        f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
                                        f"import busy_core; busy_core.spin({cpus[-1]})"])
            time.sleep(0.5)
        try:
            for mode, batch in MODES.items():
                results = {}
                for threads in (None, 1):
                    config = {"sizes": sizes, "rows": args.rows, "data": args.data,
                              "batch": batch,
                              "threads": threads, "seconds": args.seconds,
                              "cpu": cpus[0] if condition == "one core" else None}
                    runs = [measure(config, env) for _ in range(args.repeats)]
                    results[threads] = (statistics.median(r["rate"] for r in runs),
                                        runs[0]["threads"])
                (default, used), (single, _) = results[None], results[1]
                print(f"| {condition} | {mode} | {default:,.0f} ({used}) | {single:,.0f} | "
                      f"{default / single:.2f} |", flush=True)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()


if __name__ == "__main__":
    main()
