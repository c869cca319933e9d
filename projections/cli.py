"""The `projections` console command: run workers, rebuild, show status, verify, and
list or replay what a projection's group parked.

Exit codes: 0 done, 1 a check failed (verify found differences, rebuild left events
unapplied), 2 bad usage, 3 event store unreachable or failing, 6 authentication failed,
7 TLS handshake failed, 8 no usable read model (not built yet, corrupt, unwritable).
With `--json`, errors are also printed on stdout as `{"error", "message", "exit_code"}`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from orders.cli.common import (
    EXIT_AUTH_FAILED,
    EXIT_NO_READ_MODEL,
    EXIT_OK,
    EXIT_TLS_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Failure,
    run_main,
)
from orders.errors import AuthenticationFailed
from orders.logging import configure_logging
from orders.settings import Settings, mask_secrets
from orders.store import plaintext_to_tls_server, security_failure
from projections import esdb, report_commands
from projections.errors import (
    ProjectionError,
    ReadModelMissing,
    ReadModelUnusable,
    UnknownProjection,
    WrongReadModel,
)
from projections.location import read_model_path
from projections.ports import GroupSettings
from projections.read_models import registry
from projections.worker import Worker, WorkerConfig

EXIT_CHECK_FAILED = 1  # verify found differences, or a rebuild left events unapplied


def main(argv: Sequence[str] | None = None) -> int:
    """Run `projections` with `argv`; returns the exit code."""
    return run_main("projections", build_parser().parse_args, argv, _classify, setup=_setup)


def _setup(args: argparse.Namespace) -> None:
    configure_logging(level=args.log_level or _default_level(args.command))


def _classify(error: Exception, args: argparse.Namespace) -> Failure | None:
    if isinstance(error, UnknownProjection):
        return Failure(EXIT_USAGE, "invalid", str(error))
    if isinstance(error, ReadModelMissing | ReadModelUnusable | WrongReadModel):
        return Failure(EXIT_NO_READ_MODEL, "no_read_model", str(error))
    if isinstance(error, ProjectionError):
        return Failure(EXIT_CHECK_FAILED, "check_failed", str(error))
    if isinstance(error, sqlite3.Error):
        message = f"the read model database cannot be used: {error}"
        return Failure(EXIT_NO_READ_MODEL, "no_read_model", message)
    if isinstance(error, esdb.StoreFailure):
        return _store_failure(error, args.uri)
    return None


def _store_failure(error: esdb.StoreFailure, uri: str) -> Failure:
    refused = security_failure(error, uri)
    if isinstance(refused, AuthenticationFailed):
        return Failure(EXIT_AUTH_FAILED, "authentication_failed", str(refused))
    if refused is not None:
        return Failure(EXIT_TLS_FAILED, "tls_failed", str(refused))
    masked = mask_secrets(uri)
    if plaintext_to_tls_server(error, uri):
        message = (
            f"TLS handshake failed with {masked}: the server closed every connection at once,"
            " as a TLS-only server does to a plaintext client; if it serves TLS, use Tls=true"
        )
        return Failure(EXIT_TLS_FAILED, "tls_failed", message)
    detail = mask_secrets(str(error).strip().splitlines()[0] if str(error).strip() else "")
    message = f"event store at {masked} failed: {type(error).__name__} {detail}".strip()
    return Failure(EXIT_UNREACHABLE, "unreachable", message)


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
    _add_run(_command(sub, "run", "run a worker for one projection until SIGTERM"))
    _add_rebuild(_command(sub, "rebuild", "rebuild a read model and swap it in"))
    _add_status(_command(sub, "status", "position, lag, parked and consumers"))
    _add_verify(_command(sub, "verify", "compare a read model with a fold of the log"))
    _add_parked(_command(sub, "parked", "list the events a projection's group parked"))
    _add_replay(_command(sub, "replay-parked", "send parked events back to the workers"))
    listing = _command(sub, "list", "the projections and their descriptions")
    listing.set_defaults(run=_run_list)
    for report in report_commands.SUBCOMMANDS:  # the read models' queries
        parser_ = _command(sub, report.name, report.help)
        report.configure(parser_)
        parser_.set_defaults(run=report.run)
    return parser


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
) -> argparse.ArgumentParser:
    """A subcommand that also takes `--uri` after its name (before it works as well)."""
    parser = sub.add_parser(name, help=help_text)
    parser.add_argument("--uri", default=argparse.SUPPRESS, help="esdb:// URI (default ESDB_URI)")
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
    _add_projections_dir(parser)
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
    _add_projections_dir(parser)
    parser.add_argument(
        "--read-model",
        dest="db",
        type=Path,
        default=None,
        metavar="PATH",
        help="this read model's own path (symlink), instead of DIR/NAME.db",
    )
    parser.add_argument("--db", dest="db", type=Path, help=argparse.SUPPRESS)  # the old name


def _add_projections_dir(parser: argparse.ArgumentParser) -> None:
    """`--projections-dir DIR`, the read models' folder, named as in `orders`."""
    parser.add_argument(
        "--projections-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the read models live (default PROJECTIONS_DIR, else var/projections)",
    )
    parser.add_argument(  # the old name of `projections status`
        "--dir", dest="projections_dir", type=Path, help=argparse.SUPPRESS
    )


def _run_worker(args: argparse.Namespace) -> int:
    projection = registry.get(args.name)
    group = GroupSettings(consumer_strategy=args.strategy, message_timeout=args.message_timeout)
    config = WorkerConfig(
        uri=args.uri,
        projection=projection,
        db_path=read_model_path(projection.name, args.db, args.projections_dir),
        group=group,
        batch_size=args.batch_size,
        park_after=args.park_after,
        subscription_group=args.group,
    )
    worker = Worker(config)
    worker.check_database()  # an unusable --read-model fails now, not at the first event

    def stop(signum: int, frame: FrameType | None) -> None:
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
    return EXIT_OK


def _run_rebuild(args: argparse.Namespace) -> int:
    from projections.ops.rebuild import rebuild_command  # noqa: PLC0415  keeps `run` start-up lean

    return rebuild_command(args)


def _run_status(args: argparse.Namespace) -> int:
    from projections.ops.status import status_command  # noqa: PLC0415  keeps `run` start-up lean

    return status_command(args)


def _run_verify(args: argparse.Namespace) -> int:
    from projections.ops.status import verify_command  # noqa: PLC0415  keeps `run` start-up lean

    return verify_command(args)


def _run_parked(args: argparse.Namespace) -> int:
    from projections.ops.parked import parked_command  # noqa: PLC0415  keeps `run` start-up lean

    return parked_command(args)


def _run_replay_parked(args: argparse.Namespace) -> int:
    from projections.ops.parked import replay_parked_command  # noqa: PLC0415  keeps `run` lean

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
