"""Takes of a shot, choosing one, and holding a shot's clip: on the preview backend and, where
paying is the point, against the emulator over real HTTP."""
from __future__ import annotations

import json
import shutil

import yaml
from conftest import plan_table, said

from storyboard.files import file_sha256

PAID = ("render", "board.yaml", "--backend", "aimlapi", "--yes")

TAKES = """
storyboard: 1
defaults: {resolution: 720p, duration: 2}
shots:
  - {id: castle, prompt: a castle on a hill at dawn, seed: 7, takes: 3}
  - {id: moat, prompt: ducks on the moat}
output: {path: out/film.mp4}
"""

CHAIN = """
storyboard: 1
defaults: {resolution: 720p, duration: 2}
shots:
  - {id: forest, prompt: a raccoon walks through a forest, seed: 1}
  - id: landing
    prompt: a fairy lands on the raccoon
    seed: 2
    first_frame: {shot: forest}
  - {id: lake, prompt: the lake at night, seed: 3}
output: {path: out/film.mp4}
"""


def plan_of(run_cli, *args: str) -> dict:
    code, out, err = run_cli("plan", "board.yaml", "--json", *args)
    assert code == 0, out + err
    return json.loads(out)


def lock_of(project) -> dict:
    return yaml.safe_load((project.root / "storyboard.lock").read_text())["board.yaml"]["shots"]


def test_takes_on_the_service_are_made_once_each_and_picking_one_generates_nothing(project, run_cli, service):
    emulator = service(latency=0.2)
    project.write(TAKES)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    made = emulator.created()
    castle = [body for body in made if body["prompt"].startswith("a castle")]
    assert len(made) == 4 and sorted(body["seed"] for body in castle) == [7, 8, 9]  # from the shot's seed upwards
    assert "castle#1" in out and "castle#3" in out
    film = project.root / "out" / "film.mp4"
    first_film = file_sha256(film)

    # The lock records every take, the film's marked, so a teammate sees the same choices.
    takes = lock_of(project)["castle"]
    assert [(take["take"], take["seed"], take.get("film", False)) for take in takes] == [(1, 7, True), (2, 8, False),
                                                                                        (3, 9, False)]
    assert all(take["generation"] and take["clip_sha256"] for take in takes)

    # Again: nothing new.
    code, out, err = run_cli(*PAID)
    assert code == 0 and emulator.stats()["creates"] == 4, out + err

    # Take 3 into the film: the film changes, nothing is generated or paid.
    text = (project.root / "board.yaml").read_text().replace("takes: 3}", "takes: 3, take: 3}")
    (project.root / "board.yaml").write_text(text)
    plan = plan_of(run_cli, "--backend", "aimlapi")
    assert plan["missing"] == [] and plan["missing_usd"] == 0
    assert plan["shots"][0]["take"] == 3 and plan["shots"][0]["body"]["seed"] == 9
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert emulator.stats()["creates"] == 4 and "0 generated, 4 reused" in out
    assert file_sha256(film) != first_film
    assert [take.get("film", False) for take in lock_of(project)["castle"]] == [False, False, True]

    # A teammate's clone (the lock, no clip store): every take downloaded, none paid, same film.
    chosen_film = file_sha256(film)
    shutil.rmtree(project.root / ".storyboard")
    film.unlink()
    downloads = emulator.stats()["downloads"]
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert emulator.stats()["creates"] == 4 and emulator.stats()["downloads"] == downloads + 4
    assert file_sha256(film) == chosen_film


def test_without_a_seed_take_one_is_the_request_as_written_and_the_others_get_recorded_seeds(project, run_cli):
    project.write(TAKES.replace(", seed: 7, takes: 3}", ", takes: 3}"))
    plan = plan_of(run_cli)
    takes = plan["shots"][0]["takes"]
    assert "seed" not in takes[0]["body"]  # the service picks, as for a shot without takes
    seeds = [take["body"]["seed"] for take in takes[1:]]
    assert len(set(seeds)) == 2 and all(0 <= seed <= 2**31 - 1 for seed in seeds)
    assert [take["body"]["seed"] for take in plan_of(run_cli)["shots"][0]["takes"][1:]] == seeds  # the same every time
    # The one-take shot's request is the same as before takes existed; asking for more keeps take 1.
    project.write(TAKES.replace(", seed: 7, takes: 3}", "}"))
    assert plan_of(run_cli)["shots"][0]["hash"] == takes[0]["hash"]
    # Pinning a take by its seed (in place of `takes`) is the same request: nothing to make.
    project.write(TAKES.replace(", seed: 7, takes: 3}", f", seed: {seeds[1]}}}"))
    assert plan_of(run_cli)["shots"][0]["hash"] == takes[2]["hash"]


def test_render_takes_makes_that_many_of_every_generated_shot_and_the_takes_differ(project, run_cli):
    project.write(TAKES)
    code, out, err = run_cli("render", "board.yaml", "--takes", "2")
    assert code == 0, out + err
    assert "5 generated" in out  # castle keeps its 3, moat gets 2
    plan = plan_of(run_cli, "--takes", "2")
    clips = [project.root / ".storyboard" / "clips" / "preview" / f"{take['hash']}.mp4"
             for shot in plan["shots"] for take in shot["takes"]]
    assert len(clips) == 5 and all(clip.is_file() for clip in clips)
    assert len({file_sha256(clip) for clip in clips}) == 5
    code, out, _ = run_cli("plan", "board.yaml", "--takes", "2")
    assert plan_table(out)["moat#1"] == ("cached", "in the film, seed: the service picks")
    assert plan_table(out)["moat#2"] == ("cached", "") and "0 of 5 generated takes to make" in out


def test_a_take_that_does_not_exist_or_takes_on_footage_are_refused_with_the_line(project, run_cli):
    project.write("""
        storyboard: 1
        shots:
          - id: castle
            prompt: a castle
            takes: 2
            take: 3
          - {id: intro, clip: assets/walk.mp4, take: 2}
    """)
    code, _out, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert "board.yaml:6:" in err and "shot 'castle': take: 3, but the shot has 2 takes (takes: 2)" in err
    assert "board.yaml:7:" in err and "shot 'intro': take: footage (`clip`) has no takes to choose from" in err


def test_plan_shows_what_an_edit_regenerates_and_hold_keeps_the_clip(project, run_cli):
    project.write(CHAIN)
    assert run_cli("render", "board.yaml")[0] == 0
    code, out, _ = run_cli("plan", "board.yaml")
    assert "regenerates" not in out

    edited = CHAIN.replace("a raccoon walks through a forest", "a raccoon runs through a forest")
    project.write(edited)
    code, out, _ = run_cli("plan", "board.yaml")
    assert "editing 'forest' regenerates 'forest', 'landing': 2 shots, est. " in said(out)
    [change] = plan_of(run_cli)["changes"]
    assert change["regenerates"] == ["forest", "landing"] and change["usd"] > 0

    # Hold the downstream shot: only the edited one is made again.
    project.write(edited.replace("    seed: 2\n", "    seed: 2\n    hold: true\n"))
    code, out, _ = run_cli("plan", "board.yaml")
    assert "editing 'forest' regenerates 'forest': 1 shot" in said(out)
    assert plan_table(out)["landing"] == ("cached", "held: keeps an earlier clip, first frame from forest")
    landing_before = plan_of(run_cli)["shots"][1]["hash"]
    code, out, err = run_cli("render", "board.yaml")
    assert code == 0, out + err
    assert "1 generated, 2 reused" in out
    assert plan_of(run_cli)["shots"][1] | {"held": True} == plan_of(run_cli)["shots"][1]
    assert plan_of(run_cli)["shots"][1]["hash"] == landing_before

    # A held shot whose own prompt changes still shows (and keeps) the request that made its clip.
    project.write(edited.replace("    seed: 2\n", "    seed: 2\n    hold: true\n").replace("a fairy lands", "a fairy flies"))
    held = plan_of(run_cli)["shots"][1]
    assert held["held"] and held["hash"] == landing_before and held["body"]["prompt"].startswith("a fairy lands")

    # The hold removed: the shot follows its first frame again.
    project.write(edited)
    code, out, _ = run_cli("plan", "board.yaml")
    assert "editing 'landing' regenerates 'landing': 1 shot" in said(out)
    code, out, err = run_cli("render", "board.yaml")
    assert code == 0 and "1 generated, 2 reused" in out, out + err


def test_picking_a_take_upstream_says_what_it_regenerates(project, run_cli):
    project.write(CHAIN.replace("seed: 1}", "seed: 1, takes: 2}"))
    assert run_cli("render", "board.yaml")[0] == 0
    project.write(CHAIN.replace("seed: 1}", "seed: 1, takes: 2, take: 2}"))
    _code, out, _ = run_cli("plan", "board.yaml")
    assert "picking take 2 of 'forest' regenerates 'landing': 1 shot" in said(out)


def test_a_hold_whose_clip_is_gone_is_refused_before_anything_is_made(project, run_cli):
    project.write(CHAIN)
    assert run_cli("render", "board.yaml")[0] == 0
    shutil.rmtree(project.root / ".storyboard" / "clips")
    project.write(CHAIN.replace("the lake at night, seed: 3}", "the lake at noon, seed: 3, hold: true}"))
    code, _out, err = run_cli("render", "board.yaml")
    assert code == 2
    assert "board.yaml:9:" in err and "shot 'lake': hold: the clip it holds" in err and "remove `hold: true`" in err
    assert not (project.root / ".storyboard" / "clips" / "preview").exists()


NEVER_RENDERED_HOLD = CHAIN.replace("the lake at night, seed: 3}", "the lake at night, seed: 3, hold: true}")


def test_a_hold_on_a_shot_never_rendered_is_refused_by_plan_and_render(project, run_cli):
    project.write(NEVER_RENDERED_HOLD)
    for command in (("plan", "board.yaml"), ("render", "board.yaml")):
        code, out, err = run_cli(*command)
        assert code == 2, out + err
        assert "board.yaml:9:" in err and "shot 'lake': hold: there is no clip to hold" in err, err
        assert "remove `hold: true`" in err
    assert not (project.root / ".storyboard" / "clips" / "preview").exists()
    assert not (project.root / "out" / "film.mp4").exists()


def test_a_hold_on_a_shot_never_rendered_pays_nothing(project, run_cli, service):
    emulator = service(latency=0.2)
    project.write(NEVER_RENDERED_HOLD)
    code, out, err = run_cli("plan", "board.yaml", "--backend", "aimlapi")
    assert code == 2 and "board.yaml:9:" in err and "there is no clip to hold" in err, out + err
    code, out, err = run_cli(*PAID)
    assert code == 2 and "board.yaml:9:" in err and "there is no clip to hold" in err, out + err
    assert emulator.stats()["creates"] == 0


def test_takes_count_in_the_budget(project, run_cli, service):
    emulator = service(latency=0.2)
    project.write(TAKES)
    plan = plan_of(run_cli, "--backend", "aimlapi")
    every = plan["estimated_usd"]
    code, _out, err = run_cli(*PAID, "--max-cost", f"{every - 0.01:.2f}")
    assert code != 0 and "over the budget" in err and emulator.stats()["creates"] == 0


def test_a_render_state_from_before_request_bodies_were_kept_still_says_what_is_in_the_film(tmp_path):
    import sqlite3

    from storyboard.project.state import State

    path = tmp_path / "state.sqlite"
    State(path).close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE in_film DROP COLUMN body")
        db.execute("INSERT INTO in_film VALUES ('board.yaml', 'preview', 'lake', 'abc', 0)")
    state = State(path, read_only=True)  # as `plan` opens it: nothing is migrated
    try:
        [(shot, clip)] = state.in_film("board.yaml", "preview").items()
    finally:
        state.close()
    assert shot == "lake" and clip.request_hash == "abc" and clip.body is None


def test_a_teammate_s_clone_holds_the_clip_the_lock_file_marks_as_in_the_film(project, run_cli, service):
    emulator = service(latency=0.2)
    project.write(CHAIN)
    assert run_cli(*PAID)[0] == 0
    held_hash = plan_of(run_cli, "--backend", "aimlapi")["shots"][2]["hash"]
    # The lake's prompt is rewritten but held; the clone has the lock file only.
    project.write(CHAIN.replace("the lake at night, seed: 3}", "the lake at noon, seed: 3, hold: true}"))
    shutil.rmtree(project.root / ".storyboard")
    lake = plan_of(run_cli, "--backend", "aimlapi")["shots"][2]
    assert lake["held"] and lake["hash"] == held_hash and lake["status"] == "download"
    creates = emulator.stats()["creates"]
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert emulator.stats()["creates"] == creates and "0 generated, 3 reused" in out



def test_whole_number_floats_for_takes_and_take_mean_whole_numbers(project, run_cli):
    """`takes: 3.0` and `take: 2.0` pass the schema (JSON Schema's integer includes 2.0) and mean 3 and 2,
    as every other whole-number field does: validate, plan, render and review take them."""
    project.write(TAKES.replace("takes: 3}", "takes: 3, take: 2}"))
    as_integers = run_cli("plan", "board.yaml", "--json")[1]
    project.write(TAKES.replace("takes: 3}", "takes: 3.0, take: 2.0}") + "render: {jobs: 2.0}\n")
    assert run_cli("plan", "board.yaml", "--json")[1] == as_integers

    for command in (("validate", "board.yaml"), ("plan", "board.yaml"), ("render", "board.yaml"),
                    ("review", "board.yaml")):
        code, out, err = run_cli(*command)
        assert code == 0 and "Traceback" not in err, (command, out + err)
