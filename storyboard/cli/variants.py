"""The commands on a file with `variants:`: --variant and --shard, and what each command says of a set.

Every command takes the flags; a file without variants goes its usual way (its one storyboard is
slice 1 of any --shard). The work itself is the API's (`campaign`): this parses and prints.
"""
from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..backends import PAID_BACKEND, check_backend, on_the_service, plan_for
from ..campaign import Shard, load_variants, plan_variants, render_variants
from ..errors import FileRefused, UsageError
from ..files import read_regular_file
from ..loading.yaml_source import MAX_FILE_BYTES
from ..model import Storyboard
from ..planning.variants import VariantsPlan
from .notes import chosen_backend, echo_warnings

_SECTION = re.compile(r"^variants\s*:")
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
WIDTH = 80


def variant_options(command: Callable[..., None]) -> Callable[..., None]:
    """--variant and --shard, as every command that reads a storyboard takes them."""
    command = click.option("--shard", default=None, metavar="K/N", callback=_shard,
                           help="Only the K-th of N slices of the variants (variant i of the file is in slice "
                                "i mod N + 1): one machine of N renders its part of a campaign.")(command)
    return click.option("--variant", "variant", multiple=True, metavar="NAME|KEY=VALUE",
                        help="Only this variant (`shoes-en`) or those with this value (`product=shoes`); repeatable. "
                             "Default: every variant of the file.")(command)


def _shard(context: click.Context, parameter: click.Parameter, text: str | None) -> Shard | None:
    if text is None:
        return None
    found = _SHARD.match(text)
    if found is None or not 1 <= int(found.group(1)) <= int(found.group(2)):
        raise click.BadParameter(f"{text!r}: K/N with 1 <= K <= N, e.g. 2/3")
    return int(found.group(1)), int(found.group(2))


def chosen_variants(file: str, variant: tuple[str, ...], shard: Shard | None) -> list[Storyboard] | None:
    """The variants a command works on; None for a file without `variants:` named without the flags
    (the command then goes its usual way)."""
    if not variant and shard is None and not declares_variants(file):
        return None
    boards = load_variants(file, variant, shard)
    if not boards:
        click.echo(f"{file}: no variant in slice {shard[0]}/{shard[1]}" if shard else f"{file}: no variant chosen", err=True)
    return boards


def declares_variants(file: str) -> bool:
    """Whether the file has a top-level `variants:` key as block YAML writes it (cheap: it only picks the way;
    a file that hides it in flow style is told so by the usual way's loader)."""
    try:  # never a pipe or a device (/dev/zero would be read for ever), never more than a storyboard may hold
        text = read_regular_file(Path(file), MAX_FILE_BYTES).decode("utf-8", errors="replace")
    except (FileRefused, OSError, ValueError):
        return False  # the usual way says what is wrong with the file
    return any(_SECTION.match(line) for line in text.splitlines())


def _name(board: Storyboard) -> str:
    return board.variant.name if board.variant else board.file.name


def validate(file: str, boards: list[Storyboard], backend: str | None) -> None:
    for board in boards:
        if backend is not None:
            check_backend(plan_for(board, backend), backend)
    echo_warnings(*boards)
    shots = len(boards[0].shots) if boards else 0
    checked = f"; ready for the {backend} backend" if backend else ""
    click.echo(f"{file}: ok ({len(boards)} variant{'' if len(boards) == 1 else 's'}, "
               f"{shots} shot{'' if shots == 1 else 's'}{checked})")


def plan(file: str, boards: list[Storyboard], backend: str | None, as_json: bool) -> None:
    if not boards:
        return
    backend = chosen_backend(boards[0], backend, may_pay=False)
    the_plan = plan_variants(boards, backend)
    echo_warnings(*boards)
    for each in the_plan.plans:
        check_backend(each, backend)
    paid = VariantsPlan([on_the_service(each) for each in the_plan.plans])  # the prices asked once, for the backend named
    if as_json:
        click.echo(json.dumps({**the_plan.to_dict(), "backend": backend,
                               "on_the_service": {"missing_requests": len(paid.missing),
                                                  "missing_usd": paid.to_dict()["missing_usd"]}},
                              indent=2, ensure_ascii=False))
        return
    users = the_plan.users
    click.echo(f"{file}: {len(boards)} variant{'' if len(boards) == 1 else 's'}, "
               f"clips from the {backend} backend\n")
    rows = [["variant", "shots", "requests", "shared", "to make", "est.", "film"]]
    for each in the_plan.plans:
        generated = [item for item in each.requests if item.footage is None]
        rows.append([_name(each.storyboard), str(len(each.shots)), str(len(generated)),
                     str(sum(1 for item in generated if len(users[item.hash]) > 1)),
                     str(sum(1 for item in generated if item.to_pay)), _usd(each.estimated_usd),
                     os.path.relpath(each.storyboard.output.path)])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    click.echo()
    shared = [item for item in the_plan.distinct if len(users[item.hash]) > 1]
    lines = [
        f"distinct requests: {len(the_plan.distinct)} (each variant alone: {the_plan.alone_requests}); "
        f"{len(the_plan.missing)} to make with the {backend} backend",
        f"estimated on the service: {_usd(the_plan.estimated_usd)} in total, each distinct request once; "
        f"each variant alone: {_usd(the_plan.alone_usd)}; sharing saves "
        f"{_usd(the_plan.alone_usd - the_plan.estimated_usd)}",
        f"with --backend {PAID_BACKEND}: {len(paid.missing)} to pay, estimated {_usd(paid.missing_usd)}",
        paid.plans[0].prices.describe(paid.plans[0].profiles),
        *[f"shared: {item.key} ({item.hash[:12]}) by {len(users[item.hash])} variants: {', '.join(users[item.hash])}"
          for item in shared[:20]],
    ]
    for line in lines:
        click.echo(textwrap.fill(line, width=WIDTH, subsequent_indent="  ", break_on_hyphens=False))


def _usd(amount: float) -> str:
    return "?" if amount == float("inf") else f"${amount:.2f}"


def render(boards: list[Storyboard], backend: str | None, options: dict[str, Any],
           progress: Callable[[], Any], as_json: bool) -> None:
    from ..messages import display_path
    from ..redaction import redact

    if not boards:
        return
    backend = chosen_backend(boards[0], backend, may_pay=True)
    echo_warnings(*boards)
    shown = progress()
    try:
        result = render_variants(boards, backend=backend, **options, on_event=shown)
    except Exception as error:
        if as_json:
            shown.emit({"state": "summary", "error": str(error)})
        raise
    finally:
        shown.close()
    if as_json:
        shown.emit({"state": "summary", "generated": result.generated, "reused": result.reused,
                    "usd_spent": round(result.usd_spent, 4), "films": {name: str(path) for name, path in result.films.items()}})
        return
    for name, each in result.results.items():
        click.echo(f"{name}: {len(each.generated)} generated, {len(each.reused)} reused"
                   + (f"; film: {display_path(each.film)}" if each.film else ""))
    click.echo(redact(f"{len(result.generated)} distinct request{'' if len(result.generated) == 1 else 's'} generated "
                      f"for {len(boards)} variants" + (f", {result.usd_spent:.2f} USD spent" if result.usd_spent else "")))
    sys.stdout.flush()


def review(boards: list[Storyboard], backend: str | None, output: str | None) -> None:
    from ..api import review as review_board

    if output is not None and len(boards) > 1 and "{variant}" not in output:
        raise UsageError("-o with several variants: put {variant} in the name (e.g. review-{variant}.html), "
                         "or leave -o out (each page goes next to its film)")
    for board in boards:
        page = review_board(board, backend=chosen_backend(board, backend, may_pay=False),
                            output=output.replace("{variant}", _name(board)) if output else None)
        click.echo(f"{_name(board)}: review {os.path.relpath(page)}")


def export_path(out: str, board: Storyboard, several: bool) -> str:
    """Each variant's cut: `{variant}` in OUT is its name; with several variants and no `{variant}`, the
    name goes before the extension (cut.otio: cut-shoes-en.otio)."""
    if "{variant}" in out:
        return out.replace("{variant}", _name(board))
    if not several:
        return out
    path = Path(out)
    return str(path.with_name(f"{path.stem}-{_name(board)}{path.suffix}"))
