"""`layso demo`: a demo centre on embedded SQLite that survives restarts.

The first start makes the centre (commune preset, open all hours), the demo accounts and one token
per demo device, and keeps them in a data folder: the SQLite file, the session secret beside it,
and the device tokens (`demo-tokens.json`, readable by the owner only, since the database keeps
only their hashes). Every later start reuses them, so kiosks, displays, counter panels and the web
display that were set up with the printed tokens keep working after a restart. `--fresh` (or
deleting the folder) starts afresh.

The folder is `--data DIR`, else `LAYSO_DEMO_DIR`, else `$XDG_DATA_HOME/layso/demo`
(`~/.local/share/layso/demo`).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DEMO_PASSWORDS = {"admin": "admin-demo", "manager": "manager-demo", "staff1": "staff-demo", "staff2": "staff-demo",
                  "tinh": "tinh-demo"}
DEMO_CENTRE_NAME = "Trung tâm Phục vụ hành chính công xã (trình diễn)"
DB_FILE = "demo.db"
TOKENS_FILE = "demo-tokens.json"
SECRET_FILE = "secret_key"  # where server.app.secret_key keeps the session secret beside the SQLite file


def data_folder(arg: str | None = None) -> Path:
    if arg:
        return Path(arg).expanduser()
    if os.environ.get("LAYSO_DEMO_DIR"):
        return Path(os.environ["LAYSO_DEMO_DIR"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "layso" / "demo"


def forget(folder: Path) -> list[Path]:
    """Remove the demo's own files from `folder` (nothing else in it); returns what was removed."""
    removed = []
    for name in (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", TOKENS_FILE, SECRET_FILE):
        path = folder / name
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _create(db, config) -> list[dict]:
    """Accounts and devices of a new demo centre; returns the devices with their tokens."""
    from layso.server.engine.accounts import add_user
    from layso.server.engine.devices import add_device
    add_user(db, "admin", "admin", DEMO_PASSWORDS["admin"], full_name="Quản trị viên")
    add_user(db, "manager", "manager", DEMO_PASSWORDS["manager"], full_name="Lãnh đạo Trung tâm")
    add_user(db, "staff1", "staff", DEMO_PASSWORDS["staff1"], full_name="Nguyễn Thị Lan", pin="1111")
    add_user(db, "staff2", "staff", DEMO_PASSWORDS["staff2"], full_name="Trần Văn Minh", pin="2222")
    add_user(db, "tinh", "province_admin", DEMO_PASSWORDS["tinh"], full_name="Văn phòng UBND tỉnh")
    devices = [{"role": "kiosk", "name": "Kiosk sảnh chính"}, {"role": "display", "name": "Màn hình sảnh"}]
    devices += [{"role": "counter", "name": f"Bảng quầy {c.number}", "counter": c.number} for c in config.counters[:3]]
    for d in devices:
        d["token"] = add_device(db, d["role"], d["name"], counter=d.get("counter"))
    return devices


def run(port: int = 5000, data: str | None = None, fresh: bool = False) -> int:
    from layso.config import parse_config, preset_data
    from layso.logs import setup_logging
    from layso.server import serving
    from layso.server.app import create_app
    from layso.server.auth import device_principal
    setup_logging("WARNING")
    folder = data_folder(data)
    folder.mkdir(parents=True, exist_ok=True)
    if fresh:
        forget(folder)
    db_path, tokens_path = folder / DB_FILE, folder / TOKENS_FILE
    if db_path.exists() != tokens_path.exists():  # half a demo (a crash on the first start): begin again
        forget(folder)
    resumed = db_path.exists()
    data_ = preset_data("commune", open_all_hours=True)
    data_["centre"]["name"] = DEMO_CENTRE_NAME
    data_["centre"]["code"] = "demo"
    config = parse_config(data_, "demo")
    app = create_app(config, db_url=f"sqlite:///{db_path}")  # the secret stays in the folder too
    db = app.extensions["layso"].db
    if resumed:
        devices = json.loads(tokens_path.read_text(encoding="utf-8"))
    else:
        devices = _create(db, config)
        _write_private(tokens_path, json.dumps(devices, ensure_ascii=False, indent=1))
    base = f"http://127.0.0.1:{port}"
    print(f"layso demo — {config.centre.name}")
    if resumed:
        print(f"  data folder: {folder} (kept from the last start: same centre, accounts and device tokens)")
    else:
        print(f"  data folder: {folder} (new; kept across restarts)")
    print("  to start afresh: layso demo --fresh (or delete that folder)")
    print("web pages:")
    display = next(d for d in devices if d["role"] == "display")
    for label, path in demo_pages(app):
        if path == "/display":
            path = f"/display?token={display['token']}"
        print(f"  {label:<30} {base}{path}")
    print("demo accounts (username / password):")
    notes = {"staff1": " (PIN 1111 at a counter panel)", "staff2": " (PIN 2222)",
             "tinh": " (province administrator: the province overview)"}
    for user, pw in DEMO_PASSWORDS.items():
        print(f"  {user:<10} {pw}{notes.get(user, '')}")
    print("device tokens:")
    for d in devices:
        role = f"counter {d['counter']}" if d.get("counter") else d["role"]
        state = "" if device_principal(db, d["token"]) else "  (revoked in the admin pages)"
        print(f"  {role:<10} {d['name']:<20} {d['token']}{state}")
    kiosk = next(d for d in devices if d["role"] == "kiosk")
    counter = next((d for d in devices if d["role"] == "counter"), None)
    print("device programs (in another terminal), e.g.:")
    print(f"  .venv/bin/layso kiosk --server {base} --token {kiosk['token']} --printer png:/tmp/layso-tickets")
    print(f"  .venv/bin/layso display --server {base} --token {display['token']}")
    if counter:
        print(f"  .venv/bin/layso counter --server {base} --token {counter['token']}")
    try:
        listener = serving.bind("127.0.0.1", port)  # the production server, as `layso serve`
    except RuntimeError as err:
        print(f"layso: {err} (another demo or server? pick another port with --port)", file=sys.stderr)
        return 2
    serving.serve_gevent(app, listener, announce=f"layso: serving on http://127.0.0.1:{listener.getsockname()[1]}")
    return 0


def demo_pages(app) -> list[tuple[str, str]]:
    """The web pages this build serves, for the demo's listing."""
    known = [("Sign in / home", "/login"), ("Staff console", "/console"), ("Lobby display (web)", "/display"),
             ("Manager dashboard", "/manage"), ("Online bookings today", "/manage/remote"),
             ("Administration", "/admin"), ("Province overview", "/province"),
             ("Take a number online (phones)", "/book"), ("API (OpenAPI)", "/api/v1/openapi.json"),
             ("Health", "/healthz"), ("Ready (database writable)", "/readyz")]
    rules = {r.rule for r in app.url_map.iter_rules()}  # by path: endpoint names move with refactors
    return [(label, path) for label, path in known if path in rules]
