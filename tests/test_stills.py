"""Stills first: a still per shot, drawn by the image model, approved (picked) before any video is
paid for; the picked still is the video's exact first frame."""
from __future__ import annotations

import io
import json

import pytest
from conftest import KEY, said
from PIL import Image, ImageChops, ImageStat

import storyboard
from storyboard.media import extract_frame

BOARD = """
storyboard: 1
title: The Fox and the Owl
defaults:
  resolution: 720p
  duration: 2
  still: {model: alibaba/wan-2-7-image, size: landscape_16_9}
cast:
  fox: {image: assets/red.png, description: a red fox}
  owl: {image: assets/blue.png, description: a grey owl}
shots:
  - id: meet
    prompt: "{{ cast.fox }} meets {{ cast.owl }} in the snow"
    seed: 3
    still: true
  - id: talk
    prompt: "{{ cast.owl }} speaks to {{ cast.fox }}"
    seed: 5
    still: {takes: 3}
output: {path: out/film.mp4}
"""


def picked(board: str, take: int) -> str:
    return board.replace("still: {takes: 3}", f"still: {{takes: 3, take: {take}}}")


def difference(one: Image.Image, other: Image.Image) -> float:
    """Mean absolute difference of two pictures' pixels (0-255), `other` scaled to `one`'s size."""
    scaled = other.convert("RGB").resize(one.size)
    return sum(ImageStat.Stat(ImageChops.difference(one.convert("RGB"), scaled)).mean) / 3


# -- the format ---------------------------------------------------------------------------------


def test_still_forms_defaults_and_size_follow_the_film(project):
    project.write("""
        storyboard: 1
        defaults: {still: {size: square_hd, negative_prompt: blur}}
        cast:
          fox: {image: assets/red.png, description: a fox}
        shots:
          - {id: a, prompt: "{{ cast.fox }} runs", still: true}
          - id: b
            prompt: "{{ cast.fox }} sleeps"
            still:
              {takes: 2, take: 2, prompt: "a sketch of {{ cast.fox }} asleep, {{ mood }}", seed: 7,
               size: {width: 1024, height: 576}}
            vars: {mood: calm}
          - {id: c, prompt: no still here, still: false}
          - {id: d, prompt: "{{ cast.fox }} waits"}
        """)
    the_plan = storyboard.plan("board.yaml")
    a, b1, b2, d = the_plan.stills
    assert (a.key, b1.key, b2.key, d.key) == ("a:still", "b:still#1", "b:still#2", "d:still")  # d: by the defaults
    assert d.body["image_size"] == "square_hd" and d.body["prompt"] == "Image 1 (a fox) waits"
    assert a.body == {"model": "alibaba/wan-2-7-image", "prompt": "Image 1 (a fox) runs", "image_urls": ["assets/red.png"],
                      "image_size": "square_hd", "negative_prompt": "blur"}
    assert b2.body["prompt"] == "a sketch of Image 1 (a fox) asleep, calm" and b2.body["seed"] == 8
    assert b2.body["image_size"] == {"width": 1024, "height": 576}
    assert the_plan.shot("b").body["first_frame_image"] == "still:b#2"
    assert "first_frame_image" not in the_plan.shot("c").body and not the_plan.still_takes("c")

    project.write("""
        storyboard: 1
        output: {aspect_ratio: "9:16"}
        shots: [{id: a, prompt: tall, still: true}]
        """)
    (still,) = storyboard.plan("board.yaml").stills
    assert still.body["image_size"] == "portrait_16_9" and "image_urls" not in still.body


def test_a_shot_with_a_first_frame_and_a_still_is_an_error_at_its_line(project, run_cli):
    project.write("""
        storyboard: 1
        shots:
          - {id: a, prompt: one}
          - id: b
            prompt: two
            first_frame: {shot: a}
            still: true
          - id: c
            prompt: three
            still: {takes: 2, take: 3}
        """)
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert "board.yaml:7:5:" in err and "shot 'b'" in err and "first_frame" in err
    assert "board.yaml:10:29:" in err and "still take 3 is picked but the still has 2 takes" in err


def test_a_still_sends_three_cast_images_at_most_and_says_which_were_left_out(project, run_cli):
    for name in ("green", "grey"):
        Image.new("RGB", (64, 48), (40, 200, 40) if name == "green" else (128, 128, 128)).save(f"assets/{name}.png")
    project.write("""
        storyboard: 1
        cast:
          a: {image: assets/red.png, description: one}
          b: {image: assets/blue.png, description: two}
          c: {image: assets/green.png, description: three}
          d: {image: assets/grey.png, description: four}
        shots:
          - {id: crowd, prompt: "{{ cast.a }}, {{ cast.b }}, {{ cast.c }} and {{ cast.d }}", still: true}
        """)
    (still,) = storyboard.plan("board.yaml").stills
    assert still.body["image_urls"] == ["assets/red.png", "assets/blue.png", "assets/green.png"]
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 0
    assert "warning: shot 'crowd'" in err and "'assets/grey.png'" in err and "at most 3" in err


# -- planning ------------------------------------------------------------------------------------


def test_plan_shows_the_stills_cost_apart_and_what_iterating_on_stills_saves(project, run_cli):
    project.write(BOARD)
    code, out, _ = run_cli("plan", "board.yaml")
    assert code == 0
    text = said(out)
    assert "meet:still" in out and "talk:still#3" in out
    assert "stills: 4 takes to draw, estimated $0.24 on the service; videos: estimated $0.52" in text
    assert "a round of changes to every shot's composition costs $0.12 in stills instead of $0.52 in videos" in text
    assert "'talk' waits for a pick of its still" in text
    data = json.loads(run_cli("plan", "board.yaml", "--json")[1])
    assert data["stills_estimated_usd"] == 0.24 and data["awaiting_pick"] == ["talk"]
    assert [still["key"] for still in data["stills"]] == ["meet:still", "talk:still#1", "talk:still#2", "talk:still#3"]


def test_picking_another_still_regenerates_that_video_and_plan_says_so_first(project):
    project.write(picked(BOARD, 1))
    storyboard.render("board.yaml")
    project.write(picked(BOARD, 2))
    the_plan = storyboard.plan("board.yaml")
    (change,) = the_plan.changes()
    assert str(change).startswith("picking still take 2 of 'talk' regenerates 'talk'")
    assert the_plan.shot("meet").status == "cached" and the_plan.shot("talk").status == "missing"


# -- rendering (offline) -------------------------------------------------------------------------


def test_render_stills_draws_only_the_stills_with_the_cast_composed_in(project, run_cli):
    project.write(BOARD)
    code, out, err = run_cli("render", "board.yaml", "--stills")
    assert code == 0, out + err
    assert "4 generated, 0 reused" in out
    clips = project.root / ".storyboard" / "clips" / "preview"
    assert sorted(path.suffix for path in clips.iterdir()) == [".png"] * 4
    assert not (project.root / "out" / "film.mp4").exists()
    meet = storyboard.plan("board.yaml").still_takes("meet")[0]
    assert meet.status == "cached"
    with Image.open(clips / f"{meet.hash}.png") as still:
        colours = {colour for _, colour in still.convert("RGB").getcolors(1 << 20)}
    assert (200, 40, 40) in colours and (40, 40, 200) in colours  # the fox's and the owl's images, composed in


def test_a_shot_whose_still_has_no_pick_gets_no_video_and_the_render_says_how_to_pick(project, run_cli):
    project.write(BOARD)
    code, _, err = run_cli("render", "board.yaml")
    assert code == 1
    text = said(err)
    assert "no video was made for 'talk'" in text and "storyboard review board.yaml" in text
    assert "line 18: still: {takes: 3, take: K}" in text
    clips = project.root / ".storyboard" / "clips" / "preview"
    assert len(list(clips.glob("*.mp4"))) == 1  # 'meet' only
    assert not (project.root / "out" / "film.mp4").exists()

    project.write(picked(BOARD, 3))
    result = storyboard.render("board.yaml")
    assert result.film is not None and result.generated == ["talk"]  # every still was drawn already


# -- on the service (the emulator) ---------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in (("AWS_ACCESS_KEY_ID", "stills"), ("AWS_SECRET_ACCESS_KEY", "stills-secret"),
                        ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL_S3", f"http://{host}:{port}"),
                        ("STORYBOARD_S3_BUCKET", "refs")):
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket="refs")
    yield
    server.stop()


def test_stills_pick_render_rerender_on_the_service(project, run_cli, service, s3):
    emulator = service()
    project.write(BOARD)
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills", "--yes")
    assert code == 0, out + err
    assert (emulator.stats()["images"], emulator.stats()["creates"]) == (4, 0)  # the still takes; no video
    prompts = sorted(image.body["prompt"] for image in emulator.images)  # drawn at once: in no set order
    assert prompts[0] == "Image 1 (a grey owl) speaks to Image 2 (a red fox)"
    request = next(image.body for image in emulator.images if image.body["prompt"] == prompts[0])
    assert request["model"] == "alibaba/wan-2-7-image" and request["image_size"] == "landscape_16_9"
    assert len(request["image_urls"]) == 2 and all(url.startswith("data:image/png;base64,") for url in request["image_urls"])
    assert KEY not in (project.root / "storyboard.lock").read_text()

    project.write(picked(BOARD, 2))
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 0, out + err
    assert (emulator.stats()["images"], emulator.stats()["creates"]) == (4, 2)  # one video per shot, no still again
    code, out, _ = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 0 and "0 generated" in out
    assert (emulator.stats()["images"], emulator.stats()["creates"]) == (4, 2)

    # Each video opens on the very picture of its approved still.
    the_plan = storyboard.plan("board.yaml", backend="aimlapi")
    clips = project.root / ".storyboard" / "clips" / the_plan.backend
    for shot_id, take in (("meet", 1), ("talk", 2)):
        still = Image.open(clips / f"{the_plan.still_takes(shot_id)[take - 1].hash}.png")
        first = extract_frame(clips / f"{the_plan.shot(shot_id).hash}.mp4", "start")
        assert difference(first, still) < 4
    other = Image.open(clips / f"{the_plan.still_takes('talk')[0].hash}.png")
    assert difference(extract_frame(clips / f"{the_plan.shot('talk').hash}.mp4", "start"), other) > 10
    lock = (project.root / "storyboard.lock").read_text()
    assert "talk:still" in lock and "meet:still" in lock


def test_an_image_answered_inline_is_stored_and_a_lost_answer_is_never_paid_twice(project, run_cli, service):
    emulator = service()
    emulator.images_inline = True
    project.write("""
        storyboard: 1
        shots: [{id: a, prompt: a lighthouse at night, still: true, seed: 1}]
        """)
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills")
    assert code == 0, out + err
    (still,) = storyboard.plan("board.yaml", backend="aimlapi").stills
    assert still.status == "cached" and still.body["image_size"] == "landscape_16_9"

    emulator.set_faults("lost=1")
    project.write("""
        storyboard: 1
        shots: [{id: a, prompt: a lighthouse at dawn, still: true, seed: 1}]
        """)
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills")
    assert code == 1 and emulator.stats()["images"] == 2
    emulator.set_faults("")
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills")
    assert code == 1 and "--resubmit a" in said(err) and emulator.stats()["images"] == 2  # not paid again silently
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills", "--resubmit", "a")
    assert code == 0, out + err
    assert emulator.stats()["images"] == 3


def test_the_budget_counts_the_stills(project, run_cli, service):
    emulator = service()
    project.write(BOARD)
    code, _, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills", "--max-cost", "0.20")
    assert code != 0 and "0.24 USD" in said(err) and emulator.stats()["images"] == 0


def test_the_emulator_refuses_an_image_request_the_docs_refuse(service):
    import httpx

    emulator = service()
    url = emulator.origin + "/v1/images/generations"
    headers = {"Authorization": f"Bearer {KEY}"}
    too_many = {"model": "alibaba/wan-2-7-image", "prompt": "x", "image_urls": ["data:image/png;base64,AA"] * 4}
    assert httpx.post(url, json=too_many, headers=headers).status_code == 400
    odd_size = {"model": "alibaba/wan-2-7-image", "prompt": "x", "image_size": {"width": 1000, "height": 576}}
    assert httpx.post(url, json=odd_size, headers=headers).status_code == 400
    assert httpx.post(url, json={"model": "alibaba/wan-2-7-image", "prompt": "x"}).status_code == 401
    made = httpx.post(url, json={"model": "alibaba/wan2.7-image", "prompt": "x"}, headers=headers)  # the docs' alias
    assert made.status_code == 200
    answer = made.json()
    assert answer["meta"]["usage"]["usd_spent"] == 0.06 and answer["data"][0]["url"].endswith(".png")
    picture = httpx.get(answer["data"][0]["url"])
    assert picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).size == (1024, 768)  # the documented default shape


def test_the_approved_stills_travel_with_the_cut(project):
    import opentimelineio as otio

    project.write(picked(BOARD, 2))
    storyboard.render("board.yaml")
    storyboard.export("board.yaml", "cut.otio")
    clips = list(otio.adapters.read_from_file("cut.otio").video_tracks()[0].find_clips())
    talk = clips[1]
    still = talk.metadata["storyboard"]["still"]
    assert (still["take"], still["takes"], still["url"]) == (2, 3, "cut-media/02-talk-still.png")
    the_plan = storyboard.plan("board.yaml")
    drawn = project.root / ".storyboard" / "clips" / "preview" / f"{the_plan.still_takes('talk')[1].hash}.png"
    assert (project.root / "cut-media" / "02-talk-still.png").read_bytes() == drawn.read_bytes()
    assert talk.markers[0].name == "still" and "take 2 of 3" in talk.markers[0].comment


def test_cache_gc_keeps_the_stills_a_storyboard_names(project, run_cli):
    project.write(BOARD)
    assert run_cli("render", "board.yaml", "--stills")[0] == 0
    project.write(BOARD.replace("in the snow", "in the rain"))  # 'meet' gets a new still: its old one is garbage
    assert run_cli("render", "board.yaml", "--stills")[0] == 0
    code, out, err = run_cli("cache", "gc")
    assert code == 0, out + err
    kept = {path.stem for path in (project.root / ".storyboard" / "clips" / "preview").glob("*.png")}
    assert kept == {still.hash for still in storyboard.plan("board.yaml").stills}


def test_a_still_lost_from_the_store_is_downloaded_again_not_paid_again(project, run_cli, service):
    emulator = service()
    project.write("""
        storyboard: 1
        shots: [{id: a, prompt: a lighthouse at night, still: true, seed: 1}]
        """)
    assert run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills")[0] == 0
    the_plan = storyboard.plan("board.yaml", backend="aimlapi")
    (still,) = the_plan.stills
    stored = project.root / ".storyboard" / "clips" / str(the_plan.backend) / f"{still.hash}.png"
    picture = stored.read_bytes()
    stored.unlink()
    assert storyboard.plan("board.yaml", backend="aimlapi").stills[0].status == "download"
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills")
    assert code == 0, out + err
    assert emulator.stats()["images"] == 1 and stored.read_bytes() == picture


def test_a_still_size_the_image_model_does_not_take_is_named_at_its_line(project, run_cli):
    project.write("""
        storyboard: 1
        shots:
          - {id: a, prompt: x, still: {size: {width: 1000, height: 576}}}
          - {id: b, prompt: x, still: {size: huge}}
        """)
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert "board.yaml:3:" in err and "board.yaml:4:" in err and err.count("still.size") == 2
    assert "multiples of 32" in err


def test_a_clone_sharing_the_cache_gets_the_stills_without_paying(project, run_cli, service, s3, monkeypatch):
    import shutil

    emulator = service()
    shared = BOARD + "cache: {s3: {bucket: refs, prefix: shared/}}\n"
    project.write(shared)
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills", "--yes")
    assert code == 0, out + err
    assert emulator.stats()["images"] == 4
    clone = project.root.parent / "clone"
    clone.mkdir()
    shutil.copytree(project.root / "assets", clone / "assets")
    shutil.copytree(project.root / "models", clone / "models")
    (clone / "board.yaml").write_text((project.root / "board.yaml").read_text())
    monkeypatch.chdir(clone)
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--stills", "--yes")
    assert code == 0, out + err
    assert emulator.stats()["images"] == 4 and "0 generated, 4 reused" in out
    drawn = storyboard.plan("board.yaml", backend="aimlapi").stills
    assert all(still.status == "cached" for still in drawn)
