"""`storyboard validate`: every problem at once, as FILE:LINE:COL: message, exit 2, no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

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
    assert errors(run_cli) == [
        "board.yaml:3:5: shots[0] is missing the required field 'prompt'",
        "board.yaml:4:5: unknown field 'promt' in shots[0] (did you mean 'prompt'?)",
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
        "board.yaml:7:11: shots[0].seed: -1 is less than the minimum of 0",
        "board.yaml:8:21: shots[0].enhance_prompt must be true or false, not the string 'yes'",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- id: a\n", "board.yaml:1:1: a storyboard is a mapping of fields; this file is a list"),
        ("", "board.yaml:1:1: the storyboard is empty"),
        ("# only a comment\n", "board.yaml:1:1: the storyboard is empty"),
        ("storyboard: 2\nshots: []\n", "board.yaml:1:13: unsupported format version 2; this storyboard reads version 1"),
        ("title: x\n", "board.yaml:1:1: missing 'storyboard: 1' (the format version) at the top of the file"),
        ("storyboard: 1\nshots: []\n", "board.yaml:2:8: shots: [] should be non-empty"),
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
        "board.yaml:10:13: shot 'A': 'lok' is undefined",
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
    (project.root / "models").mkdir()
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
        "board.yaml:6:13: shot 'a': 'oops' is undefined",
        "board.yaml:7:14: params.model: set 'model' as a field of its own, not under params",
        "board.yaml:7:34: params.first_frame_image: set 'first_frame_image' as a field of its own, not under params",
        "board.yaml:7:66: model alibaba/wan-2-7-r2v does not accept the field 'bar' (it takes: prompt, "
        "first_frame_image, image_urls, video_urls, aspect_ratio, resolution, duration, enhance_prompt, "
        "negative_prompt, seed, watermark)",
    ]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("assets/walk.mp4", "output.path 'walk.mp4' is one of the storyboard's inputs; the film would overwrite it"),
        (".storyboard/film.mp4", "output.path may not be inside .storyboard/, storyboard's own state"),
        ("assets/red.png/film.mp4", "output.path: 'red.png' is a file, not a folder"),
        ("film.mov", "output.path: 'film.mov' is not valid. Where the film is written (an .mp4 file), relative to "
                     "the storyboard file. Default: renders/<file name>.mp4."),
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
    assert errors(run_cli) == ["board.yaml:2:55: shots[0].first_frame.at: nan is not a finite number"]


def test_broken_project_model_profiles_are_all_reported_where_they_are_wrong(project, run_cli):
    (project.root / "models").mkdir()
    (project.root / "models" / "a.yaml").write_text(
        "model: a/b\nfields:\n  prompt: {type: strin}\n  aspect_ratio: {default: wide}\n"
        "references: {labels: {}, mention: x}\nbogus: 1\n"
    )
    (project.root / "models" / "c.yaml").write_text("model: c/d\nfields: {prompt: {}}\nreferences: {labels: {}, mention: x}\n"
                                                     "pricing: {usd_per_second: {720p: .nan}}\n")
    (project.root / "models" / "folder.yaml").mkdir()
    project.write("storyboard: 1\nshots: [{id: a, prompt: x}]\n")
    assert errors(run_cli) == [
        "models/a.yaml:3:18: model profile: field 'prompt': 'strin' is not valid under any of the given schemas",
        "models/a.yaml:4:27: model profile: default of 'aspect_ratio': 'wide' does not match '^[0-9]+:[0-9]+$'",
        "models/a.yaml:6:1: model profile: unknown field 'bogus'",
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
        "board.yaml:4:30: shots[0].seed: -1 is less than the minimum of 0",
        "board.yaml:6:10: duplicate shot id 'b' (first used on line 5)",
        "board.yaml:6:36: shot 'b': duration: 99 is out of range for alibaba/wan-2-7-r2v (2 to 15)",
        "board.yaml:7:5: shots[3] must be a mapping, not the string 'just a string'",
    ]
