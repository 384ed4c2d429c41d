"""Build the compiled core of nncore.

The Cython sources live in ``nncore/`` (the repository's top folder) and are built into the
``nncore`` package whose Python code lives in ``python/nncore/``, so users see one package.

Compiler directives are set once, here. ``NNCORE_DEBUG=1 pip install .`` turns bounds,
wraparound and initialisation checks back on for a debug build. ``NNCORE_SANITIZE=1`` does the
same and builds with AddressSanitizer and UndefinedBehaviorSanitizer (``.ci/sanitize`` runs the
tests on such a build); ``NNCORE_SANITIZE=thread`` builds with ThreadSanitizer instead
(``.ci/sanitize`` runs the thread tests on it). Without either variable the build is the optimised one.
"""
import glob
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

SANITIZE = os.environ.get("NNCORE_SANITIZE", "") not in ("", "0")
DEBUG = SANITIZE or os.environ.get("NNCORE_DEBUG", "") not in ("", "0")
# NNCORE_SANITIZE=thread: ThreadSanitizer instead (it cannot be combined with AddressSanitizer)
SANITIZER_FLAGS = (["-fsanitize=thread"] if os.environ.get("NNCORE_SANITIZE") == "thread"
                   else ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
                   ) + ["-fno-omit-frame-pointer"]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

common = dict(
    include_dirs=[np.get_include(), "nncore"],   # nncore/_simd.h
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=(["-O1", "-g"] + SANITIZER_FLAGS if SANITIZE
                        else ["-O0", "-g"] if DEBUG else ["-O3"]),
    extra_link_args=SANITIZER_FLAGS if SANITIZE else [],
)

extensions = [
    Extension("nncore._kernels", ["nncore/_kernels.pyx"], **common),
    Extension("nncore._engine", ["nncore/_engine.pyx"], **common),
    # -fno-math-errno: sqrt may then be one vector instruction (the updates never take the
    # root of a negative number, and nothing reads errno)
    Extension("nncore._optim", ["nncore/_optim.pyx"],
              **{**common, "extra_compile_args": common["extra_compile_args"]
                 + ["-fno-math-errno"]}),
]



class build_py_with_declarations(build_py):
    """Also put the core's ``.pxd`` declarations and C headers into the package (they live in
    the top ``nncore/`` folder, the Python code in ``python/nncore/``), so that an installed
    nncore can be cimported by other Cython code: ``from nncore._kernels cimport gemm``."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "nncore")
        self.mkpath(target)
        for path in sorted(glob.glob("nncore/*.pxd") + glob.glob("nncore/*.h")):
            self.copy_file(path, os.path.join(target, os.path.basename(path)))

    def get_outputs(self, include_bytecode=True):
        extra = [os.path.join(self.build_lib, "nncore", os.path.basename(p))
                 for p in glob.glob("nncore/*.pxd") + glob.glob("nncore/*.h")]
        return super().get_outputs(include_bytecode) + extra


setup(
    ext_modules=cythonize(extensions, compiler_directives=directives, include_path=["."]),
    cmdclass={"build_py": build_py_with_declarations},
)
