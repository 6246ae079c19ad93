"""What a file is, judged by its first bytes rather than its name; for a binary file no signature
names, by asking FFmpeg's demuxers (through PyAV) what streams it holds."""
from __future__ import annotations

from pathlib import Path

HEAD = 512  # bytes read to judge a file (two MPEG-TS packets and a Matroska header fit)
TS_PACKET = 188

# (offset, magic bytes, kind, name)
_SIGNATURES: list[tuple[int, bytes, str, str]] = [
    (0, b"\x89PNG\r\n\x1a\n", "image", "PNG image"),
    (0, b"\xff\xd8\xff", "image", "JPEG image"),
    (0, b"GIF87a", "image", "GIF image"),
    (0, b"GIF89a", "image", "GIF image"),
    (0, b"BM", "image", "BMP image"),
    (0, b"\x06\x0e\x2b\x34\x02\x05\x01\x01\x0d\x01\x02", "video", "MXF video"),
    (0, b"\x00\x00\x01\xba", "video", "MPEG program stream video"),
    (0, b"FLV\x01", "video", "Flash video"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video", "Windows Media video"),
    (0, b"ID3", "audio", "MP3 audio"),
    (0, b"fLaC", "audio", "FLAC audio"),
]
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ")
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def sniff(path: Path) -> tuple[str | None, str]:
    """(kind, description) of a file: kind is 'image', 'video', 'audio' or None."""
    with open(path, "rb") as file:
        head = file.read(HEAD)
    if not head:
        return None, "an empty file"
    known = _by_signature(head)
    if known is not None:
        return known
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return None, "an HTML page"
    if all(32 <= byte < 127 or byte in b"\r\n\t" for byte in head[:64]):
        return None, "a text file"
    return _by_demuxer(path) or (None, "not a recognised image, video or audio file")


def _by_signature(head: bytes) -> tuple[str | None, str] | None:
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
        return "video", "QuickTime video" if brand == b"qt  " else "MP4/MOV video"
    if head[4:8] in _QUICKTIME_ATOMS:
        return "video", "QuickTime video"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: the header names its document type
        return "video", "WebM video" if b"webm" in head[:64] else "Matroska video"
    if head[:4] == b"OggS":
        return ("video", "Ogg video") if b"theora" in head[28:64] else ("audio", "Ogg audio")
    if _is_transport_stream(head, 0):
        return "video", "MPEG transport stream video"
    if _is_transport_stream(head, 4):  # Blu-ray and AVCHD .m2ts/.mts: a 4-byte timecode before each packet
        return "video", "MPEG transport stream video (M2TS)"
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio", "MP3 audio"
    for offset, magic, kind, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind, name
    return None


def _is_transport_stream(head: bytes, offset: int) -> bool:
    """Sync bytes at the start of two packets in a row (of 188 bytes, or 192 with a timecode)."""
    step = TS_PACKET + offset
    return len(head) > offset + step and head[offset] == 0x47 and head[offset + step] == 0x47


def _by_demuxer(path: Path) -> tuple[str, str] | None:
    """Containers without a signature here (FFmpeg reads many more): what streams they hold, if any."""
    try:
        import av

        from .streams import picture_stream

        with av.open(str(path)) as container:
            name = container.format.long_name or container.format.name
            if container.format.name == "image2" or container.format.name.endswith("_pipe"):
                return None  # a still image format Pillow does not read
            if picture_stream(container) is not None:
                return "video", name if name.lower().endswith("video") else f"{name} video"
            if container.streams.audio:
                return "audio", name if name.lower().endswith("audio") else f"{name} audio"
    except Exception:  # noqa: BLE001 - any failure to demux means: not media storyboard can use
        return None
    return None


def image_is_readable(path: Path) -> str | None:
    """None if Pillow can read the image, else why not."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return f"image is damaged or unreadable ({error})"
    return None
