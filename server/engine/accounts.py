"""Account commands of the administrator: activate or deactivate, change the role and name, set a
new password or PIN (hashed by the caller before the write lock: scrypt takes ~0.1 s). Audited."""
from __future__ import annotations

from layso.server.engine.context import Command, Result
from layso.server.engine.setup import audit
from layso.server.errors import BadRequest, Forbidden, NotFound
from layso.server.storage.models import User

USER_ROLES = ("staff", "manager", "admin")
ACCOUNT_ACTIONS = ("activate", "deactivate", "password", "pin", "role")


def valid_pin(pin: str) -> bool:
    return pin.isdigit() and 4 <= len(pin) <= 12


class AccountCommands:
    """Mixin of the engine."""

    def change_account(self, centre_id: int, account_id: int, action: str, *, user_id: int | None,
                       password_hash: str | None = None, pin_hash: str | None = None, role: str | None = None,
                       full_name: str | None = None) -> Result:
        """→ the account's username. `password_hash` / `pin_hash` None with action "pin": remove the PIN."""
        if action not in ACCOUNT_ACTIONS:
            raise BadRequest("unknown account command", "unknown_command")

        def run(cmd: Command):
            u = cmd.s.get(User, account_id)
            # a province administrator's account is never changed through one centre (province pages only)
            if u is None or u.centre_id != cmd.centre.id or u.role == "province_admin":
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
            if password_hash is None:
                raise BadRequest("the password needs at least 8 characters", "password_too_short")
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
