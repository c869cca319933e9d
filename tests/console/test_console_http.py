"""The console through HTTP: a real uvicorn server in this process, a real event store
process (the suite's, or a test's own where it is stopped or changed), the real client."""

from __future__ import annotations

import html
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from console_support import GROUP, Seeded, park_one, seed, serve, summary_has
from esdbclient import EventStoreDBClient, NewEvent, StreamState

from console.server import ConsoleThread
from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until
from orders.store import EsdbStore


@pytest.fixture
def console(esdb_uri: str, tmp_path: Path) -> Iterator[ConsoleThread]:
    with serve(esdb_uri, tmp_path / "projections") as running:
        yield running


@pytest.fixture
def http(console: ConsoleThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, timeout=30, follow_redirects=True) as client:
        yield client


@pytest.fixture
def seeded(store: EsdbStore) -> Seeded:
    return seed(store)


def text(response: httpx.Response) -> str:
    """The page's text with tags dropped and entities decoded (what a reader sees)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


def detail(response: httpx.Response) -> str:
    found = re.search(r'class="detail">(.*?)</p>', response.text, re.S)
    assert found, response.text[:500]
    return html.unescape(found.group(1))


def positions(response: httpx.Response) -> list[int]:
    return [int(p) for p in re.findall(r'data-position="(\d+)"', response.text)]


def test_streams_page_lists_all_newest_first_and_pages_older(
    http: httpx.Client, client: EventStoreDBClient
) -> None:
    prefix = f"page-{uuid.uuid4().hex[:8]}-"
    for i in range(5):
        client.append_to_stream(
            f"{prefix}{i}", current_version=StreamState.ANY, events=[NewEvent("Tick", b"{}")]
        )
    first = http.get("/streams", params={"prefix": prefix, "limit": 2})
    assert first.status_code == 200
    newest = positions(first)
    assert len(newest) == 2
    assert newest == sorted(newest, reverse=True)
    assert f"{prefix}4" in first.text
    assert f"{prefix}3" in first.text
    older = re.search(r'id="load-older" href="([^"]+)"', first.text)
    assert older
    second = http.get(html.unescape(older.group(1)))
    assert second.status_code == 200
    assert positions(second)[0] < newest[-1]
    assert f"{prefix}2" in second.text
    assert f"{prefix}4" not in second.text
    unfiltered = http.get("/streams")
    assert f"{prefix}4" in unfiltered.text
    assert "Newest streams" in unfiltered.text
    by_type = http.get("/streams", params={"type": "Tick", "prefix": prefix, "limit": 50})
    assert len(positions(by_type)) == 5


def test_search_goes_to_the_order_or_the_correlation_chain(
    http: httpx.Client, seeded: Seeded
) -> None:
    to_order = http.get("/streams", params={"q": seeded.order_id}, follow_redirects=False)
    assert (to_order.status_code, to_order.headers["location"]) == (
        303,
        f"/orders/{seeded.order_id}",
    )
    chain = http.get("/streams", params={"q": seeded.correlation_id})
    assert chain.status_code == 200
    assert "PaymentReceived" in chain.text
    assert "OrderPaid" in chain.text
    assert "OrderPlaced" not in text(chain).split("Events in order")[1]


def test_order_state_at_head_at_a_revision_and_as_of_a_time(
    http: httpx.Client, seeded: Seeded
) -> None:
    head = http.get(f"/orders/{seeded.order_id}")
    assert head.status_code == 200
    assert re.search(r'id="order-status">PAID<', head.text)
    assert re.search(r'id="order-paid">2500<', head.text)
    before_payment = http.get(f"/orders/{seeded.order_id}", params={"revision": 0})
    assert re.search(r'id="order-status">PENDING<', before_payment.text)
    assert re.search(r'id="order-paid">0<', before_payment.text)
    at = (seeded.placed_at.replace(minute=30)).isoformat()
    half_hour = http.get(f"/orders/{seeded.order_id}", params={"at": at})
    assert re.search(r'id="order-status">PENDING<', half_hour.text)
    early = http.get(f"/orders/{seeded.order_id}", params={"at": "2020-01-01T00:00:00Z"})
    assert early.status_code == 200
    assert "did not exist yet" in early.text
    chain_link = re.search(r'href="(/correlations/[^"]+)"[^>]*>chain<', head.text)
    assert chain_link


def test_legacy_event_shows_stored_and_upcast_payloads(http: httpx.Client, seeded: Seeded) -> None:
    legacy = seeded.legacy_order
    page = http.get(f"/streams/order-{legacy.order_id}/@0")
    assert page.status_code == 200
    stored = re.search(r'data-view="stored"[^>]*>(.*?)</pre>', page.text, re.S)
    upcast = re.search(r'data-view="upcast"[^>]*>(.*?)</pre>', page.text, re.S)
    assert stored, "a legacy event shows its stored payload"
    assert upcast, "a legacy event shows its upcast payload"
    assert '"shipping_address"' in html.unescape(upcast.group(1))  # the current schema's field
    assert '"shipping_address"' not in html.unescape(stored.group(1))
    assert "legacy" in page.text
    upcast_first = http.get(f"/streams/order-{legacy.order_id}/@0", params={"view": "upcast"})
    assert re.search(r'data-view="stored" hidden', upcast_first.text)


def test_stream_states_max_count_soft_deleted_and_tombstoned(
    http: httpx.Client, client: EventStoreDBClient
) -> None:
    base = f"kept-{uuid.uuid4().hex[:8]}"
    capped, soft, gone = f"{base}-capped", f"{base}-soft", f"{base}-gone"
    for name in (capped, soft, gone):
        events = [NewEvent("Tick", f'{{"n":{i}}}'.encode()) for i in range(5)]
        client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
    client.set_stream_metadata(capped, metadata={"$maxCount": 2})
    client.delete_stream(soft, current_version=4)
    client.tombstone_stream(gone, current_version=4)

    page = http.get(f"/streams/{capped}")
    assert page.status_code == 200
    assert "$maxCount 2" in text(page)
    assert "revisions 3..4" in text(page)
    assert re.findall(r'data-revision="(\d+)"', page.text) == ["4", "3"]
    assert "soft-deleted" in http.get(f"/streams/{soft}").text
    tombstoned = http.get(f"/streams/{gone}")
    assert tombstoned.status_code == 200
    assert "tombstoned" in tombstoned.text
    early = http.get(f"/streams/{capped}/@0")
    assert early.status_code == 400
    assert "revisions 3..4" in detail(early)


def test_a_long_stream_pages_backwards_by_revision(
    http: httpx.Client, client: EventStoreDBClient
) -> None:
    name = f"long-{uuid.uuid4().hex[:8]}"
    events = [NewEvent("Tick", f'{{"n":{i}}}'.encode()) for i in range(120)]
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=events)
    first = http.get(f"/streams/{name}", params={"limit": 50})
    revisions = [int(r) for r in re.findall(r'data-revision="(\d+)"', first.text)]
    assert revisions == list(range(119, 69, -1))
    older = re.search(r'id="load-older" href="([^"]+)"', first.text)
    assert older
    second = http.get(html.unescape(older.group(1)))
    assert next(int(r) for r in re.findall(r'data-revision="(\d+)"', second.text)) == 69


def test_correlation_chain_across_streams_is_a_causation_tree(
    http: httpx.Client, client: EventStoreDBClient
) -> None:
    correlation, command = f"wf-{uuid.uuid4().hex[:10]}", str(uuid.uuid4())
    first_id, second_id = uuid.uuid4(), uuid.uuid4()

    def meta(cause: str) -> bytes:
        return f'{{"$correlationId":"{correlation}","$causationId":"{cause}"}}'.encode()

    a, b = f"wf-a-{correlation}", f"wf-b-{correlation}"
    client.append_to_stream(
        a,
        current_version=StreamState.ANY,
        events=[NewEvent("Started", b"{}", meta(command), id=first_id)],
    )
    client.append_to_stream(
        b,
        current_version=StreamState.ANY,
        events=[NewEvent("Reacted", b"{}", meta(str(first_id)), id=second_id)],
    )
    page = http.get(f"/correlations/{correlation}")
    assert page.status_code == 200
    assert "2 event(s) in 2 stream(s)" in text(page)
    tree = page.text.split('id="chain"')[1].split("</section>")[0]
    # Reacted hangs under Started, which hangs under the command that caused it
    assert tree.index(command) < tree.index("Started") < tree.index("Reacted")
    assert tree.count('<ul class="tree">') == 3


@pytest.mark.parametrize(
    ("url", "status", "named"),
    [
        ("/streams/no-such-stream-xyz", 404, "no stream named 'no-such-stream-xyz'"),
        ("/orders/no-such-order-xyz", 404, "no order with id 'no-such-order-xyz'"),
        ("/correlations/bad%20id", 400, "malformed correlation id 'bad id'"),
        ("/streams?limit=0", 400, "limit must be at least 1"),
        ("/streams?limit=abc", 400, "limit must be a whole number, not 'abc'"),
        ("/streams?before=-5", 400, "before must be at least 0"),
        ("/read-models/nope", 404, "no read model 'nope'"),
        ("/read-models/order_summary?table=nope", 404, "no table 'nope'"),
        ("/subscriptions/no-such-group", 404, "no subscription group 'no-such-group'"),
        ("/no/such/page", 404, "no console page at '/no/such/page'"),
    ],
)
def test_bad_input_gets_a_page_naming_what_was_wrong(
    http: httpx.Client, url: str, status: int, named: str
) -> None:
    response = http.get(url)
    assert response.status_code == status
    assert named in detail(response)
    assert "Traceback" not in response.text


def test_order_revision_and_time_errors(http: httpx.Client, seeded: Seeded) -> None:
    out_of_range = http.get(f"/orders/{seeded.order_id}", params={"revision": 9})
    assert out_of_range.status_code == 400
    assert f"revision 9 is out of range: order '{seeded.order_id}' has revisions 0..2" in detail(
        out_of_range
    )
    naive = http.get(f"/orders/{seeded.order_id}", params={"at": "2024-03-01T10:00:00"})
    assert naive.status_code == 400
    assert "needs a timezone" in detail(naive)
    both = http.get(f"/orders/{seeded.order_id}", params={"at": "2024-03-01T10:00Z", "revision": 0})
    assert both.status_code == 400
    assert "not both" in detail(both)


def test_live_fragments_are_the_region_alone(http: httpx.Client) -> None:
    for url in ("/streams", "/subscriptions", "/read-models"):
        fragment = http.get(url, params={"fragment": 1})
        assert fragment.status_code == 200
        assert (
            "<html" not in fragment.text and "<table" in fragment.text
        ) or "empty" in fragment.text
        assert f'data-live="{url}"' in http.get(url).text


def test_event_store_down_gives_503_and_the_console_recovers(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    with (
        serve(emulator.uri, tmp_path) as running,
        httpx.Client(base_url=running.url, timeout=60) as http,
    ):
        assert http.get("/streams").status_code == 200
        emulator.stop()
        down = http.get("/streams")
        assert down.status_code == 503
        assert "did not answer" in detail(down)
        assert "Traceback" not in down.text
        assert http.get("/healthz").json()["store"] == "down"
        emulator.start()
        wait_until(lambda: http.get("/streams").status_code == 200, 30, "the console back up")
        assert http.get("/healthz").json()["store"] == "up"


@pytest.mark.emulator_only
def test_parked_message_listed_and_replayed_with_actions_on(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    es, store = EventStoreDBClient(emulator.uri), EsdbStore(emulator.uri)

    def parked_count() -> int:
        return es.get_subscription_info(GROUP).parked_message_count

    scenario = park_one(emulator.uri, store, tmp_path, parked_count)
    try:
        with (
            serve(emulator.uri, tmp_path) as read_only,
            httpx.Client(base_url=read_only.url) as http,
        ):
            groups = http.get("/subscriptions")
            assert GROUP in groups.text
            row = groups.text.split(f'data-group="{GROUP}"')[1].split("</tr>")[0]
            assert re.search(r'class="num parked bad"><a[^>]*>1<', row)
            page = http.get(f"/subscriptions/{GROUP}")
            assert f"order-{scenario.parked_order}" in page.text
            link = re.search(rf'href="(/subscriptions/{GROUP}/parked/\d+)"', page.text)
            assert link
            message = http.get(link.group(1))
            assert message.status_code == 200
            assert "NAK" in text(message).split("park reason")[1][:200]
            assert f'"order_id": "{scenario.parked_order}"' in html.unescape(message.text)
            assert "Replay parked is an action" in message.text
            refused = http.post(f"/subscriptions/{GROUP}/replay-parked", data={"csrf_token": "x"})
            assert refused.status_code == 403
            assert "--allow-actions" in detail(refused)
            models = http.get("/read-models")
            assert re.search(
                r'data-model="order_summary".*?class="num parked bad"', models.text, re.S
            )

        with (
            serve(emulator.uri, tmp_path, allow_actions=True) as running,
            httpx.Client(base_url=running.url) as http,
        ):
            http.get(f"/subscriptions/{GROUP}")  # sets the CSRF cookie
            token = http.cookies["console_csrf"]
            no_token = http.post(f"/subscriptions/{GROUP}/replay-parked", data={})
            assert no_token.status_code == 403
            assert "CSRF token" in detail(no_token)
            assert parked_count() == 1
            done = http.post(
                f"/subscriptions/{GROUP}/replay-parked",
                data={"csrf_token": token},
                follow_redirects=False,
            )
            assert done.status_code == 303
            assert done.headers["location"] == f"/subscriptions/{GROUP}?replayed=1"
            wait_until(lambda: summary_has(scenario.db, scenario.parked_order), 30, "replayed row")
            wait_until(lambda: parked_count() == 0, 30, "nothing parked")
            after = http.get(f"/subscriptions/{GROUP}")
            assert 'id="no-parked"' in after.text
    finally:
        scenario.worker.stop()
        es.close()
        store.close()


def test_secure_store_needs_the_servers_credentials_for_actions(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / "events.db", tls=True) as node:
        es = EventStoreDBClient(node.uri)
        es.create_subscription_to_all("console-secure")
        with (
            serve(node.uri, tmp_path, allow_actions=True) as running,
            httpx.Client(base_url=running.url) as http,
        ):
            page = http.get("/subscriptions/console-secure")
            assert page.status_code == 200
            assert "TLS" in page.text
            token = http.cookies["console_csrf"]
            form = {"csrf_token": token, "username": "admin", "password": "wrong"}
            wrong = http.post("/subscriptions/console-secure/replay-parked", data=form)
            assert wrong.status_code == 403
            assert "user name or password is wrong" in detail(wrong)
            form["password"] = "changeit"
            right = http.post(
                "/subscriptions/console-secure/replay-parked", data=form, follow_redirects=False
            )
            assert right.status_code == 303
        es.close()


def test_cli_refuses_a_non_loopback_host_without_insecure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "console", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0" in done.stderr
    assert "--insecure" in done.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_serves_and_prints_its_url_then_stops_cleanly(
    esdb_uri: str, tmp_path: Path, stop: signal.Signals
) -> None:
    """`python -m console` prints its URL, serves, and on SIGTERM or Ctrl-C (SIGINT) stops
    with exit 0 and no traceback (uvicorn on its own re-raises the signal)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "console", "--uri", esdb_uri, "--port", "0", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.match(r"console at (http://127\.0\.0\.1:\d+/) \(read-only;", line)
        assert found, line
        url = found.group(1)
        wait_until(lambda: _up(url), 20, "the console answering")
        assert httpx.get(url + "healthz").json()["store"] == "up"
    finally:
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "healthz").status_code == 200
    except httpx.TransportError:
        return False
