"""`storyboard cache status|gc`: the local store and the shared cache, what they hold, what nothing references."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from ..model import CacheSettings, SharedStore, Storyboard
from ..redaction import redact

if TYPE_CHECKING:
    from .housekeeping import StoredFile

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?b?)\s*$", re.IGNORECASE)
UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


@click.group("cache")
def command() -> None:
    """The local clip store and the shared cache: what they hold, what nothing references."""


@command.command("status")
@click.argument("folder", default=".", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def status(folder: str, as_json: bool) -> None:
    """What the local store of FOLDER (a project folder or a storyboard file in it) and its shared cache
    hold, and what of it the folder's storyboards and their storyboard.lock still reference."""
    from ..cache.bucket import in_flight, poisoned, survey_bucket
    from ..cache.claims import record_text
    from ..cache.references import references
    from ..cache.remote import RemoteStore, Unreachable
    from ..project.store import ClipStore
    from .housekeeping import KINDS, clip_backends, survey

    root = _folder(folder)
    store = ClipStore(root)
    refs = references(root, clip_backends(store))
    local = survey(store, refs)
    report: dict[str, Any] = {"folder": str(root), "storyboards": list(dict.fromkeys(board.file.name for board in refs.boards)),
                              "broken": refs.broken, "referenced_requests": len(refs.requests), "local": {}, "shared": []}
    for kind in KINDS:
        files = local.of(kind)
        unreferenced = [item for item in files if not item.referenced]
        report["local"][kind] = {
            "files": len(files), "bytes": sum(item.size for item in files),
            "unreferenced_files": len(unreferenced), "unreferenced_bytes": sum(item.size for item in unreferenced),
            "only_copies": sum(item.only_copy for item in unreferenced),
        }
    variants: dict[str, dict[str, int]] = {}  # variant -> shared cache -> of its paid requests, those with a clip there
    for remote in map(RemoteStore, _shared_stores(refs.boards)):
        entry: dict[str, Any] = {"cache": remote.where}
        try:
            requests = survey_bucket(remote)
            flying = in_flight(remote, [item for item in requests if item.request in refs.requests])
            poison = poisoned(remote, requests)
        except Unreachable as error:
            entry["unreachable"] = str(error)
        else:
            mine = [item for item in requests if item.request in refs.requests]
            in_bucket = {item.request for item in requests if item.has_clip}
            entry |= {"requests": len(requests), "with_clip": sum(item.has_clip for item in requests),
                      "bytes": sum(item.size for item in requests), "referenced": len(mine),
                      "referenced_with_clip": sum(item.has_clip for item in mine),
                      "poisoned": [{"request": item.request.request, "keys": [record_text(key) for key in item.keys],
                                    "why": item.why, "removed_by_gc": item.removable} for item in poison],
                      "in_flight": [{"request": item.request, "attempt": claim.attempt, "status": claim.status,
                                     "by": claim.describe(), "generation": claim.generation} for item, claim in flying]}
        report["shared"].append(entry)
        if "unreachable" not in entry:
            for board in refs.boards:
                if board.variant is not None:
                    clips = {name for name in refs.on_the_service.get(board.records_name, set()) if name in in_bucket}
                    variants.setdefault(board.variant.name, {})[remote.where] = len(clips)
    report["variants"] = [_variant_status(board, refs.on_the_service.get(board.records_name, set()),
                                          variants.get(board.variant.name, {}))
                          for board in refs.boards if board.variant is not None]
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _show_status(report)


@command.command("gc")
@click.argument("folder", default=".", type=click.Path(exists=True))
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--keep-derived", default="1GB", show_default=True, metavar="SIZE",
              help="Segments and pictures (rebuilt on demand) kept, newest first, up to this size; 0 removes them all.")
@click.option("--unshared", is_flag=True,
              help="Also remove unreferenced paid clips that no shared cache holds (getting them again is paid).")
@click.option("--remote", is_flag=True,
              help="Also remove from the shared cache every request these storyboards do not reference, "
                   "untouched for --older-than days (other branches and projects sharing the prefix included).")
@click.option("--older-than", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="DAYS",
              help="With --remote: only requests whose newest object is at least this old.")
@click.option("--verbose", "-v", is_flag=True, help="List every file removed.")
def gc(folder: str, dry_run: bool, keep_derived: str, unshared: bool, remote: bool, older_than: float,
       verbose: bool) -> None:
    """Remove the clips, frames, segments and pictures of FOLDER's local store that nothing references,
    oldest first, and say how much that frees. The shared cache only with --remote."""
    from ..cache.bucket import poisoned, remove_poisoned, remove_requests, stale, survey_bucket, unfinished
    from ..cache.claims import record_text
    from ..cache.references import references
    from ..cache.remote import RemoteStore, Unreachable
    from ..project.lock import project_lock
    from ..project.store import ClipStore
    from .housekeeping import clip_backends, collect, remove, survey

    keep = _size(keep_derived)
    root = _folder(folder)
    store = ClipStore(root)
    refs = references(root, clip_backends(store))
    if not refs.complete:
        name, why = next(iter(refs.broken.items()))
        raise UsageError(f"{name} cannot be read ({why}); gc would not know which clips it needs: fix it first")
    verb = "would remove" if dry_run else "removed"
    with project_lock(store.root, lambda waiting: click.echo(waiting, err=True)):
        local = survey(store, refs)
        chosen = collect(local, keep_derived=keep, unshared=unshared)
        paid = [item for item in chosen.removed if item.only_copy]
        if paid:  # said before anything goes: getting these again is paid
            click.echo(f"{'would remove' if dry_run else 'removing'} {len(paid)} paid clip(s) no shared cache holds "
                       "(getting them again would be paid):")
            for item in paid:
                click.echo(f"  {item.path.relative_to(root)}  {_bytes(item.size)}")
        if verbose:
            for item in chosen.removed:
                click.echo(f"  {verb} {item.path.relative_to(root)}  {_bytes(item.size)}")
        freed = sum(item.size for item in chosen.removed) if dry_run else remove(chosen.removed, store.root)
    before = sum(item.size for item in local.files)
    click.echo(f"local store {store.root}: {verb} {len(chosen.removed)} file{'' if len(chosen.removed) == 1 else 's'}, "
               f"{_bytes(freed)} ({_by_kind(chosen.removed)}); {_bytes(before)} -> {_bytes(before - freed)}")
    if chosen.kept_only_copies:
        size = sum(item.size for item in chosen.kept_only_copies)
        click.echo(f"kept {len(chosen.kept_only_copies)} unreferenced paid clip(s), {_bytes(size)}: no shared cache holds "
                   "them, so getting them again would be paid (--unshared removes them too)")
    if not remote:
        return
    for shared in map(RemoteStore, _shared_stores(refs.boards)):
        try:
            requests = survey_bucket(shared)
            poison = [item for item in poisoned(shared, requests) if item.removable]
            for bad in poison:  # said before anything goes
                click.echo(f"shared cache {shared.where}: {'would remove' if dry_run else 'removing'} "
                           f"{', '.join(map(str, map(record_text, bad.keys)))}: {bad.why}")
            if poison and not dry_run:
                click.echo(f"shared cache {shared.where}: removed {remove_poisoned(shared, poison)} poisoned object(s)")
                requests = survey_bucket(shared)
            gone = stale(requests, refs.requests, older_than * 86400)
            flying = {entry.request for entry in unfinished(shared, gone)}
            gone = [entry for entry in gone if entry.request not in flying]
            size = sum(entry.size for entry in gone) if dry_run else remove_requests(shared, gone)
        except Unreachable as error:
            raise UsageError(f"the shared cache {shared.where} cannot be used: {error}") from None
        click.echo(f"shared cache {shared.where}: {verb} {len(gone)} request{'' if len(gone) == 1 else 's'} "
                   f"untouched for {older_than:g} days that no storyboard here references, {_bytes(size)}")
        if flying:
            click.echo(f"shared cache {shared.where}: kept {len(flying)} such request(s) whose claim is still in flight "
                       "(its generation not known to be finished): someone may be paying for it")


def _folder(given: str) -> Path:
    path = Path(given).absolute()
    return path.parent if path.is_file() else path


def _shared_stores(boards: list[Storyboard]) -> list[SharedStore]:
    from ..cache.settings import shared_settings

    found: list[SharedStore] = []
    for board in boards:
        store = shared_settings(board.cache).s3
        if store is not None and store not in found:
            found.append(store)
    if not boards:
        store = shared_settings(CacheSettings()).s3  # no storyboard: the environment's cache, if any
        if store is not None:
            found.append(store)
    return found


def _variant_status(board: Storyboard, requests: set[str], in_caches: dict[str, int]) -> dict[str, Any]:
    """One variant's completion: its film on this machine, and how many of its requests on the paid service have
    their clip in each shared cache (all of them: any machine assembles the film without paying)."""
    from ..assembling.film import preview_path

    assert board.variant is not None
    film = board.output.path
    return {"variant": board.variant.name, "storyboard": board.file.name, "film": str(film), "film_here": film.is_file(),
            "preview_here": preview_path(film).is_file(), "requests": len(requests), "clips_in_shared_cache": in_caches}


def _show_status(report: dict[str, Any]) -> None:
    names = ", ".join(report["storyboards"]) or "none"
    click.echo(f"{report['folder']}: storyboards {names}; {report['referenced_requests']} requests referenced "
               "(every take, held clips, storyboard.lock)")
    for name, why in report["broken"].items():
        click.echo(redact(f"warning: {name} cannot be read ({why}); what it references is not known"), err=True)
    click.echo("local store (.storyboard/):")
    for kind, figures in report["local"].items():
        if kind == "pictures" and not figures["files"]:
            continue  # what versions before the film's segments kept: shown only while some is left
        unused = figures["unreferenced_files"]
        extra = f"; {figures['only_copies']} paid, in no shared cache" if figures["only_copies"] else ""
        click.echo(f"  {kind:<9} {figures['files']:>5} files {_bytes(figures['bytes']):>9}   "
                   + ("derived, rebuilt on demand" if kind in ("segments", "pictures")
                      else f"unreferenced {unused} ({_bytes(figures['unreferenced_bytes'])}{extra})"))
    if not report["shared"]:
        click.echo("shared cache: none (`cache: {s3: {bucket: ...}}` in the storyboard, or STORYBOARD_CACHE_BUCKET)")
    for entry in report["shared"]:
        if "unreachable" in entry:
            click.echo(redact(f"shared cache {entry['cache']}: cannot be reached ({entry['unreachable']})"))
            continue
        click.echo(f"shared cache {entry['cache']}: {entry['requests']} requests ({entry['with_clip']} with a clip), "
                   f"{_bytes(entry['bytes'])}; these storyboards: {entry['referenced_with_clip']} of "
                   f"{report['referenced_requests']} requests there")
        if entry["poisoned"]:
            removable = sum(len(item["keys"]) for item in entry["poisoned"] if item["removed_by_gc"])
            click.echo(f"  {len(entry['poisoned'])} request(s) hold objects no render uses"
                       + (f" ({removable} removed by `cache gc --remote`)" if removable else "") + ":")
        for item in entry["poisoned"]:
            click.echo(f"  poisoned: {', '.join(item['keys'])}: {item['why']}")
        for claim in entry["in_flight"]:
            click.echo(f"  in flight: {claim['request'][:12]} {claim['status']} by {claim['by']}"
                       + (f", generation {claim['generation']}" if claim["generation"] else ""))
    if report["variants"]:
        done = sum(variant["film_here"] for variant in report["variants"])
        click.echo(f"variants: {done} of {len(report['variants'])} films here")
    for variant in report["variants"]:
        shared = "; ".join(f"{count} of {variant['requests']} clips in {where}"
                           + (" (complete)" if count == variant["requests"] else "")
                           for where, count in variant["clips_in_shared_cache"].items())
        here = "film here" if variant["film_here"] else "preview film here" if variant["preview_here"] else "no film here"
        click.echo(f"  {variant['variant']:<16} {here}" + (f"; {shared}" if shared else ""))


def _by_kind(files: list[StoredFile]) -> str:
    counts: dict[str, int] = {}
    for item in files:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return ", ".join(f"{count} {kind}" for kind, count in counts.items()) or "nothing"


def _size(text: str) -> int:
    match = SIZE.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 0, 500MB, 2GB)", param_hint="'--keep-derived'")
    return int(float(match.group(1)) * UNITS[(match.group(2) or "").lower().rstrip("b")])


def _bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"
