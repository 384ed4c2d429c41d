# Matrix products of nncore._kernels (included by _kernels.pyx): the choice of path by shape,
# the portable loops, the SIMD tiles and few-row kernels of _simd.h, BLAS, and gemm and
# dense_forward, which the engine cimports (declared in _kernels.pxd).

# ---------------------------------------------------------------------------------------------
# Matmul
# ---------------------------------------------------------------------------------------------

# Which code computes a product of m * n * k multiply-adds, chosen by measurement (`python
# benches/matmul_cutover.py`, one quiet run of it on the docs' performance page):
# - the portable loops below GEMM_SIMD_MIN_MNK;
# - the core's SIMD tiles (_simd.h: AVX-512 or AVX2 + FMA, by the CPU) up to
#   GEMM_BLAS_MIN_MNK: on one core they keep up with NumPy's OpenBLAS at every shape of the
#   step but the narrow ones below, and below about 2-4 million multiply-adds BLAS's two
#   threads do not pay for themselves (at 2.1M the tiles were 0-30% faster, at 8.4M BLAS
#   25-35%);
# - BLAS above, and from GEMM_TRANS_BLAS_MIN_MNK for a transposed operand (the weight
#   gradient z_prev.T @ delta and the backward product delta @ W.T of 8-24 examples on a
#   784 x 256 or 784 x 1024 layer: the tiles' strided reads of op(A) or transposed copy of B
#   made them 1.2-2.7x slower than BLAS in float64, up to 1.6x in float32; benches/
#   cutover_sweep.py and a run of 15 rounds of each, medians, on the AVX-512 Xeon);
# - except narrow products, where BLAS, which packs its operands first, was faster (AVX-512,
#   NumPy's OpenBLAS; benches/matmul_cutover.py, the docs' performance page): products
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
# Before all of these, on a SIMD cpu path from GEMM_SIMD_MIN_MNK multiply-adds, the few-row
# kernels (path "few", _simd.h): a tile built for MR rows reads all of B for a fraction of its
# work when op(A) has fewer, so
# - op(B) = B with fewer than MR rows and at least FEW_MIN_COLUMNS_TILES tiles of columns
#   (z_prev @ W at batch 1..MR-1: W read once, at one core's memory bandwidth; narrower
#   outputs keep the tiles, whose accumulators stay in registers), and z_prev @ W with MR rows
#   where BLAS would take it (from GEMM_BLAS_MIN_MNK: 8 rows times a 784 x 1024 or
#   1024 x 1024 layer, on two threads, ran 1.2-2.7x faster than BLAS in float32 in three runs,
#   0.9-1.6x in float64; the tiles, reading W down panels of columns, were slower than both);
# - op(B) = B.T, op(A) = A, fewer than MR rows, and an inner dimension of at least a tile's
#   columns or at most 2 rows (delta @ W.T: dot products of contiguous rows);
# - op(A) = A.T with an inner dimension below MR and as many columns (the weight gradient and
#   SGD update of a few examples: W read and written once).
# Measured with benches/cutover_sweep.py (--bandwidth: the one-row product ran as fast as one
# single-threaded pass over W); on a shared machine BLAS's two-thread calls stalled too often
# for the sweep to bound the other cut-overs against it.
# From FEW_PARALLEL_MIN_BYTES of op(B) and C together, a few-row product shares its columns
# (for a small inner dimension, the rows of C) among nncore._kernels.num_threads() threads
# (_parallel.h): one core reads about 30-40 GB/s from the last-level cache here, two about
# 50-60 (a C loop over 4-64 MB). At one row, 2 threads against 1 on an idle 2-core AVX-512 Xeon
# (benches/cutover_sweep.py): 1.3-1.4x at 256 KB (256 x 256 float32), 1.5-1.75x at 0.8 MB
# (784 x 256), 1.7-2x from 4 MB (1024 x 1024); with the second core busy with other work, the
# same products ran 0.7-0.9x, as any two-thread call does then (NNCORE_NUM_THREADS=1 keeps
# them on one core). From a tile's rows on, only z_prev @ W of a large layer keeps the few-row
# kernel (above): at 8 rows of 784 x 1024 and 1024 x 1024 one earlier run had BLAS's two
# threads 1.1-1.4x faster than it, three later ones the kernel 1.2-2.7x faster in float32; on
# this shared machine runs differ that much, and the rule follows the majority.
# From TILES_PARALLEL_MIN_MNK multiply-adds the SIMD tiles share their product the same way:
# columns of C in whole tiles (each thread reads its part of op(B)), or rows of C in whole row
# tiles when op(B) is one tile wide. 8 and 16 rows of 784 x 256 (1.6 and 3.2 million): 1.7-2x
# over one thread. Below it they stay on one thread: sharing the digits estimator's
# 200 x 64 x 64 products (0.8 million) made its fit no faster (the products alone 1.1-1.6x,
# the epochs equal, within the machine's noise).
cdef double GEMM_SIMD_MIN_MNK = 64.0
cdef double GEMM_BLAS_MIN_MNK = 4194304.0
cdef double GEMM_TRANS_BLAS_MIN_MNK = 1048576.0
cdef int GEMM_NARROW_N_MAX = 4
cdef double GEMM_NARROW_N_BLAS_MIN_MNK = 1024.0
cdef double GEMM_NARROW_TN_FILL = 0.625
cdef double GEMM_NARROW_TN_BLAS_MIN_MNK = 8192.0
cdef double GEMM_LOOPS_MAX_MNK = 256.0
cdef int SIMD_NT_MIN_ROWS = 4
cdef int FEW_MIN_COLUMNS_TILES = 2
cdef double FEW_PARALLEL_MIN_BYTES = 262144.0
cdef double TILES_PARALLEL_MIN_MNK = 1048576.0


cdef enum:
    PATH_LOOPS = 0
    PATH_SIMD = 1
    PATH_BLAS = 2
    PATH_FEW = 3


cdef inline int _gemm_path(bint trans_a, bint trans_b, int m, int n, int k,
                           size_t itemsize) noexcept nogil:
    cdef double mnk = <double>m * n * k
    cdef int mr, nr
    if _cpu_level != NN_CPU_PORTABLE and mnk >= GEMM_SIMD_MIN_MNK:
        mr = _tile_rows(itemsize)
        nr = _tile_columns(itemsize)
        if not trans_b and m < mr and n >= FEW_MIN_COLUMNS_TILES * nr:
            return PATH_FEW
        if (not trans_a and not trans_b and m == mr and n >= FEW_MIN_COLUMNS_TILES * nr
                and mnk >= GEMM_BLAS_MIN_MNK):
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
        if (trans_a or trans_b) and mnk >= GEMM_TRANS_BLAS_MIN_MNK:
            return PATH_BLAS
        return PATH_SIMD if mnk < GEMM_BLAS_MIN_MNK else PATH_BLAS
    return PATH_LOOPS if mnk < GEMM_LOOPS_MAX_MNK else PATH_BLAS


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


cdef extern from *:
    """
    /* gemm_loops' loops, in the same order (so with the same rounding), for products below
     * GEMM_SIMD_MIN_MNK multiply-adds (a tiny layer at batch 1: rows of 2 to 8 values), told
     * not to vectorise: a vector loop's overlap checks and remainder handling cost more than
     * such a product (a 3-4-2 step spent half its time in five of them). */
    #if defined(__clang__)
    #define NN_NO_VECTORIZE
    #define NN_NO_VECTORIZE_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
    #elif defined(__GNUC__)
    #define NN_NO_VECTORIZE __attribute__((optimize("no-tree-vectorize")))
    #define NN_NO_VECTORIZE_LOOP
    #else
    #define NN_NO_VECTORIZE
    #define NN_NO_VECTORIZE_LOOP
    #endif
    #define NN_GEMM_TINY(T, NAME)                                                         \
    static NN_NO_VECTORIZE void NAME(int ta, int tb, int m, int n, int k, T alpha,        \
                                     const T* A, int lda, const T* B, int ldb, T beta,    \
                                     T* C, int ldc)                                       \
    {                                                                                     \
        int i, j, p;                                                                      \
        const ptrdiff_t ai = ta ? 1 : lda, ap = ta ? lda : 1;                             \
        if (!tb) {                                                                        \
            if (beta != 1)                                                                \
                for (i = 0; i < m; i++)                                                   \
                    NN_NO_VECTORIZE_LOOP                                                  \
                    for (j = 0; j < n; j++)                                               \
                        C[(ptrdiff_t)i * ldc + j] = beta == 0 ? 0 : C[(ptrdiff_t)i * ldc + j] * beta; \
            if (!ta) {                                                                    \
                for (i = 0; i < m; i++)                                                   \
                    for (p = 0; p < k; p++) {                                             \
                        const T t = alpha * A[(ptrdiff_t)i * lda + p];                    \
                        const T* bp = B + (ptrdiff_t)p * ldb;                             \
                        T* c = C + (ptrdiff_t)i * ldc;                                    \
                        NN_NO_VECTORIZE_LOOP                                              \
                        for (j = 0; j < n; j++)                                           \
                            c[j] += t * bp[j];                                            \
                    }                                                                     \
            } else {                                                                      \
                for (p = 0; p < k; p++)                                                   \
                    for (i = 0; i < m; i++) {                                             \
                        const T t = alpha * A[(ptrdiff_t)p * lda + i];                    \
                        const T* bp = B + (ptrdiff_t)p * ldb;                             \
                        T* c = C + (ptrdiff_t)i * ldc;                                    \
                        NN_NO_VECTORIZE_LOOP                                              \
                        for (j = 0; j < n; j++)                                           \
                            c[j] += t * bp[j];                                            \
                    }                                                                     \
            }                                                                             \
            return;                                                                       \
        }                                                                                 \
        for (i = 0; i < m; i++)                                                           \
            for (j = 0; j < n; j++) {                                                     \
                const T* bp = B + (ptrdiff_t)j * ldb;                                     \
                T s = 0;                                                                  \
                NN_NO_VECTORIZE_LOOP                                                      \
                for (p = 0; p < k; p++)                                                   \
                    s = s + A[i * ai + p * ap] * bp[p];                                   \
                C[(ptrdiff_t)i * ldc + j] = beta == 0 ? alpha * s                         \
                                                      : alpha * s + beta * C[(ptrdiff_t)i * ldc + j]; \
            }                                                                             \
    }
    NN_GEMM_TINY(float, nn_gemm_tiny_f32)
    NN_GEMM_TINY(double, nn_gemm_tiny_f64)
    """
    void nn_gemm_tiny_f32(bint trans_a, bint trans_b, int m, int n, int k, float alpha,
                          const float* A, int lda, const float* B, int ldb, float beta,
                          float* C, int ldc) noexcept nogil
    void nn_gemm_tiny_f64(bint trans_a, bint trans_b, int m, int n, int k, double alpha,
                          const double* A, int lda, const double* B, int ldb, double beta,
                          double* C, int ldc) noexcept nogil


cdef inline void _gemm_tiny(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                            const floating* A, int lda, const floating* B, int ldb,
                            floating beta, floating* C, int ldc) noexcept nogil:
    if floating is float:
        nn_gemm_tiny_f32(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    else:
        nn_gemm_tiny_f64(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


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
    # SIMD tiles of _simd.h, their columns (or rows) shared by few_threads() threads
    # (_parallel.h) from TILES_PARALLEL_MIN_MNK multiply-adds; only called on a SIMD cpu path
    cdef int threads = few_threads()
    if <double>m * n * k < TILES_PARALLEL_MIN_MNK:
        threads = 1
    if floating is float:
        nn_tiles_parallel_f32(_simd32.gemm, threads, _simd32.tile_rows, _simd32.tile_columns,
                              trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                              bias)
    else:
        nn_tiles_parallel_f64(_simd64.gemm, threads, _simd64.tile_rows, _simd64.tile_columns,
                              trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                              bias)


cdef void gemm_few(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                   const floating* A, int lda, const floating* B, int ldb,
                   floating beta, floating* C, int ldc, const floating* bias) noexcept nogil:
    # C = alpha * op(A) @ op(B) + beta * C (+ bias[None, :]) by the few-row kernels of _simd.h
    # (op(A) with fewer rows than a tile, or a small inner dimension): B streamed once, its
    # columns shared by few_threads() threads (_parallel.h) when B and C hold at least
    # FEW_PARALLEL_MIN_BYTES; only called on a SIMD cpu path
    cdef int threads = few_threads()
    if <double>(m + k) * n * sizeof(floating) < FEW_PARALLEL_MIN_BYTES:
        threads = 1
    if floating is float:
        nn_few_parallel_f32(_simd32.gemm_few, threads, trans_a, trans_b, m, n, k, alpha, A, lda,
                            B, ldb, beta, C, ldc, bias)
    else:
        nn_few_parallel_f64(_simd64.gemm_few, threads, trans_a, trans_b, m, n, k, alpha, A, lda,
                            B, ldb, beta, C, ldc, bias)


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* A, int lda, const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil:
    cdef int path
    if m == 0 or n == 0:
        return
    if k == 0:
        _scale_rows(C, m, n, ldc, beta)
        return
    if <Py_ssize_t>m * n * k < GEMM_SIMD_MIN_MNK:
        # every path takes the loops below it: asked first, in integers, as the products of a
        # tiny layer cost less than the whole choice
        _gemm_tiny(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
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
    cdef bint tiny = <Py_ssize_t>m * n_out * n_in < GEMM_SIMD_MIN_MNK
    cdef int path = (PATH_LOOPS if tiny
                     else _gemm_path(False, False, m, n_out, n_in, sizeof(floating)))
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
    # rows of a start as b, then one product with beta = 1 adds z_prev @ W (the loops called
    # directly when they are the path: the product of a tiny layer costs less than a second
    # choice of path)
    for i in range(m):
        row = a + <Py_ssize_t>i * n_out
        for j in range(n_out):
            row[j] = b[j]
    if tiny:
        _gemm_tiny(False, False, m, n_out, n_in, <floating>1, z_prev, n_in, W, n_out,
                   <floating>1, a, n_out)
    elif path == PATH_LOOPS:
        gemm_loops(False, False, m, n_out, n_in, <floating>1, z_prev, n_in, W, n_out,
                   <floating>1, a, n_out)
    else:
        gemm(False, False, m, n_out, n_in, <floating>1, z_prev, n_in, W, n_out,
             <floating>1, a, n_out)
