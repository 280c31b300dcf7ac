"""Domain errors with a stable code, an HTTP status and an English message (translated at the edge)."""
from __future__ import annotations


class QueueError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, **params):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.params = params


class BadRequest(QueueError):
    status, code = 400, "bad_request"


class Unauthorized(QueueError):
    status, code = 401, "unauthorized"


class Forbidden(QueueError):
    status, code = 403, "forbidden"


class NotFound(QueueError):
    status, code = 404, "not_found"


class Conflict(QueueError):
    status, code = 409, "conflict"


class TooManyRequests(QueueError):
    status, code = 429, "too_many_requests"


# ---- infrastructure failures ---------------------------------------------------------------------
# What a failing database means, as the codes of a 503 (CONTRACT "Serving"): the server cannot reach
# it, its disk is full, or it may not be written. Other database errors are bugs and stay 500s.
STORAGE_CODES = ("database_unavailable", "storage_full", "storage_read_only")

_FULL = ("database or disk is full", "no space left on device", "could not extend file", "disk full",
         "file too large")
_READ_ONLY = ("readonly database", "read-only database", "read-only file system", "read only transaction",
              "read-only transaction", "readonly")
_UNAVAILABLE = ("unable to open database", "disk i/o error", "connection refused", "could not connect",
                "server closed the connection", "terminating connection", "connection is closed",
                "the database system is", "connection failed", "consuming input failed", "timeout expired",
                "ssl connection has been closed", "connection timed out", "no such file or directory",
                "database is locked", "administrator command", "connection already closed")
_PG_STATES = {"53100": "storage_full", "25006": "storage_read_only", "57P01": "database_unavailable",
              "57P02": "database_unavailable", "57P03": "database_unavailable", "08000": "database_unavailable",
              "08001": "database_unavailable", "08003": "database_unavailable", "08006": "database_unavailable",
              "53300": "database_unavailable"}


def storage_failure(err: BaseException) -> str | None:
    """`storage_full`, `storage_read_only` or `database_unavailable` when `err` (a SQLAlchemy or
    driver error) says the database cannot be used for that reason; None otherwise."""
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover - the server always has SQLAlchemy
        return None
    if isinstance(err, sa_exc.TimeoutError):  # no connection free from the pool in time
        return "database_unavailable"
    orig = getattr(err, "orig", None) or err
    state = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    if state in _PG_STATES:
        return _PG_STATES[state]
    text = str(orig).lower()
    if any(t in text for t in _FULL):
        return "storage_full"
    if any(t in text for t in _READ_ONLY):
        return "storage_read_only"
    if isinstance(err, sa_exc.DBAPIError) and (err.connection_invalidated or isinstance(
            err, (sa_exc.OperationalError, sa_exc.InterfaceError))) and any(t in text for t in _UNAVAILABLE):
        return "database_unavailable"
    if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
        return "database_unavailable"
    if type(orig).__name__ in ("OperationalError", "InterfaceError") and any(t in text for t in _UNAVAILABLE):
        return "database_unavailable"
    return None
