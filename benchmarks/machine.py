"""The machine's limits: measured GEMM peak and memory bandwidth, and the lower bound of a step.

GEMM peak: best of several square ``C = A B`` products (N = 2048, 2 N^3 flops) through
scipy.linalg.blas (the OpenBLAS cmlp calls), numpy's matmul (numpy's own OpenBLAS) and
torch.mm (MKL in the CPU wheel), at each thread count; the peak used for a bound is the
largest of them.

Bandwidth: ``np.dot(a, a)`` on a 1-D array reads it once (2 flops per 8 or 4 bytes, far below
the GEMM peak, so it is limited by memory); the two-thread figure runs two halves in two
Python threads (numpy releases the GIL).  Measured on a 512 MiB array (main memory) and on an
array the size of the step's X (10,000 x 784 or 60,000 x 784 in the dtype, which may sit in
the 32 MiB L3).  A copy of the 512 MiB array is reported as well (read + write bytes).

Lower bound of one full-batch step over n rows, d = 784 inputs, H hidden units, c = 10
classes, s bytes per scalar, P = dH + H + Hc + c parameters:

    flops = 2 n (2 d H + 3 H c)     forward X W1, A1 W2; backward A1^T dZ2, dZ2 W2^T, X^T dZ1
                                   (elementwise work and the bias sums are left out)
    bytes = s n d + 8 n + 2 s P     X read once, int64 labels read once, parameters read and
                                   written once (a fused kernel need not spill n x H activations)
    bound = max(flops / gemm_peak[dtype, threads], bytes / read_bandwidth[threads, size of X])

An epoch of mini-batch SGD has the same flops and X traffic with n = 60,000 (the parameters
stay in cache between batches), so its bound in examples per second is n / bound.
"""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

D, C = 784, 10


def step_flops(n, H, d=D, c=C):
    return 2.0 * n * (2 * d * H + 3 * H * c)


def step_bytes(n, H, itemsize, d=D, c=C):
    P = d * H + H + H * c + c
    return float(itemsize * n * d + 8 * n + 2 * itemsize * P)


def _best(f, repeats):
    f()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def gemm_peaks(threads=(1, 2), N=2048, repeats=5):
    """GFLOP/s of a square GEMM per library, dtype and thread count."""
    from scipy.linalg import blas
    from threadpoolctl import threadpool_limits
    try:
        import torch
    except Exception:  # noqa: BLE001
        torch = None
    out = {}
    rng = np.random.default_rng(0)
    flops = 2.0 * N ** 3
    for dtype, gemm in (("float32", blas.sgemm), ("float64", blas.dgemm)):
        A = np.asfortranarray(rng.random((N, N), dtype=dtype))
        B = np.asfortranarray(rng.random((N, N), dtype=dtype))
        Ac, Bc = np.ascontiguousarray(A), np.ascontiguousarray(B)
        for t in threads:
            with threadpool_limits(limits=t):
                res = {"scipy-openblas": flops / _best(lambda: gemm(1.0, A, B), repeats) / 1e9,
                       "numpy-openblas": flops / _best(lambda: Ac @ Bc, repeats) / 1e9}
                if torch is not None:
                    torch.set_num_threads(t)
                    tA, tB = torch.from_numpy(Ac), torch.from_numpy(Bc)
                    res["torch"] = flops / _best(lambda: torch.mm(tA, tB), repeats) / 1e9
            out[f"{dtype}/{t}"] = res
    return out


def bandwidths(threads=(1, 2), sizes_bytes=(), big=512 * 2 ** 20, repeats=5):
    """GB/s: read (np.dot(a, a)) per thread count and array size, and a big copy."""
    ex = ThreadPoolExecutor(max(threads))
    out = {"read": {}, "copy": {}}

    def read_fn(a, t):
        if t == 1:
            return lambda: np.dot(a, a)
        parts = np.array_split(a, t)
        return lambda: list(ex.map(lambda p: np.dot(p, p), parts))

    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):  # each Python thread's dot on one core
        for size in sorted(set([big, *sizes_bytes])):
            a = np.ones(size // 4, dtype=np.float32)
            for t in threads:
                r = repeats if size >= 2 ** 27 else 4 * repeats
                out["read"][f"{size}/{t}"] = a.nbytes / _best(read_fn(a, t), r) / 1e9
            del a
        a = np.ones(big // 8)
        b = np.empty_like(a)
        for t in threads:
            if t == 1:
                f = lambda: np.copyto(b, a)  # noqa: E731
            else:
                pa, pb = np.array_split(a, t), np.array_split(b, t)
                f = lambda: list(ex.map(lambda i: np.copyto(pb[i], pa[i]), range(t)))  # noqa: E731
            out["copy"][f"{big}/{t}"] = 2 * a.nbytes / _best(f, repeats) / 1e9
    ex.shutdown()
    return out


def measure(threads=(1, 2), step_rows=(10000, 60000), quick=False):
    sizes = [n * D * s for n in step_rows for s in (4, 8)]
    reps = 3 if quick else 5
    return {"gemm_gflops": gemm_peaks(threads, repeats=reps),
            "bandwidth_gbs": bandwidths(threads, sizes, repeats=reps),
            "gemm_N": 2048}


def peak_gflops(limits, dtype, threads):
    return max(limits["gemm_gflops"][f"{dtype}/{threads}"].values())


def read_gbs(limits, nbytes, threads):
    """Read bandwidth measured at the array size closest to nbytes (same thread count)."""
    rd = limits["bandwidth_gbs"]["read"]
    cands = [(abs(np.log(int(k.split("/")[0]) / nbytes)), v) for k, v in rd.items()
             if int(k.split("/")[1]) == threads]
    return min(cands)[1]


def step_bound_s(limits, n, H, dtype, threads):
    s = np.dtype(dtype).itemsize
    t_flops = step_flops(n, H) / (peak_gflops(limits, dtype, threads) * 1e9)
    t_bytes = step_bytes(n, H, s) / (read_gbs(limits, n * D * s, threads) * 1e9)
    return max(t_flops, t_bytes), {"flops": step_flops(n, H), "bytes": step_bytes(n, H, s),
                                   "t_flops_s": t_flops, "t_bytes_s": t_bytes}
