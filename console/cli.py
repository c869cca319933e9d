"""`orders-console`: serve the web console on 127.0.0.1:8113 until Ctrl-C or SIGTERM.

On SIGINT or SIGTERM uvicorn finishes the requests in hand and then re-raises the signal,
so the exit status is the signal's. Exit code 2: bad usage (a non-loopback --host without
--insecure, a port in use).
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from console.app import ConsoleConfig, create_app
from orders.logging import configure_logging
from orders.settings import Settings, mask_secrets
from projections.location import projections_dir

DEFAULT_PORT = 8113
EXIT_OK, EXIT_USAGE = 0, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run `orders-console` with `argv`; returns the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(level=args.log_level)
    if not (args.insecure or is_loopback(args.host)):
        return _fail(
            f"refusing to serve on {args.host}: the console has no authentication of its own,"
            " so it binds loopback only. Use --host 127.0.0.1 (and an SSH tunnel or a"
            " reverse proxy with authentication), or pass --insecure to accept anyone who"
            " can reach that address."
        )
    config = ConsoleConfig(
        uri=args.uri,
        projections_dir=args.dir,
        allow_actions=args.allow_actions,
        scan_limit=args.scan_limit,
    )
    try:
        sock = bind(args.host, args.port)
    except OSError as e:
        return _fail(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}")

    def ready(url: str) -> None:
        mode = "actions enabled" if args.allow_actions else "read-only"
        sys.stdout.write(f"console at {url} ({mode}; event store {mask_secrets(args.uri)})\n")
        sys.stdout.flush()

    serve(config, sock, on_ready=ready)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The `orders-console` argument parser."""
    parser = argparse.ArgumentParser(
        prog="orders-console",
        description="A web console for the event store (ESDB_URI): streams, orders,"
        " correlation chains, subscriptions and read models.",
    )
    parser.add_argument("--uri", default=Settings.from_env().esdb_uri, help="esdb:// URI")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--projections-dir",
        "--dir",  # the old name, kept as an alias
        dest="dir",
        metavar="DIR",
        type=Path,
        default=projections_dir(),
        help="read-model directory (default $PROJECTIONS_DIR or var/projections)",
    )
    parser.add_argument(
        "--allow-actions",
        action="store_true",
        help="enable actions that change something (replay parked); read-only without it",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback --host (no authentication)"
    )
    parser.add_argument(
        "--scan-limit",
        type=_positive,
        default=20_000,
        help="$all events a correlation search reads when the server keeps no $bc- streams",
    )
    parser.add_argument("--log-level", default=None, help="debug, info, warning (default)")
    return parser


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The http:// URL a browser on this machine opens for `sock`."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # noqa: S104  a wildcard bind is reached on loopback
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


class _Server(uvicorn.Server):
    """uvicorn's server, except that SIGINT/SIGTERM is a clean stop: uvicorn re-raises the
    signal after its shutdown, which would end the caller (the demo's clean-up) with a
    KeyboardInterrupt traceback; here the caller carries on and `orders-console` exits 0."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open connections
        else:
            self.should_exit = True


def serve(
    config: ConsoleConfig,
    sock: socket.socket,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the console on `sock` until SIGINT/SIGTERM, then return."""
    app = create_app(config)
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    if on_ready is not None:
        on_ready(url_of(sock))
    server.run(sockets=[sock])


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0..65535)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def _fail(message: str) -> int:
    sys.stderr.write(f"orders-console: {message}\n")
    return EXIT_USAGE


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP literals; names are not resolved.

    The console's own check (the emulator has the same rule): the product does not
    import the emulator, which is a separate distribution.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
