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

# (see the "once" marker in pyproject.toml)
pytestmark = pytest.mark.once

# module: the optional dependency its examples need (skipped where it is not installed)
DOCSTRING_MODULES = {
    "nncore": None, "nncore.activations": None, "nncore.layers": None, "nncore.losses": None,
    "nncore.functional": None, "nncore.network": None, "nncore.optimizers": None,
    "nncore.schedules": None, "nncore.training": None, "nncore.callbacks": None,
    "nncore.datasets": None, "nncore._kernels": None, "nncore.sklearn": "sklearn",
    "nncore.plot": "matplotlib",
}


@pytest.mark.parametrize("module", list(DOCSTRING_MODULES))
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    if DOCSTRING_MODULES[module]:
        pytest.importorskip(DOCSTRING_MODULES[module])
    if module == "nncore.plot":
        import matplotlib
        matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)      # an example that names a relative file writes nothing here
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE,
                             extraglobs={"np": np}, verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"


ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DOCS_URL = "https://nncore-nn.readthedocs.io/en/latest/"
# its code starts a Dask cluster: shown, not run, by the docs' build; tests/test_dask.py runs it
SCALING_OUT = DOCS / "user-guide" / "scaling-out.md"


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
    assert [section for section, _ in blocks] == ["Example"]
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    for section, code in blocks:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, f"README.md ({section})", "exec"), namespace)
    # the example trained a useful network, traced it, and saved and loaded it
    assert 0.9 < namespace["accuracy"] <= 1
    assert namespace["history"].val_loss and len(namespace["history"]) <= 100
    assert namespace["delta"].shape == (2, 10)
    assert isinstance(namespace["net"], namespace["nncore"].Network)
    assert (tmp_path / "digits.npz").is_file()


def test_readme_is_one_page_with_the_quick_start_commands():
    text = README.read_text(encoding="utf-8")
    assert 120 <= len(text.splitlines()) <= 220
    assert "pip install . && nncore train" in text
    assert 'pip install ".[test]" && python -m pytest' in text
    headings = re.findall(r"^## (.*)$", text, re.M)
    for heading in ("Install", "Quick start", "Example", "Performance", "Documentation"):
        assert heading in headings


def test_scaling_out_page_has_the_code_that_test_dask_runs():
    blocks = _python_blocks(SCALING_OUT.read_text(encoding="utf-8"))
    assert len(blocks) == 3
    code = "\n".join(code for _, code in blocks)
    for name in ("same", "search", "inc", "client", "digits_X", "digits_y"):
        assert re.search(rf"^{name}\b|\b{name} = ", code, re.M), name


def _docs_page(url_path):
    """The source file of a page of the built site, from its path under the site's root."""
    stem = url_path.removesuffix(".html")
    if stem == "auto_examples/index":
        return DOCS / "examples" / "README.txt"
    for suffix in (".md", ".rst"):
        if (DOCS / (stem + suffix)).is_file():
            return DOCS / (stem + suffix)
    return None


def test_readme_links_into_the_docs_point_to_pages_that_exist():
    text = README.read_text(encoding="utf-8")
    links = re.findall(re.escape(DOCS_URL) + r"([\w/.-]+)", text)
    assert len(links) >= 10
    missing = [link for link in links if _docs_page(link) is None]
    assert not missing, f"README links to docs pages that do not exist: {missing}"


def _public_names():
    import nncore
    import nncore.functional
    names = [f"nncore.{n}" for n in nncore.__all__
             if n not in ("functional", "losses", "__version__")]
    names += [f"nncore.functional.{n}" for n in nncore.functional.__all__]
    names += [f"nncore.losses.{n}" for n in ("Loss", "Huber", "get_loss")]
    names += [f"nncore.plot.{n}" for n in ("draw_network", "plot_trace", "plot_activations",
                                           "plot_history", "plot_decision_regions")]
    names += ["nncore.sklearn.MLPClassifier", "nncore.sklearn.MLPRegressor"]
    return names


def test_read_the_docs_builds_the_site_as_ci_does():
    """.readthedocs.yaml (the published site) installs nncore with the docs extra, which
    pyproject declares, and builds docs/conf.py with warnings as errors, as .ci/docs does."""
    yaml = pytest.importorskip("yaml")
    tomllib = pytest.importorskip("tomllib")
    if not (ROOT / ".readthedocs.yaml").is_file():
        pytest.skip("run outside the source tree")
    config = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text("utf-8"))
    assert config["version"] == 2
    assert config["sphinx"]["configuration"] == "docs/conf.py"
    assert config["sphinx"]["fail_on_warning"] is True
    install = config["python"]["install"]
    assert {"method": "pip", "path": ".", "extra_requirements": ["docs"]} in install
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"]
    assert "docs" in extras
    assert (ROOT / config["sphinx"]["configuration"]).is_file()
    # the core is compiled there: a C compiler in the build image
    assert "build-essential" in config["build"]["apt_packages"]


def test_public_docstrings_pass_numpydoc_validation():
    """docs/validate_docstrings.py (what .ci/docs runs) finds nothing: every public name and
    method has its summary, Parameters, Returns and an example, in numpydoc's form."""
    pytest.importorskip("numpydoc")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    script = DOCS / "validate_docstrings.py"
    if not script.is_file():
        pytest.skip("run outside the source tree")
    spec = importlib.util.spec_from_file_location("validate_docstrings", script)
    validator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(validator)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = validator.main(["--strict"])
    assert status == 0, out.getvalue()[-3000:]


def test_api_reference_lists_every_public_name():
    """docs/api/index.rst has an autosummary entry for each public name (under its module's
    currentmodule), so the generated reference covers the whole public API."""
    text = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    listed, module = set(), None
    for line in text.splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match.group(1)
        elif re.match(r"   [A-Za-z_]\w*$", line) and module:
            listed.add(f"{module}.{line.strip()}")
    missing = [name for name in _public_names() if name not in listed]
    assert not missing, f"not in the API reference: {missing}"
    pytest.importorskip("matplotlib")
    import nncore.plot
    assert set(nncore.plot.__all__) == {n.rsplit(".", 1)[1] for n in listed
                                        if n.startswith("nncore.plot.")}


def _project_texts():
    """README.md and the pages and examples of docs/ (not the build's output)."""
    files = [README] + [p for p in DOCS.rglob("*")
                        if p.suffix in (".md", ".rst", ".py", ".txt") and p.is_file()
                        and not any(part in ("_build", "_generated", "generated", "auto_examples")
                                    for part in p.relative_to(DOCS).parts)]
    return {p: p.read_text(encoding="utf-8") for p in files}


def test_docs_speak_to_users():
    """No issue numbers and no names of files outside the repository."""
    for path, text in _project_texts().items():
        assert not re.search(r"\bissues? #?\d+|the \w+ issue\b|the issue's", text, re.I), path
        assert "basics-of-neural-networks" not in text, path
        assert "shared/" not in text, path


def _docs_url_of_the_docstring():
    import nncore
    urls = re.findall(r"https://[\w.-]+\.readthedocs\.io", nncore.__doc__)
    assert urls, "help(nncore) gives no address of the docs"
    assert len(set(urls)) == 1, urls
    return urls[0]


def test_the_package_docstring_points_to_the_docs():
    import nncore
    # the Read the Docs project is named after the distribution (nncore-nn), not the import
    assert _docs_url_of_the_docstring() == "https://nncore-nn.readthedocs.io"
    assert "README" not in nncore.__doc__
    assert DOCS_URL.startswith(_docs_url_of_the_docstring() + "/")


def test_the_metadata_documentation_url_is_the_docstrings():
    import importlib.metadata
    from nncore._version import DISTRIBUTION
    declared = []
    if (ROOT / "pyproject.toml").is_file():
        tomllib = pytest.importorskip("tomllib")
        project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
        declared.append(("pyproject.toml", project["urls"]["Documentation"]))
    try:
        urls = importlib.metadata.metadata(DISTRIBUTION).get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:     # run on an in-place build
        urls = None
    if urls is not None:
        by_label = dict(u.split(", ", 1) for u in urls)
        declared.append(("installed metadata", by_label.get("Documentation")))
    if not declared:
        pytest.skip("neither pyproject.toml nor an installed distribution to read")
    for where, url in declared:
        assert url == _docs_url_of_the_docstring(), where


def _pages_with_python_blocks():
    """The guide's pages whose ```python blocks are shown, not run, by the docs' build: the
    drop-in topic pages of docs/guide/ and the user guide's (but the Dask page's, run by
    tests/test_dask.py)."""
    pages = sorted((DOCS / "guide").glob("*.md")) + sorted((DOCS / "user-guide").glob("*.md"))
    return [p for p in pages if p != SCALING_OUT and _python_blocks(p.read_text("utf-8"))]


@pytest.mark.parametrize("page", _pages_with_python_blocks(), ids=lambda p: p.name)
def test_guide_topic_pages_code_runs(page, tmp_path, monkeypatch):
    """The ```python blocks of a guide page run, in order, in one namespace (their >>> blocks
    are run by the docs' doctest build)."""
    blocks = [(section, code) for section, code in _python_blocks(page.read_text("utf-8"))
              if not code.lstrip().startswith(">>>")]
    # a page whose code imports an optional dependency (an extra, e.g. skl2onnx) runs where
    # that extra is installed
    for _, code in blocks:
        for name in re.findall(r"^(?:import|from)\s+(\w+)", code, flags=re.M):
            pytest.importorskip(name, reason=f"{page.name} imports {name}, an optional extra")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for section, code in blocks:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, f"{page.name} ({section})", "exec"), namespace)
