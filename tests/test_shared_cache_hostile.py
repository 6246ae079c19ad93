# ruff: noqa: F811 - the servers' fixtures are imported from test_shared_cache
"""The shared cache holding what no render should use, and a bucket that misbehaves (tests/s3proxy.py in
front of moto's server): renders pay once per request and end with a film or a clear failure."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import s3proxy
from processes import Render
from s3proxy import S3Proxy
from test_shared_cache import PAID, Bucket, bucket, film_is_whole, machine, s3_endpoint  # noqa: F401 - fixtures

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def _request(letter: str) -> str:
    return f"team/v1/aimlapi@elsewhere/{letter * 64}/"


def test_status_lists_poisoned_objects_with_why_and_gc_remote_removes_them_but_no_unfinished_claim(
        tmp_path, bucket, monkeypatch, run_cli):
    alice = machine(tmp_path / "alice", bucket)
    monkeypatch.chdir(alice.root)
    garbage = b"<html>not a video</html>" * 40
    sound = MP4_HEAD + bytes(500)
    owner = {"id": "bob", "user": "bob", "host": "ci-7", "pid": 1}
    for letter, body in (("a", garbage), ("e", sound)):
        sha = hashlib.sha256(body).hexdigest()
        bucket.write(_request(letter) + f"{sha}.mp4", body)
        bucket.write(_request(letter) + "clip.json", json.dumps({"sha256": sha, "size": len(body)}).encode())
    bucket.write(_request("b") + "clip.json", b"{not json")
    bucket.write(_request("c") + "clip.json", json.dumps({"sha256": "c" * 64, "size": 10}).encode())
    bucket.write(_request("d") + "claims/000001.json", b"{garbage")
    bucket.write(_request("d") + "claims/notes.txt", b"hello")
    bucket.write(_request("e") + "claims/000001.json", json.dumps({"status": "completed", "owner": owner}).encode())
    bucket.write(_request("f") + "claims/000001.json", json.dumps({"status": "claimed", "owner": owner}).encode())

    code, out, err = run_cli("cache", "status", "--json")

    assert code == 0, out + err
    [shared] = json.loads(out)["shared"]
    found = {(item["request"][0], item["why"].split(" ")[0], item["removed_by_gc"]) for item in shared["poisoned"]}
    assert found == {("a", "the", True), ("b", "clip.json", True), ("c", "clip.json", True), ("d", "no", True),
                     ("d", "a", False)}, shared["poisoned"]
    code, out, err = run_cli("cache", "status")
    assert code == 0 and "the clip is no video" in out and "names a clip that is not there" in out
    assert "a claim that cannot be read" in out

    code, out, err = run_cli("cache", "gc", "--remote", "--dry-run")
    assert code == 0 and out.count("would remove") >= 4 and len(bucket.objects()) == 10

    code, out, err = run_cli("cache", "gc", "--remote")

    assert code == 0, out + err
    assert out.index("removing") < out.index("removed 5 poisoned object(s)")  # each said before any goes
    assert "the clip is no video" in out
    left = bucket.objects()
    assert left == sorted([_request("d") + "claims/000001.json", *[key for key in left if key.startswith(_request("e"))],
                           _request("f") + "claims/000001.json"])
    assert len([key for key in left if key.startswith(_request("e"))]) == 3  # the sound clip, untouched
    code, out, err = run_cli("cache", "status", "--json")
    assert [item["why"].split(" ")[:3] for item in json.loads(out)["shared"][0]["poisoned"]] == [["a", "claim", "that"]]


# -- a bucket that misbehaves --------------------------------------------------------------------------

TWO_SHOTS = """
storyboard: 1
defaults: {{resolution: 720p, duration: 2}}
cache:
  s3: {{bucket: {bucket}, prefix: team/, endpoint: "{endpoint}"}}
shots:
  - {{id: one, prompt: a lighthouse at dusk, seed: 1}}
  - {{id: two, prompt: waves on rocks, seed: 2}}
output: {{path: out/film.mp4}}
"""
CLONES = 3


def render_clones_through(proxy: S3Proxy, bucket: Bucket, root: Path, service: Any,
                          monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[tuple[int, str]]]:
    """CLONES clones of a two-shot board rendering at once, their bucket behind `proxy`: the emulator and
    (exit code, output) of each."""
    behind = replace(bucket, endpoint=proxy.url)
    clones = [machine(root / f"clone{number}", behind, TWO_SHOTS) for number in range(CLONES)]
    monkeypatch.chdir(clones[0].root)  # the emulator takes the project's model profiles (2 s clips)
    emulator = service(latency=2)
    renders = [Render(clone.root, *PAID) for clone in clones]
    results = [render.finish(timeout=240) for render in renders]
    for clone, (code, output) in zip(clones, results, strict=True):
        (clone.root / "render.log").write_text(output)  # to read when a test fails
        assert "Traceback" not in output, output
        if code == 0:
            assert film_is_whole(clone), output
        else:  # a clear failure, naming the shot and what to do
            assert "failed: " in output and ("--resubmit" in output or "render again" in output), output
    return emulator, results


def paid_per_request(emulator: Any) -> list[int]:
    """How often each distinct request was paid for. A create the emulator answered by replaying an
    earlier one with the same Idempotency-Key counts as paid too: a service may ignore the key."""
    assert emulator.stats()["idempotent_replays"] == 0
    prompts = [body["prompt"] for body in emulator.created()]
    return [prompts.count(prompt) for prompt in sorted(set(prompts))]


@pytest.mark.parametrize("odds", [
    {"lose": 0.25}, {"deny": 0.15}, {"trickle": 0.5}, {"stall": 0.04},
], ids=["lost-answers", "denied-reads", "trickling-bodies", "stalls"])
def test_clones_rendering_at_once_through_a_misbehaving_bucket_pay_once_per_request(
        odds, tmp_path, bucket, service, monkeypatch):
    monkeypatch.setenv("STORYBOARD_RETRY_SCALE", "0.2")
    monkeypatch.setattr(s3proxy, "STALL_SECONDS", 7.0)  # past the client's 5 s for an answer
    monkeypatch.setattr(s3proxy, "TRICKLE_SECONDS", 0.02)
    with S3Proxy(bucket.endpoint, seed=27, **odds) as proxy:
        emulator, results = render_clones_through(proxy, bucket, tmp_path, service, monkeypatch)
        misbehaved = proxy.counts

    assert misbehaved[next(iter(odds))] > 0  # it did misbehave
    paid = paid_per_request(emulator)
    assert all(times == 1 for times in paid), (paid, [output for _, output in results])
    if any(code == 0 for code, _ in results):  # a film: every request was made, once
        assert len(paid) == 2


def test_clones_behind_a_bucket_that_ignores_conditional_writes_use_it_read_only_and_say_so(
        tmp_path, bucket, service, monkeypatch):
    monkeypatch.setenv("STORYBOARD_RETRY_SCALE", "0.2")
    with S3Proxy(bucket.endpoint, strip=1.0) as proxy:
        emulator, results = render_clones_through(proxy, bucket, tmp_path, service, monkeypatch)

    for code, output in results:
        assert code == 0 and output.count("does not honour conditional writes") == 1, output
    # No claim is trusted, so each clone pays for each request once (said), never more.
    assert sorted(paid_per_request(emulator)) == [CLONES, CLONES]
    assert not [key for key in bucket.objects() if "/claims/" in key]
