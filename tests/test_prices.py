"""The true price: the service's live price list (cached with its ETag), what each take was actually
charged, estimate against charge, budgets counting the charge, and the model's reference limits."""
from __future__ import annotations

import json
import socket

import pytest
import yaml
from conftest import said

import storyboard
from storyboard.backends.pricelist import catalogue_url
from storyboard.loading.prices import PriceList, price_of

# 2 s takes at 720p: the built-in table says 0.13 USD/s (0.26 a take); the emulator's price list says otherwise.
BOARD = """
storyboard: 1
defaults: {resolution: 720p, duration: 2}
shots:
  - {id: one, prompt: a lighthouse at dusk, seed: 1}
  - {id: two, prompt: waves on rocks, seed: 2}
  - {id: three, prompt: a gull takes off, seed: 3, resolution: 1080p}
output: {path: out/film.mp4}
"""
LIVE = {"alibaba/wan-2-7-r2v": {"720p": 0.0917, "1080p": 0.2113}}
LIVE_TOTAL = round(2 * 0.0917 * 2 + 0.2113 * 2, 6)  # 0.7894
TABLE_TOTAL = round(2 * 0.13 * 2 + 0.195 * 2, 6)  # 0.91
PAID = ("render", "board.yaml", "--backend", "aimlapi", "--yes")


def test_the_estimate_is_the_live_price_and_equals_the_charge_to_the_cent(project, run_cli, service):
    emulator = service(latency=0.2, prices=LIVE)
    project.write(BOARD)

    code, out, err = run_cli("plan", "board.yaml", "--backend", "aimlapi", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["estimated_usd"] == pytest.approx(LIVE_TOTAL, abs=1e-6)
    assert shown["prices"]["origin"] == "live"
    assert shown["prices"]["where"] == catalogue_url(emulator.url)

    code, out, err = run_cli(*PAID)
    assert code == 0, out + err
    charged = emulator.stats()["usd_spent"]
    assert round(charged, 2) == round(LIVE_TOTAL, 2) and charged != pytest.approx(TABLE_TOTAL)
    assert emulator.stats()["usd_charged"] == charged  # recorded once each generation completed
    lock = yaml.safe_load((project.root / "storyboard.lock").read_text())
    takes = [take for takes in lock["board.yaml"]["shots"].values() for take in takes]
    assert sorted(take["usd"] for take in takes) == sorted(take["estimated_usd"] for take in takes)
    assert sum(take["usd"] for take in takes) == pytest.approx(LIVE_TOTAL, abs=1e-6)

    code, out, err = run_cli("plan", "board.yaml", "--backend", "aimlapi")
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("#  shot"))
    assert header.split()[:7] == ["#", "shot", "status", "length", "est.", "charged", "notes"]
    row = next(line for line in out.splitlines() if line.startswith("3  three"))
    assert row.split()[5:7] == ["$0.42", "$0.42"]  # the 1080p take: 2 s at 0.2113, estimated and charged
    assert f"charged by the service for the 3 made: ${LIVE_TOTAL:.2f} (estimated now at ${LIVE_TOTAL:.2f})" in said(out)
    assert "warning:" not in out


def test_ten_plans_ask_for_the_price_list_once_then_only_whether_it_changed(project, run_cli, service):
    emulator = service(prices=LIVE)
    project.write(BOARD)
    for _ in range(10):
        code, out, err = run_cli("plan", "board.yaml", "--backend", "aimlapi")
        assert code == 0, err
        assert f"prices: the service's price list ({catalogue_url(emulator.url)})" in said(out)
    stats = emulator.stats()
    assert (stats["catalogue_requests"], stats["catalogue_answers"], stats["catalogue_not_modified"]) == (10, 1, 9)
    assert stats["requests"] == 0  # the price list is free and public: nothing else was asked
    kept = json.loads((project.root / ".storyboard" / "prices.json").read_text())
    (copy,) = kept["catalogue"].values()
    assert copy["etag"].startswith('W/"') and copy["data"][0]["id"] == "alibaba/wan-2-7-r2v"

    emulator.catalogue.set_prices({"alibaba/wan-2-7-r2v": {"720p": 0.05, "1080p": 0.1}})  # the list changed
    code, out, err = run_cli("plan", "board.yaml", "--backend", "aimlapi", "--json")
    assert json.loads(out)["estimated_usd"] == pytest.approx(2 * 0.05 * 2 + 0.1 * 2)
    assert emulator.stats()["catalogue_answers"] == 2


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v2"


def test_offline_the_plan_uses_the_kept_copy_then_the_built_in_table_and_says_which(project, run_cli, service,
                                                                                   monkeypatch):
    project.write(BOARD)
    monkeypatch.setenv("AIMLAPI_BASE_URL", _closed_port())
    code, out, err = run_cli("plan", "board.yaml", "--backend", "aimlapi", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["estimated_usd"] == pytest.approx(TABLE_TOTAL) and shown["prices"]["origin"] == "built-in"
    assert "could not be read" in shown["prices"]["why"]

    emulator = service(prices=LIVE)
    assert run_cli("plan", "board.yaml", "--backend", "aimlapi")[0] == 0
    emulator.stop()  # offline now: the copy kept in .storyboard/ answers
    code, out, err = run_cli("plan", "board.yaml", "--backend", "aimlapi")
    assert code == 0, err
    assert "prices: the service's price list as read" in said(out) and "kept in .storyboard/" in said(out)
    assert f"estimated ${LIVE_TOTAL:.2f}" in said(out)

    code, out, _ = run_cli("plan", "board.yaml", "--json")  # for the preview, the service still configured
    assert json.loads(out)["prices"]["origin"] == "cached"
    assert storyboard.plan("board.yaml").estimated_usd == pytest.approx(LIVE_TOTAL)

    # without the service's key or address in the environment, a plan for the free preview asks nothing
    monkeypatch.delenv("AIMLAPI_KEY")
    monkeypatch.delenv("AIMLAPI_BASE_URL")
    code, out, _ = run_cli("plan", "board.yaml", "--json")
    assert json.loads(out)["prices"]["origin"] == "built-in" and "was not asked" in json.loads(out)["prices"]["why"]


def test_a_preview_plan_asks_the_price_list_once_the_service_is_configured(project, run_cli, service):
    """Every plan says what the service would charge: with its key set, that is the live price."""
    emulator = service(prices=LIVE)
    project.write(BOARD)
    code, out, err = run_cli("plan", "board.yaml")
    assert code == 0, err
    assert f"estimated ${LIVE_TOTAL:.2f}" in said(out) and emulator.stats()["catalogue_answers"] == 1


def test_a_failed_generation_is_not_billed_nor_counted(project, run_cli, service):
    emulator = service(latency=0.2, prices=LIVE, faults="fail=1")
    project.write(BOARD)
    code, out, err = run_cli(*PAID, "--keep-going")
    assert code != 0
    assert emulator.stats()["usd_spent"] == 0 and emulator.stats()["failed"] == 3
    assert "so it is not billed" in out + err
    code, out, _ = run_cli("plan", "board.yaml", "--backend", "aimlapi", "--json")
    assert json.loads(out)["charged_usd"] == 0


def test_a_charge_unlike_the_estimate_is_warned(project, run_cli, service):
    emulator = service(latency=0.2, prices=LIVE)
    project.write(BOARD)
    assert run_cli(*PAID)[0] == 0
    emulator.catalogue.set_prices({"alibaba/wan-2-7-r2v": {"720p": 0.0917 * 1.02, "1080p": 0.2113}})  # +2 % at 720p
    code, out, _ = run_cli("plan", "board.yaml", "--backend", "aimlapi")
    assert code == 0
    warnings = said(out).split("warning: ")[1:]
    assert len(warnings) == 2 and all("was charged 0.1834 USD, estimated 0.1871 USD (-2.0 %)" in line for line in warnings)
    emulator.catalogue.set_prices({"alibaba/wan-2-7-r2v": {"720p": 0.0917 * 1.005, "1080p": 0.2113}})  # within 1 %
    assert "warning:" not in run_cli("plan", "board.yaml", "--backend", "aimlapi")[1]


def test_the_budget_is_checked_at_the_live_price(project, run_cli, service):
    """The table prices the three takes at 0.91 USD, the service at 0.79: a budget of 0.80 lets them all through."""
    emulator = service(latency=0.2, prices=LIVE)
    project.write(BOARD)
    code, out, err = run_cli(*PAID, "--max-cost", "0.80")
    assert code == 0, out + err
    assert emulator.stats()["creates"] == 3


def test_the_budget_counts_what_was_charged_once_known(project, service):
    """Estimated at 0.10 USD a take, 0.30 for three, within a budget of 0.30; but the price triples once
    the render is under way: the first create is charged 0.30, so nothing more fits."""
    emulator = service(latency=0.2, prices={"alibaba/wan-2-7-r2v": {"720p": 0.05, "1080p": 0.05}})
    project.write(BOARD.replace("resolution: 1080p", "resolution: 720p"))
    events: list[storyboard.Event] = []

    def confirm(spend: storyboard.Spend) -> bool:
        assert spend.usd == pytest.approx(0.30)
        emulator.catalogue.set_prices({"alibaba/wan-2-7-r2v": {"720p": 0.15}})
        return True

    with pytest.raises(storyboard.RenderError, match=r"would pass the budget of 0\.30 USD"):
        storyboard.render("board.yaml", backend="aimlapi", jobs=1, max_cost=0.30, confirm=confirm,
                          keep_going=True, on_event=events.append)
    assert emulator.stats()["creates"] == 1 and emulator.stats()["usd_spent"] == pytest.approx(0.30)
    assert [event.total_usd for event in events if event.state == "submitted"] == [pytest.approx(0.30)]


def test_the_review_page_shows_estimate_against_charge_and_warns(project, run_cli, service):
    emulator = service(latency=0.2, prices=LIVE)
    project.write(BOARD)
    assert run_cli(*PAID)[0] == 0
    emulator.catalogue.set_prices({"alibaba/wan-2-7-r2v": {"720p": 0.0917, "1080p": 0.25}})  # 1080p now dearer
    page = storyboard.review("board.yaml", backend="aimlapi", output="review.html").read_text()
    assert page.count('data-charge="differs"') == 1
    assert "charged -15.5% against the estimate" in page
    assert f"prices: the service&#39;s price list ({catalogue_url(emulator.url)})" in page


@pytest.mark.parametrize(("block", "expected"), [
    ({"kind": "variants", "dimensions": ["resolution"],
      "variants": [{"when": {"resolution": "720p"}, "price": 0.39, "unit": "second", "per": 1},
                   {"when": {"resolution": "1080p"}, "price": 0.65, "unit": "second", "per": 1}]}, 3.25),
    ({"kind": "variants", "dimensions": ["resolution", "duration"],
      "variants": [{"when": {"resolution": "1080p", "duration": "5"}, "price": 1500, "unit": "video", "per": 1000}]}, 1.5),
    ({"kind": "fixed", "units": [{"price": 130, "unit": "second", "per": 1000}]}, 0.65),
    ({"kind": "variable"}, None),
    ({"kind": "fixed", "units": [{"price": 2, "unit": "token", "per": 1000000}]}, None),
    ({"kind": "variants", "dimensions": ["resolution"],
      "variants": [{"when": {"resolution": "720p"}, "price": 0.39, "unit": "second", "per": 1}]}, None),
])
def test_price_blocks_are_read_as_documented(block, expected):
    """`price` is for `per` units; a 5 s 1080p request here. What cannot be quoted is None (the table then)."""
    settings = {"resolution": "1080p", "duration": 5}
    assert price_of(block, settings.get) == (pytest.approx(expected) if expected is not None else None)
    assert PriceList("live", {"m": block}).quoted_usd("m", settings.get) == price_of(block, settings.get)


def test_the_catalogue_sits_beside_the_generation_routes():
    assert catalogue_url("https://api.aimlapi.com/v2") == "https://api.aimlapi.com/v1/models"
    assert catalogue_url("http://127.0.0.1:8765/v2/") == "http://127.0.0.1:8765/v1/models"
    assert catalogue_url("https://proxy.example/aiml") == "https://proxy.example/aiml/v1/models"


REFERENCES = """
storyboard: 1
shots:
  - id: crowd
    prompt: everyone dances
    resolution: 720p
    duration: 5
    image_urls: [assets/red.png, assets/blue.png, assets/red.png, assets/blue.png]
    video_urls: [assets/walk.mp4, assets/walk.mp4]
  - {id: long, prompt: a long walk, resolution: 720p, duration: 15, video_urls: [assets/walk.mp4]}
  - {id: fine, prompt: a short walk, resolution: 720p, duration: 10, video_urls: [assets/walk.mp4]}
"""


def test_limits_the_model_maker_documents_are_warnings_naming_their_source(project, run_cli):
    project.write(REFERENCES)
    (project.root / "models" / "short-clips.yaml").unlink()
    code, _, err = run_cli("validate", "board.yaml")
    assert code == 0
    warnings = [said(line) for line in err.splitlines() if "warning:" in line]
    assert len(warnings) == 2, err
    crowd, long = warnings
    assert crowd.startswith("board.yaml:8:")
    assert "shot 'crowd': it sends 4 reference images and 2 reference videos (6 combined)" in crowd
    assert "documents at most 5 reference images and videos combined" in crowd
    assert "(source: Alibaba Cloud Model Studio's Wan 2.7 reference-to-video API reference" in crowd
    assert long.startswith("board.yaml:9:") and "shot 'long': it is 15 s long with a reference video" in long
    assert "documents 2–10 s when a reference video is present" in long


def test_a_model_profile_can_make_the_makers_limits_errors(project, run_cli):
    project.write(REFERENCES)
    (project.root / "models" / "short-clips.yaml").write_text(
        "model: alibaba/wan-2-7-r2v\norigin_limits: {source: the maker's guide, references: 5, "
        "durations_with_video: {minimum: 2, maximum: 10}, enforce: true}\n")
    code, _, err = run_cli("validate", "board.yaml")
    assert code != 0
    assert "board.yaml:8:" in err and "shot 'crowd': it sends 4 reference images and 2 reference videos" in said(err)
    assert "shot 'long': it is 15 s long with a reference video" in said(err) and "(source: the maker's guide)" in said(err)
    assert "warning:" not in err and "'fine'" not in err


def test_the_price_list_is_asked_as_the_provider_documents_it(tmp_path):
    """No key; `id` and `include=pricing`; the ETag sent back as If-None-Match; a model found by its alias."""
    import httpx

    from storyboard.backends.aimlapi.catalogue import read_prices

    seen: list[httpx.Request] = []
    body = {"object": "list", "data": [{
        "id": "alibaba/wan-2.7-r2v", "aliases": ["alibaba/wan-2-7-r2v"], "type": "video",
        "info": {"name": "Wan 2.7", "developer": "Alibaba"}, "tags": [],
        "pricing": {"kind": "variants", "dimensions": ["resolution"],
                    "variants": [{"when": {"resolution": "720p"}, "price": 390, "unit": "second", "per": 1000}]}}]}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, json=body, headers={"ETag": '"v1"'})

    transport = httpx.MockTransport(answer)
    for origin in ("live", "live"):
        prices = read_prices(["alibaba/wan-2-7-r2v"], tmp_path, "https://api.example/v2", transport=transport)
        assert prices.origin == origin
        assert prices.quoted_usd("alibaba/wan-2-7-r2v", {"resolution": "720p", "duration": 5}.get) == pytest.approx(1.95)
    first, second = seen
    assert str(first.url) == "https://api.example/v1/models?id=alibaba%2Fwan-2-7-r2v&include=pricing"
    assert "authorization" not in first.headers and "if-none-match" not in first.headers
    assert second.headers["if-none-match"] == '"v1"'
    assert (tmp_path / ".storyboard" / ".gitignore").exists()

    broken = httpx.MockTransport(lambda request: httpx.Response(503, json={"message": "down"}))
    prices = read_prices(["alibaba/wan-2-7-r2v"], tmp_path, "https://api.example/v2", transport=broken)
    assert prices.origin == "cached" and prices.why == "the catalogue answered 503"


def test_the_charge_is_read_from_the_header_when_the_answer_gives_none(project):
    """`x-aimlapi-usd-spent` carries the same amount as `meta.usage.usd_spent`; either says what was charged."""
    import asyncio

    import httpx

    from storyboard.backends.aimlapi import AimlApiBackend
    from storyboard.backends.base import Job

    project.write("storyboard: 1\nshots: [{id: one, prompt: a lighthouse, resolution: 720p, duration: 5}]\n")
    answers = [httpx.Response(201, json={"id": "gen-1", "status": "queued"}, headers={"x-aimlapi-usd-spent": "0.458500000"}),
               httpx.Response(201, json={"id": "gen-2", "status": "queued", "meta": {"usage": {"usd_spent": 0.5}}},
                              headers={"x-aimlapi-usd-spent": "0.458500000"}),
               httpx.Response(201, json={"id": "gen-3", "status": "queued"}, headers={"x-aimlapi-usd-spent": "-1"})]
    engine = AimlApiBackend("sk-test", "https://api.test/v2", transport=httpx.MockTransport(lambda request: answers.pop(0)))
    item = storyboard.plan("board.yaml").shots[0]
    charges = [asyncio.run(engine.submit(Job(item))).usd_spent for _ in range(3)]
    assert charges == [0.4585, 0.5, None]


def test_a_watch_budget_gives_back_the_charge_of_a_generation_that_failed():
    from storyboard.cli.watch import Budget
    from storyboard.events import Event

    budget = Budget(2.0)
    track = budget.track(lambda event: None)
    for total in (0.65, 1.30, 0.65):  # the second generation failed: it is not billed, and the render says so
        track(Event("a", "submitted" if total > 0.65 else "note", total_usd=total))
    assert budget.spent == pytest.approx(0.65) and budget.left() == pytest.approx(1.35)
