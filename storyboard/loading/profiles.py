"""Model profiles: one data file per generation model, saying what may be sent to it.

Built-in profiles ship in `storyboard/profiles/`. A project adds or overrides profiles with
YAML files in a `models/` folder next to its storyboard; top-level keys given there replace
the built-in ones (so a file with just `model:` and `pricing:` changes only the prices), and
each field under `fields:` replaces that field only (so `fields: {duration: ...}` changes
only the durations allowed).
"""
from __future__ import annotations

import functools
import os
import string
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from ..errors import FileRefused, InvalidStoryboard, Problem
from ..files import read_regular_file
from ..messages import os_reason
from .schema import explain, non_finite_numbers, storyboard_schema
from .yaml_source import MAX_FILE_BYTES, Document, parse_yaml

PROJECT_PROFILES_DIR = "models"

_PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["model", "fields", "references"],
    "additionalProperties": False,
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "title": {"type": "string"},
        "fields": {
            "type": "object",
            "required": ["prompt"],
            "additionalProperties": {"type": "object"},
        },
        "references": {
            "type": "object",
            "required": ["labels", "mention"],
            "additionalProperties": False,
            "properties": {
                "labels": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"image": {"type": "string"}, "video": {"type": "string"}},
                },
                "mention": {"type": "string"},
            },
        },
        "data_uri": {
            "type": "object",
            "required": ["fields", "max_bytes"],
            "additionalProperties": False,
            "properties": {
                "fields": {"type": "array", "items": {"type": "string"}},
                "max_bytes": {"type": "integer", "minimum": 1},
            },
        },
        "prompt_characters": {"type": "integer", "minimum": 1},
        "origin_limits": {
            "type": "object",
            "required": ["source"],
            "additionalProperties": False,
            "properties": {
                "source": {"type": "string", "minLength": 1},
                "references": {"type": "integer", "minimum": 0},
                "durations_with_video": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"minimum": {"type": "number"}, "maximum": {"type": "number"}},
                },
                "enforce": {"type": "boolean"},
            },
        },
        "pricing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"usd_per_second": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
                           "usd_per_image": {"type": "number", "minimum": 0}},
        },
    },
}


# What one file must hold: a project's file may give only the parts it changes (the merge is checked whole).
_PART_SCHEMA: dict[str, Any] = {
    **_PROFILE_SCHEMA,
    "required": ["model"],
    "properties": {**_PROFILE_SCHEMA["properties"], "fields": {"type": "object", "additionalProperties": {"type": "object"}}},
}


@dataclass(frozen=True)
class OriginLimits:
    """Limits the model's maker documents that the service's published schema does not state: a
    warning naming `source` when a request passes one (the service may accept it), an error when
    the profile says `enforce: true`."""

    source: str
    references: int | None = None  # reference images and videos combined
    durations_with_video: tuple[float | None, float | None] = (None, None)  # when a reference video is sent
    enforce: bool = False


@dataclass(frozen=True)
class ModelProfile:
    model: str
    title: str
    fields: dict[str, dict[str, Any]]
    labels: dict[str, str]
    mention: str
    usd_per_second: dict[str, float]
    source: str
    data_uri_fields: tuple[str, ...] = ()
    data_uri_max_bytes: int = 0
    prompt_characters: int | None = None  # how much of a prompt the model reads; None: no known limit
    origin_limits: OriginLimits | None = None  # what the model's maker documents beyond the service's schema
    pricing_from: str | None = None  # the project's profile that sets `pricing:` (it then beats the live price list)
    usd_per_image: float | None = None  # an image model's price per image (then usd_per_second is empty)

    def allows(self, field: str) -> bool:
        return field in self.fields

    def default(self, field: str) -> Any:
        return self.fields.get(field, {}).get("default")

    def label(self, kind: str, number: int) -> str:
        return self.labels[kind].format(n=number)

    def request_schema(self) -> dict[str, Any]:
        """JSON Schema of the request body this model accepts (without `model`)."""
        return {"type": "object", "properties": self.fields, "required": ["prompt"], "additionalProperties": False}

    def estimate_usd(self, resolution: str | None, duration: float | None) -> float | None:
        """The estimated price of one request: per image for an image model, else per second of video."""
        if self.usd_per_image is not None:
            return round(self.usd_per_image, 4)
        resolution = resolution or self.default("resolution")
        duration = duration if duration is not None else self.default("duration")
        rate = self.usd_per_second.get(str(resolution))
        if rate is None or duration is None:
            return None
        return round(rate * float(duration), 4)


def _read_profile_document(raw: bytes, display: str) -> tuple[Document, dict[str, Any]]:
    document = parse_yaml(raw, display)
    data = document.data
    problems = non_finite_numbers(document)
    for error in jsonschema.Draft202012Validator(_PART_SCHEMA).iter_errors(data):
        problems += [_in_profile(problem) for problem in explain(document, error)]
    if isinstance(data, dict) and isinstance(data.get("fields"), dict):
        problems += _check_fields(document, data["fields"])
    if isinstance(data, dict) and isinstance(data.get("references"), dict):
        problems += _check_placeholders(document, data["references"])
    if problems:
        raise InvalidStoryboard(problems)
    return document, data


_PLACEHOLDERS = {("labels", "image"): ("n",), ("labels", "video"): ("n",), ("mention",): ("label", "description")}


def _check_placeholders(document: Document, references: dict[str, Any]) -> list[Problem]:
    """Labels and the mention are filled in with str.format: only their own plain placeholders may
    appear in braces (`{n:>999999999}` would pad a label to a gigabyte, `{n.real}` reach into Python)."""
    problems = []
    for path, allowed in _PLACEHOLDERS.items():
        text = references.get(path[0])
        text = text.get(path[-1]) if isinstance(text, dict) and len(path) > 1 else text
        if not isinstance(text, str):
            continue
        try:
            fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
        except ValueError:  # an unmatched brace
            fields = [("{", "", None)]
        if any(name not in allowed or spec or conversion for name, spec, conversion in fields):
            names = " and ".join(f"{{{name}}}" for name in allowed)
            message = f"model profile: references.{'.'.join(path)}: only {names} may appear in braces (write {{{{ for a brace)"
            problems.append(document.problem(("references", *path), message))
    return problems


def _in_profile(problem: Problem) -> Problem:
    return Problem(problem.file, problem.line, problem.column, f"model profile: {problem.message}")


def _check_fields(document: Document, fields: dict[str, Any]) -> list[Problem]:
    """Each field must be a valid JSON Schema whose default satisfies it and the storyboard format."""
    problems = []
    storyboard_fields = storyboard_schema()["$defs"]["serviceFields"]
    for name, fragment in fields.items():
        where = ("fields", name)
        try:
            jsonschema.Draft202012Validator.check_schema(fragment)
            if "default" in fragment:
                for rules in (fragment, storyboard_fields.get(name, {})):
                    if "$ref" in rules:
                        continue
                    errors = jsonschema.Draft202012Validator(rules).iter_errors(fragment["default"])
                    error = jsonschema.exceptions.best_match(errors)
                    if error is not None:
                        message = f"model profile: default of {name!r}: {error.message}"
                        problems.append(document.problem((*where, "default"), message))
                        break
        except jsonschema.SchemaError as error:
            problems.append(document.problem((*where, *error.path), f"model profile: field {name!r}: {error.message}"))
    return problems


def _complete(data: dict[str, Any], document: Document) -> ModelProfile:
    problems = [
        _in_profile(problem)
        for error in jsonschema.Draft202012Validator(_PROFILE_SCHEMA).iter_errors(data)
        for problem in explain(document, error)
    ]
    if problems:
        raise InvalidStoryboard(problems)
    return ModelProfile(
        model=data["model"],
        title=data.get("title", data["model"]),
        fields=data["fields"],
        labels=data["references"]["labels"],
        mention=data["references"]["mention"],
        usd_per_second=data.get("pricing", {}).get("usd_per_second", {}),
        source=document.display_path,
        data_uri_fields=tuple(data.get("data_uri", {}).get("fields", ())),
        data_uri_max_bytes=data.get("data_uri", {}).get("max_bytes", 0),
        prompt_characters=data.get("prompt_characters"),
        origin_limits=_origin_limits(data.get("origin_limits")),
        usd_per_image=data.get("pricing", {}).get("usd_per_image"),
    )


def _origin_limits(data: dict[str, Any] | None) -> OriginLimits | None:
    if data is None:
        return None
    durations = data.get("durations_with_video", {})
    return OriginLimits(data["source"], data.get("references"), (durations.get("minimum"), durations.get("maximum")),
                        data.get("enforce", False))


@functools.cache
def _builtin() -> dict[str, tuple[Document, dict[str, Any]]]:
    found: dict[str, tuple[Document, dict[str, Any]]] = {}
    for entry in sorted(resources.files("storyboard.loading").joinpath("models").iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            document, data = _read_profile_document(entry.read_bytes(), f"<built-in>/{entry.name}")
            found[data["model"]] = (document, data)
    return found


def profile_files(project_root: Path) -> list[Path]:
    """The project's own model profiles: `models/*.yaml` and `models/*.yml` next to the storyboard."""
    folder = project_root / PROJECT_PROFILES_DIR
    if not folder.is_dir():
        return []
    return sorted(file for file in [*folder.glob("*.yaml"), *folder.glob("*.yml")] if file.is_file())


def load_profiles(project_root: Path | None = None, display_root: str | None = None) -> dict[str, ModelProfile]:
    """Built-in profiles, overridden key by key by `<project_root>/models/*.yaml`."""
    merged: dict[str, tuple[Document, dict[str, Any]]] = dict(_builtin())
    priced_by: dict[str, str] = {}  # model -> the project's profile file that sets its prices
    problems: list[Problem] = []
    for file in profile_files(project_root) if project_root else []:
        display = os.path.normpath(os.path.join(display_root or ".", PROJECT_PROFILES_DIR, file.name))
        try:
            document, data = _read_profile_document(read_regular_file(file, MAX_FILE_BYTES), display)
        except InvalidStoryboard as error:
            problems += error.problems
            continue
        except FileRefused as refused:
            problems.append(Problem(display, 1, 1, f"model profile {refused}"))
            continue
        except OSError as error:
            problems.append(Problem(display, 1, 1, f"model profile cannot be read: {os_reason(error)}"))
            continue
        base = merged.get(data["model"], (document, {}))[1]
        fields = {**base.get("fields", {}), **data.get("fields", {})}  # a field given replaces that field only
        merged[data["model"]] = (document, {**base, **data, **({"fields": fields} if fields else {})})
        if "pricing" in data:
            priced_by[data["model"]] = display
    profiles = {}
    for model, (document, data) in merged.items():
        try:
            profiles[model] = replace(_complete(data, document), pricing_from=priced_by.get(model))
        except InvalidStoryboard as error:
            problems += error.problems
    if problems:
        raise InvalidStoryboard(problems)
    return profiles
