"""The cut-over sweep: every product nncore's step runs on the five benchmark networks, at
rows m in {1, 2, 3, 4, 6, 8, 16, 32, 64, 128, 256}, timed on every path of the cpu path in
force and against NumPy's matmul of the same operands.

    python benches/cutover_sweep.py                 # both dtypes, the whole sweep
    NNCORE_CPU=avx2 python benches/cutover_sweep.py # the AVX2 kernels on an AVX-512 CPU
    python benches/cutover_sweep.py --dtype float32 --rows 1 2 3

For a layer (n_in, n_out) and m rows, the three products of a training step:
  NN  forward          a = z_prev @ W         C (m, n_out),  inner n_in
  NT  backward         g = delta @ W.T        C (m, n_in),   inner n_out
  TN  weight gradient  dW = z_prev.T @ delta  C (n_in, n_out), inner m
Each line shows the microseconds per product of the core's loops, SIMD tiles and few-row kernel
(each on nncore._kernels.num_threads() threads, and on one; nogil runs of products,
nncore._kernels.matmul_repeat: no Python in the loop), then NumPy's ``np.matmul(opA, opB,
out=C)`` called from Python as a user would, the path that ``gemm`` chooses, the fastest path,
and numpy / chosen (above 1: the core is faster). The last lines give the worst ratio against
NumPy, against the core's own call of the same BLAS, and against NumPy where the core's own
code (not BLAS) was chosen, how many products of each chosen path ran below 0.9x NumPy, and the
products where the choice was not the fastest path by more than 10%.

    python benches/cutover_sweep.py --bandwidth     # one row times W against one pass over W

times the one-row products of the large layers (the few-row kernel on its threads and on one)
against a single-threaded pass over W (NumPy's W.max()) and two threads' passes over its halves:
the memory-bandwidth bound on one core and on two; then the bandwidth of one and two
cores over arrays from 4 MB (in cache) to 512 MB.

On an AVX-512 CPU, NNCORE_CPU=avx2 runs the core's AVX2 kernels, but NumPy's OpenBLAS still
uses its AVX-512 kernels: the AVX2 columns are then measured against an AVX-512 BLAS.
"""
import argparse
import sys
import time

import numpy as np

from nncore import _kernels
from nncore.bench import CONFIGS
from nncore.bench.serving import rest_until_idle

ROWS = (1, 2, 3, 4, 6, 8, 16, 32, 64, 128, 256)
CASES = {"NN": (False, False), "NT": (False, True), "TN": (True, False)}
# the portable loops are timed only up to this many multiply-adds (they are never chosen
# above a few hundred; timing them on a 1024 x 1024 x 256 product takes seconds)
LOOPS_MAX_MNK = 1 << 20
# timed for the record, never the choice: NumPy, and the core's paths held to one thread
ONE_THREAD = ("numpy", "simd1", "few1")


def layer_shapes():
    """The distinct (n_in, n_out) of the benchmark networks' layers."""
    seen = []
    for config in CONFIGS:
        for shape in config.shapes:
            if shape not in seen:
                seen.append(shape)
    return seen


def products(n_in, n_out, m):
    """{case: (m, n, k)} of a step's three products on a layer (n_in, n_out) at m rows."""
    return {"NN": (m, n_out, n_in), "NT": (m, n_in, n_out), "TN": (n_in, n_out, m)}


def _calibrate(run, budget):
    """Calls of run(reps) that take about `budget` seconds."""
    start = time.perf_counter()
    run(1)
    once = time.perf_counter() - start
    return max(1, min(100000, int(budget / max(once, 1e-7))))


def _one_thread(A, B, C, ta, tb, path, reps):
    """reps products C = op(A) op(B) by `path` on the caller's thread alone."""
    threads = _kernels.set_num_threads(1)
    try:
        _kernels.matmul_repeat(A, B, C, ta, tb, path, reps)
    finally:
        _kernels.set_num_threads(threads)


def time_case(case, m, n, k, dtype, rng, budget, repeats=5):
    """{path: seconds per product} for the core's paths, "simd1" and "few1" (the tiles and the
    few-row kernel on one thread, when num_threads() > 1) and "numpy", and the path gemm
    chooses. The paths take
    turns, `repeats` rounds, the best round of each counting: on a shared or throttled machine
    each sees the same conditions."""
    ta, tb = CASES[case]
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C = np.zeros((m, n), dtype=dtype)
    paths = ["loops", "simd", "few", "blas"] if _kernels.cpu_path() != "portable" else [
        "loops", "blas"]
    runs = {p: (lambda reps, p=p: _kernels.matmul_repeat(A, B, C, ta, tb, p, reps))
            for p in paths if not (p == "loops" and m * n * k > LOOPS_MAX_MNK)}
    if "few" in runs and _kernels.num_threads() > 1:
        for p in ("simd", "few"):
            runs[p + "1"] = lambda reps, p=p: _one_thread(A, B, C, ta, tb, p, reps)
    opA, opB = (A.T if ta else A), (B.T if tb else B)

    def numpy_run(reps):
        for _ in range(reps):
            np.matmul(opA, opB, out=C)
    runs["numpy"] = numpy_run
    reps = {p: _calibrate(run, budget) for p, run in runs.items()}
    times = dict.fromkeys(runs, float("inf"))
    # the core's own code first in each round, BLAS and NumPy last, each round after a rest
    # until the process's threads are idle: OpenBLAS's pool spins a core for about 0.1 s after
    # a call, which halves what a two-thread few-row product gets of the second core
    order = sorted(runs, key=lambda p: p in ("blas", "numpy"))
    for _ in range(repeats):
        rest_until_idle(0.002, 0.3)
        for p in order:
            start = time.perf_counter()
            runs[p](reps[p])
            times[p] = min(times[p], (time.perf_counter() - start) / reps[p])
    return times, _kernels.gemm_path(ta, tb, m, n, k, dtype)


def sweep(dtypes=("float32", "float64"), rows=ROWS, budget=0.004, out=sys.stdout, seed=0,
          layers=None):
    """Run the sweep, print it, and return its rows: (dtype, case, m, n, k, times, chosen)."""
    rng = np.random.default_rng(seed)
    results = []
    print(f"cpu path: {_kernels.cpu_path()} (of {_kernels.cpu_paths()}); "
          f"BLAS: {_kernels.blas_info().get('library')}", file=out)
    for dtype in dtypes:
        print(f"\n{dtype}: microseconds per product; loops / simd / simd on 1 thread / few "
              f"(simd and few on {_kernels.num_threads()} threads) / few on 1 thread / blas / "
              f"numpy, the chosen path, the fastest, numpy / chosen", file=out)
        for n_in, n_out in layers or layer_shapes():
            for m in rows:
                for case, (pm, pn, pk) in products(n_in, n_out, m).items():
                    times, chosen = time_case(case, pm, pn, pk, dtype, rng, budget)
                    cores = {p: t for p, t in times.items() if p not in ONE_THREAD}
                    fastest = min(cores, key=cores.get)
                    ratio = times["numpy"] / times[chosen]
                    cells = " ".join(f"{times[p] * 1e6:9.2f}" if p in times else f"{'-':>9}"
                                     for p in ("loops", "simd", "simd1", "few", "few1",
                                               "blas", "numpy"))
                    print(f"{n_in:5d}x{n_out:<5d} m={m:<4d} {case} ({pm:4d},{pn:4d},{pk:4d}) "
                          f"{cells}  {chosen:>5} {fastest:>5} {ratio:6.2f}", file=out,
                          flush=True)
                    results.append((dtype, case, pm, pn, pk, times, chosen))
    worst = min(results, key=lambda r: r[5]["numpy"] / r[5][r[6]])
    worst_blas = min(results, key=lambda r: r[5]["blas"] / r[5][r[6]])
    print(f"\nworst numpy / chosen: {worst[5]['numpy'] / worst[5][worst[6]]:.2f} at "
          f"{worst[0]} {worst[1]} (m, n, k) = {worst[2:5]} ({worst[6]})", file=out)
    print(f"worst blas / chosen (the same BLAS without Python's call): "
          f"{worst_blas[5]['blas'] / worst_blas[5][worst_blas[6]]:.2f} at {worst_blas[0]} "
          f"{worst_blas[1]} (m, n, k) = {worst_blas[2:5]} ({worst_blas[6]})", file=out)
    # products on BLAS make the same call as NumPy's matmul: their ratio is the noise of the
    # machine (a two-thread BLAS call that waits for a busy core), not the choice of path
    own = [r for r in results if r[6] != "blas"]
    if own:
        worst_own = min(own, key=lambda r: r[5]["numpy"] / r[5][r[6]])
        print(f"worst numpy / chosen where the core's own code was chosen: "
              f"{worst_own[5]['numpy'] / worst_own[5][worst_own[6]]:.2f} at {worst_own[0]} "
              f"{worst_own[1]} (m, n, k) = {worst_own[2:5]} ({worst_own[6]})", file=out)
    for path in sorted({r[6] for r in results}):
        on_path = [r for r in results if r[6] == path]
        slow = sum(r[5]["numpy"] / r[5][path] < 0.9 for r in on_path)
        print(f"  chosen {path}: {slow} of {len(on_path)} products below 0.9x NumPy", file=out)
    missed = [r for r in results
              if r[5][r[6]] > 1.1 * min(t for p, t in r[5].items() if p not in ONE_THREAD)]
    print(f"products where the chosen path was more than 10% slower than the fastest: "
          f"{len(missed)} of {len(results)}", file=out)
    for r in missed:
        fastest = min((p for p in r[5] if p not in ONE_THREAD), key=r[5].get)
        print(f"  {r[0]} {r[1]} {r[2:5]}: {r[6]} {r[5][r[6]] * 1e6:.2f} us, {fastest} "
              f"{r[5][fastest] * 1e6:.2f} us", file=out)
    return results


def _passes(a, reps):
    for _ in range(reps):
        a.max()


def _two_cores(W, reps):
    """Seconds per pass over W by two threads, each making `reps` passes over its half (NumPy's
    reductions release the GIL; the threads start once per `reps` passes)."""
    import threading
    halves = (W[: len(W) // 2], W[len(W) // 2:])
    threads = [threading.Thread(target=_passes, args=(h, reps)) for h in halves]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (time.perf_counter() - start) / reps


def memory_bandwidth(sizes_mb=(4, 8, 64, 512), rounds=7, out=sys.stdout, seed=0):
    """{MB: (one core GB/s, two cores GB/s)}: passes over a float64 array of each size by one
    thread and by two threads (half each), best of `rounds` rounds in turns. Arrays of a few
    MB stay in the last-level cache, as the benchmark networks' weights do."""
    rng = np.random.default_rng(seed)
    result = {}
    print(f"\nmemory bandwidth: GB/s of passes over an array (NumPy's max), best of {rounds} "
          f"rounds in turns", file=out)
    for mb in sizes_mb:
        W = rng.random(mb * (1 << 20) // 8).reshape(-1, 1024)
        reps = max(3, int(1e9 / W.nbytes / 10))
        one = two = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            _passes(W, reps)
            one = min(one, (time.perf_counter() - start) / reps)
            two = min(two, _two_cores(W, reps))
        result[mb] = (W.nbytes / one / 1e9, W.nbytes / two / 1e9)
        print(f"{mb:5d} MB: one core {result[mb][0]:.1f} GB/s, two cores {result[mb][1]:.1f} "
              f"GB/s", file=out, flush=True)
    return result


def bandwidth(dtypes=("float32", "float64"), rounds=15, out=sys.stdout, seed=0):
    """The bound of a one-row product on the benchmark networks' large layers: microseconds of
    the few-row kernel for x @ W (x one row) on num_threads() threads and on one, of one single-threaded pass over W (NumPy's
    ``W.max()``), of two threads' passes over a half of W each, and of NumPy's ``x @ W`` with
    BLAS at one thread (threadpoolctl, when installed) and at its default threads; rounds in
    turns, best of each. Then memory_bandwidth."""
    rng = np.random.default_rng(seed)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    print(f"\none row times W: us per product, best of {rounds} rounds in turns", file=out)
    for dtype in dtypes:
        for n_in, n_out in layer_shapes():
            if n_in * n_out * np.dtype(dtype).itemsize < 1 << 20:
                continue
            W = rng.random((n_in, n_out)).astype(dtype)
            x = rng.random((1, n_in)).astype(dtype)
            C = np.zeros((1, n_out), dtype)
            runs = {"few": lambda r: _kernels.matmul_repeat(x, W, C, False, False, "few", r),
                    "few 1 thread": lambda r: _few_one_thread(x, W, C, False, False, r),
                    "one pass": lambda r: _passes(W, r),
                    "two cores' pass": lambda r: _two_cores(W, r)}
            if threadpool_limits is not None:
                def one_thread(r):
                    with threadpool_limits(1):
                        for _ in range(r):
                            np.matmul(x, W, out=C)
                runs["numpy 1 thread"] = one_thread
            runs["numpy"] = lambda r: [np.matmul(x, W, out=C) for _ in range(r)]
            best = dict.fromkeys(runs, float("inf"))
            for _ in range(rounds):
                for name, run in runs.items():
                    start = time.perf_counter()
                    run(10)
                    best[name] = min(best[name], (time.perf_counter() - start) / 10)
            cells = ", ".join(f"{name} {t * 1e6:,.0f}" for name, t in best.items())
            print(f"{dtype} {n_in}x{n_out} ({W.nbytes / 1e6:.1f} MB): {cells}; few-row kernel "
                  f"{W.nbytes / best['few'] / 1e9:.1f} GB/s", file=out, flush=True)
    memory_bandwidth(out=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], action="append")
    parser.add_argument("--rows", type=int, nargs="+", default=list(ROWS))
    parser.add_argument("--layers", nargs="+", metavar="N_INxN_OUT",
                        help="only these layers, e.g. 784x1024 (default: all)")
    parser.add_argument("--budget", type=float, default=0.004,
                        help="seconds per timed repeat (default 0.004)")
    parser.add_argument("--bandwidth", action="store_true",
                        help="only the one-row products of the large layers against one pass "
                             "over W (the memory-bandwidth bound)")
    args = parser.parse_args(argv)
    if args.bandwidth:
        bandwidth(tuple(args.dtype or ("float32", "float64")))
        return 0
    layers = [tuple(int(v) for v in s.split("x")) for s in args.layers or []]
    sweep(tuple(args.dtype or ("float32", "float64")), tuple(args.rows), args.budget,
          layers=layers or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
