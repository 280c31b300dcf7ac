"""The server's VAPID key pair (Web Push, RFC 8292): generated once and kept, like the session secret.

`LAYSO_VAPID_KEY` (the private key as PEM, or as the base64url of its 32-byte scalar) when set —
several hosts of one installation must share it —, else `vapid_key.pem` (mode 0600) beside the
SQLite file or in the data folder, written the first time a centre offers Web Push. A browser's
subscription is bound to the public key: keep the key with the database, or every subscription made
before is lost.
"""
from __future__ import annotations

import base64
import os
import threading

# cryptography is imported where a key is made or read: a server whose centres offer no Web Push
# does not carry it (7.5 MiB a process)

ENV = "LAYSO_VAPID_KEY"
FILE = "vapid_key.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key_pem() -> str:
    """A fresh P-256 private key as PEM (PKCS#8)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def parse_key(text: str):
    """A private key (P-256) from PEM or from the base64url of its raw 32-byte scalar; ValueError if neither."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = b64url_decode(text)
        if len(raw) != 32:
            raise ValueError("a raw VAPID private key is 32 bytes (base64url)")
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the VAPID key must be a P-256 (prime256v1) private key")
    return key


class VapidKeys:
    """The key pair of one installation, read (or made) on first use."""

    def __init__(self, db_url: str):
        self.db_url = db_url
        self._key = None  # cryptography's EllipticCurvePrivateKey, once read
        self._lock = threading.Lock()

    @property
    def private_key(self):
        with self._lock:
            if self._key is None:
                from layso.server.startup import data_folder, kept_once  # (the CLI loads this module light)
                text = os.environ.get(ENV) or kept_once(data_folder(self.db_url) / FILE, new_key_pem)
                try:
                    self._key = parse_key(text)
                except ValueError as err:
                    raise RuntimeError(f"{ENV} or {FILE}: {err}") from None
            return self._key

    @property
    def public_key(self) -> str:
        """The applicationServerKey a browser subscribes with: the uncompressed point, base64url."""
        from cryptography.hazmat.primitives import serialization
        return b64url(self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                                 serialization.PublicFormat.UncompressedPoint))

    def vapid(self):
        """A py_vapid signer over the key (it signs each push request's JWT)."""
        from py_vapid import Vapid
        return Vapid(private_key=self.private_key)


# ---- `layso webpush-key` ----------------------------------------------------------------------------
def register(sub) -> None:
    s = sub.add_parser("webpush-key", help="show the installation's Web Push (VAPID) key, making it if there is none")
    s.add_argument("--db", help="database URL: the key is kept beside its SQLite file or in the data folder")
    s.add_argument("--private", action="store_true",
                   help="print LAYSO_VAPID_KEY=… (the private key) for the other machines' /etc/layso/layso.env")
    s.set_defaults(func=cmd_webpush_key)


def cmd_webpush_key(args) -> int:
    """Prints the public key (what browsers subscribe with), or the private one as an env line."""
    from layso.server.storage.database import default_database_url
    keys = VapidKeys(args.db or os.environ.get("LAYSO_DATABASE_URL") or default_database_url())
    if args.private:
        raw = keys.private_key.private_numbers().private_value.to_bytes(32, "big")
        print(f"{ENV}={b64url(raw)}")
    else:
        print(keys.public_key)
    return 0
