"""Build the Cython extensions.

Compiler directives are set here once. CMLP_DEBUG_CYTHON=1 turns bounds checking,
wraparound and initialisation checks back on for a debug build the tests can use
(scikit-learn's SKLEARN_ENABLE_DEBUG_CYTHON_DIRECTIVES idea).
"""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("CMLP_DEBUG_CYTHON", "0") == "1"

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
}

EXTENSIONS = [
    Extension(
        f"cmlp.{name}",
        [f"cmlp/{name}.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O3"] if not DEBUG else ["-O0", "-g"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in ("_blas", "_kernels")
]

setup(ext_modules=cythonize(EXTENSIONS, compiler_directives=DIRECTIVES))
