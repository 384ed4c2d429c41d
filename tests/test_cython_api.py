"""Other Cython code can cimport nncore's kernels from an installed nncore: the wheel carries
the core's ``.pxd`` declarations and C headers. A tiny extension is built against the
installed package (in a temporary folder, with this Python's Cython and C compiler), cimports
``dense_forward`` and ``simd_level`` from ``nncore._kernels`` and calls them."""
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest

import nncore

# (see the "once" marker in pyproject.toml)
pytestmark = pytest.mark.once

PACKAGE = pathlib.Path(nncore.__file__).resolve().parent
INSTALLED = any(part in ("site-packages", "dist-packages") for part in PACKAGE.parts)


def test_the_package_carries_the_declarations_and_headers():
    if not INSTALLED:
        pytest.skip(f"nncore is imported from a source tree ({PACKAGE}), not an installed "
                    f"package: the .pxd and .h files are put into the package at install")
    names = {p.name for p in PACKAGE.iterdir()}
    assert {"_kernels.pxd", "_optim.pxd", "_simd.h"} <= names, sorted(names)
    # the declarations are the ones the compiled modules were built from: every fused kernel
    # the .pxd declares is exported by the compiled module
    import nncore._kernels as k
    text = (PACKAGE / "_kernels.pxd").read_text()
    for name in ("dense_forward", "gemm", "activation_forward", "simd_level"):
        assert f" {name}(" in text
        assert any(key == name or key.startswith(name + "[") for key in k.__pyx_capi__), name


SOURCE = """
from nncore._kernels cimport dense_forward, simd_level, ACT_RELU

def forward(z, W, b, a):
    # a = z @ W + b, by nncore's kernel, in float64 or float32
    cdef double[:, ::1] z8, W8, a8
    cdef double[::1] b8
    cdef float[:, ::1] z4, W4, a4
    cdef float[::1] b4
    if a.dtype.itemsize == 8:
        z8, W8, b8, a8 = z, W, b, a
        dense_forward(&z8[0, 0], &W8[0, 0], &b8[0], &a8[0, 0],
                      z8.shape[0], z8.shape[1], W8.shape[1])
    else:
        z4, W4, b4, a4 = z, W, b, a
        dense_forward(&z4[0, 0], &W4[0, 0], &b4[0], &a4[0, 0],
                      z4.shape[0], z4.shape[1], W4.shape[1])

def level():
    return simd_level()

def relu_code():
    return ACT_RELU
"""

SETUP = """
import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
setup(ext_modules=cythonize([Extension("uses_nncore", ["uses_nncore.pyx"],
                                       include_dirs=[np.get_include()])],
                            compiler_directives={"language_level": 3}),
      script_args=["build_ext", "--inplace"])
"""


@pytest.fixture(scope="module")
def extension(tmp_path_factory):
    if not INSTALLED:
        pytest.skip(f"nncore is imported from a source tree ({PACKAGE}): the test builds "
                    f"against an installed nncore (pip install .)")
    try:
        import Cython  # noqa: F401
    except ImportError:
        pytest.skip("Cython is not installed (pip install cython): cannot build the extension")
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc!r} is not on PATH): cannot build the extension")
    folder = tmp_path_factory.mktemp("uses_nncore")
    (folder / "uses_nncore.pyx").write_text(textwrap.dedent(SOURCE))
    (folder / "setup.py").write_text(textwrap.dedent(SETUP))
    # run outside the source tree, so that Cython finds the installed package's .pxd
    result = subprocess.run([sys.executable, "setup.py"], cwd=folder, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sys.path.insert(0, str(folder))
    try:
        import uses_nncore
    finally:
        sys.path.remove(str(folder))
    return uses_nncore


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 3, 2), (37, 70, 45)])
def test_a_cython_extension_cimports_and_calls_a_kernel(extension, dtype, shape):
    m, n_in, n_out = shape
    rng = np.random.default_rng(0)
    z = rng.standard_normal((m, n_in)).astype(dtype)
    W = rng.standard_normal((n_in, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    a = np.full((m, n_out), np.nan, dtype=dtype)
    extension.forward(z, W, b, a)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(a, z @ W + b, rtol=rtol, atol=rtol * n_in)


def test_the_cimported_constants_and_cpu_path_are_the_cores(extension):
    import nncore._kernels as k
    from nncore import activations
    assert extension.relu_code() == activations.RELU
    # the SIMD level the extension reads is the core's: portable 0, AVX2 1, AVX-512 2
    assert extension.level() == {"portable": 0, "avx2": 1, "avx512": 2}[k.cpu_path()]
