#!/usr/bin/env bash
# Stage "oldest-deps": the oldest Python cmlp supports with the lowest numpy, scipy and pandas
# that pyproject.toml allows (read from it, so the bounds and this test cannot drift apart),
# installed from the sdist; the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
. .ci/lib.sh

oldest=$(sed -n 's/^requires-python = ">=\([0-9.]*\)".*/\1/p' pyproject.toml)
python=$(python_version "$oldest")
if [ -z "$python" ]; then
    echo "no python$oldest here (PATH or pyenv): stage not run" >&2
    exit 1
fi
pins=$(python3 - <<'PY'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(" ".join(re.sub(r"\s*>=\s*", "==", d.split(";")[0]) for d in deps
               if re.match(r"(numpy|scipy|pandas)\s*>=", d)))
PY
)
echo "$("$python" --version) with $pins"
root=$(unpack_sdist "$CI_WORK/oldest-deps")
fresh_venv "$CI_WORK/oldest-deps-venv" "$python"
python -m pip install --quiet $pins
python -m pip install --quiet "$root[test]" $pins
python -m pip list 2>/dev/null | grep -i -E '^(numpy|scipy|pandas) '
run_tests "$root"
deactivate
