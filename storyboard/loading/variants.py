"""`variants:`: one file, rendered once per variant. This reads the section (a matrix, rows, or a CSV
file of rows), names each variant, and makes each variant's document: every text in the file that
holds a template is expanded with `variant` (a value written as one `{{ ... }}` keeps its type, so
`duration: "{{ variant.seconds }}"` is a number); prompts and cast descriptions stay templates, and
see `variant` when they are expanded. Each variant's document then loads as any file does.
"""
from __future__ import annotations

import csv
import io
import itertools
import math
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2

from ..errors import FileRefused, InvalidStoryboard, Problem
from ..files import read_regular_file
from ..messages import suggest
from ..model import Variant
from .templating import environment
from .templating.sandbox import MAX_SECONDS, late
from .templating.undefined import UndefinedLookup
from .yaml_source import MAX_FILE_BYTES, Document, Path_

SECTION = "variants"
MAX_VARIANTS = 10_000
Value = str | int | float | bool
_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expression>(?:(?!\}\}).)*)\}\}\s*$", re.DOTALL)
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9._]+")
_NUMBER = re.compile(r"^-?(?:0|[1-9]\d*)(?P<fraction>\.\d+)?$")
_SYNTAX = ("{{", "{%", "{#")


def has_variants(document: Document) -> bool:
    return isinstance(document.data, dict) and SECTION in document.data


def read_variants(document: Document, root: Path) -> list[Variant]:
    """The variants the section declares, in order; InvalidStoryboard naming file and line otherwise."""
    section = document.data[SECTION]
    where: Path_ = (SECTION,)
    if not isinstance(section, dict) or not section:
        raise InvalidStoryboard([document.problem(where, "variants: a mapping, either of keys to lists of values "
                                                         "(`product: [shoes, bag]`) or with `rows:`")])
    naming = section.get("name")
    if naming is not None and not isinstance(naming, str):
        raise InvalidStoryboard([document.problem((*where, "name"), "variants.name: a template text, "
                                                                    "e.g. '{{ variant.lang }}-{{ variant.product }}'")])
    if "rows" in section:
        others = sorted(str(key) for key in section if key not in ("rows", "name"))
        if others:
            raise InvalidStoryboard([document.problem((*where, others[0]), f"variants: {others[0]!r} beside `rows:`; "
                                                                          "give either rows or lists of values, not both")])
        rows = _csv_rows(document, root, section["rows"]) if isinstance(section["rows"], str) \
            else _inline_rows(document, section["rows"])
    else:
        rows = _matrix(document, {key: value for key, value in section.items() if key != "name"})
    if len(rows) > MAX_VARIANTS:
        raise InvalidStoryboard([document.problem(where, f"variants: {len(rows):,} variants; at most {MAX_VARIANTS:,}")])
    return _named(document, rows, naming)


@dataclass(frozen=True)
class _Row:
    values: dict[str, Value]
    where: Path_
    name: str | None = None  # as the row gives it
    problem: Problem | None = None  # where to point at when the row is wrong (a CSV line)


def _matrix(document: Document, lists: dict[Any, Any]) -> list[_Row]:
    problems = []
    for key, values in lists.items():
        if not isinstance(values, list) or not values:
            problems.append(document.problem((SECTION, key), f"variants.{key}: a list of values, e.g. [shoes, bag]"))
        elif not all(_is_value(value) for value in values):
            index = next(index for index, value in enumerate(values) if not _is_value(value))
            problems.append(document.problem((SECTION, key, index), f"variants.{key}: each value is text, a number or "
                                                                    "true/false, not a list or a mapping"))
    if problems:
        raise InvalidStoryboard(problems)
    count = math.prod(len(values) for values in lists.values())
    if count > MAX_VARIANTS:  # said before any is made
        raise InvalidStoryboard([document.problem((SECTION,), f"variants: the lists make {count:,} combinations; "
                                                              f"at most {MAX_VARIANTS:,}")])
    keys = [str(key) for key in lists]
    return [_Row(dict(zip(keys, combination, strict=True)), (SECTION,))
            for combination in itertools.product(*lists.values())]


def _inline_rows(document: Document, rows: Any) -> list[_Row]:
    where: Path_ = (SECTION, "rows")
    if not isinstance(rows, list) or not rows:
        raise InvalidStoryboard([document.problem(where, "variants.rows: a list of mappings, or the name of a CSV file")])
    problems: list[Problem] = []
    found: list[_Row] = []
    for index, row in enumerate(rows):
        here = (*where, index)
        if not isinstance(row, dict) or not row:
            problems.append(document.problem(here, f"variants.rows[{index}]: a mapping of keys to values"))
            continue
        name = row.get("name")
        values = {str(key): value for key, value in row.items() if key != "name"}
        wrong = next((key for key, value in values.items() if not _is_value(value)), None)
        if wrong is not None or (name is not None and not isinstance(name, (str, int))):
            field = wrong if wrong is not None else "name"
            problems.append(document.problem((*here, field), f"variants.rows[{index}].{field}: text, a number or "
                                                             "true/false, not a list or a mapping"))
            continue
        found.append(_Row(values, here, None if name is None else str(name)))
    if problems:
        raise InvalidStoryboard(problems)
    return _same_keys(document, found)


def _csv_rows(document: Document, root: Path, name: str) -> list[_Row]:
    where: Path_ = (SECTION, "rows")
    path = root / name
    try:
        text = read_regular_file(path, MAX_FILE_BYTES).decode("utf-8-sig")
    except FileRefused as refused:
        raise InvalidStoryboard([document.problem(where, f"variants.rows: {name!r} {refused}")]) from None
    except OSError:
        raise InvalidStoryboard([document.problem(where, f"variants.rows: no file {name!r} next to the storyboard")]) \
            from None
    except UnicodeDecodeError:
        raise InvalidStoryboard([document.problem(where, f"variants.rows: {name!r} is not UTF-8 text")]) from None
    shown = str(Path(document.display_path).parent / name) if document.display_path else name
    reader = csv.reader(io.StringIO(text))
    lines = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not lines:
        raise InvalidStoryboard([Problem(shown, 1, 1, "the variants file is empty; its first line names the keys")])
    header_line, header = lines[0]
    keys = [cell.strip() for cell in header]
    problems = [Problem(shown, header_line, column + 1, f"column {column + 1} has no name in the header line")
                for column, key in enumerate(keys) if not key]
    if len(set(keys)) != len(keys):
        twice = next(key for key in keys if keys.count(key) > 1)
        problems.append(Problem(shown, header_line, 1, f"the header names {twice!r} twice"))
    rows: list[_Row] = []
    for line, cells in lines[1:]:
        if len(cells) != len(keys):
            missing = ", ".join(keys[len(cells):]) if len(cells) < len(keys) else None
            said = f"no value for {missing}" if missing else f"{len(cells)} values for the header's {len(keys)} columns"
            problems.append(Problem(shown, line, 1, f"{said} (the header line names {', '.join(keys)})"))
            continue
        values = {key: _cell(cell) for key, cell in zip(keys, cells, strict=True) if key != "name"}
        given = dict(zip(keys, cells, strict=True)).get("name", "").strip()
        rows.append(_Row(values, where, given or None, Problem(shown, line, 1, "")))
    if not rows and not problems:
        problems.append(Problem(shown, header_line, 1, "the variants file has a header line and no rows"))
    if problems:
        raise InvalidStoryboard(problems)
    return rows


def _cell(text: str) -> Value:
    """A CSV cell: a number when it is written as one (no leading zeros, so codes like 007 stay text)."""
    text = text.strip()
    number = _NUMBER.match(text)
    if number is None:
        return text
    return float(text) if number.group("fraction") else int(text)


def _same_keys(document: Document, rows: list[_Row]) -> list[_Row]:
    keys = list(rows[0].values)
    problems = []
    for index, row in enumerate(rows[1:], start=1):
        missing = [key for key in keys if key not in row.values]
        extra = [key for key in row.values if key not in keys]
        if missing or extra:
            said = f"has no {', '.join(missing)}" if missing else f"has {', '.join(extra)}, which the first row has not"
            problems.append(document.problem(row.where, f"variants.rows[{index}] {said}; every row gives the same keys "
                                                        f"({', '.join(keys)})"))
    if problems:
        raise InvalidStoryboard(problems)
    return rows


def _is_value(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _named(document: Document, rows: list[_Row], naming: str | None) -> list[Variant]:
    env = environment(Path("."))
    variants: list[Variant] = []
    seen: dict[str, _Row] = {}
    problems: list[Problem] = []
    for index, row in enumerate(rows):
        if row.name is not None:
            name = row.name
        elif naming is not None:
            try:
                name = _render(env, naming, Variant("", dict(row.values), index).context)
            except Exception as error:  # noqa: BLE001 - a user's template
                problems.append(document.problem((SECTION, "name"), f"variants.name: {_said(error, row.values)}"))
                break
        else:
            name = "-".join(str(value).lower() if isinstance(value, bool) else str(value) for value in row.values.values())
        name = _NOT_IN_A_NAME.sub("-", str(name)).strip("-")
        if not name:
            problems.append(_row_problem(document, row, "this variant's name is empty; give the row a `name`"))
        elif name in seen:
            problems.append(_row_problem(document, row, f"two variants are named {name!r}; give one a `name` "
                                                        "(or `variants.name`) that tells them apart"))
        seen[name] = row
        variants.append(Variant(name, row.values, index))
    if problems:
        raise InvalidStoryboard(problems)
    return variants


def _row_problem(document: Document, row: _Row, message: str) -> Problem:
    if row.problem is not None:
        return replace(row.problem, message=message)
    return document.problem(row.where, f"variants: {message}")


def _said(error: Exception, values: dict[str, Value]) -> str:
    if isinstance(error, UndefinedLookup) and isinstance(error.owner, dict) and set(error.owner) >= set(values):
        keys = sorted(error.owner)
        return f"variant.{error.name} is undefined{suggest(str(error.name), keys)}: a variant holds {', '.join(keys)}"
    if isinstance(error, UndefinedLookup):
        return f"{error.name!r} is undefined: only `variant` is known here (variant.<key>)"
    if isinstance(error, jinja2.TemplateSyntaxError):
        return f"template syntax error: {error.message}"
    return str(error) or type(error).__name__


def _render(env: Any, source: str, context: dict[str, Any]) -> str:
    env.start(time.monotonic() + MAX_SECONDS, late(MAX_SECONDS))
    return str(env.from_string(source).render(variant=context)).strip()


# Texts that are templates themselves: expanded later, with `variant` among the rest of their context.
def _is_template_field(path: Path_) -> bool:
    return (len(path) == 3 and path[0] == "shots" and path[2] == "prompt") or path == ("defaults", "prompt") \
        or (len(path) == 3 and path[0] == "cast" and path[2] == "description")


class Expander:
    """Makes each variant's document from the file's: one compiled template per distinct text."""

    def __init__(self, document: Document, root: Path):
        self.document = document
        self.env = environment(root)
        self.compiled: dict[str, Any] = {}
        self.templated = [path for path in _text_paths(document.data, ()) if not _is_template_field(path)]

    def document_for(self, variant: Variant, default_output: str) -> tuple[Document, list[Problem]]:
        data = _copy(self.document.data, {tuple(path[:n]) for path in self.templated for n in range(len(path))})
        problems: list[Problem] = []
        context = variant.context
        for path in self.templated:
            if path[0] == SECTION:
                continue
            owner = data
            for key in path[:-1]:
                owner = owner[key]
            try:
                owner[path[-1]] = self._value(owner[path[-1]], context)
            except Exception as error:  # noqa: BLE001 - a user's template
                field = ".".join(str(key) for key in path)
                problems.append(self.document.problem(path, f"{field}: {_said(error, variant.values)}"))
        output = data.get("output")
        if isinstance(output, dict) and "path" not in output:
            data["output"] = {**output, "path": default_output}
        elif output is None and "output" not in data:
            data["output"] = {"path": default_output}
        return replace(self.document, data=data), problems

    def _value(self, text: str, context: dict[str, Any]) -> Any:
        self.env.start(time.monotonic() + MAX_SECONDS, late(MAX_SECONDS))
        whole = _ONE_EXPRESSION.match(text)
        if whole is not None:
            expression = self.compiled.get(text)
            if expression is None:
                expression = self.compiled[text] = self.env.compile_expression(whole.group("expression"),
                                                                               undefined_to_none=False)
            value = expression(variant=context)
            if isinstance(value, jinja2.Undefined):
                value._fail_with_undefined_error()
            return value
        template = self.compiled.get(text)
        if template is None:
            template = self.compiled[text] = self.env.from_string(text)
        return template.render(variant=context)


def _text_paths(data: Any, here: Path_) -> list[Path_]:
    """Where the data holds text with template syntax."""
    if isinstance(data, str):
        return [here] if any(mark in data for mark in _SYNTAX) else []
    if isinstance(data, dict):
        return [path for key, value in data.items() for path in _text_paths(value, (*here, key))]
    if isinstance(data, list):
        return [path for index, value in enumerate(data) for path in _text_paths(value, (*here, index))]
    return []


def _copy(data: Any, on_the_way: set[Path_], here: Path_ = ()) -> Any:
    """`data` with fresh containers along the paths that change; the rest is shared, read-only."""
    if here not in on_the_way:
        return data
    if isinstance(data, dict):
        return {key: _copy(value, on_the_way, (*here, key)) for key, value in data.items()}
    if isinstance(data, list):
        return [_copy(value, on_the_way, (*here, index)) for index, value in enumerate(data)]
    return data


def colliding_outputs(document: Document, boards: list[Any]) -> list[Problem]:
    """Variants whose films would be the same file: refused before anything runs."""
    by_path: dict[Path, list[str]] = {}
    for board in boards:
        by_path.setdefault(board.output.path, []).append(board.variant.name)
    problems = []
    for path, names in by_path.items():
        if len(names) > 1:
            shown = ", ".join(repr(name) for name in names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            problems.append(document.problem(("output", "path"), f"output.path: variants {shown} would all write "
                                             f"{path.name}; each variant needs a film of its own, e.g. "
                                             "out/ad-{{ variant.name }}.mp4"))
    return problems
