"""numpydoc validation of the public API's docstrings.

    python docs/validate_docstrings.py            # report; fail on the strict modules
    python docs/validate_docstrings.py --strict   # fail on any finding

Every public name (``nncore.__all__``, ``nncore.functional``, ``nncore.sklearn``,
``nncore.plot``, the compiled core's documented controls) and every public method of the
public classes is checked with ``numpydoc.validate`` for what a reader of the API reference
needs: a docstring with a one-line summary, every parameter documented (and no parameter
documented that does not exist), a Returns section where something is returned, and a
``>>>`` example. The modules in STRICT (all of them) must pass every numpydoc check but the
two listed in STRICT_EXEMPT (and GL02 for the compiled core's functions, whose docstrings
Cython reshapes); a name outside STRICT would only be reported, failing the run with
``--strict``.
"""
import argparse
import importlib
import inspect
import sys
import warnings
from collections import defaultdict

import numpydoc.validate
from numpydoc.validate import validate

# nncore's classes give the shapes they take in a PyTorch-style "Shape" section, after
# Attributes (docs/_ext/nncore_sphinx.py renders it); numpydoc knows it from here, so that a
# Shape section is no unknown section (GL06) and sits in its place (GL07)
if "Shape" not in numpydoc.validate.ALLOWED_SECTIONS:
    numpydoc.validate.ALLOWED_SECTIONS.insert(
        numpydoc.validate.ALLOWED_SECTIONS.index("Attributes") + 1, "Shape")

# what every public name must have
CHECKS = {
    "GL08": "no docstring",
    "SS01": "no one-line summary",
    "PR01": "a parameter is not documented",
    "PR02": "a documented parameter does not exist",
    "RT01": "no Returns section",
    "EX01": "no example",
}
STRICT = ("nncore.",)                 # every module: a new public name fails CI without docs
STRICT_EXEMPT = {"SA01", "ES01"}      # See Also, extended summary: where they help, not always
# Cython strips the blank line before a docstring's closing quotes, so the compiled core's
# functions can never pass GL02 (the closing quotes' place), however they are written
COMPILED = ("nncore._kernels.",)
COMPILED_EXEMPT = {"GL02"}

MODULE_NAMES = {
    "nncore": None,                      # nncore.__all__
    "nncore.functional": None,
    "nncore.sklearn": None,
    "nncore.plot": None,
    "nncore._kernels": ["cpu_path", "cpu_paths", "set_cpu_path", "blas_info", "set_blas",
                        "gemm_path"],
}


def public_names():
    names = []
    for module_name, listed in MODULE_NAMES.items():
        module = importlib.import_module(module_name)
        for name in listed or module.__all__:
            if name in ("functional", "__version__"):
                continue
            obj = getattr(module, name)
            qualified = f"{module_name}.{name}"
            names.append(qualified)
            if inspect.isclass(obj):
                # its own public methods and properties, and those it inherits from nncore's
                # classes (an estimator's fit from its private base); not scikit-learn's
                seen = set()
                for klass in inspect.getmro(obj):
                    if not klass.__module__.startswith("nncore"):
                        continue
                    for member, value in vars(klass).items():
                        if (member in seen or member.startswith("_")
                                or member.endswith("_request")):
                            continue
                        seen.add(member)
                        # (scikit-learn's available_if wraps partial_fit in a descriptor)
                        if callable(value) or isinstance(value, (property, classmethod,
                                                                 staticmethod)) \
                                or type(value).__name__ == "_AvailableIfDescriptor":
                            names.append(f"{qualified}.{member}")
    return names


def findings(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errors = validate(name)["errors"]
    strict = name.startswith(STRICT)
    if strict:
        exempt = STRICT_EXEMPT | (COMPILED_EXEMPT if name.startswith(COMPILED) else set())
        return strict, [(code, msg) for code, msg in errors if code not in exempt]
    return strict, [(code, msg) for code, msg in errors if code in CHECKS]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="fail on any finding")
    parser.add_argument("--quiet", action="store_true", help="only the summary")
    args = parser.parse_args(argv)
    failed_strict, counts, total = [], defaultdict(int), 0
    names = public_names()
    for name in names:
        strict, errors = findings(name)
        if not errors:
            continue
        total += 1
        if strict:
            failed_strict.append(name)
        for code, _ in errors:
            counts[code] += 1
        if not args.quiet or strict:
            print(f"{name}: " + "; ".join(f"{code} {msg}" for code, msg in errors))
    print(f"\n{len(names)} docstrings checked, {total} with findings"
          + "".join(f"\n  {code} ({CHECKS.get(code, 'numpydoc')}): {n}"
                    for code, n in sorted(counts.items())))
    if failed_strict:
        print(f"FAILED: {len(failed_strict)} docstrings must pass every numpydoc check but "
              f"{', '.join(sorted(STRICT_EXEMPT))}")
        return 1
    if args.strict and total:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
