"""`storyboard validate`: every problem at once, as FILE:LINE:COL: message, exit 2, no traceback."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

import storyboard

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*/storyboard.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.parent.name)
def test_every_example_validates(example, run_cli):
    code, out, err = run_cli("validate", str(example))
    assert (code, err) == (0, "")
    assert "ok" in out


def errors(run_cli, path: str = "board.yaml") -> list[str]:
    code, out, err = run_cli("validate", path)
    assert code == 2, out + err
    assert "Traceback" not in err
    return err.splitlines()


def test_unknown_field_is_reported_at_its_key_with_a_suggestion(project, run_cli):
    project.write(
        """
        storyboard: 1
        shots:
          - id: a
            promt: a cat
        """
    )
    assert errors(run_cli) == [  # the cause, once: not "needs a prompt" on the line before it
        "board.yaml:4:5: unknown field 'promt' in shot 'a' (did you mean 'prompt'? the shot has no prompt)",
    ]


def test_a_misspelt_required_field_is_said_once_as_the_cause(project, run_cli):
    project.write(
        """
        storyboard: 1
        shot:
          - {ids: a, prompt: x, transition: {typ: fade}}
          - {id: b, prompt: x, vars: {promt: 1}}
        """
    )
    assert errors(run_cli) == [
        "board.yaml:2:1: unknown field 'shot' (did you mean 'shots'? the file has no shots)",
    ]
    project.write(
        """
        storyboard: 1
        shots:
          - {ids: a, prompt: x, transition: {typ: fade}}
          - {id: b, promt: x, prompt_: y}
          - {id: c, prompt: x, promt: y}
        """
    )
    assert errors(run_cli) == [
        "board.yaml:3:6: unknown field 'ids' in shots[0] (did you mean 'id'? the shot has no id)",
        "board.yaml:3:38: unknown field 'typ' in shots[0].transition (did you mean 'type'? shots[0].transition has no type)",
        "board.yaml:4:13: unknown field 'promt' in shot 'b' (did you mean 'prompt'?)",  # the closer one is the cause
        "board.yaml:4:23: unknown field 'prompt_' in shot 'b' (did you mean 'prompt'? the shot has no prompt)",
        "board.yaml:5:24: unknown field 'promt' in shot 'c' (did you mean 'prompt'?)",
    ]


def test_wrong_types_and_ranges_point_at_the_value(project, run_cli):
    project.write(
        """
        storyboard: 1
        defaults:
          duration: five
        shots:
          - id: a
            prompt: a cat
            seed: -1
            enhance_prompt: yes
        """
    )
    assert errors(run_cli) == [
        "board.yaml:3:13: defaults.duration must be a whole number, not the string 'five'",
        "board.yaml:7:11: shot 'a': seed must be at least 0, not -1",
        "board.yaml:8:21: shot 'a': enhance_prompt must be true or false, not the string 'yes'",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- id: a\n", "board.yaml:1:1: a storyboard is a mapping of fields; this file is a list"),
        ("", "board.yaml:1:1: the storyboard is empty"),
        ("# only a comment\n", "board.yaml:1:1: the storyboard is empty"),
        ("storyboard: 2\nshots: []\n", "board.yaml:1:13: unsupported format version 2; this storyboard reads version 1"),
        ("title: x\n", "board.yaml:1:1: missing 'storyboard: 1' (the format version) at the top of the file"),
        ("storyboard: 1\nshots: []\n",
         "board.yaml:2:8: shots must not be empty: a film needs at least one shot, with an id and a prompt"),
    ],
)
def test_whole_file_problems(project, run_cli, text, expected):
    (project.root / "board.yaml").write_text(text)
    assert errors(run_cli) == [expected]


def test_missing_storyboard_file(project, run_cli):
    assert errors(run_cli, "nope.yaml") == ["nope.yaml:1:1: no such file"]


def test_meaning_and_template_problems_are_reported_together(project, run_cli):
    (project.root / "assets" / "fake.png").write_text("<html>not an image</html>")
    project.write(
        """
        storyboard: 1
        cast:
          hero: {image: assets/missing.png}
          villain: {image: assets/fake.png}
          walker: {video: assets/red.png}
        shots:
          - id: a
            prompt: "{{ cast.hero }} meets {{ cast.villain }} and {{ cast.walker }}"
          - id: A
            prompt: "{{ lok }}"
          - id: b
            prompt: x
            first_frame: {shot: c}
          - id: c
            prompt: x
            first_frame: {shot: b}
          - id: d
            prompt: x
            first_frame: {shot: nowhere}
            model: acme/unknown
        """
    )
    assert errors(run_cli) == [
        "board.yaml:3:17: reference image 'assets/missing.png' does not exist",
        "board.yaml:4:20: reference image 'assets/fake.png' is an HTML page, not an image file",
        "board.yaml:5:19: reference video 'assets/red.png' is a PNG image, not a video file",
        "board.yaml:9:9: duplicate shot id 'A' (first used on line 7)",
        "board.yaml:10:13: shot 'A': 'lok' is undefined: a prompt can use title, shot.<field>, cast.<name>; "
        "define new variables under vars",
        "board.yaml:13:25: first_frame cycle: b -> c -> b",
        "board.yaml:19:25: first_frame names unknown shot 'nowhere'",
        "board.yaml:20:12: no model profile for 'acme/unknown' (known: alibaba/wan-2-7-r2v); "
        "add one as models/<name>.yaml next to the storyboard",
    ]


def test_model_limits_come_from_the_profile(project, run_cli):
    project.write(
        """
        storyboard: 1
        defaults:
          aspect_ratio: "21:9"
        shots:
          - id: a
            prompt: x
            duration: 20
            negative_prompt: "{}"
            image_urls: [assets/red.png, assets/red.png, assets/red.png, assets/red.png, assets/red.png, assets/blue.png]
            params: {camera_fixed: true}
        """.replace("{}", "n" * 501)
    )
    assert errors(run_cli) == [
        "board.yaml:3:17: aspect_ratio: '21:9' is not offered by alibaba/wan-2-7-r2v "
        "(choose '16:9', '9:16', '1:1', '4:3', '3:4')",
        "board.yaml:7:15: shot 'a': duration: 20 is out of range for alibaba/wan-2-7-r2v (2 to 15)",
        "board.yaml:8:22: shot 'a': negative_prompt is 501 characters long; alibaba/wan-2-7-r2v takes at most 500",
        "board.yaml:9:17: shot 'a' sends 6 reference images (explicit and from cast mentions); "
        "alibaba/wan-2-7-r2v takes at most 5",
        "board.yaml:10:14: model alibaba/wan-2-7-r2v does not accept the field 'camera_fixed' "
        "(it takes: prompt, first_frame_image, image_urls, video_urls, aspect_ratio, resolution, duration, "
        "enhance_prompt, negative_prompt, seed, watermark)",
    ]


def test_cast_mentions_count_against_the_reference_limit(project, run_cli):
    cast = "\n".join(f"  c{i}: {{image: assets/red.png}}" for i in range(6))
    mentions = " ".join(f"{{{{ cast.c{i} }}}}" for i in range(6))
    (project.root / "board.yaml").write_text(
        f"storyboard: 1\ncast:\n{cast}\nshots:\n  - id: crowd\n    prompt: \"{mentions}\"\n"
    )
    (message,) = errors(run_cli)
    assert message.startswith("board.yaml:11:13: shot 'crowd' sends 6 reference images")


def test_unsupported_url_schemes_are_refused(project, run_cli):
    project.write(
        """
        storyboard: 1
        shots:
          - id: a
            prompt: x
            image_urls: [ftp://example.com/a.png, "data:video/mp4;base64,AAAA"]
        """
    )
    assert errors(run_cli) == [
        "board.yaml:5:18: unsupported URL 'ftp://example.com/a.png': use a local path or an http(s) URL",
        "board.yaml:5:43: data URI is not an image (expected data:image/...)",
    ]


def test_problems_in_a_project_model_profile_name_that_file(project, run_cli):
    (project.root / "models").mkdir(exist_ok=True)
    (project.root / "models" / "acme.yaml").write_text("model: acme/x\nfields: [1, 2]\n")
    project.write("storyboard: 1\nshots: [{id: a, prompt: x}]\n")
    (message,) = errors(run_cli)
    assert message.startswith("models/acme.yaml:2:9: model profile:")


def test_first_frame_time_must_fall_inside_the_other_shot(project, run_cli):
    project.write(
        """
        storyboard: 1
        shots:
          - id: a
            prompt: x
            duration: 5
          - id: b
            prompt: y
            first_frame: {shot: a, at: 5}
        """
    )
    assert errors(run_cli) == ["board.yaml:8:32: first_frame at 5 s is past the end of shot 'a' (5 s long)"]


def test_params_cannot_smuggle_core_fields_and_every_unknown_one_is_named(project, run_cli):
    project.write(
        """
        storyboard: 1
        defaults:
          params: {foo: 1}
        shots:
          - id: a
            prompt: "{{ oops }}"
            params: {model: other/model, first_frame_image: /etc/passwd, bar: 2}
        """
    )
    assert errors(run_cli) == [
        "board.yaml:3:12: model alibaba/wan-2-7-r2v does not accept the field 'foo' (it takes: prompt, "
        "first_frame_image, image_urls, video_urls, aspect_ratio, resolution, duration, enhance_prompt, "
        "negative_prompt, seed, watermark)",
        "board.yaml:6:13: shot 'a': 'oops' is undefined: a prompt can use title, shot.<field>, cast.<name>; "
        "define new variables under vars",
        "board.yaml:7:14: params.model: set 'model' as a field of its own, not under params",
        "board.yaml:7:34: params.first_frame_image: set 'first_frame_image' as a field of its own, not under params",
        "board.yaml:7:66: model alibaba/wan-2-7-r2v does not accept the field 'bar' (it takes: prompt, "
        "first_frame_image, image_urls, video_urls, aspect_ratio, resolution, duration, enhance_prompt, "
        "negative_prompt, seed, watermark)",
    ]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("assets/walk.mp4", "output.path 'assets/walk.mp4' is a reference video of cast member 'walker'; the film would "
                            "overwrite it. Name another file, e.g. renders/board.mp4"),
        (".storyboard/film.mp4", "output.path may not be inside .storyboard/, storyboard's own state"),
        ("assets/red.png/film.mp4", "output.path: 'red.png' is a file, not a folder"),
        ("film.mov", "output.path: 'film.mov' must end in .mp4: the film is written as an MP4 file (e.g. renders/film.mp4)"),
    ],
)
def test_output_path_never_overwrites_inputs(project, run_cli, path, message):
    project.write(
        f"""
        storyboard: 1
        cast: {{walker: {{video: assets/walk.mp4}}}}
        shots: [{{id: a, prompt: "{{{{ cast.walker }}}}"}}]
        output: {{path: "{path}"}}
        """
    )
    (line,) = errors(run_cli)
    assert line.startswith("board.yaml:4:") and line.endswith(message)


def test_nonsense_numbers_and_characters_are_input_errors(project, run_cli):
    project.write(
        """
        storyboard: 1
        defaults: &d {duration: 3, <<: *d}
        shots: [{id: a, prompt: x}]
        """
    )
    assert errors(run_cli) == ["board.yaml:2:11: recursive merge: a mapping cannot merge itself"]
    (project.root / "board.yaml").write_bytes(b'storyboard: 1\nshots: [{id: a, prompt: "hi\x01"}]\n')
    assert errors(run_cli) == ["board.yaml:2:28: invalid YAML: control character #x0001 is not allowed"]
    project.write("storyboard: 1\nshots: [{id: a, prompt: x, first_frame: {shot: b, at: .nan}}, {id: b, prompt: y}]\n")
    assert errors(run_cli) == ["board.yaml:2:55: shot 'a': first_frame.at: nan is not a finite number"]


def test_broken_project_model_profiles_are_all_reported_where_they_are_wrong(project, run_cli):
    (project.root / "models").mkdir(exist_ok=True)
    (project.root / "models" / "a.yaml").write_text(
        "model: a/b\nfields:\n  prompt: {type: strin}\n  aspect_ratio: {default: wide}\n"
        "references: {labels: {}, mention: x}\nbogus: 1\n"
    )
    (project.root / "models" / "c.yaml").write_text("model: c/d\nfields: {prompt: {}}\nreferences: {labels: {}, mention: x}\n"
                                                     "pricing: {usd_per_second: {720p: .nan}}\n")
    (project.root / "models" / "folder.yaml").mkdir()
    project.write("storyboard: 1\nshots: [{id: a, prompt: x}]\n")
    found = errors(run_cli)
    assert found[2].startswith("models/a.yaml:6:1: model profile: unknown field 'bogus': the top level takes model, ")
    assert found[:2] + found[3:] == [
        "models/a.yaml:3:18: model profile: field 'prompt': 'strin' is not valid under any of the given schemas",
        "models/a.yaml:4:27: model profile: default of 'aspect_ratio': 'wide' does not match '^[0-9]+:[0-9]+$'",
        "models/c.yaml:4:34: pricing.usd_per_second.720p: nan is not a finite number",
    ]


def test_schema_errors_in_one_shot_do_not_hide_problems_elsewhere(project, run_cli):
    project.write(
        """
        storyboard: 1
        cast: {fairy: {image: assets/nope.png}}
        shots:
          - {id: a, prompt: x, seed: -1}
          - {id: b, prompt: "{{ cast.fairy }}", first_frame: {shot: a}}
          - {id: b, prompt: "x", duration: 99}
          - just a string
        """
    )
    assert errors(run_cli) == [
        "board.yaml:2:23: reference image 'assets/nope.png' does not exist",
        "board.yaml:4:30: shot 'a': seed must be at least 0, not -1",
        "board.yaml:6:10: duplicate shot id 'b' (first used on line 5)",
        "board.yaml:6:36: shot 'b': duration: 99 is out of range for alibaba/wan-2-7-r2v (2 to 15)",
        "board.yaml:7:5: shots[3] must be a mapping, not the string 'just a string'",
    ]


def test_a_duplicate_id_shows_with_the_schema_errors_of_the_shot_that_repeats_it(project, run_cli):
    project.write(
        """
        storyboard: 1
        shots:
          - id: a
            prompt: x
          - id: a
            promt: y
          - {id: b, prompt: x, seed: -1}
          - {id: B, prompt: x}
          - {id: my shot, prompt: x}
          - {id: my shot, prompt: x}
        """
    )
    assert errors(run_cli) == [
        "board.yaml:5:9: duplicate shot id 'a' (first used on line 3)",
        "board.yaml:6:5: unknown field 'promt' in shot 'a' (did you mean 'prompt'? the shot has no prompt)",
        "board.yaml:7:30: shot 'b': seed must be at least 0, not -1",
        "board.yaml:8:10: duplicate shot id 'B' (first used on line 7)",
        "board.yaml:9:10: shots[4].id: 'my shot' must be letters, digits, '_', '.' and '-', starting with a letter or "
        "digit (e.g. shot-010); 'my_shot' would do",
        "board.yaml:10:10: shots[5].id: 'my shot' must be letters, digits, '_', '.' and '-', starting with a letter or "
        "digit (e.g. shot-010); 'my_shot' would do",
    ]


def test_a_missing_file_suggests_the_one_in_its_folder_it_likely_means(project, run_cli):
    (project.root / "assets" / "red.psd").write_bytes(b"")  # the same name too, but not a format models read
    project.write(
        """
        storyboard: 1
        cast: {fairy: {image: assets/red.jpg}}
        shots:
          - {id: a, prompt: x, image_urls: [./assets/bleu.png, assets/green.png, nowhere/red.png]}
          - {id: b, clip: assets/walk.mov}
        """
    )
    assert errors(run_cli) == [
        "board.yaml:2:23: reference image 'assets/red.jpg' does not exist (did you mean 'assets/red.png'?)",
        "board.yaml:4:37: reference image './assets/bleu.png' does not exist (did you mean './assets/blue.png'?)",
        "board.yaml:4:56: reference image 'assets/green.png' does not exist",
        "board.yaml:4:74: reference image 'nowhere/red.png' does not exist",
        "board.yaml:5:19: clip 'assets/walk.mov' does not exist (did you mean 'assets/walk.mp4'?)",
    ]


# Issue #9: the film never overwrites an input, and malformed input is an input error (exit 2, FILE:LINE:COL).


def _board_with_output(project, path: str, extra: str = "", prompt: str = "x") -> None:
    project.write(
        "storyboard: 1\n"
        "shots:\n"
        "  - {id: title, clip: assets/walk.mp4}\n"
        f"  - {{id: a, prompt: \"{prompt}\"}}\n"
        f"output:\n  path: \"{path}\"\n{extra}"
    )


@pytest.mark.parametrize(
    ("setup", "path", "extra", "prompt", "what"),
    [
        ("", "assets/walk.mp4", "", "x", "the clip of shot 'title'"),
        ("", "./assets/../assets/./walk.mp4", "", "x", "the clip of shot 'title'"),
        ("link", "film.mp4", "", "x", "the clip of shot 'title'"),
        ("music", "assets/theme.mp4", "  audio: {music: {path: assets/theme.mp4}}\n", "x", "the soundtrack"),
        ("snippet", "snippets/style.mp4", "", "{% include 'snippets/style.mp4' %}",
         "the template snippet 'snippets/style.mp4' a prompt includes"),
        ("profile", "film.mp4", "", "x", "the model profile models/wan.yaml"),
        ("lock", "film.mp4", "", "x", "storyboard.lock, the record of generated clips"),
        ("self", "film.mp4", "", "x", "the storyboard file itself"),
    ],
)
def test_output_path_may_be_no_input_at_all(project, run_cli, setup, path, extra, prompt, what):
    root = project.root
    if setup == "link":
        (root / "film.mp4").symlink_to(root / "assets" / "walk.mp4")
    elif setup == "music":
        shutil.copy(EXAMPLES[0].parent.parent / "raccoon-and-fairy" / "assets" / "theme.m4a", root / "assets" / "theme.mp4")
    elif setup == "snippet":
        (root / "snippets").mkdir()
        (root / "snippets" / "style.mp4").write_text("neon rain")
    elif setup == "profile":
        (root / "models").mkdir(exist_ok=True)
        (root / "models" / "wan.yaml").write_text("model: alibaba/wan-2-7-r2v\npricing: {usd_per_second: {720p: 1}}\n")
        (root / "film.mp4").symlink_to(root / "models" / "wan.yaml")
    elif setup == "lock":
        (root / "storyboard.lock").write_text("{}\n")
        (root / "film.mp4").symlink_to(root / "storyboard.lock")
    _board_with_output(project, path, extra, prompt)
    if setup == "self":
        (root / "film.mp4").symlink_to(root / "board.yaml")
    (line,) = errors(run_cli)
    assert line.startswith("board.yaml:6:9: output.path ")
    assert f"is {what}; the film would overwrite it" in line


def test_output_path_next_to_its_inputs_is_fine(project, run_cli):
    _board_with_output(project, "renders/film.mp4")
    code, _, err = run_cli("validate", "board.yaml")
    assert (code, err) == (0, ""), err


@pytest.mark.parametrize(
    ("shots", "output", "expected"),
    [
        ("[{id: a, prompt: x}]", 'output: {path: "a\\0.mp4"}',
         "board.yaml:3:16: output.path contains a NUL character; file names cannot"),
        ('[{id: a, clip: "a\\0.mp4"}]', "", "board.yaml:2:23: clip 'a\\x00.mp4' contains a NUL character; file names cannot"),
        ('[{id: a, prompt: x, image_urls: ["a\\0.png"]}]', "",
         "board.yaml:2:41: reference image 'a\\x00.png' contains a NUL character; file names cannot"),
        ('[{id: a, prompt: x, first_frame_image: "a\\0.png"}]', "",
         "board.yaml:2:47: reference image 'a\\x00.png' contains a NUL character; file names cannot"),
        ("[{id: a, prompt: x}]", 'output: {audio: {music: {path: "a\\0.mp3"}}}',
         "board.yaml:3:32: soundtrack 'a\\x00.mp3' contains a NUL character; file names cannot"),
        ('[{id: a, prompt: "{% include name %}", vars: {name: "a\\0.txt"}}]', "",
         "board.yaml:2:25: shot 'a': include: no file 'a\\x00.txt' inside the project folder"),
    ],
)
def test_a_nul_character_in_a_path_is_an_input_error(project, run_cli, shots, output, expected):
    (project.root / "board.yaml").write_text(f"storyboard: 1\nshots: {shots}\n{output}\n")
    assert expected in errors(run_cli)


@pytest.mark.parametrize(
    ("shot", "expected"),
    [
        ("{id: {a: 1}, prompt: x}", "board.yaml:2:10: shots[0].id must be a string, not a mapping"),
        ("{id: [1], prompt: x}", "board.yaml:2:10: shots[0].id must be a string, not a list"),
        ("{id: b, prompt: x, first_frame: {shot: {a: 1}}}", "board.yaml:2:44: shot 'b': first_frame.shot must be a string, "
                                                            "not a mapping"),
    ],
)
def test_a_shot_id_of_the_wrong_type_is_an_input_error(project, run_cli, shot, expected):
    (project.root / "board.yaml").write_text(f"storyboard: 1\nshots:\n  - {shot}\n  - {{id: c, prompt: y}}\n")
    assert expected.replace("2:", "3:", 1) in errors(run_cli)


def test_a_number_too_long_to_read_is_an_input_error(project, run_cli):
    (project.root / "board.yaml").write_text("storyboard: 1\nshots: [{id: a, prompt: x, seed: " + "9" * 4301 + "}]\n")
    (line,) = errors(run_cli)
    assert line == ("board.yaml:2:34: a number of 4,301 digits is too long (at most 4,000 decimal digits); "
                    "put it in quotes if it is text")


def test_a_device_is_refused_without_reading_it(run_cli):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    assert errors(run_cli, "/dev/zero") == [
        "/dev/zero:1:1: is a device, not a file; give the path of the storyboard's YAML file"
    ]


def _fifo(path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    os.mkfifo(path)
    return path


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(project, run_cli):
    fifo = _fifo(project.root / "board.yaml")
    done, rescued = threading.Event(), []

    def rescue() -> None:  # if validate waits for a writer, be one, so that the test fails instead of hanging
        if not done.wait(10):
            rescued.append(True)
            with open(fifo, "w"):
                pass

    watchdog = threading.Thread(target=rescue)
    watchdog.start()
    try:
        code, _, err = run_cli("validate", "board.yaml")
    finally:
        done.set()
        watchdog.join()
    assert not rescued, "validate waited on a named pipe"
    assert (code, err) == (2, "board.yaml:1:1: is a named pipe (FIFO), not a file; give the path of the storyboard's YAML file\n")


def test_references_and_clips_that_are_pipes_or_devices_are_not_opened(project, run_cli):
    _fifo(project.root / "assets" / "pipe.png")
    project.write(
        """
        storyboard: 1
        shots:
          - {id: a, clip: assets/pipe.png}
          - {id: b, prompt: x, image_urls: [assets/pipe.png, /dev/null]}
        """
    )
    assert errors(run_cli) == [
        "board.yaml:3:19: clip 'assets/pipe.png' is a named pipe (FIFO), not a file",
        "board.yaml:4:37: reference image 'assets/pipe.png' is a named pipe (FIFO), not a file",
        "board.yaml:4:54: reference image '/dev/null' is a device, not a file",
    ]


@pytest.mark.parametrize("character", ["\u0085", "\u2028", "\u2029"])
def test_unicode_line_separators_do_not_move_line_numbers(project, run_cli, character):
    (project.root / "board.yaml").write_text(
        f"storyboard: 1\n# a note{character}with a separator\nshots:\n"
        f"  - id: a\n    prompt: \"one{character}two\"\n    seed: -1\n",
        encoding="utf-8",
    )
    assert errors(run_cli) == ["board.yaml:6:11: shot 'a': seed must be at least 0, not -1"]
    (project.root / "board.yaml").write_text(
        f"storyboard: 1\nshots:\n  - id: a\n    prompt: one{character}two\n", encoding="utf-8"
    )
    board = storyboard.load("board.yaml")
    assert board.shots[0].prompt == f"one{character}two"  # YAML 1.2: an ordinary character, kept as written


def test_model_profile_labels_take_only_their_own_placeholders(project, run_cli):
    (project.root / "models").mkdir(exist_ok=True)
    (project.root / "models" / "wan.yaml").write_text(
        'model: alibaba/wan-2-7-r2v\nreferences:\n  labels: {image: "Image {n:>999999999}", video: "Video {n.real}"}\n'
        '  mention: "{label} ({description!r})"\n')
    project.write("storyboard: 1\ncast: {fairy: {image: assets/red.png}}\nshots: [{id: a, prompt: '{{ cast.fairy }}'}]\n")
    assert errors(run_cli) == [
        "models/wan.yaml:3:19: model profile: references.labels.image: only {n} may appear in braces (write {{ for a brace)",
        "models/wan.yaml:3:50: model profile: references.labels.video: only {n} may appear in braces (write {{ for a brace)",
        "models/wan.yaml:4:12: model profile: references.mention: only {label} and {description} may appear in braces "
        "(write {{ for a brace)",
    ]


def test_thousands_of_shots_are_checked_in_linear_time(project, run_cli):
    import time

    count = 4000
    chain = "".join(f"  - {{id: s{i}, prompt: x, first_frame: {{shot: s{(i + 1) % count}, at: 1}}}}\n" for i in range(count))
    unknown = "".join(f"  - {{id: u{i}, prompt: x, first_frame: {{shot: z{i}}}}}\n" for i in range(count))
    (project.root / "board.yaml").write_text(f"storyboard: 1\nshots:\n{chain}{unknown}")
    started = time.monotonic()
    found = errors(run_cli)
    assert time.monotonic() - started < 30
    assert found[0] == "board.yaml:3:45: first_frame cycle: s0 -> s1 -> s2 -> s3 -> s4 -> ... (3995 more) -> s0"
    assert len(found) == 1 + count and found[-1].endswith(f"first_frame names unknown shot 'z{count - 1}'")


# A new user's first hour: every problem of every section in one run, each message saying what is
# wrong and what to write instead.

UNDEFINED = ": a prompt can use {}title, shot.<field>, cast.<name>; define new variables under vars"


def test_a_typo_in_the_cast_hides_nothing_else(project, run_cli):
    project.write(
        """
        storyboard: 1
        cast:
          fairy:
            image: assets/red.png
            descripton: a tiny fairy
        shots:
          - id: opening
            prompt: "{{ cast.fairy }} in a forest, {{ lok }}, {{ shot.durration }} s"
            duration: 16
          - id: landing
            prompt: "{{ cast.fairy }} lands"
            resolution: 4k
        output:
          path: film.mov
          resolution: 4k
        """
    )
    assert errors(run_cli) == [
        "board.yaml:5:5: unknown field 'descripton' in cast.fairy (did you mean 'description'?)",
        "board.yaml:8:13: shot 'opening': 'lok' is undefined" + UNDEFINED.format(""),
        "board.yaml:8:13: shot 'opening': shot.durration is undefined (did you mean 'duration'?): the shot's fields are "
        "aspect_ratio, duration, enhance_prompt, id, model, number, resolution, watermark",
        "board.yaml:9:15: shot 'opening': duration: 16 is out of range for alibaba/wan-2-7-r2v (2 to 15)",
        "board.yaml:12:17: shot 'landing': resolution: '4k' is not offered by alibaba/wan-2-7-r2v (choose '720p', '1080p')",
        "board.yaml:14:9: output.path: 'film.mov' must end in .mp4: the film is written as an MP4 file "
        "(e.g. renders/film.mp4)",
        "board.yaml:15:15: output.resolution: '4k' is not one of '480p', '720p', '1080p'",
    ]


def test_problems_in_every_section_are_reported_together(project, run_cli):
    project.write(
        """
        storyboard: 1
        title: [not, a, title]
        publish: {s3: {bucket: ""}}
        render: {jobs: 0}
        output: {audio: {music: {volume: 9}}, fps: .nan}
        cast: {fairy: {image: assets/nope.png}}
        shots:
          - id: a
            prompt: "{{ title }} {{ lok }}"
            trim: {start: -1}
            transition: {type: wipe}
          - id: b
            prompt: "{{ cast.fairy }}"
            first_frame: {shot: a, at: middle}
        """
    )
    assert errors(run_cli) == [
        "board.yaml:2:8: title must be a string, not a list",
        "board.yaml:3:24: publish.s3.bucket must not be empty",
        "board.yaml:4:16: render.jobs must be at least 1, not 0",
        "board.yaml:5:25: output.audio.music is missing the required field 'path'",
        "board.yaml:5:34: output.audio.music.volume must be at most 4, not 9",
        "board.yaml:5:44: output.fps: nan is not a finite number",
        "board.yaml:6:23: reference image 'assets/nope.png' does not exist",
        "board.yaml:9:13: shot 'a': 'lok' is undefined" + UNDEFINED.format(""),
        "board.yaml:10:19: shot 'a': trim.start must be at least 0, not -1",
        "board.yaml:11:24: shot 'a': transition.type: 'wipe' is not one of 'cut', 'crossfade', 'fade'",
        "board.yaml:14:32: shot 'b': first_frame.at must be start, end or a time in seconds (e.g. 2.5), not 'middle'",
    ]


def test_a_refused_field_leaves_out_only_the_checks_that_depend_on_it(project, run_cli):
    project.write(
        """
        storyboard: 1
        shots:
          - id: seeded
            prompt: "seed {{ shot.seed }}, {{ lok }}"
            seed: -1
            image_urls: [assets/nope.png]
          - id: timed
            prompt: "{{ shot.duration }} s, {{ lok }}"
            duration: five
            image_urls: [assets/nope.png]
          - id: nameless
            prompt: [a, list]
            image_urls: [assets/nope.png]
          - id: next
            prompt: x
            first_frame: {shot: timed}
        """
    )
    assert errors(run_cli) == [
        # A refused seed is left out (the prompt shows it as written): everything else is checked.
        "board.yaml:4:13: shot 'seeded': 'lok' is undefined" + UNDEFINED.format(""),
        "board.yaml:5:11: shot 'seeded': seed must be at least 0, not -1",
        "board.yaml:6:18: reference image 'assets/nope.png' does not exist",
        # Without its duration the shot's timing and references would be judged on another one:
        # only its prompt is expanded, and the shot taking its first frame does not call it unknown.
        "board.yaml:8:13: shot 'timed': 'lok' is undefined" + UNDEFINED.format(""),
        "board.yaml:9:15: shot 'timed': duration must be a whole number, not the string 'five'",
        # Without a prompt there is nothing of the shot left to check.
        "board.yaml:12:13: shot 'nameless': prompt must be a string, not a list",
    ]


@pytest.mark.parametrize(
    ("section", "shot", "expected"),
    [
        # vars refused: any name a prompt uses may have been there, so prompts are not expanded.
        ("vars: [look]", "{id: a, prompt: '{{ look }}', image_urls: [assets/nope.png]}",
         ["board.yaml:2:7: vars must be a mapping, not a list",
          "board.yaml:3:52: reference image 'assets/nope.png' does not exist"]),
        # cast refused: any member may be mentioned; the prompt's other problems still show.
        ("cast: [fairy]", "{id: a, prompt: '{{ cast.fairy }} {{ lok }}'}",
         ["board.yaml:2:7: cast must be a mapping, not a list",
          "board.yaml:3:25: shot 'a': 'lok' is undefined" + UNDEFINED.format("")]),
        # one member refused: it may still be mentioned by name.
        ("cast: {fairy: assets/red.png, my-bird: {image: assets/red.png}}",
         "{id: a, prompt: '{{ cast.fairy }} {{ lok }}'}",
         ["board.yaml:2:15: cast.fairy must be a mapping, not the string 'assets/red.png'",
          "board.yaml:2:31: cast name 'my-bird' must be letters, digits and underscores, not starting with a digit, "
          "for templates to name it (e.g. red_fox); 'my_bird' would do",
          "board.yaml:3:25: shot 'a': 'lok' is undefined" + UNDEFINED.format("")]),
        # a refused default: shots that inherit it are treated as if they had written it.
        ("defaults: {duration: five, seed: -1}",
         "{id: a, prompt: '{{ shot.seed }} {{ lok }}', image_urls: [assets/nope.png]}",
         ["board.yaml:2:22: defaults.duration must be a whole number, not the string 'five'",
          "board.yaml:2:34: defaults.seed must be at least 0, not -1",
          "board.yaml:3:25: shot 'a': 'lok' is undefined" + UNDEFINED.format("")]),
    ],
)
def test_a_refused_section_holds_back_only_what_needs_it(project, run_cli, section, shot, expected):
    (project.root / "board.yaml").write_text(f"storyboard: 1\n{section}\nshots: [{shot}]\n")
    assert errors(run_cli) == expected


def test_broken_model_profiles_and_schema_problems_show_together(project, run_cli):
    (project.root / "models" / "wan.yaml").write_text("model: alibaba/wan-2-7-r2v\nbogus: 1\n")
    project.write("storyboard: 1\nshots: [{id: a, prompt: x, seed: -1}]\n")
    found = errors(run_cli)
    assert found[0] == "board.yaml:2:34: shot 'a': seed must be at least 0, not -1"
    assert found[1].startswith("models/wan.yaml:2:1: model profile: unknown field 'bogus': the top level takes model, ")
    assert len(found) == 2


@pytest.mark.parametrize(
    ("shot", "expected"),
    [
        ("{id: a, prompt: x, resolution: 4k}",
         "shot 'a': resolution: '4k' is not offered by alibaba/wan-2-7-r2v (choose '720p', '1080p')"),
        ("{id: a, prompt: x, resolution: 1080}",
         "shot 'a': resolution must be a string, not the number 1080 (choose '720p', '1080p'; did you mean '1080p'?)"),
        ("{id: a, prompt: x, aspect_ratio: 16/9}",
         "shot 'a': aspect_ratio: '16/9' is not offered by alibaba/wan-2-7-r2v "
         "(choose '16:9', '9:16', '1:1', '4:3', '3:4'; did you mean '16:9'?)"),
        ("{id: a, prompt: x, fit: cove}", "shot 'a': fit: 'cove' is not one of 'contain', 'cover' (did you mean 'cover'?)"),
        ("{id: my shot, prompt: x}", "shots[0].id: 'my shot' must be letters, digits, '_', '.' and '-', starting with a "
                                     "letter or digit (e.g. shot-010); 'my_shot' would do"),
        ("{prompt: x}", "shots[0] is missing the required field 'id'; add it, e.g. id: forest"),
        ("{id: a}", "shot 'a' needs a prompt (what to generate), or a clip (existing footage to use as it is)"),
        ("{id: a, prompt: x, transition: fade}",
         "shot 'a': transition must be a mapping like {type: fade, duration: 0.5}, not the string 'fade'"),
        ("{id: a, prompt: x, transition: wipe}", "shot 'a': transition must be a mapping, not the string 'wipe'"),
        ("{id: a, prompt: x, colour: red}", "unknown field 'colour' in shot 'a': shot 'a' takes id, prompt, clip, trim, "
                                            "fit, vars, first_frame, takes, take, hold, transition, sound, dialogue, model, "
                                            "first_frame_image, image_urls, video_urls, aspect_ratio, resolution, duration, "
                                            "enhance_prompt, "
                                            "negative_prompt, seed, watermark, params, still"),
    ],
)
def test_schema_messages_name_the_shot_and_say_what_to_write(project, run_cli, shot, expected):
    (project.root / "board.yaml").write_text(f"storyboard: 1\nshots:\n  - {shot}\n")
    (line,) = errors(run_cli)
    assert line.split(": ", 1)[1] == expected


def test_a_model_without_listed_values_gets_the_rule_instead(project, run_cli):
    (project.root / "models" / "free.yaml").write_text(
        "model: acme/free\nfields: {prompt: {type: string}, resolution: {type: string}}\n"
        "references: {labels: {image: 'Image {n}'}, mention: '{label}'}\n")
    project.write("storyboard: 1\ndefaults: {model: acme/free, resolution: 4k}\nshots: [{id: a, prompt: x}]\n")
    assert errors(run_cli) == [
        "board.yaml:2:42: defaults.resolution: '4k' must be the short side of the frame in pixels followed by p "
        "(e.g. 720p)",
    ]


# `x-` keys: the user's own, for anchors to merge with `<<`.


def test_top_level_x_keys_hold_anchors_that_shots_merge(project, run_cli):
    project.write(
        """
        storyboard: 1
        x-night: &night
          resolution: 1080p
          seed: 7
        x-notes: {anything: [at, all], even: .nan}
        shots:
          - id: alley
            <<: *night
            prompt: "A neon alley, seed {{ shot.seed }}"
          - id: roof
            <<: *night
            seed: 8
            prompt: "A rooftop, seed {{ seed }}"
        """
    )
    code, _, err = run_cli("validate", "board.yaml")
    assert (code, err) == (0, ""), err
    board = storyboard.load("board.yaml")
    assert [(shot.prompt, shot.fields["resolution"]) for shot in board.shots] == [
        ("A neon alley, seed 7", "1080p"), ("A rooftop, seed 8", "1080p")]


def test_a_problem_in_a_merged_mapping_points_at_its_line_and_names_the_merge(project, run_cli):
    project.write(
        """
        storyboard: 1
        x-base: &base
          resolution: 4k
          durration: 5
        shots:
          - id: alley
            <<: *base
            prompt: x
          - id: roof
            prompt: x
            <<: *base
            resolution: 720p
        """
    )
    assert errors(run_cli) == [
        "board.yaml:3:15: shot 'alley': resolution: '4k' is not offered by alibaba/wan-2-7-r2v (choose '720p', '1080p') "
        "(merged in by '<<' on line 7)",
        "board.yaml:4:3: unknown field 'durration' in shot 'alley' (did you mean 'duration'?) "
        "(merged in by '<<' on line 7)",
        "board.yaml:4:3: unknown field 'durration' in shot 'roof' (did you mean 'duration'?) "
        "(merged in by '<<' on line 11)",
    ]


def test_an_unknown_top_level_field_says_how_to_keep_one_of_your_own(project, run_cli):
    project.write("storyboard: 1\nbase: &base {seed: 1}\nshots: [{id: a, prompt: x}]\n")
    assert errors(run_cli) == [
        "board.yaml:2:1: unknown field 'base': the top level takes storyboard, title, vars, variants, defaults, cast, shots, "
        "output, publish, render, cache; a field of your own (an anchor to merge with <<, say) must start with x-, e.g. x-base",
    ]


def test_thousands_of_shots_with_schema_problems_are_checked_in_linear_time(project, run_cli):
    import time

    count = 4000
    shots = "".join(f"  - {{id: s{i}, prompt: '{{{{ lok }}}}', seed: -1}}\n" for i in range(count))
    (project.root / "board.yaml").write_text(f"storyboard: 1\nshots:\n{shots}")
    started = time.monotonic()
    found = errors(run_cli)
    assert time.monotonic() - started < 30
    assert len(found) == 2 * count
    assert found[:2] == ["board.yaml:3:22: shot 's0': 'lok' is undefined" + UNDEFINED.format(""),
                         "board.yaml:3:41: shot 's0': seed must be at least 0, not -1"]
