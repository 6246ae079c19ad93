"""The review page of a storyboard with stills prints as a storyboard sheet: six panels to an A4
landscape page, each with its shot number, timecodes and dialogue (Chromium's own print-to-PDF)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from browser import CHROMIUM, chromium_or_skip

import storyboard


def board(shots: int) -> str:
    lines = ["storyboard: 1", "title: The Lighthouse", "defaults: {duration: 2, resolution: 720p, still: {size: landscape_16_9}}",
             "cast:", "  keeper: {image: assets/red.png, description: an old keeper}", "shots:"]
    for number in range(1, shots + 1):
        lines += [f"  - id: s{number:02d}", f"    prompt: \"{{{{ cast.keeper }}}} climbs stair {number}\"", "    still: true"]
        if number % 2:
            lines += [f"    dialogue: [{{who: keeper, say: \"Step {number}, and the light still burns.\"}}]"]
    return "\n".join(lines) + "\n"


def printed_pages(page: Path, pdf: Path) -> int:
    """Pages of the PDF Chromium prints `page` to."""
    executable = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or "chromium")
    subprocess.run([str(executable), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", page.absolute().as_uri()],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    data = pdf.read_bytes()
    assert b"/MediaBox [0 0 841.9" in data  # A4, landscape (841.92 x 594.96 points)
    return len(re.findall(rb"/Type\s*/Page\b", data))


@pytest.mark.parametrize(("shots", "pages"), [(6, 1), (7, 2), (13, 3)])
def test_the_review_page_prints_six_panels_to_an_a4_landscape_page(project, shots, pages):
    chromium = chromium_or_skip()
    project.write(board(shots))
    storyboard.render("board.yaml", stills=True)
    page = storyboard.review("board.yaml", output="review.html")
    html = page.read_text()
    assert html.count('class="panel') == shots and html.count('class="sheet-page"') == pages
    assert printed_pages(page, project.root / "sheet.pdf") == pages

    with chromium(width=1280) as browser:
        browser.open(page)
        browser.page.emulate_media(media="print")
        panels = browser.page.evaluate("""[...document.querySelectorAll('.panel')].map(p => {
            const sheet = p.closest('.sheet-page').getBoundingClientRect(), box = p.getBoundingClientRect();
            return {inside: box.bottom <= sheet.bottom + 1 && box.right <= sheet.right + 1,
                    text: p.innerText, picture: (p.querySelector('img') || {}).naturalWidth > 0}; })""")
        hidden = browser.page.evaluate("getComputedStyle(document.querySelector('main')).display")
        assert browser.errors() == []
    assert hidden == "none"  # only the sheet prints
    assert all(panel["inside"] and panel["picture"] for panel in panels)
    first = panels[0]["text"]
    assert "01" in first and "s01" in first and "00:00.00–00:02.00" in first and "Step 1, and the light still burns." in first
    assert "00:02.00–00:04.00" in panels[1]["text"]
