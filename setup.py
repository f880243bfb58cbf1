"""Build the softmax_c extension.

The kernels are compiled several times: the portable baseline with the
rest of the extension, and on x86-64 one extra object per ISA variant with
that variant's flags only (never the whole extension), so a wheel runs on
any x86-64 CPU and picks the fastest variant at import.
"""
import glob
import platform
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

X86_64 = platform.machine().lower() in ("x86_64", "amd64")

# Flags for every C file of ours: no FP contraction, so the error-free
# transformations in the kernels compute exactly what they say.
COMMON_FLAGS = {
    "unix": ["-O3", "-std=c11", "-ffp-contract=off", "-fno-strict-aliasing"],
    "msvc": ["/O2", "/fp:precise"],
}

# (source, flags per compiler type) of each extra ISA variant.
ISA_VARIANTS = [
    ("src/kernels/kernels_avx2.c", {"unix": ["-mavx2", "-mfma"], "msvc": ["/arch:AVX2"]}),
    ("src/kernels/kernels_avx512.c", {"unix": ["-mavx512f"], "msvc": ["/arch:AVX512"]}),
] if X86_64 else []


class BuildExtWithVariants(build_ext):
    """build_ext that compiles each ISA variant object with its own flags."""

    def build_extension(self, ext):
        ctype = "msvc" if self.compiler.compiler_type == "msvc" else "unix"
        objects = []
        for source, flags in ISA_VARIANTS:
            objects += self.compiler.compile(
                [source], output_dir=self.build_temp, include_dirs=ext.include_dirs,
                extra_postargs=COMMON_FLAGS[ctype] + flags[ctype],
                depends=ext.depends)
        ext.extra_objects = list(ext.extra_objects or []) + objects
        ext.extra_compile_args = COMMON_FLAGS[ctype] if ctype == "msvc" else \
            [f for f in COMMON_FLAGS[ctype] if f != "-std=c11"]
        super().build_extension(ext)


# Every driver file in src/core, plus the baseline kernel variant.
C_SOURCES = sorted(glob.glob("src/core/*.c")) + ["src/kernels/kernels.c"]
HEADERS = sorted(glob.glob("src/**/*.h", recursive=True)) + ["src/kernels/kernels.c"]

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
    cmdclass={"build_ext": BuildExtWithVariants},
    package_data={"softmax_c": ["*.pyi", "py.typed", "*.pxd", "include/*.h"]},
)
