"""The JSON Schema of the storyboard format; schema errors turned into located problems that say what to
write instead; and the document without the values the schema refuses, for the checks after it."""
from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from ..errors import Problem
from ..messages import shown, suggest, type_of
from .yaml_source import Document, Path_

SCHEMA_NAME = "storyboard.schema.json"


def schema_text() -> str:
    packaged = resources.files("storyboard") / "schemas" / SCHEMA_NAME
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # Editable install / source checkout: the schema sits at the top of the repository.
    return (Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME).read_text(encoding="utf-8")


@functools.cache
def storyboard_schema() -> dict[str, Any]:
    return json.loads(schema_text())


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(storyboard_schema())


Offered = Callable[[Path_], tuple[str, list[Any]] | None]
"""(model, choices) for a service field at a path whose model profile lists its values, else None."""


@dataclass
class Checked:
    """The schema's verdict on a document: its problems, and the document with every value the schema
    refuses left out, so the checks after the schema still look at the rest."""

    problems: list[Problem]
    document: Document  # refused values left out (the document itself when nothing is refused)
    refused: set[Path_] = field(default_factory=set)  # ("shots", i) leaves a shot out whole; it stays in the list
    complete: bool = True  # False: leaving values out did not make the rest valid; check nothing further


MAX_PASSES = 4  # a value left out can leave its mapping without a required field: left out on the next pass


def check(document: Document, offered: Offered | None = None) -> Checked:
    """Every schema violation in the document, each pointing at its key or value and saying what to
    write instead, and the document with the values they concern left out."""
    problems = non_finite_numbers(document)
    refused = {_left_out(path) for path in _non_finite_paths(document.data)}
    reported = {(problem.line, problem.column) for problem in problems}
    errors = list(_validator().iter_errors(document.data))
    misspelt = _misspelt(errors)
    for error in errors:
        if error.validator == "required" and (tuple(error.absolute_path), _missing_name(error)) in misspelt.values():
            pass  # said once, as the unknown field that misspells it: its cause
        else:
            problems.extend(problem for problem in explain(document, error, offered, misspelt)
                            if (problem.line, problem.column) not in reported)
        refused.update(_refused(error))
    if not refused:
        return Checked(problems, document)
    for _ in range(MAX_PASSES):
        rest = _without(document.data, refused)
        more = {path for error in _validator().iter_errors(rest) for path in _refused(error)
                if not any(path[:length] in refused for length in range(len(path) + 1))}
        if not more:
            return Checked(problems, replace(document, data=rest), refused)
        refused |= more
    return Checked(problems, document, refused, complete=False)


Misspelt = dict[Path_, tuple[Path_, str]]
"""Unknown keys that are near misses of a required field missing from their mapping: the key's path ->
(the mapping's path, the missing field)."""


def _misspelt(errors: list[ValidationError]) -> Misspelt:
    """Each required field missing from a mapping that holds an unknown key close to its name, with the
    closest such key: `promt: x` written for `prompt: x`."""
    missing: dict[Path_, list[str]] = {}
    extras: dict[Path_, list[str]] = {}
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing.setdefault(path, []).append(_missing_name(error))
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            extras.setdefault(path, []).extend(key for key in _extras(error) if isinstance(key, str))
    found: Misspelt = {}
    for path, names in missing.items():
        for name in names:
            close = difflib.get_close_matches(name, [key for key in extras.get(path, []) if (*path, key) not in found], n=1)
            if close:
                where = (*path, close[0])
                found[where] = (path, name)
    return found


def _missing_name(error: ValidationError) -> str:
    """The field a `required` error is about."""
    return error.message.split("'")[1] if "'" in error.message else error.message


def _refused(error: ValidationError) -> list[Path_]:
    """What an error leaves out: the unknown keys, the misnamed entries, else the value it is about."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return [_left_out((*path, key)) for key in _extras(error)]
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        return [_left_out((*path, error.instance))]
    if error.validator == "required" and not path:  # a top-level section is missing: nothing of it to check
        return [(name,) for name in error.validator_value if isinstance(error.instance, dict) and name not in error.instance]
    return [_left_out(path)] if path else []  # the whole file: nothing is left to check (`complete` says so)


# How much of a section goes with a refused value inside it: a shot's, a cast member's or a default's
# whole field (shots inherit defaults field by field), and all of `vars` (a variable gone would make
# the templates that use it fail for nothing).
_DEPTHS = {"shots": 3, "cast": 3, "defaults": 2, "vars": 1}


def _left_out(path: Path_) -> Path_:
    path = path[:_DEPTHS.get(path[0], len(path))] if path else path
    while len(path) > 2 and isinstance(path[-1], int):  # never an item alone: the items after it would move
        path = path[:-1]
    return path


def _without(data: Any, refused: set[Path_]) -> Any:
    """A copy of `data` without the refused values, copying only the mappings and lists on their way.
    Shots refused whole stay in the list (their positions name the shots after them); a refused cast
    member becomes an empty one, which a prompt may still mention; refused `shots` become none."""
    tree: dict[Any, Any] = {}
    for path in sorted(refused, key=len):
        branch = tree
        for part in path[:-1]:
            branch = branch.setdefault(part, {})
            if branch is _GONE:
                break
        else:
            if path:
                branch[path[-1]] = _GONE

    def rebuild(value: Any, branch: dict[Any, Any], where: Path_) -> Any:
        copy: Any = dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value
        for part, below in branch.items():
            inside = (isinstance(copy, dict) and part in copy) or \
                (isinstance(copy, list) and isinstance(part, int) and 0 <= part < len(copy))
            if not inside:
                continue
            if below is not _GONE:
                copy[part] = rebuild(copy[part], below, (*where, part))
            elif where == ("cast",):
                copy[part] = {}
            elif isinstance(copy, dict):
                del copy[part]
        return copy

    rest = rebuild(data, tree, ())
    if ("shots",) in refused and isinstance(rest, dict):
        rest["shots"] = []
    return rest


_GONE: dict[Any, Any] = {}


def non_finite_numbers(document: Document) -> list[Problem]:
    """YAML allows .nan and .inf; no field of ours means them, and JSON cannot carry them."""
    return [document.problem(path, f"{describe(path, document.data)}: {_at(document.data, path)} is not a finite number")
            for path in _non_finite_paths(document.data)]


def _non_finite_paths(data: Any) -> list[Path_]:
    found: list[Path_] = []

    def walk(value: Any, path: Path_) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            found.append(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                if path or not str(key).startswith("x-"):  # the user's own top-level fields: not ours to judge
                    walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index))

    walk(data, ())
    return found


def _at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def explain(document: Document, error: ValidationError, offered: Offered | None = None,
            misspelt: Misspelt | None = None) -> list[Problem]:
    """The problems one schema error stands for, each saying what is wrong and what to write instead.
    `misspelt`: unknown keys that misspell a missing required field, said as the cause of its absence."""
    path = tuple(error.absolute_path)
    where = describe(path, document.data)
    value = shown(error.instance)
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        # The error is about a key's name: point at that key, not at the mapping holding it.
        rule = error.schema.get("patternErrorMessage") or f"is not valid. {error.schema.get('description', '')}"
        fix = _repaired(error.instance, error.schema.get("pattern"))
        return [document.problem((*path, error.instance), f"{where} name {value} {rule}{fix}", key=True)]
    if error.validator in ("anyOf", "oneOf") and error.context:
        if "errorMessage" in error.schema:
            return [document.problem(path, f"{where} {error.schema['errorMessage']}, not {value}")]
        if "description" in error.schema:
            return [document.problem(path, f"{where}: {value} is not valid. {error.schema['description']}")]
        error = best_match(error.context)
        path = tuple(error.absolute_path)
        where, value = describe(path, document.data), shown(error.instance)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        own = "^x-" in error.schema.get("patternProperties", {})  # the top level keeps fields named x-… for the user
        problems = []
        for key in _extras(error):
            at = (*path, key)
            message = _misspelling(key, where, path, misspelt[at][1]) if misspelt and at in misspelt else \
                _unknown_field(key, where, allowed, own)
            problems.append(document.problem(at, message, key=True))
        return problems
    if error.validator == "required":
        return [document.problem(path, _missing(error, where))]
    if error.validator == "const" and path == ("storyboard",):
        return [document.problem(path, f"unsupported format version {value}; this storyboard reads version 1")]
    choices = offered(path) if offered and error.validator in ("pattern", "type") else None
    if choices is not None:  # the model profile lists the values: say them
        model, listed = choices
        what = f"{where} must be {_expected(error)}, not {type_of(error.instance)}" if error.validator == "type" else \
            f"{where}: {value} is not offered by {model}"
        return [document.problem(path, f"{what} (choose {_listed(listed)}{_near(error.instance, listed, '; ')})")]
    if error.validator == "enum":
        near = _near(error.instance, error.validator_value, " (")
        return [document.problem(path, f"{where}: {value} is not one of {_listed(error.validator_value)}{near and near + ')'}")]
    if error.validator == "pattern":
        rule = error.schema.get("patternErrorMessage") or \
            f"is not valid. {error.schema.get('description') or f'It must match {error.validator_value}.'}"
        return [document.problem(path, f"{where}: {value} {rule}{_repaired(error.instance, error.validator_value)}")]
    if error.validator == "type":
        form = _mapping_form(error)
        expected = f"a mapping like {form}" if form else _expected(error)
        return [document.problem(path, f"{where or 'the file'} must be {expected}, not {type_of(error.instance)}")]
    if error.validator in _BOUNDS:
        return [document.problem(path, f"{where} must be {_BOUNDS[error.validator]} {error.validator_value}, not {value}")]
    if error.validator in ("minLength", "minItems") and error.validator_value == 1:
        fix = ": a film needs at least one shot, with an id and a prompt" if path == ("shots",) else ""
        return [document.problem(path, f"{where} must not be empty{fix}")]
    if error.validator == "maxLength":
        return [document.problem(path, f"{where} must be at most {error.validator_value} characters long, "
                                       f"not {len(error.instance)}")]
    message = error.message if len(error.message) <= 200 else f"{error.message[:150]}...{error.message[-40:]}"
    return [document.problem(path, f"{where}: {message}" if where else message)]


_BOUNDS = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than", "exclusiveMaximum": "less than"}


def _extras(error: ValidationError) -> list[str]:
    """The keys an `additionalProperties: false` refuses: those neither listed nor matching a pattern."""
    allowed = error.schema.get("properties", {})
    patterns = [re.compile(pattern) for pattern in error.schema.get("patternProperties", {})]
    return [key for key in error.instance
            if key not in allowed and not (isinstance(key, str) and any(p.search(key) for p in patterns))]


def _unknown_field(key: str, where: str, allowed: list[str], own: bool) -> str:
    hint = suggest(key, allowed)
    if hint:
        return f"unknown field {key!r}{_in(where)}{hint}"
    message = f"unknown field {key!r}{_in(where)}: {where or 'the top level'} takes {', '.join(allowed)}"
    if own:
        message += (f"; a field of your own (an anchor to merge with <<, say) must start with x-, "
                    f"e.g. {'x-' + key if _WORD.fullmatch(key) else 'x-base'}")
    return message


def _misspelling(key: str, where: str, path: Path_, name: str) -> str:
    """An unknown key that misspells the missing field `name`: the cause and the consequence in one message."""
    holder = "the shot" if len(path) == 2 and path[0] == "shots" else where or "the file"
    return f"unknown field {key!r}{_in(where)} (did you mean {name!r}? {holder} has no {name})"


def _missing(error: ValidationError, where: str) -> str:
    missing = _missing_name(error)
    if "then" in error.absolute_schema_path:  # a shot without a clip needs a prompt
        return f"{where} needs a prompt (what to generate), or a clip (existing footage to use as it is)"
    rules = error.schema.get("properties", {}).get(missing, {})
    example = next(iter([*rules.get("examples", []), *rules.get("enum", [])]), None)
    fix = f"; add it, e.g. {missing}: {example}" if isinstance(example, (str, int, float)) else ""
    return f"{where or 'the file'} is missing the required field {missing!r}{fix}"


def _repaired(name: Any, pattern: Any) -> str:
    """"; 'red_fox' would do" for a name written 'red fox' (or 'red-fox') where the pattern allows the
    first, else ''."""
    if not isinstance(name, str) or not isinstance(pattern, str) or len(name) > 64:
        return ""
    for joiner in ("_", "-"):
        repaired = re.sub(r"[^A-Za-z0-9_.-]+" if joiner == "-" else r"[^A-Za-z0-9_]+", joiner, name).strip("_-.")
        if repaired and repaired != name and re.search(pattern, repaired):
            return f"; {repaired!r} would do"
    return ""


def _expected(error: ValidationError) -> str:
    expected = error.validator_value
    return " or ".join(_article(name) for name in expected) if isinstance(expected, list) else _article(expected)


def _mapping_form(error: ValidationError) -> str:
    """'{type: fade, duration: 0.5}' for `fade` written where a mapping is wanted whose field (`type`) takes
    that value, the other fields as the schema's example has them; else ''."""
    expected = error.validator_value
    if "object" not in (expected if isinstance(expected, list) else [expected]) or not isinstance(error.instance, str):
        return ""
    fields = error.schema.get("properties", {})
    name = next((name for name, rules in fields.items() if error.instance in rules.get("enum", [])), None)
    if name is None:
        return ""
    example = next((example for example in error.schema.get("examples", []) if isinstance(example, dict)), {})
    others = [f"{key}: {value}" for key, value in example.items()
              if key != name and key in fields and isinstance(value, (str, int, float)) and not isinstance(value, bool)]
    return "{" + ", ".join([f"{name}: {error.instance}", *others]) + "}"


def _listed(choices: list[Any]) -> str:
    return ", ".join(repr(choice) for choice in choices)


def _near(value: Any, choices: list[Any], before: str) -> str:
    """`before` + "did you mean 'x'?" for the choice closest to a near miss, else ''; never the value itself."""
    close = difflib.get_close_matches(str(value), [str(choice) for choice in choices], n=1)
    return f"{before}did you mean {close[0]!r}?" if close and close[0] != str(value) else ""


def describe(path: Path_, data: Any = None) -> str:
    """('shots', 2, 'seed') -> "shot 'fox': seed" when that shot has an id in `data` (else 'shots[2].seed');
    a key that is not a plain word is quoted: vars['a b']."""
    shot = data.get("shots") if isinstance(data, dict) and len(path) >= 2 and path[0] == "shots" else None
    if isinstance(shot, list) and isinstance(path[1], int) and path[2:3] != ("id",) and 0 <= path[1] < len(shot) \
            and isinstance(shot[path[1]], dict) and isinstance(name := shot[path[1]].get("id"), str) and 0 < len(name) <= 64:
        return f"shot {name!r}: {_dotted(path[2:])}" if path[2:] else f"shot {name!r}"
    return _dotted(path)


def _dotted(path: Path_) -> str:
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


def _in(where: str) -> str:
    return f" in {where}" if where else ""


def _article(type_name: str) -> str:
    names = {"object": "a mapping", "array": "a list", "integer": "a whole number", "number": "a number",
             "string": "a string", "boolean": "true or false", "null": "empty"}
    return names.get(type_name, type_name)
