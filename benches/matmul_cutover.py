"""Measure where the core's three matmul paths overtake each other: the cut-overs in
nncore/_kernels_gemm.pxi (GEMM_SIMD_MIN_MNK, GEMM_BLAS_MIN_MNK, GEMM_LOOPS_MAX_MNK and the narrow
products' GEMM_NARROW_*).

    python benches/matmul_cutover.py            # both dtypes, prints a table

For each (m, n, k) that nncore's fused step runs (forward z_prev @ W, backward delta @ W.T,
weight gradient z_prev.T @ delta) it times the portable loops, the SIMD tiles of the CPU path
in force (AVX-512 or AVX2 + FMA; NNCORE_CPU=avx2 picks AVX2 on an AVX-512 CPU) and BLAS,
each as a nogil run of products (nncore._kernels.matmul_repeat), and names the fastest. (On an
AVX-512 CPU, OpenBLAS uses its AVX-512 kernels whatever NNCORE_CPU says: an AVX2 cut-over is
measured on an AVX2 CPU.)
"""
import sys
import time

import numpy as np

from nncore import _kernels


def time_matmul(A, B, C, trans_a, trans_b, path, reps):
    """Seconds per product of `reps` products C = op(A) @ op(B) run back to back."""
    start = time.perf_counter()
    _kernels.matmul_repeat(A, B, C, trans_a, trans_b, path, reps)
    return (time.perf_counter() - start) / reps

SHAPES = [  # (m, n, k) as in C(m, n) = op(A)(m, k) @ op(B)(k, n)
    (1, 4, 3), (1, 2, 4), (3, 4, 1), (4, 4, 4), (8, 4, 4), (16, 4, 3), (8, 8, 8), (32, 2, 4),
    (32, 4, 3), (16, 8, 4), (4, 64, 4),
    (1, 32, 64), (1, 10, 32), (32, 10, 32), (32, 32, 64), (64, 32, 32), (32, 64, 32),
    (64, 64, 64), (32, 128, 64), (128, 64, 32), (64, 128, 128), (64, 256, 64),
    (128, 128, 128), (64, 10, 256), (256, 10, 256), (64, 256, 784), (128, 256, 256),
    (256, 256, 256), (256, 512, 256), (256, 1024, 256),
    # narrow (GEMM_NARROW_*): outputs of 1 or 3 values and 10 classes, small and larger, and
    # transposed-A widths around 5/8 of a tile
    (32, 1, 128), (64, 1, 256), (256, 1, 64), (32, 3, 64), (200, 3, 64), (16, 10, 32),
    (512, 10, 128), (1024, 10, 256), (128, 12, 128), (128, 20, 128), (128, 24, 128),
]
CASES = {"NN": (False, False), "NT": (False, True), "TN": (True, False)}


def best_time(A, B, C, ta, tb, path, budget=0.03):
    """Best of 5 of the mean time per product over a run of about `budget` seconds."""
    once = time_matmul(A, B, C, ta, tb, path, 1)
    reps = max(1, int(budget / max(once, 1e-8)))
    return min(time_matmul(A, B, C, ta, tb, path, reps) for _ in range(5))


def operands(case, m, n, k, dtype, rng):
    ta, tb = CASES[case]
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return A, B, np.zeros((m, n), dtype=dtype), ta, tb


def main():
    rng = np.random.default_rng(0)
    simd = _kernels.cpu_path() != "portable"
    paths = ["loops", "simd", "blas"] if simd else ["loops", "blas"]
    letter = {"loops": "L", "simd": "S", "blas": "B"}
    print(f"cpu path: {_kernels.cpu_path()}; BLAS: {_kernels.blas_info()}")
    for dtype in (np.float32, np.float64):
        print(f"\n{np.dtype(dtype).name}: microseconds per product ({' / '.join(paths)}), "
              f"then the fastest")
        print(f"{'m':>5} {'n':>5} {'k':>5} {'m*n*k':>9}  " + "  ".join(f"{c:>26}" for c in CASES))
        for m, n, k in SHAPES:
            cells = []
            for case in CASES:
                A, B, C, ta, tb = operands(case, m, n, k, dtype, rng)
                times = {p: best_time(A, B, C, ta, tb, p) for p in paths}
                fastest = min(times, key=times.get)
                cells.append("/".join(f"{t * 1e6:.3g}" for t in times.values()).rjust(24)
                             + " " + letter[fastest])
            print(f"{m:5d} {n:5d} {k:5d} {m * n * k:9d}  " + "  ".join(cells))
        print("(L = loops, S = SIMD tiles, B = BLAS fastest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
