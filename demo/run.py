"""`python -m demo`: the whole system in one command, in well under 2 minutes.

Starts the embedded EventStoreDB-compatible server (a subprocess, file database), two
worker processes per read model, writes a seeded run of orders through the command
functions (plus legacy orders as the old services stored them), waits until every read
model has caught up, prints the read models and reports, and stops everything cleanly.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from esdbclient import EventStoreDBClient
from rich.console import Console

from demo.fleet import start_fleet, stop_fleet
from demo.legacy_seed import legacy_orders, write_legacy
from demo.workload import START, run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from orders.logging import configure_logging
from orders.schema_check import check
from orders.store import EsdbStore
from projections.esdb import OrderLog
from projections.ops.status import ProjectionStatus, collect
from projections.read_models import queries, registry
from projections.report_commands import table

CATCH_UP_DEADLINE_S = 60.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; exit code 0 when every read model caught up and every worker exited 0."""
    args = _parser().parse_args(argv)
    configure_logging(level="warning")
    console, started = Console(), time.monotonic()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="esdb-orders-demo-"))
    try:
        return _run(args, console, started, workdir)
    finally:
        if args.dir is None and not args.keep:  # a temporary folder of ours: remove it
            shutil.rmtree(workdir, ignore_errors=True)
            console.print(f"removed the demo's data folder {workdir} (--keep keeps it)")
        else:
            console.print(f"the demo's data is in {workdir}")


def _run(args: argparse.Namespace, console: Console, started: float, workdir: Path) -> int:
    read_models = workdir / "projections"
    with EmulatorProcess(workdir / "events.db", log_path=workdir / "emulator.log") as node:
        console.rule(f"embedded EventStoreDB at {node.uri} (data in {workdir})")
        workers = start_fleet(node.uri, list(registry.PROJECTIONS), read_models)
        console.print(
            f"started {len(workers)} workers (2 per read model), logs in {read_models}/logs"
        )
        try:
            total = _write_orders(node.uri, args.orders, args.legacy, args.seed, console)
            caught_up = _wait_caught_up(node.uri, read_models, total, console)
            _show(console, node.uri, read_models, args.orders)
            schemas_ok = _check_schemas(console, node.uri)
            if args.serve:
                _serve(node.uri, read_models, args.port)
        finally:
            codes = stop_fleet(workers)
    console.rule(f"done in {time.monotonic() - started:.1f}s; {workers_outcome(codes)}")
    return 0 if caught_up and schemas_ok and not any(codes) else 1


def workers_outcome(codes: Sequence[int]) -> str:
    """How the workers ended, in words: all cleanly, or which exit codes how often."""
    failed = [code for code in codes if code]
    if not failed:
        return f"all {len(codes)} workers stopped cleanly"
    counts = ", ".join(f"{failed.count(c)} with exit code {c}" for c in sorted(set(failed)))
    return f"{len(failed)} of {len(codes)} workers failed ({counts}); see their logs"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--orders", type=int, default=300, help="orders to run (default 300)")
    parser.add_argument("--legacy", type=int, default=30, help="legacy orders (default 30)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="keep the data here")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="then serve the web console (actions on) over the demo's data until Ctrl-C",
    )
    parser.add_argument("--port", type=int, default=8113, help="the console's port (--serve)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary data folder (default: removed)"
    )
    return parser


def _serve(uri: str, read_models: Path, port: int) -> None:
    """Serve the console over the demo's server and read models until Ctrl-C."""
    from console.app import ConsoleConfig  # noqa: PLC0415  only --serve needs the web stack
    from console.cli import bind, serve  # noqa: PLC0415

    config = ConsoleConfig(uri, projections_dir=read_models, allow_actions=True)

    def ready(url: str) -> None:
        print(f"console at {url} (Ctrl-C to stop)", flush=True)

    serve(config, bind("127.0.0.1", port), on_ready=ready)


def _write_orders(uri: str, count: int, legacy: int, seed: int, console: Console) -> int:
    """Write the legacy orders and the scripted run; returns the order events in the log."""
    store = EsdbStore(uri)
    try:
        write_legacy(store, legacy_orders(legacy, seed=seed))
        began = time.monotonic()
        with console.status("placing orders") as status:
            result = run_orders(
                store,
                count,
                seed=seed,
                threads=4,
                on_order=lambda n: status.update(f"order {n}/{count}"),
            )
        commands = sum(result.commands.values())
        spent = time.monotonic() - began
        console.print(f"{legacy} legacy orders, then {count} orders: {dict(result.commands)}")
        console.print(f"{commands} commands in {spent:.1f}s ({commands / spent:.0f}/s)")
    finally:
        store.close()
    client = EventStoreDBClient(uri)
    try:
        return OrderLog(client).after(None, 10**9)[0]
    finally:
        client.close()


def _wait_caught_up(uri: str, read_models: Path, total: int, console: Console) -> bool:
    """Wait until every read model has applied all `total` order events (or parked what
    it cannot), with a deadline; True if they all did."""
    client = EventStoreDBClient(uri)
    deadline = time.monotonic() + CATCH_UP_DEADLINE_S
    try:
        with console.status("waiting for the read models to catch up"):
            while time.monotonic() < deadline:
                rows = [_status(client, name, read_models) for name in registry.PROJECTIONS]
                if all(r.events_applied + (r.parked or 0) >= total for r in rows):
                    return True
                time.sleep(0.1)
    finally:
        client.close()
    console.print(f"[red]read models not caught up after {CATCH_UP_DEADLINE_S:.0f}s[/red]")
    return False


def _show(console: Console, uri: str, read_models: Path, count: int) -> None:
    models = queries.ReadModels(read_models)
    client = EventStoreDBClient(uri)
    try:
        status = [asdict(_status(client, n, read_models)) for n in registry.PROJECTIONS]
    finally:
        client.close()
    keep = ("name", "events_applied", "streams", "lag_events", "parked", "consumers")
    console.print(table("projections", [_pick(row, keep) for row in status]))
    console.print(table("orders by status", [asdict(r) for r in queries.status_counts(models)]))
    top = [asdict(r) for r in queries.customers(models, limit=8)]
    console.print(
        table("top customers by lifetime value, per currency", [_pick(r, _CUSTOMER) for r in top])
    )
    first_days = queries.sales(models, until=START.date() + timedelta(days=2))
    console.print(table("daily sales, first three days", [asdict(r) for r in first_days]))
    midpoint = START + timedelta(minutes=37 * count // 2)
    aov = queries.average_order_value(midpoint, models)
    console.print(
        table(f"average order value before {midpoint:%Y-%m-%d %H:%M}Z", [asdict(r) for r in aov])
    )
    changes = queries.address_changes_before_shipping(models)
    console.print(table("address changes before shipping", [asdict(changes)]))


def _check_schemas(console: Console, uri: str) -> bool:
    """`orders schema check` over the demo's data: every stored version must decode."""
    store = EsdbStore(uri)
    try:
        report = check(store.scan())
    finally:
        store.close()
    rows: list[dict[str, object]] = [
        {
            "stored type": row.stored_type,
            "version": row.version,
            "events": row.count,
            "decoded": row.decoded,
            "becomes": row.becomes,
        }
        for row in report.sorted_rows()
    ]
    verdict = "every event decodes" if report.ok else f"{report.failed} do not decode"
    console.print(table(f"schema check: {report.events} order events, {verdict}", rows))
    return report.ok


_CUSTOMER = ("currency", "rank", "customer_id", "orders_placed", "lifetime_value")


def _pick(row: dict[str, object], keys: Sequence[str]) -> dict[str, object]:
    return {k: row[k] for k in keys}


def _status(client: EventStoreDBClient, name: str, read_models: Path) -> ProjectionStatus:
    return collect(client, name, read_models / f"{name}.db")


if __name__ == "__main__":
    raise SystemExit(main())
