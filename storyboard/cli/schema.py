from __future__ import annotations

import click

from ..loading.schema import schema_text


@click.command("schema")
def command() -> None:
    """Print the JSON Schema of the storyboard format."""
    click.echo(schema_text(), nl=False)
