# The Python-facing def wrappers of nncore._kernels (included by _kernels.pyx), for
# nncore.functional, the benchmarks and the tests.

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
    if not 0 <= kind <= ACT_LAST:
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
    if not 0 <= kind <= ACT_LAST:
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


def loss_value_of(int loss, const floating[:, ::1] yhat, const floating[:, ::1] y,
                  double p=0.0):
    """L(yhat, y) for the loss code `loss`, with its parameter p (Huber's delta)."""
    _check_same_shape(yhat, y, "loss_value_of")
    if not 0 <= loss <= LOSS_LAST:
        raise ValueError(f"unknown loss code {loss}")
    if yhat.shape[0] == 0 or yhat.shape[1] == 0:
        raise ValueError("loss_value_of: empty arrays")
    cdef double out
    with nogil:
        out = loss_value(loss, p, &yhat[0, 0], &y[0, 0], yhat.shape[0], yhat.shape[1])
    return out


def loss_gradient_into(int loss, const floating[:, ::1] yhat, const floating[:, ::1] y,
                       floating[:, ::1] g, double p=0.0):
    """g = dL/dyhat for the loss code `loss` (parameter p: Huber's delta), in place."""
    _check_same_shape(yhat, y, "loss_gradient_into")
    _check_same_shape(yhat, g, "loss_gradient_into")
    if not 0 <= loss <= LOSS_LAST:
        raise ValueError(f"unknown loss code {loss}")
    if yhat.shape[0] == 0 or yhat.shape[1] == 0:
        raise ValueError("loss_gradient_into: empty arrays")
    with nogil:
        loss_gradient(loss, p, &yhat[0, 0], &y[0, 0], &g[0, 0], yhat.shape[0], yhat.shape[1])


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
    """Name the code the core runs for a matrix product ``C = op(A) @ op(B)``.

    The choice depends on the shapes, the dtype and the cpu path in force; the tests check
    its boundaries.

    Parameters
    ----------
    trans_a : bool
        Whether ``op(A)`` is ``A.T``.
    trans_b : bool
        Whether ``op(B)`` is ``B.T``.
    m : int
        Rows of ``op(A)`` and of ``C``, >= 1.
    n : int
        Columns of ``op(B)`` and of ``C``, >= 1.
    k : int
        Columns of ``op(A)``, rows of ``op(B)``, >= 1.
    dtype : {float32, float64} or str
        The operands' dtype.

    Returns
    -------
    {"loops", "few", "simd", "blas"}
        Plain loops, the few-row kernels, the SIMD register tiles, or the BLAS library.

    Raises
    ------
    ValueError
        If the dtype is not float32 or float64, or a size is < 1.

    Examples
    --------
    >>> from nncore import _kernels
    >>> _kernels.gemm_path(False, False, 1, 1, 1, "float64")
    'loops'
    >>> _kernels.gemm_path(False, False, 2048, 2048, 2048, "float32")
    'blas'
    """
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
# The core's codes by name. The codes are declared once, in _kernels.pxd; nncore.activations
# and nncore.losses read them from here, so Python never writes a code of its own.
# ---------------------------------------------------------------------------------------------

ACTIVATION_CODES = {"identity": ACT_IDENTITY, "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH,
                    "relu": ACT_RELU, "leaky_relu": ACT_LEAKY_RELU, "softmax": ACT_SOFTMAX,
                    "gelu": ACT_GELU, "gelu_tanh": ACT_GELU_TANH, "elu": ACT_ELU,
                    "silu": ACT_SILU, "softplus": ACT_SOFTPLUS}
LOSS_CODES = {"mse": LOSS_MSE, "cross_entropy": LOSS_CROSS_ENTROPY,
              "binary_cross_entropy": LOSS_BINARY_CROSS_ENTROPY, "mae": LOSS_MAE,
              "huber": LOSS_HUBER, "poisson": LOSS_POISSON}
