from __future__ import annotations

import click

from ..loading import load


@click.command("validate")
@click.argument("file", type=click.Path())
def command(file: str) -> None:
    """Check FILE: schema, meaning, templates and model limits. Exit 0 or 2."""
    storyboard = load(file)
    count = len(storyboard.shots)
    click.echo(f"{file}: ok ({count} shot{'' if count == 1 else 's'})")
