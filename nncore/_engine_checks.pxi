# Boundary checks of the engine (included by _engine.pyx): is an array already what the nogil
# code takes as it is? Anything that is not goes through nncore._validate.

cdef inline bint _is_exact(object x, int typenum, int n_cols) noexcept:
    # x is an ndarray of this dtype, 2-D with n_cols columns and >= 1 row, C-contiguous,
    # aligned and in native byte order: ready for nogil code as it is
    if not cnp.PyArray_CheckExact(x):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>x
    return (cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_TYPE(arr) == typenum
            and cnp.PyArray_ISCARRAY_RO(arr) and cnp.PyArray_DIM(arr, 1) == n_cols
            and cnp.PyArray_DIM(arr, 0) > 0 and cnp.PyArray_DIM(arr, 0) < 2147483647)


cdef inline bint _is_example(object x, int typenum, int n):
    # x is a 1-D ndarray of this dtype with n values, contiguous, aligned, native byte order:
    # one example (or one target row) ready for nogil code as it is
    if not cnp.PyArray_CheckExact(x):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>x
    return (cnp.PyArray_NDIM(arr) == 1 and cnp.PyArray_TYPE(arr) == typenum
            and cnp.PyArray_ISCARRAY_RO(arr) and cnp.PyArray_DIM(arr, 0) == n)


cdef inline bint _is_labels(object y, Py_ssize_t m) noexcept:
    # y is a 1-D ndarray of m signed integers of 4 or 8 bytes (int32, int64), contiguous,
    # aligned and in native byte order: class labels that _copy_labels can read as they are
    if not cnp.PyArray_CheckExact(y):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>y
    cdef int t = cnp.PyArray_TYPE(arr)
    return (cnp.PyArray_NDIM(arr) == 1 and cnp.PyArray_DIM(arr, 0) == m
            and (t == cnp.NPY_INT or t == cnp.NPY_LONG or t == cnp.NPY_LONGLONG)
            and (cnp.PyArray_ITEMSIZE(arr) == 4 or cnp.PyArray_ITEMSIZE(arr) == 8)
            and cnp.PyArray_ISCARRAY_RO(arr))


cdef double _sum(object sw, Py_ssize_t start, Py_ssize_t stop):
    # sw[start:stop].sum() of a float64 array that _weights accepted, in order
    cdef const double* w = <const double*>cnp.PyArray_DATA(<cnp.ndarray>sw)
    cdef double total = 0
    cdef Py_ssize_t i
    for i in range(start, stop):
        total += w[i]
    return total


cdef class Workspace:
    """The buffers of one call (nncore internal): a, z, delta (and dW, db when ``grads``) per
    layer for ``capacity`` rows, the dropout mask and dropped z of the layers in ``drops``, and
    the epoch's gather buffers. A call takes one from its engine's pool and gives it back; no
    two calls share one."""
    cdef WorkC w
    cdef bint grads
    cdef bint has_x      # x_batch holds capacity rows of n_in (n_in = 0: sparse calls only)
    cdef int layout      # the engine's layout count when made (see Engine.layout)
    cdef list _arrays
    cdef list _drop_arrays

    def __cinit__(self, list sizes, int capacity, int n_in, dtype, bint grads,
                  drops=()):
        # sizes: (n_in, n_out) per layer; drops: the indices of the layers with dropout
        cdef int l, n = len(sizes)
        arrays = []
        for n_i, n_o in sizes:
            arrays += [np.empty((capacity, n_o), dtype=dtype) for _ in range(3)]
            if grads:
                arrays += [np.zeros((n_i, n_o), dtype=dtype), np.zeros(n_o, dtype=dtype)]
        n_out = sizes[n - 1][1]
        tail = [np.empty(capacity, dtype=dtype), np.empty((capacity, n_in), dtype=dtype),
                np.empty((capacity, n_out), dtype=dtype), np.empty(capacity, dtype=np.int64),
                np.empty(capacity, dtype=np.float64)]
        self.w.lw = <LayerWork*>PyMem_Calloc(n, sizeof(LayerWork))
        if self.w.lw == NULL:
            raise MemoryError()
        cdef int per = 5 if grads else 3
        for l in range(n):
            self.w.lw[l].a = cnp.PyArray_DATA(<cnp.ndarray>arrays[per * l])
            self.w.lw[l].z = cnp.PyArray_DATA(<cnp.ndarray>arrays[per * l + 1])
            self.w.lw[l].delta = cnp.PyArray_DATA(<cnp.ndarray>arrays[per * l + 2])
            if grads:
                self.w.lw[l].dW = cnp.PyArray_DATA(<cnp.ndarray>arrays[per * l + 3])
                self.w.lw[l].db = cnp.PyArray_DATA(<cnp.ndarray>arrays[per * l + 4])
        self.w.lse = cnp.PyArray_DATA(<cnp.ndarray>tail[0])
        self.w.x_batch = cnp.PyArray_DATA(<cnp.ndarray>tail[1])
        self.w.y_batch = cnp.PyArray_DATA(<cnp.ndarray>tail[2])
        self.w.l_batch = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>tail[3])
        self.w.w_batch = <double*>cnp.PyArray_DATA(<cnp.ndarray>tail[4])
        self._drop_arrays = []
        for l in drops:
            pair = [np.empty((capacity, sizes[l][1]), dtype=dtype) for _ in range(2)]
            self.w.lw[l].mask = cnp.PyArray_DATA(<cnp.ndarray>pair[0])
            self.w.lw[l].zd = cnp.PyArray_DATA(<cnp.ndarray>pair[1])
            self._drop_arrays += pair
        self.w.capacity = capacity
        self.grads = grads
        self.has_x = n_in > 0
        self._arrays = arrays + tail

    def __dealloc__(self):
        PyMem_Free(self.w.lw)

    cdef object array(self, int l, int k):
        """Layer l's a (k=0), z (1), delta (2), dW (3) or db (4)."""
        return self._arrays[(5 if self.grads else 3) * l + k]


cdef void _check_engine_args(list Ws, list bs, list activations, list params, int typenum,
                             object dtype, int loss, double loss_param) except *:
    # Engine.__cinit__'s arguments: each layer's W (n_in, n_out), b (n_out,) and activation
    # parameters (2,) contiguous in the dtype (params: float64), the sizes chained, the codes
    # known, the loss's parameter and output layer what the loss needs
    cdef int l, n = len(Ws)
    for l in range(n):
        W, b, p = Ws[l], bs[l], params[l]
        if (not _is_exact(W, typenum, W.shape[1] if getattr(W, "ndim", 0) == 2 else -1)
                or not isinstance(b, np.ndarray) or b.dtype != dtype
                or b.shape != (W.shape[1],) or not b.flags.c_contiguous
                or not isinstance(p, np.ndarray) or p.dtype != np.float64
                or p.shape != (2,) or not p.flags.c_contiguous):
            raise ValueError(f"Engine: layer {l}'s W, b or params are not contiguous "
                             f"arrays of the right dtype and shape")
        if l and W.shape[0] != Ws[l - 1].shape[1]:
            raise ValueError(f"Engine: layer {l} takes {W.shape[0]} inputs but layer "
                             f"{l - 1} gives {Ws[l - 1].shape[1]}")
    for l in range(n):
        if not 0 <= activations[l] <= ACT_LAST:
            raise ValueError(f"Engine: unknown activation code {activations[l]} (layer {l})")
    if not 0 <= loss <= LOSS_LAST:
        raise ValueError(f"Engine: unknown loss code {loss}")
    if loss == LOSS_HUBER and not (loss_param > 0 and isfinite(loss_param)):
        raise ValueError(f"Engine: Huber's delta must be finite and > 0, got {loss_param}")
    if loss == LOSS_POISSON and activations[n - 1] != ACT_IDENTITY:
        # its loss reads the raw output as the log of the mean (see _kernels.pxd)
        raise ValueError(f"Engine: the Poisson loss needs an identity output layer (the "
                         f"log of the mean), got activation code {activations[n - 1]}")
