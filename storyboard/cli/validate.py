from __future__ import annotations

import click

from ..backends import BACKENDS, check_backend, plan_for
from ..loading import load
from .notes import echo_warnings
from .variants import Shard, chosen_variants, variant_options


@click.command("validate")
@click.argument("file", type=click.Path())
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help="Also run the checks a render with this backend makes before paying (e.g. that every "
                   "local reference can be published). Needs no key.")
@variant_options
def command(file: str, backend: str | None, variant: tuple[str, ...], shard: Shard | None) -> None:
    """Check FILE: schema, meaning, templates and model limits (every variant's). Exit 0 or 2."""
    boards = chosen_variants(file, variant, shard)
    if boards is not None:
        from . import variants

        variants.validate(file, boards, backend)
        return
    storyboard = load(file)
    if backend is not None:
        check_backend(plan_for(storyboard, backend), backend)
    echo_warnings(storyboard)
    count = len(storyboard.shots)
    checked = f"; ready for the {backend} backend" if backend else ""
    click.echo(f"{file}: ok ({count} shot{'' if count == 1 else 's'}{checked})")
