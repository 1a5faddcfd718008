"""Time one configuration of the peer grid again, its peers alternated in fresh processes.

A grid cell whose ratio sits near its goal is best re-measured this way: each round runs
every peer once, in turn, through the same worker as run.py (benchmarks/worker.py, the
same data, repeats and thread limits), so that a slow spell of the machine falls on all of
them alike.

    python benchmarks/one_cell.py '{"H": 128, "batch": 128, "dtype": "float32", "threads": 2}' \\
        --peers cmlp,jax-scan --rounds 3

Prints each process's median seconds per epoch (mini-batch) or per step (full batch,
"batch" left out).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help='JSON: {"H": ..., "dtype": ..., "threads": ..., '
                                   '"batch": ... (left out: full batch)}')
    ap.add_argument("--peers", default="cmlp,jax-scan",
                    help=f"comma-separated, from {list(run.PEERS)}")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats in each process")
    args = ap.parse_args(argv)
    try:
        config = json.loads(args.config)
    except json.JSONDecodeError as e:
        ap.error(f"config is not JSON: {e}")
    missing = {"H", "dtype", "threads"} - set(config)
    if missing:
        ap.error(f"config needs {sorted(missing)}")
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    if set(peers) - set(run.PEERS):
        ap.error(f"unknown peer: {sorted(set(peers) - set(run.PEERS))}")
    kind = "minibatch" if "batch" in config else "fullbatch"
    cache = tempfile.mkdtemp(prefix="cmlp-cell-")
    try:
        run.cache_mnist(cache)
        env = types.SimpleNamespace(openblas_env="native")
        for r in range(args.rounds):
            for peer in peers:
                spec = run.timed_spec(kind, dict(config, peer=peer), cache, args.repeats,
                                      block_s=0.25)  # run.py's, without --quick
                res = run.run_worker(spec, config["threads"], env, 900)
                if "error" in res:
                    print(f"round {r + 1} {peer}: {res['error']}", flush=True)
                    continue
                print(f"round {r + 1} {peer}: {res['median_s'] * 1e3:.1f} ms, CPU/wall "
                      f"{res.get('cpu_per_wall') or 0:.2f}, other processes "
                      f"{res.get('other_cpu') or 0:.3f}", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
