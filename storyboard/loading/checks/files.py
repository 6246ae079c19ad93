"""Files a storyboard names: references, footage and the soundtrack exist, are regular files of
the kind wanted, and are whole (images Pillow reads, videos whose streams reach their length)."""
from __future__ import annotations

import base64
import binascii
import difflib
import mimetypes
import os
from pathlib import Path
from typing import Any

from ...errors import MediaError, Problem
from ...files import file_kind
from ...media import image_is_readable, probe, sniff
from ...messages import os_reason
from ...model import Reference, Shot, Storyboard
from ..yaml_source import Document, Path_
from .timing import check_trim


def check_soundtrack(storyboard: Storyboard) -> list[Problem]:
    """The soundtrack is a readable file with sound."""
    music = storyboard.output.music
    if music is None:
        return []
    document = storyboard.document
    source = document.data["output"]["audio"]["music"]["path"]
    found = _check_file(document, music.where, music.path, source, ("audio", "video"), "soundtrack")
    if not found and not _has_sound(music.path):
        found.append(document.problem(music.where, f"soundtrack {source!r} has no sound"))
    return found


def _has_sound(path: Any) -> bool:
    try:
        return probe(path).has_audio
    except MediaError:
        return True  # unreadable files are reported when the film is assembled


def check_footage(storyboard: Storyboard, shot: Shot) -> list[Problem]:
    """A shot is generated from a prompt, or is existing footage (`clip`): one of the two."""
    document = storyboard.document
    raw = document.data["shots"][shot.index]
    if shot.clip is None:
        return check_trim(storyboard, shot, readable=False)  # the schema asks for a prompt
    problems = _check_file(document, (*shot.where, "clip"), shot.clip, raw["clip"], ("video",), "clip")
    problems += check_trim(storyboard, shot, readable=not problems)
    for name in ("prompt", "first_frame", "first_frame_image"):
        if name in raw:
            problems.append(document.problem((*shot.where, name), f"a shot with a `clip` is not generated: remove `{name}`",
                                             key=True))
    return problems


def all_references(storyboard: Storyboard) -> list[Reference]:
    refs = [ref for member in storyboard.cast.values() for ref in member.references]
    for shot in storyboard.shots:
        refs += shot.references
        if isinstance(shot.first_frame, Reference):
            refs.append(shot.first_frame)
    return refs


def check_reference(document: Document, ref: Reference) -> list[Problem]:
    if ref.path is None:
        source = ref.source.lower()
        if source.startswith(("http://", "https://")):
            return []
        if source.startswith("data:"):
            if not source.startswith(f"data:{ref.kind}/"):
                return [document.problem(ref.where, f"data URI is not {_with_article(ref.kind)} (expected data:{ref.kind}/...)")]
            header, _, payload = ref.source.partition(",")
            if header.endswith(";base64"):
                try:
                    base64.b64decode(payload, validate=True)
                except binascii.Error:
                    return [document.problem(ref.where, "data URI: the base64 payload is malformed")]
            return []
        return [document.problem(ref.where, f"unsupported URL {ref.source!r}: use a local path or an http(s) URL")]
    return _check_file(document, ref.where, ref.path, ref.source, (ref.kind,), f"reference {ref.kind}")


def _check_file(document: Document, where: Path_, path: Any, source: str, kinds: tuple[str, ...], role: str) -> list[Problem]:
    if "\0" in source:
        return [document.problem(where, f"{role} {source!r} contains a NUL character; file names cannot")]
    try:
        other = file_kind(os.stat(path).st_mode)  # never opened unless a regular file: a pipe would block
        if other is not None:
            return [document.problem(where, f"{role} {source!r} is {other}, not a file")]
        kind, description = sniff(path)
    except (FileNotFoundError, NotADirectoryError):
        near = _near_file(Path(path), source, kinds)
        return [document.problem(where, f"{role} {source!r} does not exist" + (f" (did you mean {near!r}?)" if near else ""))]
    except (OSError, ValueError) as error:
        reason = os_reason(error)
        return [document.problem(where, f"{role} {source!r} cannot be read: {reason}")]
    if kind not in kinds:
        expected = _with_article(kinds[0] + " file")
        unknown = description.startswith("not ")  # not a recognised image, video or audio file
        return [document.problem(where, f"{role} {source!r} is {description if unknown else _with_article(description)}"
                                        + ("" if unknown else f", not {expected}"))]
    damage = image_is_readable(path) if kind == "image" else _video_damage(path, kinds) if kind == "video" else None
    return [document.problem(where, f"{role} {source!r}: {damage}")] if damage else []


_COMMON = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp4", ".mov", ".webm", ".m4a", ".mp3", ".wav", ".aac", ".ogg"}
MAX_FOLDER_ENTRIES = 5_000  # a missing file's folder is searched for its near miss only when it holds no more


def _near_file(path: Path, source: str, kinds: tuple[str, ...]) -> str | None:
    """What `source` likely meant, written the same way: a file in its folder with the same name and another
    extension (`miso.png` for `miso.jpg`), else a near-miss name; of the kind wanted first. None if none."""
    try:
        with os.scandir(path.parent) as entries:
            names: list[str] = []
            for entry in entries:
                if len(names) >= MAX_FOLDER_ENTRIES:
                    return None
                if not entry.name.startswith(".") and entry.is_file():
                    names.append(entry.name)
    except (OSError, ValueError):
        return None
    names.sort(key=lambda name: ((mimetypes.guess_type(name)[0] or "").split("/")[0] not in kinds,  # the kind wanted,
                                 Path(name).suffix.lower() not in _COMMON, name))  # in a format models read, first
    stem = path.stem.casefold()
    same = [name for name in names if Path(name).stem.casefold() == stem and name != path.name]
    close = same[:1] or difflib.get_close_matches(path.name, names, n=1, cutoff=0.8)
    if not close:
        return None
    cut = max(source.rfind("/"), source.rfind("\\")) + 1
    return source[:cut] + close[0]


def _video_damage(path: Any, kinds: tuple[str, ...]) -> str | None:
    """Why a video cannot be used as it is (unreadable, no picture, streams cut short), or None."""
    try:
        info = probe(path)
    except MediaError as error:
        return f"{error}".replace(f"{Path(path).name} ", "", 1)
    if info.video is None and kinds == ("video",):
        return "has no video stream"
    return f"is damaged or cut short: {info.damage}" if info.damage else None


def _with_article(noun: str) -> str:
    if noun.startswith(("a ", "an ", "not ")):
        return noun
    return f"an {noun}" if noun[0].lower() in "aeiou" else f"a {noun}"
