from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

import click

from ..api import Spend
from ..backends import backend_class
from ..errors import InvalidStoryboard, Problem, StoryboardError, UsageError
from ..events import Event
from ..loading import load
from ..model import MAX_TAKES, Storyboard
from ..redaction import redact
from .notes import backend_option, chosen_backend, echo_warnings, in_flags
from .progress import JsonLines, Lines, LiveTable
from .variants import Shard, chosen_variants, declares_variants, variant_options
from .watch import Budget, watch

CONFIRM_ABOVE_USD = 1.00  # estimated spend above which a render asks before paying


@click.command("render")
@click.argument("file", type=click.Path())
@backend_option("preview renders animatics offline for free; preview-sync adds a flash and a beep every second "
                "to measure audio/video sync; aimlapi calls the paid service.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Generations at once (default: render.jobs, else 8 on the service, CPU cores for the preview).")
@click.option("--only", multiple=True, metavar="ID", help="Generate only this shot (repeatable).")
@click.option("--keep-going", is_flag=True, help="After a shot fails, still submit the others.")
@click.option("--max-cost", type=click.FloatRange(min=0), default=None, metavar="USD",
              help="Do not start above this estimate; submit nothing more once the spend would pass it.")
@click.option("--yes", "-y", is_flag=True, help=f"Confirm spending without asking (asked above {CONFIRM_ABOVE_USD:.2f} USD).")
@click.option("--resubmit", multiple=True, is_flag=False, flag_value="*", metavar="[SHOT]",
              help="Pay again for SHOT (repeatable) where an earlier create's outcome is unknown or its paid clip "
                   "can no longer be fetched; without SHOT, for every shot whose outcome is unknown.")
@click.option("--takes", type=click.IntRange(1, MAX_TAKES), default=None, metavar="N",
              help="Make at least N takes of every generated shot (as `takes: N`); `take: K` on a shot picks the "
                   "one in the film.")
@click.option("--stills", "stills", is_flag=True,
              help="Draw only the stills of the shots with `still:` (the storyboard's panels): no video, no film.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON event per line instead of progress.")
@click.option("--watch", "watch_", is_flag=True,
              help="Render again whenever FILE or a file it reads changes, making only what changed; Ctrl-C to stop. "
                   "A paid backend needs --max-cost, then the budget of the whole session.")
@variant_options
def command(file: str, backend: str | None, jobs: int | None, only: tuple[str, ...], keep_going: bool,
            max_cost: float | None, yes: bool, resubmit: tuple[str, ...], takes: int | None, stills: bool, as_json: bool,
            watch_: bool, variant: tuple[str, ...], shard: Shard | None) -> None:
    """Generate the missing clips of FILE and assemble the film (every variant's, each shared clip once)."""
    from ..api import render
    from ..messages import display_path

    board: Storyboard | None = None
    if watch_ and (variant or shard or declares_variants(file)):
        raise UsageError(f"--watch renders a file without variants; {file} has `variants:`: render it again after "
                         "each change instead (only what changed is made)")
    boards = None if watch_ else chosen_variants(file, variant, shard)
    try:
        board = load(file) if boards is None else boards[0] if boards else None
    except InvalidStoryboard:
        if not watch_:  # watching waits for a valid save; the file's backend is then unknown
            raise
    backend = chosen_backend(board, backend, may_pay=True)
    if watch_ and backend_class(backend).paid and max_cost is None:
        raise UsageError(f"--watch with --backend {backend} pays for every save that changes a shot: add --max-cost USD, "
                         "the most the whole session may spend (or watch with the free preview backend)")

    def confirm(spend: Spend) -> bool:
        if yes or max_cost is not None or spend.usd <= CONFIRM_ABOVE_USD:
            return True  # an explicit --max-cost is the user's budget: the render stays within it
        if sys.stdin.isatty() and sys.stderr.isatty():
            return click.confirm(f"Pay for {redact(str(spend))}?", err=True)
        raise UsageError(f"this render makes {redact(str(spend))}: add --yes to confirm, or --max-cost USD to cap it")

    def render_once(board: Storyboard, budget: Budget | None = None) -> None:
        if as_json:
            progress: JsonLines | LiveTable | Lines = JsonLines()
        elif sys.stderr.isatty():
            progress = LiveTable()
        else:
            progress = Lines()
        file_cap = math.inf if board.render.max_cost is None else board.render.max_cost
        cap = max_cost if budget is None else min(budget.left(), file_cap)  # watching: what the session has left
        try:
            result = render(board, backend=backend, jobs=jobs, only=list(only) or None, keep_going=keep_going,
                            resubmit=resubmit, max_cost=cap, takes=takes, confirm=confirm, stills=stills,
                            on_event=_in_flags(budget.track(progress) if budget else progress))
        except (StoryboardError, KeyboardInterrupt) as error:
            if isinstance(progress, JsonLines):  # a program reading the events learns how it ended
                ended = {"interrupted": True} if isinstance(error, KeyboardInterrupt) else {"error": str(error)}
                progress.emit({"state": "summary", **ended})
            raise
        finally:
            progress.close()
        if isinstance(progress, JsonLines):
            progress.emit({"state": "summary", "generated": result.generated, "reused": result.reused,
                           "usd_spent": round(result.usd_spent, 4), "film": str(result.film) if result.film else None})
            return
        click.echo(
            f"{len(result.generated)} generated, {len(result.reused)} reused"
            + (f", {result.usd_spent:.2f} USD spent" if result.usd_spent else "")
            + (f"; film: {display_path(result.film)}" if result.film else "")
        )

    if boards is not None:
        from . import variants

        variants.render(boards, backend, {"jobs": jobs, "only": list(only) or None, "keep_going": keep_going,
                                          "resubmit": resubmit, "max_cost": max_cost, "takes": takes,
                                          "confirm": confirm, "stills": stills},
                        lambda: _in_flags_progress(as_json), as_json)
        return
    if watch_:
        _watch(file, render_once, Budget(max_cost) if backend_class(backend).paid and max_cost is not None else None)
        return
    assert board is not None
    echo_warnings(board)
    render_once(board)


class _ProgressInFlags:
    def __init__(self, progress: JsonLines | LiveTable | Lines):
        self.progress = progress

    def __call__(self, event: Event) -> None:
        self.progress(replace(event, message=in_flags(event.message)))

    def emit(self, record: dict[str, object]) -> None:
        if isinstance(self.progress, JsonLines):
            self.progress.emit(record)

    def close(self) -> None:
        self.progress.close()


def _in_flags_progress(as_json: bool) -> _ProgressInFlags:
    return _ProgressInFlags(JsonLines() if as_json else LiveTable() if sys.stderr.isatty() else Lines())


def _in_flags(show: Callable[[Event], None]) -> Callable[[Event], None]:
    return lambda event: show(replace(event, message=in_flags(event.message)))


def _watch(file: str, render_once: Callable[[Storyboard, Budget | None], None], budget: Budget | None) -> None:
    def once(board: Storyboard) -> None:
        echo_warnings(board)
        render_once(board, budget)

    def show_problems(problems: Sequence[Problem]) -> None:  # as `validate` shows them
        for problem in problems:
            click.echo(redact(str(problem)), err=True)

    watch(file, once, say=lambda text: click.echo(redact(text), err=True), show_problems=show_problems, budget=budget)
