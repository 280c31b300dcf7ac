"""The application factory: it only assembles (configuration, extensions through `init_app`, the API,
pages, health, metrics, Socket.IO, the janitor). Migrating, seeding and the secret key are start-up
work (`server/startup.py`); serving is `server/serving.py`."""
from __future__ import annotations

import logging
import os
from datetime import timedelta
from importlib import resources

from flask import Flask, jsonify, request, session
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from layso.config import Config
from layso.server import health, metrics
from layso.server import janitor as janitor_module
from layso.server.api import guard, readiness
from layso.server.api import booking as booking_api
from layso.server.api import province as province_api
from layso.server.api import routes as api
from layso.server.auth import SessionCookies
from layso.server.engine import QueueEngine
from layso.server.errors import QueueError
from layso.server.messages import error_body
from layso.server.notify.vapid import VapidKeys
from layso.server.notify.worker import start_notifier
from layso.server.pages import (
    admin,
    book,
    console,
    dashboard,
    display,
    province,
    province_alerts,
    remote,
    signin,
    tracking,
)
from layso.server.realtime import events as realtime
from layso.server.realtime.events import AsyncPublisher, publish
from layso.server.services import Services, rate_limiter
from layso.server.startup import forget_presence, prepare_database, secret_key
from layso.server.storage.database import Database, default_database_url

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


def create_app(config: Config | None = None, db_url: str | None = None, message_queue: str | None = None,
               public_url: str | None = None, janitor: bool = True, testing: bool = False,
               db: Database | None = None, websocket_only: bool = False) -> Flask:
    """Assemble the app over a prepared database (`startup.prepare_database`); given only a URL (tests,
    tools), prepare it first through the same start-up code."""
    app = Flask(__name__)
    app.session_interface = SessionCookies()
    if db is None:
        db = prepare_database(db_url or default_database_url(), config, backup_first=False)
        if not (message_queue or os.environ.get("LAYSO_MESSAGE_QUEUE")):
            forget_presence(db)
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
    svc.vapid = VapidKeys(db.url)  # read (or made) when a centre first offers Web Push
    svc.publish = publish if testing else AsyncPublisher()  # tests read what was emitted at once
    app.extensions["layso"] = svc
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    csrf.init_app(app)

    _register_blueprints(app)
    _register_errors(app)
    guard.install(app)  # text the database refuses, JSON too deep, database failures → 503
    realtime.init_app(app, message_queue=message_queue, websocket_only=websocket_only)

    # Behind the centre's reverse proxy: trust its X-Forwarded-* headers (client address for rate
    # limits and /metrics, https for links), and only as many hops as configured.
    proxies = trusted_proxies()
    app.config["LAYSO_TRUSTED_PROXIES"] = proxies
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    if public_url and public_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    janitor_module.init_app(app, start=janitor and not testing)
    if janitor and not testing:
        start_notifier(svc)
    return app


def _register_blueprints(app: Flask) -> None:
    """The API, the pages, health, readiness and metrics."""
    csrf.exempt(api.bp)  # the API checks CSRF itself for cookie sessions (tokens need none)
    app.register_blueprint(api.bp)
    app.register_blueprint(province_api.bp)
    app.register_blueprint(csrf.exempt(booking_api.bp))  # public bookings; check-in checks CSRF itself
    for page in (signin, display, tracking, console, dashboard, admin, province, province_alerts, book, remote):
        app.register_blueprint(page.bp)
    health.init_app(app)
    metrics.init_app(app)
    app.register_blueprint(readiness.bp)  # GET /readyz


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


