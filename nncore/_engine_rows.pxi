# The rows of a batch, for the epoch loop (included by _engine.pyx before _engine_passes.pxi):
# the shuffled order, class labels copied and checked, one-hot rows, and the rows of a sparse
# X gathered with every index checked where it is read.

# A row of at least COPY_ROW_MEMCPY_MIN values is copied by memcpy (the C library's AVX-512 or
# AVX2 stores, where the core's own loops are compiled for SSE2), a shorter one by a loop (the
# call costs more than copying a few values)
cdef enum:
    COPY_ROW_MEMCPY_MIN = 32


cdef inline void _copy_row(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    if n >= COPY_ROW_MEMCPY_MIN:
        memcpy(dst, src, n * sizeof(floating))
    else:
        for j in range(n):
            dst[j] = src[j]


cdef inline uint64_t _splitmix64(uint64_t* state) noexcept nogil:
    cdef uint64_t z
    state[0] += <uint64_t>0x9E3779B97F4A7C15
    z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef void _shuffled_index(int64_t* idx, Py_ssize_t n, uint64_t seed) noexcept nogil:
    # idx = a permutation of range(n): Fisher-Yates driven by splitmix64(seed). j in [0, i] is
    # (top 32 random bits * (i + 1)) >> 32, a multiply instead of a 64-bit division (which cost
    # 0.5 us per step of a 3-4-2 fit); its bias, below (i + 1) / 2**32, is far under anything a
    # shuffle for SGD could notice. Beyond 2**32 examples, the modulo (bias below n / 2**64).
    cdef Py_ssize_t i, j
    cdef int64_t t
    cdef uint64_t state = seed
    for i in range(n):
        idx[i] = i
    for i in range(n - 1, 0, -1):
        if i < <Py_ssize_t>4294967295:
            j = <Py_ssize_t>(((_splitmix64(&state) >> 32) * <uint64_t>(i + 1)) >> 32)
        else:
            j = <Py_ssize_t>(_splitmix64(&state) % <uint64_t>(i + 1))
        t = idx[i]
        idx[i] = idx[j]
        idx[j] = t


cdef bint _copy_labels(const void* labels, bint wide, Py_ssize_t m, int n_out,
                       int64_t* out) noexcept nogil:
    # out[:m] = labels[:m] (int64 when wide, else int32), each checked to lie in [0, n_out)
    # as it is copied: the core reads only the copy, which no caller can change. False when a
    # label is out of range.
    cdef Py_ssize_t r
    cdef int64_t v
    cdef bint ok = True
    for r in range(m):
        v = (<const int64_t*>labels)[r] if wide else (<const int32_t*>labels)[r]
        ok &= (v >= 0) & (v < n_out)
        out[r] = v
    return ok


cdef void _fill_one_hot(const int64_t* labels, Py_ssize_t m, int n_out,
                        floating* Y) noexcept nogil:
    # Y[:m] = np.eye(n_out)[labels], for labels already checked by _copy_labels
    cdef Py_ssize_t r
    memset(Y, 0, m * n_out * sizeof(floating))
    for r in range(m):
        Y[r * n_out + labels[r]] = 1


cdef bint _all_in_range(const void* values, bint wide, Py_ssize_t m,
                        Py_ssize_t stop) noexcept nogil:
    # every one of m int64 (wide) or int32 values lies in [0, stop): class labels, row indices
    cdef Py_ssize_t r
    cdef int64_t v
    cdef bint ok = True
    for r in range(m):
        v = (<const int64_t*>values)[r] if wide else (<const int32_t*>values)[r]
        ok &= (v >= 0) & (v < stop)
    return ok


cdef bint _csr_gather(const CsrSrc* s, const int64_t* idx, Py_ssize_t start, int m, int n_in,
                      CsrC* out, floating* data) noexcept nogil:
    """Copy rows idx[start:start + m] (rows start:start + m when idx is NULL) of the caller's
    CSR matrix s into the batch out (data: out.data in the network's dtype), checking each
    row index, each row's range of entries (0 <= indptr[i] <= indptr[i + 1] <= nnz) and each
    column index (in [0, n_in)) as it is read, and that the batch fits out.cap. False, with
    out unusable, when one fails: the caller changed the matrix while the core read it."""
    cdef Py_ssize_t i, p, p0, p1, k = 0
    cdef int64_t c
    cdef int r
    out.indptr[0] = 0
    for r in range(m):
        i = idx[start + r] if idx != NULL else start + r
        if i < 0 or i >= s.n_rows:
            return False
        if s.wide_indptr:
            p0 = (<const int64_t*>s.indptr)[i]
            p1 = (<const int64_t*>s.indptr)[i + 1]
        else:
            p0 = (<const int32_t*>s.indptr)[i]
            p1 = (<const int32_t*>s.indptr)[i + 1]
        if p0 < 0 or p1 < p0 or p1 > s.nnz or k + (p1 - p0) > out.cap:
            return False
        for p in range(p0, p1):
            c = ((<const int64_t*>s.indices)[p] if s.wide_indices
                 else (<const int32_t*>s.indices)[p])
            if c < 0 or c >= n_in:
                return False
            out.indices[k] = c
            data[k] = (<const floating*>s.data)[p]
            k += 1
        out.indptr[r + 1] = k
    return True
