from __future__ import annotations

import threading

import click

from ..emulator.faults import FAULTS
from ..errors import UsageError


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free one).")
@click.option("--api-key", metavar="KEY", default=None, help="Accept only this bearer key (default: any key).")
@click.option("--latency", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds from create to completed.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the injected faults.")
@click.option("--faults", metavar="SPEC", default="",
              help=f"Fault probabilities, e.g. '429=0.1,drop=0.05'. Faults: {', '.join(FAULTS)}.")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None,
              help="Keep clips and fetched references here (default: a temporary folder).")
def command(host: str, port: int, api_key: str | None, latency: float, seed: int, faults: str, work_dir: str | None) -> None:
    """Serve a local stand-in of the generation service's API until Ctrl-C."""
    from ..emulator import Emulator  # the HTTP stack, only when serving

    try:
        emulator = Emulator(host=host, port=port, api_key=api_key, latency=latency, faults=faults, seed=seed,
                            work_dir=work_dir)
    except UsageError as error:
        raise click.BadParameter(str(error), param_hint="'--faults'") from None
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    with emulator:
        click.echo(f"emulator listening; use AIMLAPI_BASE_URL={emulator.url}")
        click.echo(f"stats: {emulator.origin}/_emulator/stats  (Ctrl-C stops)")
        threading.Event().wait()
