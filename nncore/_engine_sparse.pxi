# Sparse X at the Engine's boundary (included by _engine.pyx after _engine_calls.pxi).
#
# A scipy.sparse X (told by its type's module: scipy is never imported for dense input) is
# converted once per call to CSR of the network's dtype by nncore._validate.sparse_inputs
# (O(nnz) memory for CSC, COO and the other formats; CSR of the right dtype as it is). The
# core then never densifies it: each batch's rows are copied from the caller's arrays into
# buffers of the call (_CsrBatch), every index checked as it is read (_csr_gather), and the
# first layer computes its product and its weight gradient from those rows.


cdef inline bint _is_sparse(object X):
    # (an ndarray is answered without a lookup: this runs at the start of every call)
    return not cnp.PyArray_Check(X) and type(X).__module__.startswith("scipy.sparse")


cdef class _CsrBatch:
    """The buffers of one call's sparse batches (nncore internal): indptr (rows + 1,),
    indices and data (cap,), where cap is the most entries any `rows` rows of X hold."""
    cdef CsrC c
    cdef list _arrays

    def __cinit__(self, int rows, Py_ssize_t cap, dtype):
        arrays = [np.empty(rows + 1, dtype=np.int64), np.empty(max(cap, 1), dtype=np.int64),
                  np.empty(max(cap, 1), dtype=dtype)]
        self.c.indptr = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>arrays[0])
        self.c.indices = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>arrays[1])
        self.c.data = cnp.PyArray_DATA(<cnp.ndarray>arrays[2])
        self.c.cap = cap
        self._arrays = arrays


cdef class _CsrArrays:
    """A call's sparse X (nncore internal): the shape and the data, indices and indptr arrays
    of X as CSR, held for the whole call. The core reads those arrays without the GIL, so the
    call keeps them alive itself: another thread rebinding X.data, X.indices or X.indptr
    (assignment, sum_duplicates, prune, resize) drops only its own references."""
    cdef readonly tuple shape
    cdef readonly object data
    cdef readonly object indices
    cdef readonly object indptr


cdef _CsrArrays _csr_source(Engine self, object X, CsrSrc* s):
    """X as CSR of the engine's dtype (nncore._validate.sparse_inputs: shape, dtype, finite
    data), described in s for _csr_gather; returns the arrays s points into, which the
    caller keeps for the call."""
    X = self.validate.sparse_inputs(X, self.n_in, self.dtype)
    cdef _CsrArrays held = _CsrArrays()
    held.shape = tuple(X.shape)
    held.data, held.indices, held.indptr = X.data, X.indices, X.indptr
    for arr in (held.data, held.indices, held.indptr):
        if not (cnp.PyArray_CheckExact(arr) and arr.ndim == 1
                and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>arr)):
            raise ValueError("sparse X: its data, indices and indptr must be contiguous 1-D "
                             "arrays")
    if (held.data.dtype != self.dtype or held.indices.dtype not in (np.int32, np.int64)
            or held.indptr.dtype not in (np.int32, np.int64)
            or held.indptr.shape[0] != held.shape[0] + 1):
        raise ValueError(f"sparse X {held.shape}: expected data of {self.dtype}, int32 or "
                         f"int64 indices, and indptr ({held.shape[0] + 1},)")
    s.data = cnp.PyArray_DATA(<cnp.ndarray>held.data)
    s.indices = cnp.PyArray_DATA(<cnp.ndarray>held.indices)
    s.indptr = cnp.PyArray_DATA(<cnp.ndarray>held.indptr)
    s.wide_indices = held.indices.dtype == np.int64
    s.wide_indptr = held.indptr.dtype == np.int64
    s.n_rows = held.shape[0]
    s.nnz = min(held.data.shape[0], held.indices.shape[0])
    return held


cdef _CsrBatch _csr_batch(Engine self, _CsrArrays X, int rows, object order=None):
    # buffers for batches of up to `rows` rows of X: as many entries as its `rows` longest
    # rows hold, or, for batches of a given order (which may repeat rows), as many as its
    # fullest batch holds (a bound for every batch; a batch beyond it, X or the order changed
    # meanwhile, is refused)
    lengths = np.diff(X.indptr.astype(np.int64, copy=False)).clip(0)
    if order is not None:
        sums = np.add.reduceat(lengths[order], np.arange(0, order.shape[0], rows))
        return _CsrBatch(rows, int(sums.max()), self.dtype)
    if rows < lengths.shape[0]:
        lengths = np.partition(lengths, lengths.shape[0] - rows)[lengths.shape[0] - rows:]
    return _CsrBatch(rows, int(lengths.sum()), self.dtype)


cdef tuple _sparse_targets(Engine self, object Y, Py_ssize_t m):
    # (Y rows, None) or (None, class labels) for m rows, as _batch validates them
    labels = self.validate.class_labels(Y, m, self.n_out) if self.n_out > 1 else None
    if labels is not None:
        return None, labels
    return self.validate.targets(Y, m, self.n_out, self.dtype, self.loss_code, False), None


cdef object _sparse_changed(object X):
    return ValueError(f"sparse X {X.shape} or the class labels changed while the call ran "
                      f"(an index or label left its range, or a batch outgrew the entries "
                      f"its rows held): the call stopped before that batch")


cdef object _predict_sparse(Engine self, object X, object out):
    # Engine.predict for sparse X: chunk by chunk, each chunk's rows copied and checked
    cdef CsrSrc src
    cdef Py_ssize_t n, start, row_bytes
    cdef int m, chunk
    cdef bint ok = True
    cdef void* o
    cdef void* zl
    cdef Workspace ws
    cdef _CsrBatch buf
    _check(self, False)
    X = _csr_source(self, X, &src)
    n = X.shape[0]
    if out is None:
        out = result = np.empty((n, self.n_out), dtype=self.dtype)
    else:
        result = out
        out = self.validate.output(out, X.data, n, self.n_out, self.dtype, False)
    chunk = <int>min(n, self.keep_rows)
    buf = _csr_batch(self, X, chunk)
    row_bytes = self.n_out * (4 if self.is_float32 else 8)
    o = cnp.PyArray_DATA(<cnp.ndarray>out)
    ws = _take(self, chunk, False, False)
    zl = ws.w.lw[self.n_layers - 1].z
    _rdlock(self)
    try:
        ws.w.sx = &buf.c
        start = 0
        with nogil:
            while start < n:
                m = <int>(chunk if n - start > chunk else n - start)
                if self.is_float32:
                    ok = _csr_gather(&src, NULL, start, m, self.n_in, &buf.c,
                                     <float*>buf.c.data)
                    if ok:
                        _forward(&self.net, &ws.w, <const float*>NULL, m, False, 0)
                else:
                    ok = _csr_gather(&src, NULL, start, m, self.n_in, &buf.c,
                                     <double*>buf.c.data)
                    if ok:
                        _forward(&self.net, &ws.w, <const double*>NULL, m, False, 0)
                if not ok:
                    break
                memcpy(<char*>o + start * row_bytes, zl, <Py_ssize_t>m * row_bytes)
                start += m
    finally:
        ws.w.sx = NULL
        pthread_rwlock_unlock(&self.lock)
        _give(self, ws)
    if not ok:
        raise _sparse_changed(X)
    return result


cdef double _loss_sparse(Engine self, object X, object Y, object sample_weight) except? -1:
    # Engine.loss for sparse X: chunk by chunk, as for dense X
    cdef CsrSrc src
    cdef Py_ssize_t n, start, stop
    cdef int m, chunk
    cdef double total = 0, weight, weights = 0, value = 0
    cdef bint ok = True, labels_ok = True, wide = False
    cdef bint direct = self.net.labels_direct
    cdef Py_ssize_t size = 4 if self.is_float32 else 8
    cdef char* y = NULL
    cdef const char* src_labels = NULL
    cdef const int64_t* lp = NULL
    cdef const double* wp = NULL
    cdef Workspace ws
    cdef _CsrBatch buf
    cdef RowsC rows
    rows.mode = MODE_LOSS
    _check(self, True)
    X = _csr_source(self, X, &src)
    n = X.shape[0]
    Y, labels = _sparse_targets(self, Y, n)
    sw = _weights(self, sample_weight, n)
    chunk = <int>min(n, self.keep_rows)
    buf = _csr_batch(self, X, chunk)
    ws = _take(self, chunk, False, False)
    if labels is not None:
        wide = labels.dtype.itemsize == 8
        if direct:
            lp = ws.w.l_batch
        else:
            y = <char*>ws.w.y_batch
    _rdlock(self)
    try:
        ws.w.sx = &buf.c
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            m = <int>(stop - start)
            weight = m if sw is None else _sum(sw, start, stop)
            if labels is None:
                y = <char*>cnp.PyArray_DATA(<cnp.ndarray>Y) + start * self.n_out * size
            else:
                src_labels = (<const char*>cnp.PyArray_DATA(<cnp.ndarray>labels)
                              + start * (8 if wide else 4))
            if sw is not None:
                wp = <const double*>cnp.PyArray_DATA(<cnp.ndarray>sw) + start
            with nogil:
                if labels is not None:
                    labels_ok = _copy_labels(src_labels, wide, m, self.n_out, ws.w.l_batch)
                    if labels_ok and not direct:
                        if self.is_float32:
                            _fill_one_hot(ws.w.l_batch, m, self.n_out, <float*>y)
                        else:
                            _fill_one_hot(ws.w.l_batch, m, self.n_out, <double*>y)
                if self.is_float32:
                    ok = _csr_gather(&src, NULL, start, m, self.n_in, &buf.c,
                                     <float*>buf.c.data)
                    if ok and labels_ok:
                        rows.X, rows.Y, rows.labels, rows.sw, rows.m = NULL, y, lp, wp, m
                        value = _pass(&self.net, &ws.w, &rows, <float>0)
                else:
                    ok = _csr_gather(&src, NULL, start, m, self.n_in, &buf.c,
                                     <double*>buf.c.data)
                    if ok and labels_ok:
                        rows.X, rows.Y, rows.labels, rows.sw, rows.m = NULL, y, lp, wp, m
                        value = _pass(&self.net, &ws.w, &rows, <double>0)
            if not (ok and labels_ok):
                break
            total += weight * value
            weights += weight
    finally:
        ws.w.sx = NULL
        pthread_rwlock_unlock(&self.lock)
        _give(self, ws)
    if not ok:
        raise _sparse_changed(X)
    if not labels_ok:
        raise ValueError(f"class labels must lie in [0, {self.n_out}) (one changed while "
                         f"the call ran)")
    return total / weights


cdef double _train_step_sparse(Engine self, object X, object Y, double rate,
                               object sample_weight) except? -1:
    # Engine.train_step for sparse X: one epoch of one batch of all its rows, in order
    cdef EpochC e
    X = self.validate.sparse_inputs(X, self.n_in, self.dtype)   # (as it is, once CSR)
    Y, labels = _sparse_targets(self, Y, X.shape[0])
    if labels is not None:
        Y = labels.astype(np.int64, copy=False)
    memset(&e, 0, sizeof(EpochC))
    e.batch = <int>X.shape[0]
    return _run_epoch(self, &e, X, Y, rate, sample_weight, None, None)
