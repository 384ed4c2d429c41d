"""What a backend of nncore.Network does: one written interface, two implementations.

``nncore._engine.Engine`` (the compiled core, ``backend="cython"``) and
``nncore._numpy_backend.NumpyBackend`` (plain NumPy, ``backend="numpy"``, the tests' oracle)
both implement :class:`Backend`; ``tests/test_backend_protocol.py`` checks both against it.

The concurrency contract lives here too, the same for both:

- reading calls (``predict``, ``loss``, ``loss_and_gradients``, ``gradients``, ``trace``) run
  from any number of threads at once, each with a workspace of its own, and hold the backend's
  lock for reading while they compute;
- changing calls (``train_step``, ``run_epoch``, and what the Network claims through
  ``begin_change``: fit, assignments) run one at a time: while a thread holds the claim,
  another thread's changing call raises RuntimeError before it touches anything. The same
  thread may claim again (fit's epochs run inside fit's claim);
- each step (and each assignment to the parameters) holds the lock for writing, so a reading
  call sees the parameters between two whole steps, never a mix.
"""
from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable

__all__ = ["BACKENDS", "Backend", "RWLock", "Claim"]

BACKENDS = ("cython", "numpy")


@runtime_checkable
class Backend(Protocol):
    """The calls nncore.Network makes on its backend (shapes as in nncore.Network)."""

    def set_optimizer(self, *args: Any) -> None: ...

    def set_hyper(self, hyper: dict, kind: int) -> None: ...

    def train_step(self, X: Any, Y: Any, lr: Any, sample_weight: Any = None) -> float: ...

    def loss(self, X: Any, Y: Any, sample_weight: Any = None) -> float: ...

    def loss_and_gradients(self, X: Any, Y: Any, sample_weight: Any = None
                           ) -> tuple[float, list[dict[str, Any]]]: ...

    def gradients(self, X: Any, Y: Any, sample_weight: Any = None
                  ) -> list[dict[str, Any]]: ...

    def trace(self, X: Any, Y: Any) -> list[dict[str, Any]]: ...

    def predict(self, X: Any, out: Any = None) -> Any: ...

    def parameters_usable(self) -> bool: ...

    def run_epoch(self, X: Any, Y: Any, lr: float, batch_size: int, shuffle: bool,
                  seed: int, sample_weight: Any = None, weight_norms: Any = None,
                  order: Any = None) -> float: ...

    def begin_change(self) -> None: ...

    def end_change(self) -> None: ...

    def read_lock(self) -> None: ...

    def read_unlock(self) -> None: ...

    def write_lock(self) -> None: ...

    def write_unlock(self) -> None: ...

    @property
    def busy(self) -> bool: ...


class RWLock:
    """A reader-writer lock: any number of readers, or one writer; a waiting writer goes
    before new readers (the NumPy backend's; the compiled engine has the same in C)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0    # writers waiting

    def read_lock(self) -> None:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1

    def read_unlock(self) -> None:
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def write_lock(self) -> None:
        with self._cond:
            self._waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._writer = True

    def write_unlock(self) -> None:
        with self._cond:
            self._writer = False
            self._cond.notify_all()


def busy_error() -> RuntimeError:
    """The error of a changing call refused because another thread holds the network (both
    backends raise it)."""
    return RuntimeError("this network is already being trained or changed in another thread; "
                        "changing calls (fit, train_step, partial_fit, assignments) run one "
                        "at a time")


class Claim:
    """The claim of a changing call: held by one thread at a time, any number of times by
    that thread; another thread's claim raises busy_error()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0

    def begin(self) -> None:
        me = threading.get_ident()
        with self._lock:
            if self._depth and self._owner != me:
                raise busy_error()
            self._owner = me
            self._depth += 1

    def end(self) -> None:
        with self._lock:
            if self._depth:
                self._depth -= 1

    @property
    def held(self) -> bool:
        return self._depth > 0
