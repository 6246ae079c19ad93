"""Model profiles: one data file per generation model, saying what may be sent to it.

Built-in profiles ship in `storyboard/profiles/`. A project adds or overrides profiles with
YAML files in a `models/` folder next to its storyboard; top-level keys given there replace
the built-in ones (so a file with just `model:` and `pricing:` changes only the prices).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from .errors import InvalidStoryboard, Problem
from .yaml_source import Document, parse_yaml

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
        "pricing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"usd_per_second": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}}},
        },
    },
}


@dataclass(frozen=True)
class ModelProfile:
    model: str
    title: str
    fields: dict[str, dict[str, Any]]
    labels: dict[str, str]
    mention: str
    usd_per_second: dict[str, float]
    source: str

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
        resolution = resolution or self.default("resolution")
        duration = duration if duration is not None else self.default("duration")
        rate = self.usd_per_second.get(str(resolution))
        if rate is None or duration is None:
            return None
        return round(rate * float(duration), 4)


def _read_profile_document(raw: bytes, display: str) -> tuple[Document, dict[str, Any]]:
    document = parse_yaml(raw, display)
    data = document.data
    problems = [
        document.problem(tuple(error.absolute_path), f"model profile: {error.message}")
        for error in jsonschema.Draft202012Validator(
            {**_PROFILE_SCHEMA, "required": ["model"]}
        ).iter_errors(data)
    ]
    if problems:
        raise InvalidStoryboard(problems)
    return document, data


def _complete(data: dict[str, Any], document: Document) -> ModelProfile:
    problems = [
        document.problem((), f"model profile {data.get('model')!r}: {error.message}")
        for error in jsonschema.Draft202012Validator(_PROFILE_SCHEMA).iter_errors(data)
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
    )


@functools.cache
def _builtin() -> dict[str, tuple[Document, dict[str, Any]]]:
    found: dict[str, tuple[Document, dict[str, Any]]] = {}
    for entry in sorted(resources.files("storyboard").joinpath("profiles").iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            document, data = _read_profile_document(entry.read_bytes(), f"<built-in>/{entry.name}")
            found[data["model"]] = (document, data)
    return found


def load_profiles(project_root: Path | None = None, display_root: str | None = None) -> dict[str, ModelProfile]:
    """Built-in profiles, overridden key by key by `<project_root>/models/*.yaml`."""
    merged: dict[str, tuple[Document, dict[str, Any]]] = dict(_builtin())
    folder = project_root / PROJECT_PROFILES_DIR if project_root else None
    if folder and folder.is_dir():
        for file in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            display = str(Path(display_root or ".", PROJECT_PROFILES_DIR, file.name))
            document, data = _read_profile_document(file.read_bytes(), display)
            base = merged.get(data["model"], (document, {}))[1]
            merged[data["model"]] = (document, {**base, **data})
    return {model: _complete(data, document) for model, (document, data) in merged.items()}
