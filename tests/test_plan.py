from __future__ import annotations

import json
import shutil

import storyboard

BOARD = """
storyboard: 1
defaults: {resolution: 720p, duration: 5}
cast:
  hero: {image: assets/red.png, description: a red square}
shots:
  - id: one
    prompt: "{{ cast.hero }} rolls"
    seed: 1
  - id: two
    prompt: it stops
    first_frame: {shot: one, at: end}
    seed: 2
  - id: three
    prompt: credits
    seed: 3
"""


def hashes(project, text: str = BOARD) -> dict[str, str]:
    return {item.id: item.hash for item in storyboard.plan(storyboard.load(project.write(text))).shots}


def test_plan_is_deterministic_and_json_is_stable(project, run_cli):
    project.write(BOARD)
    first = run_cli("plan", "board.yaml", "--json")
    second = run_cli("plan", "board.yaml", "--json")
    assert first == second and first[0] == 0
    plan = json.loads(first[1])
    one, two, _three = plan["shots"]
    assert one["body"] == {
        "model": "alibaba/wan-2-7-r2v",
        "prompt": "Image 1 (a red square) rolls",
        "image_urls": ["assets/red.png"],
        "resolution": "720p",
        "duration": 5,
        "seed": 1,
    }
    assert two["depends_on"] == ["one"] and two["body"]["first_frame_image"] == "frame:one@end"
    assert one["estimated_usd"] == 0.65  # 5 s x 0.13 USD/s at 720p, from the model profile
    assert plan["missing"] == ["one", "two", "three"] and plan["missing_usd"] == 1.95
    assert one["references"][0]["sha256"] and len(one["hash"]) == 64


def test_hash_follows_content_not_names(project):
    before = hashes(project)
    shutil.move(project.root / "assets" / "red.png", project.root / "assets" / "renamed.png")
    renamed = hashes(project, BOARD.replace("assets/red.png", "assets/renamed.png").replace("id: three", "id: finale"))
    assert renamed == {"one": before["one"], "two": before["two"], "finale": before["three"]}

    (project.root / "assets" / "renamed.png").write_bytes((project.root / "assets" / "blue.png").read_bytes())
    changed = hashes(project, BOARD.replace("assets/red.png", "assets/renamed.png"))
    assert changed["one"] != before["one"]
    assert changed["two"] != before["two"]  # its first frame comes from `one`
    assert changed["three"] == before["three"]


def test_assembly_only_fields_do_not_change_requests(project):
    before = hashes(project)
    after = hashes(project, BOARD.replace("    seed: 2", "    seed: 2\n    transition: {type: crossfade}")
                   + "output: {path: elsewhere/film.mp4, fps: 30}\n")
    assert before == after


def test_project_model_profile_overrides_prices(project):
    (project.root / "models").mkdir(exist_ok=True)
    (project.root / "models" / "prices.yaml").write_text(
        "model: alibaba/wan-2-7-r2v\npricing:\n  usd_per_second: {720p: 0.1, 1080p: 0.2}\n"
    )
    the_plan = storyboard.plan(storyboard.load(project.write(BOARD)))
    assert [item.estimated_usd for item in the_plan.shots] == [0.5, 0.5, 0.5]


def test_text_plan_is_a_short_table_with_totals_and_bodies_on_request(project, run_cli):
    project.write(BOARD)
    code, out, err = run_cli("plan", "board.yaml")
    assert code == 0 and err == ""
    lines = out.splitlines()
    top = next(index for index, line in enumerate(lines) if line.startswith("#"))
    assert lines[top].split() == ["#", "shot", "status", "length", "est.", "notes"]
    assert lines[top + 1].split() == ["1", "one", "missing", "5", "s", "$0.65"]
    assert lines[top + 2].split()[:6] == ["2", "two", "missing", "5", "s", "$0.65"]
    assert "first frame from one" in lines[top + 2]
    assert '"prompt"' not in out  # the bodies only when asked for
    assert "3 of 3 generated shots to make with the preview backend (free)" in out
    assert ("with --backend aimlapi, on the real service at https://api.aimlapi.com/v2: 3 to\n"
            "  pay, estimated $1.95 (every shot $1.95); 0 already there") in out
    assert max(len(line) for line in lines) <= 80
    assert lines[-1] == "each request as sent: storyboard plan board.yaml --bodies (or --json)"
    code, out, _ = run_cli("plan", "board.yaml", "--bodies")
    assert code == 0 and '      "prompt": "Image 1 (a red square) rolls' in out
    assert out.index("1  one") < out.index('"prompt": "Image 1 (a red square) rolls') < out.index("2  two")


def test_whole_number_floats_mean_the_same_request(project):
    assert hashes(project, BOARD.replace("seed: 1", "seed: 1.0").replace("at: end", "at: 1")) == hashes(
        project, BOARD.replace("at: end", "at: 1.0")
    )


def test_identical_requests_are_priced_once(project):
    board = BOARD.replace("seed: 3", "seed: 1").replace("credits", '"{{ cast.hero }} rolls"')
    the_plan = storyboard.plan(storyboard.load(project.write(board)))
    assert the_plan.shots[0].hash == the_plan.shots[2].hash
    assert the_plan.missing_usd == 1.3


def test_every_take_status_is_explained_and_labelled():
    from typing import get_args

    from storyboard.planning.plans import STATUSES, TakeStatus
    from storyboard.reviewing.page import STATUS_LABELS

    assert list(STATUSES) == list(get_args(TakeStatus))
    assert set(STATUS_LABELS) == set(get_args(TakeStatus))
