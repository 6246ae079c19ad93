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
    assert problems_of(text)[0].startswith("f.yaml:7:1: ")  # the unclosed list, at the end: the lines an editor shows
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
