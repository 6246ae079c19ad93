"""`storyboard` on the command line: a thin layer over the Python API, one file per command."""
from __future__ import annotations

import os
import platform
import signal
import sys
import traceback
from pathlib import Path

import click

from ..errors import InvalidStoryboard, StoryboardError, UsageError
from ..files import atomic_write_bytes
from ..messages import describe_os_error
from ..redaction import redact
from . import cache, emulator, export, init, plan, render, review, schema, validate
from .notes import in_flags

EXIT_OK = 0
EXIT_FAILED = 1  # a shot failed, assembly failed, or an unexpected error
EXIT_INVALID = 2  # the input or the command line is invalid
EXIT_INTERRUPTED = 130


def exit_code(error: StoryboardError) -> int:
    """The one place where a kind of error becomes an exit code."""
    return EXIT_INVALID if isinstance(error, (InvalidStoryboard, UsageError)) else EXIT_FAILED


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.version_option(package_name="storyboard-render")
@click.pass_context
def cli(context: click.Context, debug: bool) -> None:
    """Render a declarative YAML storyboard into a multi-shot film."""
    context.obj = {"debug": debug}


for module in (init, validate, plan, render, export, review, schema, emulator, cache):
    cli.add_command(module.command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: every failure becomes one clear message and an exit code, never a traceback."""
    try:
        return _run(argv)
    except KeyboardInterrupt:  # a Ctrl-C that lands while the run is ending still means "interrupted"
        return EXIT_INTERRUPTED


def _run(argv: list[str] | None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C does
    try:
        # Without standalone mode click returns `ctx.exit(n)`'s code (or the command's result).
        returned = cli.main(args=argv, prog_name="storyboard", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        sys.unraisablehook = lambda _: None  # half-closed ffmpeg readers complain while exiting
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except InvalidStoryboard as error:
        for problem in error.problems:
            click.echo(redact(str(problem)), err=True)
        return exit_code(error)
    except StoryboardError as error:
        click.echo(redact(f"error: {in_flags(str(error))}"), err=True)
        return exit_code(error)
    except OSError as error:  # the file system said no: a full disk, a read-only folder, a file gone
        click.echo(redact(f"error: {describe_os_error(error)}"), err=True)
        return EXIT_FAILED
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        if debug:
            click.echo(redact(traceback.format_exc()), err=True)
        else:
            click.echo(redact(f"internal error: {type(error).__name__}: {error}"), err=True)
            click.echo(_crash_report(argv), err=True)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
    return returned if isinstance(returned, int) else EXIT_OK


def _crash_report(argv: list[str] | None) -> str:
    """Write what a bug report needs (versions, the command, the traceback; secrets redacted) to the
    crash log, and say where it is."""
    from .. import __version__

    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "storyboard"
    log = folder / "crash.log"
    report = "\n".join([
        f"storyboard {__version__}, Python {platform.python_version()}, {platform.platform()}",
        f"command: storyboard {' '.join(argv if argv is not None else sys.argv[1:])}",
        "", traceback.format_exc(),
    ])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(log, redact(report).encode())
    except OSError:
        return "This is a bug in storyboard: run the command again with --debug and attach what it prints to a report."
    return f"This is a bug in storyboard: please attach {log} to a report (--debug shows the details here)."


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
