# Kernels of nncore's core: dense matmul, activations and their derivatives, losses and their
# gradients, the update. Declarations and the contract every kernel keeps are in _kernels.pxd.
# Each kernel's comment shows the NumPy it replaces. The `def` wrappers (the last include) take
# typed memoryviews, check shapes, and are what nncore.functional and the tests call.

from libc.math cimport (exp, expf, expm1, expm1f, erfc, erfcf, log, logf, log1p, log1pf, tanh,
                        tanhf, fabs, isfinite)
from libc.float cimport DBL_MAX, DBL_MIN, FLT_MAX, FLT_MIN
from libc.stdint cimport int64_t
from libc.string cimport memset
from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer

import os

import numpy as np

# One extension module, its source split by concern into files that Cython includes in order:
include "_kernels_choice.pxi"     # the cpu path (SIMD tables) and BLAS, chosen at run time
include "_kernels_gemm.pxi"       # matrix products: paths, tiles, few-row kernels, BLAS
include "_kernels_math.pxi"       # activations, reductions
include "_kernels_losses.pxi"     # losses and their gradients
include "_kernels_sparse.pxi"     # the first layer from CSR rows
include "_kernels_wrappers.pxi"   # the def wrappers over typed memoryviews


# the choices in force at import: the best cpu path and BLAS, unless the environment says
# otherwise
set_cpu_path(os.environ.get("NNCORE_CPU", "auto"))
set_blas(os.environ.get("NNCORE_BLAS", "auto"))
set_num_threads(_threads_from_environment())
