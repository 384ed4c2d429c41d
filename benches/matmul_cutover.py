"""Measure where BLAS overtakes the core's own matmul loops: the cut-over in _kernels.pyx.

    python benches/matmul_cutover.py            # both dtypes, prints a table

For each (m, n, k) that nncore's fused step runs (forward z_prev @ W, backward delta @ W.T,
weight gradient z_prev.T @ delta) it times the core's loops and BLAS through
nncore.bench.time_matmul (nogil runs of the products) and marks the faster one.
GEMM_BLAS_MIN_MNK_* in nncore/_kernels.pyx is set from this table: the m * n * k above which
BLAS wins.
"""
import sys
import numpy as np

from nncore.bench import time_matmul

SHAPES = [  # (m, n, k) as in C(m, n) = op(A)(m, k) @ op(B)(k, n)
    (1, 4, 3), (1, 2, 4), (3, 4, 1), (4, 4, 4), (8, 4, 4), (16, 4, 3), (8, 8, 8), (32, 2, 4),
    (32, 4, 3), (16, 8, 4), (4, 64, 4),
    (1, 32, 64), (1, 10, 32), (32, 10, 32), (32, 32, 64), (64, 32, 32), (32, 64, 32),
    (64, 64, 64), (32, 128, 64), (128, 64, 32), (64, 128, 128), (64, 256, 64),
    (128, 128, 128), (64, 10, 256), (256, 10, 256), (64, 256, 784),
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
    for dtype in (np.float32, np.float64):
        print(f"\n{np.dtype(dtype).name}: microseconds per product (loops / BLAS)")
        print(f"{'m':>5} {'n':>5} {'k':>5} {'m*n*k':>9}  " + "  ".join(f"{c:>17}" for c in CASES))
        for m, n, k in SHAPES:
            cells = []
            for case in CASES:
                A, B, C, ta, tb = operands(case, m, n, k, dtype, rng)
                tl = best_time(A, B, C, ta, tb, "loops")
                tb_ = best_time(A, B, C, ta, tb, "blas")
                cells.append(f"{tl * 1e6:7.2f}/{tb_ * 1e6:7.2f}{'*' if tb_ < tl else ' '}")
            print(f"{m:5d} {n:5d} {k:5d} {m * n * k:9d}  " + "  ".join(cells))
        print("(* = BLAS faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
