"""Wire contract of the `Streams` service, through raw gRPC stubs.

Each test pins one reply shape, status code, error text or trailer from
`docs/esdb-protocol.md` sections 1.3-1.6 and 1.9 that esdbclient parses (often by
substring), so a change that would make the client raise a different exception
shows up here first. Runs against `ESDB_URI` too, to compare with a real server.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Sequence

import grpc
import pytest
from esdbclient.protos.Grpc import shared_pb2, streams_pb2, streams_pb2_grpc
from google.protobuf import duration_pb2, empty_pb2

MAX_APPEND_SIZE = 1_048_576
UINT64_MAX = 2**64 - 1


# -- request builders ---------------------------------------------------------------


def identifier(stream: str) -> shared_pb2.StreamIdentifier:
    return shared_pb2.StreamIdentifier(stream_name=stream.encode())


def message(
    event_type: str = "Thing",
    data: bytes = b"{}",
    event_id: str | None = None,
    content_type: str = "application/json",
) -> streams_pb2.AppendReq.ProposedMessage:
    return streams_pb2.AppendReq.ProposedMessage(
        id=shared_pb2.UUID(string=event_id or str(uuid.uuid4())),
        metadata={"type": event_type, "content-type": content_type},
        custom_metadata=b"",
        data=data,
    )


def append_requests(
    stream: str, expected: int | str, messages: Sequence[streams_pb2.AppendReq.ProposedMessage]
) -> list[streams_pb2.AppendReq]:
    options = streams_pb2.AppendReq.Options(stream_identifier=identifier(stream))
    if isinstance(expected, int):
        options.revision = expected
    elif expected:
        getattr(options, expected).SetInParent()
    requests = [streams_pb2.AppendReq(options=options)]
    requests += [streams_pb2.AppendReq(proposed_message=m) for m in messages]
    return requests


def append(
    stub: streams_pb2_grpc.StreamsStub,
    stream: str,
    expected: int | str,
    messages: Sequence[streams_pb2.AppendReq.ProposedMessage] = (),
) -> streams_pb2.AppendResp:
    reply: streams_pb2.AppendResp = stub.Append(
        iter(append_requests(stream, expected, messages or [message()])), timeout=10
    )
    return reply


def batch_request(
    stream: str,
    expected: int | str,
    messages: Sequence[streams_pb2.AppendReq.ProposedMessage],
    *,
    correlation_id: str | None = None,
    is_final: bool = True,
    deadline: float = 10.0,
    with_options: bool = True,
) -> streams_pb2.BatchAppendReq:
    request = streams_pb2.BatchAppendReq(
        correlation_id=shared_pb2.UUID(string=correlation_id or str(uuid.uuid4())),
        proposed_messages=[
            streams_pb2.BatchAppendReq.ProposedMessage(
                id=m.id, metadata=m.metadata, custom_metadata=m.custom_metadata, data=m.data
            )
            for m in messages
        ],
        is_final=is_final,
    )
    if with_options:
        options = request.options
        options.stream_identifier.CopyFrom(identifier(stream))
        seconds = int(deadline)
        options.deadline.CopyFrom(
            duration_pb2.Duration(seconds=seconds, nanos=int((deadline - seconds) * 1e9))
        )
        if isinstance(expected, int):
            options.stream_position = expected
        else:
            getattr(options, expected).CopyFrom(empty_pb2.Empty())
    return request


def batch_append(
    stub: streams_pb2_grpc.StreamsStub, *requests: streams_pb2.BatchAppendReq
) -> list[streams_pb2.BatchAppendResp]:
    return list(stub.BatchAppend(iter(requests), timeout=10))


def read_request(
    stream: str | None = None,
    *,
    revision: int | None = None,
    backwards: bool = False,
    count: int = 1000,
    subscribe: bool = False,
    filter_regex: str | None = None,
    structured: bool = False,
) -> streams_pb2.ReadReq:
    options = streams_pb2.ReadReq.Options(
        read_direction=streams_pb2.ReadReq.Options.Backwards
        if backwards
        else streams_pb2.ReadReq.Options.Forwards
    )
    if stream is not None:
        options.stream.stream_identifier.CopyFrom(identifier(stream))
        if revision is not None:
            options.stream.revision = revision
        else:
            (options.stream.end if backwards else options.stream.start).SetInParent()
    else:
        (options.all.end if backwards else options.all.start).SetInParent()
    if subscribe:
        options.subscription.SetInParent()
    else:
        options.count = count
    if filter_regex is not None:
        options.filter.event_type.regex = filter_regex
        options.filter.max = 1
        options.filter.checkpointIntervalMultiplier = 1
    else:
        options.no_filter.SetInParent()
    (options.uuid_option.structured if structured else options.uuid_option.string).SetInParent()
    return streams_pb2.ReadReq(options=options)


def read(
    stub: streams_pb2_grpc.StreamsStub, request: streams_pb2.ReadReq
) -> list[streams_pb2.ReadResp]:
    return list(stub.Read(request, timeout=10))


def events_of(stub: streams_pb2_grpc.StreamsStub, stream: str) -> list[streams_pb2.ReadResp]:
    return [r for r in read(stub, read_request(stream)) if r.WhichOneof("content") == "event"]


def delete_request(stream: str, expected: int | str) -> streams_pb2.DeleteReq:
    options = streams_pb2.DeleteReq.Options(stream_identifier=identifier(stream))
    if isinstance(expected, int):
        options.revision = expected
    else:
        getattr(options, expected).SetInParent()
    return streams_pb2.DeleteReq(options=options)


def tombstone_request(stream: str, expected: int | str) -> streams_pb2.TombstoneReq:
    options = streams_pb2.TombstoneReq.Options(stream_identifier=identifier(stream))
    if isinstance(expected, int):
        options.revision = expected
    else:
        getattr(options, expected).SetInParent()
    return streams_pb2.TombstoneReq(options=options)


def trailers(error: grpc.RpcError) -> dict[str, str]:
    assert isinstance(error, grpc.Call)
    return {str(item.key): str(item.value) for item in error.trailing_metadata() or ()}


def assert_nothing_written(stub: streams_pb2_grpc.StreamsStub, stream: str) -> None:
    replies = read(stub, read_request(stream))
    assert [r.WhichOneof("content") for r in replies] == ["stream_not_found"]


# -- Append --------------------------------------------------------------------------


def test_append_success_carries_revision_and_equal_commit_and_prepare_positions(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    first = append(stub, stream_name, "no_stream", [message(), message()])
    second = append(stub, stream_name, 1)

    assert first.WhichOneof("result") == "success"
    assert first.success.current_revision == 1
    assert first.success.position.commit_position == first.success.position.prepare_position
    assert second.success.current_revision == 2
    assert second.success.position.commit_position > first.success.position.commit_position


def test_append_wrong_expected_version_on_missing_stream_is_a_reply_with_current_no_stream(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    reply = append(stub, stream_name, 5)

    assert reply.WhichOneof("result") == "wrong_expected_version"
    wev = reply.wrong_expected_version
    assert wev.WhichOneof("current_revision_option") == "current_no_stream"
    assert wev.WhichOneof("current_revision_option_20_6_0") == "no_stream_20_6_0"
    assert wev.expected_revision == 5
    assert wev.expected_revision_20_6_0 == 5


def test_append_wrong_expected_version_reports_current_revision_and_expected_no_stream(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    append(stub, stream_name, "no_stream")

    wev = append(stub, stream_name, "no_stream").wrong_expected_version

    assert wev.current_revision == 0
    assert wev.current_revision_20_6_0 == 0
    assert wev.WhichOneof("expected_revision_option") == "expected_no_stream"
    assert wev.expected_revision_20_6_0 == UINT64_MAX


def test_append_wrong_expected_version_for_stream_exists(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    wev = append(stub, stream_name, "stream_exists").wrong_expected_version

    assert wev.WhichOneof("current_revision_option") == "current_no_stream"
    assert wev.WhichOneof("expected_revision_option") == "expected_stream_exists"
    assert wev.WhichOneof("expected_revision_option_20_6_0") == "stream_exists_20_6_0"
    assert_nothing_written(stub, stream_name)


def test_append_to_tombstoned_stream_is_failed_precondition_with_stream_deleted_trailer(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    stub.Tombstone(tombstone_request(stream_name, "any"), timeout=10)

    with pytest.raises(grpc.RpcError) as caught:
        append(stub, stream_name, "any")

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == f"Event stream '{stream_name}' is deleted."
    assert trailers(caught.value)["exception"] == "stream-deleted"


def test_append_over_the_maximum_size_is_invalid_argument_and_writes_nothing(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    half = b"x" * (MAX_APPEND_SIZE // 2)

    with pytest.raises(grpc.RpcError) as caught:
        append(stub, stream_name, "any", [message(data=half), message(data=half)])

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == f"Maximum Append Size of {MAX_APPEND_SIZE} Exceeded."
    assert trailers(caught.value)["exception"] == "maximum-append-size-exceeded"
    assert trailers(caught.value)["maximum-append-size"] == str(MAX_APPEND_SIZE)
    assert_nothing_written(stub, stream_name)


def test_append_just_under_the_maximum_size_succeeds(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    # data + metadata + the type at two bytes a character is what counts.
    data = b"x" * (MAX_APPEND_SIZE - 2 * len("Thing"))

    reply = append(stub, stream_name, "no_stream", [message(data=data)])

    assert reply.WhichOneof("result") == "success"


def test_append_without_expected_revision_is_invalid_argument_and_writes_nothing(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        append(stub, stream_name, "")

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "is not a valid" in (caught.value.details() or "")
    assert "ExpectedStreamRevisionOneofCase" in (caught.value.details() or "")
    assert_nothing_written(stub, stream_name)


def test_append_with_malformed_event_id_fails_naming_the_id_and_writes_nothing(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        append(stub, stream_name, "any", [message(), message(event_id="not-a-uuid")])

    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert (caught.value.details() or "").startswith("Exception was thrown by handler.")
    assert "not-a-uuid" in (caught.value.details() or "")
    assert_nothing_written(stub, stream_name)


def test_append_without_options_first_fails_and_writes_nothing(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    requests = append_requests(stream_name, "any", [message()])[1:]

    with pytest.raises(grpc.RpcError) as caught:
        stub.Append(iter(requests), timeout=10)

    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert "options" in (caught.value.details() or "")
    assert_nothing_written(stub, stream_name)


def test_append_without_event_type_metadata_is_invalid_argument(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    untyped = message()
    del untyped.metadata["type"]

    with pytest.raises(grpc.RpcError) as caught:
        append(stub, stream_name, "any", [untyped])

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "Required Metadata Property 'type' is missing"
    assert_nothing_written(stub, stream_name)


def test_content_type_other_than_json_reads_back_as_octet_stream(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    append(stub, stream_name, "no_stream", [message(content_type="text/plain"), message()])

    types = [e.event.event.metadata["content-type"] for e in events_of(stub, stream_name)]

    assert types == ["application/octet-stream", "application/json"]


# -- BatchAppend ---------------------------------------------------------------------


def test_batch_append_success_echoes_correlation_id_and_stream(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    cid = str(uuid.uuid4())

    [reply] = batch_append(
        stub, batch_request(stream_name, "no_stream", [message(), message()], correlation_id=cid)
    )

    assert reply.correlation_id.string == cid
    assert reply.stream_identifier.stream_name == stream_name.encode()
    assert reply.WhichOneof("result") == "success"
    assert reply.success.current_revision == 1
    assert reply.success.position.commit_position == reply.success.position.prepare_position
    last = events_of(stub, stream_name)[-1]
    assert last.event.commit_position == reply.success.position.commit_position


def test_batch_append_wrong_expected_version_is_an_error_with_packed_details(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    [missing] = batch_append(stub, batch_request(stream_name, 3, [message()]))
    batch_append(stub, batch_request(stream_name, "no_stream", [message()]))
    [existing] = batch_append(stub, batch_request(stream_name, "no_stream", [message()]))

    assert missing.WhichOneof("result") == "error"
    assert missing.error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert missing.error.details.type_url.endswith("event_store.client.WrongExpectedVersion")
    details = shared_pb2.WrongExpectedVersion()
    missing.error.details.Unpack(details)
    assert details.WhichOneof("current_stream_revision_option") == "current_no_stream"
    assert details.expected_stream_position == 3
    existing.error.details.Unpack(details)
    assert details.current_stream_revision == 0
    assert details.WhichOneof("expected_stream_position_option") == "expected_no_stream"


def test_batch_append_to_tombstoned_stream_reports_stream_deleted(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    stub.Tombstone(tombstone_request(stream_name, "any"), timeout=10)

    [reply] = batch_append(stub, batch_request(stream_name, "any", [message()]))

    assert reply.error.details.type_url.endswith("event_store.client.StreamDeleted")
    deleted = shared_pb2.StreamDeleted()
    reply.error.details.Unpack(deleted)
    assert deleted.stream_identifier.stream_name == stream_name.encode()


def test_batch_append_over_the_maximum_size_reports_it_and_writes_nothing(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    half = b"x" * (MAX_APPEND_SIZE // 2)

    [reply] = batch_append(
        stub, batch_request(stream_name, "any", [message(data=half), message(data=half)])
    )

    size = shared_pb2.MaximumAppendSizeExceeded()
    assert reply.error.details.Unpack(size)
    assert size.maxAppendSize == MAX_APPEND_SIZE
    assert_nothing_written(stub, stream_name)


def test_batch_append_with_zero_deadline_times_out_and_writes_nothing(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    [reply] = batch_append(stub, batch_request(stream_name, "any", [message()], deadline=0))

    assert reply.error.details.type_url.endswith("event_store.client.Timeout")
    assert_nothing_written(stub, stream_name)


def test_batch_append_joins_requests_of_one_correlation_id_until_final(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    cid = str(uuid.uuid4())
    first = batch_request(stream_name, "no_stream", [message()], correlation_id=cid, is_final=False)
    rest = batch_request(
        stream_name, "no_stream", [message(), message()], correlation_id=cid, with_options=False
    )

    [reply] = batch_append(stub, first, rest)

    assert reply.success.current_revision == 2
    assert len(events_of(stub, stream_name)) == 3


def test_batch_append_answers_several_correlation_ids_on_one_call(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    ok, conflict = str(uuid.uuid4()), str(uuid.uuid4())
    other = f"{stream_name}-other"

    replies = batch_append(
        stub,
        batch_request(stream_name, "no_stream", [message()], correlation_id=ok),
        batch_request(other, 7, [message()], correlation_id=conflict),
    )

    by_cid = {r.correlation_id.string: r for r in replies}
    assert set(by_cid) == {ok, conflict}
    assert by_cid[ok].WhichOneof("result") == "success"
    assert by_cid[conflict].error.details.type_url.endswith("WrongExpectedVersion")
    assert by_cid[conflict].stream_identifier.stream_name == other.encode()


def test_batch_append_with_malformed_event_id_is_a_bad_request_and_writes_nothing(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    [reply] = batch_append(
        stub, batch_request(stream_name, "any", [message(), message(event_id="nope")])
    )

    bad = shared_pb2.BadRequest()
    assert reply.error.details.Unpack(bad)
    assert "nope" in bad.message
    assert_nothing_written(stub, stream_name)


def test_batch_append_without_expected_revision_is_a_bad_request(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    request = batch_request(stream_name, "any", [message()])
    request.options.ClearField("any")

    [reply] = batch_append(stub, request)

    bad = shared_pb2.BadRequest()
    assert reply.error.details.Unpack(bad)
    assert "ExpectedStreamPositionOneofCase" in bad.message
    assert_nothing_written(stub, stream_name)


def test_batch_append_unfinished_batch_times_out_at_its_deadline(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    requests: queue.Queue[streams_pb2.BatchAppendReq | None] = queue.Queue()
    requests.put(batch_request(stream_name, "any", [message()], is_final=False, deadline=0.3))
    replies = stub.BatchAppend(iter(requests.get, None), timeout=10)

    reply = next(replies)
    requests.put(None)

    assert reply.error.details.type_url.endswith("event_store.client.Timeout")
    assert_nothing_written(stub, stream_name)


# -- Read ----------------------------------------------------------------------------


def test_read_event_carries_string_id_metadata_and_positions(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    event_id = str(uuid.uuid4())
    position = append(stub, stream_name, "no_stream", [message("Made", b'{"a":1}', event_id)])

    [reply] = read(stub, read_request(stream_name))

    event = reply.event
    assert event.event.id.string == event_id
    assert event.event.stream_identifier.stream_name == stream_name.encode()
    assert event.event.stream_revision == 0
    assert event.event.metadata["type"] == "Made"
    assert event.event.metadata["content-type"] == "application/json"
    assert int(event.event.metadata["created"]) > 16_000_000_000_000_000  # ticks, after 2020
    assert event.event.data == b'{"a":1}'
    assert event.WhichOneof("position") == "commit_position"
    assert event.commit_position == position.success.position.commit_position
    assert event.event.commit_position == event.event.prepare_position == event.commit_position
    assert not event.HasField("link")


def test_read_with_structured_uuid_option_sends_structured_ids(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    event_id = uuid.uuid4()
    append(stub, stream_name, "no_stream", [message(event_id=str(event_id))])

    [reply] = read(stub, read_request(stream_name, structured=True))

    structured = reply.event.event.id.structured
    high = structured.most_significant_bits & (2**64 - 1)
    low = structured.least_significant_bits & (2**64 - 1)
    assert uuid.UUID(int=(high << 64) | low) == event_id


def test_read_missing_stream_sends_a_single_stream_not_found(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    replies = read(stub, read_request(stream_name))

    assert len(replies) == 1
    assert replies[0].stream_not_found.stream_identifier.stream_name == stream_name.encode()


def test_read_tombstoned_stream_is_failed_precondition_is_deleted(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    append(stub, stream_name, "no_stream")
    stub.Tombstone(tombstone_request(stream_name, 0), timeout=10)

    with pytest.raises(grpc.RpcError) as caught:
        read(stub, read_request(stream_name))

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is deleted" in (caught.value.details() or "")


def test_read_with_invalid_filter_regex_fails_before_sending_anything(
    stub: streams_pb2_grpc.StreamsStub,
) -> None:
    received: list[streams_pb2.ReadResp] = []

    with pytest.raises(grpc.RpcError) as caught:
        received.extend(stub.Read(read_request(filter_regex="(unclosed"), timeout=10))

    assert received == []
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert (caught.value.details() or "").startswith("Exception was thrown by handler.")
    assert "(unclosed" in (caught.value.details() or "")


def test_stream_name_prefix_filter_selects_by_prefix(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    append(stub, f"{stream_name}-a", "no_stream")
    append(stub, f"other-{stream_name}", "no_stream")
    append(stub, f"{stream_name}-b", "no_stream")
    request = read_request(backwards=True, count=2)
    request.options.filter.stream_identifier.prefix.append(stream_name)
    request.options.filter.max = 10

    replies = read(stub, request)

    names = [r.event.event.stream_identifier.stream_name.decode() for r in replies]
    assert names == [f"{stream_name}-b", f"{stream_name}-a"]


def test_filtered_reads_hide_the_all_persistent_subscription_streams(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    hidden = f"$persistentsubscription-$all::{stream_name}-checkpoint"
    shown = f"$persistentsubscription-{stream_name}::group-checkpoint"
    append(stub, hidden, "no_stream")
    append(stub, shown, "no_stream")
    filtered = read_request(backwards=True, count=1000, filter_regex=".*")
    filtered.options.filter.ClearField("event_type")
    filtered.options.filter.stream_identifier.regex = f"::.*{stream_name}|{stream_name}::"

    seen_filtered = {
        r.event.event.stream_identifier.stream_name.decode() for r in read(stub, filtered)
    }
    seen_all = {
        r.event.event.stream_identifier.stream_name.decode()
        for r in read(stub, read_request(backwards=True, count=10))
    }

    assert seen_filtered == {shown}
    assert {hidden, shown} <= seen_all


def test_read_without_uuid_option_is_invalid_argument(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    request = read_request(stream_name)
    request.options.ClearField("uuid_option")

    with pytest.raises(grpc.RpcError) as caught:
        read(stub, request)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "uuidOption" in (caught.value.details() or "")


def test_read_of_a_stream_with_a_filter_is_an_invalid_combination(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    request = read_request(stream_name, filter_regex=".*")

    with pytest.raises(grpc.RpcError) as caught:
        read(stub, request)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        caught.value.details() == "The combination of (Stream, Count, Forwards, Filter) is invalid."
    )


def test_backwards_subscription_is_an_invalid_combination(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        read(stub, read_request(stream_name, backwards=True, subscribe=True))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "(Stream, Subscription, Backwards, NoFilter)" in (caught.value.details() or "")


def test_unknown_read_direction_is_an_invalid_combination(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    request = read_request(stream_name)
    request.options.read_direction = 7  # type: ignore[assignment]

    with pytest.raises(grpc.RpcError) as caught:
        read(stub, request)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "(Stream, Count, 7, NoFilter)" in (caught.value.details() or "")


def test_stream_subscription_sends_confirmation_then_history_then_caught_up(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    append(stub, stream_name, "no_stream", [message(), message()])

    call = stub.Read(read_request(stream_name, subscribe=True), timeout=10)
    try:
        kinds = [next(call).WhichOneof("content") for _ in range(4)]
    finally:
        call.cancel()

    assert kinds == ["confirmation", "event", "event", "caught_up"]


def test_filtered_all_subscription_checkpoints_although_nothing_matches(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    append(stub, stream_name, "no_stream")
    [newest] = read(stub, read_request(backwards=True, count=1))

    call = stub.Read(read_request(subscribe=True, filter_regex="^(?!(.*$))"), timeout=10)
    try:
        first = next(call)
        second = next(call)
    finally:
        call.cancel()

    assert first.WhichOneof("content") == "confirmation"
    assert second.WhichOneof("content") == "checkpoint"
    assert 0 < second.checkpoint.commit_position <= newest.event.commit_position
    assert second.checkpoint.prepare_position == second.checkpoint.commit_position


# -- Delete / Tombstone ------------------------------------------------------------------


def test_delete_reply_carries_a_position(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    appended = append(stub, stream_name, "no_stream")

    reply = stub.Delete(delete_request(stream_name, 0), timeout=10)

    assert reply.WhichOneof("position_option") == "position"
    assert reply.position.commit_position > appended.success.position.commit_position


def test_delete_of_missing_stream_is_wrong_expected_version_with_actual_minus_one(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Delete(delete_request(stream_name, 5), timeout=10)

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == (
        f"Delete failed due to WrongExpectedVersion. Stream: {stream_name}, "
        "Expected version: 5, Actual version: -1"
    )
    assert trailers(caught.value)["exception"] == "wrong-expected-version"


def test_tombstone_with_wrong_revision_reports_the_actual_version(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    append(stub, stream_name, "no_stream", [message(), message()])

    with pytest.raises(grpc.RpcError) as caught:
        stub.Tombstone(tombstone_request(stream_name, "no_stream"), timeout=10)

    assert caught.value.details() == (
        f"Delete failed due to WrongExpectedVersion. Stream: {stream_name}, "
        "Expected version: -1, Actual version: 1"
    )


def test_tombstone_twice_is_failed_precondition_is_deleted(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    reply = stub.Tombstone(tombstone_request(stream_name, "any"), timeout=10)

    with pytest.raises(grpc.RpcError) as caught:
        stub.Tombstone(tombstone_request(stream_name, "any"), timeout=10)

    assert reply.position.commit_position > 0
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == f"Event stream '{stream_name}' is deleted."


def test_delete_without_expected_revision_is_invalid_argument(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Delete(
            streams_pb2.DeleteReq(
                options=streams_pb2.DeleteReq.Options(stream_identifier=identifier(stream_name))
            ),
            timeout=10,
        )

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "DeleteReq" in (caught.value.details() or "")


def test_server_keeps_serving_after_bad_requests(
    stub: streams_pb2_grpc.StreamsStub, stream_name: str
) -> None:
    for _ in range(3):
        with pytest.raises(grpc.RpcError):
            append(stub, stream_name, "any", [message(event_id="bad")])

    assert append(stub, stream_name, "no_stream").WhichOneof("result") == "success"
