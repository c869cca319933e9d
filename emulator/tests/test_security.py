"""Secure mode: TLS, Basic authentication and the bind policy, as EventStoreDB has them.

Every test runs a real emulator process and talks to it through the real esdbclient
(or, for calls esdbclient cannot make, such as anonymous ones, through raw gRPC with
esdbclient's generated stubs).
"""

from __future__ import annotations

import base64
import datetime
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from esdbclient import EventStoreDBClient, NewEvent, StreamState
from esdbclient.events import CaughtUp
from esdbclient.exceptions import GrpcError
from esdbclient.protos.Grpc import (
    gossip_pb2_grpc,
    shared_pb2,
    streams_pb2,
    streams_pb2_grpc,
)
from google.protobuf import empty_pb2

from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.node.server import EmulatorConfig, ThreadedEmulator
from esdb_emulator.node.tls import DEV_CERT_FILE, DEV_KEY_FILE, DevCertificate, load_tls

pytestmark = pytest.mark.emulator_only

DEADLINE = 20.0


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One dev-mode node shared by the tests that do not restart it."""
    folder = tmp_path_factory.mktemp("secure")
    with EmulatorProcess(
        folder / "events.db", tls=True, log_path=folder / "emulator.log", log_level="info"
    ) as process:
        yield process


@pytest.fixture
def client(node: EmulatorProcess) -> Iterator[EventStoreDBClient]:
    es = EventStoreDBClient(node.uri)
    try:
        yield es
    finally:
        es.close()


def new_events(count: int) -> list[NewEvent]:
    return [NewEvent(type="Thing", data=f'{{"n":{n}}}'.encode()) for n in range(count)]


def stream() -> str:
    return f"secure-{uuid.uuid4().hex}"


def with_password(node: EmulatorProcess, user: str, password: str) -> EventStoreDBClient:
    """A client of `node` as `user`/`password`, trusting the node's certificate."""
    host_port = node.uri.split("@", 1)[1].split("?", 1)[0]
    return EventStoreDBClient(
        f"esdb://{user}:{password}@{host_port}", root_certificates=node.root_certificates
    )


def status_of(error: GrpcError) -> grpc.StatusCode:
    rpc_error: Any = error.args[0]
    code: grpc.StatusCode = rpc_error.code()
    return code


# -- TLS round trips through esdbclient ------------------------------------------------


def test_uri_names_tls_credentials_and_the_dev_certificate(node: EmulatorProcess) -> None:
    assert node.uri.startswith(f"esdb://admin:changeit@127.0.0.1:{node.port}?Tls=true")
    assert node.ca_file is not None
    assert f"tlsCaFile={node.ca_file}" in node.uri
    assert node.root_certificates == node.ca_file.read_bytes()


def test_append_and_read_round_trip_over_tls(client: EventStoreDBClient) -> None:
    name = stream()
    written = new_events(3)
    position = client.append_to_stream(
        name, current_version=StreamState.NO_STREAM, events=written, timeout=DEADLINE
    )
    recorded = client.get_stream(name, timeout=DEADLINE)
    assert [e.id for e in recorded] == [e.id for e in written]
    assert [e.data for e in recorded] == [e.data for e in written]
    assert recorded[-1].commit_position == position
    assert client.get_commit_position(timeout=DEADLINE) >= position


def test_certificate_served_is_the_dev_certificate_and_names_localhost(
    node: EmulatorProcess,
) -> None:
    served = ssl.get_server_certificate(("localhost", node.port))
    assert node.root_certificates is not None
    assert x509.load_pem_x509_certificate(served.encode()) == x509.load_pem_x509_certificate(
        node.root_certificates
    )
    cert = x509.load_pem_x509_certificate(node.root_certificates)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=29) < lifetime < datetime.timedelta(days=31)


def test_client_dialling_localhost_with_the_fetched_certificate(node: EmulatorProcess) -> None:
    """What the upstream TLS tests do: trust the certificate the server presents."""
    served = ssl.get_server_certificate(("localhost", node.port))
    es = EventStoreDBClient(
        f"esdb://admin:changeit@localhost:{node.port}", root_certificates=served
    )
    try:
        name = stream()
        es.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1))
        assert len(es.get_stream(name, timeout=DEADLINE)) == 1
    finally:
        es.close()


def test_ops_user_is_authenticated_too(node: EmulatorProcess) -> None:
    """The ops user may write and read back: its append lands at revision 0."""
    es = with_password(node, "ops", "changeit")
    try:
        name = stream()
        position = es.append_to_stream(name, current_version=StreamState.ANY, events=new_events(1))
        assert position > 0
        recorded = es.get_stream(name, timeout=DEADLINE)
        assert [event.stream_position for event in recorded] == [0]
    finally:
        es.close()


@pytest.mark.parametrize(("user", "password"), [("admin", "wrong"), ("nobody", "changeit")])
def test_bad_credentials_are_unauthenticated(
    node: EmulatorProcess, user: str, password: str
) -> None:
    es = with_password(node, user, password)
    try:
        with pytest.raises(GrpcError) as read_error:
            es.get_commit_position(timeout=DEADLINE)
        assert status_of(read_error.value) == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(GrpcError) as append_error:
            es.append_to_stream(stream(), current_version=StreamState.ANY, events=new_events(1))
        assert status_of(append_error.value) == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(GrpcError) as gossip_error:
            es.read_gossip(timeout=DEADLINE)
        assert status_of(gossip_error.value) == grpc.StatusCode.UNAUTHENTICATED
    finally:
        es.close()


def test_persistent_subscription_over_tls(client: EventStoreDBClient) -> None:
    name, group = stream(), f"group-{uuid.uuid4().hex}"
    written = new_events(3)
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=written)
    client.create_subscription_to_stream(group, name, from_end=False, timeout=DEADLINE)
    subscription = client.read_subscription_to_stream(group, name, timeout=DEADLINE)
    received = []
    try:
        for event in subscription:
            subscription.ack(event)
            received.append(event.id)
            if len(received) == len(written):
                break
    finally:
        subscription.stop()
    assert received == [e.id for e in written]
    info = client.get_subscription_info(group, name, timeout=DEADLINE)
    assert info.group_name == group


def test_catch_up_subscription_over_tls_gets_history_then_live_events(
    client: EventStoreDBClient,
) -> None:
    name = stream()
    history, live = new_events(2), new_events(2)
    client.append_to_stream(name, current_version=StreamState.NO_STREAM, events=history)
    received = []
    with client.subscribe_to_stream(name, include_caught_up=True, timeout=DEADLINE) as sub:
        for event in sub:
            if isinstance(event, CaughtUp):
                client.append_to_stream(name, current_version=1, events=live)
                continue
            received.append(event.id)
            if len(received) == 4:
                break
    assert received == [e.id for e in history + live]


def test_gossip_over_tls_and_discovery(node: EmulatorProcess, client: EventStoreDBClient) -> None:
    members = client.read_gossip(timeout=DEADLINE)
    assert [(m.state, m.port) for m in members] == [("NODE_STATE_LEADER", node.port)]
    target = f"127.0.0.1:{node.port}"
    discovering = EventStoreDBClient(
        f"esdb://admin:changeit@{target},{target}?MaxDiscoverAttempts=2",
        root_certificates=node.root_certificates,
    )
    try:
        assert discovering.connection_target == target
        discovering.get_commit_position(timeout=DEADLINE)
    finally:
        discovering.close()


# -- anonymous calls (esdbclient always sends credentials over TLS, so raw gRPC) ----------


@pytest.fixture
def anonymous_channel(node: EmulatorProcess) -> Iterator[grpc.Channel]:
    credentials = grpc.ssl_channel_credentials(root_certificates=node.root_certificates)
    channel = grpc.secure_channel(f"localhost:{node.port}", credentials)
    try:
        yield channel
    finally:
        channel.close()


def test_anonymous_gossip_is_allowed(anonymous_channel: grpc.Channel) -> None:
    gossip: Any = gossip_pb2_grpc.GossipStub(anonymous_channel)  # type: ignore[no-untyped-call]
    info = gossip.Read(shared_pb2.Empty(), timeout=DEADLINE)
    assert len(info.members) == 1


def test_anonymous_reads_are_access_denied(anonymous_channel: grpc.Channel) -> None:
    streams: Any = streams_pb2_grpc.StreamsStub(anonymous_channel)  # type: ignore[no-untyped-call]
    options = streams_pb2.ReadReq.Options
    request = streams_pb2.ReadReq(
        options=options(
            all=options.AllOptions(start=shared_pb2.Empty()),
            count=1,
            no_filter=shared_pb2.Empty(),
            uuid_option=options.UUIDOption(string=shared_pb2.Empty()),
        )
    )
    with pytest.raises(grpc.RpcError) as denied:
        list(streams.Read(request, timeout=DEADLINE))
    error: Any = denied.value
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "Access Denied"
    assert ("exception", "access-denied") in [tuple(m) for m in error.trailing_metadata()]


def test_anonymous_batch_append_gets_access_denied_in_its_reply(
    anonymous_channel: grpc.Channel,
) -> None:
    streams: Any = streams_pb2_grpc.StreamsStub(anonymous_channel)  # type: ignore[no-untyped-call]
    name = stream()
    request = streams_pb2.BatchAppendReq(
        correlation_id=shared_pb2.UUID(string=str(uuid.uuid4())),
        options=streams_pb2.BatchAppendReq.Options(
            stream_identifier=shared_pb2.StreamIdentifier(stream_name=name.encode()),
            any=empty_pb2.Empty(),
        ),
        is_final=True,
    )
    call = streams.BatchAppend(iter([request]), timeout=DEADLINE)
    reply = next(call)
    call.cancel()
    assert reply.correlation_id == request.correlation_id
    assert reply.error.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert reply.error.details.Is(shared_pb2.AccessDenied.DESCRIPTOR)
    assert reply.error.message == "Access Denied"


# -- processes of their own ------------------------------------------------------------


def run_cli(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esdb_emulator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_refuses_a_non_loopback_address_without_tls() -> None:
    result = run_cli("--memory", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "esdb-emulator ready" not in result.stdout
    message = result.stderr
    assert "refusing to bind 0.0.0.0:0 without TLS" in message
    assert "--tls-cert PATH --tls-key PATH" in message
    assert "--dev" in message
    assert "--insecure" in message


def test_insecure_flag_serves_a_wildcard_address(tmp_path: Path) -> None:
    with EmulatorProcess(None, host="0.0.0.0", insecure=True, log_path=tmp_path / "e.log") as n:
        assert n.uri == f"esdb://127.0.0.1:{n.port}?Tls=false"
        es = EventStoreDBClient(n.uri)
        try:
            name = stream()
            es.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(2))
            assert len(es.get_stream(name, timeout=DEADLINE)) == 2
        finally:
            es.close()


def test_dev_certificate_persists_across_restart(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    process = EmulatorProcess(
        tmp_path / "events.db", tls=True, dev_cert_dir=certs, log_path=tmp_path / "e.log"
    )
    with process:
        first = (certs / DEV_CERT_FILE).read_bytes()
        trusted = process.root_certificates
        name = stream()
        es = EventStoreDBClient(process.uri)
        try:
            es.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(1))
        finally:
            es.close()
        process.restart()
        assert (certs / DEV_CERT_FILE).read_bytes() == first
        assert ssl.get_server_certificate(("127.0.0.1", process.port)).encode() == first
        # A client that trusted the certificate before the restart still connects.
        again = EventStoreDBClient(
            f"esdb://admin:changeit@127.0.0.1:{process.port}", root_certificates=trusted
        )
        try:
            assert len(again.get_stream(name, timeout=DEADLINE)) == 1
        finally:
            again.close()
    assert (certs / DEV_KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_operator_certificate_and_admin_password_from_environment(tmp_path: Path) -> None:
    """`--tls-cert/--tls-key` files; EVENTSTORE_DEFAULT_ADMIN_PASSWORD; no secret logged."""
    material = load_tls(DevCertificate(tmp_path / "operator"))
    assert material.ca_file is not None
    secret = f"s3cret-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "e.log"
    with EmulatorProcess(
        None,
        tls_cert=material.ca_file,
        tls_key=tmp_path / "operator" / DEV_KEY_FILE,
        admin_password=secret,
        log_path=log,
        log_level="debug",
    ) as process:
        assert process.uri.startswith(f"esdb://admin:{secret}@")
        es = EventStoreDBClient(process.uri)
        stale = with_password(process, "admin", "changeit")
        try:
            es.append_to_stream(stream(), current_version=StreamState.ANY, events=new_events(1))
            with pytest.raises(GrpcError) as error:
                stale.get_commit_position(timeout=DEADLINE)
            assert status_of(error.value) == grpc.StatusCode.UNAUTHENTICATED
        finally:
            es.close()
            stale.close()
    logged = log.read_text()
    assert "auth.rejected" in logged
    for secret_text in (secret, "changeit", base64.b64encode(b"admin:changeit").decode()):
        assert secret_text not in logged
    assert base64.b64encode(f"admin:{secret}".encode()).decode() not in logged


def test_refuses_a_key_that_does_not_match_the_certificate(tmp_path: Path) -> None:
    one = load_tls(DevCertificate(tmp_path / "one"))
    load_tls(DevCertificate(tmp_path / "two"))
    assert one.ca_file is not None
    other_key = tmp_path / "two" / DEV_KEY_FILE
    result = run_cli(
        "--memory", "--tls-cert", str(one.ca_file), "--tls-key", str(other_key), "--port", "0"
    )
    assert result.returncode == 2
    assert f"{other_key} is not the private key of {one.ca_file}" in result.stderr


def test_threaded_emulator_in_secure_mode(tmp_path: Path) -> None:
    config = EmulatorConfig(None, port=0, tls=DevCertificate(tmp_path), users={"app": "pw-1"})
    with ThreadedEmulator(config) as emulator:
        assert emulator.server.uri.endswith(f"&tlsCaFile={tmp_path / DEV_CERT_FILE}")
        assert "pw-1" not in emulator.server.uri
        with pytest.raises(KeyError):
            emulator.server.client_uri("admin")
        es = EventStoreDBClient(emulator.server.client_uri("app"))
        try:
            name = stream()
            es.append_to_stream(name, current_version=StreamState.NO_STREAM, events=new_events(1))
            assert len(es.get_stream(name, timeout=DEADLINE)) == 1
        finally:
            es.close()


# -- the dev certificate's life (no server) ----------------------------------------------


def test_dev_certificate_is_kept_while_valid_and_remade_for_a_new_host(tmp_path: Path) -> None:
    first = load_tls(DevCertificate(tmp_path))
    assert load_tls(DevCertificate(tmp_path)).cert_pem == first.cert_pem
    wider = load_tls(DevCertificate(tmp_path, extra_hosts=("emulator.internal",)))
    assert wider.cert_pem != first.cert_pem
    cert = x509.load_pem_x509_certificate(wider.cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "emulator.internal" in names.get_values_for_type(x509.DNSName)
    assert (tmp_path / DEV_CERT_FILE).read_bytes() == wider.cert_pem


def test_unreadable_dev_certificate_is_replaced(tmp_path: Path) -> None:
    load_tls(DevCertificate(tmp_path))
    (tmp_path / DEV_CERT_FILE).write_text("not a certificate")
    replaced = load_tls(DevCertificate(tmp_path))
    assert x509.load_pem_x509_certificate(replaced.cert_pem)
    assert (tmp_path / DEV_CERT_FILE).read_bytes() == replaced.cert_pem
