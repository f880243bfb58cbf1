"""Build the softmax_c extension.

The kernels are compiled several times: the portable baseline, and on
x86-64 one extra object per ISA variant with that variant's flags only
(never the whole extension), so a wheel runs on any x86-64 CPU and picks
the fastest variant at import.  These kernel objects are the slow
compiles (minutes each in the sanitizer build), so they are compiled in
parallel, as many at once as `build_ext -j N` says (default: the CPUs).
"""
import concurrent.futures
import glob
import os
import platform
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

X86_64 = platform.machine().lower() in ("x86_64", "amd64")

# Flags for every C file of ours: no FP contraction, so the error-free
# transformations in the kernels compute exactly what they say.
COMMON_FLAGS = {
    "unix": ["-O3", "-std=c11", "-ffp-contract=off", "-fno-strict-aliasing"],
    "msvc": ["/O2", "/fp:precise"],
}

# (source, flags per compiler type) of each kernel variant: the portable
# baseline, and on x86-64 the extra ISA variants.
KERNEL_VARIANTS = [("src/kernels/kernels.c", {"unix": [], "msvc": []})] + ([
    ("src/kernels/kernels_avx2.c", {"unix": ["-mavx2", "-mfma"], "msvc": ["/arch:AVX2"]}),
    # not for MSVC: its AVX-512 build has never been tested (see internal.h)
    ("src/kernels/kernels_avx512.c", {"unix": ["-mavx512f", "-mfma"], "msvc": None}),
] if X86_64 else [])


# The public C header is edited in one place, src/include/; the package
# ships a generated copy in softmax_c/include/ (softmax_c.get_include()).
PUBLIC_HEADER = "src/include/softmax_c.h"


def copy_public_header(cmd, package_dir):
    """Copy the public header into <package_dir>/include/."""
    target = os.path.join(package_dir, "include")
    cmd.mkpath(target)
    cmd.copy_file(PUBLIC_HEADER, target)


class BuildPyWithHeader(build_py):
    """build_py that also puts the public header into the package (the
    wheel's copy; for editable installs, the source tree's)."""

    def run(self):
        super().run()
        editable = getattr(self, "editable_mode", False)
        copy_public_header(self, "softmax_c" if editable else
                           os.path.join(self.build_lib, "softmax_c"))


class BuildExtWithVariants(build_ext):
    """build_ext that compiles each ISA variant object with its own flags
    (and, for `build_ext --inplace`, refreshes the header copy in the
    source tree)."""

    def run(self):
        super().run()
        if self.inplace:
            copy_public_header(self, "softmax_c")

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def build_extension(self, ext):
        ctype = "msvc" if self.compiler.compiler_type == "msvc" else "unix"
        variants = [(source, flags[ctype]) for source, flags in KERNEL_VARIANTS
                    if flags[ctype] is not None]

        def compile_variant(variant):
            source, flags = variant
            return self.compiler.compile(
                [source], output_dir=self.build_temp, include_dirs=ext.include_dirs,
                extra_postargs=COMMON_FLAGS[ctype] + flags, depends=ext.depends)

        # the output folder first: the compiles would otherwise race to make it
        os.makedirs(os.path.join(self.build_temp, "src", "kernels"), exist_ok=True)
        workers = self.parallel if isinstance(self.parallel, int) and self.parallel > 1 else 1
        with concurrent.futures.ThreadPoolExecutor(min(workers, len(variants))) as pool:
            objects = [obj for objs in pool.map(compile_variant, variants) for obj in objs]
        ext.extra_objects = list(ext.extra_objects or []) + objects
        ext.extra_compile_args = COMMON_FLAGS[ctype] if ctype == "msvc" else \
            [f for f in COMMON_FLAGS[ctype] if f != "-std=c11"]
        super().build_extension(ext)


# Every driver file in src/core (the kernels: KERNEL_VARIANTS).
C_SOURCES = sorted(glob.glob("src/core/*.c"))
HEADERS = sorted(glob.glob("src/**/*.h", recursive=True)) + ["src/kernels/kernels.c",
                                                              "softmax_c/output_cache.h"]

extension = Extension(
    "softmax_c._core",
    sources=["softmax_c/_core.pyx"] + C_SOURCES,
    include_dirs=[numpy.get_include(), "src/include", "src"],
    depends=HEADERS,
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    libraries=[] if sys.platform == "win32" else ["m", "pthread"],
)

setup(
    ext_modules=cythonize([extension], language_level=3),
    cmdclass={"build_ext": BuildExtWithVariants, "build_py": BuildPyWithHeader},
    package_data={"softmax_c": ["*.pyi", "py.typed", "*.pxd", "include/*.h"]},
)
