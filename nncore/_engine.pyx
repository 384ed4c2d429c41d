# The fused training step and the epoch loop of nncore's core: the Engine of one network.
#
# The engine points at every layer's W, b and activation parameters (the arrays are owned by
# the Python layers and never reallocated) and at the optimizer's state arrays; every call
# takes a workspace (a, z, delta per layer) from a small pool of its own. One nogil call then
# runs forward through every layer, the loss and its gradient, backward, and the update.
#
# The module, by concern (one extension module; the .pxi files are included):
#   _engine_structs.pxi   the C structs: a network's layers, a workspace, an epoch's arguments
#   _engine_rows.pxi      a batch's rows: the shuffled order, labels and sparse rows checked
#   _engine_passes.pxi    the nogil passes: forward (dropout), loss head, backward/update
#                         (gradient clipping), the epoch loop
#   _engine_checks.pxi    which arrays nogil code takes as they are; the Workspace class
#   _engine.pyx           the Engine: its state, the lock and the claim, the optimizer
#   _engine_pool.pxi      the workspace pool
#   _engine_boundary.pxi  checks of the engine's state and of a call's arrays; the bridge _run
#   _engine_calls.pxi     the bodies of predict, run_epoch and set_optimizer; the optimizer's
#                         settings; shuffled_index and dropout_mask for the NumPy backend
#   _engine_sparse.pxi    sparse X (CSR rows) at the boundary: predict, loss, train_step
#
#
#   forward   a_l = z_{l-1} @ W_l + b_l;  z_l = phi_l(a_l)                 (z_0 = X)
#   output    delta_L = dL/da_L  (the cross-entropies from the logits in closed form, e.g.
#                                  (z_L - Y) / m for softmax with target rows summing to 1)
#   backward  delta_{l-1} = (delta_l @ W_l.T) * phi'_{l-1}                 (never for l = 1)
#   update    W_l -= lr * z_{l-1}.T @ delta_l   (one gemm with beta = 1: dW is never stored)
#             b_l -= lr * delta_l.sum(0)
#
# The targets are rows Y (m, n_out), or class labels (m,), copied into the workspace and
# range-checked chunk by chunk (the softmax cross-entropy reads them as they are, other
# losses get one-hot rows made in the workspace). With sample weights w (m,), the loss is the
# weighted mean sum(w_r L_r) / sum(w) and each row of delta_L is scaled by w_r / sum(w).
#
# Threads. Reading calls (predict, loss, gradients, trace) each take their own workspace and
# hold the engine's reader-writer lock for reading while they compute; changing calls
# (train_step, an epoch) are claimed one at a time (`busy`, set under the GIL: a second one
# is refused with RuntimeError before it touches anything) and hold the lock for writing
# around each step. A reading call overlapping training therefore sees the parameters between
# two whole steps. Locks are only ever waited for without the GIL.
#
# The Python-facing methods check their arrays with the NumPy C API first (type, dtype, shape,
# contiguity, finite values): arrays that are already right go straight to nogil code; anything
# else goes through nncore._validate, which converts or raises the error that says what is wrong.

cimport numpy as cnp
import numpy as np
from nncore._backend import busy_error   # the refusal both backends raise
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.float cimport FLT_MAX
from libc.math cimport INFINITY, fabs, isfinite, sqrt
from libc.string cimport memcpy, memset
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.ref cimport PyObject
from cython cimport floating

from nncore._kernels cimport (
    ACT_IDENTITY, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_SOFTMAX, ACT_ELU, ACT_SOFTPLUS, ACT_LAST,
    LOSS_MSE, LOSS_CROSS_ENTROPY, LOSS_BINARY_CROSS_ENTROPY, LOSS_HUBER, LOSS_POISSON, LOSS_LAST,
    gemm, dense_forward, csr_dense_forward, csr_weight_update, activation_forward,
    activation_backward, sigmoid_param_gradients,
    loss_value, loss_gradient, softmax_cross_entropy_value, softmax_cross_entropy_delta,
    softmax_cross_entropy_labels,
    sigmoid_cross_entropy, column_sums, all_finite_in,
)
from nncore._optim cimport OptC, ParamC, OPT_SGD, OPT_RMSPROP, opt_begin_step, opt_update

cnp.import_array()

include "_engine_structs.pxi"
include "_engine_rows.pxi"
include "_engine_passes.pxi"
include "_engine_checks.pxi"

# Reading calls run in chunks of at most this many rows (or the last training batch size, if
# larger), so that a call on a large X needs no workspace of X's size.
cdef int PREDICT_CHUNK = 1024
READ_CHUNK = PREDICT_CHUNK      # the same, for Python (the NumPy backend's chunks)
# Free workspaces an engine keeps for its next calls; more concurrent calls allocate their own
# and drop it afterwards.
cdef int POOL_SIZE = 2
# Work (multiply-adds) below which a call keeps the GIL while it computes: letting the GIL go
# and taking it back costs more than the work (a few rows of a small network), and no other
# thread would get far in the meantime.
cdef Py_ssize_t GIL_HELD_WORK = 8192


cdef class Engine:
    """The compiled backend of one Network (nncore internal).

    Parameters
    ----------
    layers : sequence of nncore.Dense
        The network's layers, as the NumPy backend takes them: from each, its weights ``W``
        ``(n_in, n_out)`` and biases ``b`` ``(n_out,)``, C-contiguous in the engine's dtype
        (the engine keeps pointers into them: they must never be reallocated; nncore.Dense
        assigns into them in place), and its activation's code (see nncore/_kernels.pxd),
        parameters ``_params`` (float64 (2,), updated in place when ``trainable``) and
        ``trainable``.
    loss : int
        Loss code.
    dtype : numpy dtype, float32 or float64.
    validate : module
        nncore._validate, whose functions convert or reject input the fast checks did not take.
    check_state : callable
        ``check_state(with_loss)`` raises the error that says what the user changed (W, b or
        an activation parameter) when the engine's own check of them fails. It must not hold
        a strong reference to the network (the network holds the engine).
    loss_param : float, default 0.0
        The loss's parameter (Huber's delta, > 0); unused by the other losses.
    """
    cdef LayerC* layers
    cdef NetC net
    cdef int n_layers
    cdef int loss_code
    cdef int n_in
    cdef int n_out
    cdef int typenum
    cdef bint is_float32       # the dtype: float32, else float64
    cdef double target_lo
    cdef double target_hi
    cdef unsigned long owner    # the thread of the changing call that holds the engine
    cdef int depth              # its claims (fit's epochs run inside fit's claim)
    cdef pthread_rwlock_t lock  # readers: reading calls; writer: each step, each assignment
    cdef bint lock_ready
    cdef int readers_waiting    # reading calls waiting for the lock (atomic; see _rdlock)
    cdef Py_ssize_t row_work    # multiply-adds of one row's forward pass: sum of n_in * n_out
    cdef int keep_rows          # workspaces up to this many rows go back to the pool
    cdef int last_batch         # the last training batch size
    cdef list _pool             # free Workspaces
    cdef int layout             # counts changes of what a workspace holds (set_dropout):
                                # a workspace made before one never returns to the pool
    cdef object _index          # (N,) int64 shuffled order of the epochs of one changing call
    cdef object dtype
    cdef object validate
    cdef object check_state     # the Network's full check, run when the fast one fails
    cdef double param_tiny      # the dtype's smallest normal number and largest finite one
    cdef double param_max
    cdef list _params_keep      # W, b and params arrays the pointers point into
    cdef OptC opt               # the optimizer's kind, hyper-parameters and step pointer
    cdef int step_mode          # MODE_SGD (plain gradient descent) or MODE_OPTIM
    cdef list _opt_keep         # the optimizer's state arrays the pointers point into
    cdef object __weakref__     # layers and the optimizer refer to their engine weakly

    def __cinit__(self, layers, int loss, dtype, validate, check_state, double loss_param=0.0):
        cdef int l, n = len(layers)
        if n == 0:
            raise ValueError("Engine needs at least one layer")
        Ws, bs = [ly.W for ly in layers], [ly.b for ly in layers]
        activations = [ly.activation.code for ly in layers]
        params = [ly.activation._params for ly in layers]
        trainable = [ly.activation.trainable for ly in layers]
        self.dtype = np.dtype(dtype)
        if self.dtype == np.float32:
            self.is_float32, self.typenum = True, cnp.NPY_FLOAT32
        elif self.dtype == np.float64:
            self.is_float32, self.typenum = False, cnp.NPY_FLOAT64
        else:
            raise TypeError(f"Engine dtype must be float32 or float64, got {self.dtype}")
        _check_engine_args(Ws, bs, activations, params, self.typenum, self.dtype, loss,
                           loss_param)
        # a waiting writer (the next step) goes before new readers: a stream of reading calls
        # from many threads cannot starve training. (No thread ever takes the lock for
        # reading twice, which a waiting writer would then deadlock.)
        cdef pthread_rwlockattr_t attr
        pthread_rwlockattr_init(&attr)
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP)
        cdef int failed = pthread_rwlock_init(&self.lock, &attr)
        pthread_rwlockattr_destroy(&attr)
        if failed:
            raise MemoryError("Engine: no lock")
        self.lock_ready = True
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
            self.row_work += <Py_ssize_t>self.layers[l].n_in * self.layers[l].n_out
        self.n_in = self.layers[0].n_in
        self.n_out = self.layers[n - 1].n_out
        # targets of the cross-entropies are probabilities, in [0, 1]
        if loss == LOSS_CROSS_ENTROPY or loss == LOSS_BINARY_CROSS_ENTROPY:
            self.target_lo, self.target_hi = 0.0, 1.0
        elif loss == LOSS_POISSON:
            self.target_lo, self.target_hi = 0.0, INFINITY    # counts, rates: y >= 0
        else:
            self.target_lo, self.target_hi = -INFINITY, INFINITY
        self.net.layers = self.layers
        self.net.n_layers = n
        self.net.loss = loss
        self.net.loss_param = loss_param
        self.net.labels_direct = (loss == LOSS_CROSS_ENTROPY
                                  and self.layers[n - 1].act == ACT_SOFTMAX)
        self.net.opt = &self.opt
        self.keep_rows = PREDICT_CHUNK
        self._pool = []
        self.step_mode = MODE_SGD
        self._opt_keep = []

    def __dealloc__(self):
        if self.lock_ready:
            pthread_rwlock_destroy(&self.lock)
        PyMem_Free(self.layers)

    # -- workspaces and locks -------------------------------------------------------------------

    def pool_rows(self):
        """The capacities (rows) of the free workspaces kept for the next calls."""
        return [(<Workspace>ws).w.capacity for ws in self._pool]

    def read_lock(self):
        """Wait (without the GIL) until no step or assignment runs, then hold the lock for
        reading until read_unlock: the parameters stay as they are meanwhile."""
        with nogil:
            _rdlock_wait(self)

    def read_unlock(self):
        pthread_rwlock_unlock(&self.lock)

    def write_lock(self):
        """Wait (without the GIL) until no reading call runs, then hold the lock for writing
        until write_unlock (an assignment to the parameters)."""
        with nogil:
            pthread_rwlock_wrlock(&self.lock)

    def write_unlock(self):
        pthread_rwlock_unlock(&self.lock)

    # -- the optimizer ---------------------------------------------------------------------------

    def set_optimizer(self, int kind, hyper, step, list states):
        """Update with this optimizer from now on (nncore.optimizers calls it when binding).

        Parameters
        ----------
        kind : int
            nncore._optim.KIND_* code; ``kind=-1`` means plain gradient descent, no state.
        hyper : dict
            The settings by name: momentum, nesterov, beta1, beta2, alpha, eps, weight_decay,
            amsgrad (the fields of OptC, nncore/_optim.pxd).
        step : ndarray, int64 (1,)
            The step count t, incremented in place by every step.
        states : list
            Per layer, a tuple (W states, b states, (c, beta) states), each a tuple of up to 3
            arrays shaped like that parameter (W's and b's in the engine's dtype, (c, beta)'s
            float64 (2,)), C-contiguous; the engine updates them in place.
        """
        return _set_optimizer(self, kind, hyper, step, states)

    def set_hyper(self, hyper, int kind):
        """Take new settings (a dict, as set_optimizer's) of the same optimizer from the next
        step on; the state arrays and the step count stay. kind may change only between
        plain gradient descent (-1) and SGD without momentum, which keep no state."""
        cdef OptC o = self.opt
        if kind != o.kind and not ((kind == -1 or kind == OPT_SGD)
                                   and (o.kind == -1 or o.kind == OPT_SGD)):
            raise ValueError(f"Engine: cannot turn optimizer {o.kind} into {kind}")
        if kind != o.kind and self.depth:
            raise RuntimeError("this network is being trained; change weight_decay of a plain "
                               "SGD between calls")
        _settings(&o, hyper)
        if kind == -1 and (o.clip_norm > 0 or o.clip_value > 0):
            raise ValueError("Engine: a clipped step needs the optimizer path (kind >= 0)")
        if kind == OPT_SGD and o.momentum > 0 and self.layers[0].sW[0] == NULL:
            raise ValueError("Engine: momentum needs state this optimizer does not keep")
        o.kind = kind
        self.write_lock()
        self.opt = o
        self.step_mode = MODE_SGD if kind == -1 else MODE_OPTIM
        self.write_unlock()

    def hyper(self):
        """The settings the next step uses, by name (what set_optimizer or set_hyper gave)."""
        return {"momentum": self.opt.momentum, "nesterov": bool(self.opt.nesterov),
                "beta1": self.opt.beta1, "beta2": self.opt.beta2, "alpha": self.opt.alpha,
                "eps": self.opt.eps, "weight_decay": self.opt.weight_decay,
                "amsgrad": bool(self.opt.amsgrad), "clip_norm": self.opt.clip_norm,
                "clip_value": self.opt.clip_value}

    # -- dropout ---------------------------------------------------------------------------------

    def set_dropout(self, ps, uint64_t seed):
        """Drop each layer's outputs with probability ps[l] (0 <= p < 1; 0: no dropout) in
        training calls (train_step, run_epoch), the masks keyed by ``seed`` and the optimizer's
        step count. The output layer takes no dropout. Refused while the network trains."""
        cdef int l
        ps = [float(p) for p in ps]
        if (len(ps) != self.n_layers or not all(0 <= p < 1 for p in ps)
                or ps[self.n_layers - 1] != 0):
            raise ValueError(f"Engine: dropout needs one p in [0, 1) per layer, 0 for the "
                             f"output layer, got {ps}")
        if self.depth:
            raise RuntimeError("this network is being trained; dropout is set between calls")
        self.write_lock()
        for l in range(self.n_layers):
            self.layers[l].drop_p = ps[l]
            self.layers[l].drop_keep = _keep_threshold(ps[l])
            self.layers[l].drop_scale = 1.0 / (1.0 - ps[l])
        self.net.drop_seed = seed
        # workspaces without the masks of the layers that now drop: none goes back to the
        # pool, not even one a reading call took before this and gives back after it
        self._pool = []
        self.layout += 1
        self.write_unlock()

    # The Engine's checks at the boundary (included in the body of the Engine class): its own
    # state, and the arrays a call passes, before anything reaches nogil code.

    def parameters_usable(self):
        """Every W and b finite, the activation parameters within the dtype's range (what
        Network.fit checks after each epoch), and the arrays still the ones the engine points
        into."""
        cdef int l
        cdef LayerC* ly
        cdef bint ok
        if not _state_ok(self, False):
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

    cdef void _claim(self) except *:
        """Claim the engine for a changing call of this thread (nested claims of the same thread
        are fine: fit's epochs run inside fit's claim); RuntimeError, before anything changes,
        when another thread holds it."""
        cdef unsigned long me = PyThread_get_thread_ident()
        if self.depth and self.owner != me:
            raise busy_error()
        self.owner = me
        self.depth += 1

    cdef void _release(self) noexcept:
        self.depth -= 1
        if not self.depth:
            self._index = None      # the shuffled order lives as long as the fit

    @property
    def busy(self):
        """A changing call (fit, train_step, an assignment) holds the network."""
        return self.depth > 0

    def begin_change(self):
        """Claim the network for a changing call (fit, partial_fit, an assignment); raise
        RuntimeError, changing nothing, when another thread holds it. end_change releases it."""
        self._claim()

    def end_change(self):
        if self.depth:
            self._release()

    def train_step(self, X, Y, lr, sample_weight=None):
        """One step of the optimizer (plain gradient descent unless set_optimizer chose another
        rule) on the batch (X, Y), each row's loss weighed by sample_weight (m,) when given;
        returns the loss before it. A changing call: refused while another thread trains."""
        cdef double rate
        cdef Workspace ws
        cdef CallC c
        if (type(lr) is float and isfinite(<double>lr) and <double>lr > 0
                and (not self.is_float32 or (<double>lr <= FLT_MAX and <float><double>lr > 0))):
            rate = lr
        else:
            rate = self.validate.learning_rate(lr, self.dtype)
        if _is_sparse(X):
            return _train_step_sparse(self, X, Y, rate, sample_weight)
        batch = _batch(self, X, Y)
        m = batch[3]
        sw = _weights(self, sample_weight, m)
        _call(self, &c, batch, sw, rate, self.step_mode)
        self._claim()
        try:
            if m != self.last_batch:
                _keep(self, m)
            ws = _take(self, m, self.step_mode == MODE_OPTIM)
            try:
                return _run(self, ws, &c, 0, m)
            finally:
                _give(self, ws)
        finally:
            self._release()

    def loss(self, X, Y, sample_weight=None):
        """The loss of the network's output for X against Y: the mean over the examples, or
        the weighted mean sum(w_i L_i) / sum(w) with sample_weight (N,).

        Runs in chunks of rows as predict does: a large X needs no workspace of its size, and
        one of another dtype or layout is converted a chunk at a time."""
        if _is_sparse(X):
            return _loss_sparse(self, X, Y, sample_weight)
        return _read_in_chunks(self, X, Y, sample_weight, False)[0]

    def loss_and_gradients(self, X, Y, sample_weight=None):
        """(loss, gradients) of the batch (X, Y), weighed by sample_weight: the loss as
        ``loss`` gives it, and per layer {"W": dL/dW, "b": dL/db} (plus "c", "beta" for a
        trainable sigmoid). In chunks of rows as ``loss``: the gradient of the whole batch is
        the chunks' gradients weighed by their share of the examples (or of the weights)."""
        return _read_in_chunks(self, X, Y, sample_weight, True)

    def gradients(self, X, Y, sample_weight=None):
        """Per layer {"W": dL/dW, "b": dL/db} (plus "c", "beta" for a trainable sigmoid)."""
        return self.loss_and_gradients(X, Y, sample_weight)[1]

    def trace(self, X, Y):
        """Per layer {"a": a, "z": z, "delta": dL/da} of one forward and backward pass, computed
        in chunks of rows into the result's arrays (delta scaled for the whole call's rows)."""
        return _trace(self, X, Y)

    def predict(self, X, out=None):
        """The network's output for X: (N, n_out), or (n_out,) for a single example (n_in,).

        Written into ``out`` when given (same shape, the network's dtype, C-contiguous). Runs in
        chunks of rows; an X of another dtype or layout is converted chunk by chunk too.
        """
        if _is_sparse(X):
            return _predict_sparse(self, X, out)
        return _predict(self, X, out)

    def run_epoch(self, X, Y, double lr, int batch_size, bint shuffle, uint64_t seed,
                  sample_weight=None, weight_norms=None, order=None):
        """One epoch of mini-batch steps of the optimizer over (X, Y), already validated by
        Network.fit: X (N, n_in) and Y (N, n_out) of the network's dtype, or int64 class
        labels Y (N,) (checked to lie in [0, n_out) here, and again batch by batch where the core
        copies them); sample_weight None or a float64 array (N,) of finite values >= 0 with a sum
        > 0. A batch's loss is the weighted mean of its rows' losses (see Network.fit).
        weight_norms: None, or a writeable float64 array (1,) that gets the sum over the steps
        of sum_l ||W_l||^2 before each step. order: None, or int64 row indices (k,) in [0, N)
        (each checked where it is read): the epoch visits those rows in that order (shuffle and
        seed are then unused), gathering them in the core.

        A changing call: refused while another thread trains. Returns the mean loss over the
        epoch's steps (each taken before its update), weighted by batch size.
        """
        cdef EpochC e
        memset(&e, 0, sizeof(EpochC))
        e.batch, e.shuffle, e.seed = batch_size, shuffle, seed
        return _run_epoch(self, &e, X, Y, lr, sample_weight, weight_norms, order)



include "_engine_pool.pxi"
include "_engine_boundary.pxi"
include "_engine_calls.pxi"
include "_engine_sparse.pxi"
