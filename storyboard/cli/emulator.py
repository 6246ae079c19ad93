from __future__ import annotations

import contextlib
import shlex
import threading

import click

from ..emulator.faults import FAULTS
from ..emulator.s3 import DEFAULT_BUCKET, DEFAULT_PORT, INSTALL_HINT, LocalS3
from ..errors import UsageError
from ..messages import os_reason


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free one).")
@click.option("--api-key", metavar="KEY", default=None, help="Accept only this bearer key (default: any key).")
@click.option("--latency", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds from create to completed.")
@click.option("--log-lag", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds before a request shows in the usage log (GET /v2/logs), as an analytics pipeline lags.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the injected faults.")
@click.option("--faults", metavar="LIST", default="",
              help=f"Fault probabilities, e.g. '429=0.1,drop=0.05'. Faults: {', '.join(FAULTS)}.")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None,
              help="Keep clips and fetched references here (default: a temporary folder).")
@click.option("--s3", "with_s3", is_flag=True,
              help="Also serve a local S3-compatible server with a bucket, for storyboards with local reference "
                   f"files (needs moto: {INSTALL_HINT}).")
@click.option("--s3-port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port of the local S3 server (0: any free one).")
@click.option("--s3-bucket", metavar="NAME", default=DEFAULT_BUCKET, show_default=True,
              help="Bucket made on the local S3 server.")
def command(host: str, port: int, api_key: str | None, latency: float, log_lag: float, seed: int, faults: str,
            work_dir: str | None, with_s3: bool, s3_port: int, s3_bucket: str) -> None:
    """Serve a local stand-in of the generation service's API until Ctrl-C.

    It speaks the contract described in docs/service.md (create, poll, download), makes
    clips with the preview renderer, and prints the environment variables a render needs
    to use it instead of the real service. With --s3 it also serves S3-compatible storage
    for local reference files, so every storyboard can be tried without a cloud account.
    """
    from ..emulator import Emulator  # the HTTP stack, only when serving

    with contextlib.ExitStack() as running:
        local_s3 = None
        if with_s3:
            try:
                local_s3 = LocalS3(host=host, port=s3_port, bucket=s3_bucket)
            except OSError as error:
                raise click.ClickException(f"cannot listen on {host}:{s3_port} (--s3-port): "
                                           f"{os_reason(error)}") from None
            running.enter_context(local_s3)
        try:
            emulator = Emulator(host=host, port=port, api_key=api_key, latency=latency, faults=faults, seed=seed,
                                work_dir=work_dir)
        except UsageError as error:
            raise click.BadParameter(str(error), param_hint="'--faults'") from None
        except OSError as error:
            raise click.ClickException(f"cannot listen on {host}:{port}: {os_reason(error)}") from None
        emulator.usage.lag = log_lag
        running.enter_context(emulator)
        click.echo(f"emulator listening; use AIMLAPI_BASE_URL={emulator.url}")
        if local_s3 is not None:
            click.echo(f"local S3 listening at {local_s3.endpoint}, bucket {local_s3.bucket!r}")
        click.echo("In the shell that renders:")
        # The emulator's own key is not printed: it was typed by whoever started it.
        click.echo(f"  export AIMLAPI_KEY={'<the --api-key>' if api_key else 'anything'} AIMLAPI_BASE_URL={emulator.url}")
        if local_s3 is not None:
            click.echo("  export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in local_s3.environment().items()))
        click.echo(f"stats: {emulator.origin}/_emulator/stats  (Ctrl-C stops)")
        threading.Event().wait()
