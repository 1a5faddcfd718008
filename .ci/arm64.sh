#!/usr/bin/env bash
# Stage "arm64": cmlp executed on arm64 (aarch64) under qemu-user, on CPython 3.14 of a Debian
# unstable arm64 tree (.ci/debian.sh). Nothing is compiled under emulation: the extensions
# are cross-compiled in the amd64 sid tree (Debian's gcc-aarch64-linux-gnu, the arm64 tree as
# sysroot: its Python and numpy headers, its libc; the target's sysconfig data names the
# extension suffix), twice:
#   neon    the default build: the NEON kernels (the only SIMD path on arm64);
#   scalar  CMLP_SCALAR_KERNELS=1: the plain C kernels of targets without a vector unit.
# Under emulation: the kernel, SIMD-path, network and inference tests on the NEON build (each
# against the numpy reference), the kernel and SIMD-path tests on the scalar build, and the
# downstream Cython example (tests/downstream, cross-compiled against the NEON build) predicting
# from 8 threads and agreeing with Network.predict.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh
. .ci/debian.sh

sid_tree
arm64_tree
sid_cmlp 3.14  # the downstream example's setup.py imports cmlp (get_include) on the build side
sid=$CI_WORK/sid
arm=$CI_WORK/arm64

mkdir -p "$sid/arm64"
mount --bind "$arm" "$sid/arm64"
trap 'umount "$sid/arm64"' EXIT
sysconfig=$(cd "$arm/usr/lib/python3.14" && ls _sysconfigdata__linux_aarch64-linux-gnu.py)
mkdir -p "$sid/ci/cross-sysconfig"
cp "$arm/usr/lib/python3.14/$sysconfig" "$sid/ci/cross-sysconfig/"
cross="export _PYTHON_SYSCONFIGDATA_NAME=${sysconfig%.py} _PYTHON_HOST_PLATFORM=linux-aarch64 \
    CC=aarch64-linux-gnu-gcc LDSHARED='aarch64-linux-gnu-gcc -shared' LDFLAGS=--sysroot=/arm64 \
    CFLAGS='--sysroot=/arm64 -I/arm64/usr/include/python3.14 \
        -I/arm64/usr/lib/python3/dist-packages/numpy/_core/include'"
for build in neon scalar; do
    rm -rf "$arm/ci/$build"
    mkdir -p "$arm/ci/$build"
    tar -xzf "$CI_WORK"/dist/cmlp-*.tar.gz -C "$arm/ci/$build" --strip-components=1
    defines=""
    [ $build = scalar ] && defines=" -DCMLP_SCALAR_KERNELS"
    in_tree "$sid" "$cross; export CFLAGS=\"\$CFLAGS$defines\" PYTHONPATH=/ci/cross-sysconfig; \
        cd /arm64/ci/$build && python3.14 setup.py -q build_ext --inplace -j 2 \
        > /arm64/ci/build-$build.log 2>&1 || { tail -40 /arm64/ci/build-$build.log; exit 1; }"
    grep '^cmlp: building' "$arm/ci/build-$build.log"
    readelf -h "$arm/ci/$build"/cmlp/_kernels.*.so | grep Machine
done
rm -rf "$arm/ci/downstream"
cp -r "$arm/ci/neon/tests/downstream" "$arm/ci/downstream"
# Its setup.py imports cmlp on the build side (get_include), and so scipy, under the target's
# sysconfig: Debian's scipy then reads the target's build configuration, a Python module
# that only the arm64 tree has.
cp "$arm"/usr/lib/python3/dist-packages/scipy/__config__cpython-314-aarch64-linux-gnu__.py \
    "$sid/usr/lib/python3/dist-packages/scipy/"
in_tree "$sid" "$cross; export PYTHONPATH=/ci/cross-sysconfig:/ci/site-3.14; \
    cd /arm64/ci/downstream && python3.14 setup.py -q build_ext --inplace \
    > build.log 2>&1 || { tail -40 build.log; exit 1; }"
umount "$sid/arm64"
trap - EXIT

# Under emulation, from outside the source trees (the in-place builds on PYTHONPATH).
# The generic path computes with NEON in the neon build, one lane of plain C in the scalar
# one: test_parallel_and_simd checks simd_baseline() against CMLP_EXPECT_BASELINE.
pytest_arm64() {  # pytest_arm64 BUILD TEST_FILE...
    local build=$1 baseline=neon
    shift
    [ "$build" = scalar ] && baseline=scalar
    TREE_ENV="PYTHONPATH=/ci/$build CMLP_EXPECT_BASELINE=$baseline" in_tree_exec "$arm" \
        /usr/bin/python3.14 -c "import platform, cmlp._kernels as k; \
        print(platform.machine(), '$build build: SIMD path', k.simd_path(), 'on', k.simd_baseline())"
    TREE_ENV="PYTHONPATH=/ci/$build CMLP_EXPECT_BASELINE=$baseline" in_tree_exec "$arm" \
        /usr/bin/python3.14 -m pytest -q -p no:cacheprovider --rootdir "/ci/$build" \
        "${@/#//ci/$build/tests/}"
}
pytest_arm64 neon test_kernels.py test_parallel_and_simd.py test_network.py test_inference.py \
    test_zero_columns.py
pytest_arm64 scalar test_kernels.py test_parallel_and_simd.py test_zero_columns.py
TREE_ENV="PYTHONPATH=/ci/neon:/ci/downstream" in_tree_exec "$arm" /usr/bin/python3.14 \
    /ci/downstream/check.py
