# The run-time choices of nncore._kernels (included by _kernels.pyx): the SIMD kernel tables of
# _simd.h and the cpu path in force, the BLAS library's gemm, and the def functions that set
# and report them (set_cpu_path, cpu_path, cpu_paths, set_blas, blas_info).

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


cdef extern from "_parallel.h" nogil:
    # the few-row kernels and the SIMD tiles of large products on several threads (see
    # _parallel.h)
    ctypedef void (*nn_few_kernel_f32)(int trans_a, int trans_b, int m, int n, int k,
                                       float alpha, const float* A, int lda, const float* B,
                                       int ldb, float beta, float* C, int ldc,
                                       const float* bias) noexcept nogil
    ctypedef void (*nn_few_kernel_f64)(int trans_a, int trans_b, int m, int n, int k,
                                       double alpha, const double* A, int lda,
                                       const double* B, int ldb, double beta, double* C,
                                       int ldc, const double* bias) noexcept nogil
    int NN_HAVE_POOL, NN_POOL_MAX_THREADS
    long nn_pool_splits()
    void nn_few_parallel_f32(nn_few_kernel_f32 kernel, int threads, int trans_a, int trans_b,
                             int m, int n, int k, float alpha, const float* A, int lda,
                             const float* B, int ldb, float beta, float* C, int ldc,
                             const float* bias)
    void nn_few_parallel_f64(nn_few_kernel_f64 kernel, int threads, int trans_a, int trans_b,
                             int m, int n, int k, double alpha, const double* A, int lda,
                             const double* B, int ldb, double beta, double* C, int ldc,
                             const double* bias)
    void nn_tiles_parallel_f32(nn_few_kernel_f32 kernel, int threads, int mr, int nr,
                               int trans_a, int trans_b, int m, int n, int k, float alpha,
                               const float* A, int lda, const float* B, int ldb, float beta,
                               float* C, int ldc, const float* bias)
    void nn_tiles_parallel_f64(nn_few_kernel_f64 kernel, int threads, int mr, int nr,
                               int trans_a, int trans_b, int m, int n, int k, double alpha,
                               const double* A, int lda, const double* B, int ldb, double beta,
                               double* C, int ldc, const double* bias)


# The elementwise kernels (sigmoid, softmax, column sums, the finite check) take their SIMD
# code from this many values: on fewer (a 3-4-2 network at batch size 1) the call and the masks
# cost more than the scalar loops (0.23 against 0.18 us a step).
cdef Py_ssize_t SIMD_MIN_SIZE = 16


cdef inline bint _simd_for(Py_ssize_t size) noexcept nogil:
    # True when the SIMD code of the cpu path should take `size` values
    return _cpu_level != NN_CPU_PORTABLE and size >= SIMD_MIN_SIZE


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



# ---------------------------------------------------------------------------------------------
# Run-time choices: the CPU path and the BLAS library
# ---------------------------------------------------------------------------------------------

_CPU_PATHS = {"portable": NN_CPU_PORTABLE, "avx2": NN_CPU_AVX2, "avx512": NN_CPU_AVX512}


def cpu_path():
    """Name the instruction set of the core's SIMD tiles in force.

    Returns
    -------
    {"avx512", "avx2", "portable"}
        ``"portable"``: plain C loops, no SIMD tiles.

    See Also
    --------
    cpu_paths : The paths this CPU can run.
    set_cpu_path : Choose one.

    Examples
    --------
    >>> from nncore import _kernels
    >>> _kernels.cpu_path() in _kernels.cpu_paths()
    True
    """
    return next(name for name, level in _CPU_PATHS.items() if level == _cpu_level)


def cpu_paths():
    """List the cpu paths this CPU (and this build) can run, best last.

    Returns
    -------
    list of str
        For example ``["portable", "avx2", "avx512"]``; ``"portable"`` is always there.

    Examples
    --------
    >>> from nncore import _kernels
    >>> _kernels.cpu_paths()[0]
    'portable'
    """
    return [name for name, level in _CPU_PATHS.items() if level <= nn_cpu_level()]


def set_cpu_path(str path):
    """Choose the kernels' cpu path, for the whole process.

    Meant for tests and measurements (the environment variable ``NNCORE_CPU`` does the same
    at import). Do not switch while another thread computes.

    Parameters
    ----------
    path : {"auto", "avx512", "avx2", "portable"}
        ``"auto"`` is the best this CPU has.

    Returns
    -------
    str
        The previous ``cpu_path()``.

    Raises
    ------
    ValueError
        If the path is unknown or this CPU (or build) cannot run it; nothing changes.

    Examples
    --------
    >>> from nncore import _kernels
    >>> previous = _kernels.set_cpu_path("portable")
    >>> _kernels.cpu_path()
    'portable'
    >>> _ = _kernels.set_cpu_path(previous)
    """
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
    """Describe the BLAS library the core calls for large products.

    Returns
    -------
    dict
        ``"library"``: ``"numpy"`` (NumPy's own OpenBLAS) or ``"scipy"``
        (``scipy.linalg.cython_blas``); ``"path"``: the shared library's file for
        ``"numpy"``, else None; ``"interface"``: how it is called.

    Examples
    --------
    >>> from nncore import _kernels
    >>> info = _kernels.blas_info()
    >>> sorted(info), info["library"] in ("numpy", "scipy")
    (['interface', 'library', 'path'], True)
    """
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
    against each other in code that alternates nncore and NumPy products (the docs'
    performance page, "BLAS")."""
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
    """Choose the BLAS library of large products, for the whole process.

    The environment variable ``NNCORE_BLAS`` does the same at import; do not switch while
    another thread computes.

    Parameters
    ----------
    library : {"auto", "numpy", "scipy"}
        ``"numpy"``: NumPy's own OpenBLAS; ``"scipy"``: ``scipy.linalg.cython_blas``;
        ``"auto"``: NumPy's where it can be found and works, else SciPy's.

    Returns
    -------
    str
        The previous ``blas_info()["library"]``.

    Raises
    ------
    ValueError
        If the name is unknown, or ``"numpy"`` is asked where NumPy's OpenBLAS cannot be
        found or does not work (the choice is then left as it was).

    Examples
    --------
    >>> from nncore import _kernels
    >>> previous = _kernels.set_blas("scipy")
    >>> _kernels.blas_info()["library"]
    'scipy'
    >>> _ = _kernels.set_blas(previous)
    """
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


# The threads of the few-row products of large layers (the caller's included): _few_threads
# when set (NNCORE_NUM_THREADS, set_num_threads(n)); 0: follow NumPy's OpenBLAS, asked at each
# product through _blas_get_threads (a read of its setting), so that OPENBLAS_NUM_THREADS and
# threadpoolctl's limits hold for nncore's threads too; _few_fallback where it cannot be asked
ctypedef int (*get_threads_t)() noexcept nogil
cdef int _few_threads = 1
cdef get_threads_t _blas_get_threads = NULL
cdef int _few_fallback = 1


cdef inline int few_threads() noexcept nogil:
    cdef int t
    if _few_threads > 0:
        return _few_threads
    if _blas_get_threads != NULL:
        t = _blas_get_threads()
        return 1 if t < 1 else (NN_POOL_MAX_THREADS if t > NN_POOL_MAX_THREADS else t)
    return _few_fallback


_getter = []     # the address _blas_thread_getter found, once


def _blas_thread_getter():
    """The address of NumPy's OpenBLAS's get_num_threads, or None when it cannot be found
    (looked up once)."""
    import ctypes
    if _getter:
        return _getter[0]
    found = _numpy_openblas()
    address = None
    if found is not None:
        try:
            get = ctypes.CDLL(found[0]).scipy_openblas_get_num_threads64_
            address = ctypes.cast(get, ctypes.c_void_p).value
        except (OSError, AttributeError):
            pass
    _getter.append(address)
    return address


def num_threads():
    """Name how many threads compute a few-row product of a large layer now.

    Returns
    -------
    int
        The count set, or NumPy's BLAS thread count at this moment when none is; 1 where the
        core has no worker threads (no SIMD kernels or no POSIX threads).

    See Also
    --------
    set_num_threads : Choose it.

    Examples
    --------
    >>> from nncore import _kernels
    >>> _kernels.num_threads() >= 1
    True
    """
    return few_threads()


def set_num_threads(threads):
    """Choose how many threads compute a few-row product of a large layer, for the process.

    A product with fewer rows than a SIMD tile (``predict`` on one row, ``train_step`` on one
    example) reads all of a layer's weights for little arithmetic: its speed is the memory
    bandwidth of the cores that read them. From 256 KB of operands its columns are shared by
    this many threads (the caller and persistent workers, created at the first such product);
    each value is computed as on one thread, so results do not depend on it. The environment
    variable ``NNCORE_NUM_THREADS`` sets it at import; without it, the count follows NumPy's
    BLAS threads, so ``OPENBLAS_NUM_THREADS`` and ``threadpoolctl.threadpool_limits`` limit
    both.

    Parameters
    ----------
    threads : int or None
        From 1 to 32; None: follow NumPy's BLAS thread count (where it cannot be asked: the
        CPUs this process may run on).

    Returns
    -------
    int or None
        The previous setting (None: it followed BLAS).

    Raises
    ------
    ValueError
        If ``threads`` is below 1 or above 32; nothing changes.
    TypeError
        If it is not an integer or None; nothing changes.

    Examples
    --------
    >>> from nncore import _kernels
    >>> previous = _kernels.set_num_threads(1)
    >>> _kernels.num_threads()
    1
    >>> _ = _kernels.set_num_threads(previous)
    """
    global _few_threads, _blas_get_threads, _few_fallback
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
            raise TypeError(f"threads must be an int or None, not {type(threads).__name__}")
        if not 1 <= threads <= NN_POOL_MAX_THREADS:
            raise ValueError(f"threads must be from 1 to {NN_POOL_MAX_THREADS}, got {threads}")
    previous = None if _few_threads == 0 else _few_threads
    if not NN_HAVE_POOL:
        _few_threads = 1
    elif threads is not None:
        _few_threads = int(threads)
    else:
        address = _blas_thread_getter()
        _blas_get_threads = NULL if address is None else <get_threads_t><size_t>address
        cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)
        _few_fallback = max(1, min(cpus, NN_POOL_MAX_THREADS))
        _few_threads = 0
    return previous


def _few_splits():
    """How many few-row products so far were shared with the worker threads (for tests)."""
    return nn_pool_splits()


def _threads_from_environment():
    """NNCORE_NUM_THREADS as an int, or None when it is not set."""
    value = os.environ.get("NNCORE_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if not 1 <= threads <= NN_POOL_MAX_THREADS:
        raise ValueError(f"NNCORE_NUM_THREADS must be an integer from 1 to "
                         f"{NN_POOL_MAX_THREADS}, got {value!r}")
    return threads
