"""The province's REST route (CONTRACT.md, "Province"): GET /api/v1/province/overview, for
`province_admin` only (401 without a session, 403 for every other role, a centre administrator too)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from layso.server.auth import PROVINCE_ROLE, need
from layso.server.queries.province import overview as province_overview
from layso.server.services import services

bp = Blueprint("province_api", __name__, url_prefix="/api/v1/province")


@bp.get("/overview")
def overview():
    """→ {generated_at, centres: [{code, name, area, open, waiting, longest_wait_s, open_counters,
    devices_offline, printer_faults, satisfied_share_today, …}], alerts: [...]}"""
    need(PROVINCE_ROLE)
    resp = jsonify(province_overview(services().db))
    resp.headers["Cache-Control"] = "no-store"
    return resp
