"""The aimlapi backend against a hostile service (issue #9): statuses it does not know, broken
downloads of paid clips, answers that trickle or never end, odd and key-bearing URLs, gzip,
nonsense costs, retried creates. Scripted answers (httpx.MockTransport) pin each rule down;
the emulator's hostile faults show it over real HTTP, through the command line where it counts.
"""
from __future__ import annotations

import asyncio
import collections
import gzip
import json
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_aimlapi import BASE, CLIP, KEY, Script, backend, created, job, run, status

import storyboard
from storyboard.backends import GenerationFailed, Job, LinkExpired, Submission, SubmissionUnknown
from storyboard.backends.aimlapi import (
    AimlApiBackend,
    AmbiguousSubmission,
    ExpiredVideoURL,
    KeyInVideoURL,
    Limits,
    PollPolicy,
    RetryPolicy,
    ServiceError,
    UnknownGeneration,
    UnsafeVideoURL,
)
from storyboard.emulator import Emulator, hostile

MIXED_KEY = "sk-Live-HOSTILE-9F3a7C5e"  # letters of both cases: an echo in lower case differs from it
SOLO = "storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2, seed: 1}]\n"
PAID = ("render", "board.yaml", "--backend", "aimlapi", "--yes")
FAST: dict[str, Any] = {"poll": PollPolicy(first=0.05, cap=0.2, timeout=30), "retry": RetryPolicy(base=0.01, cap=0.05)}


class Drip(httpx.AsyncByteStream):
    """A body sent a byte at a time, `pause` seconds apart; `sent` counts what went out."""

    def __init__(self, data: bytes, pause: float):
        self.data, self.pause, self.sent = data, pause, 0

    async def __aiter__(self):
        for index in range(len(self.data)):
            await asyncio.sleep(self.pause)
            self.sent += 1
            yield self.data[index:index + 1]


class Endless(httpx.AsyncByteStream):
    """A JSON answer that never ends; `sent` counts the bytes that went out."""

    def __init__(self):
        self.sent = 0

    async def __aiter__(self):
        yield b'{"status": "generating", "padding": "'
        while True:
            self.sent += 65536
            yield b"x" * 65536


def noted(project) -> tuple[Job, list[str]]:
    notes: list[str] = []
    return replace(job(project), report=notes.append), notes


def solo(project) -> Job:
    """The one shot of SOLO (2 s: quick for the emulator to draw)."""
    return Job(storyboard.plan(storyboard.load(project.write(SOLO))).shots[0])


async def submit_and_wait(engine: AimlApiBackend, the_job: Job) -> str:
    return await asyncio.wait_for(engine.wait(the_job, await engine.submit(the_job)), 20)


def follow(engine: AimlApiBackend, the_job: Job) -> str:
    return run(submit_and_wait(engine, the_job))


@pytest.fixture
def hostile_service(monkeypatch):
    """An emulator whose key has both letter cases, with AIMLAPI_KEY and AIMLAPI_BASE_URL pointing at it."""
    running: list[Emulator] = []

    def start(**options) -> Emulator:
        emulator = Emulator(api_key=MIXED_KEY, latency=options.pop("latency", 0.3), profiles_from=Path.cwd(), **options).start()
        running.append(emulator)
        monkeypatch.setenv("AIMLAPI_KEY", MIXED_KEY)
        monkeypatch.setenv("AIMLAPI_BASE_URL", emulator.url)
        return emulator

    yield start
    for emulator in running:
        emulator.stop()


def scripted_faults(emulator: Emulator, kind: str, sequence: list[set[str]]) -> None:
    """The n-th request of `kind` ("create", "poll", "download") of each subject also gets `sequence[n]`."""
    draw, seen = emulator.faults.draw, collections.Counter[str]()

    def draw_scripted(request: str, subject: str) -> set[str]:  # the parameters of Faults.draw
        hits = draw(request, subject)
        if request == kind:
            seen[subject] += 1
            hits |= sequence[seen[subject] - 1] if seen[subject] <= len(sequence) else set()
        return hits

    emulator.faults.draw = draw_scripted  # type: ignore[method-assign]


def later(seconds: float, action) -> None:
    threading.Timer(seconds, action).start()


# 2. A status the tool does not know keeps the generation alive.


def test_an_unknown_status_is_followed_on_and_said_once(project):
    engine, _ = backend(Script(created(), status("in_queue"), status("in_queue"), status("HELD"), status("in_queue"),
                               status("generating"), status("completed", video={"url": "https://cdn.test/x.mp4"})))
    the_job, notes = noted(project)
    assert follow(engine, the_job) == "https://cdn.test/x.mp4"
    assert notes == ["the service says 'in_queue'; still waiting", "the service says 'HELD'; still waiting"]


def test_an_unknown_status_to_the_deadline_leaves_the_generation_unknown_never_failed(project):
    engine, slept = backend(Script(created(), then=status("in_queue")), poll=PollPolicy(timeout=600))
    the_job, notes = noted(project)
    with pytest.raises(UnknownGeneration, match="still sends the status 'in_queue'") as caught:
        follow(engine, the_job)
    assert isinstance(caught.value, SubmissionUnknown) and not isinstance(caught.value, GenerationFailed)
    assert sum(slept) > 600 and notes == ["the service says 'in_queue'; still waiting"]


def test_a_render_meeting_an_unknown_status_waits_for_the_clip_and_pays_once(project, run_cli, hostile_service):
    emulator = hostile_service(faults="odd_status=1")
    later(2.0, lambda: emulator.set_faults(""))
    project.write(SOLO)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert "solo: note: the service says 'in_queue'; still waiting" in err
    assert emulator.stats()["creates"] == 1 and emulator.stats()["faults"]["odd_status"] >= 1


# 3. A paid clip survives a broken download: retried, then a fresh URL.


@pytest.mark.parametrize("first", [
    httpx.Response(200, text="<html>502 Bad Gateway</html>", headers={"content-type": "text/html"}),
    httpx.Response(403, text="<Error>AccessDenied</Error>"),
    httpx.Response(404), httpx.Response(410), httpx.Response(502),
    httpx.Response(200, content=b"<!DOCTYPE html><p>try later</p>", headers={"content-type": "video/mp4"}),
], ids=["html", "403", "404", "410", "502", "a-page-called-video"])
def test_one_bad_answer_on_a_paid_clip_is_tried_again(project, tmp_path, first):
    engine, slept = backend(Script(first, httpx.Response(200, content=CLIP)))
    run(engine.fetch("https://cdn.test/x.mp4", tmp_path / "clip.mp4"))
    assert (tmp_path / "clip.mp4").read_bytes() == CLIP and len(slept) == 1


def test_a_url_that_keeps_failing_is_replaced_by_polling_the_generation_again(project, tmp_path):
    expired = httpx.Response(403, text="<Error>Request has expired</Error>")
    engine, _ = backend(Script(expired, expired, expired, status("completed", video={"url": "https://cdn.test/new.mp4"}),
                               httpx.Response(200, content=CLIP)))
    with pytest.raises(ExpiredVideoURL, match="has expired or is not accessible") as caught:
        run(engine.fetch("https://cdn.test/old.mp4", tmp_path / "clip.mp4"))
    assert isinstance(caught.value, LinkExpired)  # the generator polls again: what it does next
    fresh = run(engine.wait(job(project), Submission("gen-1")))
    run(engine.fetch(fresh, tmp_path / "clip.mp4"))
    assert fresh == "https://cdn.test/new.mp4" and (tmp_path / "clip.mp4").read_bytes() == CLIP


def test_a_render_keeps_its_paid_clip_through_an_html_page_and_a_403(project, run_cli, hostile_service):
    emulator = hostile_service()
    scripted_faults(emulator, "download", [{"html"}, {"expired"}])
    project.write(SOLO)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    stats = emulator.stats()
    assert (stats["creates"], stats["downloads"], stats["faults"]) == (1, 3, {"html": 1, "expired": 1})


# 4. Deadlines on every transfer, a cap on every answer, and a word when the service is unreachable.


def test_a_download_dripping_a_byte_at_a_time_is_given_up_not_waited_on(project, tmp_path):
    engine, _ = backend(Script(then=lambda request: httpx.Response(200, stream=Drip(CLIP, 0.02))),
                        limits=Limits(stall=0.2, progress_bytes=1024))
    began = time.monotonic()
    with pytest.raises(ExpiredVideoURL, match="the download stalled"):
        run(asyncio.wait_for(engine.fetch("https://cdn.test/x.mp4", tmp_path / "clip.mp4"), 20))
    assert time.monotonic() - began < 5  # the whole clip at this pace: a minute per attempt


def test_a_trickling_or_endless_poll_answer_is_cut_off_and_polling_goes_on(project):
    answer = json.dumps({"id": "gen-1", "status": "generating"}).encode()
    endless = Endless()
    engine, _ = backend(Script(created(), lambda request: httpx.Response(200, stream=Drip(answer, 0.05)),
                               lambda request: httpx.Response(200, stream=endless),
                               status("completed", video={"url": "https://cdn.test/x.mp4"})),
                        limits=Limits(answer_seconds=0.5))
    the_job, notes = noted(project)
    assert follow(engine, the_job) == "https://cdn.test/x.mp4"
    assert endless.sent < 2 * 1024 * 1024  # read to the 1 MB cap, then let go
    assert notes == ["the service sent an answer that is larger than 1,048,576 bytes (not read further); still waiting"]


def test_a_create_answer_that_trickles_or_never_ends_may_have_billed(project):
    for answer in (lambda request: httpx.Response(200, stream=Endless()),
                   lambda request: httpx.Response(200, stream=Drip(b'{"id": "gen-1"}', 0.2))):
        engine, _ = backend(Script(answer, created()), limits=Limits(answer_seconds=0.5))
        with pytest.raises(AmbiguousSubmission, match="may have been created and billed"):
            run(asyncio.wait_for(engine.submit(job(project)), 20))


def test_an_unreachable_service_is_said_while_polls_and_unsent_creates_are_retried(project):
    def refused(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    engine, _ = backend(Script(refused, refused, created(), refused, refused, refused,
                               status("completed", video={"url": "https://cdn.test/x.mp4"})))
    the_job, notes = noted(project)
    assert follow(engine, the_job) == "https://cdn.test/x.mp4"
    assert notes == [
        f"cannot reach the service at {BASE} ([Errno 111] Connection refused); nothing was sent, retrying",
        f"cannot reach the service at {BASE} ([Errno 111] Connection refused); still trying",
        "the service answers again",
    ]


def test_a_service_that_is_not_there_fails_the_create_saying_so(project):
    engine = AimlApiBackend(KEY, "http://127.0.0.1:9/v2", retry=RetryPolicy(attempts=3, base=0.01))
    the_job, notes = noted(project)
    with pytest.raises(ServiceError, match=re.escape("cannot reach the service at http://127.0.0.1:9/v2")) as caught:
        run(engine.submit(the_job))
    assert not isinstance(caught.value, SubmissionUnknown)  # nothing left this machine
    assert len(notes) == 1 and "nothing was sent, retrying" in notes[0]


def test_the_emulators_trickles_giants_and_pages_do_not_hang_a_render(project, hostile_service, monkeypatch):
    monkeypatch.setattr(hostile, "TRICKLE_SECONDS", 0.05)
    emulator = hostile_service(latency=1.0)
    scripted_faults(emulator, "poll", [{"trickle"}, {"giant"}, {"not_json"}])
    engine = AimlApiBackend(MIXED_KEY, emulator.url, **FAST, limits=Limits(stall=0.5, answer_seconds=0.5))

    async def scenario() -> None:  # one event loop: the backend's connections belong to it
        url = await submit_and_wait(engine, solo(project))
        emulator.set_faults("trickle=1")
        with pytest.raises(ExpiredVideoURL, match="stalled"):
            await asyncio.wait_for(engine.fetch(url, project.root / "clip.mp4"), 30)
        await engine.close()

    run(scenario())
    assert {"trickle", "giant", "not_json"} <= set(emulator.stats()["faults"])


# 8. Hostile answers: odd URLs, gzip, nonsense costs, the key echoed back.


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://cdn.test/x.mp4", "data:video/mp4;base64,AAAA",
                                 "/files/x.mp4", "javascript:alert(1)", "JavaScript:alert(1)", "https:///x.mp4"])
def test_a_video_url_that_is_not_http_is_refused_at_once(project, tmp_path, url):
    script = Script(created(), status("completed", video={"url": url}))
    engine, _ = backend(script)
    with pytest.raises(UnsafeVideoURL, match="refused") as caught:
        follow(engine, job(project))
    assert "only http and https" in str(caught.value) or "without a host" in str(caught.value)
    with pytest.raises(LinkExpired):  # nor fetched, when it comes from storyboard.lock: ask for a fresh one
        run(engine.fetch(url, tmp_path / "clip.mp4"))
    assert len(script.requests) == 2


def test_a_gzip_encoded_video_is_decoded(project, tmp_path):
    packed = gzip.compress(CLIP)
    engine, _ = backend(Script(lambda request: httpx.Response(
        200, stream=httpx.ByteStream(packed),
        headers={"Content-Encoding": "gzip", "Content-Length": str(len(packed)), "Content-Type": "video/mp4"})))
    run(engine.fetch("https://cdn.test/x.mp4", tmp_path / "clip.mp4"))
    assert (tmp_path / "clip.mp4").read_bytes() == CLIP


def test_a_render_takes_a_gzip_encoded_clip_following_a_redirect(project, run_cli, hostile_service):
    emulator = hostile_service(faults="gzip=1")
    scripted_faults(emulator, "download", [{"redirect"}])
    project.write(SOLO)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert emulator.stats()["faults"] == {"gzip": 1, "redirect": 1}


def test_a_redirect_loop_is_tried_again_then_given_up(project, hostile_service):
    emulator = hostile_service(latency=0.1)
    engine = AimlApiBackend(MIXED_KEY, emulator.url, **FAST)

    async def scenario() -> None:
        url = await submit_and_wait(engine, solo(project))
        emulator.set_faults("redirect=1")
        with pytest.raises(ExpiredVideoURL, match="redirected too many times"):
            await engine.fetch(url, project.root / "clip.mp4")
        await engine.close()

    run(scenario())


@pytest.mark.parametrize("usd", ["-0.65", "NaN", "Infinity", "-Infinity", "1e999", "true", '"0.65"'])
def test_a_negative_or_nonsense_cost_is_unknown_not_counted(project, usd):
    answer = f'{{"id": "gen-1", "status": "queued", "meta": {{"usage": {{"usd_spent": {usd}}}}}}}'.encode()
    engine, _ = backend(Script(httpx.Response(201, content=answer)))
    submission = run(engine.submit(job(project)))
    assert (submission.generation_id, submission.usd_spent) == ("gen-1", None)


@pytest.mark.parametrize("echo", [KEY.lower(), KEY.upper(), KEY.swapcase()])
def test_a_key_echoed_back_in_any_case_is_scrubbed(project, echo):
    engine, _ = backend(Script(httpx.Response(400, json={"error": {"name": "BadKey", "message": f"key {echo} is odd"}}),
                               created(), httpx.Response(403, json={"error": f"not yours: {echo}"})))
    with pytest.raises(ServiceError) as refused:
        run(engine.submit(job(project)))
    assert str(refused.value) == "the service refused the request (400): BadKey: key *** is odd"
    with pytest.raises(UnknownGeneration) as unknown:
        follow(engine, job(project))
    assert str(unknown.value).endswith("was refused (403): not yours: ***")


@pytest.mark.parametrize("url", [f"https://cdn.test/x.mp4?token={KEY.lower()}", f"https://cdn.test/{KEY.upper()}/x.mp4",
                                 "https://cdn.test/x.mp4?k=" + "".join(f"%{ord(c):02X}" for c in KEY)])
def test_a_video_url_carrying_the_key_is_neither_returned_nor_fetched(project, tmp_path, url):
    script = Script(created(), status("completed", video={"url": url}))
    engine, _ = backend(script)
    with pytest.raises(KeyInVideoURL, match="the service put the API key in the video URL") as caught:
        follow(engine, job(project))
    assert KEY.lower() not in str(caught.value).lower()
    with pytest.raises(KeyInVideoURL) as caught:
        run(engine.fetch(url, tmp_path / "clip.mp4"))
    assert isinstance(caught.value, LinkExpired)
    assert len(script.requests) == 2


def test_a_key_in_the_video_url_never_reaches_a_file_or_the_screen(project, run_cli, hostile_service):
    emulator = hostile_service(faults="echo_key=1")
    project.write(SOLO)
    code, out, err = run_cli(*PAID)  # the create is refused, its message echoing the key in lower case
    assert code == 1 and "invalid API key ***" in err
    emulator.set_faults("")
    scripted_faults(emulator, "poll", [{"echo_key"}] * 50)  # only polls: the video URL carries the key
    code, out, err = run_cli(*PAID)
    assert code == 1 and "solo: FAILED: " in err and "the service put the API key in the video URL" in err
    assert emulator.stats()["faults"]["echo_key"] >= 2 and emulator.stats()["downloads"] == 0
    assert MIXED_KEY.lower() not in (out + err).lower()
    for path in project.root.rglob("*"):
        if path.is_file():
            assert MIXED_KEY.lower().encode() not in path.read_bytes().lower(), path


def test_a_render_refuses_the_emulators_file_url(project, run_cli, hostile_service):
    emulator = hostile_service(faults="odd_scheme=1")
    project.write(SOLO)
    code, _, err = run_cli(*PAID)
    assert code == 1 and "solo: FAILED: " in err and "'file:' URL for the video; refused" in err
    assert emulator.stats()["downloads"] == 0 and not Path(project.root / "storyboard.lock").exists()


# 9. Every create carries an idempotency key; the emulator honours it.


def test_every_create_carries_the_jobs_idempotency_key_on_each_retry(project):
    def refused(request):
        raise httpx.ConnectError("connection refused", request=request)

    script = Script(httpx.Response(429), refused, created(), httpx.Response(429), created())
    engine, _ = backend(script)
    run(engine.submit(replace(job(project), idempotency_key="attempt-7f3a")))
    assert [request.headers["idempotency-key"] for request in script.requests[:3]] == ["attempt-7f3a"] * 3
    run(engine.submit(job(project)))  # no key from the generator: one is made, and kept for this create's retries
    made = [request.headers["idempotency-key"] for request in script.requests[3:]]
    assert made[0] == made[1] and len(made[0]) >= 32 and made[0] != "attempt-7f3a"


def test_a_create_retried_with_its_key_is_billed_once(project, hostile_service):
    emulator = hostile_service(latency=0.2, faults="lost=1")
    engine = AimlApiBackend(MIXED_KEY, emulator.url, **FAST)
    the_job = replace(solo(project), idempotency_key="attempt-1")

    async def scenario() -> None:
        with pytest.raises(AmbiguousSubmission):  # billed, but the answer was lost on the way
            await engine.submit(the_job)
        emulator.set_faults("")
        submission = await engine.submit(the_job)  # as the generator resends it, with the key it recorded
        stats = emulator.stats()
        assert (stats["creates"], stats["idempotent_replays"], stats["usd_spent"]) == (1, 1, 0.26)
        assert submission.usd_spent == 0.26 and (await engine.wait(the_job, submission)).endswith(".mp4")
        await engine.close()

    run(scenario())


def test_a_resubmitted_create_whose_answer_was_lost_is_not_paid_twice(project, run_cli, hostile_service):
    emulator = hostile_service(faults="lost=1")
    emulator.usage.outage = 403  # the usage log cannot tell what became of it: only consent pays again
    project.write(SOLO)
    code, _, err = run_cli(*PAID)
    assert code == 1 and "may have been created and billed" in err
    emulator.set_faults("")
    code, out, err = run_cli(*PAID, "--resubmit", "solo")
    assert code == 0, out + err
    stats = emulator.stats()
    assert (stats["creates"], stats["idempotent_replays"], stats["usd_spent"]) == (1, 1, 0.26)
