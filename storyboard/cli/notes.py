"""What the commands say besides their result: warnings about a storyboard that is valid."""
from __future__ import annotations

import click

from ..checks import prompt_warnings
from ..errors import redact
from ..model import Storyboard


def echo_warnings(storyboard: Storyboard) -> None:
    """Each warning as `FILE:LINE:COL: warning: …` on stderr; they change no exit code."""
    for problem in prompt_warnings(storyboard):
        click.echo(redact(str(problem)), err=True)
