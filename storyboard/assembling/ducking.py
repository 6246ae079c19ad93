"""Ducking: the soundtrack's gain while the clips have sound, as a broadcast mixer rides it.

The clips' sound is read in 10 ms blocks; a block louder than the threshold is speech (or any
sound of the shots). The music goes down to `duck` over the attack, starting that long before
the sound does (the mix is rendered ahead, so the ducker looks ahead: the first syllable is not
lost under the music); it stays down through pauses shorter than the hold, and comes back up
over the release once the hold has passed with no sound: about a second after the last word.
So a speaker's breaths and pauses between words do not let the music swell between them.
"""
from __future__ import annotations

import numpy as np

THRESHOLD = 0.01  # clip sound louder than this (RMS, about -40 dBFS) ducks the music
BLOCK = 0.01  # seconds: the ducker's step
ATTACK = 0.08  # seconds from full music to ducked, ending where the sound begins (look-ahead)
HOLD = 0.6  # seconds the music stays down after the last loud block
RELEASE = 0.4  # seconds from ducked back to full


class Ducker:
    """Per-sample gains for the music, fed the clips' mix chunk by chunk, in order."""

    def __init__(self, duck: float, rate: int):
        self.duck = duck
        self.block = max(1, round(BLOCK * rate))
        self.lookahead = round(ATTACK / BLOCK)  # blocks
        self.hold = round(HOLD / BLOCK)
        self.down = (1.0 - duck) / max(1, round(ATTACK / BLOCK))  # gain change per block
        self.up = (1.0 - duck) / max(1, round(RELEASE / BLOCK))
        self.gain = 1.0
        self.quiet_for = self.hold  # blocks since the last loud one (as if long ago)

    def gains(self, clips: np.ndarray, following: np.ndarray | None) -> np.ndarray:
        """The music's gain for each sample of `clips` (the clips' mix of this chunk); `following`: the
        next chunk's mix (None at the end), for the look-ahead. Chunks are whole blocks but the last."""
        count = len(clips)
        ahead = following[: self.lookahead * self.block] if following is not None else clips[:0]
        loud = _loud_blocks(np.concatenate([clips, ahead]), self.block)
        blocks = -(-count // self.block)
        gains = np.empty(count, dtype=np.float32)
        for number in range(blocks):
            self.quiet_for = 0 if loud[number] else self.quiet_for + 1
            coming = bool(loud[number + 1:number + 1 + self.lookahead].any())
            previous = self.gain
            if coming or self.quiet_for < self.hold:
                self.gain = max(self.duck, self.gain - self.down)
            else:
                self.gain = min(1.0, self.gain + self.up)
            first = number * self.block
            part = gains[first:first + self.block]
            part[:] = np.linspace(previous, self.gain, len(part), dtype=np.float32)
        return gains


def _loud_blocks(mix: np.ndarray, block: int) -> np.ndarray:
    """Whether each block of `block` samples (the last may be shorter) is louder than the threshold."""
    whole = len(mix) // block * block
    power = (mix[:whole] ** 2).reshape(-1, block * mix.shape[1]).mean(axis=1)
    if whole < len(mix):
        power = np.append(power, float((mix[whole:] ** 2).mean()))
    return np.sqrt(power) > THRESHOLD
