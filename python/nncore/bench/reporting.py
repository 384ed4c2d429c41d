"""The report: run every case, print the machine, the table, the Adam rows, the matmul rates,
nncore mixed with NumPy, many networks in threads and the scikit-learn estimators; and the
command line of ``nncore bench``."""
import argparse
import os
import sys
import time

from .baselines import ADAM_BACKENDS, DEFAULT_BACKENDS, available, make_case, subnormal_count
from .estimators import SPARSE_EPOCHS
from .machine import machine_info, usable_cores
from .networks import ADAM, CONFIGS, DTYPES, GEMM_SHAPE, LARGEST, OPS, THREAD_CONFIGS
from .table import (Row, adam_summary, adam_table, estimator_summary, estimator_table,
                    format_table, gemm_lines, summary, threads_lines)
from .timing import (blas_gemm_rate, many_networks, measure, mixed_with_numpy,
                     numpy_matmul_rate, numpy_step_rate)

__all__ = ["DESCRIPTION", "run", "run_threads", "run_estimator_rows", "report",
           "add_arguments", "command", "main"]

DESCRIPTION = ("Time nncore against a plain NumPy training step, PyTorch and scikit-learn on the "
               "benchmark networks, and print one table.")

# (target seconds per repeat, repeats) of a case
QUICK, FULL = (0.005, 5), (0.1, 7)
# (epochs, target seconds per repeat, repeats) of an estimator's fit: 100 epochs in a full run
ESTIMATORS_QUICK, ESTIMATORS_FULL = (10, 0.005, 3), (100, 0.1, 3)


def _settings(quick):
    return QUICK if quick else FULL


def run(quick=False, dtypes=DTYPES, configs=CONFIGS, ops=OPS, backends=DEFAULT_BACKENDS,
        progress=None, adam=True):
    """Measure every (config, dtype, op) on every available backend of `backends`, and with
    `adam` the ADAM case of each (config, dtype) on the backends of ADAM_BACKENDS among them,
    just after its ops (so that its Adam/SGD ratio divides two times of the same run).

    Returns (rows, numpy_rates, blas_rates, step_rates): a list of Row (the ADAM rows among
    them, op ADAM, each after its config's and dtype's ops); per dtype NumPy's matmul rate in
    GFLOP/s on GEMM_SHAPE (when ``LARGEST`` is among `configs`), the better of two
    measurements just before that network's cases and just after its ``fit``, so that the rate
    and the fit it bounds run under the same conditions; and per dtype the rate of the BLAS gemm
    that nncore's core calls on that shape (None where it cannot be timed); and per dtype
    NumPy's matmul rate on the products of LARGEST's own step (``numpy_step_rate``), the bound
    of its fit rate.
    quick: fewer and shorter repeats.
    progress: a callable taking one line of text, called before each case.
    """
    target, repeats = _settings(quick)
    backends = [b for b in backends if available(b)]
    rows, numpy_rates, blas_rates, step_rates = [], {}, {}, {}
    rate_repeats = 5 if quick else 20
    for dtype in dtypes:
        for config in configs:
            if config == LARGEST:
                numpy_rates[dtype] = numpy_matmul_rate(dtype, repeats=rate_repeats)
                blas_rates[dtype] = blas_gemm_rate(dtype, repeats=rate_repeats)
                step_rates[dtype] = numpy_step_rate(config, dtype, repeats=rate_repeats)
            for op in ops:
                if progress:
                    progress(f"{config.name} {dtype} {op}")
                seconds = {}
                for backend in backends:
                    case = make_case(config, dtype, op, backend)
                    seconds[backend] = measure(case, target, repeats) / case.steps
                    del case
                rows.append(Row(config, dtype, op, seconds))
                if config == LARGEST and op == "fit":
                    numpy_rates[dtype] = max(numpy_rates[dtype],
                                             numpy_matmul_rate(dtype, repeats=rate_repeats))
                    step_rates[dtype] = max(step_rates[dtype],
                                            numpy_step_rate(config, dtype, repeats=rate_repeats))
            adam_backends = [b for b in backends if b in ADAM_BACKENDS]
            if adam and adam_backends:
                if progress:
                    progress(f"{config.name} {dtype} adam")
                seconds, extra = {}, {}
                for backend in adam_backends:
                    case = make_case(config, dtype, ADAM, backend)
                    seconds[backend] = measure(case, target, repeats) / case.steps
                    if backend == "nncore":
                        extra["subnormal"] = subnormal_count(case.network)
                    del case
                rows.append(Row(config, dtype, ADAM, seconds, extra))
    return rows, numpy_rates, blas_rates, step_rates


def run_threads(quick=False, dtypes=DTYPES, configs=THREAD_CONFIGS, progress=None):
    """ThreadsResults of ``many_networks`` for K = 2 and K = the usable cores, on each of
    `configs` (default THREAD_CONFIGS) and `dtypes`. ImportError without threadpoolctl."""
    import threadpoolctl  # noqa: F401  (the ImportError, before any work)
    results = []
    for dtype in dtypes:
        for config in configs:
            for k in sorted({2, usable_cores()}):
                if progress:
                    progress(f"{k} x {config.name} {dtype} in threads")
                results.append(many_networks(config, dtype, k, *((0.03, 3) if quick
                                                                 else (0.2, 5))))
    return results


def run_estimator_rows(quick=False, dtypes=DTYPES, progress=None):
    """EstimatorResults of ``estimators.run_estimators`` at the epochs and repeats of `quick`
    (ESTIMATORS_QUICK or ESTIMATORS_FULL). ImportError without scikit-learn."""
    from .estimators import run_estimators
    epochs, target, repeats = ESTIMATORS_QUICK if quick else ESTIMATORS_FULL
    return run_estimators(epochs, target, repeats, dtypes, progress=progress,
                          sparse=not quick)


def report(quick=False, dtypes=DTYPES, configs=CONFIGS, backends=DEFAULT_BACKENDS, file=None,
           adam=True, estimators=True, serving=True, dropout=True):
    """Run the comparison and print it to `file` (default: stdout).

    dropout: measure and print the cost of Dropout(0.5) per step inside fit (nncore.bench
    .dropout) on 64-32-10 and 784-256-10.

    adam: measure and print the ADAM rows (nncore's Adam step inside fit against its SGD step
    and against PyTorch's Adam step).
    estimators: measure and print ``nncore.sklearn.MLPClassifier`` against scikit-learn's
    (when "sklearn" is among `backends` and can be imported).

    Returns (rows, numpy_rates, blas_rates, step_rates, threads, estimator_results): what
    ``run`` returns, the ThreadsResults of ``run_threads`` on the THREAD_CONFIGS among
    `configs` (empty without threadpoolctl), and the EstimatorResults (empty when not run).
    """
    file = sys.stdout if file is None else file

    def say(*lines):
        for line in lines:
            print(line, file=file)

    start = time.perf_counter()
    say("nncore benchmark" + (" (--quick)" if quick else ""), *machine_info())
    missing = [b for b in backends if not available(b)]
    if missing:
        say("not measured (cannot be imported): " + ", ".join(missing))
    progress = None
    if sys.stderr.isatty():
        def progress(text):
            print(f"\r\033[K  measuring {text} ...", end="", file=sys.stderr, flush=True)
    rows, numpy_rates, blas_rates, step_rates = run(quick=quick, dtypes=dtypes, configs=configs,
                                                    backends=backends, progress=progress,
                                                    adam=adam)
    say("",
        "us per step (train_step: one call on a batch; fit/step: one fit epoch / its steps; "
        "predict: one batch).",
        "NumPy: a plain NumPy training step written as a user would "
        "(nncore.bench.PlainNumpyMLP),",
        "in the network's dtype, one-hot targets made once outside the timed calls. Every "
        "contestant gets integer labels.",
        "vs X = X's time / nncore's time (> 1: nncore is faster); target: nncore's speedup target "
        "over the plain NumPy step.",
        "GFLOP/s: nncore's, in the matrix products.", "")
    say(format_table(rows), "", *summary(rows))
    if any(r.op == ADAM for r in rows):
        say("", "Adam: nncore's step inside fit with optimizer=\"adam\" against its "
                "SGD step inside fit (the fit/step above),",
            "and against PyTorch's torch.optim.Adam step on a fixed batch (zero_grad, forward, "
                "loss, backward, step; same threads).",
            "subnormal: how many of nncore's parameters and Adam moments were subnormal after "
            "the timing (x86 computes on them many times slower).", "")
        say(adam_table(rows), "", *adam_summary(rows))
    if dropout:
        from .dropout import DROPOUT_CONFIGS, DROPOUT_P, dropout_table, run_dropout
        if any(c in configs for c in DROPOUT_CONFIGS):
            say("", f"Dropout: nncore's step inside fit with Dropout({DROPOUT_P:g}) after "
                    f"every hidden layer against the same network without it",
                "(timed in alternation, best of three rounds).", "")
            say(*dropout_table(run_dropout(quick, dtypes, configs, progress)))
    say(*gemm_lines(rows, LARGEST, GEMM_SHAPE, numpy_rates, blas_rates, step_rates))
    if CONFIGS[3] in configs:
        for dtype in dtypes:
            step, matmul, both = mixed_with_numpy(dtype, *_settings(quick))
            say(f"mixed with NumPy ({CONFIGS[3].name}, {dtype}): train_step {step * 1e6:,.0f} "
                f"us + NumPy matmul {matmul * 1e6:,.0f} us alone; alternating "
                f"{both * 1e6:,.0f} us per pair")
    threads = []
    thread_configs = [c for c in THREAD_CONFIGS if c in configs]
    if thread_configs:
        say("", "Many networks at once: K networks trained by fit in K Python threads against "
                "the same K fits one after the other,",
            "BLAS limited to 1 thread (threadpoolctl); ideal throughput ratio: K.")
        try:
            threads = run_threads(quick, dtypes, thread_configs, progress)
        except ImportError:
            say("skipped: threadpoolctl is not installed (pip install threadpoolctl, or "
                "nncore's bench extra)")
        say(*threads_lines(threads, usable_cores()))
    if serving:
        from .serving import (PREDICT_BATCHES, STEP_BATCHES, STEP_CONFIGS, run_serving,
                              serving_summary, serving_table)
        say("", f"Serving and online learning: predict at batch {PREDICT_BATCHES} on every "
                f"network, train_step at batch {STEP_BATCHES} on",
            f"{', '.join(c.name.split()[0] for c in STEP_CONFIGS if c in configs) or 'none'};"
            " against the plain NumPy forward (step), PyTorch under torch.inference_mode()",
            "and ONNX Runtime (float32) running nncore's own ONNX export: CPU provider, "
            "intra-op threads = the BLAS threads, spinning off.",
            "Contestants take turns in rounds; best round. vs X = X's time / nncore's "
            "(> 1: nncore is faster); met: >= 1 against NumPy and ONNX Runtime.", "")
        serving_rows = run_serving(quick, dtypes, configs, progress)
        say(serving_table(serving_rows), "", *serving_summary(serving_rows))
    estimator_results = []
    if estimators and "sklearn" in backends and available("sklearn"):
        epochs = (ESTIMATORS_QUICK if quick else ESTIMATORS_FULL)[0]
        say("", "scikit-learn's estimators: nncore.sklearn.MLPClassifier against "
                "sklearn.neural_network.MLPClassifier, one whole fit",
            f"on the digits (standardised, 25% held out), hidden_layer_sizes=(64,), relu, "
            f"{epochs} epochs each (tol=0, n_iter_no_change=max_iter),",
            "sgd at learning_rate_init=0.05, adam at 0.001, every other parameter the default "
            "(alpha=1e-4, momentum 0.9 Nesterov);",
            "float32: nncore's dtype=\"float32\" and scikit-learn given float32 data. Best of "
            "the repeats, in seconds.",
            *(() if quick else (
                "tfidf-like sparse: CSR X 20,000 x 50,000 (density 0.2%, about 100 words a row, 20 "
                "classes, fixed seed; 25% held out), adam, hidden_layer_sizes=(100,), "
                f"{SPARSE_EPOCHS} epochs, one fit each.",)), "")
        estimator_results = run_estimator_rows(quick, dtypes, progress)
        say(estimator_table(estimator_results), "", *estimator_summary(estimator_results))
    if progress:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    command = "python -m nncore bench" + (" --quick" if quick else "")
    if tuple(dtypes) != DTYPES:
        command += f" --dtype {dtypes[0]}"
    if tuple(configs) != CONFIGS:
        command += "".join(f" --network {c.id}" for c in configs)
    if "nncore-numpy" in backends:
        command += " --with-numpy-backend"
    if not adam:
        command += " --no-adam"
    if not estimators and tuple(configs) == CONFIGS:
        command += " --no-estimators"
    if not serving:
        command += " --no-serving"
    if not dropout:
        command += " --no-dropout"
    load = (f"; load average at the end: {os.getloadavg()[0]:.2f}"
            if hasattr(os, "getloadavg") else "")
    say("", f"{time.perf_counter() - start:.0f} s{load}; made by: {command}")
    return rows, numpy_rates, blas_rates, step_rates, threads, estimator_results


def add_arguments(parser):
    """Add the options of ``nncore bench`` to an argparse parser."""
    parser.add_argument("--quick", action="store_true",
                        help="fewer, shorter repeats: about two minutes on 2 cores")
    parser.add_argument("--dtype", choices=DTYPES, default=None,
                        help="only this dtype (default: both)")
    parser.add_argument("--network", choices=[c.id for c in CONFIGS], action="append",
                        default=None, metavar="ID",
                        help="only this network (repeatable; default: all of "
                             + ", ".join(c.id for c in CONFIGS) + ")")
    parser.add_argument("--with-numpy-backend", action="store_true",
                        help="also time nncore's backend='numpy' (the tests' oracle; not a "
                             "baseline)")
    parser.add_argument("--no-adam", action="store_true",
                        help="skip the Adam rows (nncore's Adam step inside fit against its "
                             "SGD step and PyTorch's Adam step)")
    parser.add_argument("--no-estimators", action="store_true",
                        help="skip nncore.sklearn.MLPClassifier against scikit-learn's (they "
                             "run only when no --network is given)")
    parser.add_argument("--no-serving", action="store_true",
                        help="skip predict at batch 1, 8, 64, 256 against NumPy, PyTorch and "
                             "ONNX Runtime, and train_step at a few examples")
    parser.add_argument("--no-dropout", action="store_true",
                        help="skip the cost of Dropout(0.5) per step inside fit")
    return parser


def command(args):
    """Run the report for parsed ``nncore bench`` arguments."""
    configs = tuple(c for c in CONFIGS if args.network is None or c.id in args.network)
    backends = DEFAULT_BACKENDS + (("nncore-numpy",) if args.with_numpy_backend else ())
    report(quick=args.quick, dtypes=(args.dtype,) if args.dtype else DTYPES, configs=configs,
           backends=backends, adam=not args.no_adam,
           estimators=args.network is None and not args.no_estimators,
           serving=not args.no_serving, dropout=not args.no_dropout)
    return 0


def main(argv=None):
    """``python -m nncore.bench [options]``: the same as ``nncore bench [options]``."""
    parser = argparse.ArgumentParser(prog="python -m nncore.bench", description=DESCRIPTION)
    return command(add_arguments(parser).parse_args(argv))

