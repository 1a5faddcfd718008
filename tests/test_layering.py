"""The layering of DESIGN.md, read from the source: compiled code never imports the Python
above it. A compiled module (cmlp/*.pyx) may import other compiled modules and pure-Python
leaves (modules that import nothing of cmlp, such as the int8 scheme in cmlp/_int8.py);
anything else would make the kernels depend on the layer that validates for them."""
import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "cmlp"
COMPILED = sorted(path.stem for path in PACKAGE.glob("*.pyx"))
# Python import statements of a .pyx file, at any indentation (cimports are not imports).
IMPORT = re.compile(r"^\s*(?:from\s+(cmlp(?:\.\w+)*)\s+import\s+([\w, ()]+)|import\s+(cmlp(?:\.\w+)*))",
                    re.MULTILINE)


def _cmlp_imports(source):
    """The cmlp modules a .pyx file imports at run time."""
    names = set()
    for package, members, module in IMPORT.findall(source):
        if module:
            names.add(module)
        elif package == "cmlp":
            names.update(f"cmlp.{member.strip(' ()')}" for member in members.split(",")
                         if member.strip(" ()"))
        else:
            names.add(package)
    return names


def _is_python_leaf(name):
    """A cmlp .py module that imports no cmlp module itself."""
    path = PACKAGE / (name.split(".", 1)[1].replace(".", "/") + ".py")
    if not path.is_file():
        return False
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cmlp"):
            return False
        if isinstance(node, ast.Import) and any(a.name.startswith("cmlp") for a in node.names):
            return False
    return True


def test_the_import_reader_sees_every_kind_of_statement():
    source = ("from cmlp import _codes, _int8\n    from cmlp.network import Network\n"
              "import cmlp.reference\nfrom cmlp._kernels cimport forward\n")
    assert _cmlp_imports(source) == {"cmlp._codes", "cmlp._int8", "cmlp.network",
                                     "cmlp.reference"}
    assert _is_python_leaf("cmlp._int8") and not _is_python_leaf("cmlp.network")


@pytest.mark.parametrize("module", COMPILED)
def test_compiled_modules_import_nothing_above_them(module):
    source = (PACKAGE / f"{module}.pyx").read_text()
    above = sorted(name for name in _cmlp_imports(source)
                   if name.split(".", 1)[1] not in COMPILED and not _is_python_leaf(name))
    assert above == [], f"cmlp/{module}.pyx imports the Python layer: {above}"
