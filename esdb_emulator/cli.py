"""The `esdb-emulator` console command: run one node until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import structlog

from esdb_emulator.server import EmulatorConfig, EmulatorServer

READY_PREFIX = "esdb-emulator ready:"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve, and return the process exit code."""
    args = _parser().parse_args(argv)
    _configure_logging(args.log_level)
    config = EmulatorConfig(
        db_path=None if args.memory else Path(args.db),
        host=args.host,
        port=args.port,
        advertise_host=args.advertise_host,
        advertise_port=args.advertise_port,
        synchronous="NORMAL" if args.unsafe_no_fsync else "FULL",
        max_append_size=args.max_append_size,
    )
    try:
        asyncio.run(_serve(config))
    except OSError as error:
        print(f"esdb-emulator: {error}", file=sys.stderr)
        return 1
    return 0


async def _serve(config: EmulatorConfig) -> None:
    server = EmulatorServer(config)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    where = "in memory" if config.db_path is None else str(config.db_path)
    # The one line on stdout: launchers wait for it and parse the URI from it.
    print(f"{READY_PREFIX} {server.uri} db={where} pid={os.getpid()}", flush=True)
    await stopping.wait()
    await server.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="esdb-emulator",
        description="A single-node, EventStoreDB 24.10-compatible gRPC server on SQLite.",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", metavar="PATH", help="SQLite database file (created if missing)")
    where.add_argument("--memory", action="store_true", help="keep the log in memory only")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=2113, help="port to bind (0 = any free port)")
    parser.add_argument("--advertise-host", help="host reported by gossip (default --host)")
    parser.add_argument("--advertise-port", type=int, help="port reported by gossip")
    parser.add_argument(
        "--max-append-size", type=int, default=1_048_576, help="bytes per append (default 1 MiB)"
    )
    parser.add_argument(
        "--unsafe-no-fsync",
        action="store_true",
        help="synchronous=NORMAL: faster, but an acknowledged append may be lost on power loss",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser


def _configure_logging(level: str) -> None:
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer()
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
