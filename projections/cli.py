"""The `projections` console command: run workers, rebuild, show status, verify, and
list or replay what a projection's group parked.

Exit codes: 0 done, 1 a check failed (verify found differences, rebuild left events
unapplied), 2 bad usage, 3 event store unreachable.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from esdbclient.exceptions import EventStoreDBClientException

from orders.logging import configure_logging
from orders.settings import Settings, mask_secrets
from projections import registry
from projections.errors import ProjectionError, UnknownProjection
from projections.esdb import GroupSettings
from projections.location import default_path
from projections.worker import Worker, WorkerConfig

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run `projections` with `argv`; returns the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(level=args.log_level or _default_level(args.command))
    try:
        return int(args.run(args))
    except UnknownProjection as e:
        return _fail(str(e), EXIT_USAGE)
    except ProjectionError as e:
        return _fail(str(e), EXIT_CHECK_FAILED)
    except EventStoreDBClientException as e:
        return _fail(f"event store at {mask_secrets(args.uri)} failed: {e}", EXIT_UNREACHABLE)
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="projections",
        description="Maintain the SQLite read models from EventStoreDB (ESDB_URI).",
    )
    parser.add_argument("--uri", default=Settings.from_env().esdb_uri, help="esdb:// URI")
    parser.add_argument(
        "--log-level",
        default=None,
        help="debug, info, warning (default: ORDERS_LOG_LEVEL, else info for run, warning)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub.add_parser("run", help="run a worker for one projection until SIGTERM"))
    _add_rebuild(sub.add_parser("rebuild", help="rebuild a read model and swap it in"))
    _add_status(sub.add_parser("status", help="position, lag, parked and consumers"))
    _add_verify(sub.add_parser("verify", help="compare a read model with a fold of the log"))
    _add_parked(sub.add_parser("parked", help="list the events a projection's group parked"))
    _add_replay(sub.add_parser("replay-parked", help="send parked events back to the workers"))
    listing = sub.add_parser("list", help="the projections and their descriptions")
    listing.set_defaults(run=_run_list)
    return parser


def _add_run(parser: argparse.ArgumentParser) -> None:
    _add_name_and_db(parser)
    parser.add_argument(
        "--strategy",
        default="Pinned",
        choices=("Pinned", "RoundRobin", "DispatchToSingle"),
        help="consumer strategy when the group is created (default Pinned)",
    )
    parser.add_argument("--batch-size", type=_positive, default=250)
    parser.add_argument("--park-after", type=_positive, default=3, help="retries before parking")
    parser.add_argument("--message-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--group", default=None, help="subscription group (projection-NAME)")
    parser.set_defaults(run=_run_worker)


def _add_rebuild(parser: argparse.ArgumentParser) -> None:
    _add_name_and_db(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_rebuild)


def _add_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="projections (default: all)")
    parser.add_argument("--dir", type=Path, default=None, help="read-model directory")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_run_status)


def _add_verify(parser: argparse.ArgumentParser) -> None:
    _add_name_and_db(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_run_verify)


def _add_parked(parser: argparse.ArgumentParser) -> None:
    _add_name_and_group(parser)
    parser.add_argument("--limit", type=_positive, default=100, help="at most N (default 100)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_run_parked)


def _add_replay(parser: argparse.ArgumentParser) -> None:
    _add_name_and_group(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_run_replay_parked)


def _add_name_and_group(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=f"one of: {', '.join(registry.PROJECTIONS)}")
    parser.add_argument("--group", default=None, help="subscription group (projection-NAME)")


def _add_name_and_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=f"one of: {', '.join(registry.PROJECTIONS)}")
    parser.add_argument("--db", type=Path, default=None, help="read-model path (symlink)")


def _run_worker(args: argparse.Namespace) -> int:
    projection = registry.get(args.name)
    group = GroupSettings(consumer_strategy=args.strategy, message_timeout=args.message_timeout)
    config = WorkerConfig(
        uri=args.uri,
        projection=projection,
        db_path=args.db or default_path(projection.name),
        group=group,
        batch_size=args.batch_size,
        park_after=args.park_after,
        subscription_group=args.group,
    )
    worker = Worker(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
    return EXIT_OK


def _run_rebuild(args: argparse.Namespace) -> int:
    from projections.rebuild import rebuild_command  # noqa: PLC0415  keeps `run` start-up lean

    return rebuild_command(args)


def _run_status(args: argparse.Namespace) -> int:
    from projections.status import status_command  # noqa: PLC0415  keeps `run` start-up lean

    return status_command(args)


def _run_verify(args: argparse.Namespace) -> int:
    from projections.status import verify_command  # noqa: PLC0415  keeps `run` start-up lean

    return verify_command(args)


def _run_parked(args: argparse.Namespace) -> int:
    from projections.parked import parked_command  # noqa: PLC0415  keeps `run` start-up lean

    return parked_command(args)


def _run_replay_parked(args: argparse.Namespace) -> int:
    from projections.parked import replay_parked_command  # noqa: PLC0415  keeps `run` lean

    return replay_parked_command(args)


def _run_list(args: argparse.Namespace) -> int:
    for projection in registry.PROJECTIONS.values():
        sys.stdout.write(f"{projection.name:<16} {projection.description}\n")
    return EXIT_OK


def _default_level(command: str) -> str | None:
    """Workers log at info unless ORDERS_LOG_LEVEL says otherwise; the rest at warning."""
    return "info" if command == "run" and not os.environ.get("ORDERS_LOG_LEVEL") else None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"projections: {message}\n")
    return code
