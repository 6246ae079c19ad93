from __future__ import annotations

import json
import os

import click

from ..backends import BACKENDS
from ..inventory import plan
from ..loading import load
from ..planning import STATUSES


@click.command("plan")
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--backend", type=click.Choice(BACKENDS), default="preview", show_default=True,
              help="Whose clip store decides what is already cached.")
def command(file: str, as_json: bool, backend: str) -> None:
    """Show the exact request of every shot, what is cached and what it would cost. Sends nothing."""
    the_plan = plan(load(file), backend)
    if as_json:
        click.echo(json.dumps(the_plan.to_dict(), indent=2, ensure_ascii=False))
        return
    board = the_plan.storyboard
    click.echo(f"{board.title} — {file} ({len(the_plan.shots)} shots, clips from the {backend} backend)")
    for item in the_plan.shots:
        if item.footage is not None:
            click.echo(f"\n{item.id}  [footage]  {os.path.relpath(item.footage)}")
            continue
        state = item.status
        cost = "?" if item.estimated_usd is None else f"${item.estimated_usd:.2f}"
        after = f"  after {', '.join(item.depends_on)}" if item.depends_on else ""
        click.echo(f"\n{item.id}  [{state}]  {item.shot.model}  {item.duration:g} s  est. {cost}  {item.hash[:12]}{after}")
        for line in json.dumps(item.body, indent=2, ensure_ascii=False).splitlines():
            click.echo(f"    {line}")
    missing = [item for item in the_plan.shots if item.to_pay]
    click.echo(
        f"\n{len(missing)} of {len(the_plan.shots)} shots to generate; estimated cost on the real service: "
        f"${the_plan.missing_usd:.2f} (all shots ${the_plan.estimated_usd:.2f})"
    )
    shown = sorted({item.status for item in the_plan.shots})
    click.echo("  " + "; ".join(f"{status}: {STATUSES[status]}" for status in shown))
