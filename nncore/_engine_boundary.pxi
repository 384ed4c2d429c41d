# The Engine's checks at the boundary and its bridge to the nogil passes (included by
# _engine.pyx after the Engine class): its own state, and the arrays a call passes, are checked
# before anything reaches nogil code.

cdef bint _state_ok(Engine self, bint with_loss):
    # Every layer's W and b are still the arrays the pointers point into (same data,
    # dtype, shape; C-contiguous, aligned, writeable, native byte order), the activation
    # parameters lie in the dtype's range, and
    # (with_loss) the output suits the loss: what nncore._validate.network_state checks.
    cdef int l
    cdef LayerC* ly
    cdef cnp.ndarray W, b
    cdef double c, p1
    for l in range(self.n_layers):
        ly = &self.layers[l]
        W = <cnp.ndarray>self._params_keep[3 * l]
        b = <cnp.ndarray>self._params_keep[3 * l + 1]
        if not (cnp.PyArray_DATA(W) == ly.W and cnp.PyArray_DATA(b) == ly.b
                and cnp.PyArray_TYPE(W) == self.typenum
                and cnp.PyArray_TYPE(b) == self.typenum
                and cnp.PyArray_NDIM(W) == 2 and cnp.PyArray_NDIM(b) == 1
                and cnp.PyArray_DIM(W, 0) == ly.n_in and cnp.PyArray_DIM(W, 1) == ly.n_out
                and cnp.PyArray_DIM(b, 0) == ly.n_out
                and cnp.PyArray_ISCARRAY(W) and cnp.PyArray_ISCARRAY(b)):
            return False
        c, p1 = ly.params[0], ly.params[1]
        if ly.act == ACT_SIGMOID:
            if not (fabs(c) <= self.param_max and fabs(p1) <= self.param_max
                    and (c == 0 or fabs(c) >= self.param_tiny)):
                return False
        elif ly.act == ACT_LEAKY_RELU or ly.act == ACT_ELU:
            if not fabs(c) <= self.param_max:
                return False
        elif ly.act == ACT_SOFTPLUS:
            if not (c > 0 and c <= self.param_max and fabs(p1) <= self.param_max):
                return False
    if with_loss and _from_logits(self.loss_code):
        ly = &self.layers[self.n_layers - 1]
        if ly.act == ACT_SOFTMAX:
            return self.loss_code == LOSS_CROSS_ENTROPY
        return (ly.act == ACT_SIGMOID and not ly.trainable and ly.params[0] > 0
                and ly.params[0] <= 1)
    return True


cdef void _check(Engine self, bint with_loss) except *:
    """Raise, with the Network's message, when _state_ok fails."""
    if _state_ok(self, with_loss):
        return
    self.check_state(with_loss)
    raise RuntimeError("a layer's W or b was reallocated under the network (e.g. by "
                       "ndarray.resize); build a new Network")


cdef inline bint _finite_in(bint is_float32, const void* data, Py_ssize_t size, double lo,
                            double hi) noexcept nogil:
    return (all_finite_in(<const float*>data, size, lo, hi) if is_float32
            else all_finite_in(<const double*>data, size, lo, hi))


cdef bint _finite(Engine self, cnp.ndarray arr, double lo, double hi):
    # every value of arr finite and in [lo, hi]; a small array is scanned with the GIL held
    cdef Py_ssize_t size = cnp.PyArray_SIZE(arr)
    cdef void* data = cnp.PyArray_DATA(arr)
    cdef bint ok
    if size <= GIL_HELD_WORK:
        return _finite_in(self.is_float32, data, size, lo, hi)
    with nogil:
        ok = _finite_in(self.is_float32, data, size, lo, hi)
    return ok


cdef tuple _batch(Engine self, object X, object Y):
    """(X, Y, labels, m, one) ready for nogil code, or the validator's error; checks the
    network's own state first. X holds m rows of n_in values (it may be the one example
    (n_in,)); the targets are either Y, m rows of n_out values, or labels, m int32/int64
    class labels (range-checked by _run where it copies them), the other one None; `one`
    says X was one example.

    Taken as they are (the fast path): X a C-contiguous (m, n_in) array of the network's
    dtype, or one example (n_in,); Y rows (m, n_out) of that dtype, or (n_out,) for one
    example, or integer class labels: an int32/int64 array (m,) or, for one example, an
    int (n_out > 1). Anything else goes through nncore._validate; integer labels stay labels
    (no one-hot rows of X's size are made)."""
    cdef Py_ssize_t m
    cdef bint one
    _check(self, True)
    if _is_exact(X, self.typenum, self.n_in):
        one, m = False, cnp.PyArray_DIM(<cnp.ndarray>X, 0)
    elif _is_example(X, self.typenum, self.n_in):
        one, m = True, 1
    else:
        m = 0
    if m and _finite(self, <cnp.ndarray>X, -INFINITY, INFINITY):
        if self.n_out > 1 and _is_labels(Y, m):
            return X, None, Y, m, one
        if self.n_out > 1 and one and type(Y) is int and 0 <= Y < self.n_out:
            return X, None, np.full(1, Y, dtype=np.int64), m, one
        if ((_is_exact(Y, self.typenum, self.n_out)
                and cnp.PyArray_DIM(<cnp.ndarray>Y, 0) == m and not one)
                or (one and _is_example(Y, self.typenum, self.n_out))):
            if _finite(self, <cnp.ndarray>Y, self.target_lo, self.target_hi):
                return X, Y, None, m, one
    X, one = self.validate.inputs(X, self.n_in, self.dtype)
    m = X.shape[0]
    if not one:
        labels = self.validate.class_labels(Y, m, self.n_out)
        if labels is not None:
            return X, None, labels, m, one
    Y = self.validate.targets(Y, m, self.n_out, self.dtype, self.loss_code, one)
    return X, Y, None, m, one


cdef object _weights(Engine self, object sw, Py_ssize_t m):
    """Sample weights for m rows ready for nogil code: None, or a C-contiguous float64
    array (m,) of finite values >= 0 with a finite sum > 0 (taken as it is when it already
    is one; anything else goes through nncore._validate.sample_weight)."""
    cdef double total = 0
    cdef Py_ssize_t r
    cdef const double* w
    if sw is None:
        return None
    if (cnp.PyArray_CheckExact(sw) and cnp.PyArray_NDIM(<cnp.ndarray>sw) == 1
            and cnp.PyArray_TYPE(<cnp.ndarray>sw) == cnp.NPY_FLOAT64
            and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>sw)
            and cnp.PyArray_DIM(<cnp.ndarray>sw, 0) == m):
        w = <const double*>cnp.PyArray_DATA(<cnp.ndarray>sw)
        with nogil:
            if all_finite_in(w, m, 0.0, INFINITY):
                for r in range(m):
                    total += w[r]
        if total > 0 and isfinite(total):
            return sw
    return self.validate.sample_weight(sw, m)


cdef bint _writable_output(Engine self, object out, object X, Py_ssize_t n):
    # out is an ndarray (n, n_out) of this dtype, C-contiguous, aligned, writeable, in
    # native byte order, and its memory does not overlap X's: ready to be written as it is
    if not cnp.PyArray_CheckExact(out):
        return False
    cdef cnp.ndarray o = <cnp.ndarray>out
    cdef cnp.ndarray x = <cnp.ndarray>X
    if not (cnp.PyArray_NDIM(o) == 2 and cnp.PyArray_TYPE(o) == self.typenum
            and cnp.PyArray_ISCARRAY(o) and cnp.PyArray_DIM(o, 0) == n
            and cnp.PyArray_DIM(o, 1) == self.n_out):
        return False
    cdef char* o0 = <char*>cnp.PyArray_DATA(o)
    cdef char* x0 = <char*>cnp.PyArray_DATA(x)
    return o0 + cnp.PyArray_NBYTES(o) <= x0 or x0 + cnp.PyArray_NBYTES(x) <= o0

# The Engine's Python-facing calls (included in the body of the Engine class). Each takes a
# workspace of its own from the pool; reading calls hold the lock for reading for their whole
# computation, changing calls claim the engine (one at a time) and hold the lock for writing
# around each step.


cdef object _rows(Engine self, object X, Py_ssize_t a, Py_ssize_t b):
    # rows a:b of an ndarray X, converted by the validator; its error names X's own shape
    try:
        return self.validate.inputs(X[a:b], self.n_in, self.dtype)[0]
    except (ValueError, TypeError):
        self.validate.inputs(X, self.n_in, self.dtype)
        raise


cdef bint _converts_by_chunk(Engine self, object X, object Y):
    # X is an ndarray of n_in columns and more rows than a chunk in another dtype or layout
    # than the core takes as it is, with Y an ndarray of as many rows: a reading call then
    # converts X (and Y) a chunk at a time (_chunk_batch) instead of whole
    return (cnp.PyArray_CheckExact(X) and X.ndim == 2 and X.shape[1] == self.n_in
            and X.shape[0] > self.keep_rows and X.dtype.kind in "fiu"
            and not _is_exact(X, self.typenum, self.n_in)
            and cnp.PyArray_CheckExact(Y) and Y.ndim >= 1 and Y.shape[0] == X.shape[0])


cdef tuple _chunk_batch(Engine self, object X, object Y, Py_ssize_t a, Py_ssize_t b):
    # _batch of rows a:b of X and Y (see _converts_by_chunk); an error names the call's own
    # X and Y, not the chunk's
    try:
        return _batch(self, X[a:b], Y[a:b])
    except (ValueError, TypeError):
        _batch(self, X, Y)
        raise


cdef void _call(Engine self, CallC* c, tuple batch, object sw, double lr, int mode):
    """Fill c from a call's arrays: batch as _batch returns it (X, Y, labels, m, one), sw as
    _weights returns it (or None). The arrays stay referenced by batch and sw, which the
    caller keeps for as long as it uses c."""
    X, Y, labels = batch[0], batch[1], batch[2]
    memset(c, 0, sizeof(CallC))
    c.X = <const char*>cnp.PyArray_DATA(<cnp.ndarray>X)
    if labels is None:
        c.Y = <const char*>cnp.PyArray_DATA(<cnp.ndarray>Y)
    else:
        c.labels = <const char*>cnp.PyArray_DATA(<cnp.ndarray>labels)
        c.wide = cnp.PyArray_ITEMSIZE(<cnp.ndarray>labels) == 8
        c.labels_obj = <PyObject*>labels
    if sw is not None:
        c.sw = <const double*>cnp.PyArray_DATA(<cnp.ndarray>sw)
    c.lr = lr
    c.mode = mode


cdef double _labels_and_pass(Engine self, Workspace ws, RowsC* rows, const char* src,
                             const CallC* c, bint lock, bint* ok) noexcept nogil:
    # _run's work, with or without the GIL: the labels at src (when not NULL) copied and
    # range-checked (then one-hot rows made from the copy; ok[0] False when one is out of
    # range), then the pass, under the lock for writing when lock is set
    if src != NULL:
        ok[0] = _copy_labels(src, c.wide, rows.m, self.n_out, ws.w.l_batch)
        if not ok[0]:
            return 0
        if not self.net.labels_direct:
            if self.is_float32:
                _fill_one_hot(ws.w.l_batch, rows.m, self.n_out, <float*>ws.w.y_batch)
            else:
                _fill_one_hot(ws.w.l_batch, rows.m, self.n_out, <double*>ws.w.y_batch)
    cdef double value
    if lock:
        pthread_rwlock_wrlock(&self.lock)
    if self.is_float32:
        value = _pass(&self.net, &ws.w, rows, <float>c.lr)
    else:
        value = _pass(&self.net, &ws.w, rows, c.lr)
    if lock:
        pthread_rwlock_unlock(&self.lock)
    return value


cdef double _run(Engine self, Workspace ws, const CallC* c, Py_ssize_t start,
                 Py_ssize_t m) except? -1:
    """One pass over rows start:start + m of the call c (see _call) in workspace ws (>= m
    rows). Class labels are copied into ws and range-checked there, so the pass reads only
    memory no caller can change. A training mode holds the lock for writing around the pass;
    a reading call holds it for reading around its whole loop of _run calls."""
    cdef Py_ssize_t size = 4 if self.is_float32 else 8
    cdef const char* src = NULL
    cdef bint ok = True
    cdef bint direct = self.net.labels_direct
    cdef double value = 0
    cdef RowsC rows
    rows.X = c.X + start * self.n_in * size
    rows.Y = NULL
    rows.labels = NULL
    rows.sw = NULL if c.sw == NULL else c.sw + start
    rows.m = <int>m
    rows.mode = c.mode
    if c.labels == NULL:
        rows.Y = c.Y + start * self.n_out * size
    else:
        src = c.labels + start * (8 if c.wide else 4)
        if direct:
            rows.labels = ws.w.l_batch
        else:
            rows.Y = ws.w.y_batch
    if (m * self.row_work <= GIL_HELD_WORK
            and (c.mode < MODE_SGD or pthread_rwlock_trywrlock(&self.lock) == 0)):
        # a small pass keeps the GIL (and, training, holds the lock for writing already)
        value = _labels_and_pass(self, ws, &rows, src, c, False, &ok)
        if c.mode >= MODE_SGD:
            pthread_rwlock_unlock(&self.lock)
    else:
        with nogil:
            value = _labels_and_pass(self, ws, &rows, src, c, c.mode >= MODE_SGD, &ok)
    if not ok:
        labels = <object>c.labels_obj
        self.validate.class_labels(labels, labels.shape[0], self.n_out)
        raise ValueError(f"class labels must lie in [0, {self.n_out}) (one changed while "
                         f"the call ran)")
    return value
