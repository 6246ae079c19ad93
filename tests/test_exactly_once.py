"""Exactly once across lost answers: every create carries an `X-Client-Request-Id`, and a create
whose answer was lost (dropped, timed out, a render killed inside the round trip) is looked up in
the service's usage log (`GET /v2/logs`) and followed, before anyone is asked to pay again."""
from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time

import httpx
import pytest
from conftest import KEY
from processes import killed_inside_the_create

import storyboard
from storyboard.backends import Job, LostCreate, Traced
from storyboard.backends.aimlapi import SCALE_VARIABLE, AimlApiBackend, ServiceError
from storyboard.backends.aimlapi.usage_log import LogPolicy
from storyboard.project.correlation import client_request_id, is_valid

SOLO = "storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2}]\n"
PAID = ("render", "board.yaml", "--backend", "aimlapi", "--yes")
MODEL = "alibaba/wan-2-7-r2v"
ALLOWED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def state_rows(project) -> list[dict]:
    with sqlite3.connect(project.root / ".storyboard" / "state.sqlite") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM generations")]


def test_a_create_whose_answer_is_dropped_is_followed_through_the_usage_log(project, run_cli, service):
    emulator = service(faults="lost=1")  # created and billed, then the connection closes without an answer
    project.write(SOLO)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert "--resubmit" not in out + err  # nobody was asked
    assert "usage log names its generation" in out + err
    assert emulator.stats()["creates"] == 1
    [row] = emulator.usage.rows()
    [record] = state_rows(project)
    assert row["client_request_id"] == record["client_request_id"] and ALLOWED.fullmatch(row["client_request_id"])
    assert row["inference_id"] == record["generation_id"] and record["status"] == "stored"


def test_a_usage_log_that_lags_less_than_the_bound_still_finds_the_create(project, run_cli, service, monkeypatch):
    emulator = service(faults="lost=1")
    monkeypatch.setenv("STORYBOARD_LOG_LAG", "30")
    emulator.usage.lag = 3.0  # rows reach the log 3 s after their request
    project.write(SOLO)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert "which may lag" in out + err and "--resubmit" not in out + err
    assert emulator.stats()["creates"] == 1
    assert emulator.usage.requests >= 2  # asked again until the row arrived


def test_an_unreachable_usage_log_leaves_paying_again_to_consent_as_before(project, run_cli, service, monkeypatch):
    monkeypatch.setenv(SCALE_VARIABLE, "0.01")
    emulator = service(faults="lost=1")
    emulator.usage.outage = 503
    project.write(SOLO)
    code, out, err = run_cli(*PAID)
    assert code == 1
    assert "usage log cannot answer (HTTP 503" in err and "--resubmit" in err
    assert emulator.stats()["creates"] == 1

    emulator.set_faults("")
    code, out, err = run_cli(*PAID, "--resubmit", "solo")
    assert code == 0, out + err
    assert (emulator.stats()["creates"], emulator.stats()["idempotent_replays"]) == (1, 1)


def test_a_render_killed_inside_the_create_round_trip_is_followed_without_consent(project, run_cli, service):
    emulator = service(latency=1, faults="slow=1")  # every answer is late: the kill lands while the create is on the wire
    project.write(SOLO)
    killed_inside_the_create(project.root, emulator, *PAID)
    [record] = state_rows(project)
    assert record["status"] == "claimed" and record["client_request_id"]  # recorded before the create was sent

    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert "found in the service's usage log" in out and "--resubmit" not in out + err
    assert emulator.stats()["creates"] == 1 and emulator.stats()["idempotent_replays"] == 0


def _trace(emulator, lost: LostCreate, **policy) -> tuple[Traced, AimlApiBackend]:
    engine = AimlApiBackend(KEY, emulator.url, log=LogPolicy(**policy))

    async def go() -> Traced:
        try:
            return await engine.trace(lost)
        finally:
            await engine.close()

    return asyncio.run(go()), engine


def test_the_usage_log_is_paged_beyond_a_hundred_rows(service):
    emulator = service()
    claimed = time.time()
    emulator.usage.record(KEY, status="succeeded", model=MODEL, usd=0.26, inference_id="gen-ours",
                          client_id="storyboard:abc:1")
    for number in range(250):  # later requests: newest first, ours is on the third page
        emulator.usage.record(KEY, status="succeeded", model=MODEL, usd=0.26, inference_id=f"gen-{number}",
                              client_id=f"other:{number}")
    traced, _ = _trace(emulator, LostCreate("storyboard:abc:1", MODEL, claimed, time.time()))
    assert (traced.verdict, traced.generation_id) == ("created", "gen-ours")
    assert emulator.usage.requests == 3


def test_the_usage_logs_429_is_waited_out(service):
    emulator = service()
    emulator.usage.rate_window = 4.0
    claimed = time.time()
    emulator.usage.record(KEY, status="succeeded", model=MODEL, usd=0.26, inference_id="gen-ours",
                          client_id="storyboard:abc:1")
    with httpx.Client() as client:
        for _ in range(200):
            client.get(f"{emulator.origin}/v2/logs", params={"period": "1h"}, headers={"Authorization": f"Bearer {KEY}"})
    traced, _ = _trace(emulator, LostCreate("storyboard:abc:1", MODEL, claimed, time.time()), first_wait=0.1)
    assert (traced.verdict, traced.generation_id) == ("created", "gen-ours")
    assert emulator.usage.rate_limited >= 1


def test_a_create_missing_from_the_log_after_the_bound_never_arrived_unless_the_log_lags(service):
    emulator = service()
    emulator.usage.record(KEY, status="succeeded", model=MODEL, usd=0.26, inference_id="gen-other", client_id=None)
    sent = time.time() - 2
    lost = LostCreate("storyboard:abc:1", MODEL, sent, sent, known=("gen-other",))
    traced, _ = _trace(emulator, lost, lag_bound=0.2, first_wait=0.05)
    assert traced.verdict == "absent"  # the project's other create of then is listed: the log has caught up
    lagging, _ = _trace(emulator, LostCreate("storyboard:abc:1", MODEL, sent, sent, known=("gen-not-yet",)),
                        lag_bound=0.2, first_wait=0.05)
    assert lagging.verdict == "unknown" and "lags more than that" in lagging.reason


def test_a_create_dropped_before_it_reached_the_service_is_sent_again_without_consent(project, service):
    from storyboard import render
    from storyboard.events import Event

    emulator = service(faults="drop=1")  # the connection closes and nothing is created
    board = project.write(SOLO)
    notes: list[str] = []

    def heal_after_the_verdict(event: Event) -> None:
        notes.append(event.message)
        if "never reached the service" in event.message:
            emulator.set_faults("")

    render(board, backend="aimlapi", on_event=heal_after_the_verdict)
    assert emulator.stats()["creates"] == 1
    assert not any("--resubmit" in note for note in notes)
    [record] = state_rows(project)
    assert record["attempts"] == 2 and record["client_request_id"].endswith(":2")


def test_the_services_error_message_and_request_id_are_shown_without_the_key(project):
    refusal = {"message": f"You've run out of credits (key {KEY.upper()}). Please top up your balance",
               "path": "/v2/video/generations", "requestId": "798b860e-98c2-4e8e-8c50-550bcfc2eccc",
               "statusCode": 403, "timestamp": "2025-03-11T07:13:27.813Z"}
    engine = AimlApiBackend(KEY, "https://api.test/v2",
                            transport=httpx.MockTransport(lambda request: httpx.Response(403, json=refusal)))
    item = storyboard.plan(storyboard.load(project.write(SOLO))).shots[0]
    with pytest.raises(ServiceError) as raised:
        asyncio.run(engine.submit(Job(item)))
    text = str(raised.value)
    assert "You've run out of credits" in text and "request id 798b860e-98c2-4e8e-8c50-550bcfc2eccc" in text
    assert KEY.lower() not in text.lower()


def test_every_create_carries_a_valid_client_request_id_the_same_on_a_retry(project):
    seen: list[httpx.Request] = []
    answers = [httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "Too Many Requests"}),
               httpx.Response(201, json={"id": "gen-1", "status": "queued"})]

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    async def no_sleep(seconds: float) -> None:
        pass

    engine = AimlApiBackend(KEY, "https://api.test/v2", transport=httpx.MockTransport(answer), sleep=no_sleep)
    item = storyboard.plan(storyboard.load(project.write(SOLO))).shots[0]
    traced = client_request_id(item.hash, 1)
    assert asyncio.run(engine.submit(Job(item, client_request_id=traced))).generation_id == "gen-1"
    assert [request.headers["X-Client-Request-Id"] for request in seen] == [traced, traced]


@pytest.mark.parametrize("request_hash", ["0" * 64, "ab/cd+ef==", "é" * 200, "", "x" * 500])
@pytest.mark.parametrize("attempt", [1, 2, 10**12])
def test_client_request_ids_use_only_the_characters_the_service_keeps(request_hash, attempt):
    built = client_request_id(request_hash, attempt)
    assert is_valid(built) and ALLOWED.fullmatch(built)
    assert client_request_id(request_hash, attempt) == built != client_request_id(request_hash, attempt + 1)


def test_the_emulator_drops_an_invalid_client_request_id_silently(service):
    emulator = service()
    body = json.dumps({"model": MODEL, "prompt": "a lighthouse", "resolution": "720p", "duration": 5})
    with httpx.Client() as client:
        answer = client.post(f"{emulator.url}/video/generations", content=body,
                             headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json",
                                      "X-Client-Request-Id": "has space"})
    assert answer.status_code == 201 and answer.headers["x-inference-id"] == answer.json()["id"]
    assert "x-client-request-id" not in answer.headers
    assert emulator.usage.rows()[0]["client_request_id"] is None


def test_a_row_listed_under_another_model_name_is_found_before_the_create_is_called_absent(service):
    emulator = service()
    emulator.usage.record(KEY, status="succeeded", model="alibaba/wan-2.7-reference", usd=0.26, inference_id="gen-ours",
                          client_id="storyboard:abc:1")
    sent = time.time() - 2
    traced, _ = _trace(emulator, LostCreate("storyboard:abc:1", MODEL, sent, sent), lag_bound=0.2, first_wait=0.05)
    assert (traced.verdict, traced.generation_id) == ("created", "gen-ours")
