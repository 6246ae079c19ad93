"""What the commands say besides their result: warnings about a storyboard that is valid."""
from __future__ import annotations

import click

from ..loading.checks import prompt_warnings
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


def echo_warnings(storyboard: Storyboard) -> None:
    """Each warning as `FILE:LINE:COL: warning: …` on stderr; they change no exit code."""
    for problem in prompt_warnings(storyboard):
        click.echo(redact(str(problem)), err=True)
