# Kernels of nncore's core: declarations that other Cython modules cimport.
#
# Every kernel is `noexcept nogil`, trusts its input (the Python layer validated it) and never
# allocates. Matrices are row-major and contiguous in their last axis; a kernel gets a pointer
# and its dimensions (plus a leading dimension for gemm), like BLAS, so that the fused step can
# walk a list of layers whose buffers differ in shape. The `def` wrappers
# (_kernels_wrappers.pxi) take typed memoryviews. `floating` is float or double: one source,
# two specialisations.

from cython cimport floating
from libc.stdint cimport int64_t

# Activation codes, declared once: Python reads them by name from nncore._kernels.ACTIVATION_CODES.
cdef enum:
    ACT_IDENTITY = 0
    ACT_SIGMOID = 1       # z = c / (1 + exp(-beta * a)); params = (c, beta)
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_LEAKY_RELU = 4    # z = a if a >= 0 else delta * a; params = (delta,)
    ACT_SOFTMAX = 5
    ACT_GELU = 6          # z = a * Phi(a), Phi the standard normal CDF (with erf)
    ACT_GELU_TANH = 7     # z = a/2 * (1 + tanh(sqrt(2/pi) * (a + 0.044715 a**3)))
    ACT_ELU = 8           # z = a if a > 0 else alpha * (exp(a) - 1); params = (alpha,)
    ACT_SILU = 9          # z = a * sigmoid(a)
    ACT_SOFTPLUS = 10     # z = log(1 + exp(beta a)) / beta, a where beta a > threshold;
                          # params = (beta, threshold)
    ACT_LAST = ACT_SOFTPLUS   # the largest code: the checks of a code read it

# Loss codes, declared once: Python reads them by name from nncore._kernels.LOSS_CODES.
cdef enum:
    LOSS_MSE = 0
    LOSS_CROSS_ENTROPY = 1
    LOSS_BINARY_CROSS_ENTROPY = 2
    LOSS_MAE = 3          # L = 1/m sum |yhat - y|
    LOSS_HUBER = 4        # L = 1/m sum h(yhat - y), h quadratic within +-delta; p = delta
    LOSS_POISSON = 5      # log link: yhat is the log of the mean, mu = exp(yhat);
                          # L = 1/m sum(y log(y / mu) - y + mu), dL/dyhat = (mu - y) / m
    LOSS_LAST = LOSS_POISSON    # the largest code: the checks of a code read it

# C = alpha * op(A) @ op(B) + beta * C, row-major; op(X) is X or X.T.
# op(A) is (m, k), op(B) is (k, n), C is (m, n); lda, ldb, ldc are row strides in elements.
# The core's loops or SIMD tiles, or BLAS (NumPy's OpenBLAS, else SciPy's), by shape: see the
# comment above _gemm_path in _kernels_gemm.pxi.
cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* A, int lda, const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil
cdef void gemm_loops(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                     const floating* A, int lda, const floating* B, int ldb,
                     floating beta, floating* C, int ldc) noexcept nogil
cdef void gemm_blas(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                    const floating* A, int lda, const floating* B, int ldb,
                    floating beta, floating* C, int ldc) noexcept nogil

# a = z_prev @ W + b, for z_prev (m, n_in), W (n_in, n_out), b (n_out,), a (m, n_out).
cdef void dense_forward(const floating* z_prev, const floating* W, const floating* b,
                        floating* a, int m, int n_in, int n_out) noexcept nogil

# a = X @ W + b for m rows of sparse X in CSR form (data, indices, indptr; indptr[0] = 0,
# indices checked to lie in [0, n_in)), W (n_in, n_out), b (n_out,), a (m, n_out).
cdef void csr_dense_forward(const floating* data, const int64_t* indices,
                            const int64_t* indptr, const floating* W, const floating* b,
                            floating* a, int m, int n_out) noexcept nogil

# W += alpha * X.T @ delta for the same CSR rows and delta (m, n_out): only the rows of W
# whose columns occur in X change (dW = X.T @ delta into a zeroed W-shaped buffer, alpha = 1).
cdef void csr_weight_update(const floating* data, const int64_t* indices,
                            const int64_t* indptr, const floating* delta, floating alpha,
                            floating* W, int m, int n_out) noexcept nogil

# z = phi(a) elementwise (row-wise for softmax) over (m, n). For softmax, when lse is not
# NULL, lse[i] = log(sum(exp(a[i]))) is written too (cross-entropy from logits uses it).
cdef void activation_forward(int kind, double p0, double p1, const floating* a, floating* z,
                             floating* lse, int m, int n) noexcept nogil

# delta = g * phi'(a), in place: `delta` holds g = dL/dz on entry and dL/da on return.
# Softmax applies its Jacobian: delta = z * (g - sum(g * z, axis=1)).
cdef void activation_backward(int kind, double p0, double p1, const floating* a,
                              const floating* z, floating* delta, int m, int n) noexcept nogil

# dL/dc = sum(g * s) and dL/dbeta = sum(g * c * s * (1 - s) * a), s = sigmoid(beta * a),
# for the scaled sigmoid z = c * s; g = dL/dz. Call before activation_backward overwrites g.
cdef void sigmoid_param_gradients(double c, double beta, const floating* a, const floating* g,
                                  Py_ssize_t size, double* dc, double* dbeta) noexcept nogil

# L(yhat, y) for (m, n) predictions and targets, and g = dL/dyhat; p is the loss's parameter
# (Huber's delta; unused by the others). For the Poisson loss yhat is the raw output a, the
# log of the predicted mean (exp(a) overflowing the dtype gives L = inf and g = inf).
cdef double loss_value(int loss, double p, const floating* yhat, const floating* y,
                       int m, int n) noexcept nogil
cdef void loss_gradient(int loss, double p, const floating* yhat, const floating* y, floating* g,
                        int m, int n) noexcept nogil

# The cross-entropies of the network's outputs, computed from the logits a (exact where
# log(yhat) would underflow) with their delta = dL/da in closed form:
# - softmax: L from a and lse = logsumexp(a, 1); delta = (z * y.sum(1) - y) / m
#   (= (z - y) / m when each target row sums to 1);
# - the scaled sigmoid z = c * sigmoid(beta * a), 0 < c <= 1, with cross-entropy
#   (binary = False) or binary cross-entropy (binary = True); delta, when not NULL, gets
#   beta * (s - y) / m for binary with c = 1 (s = sigmoid(beta * a)); see _kernels_losses.pxi.
cdef double softmax_cross_entropy_value(const floating* a, const floating* lse,
                                        const floating* y, int m, int n) noexcept nogil
cdef void softmax_cross_entropy_delta(const floating* z, const floating* y, floating* delta,
                                      int m, int n) noexcept nogil
# The same against class labels (m,) int64 in [0, n) instead of one-hot rows: L, and
# delta = (z - eye(n)[labels]) / m when delta is not NULL.
cdef double softmax_cross_entropy_labels(const floating* a, const floating* lse,
                                         const floating* z, const int64_t* labels,
                                         floating* delta, int m, int n) noexcept nogil
cdef double sigmoid_cross_entropy(const floating* a, const floating* y, floating* delta,
                                  int m, int n, double c, double beta,
                                  bint binary) noexcept nogil

# db = delta.sum(axis=0), scaled: out = beta * out + alpha * delta.sum(axis=0).
cdef void column_sums(const floating* delta, floating* out, int m, int n,
                      floating alpha, floating beta) noexcept nogil

# True when every one of `size` values is finite and lies in [lo, hi].
cdef bint all_finite_in(const floating* x, Py_ssize_t size, double lo, double hi) noexcept nogil

# The instruction set of the SIMD kernels in force (0: portable, 1: AVX2 + FMA, 2: AVX-512; see
# _simd.h): other modules of the core that include _simd.h dispatch on it.
cdef int simd_level() noexcept nogil
