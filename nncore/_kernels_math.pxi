# Math kernels of nncore._kernels (included by _kernels.pyx): activations and their derivatives,
# reductions; declared in _kernels.pxd. The losses and their gradients are in
# _kernels_losses.pxi, which uses the scalar helpers defined here.

# ---------------------------------------------------------------------------------------------
# Scalar helpers and the SIMD elementwise kernels
# ---------------------------------------------------------------------------------------------

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


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _erfc(floating x) noexcept nogil:
    # 1 - erf(x), accurate where erf(x) is near 1 (GELU's 1 + erf(a / sqrt(2)) for a << 0 is
    # erfc(-a / sqrt(2)): the sum would cancel)
    if floating is float:
        return erfcf(x)
    else:
        return erfc(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


# GELU's constants: 1/sqrt(2), 1/sqrt(2 pi), sqrt(2/pi) and the cubic term's 0.044715
cdef double _INV_SQRT2 = 0.7071067811865476
cdef double _INV_SQRT_2PI = 0.3989422804014327
cdef double _SQRT_2_OVER_PI = 0.7978845608028654
cdef double _GELU_CUBIC = 0.044715


cdef inline floating _sigmoid(floating x) noexcept nogil:
    # 1 / (1 + exp(-x)), written so that exp never overflows: with e = exp(-|x|),
    # 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0; a select, not a branch on the sign
    cdef floating e = _exp(-x if x >= 0 else x)
    cdef floating r = 1 / (1 + e)
    return r if x >= 0 else e * r


cdef inline void _exp_simd(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    # y = np.exp(x) by the SIMD code of the cpu path (not the portable one)
    if floating is float:
        _simd32.exp(x, y, n)
    else:
        _simd64.exp(x, y, n)


cdef inline void _sigmoid_simd(const floating* a, floating* z, Py_ssize_t n, floating c,
                               floating beta) noexcept nogil:
    # z = c / (1 + np.exp(-beta * a)) by the SIMD code of the cpu path (not the portable one)
    if floating is float:
        _simd32.sigmoid(a, z, n, c, beta)
    else:
        _simd64.sigmoid(a, z, n, c, beta)



# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------

cdef void _softmax_simd(const floating* a, floating* z, floating* lse, int m,
                        int n) noexcept nogil:
    # activation_forward's softmax by the SIMD code of the cpu path: a vector of a row at a time
    if floating is float:
        _simd32.softmax_rows(a, z, lse, m, n)
    else:
        _simd64.softmax_rows(a, z, lse, m, n)


cdef void activation_forward(int kind, double p0, double p1, const floating* a, floating* z,
                             floating* lse, int m, int n) noexcept nogil:
    cdef Py_ssize_t i, size = <Py_ssize_t>m * n
    cdef int r, j
    cdef floating c, beta, slope, x, mx, total, inv, h, k0, k1
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
        if _simd_for(size):
            _sigmoid_simd(a, z, size, c, beta)
        elif c == 1 and beta == 1:
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
        if _simd_for(size):
            if floating is float:
                _simd32.relu(a, z, size)
            else:
                _simd64.relu(a, z, size)
        else:
            for i in range(size):
                z[i] = a[i] if a[i] > 0 else 0
    elif kind == ACT_LEAKY_RELU:
        # z = np.where(a >= 0, a, delta * a)
        slope = <floating>p0
        for i in range(size):
            z[i] = a[i] if a[i] >= 0 else slope * a[i]
    elif kind == ACT_SOFTMAX:
        # e = np.exp(a - a.max(1, keepdims=True)); z = e / e.sum(1, keepdims=True)
        if _simd_for(size):
            _softmax_simd(a, z, lse, m, n)
            return
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
    elif kind == ACT_GELU:
        # z = a / 2 * (1 + erf(a / sqrt(2)))
        h = <floating>_INV_SQRT2
        for i in range(size):
            z[i] = <floating>0.5 * a[i] * _erfc(-a[i] * h)
    elif kind == ACT_GELU_TANH:
        # z = a / 2 * (1 + tanh(sqrt(2 / pi) * (a + 0.044715 * a**3)))
        k0 = <floating>_SQRT_2_OVER_PI
        k1 = <floating>_GELU_CUBIC
        for i in range(size):
            x = a[i]
            z[i] = <floating>0.5 * x * (1 + _tanh(k0 * (x + k1 * x * x * x)))
    elif kind == ACT_ELU:
        # z = np.where(a > 0, a, alpha * np.expm1(a))
        c = <floating>p0
        for i in range(size):
            z[i] = a[i] if a[i] > 0 else c * _expm1(a[i])
    elif kind == ACT_SILU:
        # z = a * sigmoid(a): the SIMD sigmoid into z, then times a (not in place over a)
        if z != a and _simd_for(size):
            _sigmoid_simd(a, z, size, 1, 1)
            for i in range(size):
                z[i] = a[i] * z[i]
        else:
            for i in range(size):
                z[i] = a[i] * _sigmoid(a[i])
    elif kind == ACT_SOFTPLUS:
        # x = beta * a; z = np.where(x > threshold, a, np.log1p(np.exp(x)) / beta), with
        # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), which never overflows
        beta = <floating>p0
        c = <floating>p1
        inv = <floating>(1 / p0)
        for i in range(size):
            x = beta * a[i]
            if x > c:
                z[i] = a[i]
            else:
                z[i] = ((x if x > 0 else 0) + _log1p(_exp(-fabs(x)))) * inv


cdef void activation_backward(int kind, double p0, double p1, const floating* a,
                              const floating* z, floating* delta, int m, int n) noexcept nogil:
    cdef Py_ssize_t i, size = <Py_ssize_t>m * n
    cdef int r, j
    cdef floating beta, inv_c, slope, s, x, h, k0, k1
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
        if _simd_for(size):
            if floating is float:
                _simd32.relu_backward(a, delta, size)
            else:
                _simd64.relu_backward(a, delta, size)
        else:
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
    elif kind == ACT_GELU:
        # delta = g * (Phi(a) + a * phi(a)), Phi, phi the standard normal CDF and density
        h = <floating>_INV_SQRT2
        k0 = <floating>_INV_SQRT_2PI
        for i in range(size):
            x = a[i]
            delta[i] = delta[i] * (<floating>0.5 * _erfc(-x * h)
                                   + x * k0 * _exp(<floating>-0.5 * x * x))
    elif kind == ACT_GELU_TANH:
        # t = tanh(u), u = k0 (a + k1 a**3);
        # delta = g * (0.5 (1 + t) + 0.5 a (1 - t**2) k0 (1 + 3 k1 a**2)); past |a| = 10,
        # where t = +-1 and (1 - t**2) * a**3 could be 0 * inf, phi' is (a > 0) exactly
        k0 = <floating>_SQRT_2_OVER_PI
        k1 = <floating>_GELU_CUBIC
        for i in range(size):
            x = a[i]
            if fabs(x) > 10:
                delta[i] = delta[i] if x > 0 else 0
            else:
                s = _tanh(k0 * (x + k1 * x * x * x))
                delta[i] = delta[i] * (<floating>0.5 * (1 + s) + <floating>0.5 * x * (1 - s * s)
                                       * k0 * (1 + 3 * k1 * x * x))
    elif kind == ACT_ELU:
        # delta = g * np.where(a > 0, 1, alpha * np.exp(a))
        slope = <floating>p0
        for i in range(size):
            delta[i] = delta[i] if a[i] > 0 else delta[i] * slope * _exp(a[i])
    elif kind == ACT_SILU:
        # s = sigmoid(a); delta = g * s * (1 + a * (1 - s))
        for i in range(size):
            s = _sigmoid(a[i])
            delta[i] = delta[i] * s * (1 + a[i] * (1 - s))
    elif kind == ACT_SOFTPLUS:
        # x = beta * a; delta = g * np.where(x > threshold, 1, sigmoid(x))
        beta = <floating>p0
        h = <floating>p1
        for i in range(size):
            x = beta * a[i]
            if not x > h:
                delta[i] = delta[i] * _sigmoid(x)


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
# Reductions and updates
# ---------------------------------------------------------------------------------------------

cdef void column_sums(const floating* delta, floating* out, int m, int n,
                      floating alpha, floating beta) noexcept nogil:
    # out = beta * out + alpha * delta.sum(0)
    cdef int r, j
    cdef const floating* dr
    if _simd_for(<Py_ssize_t>m * n):
        if floating is float:
            _simd32.column_sums(delta, out, m, n, alpha, beta)
        else:
            _simd64.column_sums(delta, out, m, n, alpha, beta)
        return
    _scale_rows(out, 1, n, n, beta)
    for r in range(m):
        dr = delta + <Py_ssize_t>r * n
        for j in range(n):
            out[j] += alpha * dr[j]


cdef bint all_finite_in(const floating* x, Py_ssize_t size, double lo, double hi) noexcept nogil:
    # np.isfinite(x).all() and ((x >= lo) & (x <= hi)).all()
    # On a SIMD cpu path, vector compares (_simd.h). The portable loop: blocks of 1024
    # without an early exit inside, comparisons combined with | rather than short-circuit `or`
    # (a branchy loop here cost 10% of a 64-32-10 fit call). NaN fails every comparison; +-inf
    # fails |v| <= max.
    cdef Py_ssize_t start, i, end
    cdef floating v
    cdef floating flo = <floating>lo
    cdef floating fhi = <floating>hi
    cdef floating big = FLT_MAX if floating is float else DBL_MAX
    cdef int bad = 0
    if _simd_for(size):
        if floating is float:
            return _simd32.all_finite_in(x, size, flo, fhi)
        else:
            return _simd64.all_finite_in(x, size, flo, fhi)
    for start in range(0, size, 1024):
        end = start + 1024 if size - start > 1024 else size
        for i in range(start, end):
            v = x[i]
            bad = bad | (not v >= flo) | (not v <= fhi) | (not fabs(v) <= big)
        if bad:
            return False
    return True
