#!/usr/bin/env bash
# Stage "sanitizers": the sdist built with AddressSanitizer and UndefinedBehaviorSanitizer
# (GCC), OpenMP kept on, and the kernel, SIMD-path and network tests run under it. Any report
# fails the run (UBSan is made fatal; ASan always is).
#
# The sanitizer goes in CC, not CFLAGS: the same flag then reaches every compile and link,
# including setup.py's OpenMP probe. A non-ASan python loads an ASan-built module only with
# libasan preloaded, and Python's own allocations would all be reported as leaks, so leak
# detection is off. If ASan cannot load here, the stage falls back to the bounds-checked
# debug build (CMLP_DEBUG_CYTHON=1) and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
. .ci/lib.sh

tests=(test_kernels.py test_parallel_and_simd.py test_network.py test_unit_split.py
       test_optimizers.py test_blas.py test_int8.py test_zero_columns.py)
root=$(unpack_sdist "$CI_WORK/sanitizers")
fresh_venv "$CI_WORK/sanitizers-venv"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC="gcc $sanitize" CMLP_KEEP_SYMBOLS=1 python -m pip install --verbose "$root[test]" \
    > "$CI_WORK/sanitizers.log" 2>&1 || { tail -50 "$CI_WORK/sanitizers.log"; exit 1; }
grep '^ *cmlp: building' "$CI_WORK/sanitizers.log"
grep -q '^ *cmlp: building with OpenMP' "$CI_WORK/sanitizers.log" \
    || { echo "the sanitized build dropped OpenMP" >&2; exit 1; }

site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')/cmlp
for module in "$site"/_*.so; do  # evidence: each module calls into both runtimes
    echo "$(basename "$module"): $(nm -D "$module" | grep -c ' U __asan_') ASan and" \
         "$(nm -D "$module" | grep -c ' U __ubsan_') UBSan entry points;" \
         "needs $(readelf -d "$module" | grep -o 'lib[a-z]*san[^]]*' | tr '\n' ' ')"
done

export LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
check='import cmlp._kernels as k; assert k.openmp_enabled(); print("loaded under ASan; OpenMP on")'
if (cd "$CI_WORK" && python -c "$check"); then
    (cd "$CI_WORK" && python -c 'import cmlp, re
maps = open("/proc/self/maps").read()
print("runtimes mapped:", sorted(set(re.findall(r"lib[a-z]*san\.so[.0-9]*", maps))))')
    run_tests "$root" "${tests[@]/#/$root/tests/}"
else
    unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
    echo "ASan cannot load here: falling back to the debug build (CMLP_DEBUG_CYTHON=1)"
    python -m pip uninstall --quiet --yes cmlp
    CMLP_DEBUG_CYTHON=1 python -m pip install --quiet "$root[test]"
    run_tests "$root" "${tests[@]/#/$root/tests/}"
fi
deactivate
