#!/usr/bin/env bash
# Stage "no-openmp": the sdist built with CMLP_NO_OPENMP=1 (threads go to BLAS) and the whole
# test suite run against it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
. .ci/lib.sh

root=$(unpack_sdist "$CI_WORK/no-openmp")
fresh_venv "$CI_WORK/no-openmp-venv"
CMLP_NO_OPENMP=1 python -m pip install --verbose "$root[test]" \
    > "$CI_WORK/no-openmp.log" 2>&1 || { tail -50 "$CI_WORK/no-openmp.log"; exit 1; }
grep '^ *cmlp: building' "$CI_WORK/no-openmp.log"
(cd "$CI_WORK" && python "$repo/.ci/smoke.py" --checkout "$repo" --expect-openmp no)
run_tests "$root"
deactivate
