"""Read a YAML file into plain Python data, remembering where every key and value was written.

Stricter than `yaml.safe_load` on purpose:
- scalars follow the YAML 1.2 core schema, so `16:9` stays a string and `yes` is not a bool;
- duplicate keys are an error instead of silently keeping the last one;
- unknown tags, alias bombs, deep nesting, numbers too long to print, oversized files and
  anything but a regular file (a pipe blocks, /dev/zero never ends) are refused;
- U+0085, U+2028 and U+2029 are ordinary characters (YAML 1.2), not line breaks (libyaml's
  YAML 1.1), so every line number is the one an editor shows.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import FileRefused, InvalidStoryboard, Problem, StoryboardError
from ..files import read_regular_file
from ..messages import os_reason
from . import yaml_syntax

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000  # values after alias expansion
MAX_DEPTH = 64  # levels of nesting (a storyboard needs 5)
MAX_INT_DIGITS = 4_000  # below Python's 4,300-digit limit on printing an integer
_INT_LIMIT = 10**MAX_INT_DIGITS
# Line breaks to libyaml (YAML 1.1) but ordinary characters to YAML 1.2 and to editors.
_YAML11_BREAKS = "\x85\u2028\u2029"
_ESCAPED = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # YAML 1.2's line breaks, and an editor's

_PLAIN = "tag:storyboard:plain"
_YAML = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")

Path_ = tuple[Any, ...]


class _Resolver(yaml.resolver.BaseResolver):
    """Tags every plain scalar as 'plain' so it is typed by our YAML 1.2 rules below."""


_Resolver.add_implicit_resolver(_PLAIN, re.compile(r"(?s).*"), None)


if yaml.__with_libyaml__:  # libyaml: much faster on large files
    from yaml._yaml import CParser

    class _Loader(CParser, yaml.constructor.BaseConstructor, _Resolver):
        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            yaml.constructor.BaseConstructor.__init__(self)
            _Resolver.__init__(self)

else:  # pragma: no cover

    class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,  # type: ignore[no-redef]
                  yaml.constructor.BaseConstructor, _Resolver):
        def __init__(self, stream: str):
            yaml.reader.Reader.__init__(self, stream)
            for base in (yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                         yaml.constructor.BaseConstructor, _Resolver):
                base.__init__(self)


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class Document:
    """Plain data from a YAML file plus the position of every key and value in it."""

    display_path: str
    data: Any
    key_marks: dict[Path_, Mark] = field(default_factory=dict)
    value_marks: dict[Path_, Mark] = field(default_factory=dict)
    literal_blocks: set[Path_] = field(default_factory=set)  # values written as `|` block scalars
    lines: list[str] = field(default_factory=list)  # the source text, for columns inside block scalars
    merges: dict[Path_, Mark] = field(default_factory=dict)  # keys a `<<` merged in -> where that `<<` is

    def mark(self, path: Path_, *, key: bool = False) -> Mark:
        """Where `path` is written: its key (or value), else the nearest enclosing node."""
        path = tuple(path)
        while True:
            marks = (self.key_marks, self.value_marks) if key else (self.value_marks, self.key_marks)
            for table in marks:
                if path in table:
                    return table[path]
            if not path:
                return Mark(1, 1)
            path = path[:-1]

    def problem(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        """A problem at `path`; one in a merged mapping also names the `<<` that brought it in."""
        mark, path = self.mark(path, key=key), tuple(path)
        via = next((self.merges[path[:n]] for n in range(len(path), 0, -1) if path[:n] in self.merges), None)
        merged = f" (merged in by '<<' on line {via.line})" if via is not None and via.line != mark.line else ""
        return Problem(self.display_path, mark.line, mark.column, message + merged)


def read_yaml(path: Path, display_path: str | None = None) -> Document:
    """Parse `path`; raise InvalidStoryboard listing every problem found."""
    display = display_path if display_path is not None else str(path)
    try:
        raw = read_regular_file(path, MAX_FILE_BYTES)
    except FileRefused as refused:
        reason = str(refused).replace("files larger", "storyboards larger")
        if reason.startswith("is "):
            reason += "; give the path of the storyboard's YAML file"
        raise _fail(display, reason) from None
    except FileNotFoundError:
        raise _fail(display, "no such file") from None
    except (OSError, ValueError) as error:  # ValueError: a NUL character in the path
        raise _fail(display, f"cannot read file: {os_reason(error)}") from None
    return parse_yaml(raw, display)


def parse_yaml(raw: bytes, display: str) -> Document:
    text = _decode(raw, display)
    shielded, restore = _shield(text, display)
    loader = None
    try:
        loader = _Loader(shielded)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:  # in plain words, with the line quoted
        line, column, message = yaml_syntax.explain(error, _LINE_BREAK.split(text))
        raise InvalidStoryboard([Problem(display, line, column, message)]) from None
    except yaml.reader.ReaderError as error:
        position = error.position  # libyaml counts bytes of the UTF-8 text; we count characters
        if yaml.__with_libyaml__:
            position = len(shielded.encode("utf-8")[:position].decode("utf-8", errors="ignore"))
        line, column = _line_and_column(text[:position])
        character = f"#x{error.character:04x}" if isinstance(error.character, int) else repr(error.character)
        message = f"invalid YAML: control character {character} is not allowed"
        raise InvalidStoryboard([Problem(display, line, column, message)]) from None
    except yaml.YAMLError as error:
        raise _fail(display, f"invalid YAML: {error}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is not None and _expanded_size(node) > MAX_NODES:
        raise _fail(display, f"document expands to more than {MAX_NODES:,} values (alias bomb?); refused")
    converter = _Converter(display, restore)
    data = None if node is None else converter.node(node, ())
    if converter.problems:
        raise InvalidStoryboard(converter.problems)
    return Document(display, data, converter.key_marks, converter.value_marks, converter.literal_blocks,
                    _LINE_BREAK.split(text), converter.merges)


def _line_and_column(before: str) -> tuple[int, int]:
    """1-based line and column of the character after `before`, lines broken as YAML 1.2 does."""
    lines = _LINE_BREAK.split(before)
    return len(lines), len(lines[-1]) + 1


def _shield(text: str, display: str) -> tuple[str, dict[int, str] | None]:
    """`text` with U+0085, U+2028 and U+2029 swapped one for one (positions unchanged) for
    private-use characters libyaml reads as ordinary ones, and the table that puts them back in
    values. A stand-in is a character the file neither holds nor makes with a \\u or \\U escape."""
    present = [ord(character) for character in _YAML11_BREAKS if character in text]
    if not present:
        return text, None
    used = set(text) | {chr(code) for match in _ESCAPED.findall(text) if (code := int("".join(match), 16)) < 0x110000}
    free = (chr(code) for code in (*range(0xE000, 0xF900), *range(0xF0000, 0xFFFFE)) if chr(code) not in used)
    try:
        shield = {character: next(free) for character in present}
    except StopIteration:  # pragma: no cover - a file holding every private-use character
        raise _fail(display, "file holds U+0085, U+2028 or U+2029 and every private-use character; refused") from None
    return text.translate(shield), {ord(stand_in): chr(character) for character, stand_in in shield.items()}


def _decode(raw: bytes, display: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(display, "file is UTF-16 encoded; save it as UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _line_and_column(raw[: error.start].decode("utf-8"))
        raise InvalidStoryboard(
            [Problem(display, line, column, f"file is not valid UTF-8 (byte 0x{raw[error.start]:02x}); save it as UTF-8")]
        ) from None
    return text.removeprefix("\ufeff")


def _fail(display: str, message: str) -> InvalidStoryboard:
    return InvalidStoryboard([Problem(display, 1, 1, message)])


def _expanded_size(root: Node) -> int:
    """How many values `root` becomes once aliases are expanded, a scalar counting one more per 100
    characters (`[*long, *long, ...]`), capped just past MAX_NODES; linear in distinct nodes, and
    without recursion, however deep the nesting."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = list(node.value) if isinstance(node, SequenceNode) else \
            [child for pair in node.value for child in pair] if isinstance(node, MappingNode) else []
        if children_done:  # a child not sized yet is an ancestor (a recursive alias, reported later): 1
            sizes[id(node)] = min(sizes[id(node)] + sum(sizes.get(id(child), 1) for child in children), MAX_NODES + 1)
        elif id(node) not in sizes:
            sizes[id(node)] = 1 + len(node.value) // 100 if isinstance(node, ScalarNode) else 1
            stack += [(node, True), *((child, False) for child in children)]
    return sizes[id(root)]


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag


class _Converter:
    def __init__(self, display: str, restore: dict[int, str] | None = None):
        self.display = display
        self.restore = restore  # stand-ins back to the characters they shielded from libyaml
        self.too_deep = False
        self.problems: list[Problem] = []
        self.key_marks: dict[Path_, Mark] = {}
        self.value_marks: dict[Path_, Mark] = {}
        self.literal_blocks: set[Path_] = set()
        self.merges: dict[Path_, Mark] = {}
        self.active: set[int] = set()

    def _add(self, node: Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.display, mark.line + 1, mark.column + 1, message))

    def node(self, node: Node, path: Path_) -> Any:
        if path not in self.value_marks:
            self.value_marks[path] = Mark(node.start_mark.line + 1, node.start_mark.column + 1)
        if id(node) in self.active:
            self._add(node, "recursive alias: a node cannot contain itself")
            return None
        if isinstance(node, ScalarNode):
            if node.style == "|":
                self.literal_blocks.add(path)
            return self._scalar(node)
        if self._too_deep(node):
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _YAML + "seq":
                    self._add(node, f"unsupported YAML tag {_tag_name(node.tag)}")
                return [self.node(item, (*path, index)) for index, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                if node.tag != _YAML + "map":
                    self._add(node, f"unsupported YAML tag {_tag_name(node.tag)}")
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        self._add(node, "unsupported YAML node")  # pragma: no cover
        return None

    def _too_deep(self, node: Node) -> bool:
        if len(self.active) < MAX_DEPTH:
            return False
        if not self.too_deep:  # reported once: every enclosing node would repeat it
            self.too_deep = True
            self._add(node, f"nested more than {MAX_DEPTH} levels deep (merges included); a storyboard needs a handful")
        return True

    def _mapping(self, node: MappingNode, path: Path_, via: Mark | None = None) -> dict[str, Any]:
        """`via`: where the `<<` that merges this mapping into the one at `path` is written."""
        result: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        merged: list[tuple[MappingNode, Mark]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._add(key_node, "mapping keys must be plain strings")
                continue
            key = self._text(key_node.value)
            if key == "<<" and key_node.tag == _PLAIN:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        self._add(source, "'<<' merges mappings only")
                    elif id(source) in self.active:
                        self._add(source, "recursive merge: a mapping cannot merge itself")
                    else:
                        merged.append((source, via or Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)))
                continue
            if via is not None and (*path, key) in self.key_marks:
                continue
            if key in first_seen:
                self._add(
                    key_node,
                    f"duplicate key {key!r} (first written on line {first_seen[key].start_mark.line + 1})",
                )
                continue
            first_seen[key] = key_node
            child = (*path, key)
            self.key_marks[child] = Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if via is not None:
                self.merges[child] = via
            result[key] = self.node(value_node, child)
        for source, source_via in merged:
            # Keys written in this mapping were recorded first and keep their own positions.
            if self._too_deep(source):
                break
            self.active.add(id(source))
            try:
                for key, value in self._mapping(source, path, source_via).items():
                    result.setdefault(key, value)
            finally:
                self.active.discard(id(source))
        return result

    def _text(self, value: str) -> str:
        return value.translate(self.restore) if self.restore else value

    def _scalar(self, node: ScalarNode) -> Any:
        value, tag = self._text(node.value), node.tag
        kind = tag.removeprefix(_YAML)
        try:
            if tag == _PLAIN:
                return _plain_scalar(value)
            if kind == "str":
                return value
            if kind == "int":
                return _checked_int(value, 0)
            if kind == "float":
                return float(value)
            if kind == "bool":
                if _BOOL.match(value):
                    return value.lower() == "true"
                raise ValueError(value)
            if kind == "null":
                return None
        except _TooLong as error:
            self._add(node, str(error))
            return None
        except ValueError:
            self._add(node, f"{value[:40] + ('...' if len(value) > 40 else '')!r} is not a valid !!{kind}")
            return None
        self._add(node, f"unsupported YAML tag {_tag_name(tag)}")
        return None


class _TooLong(StoryboardError):
    """A number too long to print: Python refuses integers of over 4,300 digits."""


def _checked_int(text: str, base: int) -> int:
    written = len(text.strip().lstrip("+-"))  # refused before the conversion, which Python limits too
    value = int(text, base) if written <= MAX_INT_DIGITS else None
    if value is None or abs(value) >= _INT_LIMIT:
        size = f"a number of {written:,} digits is too long" if value is None else "this number is too large"
        raise _TooLong(f"{size} (at most {MAX_INT_DIGITS:,} decimal digits); put it in quotes if it is text")
    return value


def _plain_scalar(value: str) -> Any:
    if _NULL.match(value):
        return None
    if _BOOL.match(value):
        return value.lower() == "true"
    if _INT.match(value):
        return _checked_int(value, 10)
    if _INT_OCT.match(value):
        return _checked_int(value[2:], 8)
    if _INT_HEX.match(value):
        return _checked_int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN.match(value):
        return math.nan
    return value
