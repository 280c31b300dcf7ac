"""Fuzzing the REST API from its own OpenAPI document (issue 11): schemathesis generates requests for
every operation, sent to a real server process on SQLite and on PostgreSQL with each role's
credentials (and none); no answer may be a 5xx, and every answer must match the document.

The number of examples per operation and role is small (LAYSO_FUZZ_EXAMPLES, default 6) so that the
whole test takes a minute or two; raise it for a longer hunt."""
from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from conftest import start_server
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

EXAMPLES = int(os.environ.get("LAYSO_FUZZ_EXAMPLES", "6"))
PASSWORD = "password-123"


def credentials(sp) -> dict[str, dict]:
    """Headers per role: device tokens, and signed-in sessions (cookie and CSRF token) for users."""
    roles = {"nobody": {}}
    for role, kw in (("kiosk", {}), ("display", {}), ("counter", {"counter": 1})):
        roles[role] = {"Authorization": f"Bearer {sp.add_device(role, f'Fuzz {role}', **kw)}"}
    for role, body in (("staff", {"counter": 2}), ("manager", {}), ("admin", {}), ("province_admin", {})):
        sp.add_user(f"fuzz-{role}", role)
        web = requests.Session()
        r = web.post(sp.url + "/api/v1/session", json={"username": f"fuzz-{role}", "password": PASSWORD, **body},
                     timeout=10)
        assert r.status_code == 200, r.text
        cookie = "; ".join(f"{k}={v}" for k, v in web.cookies.items())
        roles[role] = {"Cookie": cookie, "X-CSRFToken": r.json()["csrf_token"]}
    return roles


def fuzz(sp) -> tuple[list[str], dict]:
    """Run every operation for every role; → (the failures, described; answers counted by status)."""
    doc = requests.get(sp.url + "/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    roles = credentials(sp)
    # some tickets to act on, so that generated ids and counter commands reach real rows too
    for _ in range(5):
        sp.post("/api/v1/tickets", None, {"field": "dat-dai"}, headers=roles["kiosk"])
    failures: list[str] = []
    statuses: dict[int, int] = {}
    http = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        for role, headers in roles.items():
            if operation.method.upper() == "DELETE" and operation.path == "/session" and "Cookie" in headers:
                continue  # signing the fuzzing roles out would end their part of the hunt

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def run(case):
                response = case.call(base_url=sp.url + "/api/v1", session=http, headers=dict(headers), timeout=15)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                try:
                    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance,
                                                             content_type_conformance])
                except Exception as err:  # noqa: BLE001 - collected, reported together
                    failures.append(f"{role} {operation.method.upper()} {operation.path}: {response.status_code} "
                                    f"{response.text[:200]!r}\n  {str(err).splitlines()[0] if str(err) else err!r}")
            run()
    return failures, statuses


@pytest.mark.timeout(600)
def test_fuzz_the_api_on_sqlite(tmp_path):
    sp = start_server(tmp_path)
    try:
        failures, statuses = fuzz(sp)
    finally:
        sp.stop()
    assert not failures, "\n".join(failures[:20])
    print("fuzz answers by status:", statuses)
    assert sum(statuses.values()) > 300 and {200, 400, 401, 403} <= set(statuses), statuses


@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_fuzz_the_api_on_postgresql(tmp_path, pg_url):
    sp = start_server(tmp_path, db_url=pg_url)
    try:
        failures, statuses = fuzz(sp)
    finally:
        sp.stop()
    assert not failures, "\n".join(failures[:20])
    print("fuzz answers by status:", statuses)
    assert sum(statuses.values()) > 300 and {200, 400, 401, 403} <= set(statuses), statuses
