"""N renderers of one storyboard at once, each a machine of its own (a folder with its own state, a
process of its own), sharing one clip cache in a bucket, against the naive way (the same N renderers,
no shared cache: each pays for every request). Reports creates per distinct request, dollars and wall
time.

    python benchmarks/shared_cache.py [--renderers 1 2 4] [--shots 4] [--latency 8]

Starts moto's S3 server (`moto_server`, the `emulator` extra) and the emulator of the service on
127.0.0.1; every renderer is `storyboard render board.yaml --backend aimlapi --yes`, all started at
the same instant. The emulator draws each clip it is paid for (2 s, 720p) on this machine's cores,
as the service would on its own, so the naive runs also show what the extra generations cost in time
when the service's capacity is shared.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3

from storyboard.emulator import Emulator

KEY = "sk-benchmark-shared-cache"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "benchmark", "AWS_SECRET_ACCESS_KEY": "benchmark-secret"}
PROFILE = "model: alibaba/wan-2-7-r2v\nfields:\n  duration: {type: integer, minimum: 2, maximum: 15, default: 10}\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renderers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--latency", type=float, default=8.0, help="seconds the emulator takes per generation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, S3Server() as endpoint:
        root = Path(folder)
        (root / "models").mkdir()
        (root / "models" / "short-clips.yaml").write_text(PROFILE)
        emulator = Emulator(api_key=KEY, latency=args.latency, profiles_from=root).start()
        env = {**os.environ, **CREDENTIALS, "AIMLAPI_KEY": KEY, "AIMLAPI_BASE_URL": emulator.url}
        rows = []
        try:
            for count in args.renderers:
                for way in ("naive", "shared"):
                    bucket = make_bucket(endpoint) if way == "shared" else None
                    before = emulator.stats()
                    wall, codes = race(root / f"{way}-{count}", count, args.shots, bucket, endpoint, env)
                    after = emulator.stats()
                    creates = after["creates"] - before["creates"]
                    usd = after["usd_spent"] - before["usd_spent"]
                    rows.append((count, way, creates, creates / args.shots, usd, wall, codes))
        finally:
            emulator.stop()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}, load average at the end {os.getloadavg()[0]:.1f}; {args.shots} distinct "
          f"requests (2 s 720p shots), emulator latency {args.latency:g} s")
    print("| renderers | way | creates | creates per request | USD | wall (all done) | exit codes |")
    print("|---|---|---|---|---|---|---|")
    for count, way, creates, per, usd, wall, codes in rows:
        print(f"| {count} | {way} | {creates} | {per:.2f} | {usd:.2f} | {wall:.1f} s | {' '.join(map(str, codes))} |")


def race(base: Path, count: int, shots: int, bucket: str | None, endpoint: str, env: dict[str, str]) -> tuple[float, list[int]]:
    """`count` renderers of the same storyboard, each in a folder of its own, started together."""
    folders = []
    for number in range(count):
        folder = base / f"machine-{number}"
        (folder / "models").mkdir(parents=True)
        (folder / "models" / "short-clips.yaml").write_text(PROFILE)
        lines = ["storyboard: 1", "defaults: {resolution: 720p, duration: 2}"]
        if bucket:
            lines.append(f'cache: {{s3: {{bucket: {bucket}, endpoint: "{endpoint}"}}}}')
        lines.append("shots:")
        lines += [f"  - {{id: s{i}, prompt: shot number {i} of the benchmark, seed: {i}}}" for i in range(shots)]
        lines.append("output: {path: out/film.mp4}")
        (folder / "board.yaml").write_text("\n".join(lines) + "\n")
        folders.append(folder)
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-m", "storyboard", "render", "board.yaml", "--backend", "aimlapi", "--yes"],
                                  cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for folder in folders]
    codes = [process.wait() for process in processes]
    wall = time.perf_counter() - started
    shutil.rmtree(base, ignore_errors=True)
    return wall, codes


def make_bucket(endpoint: str) -> str:
    name = f"bench-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=name)
    return name


class S3Server:
    """`moto_server -H 127.0.0.1 -p PORT` for the length of the benchmark."""

    def __enter__(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.1)
        self.process.kill()
        raise SystemExit("moto_server did not start (pip install 'storyboard-render[emulator]')")

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


if __name__ == "__main__":
    main()
