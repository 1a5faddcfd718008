"""Run one benchmark configuration in this (fresh) process and print its result as JSON.

Usage (run.py does this): ``python benchmarks/worker.py '<json spec>'``.  The last line of
stdout is ``@@RESULT <json>``.  A fresh process per configuration gives clean thread pools and
a peak-memory figure of its own: after the imports and the uint8 data are loaded, the kernel's
high-water mark is reset (``/proc/self/clear_refs``), so ``peak_mb`` is the process's peak
resident set while the adapter converts the data, builds the model and runs, and
``delta_mb`` is that peak minus the resident set at the reset (imports + raw uint8 data).
"""
import importlib
import json
import math
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
try:  # an installed cmlp first; else the checkout this file sits in (built in place)
    import cmlp  # noqa: F401
except ImportError:
    sys.path.append(os.path.dirname(HERE))
    sys.modules.pop("cmlp", None)


def _status_kb():
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmHWM", "VmRSS")):
                    k, v = line.split(":")
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_kb(reset_ok):
    if reset_ok:
        return _status_kb().get("VmHWM")
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu_snapshot():
    """(system busy seconds incl. steal, this process's CPU seconds, wall seconds)."""
    busy = None
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        busy = (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / hz
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return busy, t.user + t.system, time.perf_counter()


def other_cpu(start, end):
    """Fraction of the machine's CPUs used by anything but this process between two
    snapshots (other processes, the kernel's work for them, hypervisor steal): the
    interference a timing suffered.  None where /proc/stat is unavailable."""
    if start[0] is None or end[0] is None:
        return None
    wall = end[2] - start[2]
    if wall <= 0:
        return None
    other = (end[0] - start[0]) - (end[1] - start[1])
    return max(0.0, other / (wall * (os.cpu_count() or 1)))


def blas_info():
    from threadpoolctl import threadpool_info
    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture",
            "threading_layer", "filepath")
    return [{k: d.get(k) for k in keep} for d in threadpool_info()]


def torch_info():
    import torch
    info = {"version": torch.__version__, "num_threads": torch.get_num_threads(),
            "mkl": torch.backends.mkl.is_available(),
            "mkldnn": torch.backends.mkldnn.is_available()}
    try:
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001
        pass
    cfg = torch.__config__.show()
    for key in ("BLAS_INFO", "LAPACK_INFO"):
        if key + "=" in cfg:
            info[key.lower()] = cfg.split(key + "=")[1].split(",")[0]
    return info


def os_threads():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def one_step_check(peer, spec, X_u8, y):
    """The peer's weights after one full-batch SGD step over the first rows of the timed
    shape, from cmlp's initial weights, against cmlp's after the same step: the largest
    absolute difference over every weight and bias."""
    import peers
    dtype = np.dtype(spec["dtype"])
    X = peers._scaled(X_u8, dtype)
    try:
        start = peers.cmlp_initial_layers(spec["H"], dtype, spec.get("seed", 0))
        mine = peer.check_step(X, y, start)
        theirs = peers.cmlp_one_step(X, y, spec["H"], dtype, spec.get("seed", 0), spec["lr"])
    except Exception as exc:  # noqa: BLE001 - reported, not fatal to the timings
        return {"check_error": f"{type(exc).__name__}: {exc}"}
    return {"check_rows": int(X.shape[0]), "check_max_diff": peers.max_difference(mine, theirs)}


def set_threads(t, lib):
    from threadpoolctl import threadpool_limits
    limiter = threadpool_limits(limits=t)  # every BLAS and OpenMP pool loaded so far
    if lib == "torch":
        import torch
        torch.set_num_threads(t)
    return limiter


def load_data(spec):
    cache = spec.get("data_cache")
    if cache:
        X = np.load(os.path.join(cache, "train_X.npy"))
        y = np.load(os.path.join(cache, "train_y.npy"))
        Xt = np.load(os.path.join(cache, "test_X.npy"))
        yt = np.load(os.path.join(cache, "test_y.npy"))
    else:
        import mnist_idx
        X, y = mnist_idx.load("train")
        Xt, yt = mnist_idx.load("test")
    return X, y, Xt, yt


def median(xs):
    return float(np.median(xs)) if xs else float("nan")


def run_timed(spec):
    import peers
    cls, lib = peers.PEERS[spec["peer"]]
    version, note = peers.module_version(lib)
    if version is None:
        return {"skipped": note}
    t = spec["threads"]
    limiter = set_threads(t, lib)  # noqa: F841 - kept alive for the whole run
    X, y, Xt, yt = load_data(spec)
    n = spec["n"]
    X, y = np.ascontiguousarray(X[:n]), np.ascontiguousarray(y[:n])
    check_rows = spec.get("batch") or n  # the correctness check: one step at the timed shape
    X_check, y_check = X[:check_rows].copy(), y[:check_rows].copy()
    reset_ok = reset_peak()
    base_kb = _status_kb().get("VmRSS")
    peer = cls(spec["H"], spec["dtype"], t, spec.get("seed", 0), spec["lr"])
    peer.prepare(X, y)
    del X
    set_threads(t, lib)  # pools a library loaded lazily in its constructor
    repeats = spec["repeats"]
    res = {"version": version}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snap = _cpu_snapshot()
        if spec["kind"] == "fullbatch":
            peer.fullbatch_steps(1)  # warm-up: first call allocates / initialises
            t0 = time.perf_counter()
            peer.fullbatch_steps(1)
            est = time.perf_counter() - t0
            k = int(min(max(1, math.ceil(spec["block_s"] / max(est, 1e-6))), 500))
            peer.fullbatch_steps(k)  # warm-up at the block size
            per_step = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                peer.fullbatch_steps(k)
                per_step.append((time.perf_counter() - t0) / k)
            res.update(steps_per_block=k, per_step_s=per_step, median_s=median(per_step))
        else:
            bs = spec["batch"]
            peer.epoch(bs)  # warm-up epoch
            per_epoch = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                peer.epoch(bs)
                per_epoch.append(time.perf_counter() - t0)
            med = median(per_epoch)
            res.update(per_epoch_s=per_epoch, median_s=med,
                       examples_per_s=n / med if med > 0 else float("nan"))
        end = _cpu_snapshot()
        res["other_cpu"] = other_cpu(snap, end)
        # Thread check: CPU seconds per wall second of the timings (at most the thread count,
        # give or take the warm-up and other work), and the OS threads the process holds.
        res["cpu_per_wall"] = (end[1] - snap[1]) / max(1e-9, end[2] - snap[2])
        res["os_threads"] = os_threads()
        check = peer.check()
        if hasattr(peer, "check_step"):
            res.update(one_step_check(peer, spec, X_check, y_check))
    if getattr(peer, "in_fit_step_s", None):
        res["in_fit_median_s"] = median(peer.in_fit_step_s)
    pk = peak_kb(reset_ok)
    res.update(check, peak_mb=pk / 1024 if pk else None,
               delta_mb=(pk - base_kb) / 1024 if (pk and base_kb and reset_ok) else None,
               blas=blas_info())
    if lib == "torch":
        res["torch"] = torch_info()
    return res


def run_to_accuracy(spec):
    import peers
    lib = "cmlp" if spec["peer"] == "cmlp" else "torch"
    version, note = peers.module_version(lib)
    if version is None:
        return {"skipped": note}
    recipe = spec["recipe"]
    limiter = set_threads(recipe["threads"], lib)  # noqa: F841
    X, y, Xt, yt = load_data(spec)
    reset_ok = reset_peak()
    base_kb = _status_kb().get("VmRSS")
    seed = spec.get("seed", 0)
    snap = _cpu_snapshot()
    t0 = time.perf_counter()
    if lib == "cmlp":
        out = peers.to_accuracy_cmlp(X, y, Xt, yt, recipe, seed)
    else:
        out = peers.to_accuracy_torch(spec["peer"].split("-")[1], X, y, Xt, yt, recipe, seed)
    wall = time.perf_counter() - t0
    out["other_cpu"] = other_cpu(snap, _cpu_snapshot())
    hit = next((i for i, a in enumerate(out["val_accuracy"]) if a >= recipe["target"]), None)
    out.update(version=version, wall_s=wall, epochs_to_target=None if hit is None else hit + 1,
               train_s_to_target=None if hit is None else out["train_elapsed"][hit],
               best_val_accuracy=max(out["val_accuracy"]) if out["val_accuracy"] else None)
    if "elapsed_with_eval" in out and hit is not None:
        out["elapsed_with_eval_to_target"] = out["elapsed_with_eval"][hit]
    elif hit is not None:
        out["elapsed_with_eval_to_target"] = out["train_elapsed"][hit] + sum(out["eval_s"][:hit + 1])
    pk = peak_kb(reset_ok)
    out.update(peak_mb=pk / 1024 if pk else None,
               delta_mb=(pk - base_kb) / 1024 if (pk and base_kb and reset_ok) else None,
               blas=blas_info())
    return out


def run_probe(spec):
    """Versions and BLAS/OpenMP libraries with everything imported."""
    import platform
    out = {"python": platform.python_version(), "platform": platform.platform(),
           "cpu": _cpu_model(), "nproc": os.cpu_count(),
           "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                  "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                  "MKL_NUM_THREADS")},
           "versions": {}, "notes": {}}
    for name in ("numpy", "scipy", "threadpoolctl", "torch", "jax", "jaxlib", "sklearn", "cmlp"):
        import peers
        v, note = peers.module_version(name)
        out["versions"][name] = v
        if note:
            out["notes"][name] = note
    if out["versions"].get("cmlp"):
        import cmlp
        out["cmlp_file"] = getattr(cmlp, "__file__", None)
    if out["versions"].get("torch"):
        out["torch"] = torch_info()
    out["blas"] = blas_info()
    return out


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def run_machine(spec):
    import machine
    out = machine.measure(threads=tuple(spec["threads"]), quick=spec.get("quick", False))
    out["blas"] = blas_info()
    return out


def main():
    spec = json.loads(sys.argv[1])
    kind = spec["kind"]
    try:
        if kind in ("fullbatch", "minibatch"):
            res = run_timed(spec)
        elif kind == "to_accuracy":
            res = run_to_accuracy(spec)
        elif kind == "probe":
            res = run_probe(spec)
        elif kind == "machine":
            res = run_machine(spec)
        else:
            raise ValueError(kind)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the run goes on
        import traceback
        res = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    sys.stdout.write("\n@@RESULT " + json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
