from __future__ import annotations

import json
import os
import textwrap

import click

from ..backends import PAID_BACKEND, backend_class, check_backend, on_the_service, plan_for
from ..backends.addresses import service_where
from ..loading import load
from ..model import MAX_TAKES
from ..planning.inventory import check_holds
from ..planning.plans import STATUSES, Plan, ShotPlan
from .notes import backend_option, chosen_backend, echo_warnings
from .plan_stills import still_rows, still_summary
from .variants import Shard, chosen_variants, variant_options

WIDTH = 80  # the sentences under the table wrap here; the table is as wide as its longest shot id and note


@click.command("plan")
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON, with every request body.")
@click.option("--bodies", is_flag=True, help="Under each shot, the exact request body the service would receive.")
@backend_option("Whose clips count as made, and whose pre-payment checks run (aimlapi: local references "
                "must be publishable). The cost on the real service is shown either way.")
@click.option("--takes", type=click.IntRange(1, MAX_TAKES), default=None, metavar="N",
              help="As `render --takes N`: at least N takes of every generated shot.")
@variant_options
def command(file: str, as_json: bool, bodies: bool, backend: str | None, takes: int | None, variant: tuple[str, ...],
            shard: Shard | None) -> None:
    """Show every take of every shot: what exists, what an edit regenerates and what it would cost; for
    variants, each one's and what they share. Sends nothing."""
    boards = chosen_variants(file, variant, shard)
    if boards is not None:
        from . import variants

        variants.plan(file, [board.with_takes(takes) if takes else board for board in boards], backend, as_json)
        return
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
    click.echo(textwrap.fill(f"{board.title} — {file}: {count} shot{'' if count == 1 else 's'}, clips from the {backend} "
                             f"backend ({_where(backend)})", width=WIDTH, subsequent_indent="  ") + "\n")
    on_service = on_the_service(the_plan)
    charged = {take.key: take.charged_usd for take in on_service.requests if take.charged_usd is not None}
    rows = [["#", "shot", "status", "length", "est.", *(["charged"] if charged else []), "notes"]]
    for number, item in enumerate(the_plan.shots, start=1):
        takes_of = the_plan.takes(item.id) if item.takes > 1 else [item]
        for take in takes_of:
            cost = [_usd(take.estimated_usd) if take.footage is None else ""]
            if charged:
                cost.append(_usd(charged[take.key]) if take.key in charged else "")
            rows.append([str(number) if take is takes_of[0] else "", take.key, take.status,
                         f"{take.duration:g} s" if take.footage is None else "", *cost, _notes(the_plan, item, take)])
        rows += [row[:-1] + [""] * bool(charged) + row[-1:] for row in still_rows(the_plan, item)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if bodies and row is not rows[0]:
            _echo_body(the_plan, row[1])
    click.echo()
    shown = sorted({item.status for item in the_plan.requests + the_plan.stills})
    for text in [*_summary(the_plan, backend, on_service), *still_summary(the_plan),
                 the_plan.prices.describe(the_plan.profiles), *on_service.charge_warnings(), *map(str, the_plan.changes()),
                 "statuses: " + "; ".join(f"{status}: {STATUSES[status]}" for status in shown),
                 *([] if bodies else [f"each request as sent: storyboard plan {file} --bodies (or --json)"])]:
        click.echo(textwrap.fill(text, width=WIDTH, subsequent_indent="  ", break_on_hyphens=False))


def _notes(the_plan: Plan, item: ShotPlan, take: ShotPlan) -> str:
    """What a reader needs beside the status: footage, the take in the film, a hold, a first frame, an edit."""
    if take.footage is not None:
        return f"footage: {os.path.relpath(take.footage)}"
    notes = []
    if item.takes > 1 and take.hash == item.hash:
        notes.append("in the film")
    if take.held:
        notes.append("held: keeps an earlier clip")
    previous = the_plan.previous.get(item.id)
    edited = take is item and previous is not None and previous != item.hash
    moved = [up for up in item.depends_on if the_plan.previous.get(up, the_plan.shot(up).hash) != the_plan.shot(up).hash]
    if take is item and item.depends_on:
        notes.append(f"new first frame ({moved[0]} changed)" if edited and moved else f"first frame from {item.depends_on[0]}")
    if edited and not moved:
        notes.append("picked" if previous in {other.hash for other in the_plan.takes(item.id)} else "edited")
    if take.setting("seed") is None:
        notes.append("seed: the service picks")
    return ", ".join(notes)


def _echo_body(the_plan: Plan, key: str) -> None:
    take = next((item for item in the_plan.requests + the_plan.stills if item.key == key), None)
    if take is None or take.footage is not None:
        return
    for line in json.dumps(take.body, indent=2, ensure_ascii=False).splitlines():
        click.echo(f"    {line}")


def _where(backend: str) -> str:
    return backend_class(backend).where if not backend_class(backend).paid else service_where()


def _usd(amount: float | None) -> str:
    return "?" if amount is None else f"${amount:.2f}"


def _summary(the_plan: Plan, backend: str, paid: Plan) -> list[str]:
    """What rendering would make, and what it would cost on the real service: from that service's own
    store and records, whichever backend the plan was made for (a preview clip saves nothing there)."""
    generated = [item for item in the_plan.requests if item.footage is None]
    missing = [item for item in generated if item.to_pay]
    free = not backend_class(backend).paid
    noun = "take" if any(item.takes > 1 for item in generated) else "shot"
    lines = [f"{len(missing)} of {len(generated)} generated {noun}{'' if len(generated) == 1 else 's'} to make with the "
             f"{backend} backend" + (" (free)" if free else "")]
    to_pay = [item for item in paid.requests if item.to_pay]
    lines.append(f"with --backend {PAID_BACKEND}, on {service_where()}: {len(to_pay)} to pay, estimated ${paid.missing_usd:.2f} "
                 f"(every {noun} ${paid.estimated_usd:.2f}); {len(generated) - len(to_pay)} already there")
    made = [item for item in paid.requests if item.charged_usd is not None]
    if made:
        estimated = round(sum({item.hash: item.estimated_usd or 0.0 for item in made}.values()), 6)
        lines.append(f"charged by the service for the {len(made)} made: ${paid.charged_usd:.2f} "
                     f"(estimated now at ${estimated:.2f})")
    return lines
