"""Readiness (`GET /readyz`): 200 only when the database can be written, else 503 with the code that
says why (`database_unavailable`, `storage_full`, `storage_read_only`). `/healthz` stays the
liveness check (the process serves). The same probe refuses to start on a database that cannot be
written, and the dashboard shows its last answer."""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

from flask import Blueprint, jsonify
from layso.server.errors import storage_failure
from layso.server.messages import error_body, error_text
from layso.server.services import services
from layso.server.storage.database import Database
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

log = logging.getLogger("layso.server")

bp = Blueprint("readiness", __name__)

_last: dict[str, tuple[float, str | None]] = {}  # database url → (when, failure code or None)
_last_lock = threading.Lock()


def probe_write(db: Database) -> str | None:
    """Write to the database for real (rewrite one centre's `seq` with its own value, which changes
    nothing): None when that worked, else the failure's code."""
    try:
        with db.write() as s:
            s.execute(text("UPDATE centres SET seq = seq WHERE id = (SELECT MIN(id) FROM centres)"))
        code = None
    except SQLAlchemyError as err:
        code = storage_failure(err) or "database_unavailable"
        log.warning("readiness: the database cannot be written (%s): %s", code, getattr(err, "orig", err))
    with _last_lock:
        _last[db.url] = (time.monotonic(), code)
    return code


def last_problem(db: Database, max_age_s: float = 15.0) -> str | None:
    """The storage problem seen by the last probe of `db` (probing again when that is older than
    `max_age_s`): a code, or None when the database could be written."""
    with _last_lock:
        seen = _last.get(db.url)
    if seen is None or time.monotonic() - seen[0] > max_age_s:
        return probe_write(db)
    return seen[1]


def problem_text(code: str | None) -> str | None:
    """What the dashboard's banner says about a storage problem (translated), or None."""
    return error_text(code) if code else None


@contextmanager
def refuse_unwritable(db: Database):
    """At start: turn a database that cannot be written into a RuntimeError with a clear message
    (the CLI prints it and exits), rather than a server that fails every write."""
    try:
        yield
    except DBAPIError as err:
        code = storage_failure(err)
        if code is None:
            raise
        raise RuntimeError(_start_message(db, code)) from None
    code = probe_write(db)
    if code is not None:
        raise RuntimeError(_start_message(db, code))


def _start_message(db: Database, code: str) -> str:
    where = db.url.split("///", 1)[1] if db.sqlite and "///" in db.url else db.url.rsplit("@", 1)[-1]
    why = {"storage_read_only": "is read-only (check the file's and its folder's permissions and the mount)",
           "storage_full": "is on a full disk (free some space)",
           "database_unavailable": "cannot be reached (is it running? is the address right?)"}[code]
    return f"the database {where} {why}: {code}"


@bp.app_context_processor
def _storage_problem():
    """`storage_problem()` in templates: the text of the database's problem, or None (probed at most
    every 15 s, and only by the pages that ask: the dashboard)."""
    return {"storage_problem": lambda: problem_text(last_problem(services().db))}


@bp.get("/readyz")
def readyz():
    code = probe_write(services().db)
    if code is not None:
        return jsonify(error_body(code)), 503, {"Retry-After": "5"}
    return jsonify({"status": "ready"})
