"""`GET /metrics`: Prometheus text for this machine (loopback) or a signed-in manager."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import func, select

from layso.server.messages import error_body
from layso.server.services import services
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, Device, Field, Ticket

bp = Blueprint("metrics", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics():
    from layso.server.auth import current_principal
    who = current_principal()
    # loopback means this machine, not a proxy relaying someone else (X-Forwarded-For)
    loopback = request.remote_addr in ("127.0.0.1", "::1") and (
        current_app.config["LAYSO_TRUSTED_PROXIES"] or "X-Forwarded-For" not in request.headers)
    if not loopback and not (who and who.at_least("manager")):
        return jsonify(error_body("forbidden")), 403
    return metrics_text(services().db), 200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}


def metrics_text(db: Database) -> str:
    lines = ["# HELP layso_tickets_waiting Tickets waiting now, by centre and field.",
             "# TYPE layso_tickets_waiting gauge"]
    with db.read() as s:
        for code, field, n in s.execute(
                select(Centre.code, Field.code, func.count(Ticket.id)).join(Field, Field.id == Ticket.field_id)
                .join(Centre, Centre.id == Ticket.centre_id).where(Ticket.status == "waiting")
                .group_by(Centre.code, Field.code)):
            lines.append(f'layso_tickets_waiting{{centre="{code}",field="{field}"}} {n}')
        lines += ["# HELP layso_tickets_total Tickets ever issued, by centre.", "# TYPE layso_tickets_total counter"]
        for code, n in s.execute(select(Centre.code, func.count(Ticket.id)).join(Ticket, Ticket.centre_id == Centre.id)
                                 .group_by(Centre.code)):
            lines.append(f'layso_tickets_total{{centre="{code}"}} {n}')
        lines += ["# HELP layso_counters Counters by status.", "# TYPE layso_counters gauge"]
        for code, status, n in s.execute(select(Centre.code, Counter.status, func.count(Counter.id))
                                         .join(Counter, Counter.centre_id == Centre.id)
                                         .group_by(Centre.code, Counter.status)):
            lines.append(f'layso_counters{{centre="{code}",status="{status}"}} {n}')
        lines += ["# HELP layso_devices_online Devices connected now.", "# TYPE layso_devices_online gauge"]
        for code, role, n in s.execute(select(Centre.code, Device.role, func.count(Device.id))
                                       .join(Device, Device.centre_id == Centre.id)
                                       .where(Device.online.is_(True)).group_by(Centre.code, Device.role)):
            lines.append(f'layso_devices_online{{centre="{code}",role="{role}"}} {n}')
        lines += ["# HELP layso_event_seq The last event sequence number, by centre.", "# TYPE layso_event_seq counter"]
        for code, seq in s.execute(select(Centre.code, Centre.seq)):
            lines.append(f'layso_event_seq{{centre="{code}"}} {seq}')
    return "\n".join(lines + process_lines()) + "\n"


def process_lines() -> list[str]:
    """This server process: resident memory (the serving issue's budget is 100 MiB a process) and the
    garbage collector (collections by generation; objects frozen at start, which it no longer walks;
    its thresholds)."""
    import gc
    import os
    lines = []
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        lines += ["# HELP process_resident_memory_bytes Resident memory of this server process.",
                  "# TYPE process_resident_memory_bytes gauge",
                  f"process_resident_memory_bytes {pages * os.sysconf('SC_PAGE_SIZE')}"]
    except (OSError, ValueError, IndexError):
        pass  # not Linux
    lines += ["# HELP python_gc_collections_total Garbage collections by generation.",
              "# TYPE python_gc_collections_total counter"]
    lines += [f'python_gc_collections_total{{generation="{g}"}} {st["collections"]}'
              for g, st in enumerate(gc.get_stats())]
    lines += ["# HELP python_gc_objects_frozen Objects made at start, frozen out of the collector's walks.",
              "# TYPE python_gc_objects_frozen gauge", f"python_gc_objects_frozen {gc.get_freeze_count()}"]
    lines += ["# HELP python_gc_threshold Allocations between collections of a generation (0), collections of the "
              "younger generation between two of one (1, 2).", "# TYPE python_gc_threshold gauge"]
    lines += [f'python_gc_threshold{{generation="{g}"}} {n}' for g, n in enumerate(gc.get_threshold())]
    return lines
