"""The provider's own sample client flow, re-implemented faithfully and small, for comparison.

The AI/ML API documentation pages for its video models show one Python script: create a
generation (`POST {base}/video/generations`), then loop `GET {base}/video/generations?
generation_id=ID` while the status is one of waiting/active/queued/generating, sleeping 15 s
after each such answer, until a fixed 1000 s timeout; one shot at a time. The sample stops
at printing the result; a real user then downloads the video URL, so this does too (a plain
GET, no key). It is synchronous (httpx here, `requests` in the docs) and has no retries.

`run_sequentially(base_url, api_key, bodies, folder)` runs one shot after another and
returns, per shot, the moments (time.monotonic()) of each step, so the caller can compute
the makespan and when each completion was noticed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

POLL_SECONDS = 15  # the sample's `time.sleep(15)`
TIMEOUT_SECONDS = 1000  # the sample's `timeout = 1000`
STILL_WAITING = ("waiting", "active", "queued", "generating")  # the statuses the sample keeps polling on


@dataclass
class SampleShot:
    generation_id: str | None = None
    create_started: float = 0.0
    created: float = 0.0  # the create answer arrived
    completed_seen: float | None = None  # the poll that answered `completed` arrived
    downloaded: float | None = None
    polls: int = 0
    status: str | None = None
    video: Path | None = None
    error: str | None = None
    answers: list[str] = field(default_factory=list)


def generate_video(client: httpx.Client, base_url: str, api_key: str, body: dict[str, Any]) -> dict[str, Any] | None:
    response = client.post(f"{base_url}/video/generations", json=body, headers={"Authorization": f"Bearer {api_key}"})
    if response.status_code >= 400:
        print(f"Error: {response.status_code} - {response.text}")
        return None
    return response.json()


def get_video(client: httpx.Client, base_url: str, api_key: str, generation_id: str) -> dict[str, Any]:
    response = client.get(
        f"{base_url}/video/generations",
        params={"generation_id": generation_id},
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    return response.json()


def run_one(client: httpx.Client, base_url: str, api_key: str, body: dict[str, Any], destination: Path) -> SampleShot:
    shot = SampleShot(create_started=time.monotonic())
    created = generate_video(client, base_url, api_key, body)
    shot.created = time.monotonic()
    shot.generation_id = (created or {}).get("id")
    if not shot.generation_id:
        shot.error = "no generation id"
        return shot
    start_time = time.time()
    while time.time() - start_time < TIMEOUT_SECONDS:
        data = get_video(client, base_url, api_key, shot.generation_id)
        shot.polls += 1
        shot.status = data.get("status")
        shot.answers.append(str(shot.status))
        if shot.status in STILL_WAITING:
            time.sleep(POLL_SECONDS)
            continue
        break
    else:
        shot.error = "timeout reached"
        return shot
    if shot.status != "completed":
        shot.error = f"ended {shot.status}"
        return shot
    shot.completed_seen = time.monotonic()
    url = (data.get("video") or {}).get("url")
    with client.stream("GET", url) as response, destination.open("wb") as out:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            out.write(chunk)
    shot.downloaded = time.monotonic()
    shot.video = destination
    return shot


def run_sequentially(base_url: str, api_key: str, bodies: list[dict[str, Any]], folder: Path) -> list[SampleShot]:
    """The sample, once per shot, one after the other (it has no concurrency)."""
    folder.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=60.0) as client:
        return [run_one(client, base_url, api_key, body, folder / f"shot-{index:03d}.mp4") for index, body in enumerate(bodies)]
