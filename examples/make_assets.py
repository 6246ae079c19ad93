"""Regenerate the small reference assets the examples use (all drawn here, no downloads).

    python examples/make_assets.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).parent


def fairy(path: Path) -> None:
    image = Image.new("RGB", (256, 256), (18, 40, 30))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 60, 120, 200), fill=(40, 200, 120))  # left wing
    draw.ellipse((136, 60, 216, 200), fill=(40, 200, 120))  # right wing
    draw.ellipse((108, 70, 148, 110), fill=(250, 220, 190))  # head
    draw.rectangle((116, 110, 140, 190), fill=(20, 140, 80))  # cloak
    image.save(path, optimize=True)


def bottle(path: Path) -> None:
    image = Image.new("RGB", (192, 256), (245, 240, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((76, 30, 116, 70), fill=(30, 30, 30))
    draw.rounded_rectangle((46, 70, 146, 230), radius=24, fill=(200, 60, 40))
    draw.rectangle((56, 120, 136, 170), fill=(250, 250, 250))
    image.save(path, optimize=True)


def keeper(path: Path) -> None:
    image = Image.new("RGB", (192, 256), (28, 36, 60))
    draw = ImageDraw.Draw(image)
    draw.ellipse((66, 30, 126, 90), fill=(232, 196, 160))  # face
    draw.polygon([(56, 40), (136, 40), (96, 6)], fill=(40, 40, 44))  # sou'wester
    draw.rectangle((80, 60, 112, 84), fill=(235, 235, 235))  # beard
    draw.rounded_rectangle((46, 92, 146, 240), radius=18, fill=(236, 190, 40))  # oilskin coat
    draw.rectangle((140, 150, 170, 190), fill=(250, 240, 170))  # lantern
    image.save(path, optimize=True)


def gull(path: Path) -> None:
    image = Image.new("RGB", (256, 192), (150, 190, 220))
    draw = ImageDraw.Draw(image)
    draw.polygon([(20, 60), (128, 110), (236, 60), (128, 95)], fill=(245, 245, 245))  # wings
    draw.ellipse((104, 88, 152, 120), fill=(250, 250, 250))  # body
    draw.polygon([(150, 100), (172, 106), (150, 110)], fill=(240, 170, 40))  # beak
    image.save(path, optimize=True)


def raccoon(path: Path) -> None:
    from moviepy import VideoClip

    width, height = 192, 144

    def frame(t: float) -> np.ndarray:
        pixels = np.zeros((height, width, 3), dtype=np.uint8)
        pixels[:] = (34, 60, 34)
        x = int(20 + 120 * t / 2)
        pixels[60:110, x : x + 50] = (128, 128, 128)  # body
        for ring in range(4):  # ringed tail
            shade = 40 if ring % 2 else 200
            pixels[70:80, x - 10 * (ring + 1) : x - 10 * ring] = (shade, shade, shade)
        pixels[50:70, x + 40 : x + 60] = (110, 110, 110)  # head
        return pixels

    VideoClip(frame, duration=2).write_videofile(
        str(path), fps=12, codec="libx264", audio=False, preset="veryslow",
        ffmpeg_params=["-pix_fmt", "yuv420p", "-crf", "35"], logger=None,
    )


def theme(path: Path) -> None:
    from moviepy.audio.AudioClip import AudioArrayClip

    rate = 22_050
    t = np.arange(int(rate * 8)) / rate
    notes = [220.0, 277.18, 329.63, 440.0]
    melody = sum(0.15 * np.sin(2 * np.pi * f * t) * (np.floor(t * 2) % 4 == i) for i, f in enumerate(notes))
    stereo = np.stack([melody, melody], axis=1).astype(np.float32)
    AudioArrayClip(stereo, fps=rate).write_audiofile(
        str(path), fps=rate, codec="aac", bitrate="32k", logger=None
    )


def product(path: Path, kind: str) -> None:
    """A flat drawing of one of the ad-variants products: shoes, a bag or a hat."""
    image = Image.new("RGB", (192, 192), (240, 236, 226))
    draw = ImageDraw.Draw(image)
    if kind == "shoes":
        for left in (24, 100):
            draw.rounded_rectangle((left, 96, left + 70, 140), radius=14, fill=(150, 70, 40))
            draw.rectangle((left, 132, left + 70, 144), fill=(40, 30, 30))
    elif kind == "bag":
        draw.arc((66, 30, 126, 100), 180, 360, fill=(60, 60, 60), width=8)
        draw.rounded_rectangle((40, 64, 152, 160), radius=16, fill=(40, 90, 150))
    else:
        draw.ellipse((26, 110, 166, 150), fill=(120, 100, 40))
        draw.rounded_rectangle((60, 50, 132, 130), radius=20, fill=(150, 125, 50))
        draw.rectangle((60, 104, 132, 116), fill=(70, 40, 20))
    image.save(path, optimize=True)


if __name__ == "__main__":
    fairy(HERE / "raccoon-and-fairy/assets/fairy.png")
    raccoon(HERE / "raccoon-and-fairy/assets/raccoon.mp4")
    theme(HERE / "raccoon-and-fairy/assets/theme.m4a")
    bottle(HERE / "vertical-ad/assets/bottle.png")
    keeper(HERE / "lighthouse-stills/assets/keeper.png")
    gull(HERE / "lighthouse-stills/assets/gull.png")
    for kind in ("shoes", "bag", "hat"):
        product(HERE / f"ad-variants/assets/{kind}.png", kind)
