"""The province's alerts, sent through the notifier's outbox.

The overview shows alerts (a field's longest wait past its target, a kiosk out of paper, a lobby
screen offline) as long as they last; people away from the page are told of each one once. Every
janitor round (every 15 s, in every server process) `track` compares the alerts of now
(`queries.province.current_alerts`) with those already known (`province_alerts`), all in one read
snapshot, and only when something changed opens a write transaction that:

- records a new alert — only while its centre is open: lobby screens switched off at night raise
  nothing. Its `open_key` is unique, so when two processes see it at once one row is made;
- raises it once it has lasted `grace_s` (a screen's reconnect does not wake anybody): an update
  of `notified_at` that only one process can win queues its messages;
- clears it when its condition ended, open or closed (an update of `cleared_at` only one process
  wins), queuing the "cleared" messages when it had been raised and `on_clear` is set. A suspended
  centre's alerts are cleared without a word.

Messages go to the province's recipients (`AlertsConfig`, kept in `province_settings`, the page
/province/alerts: mobile numbers through an SMS or Zalo gateway, a signed webhook) and to a
centre's own (`[notify] alert_to`, `alert_webhook`, through that centre's channels), as outbox rows
with a key naming each once (`dedupe_key`). The notifier worker sends them with its retries and
back-off; nothing here waits for a gateway, and no command waits for this.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from layso.server import clock
from layso.server.engine.context import Settings
from layso.server.queries.province import current_alerts
from layso.server.storage.database import Database, insert_of
from layso.server.storage.models import Centre, OutboxMessage, ProvinceAlert, ProvinceSetting
from pydantic import ValidationError
from sqlalchemy import func, select, update

from layso.config import AlertsConfig

log = logging.getLogger("layso.notify")
KEY = "alerts"  # its row in province_settings


# ---- the province's settings ------------------------------------------------------------------
def alerts_config_in(s) -> AlertsConfig:
    """The province's alerts settings (the defaults when none are saved, or when the saved ones no
    longer validate — logged)."""
    value = s.execute(select(ProvinceSetting.value).where(ProvinceSetting.key == KEY)).scalar_one_or_none()
    try:
        return AlertsConfig.model_validate(value or {})
    except ValidationError:
        log.error("the saved alerts settings are not valid; the defaults apply")
        return AlertsConfig()


def alerts_config(db: Database) -> AlertsConfig:
    with db.read() as s:
        return alerts_config_in(s)


def save_alerts_config(db: Database, cfg: AlertsConfig) -> None:
    with db.write() as s:
        row = s.get(ProvinceSetting, KEY)
        if row is None:
            row = ProvinceSetting(key=KEY, updated_at=clock.now())
            s.add(row)
        row.value, row.updated_at = cfg.model_dump(mode="json"), clock.now()


# ---- following the alerts -----------------------------------------------------------------------
def track(db: Database, now: datetime | None = None) -> dict:
    """One round: record, raise and clear alerts; → counts {new, raised, cleared, messages}."""
    now = now or clock.now()
    with db.read() as s:
        cfg = alerts_config_in(s)
        centres, alerts = current_alerts(s, now)
        known = {r.open_key: r for r in s.execute(
            select(ProvinceAlert.id, ProvinceAlert.open_key, ProvinceAlert.centre_id, ProvinceAlert.started_at,
                   ProvinceAlert.notified_at).where(ProvinceAlert.open_key.is_not(None)))}
    current = {a["key"]: a for a in alerts if a["kind"] in cfg.kinds}
    is_open = {cid: c["open"] for cid, c in centres.items()}
    new = [_row(a, now) for key, a in current.items() if key not in known and is_open[a["centre_id"]]]
    due = [r["open_key"] for r in new if r["started_at"] <= now - timedelta(seconds=cfg.grace_s)] + \
        [r.open_key for r in known.values() if r.open_key in current and r.notified_at is None
         and is_open.get(r.centre_id) and r.started_at <= now - timedelta(seconds=cfg.grace_s)]
    gone = [r.id for key, r in known.items() if key not in current]
    counts = {"new": 0, "raised": 0, "cleared": 0, "messages": 0}
    if not (new or due or gone):
        return counts
    with db.write() as s:
        if new:
            counts["new"] = _insert(s, ProvinceAlert, new, "open_key")
        raised = s.execute(update(ProvinceAlert).where(ProvinceAlert.open_key.in_(due), ProvinceAlert.notified_at.is_(None))
                           .values(notified_at=now).returning(ProvinceAlert)).scalars().all() if due else []
        cleared = s.execute(update(ProvinceAlert).where(ProvinceAlert.id.in_(gone), ProvinceAlert.cleared_at.is_(None))
                            .values(cleared_at=now, open_key=None).returning(ProvinceAlert)).scalars().all() \
            if gone else []
        told = [a for a in cleared if a.notified_at is not None and cfg.on_clear
                and not centres.get(a.centre_id, {"suspended": True})["suspended"]]
        rows = _messages(s, cfg, [(a, "alert") for a in raised] + [(a, "cleared") for a in told], now)
        counts.update(raised=len(raised), cleared=len(cleared), messages=_insert(s, OutboxMessage, rows, "dedupe_key"))
    return counts


def _row(a: dict, now: datetime) -> dict:
    """A new `province_alerts` row. A wait alert starts when the wait passed the target; a device's
    when it was first seen."""
    data = {k: a[k] for k in ("centre", "centre_name", "area", "field", "field_name", "longest_wait_s", "target_s",
                              "waiting", "device") if k in a}
    started = datetime.fromisoformat(a["since"]) if a.get("since") else now
    return {"centre_id": a["centre_id"], "kind": a["kind"], "subject": a["subject"][:60], "open_key": a["key"],
            "data": data, "started_at": min(started, now)}


def _insert(s, model, rows: list[dict], unique: str) -> int:
    """Insert what is not there yet (the unique column decides); how many were inserted."""
    if not rows:
        return 0
    ins = insert_of(s.bind.dialect.name)(model)
    return s.execute(ins.values(rows).on_conflict_do_nothing(index_elements=[unique])).rowcount or 0


# ---- the messages -------------------------------------------------------------------------------
def _messages(s, cfg: AlertsConfig, todo: list[tuple[ProvinceAlert, str]], now: datetime) -> list[dict]:
    """Outbox rows for each (alert, "alert" | "cleared"): the province's recipients and the centre's."""
    if not todo:
        return []
    centres = {c.id: c for c in s.execute(select(Centre).where(Centre.id.in_({a.centre_id for a, _k in todo})))
               .scalars()}
    out = []
    for alert, kind in todo:
        centre = centres[alert.centre_id]
        payload = _payload(cfg, alert, kind, centre, now)
        for audience, channel, to in _recipients(cfg, Settings.of(centre).notify):
            key = f"alert:{alert.id}:{kind}:{audience}:{channel}:{to or ''}"
            out.append({"centre_id": alert.centre_id, "alert_id": alert.id, "audience": audience, "dedupe_key": key,
                        "kind": kind, "channel": channel, "payload": {**payload, "to": to} if to else payload,
                        "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
                        "trigger_at": alert.cleared_at if kind == "cleared" else now})
    return out


def _recipients(cfg: AlertsConfig, centre_notify) -> list[tuple[str, str, str | None]]:
    """(audience, channel, mobile number or None) of each message an alert makes."""
    out = [("province", cfg.gateway_channel, to) for to in cfg.to] if cfg.gateway is not None else []
    if cfg.webhook is not None:
        out.append(("province", "webhook", None))
    phone_channel = "sms" if centre_notify.sms is not None else ("zalo" if centre_notify.zalo is not None else None)
    if phone_channel is not None:
        out += [("centre", phone_channel, to) for to in centre_notify.alert_to]
    if centre_notify.alert_webhook and centre_notify.webhook is not None:
        out.append(("centre", "webhook", None))
    return out


def _payload(cfg: AlertsConfig, alert: ProvinceAlert, kind: str, centre: Centre, now: datetime) -> dict:
    """What every recipient is told; `text` from the settings' templates (whole minutes, as the page shows)."""
    d = alert.data
    tz = ZoneInfo(centre.timezone)
    values = {"centre": centre.name, "area": centre.area or "", "field": d.get("field_name", ""),
              "wait": (d.get("longest_wait_s") or 0) // 60, "target": (d.get("target_s") or 0) // 60,
              "device": d.get("device", ""), "since": alert.started_at.astimezone(tz).strftime("%H:%M")}
    text = cfg.template(alert.kind).format(**values, alert="")
    if kind == "cleared":
        text = cfg.cleared_template.format(**values, alert=text)

    def iso(at):
        return at.astimezone(tz).isoformat(timespec="seconds") if at else None
    return {"type": "province.alert", "kind": kind, "alert": alert.kind, "centre": centre.code,
            "centre_name": centre.name, "area": centre.area or "",
            **{k: d[k] for k in ("field", "field_name", "longest_wait_s", "target_s", "device") if k in d},
            "started_at": iso(alert.started_at), "cleared_at": iso(alert.cleared_at), "text": text, "at": iso(now)}


# ---- what the province administrator sees ---------------------------------------------------------
def message_counts_in(s) -> dict[str, int]:
    """The alert messages by status: pending, sending, sent, failed."""
    counts = dict(s.execute(select(OutboxMessage.status, func.count(OutboxMessage.id))
                            .where(OutboxMessage.alert_id.is_not(None)).group_by(OutboxMessage.status)).all())
    return {k: counts.get(k, 0) for k in ("pending", "sending", "sent", "failed")}


def message_counts(db: Database) -> dict[str, int]:
    with db.read() as s:
        return message_counts_in(s)


def alerts_view(db: Database, limit: int = 50) -> dict:
    """Counts of the alert messages by status, the latest messages and the latest alerts."""
    with db.read() as s:
        counts = message_counts_in(s)
        messages = s.execute(select(OutboxMessage).where(OutboxMessage.alert_id.is_not(None))
                             .order_by(OutboxMessage.id.desc()).limit(limit)).scalars().all()
        alerts = s.execute(select(ProvinceAlert, Centre.name).join(Centre, Centre.id == ProvinceAlert.centre_id)
                           .order_by(ProvinceAlert.id.desc()).limit(limit)).all()
        return {
            "counts": counts,
            "messages": [{"id": m.id, "kind": m.kind, "alert": m.payload.get("alert"), "channel": m.channel,
                          "audience": m.audience, "to": m.payload.get("to"), "text": m.payload.get("text", ""),
                          "status": m.status, "attempts": m.attempts, "last_error": m.last_error,
                          "created_at": m.created_at, "sent_at": m.sent_at} for m in messages],
            "alerts": [{"id": a.id, "kind": a.kind, "centre_name": name, "data": a.data, "started_at": a.started_at,
                        "notified_at": a.notified_at, "cleared_at": a.cleared_at} for a, name in alerts],
        }
