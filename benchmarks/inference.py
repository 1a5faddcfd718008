"""Inference latency: predict_proba of 1, 10, 100 and 10,000 rows through 784-128-10.

    python benchmarks/inference.py                  # float32, the table and the goals
    python benchmarks/inference.py --dtype float64 --json out.json
    python benchmarks/inference.py --data mnist     # MNIST test rows (CMLP_DATA)

One process, one thread for everyone (numpy's BLAS limited by threadpoolctl, which is fine
here: this process is a benchmark; torch.set_num_threads(1); onnxruntime with one intra-op
thread; cmlp with n_threads=1), the same random weights and rows for all: uniform random
rows, dense, or with --data mnist MNIST's test images, zero in most pixels (cmlp's first
layer leaves out the columns that are zero in every row of a block). The peers take
turns within each repeat, so a disturbance of the shared machine hits them alike; each
figure is the median over the repeats of the mean time per call in a timed block.

Peers:
  cmlp Network   Network.predict_proba(X)  (validation, guard, a new output array)
  cmlp Model     cmlp.inference.Model(net).predict_proba(X, out)  (frozen, packed, out=)
  numpy          the forward pass written by hand: maximum(X @ W1 + b1, 0) @ W2 + b2, softmax
  torch          nn.Sequential under torch.inference_mode(), from a numpy array
  onnxruntime    Network.to_onnx, an InferenceSession on the CPU provider
and, to show where cmlp's time goes, "cmlp floor": Model.predict_proba(X, out) of a
784-2-2 network (the same calls and checks, next to no arithmetic).
Goals (issue 12): one row at most half of numpy and faster than torch; 100 rows at least
level with numpy.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

ROWS = (1, 10, 100, 10_000)
PEERS = ("cmlp Network", "cmlp Model", "cmlp floor", "numpy", "torch", "onnxruntime")


def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    return Z


def make_peers(dtype, sizes, tmpdir):
    """name -> (setup(X) -> call) for every peer available here."""
    from cmlp import Network
    from cmlp.inference import Model

    net = Network(sizes, dtype=dtype, seed=0, n_threads=1)
    rng = np.random.default_rng(1)
    for b in net.biases:
        b[...] = rng.normal(scale=0.1, size=b.shape)
    Ws, bs = [W.copy() for W in net.weights], [b.copy() for b in net.biases]
    model = Model(net)
    floor = Model(Network([sizes[0], 2, 2], dtype=dtype, seed=0))
    peers = {}

    peers["cmlp Network"] = lambda X: (lambda: net.predict_proba(X))

    def model_call(X):
        out = np.empty((len(X), sizes[-1]), dtype)
        return lambda: model.predict_proba(X, out)
    peers["cmlp Model"] = model_call

    def floor_call(X):
        out = np.empty((len(X), 2), dtype)
        return lambda: floor.predict_proba(X, out)
    peers["cmlp floor"] = floor_call

    def numpy_forward(X):
        A = X
        for W, b in zip(Ws[:-1], bs[:-1]):
            A = np.maximum(A @ W + b, 0)
        return _softmax(A @ Ws[-1] + bs[-1])
    peers["numpy"] = lambda X: (lambda: numpy_forward(X))

    versions = {"numpy": np.__version__}
    try:
        import torch
        torch.set_num_threads(1)
        layers = []
        for l, (W, b) in enumerate(zip(Ws, bs)):
            linear = torch.nn.Linear(*W.shape, dtype=getattr(torch, dtype))
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T.copy()))
                linear.bias.copy_(torch.from_numpy(b))
            layers += [linear, torch.nn.ReLU()] if l < len(Ws) - 1 else [linear]
        layers.append(torch.nn.Softmax(dim=1))
        module = torch.nn.Sequential(*layers).eval()

        def torch_call(X):
            def call():
                with torch.inference_mode():
                    return module(torch.from_numpy(X)).numpy()
            return call
        peers["torch"] = torch_call
        versions["torch"] = torch.__version__
    except ImportError:
        pass
    try:
        import onnxruntime as ort
        path = net.to_onnx(os.path.join(tmpdir, "net.onnx"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        peers["onnxruntime"] = lambda X: (
            lambda: session.run(["probabilities"], {"X": X})[0])
        versions["onnxruntime"] = ort.__version__
    except ImportError:
        pass
    # Every peer computes the same probabilities (a wrong peer would be timed for nothing).
    X = np.random.default_rng(2).random((7, sizes[0])).astype(dtype)
    expected = net.predict_proba(X)
    for name, setup in peers.items():
        if name != "cmlp floor":
            got = np.asarray(setup(X)())
            assert np.allclose(got, expected, atol=1e-5), name
    return peers, versions


def _rows(data, n, n_features, dtype):
    """n rows of the benchmark's data: uniform random, or MNIST's test images."""
    if data == "mnist":
        from cmlp.datasets import load_mnist
        X = load_mnist("test", os.environ.get("CMLP_DATA"))[0]
        return np.ascontiguousarray(np.asarray(X)[:n], dtype=dtype)
    return np.random.default_rng(3).random((n, n_features)).astype(dtype)


def measure(dtype="float32", sizes=(784, 128, 10), repeats=15, block_s=0.02, rows=ROWS,
            data="random"):
    import tempfile

    from threadpoolctl import threadpool_info, threadpool_limits

    import cmlp
    from cmlp import _kernels

    results = {"dtype": dtype, "sizes": list(sizes), "data": data, "repeats": repeats,
               "block_s": block_s,
               "threads": 1, "simd": _kernels.simd_path(), "cmlp": cmlp.__version__,
               "python": platform.python_version(), "machine": platform.processor(),
               "figures_us": {}}
    with tempfile.TemporaryDirectory() as tmpdir, threadpool_limits(limits=1):
        peers, versions = make_peers(dtype, list(sizes), tmpdir)
        results["versions"] = versions
        results["blas"] = [f"{lib['internal_api']} {lib['version']} "
                           f"({lib['num_threads']} thread)" for lib in threadpool_info()]
        all_rows = _rows(data, max(rows), sizes[0], dtype)
        for n in rows:
            X = np.ascontiguousarray(all_rows[:n])
            calls = {name: setup(X) for name, setup in peers.items()}
            loops = {}
            for name, call in calls.items():  # warm up; loops per block of about block_s
                call()
                start, count = time.perf_counter(), 0
                while time.perf_counter() - start < block_s / 4 or count < 1:
                    call()
                    count += 1
                loops[name] = max(1, int(4 * count))
            samples = {name: [] for name in calls}
            for _ in range(repeats):
                for name, call in calls.items():
                    k = loops[name]
                    start = time.perf_counter()
                    for _ in range(k):
                        call()
                    samples[name].append((time.perf_counter() - start) / k * 1e6)
            results["figures_us"][str(n)] = {
                name: {"median": float(np.median(s)), "min": float(np.min(s))}
                for name, s in samples.items()}
            print(f"  {n} rows: " + ", ".join(
                f"{name} {np.median(s):.1f}" for name, s in samples.items()) + " us",
                file=sys.stderr, flush=True)
    results["goals"] = goals(results)
    return results


def goals(results):
    fig = results["figures_us"]
    med = lambda n, peer: fig.get(str(n), {}).get(peer, {}).get("median")
    out = []

    def goal(text, value, limit, ok):
        out.append({"goal": text, "measured": value, "limit": limit,
                    "met": None if value is None else ok(value, limit)})

    one, numpy1, torch1 = med(1, "cmlp Network"), med(1, "numpy"), med(1, "torch")
    goal("1 row: cmlp Network / numpy", one / numpy1 if one and numpy1 else None, 0.5,
         lambda v, l: v <= l)
    goal("1 row: cmlp Network / torch", one / torch1 if one and torch1 else None, 1.0,
         lambda v, l: v < l)
    hundred, numpy100 = med(100, "cmlp Network"), med(100, "numpy")
    goal("100 rows: cmlp Network / numpy", hundred / numpy100 if hundred and numpy100 else None,
         1.0, lambda v, l: v <= l)
    return out


def render(results):
    fig = results["figures_us"]
    peers = [p for p in PEERS if any(p in fig[n] for n in fig)]
    lines = [f"Inference, {'-'.join(map(str, results['sizes']))} {results['dtype']}, "
             f"{results.get('data', 'random')} rows, one "
             f"thread each, us per call (median of {results['repeats']} repeats; "
             f"SIMD {results['simd']}; {', '.join(f'{k} {v}' for k, v in results['versions'].items())}):",
             "",
             "| rows | " + " | ".join(peers) + " | numpy / cmlp | torch / cmlp | ort / cmlp |",
             "|---" * (len(peers) + 4) + "|"]
    for n in fig:
        row = fig[n]
        cells = [f"{row[p]['median']:.1f}" if p in row else "-" for p in peers]
        base = row["cmlp Network"]["median"]
        ratios = [f"{row[p]['median'] / base:.2f}" if p in row else "-"
                  for p in ("numpy", "torch", "onnxruntime")]
        lines.append(f"| {int(n):,} | " + " | ".join(cells + ratios) + " |")
    lines += ["", "| goal | measured | limit | met |", "|---|---|---|---|"]
    for g in results["goals"]:
        measured = "-" if g["measured"] is None else f"{g['measured']:.2f}"
        met = "-" if g["met"] is None else ("yes" if g["met"] else "NO")
        lines.append(f"| {g['goal']} | {measured} | {g['limit']} | {met} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--hidden", type=int, nargs="*", default=[128])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--block-s", type=float, default=0.02, help="seconds per timed block")
    ap.add_argument("--data", choices=("random", "mnist"), default="random",
                    help="uniform random rows (dense), or MNIST's test images")
    ap.add_argument("--json", help="write the figures here ('-': to stdout, no table)")
    args = ap.parse_args(argv)
    results = measure(args.dtype, (784, *args.hidden, 10), args.repeats, args.block_s,
                      data=args.data)
    if args.json == "-":
        print("@@RESULT " + json.dumps(results))
        return 0
    print(render(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
