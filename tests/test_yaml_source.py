from __future__ import annotations

import pytest

from storyboard.errors import InvalidStoryboard
from storyboard.yaml_source import MAX_FILE_BYTES, parse_yaml, read_yaml


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
