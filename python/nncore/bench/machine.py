"""The machine and the libraries the numbers depend on: the report's header."""
import os
import platform

import numpy as np

__all__ = ["threadpool_info", "blas_threads", "usable_cores", "machine_info"]


def threadpool_info():
    """threadpoolctl's description of the loaded thread pools, or None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info as info
    except ImportError:
        return None
    return info()


def usable_cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def blas_threads():
    """Threads of the BLAS that nncore calls (via threadpoolctl), else the usable cores."""
    from .. import _kernels
    info = threadpool_info()
    blas = [lib for lib in info or () if lib.get("user_api") == "blas"]
    if not blas:
        return usable_cores()
    # the library nncore._kernels.blas_info() names (NumPy's own OpenBLAS, or SciPy's)
    path = _kernels.blas_info().get("path")
    ours = [lib["num_threads"] for lib in blas
            if path and os.path.realpath(lib.get("filepath", "")) == path]
    return ours[0] if ours else max(lib["num_threads"] for lib in blas)


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
    from .. import __version__, _kernels
    from .baselines import sklearn_module, torch_module
    usable = usable_cores()
    torch, sklearn = torch_module(), sklearn_module()
    blas = _kernels.blas_info()
    lines = [f"CPU: {_cpu_model()}, {os.cpu_count()} logical cores"
             + (f" ({usable} usable)" if usable != os.cpu_count() else ""),
             f"nncore's kernels: cpu path {_kernels.cpu_path()} (of {_kernels.cpu_paths()}); "
             f"BLAS: {blas['library']}'s"
             + (f" ({os.path.basename(blas['path'])})" if blas.get("path") else ""),
             f"Python {platform.python_version()}, nncore {__version__}, numpy {np.__version__}, "
             + (f"torch {torch.__version__}" if torch else "torch: not installed") + ", "
             + (f"scikit-learn {sklearn.__version__}" if sklearn
                else "scikit-learn: not installed")]
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()
        busy = load[0] > 0.5 * usable
        lines.append(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
                     + (" (the machine is busy: timings are noisy, compare the ratios of one "
                        "run)" if busy else ""))
    info = threadpool_info()
    if info is None:
        lines.append("thread pools: threadpoolctl not installed (pip install threadpoolctl)")
    for lib in sorted(info or (), key=lambda lib: (lib.get("user_api") or "",
                                                   lib.get("filepath") or "")):
        path = lib.get("filepath") or ""
        where = os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
        lines.append(f"  {lib.get('user_api')}: {lib.get('internal_api')} "
                     f"{lib.get('version') or ''} ({where}), {lib.get('num_threads')} threads")
    if torch is not None:
        lines.append(f"PyTorch threads: {blas_threads()} (set to the BLAS threads)")
    return lines
