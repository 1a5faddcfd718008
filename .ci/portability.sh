#!/usr/bin/env bash
# Stage "portability": what can be checked here of the other platforms.
# - The C kernels parse for arm64 (Clang, aarch64 target, Debian's arm64 libc headers), and
#   for an MSVC target (Clang in MSVC mode: _MSC_VER set, so the MSVC branches are the ones
#   read; each instruction-set unit with the features its /arch: flag gives; stub
#   string.h, stdlib.h and math.h stand in for the Windows SDK's), and no GCC-only construct is left in what
#   MSVC would compile (.ci/msvc_lint.py: Clang itself accepts them even in MSVC mode).
#   MSVC's own limits are not checked: the cibuildwheel Windows builds are the real test.
# - No build uses -march=native (a wheel must run on any CPU of its platform): neither the
#   build configuration nor the compile lines of the wheel stage's builds.
# - cibuildwheel's configuration lists CPython 3.9-3.15 for Linux x86-64 and aarch64
#   (manylinux and musllinux), macOS x86-64 and arm64, and Windows AMD64.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

apt_install clang libc6-dev-arm64-cross
for source in cmlp/_src/*.c; do
    clang --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -fsyntax-only -Wall \
        -Werror -Icmlp/_src "$source"
    echo "aarch64 syntax check clean: $source"
done

stub=$CI_WORK/msvc-stub
mkdir -p "$stub"
printf '%s\n' '#pragma once' '#include <stddef.h>' \
    'void *memcpy(void *, const void *, size_t);' 'int strcmp(const char *, const char *);' \
    'void *memset(void *, int, size_t);' > "$stub/string.h"
printf '%s\n' '#pragma once' '#include <stddef.h>' 'void *malloc(size_t);' 'void free(void *);' \
    > "$stub/stdlib.h"
printf '%s\n' '#pragma once' 'float expf(float);' 'float tanhf(float);' 'long lrintf(float);' \
    > "$stub/math.h"
msvc_check() {  # msvc_check FILE [FLAGS...]: parse as MSVC would see it, and lint
    local file=$1
    shift
    local args=(--target=x86_64-pc-windows-msvc -fms-compatibility -fms-extensions
                -ffreestanding -isystem "$stub" -Icmlp/_src "$@" "cmlp/_src/$file")
    clang -Wall -Werror -fsyntax-only "${args[@]}"
    clang "${args[@]}" -E | python3 .ci/msvc_lint.py "$file"
}
msvc_check simd.c
msvc_check simd_generic.c
msvc_check simd_avx_fma.c -mavx -mfma     # what /arch:AVX (and MSVC's FMA intrinsics) give
msvc_check simd_avx512.c -mavx512f -mfma  # /arch:AVX512
msvc_check denormals.h -x c -Wno-unused-function
msvc_check int8.c
msvc_check int8_generic.c
msvc_check int8_avx2.c -mavx2                   # /arch:AVX2
msvc_check int8_vnni.c -mavx512f -mavx512vnni   # /arch:AVX512 (VNNI intrinsics need no more)

if grep -rn -e '-march=native' -e '-mtune=native' setup.py pyproject.toml cmlp/_src \
        "$CI_WORK"/build*.log; then
    echo "a build uses -march=native" >&2
    exit 1
fi
echo "no -march=native in the build configuration or the wheel's compile lines"

fresh_venv "$CI_WORK/cibuildwheel-venv"
python -m pip install --quiet "cibuildwheel>=2.22"
versions="cp39 cp310 cp311 cp312 cp313 cp314 cp315"
expected() {
    for v in $versions; do
        for platform in "$@"; do echo "$v-$platform"; done
    done | sort
}
check_platform() {  # check_platform PLATFORM TAG...
    local platform=$1 got want
    shift
    got=$(cibuildwheel --print-build-identifiers --platform "$platform" | sort)
    want=$(expected "$@")
    if [ "$got" != "$want" ]; then
        echo "cibuildwheel's $platform builds differ from the intended list:" >&2
        diff <(echo "$want") <(echo "$got") >&2
        return 1
    fi
    echo "cibuildwheel $platform: $(echo $got)"
}
check_platform linux manylinux_x86_64 manylinux_aarch64 musllinux_x86_64 musllinux_aarch64
check_platform macos macosx_x86_64 macosx_arm64
check_platform windows win_amd64
deactivate
