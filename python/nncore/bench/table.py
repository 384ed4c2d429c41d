"""The report's tables: one row per (network, dtype, operation), a column per contestant, the
ratios over nncore and the check against nncore's targets; the Adam rows (Adam step vs SGD
step and vs PyTorch's Adam) and the scikit-learn estimators (nncore.sklearn vs scikit-learn)."""
import dataclasses

from .baselines import BACKEND_NAMES, BACKENDS
from .networks import ADAM, ADAM_TORCH_TARGET, GEMM_SHARE_TARGET, OPS, THREADS_TARGET

__all__ = ["Row", "format_table", "summary", "adam_table", "adam_summary", "estimator_table",
           "estimator_summary", "gemm_lines", "threads_lines"]


@dataclasses.dataclass
class Row:
    """The measurements of one (config, dtype, op): seconds per step by backend; ``extra``,
    what else was recorded (the ADAM rows: "subnormal", ``baselines.subnormal_count`` of
    nncore's network after its timing)."""
    config: object
    dtype: str
    op: str
    seconds: dict
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def nncore(self):
        return self.seconds.get("nncore")

    def ratio(self, backend):
        """Time of `backend` / time of nncore (> 1: nncore is faster), or None."""
        other = self.seconds.get(backend)
        return other / self.nncore if other and self.nncore else None

    @property
    def target(self):
        """The speedup over the plain NumPy step asked for, or None."""
        return self.config.target(self.op, self.dtype)

    def met(self):
        """Whether the target is met (None: no target or no NumPy time)."""
        ratio = self.ratio("numpy")
        return None if self.target is None or ratio is None else ratio >= self.target

    def gflops(self):
        return self.config.flops(self.op) / self.nncore / 1e9


def _fmt_us(seconds):
    if seconds is None:
        return "-"
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.3g}"


def _fmt_ratio(ratio):
    return "-" if ratio is None else f"{ratio:.3g}x" if ratio < 100 else f"{ratio:,.0f}x"


def _mark(met):
    return {None: "", True: " ok", False: " MISS"}[met]


def _aligned(header, table, left):
    """Fixed-width lines of `header` and the rows of cells `table`: columns in `left` (indices)
    left-aligned, the others right-aligned; a line of dashes under the header."""
    widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), line(["-" * w for w in widths])] + [line(c) for c in table]


def format_table(rows):
    """The rows of the ops of OPS as a fixed-width text table, one line per (config, dtype,
    op) (other rows, the ADAM ones, are ``adam_table``'s).

    Columns: the time per step of each backend measured (nncore first), nncore's GFLOP/s, the
    ratio over nncore of each other backend ("vs X" = X's time / nncore's; > 1: nncore is
    faster; "SLOWER" where nncore is not), and the target over the plain NumPy step.
    """
    rows = [r for r in rows if r.op in OPS]
    measured = [b for b in BACKENDS if any(b in row.seconds for row in rows)]
    others = [b for b in measured if b != "nncore"]
    header = (["network", "dtype", "op"] + [f"{BACKEND_NAMES[b]} us" for b in measured]
              + ["GFLOP/s"] + [f"vs {BACKEND_NAMES[b]}" for b in others[:1]] + ["target"]
              + [f"vs {BACKEND_NAMES[b]}" for b in others[1:]])
    left = {0, 1, 2, header.index("target")}
    table = []
    for row in rows:
        met = row.met()
        target = "" if row.target is None else (
            f">={row.target:g}x" + {None: "", True: " ok", False: " MISS"}[met])
        ratios = []
        for b in others:
            ratio = row.ratio(b)
            ratios.append(_fmt_ratio(ratio) + (" SLOWER" if ratio is not None and ratio < 1
                                               and b != "numpy" else ""))
        table.append([row.config.name, row.dtype, "fit/step" if row.op == "fit" else row.op]
                     + [_fmt_us(row.seconds.get(b)) for b in measured]
                     + [f"{row.gflops():.3g}"] + ratios[:1] + [target] + ratios[1:])
    lines = _aligned(header, table, left)
    out = lines[:2]
    previous = None
    for row, line in zip(rows, lines[2:]):
        if previous is not None and (row.config, row.dtype) != previous:
            out.append("")
        previous = (row.config, row.dtype)
        out.append(line)
    return "\n".join(out)


def summary(rows):
    """Lines counting the targets met and the rows where nncore is faster than each peer
    (over the rows of the ops of OPS)."""
    rows = [r for r in rows if r.op in OPS]
    targeted = [r for r in rows if r.met() is not None]
    lines = [f"speedup targets over the plain NumPy step met: "
             f"{sum(r.met() for r in targeted)} of {len(targeted)}"]
    for backend in ("torch", "sklearn", "nncore-numpy"):
        versus = [r for r in rows if r.ratio(backend) is not None]
        if versus:
            faster = sum(r.ratio(backend) >= 1 for r in versus)
            lines.append(f"faster than {BACKEND_NAMES[backend]}: {faster} of {len(versus)}")
    return lines


def _adam_pairs(rows):
    """(adam row, the SGD fit row of the same config and dtype or None), per ADAM row."""
    fits = {(r.config, r.dtype): r for r in rows if r.op == "fit"}
    return [(r, fits.get((r.config, r.dtype))) for r in rows if r.op == ADAM]


def _adam_over_sgd(adam, fit):
    """nncore's Adam step inside fit / its SGD step inside fit, or None."""
    if fit is None or not fit.nncore or not adam.nncore:
        return None
    return adam.nncore / fit.nncore


def adam_table(rows):
    """The ADAM rows of `rows` as a fixed-width table, one line per (config, dtype).

    Columns: nncore's SGD step inside ``fit`` (the "fit" row of the same run), its Adam step
    inside ``fit``, their ratio "Adam/SGD" and nncore's bound on it (<= 1.5x on 64-32-10,
    <= 1.3x on 784-256-10; ok or MISS), "subnormal" (the subnormal values among nncore's
    parameters and Adam moments after the timing, ``baselines.subnormal_count``: they slow
    each step down), PyTorch's ``torch.optim.Adam`` step on a fixed batch and "vs PyTorch
    Adam", its time over nncore's Adam step, with nncore's target (nncore faster: >= 1x,
    ok or MISS). "-" where a value was not measured.
    """
    header = ["network", "dtype", "SGD fit/step us", "Adam fit/step us", "Adam/SGD", "bound",
              "subnormal", "PyTorch Adam us", "vs PyTorch Adam", "target"]
    table = []
    for adam, fit in _adam_pairs(rows):
        over = _adam_over_sgd(adam, fit)
        bound = adam.config.adam_bound
        bound_cell = "" if bound is None else (
            f"<={bound:g}x" + _mark(None if over is None else over <= bound))
        vs = adam.ratio("torch")
        target = "" if vs is None else f">={ADAM_TORCH_TARGET:g}x" + _mark(
            vs >= ADAM_TORCH_TARGET)
        table.append([adam.config.name, adam.dtype,
                      _fmt_us(fit.nncore if fit is not None else None), _fmt_us(adam.nncore),
                      "-" if over is None else f"{over:.2f}x", bound_cell,
                      adam.extra.get("subnormal", "-"),
                      _fmt_us(adam.seconds.get("torch")), _fmt_ratio(vs), target])
    return "\n".join(_aligned(header, table, {0, 1, 5, 9}))


def adam_summary(rows):
    """Lines counting the Adam/SGD bounds met and the networks where nncore's Adam step is
    faster than PyTorch's."""
    pairs = _adam_pairs(rows)
    bounded = [(a, f) for a, f in pairs
               if a.config.adam_bound is not None and _adam_over_sgd(a, f) is not None]
    lines = []
    if bounded:
        met = sum(_adam_over_sgd(a, f) <= a.config.adam_bound for a, f in bounded)
        lines.append(f"Adam within its bound of the SGD step: {met} of {len(bounded)}")
    versus = [a for a, _ in pairs if a.ratio("torch") is not None]
    if versus:
        faster = sum(a.ratio("torch") >= ADAM_TORCH_TARGET for a in versus)
        lines.append(f"Adam faster than PyTorch's Adam step: {faster} of {len(versus)}")
    return lines


def estimator_table(results):
    """EstimatorResults as a fixed-width table, one line per (dtype, solver, batch_size).

    Columns: the epochs both ran ("a/b" for nncore's and scikit-learn's n_iter_ where they
    differ), the seconds of one whole ``fit`` of each, "vs sklearn" (scikit-learn's time over
    nncore's) with nncore's target (>= 5x, ok or MISS), and each one's held-out accuracy.
    """
    from .estimators import ESTIMATOR_TARGET
    header = ["MLPClassifier", "dtype", "epochs", "nncore s", "sklearn s", "vs sklearn",
              "target", "accuracy nncore", "sklearn"]
    table = []
    for r in results:
        epochs = (str(r.epochs) if r.same_epochs
                  else f"{r.n_iter.get('nncore')}/{r.n_iter.get('sklearn')}")
        met = r.met()
        name = f"solver={r.solver} batch={r.batch_size}"
        table.append([name if r.data == "digits" else f"{r.data} {name}", r.dtype, epochs,
                      *(f"{r.seconds[k]:.3f}" if k in r.seconds else "-"
                        for k in ("nncore", "sklearn")),
                      _fmt_ratio(r.ratio),
                      "" if r.ratio is None else f">={ESTIMATOR_TARGET:g}x" + (
                          _mark(met) if r.same_epochs else " (epochs differ)"),
                      *(f"{r.accuracy[k]:.3f}" if k in r.accuracy else "-"
                        for k in ("nncore", "sklearn"))])
    return "\n".join(_aligned(header, table, {0, 1, 6}))


def estimator_summary(results):
    """One line counting the estimator targets met (none when nothing was compared)."""
    from .estimators import ESTIMATOR_TARGET
    judged = [r for r in results if r.met() is not None]
    if not judged:
        return []
    return [f"nncore.sklearn fit >= {ESTIMATOR_TARGET:g}x faster than scikit-learn's: "
            f"{sum(r.met() for r in judged)} of {len(judged)}"]


def gemm_lines(rows, largest, shape, numpy_rates, blas_rates, step_rates=None):
    """Lines comparing nncore's fit rate on `largest` with NumPy's matmul rate on `shape`
    (and, as information, with the BLAS gemm that nncore's core calls, and with NumPy's matmul
    on the products of `largest`'s own step, `step_rates`: the bound of the fit rate)."""
    m, k, n = shape
    lines = []
    for dtype, rate in numpy_rates.items():
        fit = next((r for r in rows if r.config == largest and r.dtype == dtype
                    and r.op == "fit"), None)
        if fit is None or fit.nncore is None:
            continue
        share = fit.gflops() / rate
        lines.append(f"NumPy matmul ({m}x{k} @ {k}x{n}, {dtype}): {rate:.1f} GFLOP/s; nncore "
                     f"fit on {largest.name}: {fit.gflops():.1f} GFLOP/s = {100 * share:.1f}% "
                     f"of it (target >= {100 * GEMM_SHARE_TARGET:.0f}%"
                     f"{' ok' if share >= GEMM_SHARE_TARGET else ' MISS'})")
        if blas_rates.get(dtype):
            lines.append(f"  the BLAS gemm nncore's core calls, same shape: "
                         f"{blas_rates[dtype]:.1f} GFLOP/s")
        if (step_rates or {}).get(dtype):
            lines.append(f"  NumPy matmul on the products of one {largest.name} step itself: "
                         f"{step_rates[dtype]:.1f} GFLOP/s; nncore fit = "
                         f"{100 * fit.gflops() / step_rates[dtype]:.1f}% of it")
    return lines


def threads_lines(results, cores):
    """Lines of the many-networks section, one per ThreadsResult."""
    lines = []
    for r in results:
        target = ""
        if r.k == 2 and cores >= 2:
            target = (f" (target >= {THREADS_TARGET:g}x"
                      f"{' ok' if r.speedup >= THREADS_TARGET else ' MISS'})")
        lines.append(f"{r.config.name:<20} {r.dtype}  K={r.k}: one after the other "
                     f"{r.sequential * 1e3:,.0f} ms, in {r.k} threads {r.threaded * 1e3:,.0f} ms"
                     f": {r.speedup:.2f}x the throughput{target}")
    return lines
