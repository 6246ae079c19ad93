from __future__ import annotations

import os
import shlex

import click

from .scaffold import STORYBOARD_FILE, init


@click.command("init")
@click.argument("folder", type=click.Path(), default=".", required=False, metavar="[DIR]")
def command(folder: str) -> None:
    """Start a project in DIR (default: this folder) that renders at once, offline. Overwrites nothing."""
    made = init(folder)
    for path in made.files:
        click.echo(f"wrote {os.path.relpath(path)}")
    here = os.path.relpath(made.root)
    go = "" if here == "." else f"cd {shlex.quote(here)} && "
    click.echo(f"next: {go}storyboard render {STORYBOARD_FILE}")
