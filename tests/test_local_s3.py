"""Trying the paid flow locally with an example whose references are local files: the README's
`storyboard emulator --s3`, the variables it prints, and `storyboard render --backend aimlapi`
without editing the example."""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from avprobe import decode_errors, probe

import storyboard

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SOURCE_ROOT = str(Path(__file__).resolve().parent.parent)


def examples_with_local_references() -> list[str]:
    """The examples whose references must be uploaded for the service to fetch them."""
    found = []
    for board_file in sorted(EXAMPLES.glob("*/storyboard.yaml")):
        boards = storyboard.load_variants(board_file)  # a file without variants is one
        if any(ref.path is not None for board in boards for shot in board.shots for ref in shot.all_references()):
            found.append(board_file.parent.name)
    return found


def copy_of(example: str, destination: Path) -> Path:
    shutil.copytree(EXAMPLES / example, destination, ignore=shutil.ignore_patterns(".storyboard", "renders", "*.lock"))
    return destination


@pytest.fixture
def emulator_command() -> Iterator[tuple[dict[str, str], str]]:
    """`storyboard emulator --s3` as a user starts it: (the variables it says to export, its stats URL)."""
    command = [sys.executable, "-m", "storyboard", "emulator", "--s3", "--port", "0", "--s3-port", "0", "--latency", "0.5"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": SOURCE_ROOT})
    assert server.stdout is not None
    exported: dict[str, str] = {}
    try:
        for line in server.stdout:
            if line.strip().startswith("export "):
                for word in shlex.split(line)[1:]:
                    name, _, value = word.partition("=")
                    exported[name] = value
            if line.startswith("stats: "):
                yield exported, line.split()[1]
                break
        else:
            pytest.fail(f"the emulator stopped: {server.communicate()[1]}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=10)


def test_the_examples_that_need_uploads_are_found():
    assert set(examples_with_local_references()) >= {"raccoon-and-fairy", "vertical-ad"}


def test_an_example_with_local_images_and_videos_renders_through_the_emulator_and_local_s3(
        emulator_command, tmp_path, monkeypatch, run_cli):
    import boto3
    import httpx

    exported, stats_url = emulator_command
    assert {"AIMLAPI_KEY", "AIMLAPI_BASE_URL", "STORYBOARD_S3_BUCKET", "AWS_ENDPOINT_URL_S3",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(exported)
    for name, value in exported.items():
        monkeypatch.setenv(name, value)
    project = copy_of("raccoon-and-fairy", tmp_path / "raccoon")
    monkeypatch.chdir(project)

    code, out, err = run_cli("render", "storyboard.yaml", "--backend", "aimlapi", "--yes")

    assert code == 0, out + err
    board = storyboard.load("storyboard.yaml")
    stats = httpx.get(stats_url).json()
    assert (stats["creates"], stats["downloads"], stats["failed"]) == (len(board.shots), len(board.shots), 0)
    # The cast's image and video went to the local bucket under their content hashes (the first frame
    # taken from another shot went inline), and the service fetched them from there.
    cast_files = {ref.path for shot in board.shots for ref in shot.all_references() if ref.path is not None}
    expected_keys = {hashlib.sha256(path.read_bytes()).hexdigest() + path.suffix for path in cast_files}
    listing = boto3.client("s3").list_objects_v2(Bucket=exported["STORYBOARD_S3_BUCKET"])
    assert {item["Key"] for item in listing.get("Contents", [])} == expected_keys
    # The film: every shot's clip, crossfades overlapping, with picture and sound.
    film = probe(board.output.path)
    overlaps = sum(shot.transition.duration for shot in board.shots[1:] if shot.transition.type == "crossfade")
    clips = sum(item.duration for item in storyboard.plan(board).shots)
    assert film.duration == pytest.approx(clips - overlaps, abs=0.1)
    assert film.video and film.audio and decode_errors(board.output.path) == ""


@pytest.mark.parametrize("example", examples_with_local_references())
def test_without_a_bucket_an_example_with_local_files_is_refused_before_anything_is_sent(
        example, tmp_path, monkeypatch, run_cli):
    monkeypatch.delenv("STORYBOARD_S3_BUCKET", raising=False)
    monkeypatch.setenv("AIMLAPI_KEY", "anything")
    monkeypatch.setenv("AIMLAPI_BASE_URL", "http://127.0.0.1:9/v2")  # nothing listens: a request would fail
    monkeypatch.chdir(copy_of(example, tmp_path / example))

    code, _, err = run_cli("render", "storyboard.yaml", "--backend", "aimlapi", "--yes")

    assert code == 2
    assert "is a local file" in err and "STORYBOARD_S3_BUCKET" in err


def test_without_moto_the_command_says_what_to_install(monkeypatch, run_cli):
    monkeypatch.setitem(sys.modules, "moto.server", None)  # as if the `emulator` extra were not installed

    code, _, err = run_cli("emulator", "--s3", "--port", "0", "--s3-port", "0")

    assert code == 2
    assert "needs moto" in err and "pip install 'storyboard-render[emulator]'" in err


def test_a_taken_s3_port_is_an_error_not_a_hang():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "storyboard", "emulator", "--s3", "--port", "0", "--s3-port",
                                 str(port)], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PYTHONPATH": SOURCE_ROOT})
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} (--s3-port)" in result.stderr
