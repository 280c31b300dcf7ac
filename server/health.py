"""`GET /healthz`: 200 while the server serves and its database answers a read."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select

from layso.server.services import services

bp = Blueprint("health", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    with services().db.read() as s:
        s.execute(select(1))
    return jsonify({"status": "ok"})
