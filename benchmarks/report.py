"""Turn the results of run.py into markdown tables and target checks (no measuring here)."""
import math
import os
import statistics

import machine

PEERS = ["cmlp", "numpy", "torch-nn", "torch-ops", "sklearn", "torch-compile", "jax-loop",
         "jax-scan"]
PEER_TITLES = {"cmlp": "cmlp", "numpy": "numpy (notebook)", "torch-nn": "torch nn+optim",
               "torch-ops": "torch tensor ops", "sklearn": "sklearn MLP",
               "torch-compile": "torch.compile", "jax-loop": "JAX jit (loop)",
               "jax-scan": "JAX jit (scan)"}
# The peers cmlp is held to (the "best peer"): eager PyTorch, torch.compile, JAX.
STRONG_PEERS = ("torch-nn", "torch-ops", "torch-compile", "jax-loop", "jax-scan")
GOAL_OVER_BEST = 1.2


# --------------------------------------------------------------------------- small helpers
def describe(c):
    parts = [c["peer"]]
    if "H" in c:
        parts.append(f"H={c['H']}")
    if "batch" in c:
        parts.append(f"batch={c['batch']}")
    parts += [c["dtype"], f"{c['threads']}thr"]
    return " ".join(parts)


def short(res):
    if "skipped" in res:
        return "skipped"
    if "error" in res:
        return "ERROR " + res["error"][:200]
    if "examples_per_s" in res:
        return f"{res['examples_per_s']:.0f} ex/s (acc {res.get('train_accuracy', float('nan')):.3f})"
    return f"{res['median_s'] * 1e3:.2f} ms/step (acc {res.get('train_accuracy', float('nan')):.3f})"


def short_acc(res):
    if "skipped" in res or "error" in res:
        return short(res)
    return (f"epochs {res.get('epochs_to_target')}, train {_f(res.get('train_s_to_target'), 1)} s, "
            f"best acc {res.get('best_val_accuracy')}")


def _ok(res):
    return res is not None and "error" not in res and "skipped" not in res


def _f(x, nd=2):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{nd}f}"


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _index(results, section):
    idx = {}
    for r in results.get(section, []) or []:
        c = r["config"]
        key = (c["peer"], c.get("H"), c.get("batch"), c["dtype"], c["threads"])
        idx[key] = r
    return idx


BUSY_MARK = {"threshold": 0.05}


def _cell(res, value):
    if res is None:
        return "–"
    if "skipped" in res:
        return "n/a"
    if "error" in res:
        return "err"
    mark = "*" if (res.get("other_cpu") or 0) > BUSY_MARK["threshold"] else ""
    return value(res) + mark


def _peers_present(idx):
    return [p for p in PEERS if any(k[0] == p for k in idx)]


def _limits(results):
    m = results.get("machine")
    return m if _ok(m) else None


# --------------------------------------------------------------------------- bounds
def fullbatch_bound(results, H, dtype, threads, n=10000):
    lim = _limits(results)
    return machine.step_bound_s(lim, n, H, dtype, threads)[0] if lim else None


def minibatch_bound_eps(results, H, dtype, threads, n=60000):
    lim = _limits(results)
    return n / machine.step_bound_s(lim, n, H, dtype, threads)[0] if lim else None


def _best_torch(idx, key_rest, what="median_s"):
    vals = []
    for p in ("torch-nn", "torch-ops"):
        r = idx.get((p,) + key_rest)
        if _ok(r):
            vals.append((r[what], p))
    if not vals:
        return None, None
    return (min(vals) if what == "median_s" else max(vals))


def _best_peer(idx, key_rest, what="median_s"):
    """(value, peer) of the best of STRONG_PEERS: the least median_s, or the most
    examples_per_s."""
    vals = [(idx[(p,) + key_rest][what], p) for p in STRONG_PEERS if _ok(idx.get((p,) + key_rest))]
    if not vals:
        return None, None
    return min(vals) if what == "median_s" else max(vals)


def _median_s(idx, key):
    r = idx.get(key)
    return r["median_s"] if _ok(r) else None


# --------------------------------------------------------------------------- targets
def targets(results):
    out = []
    fb = _index(results, "fullbatch")
    mb = _index(results, "minibatch")

    def add(name, config, value, goal, kind):
        met = None if value is None else (value >= goal if kind == ">=" else value <= goal)
        out.append({"target": name, "config": config, "measured": value,
                    "goal": f"{kind} {goal}", "met": met})

    for t, goal in ((1, 3.0), (2, 5.5)):
        c = _median_s(fb, ("cmlp", 10, None, "float32", t))
        nb = _median_s(fb, ("numpy", 10, None, "float64", t))
        add("H=10 full batch: notebook float64 step / cmlp float32 step",
            f"{t} thread(s) each", _ratio(nb, c), goal, ">=")
    for t in (1, 2):
        c = _median_s(fb, ("cmlp", 10, None, "float32", t))
        bt, who = _best_torch(fb, (10, None, "float32", t))
        add("H=10 full batch: best PyTorch / cmlp", f"float32, {t} thr (vs {who})",
            _ratio(bt, c), 1.4, ">=")
    for H in (128, 800):
        for dt in ("float32", "float64"):
            for t in (1, 2):
                c = _median_s(fb, ("cmlp", H, None, dt, t))
                if c is None:
                    continue
                bt, who = _best_torch(fb, (H, None, dt, t))
                add(f"H={H} full batch: best PyTorch / cmlp (level)", f"{dt}, {t} thr (vs {who})",
                    _ratio(bt, c), 1.0, ">=")
                b = fullbatch_bound(results, H, dt, t)
                add(f"H={H} full batch: cmlp / machine bound", f"{dt}, {t} thr",
                    _ratio(c, b), 1.3, "<=")
    for H, dt, t in sorted({(k[1], k[3], k[4]) for k in fb if k[0] == "cmlp"}):
        c = _median_s(fb, ("cmlp", H, None, dt, t))
        bp, who = _best_peer(fb, (H, None, dt, t))
        if bp is not None:
            add(f"H={H} full batch: best peer / cmlp", f"{dt}, {t} thr (vs {who})",
                _ratio(bp, c), GOAL_OVER_BEST, ">=")
    for H, bs, dt, t in sorted({(k[1], k[2], k[3], k[4]) for k in mb if k[0] == "cmlp"}):
        r = mb.get(("cmlp", H, bs, dt, t))
        bp, who = _best_peer(mb, (H, bs, dt, t), what="examples_per_s")
        if _ok(r) and bp is not None:
            add(f"H={H} batch {bs}: cmlp / best peer examples/s", f"{dt}, {t} thr (vs {who})",
                _ratio(r["examples_per_s"], bp), GOAL_OVER_BEST, ">=")
        one = mb.get(("cmlp", H, bs, dt, 1))
        if t > 1 and _ok(r) and _ok(one):
            add(f"H={H} batch {bs}: cmlp {t} threads / 1 thread examples/s", dt,
                _ratio(r["examples_per_s"], one["examples_per_s"]), 1.0, ">=")
    r = mb.get(("cmlp", 128, 32, "float32", 1))
    bt, who = _best_torch(mb, (128, 32, "float32", 1), what="examples_per_s")
    add("mini-batch H=128 batch 32: cmlp / best PyTorch examples/s", f"float32, 1 thr (vs {who})",
        _ratio(r["examples_per_s"], bt) if _ok(r) and bt else None, 1.6, ">=")
    acc = time_to_acc_summary(results)
    c = acc.get("cmlp", {}).get("train_s")
    tb = [(acc[p]["train_s"], p) for p in ("torch-nn", "torch-ops")
          if acc.get(p, {}).get("train_s") is not None]
    best = min(tb) if tb else (None, None)
    add("time to 98%: cmlp / best PyTorch (training time, median over seeds)",
        f"vs {best[1]}", _ratio(c, best[0]), 0.5, "<=")
    return out


def time_to_acc_summary(results):
    by = {}
    for r in results.get("time_to_accuracy", []) or []:
        by.setdefault(r["config"]["peer"], []).append(r)
    out = {}
    for p, rs in by.items():
        ok = [r for r in rs if _ok(r)]
        hit = [r for r in ok if r.get("train_s_to_target") is not None]
        out[p] = {
            "runs": len(rs), "reached": len(hit),
            "epochs": [r.get("epochs_to_target") for r in ok],
            "train_s": statistics.median([r["train_s_to_target"] for r in hit]) if hit else None,
            "with_eval_s": statistics.median([r["elapsed_with_eval_to_target"] for r in hit])
            if hit else None,
            "s_per_epoch": statistics.median([r["train_elapsed"][-1] / len(r["train_elapsed"])
                                              for r in ok if r.get("train_elapsed")]) if ok else None,
            "best_acc": max((r.get("best_val_accuracy") or 0) for r in ok) if ok else None,
            "peak_mb": max((r.get("peak_mb") or 0) for r in ok) if ok else None,
            "delta_mb": max((r.get("delta_mb") or 0) for r in ok) if ok else None,
            "note": next((r.get("skipped") or r.get("error") for r in rs if not _ok(r)), None),
        }
    return out


# --------------------------------------------------------------------------- rendering
def _owner(b):
    """Which package ships a library, from its path (numpy.libs/, scipy.libs/, torch/lib/)."""
    parts = (b.get("filepath") or "").replace("\\", "/").split("/")
    for i in range(len(parts) - 2, 0, -1):
        if parts[i].endswith(".libs"):
            return parts[i][:-5]
        if parts[i] == "lib":
            return parts[i - 1]
    return "?"


def _header(results):
    meta = results["meta"]
    probe = meta.get("probe", {})
    lines = [f"# cmlp benchmarks ({meta.get('started')}, {_f(meta.get('duration_s'), 0)} s"
             f"{', --quick' if meta['args'].get('quick') else ''})", ""]
    if not _ok(probe):
        return lines + [f"probe failed: {probe}"]
    lines.append(f"- machine: {probe.get('cpu')}, {probe.get('nproc')} CPUs; {probe.get('platform')}")
    v = probe.get("versions", {})
    lines.append("- versions: python " + probe.get("python", "?") + ", " + ", ".join(
        f"{k} {v.get(k) or 'not installed'}" for k in ("numpy", "scipy", "threadpoolctl", "torch",
                                                        "sklearn", "cmlp")))
    if probe.get("cmlp_file"):
        lines.append(f"- cmlp from: {probe['cmlp_file']}")
    inherited = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    lines.append(f"- OpenBLAS environment in the benchmark subprocesses: {meta['openblas_env']} "
                 f"(caller had {inherited}; subprocesses saw "
                 f"{ {k: probe['env'].get(k) for k in inherited} })")
    lines.append("- BLAS / OpenMP libraries loaded with every peer imported (threadpoolctl):")
    for b in probe.get("blas", []):
        kernel = f" kernel={b.get('architecture')}" if b.get("architecture") else ""
        lines.append(f"  - {_owner(b)}: {b.get('internal_api')} {b.get('version') or ''} "
                     f"[{os.path.basename(b.get('filepath') or '')}]{kernel} "
                     f"threads={b.get('num_threads')}")
    t = probe.get("torch")
    if t:
        lines.append(f"  - torch: BLAS {t.get('blas_info')}, CPU capability {t.get('cpu_capability')}, "
                     f"mkldnn {t.get('mkldnn')} (MKL is linked statically: threadpoolctl does not "
                     f"list it; torch.set_num_threads sets its threads)")
    kernels = set()
    for sec in ("fullbatch", "minibatch", "time_to_accuracy"):
        for r in results.get(sec, []) or []:
            for b in r.get("blas", []) or []:
                if b.get("user_api") == "blas":
                    kernels.add((f"{_owner(b)}'s {b.get('internal_api')}", b.get("architecture")))
    if kernels:
        lines.append("- OpenBLAS kernels seen across all benchmark subprocesses: " + ", ".join(
            f"{f}={a}" for f, a in sorted(kernels)))
    lines.append("- threads: each row's thread count is set with OMP/OPENBLAS/MKL_NUM_THREADS, "
                 "threadpoolctl (numpy, scipy, sklearn), torch.set_num_threads (torch) and "
                 "Network(n_threads=) (cmlp)")
    lines.append(f"- timings: medians over {meta.get('repeats')} timed repeats after warm-up, each "
                 "configuration in its own process")
    rs = [r for sec in ("fullbatch", "minibatch", "time_to_accuracy")
          for r in results.get(sec, []) or [] if r.get("other_cpu") is not None]
    if rs:
        oc = [r["other_cpu"] for r in rs]
        thr = meta["args"].get("busy_threshold", 0.05)
        bad = [r for r in rs if r["other_cpu"] > thr]
        retried = sum(1 for r in rs if r.get("attempts", 1) > 1)
        lines.append(f"- interference: CPU share taken by other processes while each "
                     f"configuration was timed: median {statistics.median(oc):.1%}, max "
                     f"{max(oc):.1%}; {retried} configuration(s) re-run; cells marked * were "
                     f"still above {thr:.0%} after the retries")
        if bad:
            lines.append(f"- WARNING: {len(bad)} configuration(s) were timed while other work "
                         "ran; 2-thread figures suffer most (a BLAS thread waits on a busy core)")
    for k, note in (probe.get("notes") or {}).items():
        lines.append(f"- skipped: {note}")
    return lines


def _machine_section(results):
    lim = _limits(results)
    if not lim:
        m = results.get("machine")
        return ["## Machine limits", "", f"not measured{': ' + m['error'] if m else ''}"]
    rows = []
    for key, vals in lim["gemm_gflops"].items():
        dt, t = key.split("/")
        rows.append([dt, t] + [_f(vals.get(k), 0) for k in ("scipy-openblas", "numpy-openblas", "torch")]
                    + [_f(max(vals.values()), 0)])
    lines = ["## Machine limits", "",
             f"GEMM peak, GFLOP/s (square N={lim.get('gemm_N')}, best of repeats); "
             "the bound uses the largest:", "",
             _table(["dtype", "threads", "scipy OpenBLAS", "numpy OpenBLAS", "torch", "peak used"],
                    rows), ""]
    rows = []
    for key, v in lim["bandwidth_gbs"]["read"].items():
        size, t = key.split("/")
        rows.append(["read (np.dot(a, a))", f"{int(size) / 2 ** 20:.0f} MiB", t, _f(v, 1)])
    for key, v in lim["bandwidth_gbs"]["copy"].items():
        size, t = key.split("/")
        rows.append(["copy (read + write bytes)", f"{int(size) / 2 ** 20:.0f} MiB", t, _f(v, 1)])
    lines += ["Memory bandwidth, GB/s:", "", _table(["what", "array", "threads", "GB/s"], rows), "",
              "Bound of a step = max(flops / GEMM peak, bytes / read bandwidth at the size of X), "
              "flops = 2n(2dH + 3Hc), bytes = s·n·d + 8n + 2s·P (X once, labels, parameters read "
              "and written; d=784, c=10, s = 4 or 8, P = dH + H + Hc + c); see machine.py."]
    return lines


def _fullbatch_section(results):
    idx = _index(results, "fullbatch")
    if not idx:
        return []
    peers = _peers_present(idx)
    configs = sorted({(k[1], k[3], k[4]) for k in idx})
    rows = []
    for H, dt, t in configs:
        row = [H, dt, t]
        for p in peers:
            row.append(_cell(idx.get((p, H, None, dt, t)), lambda r: _f(r["median_s"] * 1e3)))
        b = fullbatch_bound(results, H, dt, t)
        row.append(_f(b * 1e3 if b else None))
        c = _median_s(idx, ("cmlp", H, None, dt, t))
        nb64 = _median_s(idx, ("numpy", H, None, "float64", t))
        bt, _ = _best_torch(idx, (H, None, dt, t))
        bp, who = _best_peer(idx, (H, None, dt, t))
        row += [_f(_ratio(nb64, c)), _f(_ratio(bt, c)),
                f"{_f(_ratio(bp, c))} ({PEER_TITLES.get(who, '–')})", _f(_ratio(c, b))]
        rows.append(row)
    return ["## Full-batch gradient-descent step (10,000 rows, 784-H-10), median ms per step", "",
            _table(["H", "dtype", "thr"] + [PEER_TITLES[p] for p in peers] +
                   ["bound", "notebook f64 / cmlp", "best torch / cmlp", "best peer / cmlp",
                    "cmlp / bound"], rows), "",
            "Ratios compare at the same thread count; \"best torch\" is the faster of the two "
            "PyTorch styles in the row's dtype.  numpy (notebook) is the seed's code, column-major "
            "X (784, m); sklearn is one partial_fit with batch_size = n."]


def _minibatch_section(results):
    idx = _index(results, "minibatch")
    if not idx:
        return []
    peers = _peers_present(idx)
    configs = sorted({(k[1], k[2], k[3], k[4]) for k in idx})
    rows = []
    for H, bs, dt, t in configs:
        row = [bs, dt, t]
        for p in peers:
            row.append(_cell(idx.get((p, H, bs, dt, t)), lambda r: _f(r["examples_per_s"] / 1e3, 1)))
        b = minibatch_bound_eps(results, H, dt, t)
        row.append(_f(b / 1e3 if b else None, 0))
        r = idx.get(("cmlp", H, bs, dt, t))
        c = r["examples_per_s"] if _ok(r) else None
        bt, _ = _best_torch(idx, (H, bs, dt, t), what="examples_per_s")
        bp, who = _best_peer(idx, (H, bs, dt, t), what="examples_per_s")
        row += [_f(_ratio(c, bt)), f"{_f(_ratio(c, bp))} ({PEER_TITLES.get(who, '–')})",
                _f(_ratio(c, b), 3)]
        rows.append(row)
    return ["## Mini-batch SGD throughput (60,000 rows, 784-128-10, shuffled each epoch), "
            "thousands of examples per second (median epoch)", "",
            _table(["batch", "dtype", "thr"] + [PEER_TITLES[p] for p in peers] +
                   ["bound", "cmlp / best torch", "cmlp / best peer", "cmlp / bound"], rows), "",
            "bound = 60,000 / (lower bound of an epoch), the same formula as a full-batch step with "
            "n = 60,000; \"cmlp / bound\" is the fraction of it reached."]


def _checks_section(results):
    """Per peer and configuration: the one-step weight check against cmlp, CPU per wall
    second while timed (the thread check) and compile time."""
    rows = []
    for sec in ("fullbatch", "minibatch"):
        for r in results.get(sec, []) or []:
            c = r["config"]
            if c["peer"] == "cmlp" or not _ok(r):
                continue
            compile_s = r.get("compile_s")
            if isinstance(compile_s, dict):
                compile_s = "; ".join(f"{k} {v:.1f}" for k, v in compile_s.items())
            elif compile_s is not None:
                compile_s = _f(compile_s, 2)
            rows.append([sec, f"H={c['H']}" + (f" batch={c['batch']}" if c.get("batch") else ""),
                         c["dtype"], c["threads"], PEER_TITLES.get(c["peer"], c["peer"]),
                         r.get("check_error") or
                         (f"{r['check_max_diff']:.1e}" if r.get("check_max_diff") is not None
                          else "–"),
                         _f(r.get("cpu_per_wall")), compile_s or "–", r.get("mode") or ""])
    if not rows:
        return []
    return ["## Peers: correctness, threads, compile time", "",
            _table(["section", "config", "dtype", "thr", "peer", "max abs(w - w_cmlp) after one step",
                    "CPU s / wall s", "compile s", "mode kept"], rows), "",
            "One full-batch SGD step over the first rows of the timed shape (the batch, or all "
            "rows) from cmlp's initial weights, against cmlp's weights after the same step. "
            "CPU s / wall s over the timed part is at most the thread count when the thread "
            "limit holds. Compile time (the first calls at each shape) is not in the timings."]


def _acc_section(results):
    s = time_to_acc_summary(results)
    if not s:
        return []
    rc = results["meta"]["recipe"]
    rows = []
    for p in ("cmlp", "torch-nn", "torch-ops"):
        if p not in s:
            continue
        v = s[p]
        rows.append([PEER_TITLES[p], f"{v['reached']}/{v['runs']}",
                     ", ".join(str(e) if e else f">{rc['max_epochs']}" for e in v["epochs"]) or "–",
                     _f(v["train_s"], 1), _f(v["with_eval_s"], 1), _f(v["s_per_epoch"], 2),
                     _f(v["best_acc"], 4), _f(v["peak_mb"], 0), v["note"] or ""])
    return [f"## Time to {rc['target']:.0%} test accuracy", "",
            f"Recipe (both): 784-{rc['hidden']}-10 ReLU, He-normal weights and zero biases, "
            f"{rc['optimizer']} lr {rc['learning_rate']} ({rc.get('lr_schedule', 'constant')}; "
            f"betas 0.9/0.999, eps 1e-8), batch "
            f"{rc['batch_size']}, shuffled each epoch, {rc['dtype']}, {rc['threads']} threads, "
            f"test accuracy after each epoch, at most {rc['max_epochs']} epochs. PyTorch "
            f"starts from cmlp's initial weights and takes the same batches in the same order, "
            f"so both reach the target at about the same epoch.", "",
            _table(["implementation", "reached", "epochs per seed", "train s (median)",
                    "s incl. eval", "s/epoch", "best test acc", "peak MB", "note"], rows), "",
            "Training time excludes the per-epoch test evaluation: measured directly for PyTorch; "
            "for cmlp, whose fit evaluates validation_data inside, it is elapsed minus one "
            "timed net.score(test) per epoch."]


def _memory_section(results):
    lines = ["## Peak memory, MB: peak resident set of the configuration's process while it "
             "converts the data, builds the model and runs (Δ: above the process after imports "
             "and the raw uint8 MNIST arrays)", ""]
    any_rows = False
    for sec, title in (("fullbatch", "full batch, 1 thread"), ("minibatch", "mini-batch, 1 thread")):
        idx = _index(results, sec)
        if not idx:
            continue
        peers = _peers_present(idx)
        configs = sorted({(k[1], k[2], k[3]) for k in idx if k[4] == 1})
        rows = []
        for H, bs, dt in configs:
            row = [title, f"H={H}" + (f" batch={bs}" if bs else ""), dt]
            for p in peers:
                row.append(_cell(idx.get((p, H, bs, dt, 1)),
                                 lambda r: f"{_f(r.get('peak_mb'), 0)} (Δ {_f(r.get('delta_mb'), 0)})"))
            rows.append(row)
        lines += [_table(["section", "config", "dtype"] + [PEER_TITLES[p] for p in peers], rows), ""]
        any_rows = True
    s = time_to_acc_summary(results)
    if s:
        lines.append("time to 98%: " + ", ".join(
            f"{PEER_TITLES[p]} {_f(v['peak_mb'], 0)} (Δ {_f(v['delta_mb'], 0)})" for p, v in s.items()))
        any_rows = True
    return lines if any_rows else []


def _targets_section(results):
    rows = []
    for t in results.get("targets", []):
        met = {True: "yes", False: "NO", None: "–"}[t["met"]]
        rows.append([t["target"], t["config"], _f(t["measured"]), t["goal"], met])
    return ["## Targets (from the issue; measured in this run)", "",
            _table(["target", "config", "measured", "goal", "met"], rows)]


def _problems(results):
    lines = []
    for sec in ("fullbatch", "minibatch", "time_to_accuracy"):
        for r in results.get(sec, []) or []:
            if "error" in r:
                lines.append(f"- {sec} {r['config']}: {r['error']}")
    return (["## Errors", ""] + lines) if lines else []


def render(results):
    BUSY_MARK["threshold"] = results["meta"]["args"].get("busy_threshold", 0.05)
    parts = [_header(results), _machine_section(results), _fullbatch_section(results),
             _minibatch_section(results), _checks_section(results), _acc_section(results),
             _memory_section(results),
             _targets_section(results), _problems(results)]
    return "\n\n".join("\n".join(p) for p in parts if p)
