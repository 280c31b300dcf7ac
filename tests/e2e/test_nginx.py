"""The shipped nginx configuration (deploy/nginx/layso.conf) in front of three `layso serve` processes
on PostgreSQL + Redis (a `--workers 2` server and a single one, as two upstream hosts), over TLS:
device, console and tracking flows through it, events crossing processes."""
from __future__ import annotations

import re
import uuid

import pytest
import requests
import socketio
from conftest import require_services, start_server, wait_for
from sqlalchemy import select

from layso.bench.proxy import NginxProxy, nginx_binary
from layso.server.storage.database import Database
from layso.server.storage.models import Device

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]



class Listener:
    """A raw Socket.IO client that records every event's (name, seq)."""

    def __init__(self, url: str, auth: dict):
        self.seen: list[tuple[str, int | None, dict]] = []
        self.state_seq = None
        self.sio = socketio.Client(reconnection=False, ssl_verify=False)
        self.sio.on("state", self._state)
        self.sio.on("*", self._any)
        # as the pages' and devices' own clients do, a first connect that gets no answer is tried again
        # (the flows through the proxy are under test here, not one handshake's luck)
        for attempt in range(3):
            try:
                self.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)
                break
            except socketio.exceptions.ConnectionError as e:
                print(f"connect to {url} failed (attempt {attempt + 1}): {e}")
                if attempt == 2:
                    raise

    def _state(self, data):
        self.state_seq = data["seq"]  # a second `state` (an event fell between snapshot and join) replaces it

    def _any(self, event, data):
        self.seen.append((event, data.get("seq"), data))

    def events(self, name):
        return [d for e, _s, d in self.seen if e == name]

    def close(self):
        self.sio.disconnect()


def online(db_url: str, name: str) -> bool:
    db = Database(db_url)
    try:
        with db.read() as s:
            return s.execute(select(Device.online).where(Device.name == name)).scalar_one()
    finally:
        db.dispose()


@pytest.fixture
def cluster(tmp_path, pg_url, redis_url):
    if nginx_binary() is None:
        if require_services():
            pytest.fail("nginx is required here (LAYSO_REQUIRE_SERVICES=1): ./dev test installs Debian's nginx")
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; ./dev test installs it)")
    env = {"LAYSO_MESSAGE_QUEUE": redis_url, "LAYSO_MESSAGE_QUEUE_CHANNEL": f"layso-test-{uuid.uuid4().hex[:8]}",
           "LAYSO_TRUSTED_PROXIES": "1"}
    a = start_server(tmp_path, db_url=pg_url, env=env, args=["--workers", "2"])
    servers = [a]
    proxy = None
    try:
        b = start_server(tmp_path, db_url=pg_url, env=env)
        servers.append(b)
        proxy = NginxProxy(tmp_path / "nginx", [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]).start()
        yield proxy, a, b
    finally:
        if proxy is not None:
            proxy.stop()
        for sp in servers:
            sp.stop()


def test_device_console_and_tracking_flows_through_nginx(cluster, pg_url):
    proxy, a, b = cluster
    kiosk = a.add_device("kiosk", "Kiosk sảnh")
    tv = a.add_device("display", "TV sảnh")
    panel = a.add_device("counter", "Bảng quầy 1", counter=1)
    a.add_user("lan", "staff", full_name="Nguyễn Thị Lan")
    web = requests.Session()
    web.trust_env = False
    web.verify = str(proxy.workdir / "cert.pem")  # the test's own certificate authority

    # devices: a lobby TV through the proxy (WebSocket over TLS), another straight on each upstream
    through = Listener(proxy.url, {"token": tv})
    direct = [Listener(sp.url, {"token": tv}) for sp in (a, b)]
    listeners = [through, *direct]
    try:
        assert wait_for(lambda: all(li.state_seq is not None for li in listeners))
        assert wait_for(lambda: online(pg_url, "TV sảnh"))

        issued = web.post(f"{proxy.url}/api/v1/tickets", json={"field": "dat-dai"},
                          headers={"Authorization": f"Bearer {kiosk}"}, timeout=10)
        assert issued.status_code == 201, issued.text
        ticket = issued.json()
        # links printed on tickets point at the proxy's https address (X-Forwarded-* trusted)
        assert ticket["track_url"].startswith(proxy.url + "/"), ticket["track_url"]
        track = ticket["track_url"].rsplit("/", 1)[1]

        # tracking: the citizen's page and its live feed through the proxy
        page = web.get(ticket["track_url"], timeout=10)
        assert page.status_code == 200 and ticket["number"] in page.text
        phone = Listener(proxy.url, {"track": track})
        listeners.append(phone)
        assert web.get(f"{proxy.url}/api/v1/track/{track}", timeout=10).json()["status"] == "waiting"

        # console: an officer signs in at counter 1 through the proxy and calls the ticket
        login = web.get(f"{proxy.url}/login", timeout=10)
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', login.text).group(1)
        signed = web.post(f"{proxy.url}/login", data={"username": "lan", "password": "password-123", "counter": "1",
                                                      "csrf_token": csrf},
                          headers={"Referer": f"{proxy.url}/login"}, timeout=10, allow_redirects=False)
        assert signed.status_code == 302, signed.text[:500]
        assert "Secure" in signed.headers.get("Set-Cookie", "") or web.cookies  # a session over https
        console = web.get(f"{proxy.url}/console", timeout=10)
        assert console.status_code == 200
        csrf = web.get(f"{proxy.url}/api/v1/session", timeout=10).json()["csrf_token"]
        called = web.post(f"{proxy.url}/api/v1/counters/1/next", json={},
                          headers={"X-CSRFToken": csrf, "Referer": f"{proxy.url}/console"}, timeout=10)
        assert called.status_code == 200, called.text
        assert called.json()["ticket"]["number"] == ticket["number"]

        # every TV — through the proxy or on either upstream — sees the issue and the call, in seq order
        for li in (through, *direct):
            assert wait_for(lambda li=li: li.events("ticket.called")), "a display missed the call"
            seqs = [s for _e, s, _d in li.seen if s is not None and s > li.state_seq]
            assert seqs == list(range(li.state_seq + 1, li.state_seq + 1 + len(seqs))), seqs
            assert [d["ticket"]["number"] for d in li.events("ticket.issued")] == [ticket["number"]]
        assert wait_for(lambda: phone.events("ticket.called"))
        assert "track_url" not in phone.events("ticket.called")[0]["ticket"]
        assert web.get(f"{proxy.url}/api/v1/track/{track}", timeout=10).json()["status"] == "called"

        # the counter panel's REST command through the proxy
        done = web.post(f"{proxy.url}/api/v1/counters/1/complete", json={},
                        headers={"Authorization": f"Bearer {panel}"}, timeout=10)
        assert done.status_code == 200, done.text
        assert wait_for(lambda: direct[1].events("ticket.completed"))

        # Prometheus figures are not served through the proxy
        assert web.get(f"{proxy.url}/metrics", timeout=10).status_code == 403
        assert web.get(f"{proxy.url}/healthz", timeout=10).status_code == 200
    finally:
        for li in listeners:
            li.close()
    # the TV had connections on three processes; it is offline only once all of them closed
    assert wait_for(lambda: not online(pg_url, "TV sảnh"))
