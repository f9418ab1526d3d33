"""Build hook only: compiles the native C core (native/src/kpack_core.c) into the package as
`kpack/_kpack_native.<ext-suffix>`. It is a plain shared library with a C ABI and no Python API;
kpack.native loads it with ctypes. All project metadata lives in pyproject.toml."""
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildNative(build_ext):
    """build_ext for a ctypes library: C11 flags per compiler, and no PyInit_* export expected."""

    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            flags = ["/O2", "/fp:precise", "/DKPACK_BUILD"]
        else:
            # -fwrapv and -ffp-contract=off are part of the parity contract with the Numba kernels.
            flags = ["-std=c11", "-O3", "-fvisibility=hidden", "-fwrapv", "-ffp-contract=off"]
        for ext in self.extensions:
            ext.extra_compile_args = flags + list(ext.extra_compile_args or [])
        super().build_extensions()

    def get_export_symbols(self, ext):
        return []   # no Python module init function: the library is loaded with ctypes


setup(
    ext_modules=[Extension("kpack._kpack_native", sources=["native/src/kpack_core.c"],
                           include_dirs=["native/include"], libraries=[] if sys.platform == "win32" else ["m"])],
    cmdclass={"build_ext": BuildNative},
)
