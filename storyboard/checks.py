"""Stage 2: what the schema cannot say. Ids, the shot graph, files, models and their limits."""
from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any

import jsonschema

from .errors import MediaError, Problem
from .files import file_kind
from .media import image_is_readable, probe, sniff
from .model import LOCK_FILE, REFERENCE_FIELDS, SERVICE_FIELDS, STATE_DIR, FrameOf, Reference, Shot, Storyboard
from .profiles import PROJECT_PROFILES_DIR, profile_files
from .request import request_body
from .schema import suggest
from .yaml_source import Document, Path_


def check_meaning(storyboard: Storyboard, unchecked_ids: set[Any] | None = None) -> list[Problem]:
    """Problems the schema cannot see. `unchecked_ids`: shots left out for their schema errors."""
    document = storyboard.document
    problems: list[Problem] = []
    problems += _check_ids(storyboard)
    for shot in storyboard.shots:
        if shot.model not in storyboard.profiles:
            known = ", ".join(sorted(storyboard.profiles))
            problems.append(
                document.problem(
                    shot.origins["model"],
                    f"no model profile for {shot.model!r} (known: {known}); "
                    "add one as models/<name>.yaml next to the storyboard",
                )
            )
    seen: set[Path_] = set()
    for ref in _all_references(storyboard):
        if ref.where not in seen:
            seen.add(ref.where)
            problems += _check_reference(document, ref)
    problems += _check_graph(storyboard, unchecked_ids or set())
    for shot in storyboard.shots:
        raw = storyboard.document.data["shots"][shot.index]
        if "first_frame" in raw and "first_frame_image" in raw:
            problems.append(
                storyboard.document.problem(
                    (*shot.where, "first_frame_image"), "set either first_frame or first_frame_image, not both", key=True
                )
            )
    for shot in storyboard.shots:
        for key in shot.fields.get("params", {}):
            if key in RESERVED_PARAMS:
                problems.append(
                    document.problem(shot.origins[key], f"params.{key}: set {key!r} as a field of its own, not under params",
                                     key=True)
                )
    for shot in storyboard.shots:
        problems += _check_footage(storyboard, shot)
    music = storyboard.output.music
    if music is not None:
        source = storyboard.document.data["output"]["audio"]["music"]["path"]
        found = _check_file(document, music.where, music.path, source, ("audio", "video"), "soundtrack")
        if not found and not _has_sound(music.path):
            found.append(document.problem(music.where, f"soundtrack {source!r} has no sound"))
        problems += found
    return problems


def _has_sound(path: Any) -> bool:
    try:
        return probe(path).has_audio
    except MediaError:
        return True  # unreadable files are reported when the film is assembled


def _check_footage(storyboard: Storyboard, shot: Shot) -> list[Problem]:
    """A shot is generated from a prompt, or is existing footage (`clip`): one of the two."""
    document = storyboard.document
    raw = document.data["shots"][shot.index]
    if shot.clip is None:
        return []  # the schema asks for a prompt
    problems = _check_file(document, (*shot.where, "clip"), shot.clip, raw["clip"], ("video",), "clip")
    for name in ("prompt", "first_frame", "first_frame_image"):
        if name in raw:
            problems.append(document.problem((*shot.where, name), f"a shot with a `clip` is not generated: remove `{name}`",
                                             key=True))
    start, end = shot.trim
    if end is not None and end <= start:
        problems.append(document.problem((*shot.where, "trim", "end"),
                                         f"trim: end ({end:g} s) must be after start ({start:g} s)"))
    return problems


RESERVED_PARAMS = {"model", "prompt", "first_frame_image", *REFERENCE_FIELDS, *SERVICE_FIELDS}


def check_output(storyboard: Storyboard) -> list[Problem]:
    """The film must overwrite no input (checked once templates are expanded: the snippets they
    include are inputs too), and must be writable where it is asked for."""
    where = ("output", "path")
    film = storyboard.output.path
    written = storyboard.document.data.get("output", {}).get("path", str(film.relative_to(storyboard.root)))
    if "\0" in str(film):
        return [storyboard.document.problem(where, "output.path contains a NUL character; file names cannot")]
    try:
        target, target_id = film.resolve(), _file_id(film)
        for path, role in _inputs(storyboard):
            if _resolved(path) == target or (target_id and _file_id(path) == target_id):
                return [storyboard.document.problem(
                    where, f"output.path {written!r} is {role}; the film would overwrite it. "
                           f"Name another file, e.g. renders/{storyboard.file.stem}.mp4")]
        if target.is_relative_to(storyboard.state_dir.resolve()):
            return [storyboard.document.problem(where, f"output.path may not be inside {STATE_DIR}/, storyboard's own state")]
        if film.is_dir():
            return [storyboard.document.problem(where, "output.path is a directory; name the film file")]
        for parent in film.parents:
            if parent.exists():
                if not parent.is_dir():
                    return [storyboard.document.problem(where, f"output.path: {parent.name!r} is a file, not a folder")]
                break
    except (OSError, RuntimeError) as error:  # RuntimeError: a symbolic link loop
        return [storyboard.document.problem(where, f"output.path cannot be used: {getattr(error, 'strerror', error)}")]
    return []


def _inputs(storyboard: Storyboard) -> list[tuple[Path, str]]:
    """Every file the storyboard reads, and what it is to the storyboard."""
    found = [(storyboard.file, "the storyboard file itself")]
    for name, member in storyboard.cast.items():
        found += [(ref.path, f"a reference {ref.kind} of cast member {name!r}") for ref in member.references if ref.path]
    for shot in storyboard.shots:
        found += [(ref.path, f"a reference {ref.kind} of shot {shot.id!r}") for ref in shot.references if ref.path]
        if isinstance(shot.first_frame, Reference) and shot.first_frame.path:
            found.append((shot.first_frame.path, f"the first frame image of shot {shot.id!r}"))
        if shot.clip is not None:
            found.append((shot.clip, f"the clip of shot {shot.id!r}"))
    if storyboard.output.music is not None:
        found.append((storyboard.output.music.path, "the soundtrack"))
    found += [(path, f"the template snippet {name!r} a prompt includes") for path, name in storyboard.includes.items()]
    found += [(path, f"the model profile {PROJECT_PROFILES_DIR}/{path.name}") for path in profile_files(storyboard.root)]
    return [*found, (storyboard.root / LOCK_FILE, f"{LOCK_FILE}, the record of generated clips")]


def _resolved(path: Path) -> Path | None:
    """`path` with symbolic links and `..` resolved; None if it cannot be (a NUL, a link loop: reported elsewhere)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, after symbolic links: one file under any name."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def check_requests(storyboard: Storyboard) -> list[Problem]:
    """Each shot's resolved request against its model profile: fields, enums, ranges, counts."""
    problems: list[Problem] = []
    validators: dict[str, jsonschema.Draft202012Validator] = {}
    by_id: dict[str, Shot] = {}
    for shot in storyboard.shots:
        by_id.setdefault(shot.id, shot)
    for shot in storyboard.shots:
        profile = storyboard.profiles.get(shot.model)
        if profile is None or shot.clip is not None:
            continue
        if profile.model not in validators:
            validators[profile.model] = jsonschema.Draft202012Validator(profile.request_schema())
        body = request_body(shot, storyboard.root)
        body.pop("model")
        expanded = bool(shot.prompt)
        if not expanded:  # its template failed (reported); check the rest of the request anyway
            body["prompt"] = shot.prompt_template
        for error in validators[profile.model].iter_errors(body):
            field = str(error.absolute_path[0]) if error.absolute_path else ""
            if not expanded and field in ("prompt", "image_urls", "video_urls"):
                continue
            problems += _request_problems(storyboard.document, shot, error)
        problems += _check_frame_time(storyboard, shot, by_id)
    problems += _check_transitions(storyboard)
    return problems


def _shot_length(storyboard: Storyboard, shot: Shot) -> float | None:
    """Seconds the shot lasts in the film, where known before rendering (not for footage without a trim end)."""
    start, end = shot.trim
    if end is not None:
        return end - start
    profile = storyboard.profiles.get(shot.model)
    if shot.clip is not None or profile is None:
        return None
    length = shot.fields.get("duration", profile.default("duration"))
    return float(length) - start if isinstance(length, (int, float)) else None


def _check_transitions(storyboard: Storyboard) -> list[Problem]:
    problems = []
    for before, shot in zip(storyboard.shots, storyboard.shots[1:], strict=False):  # consecutive pairs
        kind, seconds = shot.transition.type, shot.transition.duration
        if kind == "cut" or seconds <= 0:
            continue
        needed = seconds if kind == "crossfade" else seconds / 2  # a fade spends half in each shot
        for side in (before, shot):
            length = _shot_length(storyboard, side)
            if length is not None and needed > length + 1e-9:
                where = (*shot.where, "transition") if "transition" in storyboard.document.data["shots"][shot.index] \
                    else ("defaults", "transition")
                problems.append(storyboard.document.problem(
                    where, f"shot {shot.id!r}: a {seconds:g} s {kind} needs {needed:g} s of shot {side.id!r}, "
                           f"which lasts {length:g} s"))
                break
    return problems


def _check_frame_time(storyboard: Storyboard, shot: Shot, by_id: dict[str, Shot]) -> list[Problem]:
    frame = shot.first_frame
    if not isinstance(frame, FrameOf) or isinstance(frame.at, str):
        return []
    source = by_id.get(frame.shot)
    profile = storyboard.profiles.get(source.model) if source else None
    if source is None or profile is None:
        return []
    length = source.fields.get("duration", profile.default("duration"))
    if length is not None and frame.at >= length:
        return [
            storyboard.document.problem(
                (*frame.where, "at"), f"first_frame at {frame.at:g} s is past the end of shot {source.id!r} ({length} s long)"
            )
        ]
    return []


def _request_problems(document: Document, shot: Shot, error: jsonschema.ValidationError) -> list[Problem]:
    if error.validator == "additionalProperties":
        allowed = error.schema.get("properties", {})
        return [
            document.problem(
                shot.origins.get(field, shot.where),
                f"model {shot.model} does not accept the field {field!r} (it takes: {', '.join(allowed)})",
                key=True,
            )
            for field in error.instance
            if field not in allowed
        ]
    return [_request_problem(document, shot, error)]


def _request_problem(document: Document, shot: Shot, error: jsonschema.ValidationError) -> Problem:
    model = shot.model
    field = str(error.absolute_path[0]) if error.absolute_path else "prompt"
    where = shot.origins.get(field, shot.origins["prompt"])
    if field in ("image_urls", "video_urls") and error.validator == "maxItems":
        kind = "images" if field == "image_urls" else "videos"
        return document.problem(
            where,
            f"shot {shot.id!r} sends {len(error.instance)} reference {kind} (explicit and from cast mentions); "
            f"{model} takes at most {error.validator_value}",
        )
    if error.validator == "enum":
        choices = ", ".join(repr(choice) for choice in error.validator_value)
        message = f"{field}: {error.instance!r} is not offered by {model} (choose {choices})"
    elif error.validator in ("minimum", "maximum"):
        low, high = error.schema.get("minimum"), error.schema.get("maximum")
        message = f"{field}: {error.instance!r} is out of range for {model} ({low} to {high})"
    elif error.validator == "maxLength":
        message = f"{field} is {len(error.instance)} characters long; {model} takes at most {error.validator_value}"
    else:
        message = f"{field}: {error.message} ({model})"
    if where[0] == "defaults":
        return document.problem(where, message)
    return document.problem(where, f"shot {shot.id!r}: {message}")


def _check_ids(storyboard: Storyboard) -> list[Problem]:
    problems = []
    first: dict[str, Shot] = {}
    for shot in storyboard.shots:
        key = shot.id.casefold()  # shot ids name files; keep them distinct on any file system
        if key in first:
            line = storyboard.document.mark((*first[key].where, "id")).line
            problems.append(
                storyboard.document.problem((*shot.where, "id"), f"duplicate shot id {shot.id!r} (first used on line {line})")
            )
        else:
            first[key] = shot
    return problems


def _all_references(storyboard: Storyboard) -> list[Reference]:
    refs = [ref for member in storyboard.cast.values() for ref in member.references]
    for shot in storyboard.shots:
        refs += shot.references
        if isinstance(shot.first_frame, Reference):
            refs.append(shot.first_frame)
    return refs


def _check_reference(document: Document, ref: Reference) -> list[Problem]:
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
        return [document.problem(where, f"{role} {source!r} does not exist")]
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return [document.problem(where, f"{role} {source!r} cannot be read: {reason}")]
    if kind not in kinds:
        expected = _with_article(kinds[0] + " file")
        unknown = description.startswith("not ")  # not a recognised image, video or audio file
        return [document.problem(where, f"{role} {source!r} is {description if unknown else _with_article(description)}"
                                        + ("" if unknown else f", not {expected}"))]
    damage = image_is_readable(path) if kind == "image" else _video_damage(path, kinds) if kind == "video" else None
    return [document.problem(where, f"{role} {source!r}: {damage}")] if damage else []


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


def _check_graph(storyboard: Storyboard, unchecked_ids: set[Any]) -> list[Problem]:
    document = storyboard.document
    problems = []
    ids = {shot.id: shot for shot in storyboard.shots}
    names = list(ids)
    edges: dict[str, str] = {}
    for shot in storyboard.shots:
        frame = shot.first_frame
        if not isinstance(frame, FrameOf):
            continue
        where = (*frame.where, "shot")
        if frame.shot == shot.id:
            problems.append(document.problem(where, f"shot {shot.id!r} cannot start from a frame of itself"))
        elif frame.shot in unchecked_ids:
            continue
        elif frame.shot not in ids:
            suggestion = suggest(frame.shot, names)
            problems.append(document.problem(where, f"first_frame names unknown shot {frame.shot!r}{suggestion}"))
        else:
            edges[shot.id] = frame.shot
    done: set[str] = set()  # each shot is walked once: linear however long the chains
    for start in edges:
        path: list[str] = []
        position: dict[str, int] = {}
        shot_id = start
        while shot_id in edges and shot_id not in done and shot_id not in position:
            position[shot_id] = len(path)
            path.append(shot_id)
            shot_id = edges[shot_id]
        done.update(path)
        if shot_id in position:  # the walk came back to a shot already on it: a cycle
            loop = path[position[shot_id]:]
            shown = " -> ".join([*loop, loop[0]] if len(loop) <= 10 else [*loop[:5], f"... ({len(loop) - 5} more)", loop[0]])
            first = min(loop, key=lambda shot_id: ids[shot_id].index)
            problems.append(document.problem((*ids[first].first_frame.where, "shot"), f"first_frame cycle: {shown}"))  # type: ignore[union-attr]
    return problems
