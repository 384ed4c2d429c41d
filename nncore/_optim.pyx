# Optimizer updates of nncore's core (declared in _optim.pxd).
#
# Each rule is one loop over the values of a parameter array, reading its gradient and
# updating the state beside it, in the order torch.optim's single-tensor code takes (so that
# trajectories agree step by step). The choices between variants (momentum, Nesterov, AMSGrad)
# are made outside the loops; weight decay enters as `g + wd * w` with wd = 0 where it does not
# apply, and AdamW's decay as `w * (1 - lr * wd)` with the factor 1 where it does not: both
# exact no-ops then, so one loop serves both cases.

from libc.float cimport DBL_MIN, FLT_MIN
from libc.math cimport fabs, fabsf, pow, sqrt, sqrtf
from cython cimport floating

from nncore._kernels cimport simd_level

cdef extern from "_simd.h" nogil:
    # the SIMD kernels of one instruction set and type (see _simd.h); the Adam step is used here
    ctypedef struct nn_adam_coeffs_f32:
        float b1, c1, b2, c2, eps, step, wd, shrink
    ctypedef struct nn_adam_coeffs_f64:
        double b1, c1, b2, c2, eps, step, wd, shrink
    ctypedef struct nn_kernels_f32:
        void (*adam)(float* w, const float* g, float* m, float* v, Py_ssize_t n,
                     const nn_adam_coeffs_f32* coeffs) noexcept nogil
    ctypedef struct nn_kernels_f64:
        void (*adam)(double* w, const double* g, double* m, double* v, Py_ssize_t n,
                     const nn_adam_coeffs_f64* coeffs) noexcept nogil
    const nn_kernels_f32* nn_kernels_for_f32(int level)
    const nn_kernels_f64* nn_kernels_for_f64(int level)


# The kinds, for the Python side (nncore.optimizers).
KIND_SGD = OPT_SGD
KIND_ADAM = OPT_ADAM
KIND_ADAMW = OPT_ADAMW
KIND_RMSPROP = OPT_RMSPROP


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef void opt_begin_step(OptC* o) noexcept nogil:
    o.step[0] += 1
    cdef double t = <double>o.step[0]
    o.bc1 = 1.0 - pow(o.beta1, t)
    o.bc2_sqrt = sqrt(1.0 - pow(o.beta2, t))


cdef void _sgd(const OptC* o, ParamC p, const floating* g, floating lr,
               floating wd) noexcept nogil:
    # g_ = g + wd * w;  buf = g_ on the first step, else momentum * buf + g_;
    # w -= lr * (g_ + momentum * buf if nesterov else buf)   (w -= lr * g_ without momentum)
    cdef floating* w = <floating*>p.w
    cdef floating* buf = <floating*>p.state[0]
    cdef Py_ssize_t i, n = p.n
    cdef floating gi, v
    cdef floating mu = <floating>o.momentum
    if o.momentum == 0:
        for i in range(n):
            w[i] -= lr * (g[i] + wd * w[i])
    elif o.step[0] == 1:
        if o.nesterov:
            for i in range(n):
                gi = g[i] + wd * w[i]
                buf[i] = gi
                w[i] -= lr * (gi + mu * gi)
        else:
            for i in range(n):
                gi = g[i] + wd * w[i]
                buf[i] = gi
                w[i] -= lr * gi
    elif o.nesterov:
        for i in range(n):
            gi = g[i] + wd * w[i]
            v = mu * buf[i] + gi
            buf[i] = v
            w[i] -= lr * (gi + mu * v)
    else:
        for i in range(n):
            gi = g[i] + wd * w[i]
            v = mu * buf[i] + gi
            buf[i] = v
            w[i] -= lr * v


cdef inline floating _flush_tiny(floating x) noexcept nogil:
    # 0 where |x| is below the type's smallest normal number (NaN kept)
    if floating is float:
        return 0 if fabsf(x) < FLT_MIN else x
    else:
        return 0 if fabs(x) < DBL_MIN else x


cdef void _adam(const OptC* o, ParamC p, const floating* g, floating lr, floating wd,
                floating shrink) noexcept nogil:
    # w *= shrink (AdamW's 1 - lr * wd);  g_ = g + wd * w (Adam's decay);
    # m = beta1 m + (1 - beta1) g_;  v = beta2 v + (1 - beta2) g_^2  (vmax = max(vmax, v));
    # w -= (lr / (1 - beta1^t)) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps),
    # computed as w -= step * m / (sqrt(v) + eps_t) with step = lr sqrt(1 - beta2^t) /
    # (1 - beta1^t) and eps_t = eps sqrt(1 - beta2^t): the same value (to rounding) with one
    # division a value instead of two (division and square root share one slow unit: this
    # took the update from about 2.5 to 1.5 ns a value).
    # m and v are stored as 0 where they fall below the dtype's smallest normal number (torch
    # keeps the subnormal): a dead ReLU unit's moments decay geometrically into the subnormal
    # range and stay there (beta x the smallest subnormal rounds back to it), where every
    # operation on them takes a ~100-cycle microcode assist on x86: an Adam step on 64-32-10
    # took 4.5x the SGD step (float32), 1.2x with the moments flushed.
    cdef floating* w = <floating*>p.w
    cdef floating* m_ = <floating*>p.state[0]
    cdef floating* v_ = <floating*>p.state[1]
    cdef floating* vmax = <floating*>p.state[2]
    cdef Py_ssize_t i, n = p.n
    cdef floating gi, mi, vi, wi
    cdef floating b1 = <floating>o.beta1
    cdef floating c1 = <floating>(1.0 - o.beta1)
    cdef floating b2 = <floating>o.beta2
    cdef floating c2 = <floating>(1.0 - o.beta2)
    cdef floating eps = <floating>(o.eps * o.bc2_sqrt)
    cdef floating step = <floating>(<double>lr * o.bc2_sqrt / o.bc1)
    cdef const nn_kernels_f32* simd32 = nn_kernels_for_f32(simd_level())
    cdef const nn_kernels_f64* simd64 = nn_kernels_for_f64(simd_level())
    cdef nn_adam_coeffs_f32 k32
    cdef nn_adam_coeffs_f64 k64
    if not o.amsgrad and simd32 != NULL:
        # the same loop a vector at a time (_simd.h): its square roots and divisions are what
        # an Adam step costs
        if floating is float:
            k32.b1, k32.c1, k32.b2, k32.c2 = b1, c1, b2, c2
            k32.eps, k32.step, k32.wd, k32.shrink = eps, step, wd, shrink
            simd32.adam(w, g, m_, v_, n, &k32)
        else:
            k64.b1, k64.c1, k64.b2, k64.c2 = b1, c1, b2, c2
            k64.eps, k64.step, k64.wd, k64.shrink = eps, step, wd, shrink
            simd64.adam(w, g, m_, v_, n, &k64)
    elif o.amsgrad:
        for i in range(n):
            gi = g[i] + wd * w[i]
            wi = w[i] * shrink
            mi = _flush_tiny(b1 * m_[i] + c1 * gi)
            vi = _flush_tiny(b2 * v_[i] + c2 * (gi * gi))
            m_[i] = mi
            v_[i] = vi
            if vmax[i] > vi:
                vi = vmax[i]
            vmax[i] = vi
            w[i] = wi - step * (mi / (_sqrt(vi) + eps))
    else:
        for i in range(n):
            gi = g[i] + wd * w[i]
            wi = w[i] * shrink
            mi = _flush_tiny(b1 * m_[i] + c1 * gi)
            vi = _flush_tiny(b2 * v_[i] + c2 * (gi * gi))
            m_[i] = mi
            v_[i] = vi
            w[i] = wi - step * (mi / (_sqrt(vi) + eps))


cdef void _rmsprop(const OptC* o, ParamC p, const floating* g, floating lr,
                   floating wd) noexcept nogil:
    # g_ = g + wd * w;  v = alpha v + (1 - alpha) g_^2;  d = sqrt(v) + eps;
    # with momentum buf = momentum buf + g_ / d, w -= lr * buf; else w -= lr * (g_ / d)
    cdef floating* w = <floating*>p.w
    cdef floating* sq = <floating*>p.state[0]
    cdef floating* buf = <floating*>p.state[1]
    cdef Py_ssize_t i, n = p.n
    cdef floating gi, vi, bi
    cdef floating a = <floating>o.alpha
    cdef floating c = <floating>(1.0 - o.alpha)
    cdef floating eps = <floating>o.eps
    cdef floating mu = <floating>o.momentum
    if o.momentum > 0:
        for i in range(n):
            gi = g[i] + wd * w[i]
            vi = a * sq[i] + c * (gi * gi)
            sq[i] = vi
            bi = mu * buf[i] + gi / (_sqrt(vi) + eps)
            buf[i] = bi
            w[i] -= lr * bi
    else:
        for i in range(n):
            gi = g[i] + wd * w[i]
            vi = a * sq[i] + c * (gi * gi)
            sq[i] = vi
            w[i] -= lr * (gi / (_sqrt(vi) + eps))


cdef void opt_update(const OptC* o, ParamC p, const floating* g,
                     floating lr) noexcept nogil:
    cdef floating wd = <floating>(o.weight_decay if p.decay and o.kind != OPT_ADAMW else 0.0)
    cdef floating shrink = 1
    if o.kind == OPT_SGD:
        _sgd(o, p, g, lr, wd)
    elif o.kind == OPT_RMSPROP:
        _rmsprop(o, p, g, lr, wd)
    else:
        if o.kind == OPT_ADAMW and p.decay:
            shrink = <floating>(1.0 - <double>lr * o.weight_decay)
        _adam(o, p, g, lr, wd, shrink)


def adam_into(floating[::1] w, const floating[::1] g, floating[::1] m, floating[::1] v,
              double lr, long long t, double beta1=0.9, double beta2=0.999, double eps=1e-8,
              double weight_decay=0.0, bint decoupled=False):
    """Step t (t >= 1) of Adam, or AdamW when ``decoupled``, over flat arrays, in place: the
    update the engine runs on each parameter array (w, its gradient g, the moments m, v; all of
    one length). For the tests."""
    cdef Py_ssize_t n = w.shape[0]
    cdef OptC o
    cdef int64_t step = t - 1
    cdef void* state[3]
    cdef ParamC p
    if g.shape[0] != n or m.shape[0] != n or v.shape[0] != n:
        raise ValueError("adam_into: w, g, m and v must have one length")
    if t < 1 or not 0 <= beta1 < 1 or not 0 <= beta2 < 1 or not eps > 0:
        raise ValueError("adam_into: needs t >= 1, betas in [0, 1), eps > 0")
    o.kind = OPT_ADAMW if decoupled else OPT_ADAM
    o.beta1, o.beta2, o.eps, o.weight_decay = beta1, beta2, eps, weight_decay
    o.amsgrad = False
    o.step = &step
    if n == 0:
        return
    state[0], state[1], state[2] = &m[0], &v[0], NULL
    p.w, p.state, p.n, p.decay = &w[0], state, n, True
    with nogil:
        opt_begin_step(&o)
        opt_update(&o, p, &g[0], <floating>lr)
