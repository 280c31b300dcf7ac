"""Checks at the edge, before any view runs: text the database cannot store, JSON nested too deep,
and what a failing database means for the caller (503 with a code that says what is wrong).

Both databases refuse some text: PostgreSQL any NUL byte, both any lone surrogate (it has no UTF-8
form). Such text is refused here, wherever it comes in (path, query string, form, JSON body), with a
400 that says so, instead of reaching the database and failing there.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from layso.server.errors import BadRequest, storage_failure
from layso.server.messages import error_body
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("layso.server")

MAX_JSON_DEPTH = 32  # the API's bodies nest three levels; anything far deeper is an attack


def bad_text(value: str) -> bool:
    """True when `value` holds a character no database here stores: NUL, or a lone surrogate."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def find_bad_text(data, depth: int = 0) -> str | None:
    """The first string (key or value) in a JSON-like value that `bad_text` refuses, as a short path;
    raises BadRequest when the value nests deeper than MAX_JSON_DEPTH."""
    if depth > MAX_JSON_DEPTH:
        raise BadRequest("the body nests too deeply", "malformed_body")
    if isinstance(data, str):
        return "" if bad_text(data) else None
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(k, str) and bad_text(k):
                return "key"
            found = find_bad_text(v, depth + 1)
            if found is not None:
                return f"{k}.{found}".rstrip(".") if isinstance(k, str) and not bad_text(k) else "key"
        return None
    if isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            found = find_bad_text(v, depth + 1)
            if found is not None:
                return f"{i}.{found}".rstrip(".")
    return None


def refuse_bad_text(data, where: str = "body") -> None:
    """Raise a 400 (`invalid_text`) when `data` holds text the database cannot store."""
    found = find_bad_text(data)
    if found is not None:
        place = f"{where}.{found}".rstrip(".")
        raise BadRequest(f"{place}: the text holds a character that cannot be stored (NUL byte or lone "
                         "surrogate)", "invalid_text", field=place)


def json_body():
    """The request's JSON body (None when absent or invalid); 400 when it nests too deeply to parse."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise BadRequest("the body nests too deeply", "malformed_body") from None


def check_request() -> None:
    """Refuse text the database cannot store in the path, query, form or JSON body."""
    if bad_text(request.path):
        raise BadRequest("the address holds a character that cannot be stored", "invalid_text", field="path")
    for key, value in request.args.items(multi=True):
        if bad_text(key) or bad_text(value):
            raise BadRequest(f"query parameter {key!r}: the text holds a character that cannot be stored",
                             "invalid_text", field=key if not bad_text(key) else "query")
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json and (request.content_length or request.data):
            refuse_bad_text(json_body())
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in request.form.items(multi=True):
                if bad_text(key) or bad_text(value):
                    raise BadRequest("a form field holds a character that cannot be stored", "invalid_text",
                                     field=key if not bad_text(key) else "form")


def storage_error_response(err: DBAPIError):
    """503 with `database_unavailable`, `storage_full` or `storage_read_only` for a database that fails;
    None for other database errors (a bug: they stay a 500)."""
    code = storage_failure(err)
    if code is None:
        return None
    log.error("database failure on %s %s (%s): %s", request.method, request.path, code, err.orig or err)
    resp = jsonify(error_body(code))
    resp.status_code = 503
    resp.headers["Retry-After"] = "5"
    return resp


def install(app: Flask) -> None:
    """Register the edge checks and the database-failure answers on `app`."""
    app.before_request(check_request)

    @app.errorhandler(DBAPIError)
    def _database_error(err: DBAPIError):
        resp = storage_error_response(err)
        if resp is not None:
            return resp
        log.exception("database error on %s %s", request.method, request.path)
        return jsonify(error_body("internal_error")), 500

    @app.errorhandler(RecursionError)
    def _too_deep(_err: RecursionError):
        return jsonify(error_body("malformed_body", "the body nests too deeply")), 400


