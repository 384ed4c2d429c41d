"""The report's table: one row per (network, dtype, operation), a column per contestant, the
ratios over nncore and the check against the issue's targets."""
import dataclasses

from .baselines import BACKEND_NAMES, BACKENDS
from .networks import GEMM_SHARE_TARGET, THREADS_TARGET

__all__ = ["Row", "format_table", "summary", "gemm_lines", "threads_lines"]


@dataclasses.dataclass
class Row:
    """The measurements of one (config, dtype, op): seconds per step by backend."""
    config: object
    dtype: str
    op: str
    seconds: dict

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


def format_table(rows):
    """The rows as a fixed-width text table, one line per (config, dtype, op).

    Columns: the time per step of each backend measured (nncore first), nncore's GFLOP/s, the
    ratio over nncore of each other backend ("vs X" = X's time / nncore's; > 1: nncore is
    faster; "SLOWER" where nncore is not), and the target over the plain NumPy step.
    """
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
    widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]

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


def summary(rows):
    """Lines counting the targets met and the rows where nncore is faster than each peer."""
    targeted = [r for r in rows if r.met() is not None]
    lines = [f"speedup targets over the plain NumPy step met: "
             f"{sum(r.met() for r in targeted)} of {len(targeted)}"]
    for backend in ("torch", "sklearn", "nncore-numpy"):
        versus = [r for r in rows if r.ratio(backend) is not None]
        if versus:
            faster = sum(r.ratio(backend) >= 1 for r in versus)
            lines.append(f"faster than {BACKEND_NAMES[backend]}: {faster} of {len(versus)}")
    return lines


def gemm_lines(rows, largest, shape, numpy_rates, blas_rates):
    """Lines comparing nncore's fit rate on `largest` with NumPy's matmul rate on `shape`
    (and, as information, with the BLAS gemm that nncore's core calls)."""
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
