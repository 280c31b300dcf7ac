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
