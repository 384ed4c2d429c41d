"""A ``runcode`` directive: Python run while the docs are built, shown with its output.

    ```{runcode}
    import nncore.functional as F
    print(F.softmax([0.3, 0.6]))
    ```

renders the code, then what it printed. The blocks of one page run in order in one namespace
(a reader pasting them one after the other), in a temporary working directory; an exception
fails the build, naming the page and the block. ``:hide-code:`` shows only the output,
``:hide-output:`` only the code. Figures the block leaves open (matplotlib) are saved as PNG
under docs/_generated/ and shown after it, with ``:caption:`` as their caption.
"""
import contextlib
import io
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList
from sphinx.directives.other import TocTree
from sphinx.errors import ExtensionError

_NAMESPACES = {}


class RunCode(Directive):
    has_content = True
    option_spec = {"hide-code": directives.flag, "hide-output": directives.flag,
                   "caption": directives.unchanged}

    def run(self):
        env = self.state.document.settings.env
        docname = env.docname
        ns = _NAMESPACES.setdefault(docname, {"__name__": f"__docs__.{docname}"})
        code = "\n".join(self.content)
        out = io.StringIO()
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(code, f"{docname} (runcode, line {self.lineno})", "exec"), ns)
            except Exception as exc:
                raise ExtensionError(f"a runcode block of {docname} (line {self.lineno}) "
                                     f"failed:\n{traceback.format_exc()}") from exc
            finally:
                os.chdir(cwd)
        result = []
        if "hide-code" not in self.options:
            block = nodes.literal_block(code, code, language="python")
            result.append(block)
        text = out.getvalue().rstrip("\n")
        if text and "hide-output" not in self.options:
            output = nodes.literal_block(text, text, language="text")
            output["classes"].append("runcode-output")
            result.append(output)
        result.extend(self._figures(env, docname))
        return result

    def _figures(self, env, docname):
        """The matplotlib figures the block left open, saved and closed, as figure nodes."""
        if "matplotlib.pyplot" not in sys.modules:
            return []
        import matplotlib.pyplot as plt

        found = []
        outdir = Path(env.srcdir) / "_generated"
        outdir.mkdir(exist_ok=True)
        for number in plt.get_fignums():
            fig = plt.figure(number)
            key = f"{docname.replace('/', '-')}-{self.lineno}-{number}.png"
            fig.savefig(outdir / key, dpi=100)
            plt.close(fig)
            figure = nodes.figure()
            figure += nodes.image(uri=f"/_generated/{key}", alt=self.options.get("caption", ""))
            if "caption" in self.options:
                figure += nodes.caption(self.options["caption"], self.options["caption"])
            found.append(figure)
        return found


def _reset(app, env, docnames):
    for name in docnames:
        _NAMESPACES.pop(name, None)


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """scikit-learn's set_*_request methods (its metadata routing), generated on every estimator
    class: documented by scikit-learn, not by nncore."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


_HEADER = re.compile(r"^(\s*)(\S[^\n]*)\n\1(-+)\s*$")


def _sections(lines):
    """Indices of numpydoc section headers (a title line underlined by dashes)."""
    return [i for i in range(len(lines) - 1)
            if lines[i].strip() and set(lines[i + 1].strip()) == {"-"}
            and len(lines[i + 1].strip()) == len(lines[i].strip())]


def _shape_into_notes(lines):
    """A PyTorch-style "Shape" section, which numpydoc does not know (it would drop it), moved
    to the start of the Notes section (made before Examples if there is none)."""
    heads = _sections(lines)
    titles = {lines[i].strip(): i for i in heads}
    if "Shape" not in titles:
        return lines
    start = titles["Shape"]
    end = min([i for i in heads if i > start] + [len(lines)])
    body = [line for line in lines[start + 2:end]]
    while body and not body[-1].strip():
        body.pop()
    rest = lines[:start] + lines[end:]
    block = ["**Shape:**", ""] + [line.strip() and line for line in body] + [""]
    heads = _sections(rest)
    titles = {rest[i].strip(): i for i in heads}
    if "Notes" in titles:
        at = titles["Notes"] + 2
        return rest[:at] + block + rest[at:]
    at = titles.get("Examples", len(rest))
    return rest[:at] + ["Notes", "-----"] + block + rest[at:]


_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w\\])([A-Za-z]\w*)_(?=[^\w`]|$)")


def _escape_attribute_names(lines):
    """scikit-learn's fitted attributes (``classes_``) written bare in prose would be read by
    reST as link references: escape their underscore (keeping tables aligned)."""
    out = []
    for line in lines:
        if line.lstrip().startswith((">>>", "...")):
            out.append(line)
            continue
        new, count = _TRAILING_UNDERSCORE.subn(r"\1\\_", line)
        for _ in range(count):            # one space fewer in the next run of spaces
            match = re.search(r"\\_\S*(  +)", new)
            if match:
                new = new[:match.start(1)] + new[match.start(1) + 1:]
        out.append(new)
    return out


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = _escape_attribute_names(_shape_into_notes(list(lines)))


class GuidePages(TocTree):
    """A toctree of every page in docs/guide/ (in name order), and nothing when there is none:
    topic pages dropped into that folder join the user guide without an edit here."""

    def run(self):
        env = self.state.document.settings.env
        names = sorted(d for d in env.found_docs if d.startswith("guide/"))
        if not names:
            return []
        self.content = StringList(["/" + d for d in names], source="guide-pages")
        return super().run()


def _doctest_blocks(app, doctree):
    """Markdown code blocks that start with ``>>>`` become doctest blocks, so that
    ``sphinx-build -b doctest`` runs them as it runs the docstrings' examples."""
    for block in list(doctree.findall(nodes.literal_block)):
        text = block.astext()
        if block.get("language", "python") in ("python", "pycon", "default") and \
                text.lstrip().startswith(">>>") and not block.get("testnodetype"):
            new = nodes.doctest_block(text, text)
            new.source, new.line = block.source, block.line
            block.replace_self(new)


def setup(app):
    app.connect("doctree-read", _doctest_blocks)
    app.add_directive("guide-pages", GuidePages)
    app.connect("autodoc-process-docstring", _process_docstring, priority=100)
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    app.add_directive("runcode", RunCode)
    app.connect("env-before-read-docs", _reset)
    app.add_css_file("nncore.css")
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
