#!/usr/bin/env bash
# Stages "py3.14" and "py3.15": cmlp built from the sdist on CPython VERSION of a Debian
# unstable tree (.ci/debian.sh: Debian's numpy, scipy, Cython and test packages) and its whole
# test suite run there, from outside the source tree. On 3.14 (the GIL build) also the
# thread-safety and inference tests under pytest-run-parallel: each test body run by 4
# threads at once. Then 3.14's wheel repaired by auditwheel, installed in a fresh venv and
# smoke-tested (sid_wheel_smoke).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh
. .ci/debian.sh
version=$1

sid_tree
sid_cmlp "$version"
root=$CI_WORK/sid
in_tree "$root" "python$version --version; python$version -c 'import numpy, scipy; \
    print(\"numpy\", numpy.__version__, \"scipy\", scipy.__version__)'"
# Outside the source tree, with the installed cmlp first on the path.
tests="cd /ci && PYTHONPATH=/ci/site-$version python$version -m pytest -q -p no:cacheprovider \
    --rootdir /ci/sdist-$version"
in_tree "$root" "$tests -rs /ci/sdist-$version/tests"
if [ "$version" = 3.14 ]; then
    in_tree "$root" "$tests -p pytest_run_parallel --parallel-threads=4 \
        /ci/sdist-$version/tests/test_thread_safety.py /ci/sdist-$version/tests/test_inference.py"
    # The cp314 wheel: auditwheel, a fresh venv, the smoke test (.ci/debian.sh).
    sid_wheel_smoke "$version"
fi
