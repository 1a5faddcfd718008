"""scikit-learn's own MLP tests, run against cmlp.sklearn.

The installed scikit-learn ships its tests (sklearn/neural_network/tests/test_mlp.py). This
test copies that file with one change, its import line, so the same tests construct cmlp's
estimators, and runs it with scikit-learn's pytest plugin (``-p sklearn.conftest``) in a
subprocess. Nothing else of the file is edited: when scikit-learn releases new tests, they
run here too.

Deselected, each for its reason (docs/guide/sklearn.rst lists them for users as well): the
tests that read or set scikit-learn's private attributes, which have no meaning for
cmlp's estimators.
"""
import os
import subprocess
import sys

import pytest

import cmlp

sklearn = pytest.importorskip("sklearn")

IMPORT_LINE = "from sklearn.neural_network import MLPClassifier, MLPRegressor"

# test name (without parameters) -> why it cannot apply to cmlp's estimators
PRIVATE = {
    "test_gradient": "calls scikit-learn's private _loss_grad_lbfgs and _forward_pass_fast "
                     "to check its gradients against finite differences (cmlp's are checked "
                     "in tests/test_reference.py and tests/test_kernels.py)",
    "test_learning_rate_warmstart": "reads the private _optimizer.learning_rate",
    "test_adaptive_learning_rate": "reads the private _optimizer.learning_rate",
}


_DESELECTING_CONFTEST = """
PRIVATE = set(%r)


def pytest_collection_modifyitems(config, items):
    kept = [item for item in items if item.originalname not in PRIVATE]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept
"""


def _upstream_file():
    from sklearn.neural_network import tests

    path = os.path.join(os.path.dirname(tests.__file__), "test_mlp.py")
    if not os.path.exists(path):
        pytest.skip("this scikit-learn was installed without its tests")
    return path


@pytest.mark.slow
def test_scikit_learns_mlp_tests_pass_against_cmlp(tmp_path):
    with open(_upstream_file(), encoding="utf-8") as f:
        source = f.read()
    lines = source.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.rstrip("\n") == IMPORT_LINE]
    assert len(hits) == 1, f"scikit-learn's test file no longer imports with {IMPORT_LINE!r}"
    lines[hits[0]] = "from cmlp.sklearn import MLPClassifier, MLPRegressor\n"
    target = tmp_path / "test_mlp_cmlp.py"
    target.write_text("".join(lines), encoding="utf-8")

    # Deselected by exact function name (-k and --deselect match prefixes and substrings).
    (tmp_path / "conftest.py").write_text(_DESELECTING_CONFTEST % sorted(PRIVATE))
    command = [sys.executable, "-m", "pytest", "-p", "sklearn.conftest", "-q", "-rfE",
               "-p", "no:cacheprovider", str(target)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(cmlp.__file__)))]
        + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=1800)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, (
        f"scikit-learn {sklearn.__version__}'s test_mlp.py against cmlp: {summary}\n"
        + result.stdout[-6000:] + result.stderr[-2000:])
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
