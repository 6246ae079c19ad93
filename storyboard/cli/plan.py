from __future__ import annotations

import json
import os

import click

from ..backends import PAID_BACKEND, backend_class, check_backend, on_the_service, plan_for
from ..loading import load
from ..model import MAX_TAKES
from ..planning.inventory import check_holds
from ..planning.plans import STATUSES, Plan, ShotPlan
from .notes import backend_option, chosen_backend, echo_warnings


@click.command("plan")
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@backend_option("Whose clips count as made, and whose pre-payment checks run (aimlapi: local references "
                "must be publishable). The cost on the real service is shown either way.")
@click.option("--takes", type=click.IntRange(1, MAX_TAKES), default=None, metavar="N",
              help="As `render --takes N`: at least N takes of every generated shot.")
def command(file: str, as_json: bool, backend: str | None, takes: int | None) -> None:
    """Show the exact request of every take, what is cached, what an edit regenerates and what it
    would cost. Sends nothing."""
    board = load(file)
    if takes is not None:
        board = board.with_takes(takes)
    backend = chosen_backend(board, backend, may_pay=False)
    the_plan = plan_for(board, backend)
    check_holds(the_plan)
    check_backend(the_plan, backend)
    echo_warnings(board)
    if as_json:
        click.echo(json.dumps(the_plan.to_dict(), indent=2, ensure_ascii=False))
        return
    count = len(the_plan.shots)
    click.echo(f"{board.title} — {file} ({count} shot{'' if count == 1 else 's'}, clips from the {backend} backend)")
    for item in the_plan.shots:
        if item.footage is not None:
            click.echo(f"\n{item.id}  [footage]  {os.path.relpath(item.footage)}")
            continue
        after = f"  after {', '.join(item.depends_on)}" if item.depends_on else ""
        chosen = f"  take {item.take} of {item.takes} in the film" if item.takes > 1 else ""
        click.echo(f"\n{item.id}  [{item.status}]  {item.shot.model}  {item.duration:g} s  est. {_usd(item)}  "
                   f"{item.hash[:12]}{chosen}{after}")
        if item.held:
            click.echo(f"    held (hold: true): keeps clip {item.hash[:12]} from an earlier render; the shot as written "
                       "now is generated once the hold is removed")
        for line in json.dumps(item.body, indent=2, ensure_ascii=False).splitlines():
            click.echo(f"    {line}")
        if item.takes > 1:
            click.echo("    takes:")
            for take in the_plan.takes(item.id):
                mark = "  <- in the film" if take.hash == item.hash else ""
                click.echo(f"      {take.take}  [{take.status}]  seed {_seed(take)}  est. {_usd(take)}  "
                           f"{take.hash[:12]}{mark}")
    click.echo("\n" + _summary(the_plan, backend))
    for change in the_plan.changes():
        click.echo(str(change))
    shown = sorted({item.status for item in the_plan.requests})
    click.echo("  " + "; ".join(f"{status}: {STATUSES[status]}" for status in shown))


def _seed(item: ShotPlan) -> str:
    seed = item.setting("seed")
    return "random (the service picks)" if seed is None else str(seed)


def _usd(item: ShotPlan) -> str:
    return "?" if item.estimated_usd is None else f"${item.estimated_usd:.2f}"


def _summary(the_plan: Plan, backend: str) -> str:
    """What rendering would make, and what it would cost on the real service: from that service's own
    store and records, whichever backend the plan was made for (a preview clip saves nothing there)."""
    generated = [item for item in the_plan.requests if item.footage is None]
    missing = [item for item in generated if item.to_pay]
    free = not backend_class(backend).paid
    noun = "take" if any(item.takes > 1 for item in generated) else "shot"
    lines = [f"{len(missing)} of {len(generated)} generated {noun}{'' if len(generated) == 1 else 's'} to make with the "
             f"{backend} backend" + (" (free)" if free else "")]
    paid = on_the_service(the_plan)
    to_pay = [item for item in paid.requests if item.to_pay]
    lines.append(f"on the real service (--backend {PAID_BACKEND}): {len(to_pay)} to pay, estimated ${paid.missing_usd:.2f}"
                 f" (every {noun} ${paid.estimated_usd:.2f}); {len(generated) - len(to_pay)} already there")
    return "\n".join(lines)
