"""Open the built site in headless Chromium and check that its pages render.

    python docs/check_site.py docs/_build/html [--screenshots DIR] [--chromium PATH]

Serves the site on a local port and, with playwright driving the Chromium given (Debian's
``chromium`` by default), loads the start page, a guide page, an API page and a gallery page:
each must answer 200, show its title, have no broken image (every ``<img>`` loaded, with a
width) and raise no JavaScript error; each is saved as a full-page PNG screenshot. Then the
search page must find ``Network.fit`` (the search runs in the browser's JavaScript). Exits
non-zero on the first page that fails, naming it.
"""
import argparse
import functools
import http.server
import shutil
import sys
import threading
from pathlib import Path

PAGES = {
    "start": ("index.html", "nncore", 1),
    "guide": ("user-guide/math.html", "Notation and math", 4),
    "api": ("api/generated/nncore.Network.html", "nncore.Network", 0),
    "gallery": ("auto_examples/plot_network.html", "Draw a network", 1),
}
QUERY = "Network.fit"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root):
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def check_page(page, url, title, min_images, shot):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(url, wait_until="networkidle")
    assert response is not None and response.status == 200, f"{url}: HTTP {response and response.status}"
    assert title in page.title(), f"{url}: title {page.title()!r} lacks {title!r}"
    images = page.evaluate("""() => Array.from(document.images).map(
        img => ({src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0}))""")
    broken = [img["src"] for img in images if not img["ok"]]
    assert not broken, f"{url}: images that did not load: {broken}"
    content = [img for img in images if "/_images/" in img["src"]]
    assert len(content) >= min_images, \
        f"{url}: {len(content)} figures, expected at least {min_images}"
    assert not errors, f"{url}: JavaScript errors: {errors}"
    page.screenshot(path=str(shot), full_page=True)
    return len(images)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    shots = args.screenshots or args.site.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    server, base = serve(args.site)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name, (path, title, min_images) in PAGES.items():
                count = check_page(page, base + path, title, min_images, shots / f"{name}.png")
                print(f"ok  {name:8} {path} ({count} images)")
            page.goto(base + f"search.html?q={QUERY}", wait_until="networkidle")
            page.wait_for_function(
                "() => document.querySelectorAll('#search-results ul.search li').length > 0",
                timeout=20000)
            results = page.eval_on_selector_all(
                "#search-results ul.search li a", "links => links.map(a => a.textContent)")
            assert any(QUERY in text for text in results), \
                f"search for {QUERY} did not list it: {results[:10]}"
            page.screenshot(path=str(shots / "search.png"), full_page=False)
            print(f"ok  search   {QUERY}: {len(results)} results, first {results[0]!r}")
            browser.close()
    finally:
        server.shutdown()
    print(f"screenshots in {shots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
