"""The aimlapi backend end to end, over real HTTP: our emulator of the service, and a local
S3-compatible server (moto) for publishing reference files."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from avprobe import beep_times, decode_errors, flash_times, probe
from conftest import KEY

from storyboard.backends.aimlapi import SCALE_VARIABLE

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BOARD = """
storyboard: 1
defaults: {resolution: 720p, duration: 2}
cast:
  hero: {image: assets/red.png, description: a red square}
shots:
  - id: one
    prompt: "{{ cast.hero }} rolls"
    seed: 1
  - id: two
    prompt: it stops
    first_frame: {shot: one}
    seed: 2
  - id: three
    prompt: credits
    seed: 3
  - id: four
    prompt: the end
    seed: 4
output: {path: out/film.mp4}
"""


@dataclass
class Bucket:
    endpoint: str

    @property
    def publish(self) -> str:
        """The storyboard section that publishes local files to this bucket."""
        return f"publish:\n  s3: {{bucket: refs, endpoint: '{self.endpoint}', prefix: e2e/}}\n"

    def keys(self) -> list[str]:
        import boto3

        listing = boto3.client("s3", endpoint_url=self.endpoint).list_objects_v2(Bucket="refs")
        return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture
def s3(monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "e2e-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "e2e-secret-do-not-print")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = Bucket(f"http://{host}:{port}")
    boto3.client("s3", endpoint_url=bucket.endpoint).create_bucket(Bucket="refs")
    yield bucket
    server.stop()


def test_documented_flow_then_a_rerender_sends_nothing(project, run_cli, service, s3):
    emulator = service()
    project.write(BOARD + s3.publish)
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 0, out + err
    stats = emulator.stats()
    assert (stats["creates"], stats["downloads"], stats["failed"]) == (4, 4, 0)
    assert stats["polls"] <= 4 * 4  # short generations: a handful of polls each
    assert stats["downloads_with_authorization"] == 0
    assert "one: submitted: generation" in out and "0.26 USD; total" in out
    film = project.root / "out" / "film.mp4"
    assert probe(film).duration == pytest.approx(8.0, abs=0.1) and decode_errors(film) == ""
    # The one local reference was uploaded once, under its content hash; the first frame went inline.
    (key,) = s3.keys()
    assert key.startswith("e2e/") and key.endswith(".png") and len(key) == len("e2e/") + 64 + 4

    code, out, _ = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 0 and "0 generated, 4 reused" in out
    assert emulator.stats()["requests"] == stats["requests"]


def test_an_example_renders_with_the_same_structure_as_the_preview(tmp_path, monkeypatch, run_cli, service, s3):
    service()
    project = tmp_path / "raccoon"
    shutil.copytree(EXAMPLES / "raccoon-and-fairy", project, ignore=shutil.ignore_patterns(".storyboard", "renders"))
    (project / "storyboard.yaml").write_text((project / "storyboard.yaml").read_text() + s3.publish)
    monkeypatch.chdir(project)
    assert run_cli("render", "storyboard.yaml", "--backend", "aimlapi", "--yes")[0] == 0
    shutil.move("renders/raccoon.mp4", "service.mp4")
    assert run_cli("render", "storyboard.yaml")[0] == 0
    service_film, preview_film = probe(Path("service.mp4")), probe(Path("renders/raccoon.mp4"))
    assert service_film.duration == pytest.approx(preview_film.duration, abs=1 / 24)
    assert service_film.video and preview_film.video and service_film.audio and preview_film.audio
    assert service_film.video.split(",")[:3] == preview_film.video.split(",")[:3]
    assert service_film.audio.split(",")[:4] == preview_film.audio.split(",")[:4]  # the bitrate follows the sound
    # The emulator's clips carry sync markers; the default preview's are quiet.
    assert flash_times(Path("service.mp4"), 24) and beep_times(Path("service.mp4"))
    assert flash_times(Path("renders/raccoon.mp4"), 24) == [] and beep_times(Path("renders/raccoon.mp4")) == []


def test_transient_faults_are_absorbed_and_nothing_is_created_twice(project, run_cli, service, s3, monkeypatch):
    monkeypatch.setenv(SCALE_VARIABLE, "0.05")  # the retries and Retry-After waits, not in real seconds
    emulator = service(faults="429=0.3,500=0.2,drop=0.15,truncate=0.3,slow=0.1", seed=7)
    project.write(BOARD + s3.publish)
    outcomes: list[int] = []
    consent: list[str] = []
    for _ in range(8):  # an ambiguous create fails its shot; only --resubmit (the user's consent) sends it again
        code, _out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes", *consent)
        consent = ["--resubmit"] if "--resubmit" in err else []
        outcomes.append(code)
        for line in err.splitlines():
            if "FAILED" in line:
                allowed = ("may have been created and billed", "kept answering 429", "which failed")
                assert any(reason in line for reason in allowed), line
        if code == 0:
            break
    assert outcomes[-1] == 0, outcomes
    stats = emulator.stats()
    assert stats["creates"] == 4  # this emulator creates nothing when it answers 500/429/drop
    assert {"429", "500", "truncate"} <= set(stats["faults"])
    assert decode_errors(project.root / "out" / "film.mp4") == ""


@pytest.mark.parametrize(
    ("faults", "message", "creates"),
    [
        ("fail=1", "failed on the service: GenerationError: ", 1),
        ("500=1", "the service answered 500", 0),
        ("drop=1", "the connection failed after sending", 0),
        ("expired=1", "has expired or is not accessible", 1),
        ("html=1", "returned an HTML page, not a video", 1),
    ],
)
def test_faults_that_last_fail_the_shot_clearly(project, run_cli, service, faults, message, creates):
    """Faults on every attempt: a create that may have been billed is not retried, and a download
    is retried (expired and html too) and then given up, with the reason."""
    emulator = service(faults=faults)
    project.write("storyboard: 1\nshots: [{id: solo, prompt: a lighthouse, resolution: 720p, duration: 2}]\n")
    code, _out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 1
    assert "solo: FAILED: " in err and message in err
    stats = emulator.stats()
    assert stats["creates"] == creates
    assert list((project.root / ".storyboard").rglob("*.mp4")) == []


def test_the_key_never_appears_in_output_or_files(project, run_cli, service, s3):
    service(faults="fail=1")
    project.write(BOARD + s3.publish)
    outputs = []
    render = ("render", "board.yaml", "--backend", "aimlapi", "--yes")
    for args in (render, ("--debug", *render)):
        code, out, err = run_cli(*args)
        assert code == 1
        outputs.append(out + err)
    service()  # a healthy service: a complete render writes clips, frames and the film
    assert run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")[0] == 0
    for text in outputs:
        assert KEY not in text and "e2e-secret-do-not-print" not in text
    for path in project.root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_missing_key_is_a_usage_error_before_any_request(project, run_cli, service, monkeypatch):
    emulator = service()
    monkeypatch.delenv("AIMLAPI_KEY")
    project.write("storyboard: 1\nshots: [{id: solo, prompt: x, resolution: 720p, duration: 2}]\n")
    code, _, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 2
    assert err == "error: AIMLAPI_KEY is not set; export AIMLAPI_KEY=<your key> to use --backend aimlapi\n"
    assert emulator.stats()["requests"] == 0


def test_a_first_frame_with_inline_data_turned_off_needs_a_bucket_before_anything_is_paid(project, run_cli, service):
    emulator = service()
    board = BOARD.replace("cast:\n  hero: {image: assets/red.png, description: a red square}\n", "")
    board = board.replace('"{{ cast.hero }} rolls"', "a ball rolls")
    project.write(board + "publish: {data_uri: false}\n")
    code, _, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 2
    assert "board.yaml:9:18: a first frame taken from another shot must be uploaded" in err
    assert emulator.stats()["requests"] == 0


def test_an_unreachable_bucket_fails_the_shot_with_one_clear_line(project, run_cli, service, monkeypatch):
    emulator = service()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "e2e-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "e2e-secret-do-not-print")
    project.write(BOARD + "publish:\n  s3: {bucket: refs, endpoint: 'http://127.0.0.1:9'}\n")
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 1
    assert "one: FAILED: uploading red.png to s3://refs/" in err
    assert "Traceback" not in out + err and "e2e-secret-do-not-print" not in out + err
    assert emulator.stats()["creates"] <= 2  # only shots without local files could be sent
