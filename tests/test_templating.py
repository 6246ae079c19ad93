from __future__ import annotations

import os
import signal

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
    ) == ["board.yaml:13:7: shot 'one': 'lok' is undefined (did you mean 'look'?): a prompt can use look, title, "
          "shot.<field>, cast.<name>; define new variables under vars"]


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
        ("{{ lipsum() }}", "'lipsum' is undefined: a prompt can use look, title, shot.<field>, cast.<name>; "
                           "define new variables under vars"),
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
        "board.yaml:10:13: shot 'one': 'nope' is undefined (in snippets/style.txt, line 3): a prompt can use look, "
        "title, shot.<field>, cast.<name>; define new variables under vars"
    ]


# Issue #9: a template is input; what it may build and how long it may run are limited.

RUNAWAY = [
    ("{{ 'a' * 900000000 }}", "the prompt expands to more than 20,000 characters"),
    ("{{ 'a' * 20001 }}", "the prompt expands to more than 20,000 characters"),
    ("{{ 'x' | center(1000000000) }}", "the prompt expands to more than 20,000 characters"),
    ("{{ 'x'.ljust(1000000000) }}", "the prompt expands to more than 20,000 characters"),
    ("{{ '%0999999999d' % 1 }}", "the prompt expands to more than 20,000 characters"),
    ("{{ '%0999999999d' | format(1) }}", "the prompt expands to more than 20,000 characters"),
    ("{{ '{:>999999999}'.format(1) }}", "the prompt expands to more than 20,000 characters"),
    ("{{ ('a' * 20000) | replace('a', 'a' * 20000) }}", "the prompt expands to more than 20,000 characters"),
    ("{{ range(100000) | join('x' * 20000) }}", "the prompt expands to more than 20,000 characters"),
    ("{{ ['x' * 20000] * 100000 }}", "the template builds or works on a value of more than 1,000,000 items or characters"),
    ("{{ [1] | batch(1000000000, 'x') | list }}", "batch: more than the 100,000 parts a template may make"),
    ("{{ 2 ** 100000 }}", "the template computes a number of more than 4,000 digits"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
     "the prompt expands to more than 20,000 characters"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
     "the prompt expands to more than 20,000 characters"),
    ("{% set x %}{% for i in range(100000) %}" + "y" * 1000 + "{% endfor %}{% endset %}{{ x | length }}",
     "the prompt expands to more than 20,000 characters"),
    ("{% for i in range(100000) %}{{ 'word ' }}{% endfor %}", "the prompt expands to more than 20,000 characters"),
    ("{{ range(1000000) | list }}", "range() of 1,000,000 numbers; a template may count to 100,000"),
]


@pytest.mark.parametrize(("template", "message"), RUNAWAY, ids=range(len(RUNAWAY)))
def test_a_template_cannot_build_more_than_a_prompt_needs(project, template, message):
    import tracemalloc

    tracemalloc.start()
    try:
        (problem,) = problems(project, f"  - id: one\n    prompt: \"{template}\"\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problem.startswith(f"board.yaml:10:13: shot 'one': {message}")
    assert peak < 200_000_000


def test_a_template_that_runs_too_long_is_stopped_at_its_deadline(project):
    import time

    started = time.monotonic()
    template = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"
    assert problems(project, f'  - id: one\n    prompt: "{template}"\n') == [
        "board.yaml:10:13: shot 'one': the prompt took longer than 2 s to expand; look for loops that run too long"
    ]
    assert time.monotonic() - started < 10


def test_prompts_past_the_total_time_are_reported_once(project, monkeypatch):
    from storyboard.loading import templating
    from storyboard.loading.templating import sandbox

    monkeypatch.setattr(templating, "MAX_TOTAL_SECONDS", 0.3)
    monkeypatch.setattr(sandbox, "MAX_TOTAL_SECONDS", 0.3)
    slow = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"
    shots = "".join(f'  - id: s{i}\n    prompt: "{slow} {i}"\n' for i in range(4))
    found = problems(project, shots)
    assert found == [
        "board.yaml:10:13: shot 's0': the prompts took longer than 0.3 s in all to expand; "
        "look for loops that run too long, or split the storyboard",
        "board.yaml:12:13: shot 's1' was not expanded, nor the 2 after it: the prompts took longer than 0.3 s in all "
        "to expand; look for loops that run too long, or split the storyboard",
    ]


def test_ordinary_templates_are_not_limited(project):
    board = load_shots(
        project,
        """
  - id: one
    prompt: "{% for i in range(3) %}{{ cast.fairy }} {{ '%03d' % i }} {{ '{:>4}'.format(i) }} {% endfor %}{{ 2 ** 10 }}"
    vars: {words: [a, b, c]}
  - id: two
    prompt: "{{ words | join(', ') | upper | center(11) }}{{ ('ab' * 3) | replace('a', 'x') }} {{ look ~ '!' }}"
    vars: {words: [a, b, c]}
""",
    )
    assert board.shots[0].prompt == "Image 1 (a tiny fairy) 000    0 Image 1 001    1 Image 1 002    2 1024"
    assert board.shots[1].prompt == "A, B, C  xbxbxb golden hour!"


def test_a_template_that_includes_itself_is_an_error_not_a_crash(project):
    (project.root / "snippets").mkdir()
    (project.root / "snippets" / "loop.txt").write_text("again {% include 'snippets/loop.txt' %}")
    assert problems(project, "  - id: one\n    prompt: \"{% include 'snippets/loop.txt' %}\"\n") == [
        "board.yaml:10:13: shot 'one': the template calls itself without end (a macro or an include that never stops)"
        " (in snippets/loop.txt, line 1)"
    ]


def test_an_included_file_that_is_a_pipe_is_not_opened(project):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    (project.root / "snippets").mkdir()
    os.mkfifo(project.root / "snippets" / "pipe.txt")

    def waited(signum, frame):
        raise AssertionError("the include waited on a named pipe")

    previous = signal.signal(signal.SIGALRM, waited)  # an open() waiting for a writer ends with this
    signal.alarm(10)
    try:
        found = problems(project, "  - id: one\n    prompt: \"{% include 'snippets/pipe.txt' %}\"\n")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert found == ["board.yaml:10:13: shot 'one': include 'snippets/pipe.txt' is a named pipe (FIFO), not a file"]


def test_a_template_does_not_work_on_text_repeated_through_aliases(project):
    text = "x" * 10_000
    many = ", ".join(["*t"] * 150)
    shots = f'  - id: one\n    prompt: "{{{{ many | string | length }}}}"\n    vars: {{one: &t {text}, many: [{many}]}}\n'
    (problem,) = problems(project, shots)
    assert problem == ("board.yaml:10:13: shot 'one': the template builds or works on a value of more than 1,000,000 "
                       "items or characters")


# Undefined names: every one of a prompt in one run, each naming what does exist.

CAN_USE = ": a prompt can use look, title, shot.<field>, cast.<name>; define new variables under vars"


def test_a_misspelt_shot_field_names_the_fields_there_are(project, run_cli):
    project.write(CAST + '  - id: one\n    prompt: "{{ shot.durration }} seconds"\n    seed: 3\n')
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert err.splitlines() == [
        "board.yaml:10:13: shot 'one': shot.durration is undefined (did you mean 'duration'?): the shot's fields are "
        "aspect_ratio, duration, enhance_prompt, id, model, number, resolution, seed, watermark"
    ]


def test_every_undefined_name_of_a_prompt_is_reported_in_one_run(project):
    assert problems(
        project,
        """
  - id: one
    prompt: |
      {{ lok }} at dawn, {{ lok | upper }}{% if lok %} twice{% endif %}.
      {{ shot.durration }} seconds, {{ vars.mood }}.
      {{ cast.fairy.descripton }}
""",
    ) == [
        "board.yaml:12:7: shot 'one': 'lok' is undefined (did you mean 'look'?)" + CAN_USE,
        "board.yaml:13:7: shot 'one': shot.durration is undefined (did you mean 'duration'?): the shot's fields are "
        "aspect_ratio, duration, enhance_prompt, id, model, number, resolution, watermark",
        "board.yaml:13:7: shot 'one': vars.mood is undefined: vars holds look",
        "board.yaml:14:7: shot 'one': cast.fairy.descripton is undefined (did you mean 'description'?): "
        "a cast member gives label, description, name",
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ palette.cool }}", "palette.cool is undefined (did you mean 'cold'?): palette holds cold, warm"),
        ("{{ vars.palette.warm.hue }}", "palette.warm.hue is undefined: palette.warm holds tone"),
        ("{{ look.colour }}", "look has no attribute 'colour': it is the string 'golden hour'"),
        ("{% set m = {'a': 1} %}{{ m.b }}", "no key 'b' in this mapping: it holds a"),
        ("{{ shot['durration'] }}", "shot.durration is undefined (did you mean 'duration'?): the shot's fields are "
                                    "aspect_ratio, duration, enhance_prompt, id, model, number, resolution, watermark"),
    ],
)
def test_an_undefined_key_names_its_mapping_and_what_it_holds(project, template, message):
    shot = f'  - id: one\n    prompt: "{template}"\n    vars: {{palette: {{warm: {{tone: red}}, cold: blue}}}}\n'
    assert problems(project, shot) == [f"board.yaml:10:13: shot 'one': {message}"]


def test_after_an_undefined_name_nothing_it_causes_is_reported(project):
    # The name stands in as an empty value to look for other undefined names; what fails only because
    # of it (arithmetic on it, a loop over it) is not a problem of its own.
    template = "{{ lok }}{% for x in lok %}{{ x.y }}{% endfor %}{{ lok.a.b }}{{ lok + 1 }}{{ other }}"
    assert problems(project, f'  - id: one\n    prompt: "{template}"\n') == [
        "board.yaml:10:13: shot 'one': 'lok' is undefined (did you mean 'look'?)" + CAN_USE,
    ]
