"""The pure parts of persistent subscriptions: strategies, checkpoint progress,
settings validation and the stored formats. No server needed."""

from __future__ import annotations

import json
import uuid

import pytest
from esdbclient.protos.Grpc import persistent_pb2, shared_pb2

from esdb_emulator.log.records import RecordedEvent, ResolvedEvent
from esdb_emulator.persistent.config import (
    decode_checkpoint,
    decode_config,
    encode_checkpoint,
    encode_config,
)
from esdb_emulator.persistent.model import Consumer, Message, ProgressEntry
from esdb_emulator.persistent.progress import CheckpointCadence, Progress
from esdb_emulator.persistent.settings import (
    FilterSpec,
    GroupSettings,
    SettingsError,
    StartFrom,
    check_buffers,
    from_create,
    validate,
)
from esdb_emulator.persistent.strategies import (
    DispatchToSingle,
    Pinned,
    PinnedByCorrelation,
    PushResult,
    RoundRobin,
    make_strategy,
)
from esdb_emulator.persistent.wire import event_reply

# -- helpers ------------------------------------------------------------------------


def recorded(
    stream: str, revision: int, *, metadata: bytes = b"", event_type: str = "T", data: bytes = b"{}"
) -> RecordedEvent:
    return RecordedEvent(
        position=1000 + revision,
        stream=stream,
        revision=revision,
        event_id=f"00000000-0000-0000-0000-{revision:012d}",
        type=event_type,
        content_type="application/json",
        metadata=metadata,
        data=data,
        created=0,
    )


def message(stream: str, revision: int, **kwargs: object) -> Message:
    event = recorded(stream, revision, **kwargs)  # type: ignore[arg-type]
    return Message(ResolvedEvent(event), f"{stream}-{revision}", revision)


def consumer(name: str, slots: int, inbox: list[tuple[str, str]]) -> Consumer:
    return Consumer(
        consumer_id=name,
        connection_name=name,
        max_in_flight=slots,
        deliver=lambda m: inbox.append((name, m.ack_id)),
        drop=lambda: None,
    )


# -- strategies -----------------------------------------------------------------------


def test_round_robin_alternates_between_consumers_with_room() -> None:
    inbox: list[tuple[str, str]] = []
    strategy = RoundRobin()
    strategy.add(consumer("a", 10, inbox))
    strategy.add(consumer("b", 10, inbox))
    for revision in range(4):
        assert strategy.push(message("s", revision)) is PushResult.SENT
    assert [who for who, _ in inbox] == ["a", "b", "a", "b"]


def test_round_robin_skips_full_consumers_and_reports_no_capacity() -> None:
    inbox: list[tuple[str, str]] = []
    strategy = RoundRobin()
    strategy.add(consumer("a", 1, inbox))
    strategy.add(consumer("b", 2, inbox))
    results = [strategy.push(message("s", revision)) for revision in range(4)]
    assert results == [PushResult.SENT] * 3 + [PushResult.NO_CAPACITY]
    assert [who for who, _ in inbox] == ["a", "b", "b"]


def test_dispatch_to_single_fills_the_first_consumer_before_the_next() -> None:
    inbox: list[tuple[str, str]] = []
    strategy = DispatchToSingle()
    strategy.add(consumer("a", 2, inbox))
    strategy.add(consumer("b", 2, inbox))
    for revision in range(4):
        strategy.push(message("s", revision))
    assert [who for who, _ in inbox] == ["a", "a", "b", "b"]


def test_pinned_sends_each_stream_to_one_consumer() -> None:
    inbox: list[tuple[str, str]] = []
    strategy = Pinned()
    strategy.add(consumer("a", 100, inbox))
    strategy.add(consumer("b", 100, inbox))
    streams = [f"order-{n}" for n in range(20)]
    for revision in range(3):
        for stream in streams:
            assert strategy.push(message(stream, revision)) is PushResult.SENT
    owners: dict[str, set[str]] = {}
    for who, ack_id in inbox:
        owners.setdefault(ack_id.rsplit("-", 1)[0], set()).add(who)
    assert all(len(owner) == 1 for owner in owners.values())
    assert {next(iter(o)) for o in owners.values()} == {"a", "b"}  # both get buckets


def test_pinned_skips_a_message_whose_consumer_is_full() -> None:
    inbox: list[tuple[str, str]] = []
    strategy = Pinned()
    strategy.add(consumer("a", 1, inbox))
    assert strategy.push(message("x", 0)) is PushResult.SENT  # x's bucket is a's; a is full
    strategy.add(consumer("b", 5, inbox))  # one bucket in use: nothing to rebalance
    assert strategy.push(message("x", 1)) is PushResult.SKIPPED
    assert strategy.push(message("y", 0)) is PushResult.SENT
    assert inbox == [("a", "x-0"), ("b", "y-0")]


def test_pinned_gives_a_departed_consumers_buckets_to_the_others() -> None:
    inbox: list[tuple[str, str]] = []
    strategy = Pinned()
    a, b = consumer("a", 100, inbox), consumer("b", 100, inbox)
    strategy.add(a)
    strategy.add(b)
    for n in range(10):
        strategy.push(message(f"s{n}", 0))
    strategy.remove(a)
    inbox.clear()
    for n in range(10):
        assert strategy.push(message(f"s{n}", 1)) is PushResult.SENT
    assert {who for who, _ in inbox} == {"b"}


def test_pinned_by_correlation_pins_by_correlation_id_across_streams() -> None:
    inbox: list[tuple[str, str]] = []
    strategy = PinnedByCorrelation()
    strategy.add(consumer("a", 100, inbox))
    strategy.add(consumer("b", 100, inbox))
    owners: dict[str, set[str]] = {}
    for n in range(30):
        correlation = f"corr-{n % 5}"
        metadata = json.dumps({"$correlationId": correlation}).encode()
        strategy.push(message(f"stream-{n}", 0, metadata=metadata))
        owners.setdefault(correlation, set()).add(inbox[-1][0])
    assert all(len(owner) == 1 for owner in owners.values())


def test_unknown_strategy_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        make_strategy("InvalidStrategy")


# -- checkpoint progress ----------------------------------------------------------------


def tracked(progress: Progress, position: int) -> ProgressEntry:
    entry = ProgressEntry(position)
    progress.track(entry)
    return entry


def test_checkpoint_never_passes_an_unfinished_message() -> None:
    progress = Progress(CheckpointCadence(min_count=1, max_count=1, after=None), None)
    entries = [ProgressEntry(position) for position in (10, 20, 30)]
    for entry in entries:
        progress.track(entry)
    progress.finish(entries[1])
    progress.finish(entries[2])
    assert progress.done_through is None
    assert progress.due(0.0, clock_tick=False) is None
    progress.finish(entries[0])
    assert progress.done_through == 30
    assert progress.due(0.0, clock_tick=False) == 30


def test_filtered_records_complete_with_the_message_before_them() -> None:
    progress = Progress(CheckpointCadence(1, 100, None), 5)
    progress.pass_over(6)
    assert progress.done_through == 6
    entry = ProgressEntry(7)
    progress.track(entry)
    progress.pass_over(8)
    progress.pass_over(9)
    assert progress.done_through == 6
    progress.finish(entry)
    assert progress.done_through == 9


def test_cadence_follows_min_count_max_count_and_checkpoint_after() -> None:
    progress = Progress(CheckpointCadence(min_count=3, max_count=5, after=2.0), None)
    for position in range(1, 4):
        progress.finish(tracked(progress, position))
    assert progress.due(100.0, clock_tick=False) is None  # below max, not a tick
    assert progress.due(100.0, clock_tick=True) == 3  # min reached on a tick
    progress.checkpoint_taken(3, 100.0)
    for position in range(4, 7):
        progress.finish(tracked(progress, position))
    assert progress.due(101.0, clock_tick=True) is None  # too soon after the last
    assert progress.due(102.5, clock_tick=True) == 6
    for position in range(7, 12):
        progress.finish(tracked(progress, position))
    assert progress.due(102.6, clock_tick=False) == 11  # max count needs no tick


# -- settings ------------------------------------------------------------------------------


def create_options(**settings: int | str | bool) -> persistent_pb2.CreateReq.Options:
    defaults: dict[str, int | str | bool] = {
        "read_batch_size": 20,
        "history_buffer_size": 500,
        "consumer_strategy": "RoundRobin",
    }
    return persistent_pb2.CreateReq.Options(
        group_name="g",
        all=persistent_pb2.CreateReq.AllOptions(start=shared_pb2.Empty()),
        settings=persistent_pb2.CreateReq.Settings(**(defaults | settings)),  # type: ignore[arg-type]
    )


def test_start_from_renders_and_parses_the_servers_formats() -> None:
    assert str(StartFrom(True, 0, 0)) == "C:0/P:0"
    assert str(StartFrom(True, -1, -1)) == "C:-1/P:-1"
    assert str(StartFrom(False, -1)) == "-1"
    assert StartFrom.parse("C:123/P:120", is_all=True) == StartFrom(True, 123, 120)
    assert StartFrom.parse("7", is_all=False) == StartFrom(False, 7)
    with pytest.raises(ValueError, match="not a \\$all position"):
        StartFrom.parse("123", is_all=True)


def test_create_request_end_position_becomes_minus_one() -> None:
    options = persistent_pb2.CreateReq.Options(
        group_name="g",
        stream=persistent_pb2.CreateReq.StreamOptions(
            stream_identifier=shared_pb2.StreamIdentifier(stream_name=b"orders"),
            end=shared_pb2.Empty(),
        ),
        settings=persistent_pb2.CreateReq.Settings(message_timeout_ticks=15_000_000),
    )
    settings = from_create(options)
    assert (settings.source, str(settings.start_from)) == ("orders", "-1")
    assert settings.message_timeout_ms == 1500
    assert settings.consumer_strategy == "DispatchToSingle"  # the enum's zero value


def test_validation_reasons_are_the_servers() -> None:
    with pytest.raises(SettingsError, match=r"^Consumer strategy Nope does not exist\.$"):
        validate(from_create(create_options(consumer_strategy="Nope")), 1000)
    with pytest.raises(SettingsError, match="ReadBatchSize may not be greater than or equal"):
        check_buffers(from_create(create_options(read_batch_size=200, history_buffer_size=100)))
    beyond = GroupSettings("$all", "g", StartFrom(True, 5000, 5000))
    with pytest.raises(SettingsError, match="less than or equal to the last commit position"):
        validate(beyond, 1000)
    backwards = GroupSettings("$all", "g", StartFrom(True, 10, 20))
    with pytest.raises(SettingsError, match="prepare position must be less than or equal"):
        validate(backwards, 1000)


def test_config_round_trips_and_leaves_defaults_out_like_the_server() -> None:
    group = GroupSettings(
        source="$all",
        group="g",
        start_from=StartFrom(True, -1, -1),
        first_position=4321,
        filter=FilterSpec("stream_name", None, ("order-", "invoice-")),
        resolve_links=True,
        message_timeout_ms=1000,
        max_retry_count=3,
        history_buffer_size=500,
        read_batch_size=20,
        checkpoint_after_ms=2000,
        min_checkpoint_count=1,
        max_checkpoint_count=10,
        consumer_strategy="Pinned",
    )
    data = encode_config([group])
    entry = json.loads(data)["entries"][0]
    assert entry["startPosition"] == "C:-1/P:-1"
    assert entry["filter"] == {
        "context": "streamid",
        "type": "prefix",
        "data": "order-,invoice-",
        "isAllStream": True,
    }
    assert "extraStatistics" not in entry
    assert "maxSubscriberCount" not in entry
    assert decode_config(data) == [group]


def test_checkpoint_data_is_a_json_string() -> None:
    assert encode_checkpoint("C:10/P:10") == b'"C:10/P:10"'
    assert decode_checkpoint(b'"41"') == "41"
    with pytest.raises(ValueError, match="not a JSON string"):
        decode_checkpoint(b"41")


def test_a_delivered_link_carries_both_records_at_the_links_position_with_structured_ids() -> None:
    target_id, link_id = uuid.uuid4(), uuid.uuid4()
    event = RecordedEvent(400, "order-1", 3, str(target_id), "Placed", "application/json",
                          b"{}", b'{"n":1}', 17)  # fmt: skip
    link = RecordedEvent(900, "$ce-order", 0, str(link_id), "$>", "application/octet-stream",
                         b"", b"3@order-1", 18)  # fmt: skip

    reply = event_reply(ResolvedEvent(event, link), 2, unresolved_link=False, structured_ids=True)

    def wire_id(wire: shared_pb2.UUID) -> uuid.UUID:
        high = wire.structured.most_significant_bits & (2**64 - 1)
        low = wire.structured.least_significant_bits & (2**64 - 1)
        return uuid.UUID(int=(high << 64) | low)

    delivered = reply.event
    assert wire_id(delivered.event.id) == target_id
    assert wire_id(delivered.link.id) == link_id
    assert delivered.event.stream_identifier.stream_name == b"order-1"
    assert delivered.event.stream_revision == 3
    assert delivered.event.metadata["type"] == "Placed"
    assert delivered.event.data == b'{"n":1}'
    assert delivered.event.commit_position == delivered.link.commit_position == 900
    assert delivered.commit_position == 900
    assert delivered.retry_count == 2
