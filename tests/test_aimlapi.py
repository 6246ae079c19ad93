"""The aimlapi backend's policies, against scripted HTTP answers (httpx.MockTransport).

End-to-end runs over real HTTP against the emulator are in test_service_e2e.py.
"""
from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest

import storyboard
from storyboard.backends import Job
from storyboard.backends.aimlapi import (
    SCALE_VARIABLE,
    AimlApiBackend,
    AmbiguousSubmission,
    ExpiredVideoURL,
    PollPolicy,
    RetryPolicy,
    ServiceError,
)
from storyboard.errors import InvalidStoryboard, LinkExpired, UsageError

KEY = "sk-test-0123456789abcdef"
BASE = "https://api.test/v2"
CLIP = (Path(__file__).resolve().parent.parent / "examples" / "raccoon-and-fairy" / "assets" / "raccoon.mp4").read_bytes()
BOARD = """
storyboard: 1
defaults: {resolution: 720p, duration: 5}
shots:
  - id: one
    prompt: a lighthouse at dawn
    seed: 4
"""


class Script:
    """Answers requests from a list of handlers, one per request, recording what was asked;
    once the list is used up, `then` (if given) answers every further request."""

    def __init__(self, *answers, then=None):
        self.answers = list(answers)
        self.then = then
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers or self.then is None else self.then
        return answer(request) if callable(answer) else answer


def backend(script: Script, **options) -> tuple[AimlApiBackend, list[float]]:
    """The backend on `script`, with a fake clock that only the backend's sleeps move on."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    engine = AimlApiBackend(KEY, BASE, transport=httpx.MockTransport(script), sleep=sleep,
                            clock=lambda: sum(slept), **options)
    return engine, slept


def job(project) -> Job:
    return Job(storyboard.plan(storyboard.load(project.write(BOARD))).shots[0])


def created(usd: float = 0.65) -> httpx.Response:
    return httpx.Response(200, json={"id": "gen-1", "status": "queued", "meta": {"usage": {"credits_used": 1, "usd_spent": usd}}})


def status(value: str, **extra) -> httpx.Response:
    return httpx.Response(200, json={"id": "gen-1", "status": value, **extra})


def run(coroutine):
    return asyncio.run(coroutine)


def test_missing_key_fails_before_any_request():
    with pytest.raises(UsageError, match="AIMLAPI_KEY is not set; export AIMLAPI_KEY="):
        AimlApiBackend("", BASE)


def test_create_sends_the_planned_body_with_the_key_and_records_cost(project):
    script = Script(created(0.65))
    engine, _ = backend(script)
    submission = run(engine.submit(job(project)))
    assert (submission.generation_id, submission.usd_spent) == ("gen-1", 0.65)
    (request,) = script.requests
    assert request.url == f"{BASE}/video/generations" and request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "alibaba/wan-2-7-r2v", "prompt": "a lighthouse at dawn", "resolution": "720p", "duration": 5, "seed": 4,
    }


def test_create_retries_rate_limits_and_refused_connections_only(project):
    def refused(request):
        raise httpx.ConnectError("connection refused", request=request)

    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), refused, created())
    engine, slept = backend(script)
    assert run(engine.submit(job(project))).generation_id == "gen-1"
    assert len(script.requests) == 3
    assert slept[0] >= 7  # Retry-After honoured


def test_a_create_rate_limited_on_every_attempt_says_so(project):
    script = Script(then=httpx.Response(429, json={"error": {"message": "slow down"}}))
    engine, slept = backend(script, retry=RetryPolicy(attempts=3))
    with pytest.raises(ServiceError, match="kept answering 429"):
        run(engine.submit(job(project)))
    assert (len(script.requests), len(slept)) == (3, 2)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json={"error": {"message": "internal"}}),
        httpx.Response(502, text="bad gateway"),
        "timeout",
        "dropped",
        httpx.Response(200, json={"status": "queued"}),
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json=[1]),
    ],
    ids=["500", "502", "read-timeout", "dropped", "no-id", "accepted-not-json", "accepted-not-an-object"],
)
def test_ambiguous_create_is_never_retried(project, answer):
    def fail(request):
        if answer == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        raise httpx.RemoteProtocolError("server disconnected", request=request)

    script = Script(fail if isinstance(answer, str) else answer, created())
    engine, _ = backend(script)
    with pytest.raises(AmbiguousSubmission, match="may have been created and billed, so it is not retried"):
        run(engine.submit(job(project)))
    assert len(script.requests) == 1


def test_an_odd_usage_field_does_not_lose_the_generation_id(project):
    script = Script(httpx.Response(200, json={"id": "gen-9", "status": "queued", "meta": "n/a"}))
    engine, _ = backend(script)
    submission = run(engine.submit(job(project)))
    assert (submission.generation_id, submission.usd_spent) == ("gen-9", None)


def test_a_refused_poll_leaves_the_generation_unknown_not_failed(project):
    from storyboard.backends import GenerationFailed, SubmissionUnknown

    script = Script(created(), httpx.Response(404, json={"error": "generation not found"}))
    engine, _ = backend(script)
    the_job = job(project)
    with pytest.raises(SubmissionUnknown, match="was refused \\(404\\): generation not found") as caught:
        run(engine.wait(the_job, run(engine.submit(the_job))))
    assert not isinstance(caught.value, GenerationFailed)


def test_refusals_carry_the_service_message_without_the_key(project):
    script = Script(httpx.Response(400, json={"error": {"message": f"bad duration for key {KEY}"}}))
    engine, _ = backend(script)
    with pytest.raises(ServiceError) as caught:
        run(engine.submit(job(project)))
    assert str(caught.value) == "the service refused the request (400): bad duration for key ***"


def test_polling_follows_statuses_backs_off_and_honours_retry_after(project):
    script = Script(
        created(),
        status("queued"),
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "4"}),
        status("generating"),
        status("completed", video={"url": "https://cdn.test/x.mp4"}),
    )
    engine, slept = backend(script, poll=PollPolicy(first=1.0))
    the_job = job(project)
    submission = run(engine.submit(the_job))
    assert run(engine.wait(the_job, submission)) == "https://cdn.test/x.mp4"
    polls = script.requests[1:]
    assert all(request.url.params["generation_id"] == "gen-1" for request in polls)
    assert slept[3] >= 4  # the poll after the 429 waited its Retry-After


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (status("error", error={"name": "ContentPolicyViolation", "message": "the prompt was flagged"}),
         "generation gen-1 failed on the service: ContentPolicyViolation: the prompt was flagged"),
        (status("failed", error={"message": "content policy violation"}),  # not published, tolerated
         "generation gen-1 failed on the service: content policy violation"),
        (status("ERROR"), "generation gen-1 failed on the service: no reason given"),
        (httpx.Response(404, json={"error": {"message": "no such generation"}}), "was refused (404): no such generation"),
    ],
)
def test_failures_are_surfaced_with_the_service_message(project, answer, message):
    engine, _ = backend(Script(created(), answer))
    the_job = job(project)
    submission = run(engine.submit(the_job))
    with pytest.raises(ServiceError, match=re.escape(message)):
        run(engine.wait(the_job, submission))


def test_poll_interval_tracks_a_tenth_of_the_wait_within_bounds():
    policy = PollPolicy(first=1.0, fraction=0.1, cap=30.0)
    assert policy.interval(3, None) == 1.0
    assert policy.interval(120, None) == 12.0
    assert policy.interval(900, None) == 30.0
    assert policy.interval(100, expected=104) == 4.0  # expected completion is near: check then


def test_the_scale_variable_shortens_every_wait_but_not_the_timeout(project, monkeypatch):
    parsed = storyboard.load(project.write(BOARD))
    monkeypatch.setenv("AIMLAPI_KEY", KEY)
    monkeypatch.setenv(SCALE_VARIABLE, "0.01")
    engine = AimlApiBackend.for_storyboard(parsed)
    assert engine.poll.first_interval() == pytest.approx(0.01)
    assert engine.poll.interval(900, None) == pytest.approx(0.3) and engine.poll.timeout == 1800.0
    assert engine.retry.delay(0, retry_after=1.0) == pytest.approx(0.01)  # the service's Retry-After too
    assert engine.retry.delay(10, None) <= 0.3
    for wrong in ("0", "-1", "nan", "inf", "fast"):
        monkeypatch.setenv(SCALE_VARIABLE, wrong)
        with pytest.raises(UsageError, match=SCALE_VARIABLE):
            AimlApiBackend.for_storyboard(parsed)
    monkeypatch.delenv(SCALE_VARIABLE)
    engine = AimlApiBackend.for_storyboard(parsed)
    assert (engine.poll.first_interval(), engine.retry.scale) == (1.0, 1.0)


def test_download_retries_truncation_and_checks_the_video(project, tmp_path):
    def truncated(request):
        return httpx.Response(200, headers={"Content-Length": str(len(CLIP))}, content=CLIP[:100])

    script = Script(truncated, httpx.Response(200, content=CLIP, headers={"content-type": "video/mp4"}))
    engine, _ = backend(script)
    destination = tmp_path / "clip.mp4"
    run(engine.fetch("https://cdn.test/x.mp4", destination))
    assert destination.read_bytes() == CLIP
    assert all("authorization" not in request.headers for request in script.requests)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(403, text="<Error>Request has expired</Error>"), "has expired or is not accessible"),
        (httpx.Response(200, text="<html>oops</html>", headers={"content-type": "text/html"}), "HTML page, not a video"),
        (httpx.Response(200, content=b"\x89PNG\r\n\x1a\n" + b"0" * 100), "is PNG image, not a video"),
        (httpx.Response(200, content=CLIP[:600]), "damaged or truncated"),
    ],
    ids=["expired", "html", "not-video", "corrupt"],
)
def test_download_refuses_what_is_not_a_whole_video(project, tmp_path, answer, message):
    """Tried again with backoff; when every attempt fails, the generator is told to ask for a fresh URL."""
    script = Script(then=answer)
    engine, slept = backend(script)
    with pytest.raises(ExpiredVideoURL, match=re.escape(message)) as caught:
        run(engine.fetch("https://cdn.test/x.mp4", tmp_path / "clip.mp4"))
    assert isinstance(caught.value, LinkExpired)
    assert len(script.requests) == engine.retry.refused_downloads and len(slept) == engine.retry.refused_downloads - 1
    assert slept == sorted(slept)  # backing off


def test_local_references_without_a_publishing_route_fail_before_paying(project, monkeypatch):
    monkeypatch.setenv("AIMLAPI_KEY", KEY)
    monkeypatch.delenv("STORYBOARD_S3_BUCKET", raising=False)  # the environment's bucket would be a route
    monkeypatch.setenv("AIMLAPI_BASE_URL", "http://127.0.0.1:9/v2")  # nothing listens: a request would fail
    project.write(BOARD + "    image_urls: [assets/red.png]\n  - id: two\n    prompt: x\n    first_frame: {shot: one}\n")
    with pytest.raises(InvalidStoryboard) as caught:
        storyboard.render("board.yaml", backend="aimlapi")
    assert [str(problem) for problem in caught.value.problems] == [
        "board.yaml:7:18: 'assets/red.png' is a local file and the service fetches references by URL: "
        "add `publish: {s3: {bucket: ...}}` to the storyboard or set STORYBOARD_S3_BUCKET, or use an https URL",
    ]


def test_first_frame_files_go_inline_where_the_model_accepts_them(project):
    project.write(BOARD + "    first_frame_image: assets/red.png\n")
    item = storyboard.plan(storyboard.load("board.yaml")).shots[0]
    script = Script(created())
    engine, _ = backend(script)
    run(engine.submit(Job(item)))
    sent = json.loads(script.requests[0].content)
    assert sent["first_frame_image"].startswith("data:image/png;base64,iVBOR")
