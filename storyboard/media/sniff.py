"""What a file is, judged by its first bytes rather than its name (no decoding, no extra libraries)."""
from __future__ import annotations

from pathlib import Path

# (offset, magic bytes, kind, name)
_SIGNATURES: list[tuple[int, bytes, str, str]] = [
    (0, b"\x89PNG\r\n\x1a\n", "image", "PNG image"),
    (0, b"\xff\xd8\xff", "image", "JPEG image"),
    (0, b"GIF87a", "image", "GIF image"),
    (0, b"GIF89a", "image", "GIF image"),
    (0, b"BM", "image", "BMP image"),
    (0, b"\x1a\x45\xdf\xa3", "video", "Matroska/WebM video"),
    (0, b"ID3", "audio", "MP3 audio"),
    (0, b"fLaC", "audio", "FLAC audio"),
    (0, b"OggS", "audio", "Ogg audio"),
]
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ")


def sniff(path: Path) -> tuple[str | None, str]:
    """(kind, description) of a file: kind is 'image', 'video', 'audio' or None."""
    with open(path, "rb") as file:
        head = file.read(64)
    if not head:
        return None, "an empty file"
    if head[:4] == b"RIFF" and len(head) >= 12:
        form = head[8:12]
        if form == b"WEBP":
            return "image", "WebP image"
        if form == b"WAVE":
            return "audio", "WAV audio"
        if form == b"AVI ":
            return "video", "AVI video"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AUDIO_BRANDS:
            return "audio", "MPEG-4 audio"
        if brand in (b"avif", b"avis", b"heic", b"heix", b"mif1"):
            return "image", "HEIF/AVIF image"
        return "video", "MP4/MOV video"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "video", "QuickTime video"
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio", "MP3 audio"
    for offset, magic, kind, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind, name
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return None, "an HTML page"
    if all(32 <= byte < 127 or byte in b"\r\n\t" for byte in head):
        return None, "a text file"
    return None, "not a recognised image, video or audio file"


def image_is_readable(path: Path) -> str | None:
    """None if Pillow can read the image, else why not."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return f"image is damaged or unreadable ({error})"
    return None
