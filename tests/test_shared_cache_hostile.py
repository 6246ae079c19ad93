# ruff: noqa: F811 - the servers' fixtures are imported from test_shared_cache
"""The shared cache holding what no render should use, and a bucket that misbehaves (tests/s3proxy.py in
front of moto's server): renders pay once per request and end with a film or a clear failure."""
from __future__ import annotations

import hashlib
import json

from test_shared_cache import bucket, machine, s3_endpoint  # noqa: F401 - fixtures

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
