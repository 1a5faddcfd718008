"""numpydoc's validation of every public docstring (the API reference is built from them).

The public API is the names of each public module's ``__all__`` and the public methods of
its classes: the same names docs/api.rst lists, which test_api_page_lists_every_public_name
checks. Needs numpydoc (the docs extra); the docs CI stage runs this file.

Checks left out, for the whole API:
  GL01  the summary starts on the line of the opening quotes (the house style)
  ES01  an extended summary (short functions need none)
  SA01  a See Also section
  PR08, RT04  a description starting with a capital letter: many start with a literal
        (``None``, float32, ``(n_samples,)``)
and PR02 for cmlp.inference.Model (see IGNORED_FOR). The Examples sections run as doctests.
"""
import importlib
import inspect
import re
from pathlib import Path

import pytest

validate = pytest.importorskip(
    "numpydoc.validate", reason="numpydoc is in the docs extra: pip install -e '.[docs]'")

IGNORED = {"GL01", "ES01", "SA01", "PR08", "RT04"}
# A compiled (cdef) class: Python cannot read the signature of its __init__, so numpydoc
# takes its documented parameters for unknown ones.
IGNORED_FOR = {"cmlp.inference.Model": {"PR02"}}
MODULES = ["cmlp", "cmlp.datasets", "cmlp.sklearn", "cmlp.inference", "cmlp.onnx",
           "cmlp.augment", "cmlp.dropout", "cmlp.optimizers", "cmlp.metrics", "cmlp.plots",
           "cmlp.export_c",
           "cmlp.reference", "cmlp.cli"]
# Constants have no docstring of their own: docs/api.rst describes them.
CONSTANTS = {"cmlp.__version__", "cmlp.datasets.MNIST_MIRRORS", "cmlp.inference.ABI_VERSION",
             "cmlp.inference.API_VERSION"}
# Methods a class inherits from scikit-learn (documented there) are not cmlp's to validate.
INHERITED_OK = ("sklearn.",)


def _public_names():
    names = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            path = f"{module_name}.{name}"
            obj = getattr(module, name)
            if path in CONSTANTS or not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue  # constants: described in docs/api.rst
            names.append(path)
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or isinstance(member, property):
                        continue
                    # available_if (partial_fit) wraps a method in a descriptor
                    if callable(member) or isinstance(member, (classmethod, staticmethod)) \
                            or type(member).__name__ == "_AvailableIfDescriptor":
                        names.append(f"{path}.{attr}")
    return names


PUBLIC = _public_names()


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_follows_numpydoc(name):
    result = validate.validate(name)
    errors = [f"{code}: {message}" for code, message in result["errors"]
              if code not in IGNORED | IGNORED_FOR.get(name, set())]
    assert not errors, f"{name}:\n  " + "\n  ".join(errors)


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_speaks_of_the_api_not_the_notebook(name):
    module_name, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except ModuleNotFoundError:
        owner_module, _, owner = module_name.rpartition(".")
        obj = getattr(getattr(importlib.import_module(owner_module), owner), attr)
    assert "seed notebook" not in (inspect.getdoc(obj) or "")


def test_api_page_lists_every_public_name():
    page = (Path(__file__).resolve().parent.parent / "docs" / "api.rst").read_text()
    listed = set(re.findall(r"^   ([\w.]+)$", page, re.MULTILINE))
    current = None
    documented = set()
    for line in page.splitlines():
        match = re.match(r"\.\. currentmodule:: ([\w.]+)", line)
        if match:
            current = match.group(1)
        elif current and re.match(r"^   [\w.]+$", line) and line.strip() in listed:
            documented.add(f"{current}.{line.strip()}")
    top_level = [n for n in PUBLIC if n.count(".") <= 2 and not _is_method(n)]
    missing = [n for n in top_level if n not in documented]
    assert not missing, f"public names missing from docs/api.rst: {missing}"


def _is_method(name):
    module_name, _, attr = name.rpartition(".")
    try:
        importlib.import_module(module_name)
        return False
    except ModuleNotFoundError:
        return True


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name):
    """The Examples sections are doctests (those that need files or a network say SKIP)."""
    import doctest
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
