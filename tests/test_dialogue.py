"""Dialogue: `dialogue:` lines reach the prompt (default phrasing, line by line, or appended), attach
their speakers' references, count in the request hash, and are checked at their lines."""
from __future__ import annotations

import pytest

import storyboard
from storyboard.errors import InvalidStoryboard

CAST = """
storyboard: 1
defaults: {duration: 2}
cast:
  raccoon: {video: assets/walk.mp4, description: a grey raccoon}
  fairy: {image: assets/red.png, description: a tiny fairy}
  narrator: {description: an old man's voice}
shots:
"""


def load_shots(project, shots: str):
    return storyboard.load(project.write(CAST + shots))


def prompt(project, shots: str) -> str:
    return load_shots(project, shots).shots[0].prompt


def problems(project, shots: str) -> list[str]:
    with pytest.raises(InvalidStoryboard) as caught:
        load_shots(project, shots)
    return [str(problem) for problem in caught.value.problems]


def test_shot_dialogue_renders_each_line_as_the_cast_mention_says_it(project):
    board = load_shots(project, """
  - id: one
    prompt: "{{ cast.raccoon }} looks up. {{ shot.dialogue }} Golden hour."
    dialogue:
      - {who: fairy, say: "Hold on tight!"}
      - {who: raccoon, say: "Where to?"}
      - {who: fairy, say: "Up!"}
""")
    shot = board.shots[0]
    assert shot.prompt == ('Video 1 (a grey raccoon) looks up. Image 1 (a tiny fairy) says: "Hold on tight!" '
                           'Video 1 says: "Where to?" Image 1 says: "Up!" Golden hour.')
    body = storyboard.plan(board).shots[0].body
    assert body["image_urls"] == ["assets/red.png"]  # the fairy is mentioned through her line only: attached
    assert body["video_urls"] == ["assets/walk.mp4"]


def test_each_line_is_data_for_a_phrasing_of_ones_own(project):
    assert prompt(project, """
  - id: one
    prompt: >-
      A meadow.{% for line in shot.dialogue %} {{ line.who.name | capitalize }} ({{ line.who }}) whispers
      \u201c{{ line.say }}\u201d{% if line.at is not none %} at {{ line.at }} s{% endif %}.{% endfor %}
      {{ shot.dialogue | length }} lines.
    dialogue:
      - {who: fairy, say: "Shh."}
      - {who: narrator, say: "They waited.", at: 1.5}
""") == ("A meadow. Fairy (Image 1 (a tiny fairy)) whispers \u201cShh.\u201d. Narrator (an old man's voice) whispers "
         "\u201cThey waited.\u201d at 1.5 s. 2 lines.")


def test_dialogue_a_prompt_does_not_use_is_appended_as_sentences_of_its_own(project):
    assert prompt(project, """
  - id: one
    prompt: "A meadow at dawn"
    dialogue:
      - {who: fairy, say: "Hold on\\n  tight!"}
""") == 'A meadow at dawn. Image 1 (a tiny fairy) says: "Hold on tight!"'
    assert prompt(project, """
  - id: one
    prompt: |
      {{ cast.fairy }} lands.
      The raccoon runs!
    dialogue:
      - {who: fairy, say: "Hold on tight!"}
""") == 'Image 1 (a tiny fairy) lands.\nThe raccoon runs!\nImage 1 says: "Hold on tight!"'


def test_a_prompt_that_names_the_dialogue_anywhere_takes_charge_of_it(project):
    # Used in a branch that did not run, or only tested: not appended (the prompt chose).
    assert prompt(project, """
  - id: one
    prompt: "A meadow{% if shot.number > 1 %}. {{ shot.dialogue }}{% endif %}"
    dialogue: [{who: fairy, say: "Hi"}]
""") == "A meadow"
    assert prompt(project, """
  - id: one
    prompt: "A meadow{% if not shot['dialogue'] %} in silence{% endif %}"
    dialogue: [{who: fairy, say: "Hi"}]
""") == "A meadow"


def test_an_unknown_speaker_is_an_error_at_its_line_with_a_suggestion(project):
    assert problems(project, """
  - id: one
    prompt: "A meadow. {{ shot.dialogue }}"
    dialogue:
      - {who: fairy, say: "Hello"}
      - {who: racoon, say: "Hi"}
""") == ["board.yaml:13:15: shot 'one': dialogue line 2: unknown cast member 'racoon' (did you mean 'raccoon'?); "
         "cast: raccoon, fairy, narrator"]


def test_template_mistakes_about_dialogue_name_what_there_is(project):
    assert problems(project, """
  - id: one
    prompt: "{% for line in shot.dialogue %}{{ line.sya }}{% endfor %}"
    dialogue: [{who: fairy, say: "Hi"}]
  - id: two
    prompt: "A meadow. {{ shot.dialogue }}"
""") == [
        "board.yaml:10:13: shot 'one': a dialogue line has no 'sya' (did you mean 'say'?): a line gives who, say, at",
        "board.yaml:13:13: shot 'two': shot.dialogue is undefined: shot 'two' has no dialogue: give it `dialogue:` lines, "
        "or test `{% if shot.dialogue is defined %}`",
    ]


def test_the_schema_refuses_a_line_without_words_or_speaker(project):
    found = problems(project, """
  - id: one
    prompt: A meadow
    dialogue:
      - {who: fairy, say: "  "}
      - {say: "Hi", at: -1}
""")
    assert [problem.split(": ", 1)[0] for problem in found] == ["board.yaml:12:27", "board.yaml:13:9", "board.yaml:13:25"]
    assert "must say something" in found[0] and "'who'" in found[1] and "at" in found[2]


def test_a_line_at_a_time_the_film_does_not_show_is_an_error_naming_the_line(project):
    assert problems(project, """
  - id: one
    prompt: A meadow
    duration: 5
    trim: {start: 1, end: 4}
    dialogue:
      - {who: fairy, say: "Too early", at: 0.5}
      - {who: fairy, say: "Fine", at: 2}
      - {who: fairy, say: "Out of order", at: 1.5}
      - {who: raccoon, say: "Too late", at: 4}
  - id: two
    prompt: A meadow
    dialogue: [{who: fairy, say: "Past the end of the shot", at: 2}]
""") == [
        "board.yaml:14:44: shot 'one': dialogue line 1 (\u201cToo early\u201d) is at 0.5 s of the clip, in the part `trim` cuts "
        "off (the film shows it from 1 s); use at least 1, or change the trim",
        "board.yaml:16:47: shot 'one': dialogue line 3 (\u201cOut of order\u201d) is at 1.5 s, not after line 2 (at 2 s); "
        "list the lines in the order they are said",
        "board.yaml:17:45: shot 'one': dialogue line 4 (\u201cToo late\u201d) is at 4 s, at or past the end of the part the "
        "film shows (the trim ends at 4 s); use less than 4, or change the trim",
        "board.yaml:20:66: shot 'two': dialogue line 1 (\u201cPast the end of the shot\u201d) is at 2 s, at or past the end of "
        "the 2 s shot; use less than 2",
    ]


def test_the_request_changes_with_the_words_but_not_with_when_they_are_said(project):
    def request(line: str) -> tuple[str, str]:
        item = storyboard.plan(load_shots(project, f"""
  - id: one
    prompt: A meadow
    dialogue: [{line}]
""")).shots[0]
        return item.hash, item.body["prompt"]

    base = request('{who: fairy, say: "Hold on tight!"}')
    assert request('{who: fairy, say: "Hold on tight!", at: 1}') == base  # subtitles only
    assert request('{who: fairy, say: "Hold on!"}')[0] != base[0]
    assert request('{who: raccoon, say: "Hold on tight!"}')[0] != base[0]


def test_when_the_prompt_prints_the_time_it_is_part_of_the_request(project):
    def request_hash(at: float) -> str:
        return storyboard.plan(load_shots(project, f"""
  - id: one
    prompt: "{{% for line in shot.dialogue %}}At {{{{ line.at }}}} s {{{{ line }}}}{{% endfor %}}"
    dialogue: [{{who: fairy, say: "Now!", at: {at}}}]
""")).shots[0].hash

    assert request_hash(1) != request_hash(1.5)


def test_dialogue_on_footage_makes_subtitles_only(project):
    board = load_shots(project, """
  - id: opening
    clip: assets/walk.mp4
    dialogue: [{who: narrator, say: "Once upon a time", at: 0.5}]
""")
    assert board.shots[0].prompt == "" and storyboard.plan(board).shots[0].body == {}
