"""The dataset nncore ships: the 8x8 handwritten digits.

Optical Recognition of Handwritten Digits, E. Alpaydin and C. Kaynak (1998), UCI Machine
Learning Repository, https://doi.org/10.24432/C50P49, licensed CC BY 4.0. These are the 1,797
examples of its test set, as distributed with scikit-learn (``sklearn.datasets.load_digits``);
see ``data/DIGITS.txt`` beside this module.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import NDArray

__all__ = ["load_digits"]


def load_digits() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Load the 8x8 handwritten digits shipped with nncore.

    Returns
    -------
    X : ndarray of float64, shape (1797, 64)
        Pixel counts in [0, 16], one image a row.
    y : ndarray of int64, shape (1797,)
        The digit of each image, 0 to 9.

    Examples
    --------
    >>> import nncore
    >>> X, y = nncore.load_digits()
    >>> X.shape, y.shape, int(X.max()), sorted(set(y.tolist())) == list(range(10))
    ((1797, 64), (1797,), 16, True)
    """
    from importlib import resources   # here, not at import: it pulls in pathlib, urllib

    with resources.files("nncore").joinpath("data/digits.npz").open("rb") as f:
        with np.load(f, allow_pickle=False) as data:
            return data["X"].astype(np.float64), data["y"].astype(np.int64)
