# The bodies of the Engine's longer calls (included by _engine.pyx after the Engine class,
# whose methods of the same names document them).

cdef inline void _forward_rows(Engine self, Workspace ws, void* x, int m, char* o, void* zl,
                               Py_ssize_t row_bytes) noexcept nogil:
    # the output of m rows at x written to o, through workspace ws (zl: its last z)
    if self.is_float32:
        _forward(&self.net, &ws.w, <float*>x, m, False, 0)
    else:
        _forward(&self.net, &ws.w, <double*>x, m, False, 0)
    memcpy(o, zl, <Py_ssize_t>m * row_bytes)


cdef object _predict(Engine self, object X, object out):
    # Engine.predict's body (see its docstring)
    cdef int m
    cdef Py_ssize_t n, start, chunk, row_bytes
    cdef bint one = False, convert = False
    cdef void* x
    cdef void* o
    cdef void* zl
    cdef Workspace ws
    cdef cnp.npy_intp dims[2]
    _check(self, False)
    if _is_exact(X, self.typenum, self.n_in) and _finite(self, <cnp.ndarray>X, -INFINITY,
                                                               INFINITY):
        n = cnp.PyArray_DIM(<cnp.ndarray>X, 0)
    elif _is_example(X, self.typenum, self.n_in) and _finite(self, <cnp.ndarray>X, -INFINITY,
                                                                   INFINITY):
        n, one = 1, True
    elif (out is None and cnp.PyArray_CheckExact(X) and X.ndim == 2
          and X.shape[1] == self.n_in and X.shape[0] > PREDICT_CHUNK
          and X.dtype.kind in "fiu"):
        n, convert = X.shape[0], True
    else:
        X, one = self.validate.inputs(X, self.n_in, self.dtype)
        n = X.shape[0]
    if out is None:
        dims[0], dims[1] = n, self.n_out
        out = (cnp.PyArray_EMPTY(1, &dims[1], self.typenum, 0) if one
               else cnp.PyArray_EMPTY(2, dims, self.typenum, 0))
        result = out
    else:
        result = out
        if one or not _writable_output(self, out, X, n):
            out = self.validate.output(out, X, n, self.n_out, self.dtype, one)
    chunk = min(n, self.keep_rows)
    row_bytes = self.n_out * (4 if self.is_float32 else 8)
    o = cnp.PyArray_DATA(<cnp.ndarray>out)
    ws = _take(self, <int>chunk, False)
    zl = ws.w.lw[self.n_layers - 1].z
    _rdlock(self)
    try:
        start = 0
        while start < n:
            # out[start:start + m] = forward(X[start:start + m])
            m = <int>(chunk if n - start > chunk else n - start)
            if convert:
                rows = _rows(self, X, start, start + m)
                x = cnp.PyArray_DATA(<cnp.ndarray>rows)
            else:
                x = <char*>cnp.PyArray_DATA(<cnp.ndarray>X) + start * self.n_in * (
                    4 if self.is_float32 else 8)
            if m * self.row_work <= GIL_HELD_WORK:
                _forward_rows(self, ws, x, m, <char*>o + start * row_bytes, zl, row_bytes)
            else:
                with nogil:
                    _forward_rows(self, ws, x, m, <char*>o + start * row_bytes, zl,
                                  row_bytes)
            start += m
    finally:
        pthread_rwlock_unlock(&self.lock)
        _give(self, ws)
    return result


cdef tuple _read_in_chunks(Engine self, object X, object Y, object sample_weight,
                           bint gradients):
    # Engine.loss's and Engine.loss_and_gradients's body: (loss, gradients or None) over the
    # rows of X in chunks of at most keep_rows rows, in one workspace of a chunk's rows; X
    # taken as it is, or converted a chunk at a time (_converts_by_chunk). The loss is the
    # chunks' losses weighed by their share of the examples (of the weights with
    # sample_weight), and so is each gradient; one chunk gives the one-pass values exactly.
    cdef Py_ssize_t n, start, stop, chunk
    cdef int mode = MODE_GRADIENTS if gradients else MODE_LOSS
    cdef double value = 0, total = 0, weight, weights
    cdef Workspace ws
    cdef CallC c
    cdef bint convert = _converts_by_chunk(self, X, Y)
    batch = None if convert else _batch(self, X, Y)
    n = X.shape[0] if convert else batch[3]
    sw = _weights(self, sample_weight, n)
    weights = n if sw is None else _sum(sw, 0, n)
    chunk = min(n, self.keep_rows)
    if not convert:
        _call(self, &c, batch, sw, 0.0, mode)
    out = None
    ws = _take(self, chunk, gradients)
    _rdlock(self)
    try:
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            weight = (stop - start) if sw is None else _sum(sw, start, stop)
            if convert:
                part = _chunk_batch(self, X, Y, start, stop)
                _call(self, &c, part, None if sw is None else sw[start:stop], 0.0, mode)
                value = _run(self, ws, &c, 0, stop - start)
            else:
                value = _run(self, ws, &c, start, stop - start)
            total += weight * value
            if gradients:
                out = _add_gradients(self, ws, out, 1.0 if chunk == n else weight / weights)
    finally:
        pthread_rwlock_unlock(&self.lock)
        _give(self, ws)
    return (value if chunk == n else total / weights), out


cdef list _trace(Engine self, object X, object Y):
    # Engine.trace's body: the rows in chunks as _read_in_chunks takes them, each chunk's a, z
    # and delta copied into the result; a chunk's delta is of its own mean loss, so it is
    # scaled by its share of the rows (one chunk: the one-pass values exactly)
    cdef Py_ssize_t n, start, stop, chunk
    cdef int l
    cdef Workspace ws
    cdef CallC c
    cdef bint convert = _converts_by_chunk(self, X, Y)
    batch = None if convert else _batch(self, X, Y)
    n = X.shape[0] if convert else batch[3]
    one = False if convert else batch[4]
    chunk = min(n, self.keep_rows)
    if not convert:
        _call(self, &c, batch, None, 0.0, MODE_GRADIENTS)
    out = [{key: np.empty((n, self.layers[l].n_out), dtype=self.dtype)
            for key in ("a", "z", "delta")} for l in range(self.n_layers)]
    ws = _take(self, chunk, True)
    _rdlock(self)
    try:
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            if convert:
                part = _chunk_batch(self, X, Y, start, stop)
                _call(self, &c, part, None, 0.0, MODE_GRADIENTS)
                _run(self, ws, &c, 0, stop - start)
            else:
                _run(self, ws, &c, start, stop - start)
            for l in range(self.n_layers):
                entry = out[l]
                entry["a"][start:stop] = ws.array(l, 0)[:stop - start]
                entry["z"][start:stop] = ws.array(l, 1)[:stop - start]
                delta = entry["delta"][start:stop]
                delta[...] = ws.array(l, 2)[:stop - start]
                if chunk != n:
                    delta *= (stop - start) / n
    finally:
        pthread_rwlock_unlock(&self.lock)
        _give(self, ws)
    if one:
        out = [{key: v[0] for key, v in entry.items()} for entry in out]
    return out


cdef list _add_gradients(Engine self, Workspace ws, list out, double share):
    # out (per layer {"W", "b"[, "c", "beta"]}) plus share times the gradients in ws; a new
    # list of copies when out is None
    cdef int l
    if out is None:
        out = []
        for l in range(self.n_layers):
            g = {"W": ws.array(l, 3).copy(), "b": ws.array(l, 4).copy()}
            if share != 1.0:
                g["W"] *= share
                g["b"] *= share
            if self.layers[l].trainable:
                g["c"] = share * ws.w.lw[l].dparams[0]
                g["beta"] = share * ws.w.lw[l].dparams[1]
            out.append(g)
        return out
    for l in range(self.n_layers):
        g = out[l]
        g["W"] += share * ws.array(l, 3)
        g["b"] += share * ws.array(l, 4)
        if self.layers[l].trainable:
            g["c"] += share * ws.w.lw[l].dparams[0]
            g["beta"] += share * ws.w.lw[l].dparams[1]
    return out


cdef object _run_epoch(Engine self, EpochC* e, object X, object Y, double lr,
                       object sample_weight, object weight_norms, object order):
    # Engine.run_epoch's body (see its docstring); e holds the asked batch size, shuffle and
    # seed (the rest zero), and gets the epoch's arrays here
    cdef Py_ssize_t n
    cdef double value
    cdef bint labels, shuffle = e.shuffle
    cdef Workspace ws
    cdef CsrSrc src
    cdef _CsrBatch buf = None
    # (lr may be 0: a schedule's rate can reach it)
    sparse = _is_sparse(X)
    if sparse:
        X = _csr_source(self, X, &src)   # (validated; its rows are copied batch by batch)
        n = X.shape[0]
    else:
        n = X.shape[0] if _is_exact(X, self.typenum, self.n_in) else 0
    labels = n > 0 and self.n_out > 1 and _is_labels(Y, n) and Y.dtype.itemsize == 8
    if (not n or not (labels or (_is_exact(Y, self.typenum, self.n_out)
                                 and Y.shape[0] == n))
            or e.batch < 1 or not (lr >= 0 and isfinite(lr))):
        raise ValueError("run_epoch takes arrays validated by Network.fit")
    if labels and not _all_in_range(cnp.PyArray_DATA(<cnp.ndarray>Y), True, n,
                                    self.n_out):
        raise ValueError(f"class labels must lie in [0, {self.n_out})")
    sw = _weights(self, sample_weight, n)
    e.shuffle = False
    e.n_rows = e.n = n
    if order is not None:
        if not (cnp.PyArray_CheckExact(order) and order.dtype == np.int64
                and order.ndim == 1 and order.flags.c_contiguous and order.shape[0] > 0
                and _all_in_range(cnp.PyArray_DATA(<cnp.ndarray>order), True,
                                  order.shape[0], n)):
            raise ValueError(f"run_epoch: order must be a non-empty contiguous int64 array "
                             f"of row indices in [0, {n})")
        e.idx = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>order)
        e.n = order.shape[0]
    if weight_norms is not None:
        if not (cnp.PyArray_CheckExact(weight_norms) and weight_norms.dtype == np.float64
                and weight_norms.shape == (1,) and weight_norms.flags.c_contiguous
                and weight_norms.flags.writeable):
            raise ValueError("run_epoch: weight_norms must be a writeable float64 array (1,)")
        e.norms = <double*>cnp.PyArray_DATA(<cnp.ndarray>weight_norms)
        e.norms[0] = 0
    _check(self, True)
    e.batch = <int>min(e.batch, e.n)
    e.X = NULL if sparse else cnp.PyArray_DATA(<cnp.ndarray>X)
    e.sx = &src if sparse else NULL
    e.Y = NULL if labels else cnp.PyArray_DATA(<cnp.ndarray>Y)
    e.labels = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>Y) if labels else NULL
    e.sw = NULL if sw is None else <const double*>cnp.PyArray_DATA(<cnp.ndarray>sw)
    e.mode = self.step_mode
    e.lock = &self.lock
    e.readers_waiting = &self.readers_waiting
    e.locked = False
    self._claim()
    try:
        if e.idx == NULL and shuffle:
            # the epoch's order, the engine's own: kept for the next epoch of the same
            # fit (the claim), released when the claim ends
            if self._index is None or self._index.shape[0] != n:
                self._index = np.empty(n, dtype=np.int64)
            e.idx = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>self._index)
            e.shuffle = True
        if e.batch != self.last_batch:
            _keep(self, e.batch)
        if sparse:
            buf = _csr_batch(self, X, e.batch, order)
        ws = _take(self, e.batch, self.step_mode == MODE_OPTIM, not sparse)
        if sparse:
            ws.w.sx = &buf.c
        try:
            with nogil:
                if self.is_float32:
                    value = _epoch(&self.net, &ws.w, e, <float>lr)
                else:
                    value = _epoch(&self.net, &ws.w, e, lr)
                if e.locked:
                    pthread_rwlock_unlock(&self.lock)
        finally:
            ws.w.sx = NULL
            _give(self, ws)
    finally:
        self._release()
    if e.bad and sparse:
        raise _sparse_changed(X)
    if e.bad:
        raise ValueError("a class label or row index left its range while the epoch ran "
                         "(another thread wrote into the arrays fit was given); the epoch "
                         "stopped before that batch")
    return value


cdef object _set_optimizer(Engine self, int kind, object hyper, object step, list states):
    # Engine.set_optimizer's body (see its docstring)
    cdef int l, k
    cdef OptC o
    if not -1 <= kind <= OPT_RMSPROP:
        raise ValueError(f"Engine: unknown optimizer code {kind}")
    if not (isinstance(step, np.ndarray) and step.dtype == np.int64 and step.shape == (1,)
            and step.flags.c_contiguous and step.flags.writeable):
        raise ValueError("Engine: the step count must be a writeable int64 array (1,)")
    _settings(&o, hyper)
    if kind == -1 and (o.clip_norm > 0 or o.clip_value > 0):
        raise ValueError("Engine: a clipped step needs the optimizer path (kind >= 0)")
    o.kind = kind
    o.step = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>step)
    o.bc1 = o.bc2_sqrt = 1.0
    if kind == -1:
        states = [((), (), ())] * self.n_layers     # plain gradient descent: no state
    if len(states) != self.n_layers:
        raise ValueError("Engine: optimizer states for every layer are needed")
    need = ((1 if o.momentum > 0 else 0) if kind == OPT_SGD or kind == -1
            else (1 + (o.momentum > 0)) if kind == OPT_RMSPROP else 2 + bool(o.amsgrad))
    keep = [step]
    for l in range(self.n_layers):
        shapes = ((self.layers[l].n_in, self.layers[l].n_out), (self.layers[l].n_out,),
                  (2,))
        dtypes = (self.dtype, self.dtype, np.dtype(np.float64))
        if len(states[l]) != 3:
            raise ValueError(f"Engine: layer {l}'s optimizer state needs 3 groups")
        for j in range(3):
            group = states[l][j]
            if len(group) != (need if j < 2 or self.layers[l].trainable else 0):
                raise ValueError(f"Engine: layer {l} needs {need} optimizer state arrays "
                                 f"per trained parameter, got {len(group)}")
            for arr in group:
                if not (isinstance(arr, np.ndarray) and arr.dtype == dtypes[j]
                        and arr.shape == shapes[j] and arr.flags.c_contiguous
                        and arr.flags.aligned and arr.flags.writeable):
                    raise ValueError(f"Engine: layer {l}'s optimizer state is not a "
                                     f"writeable array {shapes[j]} of {dtypes[j]}")
                keep.append(arr)
    # all checked: repoint, between two steps
    self.write_lock()
    for l in range(self.n_layers):
        for k in range(3):
            self.layers[l].sW[k] = NULL
            self.layers[l].sb[k] = NULL
            self.layers[l].sp[k] = NULL
        for k, arr in enumerate(states[l][0]):
            self.layers[l].sW[k] = cnp.PyArray_DATA(<cnp.ndarray>arr)
        for k, arr in enumerate(states[l][1]):
            self.layers[l].sb[k] = cnp.PyArray_DATA(<cnp.ndarray>arr)
        for k, arr in enumerate(states[l][2]):
            self.layers[l].sp[k] = <double*>cnp.PyArray_DATA(<cnp.ndarray>arr)
    self.opt = o
    self._opt_keep = keep
    self.step_mode = MODE_SGD if kind == -1 else MODE_OPTIM
    self.write_unlock()


# The optimizer settings from Python, and the draws of the epoch loop exposed to Python (the
# NumPy backend and the tests draw the same orders and masks).

cdef void _settings(OptC* o, dict hyper) except *:
    # OptC's settings from a dict by name (nncore.optimizers validated the values)
    o.momentum = float(hyper["momentum"])
    o.nesterov = bool(hyper["nesterov"])
    o.beta1 = float(hyper["beta1"])
    o.beta2 = float(hyper["beta2"])
    o.alpha = float(hyper["alpha"])
    o.eps = float(hyper["eps"])
    o.weight_decay = float(hyper["weight_decay"])
    o.amsgrad = bool(hyper["amsgrad"])
    # the clips are optional in the dict (0: off)
    o.clip_norm = float(hyper.get("clip_norm", 0.0))
    o.clip_value = float(hyper.get("clip_value", 0.0))
    if not (0 <= o.clip_norm < INFINITY and 0 <= o.clip_value < INFINITY):
        raise ValueError("Engine: clip_norm and clip_value must be finite and >= 0")
    if o.clip_norm > 0 and o.clip_value > 0:
        raise ValueError("Engine: clip_norm and clip_value cannot both be on")


def shuffled_index(Py_ssize_t n, uint64_t seed):
    """The permutation of range(n) that an epoch with shuffle=True and this seed visits.

    Exposed so that the NumPy backend (and the tests) visit examples in the same order.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] idx = out
    if n:
        with nogil:
            _shuffled_index(&idx[0], n, seed)
    return out


cdef uint64_t _keep_threshold(double p):
    # p * 2**64, exact (p < 1): a unit is kept when its 64-bit hash is >= this
    return <uint64_t>(p * 18446744073709551616.0)


def dropout_mask(uint64_t seed, uint64_t step, int layer, int m, int n, double p, dtype):
    """The dropout mask (m, n) of layer ``layer`` at step count ``step`` for a network whose
    dropout seed is ``seed``: 0 for a dropped unit, 1 / (1 - p) for a kept one, in ``dtype``,
    as the core draws it in training. Exposed for the tests (the NumPy backend draws its own)."""
    cdef LayerC ly
    if not 0 <= p < 1 or m < 1 or n < 1 or layer < 0:
        raise ValueError("dropout_mask: needs 0 <= p < 1, m, n >= 1, layer >= 0")
    dt = np.dtype(dtype)
    if dt != np.float32 and dt != np.float64:
        raise TypeError(f"dropout_mask: dtype must be float32 or float64, got {dt}")
    cdef cnp.ndarray mask = np.empty((m, n), dtype=dt)
    cdef cnp.ndarray zd = np.empty((m, n), dtype=dt)
    cdef cnp.ndarray z = np.ones((m, n), dtype=dt)
    memset(&ly, 0, sizeof(LayerC))
    ly.n_out, ly.drop_p = n, p
    ly.drop_keep, ly.drop_scale = _keep_threshold(p), 1.0 / (1.0 - p)
    cdef uint64_t key = _dropout_key(seed, step, layer)
    if dt == np.float32:
        _dropout(&ly, <float*>cnp.PyArray_DATA(z), <float*>cnp.PyArray_DATA(mask),
                 <float*>cnp.PyArray_DATA(zd), key, m)
    else:
        _dropout(&ly, <double*>cnp.PyArray_DATA(z), <double*>cnp.PyArray_DATA(mask),
                 <double*>cnp.PyArray_DATA(zd), key, m)
    return mask
