"""Fades and crossfades of a segment's picture at their true times, which fall between film frames
whenever a clip's length is not a whole number of film frames: frame k of a ramp starting at s over d
seconds shows (k / fps - s) / d of the incoming picture, as `xfade` of the whole film would.

Both are `xfade` (a fade through black is a crossfade with black), run on microsecond timestamps: on
the film's 1/fps grid `xfade` would round its start to a whole frame, and `fade` counts frames. `xfade`
counts its start from its first input's first frame, never before: that input is given whole frames
in front (dropped after) for a ramp that starts before the segment's first frame.
"""
from __future__ import annotations

import math
from fractions import Fraction

from .segments import Layer

FINE = "settb=AVTB"  # microseconds


def crossfade(outgoing: str, incoming: str, start: float, duration: float, fps: float, out: str) -> list[str]:
    """Graph lines: `incoming` over `outgoing` from `start` seconds (from the first frame) over `duration`."""
    return _xfade(outgoing, incoming, start, duration, fps, out)


def fades(label: str, layer: Layer, size: tuple[int, int], fps: float, frames: int, name: str) -> tuple[list[str], str]:
    """Graph lines fading the layer `label` in from and out to black as it says; and the faded picture's label."""
    lines: list[str] = []
    for kind, ramp in (("in", layer.fade_in), ("out", layer.fade_out)):
        if ramp is None:
            continue
        start, duration = ramp
        black, faded = f"{name}black{kind}", f"{name}{kind}"
        seconds = (frames + 2) / fps + max(0.0, -start)
        lines.append(f"color=c=black:s={size[0]}x{size[1]}:r={_rate(fps)}:d={seconds:.6f},format=yuv420p,"
                     f"setsar=1[{black}]")
        pair = (black, label) if kind == "in" else (label, black)
        lines += _xfade(*pair, start, duration, fps, faded)
        label = faded
    return lines, label


def _xfade(first: str, second: str, start: float, duration: float, fps: float, out: str) -> list[str]:
    lead = max(1, math.ceil(-start * fps - 1e-9))  # whole frames in front: the offset is then >= 0
    offset = lead / fps + start
    return [f"[{first}]tpad=start={lead},{FINE}[{out}a]", f"[{second}]{FINE}[{out}b]",
            f"[{out}a][{out}b]xfade=transition=fade:duration={duration:.6f}:offset={offset:.6f},"
            f"trim=start_frame={lead},setpts=PTS-STARTPTS,settb={_time_base(fps)}[{out}]"]


def _rate(fps: float) -> str:
    rate = Fraction(fps).limit_denominator(1001)
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def _time_base(fps: float) -> str:
    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.denominator}/{rate.numerator}"
