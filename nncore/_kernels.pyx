# Kernels of nncore's core: dense matmul, activations and their derivatives, losses and their
# gradients, the update. Declarations and the contract every kernel keeps are in _kernels.pxd.
# Each kernel's comment shows the NumPy it replaces. The `def` wrappers at the end take typed
# memoryviews, check shapes, and are what nncore.functional and the tests call.

from libc.math cimport exp, expf, log, logf, log1p, log1pf, tanh, tanhf, fabs, isfinite
from libc.float cimport DBL_MAX, DBL_MIN, FLT_MAX, FLT_MIN
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dgemm, sgemm


# ---------------------------------------------------------------------------------------------
# Matmul
# ---------------------------------------------------------------------------------------------

# The core's own loops take products with m * n * k below this, and every product with a single
# row (m == 1: batch size 1, where BLAS's call overhead dominates even at 1 x 32 x 64); BLAS takes
# the rest. Chosen by measurement: `python benches/matmul_cutover.py` times both paths on the
# shapes the fused step runs (the table is in README.md, "Matmul cut-over").
cdef double GEMM_BLAS_MIN_MNK_DOUBLE = 256.0
cdef double GEMM_BLAS_MIN_MNK_FLOAT = 256.0


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


cdef void gemm_blas(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                    const floating* A, int lda, const floating* B, int ldb,
                    floating beta, floating* C, int ldc) noexcept nogil:
    # Row-major C = op(A) op(B) is column-major C.T = op(B).T op(A).T: swap the operands.
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* A, int lda, const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil:
    cdef double mnk = <double>m * n * k
    cdef double cutover
    if floating is float:
        cutover = GEMM_BLAS_MIN_MNK_FLOAT
    else:
        cutover = GEMM_BLAS_MIN_MNK_DOUBLE
    if m == 0 or n == 0:
        return
    if k == 0:
        _scale_rows(C, m, n, ldc, beta)
    elif mnk < cutover or m == 1:
        gemm_loops(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    else:
        gemm_blas(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef void dense_forward(const floating* z_prev, const floating* W, const floating* b,
                        floating* a, int m, int n_in, int n_out) noexcept nogil:
    # a = z_prev @ W + b: rows of a start as b, then one gemm with beta = 1 adds z_prev @ W
    cdef int i, j
    cdef floating* row
    for i in range(m):
        row = a + <Py_ssize_t>i * n_out
        for j in range(n_out):
            row[j] = b[j]
    gemm(False, False, m, n_out, n_in, <floating>1, z_prev, n_in, W, n_out,
         <floating>1, a, n_out)


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------

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
        if c == 1 and beta == 1:
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
        for i in range(size):
            z[i] = a[i] if a[i] > 0 else 0
    elif kind == ACT_LEAKY_RELU:
        # z = np.where(a >= 0, a, delta * a)
        slope = <floating>p0
        for i in range(size):
            z[i] = a[i] if a[i] >= 0 else slope * a[i]
    elif kind == ACT_SOFTMAX:
        # e = np.exp(a - a.max(1, keepdims=True)); z = e / e.sum(1, keepdims=True)
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
    cdef int r, j
    cdef double total = 0
    cdef const floating* ar
    cdef const floating* yr
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
    _scale_rows(out, 1, n, n, beta)
    for r in range(m):
        dr = delta + <Py_ssize_t>r * n
        for j in range(n):
            out[j] += alpha * dr[j]


cdef bint all_finite_in(const floating* x, Py_ssize_t size, double lo, double hi) noexcept nogil:
    # np.isfinite(x).all() and ((x >= lo) & (x <= hi)).all()
    # Blocks of 1024 without an early exit inside, and comparisons combined with | rather than
    # short-circuit `or`, so that the compiler vectorises the block (a branchy loop here cost
    # 10% of a 64-32-10 fit call). NaN fails every comparison; +-inf fails |v| <= max.
    cdef Py_ssize_t start, i, end
    cdef floating v
    cdef floating flo = <floating>lo
    cdef floating fhi = <floating>hi
    cdef floating big = FLT_MAX if floating is float else DBL_MAX
    cdef int bad = 0
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


def matmul_into(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C,
                bint trans_a=False, bint trans_b=False, double alpha=1.0, double beta=0.0,
                str path="auto"):
    """C = alpha * op(A) @ op(B) + beta * C, in place; path is "auto", "loops" or "blas"."""
    cdef int m = A.shape[1] if trans_a else A.shape[0]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int k2 = B.shape[1] if trans_b else B.shape[0]
    cdef int n = B.shape[0] if trans_b else B.shape[1]
    if k != k2 or C.shape[0] != m or C.shape[1] != n:
        raise ValueError(f"matmul_into: op(A) is ({m}, {k}), op(B) is ({k2}, {n}), "
                         f"C is ({C.shape[0]}, {C.shape[1]})")
    if path not in ("auto", "loops", "blas"):
        raise ValueError(f"matmul_into: unknown path {path!r}")
    cdef int which = 0 if path == "auto" else (1 if path == "loops" else 2)
    if m == 0 or n == 0:
        return
    cdef const floating* pa = &A[0, 0] if A.shape[0] * A.shape[1] else NULL
    cdef const floating* pb = &B[0, 0] if B.shape[0] * B.shape[1] else NULL
    cdef int lda = max(<int>A.shape[1], 1)
    cdef int ldb = max(<int>B.shape[1], 1)
    with nogil:
        if which == 1 or k == 0:
            gemm_loops(trans_a, trans_b, m, n, k, <floating>alpha, pa, lda, pb, ldb,
                       <floating>beta, &C[0, 0], n)
        elif which == 2:
            gemm_blas(trans_a, trans_b, m, n, k, <floating>alpha, pa, lda, pb, ldb,
                      <floating>beta, &C[0, 0], n)
        else:
            gemm(trans_a, trans_b, m, n, k, <floating>alpha, pa, lda, pb, ldb,
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


def all_finite(const floating[::1] x, double lo=-float("inf"), double hi=float("inf")):
    """True when every value of the flat array x is finite and in [lo, hi]."""
    if x.shape[0] == 0:
        return True
    cdef bint ok
    with nogil:
        ok = all_finite_in(&x[0], x.shape[0], lo, hi)
    return ok



def matmul_repeat(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C,
                  bint trans_a, bint trans_b, str path, int reps):
    """Run C = op(A) @ op(B) `reps` times back to back in nogil code, by the core's loops
    (path "loops") or BLAS ("blas"): timed around one call, it measures the products and not
    Python's call overhead (nncore.bench.time_matmul, benches/matmul_cutover.py)."""
    cdef int m = A.shape[1] if trans_a else A.shape[0]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int n = B.shape[0] if trans_b else B.shape[1]
    if (B.shape[1] if trans_b else B.shape[0]) != k or C.shape[0] != m or C.shape[1] != n:
        raise ValueError("matmul_repeat: shapes do not fit C = op(A) @ op(B)")
    if m == 0 or n == 0 or k == 0 or reps < 1 or path not in ("loops", "blas"):
        raise ValueError("matmul_repeat: needs non-empty operands, reps >= 1, path loops|blas")
    cdef bint loops = path == "loops"
    cdef int r
    with nogil:
        for r in range(reps):
            if loops:
                gemm_loops(trans_a, trans_b, m, n, k, <floating>1, &A[0, 0], A.shape[1],
                           &B[0, 0], B.shape[1], <floating>0, &C[0, 0], n)
            else:
                gemm_blas(trans_a, trans_b, m, n, k, <floating>1, &A[0, 0], A.shape[1],
                          &B[0, 0], B.shape[1], <floating>0, &C[0, 0], n)
