"""What the console reports to a browser: each error carries its HTTP status and a message
that names what was wrong (never a stack trace)."""

from __future__ import annotations


class ConsoleError(Exception):
    """An error page: `status` is the HTTP status, `title` its heading, `str()` the detail."""

    status = 500
    title = "Console error"


class BadRequest(ConsoleError):
    """The request's input is malformed or out of range (400)."""

    status = 400
    title = "Bad request"


class NotFound(ConsoleError):
    """The stream, order, group, projection or event asked for does not exist (404)."""

    status = 404
    title = "Not found"


class Forbidden(ConsoleError):
    """An action the console refuses: actions disabled, bad CSRF token, no credentials (403)."""

    status = 403
    title = "Action refused"


class StoreDown(ConsoleError):
    """The event store is unreachable or failing (503); the next request tries again."""

    status = 503
    title = "Event store unavailable"
