"""Smoke test of an installed cmlp (a wheel or an sdist build), run from outside the checkout.

Prints what the install picked (module paths, SIMD path, OpenMP and its runtime library) and
trains a small network briefly on the bundled sample. Usage:
    python smoke.py [--checkout DIR] [--expect-openmp yes|no|any] [--vendored-openmp]
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import cmlp
from cmlp import Network, _kernels
from cmlp.datasets import load_sample


def loaded_libraries():
    with open("/proc/self/maps") as maps:
        return sorted({line.split()[-1] for line in maps if ".so" in line})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", type=Path, help="the source tree cmlp must NOT come from")
    parser.add_argument("--expect-openmp", choices=("yes", "no", "any"), default="any")
    parser.add_argument("--vendored-openmp", action="store_true",
                        help="OpenMP's runtime must come from the wheel's cmlp.libs")
    args = parser.parse_args()

    package = Path(cmlp.__file__).resolve().parent
    print(f"cmlp {cmlp.__version__} from {package}")
    if args.checkout and args.checkout.resolve() in package.parents:
        sys.exit(f"cmlp was imported from the checkout {args.checkout}, not the install")
    paths = [p for p in ("avx512", "avx_fma", "generic") if _kernels.simd_available(p)]
    print(f"SIMD path picked: {_kernels.simd_path()} (available: {', '.join(paths)})")
    assert _kernels.simd_path() == paths[0], "auto should pick the best available path"

    openmp = _kernels.openmp_enabled()
    print(f"OpenMP: {'on' if openmp else 'off'}")
    if args.expect_openmp != "any" and openmp != (args.expect_openmp == "yes"):
        sys.exit(f"expected OpenMP {args.expect_openmp}, the build has it {openmp}")
    gomp = [lib for lib in loaded_libraries() if "gomp" in lib or "libomp" in lib]
    print(f"OpenMP runtime loaded: {gomp or 'none'}")
    if args.vendored_openmp and not any("cmlp.libs" in lib for lib in gomp):
        sys.exit("the OpenMP runtime does not come from the wheel's cmlp.libs")

    X, y = load_sample()
    start = time.perf_counter()
    net = Network([784, 32, 10], seed=0)
    history = net.fit(X[:8000], y[:8000], epochs=3, learning_rate=0.1, batch_size=32)
    accuracy = net.score(X[8000:], y[8000:])
    print(f"784-32-10, 3 epochs of 8,000 rows, batch 32: held-out accuracy {accuracy:.3f} "
          f"in {time.perf_counter() - start:.2f} s; losses {history['loss']}")
    assert accuracy > 0.85, "a short training should reach 85% on held-out rows"

    version = subprocess.run([sys.executable, "-m", "cmlp", "--version"], check=True,
                             capture_output=True, text=True).stdout.strip()
    print(f"cmlp --version: {version}")
    assert version == f"cmlp {cmlp.__version__}"
    print("smoke test passed")


if __name__ == "__main__":
    main()
