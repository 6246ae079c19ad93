"""What a clip's picture needs to become the film's: every film is BT.709 (primaries, transfer and
matrix), limited range, progressive, with square pixels, and says so in its tags.

A clip is read as its tags say; an untagged one by its size (SD is BT.601, HD BT.709, as players
guess). HDR (PQ or HLG, BT.2020) is tone-mapped to SDR, with SDR's reference white at 100 nits (the
nominal level `zscale` assumes both ways); BT.2020 SDR is brought into BT.709's gamut; BT.601 is
converted by matrix (`colorspace`), full range by the scaler; interlaced clips are
deinterlaced (`bwdif`, one frame per frame). A clip that already is what the film is takes no step
of its own. (SD primaries are not converted: EBU's equal BT.709's but for a slightly different
green, and players ignore the difference.)
"""
from __future__ import annotations

from ..media import VideoStream

# The film's colour description, given to the encoder (the H.264 VUI and the MP4's `colr`)
FILM_COLOUR = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]
# The same on the frames (no pixel touched): x264 takes what its first frame says over the options above
FILM_FRAMES = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
# The same written into the parameter sets of stream-copied H.264 (BT.709 is 1 in each table; range 0: limited)
FILM_COLOUR_BSF = "h264_metadata=colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1:video_full_range_flag=0"

# The `colorspace` filter's names of the SDR matrices it converts from (matrix only: `fast`)
_COLORSPACE_MATRICES = {"bt470bg": "bt601-6-625", "smpte170m": "bt601-6-525", "fcc": "bt470m", "smpte240m": "smpte240m"}
_ZSCALE_TRANSFERS = {"smpte2084": "smpte2084", "arib-std-b67": "arib-std-b67", "bt2020-10": "2020_10",
                     "bt2020-12": "2020_12", "linear": "linear", "iec61966-2-1": "iec61966-2-1"}
TONE_MAP = "tonemap=mobius:param=0.7:desat=0"  # linear below 70 % of SDR white, highlights rolled off to it


def is_standard_definition(video: VideoStream) -> bool:
    width, height = video.size
    return width < 1280 and height <= 576


def matrix_of(video: VideoStream) -> str:
    """The matrix the clip's YUV was made with: as tagged; untagged, BT.601 for SD and BT.709 for HD."""
    if video.colour.matrix:
        return video.colour.matrix
    if video.colour.primaries == "bt2020" or video.colour.hdr:
        return "bt2020nc"
    return "smpte170m" if is_standard_definition(video) else "bt709"


def wide_gamut(video: VideoStream) -> bool:
    """BT.2020 primaries, or HDR: converted through linear light (`zscale`)."""
    return video.colour.hdr or video.colour.primaries == "bt2020" or matrix_of(video) in ("bt2020nc", "bt2020c")


def is_film_ready(video: VideoStream) -> bool:
    """Already BT.709 limited range, progressive, square pixels: its picture may be copied as it is."""
    colour = video.colour
    return (not wide_gamut(video) and matrix_of(video) == "bt709" and not colour.full_range
            and colour.primaries in ("", "bt709") and colour.transfer in ("", "bt709")
            and video.fields == "progressive" and video.sample_aspect == 1)


def deinterlacing(video: VideoStream) -> list[str]:
    """`bwdif` for interlaced clips (one frame out per frame in: the film's frame rate does the rest)."""
    if video.fields == "progressive":
        return []
    return [f"bwdif=mode=send_frame:parity={video.fields}:deint=all"]


def fitting(video: VideoStream, width: int, height: int) -> list[str]:
    """The clip's frames scaled to `width` x `height` and made BT.709 limited range on the way."""
    colour = video.colour
    range_in = "full" if colour.full_range else "limited"
    if wide_gamut(video):
        transfer = _ZSCALE_TRANSFERS.get(colour.transfer, "709")
        matrix = "2020_cl" if matrix_of(video) == "bt2020c" else "2020_ncl"
        to_sdr = [TONE_MAP] if colour.hdr else []
        return [f"zscale=tin={transfer}:pin=2020:min={matrix}:rin={range_in}:t=linear:npl=100", "format=gbrpf32le",
                "zscale=p=709", *to_sdr, "zscale=t=709:m=709:r=limited", "format=yuv420p", f"scale={width}:{height}"]
    steps = ["scale=in_range=full:out_range=limited,format=yuv420p"] if colour.full_range else []
    sdr_matrix = _COLORSPACE_MATRICES.get(matrix_of(video))
    if sdr_matrix:  # not the scaler: ffmpeg 9's changes the greys of BT.601 by 3 to 5 levels
        steps += ["format=yuv420p", f"colorspace=all=bt709:iall={sdr_matrix}:fast=1"]
    return [*steps, f"scale={width}:{height}"]
