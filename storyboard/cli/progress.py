"""How `storyboard render` shows progress: a live table on a terminal, log lines otherwise,
or one JSON object per line (`--json`) for other programs."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import click

from ..events import Event, EventState
from ..redaction import redact

ACTIVE: set[EventState] = {"generating", "submitted", "resuming", "downloading", "following", "waiting"}
FINISHED: set[EventState] = {"cached", "done", "failed", "skipped"}
TO_STDERR: tuple[EventState, ...] = ("failed", "skipped", "note")  # what Lines writes to stderr


class Lines:
    """One plain line per event: for logs, CI and pipes."""

    def __call__(self, event: Event) -> None:
        if event.state == "queued" and not event.message:
            return  # a line for what waits on another shot; the others say their first step soon enough
        label = event.shot or "film"
        text: dict[EventState, str] = {
            "queued": f"queued: {event.message}",
            "cached": "reused cached clip",
            "resuming": f"resuming {event.message} (submitted by an earlier render)",
            "downloading": f"downloading the clip of {event.message}",
            "following": f"following {event.message} (claimed in the shared cache; not paid again)",
            "waiting": f"waiting: {event.message}",
            "generating": f"generating ({event.message}" + (f", attempt {event.attempt})" if (event.attempt or 1) > 1 else ")"),
            "submitted": f"submitted: {event.message}",
            "done": f"done in {event.message}" if event.message.endswith(" s") else f"done ({event.message})",
            "failed": f"FAILED: {event.message}",
            "skipped": f"not rendered: {event.message}",
            "assembling": f"assembling {event.message}",
            "segment": f"picture: {event.message}",
            "film": f"written to {event.message}",
            "current": f"{event.message} is up to date",
            "note": f"note: {event.message}",
        }
        click.echo(redact(f"{label}: {text.get(event.state, event.message)}"), err=event.state in TO_STDERR)

    def close(self) -> None:
        pass


class JsonLines:
    """One JSON object per event on stdout, each with a Unix timestamp."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream

    def __call__(self, event: Event) -> None:
        self.emit({"time": round(time.time(), 3), **asdict(event)})

    def emit(self, record: dict[str, Any]) -> None:
        stream = self.stream or sys.stdout
        stream.write(redact(json.dumps(record, ensure_ascii=False)) + "\n")
        stream.flush()

    def close(self) -> None:
        pass


@dataclass
class _Row:
    state: EventState = "queued"
    detail: str = ""
    started: float | None = None
    finished: float | None = None
    attempt: int | None = None
    usd: float | None = None


class LiveTable:
    """A table that redraws in place: one row per take in film order, listed from the start, with its
    state, time and cost; under it what the film is doing, never cut short. It fits 80 columns:
    the detail column gives way first.

    It appears with the first shot's event, so a confirmation question asked before any
    generation starts is not drawn over."""

    def __init__(self, console: Any = None):
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(stderr=True)
        self.rows: dict[str, _Row] = {}
        self.total_usd = 0.0
        self.film = ""
        self.live = Live(console=self.console, refresh_per_second=4, transient=False, get_renderable=self._view)

    def __call__(self, event: Event) -> None:
        if event.total_usd is not None:
            self.total_usd = event.total_usd
        if event.shot is not None and not self.live.is_started:
            self.live.start()
        if event.shot is None:
            if event.state == "note":
                self.console.print(redact(f"note: {event.message}"), style="yellow", markup=False, highlight=False)
            else:
                film: dict[EventState, str] = {
                    "assembling": f"film: assembling {event.message}", "segment": f"film: picture: {event.message}",
                    "film": f"film written to {event.message}", "current": f"film: {event.message} is up to date"}
                self.film = redact(film.get(event.state, event.message))
            if self.live.is_started:
                self.live.refresh()
            return
        if event.state == "note":
            self.console.print(redact(f"{event.shot}: note: {event.message}"), style="yellow", markup=False, highlight=False)
            return
        row = self.rows.setdefault(event.shot, _Row())
        now = time.monotonic()
        if event.state in ACTIVE and row.started is None:
            row.started = now
        if event.state in FINISHED:
            row.finished = now
        row.state = event.state
        row.attempt = event.attempt or row.attempt
        attempt = f"attempt {row.attempt}: " if (row.attempt or 1) > 1 and event.state not in FINISHED else ""
        row.detail = redact(attempt + event.message)
        if event.usd is not None:
            row.usd = event.usd
        self.live.refresh()

    def _view(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        return Group(self._table(), Text(self.film)) if self.film else self._table()

    def _table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        colours: dict[EventState, str] = {
            "done": "green", "cached": "green", "failed": "red", "skipped": "yellow", "submitted": "cyan",
            "generating": "cyan", "resuming": "cyan", "downloading": "cyan", "following": "cyan", "waiting": "cyan",
            "queued": "dim"}
        table = Table(box=None, pad_edge=False, show_footer=True)
        shot = min(20, max((len(shot_id) for shot_id in self.rows), default=5))
        fixed = shot + 11 + 5 + 9 + 4 * 2  # the columns and the gaps between them
        # Widths set outright: left to itself, rich squeezes the time and cost to nothing on a narrow terminal.
        table.add_column("shot", footer="total", no_wrap=True, overflow="ellipsis", width=shot)
        table.add_column("state", no_wrap=True, width=11)
        table.add_column("time", justify="right", no_wrap=True, width=5)
        table.add_column("cost", justify="right", footer=f"{self.total_usd:.2f} USD", no_wrap=True, width=9)
        table.add_column("", overflow="ellipsis", no_wrap=True, width=max(8, self.console.width - fixed - 1))
        now = time.monotonic()
        for shot_id, row in self.rows.items():
            elapsed = "" if row.started is None else f"{(row.finished or now) - row.started:.0f} s"
            table.add_row(
                Text(shot_id),
                Text(row.state, style=colours.get(row.state, "")),
                elapsed,
                "" if row.usd is None else f"{row.usd:.2f}",
                Text(row.detail),
            )
        return table

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()
