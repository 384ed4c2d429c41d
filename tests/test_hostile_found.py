import os
import tempfile
import tracemalloc

import numpy as np
import pytest

from nncore import Network


@pytest.mark.parametrize("call", ["predict", "loss"])
def test_numpy_backend_reading_calls_use_bounded_memory(call):
    # docs/guide/threads.md: predict and loss on N rows work in chunks; extra memory is one
    # chunk's workspace (~1024 * (3*266 + 60) * 8 bytes, about 7 MB here), plus the output
    net = Network([50, 256, 10], loss="cross_entropy", backend="numpy", seed=0)
    rng = np.random.default_rng(0)
    X = rng.random((100_000, 50))
    y = rng.integers(0, 10, 100_000)
    tracemalloc.start()
    try:
        net.predict(X) if call == "predict" else net.loss(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{call} peaked at {peak / 2**20:.0f} MB"


def test_load_directory_is_valueerror_naming_it():
    d = tempfile.mkdtemp()
    with pytest.raises(ValueError, match=os.path.basename(d)):
        Network.load(d)
