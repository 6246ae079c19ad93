"""The formats a cut is written in, chosen by the file's extension, and what each needs.

`.otio` is OpenTimelineIO's own JSON (the `opentimelineio` package: everything is kept). The
others go through OTIO's adapter plugins, published separately (`storyboard-render[editors]`), each
given a copy of the timeline shaped for what the format can hold:
- `.xml`, FCP 7 XML (Premiere Pro, DaVinci Resolve): every track; transitions on the sound
  tracks written as audio cross fades, each sound clip marked as the clip's audio; each file's
  `pathurl` the timeline's URL as it is (relative to the .xml for collected media); dialogue
  markers with the line as their comment; no metadata;
- `.edl`, CMX 3600: the picture track only (an EDL has one), dissolves and fades to and from
  black (BL); a reel per shot named after it (`03SNEAK`, see `reel`); no paths in the events,
  but `* FROM CLIP:` / `* TO CLIP:` comments with the URL; dialogue as `* LOC:` locators; no
  metadata; and no frame rate: the editor is told it on import;
- `.fcpxml`, Final Cut Pro X XML: every track, but the adapter writes no transitions (each
  crossfade becomes a cut at its middle, a fade a plain cut); each asset's `src` the URL as it
  is; the prompt as the clip's note; dialogue markers as "who: line".
Both XMLs and the EDL count in SMPTE timecode, so only its rates (24, 25, 30, 48, 50, 60 and
the NTSC ones); the fcpx_xml adapter computes times as frames / rate, right for whole rates only.
"""
from __future__ import annotations

import importlib
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoryboardError, UsageError

if TYPE_CHECKING:
    import opentimelineio as otio

INSTALL_HINT = "pip install 'storyboard-render[editors]'"


class ExportFailed(StoryboardError):
    """An adapter failed on the cut (exit 1)."""


@dataclass(frozen=True)
class Format:
    adapter: str  # OTIO's adapter name
    name: str
    plugin: str | None = None  # the plugin's package, for the adapters published separately
    loses: str = ""  # what the format cannot hold, said to the user
    apps: str = ""  # what reads it, when the name does not say
    keeps_rate: bool = True  # False: the file does not say its frame rate (the editor must be told)

    def __str__(self) -> str:
        return f"{self.name}, for {self.apps}" if self.apps else self.name


FORMATS: dict[str, Format] = {
    ".otio": Format("otio_json", "OpenTimelineIO"),
    ".xml": Format("fcp_xml", "FCP 7 XML", "otio_fcp_adapter", "no storyboard metadata (prompts, seeds, takes)",
                   "Premiere Pro, DaVinci Resolve"),
    ".edl": Format("cmx_3600", "CMX 3600 EDL", "otio_cmx3600_adapter",
                   "the picture only (no sound), reel names of 8 characters, no storyboard metadata", keeps_rate=False),
    ".fcpxml": Format("fcpx_xml", "Final Cut Pro X XML", "otio_fcpx_xml_adapter",
                      "no transitions (crossfades and fades become cuts); of the metadata, the prompt as a note"),
}

FCPX_RATES = (24, 25, 30, 50, 60)  # the fcpx_xml adapter writes times as frames / rate: right for whole rates only
NTSC_RATES = (24000 / 1001, 30000 / 1001, 48000 / 1001, 60000 / 1001)  # 23.976, 29.97, 47.95, 59.94
DISSOLVE_AUDIO = {"name": "Cross Fade (+3dB)", "effectid": "KGAudioTransCrossFade3dB", "effecttype": "transition",
                  "mediatype": "audio"}


def format_for(out: Path) -> Format:
    """The format OUT's extension asks for, its adapter ready; else a UsageError saying what to do."""
    chosen = FORMATS.get(out.suffix.lower())
    if chosen is None:
        known = ", ".join(f"{suffix} ({each})" for suffix, each in FORMATS.items())
        said = f"extension {out.suffix!r}" if out.suffix else "no extension"
        raise UsageError(f"cannot export to {out.name!r}: {said}; the format is chosen by the extension: {known}")
    if chosen.plugin is not None:
        import opentimelineio as otio

        try:
            importlib.import_module(chosen.plugin)
            otio.adapters.from_name(chosen.adapter)  # found through the plugin's entry point
        except (ImportError, otio.exceptions.NotSupportedError):
            raise UsageError(f"{chosen.name} export needs OpenTimelineIO's {chosen.adapter} adapter, "
                             f"not installed: {INSTALL_HINT}") from None
    return chosen


def film_rate(fps: float) -> float:
    """The cut's rate: `output.fps`, or the exact NTSC rate it stands for (29.97 is 30000/1001), as
    timecode needs."""
    return next((rate for rate in NTSC_RATES if abs(fps - rate) < 0.01), fps)


def check_rate(chosen: Format, fps: float) -> None:
    """UsageError when `chosen` cannot be written at the film's frame rate."""
    import opentimelineio as otio

    rate = film_rate(fps)
    if chosen.adapter in ("fcp_xml", "cmx_3600") and not otio.opentime.RationalTime.is_valid_timecode_rate(rate):
        valid = "23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60"
        raise UsageError(f"{chosen.name} counts in SMPTE timecode, which has no {fps:g} fps (it has {valid}); "
                         "export to .otio, or change output.fps")
    if chosen.adapter == "fcpx_xml" and not any(abs(rate - each) < 1e-9 for each in FCPX_RATES):
        listed = ", ".join(f"{each:g}" for each in FCPX_RATES)
        raise UsageError(f"{chosen.name} export supports {listed} fps; the film is {fps:g} fps "
                         "(export to .otio or .xml instead, or change output.fps)")


def shaped(timeline: otio.schema.Timeline, chosen: Format) -> otio.schema.Timeline:
    """A copy of `timeline` as `chosen`'s adapter can write it (raises UsageError when it cannot)."""
    copy = timeline.deepcopy()
    if chosen.adapter == "fcp_xml":
        _for_fcp_xml(copy)
    elif chosen.adapter == "cmx_3600":
        _for_edl(copy)
    elif chosen.adapter == "fcpx_xml":
        _for_fcpx_xml(copy)
    return copy


def _for_fcp_xml(timeline: otio.schema.Timeline) -> None:
    """Sound as sound: audio transitions and clips that say they are audio; each dialogue marker's
    line as its comment (the adapter writes a marker's name and times only)."""
    import opentimelineio as otio

    for clip in timeline.video_tracks()[0].find_clips():
        for marker in clip.markers:
            marker.metadata["fcp_xml"] = {"comment": marker.comment}
    for track in timeline.audio_tracks():
        for item in track:
            if isinstance(item, otio.schema.Transition):  # else written as a video transition
                item.metadata["fcp_xml"] = {"effect": dict(DISSOLVE_AUDIO)}
            elif isinstance(item, otio.schema.Clip):
                item.metadata["fcp_xml"] = {"sourcetrack": {"mediatype": "audio", "trackindex": "1"}}


def _for_edl(timeline: otio.schema.Timeline) -> None:
    """The picture track alone, each shot its own reel named after it; each dialogue marker a
    locator saying the line (the adapter writes a marker's name only, in capitals); the gap of a
    fade given room for the adapter's handling of dissolves (it moves each dissolve's start onto
    the clip after it)."""
    import opentimelineio as otio

    video = timeline.video_tracks()[0]
    for track in list(timeline.tracks):
        if track is not video:
            timeline.tracks.remove(track)
    shots = sum(isinstance(item, otio.schema.Clip) for item in video)
    position = 0
    for index, item in enumerate(video):
        if isinstance(item, otio.schema.Clip):
            position += 1
            item.metadata["cmx_3600"] = {"reel": reel(position, shots, item.name)}
            for marker in item.markers:
                marker.name = _said(marker)
        elif isinstance(item, otio.schema.Gap) and index and isinstance(video[index - 1], otio.schema.Transition):
            before = video[index - 1].in_offset
            item.source_range = otio.opentime.TimeRange(before, item.duration())


def reel(position: int, shots: int, shot: str) -> str:
    """The EDL reel of the shot at `position` (1-based) of `shots`: its number as the media folder's
    file names write it, then its id in capitals, letters, digits and '_' only, at most 8 characters
    in all (`03SNEAK`); unique, as the number is, and never a reserved name (BL, AX: they start with a letter)."""
    number = f"{position:0{max(2, len(str(shots)))}d}"
    return (number + re.sub(r"[^A-Za-z0-9_]", "", shot).upper())[:8]


def _said(marker: otio.schema.Marker) -> str:
    """A dialogue marker as one line: who, then what is said."""
    return " ".join(f"{marker.name}: {marker.comment}".split()) if marker.comment else marker.name


def _for_fcpx_xml(timeline: otio.schema.Timeline) -> None:
    import opentimelineio as otio

    for track in timeline.tracks:
        for item in list(track):
            if isinstance(item, otio.schema.Gap) and item.duration().value == 0:
                track.remove(item)  # the black of a fade: no time, and no transition to hold it here
            elif isinstance(item, otio.schema.Clip):
                if item.metadata.get("storyboard", {}).get("prompt"):
                    item.media_reference.metadata["fcpx"] = {"note": f"{item.name}: {item.metadata['storyboard']['prompt']}"}
                for marker in item.markers:  # the adapter writes a marker's name only
                    marker.name = _said(marker)


def write(timeline: otio.schema.Timeline, chosen: Format, path: Path) -> None:
    """Write `timeline` to `path` (a temporary file the caller renames into place)."""
    import opentimelineio as otio

    try:
        text = otio.adapters.write_to_string(shaped(timeline, chosen), adapter_name=chosen.adapter)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, otio.exceptions.OTIOError) as error:
        raise ExportFailed(f"OpenTimelineIO's {chosen.adapter} adapter could not write the cut: "
                           f"{type(error).__name__}: {error}") from error
    if chosen.adapter == "fcp_xml":
        text = _with_frame(text, timeline.metadata.get("storyboard", {}))
    path.write_text(text, encoding="utf-8")


def _with_frame(text: str, about: dict[str, Any]) -> str:
    """FCP 7 XML with the sequence's frame size, which the adapter leaves empty (`<format/>`)."""
    root = ElementTree.fromstring(text)
    found = root.find("./project/children/sequence/media/video/format")
    if found is None or "width" not in about or len(found):
        return text
    characteristics = ElementTree.SubElement(found, "samplecharacteristics")
    for tag, value in (("width", about["width"]), ("height", about["height"]), ("pixelaspectratio", "square"),
                       ("fielddominance", "none")):
        ElementTree.SubElement(characteristics, tag).text = str(value)
    ElementTree.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
