"""``python -m nncore.bench [options]``: the same report as ``nncore bench``."""
import sys

from .reporting import main

sys.exit(main())
