"""Stills first against video first, on the service's emulator and its price list.

A 6-shot board (a cast of two with reference images, published to a local S3 server), 720p
clips of 5 s. A director makes the first board and three rounds of composition changes (every
shot's staging rewritten each round), trying `--takes` variants of each shot per round, then
renders the film once:

- stills first: each round is `render --stills` (image requests only); the last round's picks
  (`still: {take: K}`) are rendered as videos once;
- video first (the naive way): each round is a `render` of video takes; the last round's picks
  are the film (no further render).

Both run against the same emulator (`storyboard.emulator.Emulator`); what they cost is the
emulator's own bill (`stats()["usd_spent"]`, its prices are the model profiles'). The stills-first
loop also counts the creates of each step (stills, pick + render, re-render) and compares the
first frame of every video with its approved still (mean absolute difference of the pixels, 0-255).

    python benchmarks/stills.py [--takes 1 3] [--json]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import storyboard  # noqa: E402
from storyboard.emulator import Emulator  # noqa: E402
from storyboard.media import extract_frame  # noqa: E402

KEY = "sk-bench-stills-0000"
SHOTS = 6
ROUNDS = 4  # the first board and three rounds of composition changes
STAGINGS = ["in a wide shot", "in a close-up", "seen from above", "in silhouette against the light"]


def board(round_: int, takes: int, stills: bool, picks: dict[int, int] | None = None) -> str:
    lines = ["storyboard: 1", "title: The Fox and the Owl",
             "defaults: {resolution: 720p, duration: 5, aspect_ratio: '16:9', still: {size: landscape_16_9}}",
             "cast:", "  fox: {image: assets/fox.png, description: a red fox}",
             "  owl: {image: assets/owl.png, description: a grey owl}", "shots:"]
    for shot in range(1, SHOTS + 1):
        staging = STAGINGS[(round_ + shot) % len(STAGINGS)]
        lines += [f"  - id: s{shot}", f"    prompt: \"{{{{ cast.fox }}}} and {{{{ cast.owl }}}}, beat {shot}, {staging}\"",
                  f"    seed: {100 + shot}"]
        pick = (picks or {}).get(shot)
        if stills:
            lines.append(f"    still: {{takes: {takes}{f', take: {pick}' if pick else ''}}}" if takes > 1 or pick
                         else "    still: true")
        elif takes > 1:
            lines += [f"    takes: {takes}", f"    take: {pick or 1}"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def project() -> Iterator[Path]:
    from PIL import Image

    folder = Path(tempfile.mkdtemp(prefix="stills-bench-"))
    (folder / "assets").mkdir()
    Image.new("RGB", (320, 240), (200, 90, 30)).save(folder / "assets" / "fox.png")
    Image.new("RGB", (240, 320), (120, 120, 140)).save(folder / "assets" / "owl.png")
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(previous)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def services() -> Iterator[Emulator]:
    import boto3
    from moto.server import ThreadedMotoServer

    bucket = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    bucket.start()
    host, port = bucket.get_host_and_port()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL_S3=f"http://{host}:{port}", STORYBOARD_S3_BUCKET="refs")
    boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket="refs")
    emulator = Emulator(api_key=KEY, latency=0.2).start()
    os.environ.update(AIMLAPI_KEY=KEY, AIMLAPI_BASE_URL=emulator.url)
    try:
        yield emulator
    finally:
        emulator.stop()
        bucket.stop()


def render(stills: bool = False) -> None:
    storyboard.render("board.yaml", backend="aimlapi", stills=stills, jobs=2)


def counts(emulator: Emulator) -> dict[str, Any]:
    stats = emulator.stats()
    return {"images": stats["images"], "videos": stats["creates"], "usd": stats["usd_spent"]}


def stills_first(takes: int) -> dict[str, Any]:
    with project(), services() as emulator:
        steps = {}
        for round_ in range(ROUNDS):
            Path("board.yaml").write_text(board(round_, takes, stills=True))
            render(stills=True)
        steps["stills"] = counts(emulator)
        picks = {shot: 1 + shot % takes for shot in range(1, SHOTS + 1)}
        Path("board.yaml").write_text(board(ROUNDS - 1, takes, stills=True, picks=picks))
        render()
        steps["render"] = counts(emulator)
        render()
        steps["rerender"] = counts(emulator)
        the_plan = storyboard.plan("board.yaml", backend="aimlapi")
        clips = Path(".storyboard") / "clips" / str(the_plan.backend)
        differences = []
        for item in the_plan.shots:
            from PIL import Image, ImageChops, ImageStat

            first = extract_frame(clips / f"{item.hash}.mp4", "start").convert("RGB")
            with Image.open(clips / f"{item.first_still}.png") as still:
                scaled = still.convert("RGB").resize(first.size)
            differences.append(round(sum(ImageStat.Stat(ImageChops.difference(first, scaled)).mean) / 3, 2))
        return {"steps": steps, "first_frame_difference": differences}


def video_first(takes: int) -> dict[str, Any]:
    with project(), services() as emulator:
        for round_ in range(ROUNDS):
            Path("board.yaml").write_text(board(round_, takes, stills=False))
            render()
        return {"steps": {"rounds": counts(emulator)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--takes", type=int, nargs="+", default=[1, 3], help="takes of each shot per round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = {}
    for takes in args.takes:
        first, naive = stills_first(takes), video_first(takes)
        spent, naive_spent = first["steps"]["rerender"]["usd"], naive["steps"]["rounds"]["usd"]
        figures[takes] = {"stills_first": first, "video_first": naive, "ratio": round(spent / naive_spent, 3)}
        print(f"takes {takes}: stills first {spent:.2f} USD, video first {naive_spent:.2f} USD, "
              f"ratio {spent / naive_spent:.3f}; creates {first['steps']}; first frames {first['first_frame_difference']}",
              file=sys.stderr)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
