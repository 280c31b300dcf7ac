"""The OpenAPI 3 document of `/api/v1`, built from the pydantic request models."""
from __future__ import annotations

from functools import lru_cache

from layso.server.api import schemas
from layso.server.domain.estimate import ESTIMATE_REASONS
from layso.server.domain.statuses import CounterStatus, FieldClosed, TicketStatus

from layso import __version__

_NULL_STR = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
# why `est_wait_s` counts from the next opening ("opens_later") or is null (domain/estimate.py)
_EST_REASON = {"type": ["string", "null"], "enum": [None, *ESTIMATE_REASONS]}

_STATS_FIGURES = {
    **{k: {"type": ["number", "null"]} for k in (
        "issued", "served", "no_show", "wait_mean_s", "wait_median_s", "wait_p90_s", "service_mean_s",
        "service_median_s", "service_p90_s", "within_target_share", "rated", "satisfied_share")},
    "rating_counts": {"type": "object", "additionalProperties": {"type": "integer"},
                      "description": "ratings per score, best first"},
    "by_channel": {"type": "object", "description": "tickets issued per channel",
                   "properties": {c: {"type": "integer"} for c in ("kiosk", "staff", "online", "appointment")}}}

OBJECTS = {
    "Field": {"type": "object", "required": ["code", "name", "agency", "waiting", "open_counters", "est_wait_s",
                                              "accepting", "closed_reason"],
              "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "agency": {"type": "string"},
                             "waiting": {"type": "integer"}, "open_counters": {"type": "integer"},
                             "est_wait_s": _NULL_INT, "accepting": {"type": "boolean"},
                             "est_wait_reason": _EST_REASON,
                             "closed_reason": {"type": ["string", "null"],
                                               "enum": [None, *(str(r) for r in FieldClosed)]}}},
    "Ticket": {"type": "object", "required": ["number", "field", "field_name", "priority", "status", "issued_at",
                                               "called_at", "counter", "ahead", "est_wait_s", "track_url"],
               "properties": {"id": {"type": "integer"}, "number": {"type": "string"}, "field": {"type": "string"},
                              "field_name": {"type": "string"}, "priority": _NULL_STR,
                              "status": {"type": "string", "enum": [str(s) for s in TicketStatus]},
                              "issued_at": {"type": "string", "format": "date-time"},
                              "called_at": {"type": ["string", "null"], "format": "date-time"},
                              "counter": _NULL_INT, "ahead": _NULL_INT, "est_wait_s": _NULL_INT,
                              "est_wait_reason": _EST_REASON,
                              "track_url": {"type": ["string", "null"], "format": "uri",
                                            "description": "null for devices other than the issuing kiosk"}}},
    "Counter": {"type": "object", "required": ["number", "name", "status", "fields", "officer", "ticket"],
                "properties": {"number": {"type": "integer"}, "name": {"type": "string"},
                               "status": {"type": "string", "enum": [str(s) for s in CounterStatus]},
                               "fields": {"type": "array", "items": {"type": "string"}}, "officer": _NULL_STR,
                               "ticket": {"oneOf": [{"$ref": "#/components/schemas/Ticket"}, {"type": "null"}]}}},
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": {"type": "object", "required": ["code", "message"],
                                       "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
    "CounterResult": {"type": "object", "properties": {
        "counter": {"$ref": "#/components/schemas/Counter"},
        "ticket": {"oneOf": [{"$ref": "#/components/schemas/Ticket"}, {"type": "null"}]}}},
    "StatsRow": {"type": "object", "properties": {
        "key": {"type": ["string", "integer"]}, "label": {"type": "string"}, **_STATS_FIGURES}},
    # the range's total: the same figures, but it belongs to no group (key and label are null)
    "StatsTotal": {"type": "object", "properties": {"key": {"type": "null"}, "label": {"type": "null"},
                                                    **_STATS_FIGURES}},
    "State": {"type": "object", "required": ["seq", "centre", "counters", "fields", "recent_calls", "ticker"],
              "properties": {"seq": {"type": "integer"}, "centre": {"type": "object"},
                             "counters": {"type": "array", "items": {"$ref": "#/components/schemas/Counter"}},
                             "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}},
                             "recent_calls": {"type": "array", "items": {"type": "object"}},
                             "ticker": {"type": "string"}}},
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, security: list[str], body: str | None = None, ok: dict | None = None,
        status: str = "200", params: list | None = None, extra: dict | None = None) -> dict:
    op = {"summary": summary, "responses": {status: ok or {"description": "OK"},
                                              "400": _json(_ref("Error"), "Malformed body or bad input"),
                                              "401": _json(_ref("Error"), "No or invalid token or session"),
                                              "403": _json(_ref("Error"), "Not allowed"),
                                              "404": _json(_ref("Error"), "Unknown field, counter, ticket or link"),
                                              "409": _json(_ref("Error"), "A state that forbids it"),
                                              "429": _json(_ref("Error"), "Too many requests")}}
    if security:
        op["security"] = [{s: []} for s in security]
    else:
        op["security"] = []
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if params:
        op["parameters"] = params
    if extra:
        op["responses"].update(extra)
    return op


def _path_param(name: str, kind: str = "integer") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


# the security schemes each route accepts
DEVICE, STAFF, MANAGER, PUBLIC = ["deviceToken"], ["deviceToken", "session"], ["session"], []
REQUEST_MODELS = (schemas.IssueBody, schemas.CompleteBody, schemas.PauseBody, schemas.TransferBody,
                  schemas.RatingBody, schemas.DeviceStatusBody, schemas.CallNumberBody, schemas.PriorityBody,
                  schemas.SessionBody, schemas.PinSignInBody, schemas.TickerBody, schemas.ReprintOutcomeBody)
# counter command → its request body (None: no body)
COUNTER_COMMAND_BODIES = {"next": None, "recall": None, "skip": None, "complete": "CompleteBody",
                          "pause": "PauseBody", "resume": None, "transfer": "TransferBody",
                          "call": "CallNumberBody", "close": None}

_STATS_ANSWER = {"type": "object", "properties": {
    "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
    "group": {"type": "string"}, "rows": {"type": "array", "items": _ref("StatsRow")},
    "total": {**_ref("StatsTotal"), "description": "all tickets of the range"}}}
_STATS_QUERY = [
    {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
    {"name": "group", "in": "query",
     "schema": {"type": "string", "enum": ["field", "counter", "officer", "hour", "day"]}}]
_PROVINCE_OVERVIEW = {"type": "object", "required": ["centres"], "properties": {
    "generated_at": {"type": "string"},
    "centres": {"type": "array", "items": {"type": "object", "required": [
        "code", "name", "area", "open", "waiting", "longest_wait_s", "open_counters", "devices_offline",
        "printer_faults", "satisfied_share_today"], "properties": {
        "code": {"type": "string"}, "name": {"type": "string"}, "area": _NULL_STR,
        "open": {"type": "boolean"}, "waiting": {"type": "integer"},
        "longest_wait_s": {"type": ["integer", "null"]}, "open_counters": {"type": "integer"},
        "devices_offline": {"type": "integer"}, "printer_faults": {"type": "integer"},
        "satisfied_share_today": {"type": ["number", "null"]}}}},
    "alerts": {"type": "array", "items": {"type": "object", "properties": {
        "centre": {"type": "string"},
        "kind": {"type": "string", "enum": ["wait_over_target", "paper_out", "display_offline"]}}}}}}


def _component_schemas() -> dict:
    """The answers' objects and the request bodies (from the pydantic models)."""
    components = dict(OBJECTS)
    for model in REQUEST_MODELS:
        components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return components


def _ticket_paths() -> dict:
    tid, tok = [_path_param("id")], [_path_param("track_token", "string")]
    return {
        "/fields": {"get": _op("Fields with queue figures", STAFF,
                               ok=_json({"type": "array", "items": _ref("Field")}))},
        "/tickets": {"post": _op("Issue a ticket (idempotent by request_id)", STAFF, "IssueBody",
                                 _json(_ref("Ticket"), "Created"), status="201",
                                 extra={"200": _json(_ref("Ticket"), "Same request_id: the same ticket")})},
        "/tickets/{id}": {"get": _op("One ticket", STAFF, ok=_json(_ref("Ticket")), params=tid)},
        "/tickets/{id}/reprint": {"post": _op("The issuing kiosk prints it again", MANAGER, status="202", params=tid)},
        "/tickets/{id}/reprint/outcome": {"post": _op("The issuing kiosk reports whether a reprint came out",
                                                      DEVICE, "ReprintOutcomeBody", status="204", params=tid)},
        "/tickets/{id}/priority": {"post": _op("Grant priority to a waiting ticket", MANAGER, "PriorityBody",
                                               _json(_ref("Ticket")), params=tid)},
        "/tickets/{id}/rating": {"post": _op("Rating at the counter panel that served it", DEVICE, "RatingBody",
                                             status="201", params=tid)},
        "/track/{track_token}": {"get": _op("Public: a ticket by its tracking link", PUBLIC, ok=_json(_ref("Ticket")),
                                            params=tok)},
        "/track/{track_token}/cancel": {"post": _op("Public: cancel a waiting ticket", PUBLIC, params=tok)},
        "/track/{track_token}/rating": {"post": _op("Public: rate after service", PUBLIC, "RatingBody", status="201",
                                                    params=tok)},
    }


def _counter_paths() -> dict:
    n = [_path_param("n")]
    paths = {f"/counters/{{n}}/{action}": {"post": _op(
        f"Counter command: {action}", STAFF, body, _json(_ref("CounterResult")), params=n,
        extra={"204": {"description": "Nothing waits"}} if action == "next" else None)}
        for action, body in COUNTER_COMMAND_BODIES.items()}
    paths["/counters/{n}/signin"] = {"post": _op("A counter panel signs its officer in by PIN", DEVICE,
                                                 "PinSignInBody", _json(_ref("CounterResult")), params=n)}
    return paths


def _centre_paths() -> dict:
    """Devices, the snapshot, the ticker, statistics, sessions, this document, the province."""
    return {
        "/devices/me/status": {"post": _op("A device reports its status", DEVICE, "DeviceStatusBody", status="204")},
        "/state": {"get": _op("The snapshot devices resync from", STAFF, ok=_json(_ref("State")))},
        "/ticker": {"put": _op("Set the lobby ticker text", MANAGER, "TickerBody")},
        "/stats": {"get": _op("Statistics for a date range", MANAGER, ok=_json(_STATS_ANSWER), params=_STATS_QUERY)},
        "/session": {"post": _op("Sign in (web pages, staff console)", PUBLIC, "SessionBody"),
                     "get": _op("Who is signed in", STAFF), "delete": _op("Sign out", MANAGER, status="204")},
        "/openapi.json": {"get": _op("This document", PUBLIC)},
        "/province/overview": {"get": _op("Every centre now (province_admin only)", MANAGER,
                                          ok=_json(_PROVINCE_OVERVIEW))},
    }


@lru_cache(maxsize=1)
def document() -> dict:
    components = _component_schemas()
    paths = {**_ticket_paths(), **_counter_paths(), **_centre_paths()}
    from layso.server.api.booking import openapi_parts  # the remote channel's routes (api/booking.py)
    more_paths, more_components = openapi_parts(_op, _json, _ref)
    paths.update(more_paths)
    components.update(more_components)
    return {"openapi": "3.1.0",
            "info": {"title": "layso API", "version": __version__,
                     "description": "Queue numbers for public administrative service centres."},
            "servers": [{"url": "/api/v1"}],
            "components": {"schemas": components, "securitySchemes": {
                "deviceToken": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"}}},
            "paths": paths}
