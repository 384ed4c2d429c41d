# The nogil passes of the engine (included by _engine.pyx): forward, the loss and its
# gradient, backward with the gradients or the update, and the epoch loop. They trust their
# input: the Engine checked every array, index and label before it calls them.

cdef enum:
    MODE_LOSS = 0        # forward and loss only
    MODE_GRADIENTS = 1   # dW, db (and dc, dbeta) into the workspace; parameters unchanged
    MODE_SGD = 2         # gradient descent, the update folded into the weight-gradient gemm
    MODE_OPTIM = 3       # dW, db into the workspace, then the optimizer's update from them


cdef inline uint64_t _mix64(uint64_t z) noexcept nogil:
    # splitmix64's output function: a bijection of 64-bit words that scatters every input bit
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef inline uint64_t _dropout_key(uint64_t seed, uint64_t step, int l) noexcept nogil:
    # the key of layer l's mask at a step: mix64(mix64(seed + G (step + 1)) + G (l + 1))
    cdef uint64_t g = <uint64_t>0x9E3779B97F4A7C15
    return _mix64(_mix64(seed + g * (step + 1)) + g * <uint64_t>(l + 1))


cdef void _dropout(const LayerC* ly, const floating* z, floating* mask, floating* zd,
                   uint64_t key, int m) noexcept nogil:
    # Inverted dropout of the layer's output, counter-based: unit j of row r is kept when
    # h = mix64(key + G (r n_out + j + 1)) >= drop_p 2**64, so any row of any step can be
    # drawn alone (NumPy computes the same masks in uint64, vectorised).
    # mask = where(kept, 1 / (1 - p), 0);  zd = z * mask   (z itself stays for phi')
    cdef Py_ssize_t i, size = <Py_ssize_t>m * ly.n_out
    cdef uint64_t g = <uint64_t>0x9E3779B97F4A7C15
    cdef uint64_t keep = ly.drop_keep
    cdef floating s = <floating>ly.drop_scale
    cdef uint64_t x = key
    for i in range(size):
        x += g                  # key + G (i + 1), a running sum instead of a multiply
        # s * (kept): no branch, which p = 0.5 would mispredict half the time
        mask[i] = s * <floating>(_mix64(x) >= keep)
        zd[i] = z[i] * mask[i]


cdef inline void _times_mask(floating* g, const floating* mask, Py_ssize_t size) noexcept nogil:
    # g *= mask
    cdef Py_ssize_t i
    for i in range(size):
        g[i] = g[i] * mask[i]


cdef void _forward(const NetC* net, WorkC* w, const floating* X, int m, bint train,
                   uint64_t step) noexcept nogil:
    # a_l = z_{l-1} @ W_l + b_l;  z_l = phi_l(a_l)   (z_0 = X), into the workspace; in
    # training (train), a layer with dropout passes zd_l = z_l * mask_l on instead of z_l,
    # its mask drawn for this step count
    cdef int l
    cdef LayerC* ly
    cdef LayerWork* lw
    cdef const floating* z_prev = X
    for l in range(net.n_layers):
        ly, lw = &net.layers[l], &w.lw[l]
        if l == 0 and w.sx != NULL:
            # a = X_batch @ W + b from the batch's CSR rows (X is then unused)
            csr_dense_forward(<floating*>w.sx.data, w.sx.indices, w.sx.indptr,
                              <floating*>ly.W, <floating*>ly.b, <floating*>lw.a, m, ly.n_out)
        else:
            dense_forward(z_prev, <floating*>ly.W, <floating*>ly.b, <floating*>lw.a,
                          m, ly.n_in, ly.n_out)
        activation_forward(ly.act, ly.params[0], ly.params[1], <floating*>lw.a,
                           <floating*>lw.z, <floating*>w.lse if ly.act == ACT_SOFTMAX else NULL,
                           m, ly.n_out)
        z_prev = <floating*>lw.z
        if train and ly.drop_p > 0:
            _dropout(ly, <floating*>lw.z, <floating*>lw.mask, <floating*>lw.zd,
                     _dropout_key(net.drop_seed, step, l), m)
            z_prev = <floating*>lw.zd


cdef void _local_gradient(const LayerC* ly, LayerWork* lw, floating* delta,
                          int m) noexcept nogil:
    # delta (the layer's lw.delta) holds g = dL/dz; turn it into dL/da, taking dL/dc and
    # dL/dbeta of a trainable sigmoid on the way
    if ly.trainable:
        sigmoid_param_gradients(ly.params[0], ly.params[1], <floating*>lw.a, delta,
                                <Py_ssize_t>m * ly.n_out, &lw.dparams[0], &lw.dparams[1])
    activation_backward(ly.act, ly.params[0], ly.params[1], <floating*>lw.a,
                        <floating*>lw.z, delta, m, ly.n_out)


cdef inline bint _from_logits(int loss) noexcept nogil:
    # the cross-entropies: L and delta = dL/da from the output layer's logits; the other
    # losses give g = dL/dz, which the output activation's backward turns into dL/da
    return loss == LOSS_CROSS_ENTROPY or loss == LOSS_BINARY_CROSS_ENTROPY


cdef double _head(const NetC* net, WorkC* w, const floating* Y, const int64_t* labels,
                  int r0, int k, bint want_delta) noexcept nogil:
    """The mean loss of rows r0:r0 + k of the output layer against their targets (rows of Y,
    or class labels), and, when want_delta, those rows of its delta: the gradient of that mean,
    dL/da (dL/dz for MSE, which _local_gradient then turns into dL/da)."""
    cdef const LayerC* out = &net.layers[net.n_layers - 1]
    cdef LayerWork* ow = &w.lw[net.n_layers - 1]
    cdef int n = out.n_out
    cdef Py_ssize_t off = <Py_ssize_t>r0 * n
    cdef floating* a = <floating*>ow.a + off
    cdef floating* z = <floating*>ow.z + off
    cdef floating* d = <floating*>ow.delta + off if want_delta else NULL
    cdef const floating* lse = <const floating*>w.lse
    cdef const floating* y = Y + off if Y != NULL else NULL
    cdef double value
    # The cross-entropies come from the logits, with delta = dL/da in closed form (the caller
    # checked that their output is a softmax, or a sigmoid with 0 < c <= 1, not trainable).
    if net.loss == LOSS_CROSS_ENTROPY and out.act == ACT_SOFTMAX:
        if labels != NULL:
            return softmax_cross_entropy_labels(a, lse + r0, z, labels + r0, d, k, n)
        value = softmax_cross_entropy_value(a, lse + r0, y, k, n)
        if want_delta:
            softmax_cross_entropy_delta(z, y, d, k, n)
        return value
    if _from_logits(net.loss):
        return sigmoid_cross_entropy(a, y, d, k, n, out.params[0], out.params[1],
                                     net.loss == LOSS_BINARY_CROSS_ENTROPY)
    value = loss_value(net.loss, net.loss_param, z, y, k, n)
    if want_delta:
        loss_gradient(net.loss, net.loss_param, z, y, d, k, n)
    return value


cdef double _weighted_head(const NetC* net, WorkC* w, const floating* Y,
                           const int64_t* labels, const double* sw, int m,
                           bint want_delta) noexcept nogil:
    """As _head over all m rows, with sample weights sw (>= 0, finite): the weighted mean
    sum(sw[r] * L_r) / sum(sw) of the rows' losses, and delta rows scaled by sw[r] / sum(sw)
    (its gradient). A row of weight 0 adds nothing (not even a NaN of its own); a batch whose
    weights are all 0 has loss 0 and delta 0."""
    cdef int r, j, n = net.layers[net.n_layers - 1].n_out
    cdef double wsum = 0, total = 0
    cdef floating s
    cdef floating* d
    for r in range(m):
        wsum += sw[r]
    for r in range(m):
        d = <floating*>w.lw[net.n_layers - 1].delta + <Py_ssize_t>r * n
        if sw[r] == 0:
            if want_delta:
                memset(d, 0, n * sizeof(floating))
            continue
        total += sw[r] * _head(net, w, Y, labels, r, 1, want_delta)
        if want_delta:
            s = <floating>(sw[r] / wsum)
            for j in range(n):
                d[j] = d[j] * s
    return total / wsum if wsum > 0 else 0.0


cdef inline void _weight_gradient(const LayerC* ly, LayerWork* lw, const CsrC* sx,
                                  const floating* z_prev, int m) noexcept nogil:
    # dW = z_prev.T @ delta into lw.dW; from the CSR rows sx of the first layer's input when
    # sx is not NULL (dW zeroed, then the batch's entries scattered into their rows)
    if sx != NULL:
        memset(lw.dW, 0, <size_t>ly.n_in * ly.n_out * sizeof(floating))
        csr_weight_update(<floating*>sx.data, sx.indices, sx.indptr, <floating*>lw.delta,
                          <floating>1, <floating*>lw.dW, m, ly.n_out)
    else:
        gemm(True, False, ly.n_in, ly.n_out, m, <floating>1, z_prev, ly.n_in,
             <floating*>lw.delta, ly.n_out, <floating>0, <floating*>lw.dW, ly.n_out)


cdef double _pass(const NetC* net, WorkC* w, const RowsC* rows, floating lr) noexcept nogil:
    """Forward, loss, and (unless MODE_LOSS) backward with gradients or the update, over the
    m rows of X in workspace w (rows: X, Y or labels, sw, m and the mode).

    The targets are rows Y (m, n_out), or class labels (m,) in [0, n_out) when the output is a
    softmax with the cross-entropy (other losses get labels as one-hot rows); sw, when not
    NULL, weighs the rows' losses (see _weighted_head)."""
    cdef int l
    cdef double value
    cdef LayerC* ly
    cdef LayerWork* lw
    cdef LayerWork* pw
    cdef LayerC* out = &net.layers[net.n_layers - 1]
    cdef OptC* opt = net.opt
    cdef const floating* z_prev
    cdef const floating* X = <const floating*>rows.X
    cdef const floating* Y = <const floating*>rows.Y
    cdef const int64_t* labels = rows.labels
    cdef const double* sw = rows.sw
    cdef int m = rows.m, mode = rows.mode
    cdef bint train = mode >= MODE_SGD
    # a clipped step stores every gradient first (as MODE_GRADIENTS), then updates them all
    cdef bint clip = mode == MODE_OPTIM and (opt.clip_norm > 0 or opt.clip_value > 0)

    # dropout (in training only) is keyed by the steps taken before this one
    _forward(net, w, X, m, train, <uint64_t>opt.step[0] if train and opt.step != NULL else 0)
    if sw == NULL:
        value = _head(net, w, Y, labels, 0, m, mode != MODE_LOSS)
    else:
        value = _weighted_head(net, w, Y, labels, sw, m, mode != MODE_LOSS)
    if mode == MODE_LOSS:
        return value
    if not _from_logits(net.loss):
        lw = &w.lw[net.n_layers - 1]
        _local_gradient(out, lw, <floating*>lw.delta, m)

    if mode >= MODE_SGD and not isfinite(value):
        return value  # no step from a loss that is not finite: the caller raises
    if mode == MODE_OPTIM:
        opt_begin_step(opt)
    elif mode == MODE_SGD and opt.step != NULL:
        opt.step[0] += 1    # plain SGD keeps no state but counts its steps too

    for l in range(net.n_layers - 1, -1, -1):
        ly, lw = &net.layers[l], &w.lw[l]
        z_prev = X if l == 0 else <floating*>w.lw[l - 1].z
        if l > 0 and train and net.layers[l - 1].drop_p > 0:
            z_prev = <floating*>w.lw[l - 1].zd     # what this layer took: the dropped z
        if l > 0:
            # delta_prev = delta @ W.T  (then times phi'_prev, below); uses W before its update
            pw = &w.lw[l - 1]
            gemm(False, True, m, ly.n_in, ly.n_out, <floating>1, <floating*>lw.delta,
                 ly.n_out, <floating*>ly.W, ly.n_out, <floating>0, <floating*>pw.delta,
                 ly.n_in)
            if train and net.layers[l - 1].drop_p > 0:
                # dL/dz_prev = dL/dzd_prev * mask_prev
                _times_mask(<floating*>pw.delta, <floating*>pw.mask, <Py_ssize_t>m * ly.n_in)
        if mode == MODE_SGD:
            # W -= lr * z_prev.T @ delta;  b -= lr * delta.sum(0)
            if l == 0 and w.sx != NULL:
                # sparse X: only the rows of W whose columns occur in the batch change
                csr_weight_update(<floating*>w.sx.data, w.sx.indices, w.sx.indptr,
                                  <floating*>lw.delta, -lr, <floating*>ly.W, m, ly.n_out)
            else:
                gemm(True, False, ly.n_in, ly.n_out, m, -lr, z_prev, ly.n_in,
                     <floating*>lw.delta, ly.n_out, <floating>1, <floating*>ly.W, ly.n_out)
            column_sums(<floating*>lw.delta, <floating*>ly.b, m, ly.n_out, -lr, <floating>1)
            if ly.trainable:
                ly.params[0] -= lr * lw.dparams[0]
                ly.params[1] -= lr * lw.dparams[1]
        elif mode == MODE_OPTIM and not clip:
            # dW = z_prev.T @ delta;  W -= step(dW) (with weight decay). One gemm for the whole
            # dW: computing it in blocks of rows, each updated while in cache, was no faster
            # with one BLAS thread and several times slower with two on a busy machine (each
            # call wakes the pool)
            # b -= step(db), db = delta.sum(0);  (c, beta) -= step(dc, dbeta)
            _weight_gradient(ly, lw, w.sx if l == 0 else NULL, z_prev, m)
            column_sums(<floating*>lw.delta, <floating*>lw.db, m, ly.n_out, <floating>1,
                        <floating>0)
            _update_layer(opt, ly, lw, lr)
        else:
            # dW = z_prev.T @ delta;  db = delta.sum(0)
            _weight_gradient(ly, lw, w.sx if l == 0 else NULL, z_prev, m)
            column_sums(<floating*>lw.delta, <floating*>lw.db, m, ly.n_out, <floating>1,
                        <floating>0)
        if l > 0:
            _local_gradient(&net.layers[l - 1], pw, <floating*>pw.delta, m)
    if clip:
        _clipped_update(net, w, lr)
    return value


cdef double _squares(const floating* g, Py_ssize_t n) noexcept nogil:
    # sum(g**2) in double, four sums in turn
    cdef Py_ssize_t i = 0
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0
    while i + 4 <= n:
        s0 += <double>g[i] * g[i]
        s1 += <double>g[i + 1] * g[i + 1]
        s2 += <double>g[i + 2] * g[i + 2]
        s3 += <double>g[i + 3] * g[i + 3]
        i += 4
    while i < n:
        s0 += <double>g[i] * g[i]
        i += 1
    return (s0 + s1) + (s2 + s3)


cdef void _clip_array(floating* g, Py_ssize_t n, double scale, double v) noexcept nogil:
    # g = clip(g, -v, v) when v > 0 (NaN stays NaN), else g *= scale
    cdef Py_ssize_t i
    cdef floating hi = <floating>v
    cdef floating s = <floating>scale
    if v > 0:
        for i in range(n):
            if g[i] > hi:
                g[i] = hi
            elif g[i] < -hi:
                g[i] = -hi
    else:
        for i in range(n):
            g[i] = g[i] * s


cdef void _clipped_update(const NetC* net, WorkC* w, floating lr) noexcept nogil:
    """The optimizer's update of every parameter from its stored gradient (dW, db, and a
    trainable sigmoid's dc, dbeta), clipped first as torch.nn.utils does it: by value, each
    gradient value into [-clip_value, clip_value] (clip_grad_value_); by norm, every gradient
    times min(1, clip_norm / (norm + 1e-6)) with norm the L2 norm of all of them together,
    summed in double (clip_grad_norm_). The update then adds weight decay to the clipped
    gradient, as an optimizer's step after torch's clipping does."""
    cdef const OptC* opt = net.opt
    cdef int l
    cdef const LayerC* ly
    cdef LayerWork* lw
    cdef double total = 0, scale = 1
    if opt.clip_value <= 0:
        for l in range(net.n_layers):
            ly, lw = &net.layers[l], &w.lw[l]
            total += _squares(<floating*>lw.dW, <Py_ssize_t>ly.n_in * ly.n_out)
            total += _squares(<floating*>lw.db, ly.n_out)
            if ly.trainable:
                total += _squares(&lw.dparams[0], 2)
        scale = opt.clip_norm / (sqrt(total) + 1e-6)
        # scale >= 1: nothing to clip (a NaN or infinite norm scales by NaN or 0, as torch)
    if opt.clip_value > 0 or not scale >= 1:
        for l in range(net.n_layers):
            ly, lw = &net.layers[l], &w.lw[l]
            _clip_array(<floating*>lw.dW, <Py_ssize_t>ly.n_in * ly.n_out, scale,
                        opt.clip_value)
            _clip_array(<floating*>lw.db, ly.n_out, scale, opt.clip_value)
            if ly.trainable:
                _clip_array(&lw.dparams[0], 2, scale, opt.clip_value)
    for l in range(net.n_layers):
        _update_layer(opt, &net.layers[l], &w.lw[l], lr)


cdef void _update_layer(const OptC* opt, LayerC* ly, LayerWork* lw,
                        floating lr) noexcept nogil:
    # one step of the optimizer's rule on the layer's W, b (and a trainable sigmoid's c,
    # beta) from the gradients stored in lw (dW, db, dparams)
    cdef ParamC p
    p.w, p.state, p.n, p.decay = ly.W, ly.sW, <Py_ssize_t>ly.n_in * ly.n_out, True
    opt_update(opt, p, <floating*>lw.dW, lr)
    p.w, p.state, p.n, p.decay = ly.b, ly.sb, ly.n_out, False
    opt_update(opt, p, <floating*>lw.db, lr)
    if ly.trainable:
        p.w, p.state, p.n = ly.params, <void**>ly.sp, 2
        opt_update(opt, p, &lw.dparams[0], <double>lr)


cdef double _weights_squared(const NetC* net, bint is_float32) noexcept nogil:
    # sum over the layers of ||W||^2 (not b), in double, four sums in turn (a chain of one
    # would wait on each addition)
    cdef int l
    cdef Py_ssize_t i, size
    cdef double s0, s1, s2, s3, x
    cdef const float* w32
    cdef const double* w64
    s0 = s1 = s2 = s3 = 0
    for l in range(net.n_layers):
        size = <Py_ssize_t>net.layers[l].n_in * net.layers[l].n_out
        w32 = <const float*>net.layers[l].W
        w64 = <const double*>net.layers[l].W
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


cdef double _epoch(const NetC* net, WorkC* w, EpochC* e, floating lr) noexcept nogil:
    """One epoch of mini-batch steps (e.mode: MODE_SGD or MODE_OPTIM) over e.n rows of X and
    of the targets (rows Y or class labels), weighed by e.sw when not NULL: rows in order when
    e.idx is NULL, else rows e.idx[0..n-1], a fresh permutation of range(n) drawn from e.seed
    into e.idx first when e.shuffle. Returns the mean of the losses before each step, weighted
    by batch size. When e.norms is not NULL, it gets the sum over the steps of
    sum_l ||W_l||^2 before each step (an L2 penalty's share of the reported loss, as
    scikit-learn's MLP reports it).

    Each batch's row indices and class labels are checked where they are read, and the labels
    are copied into the workspace first: memory the caller can still change (another thread
    relabelling y) can stop the epoch (e.bad), never make it read or write out of bounds. Each
    step holds e.lock for writing, so a reading call in another thread sees the parameters
    between two whole steps; the lock is let go after a step only when a reading call waits
    for it (its atomic operations at every step were a measurable part of a tiny network's
    step), and may still be held on return (e.locked): the caller lets it go."""
    cdef int n_in = net.layers[0].n_in
    cdef int n_out = net.layers[net.n_layers - 1].n_out
    cdef const floating* X = <const floating*>e.X
    cdef const floating* Y = <const floating*>e.Y
    cdef const int64_t* labels = e.labels
    cdef const double* sw = e.sw
    cdef floating* x_batch = <floating*>w.x_batch
    cdef floating* y_batch = <floating*>w.y_batch
    cdef Py_ssize_t start, i, n = e.n
    cdef int64_t v
    cdef bint ok
    cdef int m, m_done, r, j
    cdef double total = 0, value
    cdef const floating* xs
    cdef const floating* ys
    cdef const int64_t* ls
    cdef const double* ws
    cdef RowsC rows
    rows.mode = e.mode
    if e.shuffle:
        _shuffled_index(e.idx, n, e.seed)
    start = 0
    while start < n:
        m = <int>(e.batch if n - start > e.batch else n - start)
        ys, ls = NULL, NULL
        if e.sx != NULL and not _csr_gather(e.sx, e.idx, start, m, n_in, w.sx,
                                            <floating*>w.sx.data):
            # sparse X: the batch's rows copied into w.sx, every index checked
            e.bad = True
            return total / start if start else 0.0
        if e.idx != NULL:
            # the batch's rows idx[start:start + m] of X, of Y or the labels, and of sw
            # (rows of X by _copy_row: a loop for a few values, where a call cost 2 us per
            # step, memcpy's wide stores for more)
            # Each index of a given order and each label is checked as it is read (one
            # unsigned compare also catches a negative one; the labels' checks are summed,
            # not branched on); a shuffled order is the engine's own permutation of range(n).
            ok = True
            if e.shuffle and e.sx == NULL and labels != NULL and sw == NULL:
                # the common case on its own: dense rows and class labels in the engine's order
                for r in range(m):
                    i = e.idx[start + r]
                    _copy_row(x_batch + <Py_ssize_t>r * n_in, X + i * n_in, n_in)
                    v = labels[i]
                    w.l_batch[r] = v
                    ok &= <size_t>v < <size_t>n_out
                m_done = m
            else:
                m_done = 0
            for r in range(m_done, m):
                i = e.idx[start + r]
                if not e.shuffle and <size_t>i >= <size_t>e.n_rows:
                    e.bad = True
                    return total / start if start else 0.0
                if e.sx == NULL:
                    _copy_row(x_batch + <Py_ssize_t>r * n_in, X + i * n_in, n_in)
                if labels != NULL:
                    v = labels[i]
                    w.l_batch[r] = v
                    ok &= <size_t>v < <size_t>n_out
                else:
                    for j in range(n_out):
                        y_batch[<Py_ssize_t>r * n_out + j] = Y[i * n_out + j]
                if sw != NULL:
                    w.w_batch[r] = sw[i]
            if not ok:
                e.bad = True
                return total / start if start else 0.0
            xs, ws = x_batch, (w.w_batch if sw != NULL else NULL)
            if labels == NULL:
                ys = y_batch
        else:
            xs = X + start * n_in if e.sx == NULL else NULL
            ws = sw + start if sw != NULL else NULL
            if labels == NULL:
                ys = Y + start * n_out
            elif not _copy_labels(labels + start, True, m, n_out, w.l_batch):
                e.bad = True
                return total / start if start else 0.0
        if labels != NULL:
            # class labels reach _pass as they are for the softmax cross-entropy, else as
            # one-hot rows
            if net.labels_direct:
                ls = w.l_batch
            else:
                _fill_one_hot(w.l_batch, m, n_out, y_batch)
                ys = y_batch
        if not e.locked:
            pthread_rwlock_wrlock(e.lock)
            e.locked = True
        if e.norms != NULL:
            e.norms[0] += _weights_squared(net, floating is float)
        rows.X, rows.Y, rows.labels, rows.sw, rows.m = xs, ys, ls, ws, m
        value = _pass(net, w, &rows, lr)
        if nncore_atomic_load(e.readers_waiting):
            pthread_rwlock_unlock(e.lock)
            e.locked = False
        total += value * m
        start += m
    return total / n
