from __future__ import annotations

import os

import click

from ..api import review
from ..loading import load
from .notes import backend_option, chosen_backend, echo_warnings
from .variants import Shard, chosen_variants, variant_options


@click.command("review")
@click.argument("file", type=click.Path())
@click.option("-o", "--output", type=click.Path(), default=None, metavar="PAGE",
              help="Where to write the page (default: review.html next to the film).")
@backend_option("Whose clips the page shows and plays.")
@variant_options
def command(file: str, output: str | None, backend: str | None, variant: tuple[str, ...], shard: Shard | None) -> None:
    """Write one offline HTML page to review FILE: every take of every shot, side by side (one page per
    variant). Sends nothing."""
    boards = chosen_variants(file, variant, shard)
    if boards is not None:
        from . import variants

        variants.review(boards, backend, output)
        return
    board = load(file)
    echo_warnings(board)
    page = review(board, backend=chosen_backend(board, backend, may_pay=False), output=output)
    try:
        shown = os.path.relpath(page)
    except ValueError:  # another drive (Windows)
        shown = str(page)
    click.echo(f"review: {shown}  (open {page.absolute().as_uri()})")
