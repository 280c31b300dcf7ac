"""The `layso` command line (CONTRACT.md, "Command line")."""
from __future__ import annotations

import argparse
import getpass
import logging
import os
import secrets
import sys
from pathlib import Path

from layso.config import PRESETS, ConfigError, load_config, preset_data, write_config
from layso.server.domain.accounts import ALL_USER_ROLES, DEVICE_ROLES


def _config_path(args) -> str | None:
    path = getattr(args, "config", None) or os.environ.get("LAYSO_CONFIG")
    if path:
        return path
    return "layso.toml" if Path("layso.toml").exists() else None


def _db_url(args) -> str:
    from layso.server.storage.database import default_database_url
    return getattr(args, "db", None) or default_database_url()


def _fail(message: str, code: int = 2) -> int:
    print(f"layso: {message}", file=sys.stderr)
    return code


# ---- init -----------------------------------------------------------------------------------
def cmd_init(args) -> int:
    path = Path(args.config or os.environ.get("LAYSO_CONFIG") or "layso.toml")
    if path.exists() and not args.force:
        return _fail(f"{path} exists already (use --force to overwrite)")
    data = preset_data(args.preset, open_all_hours=args.open_all_hours)
    write_config(data, path)
    print(f"layso: wrote {path} from the {args.preset} preset "
          f"({len(data['fields'])} fields, {len(data['counters'])} counters)")
    return 0


# ---- database helpers for device/user add ---------------------------------------------------------
def _open_db(args):
    from layso.server.engine import seed_centre
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade
    db = Database(_db_url(args))
    upgrade(db)
    path = _config_path(args)
    if path:
        seed_centre(db, load_config(path))
    return db


def cmd_device_add(args) -> int:
    from layso.server.engine.devices import add_device
    from layso.server.errors import QueueError
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else None
    try:
        counters = [int(c) for c in args.counters.split(",") if c.strip()] if args.counters else None
    except ValueError:
        return _fail("--counters takes comma-separated counter numbers")
    db = _open_db(args)
    try:
        token = add_device(db, args.role, args.name, args.centre, args.counter, fields, counters)
    except QueueError as err:
        return _fail(err.message)
    print(f"layso: device {args.name!r} ({args.role}) added; its token (shown once):")
    print(token)
    return 0


def cmd_user_add(args) -> int:
    from layso.server.engine.accounts import add_user
    from layso.server.errors import QueueError
    generated = False
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            return _fail("the passwords differ")
    else:
        password, generated = secrets.token_urlsafe(12), True
    db = _open_db(args)
    try:
        add_user(db, args.username, args.role, password, args.centre, full_name=args.full_name or "", pin=args.pin)
    except QueueError as err:
        return _fail(err.message)
    print(f"layso: user {args.username!r} ({args.role}) added")
    if generated:
        print(f"password: {password}")
    return 0


# ---- serve and demo -------------------------------------------------------------------------------
def cmd_serve(args) -> int:
    """The production server (server/serving.py): one gevent process, or --workers N of them."""
    from layso.logs import setup_logging
    from layso.server import serving
    setup_logging()
    path = _config_path(args)
    config = load_config(path) if path else None
    url = _db_url(args)
    public_url = config.centre.public_url if config else None
    queue = os.environ.get("LAYSO_MESSAGE_QUEUE") or None
    if args.workers < 1:
        return _fail("--workers must be 1 or more")
    if args.workers > 1 and not (url.startswith(("postgresql", "postgres:")) and queue):
        return _fail("--workers above 1 needs --db postgresql://… and LAYSO_MESSAGE_QUEUE (e.g. redis://127.0.0.1:6379/0): "
                     "processes share the database and send each other's events through Redis")
    from layso.server.app import create_app
    from layso.server.startup import forget_presence, prepare_database
    from layso.server.storage.database import Database
    if args.worker_fd is not None:  # one of the parent's workers: the parent prepared the database
        import socket
        listener = socket.socket(fileno=args.worker_fd)
        serving.die_with_parent()
        app = create_app(config, public_url=public_url, db=Database(url), message_queue=queue, websocket_only=True)
        serving.serve_gevent(app, listener, announce="ready", heartbeat=serving.worker_heartbeat)
        # stopped: leave now. The interpreter's own shutdown could wait for ever on the Redis
        # listener's greenlet (a worker was seen idle 25 minutes after its SIGTERM)
        logging.shutdown()
        os._exit(0)
    try:
        db = prepare_database(url, config)
    except RuntimeError as err:
        return _fail(str(err))
    if args.workers > 1:
        db.dispose()
        argv = [sys.executable, "-m", "layso.cli", "serve", "--db", url]
        if path:
            argv += ["--config", str(Path(path).resolve())]
        try:
            serving.run_workers(args.workers, args.host, args.port, argv)
        except RuntimeError as err:
            return _fail(str(err))
        return 0
    if not queue:
        forget_presence(db)  # one process holds every connection: nobody is connected yet
    app = create_app(config, public_url=public_url, db=db, message_queue=queue)
    try:
        listener = serving.bind(args.host, args.port)
    except RuntimeError as err:  # the port is taken (another server, an old one still stopping) or not ours
        return _fail(str(err))
    serving.serve_gevent(app, listener, announce=f"layso: serving on http://{args.host}:{listener.getsockname()[1]}")
    return 0


def cmd_demo(args) -> int:
    from layso.demo import run
    return run(args.port, data=args.data, fresh=args.fresh)


# ---- parser -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="layso", description="lấy số — queue numbers for public service centres")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", help="write a TOML configuration from a preset")
    s.add_argument("--config", help="where to write (default: layso.toml)")
    s.add_argument("--preset", choices=PRESETS, default="commune")
    s.add_argument("--open-all-hours", action="store_true", help="open every day, all day (demos, tests)")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("serve", help="run the server")
    s.add_argument("--config")
    s.add_argument("--db", help="database URL (default: LAYSO_DATABASE_URL or an SQLite file)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--workers", type=int, default=1,
                   help="server processes (above 1: PostgreSQL and LAYSO_MESSAGE_QUEUE needed)")
    s.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)  # a worker of `--workers N`
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("demo", help="run a demo centre on embedded SQLite (kept across restarts)")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--data", help="the demo's data folder (default: LAYSO_DEMO_DIR or ~/.local/share/layso/demo)")
    s.add_argument("--fresh", action="store_true", help="forget the previous demo: new centre, accounts and tokens")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("device", help="manage devices")
    dsub = s.add_subparsers(dest="device_command", required=True)
    d = dsub.add_parser("add", help="add a device and print its token")
    d.add_argument("--role", choices=DEVICE_ROLES, required=True)
    d.add_argument("--name", required=True)
    d.add_argument("--counter", type=int, help="the counter a counter panel belongs to")
    d.add_argument("--fields", help="display zone: comma-separated field codes")
    d.add_argument("--counters", help="display zone: comma-separated counter numbers")
    d.add_argument("--centre", help="centre code (when the database has several)")
    d.add_argument("--config")
    d.add_argument("--db")
    d.set_defaults(func=cmd_device_add)

    s = sub.add_parser("user", help="manage accounts")
    usub = s.add_subparsers(dest="user_command", required=True)
    u = usub.add_parser("add", help="add an account")
    u.add_argument("username")
    u.add_argument("--role", choices=ALL_USER_ROLES, required=True)
    u.add_argument("--centre")
    u.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    u.add_argument("--full-name", help="the name shown on counters and reports")
    u.add_argument("--pin", help="digits for signing in at a counter panel")
    u.add_argument("--config")
    u.add_argument("--db")
    u.set_defaults(func=cmd_user_add)
    # ---- device and tool commands: one register line each ----
    __import__("layso.counter_panel.cli", fromlist=["register"]).register(sub)
    __import__("layso.bench.cli", fromlist=["register"]).register(sub)
    __import__("layso.display.cli", fromlist=["register"]).register(sub)
    __import__("layso.kiosk.cli", fromlist=["register"]).register(sub)
    __import__("layso.server.cli_export", fromlist=["register"]).register(sub)
    __import__("layso.server.cli_backup", fromlist=["register"]).register(sub)
    __import__("layso.install", fromlist=["register"]).register(sub)
    __import__("layso.centre_cli", fromlist=["register"]).register(sub)
    __import__("layso.server.notify.vapid", fromlist=["register"]).register(sub)
    # ---- end of device and tool commands ----
    return p


def _serves_on_gevent(argv: list[str]) -> bool:
    """`layso serve` (one process or a worker) and `layso demo` run on gevent; the parent of several
    workers does not (it only supervises)."""
    if not argv or argv[0] not in ("serve", "demo"):
        return False
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--workers=") else \
            (argv[i + 1] if arg == "--workers" and i + 1 < len(argv) else None)
        if value is not None and value.strip() not in ("1", ""):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the program itself (never a test calling main): patch before Flask is imported
        argv = sys.argv[1:]
        if _serves_on_gevent(argv) and not os.environ.get("LAYSO_NO_GEVENT"):
            from layso.server.serving import patch
            patch()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ConfigError as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
