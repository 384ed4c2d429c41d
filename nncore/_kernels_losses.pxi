# Loss kernels of nncore._kernels (included by _kernels.pyx after _kernels_math.pxi, whose
# scalar helpers they use): each loss's value and its gradient, and the cross-entropies from
# the logits; declared in _kernels.pxd.

# ---------------------------------------------------------------------------------------------
# Losses: mean over the m examples, summed over the n outputs
# ---------------------------------------------------------------------------------------------

cdef inline double _safe_log(double x, double tiny) noexcept nogil:
    # log(max(x, tiny)), tiny the dtype's smallest normal number: never log(0)
    return log(x if x > tiny else tiny)


cdef double loss_value(int loss, double p, const floating* yhat, const floating* y,
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
    elif loss == LOSS_MAE:
        # np.abs(yhat - y).sum() / m
        for i in range(size):
            total += fabs(<double>yhat[i] - <double>y[i])
        return total / m
    elif loss == LOSS_HUBER:
        # d = |yhat - y|; np.where(d < delta, d**2 / 2, delta * (d - delta / 2)).sum() / m
        for i in range(size):
            d = fabs(<double>yhat[i] - <double>y[i])
            total += 0.5 * d * d if d < p else p * (d - 0.5 * p)
        return total / m
    elif loss == LOSS_POISSON:
        # mu = np.exp(yhat) (in the dtype: inf where it overflows, as the gradient sees it);
        # (xlogy(y, y) - y - y * yhat + mu).sum() / m, i.e. y log(y / mu) - y + mu
        for i in range(size):
            d = <double>y[i]
            total += (d * log(d) if d > 0 else 0.0) - d - d * <double>yhat[i] \
                + <double><floating>exp(<double>yhat[i])
        return total / m
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


cdef void loss_gradient(int loss, double param, const floating* yhat, const floating* y,
                        floating* g, int m, int n) noexcept nogil:
    cdef Py_ssize_t i, size = <Py_ssize_t>m * n
    cdef floating inv_m = <floating>(1.0 / m)
    cdef floating tiny = FLT_MIN if floating is float else DBL_MIN
    cdef floating p, q, d, hi
    if loss == LOSS_MSE:
        # g = (yhat - y) / m
        for i in range(size):
            g[i] = (yhat[i] - y[i]) * inv_m
    elif loss == LOSS_MAE:
        # g = np.sign(yhat - y) / m   (0 where yhat == y)
        for i in range(size):
            d = yhat[i] - y[i]
            g[i] = inv_m if d > 0 else (-inv_m if d < 0 else 0)
    elif loss == LOSS_HUBER:
        # g = np.clip(yhat - y, -delta, delta) / m
        hi = <floating>param
        for i in range(size):
            d = yhat[i] - y[i]
            d = d if d < hi else hi
            d = d if d > -hi else -hi
            g[i] = d * inv_m
    elif loss == LOSS_POISSON:
        # g = (np.exp(yhat) - y) / m: the gradient with respect to the log of the mean
        for i in range(size):
            g[i] = (<floating>exp(yhat[i]) - y[i]) * inv_m
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
    # Every term first, without a branch (one on where a one-hot row's 1 lies mispredicted
    # once a row). Only when that gives NaN, again leaving out the terms whose weight is 0: an
    # overflowed logit a = -inf with weight 0 makes 0 * -inf = NaN, but adds nothing to L.
    cdef int r, j
    cdef double total = 0
    cdef const floating* ar
    cdef const floating* yr
    for r in range(m):
        ar = a + <Py_ssize_t>r * n
        yr = y + <Py_ssize_t>r * n
        for j in range(n):
            total -= yr[j] * (<double>ar[j] - <double>lse[r])
    if total == total:
        return total / m
    total = 0
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



cdef double softmax_cross_entropy_labels(const floating* a, const floating* lse,
                                         const floating* z, const int64_t* labels,
                                         floating* delta, int m, int n) noexcept nogil:
    # The softmax cross-entropy against class labels y (m,), each in [0, n): what the one-hot
    # kernels above give for Y = eye(n)[y], bit for bit, without reading Y:
    #   L = -(a[r, y_r] - lse[r]).sum() / m;  delta = (z - eye(n)[y]) / m  (when not NULL)
    cdef int r, j
    cdef int64_t y
    cdef double total = 0
    cdef floating inv_m = <floating>(1.0 / m)
    cdef const floating* zr
    cdef floating* dr
    for r in range(m):
        y = labels[r]
        total -= <double>a[<Py_ssize_t>r * n + y] - <double>lse[r]
        if delta != NULL:
            zr = z + <Py_ssize_t>r * n
            dr = delta + <Py_ssize_t>r * n
            for j in range(n):
                dr[j] = zr[j] * inv_m
            dr[y] = (zr[y] - <floating>1) * inv_m
    return total / m

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
