from __future__ import annotations

import os
from pathlib import Path

import pytest

from storyboard.errors import InvalidStoryboard
from storyboard.loading.yaml_source import MAX_FILE_BYTES, parse_yaml, read_yaml


def problems_of(text: bytes | str) -> list[str]:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(InvalidStoryboard) as caught:
        parse_yaml(raw, "f.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_yaml_12_scalars_keep_aspect_ratios_and_words_as_strings():
    data = parse_yaml(b"a: 16:9\nb: yes\nc: no\nd: 0x10\ne: 1.5\nf: ~\ng: true\n", "f.yaml").data
    assert data == {"a": "16:9", "b": "yes", "c": "no", "d": 16, "e": 1.5, "f": None, "g": True}


def test_every_key_and_value_has_a_position():
    document = parse_yaml(b"shots:\n  - id: a\n    prompt: hello\n", "f.yaml")
    assert document.mark(("shots", 0, "prompt"), key=True).line == 3
    assert document.mark(("shots", 0, "prompt")).column == 13
    assert document.mark(("shots", 0, "missing", "deeper")).line == 2  # nearest enclosing node


def test_duplicate_keys_are_errors_at_the_second_occurrence():
    assert problems_of("a: 1\nb: 2\na: 3\n") == ["f.yaml:3:1: duplicate key 'a' (first written on line 1)"]


def test_alias_bomb_is_refused_without_expanding():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    (message,) = problems_of("\n".join(lines) + "\n")
    assert "alias bomb" in message


def test_recursive_alias_is_an_error():
    (message,) = problems_of("a: &a [1, *a]\n")
    assert "recursive alias" in message


def test_object_construction_tags_are_refused():
    (message,) = problems_of("a: !!python/object/apply:os.system ['echo hi']\n")
    assert message.startswith("f.yaml:1:4: unsupported YAML tag")


def test_syntax_error_points_at_the_line():
    (message,) = problems_of("shots:\n  - id: a\n   prompt: [unclosed\n")
    assert message.startswith("f.yaml:3:")
    assert "invalid YAML" in message


def test_non_utf8_input_names_line_and_column():
    assert problems_of(b"title: ok\nprompt: caf\xe9\n") == [
        "f.yaml:2:12: file is not valid UTF-8 (byte 0xe9); save it as UTF-8"
    ]


def test_utf8_bom_is_accepted():
    assert parse_yaml("\ufefftitle: ok\n".encode(), "f.yaml").data == {"title": "ok"}


def test_oversized_file_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(InvalidStoryboard) as caught:
        read_yaml(big)
    assert "larger than" in str(caught.value)


def test_merge_keys_merge_and_explicit_keys_win():
    data = parse_yaml(b"base: &b {x: 1, y: 2}\nshot:\n  <<: *b\n  y: 3\n", "f.yaml").data
    assert data["shot"] == {"x": 1, "y": 3}


# Issue #9: malformed input is a located problem, in bounded time and memory.


@pytest.mark.parametrize("separator", ["\u0085", "\u2028", "\u2029"])
def test_unicode_separators_are_characters_not_line_breaks(separator):
    text = f'# one{separator}two\na: "x{separator}y"\nb: p{separator}q\nc: |\n  r{separator}s\nd: [1, 2\n'
    assert problems_of(text)[0].startswith("f.yaml:6:4: ")  # the unclosed list, where it opens: the lines an editor shows
    data = parse_yaml(text.replace("d: [1, 2\n", "").encode(), "f.yaml").data
    assert data == {"a": f"x{separator}y", "b": f"p{separator}q", "c": f"r{separator}s\n"}
    document = parse_yaml(f"a: 1{separator}\nb: x\n".encode(), "f.yaml")
    assert document.mark(("b",)).line == 2 and document.data == {"a": f"1{separator}", "b": "x"}


def test_a_private_use_character_next_to_a_separator_is_kept():
    text = 'a: "\ue000 \\ue001 \u2028"\n'
    assert parse_yaml(text.encode(), "f.yaml").data == {"a": "\ue000 \ue001 \u2028"}


def test_positions_after_non_ascii_text_count_characters():
    assert problems_of("a: é\x01\n") == ["f.yaml:1:5: invalid YAML: control character #x0001 is not allowed"]
    assert problems_of("a: ééé\nb: caf\xe9\xe9\x01".encode()) == [
        "f.yaml:2:9: invalid YAML: control character #x0001 is not allowed"
    ]
    assert problems_of("a: ééé\nb: é".encode() + b"\xff\n") == [
        "f.yaml:2:5: file is not valid UTF-8 (byte 0xff); save it as UTF-8"
    ]


def test_deep_nesting_is_refused_not_a_crash():
    (message,) = problems_of("a: " + "[" * 500 + "]" * 500 + "\n")
    assert message.startswith("f.yaml:1:") and "nested more than 64 levels deep" in message
    chain = "".join(f"a{i}: &a{i} [*a{i - 1}]\n" if i else "a0: &a0 [x]\n" for i in range(300))
    (message,) = problems_of(chain)
    assert "nested more than 64 levels deep" in message
    merges = "".join(f"m{i}: &m{i} {{<<: *m{i - 1}, k{i}: 1}}\n" if i else "m0: &m0 {k: 1}\n" for i in range(300))
    assert any("nested more than 64 levels deep" in message for message in problems_of(merges))


@pytest.mark.parametrize("number", ["9" * 4301, "-" + "9" * 5000, "0x" + "f" * 5000, "!!int " + "1" * 4500])
def test_numbers_too_long_to_print_are_refused(number):
    (message,) = problems_of(f"a: {number}\n")
    assert message.startswith("f.yaml:1:4: ") and "put it in quotes if it is text" in message


def test_only_regular_files_are_read(tmp_path):
    if os.path.exists("/dev/zero"):
        with pytest.raises(InvalidStoryboard) as caught:
            read_yaml(Path("/dev/zero"))
        assert str(caught.value) == "/dev/zero:1:1: is a device, not a file; give the path of the storyboard's YAML file"
    with pytest.raises(InvalidStoryboard) as caught:
        read_yaml(tmp_path)
    assert "is a directory, not a file" in str(caught.value)
    with pytest.raises(InvalidStoryboard) as caught:
        read_yaml(tmp_path / "a\0b.yaml", "x.yaml")
    assert str(caught.value).startswith("x.yaml:1:1: cannot read file:")


def test_aliases_of_long_text_count_as_the_text_they_repeat():
    text = "a: &a " + "x" * 100_000 + "\nb: [" + ", ".join(["*a"] * 2_000) + "]\n"
    (message,) = problems_of(text)
    assert "alias bomb" in message


# Anchors and merge keys, for settings several shots share.


def test_a_problem_in_a_merged_value_is_at_its_line_and_names_the_merge():
    text = ("x-base: &base\n  seed: -1\n  look: {grade: warm}\n"
            "shot:\n  seed: 4\n  <<: *base\n"
            "other:\n  <<: [*base]\n")
    document = parse_yaml(text.encode(), "f.yaml")
    assert document.data["shot"] == {"seed": 4, "look": {"grade": "warm"}}
    assert str(document.problem(("other", "seed"), "too small")) == "f.yaml:2:9: too small (merged in by '<<' on line 8)"
    assert str(document.problem(("other", "look", "grade"), "unknown")) == \
        "f.yaml:3:17: unknown (merged in by '<<' on line 8)"
    assert str(document.problem(("shot", "seed"), "too small")) == "f.yaml:5:9: too small"  # its own, not merged
    assert str(document.problem(("shot", "look"), "odd")) == "f.yaml:3:9: odd (merged in by '<<' on line 6)"
    assert str(document.problem(("x-base", "seed"), "too small")) == "f.yaml:2:9: too small"


def test_a_merge_of_a_merge_names_the_merge_written_in_the_mapping():
    text = "a: &a {seed: 1}\nb: &b\n  <<: *a\n  size: 2\nshot:\n  <<: *b\n"
    document = parse_yaml(text.encode(), "f.yaml")
    assert document.data["shot"] == {"seed": 1, "size": 2}
    assert str(document.problem(("shot", "seed"), "x")) == "f.yaml:1:14: x (merged in by '<<' on line 6)"
    assert str(document.problem(("b", "seed"), "x")) == "f.yaml:1:14: x (merged in by '<<' on line 3)"


# A hand-writer's syntax errors in plain words: what is wrong, what the lines above expect, the line
# quoted inline (one line per problem), never libyaml's scanner vocabulary.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("storyboard: 1\nshots:\n  - id: a\n\tprompt: x\n",
         'f.yaml:4:1: invalid YAML: a tab character indents this line (YAML indents with spaces): replace it with spaces; '
         'the mapping above it (line 3) continues at column 5: "\\tprompt: x"'),
        ("shots:\n\t- id: a\n",
         "f.yaml:2:1: invalid YAML: a tab character indents this line (YAML indents with spaces): replace it with spaces; "
         'the value of the key on line 1 goes below it, indented deeper than column 1: "\\t- id: a"'),
        ("shots:\n  - id: a\n    prompt: x\n - id: b\n",
         "f.yaml:4:2: invalid YAML: indentation: this list item is not indented like the items before it: "
         "the list above it (line 2) continues with '- ' at column 3: \" - id: b\""),
        ("shots:\n  - id: a\n    prompt: x\n   - id: b\n",
         "f.yaml:4:4: invalid YAML: indentation: this list item is not indented like the items before it: "
         "the list above it (line 2) continues with '- ' at column 3: \"   - id: b\""),
        ("shots:\n  - id: a\n   prompt: x\n",
         "f.yaml:3:4: invalid YAML: indentation: this line is not indented like the lines before it: the mapping above it "
         "(line 2) continues at column 5; the list above it (line 2) continues with '- ' at column 3: \"   prompt: x\""),
        ("shots:\n  - id: a\n    prompt: x\n      seed: 1\n",
         "f.yaml:4:7: invalid YAML: indentation: this line is indented deeper than the lines before it, so YAML reads it "
         "as more of the value on line 3: the mapping above it (line 3) continues at column 5: \"      seed: 1\""),
        ("shots:\n  - id: a\n    prompt: x\n  id: b\n",
         "f.yaml:4:3: invalid YAML: a list item starts with '- ': the list above it (line 2) continues with '- ' at "
         "column 3; write '- id: b', or indent this line to column 5 to continue the item on line 2: \"  id: b\""),
        ("shots:\n  - id: a\n    prompt: \"a cat\n  - id: b\n",
         "f.yaml:3:13: invalid YAML: the \" at column 13 opens a quoted value that is never closed: end the value with \" "
         "(a quote inside it is written \\\" in double quotes): \"    prompt: \"a cat\""),
        ("shots:\n  - id: a\n    image_urls: [a.png\n  - id: b\n",
         "f.yaml:3:17: invalid YAML: the '[' at column 17 opens a list that is never closed: end it with ']' (and "
         "separate its items with ', '): \"    image_urls: [a.png\""),
        ("shots:\n  - id: a\n    prompt: a: b\n",
         "f.yaml:3:14: invalid YAML: ': ' inside a value that is not in quotes reads as another key; put the value in "
         "quotes (prompt: \"a: b\"): \"    prompt: a: b\""),
        ("prompt: \"Miso\" walks\n",
         "f.yaml:1:16: invalid YAML: text after the closing \" of a quoted value: put the whole value in quotes, or none "
         "of it: \"prompt: \"Miso\" walks\""),
        ("storyboard: 1\ntitle\n",
         "f.yaml:2:1: invalid YAML: this line is not 'key: value': a key needs ':' and a space after it, and a value "
         "that goes on from the line above must be indented deeper than its key: \"title\""),
        ("path: \"C:\\Users\\me\"\n",
         "f.yaml:1:10: invalid YAML: '\\U' in double quotes starts an escape sequence: write '\\\\' for a backslash, or "
         "put the value in single quotes, where a backslash is just a backslash: \"path: \"C:\\Users\\me\"\""),
        ("prompt: @miso\n",
         "f.yaml:1:9: invalid YAML: a value cannot start with '@' in YAML; put the value in quotes: \"prompt: @miso\""),
        ("prompt: *dramatic* shot\n",
         "f.yaml:1:9: invalid YAML: a value starting with '*' names an anchor; put the value in quotes if it is text: "
         "\"prompt: *dramatic* shot\""),
        ("image_urls: - a.png\n",
         "f.yaml:1:13: invalid YAML: a list item ('- ') cannot follow a key on its line: start it on the next line, "
         "indented deeper than the key, or write the list as [a, b]: \"image_urls: - a.png\""),
    ],
    ids=["tab", "tab-under-key", "item-less-indented", "item-more-indented", "key-less-indented", "key-more-indented",
         "missing-dash", "unclosed-quote", "unclosed-bracket", "colon-in-value", "text-after-quote", "missing-colon",
         "backslash", "reserved-character", "alias-in-text", "dash-after-key"],
)
def test_syntax_errors_are_said_in_plain_words_with_the_line_quoted(text, expected):
    assert problems_of(text) == [expected]


def test_an_unknown_libyaml_error_keeps_its_words():
    (message,) = problems_of("%FOO\n---\na: 1\n")
    assert message == "f.yaml:1:5: invalid YAML: while scanning a directive: found unknown directive name"
