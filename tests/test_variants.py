"""`variants:`: one file rendered once per variant (a matrix, rows, a CSV), --variant and --shard, each
request the variants share generated once, on one machine and across machines sharing a bucket."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Project, said
from processes import Render
from test_shared_cache import Bucket, bucket, s3_endpoint  # noqa: F401 - fixtures

import storyboard
from storyboard.backends.base import Job, Submission
from storyboard.backends.preview import PreviewBackend
from storyboard.errors import InvalidStoryboard, ShotFailed, UsageError

# 2 products x 2 languages; `opening` is the same in every variant: 1 + 2 x 4 = 9 requests, not 12.
BOARD = """
storyboard: 1
variants:
  product: [shoes, bag]
  lang: [en, de]
defaults: {resolution: 720p, duration: 2}
shots:
  - {id: opening, prompt: fog over a mountain lake, seed: 1}
  - {id: hero, prompt: "the {{ variant.product }} on a rock, a caption in {{ variant.lang }}", seed: 2}
  - {id: endcard, prompt: "{{ variant.product }} on white, '{{ vars.tagline[variant.lang] }}'", seed: 3}
vars:
  tagline: {en: Made to wander., de: Gemacht zum Wandern.}
output:
  path: out/ad-{{ variant.product }}-{{ variant.lang }}.mp4
"""
NAMES = ["shoes-en", "shoes-de", "bag-en", "bag-de"]


def names(boards: list[storyboard.Storyboard]) -> list[str]:
    return [board.variant.name for board in boards if board.variant]


def test_a_matrix_gives_every_combination_named_from_its_values_with_its_own_film_and_prompts(project):
    project.write(BOARD)
    boards = storyboard.load_variants("board.yaml")
    assert names(boards) == NAMES
    shoes_de = boards[1]
    assert shoes_de.output.path == project.root / "out" / "ad-shoes-de.mp4"
    assert shoes_de.shot("endcard").prompt == "shoes on white, 'Gemacht zum Wandern.'"
    assert shoes_de.shot("opening").prompt == boards[2].shot("opening").prompt
    with pytest.raises(InvalidStoryboard, match="has 4 variants"):
        storyboard.load("board.yaml")  # one storyboard only for a file without variants


def test_rows_inline_and_from_a_csv_keep_their_types_and_may_be_named(project):
    project.write("""
        storyboard: 1
        variants:
          rows:
            - {product: shoes, seconds: 2, name: launch}
            - {product: bag, seconds: 3}
        shots:
          - {id: a, prompt: "a {{ variant.product }}", duration: "{{ variant.seconds }}"}
        output: {path: "out/{{ variant.name }}.mp4"}
    """)
    boards = storyboard.load_variants("board.yaml")
    assert names(boards) == ["launch", "bag-3"]
    assert [board.shots[0].fields["duration"] for board in boards] == [2, 3]  # numbers, as the schema wants
    (project.root / "data.csv").write_text("product,lang,seconds\nshoes,en,2\nhat,de,3\n")
    project.write("""
        storyboard: 1
        variants: {rows: data.csv, name: "{{ variant.lang }}_{{ variant.product }}"}
        shots:
          - {id: a, prompt: "a {{ variant.product }} ({{ variant.lang }})", duration: "{{ variant.seconds }}"}
        output: {path: "out/{{ variant.name }}.mp4"}
    """)
    boards = storyboard.load_variants("board.yaml")
    assert names(boards) == ["en_shoes", "de_hat"]
    assert boards[1].shots[0].prompt == "a hat (de)" and boards[1].shots[0].fields["duration"] == 3


def test_a_csv_row_with_missing_columns_is_an_error_naming_the_csv_and_its_line(project, run_cli):
    (project.root / "data.csv").write_text("product,lang\nshoes,en\n\nbag\n")
    project.write("""
        storyboard: 1
        variants: {rows: data.csv}
        shots: [{id: a, prompt: "a {{ variant.product }}"}]
        output: {path: "out/{{ variant.name }}.mp4"}
    """)
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert err.startswith("data.csv:4:1: no value for lang"), err
    assert "Traceback" not in err


def test_an_undefined_key_is_a_validation_error_with_the_line_never_a_raw_placeholder(project, run_cli):
    project.write(BOARD.replace("a caption in {{ variant.lang }}", "a caption in {{ variant.language }}"))
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert "board.yaml:8:" in err and "variant.language is undefined" in err and "did you mean 'lang'" in err
    assert err.count("variant.language") == 1  # said once, not once per variant
    project.write(BOARD.replace("ad-{{ variant.product }}", "ad-{{ variant.colour }}"))
    code, _, err = run_cli("plan", "board.yaml")
    assert code == 2 and "board.yaml:13:" in err and "variant.colour is undefined" in err


def test_a_value_of_the_wrong_type_is_a_validation_error_with_its_line(project, run_cli):
    project.write(BOARD.replace("defaults: {resolution: 720p, duration: 2}",
                                "defaults: {resolution: 720p, duration: '{{ variant.lang }}'}"))
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert sorted(err.splitlines()) == [  # the value each variant gives, never the template as written
        "board.yaml:5:40: defaults.duration must be a whole number, not the string 'de' (variants 'shoes-de', 'bag-de')",
        "board.yaml:5:40: defaults.duration must be a whole number, not the string 'en' (variants 'shoes-en', 'bag-en')"]


def test_films_that_would_collide_are_refused_before_anything_runs(project, run_cli):
    project.write(BOARD.replace("out/ad-{{ variant.product }}-{{ variant.lang }}.mp4", "out/ad-{{ variant.product }}.mp4"))
    code, _, err = run_cli("render", "board.yaml")
    assert code == 2
    assert "board.yaml:13:" in err and "'shoes-en', 'shoes-de'" in err and "film of its own" in err
    assert not (project.root / ".storyboard").exists() and not (project.root / "out").exists()


def test_variant_flags_choose_by_name_or_by_value_and_unknown_ones_are_refused(project, run_cli):
    project.write(BOARD)
    code, out, err = run_cli("plan", "board.yaml", "--json", "--variant", "bag-de", "--variant", "product=shoes")
    assert code == 0, err
    assert [variant["name"] for variant in json.loads(out)["variants"]] == ["shoes-en", "shoes-de", "bag-de"]
    assert names(storyboard.load_variants("board.yaml", ["product=bag", "lang=en"])) == ["bag-en"]
    code, _, err = run_cli("validate", "board.yaml", "--variant", "shoes-fr")
    assert code == 2 and "no variant 'shoes-fr'" in err and "shoes-en" in err
    code, _, err = run_cli("plan", "board.yaml", "--variant", "colour=red")
    assert code == 2 and "no key 'colour'" in err


def test_plan_shows_each_variant_the_distinct_requests_and_what_sharing_saves(project, run_cli):
    project.write(BOARD)
    code, out, _ = run_cli("plan", "board.yaml", "--json")
    assert code == 0
    the_plan = json.loads(out)
    assert the_plan["requests_alone"] == 12 and the_plan["distinct_requests"] == 9
    assert [variant["requests"] for variant in the_plan["variants"]] == [3, 3, 3, 3]
    assert the_plan["saved_usd"] > 0
    assert the_plan["saved_usd"] == pytest.approx(the_plan["alone_usd"] - the_plan["estimated_usd"])
    assert the_plan["shared"][0]["shot"] == "opening" and the_plan["shared"][0]["variants"] == NAMES
    code, out, _ = run_cli("plan", "board.yaml")
    text = said(out)
    assert "distinct requests: 9 (each variant alone: 12)" in text and "sharing saves $" in text
    assert all(name in out for name in NAMES)


def test_shared_requests_are_created_once_on_the_service_and_the_lock_says_which_variants_use_them(
        project, run_cli, service):
    project.write(BOARD)
    emulator = service(latency=0.2)
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 0, out + err
    assert emulator.stats()["creates"] == 9
    assert all((project.root / "out" / f"ad-{name}.mp4").is_file() for name in NAMES)
    lock = (project.root / "storyboard.lock").read_text()
    opening = storyboard.plan_variants(storyboard.load_variants("board.yaml"), "aimlapi").plans[0].shot("opening").hash
    assert all(f"board.yaml#{name}" in lock for name in NAMES) and lock.count(opening) == 4
    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 0 and emulator.stats()["creates"] == 9  # nothing again
    code, out, err = run_cli("review", "board.yaml", "--backend", "aimlapi", "--variant", "bag-de")
    assert code == 0, err
    page = (project.root / "out" / "review-bag-de.html").read_text()
    assert "the same request in variants shoes-en, shoes-de, bag-en: made once" in page


class FailingFor(PreviewBackend):
    """The preview, except that every request whose prompt says `word` fails."""

    def __init__(self, word: str, board: storyboard.Storyboard):
        super().__init__(None, board)
        self.word = word

    async def submit(self, job: Job) -> Submission:
        if self.word in job.shot.body["prompt"]:
            raise ShotFailed(job.shot.key, "refused by the test")
        return await super().submit(job)


def test_a_failed_variant_leaves_the_others_films_and_a_rerun_makes_only_what_is_missing(project):
    project.write(BOARD)
    boards = storyboard.load_variants("board.yaml")
    with pytest.raises(storyboard.VariantsFailed) as failed:
        storyboard.render_variants(boards, backend=FailingFor("Gemacht", boards[0]))
    assert set(failed.value.result.failed) == {"shoes-de", "bag-de"}
    assert set(failed.value.result.films) == {"shoes-en", "bag-en"}
    assert all((project.root / "out" / f"ad-{name}.mp4").is_file() for name in ("shoes-en", "bag-en"))

    result = storyboard.render_variants(storyboard.load_variants("board.yaml"), backend="preview")
    assert len(result.generated) == 2  # the two German endcards; everything else was made
    assert set(result.films) == set(NAMES)
    assert result.results["shoes-en"].generated == []


def test_export_writes_one_cut_per_variant(project, run_cli):
    project.write(BOARD)
    storyboard.render_variants(storyboard.load_variants("board.yaml", ["lang=en"]), backend="preview")
    code, _, err = run_cli("export", "board.yaml", "cut.otio", "--variant", "lang=en", "--backend", "preview")
    assert code == 0, err
    assert (project.root / "cut-shoes-en.otio").is_file() and (project.root / "cut-bag-en.otio").is_file()
    code, _, err = run_cli("export", "board.yaml", "cut-{variant}.otio", "--variant", "bag-en", "--backend", "preview")
    assert code == 0, err
    assert (project.root / "cut-bag-en.otio").is_file() and not (project.root / "cut-{variant}.otio").exists()


def test_shards_are_deterministic_slices_that_stay_put_when_variants_are_added_at_the_end(project, run_cli):
    rows = "\n".join(f"    - {{product: p{number}}}" for number in range(7))
    board = """
storyboard: 1
variants:
  rows:
{rows}
shots: [{{id: a, prompt: "a {{{{ variant.product }}}}"}}]
output: {{path: "out/{{{{ variant.name }}}}.mp4"}}
"""
    project.write(board.format(rows=rows))
    before = {shard: names(storyboard.load_variants("board.yaml", shard=(shard, 3))) for shard in (1, 2, 3)}
    assert sorted(name for shard in before.values() for name in shard) == sorted(f"p{number}" for number in range(7))  # each once
    assert before[1] == ["p0", "p3", "p6"]
    project.write(board.format(rows=rows + "\n    - {product: p7}\n    - {product: p8}"))
    after = {shard: names(storyboard.load_variants("board.yaml", shard=(shard, 3))) for shard in (1, 2, 3)}
    assert all(after[shard][:len(before[shard])] == before[shard] for shard in (1, 2, 3))
    code, out, _ = run_cli("plan", "board.yaml", "--shard", "2/3", "--json")
    assert code == 0 and [variant["name"] for variant in json.loads(out)["variants"]] == ["p1", "p4", "p7"]
    with pytest.raises(UsageError):
        storyboard.load_variants("board.yaml", shard=(4, 3))
    code, _, err = run_cli("plan", "board.yaml", "--shard", "0/3")
    assert code == 2 and "K/N" in err


def sharded_clone(root: Path, bucket: Bucket) -> Project:  # noqa: F811 - the fixture's type
    """A clone on a machine of its own, 3 products x 2 languages, sharing the bucket."""
    root.mkdir(parents=True)
    clone = Project(root)
    shared = f'cache:\n  s3: {{bucket: {bucket.name}, prefix: team/, endpoint: "{bucket.endpoint}"}}\n'
    clone.write(BOARD.replace("storyboard: 1\n", "storyboard: 1\n" + shared, 1).replace("[shoes, bag]", "[shoes, bag, hat]"))
    return clone


def test_three_shards_at_once_sharing_a_bucket_pay_each_request_once_and_make_every_film(
        tmp_path, bucket: Bucket, service, monkeypatch, run_cli):  # noqa: F811 - the fixture imported above
    clones = [sharded_clone(tmp_path / f"shard{number}", bucket) for number in (1, 2, 3)]
    monkeypatch.chdir(clones[0].root)
    emulator = service(latency=1)
    renders = [Render(clone.root, "render", "board.yaml", "--backend", "aimlapi", "--yes", "--shard", f"{number}/3")
               for number, clone in enumerate(clones, start=1)]
    results = [render.finish() for render in renders]
    for code, output in results:
        assert code == 0, output
    assert emulator.stats()["creates"] == 1 + 2 * 6  # the shared opening once, though every shard needs it
    films = sorted(path.name for clone in clones for path in (clone.root / "out").glob("*.mp4"))
    assert films == sorted(f"ad-{product}-{lang}.mp4" for product in ("shoes", "bag", "hat") for lang in ("en", "de"))
    # Any clone sees each variant's completion: its film here or not, its clips in the bucket.
    code, out, err = run_cli("cache", "status", str(clones[0].root), "--json")
    assert code == 0, err
    variants = {variant["variant"]: variant for variant in json.loads(out)["variants"]}
    assert {name for name, variant in variants.items() if variant["film_here"]} == {"shoes-en", "bag-de"}  # 0 and 3
    assert all(list(variant["clips_in_shared_cache"].values()) == [3] for variant in variants.values())
    code, out, _ = run_cli("cache", "status", str(clones[0].root))
    assert "variants: 2 of 6 films here" in out and "3 of 3 clips in" in out


def test_a_file_without_variants_works_as_before_and_is_slice_one_of_any_shard(project: Project, run_cli):
    project.write("storyboard: 1\nshots: [{id: a, prompt: a lake}]\n")
    assert storyboard.load("board.yaml").variant is None
    assert len(storyboard.load_variants("board.yaml", shard=(1, 2))) == 1
    assert storyboard.load_variants("board.yaml", shard=(2, 2)) == []
    code, out, _ = run_cli("validate", "board.yaml")
    assert code == 0 and out == "board.yaml: ok (1 shot)\n"
    assert Path("board.yaml").exists()


class Counting(PreviewBackend):
    """The preview, counting the generations in flight at once (each takes `seconds`) and every create."""

    def __init__(self, board: storyboard.Storyboard, seconds: float = 0.3, fails: str = ""):
        super().__init__(None, board)
        self.seconds, self.fails = seconds, fails
        self.running = self.most = 0
        self.created: list[str] = []

    async def submit(self, job: Job) -> Submission:
        import asyncio

        if self.fails and self.fails in job.shot.body["prompt"]:
            raise ShotFailed(job.shot.key, "refused by the test")
        self.created.append(job.shot.hash)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(self.seconds)
            return await super().submit(job)
        finally:
            self.running -= 1


def test_every_variants_requests_generate_in_one_concurrent_run_within_one_jobs_limit(project):
    project.write(BOARD)
    boards = storyboard.load_variants("board.yaml")
    engine = Counting(boards[0])
    result = storyboard.render_variants(boards, backend=engine, jobs=16)
    assert sorted(engine.created) == sorted(set(engine.created)) and len(engine.created) == 9  # each request once
    assert engine.most > 3  # more than one variant's three shots in flight: not variant after variant
    assert set(result.films) == set(NAMES)

    project.write(BOARD.replace("seed: 1", "seed: 7").replace("seed: 2", "seed: 8").replace("seed: 3", "seed: 9"))
    engine = Counting(boards[0])
    storyboard.render_variants(storyboard.load_variants("board.yaml"), backend=engine, jobs=2)
    assert len(engine.created) == 9 and engine.most == 2  # `jobs` is for the whole set, not per variant


def test_a_request_shared_with_a_variant_that_stopped_first_is_made_once_by_another(project):
    """shoes-en fails its first shot and stops before sending `opening`, which it shares with every other
    variant: another variant makes it (once), and every other film is written."""
    opening = "  - {id: opening, prompt: fog over a mountain lake, seed: 1}\n"
    hero = '  - {id: hero, prompt: "the {{ variant.product }} on a rock, a caption in {{ variant.lang }}", seed: 2}\n'
    assert opening + hero in BOARD
    project.write(BOARD.replace(opening + hero, hero + opening))
    boards = storyboard.load_variants("board.yaml")
    engine = Counting(boards[0], seconds=0.05, fails="shoes on a rock, a caption in en")
    with pytest.raises(storyboard.VariantsFailed) as failed:
        storyboard.render_variants(boards, backend=engine, jobs=1)
    assert set(failed.value.result.failed) == {"shoes-en"}
    assert set(failed.value.result.films) == {"shoes-de", "bag-en", "bag-de"}
    opening = boards[1].shot("opening").prompt
    assert opening == boards[0].shot("opening").prompt
    the_plan = storyboard.plan_variants(boards, "preview")
    assert engine.created.count(the_plan.plans[1].shot("opening").hash) == 1


STILLS = BOARD.replace("defaults: {resolution: 720p, duration: 2}",
                       "defaults: {resolution: 720p, duration: 2, still: {model: alibaba/wan-2-7-image}}")


def test_stills_of_every_variant_are_drawn_once_each_then_the_videos_start_from_them(project, run_cli):
    project.write(STILLS)
    code, out, err = run_cli("render", "board.yaml", "--stills")
    assert code == 0, out + err
    clips = project.root / ".storyboard" / "clips" / "preview"
    assert len(list(clips.glob("*.png"))) == 9 and not list(clips.glob("*.mp4"))  # 1 + 2 x 4 stills, no video
    assert not list((project.root / "out").glob("*.mp4")) if (project.root / "out").exists() else True
    assert "9 distinct requests generated for 4 variants" in said(out)
    code, out, err = run_cli("render", "board.yaml", "--variant", "lang=en")
    assert code == 0, out + err
    assert len(list(clips.glob("*.png"))) == 9  # no still drawn again
    assert sorted(path.name for path in (project.root / "out").glob("*.mp4")) == ["ad-bag-en.mp4", "ad-shoes-en.mp4"]


def test_only_renders_those_shots_of_every_variant(project, run_cli):
    project.write(BOARD)
    code, out, err = run_cli("render", "board.yaml", "--only", "hero")
    assert code == 0, out + err
    clips = project.root / ".storyboard" / "clips" / "preview"
    assert len(list(clips.glob("*.mp4"))) == 4  # every variant's hero, nothing else, so no film
    assert not (project.root / "out").exists() or not list((project.root / "out").glob("*.mp4"))
    code, _, err = run_cli("render", "board.yaml", "--only", "nope")
    assert code == 2 and "no shot 'nope'" in err
    code, _, err = run_cli("render", "board.yaml", "--watch")
    assert code == 2 and "--watch renders a file without variants" in err


def test_ctrl_c_stops_every_variant_at_once_and_the_next_render_pays_each_request_once(project, run_cli, service):
    import signal

    emulator = service(latency=4)
    project.write(BOARD)
    render = Render(project.root, "render", "board.yaml", "--backend", "aimlapi", "--yes", "--jobs", "4")
    render.wait_for(": submitted: generation", count=4)
    render.process.send_signal(signal.SIGINT)
    code, output = render.finish()
    assert code == 130, output
    assert output.count("interrupted: submitting nothing new") == 1 and "Traceback" not in output
    sent = emulator.stats()["creates"]
    assert 4 <= sent < 9  # in flight when Ctrl-C came; nothing new after it

    code, out, err = run_cli("render", "board.yaml", "--backend", "aimlapi", "--yes")
    assert code == 0, out + err
    assert said(out + err).count("resuming generation") == sent
    assert emulator.stats()["creates"] == 9 and all((project.root / "out" / f"ad-{name}.mp4").is_file() for name in NAMES)


def test_plan_of_every_variant_asks_the_service_for_its_prices_once(project, run_cli, service):
    emulator = service()
    project.write(BOARD)
    code, out, err = run_cli("plan", "board.yaml", "--backend", "aimlapi")
    assert code == 0, err
    assert emulator.stats()["catalogue_requests"] == 1  # not once per variant
    assert "prices: the service's price list" in said(out)


def test_a_still_waiting_for_a_pick_is_said_once_for_all_variants_and_each_variant_may_pick_its_own(project, run_cli):
    project.write(STILLS.replace("seed: 2}", "seed: 2, still: {takes: 2}}"))
    code, _, err = run_cli("render", "board.yaml")
    assert code == 1
    text = said(err)
    assert text.count("no video was made for 'hero'") == 1
    assert "variants 'shoes-en', 'shoes-de', 'bag-en', 'bag-de': no video was made for 'hero'" in text
    assert 'take: "{{ variant.hero_take }}"' in text

    project.write("""
        storyboard: 1
        variants:
          rows:
            - {product: shoes, hero_take: 1}
            - {product: bag, hero_take: 2}
        defaults: {resolution: 720p, duration: 5, still: {model: alibaba/wan-2-7-image}}
        shots:
          - {id: hero, prompt: "the {{ variant.product }} on a rock", seed: 2, still: {takes: 2, take: "{{ variant.hero_take }}"}}
        output: {path: "out/{{ variant.product }}.mp4"}
    """)
    result = storyboard.render_variants(storyboard.load_variants("board.yaml"), backend="preview")
    assert set(result.films) == {"shoes-1", "bag-2"}
    shoes, bag = (each.plan for each in result.results.values())
    assert shoes.shot("hero").first_still == shoes.still_takes("hero")[0].hash
    assert bag.shot("hero").first_still == bag.still_takes("hero")[1].hash


def test_a_template_error_every_variant_shares_is_said_once(project, run_cli):
    project.write(BOARD.replace("seed: 3}", 'seed: "{{ vars.seed }}"}'))
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 2
    assert err.count("'vars' is undefined") == 1 and "(variant '" not in err and "(variants" not in err


def test_an_unexpected_error_in_one_variant_lets_the_others_creates_on_the_wire_answer(project, monkeypatch):
    """One variant's task failing with an error no shot expects (the render state's disk full) is raised,
    but only once every other variant's create already sent has answered and been recorded."""
    import asyncio

    from storyboard.errors import StateError
    from storyboard.generating import fetching
    from storyboard.planning.plans import ShotPlan

    project.write("""
        storyboard: 1
        variants:
          rows:
            - {name: a, word: alpha}
            - {name: b, word: beta}
        defaults: {resolution: 720p, duration: 5}
        shots:
          - {id: one, prompt: "a {{ variant.word }} lake", seed: 1}
        output: {path: "out/{{ variant.name }}.mp4"}
    """)
    original = fetching.Sources.from_cache

    async def from_cache(self: fetching.Sources, item: ShotPlan) -> bool:
        if "alpha" in item.body["prompt"]:
            await asyncio.sleep(0.2)  # while beta's create is on the wire
            raise StateError("the render state cannot be written (disk full)")
        return await original(self, item)

    monkeypatch.setattr(fetching.Sources, "from_cache", from_cache)
    boards = storyboard.load_variants("board.yaml")
    engine = Counting(boards[0], seconds=1.0)
    with pytest.raises(StateError):
        storyboard.render_variants(boards, backend=engine, jobs=4)
    beta = storyboard.plan_variants(boards, "preview").plans[1].shot("one")
    assert engine.created == [beta.hash] and beta.status == "cached"  # its create answered; its clip is stored
