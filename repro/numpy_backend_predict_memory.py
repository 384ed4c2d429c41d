"""predict/loss on the NumPy backend need memory for all N rows at once, not one chunk."""
import tracemalloc
import numpy as np
from nncore import Network

net = Network([50, 256, 10], loss="cross_entropy", backend="numpy")
X = np.random.default_rng(0).random((100_000, 50))
tracemalloc.start()
net.predict(X)
peak = tracemalloc.get_traced_memory()[1]
print(f"peak {peak / 2**20:.0f} MB (chunk bound ~8 MB, output 8 MB)")
