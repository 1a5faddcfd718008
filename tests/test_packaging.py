"""Packaging facts that must agree with each other: the version, written once in
cmlp/__init__.py, is what the installed metadata and `cmlp --version` say; the Python
versions of requires-python, the classifiers and the cibuildwheel builds are the same."""
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cmlp

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_version_is_the_installed_metadata_version():
    assert importlib.metadata.version("cmlp") == cmlp.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", cmlp.__version__)


@pytest.mark.subprocess
def test_command_line_prints_the_version():
    out = subprocess.run([sys.executable, "-m", "cmlp", "--version"], check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == f"cmlp {cmlp.__version__}"


def test_license_files_ship_with_the_install():
    metadata = importlib.metadata.metadata("cmlp")
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert set(metadata.get_all("License-File")) == {"LICENSE", "cmlp/data/LICENSE"}
    # The sample's own notice is package data, beside the files it covers.
    notice = Path(cmlp.__file__).parent / "data" / "LICENSE"
    assert "CC BY-SA 3.0" in notice.read_text()


def _pyproject():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    if not PYPROJECT.exists():
        pytest.skip("no pyproject.toml beside the tests (not a source tree)")
    with open(PYPROJECT, "rb") as f:
        return tomllib.load(f)


def test_python_versions_agree():
    config = _pyproject()
    lowest = re.fullmatch(r">=3\.(\d+)", config["project"]["requires-python"]).group(1)
    classified = sorted(int(m.group(1)) for c in config["project"]["classifiers"]
                        if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c)))
    assert classified[0] == int(lowest)
    assert classified == list(range(classified[0], classified[-1] + 1))
    built = sorted(int(re.fullmatch(r"cp3(\d+)-\*", b).group(1))
                   for b in config["tool"]["cibuildwheel"]["build"])
    assert built == classified
    assert sys.version_info[:2] >= (3, int(lowest))
    # The README names the same range, and no free-threaded build the configuration lacks.
    readme = (PYPROJECT.parent / "README.md").read_text()
    assert f"CPython 3.{classified[0]}-3.{classified[-1]} in one cibuildwheel" in readme
    assert not any(b.endswith("t-*") for b in config["tool"]["cibuildwheel"]["build"])
    assert "free-threaded CPython (3.14t): not offered" in readme
