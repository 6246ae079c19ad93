"""`storyboard review`: the page a director looks at. What it says, checked in its HTML; how it
looks and plays, checked in headless Chromium (tests/browser.py)."""
from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from avprobe import flash_times
from browser import chromium_or_skip
from conftest import Project, copy_of, rendered_once

import storyboard
from storyboard.backends import plan_for as plan
from storyboard.backends import store_name
from storyboard.media import probe
from storyboard.project.state import State
from storyboard.project.store import ClipStore
from storyboard.reviewing import write_review
from storyboard.reviewing.data import gather
from storyboard.reviewing.page import timecode

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# Line numbers matter: the page tells which line to change.
BOARD = """\
storyboard: 1
title: The Night <Ferry> & Co
defaults: {resolution: 720p, duration: 2, aspect_ratio: "16:9"}
cast:
  fox: {image: assets/red.png, description: a red fox}
shots:
  - id: dock
    prompt: |
      {{ cast.fox }} waits on the dock, "lanterns" <swaying> & fog.
      Second line.
    seed: 5
    takes: 2
    take: 2
  - id: lake
    prompt: The ferry crosses the lake
    transition: {type: crossfade, duration: 0.5}
output: {path: out/film.mp4}
"""
TAKE_LINE = BOARD.splitlines().index("    take: 2") + 1  # of shot dock
FPS = 24


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A project rendered once on the preview backend; each test gets its own copy."""
    return rendered_once(tmp_path_factory, "review", BOARD)


@pytest.fixture
def copy(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return copy_of(made, tmp_path, monkeypatch)


def page_of(root: Path, name: str = "out/review.html") -> str:
    return (root / name).read_text(encoding="utf-8")


def first_group(pattern: str, text: str) -> str:
    """What the first group of `pattern` matched in `text` (which must hold a match)."""
    found = re.search(pattern, text)
    assert found is not None, pattern
    return found.group(1)


def take_articles(page: str) -> dict[str, str]:
    """Each take's <article>, by its key."""
    return {match.group(1): match.group(0) for match in re.finditer(r'<article class="take[^"]*" id="take-([^"]+)".*?</article>',
                                                                    page, re.S)}


def test_the_page_lists_every_take_and_marks_the_one_in_the_film(copy, run_cli):
    code, out, err = run_cli("review", "board.yaml")
    assert code == 0, err
    assert "out/review.html" in out
    takes = take_articles(page_of(copy))
    assert list(takes) == ["dock#1", "dock#2", "lake"]
    marked = [key for key, article in takes.items() if 'class="take in-film"' in article]
    assert marked == ["dock#2", "lake"]  # `take: 2`; a one-take shot's only take
    assert all("In the film" in takes[key] for key in marked)
    assert "In the film" not in takes["dock#1"]
    assert all("<video controls preload=\"metadata\"" in article for article in takes.values())


def test_the_prompt_is_shown_exactly_as_sent_with_the_references_as_it_names_them(copy, run_cli):
    assert run_cli("review", "board.yaml")[0] == 0
    page = page_of(copy)
    sent = storyboard.plan(storyboard.load("board.yaml")).shot("dock").body["prompt"]
    assert sent.startswith("Image 1 (a red fox) waits") and "\n" in sent
    shown = re.findall(r'<p class="prompt">(.*?)</p>', page, re.S)
    assert html.unescape(shown[0]) == sent  # line breaks kept (the page shows them: white-space: pre-wrap)
    assert "&lt;swaying&gt; &amp; fog." in shown[0]  # escaped, never markup
    assert "<b>Image 1 · fox</b><span>assets/red.png</span>" in page  # the prompt's label, and whose it is
    assert "<title>The Night &lt;Ferry&gt; &amp; Co · review</title>" in page


def test_each_other_take_says_the_line_to_change_or_the_line_to_add(copy, project_text, run_cli):
    project_text(copy, BOARD.replace("    transition: {type: crossfade", "    takes: 2\n    transition: {type: crossfade"))
    assert run_cli("review", "board.yaml")[0] == 0
    takes = take_articles(page_of(copy))
    assert f'data-pick="line {TAKE_LINE}: take: 1"' in takes["dock#1"]
    assert f"<code>line {TAKE_LINE}: take: 1</code>" in takes["dock#1"]
    lake_line = BOARD.splitlines().index("  - id: lake") + 1
    assert html.unescape(first_group(r'data-pick="([^"]+)"', takes["lake#2"])) == \
        f"add `take: 2` to shot 'lake' (line {lake_line})"
    assert "data-pick" not in takes["dock#2"] and "data-pick" not in takes["lake#1"]


def test_a_take_not_rendered_yet_shows_a_placeholder_not_a_broken_video(copy, project_text, run_cli):
    project_text(copy, BOARD.replace("    takes: 2\n", "    takes: 3\n"))
    assert run_cli("review", "board.yaml")[0] == 0
    takes = take_articles(page_of(copy))
    assert "Not rendered yet" in takes["dock#3"] and "<video" not in takes["dock#3"]
    assert "storyboard render board.yaml" in takes["dock#3"]
    assert "<video" in takes["dock#1"] and "Not rendered yet" not in takes["dock#1"]


def test_the_totals_say_what_was_spent_what_everything_costs_and_what_is_left_to_pay(copy, run_cli):
    board = storyboard.load("board.yaml")
    the_plan = plan(board)
    dock = the_plan.takes("dock")
    state = State(ClipStore(copy).state_path)
    try:  # the service made take 1 of dock for 0.26 USD
        state.claim(store_name("aimlapi"), dock[0].hash, "dock", None, 5)
        state.submitted(store_name("aimlapi"), dock[0].hash, "gen-1", 0.26)
    finally:
        state.close()
    assert run_cli("review", "board.yaml")[0] == 0
    page = page_of(copy)
    assert the_plan.estimated_usd > 0
    assert '<dd data-total="in-film">$0.00</dd>' in page  # take 2 is in the film, and no one paid for it
    assert '<dd data-total="spent">$0.26</dd>' in page
    assert f'<dd data-total="estimated">${the_plan.estimated_usd:,.2f}</dd>' in page
    to_pay = plan(board, "aimlapi").missing_usd  # the service is making dock#1: the other takes are left to pay
    assert dock[0].estimated_usd is not None
    assert to_pay == pytest.approx(the_plan.estimated_usd - dock[0].estimated_usd)
    assert f'<dd data-total="to-pay">${to_pay:,.2f}</dd>' in page


PAID = """\
storyboard: 1
defaults: {resolution: 720p, duration: 2}
shots:
  - {id: castle, prompt: a castle on a hill at dawn, seed: 7, takes: 2}
  - {id: moat, prompt: ducks on the moat, seed: 3}
output: {path: out/film.mp4}
"""


def test_what_the_film_s_takes_cost_and_all_the_project_spent_are_two_figures(project, run_cli, service):
    service(latency=0.2)
    project.write(PAID)
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 0, out + err
    # Take 2 into the film; moat's prompt rewritten: the take paid for it is no longer in the storyboard.
    project.write(PAID.replace("takes: 2}", "takes: 2, take: 2}").replace("ducks", "swans"))
    assert run_cli("review", "board.yaml", "--backend", "aimlapi")[0] == 0
    state = State(ClipStore(project.root).state_path, read_only=True)
    try:
        paid = {record.request_hash: record.usd_spent for record in state.all(store_name("aimlapi"))}
    finally:
        state.close()
    assert len(paid) == 3 and all(usd > 0 for usd in paid.values())  # castle#1, castle#2, the old moat
    castle = plan(storyboard.load("board.yaml"), "aimlapi").takes("castle")
    in_film = paid[castle[1].hash]  # castle#2; the new moat is not made yet
    every = sum(paid.values())
    assert in_film < every
    with chromium_or_skip()() as browser:
        seen = browser.open(project.root / "out" / "review.html")
        shown = {seen.page.locator(f"[data-total={name}]").inner_text(): seen.page.locator(f".totals .{name} dt").inner_text()
                 for name in ("in-film", "spent")}
        assert seen.errors() == []
    assert shown == {f"${in_film:,.2f}": "IN THE FILM", f"${every:,.2f}": "SPENT ON THIS PROJECT"}  # as shown: upper case


def test_the_page_shows_the_film_and_where_each_shot_is_in_it(copy, run_cli):
    assert run_cli("review", "board.yaml")[0] == 0
    page = page_of(copy)
    assert '<video id="film" controls preload="metadata" src="film.mp4" poster="data:image/jpeg;base64,' in page
    # dock lasts 2 s; lake begins 0.5 s before dock ends (a crossfade) and lasts 2 s.
    for shot, start, end in (("dock", "00:00.00", "00:02.00"), ("lake", "00:01.50", "00:03.50")):
        shown = f'<span class="tc start">{start}</span> – <span class="tc end">{end}</span>'
        assert re.search(f'id="shot-{shot}".*?{shown}', page, re.S)


def test_a_film_older_than_the_choices_says_so(copy, project_text, run_cli):
    assert run_cli("review", "board.yaml")[0] == 0
    assert 'class="note"' not in page_of(copy)
    project_text(copy, BOARD.replace("    take: 2", "    take: 1"))
    assert run_cli("review", "board.yaml")[0] == 0
    page = page_of(copy)
    assert "The film was assembled before the latest changes to &#39;dock&#39;" in page
    assert 'class="take in-film" id="take-dock#1"' in page  # the storyboard's choice, which the next render puts in


def test_footage_shows_its_file(copy, project_text, run_cli):
    shutil.copy(copy / "assets" / "walk.mp4", copy / "assets" / "title card.mp4")
    project_text(copy, BOARD.replace("shots:\n", "shots:\n  - id: title\n    clip: assets/title card.mp4\n"))
    assert run_cli("review", "board.yaml")[0] == 0
    page = page_of(copy)
    takes = take_articles(page)
    assert "Existing footage: <code>assets/title card.mp4</code>" in page
    assert '<video controls preload="metadata" src="../assets/title%20card.mp4" poster="data:image/jpeg;base64,' in takes["title"]
    assert 'class="take in-film"' in takes["title"]


def test_the_page_goes_next_to_the_film_unless_told_where(copy, run_cli):
    assert run_cli("review", "board.yaml")[0] == 0
    assert (copy / "out" / "review.html").is_file()
    code, out, _ = run_cli("review", "board.yaml", "-o", "notes/for-anna.html")
    assert code == 0 and "notes/for-anna.html" in out
    page = page_of(copy, "notes/for-anna.html")
    sources = re.findall(r'<video[^>]* src="([^"]+)"', page)
    assert len(sources) == 4  # the film and three takes
    assert all((copy / "notes" / source).resolve().is_file() for source in sources)  # relative to the page


@pytest.mark.parametrize(("target", "said"), [
    ("board.yaml", "is the storyboard file itself"),
    ("assets/red.png", "is a reference image of cast member 'fox'"),
    ("out/film.mp4", "is the film"),
    (".storyboard/page.html", "inside .storyboard/"),
    ("out", "is a folder"),
])
def test_the_page_never_overwrites_an_input_or_the_film(copy, run_cli, target, said):
    before = {path: path.read_bytes() for path in (copy / "board.yaml", copy / "assets" / "red.png", copy / "out" / "film.mp4")}
    code, _, err = run_cli("review", "board.yaml", "-o", target)
    assert code == 2
    assert said in err and err.startswith("error: ") and err.count("\n") == 1
    assert {path: path.read_bytes() for path in before} == before


def test_the_page_is_written_atomically(copy, run_cli, monkeypatch):
    (copy / "out" / "review.html").write_text("the previous page")

    def half_then_fail(self: Path, data: bytes) -> int:
        with open(self, "wb") as file:
            file.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    code, _, err = run_cli("review", "board.yaml")
    assert code == 1 and "No space left on device" in err
    assert page_of(copy) == "the previous page"
    assert sorted(path.name for path in (copy / "out").iterdir()) == ["film.mp4", "review.html"]  # no half-written leftover


def test_thumbnails_are_decoded_once(copy):
    board = storyboard.load("board.yaml")
    first = gather(plan(board), copy / "page.html")
    again = gather(plan(board), copy / "page.html")
    assert first.decoded == 5  # three takes, the reference image and the film's poster
    assert again.decoded == 0
    assert [take.facts for shot in again.shots for take in shot.takes] == \
        [take.facts for shot in first.shots for take in shot.takes]


def test_the_python_api_writes_the_same_page(copy):
    page = storyboard.review("board.yaml", output="api.html")
    assert page == copy / "api.html"
    assert 'id="take-dock#2"' in page.read_text()
    assert write_review(storyboard.load("board.yaml")) == copy / "out" / "review.html"


def test_the_aimlapi_backend_has_no_clips_here(copy, run_cli):
    assert run_cli("review", "board.yaml", "--backend", "aimlapi")[0] == 0
    page = page_of(copy)
    assert "clips of the aimlapi backend" in page
    takes = take_articles(page)
    assert all("Not rendered yet" in article and "<video" not in article for article in takes.values())
    assert "storyboard render board.yaml --backend aimlapi" in page


def test_an_invalid_storyboard_is_one_message_per_problem_and_exit_2(copy, project_text, run_cli):
    project_text(copy, BOARD.replace("take: 2", "take: 3"))
    code, out, err = run_cli("review", "board.yaml")
    assert code == 2 and out == ""
    assert f"board.yaml:{TAKE_LINE}:" in err and "take: 3" in err


def test_timecodes():
    assert timecode(0) == "00:00.00"
    assert timecode(5) == "00:05.00"
    assert timecode(61.257) == "01:01.26"
    assert timecode(3725.5) == "1:02:05.50"
    assert timecode(None) == "–"


@pytest.fixture
def project_text():
    def write(root: Path, text: str) -> None:
        (root / "board.yaml").write_text(text, encoding="utf-8")

    return write


# In the browser -----------------------------------------------------------------------------------


def test_the_page_in_a_browser(copy, run_cli):
    """Every shot visible; every video plays (metadata, duration as probed); the timecodes match the film;
    no console error, no failed request; no horizontal scroll at 1280 or 900 px. Screenshot: test-artifacts/review.png."""
    chromium = chromium_or_skip()
    assert run_cli("review", "board.yaml")[0] == 0
    page_file = copy / "out" / "review.html"
    film = probe(copy / "out" / "film.mp4")
    dock, lake = (probe(copy / "out" / src) for src in _film_take_sources(page_file.read_text()))
    dock_length, lake_length = dock.picture.end - dock.start, lake.picture.end - lake.start
    expected = {"dock": (0.0, dock_length), "lake": (dock_length - 0.5, dock_length - 0.5 + lake_length)}  # a 0.5 s crossfade
    assert abs(expected["lake"][1] - film.picture.duration) <= 1 / FPS  # the page's arithmetic is the film's

    with chromium(width=1280) as browser:
        seen = browser.open(page_file)
        for shot in ("dock", "lake"):
            assert seen.page.locator(f"#shot-{shot}").is_visible()
        videos = seen.videos()
        assert len(videos) == 4  # the film and three takes
        for video in videos:
            assert video["readyState"] >= 1, video
            clip = probe((page_file.parent / video["src"]).resolve())
            assert abs(video["duration"] - clip.duration) <= 0.1, video
        for shot, (start, end) in expected.items():
            assert seen.page.locator(f"#shot-{shot} .tc.start").inner_text() == timecode(start)
            assert seen.page.locator(f"#shot-{shot} .tc.end").inner_text() == timecode(end)
        assert seen.horizontal_overflow() == 0
        assert seen.page.locator("#shot-dock .refs figcaption b").all_inner_texts() == ["Image 1 · fox"]
        # A click on a shot in the strip under the film seeks the film there.
        seen.page.locator('.segment[data-shot="lake"]').click()
        seen.page.wait_for_function(f"Math.abs(document.getElementById('film').currentTime - {expected['lake'][0]}) < 0.3")
        ARTIFACTS.mkdir(exist_ok=True)
        seen.screenshot(ARTIFACTS / "review.png")
        assert seen.errors() == []
        seen.page.set_viewport_size({"width": 900, "height": 900})
        assert seen.horizontal_overflow() == 0


def _film_take_sources(page: str) -> list[str]:
    takes = take_articles(page)
    return [first_group(r'<video[^>]* src="([^"]+)"', takes[key]) for key in ("dock#2", "lake")]


# A film with dialogue and sidecar subtitles, of `preview-sync` clips: each clip flashes white for one
# frame at 0.5 s, 1.5 s and 2.5 s, and a 3 s clip's middle frame (1.5 s) is one of those flashes.
DIALOGUE = """\
storyboard: 1
defaults: {resolution: 720p, duration: 3, aspect_ratio: "16:9"}
cast:
  tan: {image: assets/red.png, description: a tan cat}
shots:
  - id: porch
    prompt: "{{ cast.tan }} sits on the porch"
    image_urls: [assets/blue.png]
    seed: 4
    dialogue:
      - {who: tan, say: "Is it morning yet?"}
      - {who: tan, say: "Then wake me at noon.", at: 2}
  - id: yard
    prompt: The yard under snow
    seed: 9
    dialogue:
      - {who: tan, say: "Too cold."}
output: {path: out/film.mp4, subtitles: sidecar}
"""
SAID = 3  # lines of dialogue
BRIGHTNESS = """async (source) => {
  const image = new Image();
  image.src = source;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < pixels.length; i += 4) sum += (pixels[i] + pixels[i + 1] + pixels[i + 2]) / 3;
  return sum / (pixels.length / 4);
}"""


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review-sync") / "project"
    root.mkdir()
    Project(root).write(DIALOGUE)
    assert storyboard.render(root / "board.yaml", backend="preview-sync").film is not None
    return root


@pytest.fixture
def sync_page(synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli) -> Path:
    """The review page of a copy of `synced`."""
    root = copy_of(synced, tmp_path, monkeypatch)
    assert run_cli("review", "board.yaml", "--backend", "preview-sync")[0] == 0
    return root / "out" / "review.html"


def test_the_film_plays_with_its_subtitles(sync_page):
    assert (sync_page.parent / "film.vtt").is_file()
    with chromium_or_skip()() as browser:
        seen = browser.open(sync_page)
        seen.page.wait_for_function("document.querySelector('#film track').readyState >= 2", timeout=10_000)
        track = seen.page.evaluate("""(() => {
            const film = document.getElementById("film");
            const track = film.textTracks[0];
            return {state: film.querySelector("track").readyState, kind: track.kind, mode: track.mode,
                    cues: [...track.cues].map((cue) => cue.text)};
        })()""")
        # At 2.2 s into the film the second line is on screen.
        seen.page.evaluate("document.getElementById('film').currentTime = 2.2")
        seen.page.wait_for_function("""(() => {
            const cues = document.getElementById('film').textTracks[0].activeCues;
            return cues && cues.length === 1 && cues[0].text === 'Then wake me at noon.';
        })()""")
        ARTIFACTS.mkdir(exist_ok=True)
        seen.page.wait_for_timeout(500)
        seen.page.locator("#film").screenshot(path=str(ARTIFACTS / "review-subtitles.png"))
        assert seen.errors() == []
    assert track == {"state": 2, "kind": "subtitles", "mode": "showing",  # loaded, every line a cue, shown
                     "cues": ["Is it morning yet?", "Then wake me at noon.", "Too cold."]}
    assert len(track["cues"]) == SAID


def test_the_film_shows_a_frame_of_itself_before_it_plays(sync_page):
    with chromium_or_skip()() as browser:
        seen = browser.open(sync_page)
        poster = seen.page.evaluate("document.getElementById('film').poster")
        assert poster.startswith("data:image/jpeg;base64,")
        # Neither black nor the flash at the middle of the first shot (where the poster is taken).
        assert 15 < seen.page.evaluate(BRIGHTNESS, poster) < 120
        assert seen.errors() == []


def test_no_middle_thumbnail_is_a_one_frame_flash(sync_page):
    clips = {key: (sync_page.parent / first_group(r'<video[^>]* src="([^"]+)"', article)).resolve()
             for key, article in take_articles(sync_page.read_text()).items()}
    assert all(flash_times(clip, FPS) == pytest.approx([0.5, 1.5, 2.5]) for clip in clips.values())  # 1.5 s: the middle
    with chromium_or_skip()() as browser:
        seen = browser.open(sync_page)
        for key in clips:  # the nearest frame to the middle that is not a flash
            middle = seen.page.locator(f'[id="take-{key}"] .frames figure').nth(1)
            at = float(middle.locator("figcaption").inner_text().split()[1])
            assert at != 1.5 and abs(at - 1.5) <= 2 / FPS, (key, at)
            assert seen.page.evaluate(BRIGHTNESS, middle.locator("img").get_attribute("src")) < 120, key
        # The references of this page, as the prompt names them and by whose they are.
        assert seen.page.locator("#shot-porch .refs figcaption b").all_inner_texts() == ["Image 1 · blue.png",
                                                                                         "Image 2 · tan"]
        assert seen.horizontal_overflow() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        seen.screenshot(ARTIFACTS / "review-dialogue.png")
        assert seen.errors() == []
