"""How a video stream's pixels are to be read: its colour description (primaries, transfer, matrix,
range), its fields and the shape of its pixels, as the file's tags say. Names are ffmpeg's."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

# FFmpeg's enum values (libavutil/pixfmt.h) as PyAV reports them, by the names ffmpeg's filters take
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
              10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "jedec-p22"}
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 13: "iec61966-2-1",
              14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
_MATRICES = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc", 10: "bt2020c"}
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
_FIELD_ORDERS = {2: "tff", 3: "bff", 4: "bff", 5: "tff"}  # AV_FIELD_TT, BB, TB (bottom shown first), BT
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})  # PQ (HDR10) and HLG


@dataclass(frozen=True)
class Colour:
    """What the file says about its colour; "" where it says nothing."""

    primaries: str = ""
    transfer: str = ""
    matrix: str = ""
    full_range: bool = False  # 0-255 (JPEG, `yuvj420p`) rather than 16-235

    @property
    def hdr(self) -> bool:
        return self.transfer in HDR_TRANSFERS


def colour_of(context: Any, pix_fmt: str) -> Colour:
    """A decoder context's colour description (PyAV); the `yuvj` pixel formats are full range whatever the tag."""
    return Colour(primaries=_PRIMARIES.get(_number(context, "color_primaries"), ""),
                  transfer=_TRANSFERS.get(_number(context, "color_trc"), ""),
                  matrix=_MATRICES.get(_number(context, "colorspace"), ""),
                  full_range=_number(context, "color_range") == _FULL_RANGE or pix_fmt.startswith("yuvj"))


def fields_of(context: Any, first_frame: Any) -> str:
    """'progressive', or the field shown first of an interlaced stream: 'tff' or 'bff'. The stream's
    field order where the file states it; else its first frame's interlace flag."""
    order = _FIELD_ORDERS.get(_number(context, "field_order"))
    if order:
        return order
    if first_frame is not None and getattr(first_frame, "interlaced_frame", False):
        return "tff" if getattr(first_frame, "top_field_first", True) else "bff"
    return "progressive"


def sample_aspect_of(stream: Any) -> Fraction:
    """The width of a pixel over its height as displayed (1 when the file says nothing)."""
    for owner in (stream, stream.codec_context):
        ratio = getattr(owner, "sample_aspect_ratio", None)
        if ratio:
            return Fraction(ratio)
    return Fraction(1)


def _number(owner: Any, name: str) -> int:
    try:
        return int(getattr(owner, name, 0) or 0)
    except (TypeError, ValueError):
        return 0
