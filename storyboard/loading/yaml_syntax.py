"""libyaml's syntax errors said for a person who writes YAML by hand: what is wrong on the line, what
the lines above it expect there, and how to fix it; the line quoted inline, so that each problem stays
one `FILE:LINE:COL: message` line. An error not recognised keeps libyaml's words."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml

from ..messages import one_line

MAX_QUOTED = 80  # characters of the offending line quoted in a message

_KEY = re.compile(r"""(?:"[^"]*"|'[^']*'|[^\s#'"{\[][^#]*?)\s*:(?:\s|$)""")  # a block mapping's `key:`
_BLOCK_SCALAR = re.compile(r":\s+[|>][-+0-9]*\s*(?:#.*)?$")


@dataclass(frozen=True)
class _Block:
    """A list or mapping the lines above are writing: its kind, its column (1-based), its latest line."""

    kind: str  # "list" or "mapping"
    column: int
    line: int

    def continues(self) -> str:
        if self.kind == "list":
            return f"the list above it (line {self.line}) continues with '- ' at column {self.column}"
        return f"the mapping above it (line {self.line}) continues at column {self.column}"


def explain(error: yaml.MarkedYAMLError, lines: list[str]) -> tuple[int, int, str]:
    """(line, column, message) for a libyaml error in a file of `lines`."""
    problem, context = error.problem or "", error.context or ""
    mark = error.problem_mark or error.context_mark
    at = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    opened = (error.context_mark.line + 1, error.context_mark.column + 1) if error.context_mark else at
    syntax = _Syntax(lines)
    for explainer in _EXPLAINERS:
        found = explainer(syntax, problem, context, at, opened)
        if found is not None:
            line, column, message = found
            return line, column, f"invalid YAML: {message}"
    if "end of stream" in problem and error.context_mark:  # point where what is unclosed opens
        at = opened
    message = f"{context}: {problem}" if context and context not in problem else problem or str(error)
    return at[0], at[1], f"invalid YAML: {message}"


class _Syntax:
    def __init__(self, lines: list[str]):
        self.lines = lines

    def text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def quoted(self, line: int, column: int = 1) -> str:
        """The line as written, in double quotes, tabs and other invisible characters escaped (\\t)."""
        text = self.text(line).rstrip("\r\n")
        if len(text) > MAX_QUOTED:
            start = max(0, min(column - MAX_QUOTED // 2, len(text) - MAX_QUOTED))
            text = ("..." if start else "") + text[start:start + MAX_QUOTED] + ("..." if start + MAX_QUOTED < len(text) else "")
        return f'"{one_line(text)}"'

    def blocks_above(self, line: int) -> list[_Block]:
        """The lists and mappings open at the end of the lines before `line`, innermost first."""
        found: list[_Block] = []
        limit = None  # only lines indented less than the last one looked at enclose it
        for number in range(line - 1, 0, -1):
            text = self.text(number)
            stripped = text.strip()
            if not stripped or stripped.startswith("#") or "\t" in text[: len(text) - len(text.lstrip())]:
                continue
            indent = len(text) - len(text.lstrip(" "))
            if limit is not None and indent >= limit:
                continue
            if _BLOCK_SCALAR.search(text) or text.rstrip().endswith(("|", ">")):
                found.clear()  # the lines below it were text, not blocks
            found = [block for block in found if block.column > indent + 1]
            own = _blocks_of(text, number)
            found = [*found, *own] if own else found
            limit = indent
            if indent == 0:
                break
        found.sort(key=lambda block: -block.column)
        return found

    def indent(self, line: int) -> int:
        text = self.text(line)
        return len(text) - len(text.lstrip(" \t"))

    def previous(self, line: int) -> int:
        """The nearest line above `line` holding something other than a comment, else 0."""
        for number in range(line - 1, 0, -1):
            if self.text(number).strip() and not self.text(number).strip().startswith("#"):
                return number
        return 0


def _blocks_of(text: str, number: int) -> list[_Block]:
    """The blocks a line writes: `- ` items (a list) and `key:` entries (a mapping), innermost first."""
    blocks = []
    column = len(text) - len(text.lstrip(" ")) + 1
    rest = text.lstrip(" ")
    while rest.startswith("- ") or rest.rstrip() == "-":
        blocks.append(_Block("list", column, number))
        spaces = len(rest[1:]) - len(rest[1:].lstrip(" "))
        column, rest = column + 1 + spaces, rest[1 + spaces:]
    if _KEY.match(rest):
        blocks.append(_Block("mapping", column, number))
    return blocks[::-1]


Found = tuple[int, int, str] | None


def _tab(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    line, column = at
    text = syntax.text(line)
    if "tab character" not in problem and not (0 < column <= len(text) and text[column - 1] == "\t"):
        return None
    leading = text[: len(text) - len(text.lstrip(" \t"))]
    if "\t" in leading:
        column = leading.index("\t") + 1
        what = "a tab character indents this line (YAML indents with spaces)"
    elif "\t" in text:
        column = text.index("\t", column - 1 if "\t" in text[column - 1:] else 0) + 1
        what = "a tab character separates the values on this line (YAML separates with spaces)"
    else:
        return None
    return line, column, f"{what}: replace it with spaces{_expected_here(syntax, line, context)}: {syntax.quoted(line, column)}"


def _expected_here(syntax: _Syntax, line: int, context: str) -> str:
    """'; ' and what the lines above expect at the start of `line`, or ''."""
    above = syntax.previous(line)
    if "block scalar" in context or not above:
        return ""
    written = syntax.text(above)
    if re.search(r":\s*(?:#.*)?$", written):  # `key:` opens a block on the lines below
        return (f"; the value of the key on line {above} goes below it, indented deeper than column "
                f"{_blocks_of(written, above)[0].column if _blocks_of(written, above) else syntax.indent(above) + 1}")
    blocks = syntax.blocks_above(line)
    return f"; {blocks[0].continues()}" if blocks else ""


def _unclosed_quote(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    if "quoted scalar" not in context or not ("end of stream" in problem or "document indicator" in problem):
        return None
    line, column = opened
    quote = syntax.text(line)[column - 1: column] or '"'
    return line, column, (f"the {quote} at column {column} opens a quoted value that is never closed: end the value "
                          f"with {quote} (a quote inside it is written {_inner(quote)}): {syntax.quoted(line, column)}")


def _inner(quote: str) -> str:
    return "'' in single quotes" if quote == "'" else '\\" in double quotes'


def _unknown_escape(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    if "unknown escape character" not in problem and "hexdecimal number" not in problem:
        return None
    line, column = at
    text = syntax.text(line)
    start = text.rfind("\\", 0, column)
    column = start + 1 if start >= 0 else column
    escape = text[column - 1: column + 1]
    return line, column, (f"'{escape}' in double quotes starts an escape sequence: write '\\\\' for a backslash, or put "
                          f"the value in single quotes, where a backslash is just a backslash: {syntax.quoted(line, column)}")


def _unclosed_bracket(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    match = re.search(r"flow (sequence|mapping)", context)
    if not match or "did not find expected" not in problem:
        return None
    close, kind = ("]", "list") if match.group(1) == "sequence" else ("}", "mapping")
    open_ = "[" if close == "]" else "{"
    line, column = at
    text = syntax.text(line)
    if line == opened[0] and column <= len(text.rstrip()) and text[column - 1] == ":":
        return line, column, (f"': ' inside the {kind} opened with {open_!r} at column {opened[1]} starts another key; put "
                              f"the value in quotes (or a ', ' is missing before it): {syntax.quoted(line, column)}")
    if line == opened[0] and column <= len(text.rstrip()):
        return line, column, (f"the {kind} opened with {open_!r} at column {opened[1]} expects ', ' between its items or "
                              f"{close!r} to end it here: {syntax.quoted(line, column)}")
    return opened[0], opened[1], (f"the {open_!r} at column {opened[1]} opens a {kind} that is never closed: end it with "
                                  f"{close!r} (and separate its items with ', '): {syntax.quoted(*opened)}")


def _colon_in_value(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    if "mapping values are not allowed" not in problem:
        return None
    line, column = at
    text = syntax.text(line)
    start = syntax.indent(line)
    head = text[start:].lstrip("- ") if text[start:].startswith("- ") else text[start:]
    key = _KEY.match(head)
    offset = len(text) - len(head)
    if key and offset + key.end() < column:  # another `key:` before this colon, on this line
        name, value = head[: key.end()].rstrip(), text[offset + key.end():].strip()
        value = re.sub(r"\s+#.*$", "", value)
        fix = f"{name} {_quote(value)}"
        return line, column, (f"': ' inside a value that is not in quotes reads as another key; put the value in quotes "
                              f"({fix}): {syntax.quoted(line, column)}")
    above = syntax.previous(line)
    if not above:
        return None
    written = syntax.text(above).strip()
    if re.search(r"^(?:- )*[^\s:#'\"]+:[^\s]", written) and not _KEY.match(written.lstrip("- ")):
        return above, 1 + syntax.indent(above), (f"a key needs a space after its ':' (write "
                                                 f"{re.sub(r':', ': ', written, count=1)!r}); as written, the next "
                                                 f"line continues it: {syntax.quoted(above)}")
    blocks = syntax.blocks_above(line)
    expected = f": {blocks[0].continues()}" if blocks else ""
    return line, start + 1, (f"indentation: this line is indented deeper than the lines before it, so YAML reads it as "
                             f"more of the value on line {above}{expected}: {syntax.quoted(line)}")


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False) if "\\" not in value else "'" + value.replace("'", "''") + "'"


def _missing_dash_or_indentation(syntax: _Syntax, problem: str, context: str, at: tuple[int, int],
                                 opened: tuple[int, int]) -> Found:
    if "expected '-' indicator" not in problem and "did not find expected key" not in problem:
        return None
    line, column = at
    text = syntax.text(line)
    start = syntax.indent(line) + 1
    blocks = syntax.blocks_above(line)
    lists = [block for block in blocks if block.kind == "list"]
    if column > start:  # something after a complete value on this line
        before = text[: column - 1].rstrip()
        if before.endswith(("'", '"')):
            return line, column, (f"text after the closing {before[-1]} of a quoted value: put the whole value in quotes, "
                                  f"or none of it: {syntax.quoted(line, column)}")
        if text[column - 1: column] in ("]", "}"):
            return line, column, f"{text[column - 1]!r} closes nothing: {syntax.quoted(line, column)}"
        return line, column, f"unexpected text after the value: {syntax.quoted(line, column)}"
    is_item = text[start - 1:].startswith("- ") or text[start - 1:].rstrip() == "-"
    if not is_item and any(block.column == start for block in lists):
        own = next(block for block in lists if block.column == start)
        inside = next((block for block in blocks if block.kind == "mapping" and block.line == own.line), None)
        other = f", or indent this line to column {inside.column} to continue the item on line {own.line}" if inside else ""
        return line, column, (f"a list item starts with '- ': {own.continues()}; write '- {text.strip()}'{other}: "
                              f"{syntax.quoted(line)}")
    if is_item and not lists:
        expected = f": {blocks[0].continues()} with 'key: value'" if blocks else ""
        return line, column, f"a list item where no list is open{expected}: {syntax.quoted(line)}"
    what = "this list item is not indented like the items before it" if is_item else \
        "this line is not indented like the lines before it"
    near = (lists if is_item else blocks)[:2]
    expected = "; ".join(block.continues() for block in near)
    return line, column, f"indentation: {what}" + (f": {expected}" if expected else "") + f": {syntax.quoted(line)}"


def _missing_colon(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    if "could not find expected ':'" not in problem:
        return None
    line, column = opened
    lists = [block for block in syntax.blocks_above(line) if block.kind == "list" and block.column == column]
    if lists:
        return line, column, (f"a list item starts with '- ': {lists[0].continues()}; write "
                              f"'- {syntax.text(line).strip()}': {syntax.quoted(line)}")
    return line, column, (f"this line is not 'key: value': a key needs ':' and a space after it, and a value that goes "
                          f"on from the line above must be indented deeper than its key: {syntax.quoted(line)}")


def _reserved_character(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    if "cannot start any token" not in problem:
        return None
    line, column = at
    character = syntax.text(line)[column - 1: column]
    return line, column, (f"a value cannot start with {character!r} in YAML; put the value in quotes: "
                          f"{syntax.quoted(line, column)}")


def _anchor(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    line, column = at
    if "duplicate anchor" in context:
        name = re.match(r"&[^\s,\[\]{}]*", syntax.text(line)[column - 1:])
        return line, column, (f"the anchor {name.group() if name else ''!r} is already defined on line {opened[0]}; "
                              f"give this one another name: {syntax.quoted(line, column)}")
    if "undefined alias" in problem:
        return line, column, ("a value starting with '*' repeats an anchor (&name) written above, and there is none of "
                              f"that name; put the value in quotes if it is text: {syntax.quoted(line, column)}")
    if re.search(r"scanning an? (anchor|alias)", context):
        return opened[0], opened[1], (f"a value starting with {syntax.text(opened[0])[opened[1] - 1: opened[1]]!r} names "
                                      "an anchor; put the value in quotes if it is text: "
                                      f"{syntax.quoted(opened[0], opened[1])}")
    return None


def _block_scalar(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    if "block scalar" not in context:
        return None
    line, column = at
    return line, column, ("after '|' or '>' only a comment may follow on the line; write the text on the lines below, "
                          f"indented deeper than its key: {syntax.quoted(line, column)}")


def _dash_after_key(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    if "block sequence entries are not allowed" not in problem:
        return None
    line, column = at
    return line, column, ("a list item ('- ') cannot follow a key on its line: start it on the next line, indented "
                          f"deeper than the key, or write the list as [a, b]: {syntax.quoted(line, column)}")


def _another_document(syntax: _Syntax, problem: str, context: str, at: tuple[int, int], opened: tuple[int, int]) -> Found:
    if "another document" not in problem and "<document start>" not in problem:
        return None
    line, column = at
    return line, column, ("a storyboard is one YAML document: remove the '---' or '...' line that ends it before here: "
                          f"{syntax.quoted(line, column)}")


_EXPLAINERS = (_tab, _unclosed_quote, _unknown_escape, _unclosed_bracket, _colon_in_value, _missing_dash_or_indentation,
               _missing_colon, _reserved_character, _anchor, _block_scalar, _dash_after_key, _another_document)
