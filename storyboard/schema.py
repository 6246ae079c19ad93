"""The JSON Schema of the storyboard format, and schema errors turned into located problems."""
from __future__ import annotations

import difflib
import functools
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from .errors import Problem
from .yaml_source import Document

SCHEMA_NAME = "storyboard.schema.json"


def schema_text() -> str:
    packaged = resources.files("storyboard") / "schemas" / SCHEMA_NAME
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # Editable install / source checkout: the schema sits at the top of the repository.
    return (Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME).read_text(encoding="utf-8")


@functools.cache
def storyboard_schema() -> dict[str, Any]:
    return json.loads(schema_text())


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(storyboard_schema())


def check(document: Document) -> tuple[list[Problem], set[int]]:
    """Every schema violation in the document, each pointing at its key or value, and the
    indexes of the shots they are confined to (an empty set if anything else is wrong too)."""
    problems = non_finite_numbers(document)
    reported = {(problem.line, problem.column) for problem in problems}
    shots: set[int] = set()
    elsewhere = bool(problems)
    for error in _validator().iter_errors(document.data):
        problems.extend(problem for problem in explain(document, error) if (problem.line, problem.column) not in reported)
        path = tuple(error.absolute_path)
        if len(path) >= 2 and path[0] == "shots" and isinstance(path[1], int):
            shots.add(path[1])
        else:
            elsewhere = True
    return problems, (set() if elsewhere else shots)


def non_finite_numbers(document: Document) -> list[Problem]:
    """YAML allows .nan and .inf; no field of ours means them, and JSON cannot carry them."""
    found: list[Problem] = []

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            found.append(document.problem(path, f"{_describe(path)}: {value} is not a finite number"))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index))

    walk(document.data, ())
    return found


def explain(document: Document, error: ValidationError) -> list[Problem]:
    path = tuple(error.absolute_path)
    where = _describe(path)
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        # The error is about a key's name: point at that key, not at the mapping holding it.
        rule = error.schema.get("description", "")
        return [document.problem((*path, error.instance), f"{where}: {error.instance!r} is not a valid name. {rule}", key=True)]
    if error.validator in ("anyOf", "oneOf") and error.context:
        if "description" in error.schema:
            return [document.problem(path, f"{where}: {error.instance!r} is not valid. {error.schema['description']}")]
        error = best_match(error.context)
        path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extras = [key for key in error.instance if key not in allowed]
        return [
            document.problem((*path, key), f"unknown field {key!r}{_in(path)}{_suggest(key, allowed)}", key=True)
            for key in extras
        ]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [document.problem(path, f"{where or 'the file'} is missing the required field {missing!r}")]
    if error.validator == "const" and path == ("storyboard",):
        return [document.problem(path, f"unsupported format version {error.instance!r}; this storyboard reads version 1")]
    if error.validator == "enum":
        choices = ", ".join(repr(choice) for choice in error.validator_value)
        return [document.problem(path, f"{where}: {error.instance!r} is not one of {choices}")]
    if error.validator == "pattern":
        hint = error.schema.get("description") or f"must match {error.validator_value}"
        return [document.problem(path, f"{where}: {error.instance!r} is not valid. {hint}")]
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(_article(name) for name in expected) if isinstance(expected, list) else _article(expected)
        return [document.problem(path, f"{where or 'the file'} must be {expected}, not {_type_of(error.instance)}")]
    return [document.problem(path, f"{where}: {error.message}" if where else error.message)]


def _describe(path: tuple[Any, ...]) -> str:
    """('shots', 2, 'seed') -> 'shots[2].seed'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _in(path: tuple[Any, ...]) -> str:
    return f" in {_describe(path)}" if path else ""


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _article(type_name: str) -> str:
    names = {"object": "a mapping", "array": "a list", "integer": "a whole number", "number": "a number",
             "string": "a string", "boolean": "true or false", "null": "empty"}
    return names.get(type_name, type_name)


def _type_of(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return f"the string {value!r}"
