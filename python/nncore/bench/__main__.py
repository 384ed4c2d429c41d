"""``python -m nncore.bench [options]``: the same report as ``nncore bench``."""
import sys

from .report import main

sys.exit(main())
