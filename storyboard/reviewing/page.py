"""The review page: where it goes, what it may not overwrite, and the HTML (jinja2, `page.html.j2`)."""
from __future__ import annotations

import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..files import atomic_write_bytes
from ..loading.checks.outputs import overwritten, resolved
from ..model import STATE_DIR, Storyboard
from ..planning.plans import TakeStatus
from .data import Review
from .storyboard import pages

TEMPLATE = "page.html.j2"
PAGE_NAME = "review.html"
STATUS_LABELS: dict[TakeStatus, str] = {  # a take's status (planning.STATUSES) in a word or two
    "cached": "rendered",
    "missing": "not rendered yet",
    "resume": "rendering",
    "download": "to download",
    "unknown": "outcome unknown",
    "footage": "footage",
}


def page_path(board: Storyboard, output: str | Path | None) -> Path:
    """Where the page goes: `output` (relative to the current folder, as typed), else `review.html`
    next to the film (a variant's: `review-<variant>.html`, as its films may share a folder). Raises
    UsageError for a path the page may not be written to."""
    default = PAGE_NAME if board.variant is None else f"review-{board.variant.name}.html"
    page = Path(output).absolute() if output is not None else board.output.path.parent / default
    check_page_path(board, page, str(output) if output is not None else str(page))
    return page


def check_page_path(board: Storyboard, page: Path, written: str) -> None:
    """The page must overwrite no input of the storyboard (the film's own rule), nor the film, nor
    storyboard's state; and it must be a file in a folder."""
    if "\0" in written:
        raise UsageError("the review page's path contains a NUL character; file names cannot")
    role = overwritten(board, page)
    if role:
        raise UsageError(f"`output` {written!r} is {role}; the review page would overwrite it. "
                         f"Name another file, e.g. {PAGE_NAME}", option="output")
    target = resolved(page)
    if target is not None and target.is_relative_to(board.state_dir.resolve()):
        raise UsageError(f"`output` {written!r} is inside {STATE_DIR}/, storyboard's own state; "
                         "name a file outside it", option="output")
    if page.is_dir():
        raise UsageError(f"`output` {written!r} is a folder; name the page's file, e.g. {Path(written) / PAGE_NAME}",
                         option="output")
    for parent in page.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"`output` {written!r}: {parent.name!r} is a file, not a folder", option="output")
            break


def write_page(review: Review) -> None:
    """Render the page and write it atomically: a reader never sees half of it."""
    atomic_write_bytes(review.page, render_page(review).encode("utf-8"))


def render_page(review: Review) -> str:
    import jinja2

    def read(name: str) -> str:
        return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")

    source = read(TEMPLATE)
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                     loader=jinja2.FunctionLoader(read))  # its parts: the storyboard's panels
    environment.filters.update(timecode=timecode, usd=usd, seconds=seconds)
    template = environment.from_string(source)
    now = datetime.datetime.now().astimezone()
    return template.render(review=review, generated=f"{now.day} {now:%B %Y, %H:%M}", strip=strip(review),
                           status_labels=STATUS_LABELS, sheet=pages(review.panels),
                           panels={panel.id: panel for panel in review.panels})


def strip(review: Review) -> list[dict[str, Any]]:
    """The timeline under the film: each shot from its start to the next one's (the last to the end),
    as a share of the film; equal shares where the film's timing is not known."""
    shots = review.shots
    length = review.length
    if not shots:
        return []
    if not length or any(shot.start is None for shot in shots):
        return [{"shot": shot, "share": 100 / len(shots)} for shot in shots]
    segments = []
    for index, shot in enumerate(shots):
        until = shots[index + 1].start if index + 1 < len(shots) else length
        assert shot.start is not None and until is not None
        segments.append({"shot": shot, "share": max(0.0, until - shot.start) / length * 100})
    return segments


def timecode(seconds: float | None) -> str:
    """00:05.00 (minutes, seconds and hundredths); 1:02:05.00 past an hour; an en dash when unknown."""
    if seconds is None:
        return "–"
    hundredths = round(seconds * 100)
    minutes, rest = divmod(hundredths, 6000)
    hours, minutes = divmod(minutes, 60)
    clock = f"{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"
    return f"{hours}:{clock}" if hours else clock


def usd(amount: float | None) -> str:
    if amount is None:
        return "price unknown"
    return f"${amount:,.2f}"


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s".replace(".00 s", " s")
