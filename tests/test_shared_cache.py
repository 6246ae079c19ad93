"""The clip cache shared by several machines (issue 15), against a local S3-compatible server (moto's,
started here on 127.0.0.1) and the emulator of the service. A "machine" is a project folder of its own,
with its own `.storyboard/` state, rendered by its own `storyboard render --backend aimlapi` process."""
from __future__ import annotations

import json
import math
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from avprobe import decode_errors
from conftest import KEY, Project, said
from processes import Render
from s3proxy import MotoDidNotStart, start_moto

from storyboard.cache import claims
from storyboard.cache.claims import Claim, Owner, decide
from storyboard.cache.settings import shared_settings
from storyboard.errors import UsageError
from storyboard.model import CacheSettings, SharedStore

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "team-cache-test", "AWS_SECRET_ACCESS_KEY": "team-cache-test-secret"}
PAID = ("render", "board.yaml", "--backend", "aimlapi", "--yes")
BOARD = """
storyboard: 1
defaults: {{resolution: 720p, duration: 2}}
cache:
  s3: {{bucket: {bucket}, prefix: team/, endpoint: "{endpoint}"}}
shots:
  - {{id: one, prompt: a lighthouse at dusk, seed: 1}}
  - {{id: two, prompt: waves on rocks, seed: 2}}
  - {{id: three, prompt: a gull takes off, seed: 3}}
  - {{id: again, prompt: a lighthouse at dusk, seed: 1}}
output: {{path: out/film.mp4}}
"""
DISTINCT_REQUESTS = 3  # `again` is the same request as `one`


# -- servers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server (the `moto[server]` extra) in a process of its own on 127.0.0.1."""
    try:
        server, endpoint = start_moto()
    except MotoDidNotStart as error:
        pytest.fail(str(error))
    yield endpoint
    server.terminate()
    server.wait(timeout=10)


@dataclass
class Bucket:
    name: str
    endpoint: str
    client: Any

    def objects(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def write(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def ending(self, suffix: str) -> list[str]:
        return [key for key in self.objects() if key.endswith(suffix)]


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A bucket of its own for each test (the server outlives them), and credentials for it."""
    import boto3

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("STORYBOARD_CACHE", "STORYBOARD_CACHE_BUCKET", "STORYBOARD_CACHE_ENDPOINT", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **{
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]})
    name = f"clips-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    return Bucket(name, s3_endpoint, client)


def machine(root: Path, bucket: Bucket, board: str = BOARD) -> Project:
    """A clone of the project on a machine of its own: its own folder and state."""
    root.mkdir(parents=True)
    project = Project(root)
    project.write(board.format(bucket=bucket.name, endpoint=bucket.endpoint))
    return project


def film_is_whole(project: Project) -> bool:
    film = project.root / "out" / "film.mp4"
    return film.is_file() and decode_errors(film) == ""


# -- pay once across machines ------------------------------------------------------------------------


def test_two_machines_rendering_at_once_pay_once_per_request_and_a_third_clone_pays_nothing(
        tmp_path, bucket, service, monkeypatch, run_cli):
    alice, bob = machine(tmp_path / "alice", bucket), machine(tmp_path / "bob", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=3)

    renders = [Render(alice.root, *PAID), Render(bob.root, *PAID)]
    results = [render.finish() for render in renders]

    for code, output in results:
        assert code == 0, output
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    assert film_is_whole(alice) and film_is_whole(bob)
    # Whoever lost the claim of a request followed the winner's generation instead of paying for it.
    assert sum(output.count(": following generation") for _, output in results) == DISTINCT_REQUESTS
    assert (alice.root / "storyboard.lock").read_text() == (bob.root / "storyboard.lock").read_text()
    assert len(bucket.ending("/clip.json")) == DISTINCT_REQUESTS
    assert all(KEY not in bucket.read(key).decode("latin-1") for key in bucket.objects() if key.endswith(".json"))

    # A third clone: the storyboard and its lock from git, no state; the result URLs have expired.
    carol = machine(tmp_path / "carol", bucket)
    (carol.root / "storyboard.lock").write_text((alice.root / "storyboard.lock").read_text())
    emulator.set_faults("expired=1")
    asked = emulator.stats()["requests"]
    monkeypatch.chdir(carol.root)

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert out.count("done (from the shared cache") == DISTINCT_REQUESTS
    assert emulator.stats()["requests"] == asked  # not one request to the service: no create, poll or download
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    assert film_is_whole(carol)


def kill_after_creating(root: Path) -> None:
    """A render in `root` killed (SIGKILL) once it has created every request."""
    killed = Render(root, *PAID)
    killed.wait_for(": submitted: generation", count=DISTINCT_REQUESTS)
    killed.process.kill()
    killed.finish()


def test_a_claimant_killed_after_creating_leaves_the_other_machine_to_finish_without_paying_again(
        tmp_path, bucket, service, monkeypatch, run_cli):
    alice, bob = machine(tmp_path / "alice", bucket), machine(tmp_path / "bob", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=5)
    kill_after_creating(alice.root)
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS

    code, output = Render(bob.root, *PAID).finish()

    assert code == 0, output
    assert output.count(": following generation") == DISTINCT_REQUESTS and ": submitted" not in output
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    assert film_is_whole(bob)
    # The killed machine, started again, resumes what it submitted: still nothing paid twice.
    monkeypatch.chdir(alice.root)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    assert film_is_whole(alice)


def test_a_claimant_killed_before_writing_its_generation_id_into_the_claim_writes_it_when_it_resumes(
        tmp_path, bucket, service, monkeypatch, run_cli):
    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=5)
    kill_after_creating(alice.root)
    # As if killed between recording the generation id in its own state and in its claims.
    for key in bucket.ending("/000001.json"):
        record = json.loads(bucket.read(key))
        record.pop("generation")
        bucket.write(key, json.dumps(record | {"status": "claimed"}).encode())

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert out.count("resuming generation") == DISTINCT_REQUESTS
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    recorded = [json.loads(bucket.read(key)) for key in bucket.ending("/000001.json")]
    assert all(record["generation"] and record["status"] == "completed" for record in recorded)


def test_a_claim_this_project_made_before_a_crash_and_never_created_under_is_carried_on(
        tmp_path, bucket, service, monkeypatch, run_cli):
    board = BOARD.split("  - {{id: two")[0] + "output: {{path: out/film.mp4}}\n"
    alice = machine(tmp_path / "alice", bucket, board)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    request = json.loads(run_cli("plan", "board.yaml", "--json")[1])["shots"][0]["hash"]
    (alice.root / ".storyboard").mkdir(exist_ok=True)  # plan may have kept the price list there
    earlier = Owner.of_project(alice.root / ".storyboard").id
    # Killed after claiming in the bucket, before recording anything in its own state: nothing was created.
    claims.note_claim(alice.root / ".storyboard", "claim-of-an-earlier-render")
    backend = f"aimlapi@{emulator.url.split('//')[1].split('/')[0].replace(':', '-')}"
    claim = {"status": "claimed", "owner": {"id": earlier, "user": "alice", "host": "laptop", "pid": 1},
             "claimed_at": "2026-11-26T09:00:00Z", "request": request, "idempotency_key": "k-1",
             "claim_id": "claim-of-an-earlier-render"}
    bucket.write(f"team/v1/{backend}/{request}/claims/000001.json", json.dumps(claim).encode())

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert emulator.stats()["creates"] == 1
    assert "taking over" not in err  # no other machine's claim: its own, claimed again as a new attempt
    again = json.loads(bucket.read(f"team/v1/{backend}/{request}/claims/000002.json"))
    assert again["status"] == "completed" and again["idempotency_key"] == "k-1"


# -- claims another machine left -----------------------------------------------------------------------


def _stalled_claim(bucket: Bucket, emulator: Any, run_cli: Any, body: bytes) -> str:
    """Leave `body` as the first claim of shot `one`'s request, as a machine that stopped would; its key."""
    request = json.loads(run_cli("plan", "board.yaml", "--json")[1])["shots"][0]["hash"]
    backend = f"aimlapi@{emulator.url.split('//')[1].split('/')[0].replace(':', '-')}"
    key = f"team/v1/{backend}/{request}/claims/000001.json"
    bucket.write(key, body)
    return key


@pytest.mark.parametrize("body", [
    json.dumps({"status": "claimed", "owner": {"id": "bob-folder", "user": "bob", "host": "ci-7", "pid": 4242},
                "claimed_at": "2026-11-26T08:00:00Z", "idempotency_key": "bob-key"}).encode(),
    b"{this is not json",
], ids=["owner-died-before-creating", "garbage"])
def test_a_claim_without_a_generation_id_is_taken_over_only_with_consent(
        body, tmp_path, bucket, service, monkeypatch, run_cli):
    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    key = _stalled_claim(bucket, emulator, run_cli, body)
    monkeypatch.setattr(claims, "PATIENCE", 0.0)  # the claim has waited long enough for its generation id

    code, out, err = run_cli(*PAID)

    assert code == 1
    assert "shot 'one' failed: " in err and "--resubmit one" in err
    assert ("ci-7" in err) if body.startswith(b"{\"") else ("cannot be read" in err)
    assert "Traceback" not in err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS - 1  # the others, not the claimed one

    code, out, err = run_cli(*PAID, "--resubmit", "one")

    assert code == 0, out + err
    assert "taking over the claim" in err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    taken = json.loads(bucket.read(key.replace("000001", "000002")))
    assert taken["takes_over"]["attempt"] == 1 and taken["generation"]
    assert bucket.read(key) == body  # the history stays


def test_what_a_claim_says_reaches_the_terminal_with_its_control_characters_visible(
        tmp_path, bucket, service, monkeypatch, run_cli):
    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    hostile = {"status": "claimed", "owner": {"id": "mallory", "user": "\x1b]0;pwned\x07", "host": "ci\rOK  ", "pid": 1},
               "claimed_at": "\x1b[2J2026", "idempotency_key": "k"}
    _stalled_claim(bucket, emulator, run_cli, json.dumps(hostile).encode())
    monkeypatch.setattr(claims, "PATIENCE", 0.0)

    code, out, err = run_cli(*PAID)
    assert code == 1 and "\\x1b]0;pwned\\x07@ci\\rOK" in err, err
    code, status, status_err = run_cli("cache", "status")
    assert code == 0 and "\\x1b]0;pwned\\x07@ci\\rOK" in status and "\\x1b[2J2026" in status, status + status_err

    for text in (out, err, status, status_err):
        assert "\x1b" not in text and "\r" not in text and "\x07" not in text


def test_a_claim_whose_generation_failed_is_claimed_again_without_consent(tmp_path, bucket, service, monkeypatch, run_cli):
    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    failed = {"status": "failed", "owner": {"id": "bob-folder", "user": "bob", "host": "ci-7", "pid": 1},
              "generation": "g-that-failed", "error": "the model could not generate this video"}
    key = _stalled_claim(bucket, emulator, run_cli, json.dumps(failed).encode())

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    assert json.loads(bucket.read(key.replace("000001", "000002")))["status"] == "completed"


# -- what the cache holds can be wrong -----------------------------------------------------------------


def test_a_cached_clip_that_fails_its_checksum_never_enters_the_store(tmp_path, bucket, service, monkeypatch, run_cli):
    alice, bob = machine(tmp_path / "alice", bucket), machine(tmp_path / "bob", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    assert run_cli(*PAID)[0] == 0
    clip = next(key for key in bucket.objects() if key.endswith(".mp4"))
    whole = bucket.read(clip)
    damaged = whole[:-4096] + bytes(4096)  # the size its record says, another content
    bucket.write(clip, damaged)
    monkeypatch.chdir(bob.root)

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert "fails its checksum" in err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS  # its generation was followed, not paid again
    stored = {path.name: path.read_bytes() for path in (bob.root / ".storyboard" / "clips").rglob("*.mp4")}
    assert damaged not in stored.values() and whole in stored.values() and len(stored) == DISTINCT_REQUESTS
    assert film_is_whole(bob)


def test_objects_that_are_not_what_the_cache_holds_are_skipped_and_said_once(
        tmp_path, bucket, service, monkeypatch, run_cli):
    alice, bob = machine(tmp_path / "alice", bucket), machine(tmp_path / "bob", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    first_claim = _stalled_claim(bucket, emulator, run_cli, b"{}")
    bucket.client.delete_object(Bucket=bucket.name, Key=first_claim)
    stray = first_claim.replace("000001.json", "\u00b2.json")  # str.isdigit() says '²' is a digit
    bucket.write(stray, b"{}")

    code, out, err = run_cli(*PAID)

    assert code == 0 and "Traceback" not in err, out + err
    assert err.count("no claim") == 1 and "\u00b2.json" in err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    code, out, err = run_cli("cache", "status")
    assert code == 0 and "Traceback" not in err, out + err
    assert out.count("no claim") == 1 and "\u00b2.json" in out  # listed among what poisons the cache

    # A clip's record over 1 MB is no record: not read, said, and the request made another way (here:
    # its claim's generation followed); the render goes on.
    meta = first_claim.replace("claims/000001.json", "clip.json")
    record = json.loads(bucket.read(meta))
    bucket.write(meta, json.dumps(record | {"padding": "x" * (1 << 20)}).encode())
    monkeypatch.chdir(bob.root)

    code, out, err = run_cli(*PAID)

    assert code == 0 and "Traceback" not in err, out + err
    assert err.count("(clip.json) cannot be read") == 1
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    assert film_is_whole(bob)


@pytest.mark.parametrize("usd", [math.inf, math.nan, -1.0], ids=["Infinity", "NaN", "negative"])
def test_an_amount_in_a_cached_clips_record_that_is_no_amount_is_unknown(usd, tmp_path, bucket, service, monkeypatch,
                                                                         run_cli):
    alice, bob = machine(tmp_path / "alice", bucket), machine(tmp_path / "bob", bucket)
    monkeypatch.chdir(alice.root)
    service(latency=0.5)
    assert run_cli(*PAID)[0] == 0
    for key in bucket.ending("/clip.json"):
        bucket.write(key, json.dumps(json.loads(bucket.read(key)) | {"usd": usd}).encode())  # Infinity, NaN: JSON5
    monkeypatch.chdir(bob.root)

    code, out, err = run_cli(*PAID)

    assert code == 0 and "0 generated" in out, out + err
    lock = (bob.root / "storyboard.lock").read_text()
    assert "inf" not in lock and "nan" not in lock and "usd: -" not in lock
    code, out, err = run_cli("review", "board.yaml")
    assert code == 0, out + err
    page = (bob.root / "out" / "review.html").read_text()
    assert "$inf" not in page and "$nan" not in page and "$-" not in page


@pytest.mark.parametrize("trouble", ["wrong endpoint", "no such bucket", "no credentials"])
def test_an_unusable_bucket_is_said_once_and_the_render_goes_on_with_the_local_store(
        trouble, tmp_path, bucket, service, monkeypatch, run_cli):
    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    if trouble == "wrong endpoint":
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        monkeypatch.setenv("STORYBOARD_CACHE_ENDPOINT", f"http://127.0.0.1:{port}")
    elif trouble == "no such bucket":
        monkeypatch.setenv("STORYBOARD_CACHE_BUCKET", "nobody-made-this-bucket")
    else:
        for name in CREDENTIALS:
            monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert err.count("the shared cache s3://") == 1 and "rendering with the local store only" in err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS
    assert film_is_whole(alice)


def test_a_bucket_that_accepts_connections_and_never_answers_is_given_up_within_seconds(
        tmp_path, bucket, service, monkeypatch, run_cli):
    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    with socket.socket() as silent:  # the kernel accepts connections to it; nothing ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        monkeypatch.setenv("STORYBOARD_CACHE_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()

        code, out, err = run_cli(*PAID)

        took = time.monotonic() - started
    assert code == 0, out + err
    assert err.count("the shared cache s3://") == 1 and "rendering with the local store only" in err
    assert took < 30, f"held {took:.0f} s by a bucket that never answers (docs: 5 s, three attempts)"
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS


class _IgnoresConditions:
    """A bucket behind a store or proxy that drops `If-None-Match`: every write overwrites."""

    def __init__(self, client: Any):
        self._client = client

    def put_object(self, **params: Any) -> Any:
        params.pop("IfNoneMatch", None)
        return self._client.put_object(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_bucket_that_ignores_conditional_writes_is_used_read_only_and_said_once(
        tmp_path, bucket, service, monkeypatch, run_cli):
    from storyboard.cache.remote import RemoteStore

    first_shot_only = BOARD.split("  - {{id: two")[0] + "output: {{path: out/film.mp4}}\n"
    carol, alice = machine(tmp_path / "carol", bucket, first_shot_only), machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(carol.root)  # a machine with the bucket as it should be stores the first shot's clip
    emulator = service(latency=0.5)
    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    stored = bucket.objects()
    real = RemoteStore.client
    monkeypatch.setattr(RemoteStore, "client", lambda self: _IgnoresConditions(real(self)))
    monkeypatch.chdir(alice.root)

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert err.count("does not honour conditional writes") == 1 and "read-only" in err
    assert out.count("done (from the shared cache") == 1  # what it holds is still fetched
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS  # one for carol, two for alice: no false claim won
    assert bucket.objects() == stored  # nothing claimed, nothing stored, no probe left behind
    assert film_is_whole(alice)
    # What the probe found is remembered: the next render does not probe again, and says why it shares nothing.
    monkeypatch.setattr(RemoteStore, "honours_conditional_writes", lambda self: pytest.fail("probed again"))
    code, out, err = run_cli(*PAID)
    assert code == 0 and err.count("does not honour conditional writes") == 1, out + err


class _ClaimsDenied:
    """A bucket whose claims can be listed but no longer read (a policy changed, a token expired)."""

    def __init__(self, client: Any):
        self._client = client

    def get_object(self, **params: Any) -> Any:
        from botocore.exceptions import ClientError

        if "/claims/" in params["Key"]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                               "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")
        return self._client.get_object(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_bucket_unusable_once_a_claim_was_seen_never_lets_the_render_pay_without_consent(
        tmp_path, bucket, service, monkeypatch, run_cli):
    from storyboard.cache.remote import RemoteStore

    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    live = {"status": "claimed", "owner": {"id": "bob-folder", "user": "bob", "host": "ci-7", "pid": 4242},
            "claimed_at": "2026-11-26T08:00:00Z", "idempotency_key": "bob-key"}
    _stalled_claim(bucket, emulator, run_cli, json.dumps(live).encode())  # bob is about to create it
    real = RemoteStore.client
    monkeypatch.setattr(RemoteStore, "client", lambda self: _ClaimsDenied(real(self)))

    code, out, err = run_cli(*PAID, "--keep-going", "--jobs", "1")  # one at a time: the others after the bucket failed

    assert code == 1 and "Traceback" not in err, out + err
    assert "shot 'one' failed: " in err and "another machine may be paying for it" in err and "--resubmit one" in err
    # Only what was claimed while the bucket still answered was created; never the one bob claimed.
    created = (out + err).count(": submitted: generation")
    assert emulator.stats()["creates"] == created <= DISTINCT_REQUESTS - 1 and "one: submitted" not in out + err
    if created < DISTINCT_REQUESTS - 1:  # the bucket answered this render, then failed: others may hold those claims
        assert "midway through this render" in said(err), err

    code, out, err = run_cli(*PAID, *(f"--resubmit={shot}" for shot in ("one", "two", "three")))  # consent

    assert code == 0, out + err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS


def test_a_malformed_cache_block_is_one_located_message(project, run_cli):
    project.write("storyboard: 1\ncache:\n  s3: {bucket: My_Bucket, endpoint: ftp://x}\n  takeover_after: 5\n"
                  "shots: [{id: a, prompt: x}]\n")

    code, _, err = run_cli("validate", "board.yaml")

    assert code == 2 and "Traceback" not in err
    lines = err.splitlines()
    assert any(line.startswith("board.yaml:3:") and "bucket" in line and "not a bucket name" in line for line in lines)
    assert any(line.startswith("board.yaml:3:") and "http://" in line for line in lines)
    assert any(line.startswith("board.yaml:4:") and "takeover_after" in line for line in lines)


def test_cache_variables_override_the_file_and_a_bad_one_is_named(monkeypatch):
    board = CacheSettings(s3=SharedStore(bucket="from-the-file", prefix="films"))
    found = shared_settings(board, {"STORYBOARD_CACHE_BUCKET": "ci-bucket", "STORYBOARD_CACHE_ENDPOINT": "http://minio:9000",
                                    "STORYBOARD_CACHE_TAKEOVER_AFTER": "900"})
    assert found.s3 == SharedStore(bucket="ci-bucket", prefix="films/", endpoint="http://minio:9000")
    assert found.takeover_after == 900
    assert shared_settings(board, {"STORYBOARD_CACHE": "off"}).s3 is None
    assert shared_settings(CacheSettings(), {}).s3 is None
    with pytest.raises(UsageError, match="STORYBOARD_CACHE_TAKEOVER_AFTER='soon'"):
        shared_settings(board, {"STORYBOARD_CACHE_TAKEOVER_AFTER": "soon"})


# -- the claim protocol's decisions --------------------------------------------------------------------


def _claim(status: str, owner: str | None = "bob", *, generation: str | None = None, age: float = 1.0) -> Claim:
    record = {"status": status, "owner": {"id": owner, "user": "bob", "host": "ci-7"}, "generation": generation}
    return Claim.read(3, record if owner else None, age)


@pytest.mark.parametrize(("current", "options", "action", "attempt"), [
    (None, {}, "create", 1),
    (_claim("submitted", generation="g1"), {}, "follow", 3),
    (_claim("completed", generation="g1"), {}, "follow", 3),
    (_claim("failed", generation="g1"), {}, "create", 4),
    (_claim("claimed"), {}, "wait", 3),
    (_claim("claimed", age=700), {}, "refuse", 3),
    (_claim("claimed", age=700), {"takeover_after": 600}, "create", 4),
    (_claim("claimed", age=500), {"takeover_after": 600}, "wait", 3),
    (_claim("claimed"), {"consent": True}, "create", 4),
    (_claim("claimed", owner=None), {}, "refuse", 3),  # unreadable: it will never say more
    (_claim("claimed", owner=None), {"consent": True}, "create", 4),
    (_claim("claimed", owner="me"), {}, "hold", 3),
    (_claim("submitted", owner="me", generation="g1"), {}, "follow", 3),
    (_claim("failed", owner="me"), {}, "create", 4),
], ids=lambda value: "" if not isinstance(value, Claim) else f"{value.status}-{value.owner}-{value.age:.0f}")
def test_what_a_render_does_on_finding_a_claim(current, options, action, attempt):
    decision = decide(current, "me", **({"consent": False, "takeover_after": None} | options), patience=600)
    assert (decision.action, decision.attempt) == (action, attempt)
    assert decision.takeover == (action == "create" and current is not None and current.status in ("claimed", "unreadable"))


# -- housekeeping of the shared cache ----------------------------------------------------------------


def test_status_shows_the_shared_cache_and_gc_touches_it_only_with_remote(tmp_path, bucket, service, monkeypatch, run_cli):
    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    service(latency=0.5)
    assert run_cli(*PAID)[0] == 0
    (alice.root / "board.yaml").write_text((alice.root / "board.yaml").read_text().replace("waves on rocks", "waves"))
    assert run_cli(*PAID)[0] == 0

    code, out, _ = run_cli("cache", "status", "--json")

    assert code == 0
    [shared] = json.loads(out)["shared"]
    assert (shared["requests"], shared["with_clip"], shared["referenced_with_clip"]) == (4, 4, 3)
    assert json.loads(out)["local"]["clips"]["only_copies"] == 0  # the old clip is in the shared cache
    code, out, _ = run_cli("cache", "gc")
    assert code == 0 and "removed 1 file" in out
    assert len(bucket.ending("/clip.json")) == 4  # the shared cache is left alone

    code, out, _ = run_cli("cache", "gc", "--remote", "--older-than", "0")

    assert code == 0 and "removed 1 request" in out
    assert len(bucket.ending("/clip.json")) == 3
    code, out, err = run_cli(*PAID)
    assert code == 0 and "0 generated" in out, out + err


@pytest.mark.parametrize("status", ["claimed", "submitted", "unreadable"])
def test_gc_never_deletes_a_claim_whose_generation_is_not_known_to_be_finished(status, tmp_path, bucket, monkeypatch,
                                                                                run_cli):
    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    base = "team/v1/aimlapi@elsewhere/" + "0" * 64 + "/"
    live = json.dumps({"status": status, "owner": {"id": "bob", "user": "bob", "host": "ci-7", "pid": 1},
                       "generation": "g-running" if status == "submitted" else None}).encode()
    bucket.write(base + "claims/000001.json", live if status != "unreadable" else b"{garbage")
    done = "team/v1/aimlapi@elsewhere/" + "1" * 64 + "/"
    bucket.write(done + "claims/000001.json", json.dumps({"status": "completed", "owner": {"id": "bob"}}).encode())

    code, out, err = run_cli("cache", "gc", "--remote", "--older-than", "0")

    assert code == 0, out + err
    assert "removed 1 request" in out and "kept 1 such request" in out
    assert bucket.objects() == [base + "claims/000001.json"]  # a clone would otherwise pay for it again


def test_a_copy_of_a_project_folder_with_its_state_is_another_claimant(tmp_path):
    import shutil

    original = tmp_path / "alice" / ".storyboard"
    original.mkdir(parents=True)
    first = Owner.of_project(original)
    shutil.copytree(tmp_path / "alice", tmp_path / "copy")

    assert Owner.of_project(original).project == first.project  # the same folder stays the same project
    assert Owner.of_project(tmp_path / "copy" / ".storyboard").project != first.project


def test_two_runs_of_one_folder_are_two_claimants_and_an_earlier_runs_claim_is_claimed_again_not_held(tmp_path):
    """Two CI runners with the same host name, path and restored `.storyboard/` must not each take the
    other's claim for their own: a claimant is a run; an earlier run's claim is claimed anew (one wins)."""
    state = tmp_path / ".storyboard"
    state.mkdir()
    first, second = Owner.of_project(state), Owner.of_project(state)
    assert first.id != second.id and first.project == second.project

    theirs = Claim.read(1, {"status": "claimed", "owner": {"id": first.id}, "claim_id": "c-1", "idempotency_key": "k"}, 1.0)
    assert decide(theirs, second.id, consent=False, takeover_after=None).action == "wait"
    claims.note_claim(state, "c-1")  # written by an earlier render of this folder
    assert claims.made_here(state, "c-1") and not claims.made_here(state, "c-2")
    again = decide(theirs, second.id, consent=False, takeover_after=None, earlier=True)
    assert (again.action, again.attempt, again.reclaim) == ("create", 2, True)


def test_a_cached_clip_that_is_no_video_is_refused_and_replaced(tmp_path, bucket, service, monkeypatch, run_cli):
    import hashlib

    alice, bob, carol = (machine(tmp_path / name, bucket) for name in ("alice", "bob", "carol"))
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    assert run_cli(*PAID)[0] == 0
    meta = bucket.ending("/clip.json")[0]
    record = json.loads(bucket.read(meta))
    garbage = b"<html>not a video</html>" * 100
    sha = hashlib.sha256(garbage).hexdigest()
    bucket.client.delete_object(Bucket=bucket.name, Key=meta)
    bucket.write(meta.removesuffix("clip.json") + f"{sha}.mp4", garbage)
    bucket.write(meta, json.dumps({**record, "sha256": sha, "size": len(garbage)}).encode())  # its record agrees
    monkeypatch.chdir(bob.root)

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert err.count("not a video") == 1, err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS  # its generation was followed, not paid again
    stored = [path.read_bytes() for path in (bob.root / ".storyboard" / "clips").rglob("*.mp4")]
    assert garbage not in stored and len(stored) == DISTINCT_REQUESTS and film_is_whole(bob)
    assert json.loads(bucket.read(meta))["sha256"] == record["sha256"]  # the cache mended: the real clip again
    assert not any(sha in key for key in bucket.objects())
    monkeypatch.chdir(carol.root)
    code, out, err = run_cli(*PAID)
    assert code == 0 and "not a video" not in err and ": following generation" not in out + err, out + err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS and film_is_whole(carol)


def test_a_cached_clip_that_trickles_in_is_given_up_by_the_service_downloads_progress_deadline(bucket, tmp_path):
    from storyboard.backends.aimlapi.policy import Limits
    from storyboard.cache.remote import RemoteStore, Unreachable

    body = bytes(range(256)) * 64  # 16 KiB
    bucket.write("team/clip.mp4", body)
    sha = __import__("hashlib").sha256(body).hexdigest()
    limits = Limits(stall=0.3, progress_bytes=1024)  # the service's rule, with a deadline small enough for a test
    remote = RemoteStore(SharedStore(bucket.name, "team/", bucket.endpoint, "us-east-1"), limits=limits)
    assert remote.download("team/clip.mp4", tmp_path / "fast.mp4", sha, len(body))  # a stream that keeps up is read
    assert (tmp_path / "fast.mp4").read_bytes() == body

    class Trickle:
        """The object's body, a few bytes at a time with a pause before each."""

        def __init__(self, real: Any):
            self.real = real

        def read(self, amount: int | None = None) -> bytes:
            time.sleep(0.05)
            return self.real.read(8)

        def close(self) -> None:
            self.real.close()

    client = remote.client()
    real_get = client.get_object
    client.get_object = lambda **params: {**(answer := real_get(**params)), "Body": Trickle(answer["Body"])}
    started = time.monotonic()
    with pytest.raises(Unreachable, match=r"stalled: [\d,]+ bytes arrived, then fewer than 1,024 in 0.3 s"):
        remote.download("team/clip.mp4", tmp_path / "slow.mp4", sha, len(body))
    assert time.monotonic() - started < 2  # at that pace the whole body would take 100 s


FRAMED = """
storyboard: 1
defaults: {{resolution: 720p, duration: 2}}
cache:
  s3: {{bucket: {bucket}, prefix: team/, endpoint: "{endpoint}"}}
shots:
  - {{id: a, prompt: a lamp in the dark, seed: 1}}
  - {{id: b, prompt: PROMPT, seed: 2, first_frame: {{shot: a, at: end}}}}
output: {{path: out/film.mp4}}
"""


def test_a_cached_first_frame_that_is_not_the_clips_picture_is_not_sent(tmp_path, bucket, service, monkeypatch, run_cli):
    import hashlib
    import io

    from PIL import Image

    from storyboard.media import extract_frame

    alice = machine(tmp_path / "alice", bucket, FRAMED.replace("PROMPT", "the lamp turns on"))
    bob = machine(tmp_path / "bob", bucket, FRAMED.replace("PROMPT", "the lamp turns off"))  # b: another request
    monkeypatch.chdir(alice.root)
    service(latency=0.5)
    assert run_cli(*PAID)[0] == 0
    [frame] = [key for key in bucket.objects() if "/frame-" in key]
    other = io.BytesIO()
    Image.new("RGB", Image.open(io.BytesIO(bucket.read(frame))).size, (200, 30, 30)).save(other, format="PNG")
    bucket.client.put_object(Bucket=bucket.name, Key=frame, Body=other.getvalue(),
                             Metadata={"sha256": hashlib.sha256(other.getvalue()).hexdigest()})  # it vouches for itself
    monkeypatch.chdir(bob.root)

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert err.count("is not the picture its clip shows there") == 1, err
    [used] = (bob.root / ".storyboard" / "frames").glob("*.png")
    [clip_a] = [path for path in (bob.root / ".storyboard" / "clips").rglob("*.mp4") if path.stem in frame]
    assert used.read_bytes() != other.getvalue()
    assert Image.open(used).convert("RGB").tobytes() == extract_frame(clip_a, "end").tobytes()
    assert bucket.read(frame) == used.read_bytes()  # the cache's frame replaced by the clip's


@pytest.mark.parametrize("usd", [math.inf, -math.inf, math.nan, -0.5, True, "1"])
def test_an_amount_in_a_claim_that_is_no_amount_is_unknown(usd):
    record = {"status": "submitted", "owner": {"id": "bob"}, "generation": "g-1", "usd": usd}
    assert Claim.read(1, record, 1.0).usd is None
    assert Claim.read(1, record | {"usd": 0.26}, 1.0).usd == 0.26


class _Body:
    """An object's body that makes its bytes as they are read, and counts them."""

    def __init__(self, size: int):
        self.size, self.read_bytes = size, 0

    def read(self, amount: int) -> bytes:
        block = min(amount, self.size - self.read_bytes)
        self.read_bytes += block
        return bytes(block)

    def close(self) -> None:
        pass


class _Client:
    """A bucket whose one object is `size` bytes, and says so (`told`) or not."""

    def __init__(self, size: int, told: bool):
        self.body, self.told = _Body(size), told

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": self.body, "Metadata": {"sha256": "0" * 64}} | ({"ContentLength": self.body.size} if self.told else {})


@pytest.mark.parametrize("told", [True, False], ids=["size-listed", "size-unsaid"])
def test_a_huge_object_is_never_read_whole(told, tmp_path):
    import asyncio

    from storyboard.cache.remote import MAX_FRAME_BYTES, Damaged, RemoteStore
    from storyboard.generating.shared import SharedCache

    store = SharedStore("clips")
    frame = _Client(400 << 20, told)
    notes: list[str] = []
    cache = SharedCache(RemoteStore(store, frame), Owner("me", "me", "here", 1), "aimlapi",
                        lambda event: notes.append(event.message))
    fetched = asyncio.run(cache.fetch_frame("r", "0" * 64, 1.0))
    assert fetched is None and len(notes) == 1 and "too large for a frame" in notes[0]
    assert frame.body.read_bytes <= (MAX_FRAME_BYTES + 1 if not told else 0)

    clip = _Client(300 << 20, told)
    with pytest.raises(Damaged, match="its record says 1,000"):
        RemoteStore(store, clip).download("k.mp4", tmp_path / "clip.mp4", "0" * 64, 1000)
    assert clip.body.read_bytes <= (1001 if not told else 0)

    record = _Client(5 << 20, told)
    assert RemoteStore(store, record).get_json("clip.json") == (None, 0.0)  # no record: said by whoever asked
    assert record.body.read_bytes <= (1 << 20) + 1


def test_a_claimant_that_died_inside_its_create_is_found_in_the_usage_log_and_followed(
        tmp_path, bucket, service, monkeypatch, run_cli):
    import httpx

    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    emulator = service(latency=0.5)
    # Bob (same key) claimed shot one, sent its create and died before the answer reached his claim.
    made = httpx.post(f"{emulator.url}/video/generations", headers={
        "Authorization": f"Bearer {KEY}", "X-Client-Request-Id": "storyboard:bobs-request:1"},
        json={"model": "alibaba/wan-2-7-r2v", "prompt": "a lighthouse at dusk", "resolution": "720p", "duration": 2,
              "seed": 1}).json()["id"]
    _stalled_claim(bucket, emulator, run_cli, json.dumps({
        "status": "claimed", "owner": {"id": "bob-folder", "user": "bob", "host": "ci-7", "pid": 4242},
        "claimed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "idempotency_key": "bob-key",
        "client_request_id": "storyboard:bobs-request:1"}).encode())
    monkeypatch.setattr(claims, "PATIENCE", 0.0)  # the claim has waited long enough for its generation id

    code, out, err = run_cli(*PAID)

    assert code == 0, out + err
    assert f"usage log names generation {made}" in out + err and "--resubmit" not in out + err
    assert emulator.stats()["creates"] == DISTINCT_REQUESTS  # bob's, and the two others: none paid twice
    assert film_is_whole(alice)
