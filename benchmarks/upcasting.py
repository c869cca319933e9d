"""Upcasting cost: a legacy corpus beside the same orders stored at the current version.

    PYTHONPATH=. .venv/bin/python benchmarks/upcasting.py [--orders N] [--rounds N] [--quick]

Two emulator processes of its own, one per corpus, so each holds exactly its orders. The
legacy corpus is `demo.legacy_seed.legacy_orders` (TypeScript-era OrderPlacedEvent /
OrderPaidEvent with float dollars and no schema version, and our early OrderPlaced v2 /
PaymentReceived v1). The current corpus is the same orders (same ids, same number of
events), read back through the chain and written as current events, each encoded by
`orders.codec.encode` with the legacy event's recorded time as its `occurred_at`; the
script first checks that every order reads the same from both. Then, per round (which
corpus goes first alternates), each figure a rate:

- aggregate load: `orders.get_order` of every order (read, decode + upcast, fold);
- projection rebuild: `projections.ops.rebuild.rebuild` of each of the four read models from
  the event store into a new SQLite file (what a projector does: read pages of `$all`,
  decode + upcast, SQL and ledger per batch, durable commits), events summed over the four;
- decode (CPU only): `orders.codec.decode` of every event read beforehand;
- apply in memory (CPU only): the projectors' `BatchApplier` for the four read models into
  in-memory SQLite, from events read beforehand.

Each round runs every metric for both corpora in parts (slices of the orders or events,
or one read model at a time), alternating which corpus goes first, so load from other
processes falls on both alike. Prints median rates over the rounds and the median of the
per-round legacy / current ratios. Target: >= 0.90 for aggregate load
and projection rebuild. The CPU-only rows have no target: without I/O they show the
chain's own cost at its most visible.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a projections.py: keep it off the import path, or `import projections`
# would import that script instead of the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))  # the repository root: the `demo` package is not installed

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from demo.legacy_seed import legacy_orders, write_legacy  # noqa: E402
from esdb_emulator.node.launcher import EmulatorProcess  # noqa: E402
from orders import codec, get_order  # noqa: E402
from orders.logging import configure_logging  # noqa: E402
from orders.ports import EncodedEvent, StoredEvent  # noqa: E402
from orders.store import EsdbStore  # noqa: E402
from projections import database  # noqa: E402
from projections.batch import BatchApplier, Delivery  # noqa: E402
from projections.ops.rebuild import rebuild  # noqa: E402
from projections.read_models import registry  # noqa: E402

TARGET = 0.90
BATCH = 200


@dataclass(frozen=True, slots=True)
class Corpus:
    """One corpus: its server, its order ids and every event of their streams."""

    name: str
    uri: str
    store: EsdbStore
    order_ids: list[str]
    events: list[StoredEvent]


def build(legacy_store: EsdbStore, current_store: EsdbStore, orders: int, seed: int) -> list[str]:
    """Write the legacy orders and their current-version twins; return the order ids."""
    legacy = legacy_orders(orders, seed=seed)
    write_legacy(legacy_store, legacy)
    for order in legacy:
        current_store.append(order.order_id, None, _as_current(legacy_store.read(order.order_id)))
    return [order.order_id for order in legacy]


def _as_current(stored_events: Sequence[StoredEvent]) -> list[EncodedEvent]:
    """The events upcast and encoded at the current version, occurring when recorded."""
    encoded = []
    for index, stored in enumerate(stored_events):
        recorded = codec.decode(stored)
        assert recorded.recorded_at is not None
        command_id = uuid.uuid5(stored.id, "current")
        context = codec.CommandContext(
            command_id=command_id,
            correlation_id=str(command_id),
            causation_id=str(command_id),
            actor="benchmark",
            occurred_at=recorded.recorded_at,
        )
        encoded.append(codec.encode(recorded.event, context, index))
    return encoded


def check_same_orders(legacy: Corpus, current: Corpus) -> None:
    """Every order reads the same from both corpora (else the comparison means nothing)."""
    for order_id in legacy.order_ids:
        a = get_order(order_id, store=legacy.store).to_dict()
        b = get_order(order_id, store=current.store).to_dict()
        if a != b:
            raise SystemExit(f"order {order_id} differs between the corpora:\n{a}\n{b}")


Work = tuple[int, float]
"""(items done, seconds taken) by one part of a metric."""

SLICES = 10
PROJECTIONS = list(registry.PROJECTIONS.values())


def load_part(corpus: Corpus, part: int, folder: Path) -> Work:
    """get_order of one slice of the orders."""
    order_ids = corpus.order_ids[part::SLICES]
    started = time.perf_counter()
    for order_id in order_ids:
        get_order(order_id, store=corpus.store)
    return len(order_ids), time.perf_counter() - started


def rebuild_part(corpus: Corpus, part: int, folder: Path) -> Work:
    """A rebuild of one read model from the corpus's server into a new SQLite file."""
    projection = PROJECTIONS[part]
    target = folder / f"{corpus.name}-{projection.name}-{uuid.uuid4().hex[:8]}" / "model.db"
    report = rebuild(corpus.uri, projection, target)
    if report.failures or report.events != len(corpus.events):
        raise SystemExit(f"rebuild of {projection.name} on {corpus.name}: {report}")
    return report.events, report.seconds


def decode_part(corpus: Corpus, part: int, folder: Path) -> Work:
    """codec.decode of one slice of the events read beforehand (no I/O)."""
    events = corpus.events[part::SLICES]
    started = time.perf_counter()
    for stored in events:
        codec.decode(stored)
    return len(events), time.perf_counter() - started


def apply_part(corpus: Corpus, part: int, folder: Path) -> Work:
    """One read model's BatchApplier over every event, into in-memory SQLite."""
    projection = PROJECTIONS[part]
    conn = database.open_memory(projection)
    applier = BatchApplier(projection, codec.decode, _NoGaps(), park_after=0)
    deliveries = [Delivery(event, uuid.uuid4()) for event in corpus.events]
    applied = 0
    started = time.perf_counter()
    for first in range(0, len(deliveries), BATCH):
        outcome = applier.apply(conn, deliveries[first : first + BATCH])
        if outcome.failures:
            raise SystemExit(f"{projection.name}: {outcome.failures[0].error}")
        applied += outcome.applied
    elapsed = time.perf_counter() - started
    conn.close()
    return applied, elapsed


class _NoGaps:
    """The corpora are applied in stream order: a gap would be a bug in this script."""

    def read(self, stream: str, first: int, last: int) -> Sequence[StoredEvent]:
        raise AssertionError(f"unexpected gap {stream}@{first}..{last}")


@dataclass(frozen=True, slots=True)
class Metric:
    """A rate measured in `parts` parts, run for both corpora side by side."""

    label: str
    targeted: bool
    parts: int
    run: Callable[[Corpus, int, Path], Work]


METRICS = (
    Metric("aggregate load (orders/s)", True, SLICES, load_part),
    Metric("projection rebuild, 4 models (events/s)", True, len(PROJECTIONS), rebuild_part),
    Metric("decode, CPU only (events/s)", False, SLICES, decode_part),
    Metric("apply in memory, 4 models (events/s)", False, len(PROJECTIONS), apply_part),
)


@dataclass(frozen=True, slots=True)
class Figures:
    """Median rates per corpus, and the median and range of the per-round ratios."""

    legacy: float
    current: float
    ratio: float
    lowest: float
    highest: float


def measure(rounds: int, corpora: Sequence[Corpus], folder: Path) -> dict[str, Figures]:
    """Per metric and round, both corpora part by part, alternating which goes first.

    Interleaving the parts spreads load from other processes, which varies over a run,
    over both corpora alike; the ratio is taken per round.
    """
    rates: dict[str, dict[str, list[float]]] = {m.label: {} for m in METRICS}
    ratios: dict[str, list[float]] = {m.label: [] for m in METRICS}
    for number in range(rounds):
        for metric in METRICS:
            done = {corpus.name: [0, 0.0] for corpus in corpora}
            for part in range(metric.parts):
                pair = corpora if (number + part) % 2 == 0 else list(reversed(corpora))
                for corpus in pair:
                    items, seconds = metric.run(corpus, part, folder)
                    done[corpus.name][0] += items
                    done[corpus.name][1] += seconds
            got = {name: items / seconds for name, (items, seconds) in done.items()}
            for name, rate in got.items():
                rates[metric.label].setdefault(name, []).append(rate)
            ratios[metric.label].append(got["legacy"] / got["current"])
    return {
        label: Figures(
            legacy=statistics.median(rates[label]["legacy"]),
            current=statistics.median(rates[label]["current"]),
            ratio=statistics.median(ratios[label]),
            lowest=min(ratios[label]),
            highest=max(ratios[label]),
        )
        for label in ratios
    }


def report(figures: dict[str, Figures], corpora: Sequence[Corpus], rounds: int) -> bool:
    """Print the table; True when every targeted ratio meets TARGET."""
    legacy, current = corpora
    print(
        f"upcasting benchmark: {len(legacy.order_ids)} orders per corpus,"
        f" {len(legacy.events)} legacy / {len(current.events)} current events,"
        f" {rounds} rounds; Python {platform.python_version()}, {platform.machine()}"
    )
    print("rates: medians over the rounds; legacy/current: median (and range) of per-round ratios")
    header = (
        f"{'metric':<42} {'legacy':>9} {'current':>9} {'legacy/current':>15} {'range':>11}  verdict"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for metric in METRICS:
        got = figures[metric.label]
        passed = got.ratio >= TARGET
        verdict = f"{'PASS' if passed else 'BELOW'} (>= {TARGET:.2f})" if metric.targeted else "-"
        ok = ok and (passed or not metric.targeted)
        spread = f"{got.lowest:.2f}-{got.highest:.2f}"
        figures_text = f"{got.legacy:>9,.0f} {got.current:>9,.0f} {got.ratio:>15.2f} {spread:>11}"
        print(f"{metric.label:<42} {figures_text}  {verdict}")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0, or 1 with --check when a target is missed."""
    parser = argparse.ArgumentParser(description="upcasting cost: legacy vs current corpus")
    parser.add_argument("--orders", type=int, default=500, help="orders per corpus (default 500)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds (default 9)")
    parser.add_argument("--seed", type=int, default=11, help="legacy corpus seed")
    parser.add_argument("--quick", action="store_true", help="a smoke run (30 orders, 1 round)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    orders, rounds = (30, 1) if args.quick else (args.orders, args.rounds)
    configure_logging(level="warning")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with (
            EmulatorProcess(folder / "legacy.db", synchronous="NORMAL") as legacy_node,
            EmulatorProcess(folder / "current.db", synchronous="NORMAL") as current_node,
        ):
            stores = [EsdbStore(legacy_node.uri), EsdbStore(current_node.uri)]
            try:
                order_ids = build(stores[0], stores[1], orders, args.seed)
                corpora = [
                    Corpus(name, node.uri, store, order_ids, _events(store, order_ids))
                    for name, node, store in zip(
                        ("legacy", "current"), (legacy_node, current_node), stores, strict=True
                    )
                ]
                check_same_orders(*corpora)
                figures = measure(rounds, corpora, folder)
            finally:
                for store in stores:
                    store.close()
    ok = report(figures, corpora, rounds)
    return 1 if args.check and not ok else 0


def _events(store: EsdbStore, order_ids: list[str]) -> list[StoredEvent]:
    return [event for order_id in order_ids for event in store.read(order_id)]


if __name__ == "__main__":
    sys.exit(main())
