"""nncore's version: the one place it is written (pyproject.toml reads it at build time)."""
__version__ = "0.1.0"

# The distribution's name on PyPI (`pip install nncore-nn`); the import name is `nncore`.
# pyproject.toml's [project] name is the same (tests/test_shipping.py checks it); install
# hints in error messages read it from here.
DISTRIBUTION = "nncore-nn"
