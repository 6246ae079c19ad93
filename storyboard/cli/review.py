from __future__ import annotations

import os

import click

from ..api import review
from ..backends import BACKENDS
from ..loading import load
from .notes import echo_warnings


@click.command("review")
@click.argument("file", type=click.Path())
@click.option("-o", "--output", type=click.Path(), default=None, metavar="PAGE",
              help="Where to write the page (default: review.html next to the film).")
@click.option("--backend", type=click.Choice(BACKENDS), default="preview", show_default=True,
              help="Whose clips the page shows and plays.")
def command(file: str, output: str | None, backend: str) -> None:
    """Write one offline HTML page to review FILE: every take of every shot, side by side. Sends nothing."""
    board = load(file)
    echo_warnings(board)
    page = review(board, backend=backend, output=output)
    try:
        shown = os.path.relpath(page)
    except ValueError:  # another drive (Windows)
        shown = str(page)
    click.echo(f"review: {shown}  (open {page.absolute().as_uri()})")
