"""What a pip-installed nncore promises besides its math: one version everywhere, a light
``import nncore``, the typing marker in the package."""
import importlib.metadata
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import nncore

# (see the "once" marker in pyproject.toml)
pytestmark = pytest.mark.once

ROOT = pathlib.Path(__file__).resolve().parent.parent
HERE = pathlib.Path(__file__).resolve().parent


def run(args, **kwargs):
    # run from the tests folder so that the installed nncore is the one imported
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=HERE,
                          **kwargs)


# -- version ---------------------------------------------------------------------------------

def installed_from_site_packages():
    # nncore run from a source tree (PYTHONPATH=python) is not the installed distribution
    here = pathlib.Path(nncore.__file__).resolve()
    return any(part in ("site-packages", "dist-packages") for part in here.parts)


def test_version_is_the_installed_distributions():
    from nncore._version import DISTRIBUTION, __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", nncore.__version__)
    assert nncore.__version__ == __version__
    if not installed_from_site_packages():
        pytest.skip(f"nncore is imported from {nncore.__file__}, not an installed distribution")
    assert nncore.__version__ == importlib.metadata.version(DISTRIBUTION)
    # the installed distribution that provides the import package nncore is nncore-nn
    assert DISTRIBUTION in importlib.metadata.packages_distributions()["nncore"]


def test_the_distribution_name_is_the_one_pyproject_declares():
    tomllib = pytest.importorskip("tomllib")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("run outside the source tree")
    from nncore._version import DISTRIBUTION
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # not "nncore": that name on PyPI is an unrelated project
    assert project["name"] == DISTRIBUTION == "nncore-nn"


def test_install_hints_name_the_distribution():
    # every `pip install "...[extra]"` in the package's messages and docstrings names nncore-nn
    package = pathlib.Path(nncore.__file__).parent
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"pip install \S*nncore\[", text), path


def test_pyproject_reads_the_version_from_version_py():
    tomllib = pytest.importorskip("tomllib")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("run outside the source tree")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "nncore._version.__version__"}


def test_python_m_nncore_version():
    result = run([sys.executable, "-m", "nncore", "--version"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"nncore {nncore.__version__}"


def test_nncore_script_version():
    script = shutil.which("nncore", path=str(pathlib.Path(sys.executable).parent))
    if script is None:
        pytest.skip("the nncore script is not installed beside this Python")
    result = run([script, "--version"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"nncore {nncore.__version__}"


def test_main_version(capsys):
    from nncore.cli import main
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"nncore {nncore.__version__}"


# -- typing marker ---------------------------------------------------------------------------

def test_py_typed_is_in_the_package():
    assert (pathlib.Path(nncore.__file__).parent / "py.typed").is_file()


# -- a light import --------------------------------------------------------------------------

HEAVY = ["scipy", "sklearn", "matplotlib", "onnx", "onnxruntime", "tqdm", "torch", "pandas",
         "dask", "distributed", "dask_ml"]


def allowed():
    # SciPy is imported for its BLAS only where NumPy's own OpenBLAS is not used (NumPy < 2,
    # a NumPy without scipy-openblas, or NNCORE_BLAS=scipy): see nncore._kernels.blas_info()
    return {"scipy"} if nncore._kernels.blas_info()["library"] == "scipy" else set()


def test_import_nncore_imports_no_optional_or_heavy_package():
    code = ("import sys, nncore; heavy = %r; "
            "print(' '.join(m for m in heavy if m in sys.modules))" % HEAVY)
    result = run([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) <= allowed()


def test_the_cli_help_imports_no_optional_or_heavy_package():
    code = ("import sys; from nncore.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = %r\n"
            "print('HEAVY:', ' '.join(m for m in heavy if m in sys.modules))" % HEAVY)
    result = run([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("HEAVY:") and set(last.split()[1:]) <= allowed()
