"""The `esdb-emulator` console command: run one node until SIGTERM or SIGINT.

Exit codes: 0 after a clean stop, 1 when the port cannot be bound (the message names
it and how to pick another), 2 for a refused configuration (bad arguments, a port
outside 0-65535, unusable certificates, a non-loopback bind without TLS or --insecure,
a database another live server already holds), 3 when the database cannot be opened
(a folder that cannot be created, an unwritable place, a corrupt or foreign file).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import structlog

from esdb_emulator.log.lock import DatabaseInUse, DatabaseUnusable
from esdb_emulator.node.server import EmulatorConfig, EmulatorServer, InsecureBindError
from esdb_emulator.node.tls import (
    DevCertificate,
    TlsConfigError,
    TlsFiles,
    TlsSettings,
    certificate_hosts,
)

READY_PREFIX = "esdb-emulator ready:"
EXIT_OK, EXIT_NO_PORT, EXIT_REFUSED, EXIT_DATABASE = 0, 1, 2, 3

_log = structlog.get_logger("esdb_emulator.node.cli")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve, and return the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.dev_cert_dir and not args.dev:
        parser.error("--dev-cert-dir needs --dev")
    _configure_logging(args.log_level)
    with ExitStack() as cleanup:
        config = EmulatorConfig(
            db_path=None if args.memory else Path(args.db),
            host=args.host,
            port=args.port,
            advertise_host=args.advertise_host,
            advertise_port=args.advertise_port,
            synchronous="NORMAL" if args.unsafe_no_fsync else "FULL",
            max_append_size=args.max_append_size,
            max_db_bytes=args.max_db_size,
            tls=_tls_settings(args, cleanup),
            insecure=args.insecure,
        )
        try:
            asyncio.run(_serve(config, stop_on_stdin_eof=args.stop_on_stdin_eof))
        except (InsecureBindError, TlsConfigError, DatabaseInUse) as error:
            return _fail(error, EXIT_REFUSED)
        except DatabaseUnusable as error:
            return _fail(error, EXIT_DATABASE)
        except OSError as error:
            return _fail(error, EXIT_NO_PORT)
    return EXIT_OK


def _fail(error: BaseException, code: int) -> int:
    print(f"esdb-emulator: {error}", file=sys.stderr)
    return code


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{port} is not a port: use 0 to 65535 (0 picks any free port)"
        )
    return port


def _tls_settings(args: argparse.Namespace, cleanup: ExitStack) -> TlsSettings | None:
    """The operator's files, or the dev certificate's place: given, beside the db, or temp."""
    if args.tls_cert:
        return TlsFiles(Path(args.tls_cert), Path(args.tls_key))
    if not args.dev:
        return None
    if args.dev_cert_dir:
        directory = Path(args.dev_cert_dir)
    elif args.memory:
        directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="esdb-dev-")))
    else:
        directory = Path(f"{args.db}.dev-cert")
    return DevCertificate(directory, certificate_hosts(args.host, args.advertise_host))


async def _serve(config: EmulatorConfig, *, stop_on_stdin_eof: bool) -> None:
    server = EmulatorServer(config)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    if stop_on_stdin_eof:
        stdin = sys.stdin.fileno()

        def on_stdin() -> None:
            if not os.read(stdin, 4096):  # end of file: the launcher has gone
                loop.remove_reader(stdin)
                _log.warning("emulator.launcher_gone")
                stopping.set()

        loop.add_reader(stdin, on_stdin)
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
    parser.add_argument(
        "--port", type=port_number, default=2113, help="port to bind (0 = any free port)"
    )
    parser.add_argument("--advertise-host", help="host reported by gossip (default --host)")
    parser.add_argument("--advertise-port", type=port_number, help="port reported by gossip")
    security = parser.add_mutually_exclusive_group()
    security.add_argument("--tls-cert", metavar="PATH", help="server certificate chain (PEM)")
    security.add_argument(
        "--dev",
        action="store_true",
        help="TLS with a self-signed certificate for localhost, kept across restarts",
    )
    security.add_argument(
        "--insecure",
        action="store_true",
        help="no TLS and no authentication, even on a non-loopback --host",
    )
    parser.add_argument("--tls-key", metavar="PATH", help="private key of --tls-cert (PEM)")
    parser.add_argument(
        "--dev-cert-dir",
        metavar="DIR",
        help="where --dev keeps its certificate (default: beside the db, DB.dev-cert/)",
    )
    parser.add_argument(
        "--max-append-size", type=int, default=1_048_576, help="bytes per append (default 1 MiB)"
    )
    parser.add_argument(
        "--max-db-size",
        type=int,
        default=None,
        metavar="BYTES",
        help="fail writes beyond this database size as a full disk would (fault testing)",
    )
    parser.add_argument(
        "--unsafe-no-fsync",
        action="store_true",
        help="synchronous=NORMAL: faster, but an acknowledged append may be lost on power loss",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop cleanly when standard input closes (a launcher's pipe: ends with it)",
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
