"""The cost of dropout per training step: nncore's step inside ``fit`` with ``Dropout(0.5)``
after every hidden layer, against the same network without it, in the same run."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from .networks import CONFIGS, DTYPES, LR, build_network, make_data
from .timing import _best

__all__ = ["DROPOUT_P", "DROPOUT_CONFIGS", "DropoutRow", "run_dropout", "dropout_table"]

DROPOUT_P = 0.5
# 64-32-10 (batch 32) and 784-256-10 (batch 64)
DROPOUT_CONFIGS = (CONFIGS[2], CONFIGS[3])


@dataclass
class DropoutRow:
    """One network and dtype: seconds per step inside ``fit`` without and with dropout."""
    config: object
    dtype: str
    plain: float
    dropout: float

    @property
    def ratio(self) -> float:
        """The step with dropout over the step without it."""
        return self.dropout / self.plain


def _fit_step(config, dtype, dropout, seed=0):
    # one fit epoch over config.fit_steps batches, called once to warm up
    X, labels = make_data(config, dtype, config.batch * config.fit_steps, seed)
    net = build_network(config, dtype, seed=seed, dropout=dropout)
    fn = partial(net.fit, X, labels, epochs=1, lr=LR, batch_size=config.batch)
    fn()
    return fn


def run_dropout(quick=False, dtypes=DTYPES, configs=DROPOUT_CONFIGS, progress=None):
    """DropoutRows of the DROPOUT_CONFIGS among `configs`, per dtype. The two networks are
    timed in alternation (three rounds each, the best round counts), so that both see the
    same machine."""
    target, rounds = (0.02, 3) if quick else (0.1, 3)
    rows = []
    for dtype in dtypes:
        for config in configs:
            if config not in DROPOUT_CONFIGS:
                continue
            if progress:
                progress(f"{config.name} {dtype} dropout")
            fns = [_fit_step(config, dtype, p) for p in (None, DROPOUT_P)]
            best = [float("inf"), float("inf")]
            for _ in range(rounds):
                for i, fn in enumerate(fns):
                    best[i] = min(best[i], _best(fn, target, 2))
            rows.append(DropoutRow(config, str(dtype), best[0] / config.fit_steps,
                                   best[1] / config.fit_steps))
    return rows


def dropout_table(rows):
    """Lines of a table: network, dtype, the step inside fit without and with dropout (us),
    and their ratio."""
    header = ["network", "dtype", "fit/step us", f"with Dropout({DROPOUT_P:g}) us", "ratio"]
    table = [header] + [[r.config.name, r.dtype, f"{r.plain * 1e6:,.1f}",
                         f"{r.dropout * 1e6:,.1f}", f"{r.ratio:.2f}x"] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(line, widths))) for line in table]
