"""What the commands say besides their result: warnings about a storyboard that is valid."""
from __future__ import annotations

from collections.abc import Callable

import click

from ..backends import BACKEND_VARIABLE, BACKENDS, choose_backend
from ..loading.checks import prompt_warnings, short_shot_warnings, still_warnings
from ..model import Storyboard
from ..redaction import redact

# The Python API's arguments as the commands spell them: a library message names `only`, the command line --only.
FLAGS = {"only": "--only", "keep_going": "--keep-going", "max_cost": "--max-cost", "resubmit": "--resubmit",
         "output": "-o", "takes": "--takes", "jobs": "--jobs", "backend": "--backend"}


def in_flags(text: str) -> str:
    """A library message in the command line's words: each `argument` it quotes becomes its flag."""
    for name, flag in FLAGS.items():
        text = text.replace(f"`{name}`", flag)
    return text


def backend_option(help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """--backend as every command takes it: when it is not given, the command says which it uses and why."""
    return click.option("--backend", type=click.Choice(BACKENDS), default=None,
                        help=f"{help} Default: ${BACKEND_VARIABLE}, else render.backend in the file, else the last "
                             "render's (render: never a paid one by history alone), else preview.")


def chosen_backend(storyboard: Storyboard | None, named: str | None, *, may_pay: bool) -> str:
    """The backend a command uses (see `backends.choose_backend`), said in one line when not named."""
    choice = choose_backend(storyboard, named, may_pay=may_pay)
    if choice.reason:
        click.echo(f"backend: {choice.name} ({in_flags(choice.reason)})", err=True)
    return choice.name


def echo_warnings(*storyboards: Storyboard) -> None:
    """Each warning as `FILE:LINE:COL: warning: …` on stderr, once however many of `storyboards` (the
    variants of a file) it is true of; they change no exit code."""
    said: set[str] = set()
    for storyboard in storyboards:
        for problem in [*prompt_warnings(storyboard), *short_shot_warnings(storyboard), *still_warnings(storyboard)]:
            if str(problem) not in said:
                said.add(str(problem))
                click.echo(redact(str(problem)), err=True)
