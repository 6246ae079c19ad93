from __future__ import annotations

import os
from pathlib import Path

import click

from ..exporting import MEDIA, Exported, Media, export, format_for
from ..loading import load
from ..model import Storyboard
from .notes import backend_option, chosen_backend, echo_warnings
from .variants import Shard, chosen_variants, export_path, variant_options


@click.command("export")
@click.argument("file", type=click.Path())
@click.argument("out", type=click.Path())
@backend_option("Whose clips the cut points at.")
@click.option("--media", type=click.Choice(MEDIA), default="collect", show_default=True,
              help="collect: the cut's clips beside OUT, in a folder named after it (cut.otio: cut-media/, "
                   "03-sneak.mp4...; hard links where possible, else copies), by relative paths; "
                   "store: the clip store's own files, by absolute paths.")
@variant_options
def command(file: str, out: str, backend: str | None, media: Media, variant: tuple[str, ...], shard: Shard | None) -> None:
    """Write the film's cut for an editor to OUT: the rendered clips, named by shot id, with their
    trims, crossfades and fades, as long as the film to the frame, and the dialogue as markers. The
    clips go beside OUT, in a folder named after it (cut.xml: cut-media/), with readable names. The
    format is OUT's extension: .otio (OpenTimelineIO, with each shot's prompt, seed, take and request
    hash), .xml (FCP 7 XML, for Premiere Pro and DaVinci Resolve), .edl (CMX 3600, picture only),
    .fcpxml (Final Cut Pro X). Render first: every shot's clip must exist. Sends nothing. Variants:
    one cut each, named by `{variant}` in OUT, else OUT with the variant's name before the extension."""
    format_for(Path(out))  # an unknown extension or a missing adapter, said before any work
    boards = chosen_variants(file, variant, shard)
    for board in boards or []:
        _export(board, export_path(out, board, len(boards or []) > 1), backend, media)
    if boards is None:
        _export(load(file), out, backend, media)


def _export(board: Storyboard, out: str, backend: str | None, media: Media) -> None:
    echo_warnings(board)
    backend = chosen_backend(board, backend, may_pay=False)
    written = export(board, out, backend=backend, media=media)
    shown = _shown(written.path)
    count = written.shots
    click.echo(f"exported: {shown}  ({written.format.name}: {count} shot{'' if count == 1 else 's'}, "
               f"{written.frames} frames at {written.fps:g} fps, {written.seconds:.2f} s; clips from the {backend} backend)")
    if written.format.loses:
        click.echo(f"  {written.path.suffix} holds {written.format.loses}; .otio keeps everything")
    if not written.format.keeps_rate:
        click.echo(f"  the file does not say its frame rate: import it at {written.fps:g} fps")
    _echo_media(written)


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def _echo_media(written: Exported) -> None:
    collected = written.media
    if collected is None:
        click.echo("  media: the clip store's files, by absolute paths")
        return
    done = [f"{len(files)} {how}" for files, how in ((collected.linked, "linked"), (collected.copied, "copied"),
                                                     (collected.reused, "already there")) if files]
    count = len(collected.clips) + (collected.soundtrack is not None)
    click.echo(f"  media: {_shown(collected.folder)}{os.sep} ({count} file{'' if count == 1 else 's'}: {', '.join(done)}), "
               "by relative paths: keep it beside the cut")
