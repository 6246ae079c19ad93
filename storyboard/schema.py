"""The JSON Schema of the storyboard format, and schema errors turned into located problems."""
from __future__ import annotations

import difflib
import functools
import json
import math
import re
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
        message = f"{where}: {shown(error.instance)} is not a valid name. {rule}"
        return [document.problem((*path, error.instance), message, key=True)]
    if error.validator in ("anyOf", "oneOf") and error.context:
        if "description" in error.schema:
            return [document.problem(path, f"{where}: {shown(error.instance)} is not valid. {error.schema['description']}")]
        error = best_match(error.context)
        path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extras = [key for key in error.instance if key not in allowed]
        return [
            document.problem((*path, key), f"unknown field {key!r}{_in(path)}{suggest(key, allowed)}", key=True)
            for key in extras
        ]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [document.problem(path, f"{where or 'the file'} is missing the required field {missing!r}")]
    if error.validator == "const" and path == ("storyboard",):
        return [document.problem(path, f"unsupported format version {shown(error.instance)}; this storyboard reads version 1")]
    if error.validator == "enum":
        choices = ", ".join(repr(choice) for choice in error.validator_value)
        return [document.problem(path, f"{where}: {shown(error.instance)} is not one of {choices}")]
    if error.validator == "pattern":
        hint = error.schema.get("description") or f"must match {error.validator_value}"
        return [document.problem(path, f"{where}: {shown(error.instance)} is not valid. {hint}")]
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(_article(name) for name in expected) if isinstance(expected, list) else _article(expected)
        return [document.problem(path, f"{where or 'the file'} must be {expected}, not {_type_of(error.instance)}")]
    message = error.message if len(error.message) <= 200 else f"{error.message[:150]}...{error.message[-40:]}"
    return [document.problem(path, f"{where}: {message}" if where else message)]


def shown(value: Any, width: int = 60) -> str:
    """repr(value), shortened in the middle when long: a message quotes what it is about, not all of it."""
    text = repr(value) if not isinstance(value, str) or len(value) <= 2 * width else repr(value[:width]) + "..."
    return text if len(text) <= 2 * width else f"{text[:width]}...{text[-20:]}"


def _describe(path: tuple[Any, ...]) -> str:
    """('shots', 2, 'seed') -> 'shots[2].seed'; a key that is not a plain word is quoted: vars['a b']."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _WORD.fullmatch(part):
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
    return text


_WORD = re.compile(r"[\w-]+")


def _in(path: tuple[Any, ...]) -> str:
    return f" in {_describe(path)}" if path else ""


def suggest(word: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the choice closest to a misspelt `word`, or ''. Not among more than
    MAX_SUGGESTIONS choices: each lookup compares with every choice, and a file may hold 20,000 shots."""
    close = difflib.get_close_matches(word, choices, n=1) if len(choices) <= MAX_SUGGESTIONS else []
    return f" (did you mean {close[0]!r}?)" if close else ""


MAX_SUGGESTIONS = 500


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
        return f"the number {shown(value)}"
    return f"the string {shown(value)}"
