"""The >>> examples in nncore's docstrings run as written (against the installed package)."""
import doctest
import importlib

import numpy as np
import pytest

@pytest.mark.parametrize("module", [
    "nncore", "nncore.activations", "nncore.layers", "nncore.losses",
    "nncore.functional",
    "nncore.network", "nncore.optimizers", "nncore.schedules", "nncore.training",
])
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE,
                             extraglobs={"np": np}, verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
