# The structs of the engine's nogil code (included by _engine.pyx).
#
# A network (NetC: its layers' parameters and optimizer state) is shared by every call; a
# workspace (WorkC: a, z, delta, gradients and gather buffers) belongs to one call at a time,
# taken from the engine's pool. The nogil passes get both, so that calls from several threads
# never write into each other's buffers.

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_rwlock_t:
        pass
    ctypedef struct pthread_rwlockattr_t:
        pass
    int pthread_rwlockattr_init(pthread_rwlockattr_t* attr)
    int pthread_rwlockattr_destroy(pthread_rwlockattr_t* attr)
    int pthread_rwlockattr_setkind_np(pthread_rwlockattr_t* attr, int pref)
    int PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
    int pthread_rwlock_init(pthread_rwlock_t* lock, const pthread_rwlockattr_t* attr)
    int pthread_rwlock_destroy(pthread_rwlock_t* lock)
    int pthread_rwlock_rdlock(pthread_rwlock_t* lock)
    int pthread_rwlock_tryrdlock(pthread_rwlock_t* lock)
    int pthread_rwlock_wrlock(pthread_rwlock_t* lock)
    int pthread_rwlock_trywrlock(pthread_rwlock_t* lock)
    int pthread_rwlock_unlock(pthread_rwlock_t* lock)

cdef extern from *:
    """
    static inline int nncore_atomic_load(const int* p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    static inline void nncore_atomic_add(int* p, int v) {
        __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL);
    }
    """
    int nncore_atomic_load(const int* p) nogil
    void nncore_atomic_add(int* p, int v) nogil


cdef struct LayerC:
    # one layer's parameters and optimizer state: what the network is
    int n_in
    int n_out
    int act
    bint trainable
    void* W              # (n_in, n_out), owned by the Python layer
    void* b              # (n_out,)
    double* params       # the activation's float64 parameters: (c, beta) or (delta, 0)
    void* sW[3]          # optimizer state beside W (as many as the rule uses, else NULL)
    void* sb[3]          # ... beside b
    double* sp[3]        # ... beside a trainable sigmoid's (c, beta): 2 float64 each
    double drop_p        # dropout on the layer's output in training (0: none)
    uint64_t drop_keep   # a unit is kept when its hash is >= this (drop_p * 2**64)
    double drop_scale    # 1 / (1 - drop_p): what a kept unit is multiplied by


cdef struct LayerWork:
    # one layer's share of a workspace: what one call computes
    void* a              # (capacity, n_out)
    void* z              # (capacity, n_out)
    void* delta          # (capacity, n_out)
    void* dW             # (n_in, n_out) gradient store (MODE_GRADIENTS, MODE_OPTIM), or NULL
    void* db             # (n_out,)
    double dparams[2]    # dL/dc, dL/dbeta of a trainable sigmoid, from the last pass
    void* mask           # (capacity, n_out) dropout mask (0 or drop_scale), or NULL
    void* zd             # (capacity, n_out) z * mask: what the next layer takes, or NULL


cdef struct CsrSrc:
    # a caller's sparse X in CSR form: memory the caller may still change while the core runs,
    # so it is read only by _csr_gather, which copies a batch and checks each index it reads
    const void* data     # (nnz,) in the network's dtype
    const void* indices  # (nnz,) int64 when wide_indices, else int32
    const void* indptr   # (n_rows + 1,) int64 when wide_indptr, else int32
    bint wide_indices
    bint wide_indptr
    Py_ssize_t n_rows
    Py_ssize_t nnz       # entries that data and indices hold


cdef struct CsrC:
    # one batch of sparse rows, copied from a CsrSrc and checked: what the first layer's
    # kernels read (indptr[0] = 0, non-decreasing; every index in [0, n_in))
    int64_t* indptr      # (rows + 1,)
    int64_t* indices     # (cap,)
    void* data           # (cap,) in the network's dtype
    Py_ssize_t cap


cdef struct WorkC:
    int capacity         # rows
    LayerWork* lw        # one per layer
    void* lse            # (capacity,) logsumexp of softmax rows
    void* x_batch        # (capacity, n_in) gathered rows of X
    void* y_batch        # (capacity, n_out) gathered target rows, or one-hot rows of labels
    int64_t* l_batch     # (capacity,) class labels of the batch, copied and range-checked
    double* w_batch      # (capacity,) gathered sample weights
    CsrC* sx             # NULL, or the call's sparse batch: then the first layer reads its
                         # rows (not X) for its product and its weight gradient


cdef struct NetC:
    LayerC* layers
    int n_layers
    int loss             # LOSS_* code
    double loss_param    # its parameter (Huber's delta), else 0
    bint labels_direct   # softmax output with the cross-entropy: labels go in as they are
    OptC* opt
    uint64_t drop_seed   # keys the dropout masks, with the step count, layer, row and unit


cdef struct RowsC:
    # the rows one pass runs over (see _pass), in the network's dtype
    const void* X        # (m, n_in)
    const void* Y        # (m, n_out) target rows, or NULL with labels
    const int64_t* labels    # (m,) class labels in [0, n_out) (in the workspace), or NULL
    const double* sw     # (m,) sample weights, or NULL
    int m
    int mode             # MODE_*


cdef struct CallC:
    # a Python-facing call's arrays as _run reads them, chunk by chunk (see _call)
    const char* X        # (N, n_in) in the network's dtype
    const char* Y        # (N, n_out) target rows, or NULL with labels
    const char* labels   # (N,) int32 or int64 class labels as the caller passed them, or NULL
    bint wide            # labels are int64
    const double* sw     # (N,) sample weights, or NULL
    double lr
    int mode             # MODE_*
    PyObject* labels_obj # the labels' array (borrowed from the caller), for the error message


cdef struct EpochC:
    # the arguments of one epoch of the core's loop (see _epoch)
    const void* X        # (n_rows, n_in) in the network's dtype, or NULL with sx
    const CsrSrc* sx     # sparse X (batches gathered into the workspace's w.sx), or NULL
    const void* Y        # (n_rows, n_out) target rows, or NULL with labels
    const int64_t* labels    # (n_rows,) class labels, or NULL
    const double* sw     # (n_rows,) sample weights, or NULL
    Py_ssize_t n_rows    # rows of X: every index (of idx, of a label's class) is checked
    Py_ssize_t n         # rows the epoch visits (n_rows, or len(idx) for a given order)
    int batch            # rows per step (asked: >= 1; then at most n)
    int64_t* idx         # the order (NULL: rows in order)
    bint shuffle         # draw a permutation into idx first, from seed
    uint64_t seed
    int mode             # MODE_SGD or MODE_OPTIM
    double* norms        # NULL, or gets sum over steps of sum_l ||W_l||^2 before each step
    pthread_rwlock_t* lock   # held for writing during each step, and kept from one step
                             # to the next while no reading call waits for it
    const int* readers_waiting   # reading calls waiting for the lock (atomic)
    bint locked          # out: the epoch still holds the lock (the caller lets it go)
    bint bad             # out: a row index or class label out of range was met (the
                         # caller changed it during the epoch); the epoch stopped before it
