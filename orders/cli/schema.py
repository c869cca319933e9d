"""The schema subcommand: `schema check` (does every stored order event decode to the current
model?). Legacy orders for the demo are written by `python -m demo.seed`.

`schema check` exits 0 when every event decodes, 4 when any does not (each failure named
by stream, revision, type and version). It only reads.
"""

from __future__ import annotations

import argparse
from typing import Any

from orders.bootstrap import default_store
from orders.cli.common import (
    EXIT_OK,
    EXIT_STORE_FAILED,
    Subcommand,
    add_json_option,
    print_json,
    say,
)
from orders.errors import StoreError
from orders.schema_check import EventScanner, SchemaReport, check


def _configure_schema(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="schema_action", required=True, metavar="ACTION")
    check_parser = actions.add_parser(
        "check",
        help="count stored order events per (type, version) and check each decodes",
        description="Scan every order stream; exit 4 if any event does not decode.",
    )
    add_json_option(check_parser)


def _run_schema(args: argparse.Namespace) -> int:
    store = default_store()
    if not isinstance(store, EventScanner):
        raise StoreError(f"{type(store).__name__} cannot scan the order streams")
    report = check(store.scan())
    if args.json:
        print_json(report_document(report))
    else:
        for line in _describe(report):
            say(line)
    return EXIT_OK if report.ok else EXIT_STORE_FAILED


def report_document(report: SchemaReport) -> dict[str, Any]:
    """The JSON form of a schema report."""
    return {
        "ok": report.ok,
        "events": report.events,
        "failed": report.failed,
        "schemas": [
            {
                "type": row.stored_type,
                "schema_version": row.version,
                "count": row.count,
                "decoded": row.decoded,
                "becomes": row.becomes,
                "ok": row.ok,
            }
            for row in report.sorted_rows()
        ],
        "failures": [
            {
                "stream": f.stream,
                "revision": f.revision,
                "type": f.stored_type,
                "schema_version": f.version,
                "message": f.message,
            }
            for f in report.failures
        ],
    }


def _describe(report: SchemaReport) -> list[str]:
    header = f"{'stored type':<20} {'version':>7} {'events':>8} {'decoded':>8}  {'becomes':<26} ok"
    lines = [header]
    for row in report.sorted_rows():
        version = "?" if row.version is None else str(row.version)
        lines.append(
            f"{row.stored_type:<20} {version:>7} {row.count:>8} {row.decoded:>8}"
            f"  {row.becomes:<26} {'yes' if row.ok else 'NO'}"
        )
    for failure in report.failures:
        lines.append(f"FAILED {failure.message}")
    if report.failed > len(report.failures):
        lines.append(f"... and {report.failed - len(report.failures)} more failures")
    verdict = (
        "every event decodes to the current model"
        if report.ok
        else (f"{report.failed} event(s) do not decode")
    )
    lines.append(f"{report.events} order events: {verdict}")
    return lines


SUBCOMMANDS = (
    Subcommand(
        "schema",
        "check that every stored order event decodes to the current schema",
        _configure_schema,
        _run_schema,
    ),
)
