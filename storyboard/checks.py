"""Stage 2: what the schema cannot say. Ids, the shot graph, files, models and their limits."""
from __future__ import annotations

import difflib
from typing import Any

import jsonschema

from .errors import Problem
from .media import image_is_readable, sniff
from .model import FrameOf, Reference, Shot, Storyboard
from .planning import request_body
from .yaml_source import Document, Path_


def check_meaning(storyboard: Storyboard) -> list[Problem]:
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
    problems += _check_graph(storyboard)
    for shot in storyboard.shots:
        raw = storyboard.document.data["shots"][shot.index]
        if "first_frame" in raw and "first_frame_image" in raw:
            problems.append(
                storyboard.document.problem(
                    (*shot.where, "first_frame_image"), "set either first_frame or first_frame_image, not both", key=True
                )
            )
    music = storyboard.output.music
    if music is not None:
        problems += _check_file(document, music.where, music.path, str(music.path), ("audio", "video"), "soundtrack")
    if storyboard.output.path.is_dir():
        problems.append(document.problem(("output", "path"), "output.path is a directory; name the film file"))
    return problems


def check_requests(storyboard: Storyboard) -> list[Problem]:
    """Each shot's resolved request against its model profile: fields, enums, ranges, counts."""
    problems: list[Problem] = []
    for shot in storyboard.shots:
        profile = storyboard.profiles.get(shot.model)
        if profile is None or not shot.prompt:
            continue
        body = request_body(shot, storyboard.root)
        body.pop("model")
        validator = jsonschema.Draft202012Validator(profile.request_schema())
        for error in validator.iter_errors(body):
            problems.append(_request_problem(storyboard.document, shot, error))
        problems += _check_frame_time(storyboard, shot)
    return problems


def _check_frame_time(storyboard: Storyboard, shot: Shot) -> list[Problem]:
    frame = shot.first_frame
    if not isinstance(frame, FrameOf) or isinstance(frame.at, str):
        return []
    source = next((other for other in storyboard.shots if other.id == frame.shot), None)
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


def _request_problem(document: Document, shot: Shot, error: jsonschema.ValidationError) -> Problem:
    model = shot.model
    if error.validator == "additionalProperties":
        field = next(key for key in error.instance if key not in error.schema.get("properties", {}))
        allowed = ", ".join(error.schema.get("properties", {}))
        return document.problem(
            shot.origins.get(field, shot.where), f"model {model} does not accept the field {field!r} (it takes: {allowed})",
            key=True,
        )
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
            if source.startswith(f"data:{ref.kind}/"):
                return []
            return [document.problem(ref.where, f"data URI is not {_with_article(ref.kind)} (expected data:{ref.kind}/...)")]
        return [document.problem(ref.where, f"unsupported URL {ref.source!r}: use a local path or an http(s) URL")]
    return _check_file(document, ref.where, ref.path, ref.source, (ref.kind,), f"reference {ref.kind}")


def _check_file(document: Document, where: Path_, path: Any, source: str, kinds: tuple[str, ...], role: str) -> list[Problem]:
    if not path.exists():
        return [document.problem(where, f"{role} {source!r} does not exist")]
    if not path.is_file():
        return [document.problem(where, f"{role} {source!r} is not a file")]
    try:
        kind, description = sniff(path)
    except OSError as error:
        return [document.problem(where, f"{role} {source!r} cannot be read: {error.strerror}")]
    if kind not in kinds:
        return [document.problem(where, f"{role} {source!r} is {_with_article(description)}, not {_with_article(kinds[0])}")]
    if kind == "image":
        damage = image_is_readable(path)
        if damage:
            return [document.problem(where, f"{role} {source!r}: {damage}")]
    return []


def _with_article(noun: str) -> str:
    if noun.startswith(("a ", "an ", "not ")):
        return noun
    return f"an {noun}" if noun[0].lower() in "aeiou" else f"a {noun}"


def _check_graph(storyboard: Storyboard) -> list[Problem]:
    document = storyboard.document
    problems = []
    ids = {shot.id: shot for shot in storyboard.shots}
    edges: dict[str, str] = {}
    for shot in storyboard.shots:
        frame = shot.first_frame
        if not isinstance(frame, FrameOf):
            continue
        where = (*frame.where, "shot")
        if frame.shot == shot.id:
            problems.append(document.problem(where, f"shot {shot.id!r} cannot start from a frame of itself"))
        elif frame.shot not in ids:
            hint = difflib.get_close_matches(frame.shot, list(ids), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append(document.problem(where, f"first_frame names unknown shot {frame.shot!r}{suggestion}"))
        else:
            edges[shot.id] = frame.shot
    reported: set[str] = set()
    for start in edges:
        path = [start]
        while path[-1] in edges and edges[path[-1]] not in path:
            path.append(edges[path[-1]])
        if path[-1] in edges:  # the walk came back to a shot already on it: a cycle
            loop = path[path.index(edges[path[-1]]) :]
            if not reported.intersection(loop):
                reported.update(loop)
                shown = " -> ".join([*loop, loop[0]])
                first = min(loop, key=lambda shot_id: ids[shot_id].index)
                problems.append(document.problem((*ids[first].first_frame.where, "shot"), f"first_frame cycle: {shown}"))  # type: ignore[union-attr]
    return problems
