"""Event ids on Append, through raw gRPC stubs: every spelling the server accepts
is stored in canonical lowercase form, and malformed or nil ids are refused with
the server's error, writing nothing (the emulator has a fast path for ids that
are already canonical, so both sides of it are pinned here)."""

from __future__ import annotations

import uuid

import grpc
import pytest
from esdbclient import EventStoreDBClient
from esdbclient.exceptions import NotFound
from esdbclient.protos.Grpc import shared_pb2, streams_pb2, streams_pb2_grpc


def _append(stub: streams_pb2_grpc.StreamsStub, stream: str, dto: shared_pb2.UUID) -> None:
    options = streams_pb2.AppendReq.Options(
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode())
    )
    options.any.SetInParent()
    proposed = streams_pb2.AppendReq.ProposedMessage(
        id=dto, metadata={"type": "Thing", "content-type": "application/json"}, data=b"{}"
    )
    requests = [
        streams_pb2.AppendReq(options=options),
        streams_pb2.AppendReq(proposed_message=proposed),
    ]
    reply = stub.Append(iter(requests), timeout=10)
    assert reply.WhichOneof("result") == "success"


def _stored_ids(client: EventStoreDBClient, stream: str) -> list[str]:
    return [str(event.id) for event in client.get_stream(stream)]


@pytest.mark.parametrize(
    "spelling",
    [
        str,
        lambda u: str(u).upper(),
        lambda u: "{" + str(u) + "}",
        lambda u: u.hex,
        lambda u: u.urn,
    ],
    ids=["canonical", "uppercase", "braced", "no-hyphens", "urn"],
)
def test_every_accepted_spelling_is_stored_in_canonical_form(
    stub: streams_pb2_grpc.StreamsStub,
    client: EventStoreDBClient,
    stream_name: str,
    spelling: object,
) -> None:
    event_id = uuid.uuid4()
    assert callable(spelling)
    _append(stub, stream_name, shared_pb2.UUID(string=spelling(event_id)))

    assert _stored_ids(client, stream_name) == [str(event_id)]


def test_structured_id_is_stored_in_canonical_form(
    stub: streams_pb2_grpc.StreamsStub, client: EventStoreDBClient, stream_name: str
) -> None:
    event_id = uuid.UUID("f0e1d2c3-b4a5-9687-f869-5a4b3c2d1e0f")  # both halves negative
    high, low = event_id.int >> 64, event_id.int & (2**64 - 1)
    assert high >= 2**63
    assert low >= 2**63
    structured = shared_pb2.UUID.Structured(
        most_significant_bits=high - 2**64, least_significant_bits=low - 2**64
    )
    _append(stub, stream_name, shared_pb2.UUID(structured=structured))

    assert _stored_ids(client, stream_name) == [str(event_id)]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("12345678-1234-1234-1234-123456789abc\n", "Unrecognized Guid format"),
        ("12345678-1234-1234-1234-123456789abg", "Unrecognized Guid format"),
        ("12345678-1234-1234-1234-123456789ab", "Unrecognized Guid format"),
        ("", "Unrecognized Guid format"),
        ("00000000-0000-0000-0000-000000000000", "Empty eventId provided"),
        ("{00000000-0000-0000-0000-000000000000}", "Empty eventId provided"),
    ],
)
def test_malformed_or_nil_ids_are_refused_and_nothing_is_written(
    stub: streams_pb2_grpc.StreamsStub,
    client: EventStoreDBClient,
    stream_name: str,
    text: str,
    named: str,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _append(stub, stream_name, shared_pb2.UUID(string=text))

    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    details = caught.value.details() or ""
    assert details.startswith("Exception was thrown by handler.")
    assert named in details
    with pytest.raises(NotFound):
        _stored_ids(client, stream_name)
