"""Accounts: a new account (the CLI, the administrator's page, a province administrator naming a
centre's administrator), and the administrator's changes — activate or deactivate, change the role
and name, set a new password or PIN. Passwords and PINs are hashed before the write transaction
(scrypt takes ~0.1 s, never while holding the write lock, and off the event loop: `turns.off_the_loop`).
Audited."""
from __future__ import annotations

from layso.server import clock
from layso.server.domain.accounts import (
    ALL_USER_ROLES,
    PROVINCE_ROLE,
    USER_ROLES,
    hash_secret,
    valid_password,
    valid_pin,
    valid_username,
)
from layso.server.engine.base import centre_id_of
from layso.server.engine.context import Command, Result
from layso.server.engine.setup import audit
from layso.server.errors import BadRequest, Conflict, Forbidden, NotFound
from layso.server.storage.database import Database
from layso.server.storage.models import AuditEntry, User
from layso.server.turns import off_the_loop
from sqlalchemy import select

ACCOUNT_ACTIONS = ("activate", "deactivate", "password", "pin", "role")


def add_user(db: Database, username: str, role: str, password: str, centre_code: str | None = None,
             full_name: str = "", pin: str | None = None, user_id: int | None = None) -> int:
    """A new account in the centre `centre_code` (the only one when None); → its id. `user_id`: who
    added it, for the audit log (None from the command line)."""
    if role not in ALL_USER_ROLES:
        raise BadRequest(f"role must be one of {', '.join(ALL_USER_ROLES)}")
    if not valid_username(username):
        raise BadRequest("username must be 1 to 64 letters, digits, '.', '_' or '-'")
    if not valid_password(password):
        raise BadRequest("password must have at least 8 characters")
    if pin is not None and not valid_pin(pin):
        raise BadRequest("PIN must be 4 to 12 digits")
    centre_id = centre_id_of(db, centre_code)
    password_hash = off_the_loop(hash_secret, password)  # before the write lock
    pin_hash = off_the_loop(hash_secret, pin) if pin else None
    with db.write() as s:
        if s.execute(select(User.id).where(User.username == username)).first():
            raise Conflict(f"user {username!r} exists already", "user_exists")
        now = clock.now()
        u = User(centre_id=centre_id, username=username, full_name=full_name, role=role,
                 password_hash=password_hash, pin_hash=pin_hash, created_at=now)
        s.add(u)
        s.flush()
        s.add(AuditEntry(centre_id=centre_id, at=now, user_id=user_id, action="user.add", target=username,
                         data={"role": role}))
        return u.id


def _secret_hashes(action: str, password: str | None, pin: str | None) -> tuple[str | None, str | None]:
    """(password hash, PIN hash) for an account change; a PIN action without a PIN removes it."""
    if action == "password":
        if not valid_password(password):
            raise BadRequest("the password needs at least 8 characters", "password_too_short")
        return off_the_loop(hash_secret, password), None
    if action == "pin" and pin:
        if not valid_pin(pin):
            raise BadRequest("PIN must be 4 to 12 digits")
        return None, off_the_loop(hash_secret, pin)
    return None, None


class AccountCommands:
    """Mixin of the engine."""

    def change_account(self, centre_id: int, account_id: int, action: str, *, user_id: int | None,
                       password: str | None = None, pin: str | None = None, role: str | None = None,
                       full_name: str | None = None) -> Result:
        """→ the account's username. Action "pin" without a `pin`: remove the PIN."""
        if action not in ACCOUNT_ACTIONS:
            raise BadRequest("unknown account command", "unknown_command")
        password_hash, pin_hash = _secret_hashes(action, password, pin)

        def run(cmd: Command):
            u = cmd.s.get(User, account_id)
            # a province administrator's account is never changed through one centre (province pages only)
            if u is None or u.centre_id != cmd.centre.id or u.role == PROVINCE_ROLE:
                raise NotFound("unknown account", "account_not_found")
            data = self._account_change(u, action, user_id, password_hash, pin_hash, role, full_name)
            audit(cmd, user_id, f"user.{action}", u.username, data)
            return u.username

        return self._run(centre_id, run)

    @staticmethod
    def _account_change(u: User, action: str, by: int | None, password_hash, pin_hash, role, full_name) -> dict:
        if action in ("deactivate", "activate"):
            if u.id == by:
                raise Forbidden("you cannot deactivate your own account", "own_account")
            u.active = action == "activate"
            return {"active": u.active}
        if action == "password":
            u.password_hash = password_hash
            return {"password": "changed"}
        if action == "pin":
            u.pin_hash = pin_hash
            return {"pin": "changed" if pin_hash else "removed"}
        if role not in USER_ROLES:
            raise BadRequest("unknown role", "invalid_role")
        if u.id == by and role != "admin":
            raise Forbidden("you cannot take the administrator role from yourself", "own_role")
        name = u.full_name if full_name is None else full_name.strip()[:120]
        data = {"role": [u.role, role], "full_name": [u.full_name, name]}
        u.role, u.full_name = role, name
        return data
