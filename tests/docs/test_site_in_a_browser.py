"""The documentation site as a reader sees it: built with mkdocs, opened from disk in headless
Chromium (issue 23 item 8).

Each checked page gets a small script that reports what a reader trips on, as the browser laid
it out: a code block on the landing page, or a command's output (a ``console`` block) on any
checked page, wider than its column (cut off, it scrolls); a name in a table's first column
broken over two lines. Links must work from disk (file://), where a link
to ``page/`` lands on a directory listing. Skipped where mkdocs (``.[docs]``) or Chromium is
missing; ``nox -s docs`` runs it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (1280, 1024)  # a laptop, and a smaller window: the content column is narrower there
PROBE_ID = "layout-check"
PROBE = """<script>
window.addEventListener("load", () => {
  const problems = [];
  const landing = document.body.dataset.landing === "yes";
  document.querySelectorAll(".md-content pre > code").forEach((code, number) => {
    const output = code.closest(".language-console") !== null;
    if ((landing || output) && code.scrollWidth > code.clientWidth + 1) {
      problems.push(`code block ${number + 1} is cut off (${code.scrollWidth} px of text in `
        + `${code.clientWidth} px): ${code.textContent.split("\\n")[0]}`);
    }
  });
  document.querySelectorAll(".md-content td:first-child code").forEach((code) => {
    if (code.getClientRects().length > 1) problems.push(`${code.textContent} breaks over lines`);
  });
  const out = document.createElement("pre");
  out.id = "layout-check";  // = PROBE_ID
  out.textContent = JSON.stringify(problems);
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: nox -s docs")
    pytest.importorskip("material", reason="the docs extra is not installed: nox -s docs")
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return out


def layout_problems(browser: str, site: Path, page: str, width: int) -> list[str]:
    """What the probe saw on ``page`` in a window ``width`` pixels wide."""
    text = (site / page).read_text(encoding="utf-8")
    if page == "index.html":
        text = text.replace("<body ", '<body data-landing="yes" ', 1)
    probed = site / f"probe-{page}"
    probed.write_text(text.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # as root (CI containers)
            "--disable-gpu",
            "--virtual-time-budget=5000",
            f"--window-size={width},1000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    found = re.search(rf'<pre id="{PROBE_ID}">([^<]*)</pre>', dom)
    assert found, f"the probe did not run on {page}: {dom[-500:]}"
    return list(json.loads(html.unescape(found.group(1))))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    "page", ["index.html", "pytest.html", "quickstart.html", "nox.html", "running.html"]
)
def test_a_reader_sees_whole_code_lines_and_unbroken_names(
    site: Path, page: str, width: int
) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium (set CHROMIUM to its path)")
    assert layout_problems(browser, site, page, width) == []


def test_links_work_when_the_site_is_opened_from_disk(site: Path) -> None:
    """Every link between pages names an HTML file that exists (no ``page/`` directory URL)."""
    broken = []
    for page in sorted(site.rglob("*.html")):
        if page.name == "404.html":
            continue  # served by a web server for any missing path: its links are absolute
        text = page.read_text(encoding="utf-8")
        for href in re.findall(r'href="([^"#?]*)(?:[#?][^"]*)?"', text):
            if not href or re.match(r"[a-z][a-z0-9+.-]*:", href) or href.startswith("//"):
                continue  # this page itself, or another site
            target = (page.parent / href).resolve()
            if href.endswith("/") or not target.is_file():
                broken.append(f"{page.relative_to(site)}: {href}")
    assert broken == []
