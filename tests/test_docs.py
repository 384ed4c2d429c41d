"""The >>> examples in nncore's docstrings and the code of README.md run as written (against
the installed package)."""
import contextlib
import doctest
import importlib
import importlib.util
import io
import re
from pathlib import Path

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


README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks(text):
    """(section title, code) of each ```python block of a Markdown text, in order."""
    blocks, section = [], None
    for match in re.finditer(r"^(#+ [^\n]*)$|^```python\n(.*?)^```", text, re.M | re.S):
        if match.group(1):
            section = match.group(1).lstrip("#").strip()
        else:
            blocks.append((section, match.group(2)))
    return blocks


def test_readme_examples_run(tmp_path, monkeypatch):
    """Every ```python block of README.md runs, in order, in one namespace (as a reader pasting
    them one after the other would), in an empty working directory."""
    blocks = _python_blocks(README.read_text(encoding="utf-8"))
    sections = {section for section, _ in blocks}
    assert {"Example: the worked examples of the seed",
            "Training many networks at once"} <= sections
    pytest.importorskip("threadpoolctl")  # in the test extra; the README says to install it
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    results = {}
    has_onnx = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))
    for section, code in blocks:
        if section == "Export to ONNX" and not has_onnx:
            continue   # the onnx extra is optional (pip install "nncore-nn[onnx]")
        if section == "Scaling out":
            continue   # starts a Dask cluster: run by tests/test_dask.py (marked dask)
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, f"README.md ({section})", "exec"), namespace)
        results[section] = dict(namespace)
    # the grid search trained every network of its grid, each to a useful accuracy
    grid = results["Training many networks at once"]
    assert len(grid["scores"]) == len(grid["grid"]) == 6
    assert all(0.8 < score <= 1 for score in grid["scores"])
    assert (grid["best_hidden"], grid["best_lr"]) in grid["grid"]
    if has_onnx:
        # the exported model, run by onnxruntime, gave predict's outputs
        assert results["Export to ONNX"]["same"] is True
