from __future__ import annotations

import click

from ..backends import BACKENDS
from ..errors import redact
from ..render import Event, display_path, render


def _print(event: Event) -> None:
    label = event.shot or "film"
    text = {
        "cached": "reused cached clip",
        "generating": f"generating ({event.message})",
        "submitted": f"submitted: {event.message}",
        "done": f"done in {event.message}",
        "failed": f"FAILED: {event.message}",
        "assembling": f"assembling {event.message}",
        "film": f"written to {event.message}",
        "current": f"{event.message} is up to date",
        "note": f"note: {event.message}",
    }.get(event.state, event.message)
    click.echo(redact(f"{label}: {text}"), err=event.state in ("failed", "note"))


@click.command("render")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--backend", type=click.Choice(BACKENDS), default="preview", show_default=True,
              help="preview renders animatics offline for free; aimlapi calls the paid service.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Shots generated at once.")
@click.option("--only", multiple=True, metavar="ID", help="Generate only this shot (repeatable).")
def command(file: str, backend: str, jobs: int | None, only: tuple[str, ...]) -> None:
    """Generate the missing clips of FILE and assemble the film."""
    result = render(file, backend=backend, jobs=jobs, only=list(only) or None, on_event=_print)
    click.echo(
        f"{len(result.generated)} generated, {len(result.reused)} reused"
        + (f"; film: {display_path(result.film)}" if result.film else "")
    )
