"""Sphinx configuration of nncore's documentation.

Build it from the repository root with ``python -m sphinx -b html docs docs/_build/html``
(``pip install ".[docs]"`` first). Every example is run while the site is built: the guide's
``runcode`` blocks (docs/_ext/nncore_sphinx.py), the figures of ``plot`` blocks and of the
gallery (docs/examples/), so what the pages show is what this nncore computes.
"""
import os
import warnings
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import nncore  # noqa: E402  (the installed package, or PYTHONPATH=python after an in-place build)

project = "nncore"
author = "the nncore developers"
copyright = "the nncore developers, MIT License"
release = nncore.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "nncore_sphinx",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "**.ipynb_checkpoints", "examples/README.txt"]
templates_path = ["_templates"]
html_static_path = ["_static"]

# Markdown pages (the guide, pages other parts of the project add to docs/guide/)
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

# numpydoc does not know the "Shape" section of nncore's docstrings; docs/_ext/nncore_sphinx.py
# moves it into Notes before numpydoc renders it (numpydoc still warns when it reads the original)
warnings.filterwarnings("ignore", message="Unknown section Shape", category=UserWarning)

# API reference: autosummary pages from the docstrings, numpydoc sections
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"            # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False   # the class template lists the members
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Validation of the public API's docstrings is run by docs/validate_docstrings.py (CI), which
# knows which modules must pass every check; here it would turn every finding into a warning.
numpydoc_validation_checks = set()

# >>> examples of the docstrings and pages, run by `sphinx-build -b doctest`
doctest_global_setup = """
import numpy as np
import matplotlib
matplotlib.use("Agg")
import nncore
"""

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
}
# offline builds (CI without network) get no cross-links to Python and NumPy, nothing else
if os.environ.get("NNCORE_DOCS_OFFLINE", "1") == "1":
    intersphinx_mapping = {}

# gallery: each docs/examples/plot_*.py runs at build time; its figures are the page's
sphinx_gallery_conf = {
    "examples_dirs": str(HERE / "examples"),
    "gallery_dirs": str(HERE / "auto_examples"),
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
}

html_theme = "pydata_sphinx_theme"
html_title = f"nncore {release}"
html_theme_options = {
    "navbar_end": ["search-button", "theme-switcher", "navbar-icon-links"],
    "secondary_sidebar_items": ["page-toc"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}
