#!/usr/bin/env bash
# Stage "sdist-clang": the sdist (from the wheel stage) built with Clang in a fresh venv, as a
# user's `pip install cmlp-*.tar.gz` would, and its whole test suite run against that install.
# Clang gets OpenMP from libomp (libomp-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
. .ci/lib.sh

apt_install clang libomp-dev
clang --version | head -1
root=$(unpack_sdist "$CI_WORK/sdist-clang")
fresh_venv "$CI_WORK/sdist-clang-venv"
CC=clang python -m pip install --verbose "$root[test]" > "$CI_WORK/sdist-clang.log" 2>&1 \
    || { tail -50 "$CI_WORK/sdist-clang.log"; exit 1; }
grep '^ *cmlp: building' "$CI_WORK/sdist-clang.log"
# Evidence that Clang compiled it: Clang writes its name into the modules' .comment section.
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')/cmlp
if ! readelf -p .comment "$site"/_kernels*.so | grep -q clang; then
    echo "the installed _kernels was not compiled by Clang" >&2
    exit 1
fi
readelf -p .comment "$site"/_kernels*.so | grep clang
(cd "$CI_WORK" && python "$repo/.ci/smoke.py" --checkout "$repo" --expect-openmp yes)
run_tests "$root"
deactivate
