"""The console's Starlette application: one route per page, each linkable by URL.

Pages are rendered on the server with Jinja2; a little JavaScript (static/console.js)
refreshes the live regions by fetching the same URL with `?fragment=1` and toggles the
stored/upcast payload views. Every read goes through `console.store.ConsoleStore` in
bounded pages. Endpoints are plain functions, which Starlette runs in its thread pool, so
the blocking gRPC client never stalls the event loop.

Read-only unless started with `allow_actions`; an action is a POST carrying the CSRF
token of the page's cookie, and, when the event store is secure, the server's user and
password (the ones in the console's URI), else it is refused with a page that says why.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from console import views
from console.errors import BadRequest, ConsoleError, Forbidden, NotFound, StoreDown
from console.store import ConsoleStore, GroupSummary
from orders.streams import order_id_of, stream_name
from projections import database
from projections.errors import ReadModelMissing
from projections.location import ReadModelFile, projections_dir
from projections.ops.parked import inspect
from projections.read_models import registry

_HERE = Path(__file__).resolve().parent
CSRF_COOKIE = "console_csrf"
DEFAULT_PAGE = 50
MAX_PAGE = 500
ORDER_EVENT_LIMIT = 1000
LAG_CAP = 10_000
_NEWEST_STREAMS_WINDOW = 200
_MAX_ID = 200
_ID_CHARS = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces or control characters

_log = structlog.get_logger("console")


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """How the console runs: its event store, read models, and whether actions are on.

    `scan_limit` bounds the `$all` events a correlation search reads when the server
    keeps no by-correlation streams; `refresh_ms` is the live regions' polling period.
    """

    uri: str
    projections_dir: Path = field(default_factory=projections_dir)
    allow_actions: bool = False
    scan_limit: int = 20_000
    refresh_ms: int = 2000
    timeout: float = 5.0


def create_app(config: ConsoleConfig, store: ConsoleStore | None = None) -> Starlette:
    """The console application over `config` (a `store` may be given, e.g. by tests)."""
    console = _Console(config, store or ConsoleStore(config.uri, timeout=config.timeout))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        console.store.close()

    routes = [
        Route("/", console.home),
        Route("/healthz", console.health),
        Route("/streams", console.streams),
        Route("/streams/{name:path}/@{revision}", console.event),
        Route("/streams/{name:path}", console.stream),
        Route("/orders/{order_id:path}", console.order),
        Route("/correlations/{correlation_id:path}", console.correlation),
        Route("/subscriptions", console.subscriptions),
        Route("/subscriptions/{group}/parked/{position}", console.parked_message),
        Route("/subscriptions/{group}/replay-parked", console.replay, methods=["POST"]),
        Route("/subscriptions/{group}", console.subscription),
        Route("/read-models", console.read_models),
        Route("/read-models/{name}", console.read_model),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ConsoleError: console.error_page,
            HTTPException: console.http_error_page,
            Exception: console.crash_page,
        },
    )
    app.state.console = console
    return app


class _Console:
    """The page handlers, sharing one store and one template environment."""

    def __init__(self, config: ConsoleConfig, store: ConsoleStore) -> None:
        self.config = config
        self.store = store
        self.templates = Jinja2Templates(directory=_HERE / "templates")
        env = self.templates.env
        env.filters["stream_url"] = stream_url
        env.filters["event_url"] = event_url
        env.filters["iso"] = views.iso
        env.filters["ago"] = _ago
        env.globals["order_url"] = order_url
        env.globals["correlation_url"] = correlation_url
        env.globals["group_url"] = group_url
        env.globals["with_query"] = with_query

    # -- pages ----------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        return RedirectResponse("/streams", status_code=302)

    def health(self, request: Request) -> Response:
        try:
            position = self.store.ping()
        except StoreDown as e:
            return JSONResponse({"store": "down", "detail": str(e)}, status_code=503)
        return JSONResponse({"store": "up", "head": position})

    def streams(self, request: Request) -> Response:
        q = request.query_params
        search = q.get("q", "").strip()
        if search:
            return RedirectResponse(self._search(search), status_code=303)
        before = _int_param(q, "before", minimum=0)
        limit = _limit(q)
        prefix, event_type = q.get("prefix", "").strip(), q.get("type", "").strip()
        events = self.store.all_page(
            before=before, limit=limit, stream_prefix=prefix, event_type=event_type
        )
        newest: list[dict[str, Any]] = []
        if before is None and not prefix and not event_type:
            window = self.store.all_page(before=None, limit=_NEWEST_STREAMS_WINDOW)
            newest = _newest_streams(window)
        older = events[-1].commit_position if len(events) == limit else None
        context = {
            "events": events,
            "newest": newest,
            "older": older,
            "before": before,
            "prefix": prefix,
            "type": event_type,
            "limit": limit,
            "live": before is None,
        }
        return self._page(request, "streams.html", "streams_live.html", context, "streams")

    def stream(self, request: Request) -> Response:
        name = _stream_param(request.path_params["name"])
        q = request.query_params
        before = _int_param(q, "before", minimum=0)
        limit = _limit(q)
        state = self.store.stream_state(name)
        if not state.exists:
            raise NotFound(f"there is no stream named {name!r} on the event store")
        events = self.store.stream_page(name, before=before, limit=limit)
        shown = [views.event_view(e) for e in events]
        older = None
        if shown and state.first is not None and shown[-1].revision > state.first:
            older = shown[-1].revision
        context = {
            "name": name,
            "state": state,
            "events": shown,
            "older": older,
            "before": before,
            "limit": limit,
            "order_id": order_id_of(name),
            "max_count": state.metadata.get("$maxCount"),
            "max_age": state.metadata.get("$maxAge"),
            "truncate_before": state.metadata.get("$tb"),
            "view": q.get("view", "stored"),
        }
        return self._page(request, "stream.html", None, context, "streams")

    def event(self, request: Request) -> Response:
        name = _stream_param(request.path_params["name"])
        revision = _int_text(request.path_params["revision"], "revision", minimum=0)
        view = _choice(request.query_params, "view", ("stored", "upcast"))
        state = self.store.stream_state(name)
        if not state.exists:
            raise NotFound(f"there is no stream named {name!r} on the event store")
        if state.head is None or state.first is None:
            raise NotFound(f"stream {name!r} has no readable events ({_deleted(state)})")
        if not state.first <= revision <= state.head:
            raise BadRequest(
                f"revision {revision} is out of range: stream {name!r} has revisions"
                f" {state.first}..{state.head}"
            )
        stored = self.store.event(name, revision)
        if stored is None:
            raise NotFound(f"stream {name!r} has no event at revision {revision}")
        context = {"name": name, "state": state, "e": views.event_view(stored), "view": view}
        return self._page(request, "event.html", None, context, "streams")

    def order(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        _check_id(order_id, "order id")
        q = request.query_params
        revision = _int_param(q, "revision", minimum=0)
        at = _time_param(q, "at")
        if revision is not None and at is not None:
            raise BadRequest("give either ?revision= or ?at=, not both")
        stream = stream_name(order_id)
        history = self.store.stream_from(stream, 0, ORDER_EVENT_LIMIT)
        if not history:
            state = self.store.stream_state(stream)
            why = (
                f"its stream {stream!r} is {_deleted(state)}"
                if state.exists
                else (f"there is no stream {stream!r}")
            )
            raise NotFound(f"there is no order with id {order_id!r}: {why}")
        first, head = history[0].revision, history[-1].revision
        if revision is not None and not first <= revision <= head:
            raise BadRequest(
                f"revision {revision} is out of range: order {order_id!r} has revisions"
                f" {first}..{head}"
            )
        upto = head if revision is None else revision
        before_first = False
        if at is not None:
            found = views.revision_at(history, at)
            before_first = found is None
            upto = -1 if found is None else found
        point = views.fold_order(history, upto)
        events = [views.event_view(e) for e in history]
        context = {
            "order_id": order_id,
            "stream": stream,
            "events": events,
            "point": point,
            "upto": upto,
            "first": first,
            "head": head,
            "at": views.iso(at),
            "before_first": before_first,
            "capped": len(history) >= ORDER_EVENT_LIMIT,
            "state_json": views.pretty_json(point.state) if point.state else None,
        }
        return self._page(request, "order.html", None, context, "streams")

    def correlation(self, request: Request) -> Response:
        correlation_id = request.path_params["correlation_id"]
        _check_id(correlation_id, "correlation id")
        near = _int_param(request.query_params, "near", minimum=0)
        found = self.store.correlated(correlation_id, near=near, scan=self.config.scan_limit)
        where = _scan_text(found.source, found.scanned, found.span, found.complete)
        if not found.events:
            raise NotFound(f"no event carries correlation id {correlation_id!r}: {where}")
        shown = [views.event_view(e) for e in found.events]
        context = {
            "correlation_id": correlation_id,
            "events": shown,
            "tree": views.causation_tree(shown),
            "where": where,
            "streams": sorted({e.stream for e in shown}),
        }
        return self._page(request, "correlation.html", None, context, "streams")

    def subscriptions(self, request: Request) -> Response:
        groups = [self._group_row(g) for g in self.store.groups()]
        context = {"groups": groups}
        return self._page(
            request, "subscriptions.html", "subscriptions_live.html", context, "subscriptions"
        )

    def subscription(self, request: Request) -> Response:
        group, source = self._group_params(request)
        summary = self._existing_group(group, source)
        links = self.store.parked(group, source, MAX_PAGE)
        parked = [_parked_row(link) for link in links]
        context = {
            "g": self._group_row(summary),
            "parked_events": parked,
            "replayed": request.query_params.get("replayed"),
        }
        return self._page(
            request, "subscription.html", "subscription_live.html", context, "subscriptions"
        )

    def parked_message(self, request: Request) -> Response:
        group, source = self._group_params(request)
        position = _int_text(request.path_params["position"], "parked position", minimum=0)
        summary = self._existing_group(group, source)
        for link in self.store.parked(group, source, MAX_PAGE * 2):
            if link.position == position:
                context = {"g": self._group_row(summary), "p": _parked_row(link)}
                return self._page(request, "parked.html", None, context, "subscriptions")
        raise NotFound(
            f"group {group!r} holds no parked message at position {position}"
            " (it may have been replayed already)"
        )

    async def replay(self, request: Request) -> Response:
        group, source = self._group_params(request)
        form = _form(await request.body())
        self._check_action(request, form)
        summary = await run_in_threadpool(self._existing_group, group, source)
        await run_in_threadpool(self.store.replay_parked, group, source)
        _log.info("console.replay_parked", group=group, source=source, parked=summary.parked)
        target = group_url(group, source, replayed=str(summary.parked))
        return RedirectResponse(target, status_code=303)

    def read_models(self, request: Request) -> Response:
        rows = [self._read_model_row(name) for name in registry.PROJECTIONS]
        context = {"models": rows, "directory": str(self.config.projections_dir)}
        return self._page(
            request, "read_models.html", "read_models_live.html", context, "read-models"
        )

    def read_model(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in registry.PROJECTIONS:
            raise NotFound(
                f"there is no read model {name!r}; the read models are"
                f" {', '.join(registry.PROJECTIONS)}"
            )
        projection = registry.PROJECTIONS[name]
        q = request.query_params
        table = q.get("table") or next(iter(projection.tables))
        if table not in projection.tables:
            raise NotFound(
                f"read model {name!r} has no table {table!r}; its tables are"
                f" {', '.join(projection.tables)}"
            )
        offset = _int_param(q, "offset", minimum=0) or 0
        limit = _limit(q)
        columns, rows, total = _table_page(
            self._path(name), table, projection.tables[table], offset, limit
        )
        context = {
            "m": self._read_model_row(name),
            "tables": list(projection.tables),
            "table": table,
            "columns": columns,
            "rows": rows,
            "total": total,
            "offset": offset,
            "limit": limit,
        }
        return self._page(
            request, "read_model.html", "read_models_live.html", context, "read-models"
        )

    # -- errors ---------------------------------------------------------------------------

    def error_page(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleError)
        if exc.status >= 500:
            _log.warning("console.store_unavailable", path=request.url.path, error=str(exc))
        return self._error(request, exc.status, exc.title, str(exc))

    def http_error_page(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            detail = f"no console page at {request.url.path!r}"
            return self._error(request, 404, "Not found", detail)
        return self._error(request, exc.status_code, "Request refused", str(exc.detail))

    def crash_page(self, request: Request, exc: Exception) -> Response:
        _log.error("console.crashed", path=request.url.path, error=repr(exc), exc_info=exc)
        detail = f"the console failed on {request.url.path!r} ({type(exc).__name__}); see its log"
        return self._error(request, 500, "Console error", detail)

    def _error(self, request: Request, status: int, title: str, detail: str) -> Response:
        context = {"status": status, "title": title, "detail": detail}
        if request.query_params.get("fragment"):
            return Response(detail, status_code=status, media_type="text/plain")
        return self._page(request, "error.html", None, context, "", status=status)

    # -- helpers --------------------------------------------------------------------------

    def _page(
        self,
        request: Request,
        template: str,
        fragment: str | None,
        context: dict[str, Any],
        nav: str,
        *,
        status: int = 200,
    ) -> Response:
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        full = {
            **context,
            "nav": nav,
            "uri": self.store.masked_uri,
            "secure": self.store.secure,
            "allow_actions": self.config.allow_actions,
            "csrf_token": token,
            "refresh_ms": self.config.refresh_ms,
        }
        name = fragment if fragment and request.query_params.get("fragment") else template
        response = self.templates.TemplateResponse(request, name, full, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
        return response

    def _search(self, text: str) -> str:
        """Where a search goes: the order, else the stream, else the correlation chain."""
        _check_id(text, "search")
        if self.store.stream_from(stream_name(text), 0, 1):
            return order_url(text)
        if self.store.stream_from(text, 0, 1):
            return stream_url(text)
        return correlation_url(text)

    def _group_params(self, request: Request) -> tuple[str, str]:
        group = request.path_params["group"]
        _check_id(group, "group name")
        source = request.query_params.get("source") or "$all"
        return group, source

    def _existing_group(self, group: str, source: str) -> GroupSummary:
        summary = self.store.group(group, source)
        if summary is None:
            raise NotFound(f"there is no subscription group {group!r} over {source!r}")
        return summary

    def _group_row(self, g: GroupSummary) -> dict[str, Any]:
        consumers = self.store.consumers(g.group) if g.source == "$all" else None
        checkpoint = views.parse_position(g.last_checkpoint)
        lag_events: int | None = None
        lag_seconds: float | None = None
        if g.source == "$all":
            lag_events, first = self.store.order_events_after(checkpoint, LAG_CAP)
            lag_seconds = _age(first) if lag_events else 0.0
        return {
            "group": g.group,
            "source": g.source,
            "status": g.status,
            "settings": g.settings,
            "in_flight": g.in_flight,
            "parked": g.parked,
            "checkpoint": g.last_checkpoint or "(none yet)",
            "last_known": g.last_known,
            "lag_events": lag_events,
            "lag_capped": lag_events is not None and lag_events >= LAG_CAP,
            "lag_seconds": lag_seconds,
            "consumers": consumers,
            "total_items": g.total_items,
            "url": group_url(g.group, g.source),
        }

    def _path(self, name: str) -> Path:
        return self.config.projections_dir / f"{name}.db"

    def _read_model_row(self, name: str) -> dict[str, Any]:
        projection = registry.PROJECTIONS[name]
        status = self.store.projection_status(name, self._path(name))
        counts: dict[str, int | None] = {}
        try:
            conn = database.open_for_reading(ReadModelFile(self._path(name)))
        except ReadModelMissing:
            conn = None
        try:
            for table in projection.tables:
                counts[table] = _count(conn, table) if conn is not None else None
        finally:
            if conn is not None:
                conn.close()
        return {
            "name": name,
            "description": projection.description,
            "status": status,
            "counts": counts,
            "exists": conn is not None,
            "last_error": _last_error(self.config.projections_dir, name),
            "group_url": group_url(f"projection-{name}", "$all"),
        }

    def _check_action(self, request: Request, form: Mapping[str, str]) -> None:
        if not self.config.allow_actions:
            raise Forbidden(
                "this console is read-only: actions are disabled. Start it with"
                " --allow-actions to replay parked messages."
            )
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise Forbidden(f"the request came from another site ({origin}); refused")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        token = form.get("csrf_token", "")
        if not cookie or not hmac.compare_digest(cookie, token):
            raise Forbidden(
                "the form's CSRF token is missing or does not match this browser's:"
                " reload the page and try again"
            )
        if not self.store.secure:
            return
        expected = self.store.credentials
        if expected is None:
            raise Forbidden(
                "the event store is secure (TLS) but the console was started without its"
                " credentials: pass them in --uri (esdb://user:password@host...)"
            )
        given = (form.get("username", ""), form.get("password", ""))
        if not all(hmac.compare_digest(a, b) for a, b in zip(given, expected, strict=True)):
            raise Forbidden("the event store's user name or password is wrong")


# -- URLs -------------------------------------------------------------------------------------


def stream_url(name: str) -> str:
    """The page of stream `name`."""
    return "/streams/" + quote(name, safe="$-_.~@:")


def event_url(name: str, revision: int, view: str | None = None) -> str:
    """The page of the event at `revision` of stream `name`."""
    tail = f"?view={view}" if view else ""
    return f"{stream_url(name)}/@{revision}{tail}"


def order_url(order_id: str, revision: int | None = None) -> str:
    """The order page, at its head or at `revision`."""
    tail = "" if revision is None else f"?revision={revision}"
    return "/orders/" + quote(order_id, safe="-_.~") + tail


def correlation_url(correlation_id: str, near: int | None = None) -> str:
    """The correlation chain page (searching around commit position `near`)."""
    tail = "" if near is None else f"?near={near}"
    return "/correlations/" + quote(correlation_id, safe="-_.~") + tail


def group_url(group: str, source: str = "$all", **extra: str) -> str:
    """The page of a subscription group."""
    query = {**({"source": source} if source != "$all" else {}), **extra}
    tail = f"?{urlencode(query)}" if query else ""
    return "/subscriptions/" + quote(group, safe="-_.~$") + tail


def with_query(request: Request, **changes: object) -> str:
    """The current URL with some query parameters changed (None removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    params.pop("fragment", None)
    return request.url.path + (f"?{urlencode(params)}" if params else "")


# -- input ------------------------------------------------------------------------------------


def _int_text(text: str, name: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {text!r}") from None
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}, not {value}")
    return value


def _int_param(params: Mapping[str, str], name: str, *, minimum: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    return _int_text(raw, name, minimum=minimum)


def _limit(params: Mapping[str, str]) -> int:
    limit = _int_param(params, "limit", minimum=1)
    if limit is None:
        return DEFAULT_PAGE
    if limit > MAX_PAGE:
        raise BadRequest(f"limit must be at most {MAX_PAGE}, not {limit}")
    return limit


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = params.get(name) or allowed[0]
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _time_param(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "+"))
    except ValueError:
        raise BadRequest(
            f"{name}={raw!r} is not an ISO 8601 time (e.g. 2024-03-01T10:00:00Z)"
        ) from None
    if moment.utcoffset() is None:
        raise BadRequest(f"{name}={raw!r} needs a timezone (e.g. 2024-03-01T10:00:00Z)")
    return moment.astimezone(UTC)


def _check_id(value: str, what: str) -> None:
    if not value:
        raise BadRequest(f"the {what} is empty")
    if len(value) > _MAX_ID:
        raise BadRequest(f"the {what} is {len(value)} characters long; at most {_MAX_ID}")
    if not _ID_CHARS.match(value):
        raise BadRequest(f"malformed {what} {value!r}: only printable characters, without spaces")


def _stream_param(name: str) -> str:
    if not name:
        raise BadRequest("the stream name is empty")
    if len(name) > 1000 or any(ord(c) < 32 for c in name):
        raise BadRequest(f"malformed stream name {name[:60]!r}")
    return name


def _form(body: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form could not be read (not URL-encoded UTF-8)") from None
    return {key: values[-1] for key, values in parsed.items()}


# -- shaping ----------------------------------------------------------------------------------


def _newest_streams(window: list[Any]) -> list[dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for event in window:
        if event.stream not in newest:
            newest[event.stream] = {
                "stream": event.stream,
                "revision": event.revision,
                "type": event.type,
                "recorded_at": event.recorded_at,
            }
    return list(newest.values())[:20]


def _parked_row(link: Any) -> dict[str, Any]:
    inspected = inspect(link)
    view = views.event_view(link.target) if link.target is not None else None
    return {"link": link, "inspected": inspected, "e": view}


def _deleted(state: Any) -> str:
    if state.tombstoned:
        return "tombstoned (deleted for good)"
    if state.soft_deleted:
        return "soft-deleted"
    return "empty"


def _scan_text(source: str, scanned: int, span: tuple[int, int] | None, complete: bool) -> str:
    if source != "$all":
        return f"read from the server's by-correlation stream {source!r}"
    where = f" at commit positions {span[0]}..{span[1]}" if span else ""
    whole = "the whole log" if complete else "a window of the log"
    return (
        f"searched {scanned} events of $all{where} ({whole}; this server keeps no"
        " by-correlation streams)"
    )


def _age(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return round(max(0.0, datetime.now(UTC).timestamp() - moment.timestamp()), 1)


def _ago(moment: datetime | None) -> str:
    age = _age(moment)
    if age is None:
        return ""
    if age < 120:
        return f"{age:.0f}s ago"
    if age < 7200:
        return f"{age / 60:.0f}min ago"
    return f"{age / 3600:.0f}h ago"


def _count(conn: sqlite3.Connection, table: str) -> int | None:
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # created but not yet prepared
        return None


def _table_page(
    path: Path, table: str, key: tuple[str, ...], offset: int, limit: int
) -> tuple[list[str], list[tuple[Any, ...]], int | None]:
    try:
        conn = database.open_for_reading(ReadModelFile(path))
    except ReadModelMissing:
        return [], [], None
    try:
        cursor = conn.execute(
            f"SELECT * FROM {table} ORDER BY {', '.join(key)} LIMIT ? OFFSET ?", (limit, offset)
        )
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall(), _count(conn, table)
    except sqlite3.OperationalError:
        return [], [], None
    finally:
        conn.close()


def _last_error(directory: Path, name: str) -> dict[str, str] | None:
    """The newest error line the projection's workers logged (`<dir>/logs/<name>-*.log`,
    as `demo.fleet` writes them), or None."""
    newest: tuple[str, dict[str, str]] | None = None
    for log in (directory / "logs").glob(f"{name}-*.log"):
        for line in _tail(log):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or entry.get("level") not in ("error", "critical"):
                continue
            stamp = str(entry.get("timestamp", ""))
            if newest is None or stamp >= newest[0]:
                shown = {k: str(v) for k, v in entry.items() if k not in ("level",)}
                newest = (stamp, shown)
    return newest[1] if newest else None


def _tail(path: Path, size: int = 65536) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            end = f.tell()
            f.seek(max(0, end - size))
            return f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []
