"""The console in a real browser: Debian's chromium driven by Playwright for Python, over
a console served by uvicorn and a real event store process with a parked event.

Skipped, saying why, where chromium or Playwright is missing (CI installs chromium
through .ci/run). Screenshots go to the test's tmp dir, or to $CONSOLE_SCREENSHOTS.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import GROUP, park_one, serve, summary_has
from esdbclient import EventStoreDBClient

from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until
from orders.store import EsdbStore

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.emulator_only


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(
            f"no chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium;"
            " .ci/run does it as root) or set CONSOLE_CHROMIUM"
        )
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError as e:
        pytest.skip(f"Playwright for Python is not installed ({e}): pip install -e '.[dev]'")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


def test_a_newcomer_follows_an_order_a_legacy_event_a_chain_and_replays_a_parked_event(
    browser: object, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    from playwright.sync_api import Browser, expect  # noqa: PLC0415

    assert isinstance(browser, Browser)
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    es, store = EventStoreDBClient(emulator.uri), EsdbStore(emulator.uri)

    def parked_count() -> int:
        return es.get_subscription_info(GROUP).parked_message_count

    scenario = park_one(emulator.uri, store, tmp_path, parked_count)
    seeded = scenario.seeded
    page = None
    try:
        with serve(emulator.uri, tmp_path, allow_actions=True) as console:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(20_000)
            page.goto(console.url + "/streams")
            expect(page.locator("h1")).to_have_text("Streams")
            page.screenshot(path=str(shots / "streams.png"))

            # into the order from the streams page, then back to before its payment
            page.locator(f'a.tag[href="/orders/{seeded.order_id}"]').first.click()
            expect(page.locator("#order-status")).to_have_text("PAID")
            page.screenshot(path=str(shots / "order.png"), full_page=True)
            page.locator('a[data-revision-link="0"]').click()
            expect(page.locator("#order-status")).to_have_text("PENDING")
            expect(page.locator("#order-paid")).to_have_text("0")
            assert page.url.endswith(f"/orders/{seeded.order_id}?revision=0")

            # the correlation chain of the payment
            page.goto(console.url + f"/orders/{seeded.order_id}")
            page.locator("ol.revisions li", has_text="PaymentReceived").locator(
                "a", has_text="chain"
            ).click()
            expect(page.locator("h1")).to_contain_text(seeded.correlation_id)
            expect(page.locator("#chain")).to_contain_text("OrderPaid")

            # a legacy event: stored payload first, then the upcast view
            page.fill('input[name="q"]', seeded.legacy_order.order_id)
            page.press('input[name="q"]', "Enter")
            expect(page.locator("h1")).to_contain_text(seeded.legacy_order.order_id)
            page.locator('a[data-revision-link="0"]').locator("xpath=..").locator(
                "a", has_text=re.compile("Order")
            ).nth(0).click()
            event = page.locator("article.event").first
            expect(event.locator("pre[data-view=stored]")).to_be_visible()
            expect(event.locator("pre[data-view=upcast]")).to_be_hidden()
            event.locator("button[data-show=upcast]").click()
            expect(event.locator("pre[data-view=upcast]")).to_be_visible()
            expect(event.locator("pre[data-view=upcast]")).to_contain_text('"shipping_address"')
            expect(event.locator("pre[data-view=stored]")).to_be_hidden()
            page.screenshot(path=str(shots / "legacy-event.png"))

            # the parked message, and its replay
            page.click("text=Subscriptions")
            row = page.locator(f'tr[data-group="{GROUP}"]')
            expect(row.locator("td.parked")).to_have_text("1")
            row.locator(f'a[href="/subscriptions/{GROUP}"]').click()
            expect(page.locator("#parked-count")).to_have_text("1")
            page.locator("tr.parked-row a").first.click()
            expect(page.locator("#park-reason")).to_contain_text("NAK")
            expect(page.locator("article.event")).to_contain_text(scenario.parked_order)
            page.screenshot(path=str(shots / "parked.png"), full_page=True)
            assert not summary_has(scenario.db, scenario.parked_order)
            page.click("#replay-parked")
            expect(page.locator("#flash")).to_contain_text("1 parked message(s) sent back")
            # the live region refreshes by itself: no reload
            expect(page.locator("#parked-count")).to_have_text("0", timeout=30_000)
            wait_until(lambda: summary_has(scenario.db, scenario.parked_order), 30, "replayed")

            page.click("text=Read models")
            model = page.locator('tr[data-model="order_summary"]')
            expect(model.locator("td.parked")).to_have_text("0")
            page.screenshot(path=str(shots / "read-models.png"))
            model.locator('a[href="/read-models/order_summary"]').click()
            expect(page.locator("#rows")).to_contain_text(scenario.parked_order)
    finally:
        if page is not None:
            page.close()
        scenario.worker.stop()
        es.close()
        store.close()
