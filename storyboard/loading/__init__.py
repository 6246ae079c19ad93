"""Stage 1 of the pipeline: a storyboard file in, a checked and expanded `Storyboard` out.

read YAML (with positions) -> JSON Schema -> normalise (defaults, paths: `normalise.py`) -> meaning
checks -> template expansion -> checks of the resolved requests against the model profiles.
Every problem of the last five steps is reported together: a value the schema refuses is left out,
and only what depends on it waits until it is fixed (`_Salvage`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InvalidStoryboard, Problem
from ..messages import one_line
from ..model import SERVICE_FIELDS, Storyboard, Variant
from . import checks, schema, templating
from .normalise import DEFAULT_MODEL, normalise, whole_number
from .profiles import ModelProfile, load_profiles
from .variants import Expander, colliding_outputs, has_variants, read_variants
from .yaml_source import Document, Path_, read_yaml


def load(path: str | os.PathLike[str]) -> Storyboard:
    """Load, check and expand a storyboard file. Raises InvalidStoryboard listing every problem."""
    try:
        return _load(path)
    except InvalidStoryboard as error:  # one line each, whatever characters a message quotes from the file
        raise InvalidStoryboard([replace(problem, message=one_line(problem.message)) for problem in error.problems]) \
            from None


def load_variants(path: str | os.PathLike[str]) -> list[Storyboard]:
    """Every variant of a file with `variants:` (in the file's order), each a storyboard of its own;
    a file without the section gives its one storyboard. Raises InvalidStoryboard listing every
    problem of every variant (said once when all variants share it), and films that would collide."""
    try:
        return _load_variants(path)
    except InvalidStoryboard as error:
        raise InvalidStoryboard([replace(problem, message=one_line(problem.message)) for problem in error.problems]) \
            from None


def _load(path: str | os.PathLike[str]) -> Storyboard:
    display = str(path)
    file = Path(path).absolute()
    document = _read(file, display)
    if has_variants(document):
        count = len(read_variants(document, file.parent))
        raise InvalidStoryboard([document.problem(("variants",), f"this file has {count} variants: the commands work on "
                                                                  "each (or on --variant NAME); in Python, "
                                                                  "storyboard.load_variants", key=True)])
    return _load_document(document, file, display, _profiles(file, display))


def _load_variants(path: str | os.PathLike[str]) -> list[Storyboard]:
    display = str(path)
    file = Path(path).absolute()
    document = _read(file, display)
    profiles = _profiles(file, display)
    if not has_variants(document):
        return [_load_document(document, file, display, profiles)]
    variants = read_variants(document, file.parent)
    expander = Expander(document, file.parent)
    templates = templating.shared_templates(file.parent)
    boards: list[Storyboard] = []
    found: dict[Problem, list[str]] = {}  # each problem -> the variants that have it
    for variant in variants:
        expanded, problems = expander.document_for(variant, f"renders/{file.stem}-{variant.name}.mp4")
        try:
            if problems:
                raise InvalidStoryboard(problems)
            boards.append(_load_document(expanded, file, display, profiles, variant, templates))
        except InvalidStoryboard as error:
            for problem in error.problems:
                found.setdefault(problem, []).append(variant.name)
    problems = [problem if len(names) == len(variants)
                else replace(problem, message=f"{problem.message} (variant{'' if len(names) == 1 else 's'} {_names(names)})")
                for problem, names in found.items()]
    problems += colliding_outputs(document, boards)
    if problems:
        raise InvalidStoryboard(problems)
    return boards


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _profiles(file: Path, display: str) -> dict[str, ModelProfile] | InvalidStoryboard:
    try:
        return load_profiles(file.parent, os.path.dirname(display))
    except InvalidStoryboard as broken:  # reported with the storyboard's own schema problems
        return broken


def _load_document(document: Document, file: Path, display: str,
                   loaded: dict[str, ModelProfile] | InvalidStoryboard, variant: Variant | None = None,
                   templates: templating.Templates | None = None) -> Storyboard:
    problems: list[Problem] = []
    profiles: dict[str, ModelProfile] | None = None
    if isinstance(loaded, InvalidStoryboard):
        problems += loaded.problems
    else:
        profiles = loaded
    checked = schema.check(document, _offered(document.data, profiles or {}))
    problems += checked.problems
    if profiles is None or not checked.complete:
        raise InvalidStoryboard(problems)
    salvage = _Salvage.of(document.data, checked.refused)
    normalised = replace(normalise(checked.document, file, profiles, skip=salvage.skipped), variant=variant)
    problems += checks.check_meaning(salvage.checked(normalised), salvage.unchecked_ids(document.data))
    problems += checks.check_dialogue(normalised, cast_known=not salvage.cast_refused, untimed=salvage.expanded_only)
    storyboard = normalised  # refused `vars`: the prompts stay unexpanded
    if not salvage.vars_refused:
        expansion = templating.expand(salvage.for_prompts(normalised), any_cast=salvage.cast_refused, templates=templates)
        problems += expansion.problems
        storyboard = expansion.apply(normalised)
    whole = salvage.checked(storyboard)
    if not salvage.output_path_refused:
        problems += checks.check_output(whole)  # after expansion: included snippets are inputs too
    problems += checks.check_requests(whole)
    problems += checks.check_stills(whole)
    if problems:
        raise InvalidStoryboard(problems)
    return storyboard


def _read(file: Path, display: str) -> Document:
    """The storyboard file as YAML, if it is a mapping that says `storyboard: 1`."""
    document = read_yaml(file, display)
    if document.data is None:
        raise InvalidStoryboard([document.problem((), "the storyboard is empty")])
    if not isinstance(document.data, dict):
        kind = "a list" if isinstance(document.data, list) else "a single value"
        raise InvalidStoryboard([document.problem((), f"a storyboard is a mapping of fields; this file is {kind}")])
    version = document.data.get("storyboard")
    if version != 1:
        if "storyboard" not in document.data:
            message = "missing 'storyboard: 1' (the format version) at the top of the file"
        else:
            message = f"unsupported format version {version!r}; this storyboard reads version 1"
        raise InvalidStoryboard([document.problem(("storyboard",), message)])
    return document


# A shot's prompt is not expanded without these as written: the template would meet other values
# (its vars, params, model and so its profile) or none at all (its id, its prompt).
_NEEDED_BY_THE_PROMPT = {"id", "prompt", "clip", "vars", "params", "model"}
# Left out, these fall back to values that would mislead the other checks: the defaults' or the
# profile's duration (a shorter one makes trims and transitions fail), the defaults' references
# (added to the mentions' ones, too many).
_NEEDED_BY_THE_CHECKS = {"duration", "image_urls", "video_urls"}


@dataclass
class _Salvage:
    """What the schema's problems leave to check. A shot whose id, prompt, vars, params or model is
    refused (or inherited refused from `defaults`) is left out. A shot whose duration or references
    are refused has its prompt expanded, with the value shown as written, but its other checks wait
    until the value is fixed. Any other refused field, and any unknown key, is left out, as if not
    written, and the shot is checked in full (its prompt still shows the refused value as written).
    Refused `vars` leave the prompts unexpanded (any name they use may have been there); a refused
    `cast` makes any member name mentionable."""

    skipped: set[int] = field(default_factory=set)
    expanded_only: set[int] = field(default_factory=set)
    as_written: dict[int, dict[str, Any]] = field(default_factory=dict)  # shot index -> service field -> value
    vars_refused: bool = False
    cast_refused: bool = False
    output_path_refused: bool = False
    ids_refused: set[int] = field(default_factory=set)  # shots whose id itself the schema refuses

    @classmethod
    def of(cls, data: dict[str, Any], refused: set[Path_]) -> _Salvage:
        salvage = cls()
        shots = data["shots"] if isinstance(data.get("shots"), list) else []
        defaults = data["defaults"] if isinstance(data.get("defaults"), dict) else {}
        known = schema.storyboard_schema()["$defs"]["shot"]["properties"]
        for path in refused:
            if path[0] == "shots" and not (len(path) > 1 and isinstance(path[1], int) and path[1] < len(shots)):
                continue  # all of `shots`, or inside shots that are no list: no shot to speak of
            if path[0] == "shots" and len(path) == 2:
                salvage.skipped.add(path[1])
            elif path[0] == "shots" and len(path) > 2 and path[2] in known:
                salvage._refuse(path[1], path[2], shots[path[1]].get(path[2]))
                if path[2] == "id":
                    salvage.ids_refused.add(path[1])
            elif path == ("defaults",):
                salvage.expanded_only.update(range(len(shots)))
            elif path[0] == "defaults" and path[1] in known:
                for index, raw in enumerate(shots):
                    if isinstance(raw, dict) and path[1] not in raw:
                        salvage._refuse(index, path[1], defaults.get(path[1]))
            salvage.vars_refused |= path == ("vars",)
            salvage.cast_refused |= path == ("cast",)
            salvage.output_path_refused |= path in (("output",), ("output", "path"))
        salvage.expanded_only -= salvage.skipped
        return salvage

    def _refuse(self, index: int, name: str, value: Any) -> None:
        if name in _NEEDED_BY_THE_PROMPT:
            self.skipped.add(index)
            return
        if name in _NEEDED_BY_THE_CHECKS:
            self.expanded_only.add(index)
        if name in SERVICE_FIELDS:
            self.as_written.setdefault(index, {})[name] = value

    def checked(self, storyboard: Storyboard) -> Storyboard:
        """The storyboard without the shots whose checks wait (`expanded_only`)."""
        if not self.expanded_only:
            return storyboard
        return replace(storyboard, shots=[shot for shot in storyboard.shots if shot.index not in self.expanded_only])

    def for_prompts(self, storyboard: Storyboard) -> Storyboard:
        """The storyboard whose prompts are expanded: a shot's refused service fields as written."""
        shots = [shot if shot.index not in self.as_written
                 else replace(shot, fields={**shot.fields, **{name: whole_number(value)
                                                              for name, value in self.as_written[shot.index].items()}})
                 for shot in storyboard.shots]
        return replace(storyboard, shots=shots)

    def unchecked_ids(self, data: dict[str, Any]) -> dict[int, str]:
        """The ids of the shots left out of the checks, by their index, when the schema accepts the id itself:
        they are still checked for duplicates, and may be named by first_frame."""
        shots = data["shots"] if isinstance(data.get("shots"), list) else []
        return {index: shots[index]["id"] for index in sorted(self.skipped | self.expanded_only)
                if index not in self.ids_refused and isinstance(shots[index], dict)
                and isinstance(shots[index].get("id"), str)}


def _offered(data: dict[str, Any], profiles: dict[str, ModelProfile]) -> schema.Offered:
    """The values a shot's (or the defaults') model offers for a service field, for messages that list them."""
    defaults = data["defaults"] if isinstance(data.get("defaults"), dict) else {}
    shots = data["shots"] if isinstance(data.get("shots"), list) else []

    def offered(path: Path_) -> tuple[str, list[Any]] | None:
        if len(path) == 3 and path[0] == "shots" and isinstance(path[1], int) and path[1] < len(shots) \
                and isinstance(shots[path[1]], dict):
            model = shots[path[1]].get("model", defaults.get("model", DEFAULT_MODEL))
        elif len(path) == 2 and path[0] == "defaults":
            model = defaults.get("model", DEFAULT_MODEL)
        else:
            return None
        profile = profiles.get(model) if isinstance(model, str) and path[-1] in SERVICE_FIELDS else None
        choices = profile.fields.get(path[-1], {}).get("enum") if profile else None
        return (model, list(choices)) if isinstance(choices, list) and choices else None

    return offered
