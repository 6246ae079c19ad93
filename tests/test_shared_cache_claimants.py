"""Claims in the shared cache while their owners wait: a claimant the service rate-limits for minutes
keeps its claim alive, and a claim whose generation this key cannot follow. Same servers as
test_shared_cache.py (moto's S3 and the emulator); each "machine" is a project folder of its own."""
# ruff: noqa: F811 - the servers' fixtures are imported from test_shared_cache
from __future__ import annotations

import json
import time
from typing import Any

from conftest import said
from processes import Render
from test_shared_cache import BOARD, PAID, bucket, film_is_whole, machine, s3_endpoint  # noqa: F401 - fixtures

from storyboard.emulator import faults
from storyboard.generating import fetching

ONE_SHOT = BOARD.split("  - {{id: two")[0] + "output: {{path: out/film.mp4}}\n"


def accepted_creates(emulator: Any) -> int:
    """Creates the service accepted: a service that ignores Idempotency-Key bills a replay too."""
    stats = emulator.stats()
    return int(stats["creates"] + stats["idempotent_replays"])


def wait_until(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_claimant_waiting_out_429s_longer_than_takeover_after_is_not_taken_over(
        tmp_path, bucket, service, monkeypatch):
    """The service answers 429 with Retry-After 25 for over a minute; another machine with
    `takeover_after: 60` waits for the claimant instead of taking its claim over and paying too."""
    alice, bob = machine(tmp_path / "alice", bucket, ONE_SHOT), machine(tmp_path / "bob", bucket, ONE_SHOT)
    monkeypatch.setattr(faults, "RETRY_AFTER_SECONDS", 25)
    monkeypatch.setenv("STORYBOARD_CACHE_TAKEOVER_AFTER", "60")
    monkeypatch.chdir(alice.root)  # the emulator takes the project's model profiles (2 s clips)
    emulator = service(latency=0.5, faults="429=1")
    rate_limited = lambda count: lambda: emulator.stats()["faults"].get("429", 0) >= count  # noqa: E731

    claimant = Render(alice.root, *PAID)
    wait_until(rate_limited(1))  # claimed, and waiting out its first 429
    other = Render(bob.root, *PAID)
    wait_until(rate_limited(3))  # 50 s in; the next try comes 25 s later, past takeover_after
    emulator.set_faults("")

    (code, said), (other_code, other_said) = claimant.finish(), other.finish()

    assert code == 0, said
    assert other_code == 0, other_said
    assert accepted_creates(emulator) == 1
    assert "taking over" not in other_said, other_said
    assert ": submitted" not in other_said  # it followed the claimant's generation, or took its clip from the cache
    assert film_is_whole(alice) and film_is_whole(bob)


def test_a_claimant_whose_claim_was_taken_over_while_it_waited_creates_nothing(tmp_path, bucket, service, monkeypatch):
    alice = machine(tmp_path / "alice", bucket, ONE_SHOT)
    monkeypatch.setattr(faults, "RETRY_AFTER_SECONDS", 25)
    monkeypatch.setenv("STORYBOARD_RETRY_SCALE", "0.1")  # 2.5 s between tries, a heartbeat every 2 s
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5, faults="429=1")

    claimant = Render(alice.root, *PAID)
    wait_until(lambda: emulator.stats()["faults"].get("429", 0) >= 1)
    first = bucket.ending("/claims/000001.json")[0]
    # Another machine took it over meanwhile (as one whose clock ran fast would), and is creating it.
    taken = json.loads(bucket.read(first)) | {
        "attempt": 2, "owner": {"id": "bob-run", "user": "bob", "host": "ci-7", "pid": 7}, "claim_id": "bobs"}
    bucket.write(first.replace("000001", "000002"), json.dumps(taken).encode())
    emulator.set_faults("")

    code, said = claimant.finish()

    assert code == 1, said
    assert "took this render's claim over" in said and "ci-7" in said
    assert accepted_creates(emulator) == 0
    assert json.loads(bucket.read(first))["status"] == "failed"  # nothing more will come of it


def test_a_claim_naming_a_generation_this_key_cannot_poll_fails_at_once_with_advice_and_resubmit_creates_it(
        tmp_path, bucket, service, monkeypatch, run_cli):
    alice = machine(tmp_path / "alice", bucket, ONE_SHOT)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    monkeypatch.setattr(fetching, "CLIP_WAIT", 1.0)  # the claim is older than a generation may take to finish
    request = json.loads(run_cli("plan", "board.yaml", "--json")[1])["shots"][0]["hash"]
    backend = f"aimlapi@{emulator.url.split('//')[1].split('/')[0].replace(':', '-')}"
    key = f"team/v1/{backend}/{request}/claims/000001.json"
    # Made by a machine with another account's key: the service answers 404 to this key's polls.
    bucket.write(key, json.dumps({
        "status": "submitted", "generation": "gen-of-another-account", "idempotency_key": "theirs",
        "owner": {"id": "bob-run", "user": "bob", "host": "ci-7", "pid": 7}, "claimed_at": "2026-12-01T08:00:00Z",
    }).encode())

    for _ in range(2):  # every render says so, without waiting the clip out again
        code, out, err = run_cli(*PAID)
        assert code == 1
        assert "cannot be followed with this machine's API key" in said(err) and "404" in err
        assert "--resubmit one" in err
        assert emulator.stats()["creates"] == 0

    code, out, err = run_cli(*PAID, "--resubmit", "one")

    assert code == 0, out + err
    assert "taking over the claim" in err
    assert accepted_creates(emulator) == 1
    taken = json.loads(bucket.read(key.replace("000001", "000002")))
    assert taken["takes_over"]["attempt"] == 1 and taken["status"] == "completed" and taken["generation"]
