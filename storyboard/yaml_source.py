"""Read a YAML file into plain Python data, remembering where every key and value was written.

Stricter than `yaml.safe_load` on purpose:
- scalars follow the YAML 1.2 core schema, so `16:9` stays a string and `yes` is not a bool;
- duplicate keys are an error instead of silently keeping the last one;
- unknown tags are refused (no object construction);
- alias bombs and oversized files are refused before they are expanded.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import InvalidStoryboard, Problem

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000  # values after alias expansion

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

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        yaml.constructor.BaseConstructor,
        _Resolver,
    ):
        def __init__(self, stream: str):
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.BaseConstructor.__init__(self)
            _Resolver.__init__(self)


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
        mark = self.mark(path, key=key)
        return Problem(self.display_path, mark.line, mark.column, message)


def read_yaml(path: Path, display_path: str | None = None) -> Document:
    """Parse `path`; raise InvalidStoryboard listing every problem found."""
    display = display_path if display_path is not None else str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _fail(display, f"file is {size:,} bytes; storyboards larger than {MAX_FILE_BYTES:,} bytes are refused")
        raw = path.read_bytes()
    except IsADirectoryError:
        raise _fail(display, "is a directory, not a storyboard file") from None
    except FileNotFoundError:
        raise _fail(display, "no such file") from None
    except OSError as error:
        raise _fail(display, f"cannot read file: {error.strerror}") from None
    return parse_yaml(raw, display)


def parse_yaml(raw: bytes, display: str) -> Document:
    text = _decode(raw, display)
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        if error.context_mark and "end of stream" in (error.problem or ""):
            mark = error.context_mark  # an unclosed quote or bracket: point where it opens
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = error.problem or str(error)
        if error.context and error.context not in message:
            message = f"{error.context}: {message}"
        raise InvalidStoryboard([Problem(display, line, column, f"invalid YAML: {message}")]) from None
    except yaml.reader.ReaderError as error:
        before = text[: error.position]
        line, column = before.count("\n") + 1, error.position - (before.rfind("\n") + 1) + 1
        character = f"#x{error.character:04x}" if isinstance(error.character, int) else repr(error.character)
        message = f"invalid YAML: control character {character} is not allowed"
        raise InvalidStoryboard([Problem(display, line, column, message)]) from None
    except yaml.YAMLError as error:
        raise _fail(display, f"invalid YAML: {error}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is not None and _expanded_size(node, {}) > MAX_NODES:
        raise _fail(display, f"document expands to more than {MAX_NODES:,} values (alias bomb?); refused")
    converter = _Converter(display)
    data = None if node is None else converter.node(node, ())
    if converter.problems:
        raise InvalidStoryboard(converter.problems)
    return Document(display, data, converter.key_marks, converter.value_marks, converter.literal_blocks, text.splitlines())


def _decode(raw: bytes, display: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(display, "file is UTF-16 encoded; save it as UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise InvalidStoryboard(
            [Problem(display, line, column, f"file is not valid UTF-8 (byte 0x{raw[error.start]:02x}); save it as UTF-8")]
        ) from None
    return text.removeprefix("\ufeff")


def _fail(display: str, message: str) -> InvalidStoryboard:
    return InvalidStoryboard([Problem(display, 1, 1, message)])


def _expanded_size(node: Node, sizes: dict[int, int]) -> int:
    """How many values `node` becomes once aliases are expanded; linear in distinct nodes."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a recursive alias counts once here; the converter reports it
    total = 1
    if isinstance(node, SequenceNode):
        total += sum(_expanded_size(item, sizes) for item in node.value)
    elif isinstance(node, MappingNode):
        total += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = min(total, MAX_NODES + 1)
    return sizes[id(node)]


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag


class _Converter:
    def __init__(self, display: str):
        self.display = display
        self.problems: list[Problem] = []
        self.key_marks: dict[Path_, Mark] = {}
        self.value_marks: dict[Path_, Mark] = {}
        self.literal_blocks: set[Path_] = set()
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

    def _mapping(self, node: MappingNode, path: Path_, merging: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        merged: list[tuple[MappingNode, Path_]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._add(key_node, "mapping keys must be plain strings")
                continue
            key = key_node.value
            if key == "<<" and key_node.tag == _PLAIN:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        self._add(source, "'<<' merges mappings only")
                    elif id(source) in self.active:
                        self._add(source, "recursive merge: a mapping cannot merge itself")
                    else:
                        merged.append((source, path))
                continue
            if merging and (*path, key) in self.key_marks:
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
            result[key] = self.node(value_node, child)
        for source, source_path in merged:
            # Keys written in this mapping were recorded first and keep their own positions.
            self.active.add(id(source))
            try:
                for key, value in self._mapping(source, source_path, merging=True).items():
                    result.setdefault(key, value)
            finally:
                self.active.discard(id(source))
        return result

    def _scalar(self, node: ScalarNode) -> Any:
        value, tag = node.value, node.tag
        if tag == _PLAIN:
            return _plain_scalar(value)
        kind = tag.removeprefix(_YAML)
        try:
            if kind == "str":
                return value
            if kind == "int":
                return int(value, 0)
            if kind == "float":
                return float(value)
            if kind == "bool":
                if _BOOL.match(value):
                    return value.lower() == "true"
                raise ValueError(value)
            if kind == "null":
                return None
        except ValueError:
            self._add(node, f"{value!r} is not a valid !!{kind}")
            return None
        self._add(node, f"unsupported YAML tag {_tag_name(tag)}")
        return None


def _plain_scalar(value: str) -> Any:
    if _NULL.match(value):
        return None
    if _BOOL.match(value):
        return value.lower() == "true"
    if _INT.match(value):
        return int(value)
    if _INT_OCT.match(value):
        return int(value[2:], 8)
    if _INT_HEX.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN.match(value):
        return math.nan
    return value
