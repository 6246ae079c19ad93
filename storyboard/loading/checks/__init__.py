"""Stage 2: what the schema cannot say. Ids, the shot graph, files, models and their limits.

- `files`: references, footage and the soundtrack exist, are what they claim and are whole;
- `timing`: trims, transitions and first-frame times fit the shots they cut;
- `sound`: a shot's J- and L-cuts fit its neighbours and its clip's sound; shots shorter than a frame;
- `requests`: each shot's request against its model profile;
- `dialogue`: each line said by a cast member, at a time the film shows;
- here: ids, the first-frame graph, and the film overwriting no input.
"""
from __future__ import annotations

from typing import Any

from ...errors import Problem
from ...messages import os_reason, suggest
from ...model import REFERENCE_FIELDS, SERVICE_FIELDS, STATE_DIR, FrameOf, Shot, Storyboard, sidecar_paths
from ..yaml_source import Path_
from .dialogue import check_dialogue
from .files import all_references, check_footage, check_reference, check_soundtrack
from .outputs import inputs, overwritten
from .requests import check_requests, prompt_warnings
from .sound import short_shot_warnings
from .stills import check_stills, still_warnings

__all__ = ["check_dialogue", "check_meaning", "check_output", "check_requests", "check_stills", "inputs", "overwritten",
           "prompt_warnings", "short_shot_warnings", "still_warnings"]


def check_meaning(storyboard: Storyboard, unchecked_ids: dict[int, str] | None = None) -> list[Problem]:
    """Problems the schema cannot see. `unchecked_ids`: the ids of the shots left out for their schema
    errors, by index (their ids are still checked, with the others')."""
    document = storyboard.document
    problems: list[Problem] = []
    problems += _check_ids(storyboard, unchecked_ids or {})
    for shot in storyboard.shots:
        if shot.model not in storyboard.profiles:
            known = ", ".join(sorted(model for model, profile in storyboard.profiles.items()
                                     if profile.usd_per_image is None))  # video models: an image model draws stills
            problems.append(
                document.problem(
                    shot.origins["model"],
                    f"no model profile for {shot.model!r} (known: {known}); "
                    "add one as models/<name>.yaml next to the storyboard",
                )
            )
    seen: set[Path_] = set()
    for ref in all_references(storyboard):
        if ref.where not in seen:
            seen.add(ref.where)
            problems += check_reference(document, ref)
    problems += _check_graph(storyboard, set((unchecked_ids or {}).values()))
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
        problems += check_footage(storyboard, shot) + _check_takes(storyboard, shot)
    return problems + check_soundtrack(storyboard)


def _check_takes(storyboard: Storyboard, shot: Shot) -> list[Problem]:
    document = storyboard.document
    raw = document.data["shots"][shot.index]
    if shot.clip is not None:
        return [document.problem((*shot.where, name), f"shot {shot.id!r}: {name}: footage (`clip`) has no takes to choose from",
                                 key=True) for name in ("takes", "take", "hold") if name in raw]
    if shot.take > shot.takes:
        written = "takes" in shot.origins
        return [document.problem(shot.origins["take"], f"shot {shot.id!r}: take: {shot.take}, but the shot has "
                                 f"{shot.takes} take{'' if shot.takes == 1 else 's'}"
                                 + (f" (takes: {shot.takes})" if written else "; add `takes: N` to make more"))]
    return []


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
        target = film.resolve()
        role = overwritten(storyboard, film, film=False)
        if role:
            return [storyboard.document.problem(
                where, f"output.path {written!r} is {role}; the film would overwrite it. "
                       f"Name another file, e.g. renders/{storyboard.file.stem}.mp4")]
        if storyboard.output.subtitles == "sidecar":
            problems = _check_sidecars(storyboard)
            if problems:
                return problems
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
        return [storyboard.document.problem(where, f"output.path cannot be used: {os_reason(error)}")]
    return []


def _check_sidecars(storyboard: Storyboard) -> list[Problem]:
    """The subtitle files written next to the film (`output.subtitles: sidecar`) overwrite no input either."""
    for sidecar in sidecar_paths(storyboard.output.path):
        role = overwritten(storyboard, sidecar, film=False)
        if role:
            return [storyboard.document.problem(
                ("output", "subtitles"), f"output.subtitles: sidecar writes {sidecar.name!r} next to the film, "
                                         f"and it is {role}; name the film (output.path) otherwise")]
    return []


def _check_ids(storyboard: Storyboard, unchecked_ids: dict[int, str]) -> list[Problem]:
    """Shot ids are distinct, those of the shots left out for other schema errors included."""
    document = storyboard.document
    problems = []
    first: dict[str, Path_] = {}
    shots = sorted([*((shot.index, shot.id, shot.where) for shot in storyboard.shots),
                    *((index, shot_id, ("shots", index)) for index, shot_id in unchecked_ids.items())])
    for _, shot_id, where in shots:
        key = shot_id.casefold()  # shot ids name files; keep them distinct on any file system
        if key in first:
            line = document.mark((*first[key], "id")).line
            problems.append(document.problem((*where, "id"), f"duplicate shot id {shot_id!r} (first used on line {line})"))
        else:
            first[key] = where
    return problems


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
