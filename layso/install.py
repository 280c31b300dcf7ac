"""`layso install server|kiosk|display|counter [--server URL] [--token-file PATH] [--dry-run]`.

Writes what systemd needs to run a layso program on this machine and keep it running:

- server: `layso.service` (Type=notify, a watchdog fed from the server's health, Restart=always),
  `layso-backup.service` + `layso-backup.timer` (a nightly backup, the newest 14 kept), the config
  `/etc/layso/layso.toml` (from --config or the commune preset, if absent) and the environment file
  `/etc/layso/layso.env` (database URL, message queue, a generated secret key; mode 0600).
- kiosk, display, counter: `layso-<role>.service` — pygame straight on the screen (KMSDRM, no
  desktop), console blanking off, the tty1 login prompt out of the way, a watchdog fed from the
  program's frame loop — and the device token in `/etc/layso/<role>.token`, mode 0600.

Every program logs to journald in one format (logfmt, `layso/logs.py`) under its own identifier.
`--dry-run` prints the files instead of writing them; `--root DIR` writes under DIR (tests, images).
Nothing is enabled or started: the command prints the two `systemctl` lines to run.
"""
from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROLES = ("server", "kiosk", "display", "counter")
USER = "layso"
ETC = Path("/etc/layso")
UNIT_DIR = Path("/etc/systemd/system")
STATE = Path("/var/lib/layso")
SERVER_WATCHDOG_S = 30
DEVICE_WATCHDOG_S = 20
BACKUP_KEEP = 14


@dataclass
class InstallFile:
    path: Path  # absolute, as on the target machine
    text: str
    mode: int = 0o644
    secret: bool = False  # owned by the service user, never printed by --dry-run
    keep_existing: bool = False  # the installer's own edits win over a re-install


def layso_program() -> str:
    """The `layso` command of this installation (the virtual environment's, when there is one)."""
    beside = Path(sys.executable).parent / "layso"
    if beside.exists():
        return str(beside)
    return shutil.which("layso") or "/usr/local/bin/layso"


def new_vapid_key() -> str:
    """A Web Push (VAPID) private key for LAYSO_VAPID_KEY: the base64url of a P-256 scalar."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import ec
    raw = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# How the server process runs, here and wherever it is measured or tested as installed (`layso bench`,
# the tests' server processes): two malloc arenas, not one per thread of the database pool (7 MiB less
# a process), no docstrings in memory (nothing of the server reads them; 6 MiB less). docs/PERFORMANCE.md
SERVER_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2", "PYTHONOPTIMIZE": "2"}


def server_files(program: str, config_text: str, db_url: str, message_queue: str | None, workers: int,
                 host: str, port: int, secret: str) -> list[InstallFile]:
    env = [f"# layso server settings (read by {UNIT_DIR / 'layso.service'})",
           f"LAYSO_DATABASE_URL={db_url}", f"LAYSO_SECRET_KEY={secret}", f"LAYSO_VAPID_KEY={new_vapid_key()}",
           f"LAYSO_BACKUP_DIR={STATE / 'backups'}"]
    if message_queue:
        env.append(f"LAYSO_MESSAGE_QUEUE={message_queue}")
    workers_arg = f" --workers {workers}" if workers > 1 else ""
    after = "network-online.target" + (" postgresql.service" if db_url.startswith("postgres") else "") + \
        (" redis-server.service" if message_queue else "")
    server_environment = "\n".join(f"Environment={k}={v}" for k, v in SERVER_ENVIRONMENT.items())
    service = f"""[Unit]
Description=layso queue-number server (lấy số)
Documentation=file:///usr/share/doc/layso/DEPLOY.md
After={after}
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
User={USER}
Group={USER}
EnvironmentFile={ETC / 'layso.env'}
# two malloc arenas (7 MiB less), no docstrings in memory (6 MiB less): docs/PERFORMANCE.md; the
# bytecode is compiled once into the cache directory (the program's own folders are read-only here)
{server_environment}
Environment=PYTHONPYCACHEPREFIX=/var/cache/layso/pycache
CacheDirectory=layso
ExecStart={program} serve --config {ETC / 'layso.toml'} --host {host} --port {port}{workers_arg}
Restart=always
RestartSec=2
# a backup and a migration may run before the server is ready
TimeoutStartSec=600
WatchdogSec={SERVER_WATCHDOG_S}
StateDirectory=layso
StateDirectoryMode=0750
WorkingDirectory={STATE}
SyslogIdentifier=layso-server
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""
    backup_service = f"""[Unit]
Description=layso database backup
After=layso.service

[Service]
Type=oneshot
User={USER}
Group={USER}
EnvironmentFile={ETC / 'layso.env'}
ExecStart={program} backup --out {STATE / 'backups'} --keep {BACKUP_KEEP}
StateDirectory=layso
SyslogIdentifier=layso-backup
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
"""
    timer = """[Unit]
Description=layso database backup, every night

[Timer]
OnCalendar=*-*-* 02:30:00
RandomizedDelaySec=15min
Persistent=true

[Install]
WantedBy=timers.target
"""
    return [InstallFile(UNIT_DIR / "layso.service", service),
            InstallFile(UNIT_DIR / "layso-backup.service", backup_service),
            InstallFile(UNIT_DIR / "layso-backup.timer", timer),
            InstallFile(ETC / "layso.env", "\n".join(env) + "\n", 0o600, secret=True, keep_existing=True),
            InstallFile(ETC / "layso.toml", config_text, 0o640, keep_existing=True)]


DEVICE_COMMAND = {"kiosk": "kiosk", "display": "display", "counter": "counter"}
DEVICE_OPTIONS = {"kiosk": " --fullscreen", "display": " --fullscreen", "counter": " --fullscreen"}
DEVICE_GROUPS = {"kiosk": "video render input audio lp dialout plugdev gpio",
                 "display": "video render input audio",
                 "counter": "video render input audio dialout plugdev gpio"}


def device_unit(role: str, program: str, server: str, token_path: Path, extra: str = "") -> str:
    return f"""[Unit]
Description=layso {role} (lấy số)
Documentation=file:///usr/share/doc/layso/DEPLOY.md
After=network-online.target systemd-user-sessions.service
Wants=network-online.target
# the screen belongs to this program: no login prompt on it
Conflicts=getty@tty1.service

[Service]
Type=notify
NotifyAccess=main
User={USER}
Group={USER}
SupplementaryGroups={DEVICE_GROUPS[role]}
# pygame draws straight on the screen through KMS/DRM, without a desktop
Environment=SDL_VIDEODRIVER=kmsdrm
Environment=SDL_AUDIODRIVER=alsa
Environment=SDL_VIDEO_ALLOW_SCREENSAVER=0
# screen blanking off: the console's and the display's power saving
ExecStartPre=+-/bin/sh -c 'echo 0 > /sys/module/kernel/parameters/consoleblank'
ExecStartPre=+-/bin/sh -c 'setterm --term linux --blank 0 --powerdown 0 --powersave off > /dev/tty1'
TTYPath=/dev/tty1
ExecStart={program} {DEVICE_COMMAND[role]} --server {server} --token-file {token_path}{DEVICE_OPTIONS[role]}{extra}
Restart=always
RestartSec=2
WatchdogSec={DEVICE_WATCHDOG_S}
SyslogIdentifier=layso-{role}
StateDirectory=layso
WorkingDirectory={STATE}
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
"""


def device_files(role: str, program: str, server: str, token: str, extra: str = "") -> list[InstallFile]:
    token_path = ETC / f"{role}.token"
    return [InstallFile(UNIT_DIR / f"layso-{role}.service", device_unit(role, program, server, token_path, extra)),
            InstallFile(token_path, token.strip() + "\n", 0o600, secret=True)]


def _service_user() -> tuple[int, int] | None:
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def ensure_user() -> None:
    """The system account the services run as (root only; a no-op when it exists)."""
    if _service_user() is None and os.geteuid() == 0 and shutil.which("useradd"):
        subprocess.run(["useradd", "--system", "--home-dir", str(STATE), "--no-create-home",
                        "--shell", "/usr/sbin/nologin", USER], check=True)


def write(files: list[InstallFile], root: Path) -> list[Path]:
    """Write the files under `root` (the target's / normally); secrets owned by the service user."""
    written = []
    owner = _service_user() if os.geteuid() == 0 else None
    for f in files:
        target = root / f.path.relative_to("/")
        if f.keep_existing and target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, f.mode)
        with os.fdopen(fd, "w") as out:
            out.write(f.text)
        os.chmod(tmp, f.mode)
        if owner and f.secret:
            os.chown(tmp, owner[0], owner[1])  # the service reads it, nobody else
        elif owner and f.path.suffix == ".toml":
            os.chown(tmp, 0, owner[1])  # root edits it, the service reads it
        os.replace(tmp, target)
        written.append(target)
    return written


def dry_run_text(files: list[InstallFile]) -> str:
    parts = []
    for f in files:
        body = "(secret: written with mode 0600, not shown)\n" if f.secret else f.text
        parts.append(f"# ---- {f.path} (mode {f.mode:04o}) ----\n{body}")
    return "\n".join(parts)


def _read_token(path: str | None, ask: bool = True) -> str | None:
    if path:
        text = Path(path).read_text().strip()
        return text or None
    if os.environ.get("LAYSO_TOKEN"):
        return os.environ["LAYSO_TOKEN"].strip()
    if ask and not sys.stdin.isatty():
        return sys.stdin.readline().strip() or None
    return None


def cmd_install(args) -> int:
    from layso.config import preset_data, write_config
    program = args.program or layso_program()
    root = Path(args.root) if args.root else Path("/")
    if args.role == "server":
        if args.config:
            config_text = Path(args.config).read_text(encoding="utf-8")
        else:
            tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"layso-install-{secrets.token_hex(4)}.toml"
            write_config(preset_data("commune"), tmp)
            config_text = tmp.read_text(encoding="utf-8")
            tmp.unlink()
        db_url = args.db or f"sqlite:///{STATE / 'layso.db'}"
        if args.workers > 1 and not (db_url.startswith("postgres") and args.message_queue):
            print("layso: --workers above 1 needs --db postgresql://… and --message-queue redis://…", file=sys.stderr)
            return 2
        files = server_files(program, config_text, db_url, args.message_queue, args.workers, args.host, args.port,
                             secrets.token_hex(32))
        units = ["layso.service", "layso-backup.timer"]
    else:
        if not args.server:
            print(f"layso: `layso install {args.role}` needs --server URL (the server's address)", file=sys.stderr)
            return 2
        try:
            token = _read_token(args.token_file, ask=not args.dry_run)
        except OSError as err:
            print(f"layso: cannot read the token file: {err}", file=sys.stderr)
            return 2
        if not token and not args.dry_run:
            print("layso: the device token is missing: --token-file PATH (from `layso device add`), "
                  "LAYSO_TOKEN, or on standard input", file=sys.stderr)
            return 2
        extra = f" --printer {args.printer}" if args.printer and args.role == "kiosk" else ""
        if getattr(args, "scanner", None) and args.role == "kiosk":
            from layso.hardware.scanner import open_scanner
            try:
                open_scanner(args.scanner)  # a bad spec is said now, not by a unit failing at boot
            except ValueError as err:
                print(f"layso: {err}", file=sys.stderr)
                return 2
            extra += f" --scanner '{args.scanner}'"
        files = device_files(args.role, program, args.server.rstrip("/"), token or "TOKEN", extra)
        units = [f"layso-{args.role}.service"]
    if args.dry_run:
        print(dry_run_text(files))
        return 0
    if root == Path("/"):
        ensure_user()
    for path in write(files, root):
        print(f"layso: wrote {path}")
    print("layso: now run:")
    print("  systemctl daemon-reload")
    print(f"  systemctl enable --now {' '.join(units)}")
    return 0


def register(sub) -> None:
    s = sub.add_parser("install", help="write systemd units (and config, token) for a layso program",
                       description="Write systemd units, the config under /etc/layso and the device token "
                                   "(mode 0600) so systemd runs, watches and restarts a layso program.")
    s.add_argument("role", choices=ROLES)
    s.add_argument("--server", help="devices: the server's URL, e.g. http://192.168.1.10:5000")
    s.add_argument("--token-file", help="devices: a file holding the token `layso device add` printed "
                                        "(else LAYSO_TOKEN or standard input)")
    s.add_argument("--printer", help="kiosk: the printer URI (see `layso kiosk --help`)")
    s.add_argument("--scanner", help="kiosk: how booking QR codes are read, keyboard or camera[:DEVICE] "
                                     "(see `layso kiosk --help`)")
    s.add_argument("--config", help="server: the centre's TOML to install (default: the commune preset)")
    s.add_argument("--db", help="server: database URL (default: SQLite in /var/lib/layso)")
    s.add_argument("--message-queue", help="server: Redis URL when several processes serve")
    s.add_argument("--workers", type=int, default=1, help="server: processes (above 1: PostgreSQL and Redis)")
    s.add_argument("--host", default="0.0.0.0", help="server: address to listen on (default all)")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--program", help=argparse.SUPPRESS)  # the layso command to put in units (tests)
    s.add_argument("--root", help="write under this folder instead of / (images, tests)")
    s.add_argument("--dry-run", action="store_true", help="print the files instead of writing them")
    s.set_defaults(func=cmd_install)
