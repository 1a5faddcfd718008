"""Build the compiled modules.

Compiler directives are set here once. CMLP_DEBUG_CYTHON=1 turns bounds checking,
wraparound and initialisation checks back on for a debug build the tests can use
(scikit-learn's SKLEARN_ENABLE_DEBUG_CYTHON_DIRECTIVES idea). OpenMP is used where the
compiler supports it (CMLP_NO_OPENMP=1 builds without); without it, cmlp still builds and
runs, handing its thread count to BLAS instead.
"""
import os
import tempfile
import textwrap

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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
        "cmlp._blas",
        ["cmlp/_blas.pyx"],
    ),
    Extension(
        "cmlp._regularization",
        ["cmlp/_regularization.pyx"],
    ),
    Extension(
        "cmlp._augment",
        ["cmlp/_augment.pyx"],
    ),
    Extension(
        "cmlp._kernels",
        ["cmlp/_kernels.pyx", "cmlp/_src/simd.c"],
        include_dirs=["cmlp/_src"],
        depends=["cmlp/_src/simd.h", "cmlp/_src/simd_isa.h", "cmlp/_src/narrow_impl.h",
                 "cmlp/_src/tiles_impl.h", "cmlp/_src/denormals.h", "cmlp/_src/interrupt.h",
                 "cmlp/_src/team.h"],
    ),
    Extension(
        "cmlp._inference",
        ["cmlp/_inference.pyx"],
        include_dirs=["cmlp/_src", "cmlp/include"],
        define_macros=[("CMLP_INFERENCE_MODULE", "1")],
        depends=["cmlp/include/cmlp_inference.h", "cmlp/_src/denormals.h"],
    ),
    Extension(
        "cmlp._unit_split",
        ["cmlp/_unit_split.pyx"],
        include_dirs=["cmlp/_src"],
        depends=["cmlp/_src/team.h", "cmlp/_src/denormals.h", "cmlp/_src/interrupt.h"],
    ),
]
THREADED = {"cmlp._kernels", "cmlp._unit_split", "cmlp._augment", "cmlp._inference"}
for extension in EXTENSIONS:
    extension.include_dirs.append(numpy.get_include())
    extension.define_macros.append(("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"))
    # -fno-math-errno: sqrtf and expf never set errno here, and loops calling them can then
    # be vectorised.
    extension.extra_compile_args.extend(["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"])


def _openmp_flag(compiler):
    """-fopenmp if this compiler builds and links an OpenMP program, else None."""
    if os.environ.get("CMLP_NO_OPENMP", "0") == "1":
        return None
    source = textwrap.dedent("""
        #include <omp.h>
        int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
    """)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check_openmp.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=["-fopenmp"])
            compiler.link_executable(objects, os.path.join(tmp, "check_openmp"),
                                     extra_postargs=["-fopenmp"])
        except Exception:  # CompileError, LinkError: the compiler has no OpenMP
            return None
    return "-fopenmp"


class BuildExtWithOpenMP(build_ext):
    def build_extensions(self):
        flag = _openmp_flag(self.compiler)
        if flag is None:
            print("cmlp: building without OpenMP (threads go to BLAS instead)")
        for extension in self.extensions:
            if flag is not None and extension.name in THREADED:
                extension.extra_compile_args.append(flag)
                extension.extra_link_args.append(flag)
        super().build_extensions()


setup(
    ext_modules=cythonize(EXTENSIONS, compiler_directives=DIRECTIVES),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
