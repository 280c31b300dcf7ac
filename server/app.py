"""The application factory: Flask app, Socket.IO, database, engine, and the serving loop."""
from __future__ import annotations

import logging
import os
import secrets
import threading
from datetime import timedelta
from importlib import resources
from pathlib import Path

from flask import Flask, jsonify, request, session
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFProtect
from layso.server.engine import QueueEngine, seed_centre
from layso.server.errors import QueueError
from layso.server.messages import error_body
from layso.server.realtime.events import (
    AsyncPublisher,
    disconnect_revoked,
    publish,
    socketio,
)
from layso.server.services import Services, rate_limiter
from layso.server.storage.database import Database, default_database_url
from layso.server.storage.migrate import upgrade
from layso.server.storage.models import Centre, Counter, Device, Ticket
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from layso.config import Config

log = logging.getLogger("layso.server")
LANGUAGES = ("vi", "en")
babel = Babel()
csrf = CSRFProtect()


def _translations_dir() -> str:
    return str(resources.files("layso").joinpath("translations"))


def select_locale() -> str:
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
        return lang
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    if request.path.startswith("/api/"):  # API error messages follow Accept-Language (the contract)
        return request.accept_languages.best_match(LANGUAGES) or "vi"
    # Every page, a citizen's phone included: Vietnamese unless someone chooses English with the
    # page's language switch (?lang=en, remembered by the session). A phone set to English would
    # otherwise mix English labels with the centre's Vietnamese field names.
    return "vi"


def trusted_proxies() -> int:
    """How many reverse proxies stand in front of the server (LAYSO_TRUSTED_PROXIES, default 0)."""
    text = os.environ.get("LAYSO_TRUSTED_PROXIES", "0").strip() or "0"
    if not text.isdigit() or int(text) > 5:
        raise RuntimeError("LAYSO_TRUSTED_PROXIES must be a whole number from 0 to 5")
    return int(text)


def secret_key(db_url: str) -> str:
    key = os.environ.get("LAYSO_SECRET_KEY")
    if key:
        return key
    # One box: keep a generated key beside the SQLite file (or in the data folder) across restarts.
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        folder = Path(db_url[len("sqlite:///"):]).parent
    else:
        folder = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "layso"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(config: Config | None = None, db_url: str | None = None, message_queue: str | None = None,
               public_url: str | None = None, janitor: bool = True, testing: bool = False) -> Flask:
    app = Flask(__name__)
    url = db_url or default_database_url()
    db = Database(url)
    from layso.server.api.readiness import refuse_unwritable
    with refuse_unwritable(db):  # a read-only, full or unreachable database: a clear message, no start
        upgrade(db)
        if config is not None:
            seed_centre(db, config)
    with db.read() as s:
        if s.execute(select(func.count(Centre.id))).scalar() == 0:
            raise RuntimeError("the database has no centre yet: start the server with --config "
                               "(write one with `layso init`)")
    message_queue = message_queue if message_queue is not None else os.environ.get("LAYSO_MESSAGE_QUEUE") or None
    app.config.update(
        SECRET_KEY=secret_key(db.url), TESTING=testing, JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12), WTF_CSRF_TIME_LIMIT=None,
        BABEL_TRANSLATION_DIRECTORIES=_translations_dir(), BABEL_DEFAULT_LOCALE="vi",
        LAYSO_PUBLIC_URL=public_url, MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    svc = Services(db=db, engine=QueueEngine(db, default_base_url=public_url))
    svc.limiter = rate_limiter(message_queue, db.url)  # shared by the processes of one installation
    svc.publish = publish if testing else AsyncPublisher()  # tests read what was emitted at once
    app.extensions["layso"] = svc
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    csrf.init_app(app)

    from layso.server.api.routes import bp as api_bp
    from layso.server.pages.signin import bp as web_bp
    csrf.exempt(api_bp)  # the API checks CSRF itself for cookie sessions (tokens need none)
    app.register_blueprint(api_bp)
    app.register_blueprint(__import__("layso.server.api.province", fromlist=["bp"]).bp)
    app.register_blueprint(web_bp)
    # ---- page blueprints: one import-and-register line each ----
    app.register_blueprint(__import__("layso.server.pages.display", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("layso.server.pages.tracking", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("layso.server.pages.console", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("layso.server.pages.dashboard", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("layso.server.pages.admin", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("layso.server.pages.book", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("layso.server.pages.remote", fromlist=["bp"]).bp)
    app.register_blueprint(csrf.exempt(__import__("layso.server.api.booking", fromlist=["bp"]).bp))
    app.register_blueprint(__import__("layso.server.pages.province", fromlist=["bp"]).bp)
    # ---- end of page blueprints ----
    _register_errors(app)
    from layso.server.api import guard, readiness
    guard.install(app)  # text the database refuses, JSON too deep, database failures → 503
    app.register_blueprint(readiness.bp)  # GET /readyz

    socketio.init_app(app, async_mode="threading", message_queue=message_queue, cors_allowed_origins=[],
                      json=None, ping_interval=10, ping_timeout=10, max_http_buffer_size=64 * 1024,
                      logger=False, engineio_logger=False)
    # Behind the centre's reverse proxy: trust its X-Forwarded-* headers (client address for rate
    # limits and /metrics, https for links), and only as many hops as configured.
    proxies = trusted_proxies()
    app.config["LAYSO_TRUSTED_PROXIES"] = proxies
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    if public_url and public_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True

    @app.get("/healthz")
    def healthz():
        with db.read() as s:
            s.execute(select(1))
        return jsonify({"status": "ok"})

    @app.get("/metrics")
    def metrics():
        from layso.server.auth import current_principal
        who = current_principal()
        # loopback means this machine, not a proxy relaying someone else (X-Forwarded-For)
        loopback = request.remote_addr in ("127.0.0.1", "::1") and (
            app.config["LAYSO_TRUSTED_PROXIES"] or "X-Forwarded-For" not in request.headers)
        if not loopback and not (who and who.at_least("manager")):
            return jsonify(error_body("forbidden")), 403
        return metrics_text(db), 200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}

    if not message_queue:
        with db.write() as s:  # one process: nobody is connected before we start
            for d in s.execute(select(Device).where(Device.online.is_(True))).scalars():
                d.online = False
    if janitor and not testing:
        start_janitor(app)
        __import__("layso.server.notify.worker", fromlist=["start_notifier"]).start_notifier(svc)
    return app


def _register_errors(app: Flask) -> None:
    @app.errorhandler(QueueError)
    def _queue_error(err: QueueError):
        return jsonify(error_body(err.code, err.message)), err.status

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz", "/metrics"):
            code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                    405: "method_not_allowed", 413: "bad_request", 429: "too_many_requests"}.get(err.code, "bad_request")
            headers = [(k, v) for k, v in err.get_headers() if k.lower() == "allow"]  # 405 says what is
            return jsonify(error_body(code, err.description)), err.code, headers
        if err.code is not None and err.code >= 400:  # a person's page: in their language, not werkzeug's
            from layso.server.pages.errors import error_page
            return error_page(err)
        return err

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not (request.path.startswith("/api/") or request.path in ("/healthz", "/readyz", "/metrics")):
            from layso.server.pages.errors import error_page
            from werkzeug.exceptions import InternalServerError
            return error_page(InternalServerError())
        return jsonify(error_body("internal_error")), 500


def metrics_text(db: Database) -> str:
    lines = ["# HELP layso_tickets_waiting Tickets waiting now, by centre and field.",
             "# TYPE layso_tickets_waiting gauge"]
    with db.read() as s:
        from layso.server.storage.models import Field
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
    return "\n".join(lines) + "\n"


def start_janitor(app: Flask, every_s: float = 15.0) -> threading.Thread:
    """Close days on time: waiting tickets are cancelled at closing, numbering restarts next day."""
    svc: Services = app.extensions["layso"]
    stop = threading.Event()

    def loop():
        while not stop.wait(every_s):
            run_janitor(svc)

    run_janitor(svc)
    t = threading.Thread(target=loop, name="layso-janitor", daemon=True)
    t.start()
    app.extensions["layso_janitor_stop"] = stop
    return t


def run_janitor(svc: Services) -> None:
    """Close days on time, and tell devices when fields open or close by the clock."""
    try:
        with svc.db.read() as s:
            ids = s.execute(select(Centre.id)).scalars().all()
        for cid in ids:
            svc.publish(svc.engine.booking.lapse(cid).events)  # before closing: lapses come first
            res = svc.engine.close_days(cid)
            if res.events:
                svc.publish(res.events)
            openness = [(f["code"], f["accepting"], f["closed_reason"]) for f in svc.engine.fields(cid)]
            previous = svc.field_openness.get(cid)
            svc.field_openness[cid] = openness
            if previous is not None and previous != openness:
                svc.publish(svc.engine.announce_fields(cid).events)
        __import__("layso.server.notify.outbox", fromlist=["x"]).forget_phones(svc.db)  # phones: not past the day
        disconnect_revoked(svc.db)
    except Exception:
        log.exception("janitor run failed")


def serve(app: Flask, host: str = "127.0.0.1", port: int = 5000, announce=print) -> None:
    """Serve until interrupted; announce `layso: serving on …` once connections are accepted."""
    from werkzeug import serving

    serving.LISTEN_QUEUE = 1024

    class Handler(serving.WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive for devices that poll

        def log_request(self, *args, **kwargs):
            pass

    server = serving.make_server(host, port, app, threaded=True, request_handler=Handler)
    server.daemon_threads = True
    actual = server.socket.getsockname()[1]
    announce(f"layso: serving on http://{host}:{actual}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
