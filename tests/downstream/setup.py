"""The one extension: cmlp's header directory comes from cmlp.get_include(), as numpy's from
numpy.get_include(). Cython finds cmlp/inference.pxd beside the installed cmlp package (the
include_path entry matters only for an editable install of cmlp, whose package directory is
not on sys.path)."""
import os

import cmlp
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(ext_modules=cythonize(
    [Extension("cmlp_downstream", ["cmlp_downstream.pyx"], include_dirs=[cmlp.get_include()])],
    include_path=[os.path.dirname(os.path.dirname(os.path.abspath(cmlp.__file__)))],
    compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
))
