from __future__ import annotations

import os

import pytest

import storyboard
from storyboard.errors import InvalidStoryboard

CAST = """
storyboard: 1
vars:
  look: golden hour
cast:
  raccoon: {video: assets/walk.mp4, description: a grey raccoon}
  fairy: {image: assets/red.png, description: a tiny fairy}
  bird: {image: assets/blue.png}
shots:
"""


def load_shots(project, shots: str):
    return storyboard.load(project.write(CAST + shots))


def problems(project, shots: str) -> list[str]:
    with pytest.raises(InvalidStoryboard) as caught:
        load_shots(project, shots)
    return [str(problem) for problem in caught.value.problems]


def test_vars_shot_fields_and_cast_render(project):
    board = load_shots(
        project,
        """
  - id: one
    prompt: "{{ cast.fairy }} waves, {{ look }}, {{ shot.duration }} s, {{ vars.look | upper }} #{{ number }}"
    duration: 5
""",
    )
    assert board.shots[0].prompt == "Image 1 (a tiny fairy) waves, golden hour, 5 s, GOLDEN HOUR #1"


def test_references_follow_order_of_first_mention_and_describe_once(project):
    board = load_shots(
        project,
        """
  - id: one
    prompt: "{{ cast.bird }} sees {{ cast.raccoon }}, then {{ cast.fairy }}. {{ cast.bird }} sings to {{ cast.raccoon }}."
""",
    )
    shot = board.shots[0]
    assert shot.prompt == "Image 1 sees Video 1 (a grey raccoon), then Image 2 (a tiny fairy). Image 1 sings to Video 1."
    body = storyboard.plan(board).shots[0].body
    assert body["image_urls"] == ["assets/blue.png", "assets/red.png"]
    assert body["video_urls"] == ["assets/walk.mp4"]


def test_explicit_references_come_first_and_unmentioned_cast_is_not_sent(project):
    board = load_shots(
        project,
        """
  - id: one
    prompt: "Image 1 is a poster; {{ cast.fairy }} flies past it"
    image_urls: [https://example.com/poster.png]
  - id: two
    prompt: An empty meadow
""",
    )
    first, second = storyboard.plan(board).shots
    assert first.body["prompt"] == "Image 1 is a poster; Image 2 (a tiny fairy) flies past it"
    assert first.body["image_urls"] == ["https://example.com/poster.png", "assets/red.png"]
    assert "video_urls" not in first.body
    assert "image_urls" not in second.body and "video_urls" not in second.body


def test_undefined_variable_names_shot_and_line_inside_a_block(project):
    assert problems(
        project,
        """
  - id: one
    prompt: |
      A quiet morning.
      {{ lok }} everywhere.
""",
    ) == ["board.yaml:13:7: shot 'one': 'lok' is undefined (did you mean 'look'?)"]


def test_unknown_cast_member_is_named(project):
    assert problems(project, '  - id: one\n    prompt: "{{ cast.racoon }} runs"\n') == [
        "board.yaml:10:13: shot 'one': unknown cast member 'racoon' (did you mean 'raccoon'?); cast: raccoon, fairy, bird"
    ]


def test_syntax_errors_are_reported(project):
    (message,) = problems(project, '  - id: one\n    prompt: "{{ look "\n')
    assert message.startswith("board.yaml:10:13: shot 'one': template syntax error:")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ look.__class__ }}",
    ],
)
def test_sandbox_blocks_python_internals(project, template):
    (message,) = problems(project, f'  - id: one\n    prompt: "{template}"\n')
    assert "shot 'one'" in message
    assert "not allowed in a template" in message or "undefined" in message


def test_include_reads_snippets_inside_the_project_only(project, tmp_path):
    (project.root / "snippets").mkdir()
    (project.root / "snippets" / "style.txt").write_text("neon, {{ look }}")
    board = load_shots(project, "  - id: one\n    prompt: \"Night. {% include 'snippets/style.txt' %}\"\n")
    assert board.shots[0].prompt == "Night. neon, golden hour"

    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("TOP SECRET")
    os.symlink(secret, project.root / "snippets" / "link.txt")
    for name in (f"../{secret.name}", str(secret), "snippets/link.txt"):
        (message,) = problems(project, f"  - id: one\n    prompt: \"{{% include '{name}' %}}\"\n")
        assert "inside the project folder" in message
        assert "TOP SECRET" not in message


def test_cast_descriptions_may_use_vars(project):
    text = (CAST.replace("description: a tiny fairy", 'description: "a fairy at {{ look }}"')
            + '  - id: one\n    prompt: "{{ cast.fairy }}"\n')
    board = storyboard.load(project.write(text))
    assert board.shots[0].prompt == "Image 1 (a fairy at golden hour)"


def test_prompt_that_expands_to_nothing_is_an_error(project):
    assert problems(project, '  - id: one\n    prompt: "{{ \'\' }}"\n') == [
        "board.yaml:10:13: shot 'one': the prompt is empty once expanded"
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ [1, 2] | random }}", "template syntax error: No filter named 'random'."),
        ("{{ lipsum() }}", "'lipsum' is undefined"),
        ("{{ cast }}", "mention a cast member as cast.NAME; `cast` itself cannot be printed"),
        ("{% for c in cast %}{{ c }}{% endfor %}", "the cast cannot be looped over; mention members as cast.NAME"),
    ],
)
def test_prompts_expand_the_same_way_every_time(project, template, message):
    assert problems(project, f'  - id: one\n    prompt: "{template}"\n') == [f"board.yaml:10:13: shot 'one': {message}"]


def test_errors_inside_included_files_name_the_file_and_its_line(project):
    (project.root / "snippets").mkdir()
    (project.root / "snippets" / "style.txt").write_text("neon\nrain\n{{ nope }}\n")
    assert problems(project, "  - id: one\n    prompt: |\n      Night.\n      {% include 'snippets/style.txt' %}\n") == [
        "board.yaml:10:13: shot 'one': 'nope' is undefined (in snippets/style.txt, line 3)"
    ]
