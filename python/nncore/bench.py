"""The benchmark report behind ``nncore bench`` (also ``python -m nncore bench``).

What it measures
----------------
For the five networks of the performance issue (all softmax output, cross-entropy loss, plain
SGD with lr 0.01), in float32 and float64, three operations:

``train_step``
    One ``net.train_step(X, Y, lr)`` call on a fixed batch: forward, loss, backward, update.
``fit``
    ``net.fit(X, Y, epochs=1, batch_size=batch)`` over a synthetic data set of
    ``Config.fit_steps`` full batches, reported per step (time of the call / steps). The step
    counts are large enough that the per-call cost of ``fit`` (validation, seeding) is small
    next to the steps it runs.
``predict``
    One ``net.predict(X)`` call on a batch.

each for nncore's ``backend="cython"``, its ``backend="numpy"`` (plain NumPy, the baseline), and
PyTorch on the CPU when ``import torch`` works (an ``nn.Sequential`` of ``Linear`` and the same
activations, ``CrossEntropyLoss`` on the logits, ``torch.optim.SGD``, a Python mini-batch loop
over a ``torch.randperm`` order for ``fit``, ``torch.set_num_threads`` equal to the BLAS
threads). It also measures the BLAS gemm rate (sgemm for float32, dgemm for float64) through
the same ``scipy.linalg.cython_blas`` routine the core calls, on the largest network's forward
shape (256 x 1024 times 1024 x 1024), just before and just after that network's ``fit`` (the
better of the two), and reports nncore's ``fit`` rate on that network as a share of it.

How
---
Everything runs in one process. Each (network, dtype, operation, backend) is one *case*: its
callable is built and called once to warm up (workspaces, caches, lazy initialisation), the
number of calls per repeat is calibrated so that a repeat lasts about ``target`` seconds, and
the repeats run back to back. The time reported is the best over the repeats of the mean time
per call (``time.perf_counter``, garbage collector off during a repeat), divided by the steps
per call. The backends are measured one after the other, not interleaved call by call: each
has its own BLAS thread pool (nncore calls SciPy's OpenBLAS, the NumPy backend NumPy's, PyTorch
its own), and on a small machine switching pools at every call slows all of them down.

FLOPs count the matrix products only: a training step on a batch of N does the forward
``2 N sum(n_in n_out)``, the weight gradients ``2 N sum(n_in n_out)`` and the input gradients
``2 N sum(n_in n_out)`` over every layer but the first (nobody needs dL/dX); ``predict`` does
the forward only.

The model builders (``CONFIGS``, ``make_case``) are shared with the pytest-benchmark suite in
``benches/``, which times the same callables.
"""
import argparse
import dataclasses
import gc
import itertools
import os
import platform
import sys
import time
from functools import partial

import numpy as np

from .network import Network

__all__ = ["Config", "CONFIGS", "DTYPES", "OPS", "BACKENDS", "LR", "GEMM_SHAPE", "Case",
           "make_case", "make_data", "one_hot", "build_network", "build_torch", "torch_module",
           "blas_threads", "time_matmul", "gemm_operands", "gemm_rate", "mixed_with_numpy",
           "machine_info", "measure", "Row", "run", "format_table", "report", "add_arguments",
           "command", "main"]

LR = 0.01
DTYPES = ("float32", "float64")
OPS = ("train_step", "fit", "predict")
BACKENDS = ("cython", "numpy", "torch")
DESCRIPTION = ("Time nncore (backend 'cython') against its NumPy backend and PyTorch on the "
               "benchmark networks, and print one table.")


@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmarked network: layer sizes, hidden activation, batch size.

    ``fit_steps`` is the number of batches in the data set one ``fit`` call runs over;
    ``target_step`` and ``target_fit`` are the speedups over the NumPy backend that the
    performance issue asks of ``train_step`` and of a step inside ``fit``.
    """
    sizes: tuple
    activation: str
    batch: int
    fit_steps: int
    target_step: float
    target_fit: float

    @property
    def name(self):
        """e.g. '784-256-10 relu b64'"""
        return f"{'-'.join(map(str, self.sizes))} {self.activation} b{self.batch}"

    @property
    def id(self):
        """e.g. '784-256-10-b64', for test ids and file names."""
        return f"{'-'.join(map(str, self.sizes))}-b{self.batch}"

    @property
    def shapes(self):
        """(n_in, n_out) of each layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    def flops(self, op):
        """Floating-point operations of the matrix products of one step of `op`."""
        products = [n_in * n_out for n_in, n_out in self.shapes]
        forward = 2 * self.batch * sum(products)
        if op == "predict":
            return forward
        return 2 * forward + 2 * self.batch * sum(products[1:])

    def target(self, op):
        """The speedup over NumPy asked for `op`, or None."""
        return {"train_step": self.target_step, "fit": self.target_fit}.get(op)


CONFIGS = (
    Config((3, 4, 2), "sigmoid", 1, fit_steps=1024, target_step=20, target_fit=100),
    Config((3, 4, 2), "sigmoid", 32, fit_steps=256, target_step=10, target_fit=20),
    Config((64, 32, 10), "relu", 32, fit_steps=128, target_step=4, target_fit=8),
    Config((784, 256, 10), "relu", 64, fit_steps=16, target_step=2, target_fit=2),
    Config((784, 1024, 1024, 10), "relu", 256, fit_steps=8, target_step=1.25,
           target_fit=1.25),
)
LARGEST = CONFIGS[-1]
# (m, k, n) of the gemm whose rate bounds LARGEST: its second layer's forward product
GEMM_SHAPE = (LARGEST.batch, LARGEST.sizes[1], LARGEST.sizes[2])
# The share of the gemm rate that nncore's fit should reach on the largest network.
GEMM_SHARE_TARGET = 0.85


# -- model builders (shared with benches/) ---------------------------------------------------------

def make_data(config, dtype, n, seed=0):
    """(X, labels): n inputs uniform in [0, 1) of `dtype`, and integer class labels (n,)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, config.sizes[0]), dtype=np.dtype(dtype).type)
    labels = rng.integers(0, config.sizes[-1], size=n)
    return X, labels


def one_hot(labels, n_out, dtype):
    """Rows (n, n_out) of `dtype` with a 1 at each label."""
    Y = np.zeros((len(labels), n_out), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y


def build_network(config, dtype, backend, seed=0):
    """The nncore.Network of `config`: hidden `config.activation`, softmax, cross-entropy."""
    return Network(list(config.sizes), activation=config.activation, output="softmax",
                   loss="cross_entropy", seed=seed, dtype=dtype, backend=backend)


_TORCH = []


def torch_module():
    """The torch module, or None when it cannot be imported (it is never a dependency)."""
    if not _TORCH:
        try:
            import torch
        except Exception:  # not installed, or broken: the benchmarks go on without it
            torch = None
        _TORCH.append(torch)
    return _TORCH[0]


def build_torch(config, dtype, seed=0):
    """(model, optimizer, loss_fn): the PyTorch counterpart of ``build_network``.

    ``model`` maps inputs to logits; ``CrossEntropyLoss`` applies the log-softmax itself (the
    fused softmax + cross-entropy nncore also uses). Sets torch's threads to the BLAS threads.
    """
    torch = torch_module()
    torch.manual_seed(seed)
    torch.set_num_threads(blas_threads())
    tdtype = getattr(torch, str(np.dtype(dtype)))
    activation = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}
    modules = []
    for i, (n_in, n_out) in enumerate(config.shapes):
        modules.append(torch.nn.Linear(n_in, n_out, dtype=tdtype))
        if i < len(config.shapes) - 1:
            modules.append(activation[config.activation]())
    model = torch.nn.Sequential(*modules)
    return model, torch.optim.SGD(model.parameters(), lr=LR), torch.nn.CrossEntropyLoss()


def _torch_callable(config, dtype, op, X, labels, seed):
    torch = torch_module()
    model, optimizer, loss_fn = build_torch(config, dtype, seed)
    X = torch.from_numpy(X)
    y = torch.from_numpy(labels.astype(np.int64))

    def step(xb, yb):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        return loss.item()

    def fit():
        order = torch.randperm(X.shape[0])
        total = 0.0
        for start in range(0, X.shape[0], config.batch):
            rows = order[start:start + config.batch]
            total += step(X[rows], y[rows])
        return total / (X.shape[0] // config.batch)

    def predict():
        with torch.inference_mode():
            return torch.softmax(model(X), dim=1)

    return {"train_step": partial(step, X, y), "fit": fit, "predict": predict}[op]


@dataclasses.dataclass
class Case:
    """A prepared, warmed-up callable for one (config, dtype, op, backend).

    ``fn()`` runs the operation once: ``steps`` training steps (or one predicted batch) on
    ``samples`` examples, doing ``flops`` floating-point operations in its matrix products.
    """
    config: Config
    dtype: str
    op: str
    backend: str
    fn: object
    steps: int
    samples: int
    flops: int


def make_case(config, dtype, op, backend, seed=0):
    """The Case of (config, dtype, op, backend), called once already.

    backend: "cython" or "numpy" (nncore's backends) or "torch" (needs ``torch_module()``).
    The data are the same for every backend: ``make_data(config, dtype, n, seed)``.
    """
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {OPS}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    steps = config.fit_steps if op == "fit" else 1
    n = config.batch * steps
    X, labels = make_data(config, dtype, n, seed)
    if backend == "torch":
        if torch_module() is None:
            raise RuntimeError("PyTorch is not installed")
        fn = _torch_callable(config, dtype, op, X, labels, seed)
    else:
        net = build_network(config, dtype, backend, seed)
        Y = one_hot(labels, config.sizes[-1], dtype)
        fn = {"train_step": partial(net.train_step, X, Y, LR),
              "fit": partial(net.fit, X, Y, epochs=1, lr=LR, batch_size=config.batch),
              "predict": partial(net.predict, X)}[op]
    fn()  # warm-up: workspaces sized to the batch, caches, lazy initialisation
    return Case(config, str(np.dtype(dtype)), op, backend, fn, steps, n,
                steps * config.flops(op))


# -- timing ----------------------------------------------------------------------------------------

def _seconds(fn, calls):
    """Mean seconds per call over `calls` calls back to back, the garbage collector off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in itertools.repeat(None, calls):
            fn()
        return (time.perf_counter() - start) / calls
    finally:
        if enabled:
            gc.enable()


def measure(case, target=0.02, repeats=5):
    """Best-of-`repeats` mean seconds per call of ``case.fn``, the repeats back to back.

    Each repeat runs about `target` seconds: a number of calls calibrated on one call (at least
    one; then the calibration call counts as the first repeat).
    """
    once = _seconds(case.fn, 1)
    calls = max(1, int(target / max(once, 1e-9)))
    best = once if calls == 1 else float("inf")
    for _ in range(repeats - (calls == 1)):
        best = min(best, _seconds(case.fn, calls))
    return best


def time_matmul(A, B, C, trans_a, trans_b, path, reps):
    """Seconds per product of `reps` products C = op(A) @ op(B) by the core's loops (path
    "loops") or BLAS ("blas"), run back to back in one nogil call."""
    from . import _kernels
    start = time.perf_counter()
    _kernels.matmul_repeat(A, B, C, trans_a, trans_b, path, reps)
    return (time.perf_counter() - start) / reps


def gemm_operands(dtype, m=GEMM_SHAPE[0], k=GEMM_SHAPE[1], n=GEMM_SHAPE[2]):
    """(A, B, C): C-contiguous A (m, k), B (k, n) of random values and C (m, n) of zeros."""
    rng = np.random.default_rng(0)
    A = rng.random((m, k), dtype=np.dtype(dtype).type)
    B = rng.random((k, n), dtype=np.dtype(dtype).type)
    return A, B, np.zeros((m, n), dtype=dtype)


def gemm_rate(dtype, m=GEMM_SHAPE[0], k=GEMM_SHAPE[1], n=GEMM_SHAPE[2], target=0.02,
              repeats=10):
    """GFLOP/s of the BLAS gemm C(m, n) = A(m, k) @ B(k, n) that nncore calls (sgemm/dgemm).

    Best of `repeats` runs of ``time_matmul(A, B, C, False, False, "blas", reps)``: `reps`
    products back to back in nogil code, about `target` seconds.
    """
    A, B, C = gemm_operands(dtype, m, k, n)
    once = min(time_matmul(A, B, C, False, False, "blas", 1) for _ in range(2))
    reps = max(1, int(target / max(once, 1e-9)))
    seconds = min(time_matmul(A, B, C, False, False, "blas", reps) for _ in range(repeats))
    return 2.0 * m * n * k / seconds / 1e9


def mixed_with_numpy(dtype, target=0.02, repeats=5):
    """Seconds per call of (nncore train_step, a NumPy matmul, the two alternating).

    On 784-256-10 b64, with the matmul of its first layer's forward shape (64 x 784 @ 784 x
    256) done by NumPy's own BLAS: code that mixes nncore and NumPy pays for two BLAS thread
    pools taking turns (see nncore/__init__.py and README.md, "Two BLAS libraries").
    """
    config = CONFIGS[3]
    step = make_case(config, dtype, "train_step", "cython")
    A, B, _ = gemm_operands(dtype, config.batch, config.sizes[0], config.sizes[1])
    matmul = Case(config, dtype, "matmul", "numpy", partial(np.matmul, A, B), 1, config.batch,
                  2 * A.shape[0] * A.shape[1] * B.shape[1])
    both = Case(config, dtype, "mixed", "cython+numpy", lambda: (step.fn(), matmul.fn()), 1,
                config.batch, step.flops + matmul.flops)
    return tuple(measure(case, target, repeats) for case in (step, matmul, both))


# -- the machine -----------------------------------------------------------------------------------

def _threadpool_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return threadpool_info()


def blas_threads():
    """Threads of the BLAS that nncore calls (via threadpoolctl), else the usable cores."""
    info = _threadpool_info()
    threads = [lib["num_threads"] for lib in info or () if lib.get("user_api") == "blas"]
    if threads:
        # nncore's core calls SciPy's BLAS (scipy.linalg.cython_blas); NumPy's wheel bundles
        # another copy (under numpy.libs). Where they cannot be told apart: the largest.
        scipy_blas = [lib["num_threads"] for lib in info
                      if lib.get("user_api") == "blas" and "scipy" in lib.get("filepath", "")
                      and "numpy" not in lib.get("filepath", "")]
        return scipy_blas[0] if scipy_blas else max(threads)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """Lines describing the machine and the libraries the numbers depend on."""
    import scipy
    from . import __version__
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    torch = torch_module()
    lines = [f"CPU: {_cpu_model()}, {os.cpu_count()} logical cores"
             + (f" ({usable} usable)" if usable not in (None, os.cpu_count()) else ""),
             f"Python {platform.python_version()}, nncore {__version__}, numpy {np.__version__}, "
             f"scipy {scipy.__version__}, "
             + (f"torch {torch.__version__}" if torch else "torch: not installed")]
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()
        busy = load[0] > 0.5 * (usable or os.cpu_count())
        lines.append(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
                     + (" (the machine is busy: timings are noisy, compare the ratios of one "
                        "run)" if busy else ""))
    info = _threadpool_info()
    if info is None:
        lines.append("thread pools: threadpoolctl not installed")
    for lib in sorted(info or (), key=lambda lib: (lib.get("user_api") or "",
                                                   lib.get("filepath") or "")):
        path = lib.get("filepath") or ""
        where = os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
        lines.append(f"  {lib.get('user_api')}: {lib.get('internal_api')} "
                     f"{lib.get('version') or ''} ({where}), {lib.get('num_threads')} threads")
    if torch is not None:
        lines.append(f"PyTorch threads: {blas_threads()} (set to the BLAS threads)")
    return lines


# -- the report ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Row:
    """The measurements of one (config, dtype, op): seconds per step by backend."""
    config: Config
    dtype: str
    op: str
    seconds: dict

    @property
    def nncore(self):
        return self.seconds.get("cython")

    def ratio(self, backend):
        """Time of `backend` / time of nncore (> 1: nncore is faster), or None."""
        other = self.seconds.get(backend)
        return other / self.nncore if other and self.nncore else None

    def gflops(self):
        return self.config.flops(self.op) / self.nncore / 1e9

    def samples_per_second(self):
        return self.config.batch / self.nncore


def run(quick=False, dtypes=DTYPES, configs=CONFIGS, ops=OPS, progress=None):
    """Measure every (config, dtype, op) on every available backend.

    Returns (rows, gemm): a list of Row, and per dtype the BLAS gemm rate in GFLOP/s on the
    largest network's forward shape (when ``LARGEST`` is among `configs`): the better of two
    measurements, just before that network's cases and just after its ``fit``, so that the rate
    and the fit it bounds run under the same conditions (other load only ever slows a run down).
    quick: fewer and shorter repeats (5 x 5 ms instead of 11 x 100 ms per case).
    progress: a callable taking one line of text, called before each case.
    """
    target, repeats = (0.005, 5) if quick else (0.1, 11)
    backends = [b for b in BACKENDS if b != "torch" or torch_module() is not None]
    rows, gemm = [], {}
    gemm_repeats = 10 if quick else 30
    for dtype in dtypes:
        for config in configs:
            if config == LARGEST:
                gemm[dtype] = gemm_rate(dtype, repeats=gemm_repeats)
            for op in ops:
                if progress:
                    progress(f"{config.name} {dtype} {op}")
                seconds = {}
                for backend in backends:
                    case = make_case(config, dtype, op, backend)
                    seconds[backend] = measure(case, target, repeats) / case.steps
                rows.append(Row(config, dtype, op, seconds))
                if config == LARGEST and op == "fit":
                    gemm[dtype] = max(gemm[dtype], gemm_rate(dtype, repeats=gemm_repeats))
    return rows, gemm


def _fmt_us(seconds):
    if seconds is None:
        return "-"
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.3g}"


def _fmt_ratio(ratio):
    return "-" if ratio is None else f"{ratio:.3g}x" if ratio < 100 else f"{ratio:,.0f}x"


def format_table(rows):
    """The rows as a fixed-width text table, one line per (config, dtype, op)."""
    header = ["network", "dtype", "op", "nncore us", "NumPy us", "PyTorch us", "samples/s",
              "GFLOP/s", "vs NumPy", "target", "vs PyTorch"]
    table = []
    for row in rows:
        target = row.config.target(row.op)
        vs_numpy = row.ratio("numpy")
        mark = "" if target is None or vs_numpy is None else (
            " ok" if vs_numpy >= target else " MISS")
        vs_torch = row.ratio("torch")
        table.append([
            row.config.name, row.dtype, "fit/step" if row.op == "fit" else row.op,
            _fmt_us(row.nncore), _fmt_us(row.seconds.get("numpy")),
            _fmt_us(row.seconds.get("torch")), f"{row.samples_per_second():,.0f}",
            f"{row.gflops():.3g}", _fmt_ratio(vs_numpy),
            "" if target is None else f">={target:g}x{mark}",
            _fmt_ratio(vs_torch) + ("" if vs_torch is None or vs_torch >= 1 else " SLOWER")])
    widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
    left = {0, 1, 2, 9}

    def line(cells):
        return "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    previous = None
    for row, cells in zip(rows, table):
        if previous is not None and (row.config, row.dtype) != previous:
            out.append("")
        previous = (row.config, row.dtype)
        out.append(line(cells))
    return "\n".join(out)


def _summary(rows):
    """Lines counting the targets met."""
    lines = []
    targeted = [r for r in rows if r.config.target(r.op) is not None and r.ratio("numpy")]
    met = [r for r in targeted if r.ratio("numpy") >= r.config.target(r.op)]
    lines.append(f"speedup targets over NumPy met: {len(met)} of {len(targeted)}")
    versus = [r for r in rows if r.ratio("torch") is not None]
    if versus:
        faster = [r for r in versus if r.ratio("torch") >= 1]
        lines.append(f"faster than PyTorch: {len(faster)} of {len(versus)}")
    return lines


def report(quick=False, dtypes=DTYPES, file=None):
    """Run the comparison and print the machine, the table and the gemm rates to `file`.

    Returns what ``run`` returns.
    """
    file = sys.stdout if file is None else file
    start = time.perf_counter()
    print("nncore benchmark" + (" (--quick)" if quick else ""), file=file)
    for line in machine_info():
        print(line, file=file)
    progress = None
    if sys.stderr.isatty():
        def progress(text):
            print(f"\r\033[K  measuring {text} ...", end="", file=sys.stderr, flush=True)
    rows, gemm = run(quick=quick, dtypes=dtypes, progress=progress)
    if progress:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    print("\nus per step (train_step: one call; fit/step: a fit epoch / its steps; predict: one "
          "batch).\nvs X = X's time / nncore's time (> 1: nncore is faster); target: the "
          "issue's speedup over NumPy.\nGFLOP/s and samples/s are nncore's (backend='cython').\n",
          file=file)
    print(format_table(rows), file=file)
    print("", file=file)
    for line in _summary(rows):
        print(line, file=file)
    m, k, n = GEMM_SHAPE
    for dtype, rate in gemm.items():
        fit = next(r for r in rows if r.config == LARGEST and r.dtype == dtype and r.op == "fit")
        share = fit.gflops() / rate
        print(f"{'sgemm' if dtype == 'float32' else 'dgemm'} (BLAS, {m}x{k} @ {k}x{n}): "
              f"{rate:.1f} GFLOP/s; nncore fit on {LARGEST.name}: {fit.gflops():.1f} GFLOP/s = "
              f"{100 * share:.1f}% of it (target >= {100 * GEMM_SHARE_TARGET:.0f}%"
              f"{' ok' if share >= GEMM_SHARE_TARGET else ' MISS'})", file=file)
    for dtype in dtypes:
        step, matmul, both = mixed_with_numpy(dtype, *((0.005, 5) if quick else (0.1, 11)))
        print(f"mixed with NumPy ({CONFIGS[3].name}, {dtype}): train_step {step * 1e6:,.0f} us "
              f"+ NumPy matmul {matmul * 1e6:,.0f} us alone; alternating {both * 1e6:,.0f} us "
              f"per pair", file=file)
    print(f"\n{time.perf_counter() - start:.0f} s; made by: python -m nncore bench"
          + (" --quick" if quick else "")
          + ("" if tuple(dtypes) == DTYPES else f" --dtype {dtypes[0]}"), file=file)
    return rows, gemm


def add_arguments(parser):
    """Add the options of ``nncore bench`` to an argparse parser."""
    parser.add_argument("--quick", action="store_true",
                        help="fewer, shorter repeats: under a minute on 2 cores")
    parser.add_argument("--dtype", choices=DTYPES, default=None,
                        help="only this dtype (default: both)")
    return parser


def command(args):
    """Run the report for parsed ``nncore bench`` arguments."""
    report(quick=args.quick, dtypes=(args.dtype,) if args.dtype else DTYPES)
    return 0


def main(argv=None):
    """``python -m nncore.bench [--quick] [--dtype {float32,float64}]``."""
    parser = argparse.ArgumentParser(prog="python -m nncore.bench", description=DESCRIPTION)
    return command(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
