# The fused training step and the epoch loop of nncore's core.
#
# An Engine holds, for one network, pointers to every layer's W, b and activation parameters
# (the arrays are owned by the Python layers and never reallocated) and a workspace of a, z and
# delta per layer, allocated by the Python side once per batch size. One nogil call then runs
# forward through every layer, the loss and its gradient, backward, and the update:
#
#   forward   a_l = z_{l-1} @ W_l + b_l;  z_l = phi_l(a_l)                 (z_0 = X)
#   output    delta_L = dL/da_L  (the cross-entropies from the logits in closed form, e.g.
#                                  (z_L - Y) / m for softmax with target rows summing to 1)
#   backward  delta_{l-1} = (delta_l @ W_l.T) * phi'_{l-1}                 (never for l = 1)
#   update    W_l -= lr * z_{l-1}.T @ delta_l   (one gemm with beta = 1: dW is never stored)
#             b_l -= lr * delta_l.sum(0)
#
# The targets are rows Y (m, n_out), or int64 class labels (m,) that the softmax cross-entropy
# reads as they are (delta = (z - onehot) / m without a one-hot row; other losses get one-hot
# rows made batch by batch). With sample weights w (m,), the loss is the weighted mean
# sum(w_r L_r) / sum(w) and each row of delta_L is scaled by w_r / sum(w): backpropagation is
# linear in delta_L, so every gradient is the weighted one.
#
# With MODE_GRADIENTS the same pass stores dW and db in the workspace instead of updating.
# With MODE_OPTIM it stores them there too, then applies the network's optimizer (momentum,
# Adam, AdamW, RMSprop: nncore/_optim.pyx) to W, b and a trainable sigmoid's (c, beta) from
# them, layer by layer in the same backward sweep, with its state (moments) in arrays the Python
# optimizer owns, one per parameter array: W_l -= step(dW_l, state_l) right after dW_l.
#
# The Python-facing methods check their arrays with the NumPy C API first (type, dtype, shape,
# contiguity, finite values): arrays that are already right go straight to nogil code; anything
# else goes through nncore._validate, which converts or raises the error that says what is wrong.

cimport numpy as cnp
import numpy as np
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.float cimport FLT_MAX
from libc.math cimport INFINITY, fabs, isfinite
from libc.string cimport memcpy, memset
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from cython cimport floating

from nncore._kernels cimport (
    ACT_LEAKY_RELU, ACT_SIGMOID, ACT_SOFTMAX, LOSS_MSE, LOSS_CROSS_ENTROPY, LOSS_BINARY_CROSS_ENTROPY,
    gemm, dense_forward, activation_forward, activation_backward, sigmoid_param_gradients,
    loss_value, loss_gradient, softmax_cross_entropy_value, softmax_cross_entropy_delta,
    softmax_cross_entropy_labels,
    sigmoid_cross_entropy, column_sums, all_finite_in,
)
from nncore._optim cimport OptC, OPT_SGD, OPT_RMSPROP, opt_begin_step, opt_update

cnp.import_array()

cdef enum:
    MODE_LOSS = 0        # forward and loss only
    MODE_GRADIENTS = 1   # dW, db (and dc, dbeta) into the workspace; parameters unchanged
    MODE_SGD = 2         # gradient descent, the update folded into the weight-gradient gemm
    MODE_OPTIM = 3       # dW, db into the workspace, then the optimizer's update from them

# predict() runs in chunks of at most this many rows (or the workspace's size, if larger), so
# that predicting on a large X needs no workspace of X's size.
cdef int PREDICT_CHUNK = 1024


cdef struct LayerC:
    int n_in
    int n_out
    int act
    bint trainable
    void* W              # (n_in, n_out), owned by the Python layer
    void* b              # (n_out,)
    double* params       # the activation's float64 parameters: (c, beta) or (delta, 0)
    double dparams[2]    # dL/dc, dL/dbeta of a trainable sigmoid, from the last pass
    void* a              # workspace (capacity, n_out)
    void* z              # workspace (capacity, n_out)
    void* delta          # workspace (capacity, n_out)
    void* dW             # gradient store (n_in, n_out), MODE_GRADIENTS only
    void* db             # gradient store (n_out,), MODE_GRADIENTS only
    void* sW[3]          # optimizer state beside W (as many as the rule uses, else NULL)
    void* sb[3]          # ... beside b
    double* sp[3]        # ... beside a trainable sigmoid's (c, beta): 2 float64 each


# ---------------------------------------------------------------------------------------------
# nogil passes
# ---------------------------------------------------------------------------------------------

cdef void _forward(LayerC* layers, int n_layers, const floating* X, int m,
                   floating* lse) noexcept nogil:
    cdef int l
    cdef LayerC* ly
    cdef const floating* z_prev = X
    for l in range(n_layers):
        ly = &layers[l]
        dense_forward(z_prev, <floating*>ly.W, <floating*>ly.b, <floating*>ly.a,
                      m, ly.n_in, ly.n_out)
        activation_forward(ly.act, ly.params[0], ly.params[1], <floating*>ly.a,
                           <floating*>ly.z, lse if ly.act == ACT_SOFTMAX else NULL,
                           m, ly.n_out)
        z_prev = <floating*>ly.z


cdef void _local_gradient(LayerC* ly, floating* delta, int m) noexcept nogil:
    # delta (the layer's ly.delta) holds g = dL/dz; turn it into dL/da, taking dL/dc and
    # dL/dbeta of a trainable sigmoid on the way
    if ly.trainable:
        sigmoid_param_gradients(ly.params[0], ly.params[1], <floating*>ly.a, delta,
                                <Py_ssize_t>m * ly.n_out, &ly.dparams[0], &ly.dparams[1])
    activation_backward(ly.act, ly.params[0], ly.params[1], <floating*>ly.a,
                        <floating*>ly.z, delta, m, ly.n_out)


cdef double _head(LayerC* out, int loss, const floating* Y, const int64_t* labels,
                  const floating* lse, int r0, int k, bint want_delta) noexcept nogil:
    """The mean loss of rows r0:r0 + k of the output layer against their targets (rows of Y,
    or class labels), and, when want_delta, those rows of out.delta: the gradient of that mean,
    dL/da (dL/dz for MSE, which _local_gradient then turns into dL/da)."""
    cdef int n = out.n_out
    cdef Py_ssize_t off = <Py_ssize_t>r0 * n
    cdef floating* a = <floating*>out.a + off
    cdef floating* z = <floating*>out.z + off
    cdef floating* d = <floating*>out.delta + off if want_delta else NULL
    cdef const floating* y = Y + off if Y != NULL else NULL
    cdef double value
    # The cross-entropies come from the logits, with delta = dL/da in closed form (the caller
    # checked that their output is a softmax, or a sigmoid with 0 < c <= 1, not trainable).
    if loss == LOSS_CROSS_ENTROPY and out.act == ACT_SOFTMAX:
        if labels != NULL:
            return softmax_cross_entropy_labels(a, lse + r0, z, labels + r0, d, k, n)
        value = softmax_cross_entropy_value(a, lse + r0, y, k, n)
        if want_delta:
            softmax_cross_entropy_delta(z, y, d, k, n)
        return value
    if loss != LOSS_MSE:
        return sigmoid_cross_entropy(a, y, d, k, n, out.params[0], out.params[1],
                                     loss == LOSS_BINARY_CROSS_ENTROPY)
    value = loss_value(loss, z, y, k, n)
    if want_delta:
        loss_gradient(loss, z, y, d, k, n)
    return value


cdef double _weighted_head(LayerC* out, int loss, const floating* Y, const int64_t* labels,
                           const double* sw, const floating* lse, int m,
                           bint want_delta) noexcept nogil:
    """As _head over all m rows, with sample weights sw (>= 0, finite): the weighted mean
    sum(sw[r] * L_r) / sum(sw) of the rows' losses, and delta rows scaled by sw[r] / sum(sw)
    (its gradient). A row of weight 0 adds nothing (not even a NaN of its own); a batch whose
    weights are all 0 has loss 0 and delta 0."""
    cdef int r, j, n = out.n_out
    cdef double wsum = 0, total = 0
    cdef floating s
    cdef floating* d
    for r in range(m):
        wsum += sw[r]
    for r in range(m):
        d = <floating*>out.delta + <Py_ssize_t>r * n
        if sw[r] == 0:
            if want_delta:
                memset(d, 0, n * sizeof(floating))
            continue
        total += sw[r] * _head(out, loss, Y, labels, lse, r, 1, want_delta)
        if want_delta:
            s = <floating>(sw[r] / wsum)
            for j in range(n):
                d[j] = d[j] * s
    return total / wsum if wsum > 0 else 0.0


cdef double _pass(LayerC* layers, int n_layers, int loss, const floating* X,
                  const floating* Y, const int64_t* labels, const double* sw, int m,
                  floating lr, int mode, floating* lse, OptC* opt) noexcept nogil:
    """Forward, loss, and (unless MODE_LOSS) backward with gradients or the update.

    The targets are rows Y (m, n_out), or class labels (m,) in [0, n_out) when the output is a
    softmax with the cross-entropy (other losses get labels as one-hot rows); sw, when not
    NULL, weighs the rows' losses (see _weighted_head)."""
    cdef int l
    cdef double value
    cdef LayerC* ly
    cdef LayerC* prev
    cdef LayerC* out = &layers[n_layers - 1]
    cdef const floating* z_prev

    _forward(layers, n_layers, X, m, lse)
    if sw == NULL:
        value = _head(out, loss, Y, labels, lse, 0, m, mode != MODE_LOSS)
    else:
        value = _weighted_head(out, loss, Y, labels, sw, lse, m, mode != MODE_LOSS)
    if mode == MODE_LOSS:
        return value
    if loss == LOSS_MSE:
        _local_gradient(out, <floating*>out.delta, m)

    if mode >= MODE_SGD and not isfinite(value):
        return value  # no step from a loss that is not finite: the caller raises
    if mode == MODE_OPTIM:
        opt_begin_step(opt)
    elif mode == MODE_SGD and opt.step != NULL:
        opt.step[0] += 1    # plain SGD keeps no state but counts its steps too

    for l in range(n_layers - 1, -1, -1):
        ly = &layers[l]
        z_prev = X if l == 0 else <floating*>layers[l - 1].z
        if l > 0:
            # delta_prev = delta @ W.T  (then times phi'_prev, below); uses W before its update
            prev = &layers[l - 1]
            gemm(False, True, m, ly.n_in, ly.n_out, <floating>1, <floating*>ly.delta,
                 ly.n_out, <floating*>ly.W, ly.n_out, <floating>0, <floating*>prev.delta,
                 ly.n_in)
        if mode == MODE_SGD:
            # W -= lr * z_prev.T @ delta;  b -= lr * delta.sum(0)
            gemm(True, False, ly.n_in, ly.n_out, m, -lr, z_prev, ly.n_in,
                 <floating*>ly.delta, ly.n_out, <floating>1, <floating*>ly.W, ly.n_out)
            column_sums(<floating*>ly.delta, <floating*>ly.b, m, ly.n_out, -lr, <floating>1)
            if ly.trainable:
                ly.params[0] -= lr * ly.dparams[0]
                ly.params[1] -= lr * ly.dparams[1]
        elif mode == MODE_OPTIM:
            # dW = z_prev.T @ delta;  W -= step(dW) (with weight decay). One gemm for the whole
            # dW: computing it in blocks of rows, each updated while in cache, was no faster
            # with one BLAS thread and several times slower with two on a busy machine (each
            # call wakes the pool)
            gemm(True, False, ly.n_in, ly.n_out, m, <floating>1, z_prev, ly.n_in,
                 <floating*>ly.delta, ly.n_out, <floating>0, <floating*>ly.dW, ly.n_out)
            opt_update(opt, <floating*>ly.W, <floating*>ly.dW, <floating*>ly.sW[0],
                       <floating*>ly.sW[1], <floating*>ly.sW[2],
                       <Py_ssize_t>ly.n_in * ly.n_out, lr, True)
            # b -= step(db), db = delta.sum(0);  (c, beta) -= step(dc, dbeta)
            column_sums(<floating*>ly.delta, <floating*>ly.db, m, ly.n_out, <floating>1,
                        <floating>0)
            opt_update(opt, <floating*>ly.b, <floating*>ly.db, <floating*>ly.sb[0],
                       <floating*>ly.sb[1], <floating*>ly.sb[2], ly.n_out, lr, False)
            if ly.trainable:
                opt_update(opt, ly.params, &ly.dparams[0], ly.sp[0], ly.sp[1], ly.sp[2],
                           2, <double>lr, False)
        else:
            # dW = z_prev.T @ delta;  db = delta.sum(0)
            gemm(True, False, ly.n_in, ly.n_out, m, <floating>1, z_prev, ly.n_in,
                 <floating*>ly.delta, ly.n_out, <floating>0, <floating*>ly.dW, ly.n_out)
            column_sums(<floating*>ly.delta, <floating*>ly.db, m, ly.n_out, <floating>1,
                        <floating>0)
        if l > 0:
            _local_gradient(prev, <floating*>prev.delta, m)
    return value


cdef inline uint64_t _splitmix64(uint64_t* state) noexcept nogil:
    cdef uint64_t z
    state[0] += <uint64_t>0x9E3779B97F4A7C15
    z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef void _shuffled_index(int64_t* idx, Py_ssize_t n, uint64_t seed) noexcept nogil:
    # idx = a permutation of range(n): Fisher-Yates driven by splitmix64(seed). j in [0, i] is
    # (top 32 random bits * (i + 1)) >> 32, a multiply instead of a 64-bit division (which cost
    # 0.5 us per step of a 3-4-2 fit); its bias, below (i + 1) / 2**32, is far under anything a
    # shuffle for SGD could notice. Beyond 2**32 examples, the modulo (bias below n / 2**64).
    cdef Py_ssize_t i, j
    cdef int64_t t
    cdef uint64_t state = seed
    for i in range(n):
        idx[i] = i
    for i in range(n - 1, 0, -1):
        if i < <Py_ssize_t>4294967295:
            j = <Py_ssize_t>(((_splitmix64(&state) >> 32) * <uint64_t>(i + 1)) >> 32)
        else:
            j = <Py_ssize_t>(_splitmix64(&state) % <uint64_t>(i + 1))
        t = idx[i]
        idx[i] = idx[j]
        idx[j] = t


cdef bint _fill_one_hot(const void* labels, bint wide, Py_ssize_t m, int n_out,
                        floating* Y) noexcept nogil:
    # Y[:m] = np.eye(n_out)[labels] for int64 (wide) or int32 labels; False (Y partly written)
    # when a label is not in [0, n_out)
    cdef Py_ssize_t r
    cdef int64_t v
    memset(Y, 0, m * n_out * sizeof(floating))
    for r in range(m):
        v = (<const int64_t*>labels)[r] if wide else (<const int32_t*>labels)[r]
        if v < 0 or v >= n_out:
            return False
        Y[r * n_out + v] = 1
    return True


cdef bint _all_in_range(const void* values, bint wide, Py_ssize_t m,
                        Py_ssize_t stop) noexcept nogil:
    # every one of m int64 (wide) or int32 values lies in [0, stop): class labels, row indices
    cdef Py_ssize_t r
    cdef int64_t v
    cdef bint ok = True
    for r in range(m):
        v = (<const int64_t*>values)[r] if wide else (<const int32_t*>values)[r]
        ok &= (v >= 0) & (v < stop)
    return ok


cdef double _weights_squared(LayerC* layers, int n_layers, bint is_float32) noexcept nogil:
    # sum over the layers of ||W||^2 (not b), in double, four sums in turn (a chain of one
    # would wait on each addition)
    cdef int l
    cdef Py_ssize_t i, size
    cdef double s0, s1, s2, s3, x
    cdef const float* w32
    cdef const double* w64
    s0 = s1 = s2 = s3 = 0
    for l in range(n_layers):
        size = <Py_ssize_t>layers[l].n_in * layers[l].n_out
        w32 = <const float*>layers[l].W
        w64 = <const double*>layers[l].W
        i = 0
        while i + 4 <= size:
            if is_float32:
                s0 += <double>w32[i] * w32[i]
                s1 += <double>w32[i + 1] * w32[i + 1]
                s2 += <double>w32[i + 2] * w32[i + 2]
                s3 += <double>w32[i + 3] * w32[i + 3]
            else:
                s0 += w64[i] * w64[i]
                s1 += w64[i + 1] * w64[i + 1]
                s2 += w64[i + 2] * w64[i + 2]
                s3 += w64[i + 3] * w64[i + 3]
            i += 4
        while i < size:
            x = <double>w32[i] if is_float32 else w64[i]
            s0 += x * x
            i += 1
    return (s0 + s1) + (s2 + s3)


cdef double _epoch(LayerC* layers, int n_layers, int loss, const floating* X,
                   const floating* Y, const int64_t* labels, const double* sw, Py_ssize_t n,
                   int batch, floating lr, int64_t* idx, bint shuffle, uint64_t seed,
                   floating* x_batch, floating* y_batch, int64_t* l_batch, double* w_batch,
                   floating* lse, int mode, OptC* opt, double* norms) noexcept nogil:
    """One epoch of mini-batch steps (MODE_SGD or MODE_OPTIM) over n rows of targets Y
    (., n_out) or class labels (.,) (in range), weighed by sw when not NULL: rows 0..n-1 in
    order when idx is NULL, else rows idx[0..n-1], a fresh permutation of range(n) drawn from
    seed into idx first when shuffle. Returns the mean of the losses before each step, weighted
    by batch size. When norms is not NULL, norms[0] gets the sum over the steps of
    sum_l ||W_l||^2 before each step (an L2 penalty's share of the reported loss, as
    scikit-learn's MLP reports it)."""
    cdef int n_in = layers[0].n_in
    cdef int n_out = layers[n_layers - 1].n_out
    # class labels reach _pass as they are for the softmax cross-entropy, else as one-hot rows
    cdef bint as_rows = labels != NULL and not (loss == LOSS_CROSS_ENTROPY
                                                and layers[n_layers - 1].act == ACT_SOFTMAX)
    cdef Py_ssize_t start, i
    cdef int m, r, j
    cdef double total = 0
    cdef const floating* xs
    cdef const floating* ys
    cdef const int64_t* ls
    cdef const double* ws
    if shuffle:
        _shuffled_index(idx, n, seed)
    start = 0
    while start < n:
        m = <int>(batch if n - start > batch else n - start)
        if idx != NULL:
            # the batch's rows idx[start:start + m] of X, of Y or the labels, and of sw
            # (loops, not memcpy: rows of a few values made the calls cost 2 us per step)
            for r in range(m):
                i = idx[start + r]
                for j in range(n_in):
                    x_batch[<Py_ssize_t>r * n_in + j] = X[i * n_in + j]
                if labels != NULL:
                    l_batch[r] = labels[i]
                else:
                    for j in range(n_out):
                        y_batch[<Py_ssize_t>r * n_out + j] = Y[i * n_out + j]
                if sw != NULL:
                    w_batch[r] = sw[i]
            xs, ys, ls = x_batch, y_batch, l_batch
            ws = w_batch if sw != NULL else NULL
        else:
            xs = X + start * n_in
            ys = Y + start * n_out if labels == NULL else NULL
            ls = labels + start if labels != NULL else NULL
            ws = sw + start if sw != NULL else NULL
        if labels == NULL:
            ls = NULL
        elif as_rows:
            _fill_one_hot(ls, True, m, n_out, y_batch)
            ys, ls = y_batch, NULL
        else:
            ys = NULL
        if norms != NULL:
            norms[0] += _weights_squared(layers, n_layers, floating is float)
        total += _pass(layers, n_layers, loss, xs, ys, ls, ws, m, lr, mode, lse, opt) * m
        start += m
    return total / n


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


# ---------------------------------------------------------------------------------------------
# The Engine: one network's pointers and workspace, and the Python-facing calls
# ---------------------------------------------------------------------------------------------

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
    # aligned and in native byte order: class labels that _fill_one_hot can read as they are
    if not cnp.PyArray_CheckExact(y):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>y
    cdef int t = cnp.PyArray_TYPE(arr)
    return (cnp.PyArray_NDIM(arr) == 1 and cnp.PyArray_DIM(arr, 0) == m
            and (t == cnp.NPY_INT or t == cnp.NPY_LONG or t == cnp.NPY_LONGLONG)
            and (cnp.PyArray_ITEMSIZE(arr) == 4 or cnp.PyArray_ITEMSIZE(arr) == 8)
            and cnp.PyArray_ISCARRAY_RO(arr))


cdef class Engine:
    """The compiled backend of one Network (nncore internal).

    Parameters
    ----------
    Ws, bs : lists of ndarrays
        Each layer's weights ``(n_in, n_out)`` and biases ``(n_out,)``, C-contiguous in the
        engine's dtype. The engine keeps pointers into them: they must never be reallocated
        (nncore.Dense assigns into them in place).
    activations : list of int
        Activation codes (see nncore/_kernels.pxd).
    params : list of ndarrays
        Each layer's activation parameters, float64 of shape (2,), updated in place when
        ``trainable``.
    trainable : list of bool
    loss : int
        Loss code.
    dtype : numpy dtype, float32 or float64.
    validate : module
        nncore._validate, whose functions convert or reject input the fast checks did not take.
    check_state : callable
        ``check_state(with_loss)`` raises the error that says what the user changed (W, b or
        an activation parameter) when the engine's own check of them fails.
    """
    cdef LayerC* layers
    cdef int n_layers
    cdef int loss_code
    cdef int n_in
    cdef int n_out
    cdef int typenum
    cdef bint is_float32       # the dtype: float32, else float64
    cdef double target_lo
    cdef double target_hi
    cdef int capacity
    cdef readonly bint busy     # a call is using the workspace (possibly in another thread)
    cdef object dtype
    cdef object validate
    cdef object check_state     # the Network's full check, run when the fast one fails
    cdef double param_tiny      # the dtype's smallest normal number and largest finite one
    cdef double param_max
    cdef list _params_keep      # W, b and params arrays the pointers point into
    cdef list _work             # workspace arrays: a, z, delta per layer
    cdef list _grads            # dW, db per layer (allocated on the first gradients call)
    cdef object _lse            # (capacity,) logsumexp of softmax rows
    cdef object _x_batch        # (capacity, n_in) gather buffers of the epoch loop
    cdef object _y_batch        # (capacity, n_out)
    cdef object _l_batch        # (capacity,) int64 class labels of a batch (gathered, or
                                # int32 labels widened)
    cdef object _w_batch        # (capacity,) float64 sample weights of a gathered batch
    cdef object _one_label      # (1,) int64: one example's label given as a Python int
    cdef bint labels_direct     # the output is a softmax with the cross-entropy: class labels
                                # go to the core as they are, not as one-hot rows
    cdef object _index          # (N,) int64 shuffled example order of the epoch loop
    cdef object _one_hot        # (rows, n_out) targets made from integer labels, reused
    cdef OptC opt               # the optimizer's kind, hyper-parameters and step pointer
    cdef int step_mode          # MODE_SGD (plain gradient descent) or MODE_OPTIM
    cdef list _opt_keep         # the optimizer's state arrays the pointers point into

    def __cinit__(self, list Ws, list bs, list activations, list params, list trainable,
                  int loss, dtype, validate, check_state):
        cdef int l, n = len(Ws)
        if n == 0 or not (len(bs) == len(activations) == len(params) == len(trainable) == n):
            raise ValueError("Engine needs one W, b, activation, params, trainable per layer")
        self.dtype = np.dtype(dtype)
        if self.dtype == np.float32:
            self.is_float32, self.typenum = True, cnp.NPY_FLOAT32
        elif self.dtype == np.float64:
            self.is_float32, self.typenum = False, cnp.NPY_FLOAT64
        else:
            raise TypeError(f"Engine dtype must be float32 or float64, got {self.dtype}")
        for l in range(n):
            W, b, p = Ws[l], bs[l], params[l]
            if (not _is_exact(W, self.typenum, W.shape[1] if getattr(W, "ndim", 0) == 2 else -1)
                    or not isinstance(b, np.ndarray) or b.dtype != self.dtype
                    or b.shape != (W.shape[1],) or not b.flags.c_contiguous
                    or not isinstance(p, np.ndarray) or p.dtype != np.float64
                    or p.shape != (2,) or not p.flags.c_contiguous):
                raise ValueError(f"Engine: layer {l}'s W, b or params are not contiguous "
                                 f"arrays of the right dtype and shape")
            if l and W.shape[0] != Ws[l - 1].shape[1]:
                raise ValueError(f"Engine: layer {l} takes {W.shape[0]} inputs but layer "
                                 f"{l - 1} gives {Ws[l - 1].shape[1]}")
        for l in range(n):
            if not 0 <= activations[l] <= ACT_SOFTMAX:
                raise ValueError(f"Engine: unknown activation code {activations[l]} (layer {l})")
        if not 0 <= loss <= LOSS_BINARY_CROSS_ENTROPY:
            raise ValueError(f"Engine: unknown loss code {loss}")
        self.layers = <LayerC*>PyMem_Calloc(n, sizeof(LayerC))
        if self.layers == NULL:
            raise MemoryError()
        self.n_layers = n
        self.loss_code = loss
        self.validate = validate
        self.check_state = check_state
        self.param_tiny = float(np.finfo(self.dtype).smallest_normal)
        self.param_max = float(np.finfo(self.dtype).max)
        self._params_keep = []
        for l in range(n):
            W, b, p = Ws[l], bs[l], params[l]
            self._params_keep += [W, b, p]
            self.layers[l].n_in = W.shape[0]
            self.layers[l].n_out = W.shape[1]
            self.layers[l].act = activations[l]
            self.layers[l].trainable = bool(trainable[l])
            self.layers[l].W = cnp.PyArray_DATA(<cnp.ndarray>W)
            self.layers[l].b = cnp.PyArray_DATA(<cnp.ndarray>b)
            self.layers[l].params = <double*>cnp.PyArray_DATA(<cnp.ndarray>p)
        self.n_in = self.layers[0].n_in
        self.n_out = self.layers[n - 1].n_out
        # targets of the cross-entropies are probabilities, in [0, 1]
        if loss == LOSS_CROSS_ENTROPY or loss == LOSS_BINARY_CROSS_ENTROPY:
            self.target_lo, self.target_hi = 0.0, 1.0
        else:
            self.target_lo, self.target_hi = -INFINITY, INFINITY
        self.labels_direct = (loss == LOSS_CROSS_ENTROPY
                              and self.layers[n - 1].act == ACT_SOFTMAX)
        self._one_label = np.zeros(1, dtype=np.int64)
        self.capacity = 0
        self._work = []
        self._grads = []
        self.step_mode = MODE_SGD
        self._opt_keep = []

    def __dealloc__(self):
        PyMem_Free(self.layers)

    # -- workspace --------------------------------------------------------------------------

    cdef void _acquire(self) except *:
        """Claim the workspace for one call. Calls release the GIL, so a second thread could
        otherwise reallocate or overwrite the workspace under a running pass; it gets an error
        instead. (Checked and set under the GIL, so the flag itself cannot race.)"""
        if self.busy:
            raise RuntimeError("this network is already computing in another thread; "
                               "use one network per thread")
        self.busy = True

    cdef void _reserve(self, int m) except *:
        """Make the workspace hold at least m rows (reallocating only when it must grow).

        Everything is allocated before any pointer changes, so a MemoryError leaves the old
        workspace in place and consistent."""
        cdef int l
        if m <= self.capacity:
            return
        work = [np.empty((m, self.layers[l].n_out), dtype=self.dtype)
                for l in range(self.n_layers) for _ in range(3)]     # a, z, delta per layer
        lse = np.empty(m, dtype=self.dtype)
        x_batch = np.empty((m, self.n_in), dtype=self.dtype)
        y_batch = np.empty((m, self.n_out), dtype=self.dtype)
        l_batch = np.empty(m, dtype=np.int64)
        w_batch = np.empty(m, dtype=np.float64)
        for l in range(self.n_layers):
            self.layers[l].a = cnp.PyArray_DATA(<cnp.ndarray>work[3 * l])
            self.layers[l].z = cnp.PyArray_DATA(<cnp.ndarray>work[3 * l + 1])
            self.layers[l].delta = cnp.PyArray_DATA(<cnp.ndarray>work[3 * l + 2])
        self._work, self._lse, self._x_batch, self._y_batch = work, lse, x_batch, y_batch
        self._l_batch, self._w_batch = l_batch, w_batch
        self.capacity = m

    cdef void _reserve_gradients(self) except *:
        """Allocate the dW, db store (once)."""
        cdef int l
        if self._grads:
            return
        grads = []
        for l in range(self.n_layers):
            grads.append(np.zeros((self.layers[l].n_in, self.layers[l].n_out), dtype=self.dtype))
            grads.append(np.zeros(self.layers[l].n_out, dtype=self.dtype))
        for l in range(self.n_layers):
            self.layers[l].dW = cnp.PyArray_DATA(<cnp.ndarray>grads[2 * l])
            self.layers[l].db = cnp.PyArray_DATA(<cnp.ndarray>grads[2 * l + 1])
        self._grads = grads

    # -- the optimizer ---------------------------------------------------------------------------

    def set_optimizer(self, int kind, hyper, step, list states):
        """Update with this optimizer from now on (nncore.optimizers calls it when binding).

        Parameters
        ----------
        kind : int
            nncore._optim.KIND_* code; ``kind=-1`` means plain gradient descent, no state.
        hyper : tuple of float
            (momentum, nesterov, beta1, beta2, alpha, eps, weight_decay, amsgrad).
        step : ndarray, int64 (1,)
            The step count t, incremented in place by every step.
        states : list
            Per layer, a tuple (W states, b states, (c, beta) states), each a tuple of up to 3
            arrays shaped like that parameter (W's and b's in the engine's dtype, (c, beta)'s
            float64 (2,)), C-contiguous; the engine updates them in place.
        """
        cdef int l, k
        cdef OptC o
        if self.busy:
            raise RuntimeError("this network is computing in another thread")
        if not -1 <= kind <= OPT_RMSPROP:
            raise ValueError(f"Engine: unknown optimizer code {kind}")
        if not (isinstance(step, np.ndarray) and step.dtype == np.int64 and step.shape == (1,)
                and step.flags.c_contiguous and step.flags.writeable):
            raise ValueError("Engine: the step count must be a writeable int64 array (1,)")
        if kind == -1:
            self.opt.step = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>step)
            self.step_mode = MODE_SGD
            self._opt_keep = [step]
            return
        if len(states) != self.n_layers:
            raise ValueError("Engine: optimizer states for every layer are needed")
        momentum, amsgrad = hyper[0], hyper[7]
        need = ((1 if momentum > 0 else 0) if kind == OPT_SGD
                else (1 + (momentum > 0)) if kind == OPT_RMSPROP else 2 + bool(amsgrad))
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
        (o.momentum, o.nesterov, o.beta1, o.beta2, o.alpha, o.eps, o.weight_decay,
         o.amsgrad) = hyper
        o.kind = kind
        o.step = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>step)
        o.bc1 = o.bc2_sqrt = 1.0
        self._reserve_gradients()
        # all checked and allocated: repoint
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
        self.step_mode = MODE_OPTIM

    # -- checks at the boundary ---------------------------------------------------------------

    cdef bint _state_ok(self, bint with_loss):
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
            elif ly.act == ACT_LEAKY_RELU and not fabs(c) <= self.param_max:
                return False
        if with_loss and self.loss_code != LOSS_MSE:
            ly = &self.layers[self.n_layers - 1]
            if ly.act == ACT_SOFTMAX:
                return self.loss_code == LOSS_CROSS_ENTROPY
            return (ly.act == ACT_SIGMOID and not ly.trainable and ly.params[0] > 0
                    and ly.params[0] <= 1)
        return True

    def parameters_usable(self):
        """Every W and b finite, the activation parameters within the dtype's range (what
        Network.fit checks after each epoch), and the arrays still the ones the engine points
        into."""
        cdef int l
        cdef LayerC* ly
        cdef bint ok
        if not self._state_ok(False):
            return False
        for l in range(self.n_layers):
            ly = &self.layers[l]
            with nogil:
                if self.is_float32:
                    ok = (all_finite_in(<float*>ly.W, <Py_ssize_t>ly.n_in * ly.n_out,
                                        -INFINITY, INFINITY)
                          and all_finite_in(<float*>ly.b, ly.n_out, -INFINITY, INFINITY))
                else:
                    ok = (all_finite_in(<double*>ly.W, <Py_ssize_t>ly.n_in * ly.n_out,
                                        -INFINITY, INFINITY)
                          and all_finite_in(<double*>ly.b, ly.n_out, -INFINITY, INFINITY))
            if not ok:
                return False
        return True

    cdef void _check(self, bint with_loss) except *:
        """Raise, with the Network's message, when _state_ok fails."""
        if self._state_ok(with_loss):
            return
        self.check_state(with_loss)
        raise RuntimeError("a layer's W or b was reallocated under the network (e.g. by "
                           "ndarray.resize); build a new Network")

    cdef bint _finite(self, cnp.ndarray arr, double lo, double hi):
        cdef Py_ssize_t size = cnp.PyArray_SIZE(arr)
        cdef void* data = cnp.PyArray_DATA(arr)
        cdef bint ok
        with nogil:
            if self.is_float32:
                ok = all_finite_in(<float*>data, size, lo, hi)
            else:
                ok = all_finite_in(<double*>data, size, lo, hi)
        return ok

    cdef object _class_labels(self, object labels, Py_ssize_t m):
        """m class labels (an ndarray that _is_labels accepts, or one Python int when m == 1)
        as the core takes them: the labels themselves (an int in the reused self._one_label)
        when the output is a softmax with the cross-entropy, else their one-hot rows in the
        reused buffer self._one_hot. None when a label is not in [0, n_out) (the validator then
        says so)."""
        cdef const void* p
        cdef bint wide, ok
        cdef void* out
        if type(labels) is int:
            # the caller checked that it fits (-2**62 < labels < 2**62)
            self._one_label[0] = labels
            labels = self._one_label
        p = cnp.PyArray_DATA(<cnp.ndarray>labels)
        wide = cnp.PyArray_ITEMSIZE(<cnp.ndarray>labels) == 8
        if self.labels_direct:
            with nogil:
                ok = _all_in_range(p, wide, m, self.n_out)
            return labels if ok else None
        if self._one_hot is None or cnp.PyArray_DIM(<cnp.ndarray>self._one_hot, 0) < m:
            self._one_hot = np.empty((max(m, self.capacity), self.n_out), dtype=self.dtype)
        out = cnp.PyArray_DATA(<cnp.ndarray>self._one_hot)
        with nogil:
            if self.is_float32:
                ok = _fill_one_hot(p, wide, m, self.n_out, <float*>out)
            else:
                ok = _fill_one_hot(p, wide, m, self.n_out, <double*>out)
        return self._one_hot if ok else None

    cdef tuple _batch(self, object X, object Y):
        """(X, Y, labels, m, one) ready for nogil code, or the validator's error; checks the
        network's own state first. X holds at least m rows of n_in values (it may be the one
        example (n_in,)); the targets are either Y, at least m rows of n_out values (the
        caller's, or the reused one-hot buffer), or labels, m int32/int64 class labels in
        range (for a softmax output with the cross-entropy), the other one None; `one` says X
        was one example.

        Taken as they are (the fast path): X a C-contiguous (m, n_in) array of the network's
        dtype, or one example (n_in,); Y rows (m, n_out) of that dtype, or (n_out,) for one
        example, or integer class labels: an int32/int64 array (m,) or, for one example, an
        int (n_out > 1). Anything else goes through nncore._validate."""
        cdef Py_ssize_t m
        cdef bint one
        self._check(True)
        if _is_exact(X, self.typenum, self.n_in):
            one, m = False, cnp.PyArray_DIM(<cnp.ndarray>X, 0)
        elif _is_example(X, self.typenum, self.n_in):
            one, m = True, 1
        else:
            m = 0
        if m and self._finite(<cnp.ndarray>X, -INFINITY, INFINITY):
            if self.n_out > 1 and (_is_labels(Y, m) or (one and type(Y) is int
                                                        and -2**62 < Y < 2**62)):
                T = self._class_labels(Y, m)
                if T is not None:
                    return ((X, None, T, m, one) if self.labels_direct
                            else (X, T, None, m, one))
            elif ((_is_exact(Y, self.typenum, self.n_out)
                   and cnp.PyArray_DIM(<cnp.ndarray>Y, 0) == m and not one)
                  or (one and _is_example(Y, self.typenum, self.n_out))):
                if self._finite(<cnp.ndarray>Y, self.target_lo, self.target_hi):
                    return X, Y, None, m, one
        X, one = self.validate.inputs(X, self.n_in, self.dtype)
        Y = self.validate.targets(Y, X.shape[0], self.n_out, self.dtype, self.loss_code, one)
        return X, Y, None, X.shape[0], one

    cdef object _weights(self, object sw, Py_ssize_t m):
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

    cdef bint _writable_output(self, object out, object X, Py_ssize_t n):
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

    cdef tuple _inputs(self, object X):
        """(X, n, one): X ready for nogil code (as _batch takes it), its n rows, and whether it
        was one example (n_in,)."""
        if _is_exact(X, self.typenum, self.n_in):
            if self._finite(<cnp.ndarray>X, -INFINITY, INFINITY):
                return X, cnp.PyArray_DIM(<cnp.ndarray>X, 0), False
        elif _is_example(X, self.typenum, self.n_in):
            if self._finite(<cnp.ndarray>X, -INFINITY, INFINITY):
                return X, 1, True
        X, one = self.validate.inputs(X, self.n_in, self.dtype)
        return X, X.shape[0], one

    # -- the calls ----------------------------------------------------------------------------

    cdef double _run(self, object X, object Y, object labels, object sw, Py_ssize_t start,
                     Py_ssize_t m, double lr, int mode) except? -1:
        """One pass over rows start:start + m of X and of the targets (Y or labels, as _batch
        returns them), weighed by sw (a float64 (N,) array, as _weights returns it) unless
        None; the caller holds the workspace (_acquire)."""
        cdef Py_ssize_t r, size = 4 if self.is_float32 else 8
        cdef char* x = <char*>cnp.PyArray_DATA(<cnp.ndarray>X) + start * self.n_in * size
        cdef char* y = NULL
        cdef const int64_t* lp = NULL
        cdef const int32_t* narrow
        cdef int64_t* wide
        cdef const double* wp = NULL
        cdef void* lse
        cdef double value
        self._reserve(<int>m)
        if mode == MODE_GRADIENTS or mode == MODE_OPTIM:
            self._reserve_gradients()
        if labels is None:
            y = <char*>cnp.PyArray_DATA(<cnp.ndarray>Y) + start * self.n_out * size
        elif cnp.PyArray_ITEMSIZE(<cnp.ndarray>labels) == 8:
            lp = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>labels) + start
        else:
            # int32 labels, widened into the reused batch buffer
            narrow = <const int32_t*>cnp.PyArray_DATA(<cnp.ndarray>labels) + start
            wide = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>self._l_batch)
            for r in range(m):
                wide[r] = narrow[r]
            lp = wide
        if sw is not None:
            wp = <const double*>cnp.PyArray_DATA(<cnp.ndarray>sw) + start
        lse = cnp.PyArray_DATA(<cnp.ndarray>self._lse)
        with nogil:
            if self.is_float32:
                value = _pass(self.layers, self.n_layers, self.loss_code, <float*>x,
                              <float*>y, lp, wp, <int>m, <float>lr, mode, <float*>lse,
                              &self.opt)
            else:
                value = _pass(self.layers, self.n_layers, self.loss_code, <double*>x,
                              <double*>y, lp, wp, <int>m, lr, mode, <double*>lse, &self.opt)
        return value

    def train_step(self, X, Y, lr, sample_weight=None):
        """One step of the optimizer (plain gradient descent unless set_optimizer chose another
        rule) on the batch (X, Y), each row's loss weighed by sample_weight (m,) when given;
        returns the loss before it."""
        cdef double rate
        if (type(lr) is float and isfinite(<double>lr) and <double>lr > 0
                and (not self.is_float32 or (<double>lr <= FLT_MAX and <float><double>lr > 0))):
            rate = lr
        else:
            rate = self.validate.learning_rate(lr, self.dtype)
        X, Y, labels, m, _ = self._batch(X, Y)
        sw = self._weights(sample_weight, m)
        self._acquire()
        try:
            return self._run(X, Y, labels, sw, 0, m, rate, self.step_mode)
        finally:
            self.busy = False

    def loss(self, X, Y, sample_weight=None):
        """The loss of the network's output for X against Y: the mean over the examples, or
        the weighted mean sum(w_i L_i) / sum(w) with sample_weight (N,).

        Runs in chunks of rows as predict does: a large X needs no workspace of its size."""
        cdef Py_ssize_t n, start, stop, chunk
        cdef double total = 0, weight, weights = 0
        X, Y, labels, n, _ = self._batch(X, Y)
        sw = self._weights(sample_weight, n)
        chunk = min(n, max(self.capacity, PREDICT_CHUNK))
        self._acquire()
        try:
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                weight = (stop - start) if sw is None else _sum(sw, start, stop)
                total += weight * self._run(X, Y, labels, sw, start, stop - start, 0.0,
                                            MODE_LOSS)
                weights += weight
        finally:
            self.busy = False
        return total / weights

    def loss_and_gradients(self, X, Y, sample_weight=None):
        """(loss, gradients) from one pass over the batch (X, Y), weighed by sample_weight:
        the loss as ``loss`` gives it, and per layer {"W": dL/dW, "b": dL/db} (plus "c",
        "beta" for a trainable sigmoid)."""
        cdef int l
        X, Y, labels, m, _ = self._batch(X, Y)
        sw = self._weights(sample_weight, m)
        out = []
        self._acquire()
        try:
            value = self._run(X, Y, labels, sw, 0, m, 0.0, MODE_GRADIENTS)
            for l in range(self.n_layers):
                g = {"W": self._grads[2 * l].copy(), "b": self._grads[2 * l + 1].copy()}
                if self.layers[l].trainable:
                    g["c"] = self.layers[l].dparams[0]
                    g["beta"] = self.layers[l].dparams[1]
                out.append(g)
        finally:
            self.busy = False
        return value, out

    def gradients(self, X, Y, sample_weight=None):
        """Per layer {"W": dL/dW, "b": dL/db} (plus "c", "beta" for a trainable sigmoid)."""
        return self.loss_and_gradients(X, Y, sample_weight)[1]

    def trace(self, X, Y):
        """Per layer {"a": a, "z": z, "delta": dL/da} of one forward and backward pass."""
        cdef int l, m
        X, Y, labels, m, one = self._batch(X, Y)
        out = []
        self._acquire()
        try:
            self._run(X, Y, labels, None, 0, m, 0.0, MODE_GRADIENTS)
            for l in range(self.n_layers):
                entry = {"a": self._work[3 * l][:m].copy(),
                         "z": self._work[3 * l + 1][:m].copy(),
                         "delta": self._work[3 * l + 2][:m].copy()}
                if one:
                    entry = {k: v[0] for k, v in entry.items()}
                out.append(entry)
        finally:
            self.busy = False
        return out

    def predict(self, X, out=None):
        """The network's output for X: (N, n_out), or (n_out,) for a single example (n_in,).

        Written into ``out`` when given (same shape, the network's dtype, C-contiguous).
        """
        cdef int chunk, m
        cdef Py_ssize_t n, start, row_bytes
        cdef void* x
        cdef void* o
        cdef void* zl
        cdef void* lse
        cdef cnp.npy_intp dims[2]
        self._check(False)
        X, n, one = self._inputs(X)
        if out is None:
            dims[0], dims[1] = n, self.n_out
            out = (cnp.PyArray_EMPTY(1, &dims[1], self.typenum, 0) if one
                   else cnp.PyArray_EMPTY(2, dims, self.typenum, 0))
            result = out
        else:
            result = out
            if one or not self._writable_output(out, X, n):
                out = self.validate.output(out, X, n, self.n_out, self.dtype, one)
        chunk = <int>min(n, max(self.capacity, PREDICT_CHUNK))
        row_bytes = self.n_out * (4 if self.is_float32 else 8)
        x = cnp.PyArray_DATA(<cnp.ndarray>X)
        o = cnp.PyArray_DATA(<cnp.ndarray>out)
        self._acquire()
        try:
            self._reserve(chunk)
            zl = self.layers[self.n_layers - 1].z
            lse = cnp.PyArray_DATA(<cnp.ndarray>self._lse)
            with nogil:
                start = 0
                while start < n:
                    # out[start:start + m] = forward(X[start:start + m])
                    m = <int>(chunk if n - start > chunk else n - start)
                    if self.is_float32:
                        _forward(self.layers, self.n_layers, <float*>x + start * self.n_in, m,
                                 <float*>lse)
                    else:
                        _forward(self.layers, self.n_layers, <double*>x + start * self.n_in,
                                 m, <double*>lse)
                    memcpy(<char*>o + start * row_bytes, zl, <Py_ssize_t>m * row_bytes)
                    start += m
        finally:
            self.busy = False
        return result

    def run_epoch(self, X, Y, double lr, int batch_size, bint shuffle, uint64_t seed,
                  sample_weight=None, weight_norms=None, order=None):
        """One epoch of mini-batch steps of the optimizer over (X, Y), already validated by
        Network.fit: X (N, n_in) and Y (N, n_out) of the network's dtype, or int64 class
        labels Y (N,) (checked to lie in [0, n_out) here); sample_weight None or a float64
        array (N,) of finite values >= 0 with a sum > 0. A batch's loss is the weighted mean
        of its rows' losses (see Network.fit). weight_norms: None, or a writeable float64
        array (1,) that gets the sum over the steps of sum_l ||W_l||^2 before each step.
        order: None, or int64 row indices (k,) in [0, N): the epoch visits those rows in that
        order (shuffle and seed are then unused), gathering them in the core.

        Returns the mean loss over the epoch's steps (each taken before its update), weighted
        by batch size.
        """
        cdef Py_ssize_t n
        cdef int batch
        cdef double value
        cdef bint labels
        # (lr may be 0: a schedule's rate can reach it)
        n = X.shape[0] if _is_exact(X, self.typenum, self.n_in) else 0
        labels = n > 0 and self.n_out > 1 and _is_labels(Y, n) and Y.dtype.itemsize == 8
        if (not n or not (labels or (_is_exact(Y, self.typenum, self.n_out)
                                     and Y.shape[0] == n))
                or batch_size < 1 or not (lr >= 0 and isfinite(lr))):
            raise ValueError("run_epoch takes arrays validated by Network.fit")
        if labels and not _all_in_range(cnp.PyArray_DATA(<cnp.ndarray>Y), True, n,
                                           self.n_out):
            raise ValueError(f"class labels must lie in [0, {self.n_out})")
        sw = self._weights(sample_weight, n)
        cdef Py_ssize_t rows = n
        cdef int64_t* given = NULL
        if order is not None:
            if not (cnp.PyArray_CheckExact(order) and order.dtype == np.int64
                    and order.ndim == 1 and order.flags.c_contiguous and order.shape[0] > 0
                    and _all_in_range(cnp.PyArray_DATA(<cnp.ndarray>order), True,
                                      order.shape[0], n)):
                raise ValueError(f"run_epoch: order must be a non-empty contiguous int64 array "
                                 f"of row indices in [0, {n})")
            given = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>order)
            rows = order.shape[0]
        cdef double* norms = NULL
        if weight_norms is not None:
            if not (cnp.PyArray_CheckExact(weight_norms) and weight_norms.dtype == np.float64
                    and weight_norms.shape == (1,) and weight_norms.flags.c_contiguous
                    and weight_norms.flags.writeable):
                raise ValueError("run_epoch: weight_norms must be a writeable float64 array (1,)")
            norms = <double*>cnp.PyArray_DATA(<cnp.ndarray>weight_norms)
            norms[0] = 0
        self._check(True)
        batch = <int>min(batch_size, rows)
        cdef void* x = cnp.PyArray_DATA(<cnp.ndarray>X)
        cdef void* y = NULL if labels else cnp.PyArray_DATA(<cnp.ndarray>Y)
        cdef const int64_t* lp = <const int64_t*>cnp.PyArray_DATA(<cnp.ndarray>Y) if labels else NULL
        cdef const double* wp = NULL if sw is None else <const double*>cnp.PyArray_DATA(<cnp.ndarray>sw)
        cdef int64_t* pidx
        cdef void* xb
        cdef void* yb
        cdef int64_t* lb
        cdef double* wb
        cdef void* lse
        self._acquire()
        try:
            self._reserve(batch)
            if self.step_mode == MODE_OPTIM:
                self._reserve_gradients()
            if given != NULL:
                pidx, shuffle = given, False
            elif shuffle:
                if self._index is None or self._index.shape[0] != n:
                    self._index = np.empty(n, dtype=np.int64)
                pidx = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>self._index)
            else:
                pidx = NULL
            xb = cnp.PyArray_DATA(<cnp.ndarray>self._x_batch)
            yb = cnp.PyArray_DATA(<cnp.ndarray>self._y_batch)
            lb = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>self._l_batch)
            wb = <double*>cnp.PyArray_DATA(<cnp.ndarray>self._w_batch)
            lse = cnp.PyArray_DATA(<cnp.ndarray>self._lse)
            with nogil:
                if self.is_float32:
                    value = _epoch(self.layers, self.n_layers, self.loss_code, <float*>x,
                                   <float*>y, lp, wp, rows, batch, <float>lr, pidx, shuffle,
                                   seed,
                                   <float*>xb, <float*>yb, lb, wb, <float*>lse,
                                   self.step_mode, &self.opt, norms)
                else:
                    value = _epoch(self.layers, self.n_layers, self.loss_code, <double*>x,
                                   <double*>y, lp, wp, rows, batch, lr, pidx, shuffle, seed,
                                   <double*>xb, <double*>yb, lb, wb, <double*>lse,
                                   self.step_mode, &self.opt, norms)
        finally:
            self.busy = False
        return value


cdef double _sum(object sw, Py_ssize_t start, Py_ssize_t stop):
    # sw[start:stop].sum() of a float64 array that _weights accepted, in order
    cdef const double* w = <const double*>cnp.PyArray_DATA(<cnp.ndarray>sw)
    cdef double total = 0
    cdef Py_ssize_t i
    for i in range(start, stop):
        total += w[i]
    return total
