"""Serving and online learning: ``predict`` at small and large batches against the plain NumPy
forward, PyTorch under ``torch.inference_mode()`` and ONNX Runtime running nncore's own ONNX
export; ``train_step`` at a few examples against the plain NumPy step.

ONNX Runtime is set up as a serving user would: the CPU execution provider, intra-op threads =
the BLAS threads (``machine.blas_threads``), one inter-op thread, spinning off (idle threads
sleep instead of burning the cores that other requests need). It runs float32 only (nncore's
float64 export runs too, but ONNX Runtime's float64 kernels are not what a user serves with).

Each row's contestants take turns in rounds (a batch of calls each, the order rotating from
round to round, a short rest before each turn so that the threads another library left spinning
are idle), the best round of each counting, so that on a shared or throttled machine they see
the same conditions.
"""
import dataclasses
import time

import numpy as np

from .baselines import PlainNumpyMLP, build_torch, torch_module
from .machine import blas_threads
from .networks import CONFIGS, LR, build_network, make_data, one_hot

__all__ = ["PREDICT_BATCHES", "STEP_BATCHES", "STEP_CONFIGS", "SERVING_TARGET",
           "ServingRow", "onnxruntime_module", "onnxruntime_session", "serving_callables",
           "run_serving", "serving_table", "serving_summary"]

# the batches of ``predict`` measured on every network
PREDICT_BATCHES = (1, 8, 64, 256)
# ``train_step`` at these batches on STEP_CONFIGS (online learning, a few examples at a time)
STEP_BATCHES = (1, 4, 16)
STEP_CONFIGS = (CONFIGS[3], CONFIGS[4])
# nncore's speed over each baseline that the rows ask for: at least as fast
SERVING_TARGET = 1.0
CONTESTANTS = ("nncore", "numpy", "torch", "onnxruntime")


@dataclasses.dataclass
class ServingRow:
    """One (network, dtype, op, batch): seconds per call of each contestant measured."""
    config: object
    dtype: str
    op: str
    batch: int
    seconds: dict

    def ratio(self, contestant):
        """contestant's time / nncore's (> 1: nncore is faster), or None."""
        t = self.seconds.get(contestant)
        return None if t is None else t / self.seconds["nncore"]

    @property
    def met(self):
        """nncore at least as fast as the plain NumPy code and (float32) ONNX Runtime."""
        ratios = [self.ratio(c) for c in ("numpy", "onnxruntime")]
        return all(r is None or r >= SERVING_TARGET for r in ratios)


def onnxruntime_module():
    """The onnxruntime module, or None when it (or onnx, for the export) is not installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime


def onnxruntime_session(net, threads=None):
    """An ONNX Runtime InferenceSession of ``nncore.onnx.to_onnx(net)``: CPU provider,
    `threads` intra-op threads (default: the BLAS threads), one inter-op thread, spinning off.
    """
    ort = onnxruntime_module()
    if ort is None:
        raise ImportError("ONNX Runtime is not installed: pip install onnxruntime onnx")
    from ..onnx import to_onnx
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or blas_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(to_onnx(net).SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def serving_callables(config, dtype, op, batch, seed=0):
    """{contestant: callable} for one row: each call predicts (op "predict": returns the
    outputs) or trains one step (op "train_step": nncore's and NumPy's return their network)
    on the same batch of `batch` rows, nncore, NumPy and ONNX Runtime from the same
    parameters. nncore and the plain NumPy code always; PyTorch when it imports; ONNX Runtime
    for predict in float32 when installed."""
    X, labels = make_data(config, dtype, batch, seed)
    net = build_network(config, dtype, seed=seed)
    plain = PlainNumpyMLP.like(net)
    fns = {}
    if op == "predict":
        fns["nncore"] = lambda: net.predict(X)
        fns["numpy"] = lambda: plain.predict(X)
    elif op == "train_step":
        Y = one_hot(labels, config.n_classes, dtype)

        def nncore_step():
            net.train_step(X, labels, LR)
            return net

        def numpy_step():
            plain.step(X, Y, LR)
            return plain
        fns["nncore"], fns["numpy"] = nncore_step, numpy_step
    else:
        raise ValueError(f"op must be 'predict' or 'train_step', got {op!r}")
    torch = torch_module()
    if torch is not None:
        model, optimizer, loss_fn = build_torch(config, dtype, seed)
        tX = torch.from_numpy(X)
        if op == "predict":
            def torch_predict():
                with torch.inference_mode():
                    return torch.softmax(model(tX), dim=1)
            fns["torch"] = torch_predict
        else:
            ty = torch.from_numpy(labels.astype(np.int64))

            def torch_step():
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(tX), ty)
                loss.backward()
                optimizer.step()
                return loss.item()
            fns["torch"] = torch_step
    if op == "predict" and str(np.dtype(dtype)) == "float32" and onnxruntime_module():
        session = onnxruntime_session(net)
        name = session.get_inputs()[0].name
        fns["onnxruntime"] = lambda: session.run(None, {name: X})
    return fns


def _calibrate(fn, target):
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, min(100000, int(target / max(once, 1e-7))))


# Seconds of rest before each contestant's turn, at least. Worker threads that spin after a
# call (PyTorch's OpenMP threads, an OpenBLAS pool) hold a core after it: on a 2-core machine
# the contestant that followed PyTorch ran 5-7x slower for that (784-256-10 float64 predict at
# batch 64: 3.9 ms instead of 0.57 ms right after a PyTorch call, 0.64-0.80 ms after 5-20 ms of
# rest, whichever code ran next), and NumPy's OpenBLAS kept one core busy for 110-120 ms after
# a call (the process's CPU time grew at one core's rate while its main thread slept), taking
# half of the second core from the next contestant that computes on two. So each turn starts
# on idle cores: the rest goes on, up to SETTLE_MAX, while the process's threads still burn CPU.
SETTLE = 0.02
SETTLE_MAX = 0.3


def rest_until_idle(seconds=SETTLE, longest=SETTLE_MAX):
    """Sleep `seconds`, then on in steps of `seconds` while this process's other threads (a
    library's spinning pool) used more than a tenth of a core during the last step, `longest`
    seconds at most in all."""
    waited = 0.0
    while True:
        cpu, wall = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        waited += seconds
        busy = time.process_time() - cpu
        if busy <= 0.1 * (time.perf_counter() - wall) or waited >= longest - 1e-9:
            return waited


def measure_row(fns, target=0.02, repeats=7, settle=SETTLE):
    """{contestant: best seconds per call}: each fn warmed up, its calls per round calibrated
    to about `target` seconds, then `repeats` rounds in which the contestants take turns, each
    round in another order (so that no contestant always follows the same one), each turn
    after `settle` seconds of rest, longer while threads of the process still spin
    (``rest_until_idle``), and one untimed call: after the rest a library's threads are
    asleep and the caches cold, which the first call pays for (2-4x a call's time at batch 1
    on 784-1024-1024-10, for every contestant), and a turn of the quick mode's few calls
    would count it as the time of a call."""
    for fn in fns.values():
        fn()
    calls = {c: _calibrate(fn, target) for c, fn in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    order = list(fns)
    for r in range(repeats):
        shift = r % len(order)
        for c in order[shift:] + order[:shift]:
            fn, n = fns[c], calls[c]
            rest_until_idle(settle)
            fn()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[c] = min(best[c], (time.perf_counter() - start) / n)
    return best


def run_serving(quick=False, dtypes=("float32", "float64"), configs=CONFIGS, progress=None):
    """ServingRows: predict at PREDICT_BATCHES on every network of `configs`, then train_step
    at STEP_BATCHES on the STEP_CONFIGS among them, in each dtype."""
    target, repeats = (0.005, 3) if quick else (0.03, 7)
    rows = []
    for dtype in dtypes:
        # one network per layer sizes (3-4-2 is benchmarked at two batches)
        networks = list({c.sizes: c for c in reversed(configs)}.values())[::-1]
        jobs = [(c, "predict", b) for c in networks for b in PREDICT_BATCHES]
        jobs += [(c, "train_step", b) for c in configs if c in STEP_CONFIGS
                 for b in STEP_BATCHES]
        for config, op, batch in jobs:
            if progress:
                progress(f"{config.name} {dtype} {op} at batch {batch}")
            fns = serving_callables(config, dtype, op, batch)
            rows.append(ServingRow(config, str(np.dtype(dtype)), op, batch,
                                   measure_row(fns, target, repeats)))
            del fns
    return rows


def _us(seconds):
    return "-" if seconds is None else f"{seconds * 1e6:,.1f}"


def _x(ratio):
    return "-" if ratio is None else f"{ratio:.2f}x"


def serving_table(rows):
    """The rows as a text table: microseconds per call, then each baseline's time over
    nncore's (> 1: nncore is faster), and whether nncore met the target."""
    header = ["network", "dtype", "op", "batch", "nncore us", "numpy us", "torch us",
              "onnxrt us", "vs numpy", "vs torch", "vs onnxrt", "met"]
    lines = [header]
    for r in rows:
        s = r.seconds
        lines.append([f"{'-'.join(map(str, r.config.sizes))}", r.dtype, r.op, str(r.batch),
                      _us(s["nncore"]), _us(s.get("numpy")), _us(s.get("torch")),
                      _us(s.get("onnxruntime")), _x(r.ratio("numpy")), _x(r.ratio("torch")),
                      _x(r.ratio("onnxruntime")), "yes" if r.met else "NO"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) if i >= 3 else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(line, widths)))
                     for line in lines)


def serving_summary(rows):
    """Lines: how many rows met the target, the worst ratio against NumPy and ONNX Runtime,
    and whether train_step at batch 1 was ever slower than at batch 4."""
    lines = []
    met = sum(r.met for r in rows)
    lines.append(f"serving targets met (nncore >= NumPy and >= ONNX Runtime): {met} of "
                 f"{len(rows)}")
    for contestant in ("numpy", "onnxruntime", "torch"):
        ratios = [(r.ratio(contestant), r) for r in rows if r.ratio(contestant) is not None]
        if ratios:
            worst, r = min(ratios, key=lambda t: t[0])
            lines.append(f"worst ratio against {contestant}: {worst:.2f}x at "
                         f"{'-'.join(map(str, r.config.sizes))} {r.dtype} {r.op} batch "
                         f"{r.batch}")
    for r1 in rows:
        if r1.op == "train_step" and r1.batch == 1:
            r4 = next((r for r in rows if r.op == "train_step" and r.batch == 4
                       and r.config == r1.config and r.dtype == r1.dtype), None)
            if r4 is not None:
                t1, t4 = r1.seconds["nncore"], r4.seconds["nncore"]
                lines.append(f"train_step {'-'.join(map(str, r1.config.sizes))} {r1.dtype}: "
                             f"batch 1 {t1 * 1e6:,.0f} us, batch 4 {t4 * 1e6:,.0f} us "
                             f"({'not slower' if t1 <= t4 else 'SLOWER'})")
    return lines
