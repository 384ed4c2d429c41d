"""MLPRegressor(loss="poisson"): nncore.sklearn's fit against scikit-learn's.

Counts drawn from a log-linear rate (5000 x 20 standard normal X, seeded), one hidden layer
of 64 ReLU units, ``max_iter`` epochs exactly (``tol=0``, ``n_iter_no_change=max_iter``),
each solver at the estimator benchmark's rates, batch sizes "auto" and 32, float64 and
float32 (scikit-learn given the data in that dtype). One warm-up fit, then the best of
``--repeats`` timed fits of each; prints the times, the ratio (scikit-learn / nncore) and the
mean Poisson deviance of both on a held-out quarter.

    PYTHONPATH=python python benches/poisson_estimator.py [--epochs 20] [--repeats 3]
"""
import argparse
import time
import warnings

import numpy as np


def counts(dtype, n=5000, d=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) * 0.15
    y = rng.poisson(np.exp(X @ w + 0.5)).astype(float)
    cut = n * 3 // 4
    X = X.astype(dtype)
    return X[:cut], X[cut:], y[:cut], y[cut:]


def main(argv=None):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import mean_poisson_deviance
    from sklearn.neural_network import MLPRegressor as SkMLP

    from nncore.sklearn import MLPRegressor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    lr = {"sgd": 0.01, "adam": 0.001}
    print(f"{'dtype':8} {'solver':6} {'batch':5} {'nncore s':>9} {'sklearn s':>9} "
          f"{'ratio':>6} {'dev nncore':>10} {'dev sklearn':>11}")
    for dtype in ("float64", "float32"):
        Xtr, Xte, ytr, yte = counts(dtype)
        for solver in ("sgd", "adam"):
            for bs in ("auto", 32):
                params = dict(loss="poisson", hidden_layer_sizes=(64,), solver=solver,
                              learning_rate_init=lr[solver], batch_size=bs,
                              max_iter=args.epochs, tol=0.0, n_iter_no_change=args.epochs,
                              random_state=0)
                row = {}
                for name, make in (("nncore", lambda: MLPRegressor(**params, dtype=dtype)),
                                   ("sklearn", lambda: SkMLP(**params))):
                    best = np.inf
                    for _ in range(args.repeats + 1):
                        est = make()
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ConvergenceWarning)
                            start = time.perf_counter()
                            est.fit(Xtr, ytr)
                            best = min(best, time.perf_counter() - start)
                    assert est.n_iter_ == args.epochs
                    dev = mean_poisson_deviance(yte, est.predict(Xte))
                    row[name] = (best, dev)
                nn, sk = row["nncore"], row["sklearn"]
                print(f"{dtype:8} {solver:6} {str(bs):5} {nn[0]:9.4f} {sk[0]:9.4f} "
                      f"{sk[0] / nn[0]:6.2f} {nn[1]:10.4f} {sk[1]:11.4f}")


if __name__ == "__main__":
    main()
