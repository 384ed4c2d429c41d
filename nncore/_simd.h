/* nncore's own SIMD kernels (matrix products for small and mid-size shapes, exp, the sigmoid,
 * the finite check, the Adam update), chosen at run time.
 *
 * Written in C with intrinsics (included from _kernels.pyx) because Cython cannot express
 * SIMD registers or per-function target attributes. Each function here is compiled for its
 * instruction set with __attribute__((target)), while the rest of the extension stays
 * portable x86-64: one wheel imports on any CPU and runs these only where nn_cpu_level()
 * says the CPU (and the OS) support them. Elsewhere (other compilers, other architectures)
 * NN_HAVE_SIMD_KERNELS is 0 and the portable loops in _kernels.pyx run instead.
 *
 * Each kernel below exists per instruction set and type (nn_gemm_avx2_f32, ...), gathered in
 * the tables nn_kernels_{avx2,avx512}_{f32,f64} (nn_kernels_for_f32(level) picks one):
 *
 * nn_gemm_{...}(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, bias)
 *     C = alpha * op(A) @ op(B) + beta * C  [+ bias[None, :]],  row-major, as
 *     _kernels.gemm; bias (n,) may be NULL. beta == 0 never reads C.
 *
 * How: C is computed in tiles of MR = 6 rows by NR = 2 vectors (AVX2: 16 floats or 8
 * doubles; AVX-512: 32 or 16), twelve accumulators kept in registers across the whole k
 * loop, each step one broadcast of an A value per row and two loads of a B row; alpha, beta
 * and the bias are applied once per tile, as it is stored. B rows are read in place for
 * op(B) = B (row-major, contiguous along n); for op(B) = B.T, panels of NR columns by KC rows
 * are first copied (transposed) into a buffer on the stack, so that the same tile code reads
 * them. op(A) is read through two strides, so trans_a costs nothing. Columns past the last
 * full panel use masked loads and stores, which never touch memory outside the matrices.
 *
 * nn_exp_{...}(x, y, n): y = exp(x) over n values (x == y allowed), to about 1 ulp.
 * nn_sigmoid_{...}(a, z, n, c, beta): z = c / (1 + exp(-beta * a)) over n values, by the same
 *     formula as _kernels._sigmoid (exp of -|x| only, so it never overflows).
 * nn_all_finite_in_{...}(x, n, lo, hi): 1 when all n values are finite and in [lo, hi].
 * nn_adam_{...}(w, g, m, v, n, coeffs): one Adam(W) step over n values, as _optim._adam
 *     (moments below the smallest normal number stored as 0), with the step's coefficients
 *     in a struct nn_adam_coeffs_{f32,f64}.
 * nn_softmax_rows_{...}(a, z, lse, m, n): z = softmax(a) row by row, lse = logsumexp (or NULL).
 * nn_column_sums_{...}(d, out, m, n, alpha, beta): out = beta * out + alpha * d.sum(0).
 * nn_relu_{...}(a, z, n): z = a where a > 0, else 0 (NaN included), over n values (a == z
 *     allowed); nn_relu_backward_{...}(a, delta, n): delta = 0 where not a > 0, in place.
 *
 * The code is written once (_simd_impl.h) and included once per instruction set and
 * type, with the intrinsics as macros.
 */
#ifndef NNCORE_SIMD_H
#define NNCORE_SIMD_H

#include <stddef.h>

#define NN_CPU_PORTABLE 0
#define NN_CPU_AVX2 1      /* AVX2 + FMA */
#define NN_CPU_AVX512 2    /* AVX-512 F (with AVX2 + FMA) */

/* The kernels of one instruction set for one type, as a table of function pointers:
 * _kernels.pyx and _optim.pyx call through the table nn_kernels_for_{f32,f64}(level) gives,
 * NULL on the portable path (and where this header has no SIMD kernels at all). */
/* The coefficients of one Adam(W) step (see _optim._adam), per type. */
#define NN_ADAM_COEFFS(T, NAME) typedef struct { T b1, c1, b2, c2, eps, step, wd, shrink; } NAME;
NN_ADAM_COEFFS(float, nn_adam_coeffs_f32)
NN_ADAM_COEFFS(double, nn_adam_coeffs_f64)
#undef NN_ADAM_COEFFS

#define NN_KERNEL_TABLE(T, ADAM, NAME)                                                        \
    typedef struct {                                                                          \
        void (*gemm)(int, int, int, int, int, T, const T*, int, const T*, int, T, T*, int,    \
                     const T*);                                                               \
        void (*exp)(const T*, T*, ptrdiff_t);                                                 \
        void (*sigmoid)(const T*, T*, ptrdiff_t, T, T);                                       \
        void (*softmax_rows)(const T*, T*, T*, ptrdiff_t, ptrdiff_t);                         \
        void (*column_sums)(const T*, T*, ptrdiff_t, ptrdiff_t, T, T);                        \
        int (*all_finite_in)(const T*, ptrdiff_t, T, T);                                      \
        void (*adam)(T*, const T*, T*, T*, ptrdiff_t, const ADAM*);                          \
        void (*relu)(const T*, T*, ptrdiff_t);                                                \
        void (*relu_backward)(const T*, T*, ptrdiff_t);                                       \
        void (*gemm_few)(int, int, int, int, int, T, const T*, int, const T*, int, T, T*,    \
                         int, const T*);                                                      \
        int tile_columns;   /* NR: the columns of one gemm tile, two vectors */            \
        int tile_rows;      /* MR: the rows of one gemm tile */                               \
    } NAME;
NN_KERNEL_TABLE(float, nn_adam_coeffs_f32, nn_kernels_f32)
NN_KERNEL_TABLE(double, nn_adam_coeffs_f64, nn_kernels_f64)
#undef NN_KERNEL_TABLE

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define NN_HAVE_SIMD_KERNELS 1
#include <immintrin.h>

/* The best instruction set that the CPU has and the OS saves the registers of (GCC's and
 * clang's __builtin_cpu_supports check both). */
static inline int nn_cpu_level(void)
{
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return NN_CPU_PORTABLE;
    return __builtin_cpu_supports("avx512f") ? NN_CPU_AVX512 : NN_CPU_AVX2;
}

#define NN_INLINE static inline __attribute__((always_inline))
#include <float.h>
#include <math.h>
/* exp's constants per type: the clamp of x (exp underflows to 0 below it, overflows to inf
 * above), ln 2 in two parts (Cody and Waite), 1.5 * 2**mantissa bits (adding it rounds to an
 * integer), the exponent's bits and bias */
#define NN_EXP_CONSTANTS_float -104.0f, 89.0f, 0.693359375f, -2.12194440e-4f, 12582912.0f, 23, 127
#define NN_EXP_CONSTANTS_double -746.0, 710.0, 6.93147180369123816490e-01, \
    1.90821492927058770002e-10, 6755399441055744.0, 52, 1023
#define NN_KC 256    /* rows of a transposed B panel held on the stack */

/* ---- AVX2 + FMA ---- */
#define NN_TARGET __attribute__((target("avx2,fma")))
#define NN_MR 6      /* rows per tile: 12 accumulators of the 16 vector registers */
#define NN_FEW_ROWS 6   /* rows of C in one block of the few-row kernel: up to a tile's */

/* horizontal max and sum of one vector (AVX-512 has them as intrinsics) */
NN_TARGET static inline float nn_hmax_avx2_f32(__m256 v)
{
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_max_ss(x, _mm_shuffle_ps(x, x, 1)));
}
NN_TARGET static inline float nn_hsum_avx2_f32(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_shuffle_ps(x, x, 1)));
}
NN_TARGET static inline double nn_hmax_avx2_f64(__m256d v)
{
    __m128d x = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(x, _mm_unpackhi_pd(x, x)));
}
NN_TARGET static inline double nn_hsum_avx2_f64(__m256d v)
{
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)));
}
#define NN_MASK_T __m256i

#define NN_T float
#define NN_SUFFIX avx2_f32
#define NN_LOG(x) logf(x)
#define NN_TABLE nn_kernels_f32
#define NN_MLOAD_OR(p, m, fill) _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m))
#define NN_ZERO_OUTSIDE(v, m) _mm256_and_ps(v, _mm256_castsi256_ps(m))
#define NN_HMAX(v) nn_hmax_avx2_f32(v)
#define NN_HSUM(v) nn_hsum_avx2_f32(v)
#define NN_RECIP_SQRT_STEPS 2   /* Newton steps after the 12-bit estimates */
#define NN_RSQRT_EST(x) _mm256_rsqrt_ps(x)
#define NN_RCP_EST(x) _mm256_rcp_ps(x)
#define NN_SELECT_SPECIAL(v, est, exact) _mm256_blendv_ps(est, exact, _mm256_or_ps( \
    _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_EQ_OQ), \
    _mm256_cmp_ps(v, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ)))
#define NN_ADD(a, b) _mm256_add_ps(a, b)
#define NN_SQRT(x) _mm256_sqrt_ps(x)
#define NN_OK_T __m256
#define NN_OK_ALL_TRUE() _mm256_castsi256_ps(_mm256_set1_epi32(-1))
#define NN_OK_IN(x, lo, hi, big) _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(x, lo, _CMP_GE_OQ), \
    _mm256_cmp_ps(x, hi, _CMP_LE_OQ)), _mm256_cmp_ps(NN_ABS(x), big, _CMP_LE_OQ))
#define NN_OK_AND(a, b) _mm256_and_ps(a, b)
#define NN_OK_ALL(a) (_mm256_movemask_ps(a) == 0xFF)
#define NN_ITYPE __m256i
#define NN_CAST_I(v) _mm256_castps_si256(v)
#define NN_CAST_F(i) _mm256_castsi256_ps(i)
#define NN_IADD(a, b) _mm256_add_epi32(a, b)
#define NN_ISUB(a, b) _mm256_sub_epi32(a, b)
#define NN_ISHL(a, bits) _mm256_slli_epi32(a, bits)
#define NN_ISET1(x) _mm256_set1_epi32(x)
#define NN_MAX(a, b) _mm256_max_ps(a, b)
#define NN_MIN(a, b) _mm256_min_ps(a, b)
#define NN_SUB(a, b) _mm256_sub_ps(a, b)
#define NN_MUL(a, b) _mm256_mul_ps(a, b)
#define NN_DIV(a, b) _mm256_div_ps(a, b)
#define NN_ABS(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)
#define NN_FLUSH_TINY(x, tiny) _mm256_andnot_ps(_mm256_cmp_ps(NN_ABS(x), tiny, _CMP_LT_OQ), x)
#define NN_TINY FLT_MIN
#define NN_ADAM_T nn_adam_coeffs_f32
#define NN_SELECT_GE0(x, ge, lt) _mm256_blendv_ps(lt, ge, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ))
#define NN_KEEP_POS(x, d) _mm256_and_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ), d)
#define NN_VL 8
#define NN_VEC __m256
#define NN_ZERO() _mm256_setzero_ps()
#define NN_SET1(x) _mm256_set1_ps(x)
#define NN_LOAD(p) _mm256_loadu_ps(p)
#define NN_STORE(p, v) _mm256_storeu_ps(p, v)
#define NN_MLOAD(p, m) _mm256_maskload_ps(p, m)
#define NN_MSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#define NN_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define NN_MASK(count) _mm256_cmpgt_epi32(_mm256_set1_epi32(count), \
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#include "_simd_impl.h"

#define NN_T double
#define NN_SUFFIX avx2_f64
#define NN_LOG(x) log(x)
#define NN_TABLE nn_kernels_f64
#define NN_MLOAD_OR(p, m, fill) _mm256_blendv_pd(fill, _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m))
#define NN_ZERO_OUTSIDE(v, m) _mm256_and_pd(v, _mm256_castsi256_pd(m))
#define NN_HMAX(v) nn_hmax_avx2_f64(v)
#define NN_HSUM(v) nn_hsum_avx2_f64(v)
#define NN_RECIP_SQRT_STEPS 0   /* no estimate instructions for double: exact sqrt, div */
#define NN_ADD(a, b) _mm256_add_pd(a, b)
#define NN_SQRT(x) _mm256_sqrt_pd(x)
#define NN_OK_T __m256d
#define NN_OK_ALL_TRUE() _mm256_castsi256_pd(_mm256_set1_epi32(-1))
#define NN_OK_IN(x, lo, hi, big) _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(x, lo, _CMP_GE_OQ), \
    _mm256_cmp_pd(x, hi, _CMP_LE_OQ)), _mm256_cmp_pd(NN_ABS(x), big, _CMP_LE_OQ))
#define NN_OK_AND(a, b) _mm256_and_pd(a, b)
#define NN_OK_ALL(a) (_mm256_movemask_pd(a) == 0xF)
#define NN_ITYPE __m256i
#define NN_CAST_I(v) _mm256_castpd_si256(v)
#define NN_CAST_F(i) _mm256_castsi256_pd(i)
#define NN_IADD(a, b) _mm256_add_epi64(a, b)
#define NN_ISUB(a, b) _mm256_sub_epi64(a, b)
#define NN_ISHL(a, bits) _mm256_slli_epi64(a, bits)
#define NN_ISET1(x) _mm256_set1_epi64x(x)
#define NN_MAX(a, b) _mm256_max_pd(a, b)
#define NN_MIN(a, b) _mm256_min_pd(a, b)
#define NN_SUB(a, b) _mm256_sub_pd(a, b)
#define NN_MUL(a, b) _mm256_mul_pd(a, b)
#define NN_DIV(a, b) _mm256_div_pd(a, b)
#define NN_ABS(x) _mm256_andnot_pd(_mm256_set1_pd(-0.0), x)
#define NN_FLUSH_TINY(x, tiny) _mm256_andnot_pd(_mm256_cmp_pd(NN_ABS(x), tiny, _CMP_LT_OQ), x)
#define NN_TINY DBL_MIN
#define NN_ADAM_T nn_adam_coeffs_f64
#define NN_SELECT_GE0(x, ge, lt) _mm256_blendv_pd(lt, ge, _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_GE_OQ))
#define NN_KEEP_POS(x, d) _mm256_and_pd(_mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_GT_OQ), d)
#define NN_VL 4
#define NN_VEC __m256d
#define NN_ZERO() _mm256_setzero_pd()
#define NN_SET1(x) _mm256_set1_pd(x)
#define NN_LOAD(p) _mm256_loadu_pd(p)
#define NN_STORE(p, v) _mm256_storeu_pd(p, v)
#define NN_MLOAD(p, m) _mm256_maskload_pd(p, m)
#define NN_MSTORE(p, m, v) _mm256_maskstore_pd(p, m, v)
#define NN_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define NN_MASK(count) _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), \
                                          _mm256_setr_epi64x(0, 1, 2, 3))
#include "_simd_impl.h"

#undef NN_TARGET
#undef NN_MASK_T

/* ---- AVX-512 F ---- */
#undef NN_MR
#define NN_TARGET __attribute__((target("avx512f,avx2,fma")))
#define NN_MR 8      /* rows per tile: 16 accumulators of the 32 vector registers */
#undef NN_FEW_ROWS
#define NN_FEW_ROWS 8
/* lanes [0, count) of a vector of NN_VL lanes, as a k-mask */
#define NN_LANES(count) ((count) <= 0 ? 0u : (count) >= NN_VL ? (1u << NN_VL) - 1u \
                                                                : (1u << (count)) - 1u)

#define NN_MASK_T __mmask16
#define NN_T float
#define NN_SUFFIX avx512_f32
#define NN_LOG(x) logf(x)
#define NN_TABLE nn_kernels_f32
#define NN_MLOAD_OR(p, m, fill) _mm512_mask_loadu_ps(fill, m, p)
#define NN_ZERO_OUTSIDE(v, m) _mm512_maskz_mov_ps(m, v)
#define NN_HMAX(v) _mm512_reduce_max_ps(v)
#define NN_HSUM(v) _mm512_reduce_add_ps(v)
#define NN_RECIP_SQRT_STEPS 1   /* Newton steps after the 14-bit estimates */
#define NN_RSQRT_EST(x) _mm512_rsqrt14_ps(x)
#define NN_RCP_EST(x) _mm512_rcp14_ps(x)
#define NN_SELECT_SPECIAL(v, est, exact) _mm512_mask_blend_ps( \
    _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_EQ_OQ) \
    | _mm512_cmp_ps_mask(v, _mm512_set1_ps(INFINITY), _CMP_EQ_OQ), est, exact)
#define NN_ADD(a, b) _mm512_add_ps(a, b)
#define NN_SQRT(x) _mm512_sqrt_ps(x)
#define NN_OK_T __mmask16
#define NN_OK_ALL_TRUE() ((__mmask16)0xFFFF)
#define NN_OK_IN(x, lo, hi, big) (_mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ) \
    & _mm512_cmp_ps_mask(x, hi, _CMP_LE_OQ) & _mm512_cmp_ps_mask(NN_ABS(x), big, _CMP_LE_OQ))
#define NN_OK_AND(a, b) ((NN_OK_T)((a) & (b)))
#define NN_OK_ALL(a) ((a) == (NN_OK_T)0xFFFF)
#define NN_ITYPE __m512i
#define NN_CAST_I(v) _mm512_castps_si512(v)
#define NN_CAST_F(i) _mm512_castsi512_ps(i)
#define NN_IADD(a, b) _mm512_add_epi32(a, b)
#define NN_ISUB(a, b) _mm512_sub_epi32(a, b)
#define NN_ISHL(a, bits) _mm512_slli_epi32(a, bits)
#define NN_ISET1(x) _mm512_set1_epi32(x)
#define NN_MAX(a, b) _mm512_max_ps(a, b)
#define NN_MIN(a, b) _mm512_min_ps(a, b)
#define NN_SUB(a, b) _mm512_sub_ps(a, b)
#define NN_MUL(a, b) _mm512_mul_ps(a, b)
#define NN_DIV(a, b) _mm512_div_ps(a, b)
#define NN_ABS(x) _mm512_abs_ps(x)
#define NN_FLUSH_TINY(x, tiny) _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(NN_ABS(x), tiny, _CMP_LT_OQ), _mm512_setzero_ps())
#define NN_TINY FLT_MIN
#define NN_ADAM_T nn_adam_coeffs_f32
#define NN_SELECT_GE0(x, ge, lt) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ), lt, ge)
#define NN_KEEP_POS(x, d) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), d)
#define NN_VL 16
#define NN_VEC __m512
#define NN_ZERO() _mm512_setzero_ps()
#define NN_SET1(x) _mm512_set1_ps(x)
#define NN_LOAD(p) _mm512_loadu_ps(p)
#define NN_STORE(p, v) _mm512_storeu_ps(p, v)
#define NN_MLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define NN_MSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define NN_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define NN_MASK(count) ((__mmask16)NN_LANES(count))
#include "_simd_impl.h"
#undef NN_MASK_T

#define NN_MASK_T __mmask8
#define NN_T double
#define NN_SUFFIX avx512_f64
#define NN_LOG(x) log(x)
#define NN_TABLE nn_kernels_f64
#define NN_MLOAD_OR(p, m, fill) _mm512_mask_loadu_pd(fill, m, p)
#define NN_ZERO_OUTSIDE(v, m) _mm512_maskz_mov_pd(m, v)
#define NN_HMAX(v) _mm512_reduce_max_pd(v)
#define NN_HSUM(v) _mm512_reduce_add_pd(v)
#define NN_RECIP_SQRT_STEPS 2   /* Newton steps after the 14-bit estimates */
#define NN_RSQRT_EST(x) _mm512_rsqrt14_pd(x)
#define NN_RCP_EST(x) _mm512_rcp14_pd(x)
#define NN_SELECT_SPECIAL(v, est, exact) _mm512_mask_blend_pd( \
    _mm512_cmp_pd_mask(v, _mm512_setzero_pd(), _CMP_EQ_OQ) \
    | _mm512_cmp_pd_mask(v, _mm512_set1_pd(INFINITY), _CMP_EQ_OQ), est, exact)
#define NN_ADD(a, b) _mm512_add_pd(a, b)
#define NN_SQRT(x) _mm512_sqrt_pd(x)
#define NN_OK_T __mmask8
#define NN_OK_ALL_TRUE() ((__mmask8)0xFF)
#define NN_OK_IN(x, lo, hi, big) (_mm512_cmp_pd_mask(x, lo, _CMP_GE_OQ) \
    & _mm512_cmp_pd_mask(x, hi, _CMP_LE_OQ) & _mm512_cmp_pd_mask(NN_ABS(x), big, _CMP_LE_OQ))
#define NN_OK_AND(a, b) ((NN_OK_T)((a) & (b)))
#define NN_OK_ALL(a) ((a) == (NN_OK_T)0xFF)
#define NN_ITYPE __m512i
#define NN_CAST_I(v) _mm512_castpd_si512(v)
#define NN_CAST_F(i) _mm512_castsi512_pd(i)
#define NN_IADD(a, b) _mm512_add_epi64(a, b)
#define NN_ISUB(a, b) _mm512_sub_epi64(a, b)
#define NN_ISHL(a, bits) _mm512_slli_epi64(a, bits)
#define NN_ISET1(x) _mm512_set1_epi64(x)
#define NN_MAX(a, b) _mm512_max_pd(a, b)
#define NN_MIN(a, b) _mm512_min_pd(a, b)
#define NN_SUB(a, b) _mm512_sub_pd(a, b)
#define NN_MUL(a, b) _mm512_mul_pd(a, b)
#define NN_DIV(a, b) _mm512_div_pd(a, b)
#define NN_ABS(x) _mm512_abs_pd(x)
#define NN_FLUSH_TINY(x, tiny) _mm512_mask_mov_pd(x, _mm512_cmp_pd_mask(NN_ABS(x), tiny, _CMP_LT_OQ), _mm512_setzero_pd())
#define NN_TINY DBL_MIN
#define NN_ADAM_T nn_adam_coeffs_f64
#define NN_SELECT_GE0(x, ge, lt) _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_GE_OQ), lt, ge)
#define NN_KEEP_POS(x, d) _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_GT_OQ), d)
#define NN_VL 8
#define NN_VEC __m512d
#define NN_ZERO() _mm512_setzero_pd()
#define NN_SET1(x) _mm512_set1_pd(x)
#define NN_LOAD(p) _mm512_loadu_pd(p)
#define NN_STORE(p, v) _mm512_storeu_pd(p, v)
#define NN_MLOAD(p, m) _mm512_maskz_loadu_pd(m, p)
#define NN_MSTORE(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define NN_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define NN_MASK(count) ((__mmask8)NN_LANES(count))
#include "_simd_impl.h"
#undef NN_MASK_T

#undef NN_TARGET
#undef NN_LANES
#undef NN_MR
#undef NN_FEW_ROWS

static inline const nn_kernels_f32* nn_kernels_for_f32(int level)
{
    return level == NN_CPU_AVX512 ? &nn_kernels_avx512_f32
           : level == NN_CPU_AVX2 ? &nn_kernels_avx2_f32 : NULL;
}

static inline const nn_kernels_f64* nn_kernels_for_f64(int level)
{
    return level == NN_CPU_AVX512 ? &nn_kernels_avx512_f64
           : level == NN_CPU_AVX2 ? &nn_kernels_avx2_f64 : NULL;
}

#else  /* no SIMD kernels for this compiler or architecture: the portable loops run */
#define NN_HAVE_SIMD_KERNELS 0

static inline int nn_cpu_level(void) { return NN_CPU_PORTABLE; }
static inline const nn_kernels_f32* nn_kernels_for_f32(int level) { (void)level; return NULL; }
static inline const nn_kernels_f64* nn_kernels_for_f64(int level) { (void)level; return NULL; }
#endif

#endif /* NNCORE_SIMD_H */
