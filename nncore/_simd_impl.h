/* The body of nncore's SIMD gemm for one instruction set and floating type: included by
 * _simd.h once per pair, with NN_TARGET, NN_T, NN_VEC, NN_VL, NN_MASK_T and the NN_*
 * intrinsics defined (a C template). See _simd.h for the contract and the method. */

#define NN_CAT_(a, b) a##_##b
#define NN_CAT(a, b) NN_CAT_(a, b)
#define NN_FN(name) NN_CAT(name, NN_SUFFIX)
#define NN_NR (2 * NN_VL)   /* columns per tile: two vectors */
#define NN_SHORT_ROW 16      /* softmax rows shorter than this: one exp pass over the block */
#define NN_SUM_BLOCK 64      /* ... and their sums taken this many rows at a time */

/* A tile reading B in place walks down a panel of NR columns, one row of B per step: when the
 * rows lie NN_PF_MIN_STRIDE bytes apart or more (a layer of 512 float32 outputs or 256 float64)
 * each step reads 2 KB or more past the last, which the hardware prefetchers do not follow, so
 * the tile asks for the row NN_PF_ROWS steps ahead itself (8 rows of a 784 x 1024 or 1024 x
 * 1024 float32 layer on two threads: 1.2-1.3x faster; 24-48 rows ahead measured alike) */
#define NN_PF_ROWS 32
#define NN_PF_MIN_STRIDE 2048

/* One tile: rows 0..mr-1 and columns 0..NR-1 of C (only `cols` of them when !store_full) get
 *   C[r, :] = alpha * sum_p op(A)[r, p] * Bp[p, :]  (+ bias)  (+ beta * C[r, :])
 * op(A)[r, p] = A[r * a_r + p * a_p]; Bp[p, j] = B[p * ldb + j]. A tile is two vectors wide,
 * or one (two = 0) when the panel has at most NN_VL columns (an output layer of 10 classes).
 * With pf, the tile prefetches B's row NN_PF_ROWS steps ahead (see NN_PF_ROWS).
 * mr, two, load_full, store_full and pf are constants at every call site, so the compiler makes
 * one straight-line version of the loop per combination, its accumulators in registers. */
NN_TARGET NN_INLINE void NN_FN(nn_tile)(
    const int mr, const int two, const int load_full, const int store_full, const int pf,
    ptrdiff_t kc,
    const NN_T* A, ptrdiff_t a_r, ptrdiff_t a_p, const NN_T* B, ptrdiff_t ldb,
    NN_T* C, ptrdiff_t ldc, NN_T alpha, NN_T beta, const NN_T* bias, NN_MASK_T m0, NN_MASK_T m1)
{
    NN_VEC acc0[12], acc1[12];   /* mr <= NN_MR <= 12 of them live in registers */
    NN_VEC b0, b1 = NN_ZERO(), a, v0, v1, bias0, bias1;
    ptrdiff_t p;
    int r;
    for (r = 0; r < mr; r++) {
        acc0[r] = NN_ZERO();
        acc1[r] = NN_ZERO();
    }
    for (p = 0; p < kc; p++) {
        /* acc[r] += op(A)[r, p] * B[p, 0:NR] */
        if (pf && p + NN_PF_ROWS < kc) {
            _mm_prefetch((const char*)(B + (p + NN_PF_ROWS) * ldb), _MM_HINT_T0);
            if (two)
                _mm_prefetch((const char*)(B + (p + NN_PF_ROWS) * ldb + NN_VL), _MM_HINT_T0);
        }
        b0 = load_full ? NN_LOAD(B + p * ldb) : NN_MLOAD(B + p * ldb, m0);
        if (two)
            b1 = load_full ? NN_LOAD(B + p * ldb + NN_VL) : NN_MLOAD(B + p * ldb + NN_VL, m1);
        for (r = 0; r < mr; r++) {
            a = NN_SET1(A[r * a_r + p * a_p]);
            acc0[r] = NN_FMA(a, b0, acc0[r]);
            if (two)
                acc1[r] = NN_FMA(a, b1, acc1[r]);
        }
    }
    if (bias != NULL) {
        bias0 = store_full ? NN_LOAD(bias) : NN_MLOAD(bias, m0);
        bias1 = !two ? NN_ZERO() : store_full ? NN_LOAD(bias + NN_VL)
                                              : NN_MLOAD(bias + NN_VL, m1);
    } else {
        bias0 = bias1 = NN_ZERO();
    }
    for (r = 0; r < mr; r++) {
        /* C[r] = alpha * acc[r] + bias + beta * C[r]; beta == 0 never reads C */
        NN_T* c = C + r * ldc;
        v0 = NN_FMA(NN_SET1(alpha), acc0[r], bias0);
        if (beta != 0)
            v0 = NN_FMA(NN_SET1(beta), store_full ? NN_LOAD(c) : NN_MLOAD(c, m0), v0);
        if (store_full)
            NN_STORE(c, v0);
        else
            NN_MSTORE(c, m0, v0);
        if (!two)
            continue;
        v1 = NN_FMA(NN_SET1(alpha), acc1[r], bias1);
        if (beta != 0)
            v1 = NN_FMA(NN_SET1(beta), store_full ? NN_LOAD(c + NN_VL)
                                                  : NN_MLOAD(c + NN_VL, m1), v1);
        if (store_full)
            NN_STORE(c + NN_VL, v1);
        else
            NN_MSTORE(c + NN_VL, m1, v1);
    }
}

/* All row tiles of one column panel: rows 0..m-1, in tiles of NN_MR and a last smaller one. */
#define NN_TILE_CASE(MR_, TWO_, LF_, SF_, PF_)                                          \
    NN_FN(nn_tile)(MR_, TWO_, LF_, SF_, PF_, kc, A + i * a_r, a_r, a_p, B, ldb, C + i * ldc, \
                   ldc, alpha, beta, bias, m0, m1)
#define NN_TILE_ROWS(TWO_, LF_, SF_, PF_)                                               \
    for (i = 0; i + NN_MR <= m; i += NN_MR)                                             \
        NN_TILE_CASE(NN_MR, TWO_, LF_, SF_, PF_);                                       \
    switch (m - i) {                                                                    \
        case 11: NN_TILE_CASE(11, TWO_, LF_, SF_, PF_); break;                          \
        case 10: NN_TILE_CASE(10, TWO_, LF_, SF_, PF_); break;                          \
        case 9: NN_TILE_CASE(9, TWO_, LF_, SF_, PF_); break;                            \
        case 8: NN_TILE_CASE(8, TWO_, LF_, SF_, PF_); break;                            \
        case 7: NN_TILE_CASE(7, TWO_, LF_, SF_, PF_); break;                            \
        case 6: NN_TILE_CASE(6, TWO_, LF_, SF_, PF_); break;                            \
        case 5: NN_TILE_CASE(5, TWO_, LF_, SF_, PF_); break;                            \
        case 4: NN_TILE_CASE(4, TWO_, LF_, SF_, PF_); break;                            \
        case 3: NN_TILE_CASE(3, TWO_, LF_, SF_, PF_); break;                            \
        case 2: NN_TILE_CASE(2, TWO_, LF_, SF_, PF_); break;                            \
        case 1: NN_TILE_CASE(1, TWO_, LF_, SF_, PF_); break;                            \
        default: break;                                                                 \
    }

NN_TARGET static void NN_FN(nn_panel)(
    int m, ptrdiff_t kc, int cols, int packed, const NN_T* A, ptrdiff_t a_r, ptrdiff_t a_p,
    const NN_T* B, ptrdiff_t ldb, NN_T* C, ptrdiff_t ldc, NN_T alpha, NN_T beta,
    const NN_T* bias)
{
    ptrdiff_t i;
    NN_MASK_T m0 = NN_MASK(cols), m1 = NN_MASK(cols - NN_VL);
    if (cols == NN_NR && !packed && ldb * (ptrdiff_t)sizeof(NN_T) >= NN_PF_MIN_STRIDE) {
        NN_TILE_ROWS(1, 1, 1, 1)
    } else if (cols == NN_NR) {
        NN_TILE_ROWS(1, 1, 1, 0)
    } else if (cols == NN_VL) {
        NN_TILE_ROWS(0, 1, 1, 0)
    } else if (cols < NN_VL) {
        if (packed) {
            NN_TILE_ROWS(0, 1, 0, 0)
        } else {
            NN_TILE_ROWS(0, 0, 0, 0)
        }
    } else if (packed) {
        NN_TILE_ROWS(1, 1, 0, 0)
    } else {
        NN_TILE_ROWS(1, 0, 0, 0)
    }
}

#undef NN_TILE_ROWS
#undef NN_TILE_CASE

NN_TARGET static void NN_FN(nn_gemm)(
    int trans_a, int trans_b, int m, int n, int k, NN_T alpha, const NN_T* A, int lda,
    const NN_T* B, int ldb, NN_T beta, NN_T* C, int ldc, const NN_T* bias)
{
    /* op(A)[i, p] = A[i * a_r + p * a_p] */
    ptrdiff_t a_r = trans_a ? 1 : lda, a_p = trans_a ? lda : 1;
    NN_T pack[NN_KC * NN_NR] __attribute__((aligned(32)));
    ptrdiff_t j, p0, p, kc;
    int jj, cols, width;
    for (j = 0; j < n; j += NN_NR) {
        cols = n - j < NN_NR ? (int)(n - j) : NN_NR;
        if (!trans_b) {
            /* B[p, j:j + NR] read in place */
            NN_FN(nn_panel)(m, k, cols, 0, A, a_r, a_p, B + j, ldb, C + j, ldc, alpha, beta,
                            bias ? bias + j : NULL);
            continue;
        }
        /* op(B)[p, j + jj] = B[(j + jj) * ldb + p]: copy KC rows of it at a time into pack
         * (rows of `width` values, the tile's: one vector or two), zero-filled past the last
         * column, then accumulate (beta applies to the first block, the bias with it) */
        width = cols <= NN_VL ? NN_VL : NN_NR;
        for (p0 = 0; p0 < k; p0 += NN_KC) {
            kc = k - p0 < NN_KC ? k - p0 : NN_KC;
            for (jj = 0; jj < cols; jj++)
                for (p = 0; p < kc; p++)
                    pack[p * width + jj] = B[(j + jj) * (ptrdiff_t)ldb + p0 + p];
            for (p = 0; p < kc; p++)
                for (jj = cols; jj < width; jj++)
                    pack[p * width + jj] = 0;
            NN_FN(nn_panel)(m, kc, cols, 1, A + p0 * a_p, a_r, a_p, pack, width, C + j, ldc,
                            alpha, p0 == 0 ? beta : (NN_T)1,
                            p0 == 0 && bias ? bias + j : NULL);
        }
    }
}

/* ---- few-row products ---- */

/* C[r, :] = (beta == 0 ? 0 : beta * C[r, :]) + bias for rows 0..rows-1: the start of a product
 * that then accumulates into C in place; beta == 0 never reads C */
NN_TARGET static void NN_FN(nn_few_start)(int rows, int n, NN_T* C, ptrdiff_t ldc, NN_T beta,
                                          const NN_T* bias)
{
    const NN_VEC vb = NN_SET1(beta);
    NN_MASK_T tail = NN_MASK(n % NN_VL);
    ptrdiff_t j, full = n - n % NN_VL;
    NN_VEC v;
    int r;
    if (beta == 1 && bias == NULL)
        return;
    for (r = 0; r < rows; r++) {
        NN_T* c = C + r * ldc;
        for (j = 0; j < full; j += NN_VL) {
            v = bias ? NN_LOAD(bias + j) : NN_ZERO();
            if (beta != 0)
                v = NN_FMA(vb, NN_LOAD(c + j), v);
            NN_STORE(c + j, v);
        }
        if (j < n) {
            v = bias ? NN_MLOAD(bias + j, tail) : NN_ZERO();
            if (beta != 0)
                v = NN_FMA(vb, NN_MLOAD(c + j, tail), v);
            NN_MSTORE(c + j, tail, v);
        }
    }
}

/* C[r, :] += sum_q a[r][q] * B[q, :] for r < rows, q < kc (both constants at each call site,
 * rows * kc <= 16, a already scaled by alpha): the kc rows of B read side by side (streams the
 * prefetcher follows), each vector of C loaded and stored once per kc rows of B, the
 * broadcasts of a kept in registers. */
NN_TARGET NN_INLINE void NN_FN(nn_few_step)(
    const int rows, const int kc, int n, NN_T a[NN_FEW_ROWS][4], const NN_T* B,
    ptrdiff_t ldb, NN_T* C, ptrdiff_t ldc)
{
    NN_VEC va[NN_FEW_ROWS][4], b[4], c;
    NN_MASK_T tail = NN_MASK(n % NN_VL);
    ptrdiff_t j, full = n - n % NN_VL;
    int r, q;
    for (r = 0; r < rows; r++)
        for (q = 0; q < kc; q++)
            va[r][q] = NN_SET1(a[r][q]);
    for (j = 0; j < full; j += NN_VL) {
        for (q = 0; q < kc; q++)
            b[q] = NN_LOAD(B + q * ldb + j);
        for (r = 0; r < rows; r++) {
            c = NN_LOAD(C + r * ldc + j);
            for (q = 0; q < kc; q++)
                c = NN_FMA(va[r][q], b[q], c);
            NN_STORE(C + r * ldc + j, c);
        }
    }
    if (j < n) {
        for (q = 0; q < kc; q++)
            b[q] = NN_MLOAD(B + q * ldb + j, tail);
        for (r = 0; r < rows; r++) {
            c = NN_MLOAD(C + r * ldc + j, tail);
            for (q = 0; q < kc; q++)
                c = NN_FMA(va[r][q], b[q], c);
            NN_MSTORE(C + r * ldc + j, tail, c);
        }
    }
}

/* one block of rows of C (1..NN_FEW_ROWS, a constant at the call site) over all of B: kc = 4
 * rows of B at a time for up to 4 rows of C, 2 for more (the broadcasts fill the registers),
 * then one at a time for the rest of k */
#define NN_FEW_KC(R_) ((R_) <= 4 ? 4 : 2)
NN_TARGET NN_INLINE void NN_FN(nn_few_block)(
    const int rows, int n, int k, NN_T alpha, const NN_T* A, ptrdiff_t a_r, ptrdiff_t a_p,
    const NN_T* B, ptrdiff_t ldb, NN_T* C, ptrdiff_t ldc)
{
    NN_T a[NN_FEW_ROWS][4];
    const int kc = NN_FEW_KC(rows);
    ptrdiff_t p;
    int r, q;
    for (p = 0; p + kc <= k; p += kc) {
        for (r = 0; r < rows; r++)
            for (q = 0; q < kc; q++)
                a[r][q] = alpha * A[r * a_r + (p + q) * a_p];
        NN_FN(nn_few_step)(rows, kc, n, a, B + p * ldb, ldb, C, ldc);
    }
    for (; p < k; p++) {
        for (r = 0; r < rows; r++)
            a[r][0] = alpha * A[r * a_r + p * a_p];
        NN_FN(nn_few_step)(rows, 1, n, a, B + p * ldb, ldb, C, ldc);
    }
}

/* C = alpha * op(A) @ B + beta * C (+ bias) for op(A) (m, k), B (k, n) row-major: with at
 * most NN_FEW_ROWS rows, one block that reads B once, row by row (at memory bandwidth when B
 * is larger than the caches); more rows go in blocks of 4 (correct, but nn_few_inner is the
 * kernel for many rows). */
NN_TARGET static void NN_FN(nn_few_rows)(int m, int n, int k, NN_T alpha, const NN_T* A,
                                         ptrdiff_t a_r, ptrdiff_t a_p, const NN_T* B,
                                         ptrdiff_t ldb, NN_T beta, NN_T* C, ptrdiff_t ldc,
                                         const NN_T* bias)
{
    ptrdiff_t i;
    int rows;
    for (i = 0; i < m; i += rows) {
        rows = m <= NN_FEW_ROWS ? m : (m - i < 4 ? (int)(m - i) : 4);
        NN_FN(nn_few_start)(rows, n, C + i * ldc, ldc, beta, bias);
        switch (rows) {
#define NN_FEW_CASE(R_) case R_: NN_FN(nn_few_block)(R_, n, k, alpha, A + i * a_r, a_r, a_p, \
                                                     B, ldb, C + i * ldc, ldc); break;
            NN_FEW_CASE(1) NN_FEW_CASE(2) NN_FEW_CASE(3) NN_FEW_CASE(4)
#if NN_FEW_ROWS > 4
            NN_FEW_CASE(5) NN_FEW_CASE(6)
#endif
#if NN_FEW_ROWS > 6
            NN_FEW_CASE(7) NN_FEW_CASE(8)
#endif
#undef NN_FEW_CASE
            default: break;
        }
    }
}
#undef NN_FEW_KC

/* C[r, :] = alpha * sum_q A[r, q] * B[q, :] + beta * C[r, :] (+ bias) for kk (a constant at
 * each call site, 1..8) rows of B and all m rows of C: each vector of C read (beta != 0) and
 * written once, its kk products summed in a register; B (kk rows) stays in cache. The weight
 * gradient z_prev.T @ delta of a few examples, and the update W += alpha * outer(z, delta)
 * (kk = 1) that reads and writes W once. */
NN_TARGET NN_INLINE void NN_FN(nn_few_k)(
    const int kk, int m, int n, NN_T alpha, const NN_T* A, ptrdiff_t a_r, ptrdiff_t a_p,
    const NN_T* B, ptrdiff_t ldb, NN_T beta, NN_T* C, ptrdiff_t ldc, const NN_T* bias)
{
    const NN_VEC vb = NN_SET1(beta);
    NN_MASK_T tail = NN_MASK(n % NN_VL);
    ptrdiff_t i, j, full = n - n % NN_VL;
    NN_VEC va[8], v;
    int q;
    for (i = 0; i < m; i++) {
        NN_T* c = C + i * ldc;
        for (q = 0; q < kk; q++)
            va[q] = NN_SET1(alpha * A[i * a_r + q * a_p]);
        for (j = 0; j < full; j += NN_VL) {
            v = bias ? NN_LOAD(bias + j) : NN_ZERO();
            if (beta != 0)
                v = NN_FMA(vb, NN_LOAD(c + j), v);
            for (q = 0; q < kk; q++)
                v = NN_FMA(va[q], NN_LOAD(B + q * ldb + j), v);
            NN_STORE(c + j, v);
        }
        if (j < n) {
            v = bias ? NN_MLOAD(bias + j, tail) : NN_ZERO();
            if (beta != 0)
                v = NN_FMA(vb, NN_MLOAD(c + j, tail), v);
            for (q = 0; q < kk; q++)
                v = NN_FMA(va[q], NN_MLOAD(B + q * ldb + j, tail), v);
            NN_MSTORE(c + j, tail, v);
        }
    }
}

/* C = alpha * op(A) @ B + beta * C (+ bias) with a small inner dimension k: nn_few_k over
 * blocks of up to 8 rows of B (beta and the bias with the first) */
NN_TARGET static void NN_FN(nn_few_inner)(int m, int n, int k, NN_T alpha, const NN_T* A,
                                          ptrdiff_t a_r, ptrdiff_t a_p, const NN_T* B,
                                          ptrdiff_t ldb, NN_T beta, NN_T* C, ptrdiff_t ldc,
                                          const NN_T* bias)
{
    ptrdiff_t p;
    int kk;
    for (p = 0; p < k; p += kk) {
        kk = k - p < 8 ? (int)(k - p) : 8;
        switch (kk) {
#define NN_FEW_K_CASE(K_) case K_: NN_FN(nn_few_k)(K_, m, n, alpha, A + p * a_p, a_r, a_p, \
                                                   B + p * ldb, ldb, beta, C, ldc, bias); break;
            NN_FEW_K_CASE(1) NN_FEW_K_CASE(2) NN_FEW_K_CASE(3) NN_FEW_K_CASE(4)
            NN_FEW_K_CASE(5) NN_FEW_K_CASE(6) NN_FEW_K_CASE(7) NN_FEW_K_CASE(8)
#undef NN_FEW_K_CASE
            default: break;
        }
        beta = 1;
        bias = NULL;
    }
}

/* C = alpha * A @ B.T + beta * C (+ bias) for A (m, k), B (n, k) row-major (delta @ W.T): each
 * value a dot product of two contiguous rows, four columns at a time (four rows of B read side
 * by side, once from memory, then from L1 for the other rows of A). */
NN_TARGET static void NN_FN(nn_few_dots)(int m, int n, int k, NN_T alpha, const NN_T* A,
                                         ptrdiff_t lda, const NN_T* B, ptrdiff_t ldb, NN_T beta,
                                         NN_T* C, ptrdiff_t ldc, const NN_T* bias)
{
    NN_MASK_T tail = NN_MASK(k % NN_VL);
    ptrdiff_t i, j, p, full = k - k % NN_VL;
    NN_VEC acc[4], av;
    NN_T s;
    int q, cols;
    for (j = 0; j < n; j += 4) {
        cols = n - j < 4 ? (int)(n - j) : 4;
        for (i = 0; i < m; i++) {
            const NN_T* ar = A + i * lda;
            NN_T* c = C + i * ldc + j;
            for (q = 0; q < 4; q++)
                acc[q] = NN_ZERO();
            if (cols == 4) {
                for (p = 0; p < full; p += NN_VL) {
                    av = NN_LOAD(ar + p);
                    for (q = 0; q < 4; q++)
                        acc[q] = NN_FMA(av, NN_LOAD(B + (j + q) * ldb + p), acc[q]);
                }
                if (p < k) {
                    av = NN_MLOAD(ar + p, tail);
                    for (q = 0; q < 4; q++)
                        acc[q] = NN_FMA(av, NN_MLOAD(B + (j + q) * ldb + p, tail), acc[q]);
                }
            } else {
                for (p = 0; p < full; p += NN_VL) {
                    av = NN_LOAD(ar + p);
                    for (q = 0; q < cols; q++)
                        acc[q] = NN_FMA(av, NN_LOAD(B + (j + q) * ldb + p), acc[q]);
                }
                if (p < k) {
                    av = NN_MLOAD(ar + p, tail);
                    for (q = 0; q < cols; q++)
                        acc[q] = NN_FMA(av, NN_MLOAD(B + (j + q) * ldb + p, tail), acc[q]);
                }
            }
            for (q = 0; q < cols; q++) {
                s = alpha * NN_HSUM(acc[q]);
                if (bias)
                    s += bias[j + q];
                c[q] = beta == 0 ? s : s + beta * c[q];
            }
        }
    }
}

/* The few-row kernels (_kernels.gemm's "few" path): as nn_gemm, for op(A) with at most
 * NN_FEW_ROWS rows (B streamed once), or, when op(B) = B, a small inner dimension k (C
 * streamed once); any shape gives the right result. Both transposed goes to the tiles. */
NN_TARGET static void NN_FN(nn_gemm_few)(
    int trans_a, int trans_b, int m, int n, int k, NN_T alpha, const NN_T* A, int lda,
    const NN_T* B, int ldb, NN_T beta, NN_T* C, int ldc, const NN_T* bias)
{
    if (!trans_b && m <= NN_FEW_ROWS)
        NN_FN(nn_few_rows)(m, n, k, alpha, A, trans_a ? 1 : lda, trans_a ? lda : 1, B, ldb,
                           beta, C, ldc, bias);
    else if (!trans_b)
        NN_FN(nn_few_inner)(m, n, k, alpha, A, trans_a ? 1 : lda, trans_a ? lda : 1, B, ldb,
                            beta, C, ldc, bias);
    else if (!trans_a)
        NN_FN(nn_few_dots)(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
    else
        NN_FN(nn_gemm)(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias);
}

/* ---- elementwise ---- */

#define NN_EXP_CONSTANTS_(T) NN_EXP_CONSTANTS_##T
#define NN_EXP_CONSTANTS(T) NN_EXP_CONSTANTS_(T)

/* exp(x) of a vector to about 1 ulp: x = n ln2 + r with |r| <= ln2 / 2 (Cody and Waite), exp(r)
 * by its Taylor polynomial (degree 7 for float, 13 for double: the remainder, r**8 / 8! or
 * r**14 / 14!, is under a tenth of an ulp), times 2**n made in the exponent bits in two
 * halves, so that 2**n may be subnormal or overflow to inf as exp does. x is clamped first
 * (max and min return their second operand when one is NaN: NaN stays NaN). */
NN_TARGET NN_INLINE NN_VEC NN_FN(nn_vexp)(NN_VEC x)
{
    static const NN_T k[] = {NN_EXP_CONSTANTS(NN_T)};
    const NN_VEC magic = NN_SET1(k[4]);
    const int mant = (int)k[5];
    const NN_ITYPE bias = NN_ISET1((int)k[6]);
    NN_VEC t, n, h, r, p;
    NN_ITYPE i1, i2;
    x = NN_MAX(NN_SET1(k[0]), x);
    x = NN_MIN(NN_SET1(k[1]), x);
    t = NN_FMA(x, NN_SET1((NN_T)1.4426950408889634), magic);   /* n + magic, n = round(x / ln2) */
    n = NN_SUB(t, magic);
    r = NN_FMA(n, NN_SET1(-k[2]), x);
    r = NN_FMA(n, NN_SET1(-k[3]), r);
    if (sizeof(NN_T) == 4) {
        p = NN_FMA(NN_SET1((NN_T)(1.0 / 5040)), r, NN_SET1((NN_T)(1.0 / 720)));
        p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 120)));
    } else {
        p = NN_FMA(NN_SET1((NN_T)(1.0 / 6227020800.0)), r, NN_SET1((NN_T)(1.0 / 479001600.0)));
        p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 39916800.0)));
        p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 3628800.0)));
        p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 362880.0)));
        p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 40320.0)));
        p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 5040.0)));
        p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 720.0)));
        p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 120.0)));
    }
    p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 24)));
    p = NN_FMA(p, r, NN_SET1((NN_T)(1.0 / 6)));
    p = NN_FMA(p, r, NN_SET1((NN_T)0.5));
    p = NN_FMA(p, r, NN_SET1((NN_T)1));
    p = NN_FMA(p, r, NN_SET1((NN_T)1));
    /* 2**n = 2**h * 2**(n - h), h = round(n / 2): each half's exponent field is in range */
    t = NN_FMA(n, NN_SET1((NN_T)0.5), magic);
    h = NN_SUB(t, magic);
    i1 = NN_ISUB(NN_CAST_I(t), NN_CAST_I(magic));
    i2 = NN_ISUB(NN_CAST_I(NN_FMA(NN_SET1((NN_T)1), NN_SUB(n, h), magic)), NN_CAST_I(magic));
    p = NN_MUL(p, NN_CAST_F(NN_ISHL(NN_IADD(i1, bias), mant)));
    return NN_MUL(p, NN_CAST_F(NN_ISHL(NN_IADD(i2, bias), mant)));
}

NN_TARGET static void NN_FN(nn_exp)(const NN_T* x, NN_T* y, ptrdiff_t n)
{
    ptrdiff_t i;
    NN_MASK_T m;
    for (i = 0; i + NN_VL <= n; i += NN_VL)
        NN_STORE(y + i, NN_FN(nn_vexp)(NN_LOAD(x + i)));
    if (i < n) {
        m = NN_MASK((int)(n - i));
        NN_MSTORE(y + i, m, NN_FN(nn_vexp)(NN_MLOAD(x + i, m)));
    }
}

/* z = c * s(beta * a), s(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, e = exp(-|x|) */
NN_TARGET NN_INLINE NN_VEC NN_FN(nn_vsigmoid)(NN_VEC a, NN_VEC c, NN_VEC beta)
{
    NN_VEC x = NN_MUL(beta, a);
    NN_VEC e = NN_FN(nn_vexp)(NN_SUB(NN_ZERO(), NN_ABS(x)));
    NN_VEC r = NN_DIV(NN_SET1((NN_T)1), NN_FMA(NN_SET1((NN_T)1), e, NN_SET1((NN_T)1)));
    return NN_MUL(c, NN_SELECT_GE0(x, r, NN_MUL(e, r)));
}

NN_TARGET static void NN_FN(nn_sigmoid)(const NN_T* a, NN_T* z, ptrdiff_t n, NN_T c, NN_T beta)
{
    ptrdiff_t i;
    NN_MASK_T m;
    NN_VEC vc = NN_SET1(c), vb = NN_SET1(beta);
    for (i = 0; i + NN_VL <= n; i += NN_VL)
        NN_STORE(z + i, NN_FN(nn_vsigmoid)(NN_LOAD(a + i), vc, vb));
    if (i < n) {
        m = NN_MASK((int)(n - i));
        NN_MSTORE(z + i, m, NN_FN(nn_vsigmoid)(NN_MLOAD(a + i, m), vc, vb));
    }
}

/* 1 when every one of the n values of x is finite and lies in [lo, hi]: vector compares,
 * checked every 1024 values (NaN fails every ordered compare; +-inf fails |x| <= max) */
NN_TARGET static int NN_FN(nn_all_finite_in)(const NN_T* x, ptrdiff_t n, NN_T lo, NN_T hi)
{
    const NN_VEC vlo = NN_SET1(lo), vhi = NN_SET1(hi);
    const NN_VEC big = NN_SET1(sizeof(NN_T) == 4 ? (NN_T)FLT_MAX : (NN_T)DBL_MAX);
    NN_OK_T ok = NN_OK_ALL_TRUE();
    ptrdiff_t i, j;
    NN_T v;
    for (i = 0; i + NN_VL <= n; i += NN_VL) {
        ok = NN_OK_AND(ok, NN_OK_IN(NN_LOAD(x + i), vlo, vhi, big));
        if ((i & 1023) == 1024 - NN_VL && !NN_OK_ALL(ok))
            return 0;
    }
    if (!NN_OK_ALL(ok))
        return 0;
    for (j = i; j < n; j++) {
        v = x[j];
        if (!(v >= lo && v <= hi && (v - v) == 0))
            return 0;
    }
    return 1;
}

/* m / (sqrt(v) + eps) for v >= 0, eps > 0. Where the ISA has estimate instructions, without
 * the divider (whose sqrt and div took 5 cycles a double, most of an Adam step on 784-256-10):
 * 1/sqrt(v) and 1/d from their 12- or 14-bit estimates, refined by NN_RECIP_SQRT_STEPS Newton
 * steps each to the type's precision (to an ulp or two of the divided result); v = 0 and
 * v = inf, where the estimate's Newton step breaks down, take sqrt(v) = v. */
NN_TARGET NN_INLINE NN_VEC NN_FN(nn_adam_ratio)(NN_VEC m, NN_VEC v, NN_VEC eps)
{
#if NN_RECIP_SQRT_STEPS > 0
    const NN_VEC half = NN_SET1((NN_T)0.5), three_halves = NN_SET1((NN_T)1.5);
    const NN_VEC one = NN_SET1((NN_T)1);
    NN_VEC y = NN_RSQRT_EST(v), h = NN_MUL(half, v), d, r;
    int i;
    for (i = 0; i < NN_RECIP_SQRT_STEPS; i++)      /* y *= 1.5 - v/2 y^2 */
        y = NN_MUL(y, NN_SUB(three_halves, NN_MUL(NN_MUL(h, y), y)));
    d = NN_ADD(NN_SELECT_SPECIAL(v, NN_MUL(v, y), v), eps);    /* sqrt(v) + eps */
    r = NN_RCP_EST(d);
    for (i = 0; i < NN_RECIP_SQRT_STEPS; i++)      /* r += r (1 - d r) */
        r = NN_FMA(r, NN_SUB(one, NN_MUL(d, r)), r);
    /* d = inf (v = inf) has 1/d = 0, where the step above gives NaN */
    return NN_MUL(m, NN_SELECT_SPECIAL(v, r, NN_DIV(one, d)));
#else
    return NN_DIV(m, NN_ADD(NN_SQRT(v), eps));
#endif
}

/* One Adam(W) step over n values, as _optim._adam without AMSGrad (see there):
 *   g_ = g + wd w;  w' = w shrink;  m = b1 m + c1 g_;  v = b2 v + c2 g_^2 (each 0 where it
 *   falls below the smallest normal number: see _optim._adam);
 *   w = w' - step * m / (sqrt(v) + eps)
 * a vector at a time. */
NN_TARGET static void NN_FN(nn_adam)(NN_T* w, const NN_T* g, NN_T* m, NN_T* v, ptrdiff_t n,
                                     const NN_ADAM_T* coeffs)
{
    const NN_T b1 = coeffs->b1, c1 = coeffs->c1, b2 = coeffs->b2, c2 = coeffs->c2;
    const NN_T eps = coeffs->eps, step = coeffs->step, wd = coeffs->wd;
    const NN_T shrink = coeffs->shrink;
    const NN_VEC vb1 = NN_SET1(b1), vc1 = NN_SET1(c1), vb2 = NN_SET1(b2), vc2 = NN_SET1(c2);
    const NN_VEC veps = NN_SET1(eps), vstep = NN_SET1(step), vwd = NN_SET1(wd);
    const NN_VEC vshrink = NN_SET1(shrink), vtiny = NN_SET1(NN_TINY);
    NN_VEC gi, wi, mi, vi;
    ptrdiff_t i;
    NN_T gs, ms, vs, d;
    for (i = 0; i + NN_VL <= n; i += NN_VL) {
        wi = NN_LOAD(w + i);
        gi = NN_ADD(NN_LOAD(g + i), NN_MUL(vwd, wi));
        mi = NN_FLUSH_TINY(NN_ADD(NN_MUL(vb1, NN_LOAD(m + i)), NN_MUL(vc1, gi)), vtiny);
        vi = NN_FLUSH_TINY(NN_ADD(NN_MUL(vb2, NN_LOAD(v + i)), NN_MUL(vc2, NN_MUL(gi, gi))),
                           vtiny);
        NN_STORE(m + i, mi);
        NN_STORE(v + i, vi);
        NN_STORE(w + i, NN_SUB(NN_MUL(wi, vshrink),
                               NN_MUL(vstep, NN_FN(nn_adam_ratio)(mi, vi, veps))));
    }
    for (; i < n; i++) {
        gs = g[i] + wd * w[i];
        ms = b1 * m[i] + c1 * gs;
        vs = b2 * v[i] + c2 * (gs * gs);
        ms = fabs(ms) < NN_TINY ? 0 : ms;
        vs = vs < NN_TINY ? 0 : vs;
        m[i] = ms;
        v[i] = vs;
        d = (NN_T)sqrt(vs) + eps;
        w[i] = w[i] * shrink - step * (ms / d);
    }
}

/* The largest of a row's n values (full = n rounded down to whole vectors; tail masks the
 * rest), and z[:n] *= inv: the two steps of a softmax row shared by its two ways. */
NN_TARGET NN_INLINE NN_T NN_FN(nn_row_max)(const NN_T* ar, ptrdiff_t n, ptrdiff_t full,
                                          NN_MASK_T tail)
{
    NN_VEC vmax = NN_SET1(-(NN_T)INFINITY);
    ptrdiff_t j;
    for (j = 0; j < full; j += NN_VL)
        vmax = NN_MAX(vmax, NN_LOAD(ar + j));
    if (j < n)
        vmax = NN_MAX(vmax, NN_MLOAD_OR(ar + j, tail, NN_SET1(-(NN_T)INFINITY)));
    return NN_HMAX(vmax);
}

NN_TARGET NN_INLINE void NN_FN(nn_row_scale)(NN_T* zr, ptrdiff_t n, ptrdiff_t full,
                                            NN_MASK_T tail, NN_T inv)
{
    const NN_VEC vinv = NN_SET1(inv);
    ptrdiff_t j;
    for (j = 0; j < full; j += NN_VL)
        NN_STORE(zr + j, NN_MUL(NN_LOAD(zr + j), vinv));
    if (j < n)
        NN_MSTORE(zr + j, tail, NN_MUL(NN_MLOAD(zr + j, tail), vinv));
}

/* z = exp(a - max) / sum(exp(a - max)) row by row over (m, n), and lse[r] = max + log(sum)
 * when lse is not NULL: as _kernels.activation_forward's softmax, with its exps a vector at a
 * time. */
NN_TARGET static void NN_FN(nn_softmax_rows)(const NN_T* a, NN_T* z, NN_T* lse, ptrdiff_t m,
                                             ptrdiff_t n)
{
    NN_VEC vsum, e, vmx;
    NN_MASK_T tail = NN_MASK((int)(n % NN_VL));
    ptrdiff_t r, j, full = n - n % NN_VL, r0, rows;
    NN_T mx, total, sums[NN_SUM_BLOCK];
    if (n < NN_SHORT_ROW) {
        /* short rows (an output layer of 10 classes): exps a vector or two per row would be
         * mostly empty. Instead z = a - max row by row, one vector exp over the whole block,
         * then the sums row by row; the max and the sums a masked vector at a time (the
         * scalar max compiled to a branch per value, mispredicted on the data: a 64-32-10
         * step spent 15% of its time there). */
        for (r = 0; r < m; r++) {
            const NN_T* ar = a + r * n;
            NN_T* zr = z + r * n;
            mx = NN_FN(nn_row_max)(ar, n, full, tail);
            vmx = NN_SET1(mx);
            for (j = 0; j < full; j += NN_VL)
                NN_STORE(zr + j, NN_SUB(NN_LOAD(ar + j), vmx));
            if (j < n)
                NN_MSTORE(zr + j, tail, NN_SUB(NN_MLOAD(ar + j, tail), vmx));
            if (lse != NULL)
                lse[r] = mx;
        }
        NN_FN(nn_exp)(z, z, m * n);
        /* the row sums of a block of rows first, then their reciprocals: a row's sum, its
         * division and its scaling made one chain of latencies, the next row's waiting */
        for (r0 = 0; r0 < m; r0 += NN_SUM_BLOCK) {
            rows = m - r0 < NN_SUM_BLOCK ? m - r0 : NN_SUM_BLOCK;
            for (r = 0; r < rows; r++) {
                const NN_T* zr = z + (r0 + r) * n;
                vsum = NN_ZERO();
                for (j = 0; j < full; j += NN_VL)
                    vsum = NN_ADD(vsum, NN_LOAD(zr + j));
                if (j < n)
                    vsum = NN_ADD(vsum, NN_MLOAD(zr + j, tail));
                sums[r] = NN_HSUM(vsum);
            }
            for (r = 0; r < rows; r++) {
                NN_FN(nn_row_scale)(z + (r0 + r) * n, n, full, tail, (NN_T)1 / sums[r]);
                if (lse != NULL)
                    lse[r0 + r] += NN_LOG(sums[r]);
            }
        }
        return;
    }
    for (r = 0; r < m; r++) {
        const NN_T* ar = a + r * n;
        NN_T* zr = z + r * n;
        mx = NN_FN(nn_row_max)(ar, n, full, tail);
        vmx = NN_SET1(mx);
        vsum = NN_ZERO();
        for (j = 0; j < full; j += NN_VL) {
            e = NN_FN(nn_vexp)(NN_SUB(NN_LOAD(ar + j), vmx));
            NN_STORE(zr + j, e);
            vsum = NN_ADD(vsum, e);
        }
        if (j < n) {
            e = NN_ZERO_OUTSIDE(NN_FN(nn_vexp)(NN_SUB(NN_MLOAD(ar + j, tail), vmx)), tail);
            NN_MSTORE(zr + j, tail, e);
            vsum = NN_ADD(vsum, e);
        }
        total = NN_HSUM(vsum);
        NN_FN(nn_row_scale)(zr, n, full, tail, (NN_T)1 / total);
        if (lse != NULL)
            lse[r] = mx + NN_LOG(total);
    }
}

/* out = beta * out + alpha * d.sum(axis=0) for d (m, n); beta == 0 never reads out */
NN_TARGET static void NN_FN(nn_column_sums)(const NN_T* d, NN_T* out, ptrdiff_t m, ptrdiff_t n,
                                            NN_T alpha, NN_T beta)
{
    NN_VEC acc;
    NN_MASK_T mask;
    ptrdiff_t r, j;
    int cols;
    for (j = 0; j < n; j += NN_VL) {
        cols = n - j < NN_VL ? (int)(n - j) : NN_VL;
        mask = NN_MASK(cols);
        acc = NN_ZERO();
        if (cols == NN_VL)
            for (r = 0; r < m; r++)
                acc = NN_ADD(acc, NN_LOAD(d + r * n + j));
        else
            for (r = 0; r < m; r++)
                acc = NN_ADD(acc, NN_MLOAD(d + r * n + j, mask));
        acc = NN_MUL(NN_SET1(alpha), acc);
        if (beta != 0)
            acc = NN_FMA(NN_SET1(beta), cols == NN_VL ? NN_LOAD(out + j)
                                                     : NN_MLOAD(out + j, mask), acc);
        if (cols == NN_VL)
            NN_STORE(out + j, acc);
        else
            NN_MSTORE(out + j, mask, acc);
    }
}

/* z = a where a > 0, else 0 (as _kernels.activation_forward's relu: NaN gives 0, which is
 * max's answer when its second operand is the 0); a == z allowed */
NN_TARGET static void NN_FN(nn_relu)(const NN_T* a, NN_T* z, ptrdiff_t n)
{
    const NN_VEC zero = NN_ZERO();
    ptrdiff_t i;
    for (i = 0; i + NN_VL <= n; i += NN_VL)
        NN_STORE(z + i, NN_MAX(NN_LOAD(a + i), zero));
    for (; i < n; i++)
        z[i] = a[i] > 0 ? a[i] : 0;
}

/* delta = delta where a > 0, else 0: relu's derivative applied in place */
NN_TARGET static void NN_FN(nn_relu_backward)(const NN_T* a, NN_T* delta, ptrdiff_t n)
{
    ptrdiff_t i;
    for (i = 0; i + NN_VL <= n; i += NN_VL)
        NN_STORE(delta + i, NN_KEEP_POS(NN_LOAD(a + i), NN_LOAD(delta + i)));
    for (; i < n; i++)
        delta[i] = a[i] > 0 ? delta[i] : 0;
}

#undef NN_EXP_CONSTANTS
#undef NN_EXP_CONSTANTS_

static const NN_TABLE NN_FN(nn_kernels) = {
    NN_FN(nn_gemm), NN_FN(nn_exp), NN_FN(nn_sigmoid), NN_FN(nn_softmax_rows),
    NN_FN(nn_column_sums), NN_FN(nn_all_finite_in), NN_FN(nn_adam), NN_FN(nn_relu),
    NN_FN(nn_relu_backward), NN_FN(nn_gemm_few), NN_NR, NN_MR,
};

#undef NN_NR
#undef NN_TABLE
#undef NN_FN
#undef NN_CAT
#undef NN_CAT_
#undef NN_T
#undef NN_SUFFIX
#undef NN_VL
#undef NN_VEC
#undef NN_ZERO
#undef NN_SET1
#undef NN_LOAD
#undef NN_STORE
#undef NN_MLOAD
#undef NN_MSTORE
#undef NN_FMA
#undef NN_MASK
#undef NN_ITYPE
#undef NN_CAST_I
#undef NN_CAST_F
#undef NN_IADD
#undef NN_ISUB
#undef NN_ISHL
#undef NN_ISET1
#undef NN_MAX
#undef NN_MIN
#undef NN_SUB
#undef NN_MUL
#undef NN_DIV
#undef NN_ABS
#undef NN_SELECT_GE0
#undef NN_KEEP_POS
#undef NN_FLUSH_TINY
#undef NN_TINY
#undef NN_ADAM_T
#undef NN_ADD
#undef NN_SQRT
#undef NN_MLOAD_OR
#undef NN_LOG
#undef NN_ZERO_OUTSIDE
#undef NN_HMAX
#undef NN_HSUM
#undef NN_RECIP_SQRT_STEPS
#undef NN_RSQRT_EST
#undef NN_RCP_EST
#undef NN_SELECT_SPECIAL
#undef NN_OK_T
#undef NN_OK_ALL_TRUE
#undef NN_OK_IN
#undef NN_OK_AND
#undef NN_OK_ALL
#undef NN_PF_ROWS
#undef NN_PF_MIN_STRIDE
