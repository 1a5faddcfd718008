"""Type information: py.typed and the stubs ship, mypy accepts a user's script and refuses a
wrong one (so the annotations say something). mypy is in the docs extra; the docs CI stage
also runs it over the whole package (`python -m mypy`, configured in pyproject.toml)."""
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import cmlp

ROOT = Path(__file__).resolve().parent.parent
USER_SCRIPT = ROOT / "tests" / "typing" / "user_script.py"


def test_py_typed_and_the_inference_stub_are_in_the_package_data():
    package = Path(cmlp.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_inference.pyi").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"py.typed", "_inference.pyi"' in pyproject


def test_the_user_script_runs(capsys):
    runpy.run_path(str(USER_SCRIPT), run_name="__main__")
    assert capsys.readouterr().out.split()[1] == "10"


def _mypy(path, tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the docs extra: pip install -e '.[docs]'")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir",
         str(tmp_path / "cache"), "--config-file", str(ROOT / "pyproject.toml"), str(path)],
        cwd=ROOT, capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.subprocess
def test_mypy_accepts_the_user_script_and_refuses_a_wrong_one(tmp_path):
    result = _mypy(USER_SCRIPT, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from cmlp import Network\n"
        "from cmlp.inference import Model\n"
        "net = Network([784, 10], seed=0)\n"
        "accuracy: str = net.score([[0.0] * 784], [1])\n"     # score returns a float
        "Model(net).predict_proba([[0.0] * 784], n_threads='2')\n")  # n_threads is an int
    result = _mypy(wrong, tmp_path)
    assert result.returncode == 1, result.stdout
    assert "wrong.py:4" in result.stdout and "wrong.py:5" in result.stdout, result.stdout
