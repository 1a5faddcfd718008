"""Check a built Linux wheel: its compiled modules are stripped (no .symtab, no debug info)
and no RUNPATH/RPATH names a directory of the build machine; the license files ship with it.
Usage: python check_wheel.py WHEEL CHECKOUT
"""
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def main(wheel, checkout):
    problems = []
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp)
        for needed in ("licenses/LICENSE", "cmlp/data/LICENSE"):
            if not any(name.endswith(needed) for name in names):
                problems.append(f"no {needed} in the wheel")
        libraries = [n for n in names if n.endswith(".so") or ".so." in n]
        for name in libraries:
            path = Path(tmp, name)
            sections = subprocess.run(["readelf", "-S", "-W", path], check=True,
                                      capture_output=True, text=True).stdout
            dynamic = subprocess.run(["readelf", "-d", "-W", path], check=True,
                                     capture_output=True, text=True).stdout
            if re.search(r"\] \.(symtab|debug_\w+)\s", sections):
                problems.append(f"{name} is not stripped")
            for path_list in re.findall(r"\((?:RPATH|RUNPATH)\).*\[(.*)\]", dynamic):
                for entry in path_list.split(":"):
                    if not entry.startswith("$ORIGIN"):
                        problems.append(f"{name} has RUNPATH {entry}")
            runpath = re.findall(r"PATH.*\[(.*)\]", dynamic) or "none"
            print(f"{name}: {path.stat().st_size / 1e6:.2f} MB, runpath {runpath}")
            if checkout.encode() in path.read_bytes():
                problems.append(f"{name} contains the build directory's path {checkout}")
    print(f"{Path(wheel).name}: {Path(wheel).stat().st_size / 1e6:.2f} MB")
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
