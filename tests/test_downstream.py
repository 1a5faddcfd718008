"""tests/downstream, a package that embeds cmlp, built by pip against an installed cmlp wheel.

cmlp is built into a wheel (pip's in-tree build, which reuses the compiled objects of the
editable install) and installed into a directory of its own, the downstream package is built
against that installation with pip, and its check.py runs from outside the checkout with
both on PYTHONPATH: nothing reaches into the source tree. About 30 s, most of it compiling.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("Cython")

REPO = Path(__file__).resolve().parent.parent
DOWNSTREAM = REPO / "tests" / "downstream"


def _run(command, cwd, env=None):
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}")
    return result


@pytest.mark.slow
@pytest.mark.build
@pytest.mark.subprocess
def test_the_downstream_package_builds_against_an_installed_wheel_and_agrees(tmp_path):
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    wheels, cmlp_site, downstream_site = tmp_path / "wheels", tmp_path / "cmlp", tmp_path / "ds"
    _run(pip + ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, REPO],
         cwd=tmp_path)
    (wheel,) = wheels.glob("cmlp-*.whl")
    _run(pip + ["install", "-q", "--no-deps", "--target", cmlp_site, wheel], cwd=tmp_path)

    source = tmp_path / "downstream"
    shutil.copytree(DOWNSTREAM, source)
    env = dict(os.environ, PYTHONPATH=str(cmlp_site))
    _run(pip + ["install", "-q", "--no-deps", "--no-build-isolation", "--target",
                downstream_site, "."], cwd=source, env=env)

    env["PYTHONPATH"] = os.pathsep.join([str(cmlp_site), str(downstream_site)])
    result = _run([sys.executable, str(source / "check.py")], cwd=tmp_path, env=env)
    assert f"from {cmlp_site}" in result.stdout, result.stdout  # the wheel's cmlp, not REPO
    assert result.stdout.rstrip().endswith("agree"), result.stdout
