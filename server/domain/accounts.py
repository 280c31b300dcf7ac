"""Who may call the server, and how their secrets are kept: the roles of devices and of people,
what a username, a password and a PIN must be, and the hashes stored instead of them.

Devices are kiosks, lobby displays and counter panels, each with a token of its own; only the
token's SHA-256 is stored. People have a rank: an officer (`staff`) < a manager < a centre's
administrator < a province administrator, who works in every centre. Passwords and PINs are stored
as salted scrypt hashes in the format `scrypt:n:r:p$salt$hex` (werkzeug's, so hashes it made keep
working; `pbkdf2:hash:iterations$salt$hex` ones too).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

DEVICE_ROLES = ("kiosk", "display", "counter")
USER_ROLES = ("staff", "manager", "admin")  # the roles of one centre (a centre administrator gives these)
PROVINCE_ROLE = "province_admin"  # above admin: every centre of the installation
ALL_USER_ROLES = (*USER_ROLES, PROVINCE_ROLE)
ROLE_RANK = {"staff": 1, "manager": 2, "admin": 3, PROVINCE_ROLE: 4}

MIN_PASSWORD = 8
_USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")

DEFAULT_HASH_METHOD = "scrypt:32768:8:1"  # n = 2**15: ~0.1 s a hash, so guessing is slow
# What new hashes use. Each hash names its own method, so checking never depends on this; the test
# suite lowers the cost for the accounts it makes (tests/conftest.py), nothing else changes it.
HASH_METHOD = DEFAULT_HASH_METHOD
_SALT_CHARS = string.ascii_letters + string.digits


def ranks_at_least(role: str, wanted: str) -> bool:
    """Whether a person of `role` may do what `wanted` may (a higher rank includes the lower)."""
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[wanted]


def valid_username(username) -> bool:
    """1 to 64 letters (a–z, A–Z), digits, '.', '_' or '-': typed on a counter panel's keys too."""
    return isinstance(username, str) and _USERNAME.fullmatch(username) is not None


def valid_password(password) -> bool:
    return isinstance(password, str) and len(password) >= MIN_PASSWORD


def valid_pin(pin) -> bool:
    """4 to 12 digits (a counter panel's keypad)."""
    return isinstance(pin, str) and pin.isdigit() and 4 <= len(pin) <= 12


def hash_token(token: str) -> str:
    """What is stored of a device token (the token itself is shown once, never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_device_token() -> str:
    return "ls_" + secrets.token_urlsafe(24)


def _derive(method: str, salt: str, secret: str) -> tuple[str, str]:
    """(the hex digest, the method with every parameter written out)."""
    name, *args = method.split(":")
    if name == "scrypt":
        n, r, p = map(int, args) if args else (2**15, 8, 1)
        digest = hashlib.scrypt(secret.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p)
        return digest.hex(), f"scrypt:{n}:{r}:{p}"
    if name == "pbkdf2":
        hash_name = args[0] if args else "sha256"
        iterations = int(args[1]) if len(args) > 1 else 1_000_000
        digest = hashlib.pbkdf2_hmac(hash_name, secret.encode(), salt.encode(), iterations)
        return digest.hex(), f"pbkdf2:{hash_name}:{iterations}"
    raise ValueError(f"unknown hash method {name!r}")


def hash_secret(secret: str, method: str | None = None) -> str:
    """A password's or PIN's stored form: `method$salt$hex` (slow on purpose; never inside a write
    transaction)."""
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(16))
    digest, method = _derive(method or HASH_METHOD, salt, secret)
    return f"{method}${salt}${digest}"


def check_secret(stored: str | None, secret: str) -> bool:
    """Whether `secret` is the one `stored` was made from (time-constant comparison)."""
    try:
        method, salt, digest = (stored or "").split("$", 2)
        return hmac.compare_digest(_derive(method, salt, secret)[0], digest)
    except ValueError:
        return False
