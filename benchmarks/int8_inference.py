"""int8 inference: cmlp's int8 Model against its float32 Model and onnxruntime's
quantize_dynamic, 1 to 10,000 rows, one thread, with the MNIST test accuracy of each.

    python benchmarks/int8_inference.py                       # 784-128-10
    python benchmarks/int8_inference.py --hidden 800 800 --json benchmarks/results/int8_inference_800.json

The network is trained here on the 60,000 MNIST training images (Adam, a few epochs;
$CMLP_DATA or ../shared/data/mnist), then frozen four ways:
  cmlp int8      cmlp.inference.Model(net, quantize="int8").predict_proba(X, out)
  cmlp float32   cmlp.inference.Model(net).predict_proba(X, out)
  ort float32    Network.to_onnx, an InferenceSession (CPU provider, one thread)
  ort int8       onnxruntime.quantization.quantize_dynamic of that ONNX file (its defaults:
                 int8 weights per tensor, u8 activations per call), the same session options
Each peer's accuracy is measured on the 10,000 test images; its latency on the first n test
images for each row count. The peers take turns within each repeat, so a disturbance of a
shared machine hits them alike; each figure is the median over the repeats of the mean time
per call in a timed block. The goal (issue 23): cmlp int8 faster than ort int8 at every row
count.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS = (1, 10, 100, 1000, 10_000)
PEERS = ("cmlp int8", "cmlp float32", "ort int8", "ort float32")


def mnist():
    """((X, y), (X_test, y_test)): pixels / 255 as float32, labels int32."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from mnist_idx import load  # the benchmarks' own reader, independent of cmlp

    def split(name):
        images, labels = load(name)
        return (images / np.float32(255)).astype(np.float32), labels.astype(np.int32)
    return split("train"), split("test")


def make_peers(net, tmpdir):
    from cmlp.inference import Model

    n_out = net.n_classes
    peers, versions = {}, {}
    int8 = Model(net, quantize="int8")
    model = Model(net)

    def cmlp_call(m):
        def setup(X):
            out = np.empty((len(X), n_out), np.float32)
            return lambda: m.predict_proba(X, out)
        return setup
    peers["cmlp int8"] = cmlp_call(int8)
    peers["cmlp float32"] = cmlp_call(model)
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import quantize_dynamic

        fp32 = net.to_onnx(os.path.join(tmpdir, "net.onnx"))
        q8 = os.path.join(tmpdir, "net.int8.onnx")
        quantize_dynamic(fp32, q8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        for name, path in (("ort int8", q8), ("ort float32", fp32)):
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            peers[name] = (lambda s: lambda X: lambda: s.run(["probabilities"], {"X": X})[0])(
                session)
        versions["onnxruntime"] = ort.__version__
    except ImportError:
        print("onnxruntime is not installed: its peers are skipped", file=sys.stderr)
    return peers, versions


def measure(hidden, epochs, repeats, block_s, rows=ROWS):
    from threadpoolctl import threadpool_limits

    import cmlp
    from cmlp import Network, _inference, _kernels

    (X, y), (X_test, y_test) = mnist()
    sizes = [784, *hidden, 10]
    results = {"sizes": sizes, "epochs": epochs, "repeats": repeats, "block_s": block_s,
               "threads": 1, "cmlp": cmlp.__version__, "int8_path": _inference.int8_path(),
               "simd": _kernels.simd_path(), "python": platform.python_version(),
               "machine": platform.processor(), "cpu": _cpu_name(),
               "provisional": True, "figures_us": {}, "accuracy": {}}
    with tempfile.TemporaryDirectory() as tmpdir, threadpool_limits(limits=1):
        net = Network(sizes, seed=0, n_threads=1)
        start = time.perf_counter()
        net.fit(X, y, epochs=epochs, batch_size=128, optimizer="adam", learning_rate=1e-3)
        print(f"trained {sizes} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        peers, versions = make_peers(net, tmpdir)
        results["versions"] = versions
        for name, setup in peers.items():
            proba = np.asarray(setup(X_test)())
            results["accuracy"][name] = float(np.mean(proba.argmax(axis=1) == y_test))
        print("accuracy: " + ", ".join(f"{k} {v:.4f}" for k, v in results["accuracy"].items()),
              file=sys.stderr)
        for n in rows:
            Xn = np.ascontiguousarray(X_test[:n])
            calls = {name: setup(Xn) for name, setup in peers.items()}
            loops = {}
            for name, call in calls.items():  # warm up; loops per block of about block_s
                call()
                begin, count = time.perf_counter(), 0
                while time.perf_counter() - begin < block_s / 4 or count < 1:
                    call()
                    count += 1
                loops[name] = max(1, int(4 * count))
            samples = {name: [] for name in calls}
            for _ in range(repeats):
                for name, call in calls.items():
                    k = loops[name]
                    begin = time.perf_counter()
                    for _ in range(k):
                        call()
                    samples[name].append((time.perf_counter() - begin) / k * 1e6)
            results["figures_us"][str(n)] = {
                name: {"median": float(np.median(s)), "min": float(np.min(s))}
                for name, s in samples.items()}
            print(f"  {n} rows: " + ", ".join(f"{name} {np.median(s):.1f}"
                                             for name, s in samples.items()) + " us",
                  file=sys.stderr, flush=True)
    results["goal"] = goal(results)
    return results


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def goal(results):
    """cmlp int8 / ort int8 per row count (below 1: cmlp faster)."""
    ratios = {}
    for n, row in results["figures_us"].items():
        if "ort int8" in row:
            ratios[n] = row["cmlp int8"]["median"] / row["ort int8"]["median"]
    return {"text": "cmlp int8 faster than onnxruntime quantize_dynamic at every row count",
            "ratios": ratios, "met": bool(ratios) and all(r < 1 for r in ratios.values())}


def render(results):
    fig = results["figures_us"]
    peers = [p for p in PEERS if any(p in fig[n] for n in fig)]
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    lines = [f"int8 inference, {'-'.join(map(str, results['sizes']))}, one thread, us per "
             f"call (median of {results['repeats']} repeats; cmlp int8 kernels "
             f"{results['int8_path']}, float kernels {results['simd']}; {versions}; "
             f"{results['cpu']}). PROVISIONAL: a shared machine.", "",
             "| rows | " + " | ".join(peers) + " | ort int8 / cmlp int8 |",
             "|---" * (len(peers) + 2) + "|"]
    for n in fig:
        row = fig[n]
        cells = [f"{row[p]['median']:.1f}" if p in row else "-" for p in peers]
        ratio = (f"{row['ort int8']['median'] / row['cmlp int8']['median']:.2f}"
                 if "ort int8" in row else "-")
        lines.append(f"| {int(n):,} | " + " | ".join(cells) + f" | {ratio} |")
    accuracy = results["accuracy"]
    lines.append("| MNIST test accuracy | " + " | ".join(
        f"{100 * accuracy[p]:.2f}%" if p in accuracy else "-" for p in peers) + " | |")
    g = results["goal"]
    lines += ["", f"Goal: {g['text']}: {'met' if g['met'] else 'NOT met'}."]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", type=int, nargs="*", default=[128])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--block-s", type=float, default=0.02, help="seconds per timed block")
    ap.add_argument("--json", help="write the figures here (default: "
                                   "benchmarks/results/int8_inference.json)",
                    default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "results", "int8_inference.json"))
    args = ap.parse_args(argv)
    results = measure(args.hidden, args.epochs, args.repeats, args.block_s)
    print(render(results))
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
