#!/usr/bin/env bash
# Stage "docs": the documented docs build in a fresh venv, warnings as errors, the gallery's
# examples run on the bundled sample; then numpydoc's validation of every public docstring
# (tests/test_docstrings.py) and mypy over the package and an example user script.
#   pip install -e ".[docs]"
#   python -m sphinx -W --keep-going -b html docs docs/_build/html
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

fresh_venv "$CI_WORK/docs-venv"
python -m pip install --quiet -e ".[docs]"
rm -rf docs/_build docs/generated docs/auto_examples
start=$SECONDS
python -m sphinx -W --keep-going -q -b html docs docs/_build/html
echo "docs built in $((SECONDS - start)) s: docs/_build/html/index.html"
python -m pytest -q -p no:cacheprovider tests/test_docstrings.py
python -m mypy
deactivate
