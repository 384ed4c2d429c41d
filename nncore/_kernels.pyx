# Kernels of nncore's core: dense matmul, activations and their derivatives, losses and their
# gradients, the update. Declarations and the contract every kernel keeps are in _kernels.pxd.
# Each kernel's comment shows the NumPy it replaces. The `def` wrappers at the end take typed
# memoryviews, check shapes, and are what nncore.functional and the tests call.

from libc.math cimport exp, expf, log, logf, log1p, log1pf, tanh, tanhf, fabs, isfinite
from libc.float cimport DBL_MAX, DBL_MIN, FLT_MAX, FLT_MIN
from libc.stdint cimport int64_t
from libc.string cimport memset
from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer

import os

import numpy as np

cdef extern from "_simd.h" nogil:
    # the SIMD kernels of one instruction set and type (see _simd.h), as function pointers
    ctypedef struct nn_kernels_f32:
        void (*gemm)(int trans_a, int trans_b, int m, int n, int k, float alpha,
                     const float* A, int lda, const float* B, int ldb, float beta, float* C,
                     int ldc, const float* bias) noexcept nogil
        void (*exp)(const float* x, float* y, Py_ssize_t n) noexcept nogil
        void (*sigmoid)(const float* a, float* z, Py_ssize_t n, float c,
                        float beta) noexcept nogil
        void (*softmax_rows)(const float* a, float* z, float* lse, Py_ssize_t m,
                             Py_ssize_t n) noexcept nogil
        void (*column_sums)(const float* d, float* out, Py_ssize_t m, Py_ssize_t n,
                            float alpha, float beta) noexcept nogil
        bint (*all_finite_in)(const float* x, Py_ssize_t n, float lo,
                              float hi) noexcept nogil
        void (*relu)(const float* a, float* z, Py_ssize_t n) noexcept nogil
        void (*relu_backward)(const float* a, float* delta, Py_ssize_t n) noexcept nogil
        void (*gemm_few)(int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float* A, int lda, const float* B, int ldb, float beta, float* C,
                         int ldc, const float* bias) noexcept nogil
        int tile_columns
        int tile_rows
    ctypedef struct nn_kernels_f64:
        void (*gemm)(int trans_a, int trans_b, int m, int n, int k, double alpha,
                     const double* A, int lda, const double* B, int ldb, double beta,
                     double* C, int ldc, const double* bias) noexcept nogil
        void (*exp)(const double* x, double* y, Py_ssize_t n) noexcept nogil
        void (*sigmoid)(const double* a, double* z, Py_ssize_t n, double c,
                        double beta) noexcept nogil
        void (*softmax_rows)(const double* a, double* z, double* lse, Py_ssize_t m,
                             Py_ssize_t n) noexcept nogil
        void (*column_sums)(const double* d, double* out, Py_ssize_t m, Py_ssize_t n,
                            double alpha, double beta) noexcept nogil
        bint (*all_finite_in)(const double* x, Py_ssize_t n, double lo,
                              double hi) noexcept nogil
        void (*relu)(const double* a, double* z, Py_ssize_t n) noexcept nogil
        void (*relu_backward)(const double* a, double* delta, Py_ssize_t n) noexcept nogil
        void (*gemm_few)(int trans_a, int trans_b, int m, int n, int k, double alpha,
                         const double* A, int lda, const double* B, int ldb, double beta, double* C,
                         int ldc, const double* bias) noexcept nogil
        int tile_columns
        int tile_rows
    int NN_CPU_PORTABLE, NN_CPU_AVX2, NN_CPU_AVX512
    int nn_cpu_level()
    const nn_kernels_f32* nn_kernels_for_f32(int level)
    const nn_kernels_f64* nn_kernels_for_f64(int level)


# ---------------------------------------------------------------------------------------------
# Matmul
# ---------------------------------------------------------------------------------------------

# Which code computes a product of m * n * k multiply-adds, chosen by measurement (`python
# benches/matmul_cutover.py`, one quiet run of it in README.md, "How the core computes"):
# - the portable loops below GEMM_SIMD_MIN_MNK;
# - the core's SIMD tiles (_simd.h: AVX-512 or AVX2 + FMA, by the CPU) up to
#   GEMM_BLAS_MIN_MNK: on one core they keep up with NumPy's OpenBLAS at every shape of the
#   step but the narrow ones below, and below about 2-4 million multiply-adds BLAS's two
#   threads do not pay for themselves (at 2.1M the tiles were 0-30% faster, at 8.4M BLAS
#   25-35%);
# - BLAS above;
# - except narrow products, where BLAS, which packs its operands first, was faster (AVX-512,
#   NumPy's OpenBLAS; benches/matmul_cutover.py, README.md "How the core computes"): products
#   with at most GEMM_NARROW_N_MAX columns from GEMM_NARROW_N_BLAS_MIN_MNK multiply-adds on (a
#   regression's single output: a tile one vector wide and mostly empty broadcasts as many
#   values of A as it makes vector multiply-adds; BLAS 1.3-8x faster), and op(A) = A.T with at
#   most GEMM_NARROW_TN_FILL of a tile's NR columns from GEMM_NARROW_TN_BLAS_MIN_MNK on (the
#   weight gradient z_prev.T @ delta of an output layer of 10 classes: float32 1.0-2.1x,
#   float64 1.0-1.7x; with 24 of 32 or 15 of 16 columns the tiles won, 0.7-0.9x, and below
#   8,192 multiply-adds too). Exceptions measured: 0.9x at float64 512 x 10 from 128 rows, and
#   float32 32 x 10 from 32 in one run of two. AVX2 follows by the same tile widths, unmeasured
#   (no AVX2-only CPU here);
# - except op(B) = B.T with fewer than SIMD_NT_MIN_ROWS rows (delta @ W.T at batch size 1),
#   where the tiles' transposed copy of B costs more than the product: as on a CPU without
#   SIMD kernels (or NNCORE_CPU=portable), the loops below GEMM_LOOPS_MAX_MNK, BLAS elsewhere
#   (NumPy's OpenBLAS, with its small-matrix kernels, beats the loops from there, a single
#   row included: 1 x 32 x 64 in 0.09 us against 0.29 us).
cdef double GEMM_SIMD_MIN_MNK = 64.0
cdef double GEMM_BLAS_MIN_MNK = 4194304.0
cdef int GEMM_NARROW_N_MAX = 4
cdef double GEMM_NARROW_N_BLAS_MIN_MNK = 1024.0
cdef double GEMM_NARROW_TN_FILL = 0.625
cdef double GEMM_NARROW_TN_BLAS_MIN_MNK = 8192.0
cdef double GEMM_LOOPS_MAX_MNK = 256.0
cdef int SIMD_NT_MIN_ROWS = 4
cdef int FEW_MIN_COLUMNS_TILES = 2

# The elementwise kernels (sigmoid, softmax, column sums, the finite check) take their SIMD
# code from this many values: on fewer (a 3-4-2 network at batch size 1) the call and the masks
# cost more than the scalar loops (0.23 against 0.18 us a step).
cdef Py_ssize_t SIMD_MIN_SIZE = 16


cdef inline bint _simd_for(Py_ssize_t size) noexcept nogil:
    # True when the SIMD code of the cpu path should take `size` values
    return _cpu_level != NN_CPU_PORTABLE and size >= SIMD_MIN_SIZE

cdef enum:
    PATH_LOOPS = 0
    PATH_SIMD = 1
    PATH_BLAS = 2
    PATH_FEW = 3

# The instruction set of the SIMD kernels (an NN_CPU_* level) and their tables, set at import by
# set_cpu_path from the CPU and NNCORE_CPU; on NN_CPU_PORTABLE the tables are NULL and the
# portable loops run (the tests run every path).
cdef int _cpu_level = 0
cdef const nn_kernels_f32* _simd32 = NULL
cdef const nn_kernels_f64* _simd64 = NULL


cdef int simd_level() noexcept nogil:
    return _cpu_level


cdef inline int _tile_columns(size_t itemsize) noexcept nogil:
    # NR, the columns of one SIMD tile (two vectors) of float32 or float64 values (itemsize 4
    # or 8); only on a SIMD cpu path
    return _simd32.tile_columns if itemsize == 4 else _simd64.tile_columns


cdef inline int _tile_rows(size_t itemsize) noexcept nogil:
    # MR, the rows of one SIMD tile (6 on AVX2, 8 on AVX-512); only on a SIMD cpu path
    return _simd32.tile_rows if itemsize == 4 else _simd64.tile_rows


cdef inline int _gemm_path(bint trans_a, bint trans_b, int m, int n, int k,
                           size_t itemsize) noexcept nogil:
    cdef double mnk = <double>m * n * k
    cdef int mr, nr
    if _cpu_level != NN_CPU_PORTABLE and mnk >= GEMM_SIMD_MIN_MNK:
        mr = _tile_rows(itemsize)
        nr = _tile_columns(itemsize)
        if not trans_b and m < mr and n >= FEW_MIN_COLUMNS_TILES * nr:
            return PATH_FEW
        if trans_b and not trans_a and m < mr and (k >= nr or m <= 2):
            return PATH_FEW
        if trans_a and not trans_b and k < mr and n >= FEW_MIN_COLUMNS_TILES * nr:
            return PATH_FEW
    if _cpu_level != NN_CPU_PORTABLE and not (trans_b and m < SIMD_NT_MIN_ROWS):
        if mnk < GEMM_SIMD_MIN_MNK:
            return PATH_LOOPS
        if n <= GEMM_NARROW_N_MAX and mnk >= GEMM_NARROW_N_BLAS_MIN_MNK:
            return PATH_BLAS
        if (trans_a and n <= GEMM_NARROW_TN_FILL * _tile_columns(itemsize)
                and mnk >= GEMM_NARROW_TN_BLAS_MIN_MNK):
            return PATH_BLAS
        return PATH_SIMD if mnk < GEMM_BLAS_MIN_MNK else PATH_BLAS
    return PATH_LOOPS if mnk < GEMM_LOOPS_MAX_MNK else PATH_BLAS


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating _sigmoid(floating x) noexcept nogil:
    # 1 / (1 + exp(-x)), written so that exp never overflows: with e = exp(-|x|),
    # 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0; a select, not a branch on the sign
    cdef floating e = _exp(-x if x >= 0 else x)
    cdef floating r = 1 / (1 + e)
    return r if x >= 0 else e * r


cdef inline void _scale_rows(floating* C, int m, int n, int ldc, floating beta) noexcept nogil:
    # C *= beta; beta == 0 overwrites, so that NaN or garbage in C does not survive
    cdef int i, j
    cdef floating* c
    if beta == 1:
        return
    for i in range(m):
        c = C + <Py_ssize_t>i * ldc
        if beta == 0:
            memset(c, 0, n * sizeof(floating))
        else:
            for j in range(n):
                c[j] *= beta


cdef void gemm_loops(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                     const floating* A, int lda, const floating* B, int ldb,
                     floating beta, floating* C, int ldc) noexcept nogil:
    # C = alpha * op(A) @ op(B) + beta * C, loops ordered so the innermost one is contiguous
    cdef int i, j, p
    cdef floating t, s
    cdef floating* c
    cdef const floating* a
    cdef const floating* bp
    if not trans_b:
        _scale_rows(C, m, n, ldc, beta)
        if not trans_a:
            # C[i, :] += alpha * A[i, p] * B[p, :]
            for i in range(m):
                c = C + <Py_ssize_t>i * ldc
                a = A + <Py_ssize_t>i * lda
                for p in range(k):
                    t = alpha * a[p]
                    bp = B + <Py_ssize_t>p * ldb
                    for j in range(n):
                        c[j] += t * bp[j]
        else:
            # A is (k, m): C[i, :] += alpha * A[p, i] * B[p, :]
            for p in range(k):
                a = A + <Py_ssize_t>p * lda
                bp = B + <Py_ssize_t>p * ldb
                for i in range(m):
                    t = alpha * a[i]
                    c = C + <Py_ssize_t>i * ldc
                    for j in range(n):
                        c[j] += t * bp[j]
    else:
        # B is (n, k): C[i, j] = alpha * dot(op(A)[i, :], B[j, :]) + beta * C[i, j]
        for i in range(m):
            c = C + <Py_ssize_t>i * ldc
            for j in range(n):
                bp = B + <Py_ssize_t>j * ldb
                s = 0
                if not trans_a:
                    a = A + <Py_ssize_t>i * lda
                    for p in range(k):
                        s = s + a[p] * bp[p]
                else:
                    for p in range(k):
                        s = s + A[<Py_ssize_t>p * lda + i] * bp[p]
                if beta == 0:
                    c[j] = alpha * s
                else:
                    c[j] = alpha * s + beta * c[j]


# BLAS, through function pointers set at import (_init_blas): NumPy's own OpenBLAS when it can
# be found, so that nncore and NumPy share one library, one thread pool (and threadpoolctl
# limits) and NumPy's build, which is usually the newer one; otherwise SciPy's BLAS
# (scipy.linalg.cython_blas), whatever library that is.
ctypedef void (*cblas_sgemm64_t)(int order, int trans_a, int trans_b, int64_t m, int64_t n,
                                 int64_t k, float alpha, const float* A, int64_t lda,
                                 const float* B, int64_t ldb, float beta, float* C,
                                 int64_t ldc) noexcept nogil
ctypedef void (*cblas_dgemm64_t)(int order, int trans_a, int trans_b, int64_t m, int64_t n,
                                 int64_t k, double alpha, const double* A, int64_t lda,
                                 const double* B, int64_t ldb, double beta, double* C,
                                 int64_t ldc) noexcept nogil
ctypedef void (*fortran_sgemm_t)(char* ta, char* tb, int* m, int* n, int* k, float* alpha,
                                 float* A, int* lda, float* B, int* ldb, float* beta, float* C,
                                 int* ldc) noexcept nogil
ctypedef void (*fortran_dgemm_t)(char* ta, char* tb, int* m, int* n, int* k, double* alpha,
                                 double* A, int* lda, double* B, int* ldb, double* beta,
                                 double* C, int* ldc) noexcept nogil

cdef enum:
    CBLAS_ROW_MAJOR = 101
    CBLAS_NO_TRANS = 111
    CBLAS_TRANS = 112

cdef cblas_sgemm64_t _cblas_sgemm = NULL     # NumPy's OpenBLAS (64-bit integers)
cdef cblas_dgemm64_t _cblas_dgemm = NULL
cdef fortran_sgemm_t _fortran_sgemm = NULL   # SciPy's BLAS (Fortran interface)
cdef fortran_dgemm_t _fortran_dgemm = NULL


cdef void gemm_blas(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                    const floating* A, int lda, const floating* B, int ldb,
                    floating beta, floating* C, int ldc) noexcept nogil:
    cdef int ca = CBLAS_TRANS if trans_a else CBLAS_NO_TRANS
    cdef int cb = CBLAS_TRANS if trans_b else CBLAS_NO_TRANS
    # Fortran BLAS is column-major: row-major C = op(A) op(B) is C.T = op(B).T op(A).T there,
    # so the operands swap
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        if _cblas_sgemm != NULL:
            _cblas_sgemm(CBLAS_ROW_MAJOR, ca, cb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
        else:
            _fortran_sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
                           &beta, C, &ldc)
    else:
        if _cblas_dgemm != NULL:
            _cblas_dgemm(CBLAS_ROW_MAJOR, ca, cb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
        else:
            _fortran_dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
                           &beta, C, &ldc)


cdef void gemm_simd(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                    const floating* A, int lda, const floating* B, int ldb,
                    floating beta, floating* C, int ldc, const floating* bias) noexcept nogil:
    # C = alpha * op(A) @ op(B) + beta * C (+ bias[None, :] when bias is not NULL), by the
    # SIMD tiles of _simd.h; only called on a SIMD cpu path
    if floating is float:
        _simd32.gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias)
    else:
        _simd64.gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias)


cdef void gemm_few(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                   const floating* A, int lda, const floating* B, int ldb,
                   floating beta, floating* C, int ldc, const floating* bias) noexcept nogil:
    # C = alpha * op(A) @ op(B) + beta * C (+ bias[None, :]) by the few-row kernels of _simd.h
    # (op(A) with fewer rows than a tile, or a small inner dimension): B streamed once; only
    # called on a SIMD cpu path
    if floating is float:
        _simd32.gemm_few(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias)
    else:
        _simd64.gemm_few(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias)


cdef inline void _exp_simd(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    # y = np.exp(x) by the SIMD code of the cpu path (not the portable one)
    if floating is float:
        _simd32.exp(x, y, n)
    else:
        _simd64.exp(x, y, n)


cdef inline void _sigmoid_simd(const floating* a, floating* z, Py_ssize_t n, floating c,
                               floating beta) noexcept nogil:
    # z = c / (1 + np.exp(-beta * a)) by the SIMD code of the cpu path (not the portable one)
    if floating is float:
        _simd32.sigmoid(a, z, n, c, beta)
    else:
        _simd64.sigmoid(a, z, n, c, beta)


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* A, int lda, const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil:
    cdef int path
    if m == 0 or n == 0:
        return
    if k == 0:
        _scale_rows(C, m, n, ldc, beta)
        return
    path = _gemm_path(trans_a, trans_b, m, n, k, sizeof(floating))
    if path == PATH_LOOPS:
        gemm_loops(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    elif path == PATH_SIMD:
        gemm_simd(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, NULL)
    elif path == PATH_FEW:
        gemm_few(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, NULL)
    else:
        gemm_blas(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef void dense_forward(const floating* z_prev, const floating* W, const floating* b,
                        floating* a, int m, int n_in, int n_out) noexcept nogil:
    # a = z_prev @ W + b
    cdef int i, j
    cdef floating* row
    cdef int path = _gemm_path(False, False, m, n_out, n_in, sizeof(floating))
    if path == PATH_SIMD:
        # the bias is added as each tile of a is stored
        gemm_simd(False, False, m, n_out, n_in, <floating>1, z_prev, n_in, W, n_out,
                  <floating>0, a, n_out, b)
        return
    if path == PATH_FEW:
        # rows of a start as b, then W is streamed once into them
        gemm_few(False, False, m, n_out, n_in, <floating>1, z_prev, n_in, W, n_out,
                 <floating>0, a, n_out, b)
        return
    # rows of a start as b, then one gemm with beta = 1 adds z_prev @ W
    for i in range(m):
        row = a + <Py_ssize_t>i * n_out
        for j in range(n_out):
            row[j] = b[j]
    gemm(False, False, m, n_out, n_in, <floating>1, z_prev, n_in, W, n_out,
         <floating>1, a, n_out)


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------

cdef void _softmax_simd(const floating* a, floating* z, floating* lse, int m,
                        int n) noexcept nogil:
    # activation_forward's softmax by the SIMD code of the cpu path: a vector of a row at a time
    if floating is float:
        _simd32.softmax_rows(a, z, lse, m, n)
    else:
        _simd64.softmax_rows(a, z, lse, m, n)


cdef void activation_forward(int kind, double p0, double p1, const floating* a, floating* z,
                             floating* lse, int m, int n) noexcept nogil:
    cdef Py_ssize_t i, size = <Py_ssize_t>m * n
    cdef int r, j
    cdef floating c, beta, slope, x, mx, total, inv
    cdef const floating* ar
    cdef floating* zr
    if kind == ACT_IDENTITY:
        # z = a
        if z != a:
            for i in range(size):
                z[i] = a[i]
    elif kind == ACT_SIGMOID:
        # z = c / (1 + exp(-beta * a))
        c = <floating>p0
        beta = <floating>p1
        if _simd_for(size):
            _sigmoid_simd(a, z, size, c, beta)
        elif c == 1 and beta == 1:
            for i in range(size):
                z[i] = _sigmoid(a[i])
        else:
            for i in range(size):
                z[i] = c * _sigmoid(beta * a[i])
    elif kind == ACT_TANH:
        # z = np.tanh(a)
        for i in range(size):
            z[i] = _tanh(a[i])
    elif kind == ACT_RELU:
        # z = np.maximum(a, 0)
        if _simd_for(size):
            if floating is float:
                _simd32.relu(a, z, size)
            else:
                _simd64.relu(a, z, size)
        else:
            for i in range(size):
                z[i] = a[i] if a[i] > 0 else 0
    elif kind == ACT_LEAKY_RELU:
        # z = np.where(a >= 0, a, delta * a)
        slope = <floating>p0
        for i in range(size):
            z[i] = a[i] if a[i] >= 0 else slope * a[i]
    elif kind == ACT_SOFTMAX:
        # e = np.exp(a - a.max(1, keepdims=True)); z = e / e.sum(1, keepdims=True)
        if _simd_for(size):
            _softmax_simd(a, z, lse, m, n)
            return
        for r in range(m):
            ar = a + <Py_ssize_t>r * n
            zr = z + <Py_ssize_t>r * n
            mx = ar[0]
            for j in range(1, n):
                if ar[j] > mx:
                    mx = ar[j]
            total = 0
            for j in range(n):
                x = _exp(ar[j] - mx)
                zr[j] = x
                total = total + x
            inv = 1 / total
            for j in range(n):
                zr[j] = zr[j] * inv
            if lse != NULL:
                lse[r] = mx + _log(total)


cdef void activation_backward(int kind, double p0, double p1, const floating* a,
                              const floating* z, floating* delta, int m, int n) noexcept nogil:
    cdef Py_ssize_t i, size = <Py_ssize_t>m * n
    cdef int r, j
    cdef floating beta, inv_c, slope, s
    cdef const floating* zr
    cdef floating* dr
    if kind == ACT_IDENTITY:
        return
    elif kind == ACT_SIGMOID:
        # delta = g * c * beta * s * (1 - s), s = z / c: from the output alone
        beta = <floating>p1
        if p0 == 0:
            memset(delta, 0, size * sizeof(floating))
        elif p0 == 1 and p1 == 1:
            for i in range(size):
                delta[i] = delta[i] * z[i] * (1 - z[i])
        else:
            inv_c = <floating>(1 / p0)
            for i in range(size):
                delta[i] = delta[i] * beta * z[i] * (1 - z[i] * inv_c)
    elif kind == ACT_TANH:
        # delta = g * (1 - z**2)
        for i in range(size):
            delta[i] = delta[i] * (1 - z[i] * z[i])
    elif kind == ACT_RELU:
        # delta = g * (a > 0); a select, not a branch: the signs of a are random, and a
        # mispredicted branch per element cost more than the rest of the step's elementwise work
        if _simd_for(size):
            if floating is float:
                _simd32.relu_backward(a, delta, size)
            else:
                _simd64.relu_backward(a, delta, size)
        else:
            for i in range(size):
                delta[i] = delta[i] if a[i] > 0 else 0
    elif kind == ACT_LEAKY_RELU:
        # delta = g * np.where(a >= 0, 1, delta_slope)
        slope = <floating>p0
        for i in range(size):
            delta[i] = delta[i] * (1 if a[i] >= 0 else slope)
    elif kind == ACT_SOFTMAX:
        # delta = z * (g - (g * z).sum(1, keepdims=True)): the Jacobian-vector product
        for r in range(m):
            zr = z + <Py_ssize_t>r * n
            dr = delta + <Py_ssize_t>r * n
            s = 0
            for j in range(n):
                s = s + dr[j] * zr[j]
            for j in range(n):
                dr[j] = zr[j] * (dr[j] - s)


cdef void sigmoid_param_gradients(double c, double beta, const floating* a, const floating* g,
                                  Py_ssize_t size, double* dc, double* dbeta) noexcept nogil:
    # s = sigmoid(beta * a); dc = (g * s).sum(); dbeta = (g * c * s * (1 - s) * a).sum()
    cdef Py_ssize_t i
    cdef double s, sum_c = 0, sum_beta = 0
    for i in range(size):
        s = _sigmoid(beta * <double>a[i])
        sum_c += g[i] * s
        sum_beta += g[i] * s * (1 - s) * a[i]
    dc[0] = sum_c
    dbeta[0] = c * sum_beta


# ---------------------------------------------------------------------------------------------
# Losses: mean over the m examples, summed over the n outputs
# ---------------------------------------------------------------------------------------------

cdef inline double _safe_log(double x, double tiny) noexcept nogil:
    # log(max(x, tiny)), tiny the dtype's smallest normal number: never log(0)
    return log(x if x > tiny else tiny)


cdef double loss_value(int loss, const floating* yhat, const floating* y,
                       int m, int n) noexcept nogil:
    cdef Py_ssize_t i, size = <Py_ssize_t>m * n
    cdef double d, total = 0
    cdef double tiny = FLT_MIN if floating is float else DBL_MIN
    if loss == LOSS_MSE:
        # ((y - yhat) ** 2).sum() / (2 * m)
        for i in range(size):
            d = <double>y[i] - <double>yhat[i]
            total += d * d
        return total / (2.0 * m)
    elif loss == LOSS_CROSS_ENTROPY:
        # -(y * np.log(yhat)).sum() / m
        for i in range(size):
            if y[i] != 0:
                total -= y[i] * _safe_log(yhat[i], tiny)
        return total / m
    else:
        # -(y * np.log(yhat) + (1 - y) * np.log(1 - yhat)).sum() / m
        for i in range(size):
            if y[i] != 0:
                total -= y[i] * _safe_log(yhat[i], tiny)
            if y[i] != 1:
                total -= (1.0 - y[i]) * _safe_log(1.0 - <double>yhat[i], tiny)
        return total / m


cdef void loss_gradient(int loss, const floating* yhat, const floating* y, floating* g,
                        int m, int n) noexcept nogil:
    cdef Py_ssize_t i, size = <Py_ssize_t>m * n
    cdef floating inv_m = <floating>(1.0 / m)
    cdef floating tiny = FLT_MIN if floating is float else DBL_MIN
    cdef floating p, q
    if loss == LOSS_MSE:
        # g = (yhat - y) / m
        for i in range(size):
            g[i] = (yhat[i] - y[i]) * inv_m
    elif loss == LOSS_CROSS_ENTROPY:
        # g = -y / (m * yhat)
        for i in range(size):
            p = yhat[i] if yhat[i] > tiny else tiny
            g[i] = -y[i] / p * inv_m
    else:
        # g = (-y / yhat + (1 - y) / (1 - yhat)) / m
        for i in range(size):
            p = yhat[i] if yhat[i] > tiny else tiny
            q = 1 - yhat[i]
            q = q if q > tiny else tiny
            g[i] = (-y[i] / p + (1 - y[i]) / q) * inv_m


cdef double softmax_cross_entropy_value(const floating* a, const floating* lse,
                                        const floating* y, int m, int n) noexcept nogil:
    # -(y * (a - lse[:, None])).sum() / m, with log(softmax(a)) = a - lse taken from the logits
    # Every term first, without a branch (one on where a one-hot row's 1 lies mispredicted
    # once a row). Only when that gives NaN, again leaving out the terms whose weight is 0: an
    # overflowed logit a = -inf with weight 0 makes 0 * -inf = NaN, but adds nothing to L.
    cdef int r, j
    cdef double total = 0
    cdef const floating* ar
    cdef const floating* yr
    for r in range(m):
        ar = a + <Py_ssize_t>r * n
        yr = y + <Py_ssize_t>r * n
        for j in range(n):
            total -= yr[j] * (<double>ar[j] - <double>lse[r])
    if total == total:
        return total / m
    total = 0
    for r in range(m):
        ar = a + <Py_ssize_t>r * n
        yr = y + <Py_ssize_t>r * n
        for j in range(n):
            if yr[j] != 0:
                total -= yr[j] * (<double>ar[j] - <double>lse[r])
    return total / m


cdef void softmax_cross_entropy_delta(const floating* z, const floating* y, floating* delta,
                                      int m, int n) noexcept nogil:
    # delta = (z * y.sum(1, keepdims=True) - y) / m: dL/da of -1/m sum(y log softmax(a))
    cdef int r, j
    cdef floating inv_m = <floating>(1.0 / m)
    cdef floating total
    cdef const floating* zr
    cdef const floating* yr
    cdef floating* dr
    for r in range(m):
        zr = z + <Py_ssize_t>r * n
        yr = y + <Py_ssize_t>r * n
        dr = delta + <Py_ssize_t>r * n
        total = 0
        for j in range(n):
            total = total + yr[j]
        for j in range(n):
            dr[j] = (zr[j] * total - yr[j]) * inv_m



cdef double softmax_cross_entropy_labels(const floating* a, const floating* lse,
                                         const floating* z, const int64_t* labels,
                                         floating* delta, int m, int n) noexcept nogil:
    # The softmax cross-entropy against class labels y (m,), each in [0, n): what the one-hot
    # kernels above give for Y = eye(n)[y], bit for bit, without reading Y:
    #   L = -(a[r, y_r] - lse[r]).sum() / m;  delta = (z - eye(n)[y]) / m  (when not NULL)
    cdef int r, j
    cdef int64_t y
    cdef double total = 0
    cdef floating inv_m = <floating>(1.0 / m)
    cdef const floating* zr
    cdef floating* dr
    for r in range(m):
        y = labels[r]
        total -= <double>a[<Py_ssize_t>r * n + y] - <double>lse[r]
        if delta != NULL:
            zr = z + <Py_ssize_t>r * n
            dr = delta + <Py_ssize_t>r * n
            for j in range(n):
                dr[j] = zr[j] * inv_m
            dr[y] = (zr[y] - <floating>1) * inv_m
    return total / m

cdef inline double _softplus(double x) noexcept nogil:
    # log(1 + exp(x)) without overflow
    return (x if x > 0 else 0) + log1p(exp(-fabs(x)))


cdef double sigmoid_cross_entropy(const floating* a, const floating* y, floating* delta,
                                  int m, int n, double c, double beta,
                                  bint binary) noexcept nogil:
    # For z = c * s, s = sigmoid(beta * a), 0 < c <= 1, in double, from the logits:
    #   log z     = log c - softplus(-beta a)
    #   log(1-z)  = -softplus(beta a)         (c = 1)
    #             = log1p(-c s)               (c < 1: 1 - z >= 1 - c > 0)
    #   L = -1/m sum(y log z [+ (1 - y) log(1 - z) if binary])
    #   delta = dL/da = -beta y (1 - s) / m                                  (cross-entropy)
    #                 = beta (s - y) / m                                  (binary, c = 1)
    #                 = beta (1 - s) ((1 - y) c s / (1 - c s) - y) / m    (binary, c < 1)
    # so a saturated output neither caps the loss nor zeroes the gradient.
    cdef Py_ssize_t i, size = <Py_ssize_t>m * n
    cdef double x, s, t, log_c = log(c), total = 0
    for i in range(size):
        x = beta * a[i]
        t = y[i]
        # a term whose weight is 0 is skipped: beta * a can overflow to +-inf in double
        if t != 0:
            total -= t * (log_c - _softplus(-x))
        if binary and t != 1:
            if c == 1:
                total += (1 - t) * _softplus(x)
            else:
                total -= (1 - t) * log1p(-c * _sigmoid(x))
        if delta != NULL:
            s = _sigmoid(x)
            if not binary:
                delta[i] = <floating>(-beta * t * (1 - s) / m)
            elif c == 1:
                delta[i] = <floating>(beta * (s - t) / m)
            else:
                delta[i] = <floating>(beta * (1 - s) * ((1 - t) * c * s / (1 - c * s) - t) / m)
    return total / m


# ---------------------------------------------------------------------------------------------
# Reductions and updates
# ---------------------------------------------------------------------------------------------

cdef void column_sums(const floating* delta, floating* out, int m, int n,
                      floating alpha, floating beta) noexcept nogil:
    # out = beta * out + alpha * delta.sum(0)
    cdef int r, j
    cdef const floating* dr
    if _simd_for(<Py_ssize_t>m * n):
        if floating is float:
            _simd32.column_sums(delta, out, m, n, alpha, beta)
        else:
            _simd64.column_sums(delta, out, m, n, alpha, beta)
        return
    _scale_rows(out, 1, n, n, beta)
    for r in range(m):
        dr = delta + <Py_ssize_t>r * n
        for j in range(n):
            out[j] += alpha * dr[j]


cdef bint all_finite_in(const floating* x, Py_ssize_t size, double lo, double hi) noexcept nogil:
    # np.isfinite(x).all() and ((x >= lo) & (x <= hi)).all()
    # On a SIMD cpu path, vector compares (_simd.h). The portable loop: blocks of 1024
    # without an early exit inside, comparisons combined with | rather than short-circuit `or`
    # (a branchy loop here cost 10% of a 64-32-10 fit call). NaN fails every comparison; +-inf
    # fails |v| <= max.
    cdef Py_ssize_t start, i, end
    cdef floating v
    cdef floating flo = <floating>lo
    cdef floating fhi = <floating>hi
    cdef floating big = FLT_MAX if floating is float else DBL_MAX
    cdef int bad = 0
    if _simd_for(size):
        if floating is float:
            return _simd32.all_finite_in(x, size, flo, fhi)
        else:
            return _simd64.all_finite_in(x, size, flo, fhi)
    for start in range(0, size, 1024):
        end = start + 1024 if size - start > 1024 else size
        for i in range(start, end):
            v = x[i]
            bad = bad | (not v >= flo) | (not v <= fhi) | (not fabs(v) <= big)
        if bad:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# def wrappers over typed memoryviews: for nncore.functional and the tests. They check the
# shapes they are given (so that a wrong call raises instead of writing out of bounds).
# ---------------------------------------------------------------------------------------------

def _check_same_shape(x, y, str what):
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"{what}: shapes {tuple(x.shape)} and {tuple(y.shape)} differ")


cdef void _gemm_by(int which, bint trans_a, bint trans_b, int m, int n, int k,
                  floating alpha, const floating* A, int lda, const floating* B, int ldb,
                  floating beta, floating* C, int ldc) noexcept nogil:
    # gemm by the code `which` names: -1 the automatic choice, else a PATH_* (k >= 1)
    if which == PATH_LOOPS:
        gemm_loops(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    elif which == PATH_SIMD:
        gemm_simd(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, NULL)
    elif which == PATH_BLAS:
        gemm_blas(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    elif which == PATH_FEW:
        gemm_few(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, NULL)
    else:
        gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


_PATHS = {"auto": -1, "loops": PATH_LOOPS, "simd": PATH_SIMD, "blas": PATH_BLAS,
          "few": PATH_FEW}


def _path_code(str path, bint automatic):
    if path not in _PATHS or (path == "auto" and not automatic):
        raise ValueError(f"unknown path {path!r}; expected one of "
                         f"{[p for p in _PATHS if automatic or p != 'auto']}")
    if path in ("simd", "few") and _cpu_level == NN_CPU_PORTABLE:
        raise ValueError(f"path {path!r} needs a CPU with AVX2 and FMA and a SIMD cpu_path(); "
                         f"it is {cpu_path()!r}")
    return _PATHS[path]


def matmul_into(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C,
                bint trans_a=False, bint trans_b=False, double alpha=1.0, double beta=0.0,
                str path="auto"):
    """C = alpha * op(A) @ op(B) + beta * C, in place.

    path: "auto" (what the core chooses for this shape), "loops", "simd" (the SIMD tiles of
    cpu_path()) or "blas"."""
    cdef int m = A.shape[1] if trans_a else A.shape[0]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int k2 = B.shape[1] if trans_b else B.shape[0]
    cdef int n = B.shape[0] if trans_b else B.shape[1]
    if k != k2 or C.shape[0] != m or C.shape[1] != n:
        raise ValueError(f"matmul_into: op(A) is ({m}, {k}), op(B) is ({k2}, {n}), "
                         f"C is ({C.shape[0]}, {C.shape[1]})")
    cdef int which = _path_code(path, True)
    if m == 0 or n == 0:
        return
    cdef const floating* pa = &A[0, 0] if A.shape[0] * A.shape[1] else NULL
    cdef const floating* pb = &B[0, 0] if B.shape[0] * B.shape[1] else NULL
    cdef int lda = max(<int>A.shape[1], 1)
    cdef int ldb = max(<int>B.shape[1], 1)
    with nogil:
        if k == 0:
            _scale_rows(&C[0, 0], m, n, n, <floating>beta)
        else:
            _gemm_by(which, trans_a, trans_b, m, n, k, <floating>alpha, pa, lda, pb, ldb,
                     <floating>beta, &C[0, 0], n)


def dense_forward_into(const floating[:, ::1] z_prev, const floating[:, ::1] W,
                       const floating[::1] b, floating[:, ::1] a):
    """a = z_prev @ W + b, in place."""
    cdef int m = z_prev.shape[0], n_in = z_prev.shape[1], n_out = W.shape[1]
    if W.shape[0] != n_in or b.shape[0] != n_out or a.shape[0] != m or a.shape[1] != n_out:
        raise ValueError(f"dense_forward_into: z_prev {tuple(z_prev.shape)}, W {tuple(W.shape)}, "
                         f"b {tuple(b.shape)}, a {tuple(a.shape)} do not fit a = z_prev @ W + b")
    if m == 0 or n_in == 0 or n_out == 0:
        raise ValueError("dense_forward_into: empty arrays")
    with nogil:
        dense_forward(&z_prev[0, 0], &W[0, 0], &b[0], &a[0, 0], m, n_in, n_out)


def activation_forward_into(int kind, double p0, double p1, const floating[:, ::1] a,
                            floating[:, ::1] z, floating[::1] lse=None):
    """z = phi(a) for the activation code `kind`; softmax also writes lse when given."""
    _check_same_shape(a, z, "activation_forward_into")
    if not 0 <= kind <= ACT_SOFTMAX:
        raise ValueError(f"unknown activation code {kind}")
    if lse is not None and lse.shape[0] != a.shape[0]:
        raise ValueError("activation_forward_into: lse needs one entry per row")
    if a.shape[0] == 0 or a.shape[1] == 0:
        return
    cdef floating* plse = &lse[0] if lse is not None else NULL
    with nogil:
        activation_forward(kind, p0, p1, &a[0, 0], &z[0, 0], plse, a.shape[0], a.shape[1])


def activation_backward_into(int kind, double p0, double p1, const floating[:, ::1] a,
                             const floating[:, ::1] z, floating[:, ::1] delta):
    """delta = g * phi'(a) in place (delta holds g = dL/dz on entry)."""
    _check_same_shape(a, z, "activation_backward_into")
    _check_same_shape(a, delta, "activation_backward_into")
    if not 0 <= kind <= ACT_SOFTMAX:
        raise ValueError(f"unknown activation code {kind}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        return
    with nogil:
        activation_backward(kind, p0, p1, &a[0, 0], &z[0, 0], &delta[0, 0],
                            a.shape[0], a.shape[1])


def sigmoid_param_gradients_of(double c, double beta, const floating[:, ::1] a,
                               const floating[:, ::1] g):
    """(dL/dc, dL/dbeta) of the scaled sigmoid for g = dL/dz."""
    _check_same_shape(a, g, "sigmoid_param_gradients_of")
    cdef double dc = 0, dbeta = 0
    if a.shape[0] and a.shape[1]:
        with nogil:
            sigmoid_param_gradients(c, beta, &a[0, 0], &g[0, 0],
                                    <Py_ssize_t>a.shape[0] * a.shape[1], &dc, &dbeta)
    return dc, dbeta


def loss_value_of(int loss, const floating[:, ::1] yhat, const floating[:, ::1] y):
    """L(yhat, y) for the loss code `loss`."""
    _check_same_shape(yhat, y, "loss_value_of")
    if not 0 <= loss <= LOSS_BINARY_CROSS_ENTROPY:
        raise ValueError(f"unknown loss code {loss}")
    if yhat.shape[0] == 0 or yhat.shape[1] == 0:
        raise ValueError("loss_value_of: empty arrays")
    cdef double out
    with nogil:
        out = loss_value(loss, &yhat[0, 0], &y[0, 0], yhat.shape[0], yhat.shape[1])
    return out


def loss_gradient_into(int loss, const floating[:, ::1] yhat, const floating[:, ::1] y,
                       floating[:, ::1] g):
    """g = dL/dyhat for the loss code `loss`, in place."""
    _check_same_shape(yhat, y, "loss_gradient_into")
    _check_same_shape(yhat, g, "loss_gradient_into")
    if not 0 <= loss <= LOSS_BINARY_CROSS_ENTROPY:
        raise ValueError(f"unknown loss code {loss}")
    if yhat.shape[0] == 0 or yhat.shape[1] == 0:
        raise ValueError("loss_gradient_into: empty arrays")
    with nogil:
        loss_gradient(loss, &yhat[0, 0], &y[0, 0], &g[0, 0], yhat.shape[0], yhat.shape[1])


def softmax_cross_entropy_of(const floating[:, ::1] a, const floating[::1] lse,
                             const floating[:, ::1] y):
    """Cross-entropy of softmax(a) against y, from the logits a and lse = logsumexp(a, 1)."""
    _check_same_shape(a, y, "softmax_cross_entropy_of")
    if lse.shape[0] != a.shape[0] or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError("softmax_cross_entropy_of: lse needs one entry per (non-empty) row")
    cdef double out
    with nogil:
        out = softmax_cross_entropy_value(&a[0, 0], &lse[0], &y[0, 0], a.shape[0], a.shape[1])
    return out


def sigmoid_cross_entropy_of(const floating[:, ::1] a, const floating[:, ::1] y, double c,
                             double beta, bint binary, floating[:, ::1] delta=None):
    """(Binary) cross-entropy of z = c * sigmoid(beta * a) against y from the logits a;
    writes dL/da into delta when given."""
    _check_same_shape(a, y, "sigmoid_cross_entropy_of")
    if delta is not None:
        _check_same_shape(a, delta, "sigmoid_cross_entropy_of")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError("sigmoid_cross_entropy_of: empty arrays")
    if not 0 < c <= 1:
        raise ValueError(f"sigmoid_cross_entropy_of: c must lie in (0, 1], got {c}")
    cdef floating* pd = &delta[0, 0] if delta is not None else NULL
    cdef double out
    with nogil:
        out = sigmoid_cross_entropy(&a[0, 0], &y[0, 0], pd, a.shape[0], a.shape[1], c, beta,
                                    binary)
    return out


def softmax_cross_entropy_delta_into(const floating[:, ::1] z, const floating[:, ::1] y,
                                     floating[:, ::1] delta):
    """delta = (z * y.sum(1, keepdims=True) - y) / m, in place: dL/da of softmax + cross-entropy."""
    _check_same_shape(z, y, "softmax_cross_entropy_delta_into")
    _check_same_shape(z, delta, "softmax_cross_entropy_delta_into")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError("softmax_cross_entropy_delta_into: empty arrays")
    with nogil:
        softmax_cross_entropy_delta(&z[0, 0], &y[0, 0], &delta[0, 0], z.shape[0], z.shape[1])


def softmax_cross_entropy_labels_into(const floating[:, ::1] a, const floating[::1] lse,
                                      const floating[:, ::1] z, const int64_t[::1] labels,
                                      floating[:, ::1] delta):
    """The softmax cross-entropy of logits a (m, n) (lse = logsumexp(a, 1), z = softmax(a))
    against class labels (m,): returns L = -(a[r, labels[r]] - lse[r]).mean() and writes
    delta = (z - eye(n)[labels]) / m."""
    cdef Py_ssize_t r
    cdef double out
    _check_same_shape(a, z, "softmax_cross_entropy_labels_into")
    _check_same_shape(a, delta, "softmax_cross_entropy_labels_into")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError("softmax_cross_entropy_labels_into: empty arrays")
    if lse.shape[0] != a.shape[0] or labels.shape[0] != a.shape[0]:
        raise ValueError("softmax_cross_entropy_labels_into: lse and labels need one entry "
                         "per row")
    for r in range(labels.shape[0]):
        if not 0 <= labels[r] < a.shape[1]:
            raise ValueError(f"softmax_cross_entropy_labels_into: labels[{r}] = {labels[r]} "
                             f"is not in [0, {a.shape[1]})")
    with nogil:
        out = softmax_cross_entropy_labels(&a[0, 0], &lse[0], &z[0, 0], &labels[0],
                                           &delta[0, 0], a.shape[0], a.shape[1])
    return out


def column_sums_into(const floating[:, ::1] delta, floating[::1] out, double alpha=1.0,
                     double beta=0.0):
    """out = beta * out + alpha * delta.sum(axis=0), in place (db, and the bias update)."""
    if out.shape[0] != delta.shape[1]:
        raise ValueError(f"column_sums_into: delta is {tuple(delta.shape)}, out "
                         f"{tuple(out.shape)}")
    if delta.shape[1] == 0:
        return
    cdef const floating* pd = &delta[0, 0] if delta.shape[0] else NULL
    with nogil:
        if delta.shape[0] == 0:
            _scale_rows(&out[0], 1, out.shape[0], out.shape[0], <floating>beta)
        else:
            column_sums(pd, &out[0], delta.shape[0], delta.shape[1], <floating>alpha,
                        <floating>beta)


def exp_into(const floating[::1] x, floating[::1] y):
    """y = np.exp(x), in place: by the SIMD code of cpu_path() (to about 1 ulp), or libm's
    exp on the portable path. The exps of the sigmoid and the softmax are computed this way."""
    _check_same_shape(x, y, "exp_into")
    cdef Py_ssize_t i, n = x.shape[0]
    if n == 0:
        return
    with nogil:
        if _cpu_level != NN_CPU_PORTABLE:
            _exp_simd(&x[0], &y[0], n)
        else:
            for i in range(n):
                y[i] = _exp(x[i])


def all_finite(const floating[::1] x, double lo=-float("inf"), double hi=float("inf")):
    """True when every value of the flat array x is finite and in [lo, hi]."""
    if x.shape[0] == 0:
        return True
    cdef bint ok
    with nogil:
        ok = all_finite_in(&x[0], x.shape[0], lo, hi)
    return ok



def gemm_path(bint trans_a, bint trans_b, int m, int n, int k, dtype):
    """Which code the core runs for C = op(A) @ op(B), op(A) (m, k) and op(B) (k, n), of
    `dtype` (float32 or float64) on the cpu path in force: "loops", "simd" or "blas" (the
    automatic choice above; the tests check its boundaries)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"gemm_path: dtype must be float32 or float64, got {dtype}")
    if m < 1 or n < 1 or k < 1:
        raise ValueError("gemm_path: needs m, n, k >= 1")
    return {PATH_LOOPS: "loops", PATH_SIMD: "simd", PATH_BLAS: "blas", PATH_FEW: "few"}[
        _gemm_path(trans_a, trans_b, m, n, k, dtype.itemsize)]


def tile_shape(dtype):
    """(MR, NR): the rows and columns of one SIMD register tile of `dtype` on the cpu path in
    force (AVX-512: 8 rows; AVX2: 6; two vectors of columns), or None on the portable path.
    Products with fewer rows than MR take the few-row kernels (path "few") by gemm_path."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"tile_shape: dtype must be float32 or float64, got {dtype}")
    if _cpu_level == NN_CPU_PORTABLE:
        return None
    return _tile_rows(dtype.itemsize), _tile_columns(dtype.itemsize)


def matmul_repeat(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C,
                  bint trans_a, bint trans_b, str path, int reps):
    """Run C = op(A) @ op(B) `reps` times back to back in nogil code, by the core's loops
    (path "loops"), its SIMD tiles ("simd"), BLAS ("blas") or the automatic choice ("auto"):
    timed around one call, it measures the products and not Python's call overhead
    (nncore.bench, benches/matmul_cutover.py)."""
    cdef int m = A.shape[1] if trans_a else A.shape[0]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int n = B.shape[0] if trans_b else B.shape[1]
    if (B.shape[1] if trans_b else B.shape[0]) != k or C.shape[0] != m or C.shape[1] != n:
        raise ValueError("matmul_repeat: shapes do not fit C = op(A) @ op(B)")
    if m == 0 or n == 0 or k == 0 or reps < 1:
        raise ValueError("matmul_repeat: needs non-empty operands and reps >= 1")
    cdef int which = _path_code(path, True)
    cdef int r
    with nogil:
        for r in range(reps):
            _gemm_by(which, trans_a, trans_b, m, n, k, <floating>1, &A[0, 0], A.shape[1],
                     &B[0, 0], B.shape[1], <floating>0, &C[0, 0], n)


# ---------------------------------------------------------------------------------------------
# Run-time choices: the CPU path and the BLAS library
# ---------------------------------------------------------------------------------------------

_CPU_PATHS = {"portable": NN_CPU_PORTABLE, "avx2": NN_CPU_AVX2, "avx512": NN_CPU_AVX512}


def cpu_path():
    """The instruction set of the core's SIMD tiles: "avx512", "avx2" or "portable" (none)."""
    return next(name for name, level in _CPU_PATHS.items() if level == _cpu_level)


def cpu_paths():
    """The cpu paths this CPU (and this build) can run, best last: e.g. ["portable", "avx2",
    "avx512"]."""
    return [name for name, level in _CPU_PATHS.items() if level <= nn_cpu_level()]


def set_cpu_path(str path):
    """Choose the kernels: "auto" (the best this CPU has), "avx512", "avx2" or "portable".

    Returns the previous cpu_path(). Process-wide; meant for tests and measurements (the
    environment variable NNCORE_CPU does the same at import). Do not switch while another
    thread computes."""
    global _cpu_level, _simd32, _simd64
    if path != "auto" and path not in _CPU_PATHS:
        raise ValueError(f"unknown cpu path {path!r}; expected 'auto' or one of "
                         f"{list(_CPU_PATHS)}")
    if path != "auto" and path not in cpu_paths():
        raise ValueError(f"this CPU (or build) cannot run cpu path {path!r}; it can run "
                         f"{cpu_paths()}")
    previous = cpu_path()
    _cpu_level = nn_cpu_level() if path == "auto" else _CPU_PATHS[path]
    _simd32, _simd64 = nn_kernels_for_f32(_cpu_level), nn_kernels_for_f64(_cpu_level)
    return previous


_blas = {}     # what blas_info() returns


def blas_info():
    """Which BLAS the core calls for large products: {"library": "numpy" or "scipy",
    "path": the shared library's file (for "numpy"), "interface": ...}."""
    return dict(_blas)


def _numpy_openblas():
    """(path, cblas_sgemm address, cblas_dgemm address) of the OpenBLAS that NumPy's wheel
    carries (scipy-openblas, 64-bit integers), or None when there is none to be found (NumPy
    built against another BLAS, e.g. MKL or a system OpenBLAS)."""
    import ctypes
    import glob
    here = os.path.dirname(np.__file__)
    # numpy.libs beside the package (Linux and Windows wheels), numpy/.dylibs (macOS wheels)
    for folder in (here + ".libs", os.path.join(here, ".dylibs")):
        for path in sorted(glob.glob(os.path.join(folder, "*scipy_openblas64_*"))):
            try:
                lib = ctypes.CDLL(path)   # NumPy loaded it already: the same library
                s = ctypes.cast(lib.scipy_cblas_sgemm64_, ctypes.c_void_p).value
                d = ctypes.cast(lib.scipy_cblas_dgemm64_, ctypes.c_void_p).value
            except (OSError, AttributeError):
                continue
            if s and d:
                return os.path.realpath(path), s, d
    return None


def _scipy_blas():
    """(cython_blas sgemm address, dgemm address) of SciPy's BLAS.

    When this is the first load of SciPy's OpenBLAS, its idle threads are told to sleep at once
    (OPENBLAS_THREAD_TIMEOUT, unless the user set it): otherwise its pool and NumPy's spin
    against each other in code that alternates nncore and NumPy products (README.md, "BLAS")."""
    user_timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    if user_timeout is None:
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
    try:
        from scipy.linalg import cython_blas
    finally:
        if user_timeout is None:
            del os.environ["OPENBLAS_THREAD_TIMEOUT"]
    caps = cython_blas.__pyx_capi__
    return tuple(<size_t>PyCapsule_GetPointer(caps[name], PyCapsule_GetName(caps[name]))
                 for name in ("sgemm", "dgemm"))


def _blas_works():
    """Check the chosen library on one small product per dtype (BLAS path forced)."""
    for dt in (np.float32, np.float64):
        A = np.arange(6, dtype=dt).reshape(2, 3)
        B = np.arange(12, dtype=dt).reshape(3, 4)
        C = np.full((2, 4), np.nan, dtype=dt)
        matmul_into(A, B, C, path="blas")
        if not np.array_equal(C, A.astype(np.float64) @ B):
            return False
        C2 = np.full((3, 3), np.nan, dtype=dt)
        matmul_into(A, A, C2, trans_a=True, path="blas")
        if not np.array_equal(C2, A.T.astype(np.float64) @ A):
            return False
    return True


def set_blas(str library):
    """Choose the BLAS: "numpy" (NumPy's own OpenBLAS), "scipy" (scipy.linalg.cython_blas) or
    "auto" (NumPy's where it can be found and works, else SciPy's). Returns the previous
    blas_info()["library"]. Process-wide (the environment variable NNCORE_BLAS does the same
    at import); do not switch while another thread computes."""
    global _cblas_sgemm, _cblas_dgemm, _fortran_sgemm, _fortran_dgemm
    if library not in ("auto", "numpy", "scipy"):
        raise ValueError(f"unknown BLAS {library!r}; expected 'auto', 'numpy' or 'scipy'")
    previous = _blas.get("library")
    saved = (<size_t>_cblas_sgemm, <size_t>_cblas_dgemm, <size_t>_fortran_sgemm,
             <size_t>_fortran_dgemm, dict(_blas))
    found = _numpy_openblas() if library != "scipy" else None
    if found is not None:
        _cblas_sgemm = <cblas_sgemm64_t><size_t>found[1]
        _cblas_dgemm = <cblas_dgemm64_t><size_t>found[2]
        _blas.clear()
        _blas.update(library="numpy", path=found[0], interface="cblas, 64-bit integers")
        if _blas_works():
            return previous
        _cblas_sgemm = _cblas_dgemm = NULL
    if library == "numpy":
        _cblas_sgemm, _cblas_dgemm = <cblas_sgemm64_t>saved[0], <cblas_dgemm64_t>saved[1]
        _blas.clear()
        _blas.update(saved[4])
        raise ValueError("NumPy's OpenBLAS (scipy-openblas64) was not found or did not work")
    s, d = _scipy_blas()
    _cblas_sgemm = _cblas_dgemm = NULL
    _fortran_sgemm = <fortran_sgemm_t><size_t>s
    _fortran_dgemm = <fortran_dgemm_t><size_t>d
    _blas.clear()
    _blas.update(library="scipy", path=None, interface="scipy.linalg.cython_blas")
    return previous


set_cpu_path(os.environ.get("NNCORE_CPU", "auto"))
set_blas(os.environ.get("NNCORE_BLAS", "auto"))
