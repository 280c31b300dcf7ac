"""`layso install`: the systemd units it writes pass `systemd-analyze verify`, the token file is 0600,
`--dry-run` prints and writes nothing; sd_notify reaches a real datagram socket, at the watchdog's pace."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from layso import systemd
from layso.cli import main
from layso.install import SERVER_ENVIRONMENT

LAYSO = str(Path(sys.executable).parent / "layso")


def _install(tmp_path: Path, *args: str) -> int:
    return main(["install", *args, "--root", str(tmp_path / "root"), "--program", LAYSO])


@pytest.fixture
def installed(tmp_path, capsys):
    token = tmp_path / "kiosk.token.src"
    token.write_text("the-device-token\n")
    assert _install(tmp_path, "server") == 0
    for role in ("kiosk", "display", "counter"):
        assert _install(tmp_path, role, "--server", "http://192.168.1.10:5000", "--token-file", str(token)) == 0
    capsys.readouterr()
    return tmp_path / "root"


def test_units_pass_systemd_analyze_verify(installed):
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("LAYSO_REQUIRE_SERVICES") == "1":
            pytest.fail("systemd-analyze is required here (LAYSO_REQUIRE_SERVICES=1): ./dev test installs systemd")
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    units = sorted((installed / "etc/systemd/system").iterdir())
    assert [u.name for u in units] == ["layso-backup.service", "layso-backup.timer", "layso-counter.service",
                                       "layso-display.service", "layso-kiosk.service", "layso.service"]
    done = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True,
                          cwd=units[0].parent)
    if "Failed to initialize" in done.stderr or "System has not been booted with systemd" in done.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # no unknown key, no bad value


def test_units_restart_and_watch_and_tokens_are_private(installed):
    etc = installed / "etc/layso"
    for role in ("kiosk", "display", "counter"):
        unit = (installed / f"etc/systemd/system/layso-{role}.service").read_text()
        assert "Restart=always" in unit and "WatchdogSec=" in unit and "Type=notify" in unit
        assert "SDL_VIDEODRIVER=kmsdrm" in unit and "consoleblank" in unit
        assert f"--token-file /etc/layso/{role}.token" in unit and "--server http://192.168.1.10:5000" in unit
        token = etc / f"{role}.token"
        assert token.read_text() == "the-device-token\n"
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
    server = (installed / "etc/systemd/system/layso.service").read_text()
    assert "Restart=always" in server and "WatchdogSec=30" in server
    assert f"ExecStart={LAYSO} serve --config /etc/layso/layso.toml" in server
    # as the bench measures it: no docstrings, compiled once where the service may write
    assert "Environment=PYTHONOPTIMIZE=2" in server and "Environment=MALLOC_ARENA_MAX=2" in server
    assert "CacheDirectory=layso" in server and "Environment=PYTHONPYCACHEPREFIX=/var/cache/layso/pycache" in server
    assert stat.S_IMODE((etc / "layso.env").stat().st_mode) == 0o600
    env = (etc / "layso.env").read_text()
    assert "LAYSO_DATABASE_URL=sqlite:////var/lib/layso/layso.db" in env and "LAYSO_SECRET_KEY=" in env
    vapid = next(line.split("=", 1)[1] for line in env.splitlines() if line.startswith("LAYSO_VAPID_KEY="))
    from layso.server.notify.vapid import parse_key
    assert parse_key(vapid).curve.name == "secp256r1"  # Web Push's key, the same on every machine
    timer = (installed / "etc/systemd/system/layso-backup.timer").read_text()
    assert "OnCalendar=" in timer and "Persistent=true" in timer
    assert "--keep 14" in (installed / "etc/systemd/system/layso-backup.service").read_text()
    from layso.config import load_config
    assert load_config(etc / "layso.toml").counters  # a whole centre to start from


def test_reinstall_keeps_the_installers_config_and_secret(installed, tmp_path):
    env = installed / "etc/layso/layso.env"
    before = env.read_text()
    (installed / "etc/layso/layso.toml").write_text("# edited\n")
    assert _install(tmp_path, "server") == 0
    assert env.read_text() == before
    assert (installed / "etc/layso/layso.toml").read_text() == "# edited\n"


def test_dry_run_prints_and_writes_nothing(tmp_path, capsys):
    assert _install(tmp_path, "display", "--server", "http://10.0.0.2:5000", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "/etc/systemd/system/layso-display.service" in out and "layso display --server http://10.0.0.2:5000" in out
    assert "not shown" in out
    assert not (tmp_path / "root").exists()


def test_a_device_needs_its_server_and_token(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LAYSO_TOKEN", raising=False)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    assert _install(tmp_path, "kiosk", "--token-file", str(tmp_path / "x")) == 2
    assert "--server" in capsys.readouterr().err
    assert _install(tmp_path, "kiosk", "--server", "http://10.0.0.2:5000") == 2
    assert "token" in capsys.readouterr().err
    assert _install(tmp_path, "server", "--workers", "2") == 2  # several processes need PostgreSQL and Redis


def test_sd_notify_reaches_the_socket_at_the_watchdogs_pace(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "10000000")  # 10 s
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
        assert systemd.notify("READY=1")
        assert sock.recv(100) == b"READY=1"
        now = [100.0]
        dog = systemd.Watchdog(clock=lambda: now[0])
        assert dog.enabled and dog.interval == 10
        assert dog.tick()
        assert sock.recv(100) == b"WATCHDOG=1"
        now[0] += 4.9
        assert not dog.tick()  # at most every half interval
        now[0] += 0.2
        assert dog.tick()
        assert sock.recv(100) == b"WATCHDOG=1"


def test_sd_notify_outside_systemd_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")  # another process's watchdog
    assert systemd.notify("READY=1") is False
    assert not systemd.Watchdog().enabled


def test_a_kiosk_with_a_camera(tmp_path, capsys):
    token = tmp_path / "t"
    token.write_text("tok\n")
    args = ("kiosk", "--server", "http://10.0.0.2:5000", "--token-file", str(token))
    assert _install(tmp_path, *args, "--scanner", "camera:/dev/video0?fps=5") == 0
    unit = (tmp_path / "root/etc/systemd/system/layso-kiosk.service").read_text()
    assert "--scanner 'camera:/dev/video0?fps=5'" in unit
    assert _install(tmp_path, *args, "--scanner", "laser") == 2
    assert "--scanner must be" in capsys.readouterr().err


def test_the_api_document_is_the_same_without_docstrings():
    """The unit runs the server with PYTHONOPTIMIZE=2 (no docstrings, 6 MiB less): the OpenAPI
    document it serves must be the one built with them (pydantic takes a model's description from
    its docstring)."""
    import json

    from layso.server.api.openapi import document
    code = ("import json, sys; from layso.server.api.openapi import document; "
            "print(json.dumps({'optimize': sys.flags.optimize, 'document': document()}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **SERVER_ENVIRONMENT})
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["optimize"] == 2  # the environment the unit sets takes the docstrings away
    assert out["document"] == json.loads(json.dumps(document()))
