"""Prompts expand the same way now that plain text skips Jinja and identical templates compile once."""
from __future__ import annotations

import pytest

import storyboard
from storyboard.errors import InvalidStoryboard
from storyboard.loading.templating import environment

HEAD = """
storyboard: 1
vars:
  look: golden hour
cast:
  fairy: {image: assets/red.png, description: a tiny fairy}
  bird: {description: "  a {small} blue bird  "}
shots:
"""


def load(project, shots: str):
    return storyboard.load(project.write(HEAD + shots))


def test_plain_prompts_with_stray_braces_and_line_breaks_expand_as_jinja_renders_them(project):
    prompts = {
        "braces": ('"a { b } c }} d %} e #} f"', "a { b } c }} d %} e #} f"),
        "breaks": ('"  line one\\r\\nline two\\rthree\\n\\n"', "line one\nline two\nthree"),
        "block": ("|\n      First line.\n      Second line, {not a tag}.\n", "First line.\nSecond line, {not a tag}."),
        "spaced": ('"{ {look} } and { { look } }"', "{ {look} } and { { look } }"),
    }
    board = load(project, "".join(f"  - id: {name}\n    prompt: {text}\n" for name, (text, _) in prompts.items()))
    jinja = environment(project.root)
    for shot in board.shots:
        assert shot.prompt == prompts[shot.id][1]
        assert shot.prompt == jinja.from_string(shot.prompt_template).render().strip()
    assert board.cast["bird"].description == "a {small} blue bird"


def test_one_prompt_text_in_many_shots_renders_with_each_shots_own_values(project):
    text = '"{{ cast.fairy }} waves in {{ shot.id }} (#{{ number }}), {{ mood }}, {{ look }}"'
    moods = ["calm", "stormy", "sleepy"]
    board = load(
        project,
        "".join(f"  - id: s{i}\n    prompt: {text}\n    vars: {{mood: {mood}}}\n" for i, mood in enumerate(moods))
        + f"  - id: poster\n    prompt: {text}\n    vars: {{mood: bright}}\n    image_urls: [https://example.com/poster.png]\n",
    )
    assert [shot.prompt for shot in board.shots] == [
        "Image 1 (a tiny fairy) waves in s0 (#1), calm, golden hour",
        "Image 1 (a tiny fairy) waves in s1 (#2), stormy, golden hour",
        "Image 1 (a tiny fairy) waves in s2 (#3), sleepy, golden hour",
        "Image 2 (a tiny fairy) waves in poster (#4), bright, golden hour",
    ]
    bodies = [shot.body for shot in storyboard.plan(board).shots]
    poster = ["https://example.com/poster.png", "assets/red.png"]
    assert [body["image_urls"] for body in bodies] == [["assets/red.png"]] * 3 + [poster]


def test_one_prompt_text_fails_only_in_the_shots_where_it_fails(project):
    text = '"{{ cast.fairy }} flies through {{ weather }}"'
    broken = '"{{ look "'
    with pytest.raises(InvalidStoryboard) as caught:
        load(
            project,
            f"  - id: a\n    prompt: {text}\n    vars: {{weather: rain}}\n"
            f"  - id: b\n    prompt: {text}\n"
            f"  - id: c\n    prompt: {broken}\n"
            f"  - id: d\n    prompt: {broken}\n",
        )
    messages = [str(problem) for problem in caught.value.problems]
    assert messages[0].startswith("board.yaml:12:13: shot 'b': 'weather' is undefined")
    assert messages[1].startswith("board.yaml:14:13: shot 'c': template syntax error:")
    assert messages[2] == messages[1].replace("14:13: shot 'c'", "16:13: shot 'd'")
    assert len(messages) == 3
