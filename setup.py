"""Build the compiled modules.

Compiler directives are set here once. CMLP_DEBUG_CYTHON=1 turns bounds checking,
wraparound and initialisation checks back on for a debug build the tests can use
(scikit-learn's SKLEARN_ENABLE_DEBUG_CYTHON_DIRECTIVES idea). OpenMP is used where the
compiler supports it (CMLP_NO_OPENMP=1 builds without); without it, cmlp still builds and
runs, handing its thread count to BLAS instead. The build says which on stderr.

Linux builds are stripped (a wheel's _kernels: 3 MB with symbols, 0.7 MB without) and carry
no RUNPATH of the build machine's Python; CMLP_KEEP_SYMBOLS=1 (or the debug build) keeps
the symbols, for debuggers and sanitizer reports.
"""
import os
import sys
import tempfile
import textwrap

import Cython
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("CMLP_DEBUG_CYTHON", "0") == "1"
KEEP_SYMBOLS = DEBUG or os.environ.get("CMLP_KEEP_SYMBOLS", "0") == "1"

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
}
# The modules keep no module-level state that threads change without a lock, so a
# free-threaded CPython need not turn the GIL back on for them. Cython 3.1 knows the
# directive; older Cython (which cannot build for free-threaded CPython anyway) would refuse it.
if tuple(int(part) for part in Cython.__version__.split(".")[:2]) >= (3, 1):
    DIRECTIVES["freethreading_compatible"] = True

EXTENSIONS = [
    Extension(
        "cmlp._codes",
        ["cmlp/_codes.pyx"],
    ),
    Extension(
        "cmlp._blas",
        ["cmlp/_blas.pyx"],
    ),
    Extension(
        "cmlp._settings",
        ["cmlp/_settings.pyx"],
    ),
    Extension(
        "cmlp._regularization",
        ["cmlp/_regularization.pyx"],
        include_dirs=["cmlp/_src"],  # cimports cmlp._layers (simd.h's narrow-layer limit)
    ),
    Extension(
        "cmlp._workspace",
        ["cmlp/_workspace.pyx"],
        include_dirs=["cmlp/_src"],  # simd.h's narrow-layer limit, progress.h
    ),
    Extension(
        "cmlp._threads",
        ["cmlp/_threads.pyx"],
    ),
    Extension(
        "cmlp._guard",
        ["cmlp/_guard.pyx"],
    ),
    Extension(
        "cmlp._pool",
        ["cmlp/_pool.pyx"],
    ),
    Extension(
        "cmlp._augment",
        ["cmlp/_augment.pyx"],
    ),
    Extension(
        "cmlp._sparse",
        ["cmlp/_sparse.pyx"],
        include_dirs=["cmlp/_src"],  # cimports cmlp._kernels (its update)
    ),
    Extension(
        "cmlp._kernels",
        ["cmlp/_kernels.pyx", "cmlp/_src/simd.c", "cmlp/_src/simd_generic.c",
         "cmlp/_src/simd_avx_fma.c", "cmlp/_src/simd_avx512.c"],
        include_dirs=["cmlp/_src"],
        depends=["cmlp/_src/simd.h", "cmlp/_src/simd_paths.h", "cmlp/_src/simd_isa.h",
                 "cmlp/_src/portable.h", "cmlp/_src/vec_ops.h", "cmlp/_src/vec_undef.h",
                 "cmlp/_src/narrow_impl.h", "cmlp/_src/tiles_impl.h",
                 "cmlp/_src/denormals.h", "cmlp/_src/interrupt.h", "cmlp/_src/team.h"],
    ),
    Extension(
        "cmlp._inference",
        ["cmlp/_inference.pyx", "cmlp/_src/int8.c", "cmlp/_src/int8_generic.c",
         "cmlp/_src/int8_avx2.c", "cmlp/_src/int8_vnni.c"],
        include_dirs=["cmlp/_src", "cmlp/include"],
        define_macros=[("CMLP_INFERENCE_MODULE", "1")],
        depends=["cmlp/include/cmlp_inference.h", "cmlp/_src/denormals.h",
                 "cmlp/_src/int8.h", "cmlp/_src/int8_row.h", "cmlp/_src/portable.h"],
    ),
    Extension(
        "cmlp._unit_split",
        ["cmlp/_unit_split.pyx"],
        include_dirs=["cmlp/_src"],
        depends=["cmlp/_src/team.h", "cmlp/_src/denormals.h", "cmlp/_src/interrupt.h"],
    ),
]
THREADED = {"cmlp._kernels", "cmlp._unit_split", "cmlp._augment", "cmlp._inference"}
# The per-instruction-set units of the SIMD kernels and MSVC's flag for each. GCC and Clang
# get theirs from target pragmas in the units, which therefore build for any target (see
# simd_paths.h); MSVC compiles each unit on its own with its /arch: flag, on x86-64 only.
ISA_UNITS = {"cmlp/_src/simd_avx_fma.c": "/arch:AVX", "cmlp/_src/simd_avx512.c": "/arch:AVX512",
             "cmlp/_src/int8_avx2.c": "/arch:AVX2", "cmlp/_src/int8_vnni.c": "/arch:AVX512"}
for extension in EXTENSIONS:
    extension.include_dirs.append(numpy.get_include())
    extension.define_macros.append(("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"))


def _optimisation_flags(compiler):
    if compiler.compiler_type == "msvc":
        return ["/Od"] if DEBUG else ["/O2"]
    # -fno-math-errno: sqrtf and expf never set errno here, and loops calling them can then
    # be vectorised. -ffp-contract=off: the compiler never fuses a * b + c on its own (only
    # the kernels' explicit FMAs are fused), so a value's rounding cannot depend on how the
    # loop holding it was vectorised, which would make a row's result depend on its place in
    # the batch. (MSVC fuses only under /fp:contract or /fp:fast, which are not set.)
    contract = ["-ffp-contract=off"]
    return ["-O0", "-g"] + contract if DEBUG else ["-O3", "-fno-math-errno"] + contract


def _openmp_flag(compiler):
    """The OpenMP flag if this compiler builds and links an OpenMP shared library, else None.

    The probe links a shared library, as the extensions are linked, not an executable: with
    CFLAGS=-fsanitize=address an executable's link lacks the sanitizer's runtime and would
    fail, silently dropping OpenMP from a sanitized build."""
    if os.environ.get("CMLP_NO_OPENMP", "0") == "1":
        return None
    flag = "/openmp" if compiler.compiler_type == "msvc" else "-fopenmp"
    source = textwrap.dedent("""
        #include <omp.h>
        int cmlp_check_openmp(void) { return omp_get_max_threads(); }
    """)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check_openmp.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=[flag])
            compiler.link_shared_object(objects, os.path.join(tmp, "check_openmp.so"),
                                        extra_postargs=[flag])
        except Exception as error:  # CompileError, LinkError: the compiler has no OpenMP
            print(f"cmlp: the OpenMP probe failed ({error})", file=sys.stderr)
            return None
    return flag


def _is_gnu_like(compiler):
    return compiler.compiler_type in ("unix", "mingw32", "cygwin")


def _drop_runpath(compiler):
    """Remove -Wl,-rpath,DIR from the link line: Pythons built with one (pyenv's) put their
    own lib directory there, which would otherwise end up in the installed modules."""
    for attribute in ("linker_so", "linker_so_cxx"):
        command = getattr(compiler, attribute, None)
        if command:
            setattr(compiler, attribute,
                    [arg for arg in command if not arg.startswith(("-Wl,-rpath", "-Wl,-R"))])


class BuildExtWithOpenMP(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:  # no -j given (pip never gives one): every CPU compiles
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        flag = _openmp_flag(self.compiler)
        if flag is None:
            print("cmlp: building WITHOUT OpenMP (threads go to BLAS instead)", file=sys.stderr)
        else:
            print(f"cmlp: building with OpenMP ({flag})", file=sys.stderr)
        gnu_like = _is_gnu_like(self.compiler)
        if gnu_like:
            _drop_runpath(self.compiler)
        strip = gnu_like and sys.platform.startswith("linux") and not KEEP_SYMBOLS
        for extension in self.extensions:
            extension.extra_compile_args.extend(_optimisation_flags(self.compiler))
            if flag is not None and extension.name in THREADED:
                extension.extra_compile_args.append(flag)
                extension.extra_link_args.append(flag)
            if strip:  # no debug information to make, none to ship
                extension.extra_compile_args.append("-g0")
                extension.extra_link_args.append("-Wl,--strip-all")
        super().build_extensions()

    def build_extension(self, extension):
        if self.compiler.compiler_type == "msvc" and self.plat_name == "win-amd64":
            self._compile_isa_units_apart(extension)
        super().build_extension(extension)

    def _compile_isa_units_apart(self, extension):
        """Compile extension's instruction-set units each with its /arch: flag, and link
        their objects in, instead of compiling them with the common flags."""
        units = [source for source in extension.sources if source in ISA_UNITS]
        for source in units:
            objects = self.compiler.compile(
                [source], output_dir=self.build_temp, macros=extension.define_macros,
                include_dirs=extension.include_dirs, debug=self.debug,
                extra_postargs=extension.extra_compile_args + [ISA_UNITS[source]],
                depends=extension.depends)
            extension.extra_objects.extend(objects)
        extension.sources = [s for s in extension.sources if s not in units]


setup(
    ext_modules=cythonize(EXTENSIONS, compiler_directives=DIRECTIVES),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
