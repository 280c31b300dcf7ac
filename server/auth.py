"""Who is calling: device tokens (bound to one centre and role) and signed-in users; the request
helpers every adapter uses to ask it (`current_principal`, `need`, `role_required`), the base of
tracking links and the rate limits."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from layso.server.domain.accounts import (
    ALL_USER_ROLES,
    PROVINCE_ROLE,
    ROLE_RANK,
    check_secret,
    hash_token,
    ranks_at_least,
)
from layso.server.errors import Forbidden, Unauthorized
from layso.server.services import services
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, Device, User
from layso.server.turns import off_the_loop
from sqlalchemy import bindparam, select

ACTING_CENTRE_KEY = "acting_centre"  # session: the centre a province administrator works in now
REFRESHED_KEY = "refreshed_at"  # session: when its cookie was last sent (Unix seconds)
BACKGROUND_REFRESH_S = 3600  # a background read renews the session cookie at most this often


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, renewed by every page but not by every background read.

    A page that polls the API (the province overview, the live view) would otherwise get a fresh copy
    of the session cookie with each answer; one that left the server before a form changed the
    session (opening another centre, signing out) and arrived after it put the old session back. A
    GET under /api/ therefore renews the cookie only when it is an hour old, which keeps a wall
    screen signed in across the 12-hour lifetime; a race is left only for the one poll an hour that
    renews it. Every polling page is covered here, none needs a guard of its own."""

    def open_session(self, app, request):
        # a device's request carries its token, no cookie: an empty session without building the
        # cookie's signing serializer (Flask builds one for every request, cookie or not)
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def should_set_cookie(self, app, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        if request.method == "GET" and request.path.startswith("/api/"):
            return time.time() - float(session.get(REFRESHED_KEY, 0)) >= BACKGROUND_REFRESH_S
        return True

    def save_session(self, app, session, response) -> None:
        if session and session.permanent and self.should_set_cookie(app, session):
            session[REFRESHED_KEY] = int(time.time())
        super().save_session(app, session, response)


@dataclass(frozen=True)
class Principal:
    kind: str  # device | user
    centre_id: int
    role: str  # kiosk | display | counter | staff | manager | admin | province_admin
    device_id: int | None = None
    user_id: int | None = None
    counter: int | None = None  # the counter number a counter device or signed-in user acts at
    name: str = ""
    zone_fields: tuple[str, ...] | None = None
    zone_counters: tuple[int, ...] | None = None

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    def at_least(self, role: str) -> bool:
        return self.is_user and ranks_at_least(self.role, role)

    def device_info(self) -> dict | None:
        """What a device learns about itself in its `state`: identity and display zone."""
        if self.kind != "device":
            return None
        return {"id": self.device_id, "name": self.name, "role": self.role, "counter": self.counter,
                "zone_fields": list(self.zone_fields) if self.zone_fields else None,
                "zone_counters": list(self.zone_counters) if self.zone_counters else None}

    def may_act_at(self, counter_number: int) -> bool:
        return self.counter is not None and self.counter == counter_number and self.role in ("counter", *ALL_USER_ROLES)


_PRINCIPALS: dict[str, tuple[float, Principal]] = {}
_PRINCIPALS_LOCK = threading.Lock()
PRINCIPAL_TTL_S = 2.0  # a revoked token stops working within this time, in every process


def forget_cached_principals() -> None:
    """Drop cached device principals (after a revocation in this process)."""
    with _PRINCIPALS_LOCK:
        _PRINCIPALS.clear()


def device_principal(db: Database, token) -> Principal | None:
    """The device behind a token. Valid tokens are cached briefly; unknown ones never are, so a new
    token works at once."""
    if not isinstance(token, str) or not 10 <= len(token) <= 200:
        return None
    return device_principal_by_hash(db, hash_token(token))


def device_principal_by_hash(db: Database, key: str) -> Principal | None:
    """The same, from the token's hash (what a Socket.IO connection keeps to re-check its device)."""
    now = time.monotonic()
    with _PRINCIPALS_LOCK:
        hit = _PRINCIPALS.get(key)
    if hit is not None and now - hit[0] < PRINCIPAL_TTL_S:
        return hit[1]
    who = _load_device_principal(db, key)
    if who is not None:
        with _PRINCIPALS_LOCK:
            if len(_PRINCIPALS) > 5000:
                _PRINCIPALS.clear()
            _PRINCIPALS[key] = (now, who)
    return who


_DEVICE_PRINCIPAL = (
    select(Device.id, Device.centre_id, Device.role, Device.name, Device.zone_fields, Device.zone_counters,
           Counter.number)
    .join(Centre, Centre.id == Device.centre_id)
    .outerjoin(Counter, Counter.id == Device.counter_id)
    .where(Device.token_hash == bindparam("key"),
           Device.revoked_at.is_(None),
           Centre.suspended_at.is_(None))  # a suspended centre's devices stop
)


def _load_device_principal(db: Database, token_hash: str) -> Principal | None:
    """One statement, on the event loop (`Database.point_read`): a counter's command re-checks its
    device on every press once the cache has expired."""
    row = db.point_read(lambda s: s.execute(_DEVICE_PRINCIPAL, {"key": token_hash}).one_or_none())
    if row is None:
        return None
    device_id, centre_id, role, name, zone_fields, zone_counters, counter = row
    return Principal("device", centre_id, role, device_id=device_id, counter=counter, name=name,
                     zone_fields=tuple(zone_fields) if zone_fields else None,
                     zone_counters=tuple(zone_counters) if zone_counters else None)


def live_roles(db: Database, token_hashes: set[str], user_ids: set[int]) -> tuple[dict[str, str], dict[int, str]]:
    """Of these device tokens (by hash) and accounts, the roles of those that still work — by the rules
    of `device_principal_by_hash` and `user_principal` — in two queries however many there are."""
    devices: dict[str, str] = {}
    users: dict[int, str] = {}
    with db.read() as s:
        if token_hashes:
            devices = dict(s.execute(select(Device.token_hash, Device.role).join(Centre, Centre.id == Device.centre_id)
                                     .where(Device.token_hash.in_(token_hashes), Device.revoked_at.is_(None),
                                            Centre.suspended_at.is_(None))).all())
        if user_ids:
            users = {uid: role for uid, role, suspended in s.execute(
                select(User.id, User.role, Centre.suspended_at).join(Centre, Centre.id == User.centre_id)
                .where(User.id.in_(user_ids), User.active.is_(True)))
                if suspended is None or role == PROVINCE_ROLE}
    return devices, users


DISPLAY_SESSION_KEY = "display_token_hash"  # a browser that opened /display?token=… is that display


def display_of_session() -> Principal | None:
    """The display device a browser's session stands for (see the web display), if any."""
    key = session.get(DISPLAY_SESSION_KEY)
    if not isinstance(key, str):
        return None
    who = device_principal_by_hash(services().db, key)
    return who if who is not None and who.role == "display" else None


def user_principal(db: Database, user_id, counter, acting_centre=None) -> Principal | None:
    """A signed-in user. A province administrator works in `acting_centre` (the centre chosen on the
    province pages) when it exists; everyone else always in their own centre, whatever it says.
    Accounts of a suspended centre stop working (a province administrator's never do)."""
    if not isinstance(user_id, int):
        return None
    return db.point_read(lambda s: _user_principal(s, user_id, counter, acting_centre))


def _user_principal(s, user_id: int, counter, acting_centre) -> Principal | None:
    u = s.get(User, user_id)
    if u is None or not u.active:
        return None
    centre_id = u.centre_id
    if u.role == PROVINCE_ROLE:
        if isinstance(acting_centre, int) and not isinstance(acting_centre, bool) \
                and s.get(Centre, acting_centre) is not None:
            centre_id = acting_centre
    elif s.get(Centre, u.centre_id).suspended_at is not None:
        return None
    return Principal("user", centre_id, u.role, user_id=u.id, counter=counter if isinstance(counter, int) else None,
                     name=u.full_name or u.username)


def check_password(db: Database, username, password) -> User | None:
    if not isinstance(username, str) or not isinstance(password, str) or len(username) > 64 or len(password) > 200:
        return None
    with db.read() as s:  # read, close, then verify: scrypt never holds a database session
        u = s.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
    if u is None or not u.active or not off_the_loop(check_secret, u.password_hash, password):
        return None
    if u.role != PROVINCE_ROLE and _centre_suspended(db, u.centre_id):
        return None
    return u


def _centre_suspended(db: Database, centre_id: int) -> bool:
    with db.read() as s:
        return s.get(Centre, centre_id).suspended_at is not None


def check_pin(db: Database, centre_id: int, username, pin) -> User | None:
    if not isinstance(username, str) or not isinstance(pin, str) or not pin.isdigit() or len(pin) > 12:
        return None
    with db.read() as s:
        u = s.execute(select(User).where(User.username == username.strip(), User.centre_id == centre_id)).scalar_one_or_none()
    if u is None or not u.active or not u.pin_hash or not off_the_loop(check_secret, u.pin_hash, pin):
        return None
    if u.role == PROVINCE_ROLE or _centre_suspended(db, u.centre_id):
        return None  # a PIN signs in at one centre's panel, never a province administrator
    return u


# ---- the request helpers of every adapter --------------------------------------------------------
def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer …` header (the scheme in any case, RFC 7235), or None."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def current_principal() -> Principal | None:
    if "principal" not in g:
        svc = services()
        token = bearer_token()
        if token is not None:
            g.principal = device_principal(svc.db, token)
            g.via_session = False
        elif "uid" in session:
            g.principal = user_principal(svc.db, session.get("uid"), session.get("counter"),
                                         session.get(ACTING_CENTRE_KEY))
            g.via_session = g.principal is not None
        else:
            g.principal, g.via_session = None, False
    return g.principal


def need(*roles: str) -> Principal:
    """The caller, who must have one of `roles` (user roles include the ones above them)."""
    who = current_principal()
    if who is None:
        raise Unauthorized("no or invalid token or session", "unauthorized")
    if roles:
        ok = who.role in roles or (who.is_user and any(r in ROLE_RANK and who.at_least(r) for r in roles))
        if not ok:
            raise Forbidden("not allowed with this role", "forbidden")
    return who


def base_url() -> str:
    """The base of tracking links: the configured public URL, else the address the request came in on."""
    public = current_app.config.get("LAYSO_PUBLIC_URL")
    if public:
        return public
    host = request.host
    if "%" in host or "xn--" in host.lower():  # werkzeug's host_url shows such a host as Unicode
        return request.host_url.rstrip("/")
    return f"{request.scheme}://{host}"  # host_url without its IRI conversion: 2 % of an issue's CPU


def for_devices(obj):
    """`obj` with every `track_url` emptied: a tracking link cancels its ticket, so it goes only to
    staff and to the kiosk that printed it, never to lobby screens or counter panels."""
    if isinstance(obj, dict):
        return {k: (None if k == "track_url" else for_devices(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [for_devices(v) for v in obj]
    return obj


def for_principal(who: Principal | None, payload):
    """What `who` may see of a payload with tickets: devices get no tracking links (see `for_devices`);
    a kiosk's own tickets come from the calls it made (issue), not from here."""
    return for_devices(payload) if who is not None and who.kind == "device" else payload


def limit(bucket: str, n: int, per_s: float = 60.0) -> None:
    """At most `n` requests of `bucket` per client address in `per_s` seconds (429 beyond)."""
    services().limiter.hit((bucket, request.remote_addr), n, per_s)


# Guessing limits (docs/SECURITY.md). Each guess counts against the address first, then the device,
# then the account: an attacker who varies the user name still meets the address and device limits,
# and one who varies the address still meets the account's.
PASSWORD_LIMITS = {"address": (20, 60), "account": (10, 300)}
PIN_LIMITS = {"address": (30, 300), "device": (20, 300), "account": (5, 300)}


def limit_password_guess(limiter, username, address: str | None) -> None:
    """Count one password sign-in attempt for `username` from `address` (429 beyond the limits)."""
    limiter.hit(("login-address", address), *PASSWORD_LIMITS["address"])
    if isinstance(username, str) and username.strip():
        limiter.hit(("login-account", username.strip().lower()[:64]), *PASSWORD_LIMITS["account"])


def limit_pin_guess(limiter, centre_id: int, device_id: int | None, username, address: str | None) -> None:
    """Count one PIN sign-in attempt at a counter panel (429 beyond the limits)."""
    limiter.hit(("pin-address", address), *PIN_LIMITS["address"])
    limiter.hit(("pin-device", device_id), *PIN_LIMITS["device"])
    if isinstance(username, str):
        limiter.hit(("pin-account", centre_id, username.strip().lower()[:64]), *PIN_LIMITS["account"])


def role_required(role: str):
    """Signed-in users of at least `role`; others go to the sign-in page (or get 403)."""
    def deco(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            who = current_principal()
            if who is None or not who.is_user:
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
            if not who.at_least(role):
                return render_template("dashboard_forbidden.html", who=who), 403
            g.who = who
            return view(*args, **kwargs)
        return wrapper
    return deco
