"""Basic authentication of a secure node, as EventStoreDB 24.10 answers it over gRPC.

- A call with `authorization: Basic base64(user:password)` naming a known user and
  its password runs as that user; any other Basic credentials end the call with
  UNAUTHENTICATED "Unauthenticated", before the handler runs.
- A call without Basic credentials is anonymous. Anonymous stream and endpoint
  access are off by default (`AllowAnonymousStreamAccess`,
  `AllowAnonymousEndpointAccess`), but gossip stays open
  (`OverrideAnonymousEndpointAccessForGossip=true`): anonymous calls other than
  `Gossip.Read` get PERMISSION_DENIED "Access Denied" (for BatchAppend, the
  AccessDenied error inside each reply, as the server sends it).
- Authenticated users may do everything: stream ACLs and roles are not enforced.

Users are `admin` and `ops` with password `changeit`, or the passwords in
`EVENTSTORE_DEFAULT_ADMIN_PASSWORD` / `EVENTSTORE_DEFAULT_OPS_PASSWORD`. Passwords and
the authorization header are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import grpc
import structlog
from esdbclient.protos.Grpc import code_pb2, shared_pb2, status_pb2, streams_pb2
from google.protobuf import any_pb2

_log = structlog.get_logger("esdb_emulator.node.auth")

DEFAULT_PASSWORD = "changeit"  # noqa: S105 - EventStoreDB's published default
PASSWORD_ENV = {
    "admin": "EVENTSTORE_DEFAULT_ADMIN_PASSWORD",
    "ops": "EVENTSTORE_DEFAULT_OPS_PASSWORD",
}
ANONYMOUS_METHODS = frozenset({"/event_store.client.gossip.Gossip/Read"})
_BATCH_APPEND = "/event_store.client.streams.Streams/BatchAppend"
_ACCESS_DENIED_METADATA = (("exception", "access-denied"),)
_CACHE_LIMIT = 64

if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
    _Handler = grpc.RpcMethodHandler[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor
    _Handler = grpc.RpcMethodHandler
_Context = grpc.aio.ServicerContext[Any, Any]


def default_users(environ: Mapping[str, str]) -> dict[str, str]:
    """`admin` and `ops` with their initial passwords: from the environment, else changeit."""
    return {
        user: environ.get(variable) or DEFAULT_PASSWORD for user, variable in PASSWORD_ENV.items()
    }


class BasicAuthInterceptor(_Interceptor):
    """Checks every call's Basic credentials against `users` (name -> password)."""

    def __init__(self, users: Mapping[str, str]) -> None:
        if not users:
            raise ValueError("a secure node needs at least one user")
        self._users = {name: password.encode() for name, password in users.items()}
        self._accepted: set[str] = set()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler:
        """Run the call, or replace its handler with the server's refusal."""
        handler = await continuation(handler_call_details)
        if handler is None:  # no such method: gRPC answers UNIMPLEMENTED
            return handler
        header = _authorization(handler_call_details.invocation_metadata)
        method = handler_call_details.method
        if header is None or not header.startswith("Basic "):
            if method in ANONYMOUS_METHODS:
                return handler
            return _refusing(handler, method, _deny_anonymous)
        if header in self._accepted or self._check(header, method):
            return handler
        return _refusing(handler, method, _unauthenticated)

    def _check(self, header: str, method: str) -> bool:
        """True for a known user's password; remembers accepted headers to skip the work."""
        credentials = _decode_basic(header[len("Basic ") :])
        if credentials is None:
            _log.warning("auth.rejected", method=method, reason="malformed basic credentials")
            return False
        user, password = credentials
        expected = self._users.get(user)
        # Compare even for an unknown user, so timing does not tell which users exist.
        matches = hmac.compare_digest(password, expected or b"\0" * len(password))
        if expected is None or not matches:
            known = user if expected is not None else None
            _log.warning("auth.rejected", method=method, user=known, reason="bad credentials")
            return False
        if len(self._accepted) >= _CACHE_LIMIT:
            self._accepted.clear()
        self._accepted.add(header)
        return True


def _authorization(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def _decode_basic(encoded: str) -> tuple[str, bytes] | None:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


async def _unauthenticated(context: _Context) -> NoReturn:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "Unauthenticated")


async def _deny_anonymous(context: _Context) -> NoReturn:
    await context.abort(grpc.StatusCode.PERMISSION_DENIED, "Access Denied", _ACCESS_DENIED_METADATA)


def _refusing(
    handler: _Handler, method: str, refuse: Callable[[_Context], Awaitable[NoReturn]]
) -> _Handler:
    """A handler of the same shape as `handler` that only ends the call with `refuse`."""
    if method == _BATCH_APPEND and refuse is _deny_anonymous:
        return grpc.stream_stream_rpc_method_handler(
            _batch_append_access_denied,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    async def behaviour(_request: object, context: _Context) -> NoReturn:
        await refuse(context)

    shape = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    return shape(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


async def _batch_append_access_denied(
    requests: AsyncIterator[streams_pb2.BatchAppendReq], _context: _Context
) -> AsyncIterator[streams_pb2.BatchAppendResp]:
    """Answer each append's options with AccessDenied, as the server's BatchAppend does."""
    async for request in requests:
        if not request.HasField("options"):
            continue
        details = any_pb2.Any()
        details.Pack(shared_pb2.AccessDenied())
        yield streams_pb2.BatchAppendResp(
            correlation_id=request.correlation_id,
            stream_identifier=request.options.stream_identifier,
            error=status_pb2.Status(
                code=code_pb2.PERMISSION_DENIED, message="Access Denied", details=details
            ),
        )
