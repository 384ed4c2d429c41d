"""Check, on the built site, that a newcomer finds each answer from the start page.

    python docs/check_start_page.py docs/_build/html

For each question a newcomer comes with (how to install, train on their own data, pick an
optimizer, save and resume, use nncore from scikit-learn, export to ONNX, what every public
name takes and returns), the start page must have a link whose text names it, and that link
must land on the answer: the page exists, the ``#anchor`` is an id on it, and the section the
link opens shows what answers the question (the code a reader copies). Then every figure of
the site must be one drawn while it was built (no image file is kept in docs/). Reads the
HTML only (no browser), in a second; exits non-zero naming each failure.
"""
import argparse
import html.parser
import posixpath
import re
import sys
from pathlib import Path
from urllib.parse import urldefrag

# question: (words the link's text holds, what the landing section must show)
QUESTIONS = {
    "install": (("install",), ("pip install", "nncore-nn")),
    "train on your own data": (("own data", "python"), (".fit(", "(N, n_in)")),
    "pick an optimizer": (("optimizer",), ('optimizer="adam"', "nncore.SGD")),
    "save and resume": (("save", "resume"), ("net.save(", "Network.load(")),
    "use it from scikit-learn": (("scikit-learn",), ("MLPClassifier", "from nncore.sklearn")),
    "export to ONNX": (("onnx",), ("to_onnx(",)),
    "what every public name takes and returns": (("takes and returns",),
                                                 ("nncore.Network", "nncore.sklearn",
                                                  "nncore.plot", "nncore._kernels")),
}
# the answer must be on the first screens of where a link lands, not anywhere below it
SECTION_CHARS = 4000


class _Page(html.parser.HTMLParser):
    """The links (href, text) of a page's main content, with the text of the table row each
    is in (the start page's "I want to..." column), its ids, its images and its text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.ids, self.images, self.chunks = [], {}, [], []
        self._href, self._text, self._main = None, [], 0
        self._row, self._row_links = None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids[attrs["id"]] = len(self.chunks)
        if tag == "main" or (tag == "article" and "bd-article" in attrs.get("class", "")):
            self._main += 1
        if tag == "tr":
            self._row, self._row_links = [], []
        if tag == "a" and self._main and attrs.get("href"):
            self._href, self._text = attrs["href"], []
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            link = [self._href, " ".join("".join(self._text).split())]
            self.links.append(link)
            if self._row is not None:
                self._row_links.append(link)
            self._href = None
        if tag == "tr" and self._row is not None:
            row = " ".join("".join(self._row).split())
            for link in self._row_links:       # a link in a row reads as the whole row
                link[1] = row
            self._row = None
        if tag in ("main", "article") and self._main:
            self._main -= 1

    def handle_data(self, data):
        self.chunks.append(data)
        if self._row is not None:
            self._row.append(data)
        if self._href is not None:
            self._text.append(data)

    def text_from(self, anchor, length=SECTION_CHARS):
        """``length`` characters of the page's text from the element with id ``anchor`` (from
        the top without one): what a reader sees where the link lands."""
        start = self.ids.get(anchor, 0) if anchor else 0
        return "".join(self.chunks[start:])[:length]


def read(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def check_start_page(root):
    failures = []
    start = read(root / "index.html")
    for question, (words, answers) in QUESTIONS.items():
        candidates = [(href, text) for href, text in start.links
                      if all(w.lower() in text.lower() for w in words)
                      and not href.startswith(("http:", "https:", "#"))]
        if not candidates:
            failures.append(f"{question}: no link on the start page whose text holds "
                            f"{words}")
            continue
        href, text = candidates[0]
        target, anchor = urldefrag(href)
        path = root / posixpath.normpath(target)
        if not path.is_file():
            failures.append(f"{question}: link {text!r} -> {href}: no such page")
            continue
        page = read(path)
        if anchor and anchor not in page.ids:
            failures.append(f"{question}: link {text!r} -> {href}: no #{anchor} on the page")
            continue
        section = page.text_from(anchor)
        missing = [a for a in answers if a not in section]
        if missing:
            failures.append(f"{question}: link {text!r} -> {href} lands where "
                            f"{missing} is not shown")
    return failures


def check_figures(root, docs):
    """Every image the pages show lies in _images/ (or a gallery thumbnail) and no image file
    is kept in docs/: each figure was drawn while the site was built."""
    failures = []
    kept = [p for p in docs.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg",
                                                                ".gif", ".svg")
            and not any(part in ("_build", "auto_examples", "_generated") for part in p.parts)]
    failures += [f"an image kept in the source tree: {p.relative_to(docs)}" for p in kept]
    for path in root.rglob("*.html"):
        for src in read(path).images:
            if src.startswith("data:"):
                continue
            name = posixpath.basename(urldefrag(src)[0])
            # _images/: figures the build drew (runcode blocks, the gallery's scripts) and
            # copied there; _static/: the theme's and Sphinx's own icons
            if not re.search(r"(^|/)_images/", src) and "/images/thumb/" not in src \
                    and "_static/" not in src:
                failures.append(f"{path.relative_to(root)}: image {name} not made by the build")
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the built site (docs/_build/html)")
    args = parser.parse_args(argv)
    failures = check_start_page(args.root) + check_figures(args.root,
                                                           Path(__file__).resolve().parent)
    for failure in failures:
        print(failure)
    print(f"start page: {len(QUESTIONS)} questions, "
          f"{'all answered' if not failures else f'{len(failures)} failures'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
