"""The local stand-in of the generation service, exercised over real HTTP."""
from __future__ import annotations

import base64
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from avprobe import probe
from conftest import SHORT_CLIPS
from PIL import Image

from storyboard.emulator import Emulator
from storyboard.emulator import faults as emulator_faults

MODEL = "alibaba/wan-2-7-r2v"
KEY = "sk-emulator-test-key"
TINY = {"model": MODEL, "prompt": "a raccoon waves", "resolution": "720p", "duration": 2}
INVALID = {"model": MODEL, "aspect_ratio": "16:9"}  # no prompt: refused, never rendered


@pytest.fixture
def start(tmp_path) -> Iterator[Any]:
    """Start emulators on free ports of 127.0.0.1 (accepting 2 s clips, as a project's override would
    teach it); every one is stopped after the test."""
    running: list[Emulator] = []
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "short-clips.yaml").write_text(SHORT_CLIPS)

    def start_emulator(**options: Any) -> Emulator:
        emulator = Emulator(profiles_from=tmp_path, **options).start()
        running.append(emulator)
        return emulator

    yield start_emulator
    for emulator in running:
        emulator.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=20) as http:
        yield http


def create(http: httpx.Client, emulator: Emulator, body: dict[str, Any]) -> httpx.Response:
    return http.post(f"{emulator.url}/video/generations", json=body)


def poll(http: httpx.Client, emulator: Emulator, generation_id: str) -> httpx.Response:
    return http.get(f"{emulator.url}/video/generations", params={"generation_id": generation_id})


def follow(http: httpx.Client, emulator: Emulator, generation_id: str, timeout: float = 20) -> list[dict[str, Any]]:
    """Poll until a terminal status; every answer, in order."""
    answers = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = poll(http, emulator, generation_id)
        assert response.status_code == 200, response.text
        answers.append(response.json())
        if answers[-1]["status"] in ("completed", "error"):
            return answers
        time.sleep(0.05)
    raise AssertionError(f"still {answers[-1]['status']} after {timeout} s")


def outcome(request: Any) -> int | str:
    try:
        return request().status_code
    except httpx.RemoteProtocolError:
        return "dropped"


def png_data_uri(colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def closed_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


# Authentication and validation


def test_a_missing_or_wrong_key_is_refused(start, client, capfd):
    emulator = start(api_key=KEY, latency=60, faults="fail=1")  # `fail`: nothing is rendered
    url = f"{emulator.url}/video/generations"
    assert httpx.post(url, json=TINY).status_code == 401
    wrong = httpx.post(url, json=TINY, headers={"Authorization": "Bearer sk-wrong"})
    assert wrong.status_code == 401 and wrong.json()["message"] and wrong.json()["statusCode"] == 401
    assert httpx.get(url, params={"generation_id": "x"}).status_code == 401
    assert create(client, emulator, TINY).status_code == 201
    assert emulator.stats()["creates"] == 1
    assert emulator.stats()["rejected"] == 3
    out, err = capfd.readouterr()
    assert KEY not in out + err and "sk-wrong" not in out + err and "POST" not in err


def test_any_key_is_accepted_when_none_is_configured(start):
    emulator = start(latency=60, faults="fail=1")
    response = httpx.post(f"{emulator.url}/video/generations", json=TINY, headers={"Authorization": "Bearer anything"})
    assert response.status_code == 201


@pytest.mark.parametrize(("change", "field"), [
    ({"aspect_ratio": "2:1"}, "aspect_ratio"),
    ({"resolution": "4k"}, "resolution"),
    ({"negative_prompt": "n" * 501}, "negative_prompt"),
    ({"colour": "red"}, "colour"),
    ({"duration": 1}, "duration"),
    ({"duration": "five"}, "duration"),
    ({"seed": -1}, "seed"),
    ({"image_urls": [f"https://example.com/{n}.png" for n in range(6)]}, "image_urls"),
    ({"prompt": None}, "prompt"),
    ({"model": "acme/unknown"}, "model"),
    ({"model": None}, "model"),
])
def test_an_invalid_body_is_refused_naming_the_field(start, client, change, field):
    emulator = start()
    body = {key: value for key, value in {**TINY, **change}.items() if value is not None}
    response = create(client, emulator, body)
    assert response.status_code == 400
    error = response.json()
    assert error["field"] == field
    assert field in error["message"] and len(error["message"]) < 300
    assert emulator.stats()["creates"] == 0


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"model": NaN}', b""])
def test_a_body_that_is_not_a_json_object_is_refused(start, client, content):
    emulator = start()
    response = client.post(f"{emulator.url}/video/generations", content=content,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"]


def test_unknown_generation_is_404_and_a_missing_id_400(start, client):
    emulator = start()
    assert poll(client, emulator, "no-such-generation").status_code == 404
    missing = client.get(f"{emulator.url}/video/generations")
    assert missing.status_code == 400 and missing.json()["field"] == "generation_id"
    assert client.get(f"{emulator.origin}/files/no-such-generation.mp4").status_code == 404


# The generation flow


def test_a_generation_goes_queued_generating_completed_and_serves_a_real_mp4(start, client, tmp_path):
    emulator = start(latency=3.0)  # queued for 0.3 s: long enough to be seen on a busy machine
    began = time.monotonic()
    response = create(client, emulator, {**TINY, "duration": "2"})  # as the provider's sample sends it
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "queued"
    assert created["meta"]["usage"] == {"usd_spent": 0.26, "credits_used": 520_000}  # 2 s at 0.13 USD/s
    answers = follow(client, emulator, created["id"])
    statuses = [answer["status"] for answer in answers]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    assert statuses == sorted(statuses, key=["queued", "generating", "completed"].index)
    assert "generating" in statuses
    assert time.monotonic() - began >= 3.0

    download = httpx.get(answers[-1]["video"]["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert int(download.headers["content-length"]) == len(download.content)
    assert download.content[4:8] == b"ftyp"
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(download.content)
    found = probe(clip)
    assert found.video is not None and "1280x720" in found.video and found.audio is not None
    assert found.duration == pytest.approx(2.0, abs=0.1)


def test_a_vertical_request_gets_a_vertical_clip_even_when_rendering_outlasts_the_latency(start, client, tmp_path):
    emulator = start(latency=0)
    body = {**TINY, "aspect_ratio": "9:16", "seed": 3}
    answers = follow(client, emulator, create(client, emulator, body).json()["id"])
    assert answers[0]["status"] == "generating"  # latency 0, but the clip is not written yet
    assert answers[-1]["status"] == "completed"
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(httpx.get(answers[-1]["video"]["url"]).content)
    assert "720x1280" in (probe(clip).video or "")


@pytest.mark.parametrize(("reference", "expected"), [
    (f"http://127.0.0.1:{closed_port()}/cat.png", "cannot fetch"),
    ("{origin}/files/never-made.mp4", "HTTP 404"),
    ("data:text/plain,just%20words", "not an image"),
    ("ftp://example.com/cat.png", "only http"),
])
def test_a_reference_that_cannot_be_used_fails_the_generation_naming_it(start, client, reference, expected):
    emulator = start(latency=30)  # the failure shows as soon as it is known, not after the latency
    reference = reference.format(origin=emulator.origin)
    response = create(client, emulator, {**TINY, "image_urls": [png_data_uri((1, 2, 3)), reference]})
    assert response.status_code == 201
    final = follow(client, emulator, response.json()["id"], timeout=10)[-1]
    assert final["status"] == "error" and final["error"]["name"] == "InvalidReference"
    assert "image_urls[1]" in final["error"]["message"]
    assert reference in final["error"]["message"] and expected in final["error"]["message"]
    assert emulator.stats()["failed"] == 1


def test_references_served_by_the_emulator_itself_and_data_uris_are_used(start, client, tmp_path):
    emulator = start(latency=0.2)
    first = follow(client, emulator, create(client, emulator, {**TINY, "seed": 1}).json()["id"])[-1]
    own_clip = first["video"]["url"]
    assert own_clip.startswith(emulator.origin)
    body = {
        **TINY,
        "prompt": "Video 1 meets Image 1",
        "video_urls": [own_clip],
        "image_urls": [png_data_uri((200, 40, 40))],
        "first_frame_image": png_data_uri((40, 40, 200)),
    }
    second = follow(client, emulator, create(client, emulator, body).json()["id"])[-1]
    assert second["status"] == "completed", second
    clip = tmp_path / "second.mp4"
    clip.write_bytes(httpx.get(second["video"]["url"]).content)
    assert "1280x720" in (probe(clip).video or "")
    assert emulator.stats()["downloads"] == 2  # the emulator fetched its own clip, then we fetched ours


# Faults


@pytest.mark.parametrize(("fault", "status"), [("429", 429), ("500", 500)])
def test_429_and_500_refuse_creates_and_polls_and_create_nothing(start, client, fault, status):
    emulator = start(faults=f"{fault}=1.0")
    refused = create(client, emulator, TINY)
    assert refused.status_code == status and refused.json()["message"]
    if fault == "429":
        assert refused.headers["retry-after"] == "1"
    assert poll(client, emulator, "any").status_code == status
    stats = emulator.stats()
    assert stats["creates"] == 0 and stats["rejected"] == 2 and stats["faults"] == {fault: 2}


def test_drop_closes_creates_and_polls_without_an_answer(start, client):
    emulator = start(faults="drop=1.0")
    with pytest.raises(httpx.RemoteProtocolError):
        create(client, emulator, TINY)
    with pytest.raises(httpx.RemoteProtocolError):
        poll(client, emulator, "any")
    assert emulator.stats()["creates"] == 0 and emulator.stats()["faults"] == {"drop": 2}


def test_fail_accepts_and_bills_the_generation_then_fails_it(start, client):
    emulator = start(latency=0.3, faults="fail=1.0")
    created = create(client, emulator, TINY)
    assert created.status_code == 201 and created.json()["meta"]["usage"]["usd_spent"] == 0.26
    answers = follow(client, emulator, created.json()["id"])
    assert answers[-1]["status"] == "error"  # the published status, never `failed`
    assert answers[-1]["error"]["name"] == "GenerationError" and answers[-1]["error"]["message"]
    assert "generating" in [answer["status"] for answer in answers]
    stats = emulator.stats()
    assert stats["creates"] == 1 and stats["failed"] == 1 and stats["completed"] == 0


def test_a_create_with_a_seen_idempotency_key_returns_the_same_generation_unbilled(start, client):
    emulator = start(latency=60, faults="fail=1")
    first = client.post(f"{emulator.url}/video/generations", json=TINY, headers={"Idempotency-Key": "attempt-1"})
    again = client.post(f"{emulator.url}/video/generations", json=TINY, headers={"Idempotency-Key": "attempt-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = client.post(f"{emulator.url}/video/generations", json=TINY, headers={"Idempotency-Key": "attempt-2"})
    assert other.json()["id"] != first.json()["id"]
    assert create(client, emulator, TINY).json()["id"] not in (first.json()["id"], other.json()["id"])  # no key
    misused = client.post(f"{emulator.url}/video/generations", json={**TINY, "seed": 9},
                          headers={"Idempotency-Key": "attempt-1"})
    assert misused.status_code == 422 and "different request" in misused.json()["message"]
    stats = emulator.stats()
    assert (stats["creates"], stats["idempotent_replays"], stats["usd_spent"]) == (3, 1, 0.78)


def test_lost_bills_the_generation_and_drops_the_answer(start, client):
    emulator = start(latency=60, faults="lost=1")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(f"{emulator.url}/video/generations", json=TINY, headers={"Idempotency-Key": "k-lost"})
    assert emulator.stats()["creates"] == 1 and emulator.stats()["usd_spent"] == 0.26
    emulator.set_faults("")
    replay = client.post(f"{emulator.url}/video/generations", json=TINY, headers={"Idempotency-Key": "k-lost"})
    assert replay.status_code == 201 and poll(client, emulator, replay.json()["id"]).status_code == 200
    stats = emulator.stats()
    assert (stats["creates"], stats["idempotent_replays"], stats["usd_spent"]) == (1, 1, 0.26)


def test_slow_delays_the_answer(start, client, monkeypatch):
    monkeypatch.setattr(emulator_faults, "SLOW_SECONDS", 0.4)
    emulator = start(faults="slow=1.0")
    began = time.monotonic()
    assert poll(client, emulator, "any").status_code == 404
    assert time.monotonic() - began >= 0.4
    assert emulator.stats()["faults"] == {"slow": 1}


@pytest.fixture(scope="module")
def finished_clip(tmp_path_factory) -> Iterator[tuple[Emulator, str, int]]:
    """One completed generation whose download the download faults then disturb."""
    project = tmp_path_factory.mktemp("project")
    (project / "models").mkdir()
    (project / "models" / "short-clips.yaml").write_text(SHORT_CLIPS)
    with Emulator(latency=0, profiles_from=project) as emulator, httpx.Client(headers={"Authorization": "Bearer k"}) as http:
        final = follow(http, emulator, create(http, emulator, TINY).json()["id"])[-1]
        size = len(httpx.get(final["video"]["url"]).content)
        yield emulator, final["video"]["url"], size


def test_truncate_sends_the_full_length_then_part_of_the_body(finished_clip):
    emulator, url, size = finished_clip
    emulator.set_faults("truncate=1")
    received = 0
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", url) as response:
        assert response.status_code == 200 and int(response.headers["content-length"]) == size
        for chunk in response.iter_raw():
            received += len(chunk)
    assert 0 < received < size


def test_expired_answers_403_with_an_xml_body(finished_clip):
    emulator, url, _ = finished_clip
    emulator.set_faults("expired=1")
    response = httpx.get(url)
    assert response.status_code == 403 and "Request has expired" in response.text
    assert "xml" in response.headers["content-type"]


def test_html_answers_200_with_a_web_page_instead_of_the_video(finished_clip):
    emulator, url, _ = finished_clip
    emulator.set_faults("html=1")
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>") and response.content[4:8] != b"ftyp"


def test_drop_closes_downloads_without_an_answer(finished_clip):
    emulator, url, size = finished_clip
    emulator.set_faults("drop=1")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    emulator.set_faults("")
    assert len(httpx.get(url).content) == size


def test_seeded_faults_are_reproducible(start):
    def run(seed: int) -> list[int | str]:
        emulator = start(faults="429=0.25,500=0.25,drop=0.25", seed=seed)
        with httpx.Client(headers={"Authorization": "Bearer k"}) as http:
            creates = [outcome(lambda: create(http, emulator, INVALID)) for _ in range(15)]
            polls = [outcome(lambda: poll(http, emulator, "some-id")) for _ in range(15)]
        return creates + polls

    first = run(seed=7)
    assert run(seed=7) == first
    assert {400, 404, 429, 500, "dropped"} <= set(first)
    assert run(seed=8) != first


@pytest.mark.parametrize("spec", ["bogus=0.1", "429=2", "500=often", "429=0.1,,teleport"])
def test_bad_fault_specs_are_refused(spec):
    from storyboard.errors import UsageError

    with pytest.raises(UsageError):
        Emulator(faults=spec)


# Bookkeeping and the command line


def test_stats_count_every_kind_of_request(start, client):
    emulator = start(latency=0.3)
    httpx.post(f"{emulator.url}/video/generations", json=TINY)  # 401
    create(client, emulator, INVALID)  # 400
    generation_id = create(client, emulator, TINY).json()["id"]
    answers = follow(client, emulator, generation_id)
    poll(client, emulator, "unknown")  # 404
    client.get(answers[-1]["video"]["url"])
    stats = emulator.stats()
    assert stats["creates"] == 1
    assert stats["polls"] == len(answers) + 1
    assert stats["downloads"] == 1 and stats["downloads_with_authorization"] == 1
    assert stats["rejected"] == 3
    assert stats["completed"] == 1 and stats["failed"] == 0 and stats["in_progress"] == 0
    assert stats["requests"] == 3 + len(answers) + 1 + 1
    assert stats["usd_spent"] == 0.26
    assert httpx.get(f"{emulator.origin}/_emulator/stats").json() == stats  # not counted itself


def test_stop_ends_kept_alive_connections_too(client):
    emulator = Emulator().start()
    assert poll(client, emulator, "x").status_code == 404  # leaves a pooled connection open
    emulator.stop()
    with pytest.raises(httpx.TransportError):
        poll(client, emulator, "x")


def test_the_command_rejects_unknown_faults():
    from storyboard.cli.emulator import command

    with pytest.raises(click.BadParameter, match="bogus"):
        command.main(["--faults", "bogus=1"], standalone_mode=False)


def test_the_command_prints_the_base_url_and_serves_until_interrupted():
    script = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from storyboard.cli.emulator import command\n"
        "command.main(['--port', '0', '--api-key', 'sk-cli'], standalone_mode=False)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        base_url = line.strip().rpartition("AIMLAPI_BASE_URL=")[2]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v2"), line
        answer = httpx.get(f"{base_url}/video/generations", params={"generation_id": "x"},
                           headers={"Authorization": "Bearer sk-cli"})
        assert answer.status_code == 404
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=10)
    assert "sk-cli" not in err
