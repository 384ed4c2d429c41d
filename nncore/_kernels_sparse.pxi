# The first layer's product and weight gradient from CSR rows (included by _kernels.pyx).
#
# A batch of m rows of sparse X is given as CSR arrays the caller already copied and checked:
# indptr (m + 1,) non-decreasing from 0, indices (indptr[m],) each in [0, n_in), data
# (indptr[m],). Repeated indices of a row add up (as scipy sums duplicate entries); stored
# zeros add nothing. Both kernels touch only the rows of W whose columns occur in the batch.


cdef void csr_dense_forward(const floating* data, const int64_t* indices,
                            const int64_t* indptr, const floating* W, const floating* b,
                            floating* a, int m, int n_out) noexcept nogil:
    # a = X_csr @ W + b  (a (m, n_out), W (n_in, n_out))
    cdef int r, j
    cdef int64_t p
    cdef floating v
    cdef floating* row
    cdef const floating* w
    for r in range(m):
        row = a + <Py_ssize_t>r * n_out
        for j in range(n_out):
            row[j] = b[j]
        for p in range(indptr[r], indptr[r + 1]):
            v = data[p]
            w = W + indices[p] * n_out
            for j in range(n_out):
                row[j] += v * w[j]


cdef void csr_weight_update(const floating* data, const int64_t* indices,
                            const int64_t* indptr, const floating* delta, floating alpha,
                            floating* W, int m, int n_out) noexcept nogil:
    # W += alpha * X_csr.T @ delta  (delta (m, n_out)): row indices[p] of W gets
    # alpha * data[p] * delta[r] for each stored entry p of row r
    cdef int r, j
    cdef int64_t p
    cdef floating v
    cdef floating* w
    cdef const floating* d
    for r in range(m):
        d = delta + <Py_ssize_t>r * n_out
        for p in range(indptr[r], indptr[r + 1]):
            v = alpha * data[p]
            w = W + indices[p] * n_out
            for j in range(n_out):
                w[j] += v * d[j]
