"""A persistent-subscription consumer to run as its own process in fault tests.

Appends one line "<event id> <retry count>" per received event to `--out`
(flushed at once, so a SIGKILL loses nothing it printed), acking each event
unless `--no-ack`. Runs until killed or until its call's deadline passes.
"""

from __future__ import annotations

import argparse
import sys

from esdbclient import EventStoreDBClient


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--buffer", type=int, default=10)
    parser.add_argument("--no-ack", action="store_true")
    parser.add_argument("--deadline", type=float, default=60.0)
    args = parser.parse_args()
    client = EventStoreDBClient(args.uri)
    subscription = client.read_subscription_to_stream(
        args.group, args.stream, event_buffer_size=args.buffer, timeout=args.deadline
    )
    with open(args.out, "a", buffering=1) as out:
        for event in subscription:
            out.write(f"{event.id} {event.retry_count}\n")
            out.flush()
            if not args.no_ack:
                subscription.ack(event)
    return 0


if __name__ == "__main__":
    sys.exit(main())
