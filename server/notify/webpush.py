"""The Web Push channel: a message to the browser that subscribed on the tracking page.

The payload is JSON `{title, body, url, tag}` (the service worker `/sw.js` shows it as a notification
and opens `url` when it is touched), encrypted for the subscription (RFC 8291, aes128gcm) and signed
with the installation's VAPID key (RFC 8292) — by `http_ece` and `py_vapid`, the two libraries
`pywebpush` itself is made of (pywebpush would also bring aiohttp, which engineio then imports into
every server process: 12 MiB for nothing). A push service that answers 404 or 410
says the subscription is gone: `DeliveryError(gone=True)`, the worker drops it and does not retry.
"""
from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

from layso.config import WebPushConfig
from layso.server.notify.channels import DeliveryError, http_post
from layso.server.notify.vapid import b64url_decode

MAX_ENDPOINT = 1000


def check_subscription(sub, insecure: bool = False) -> dict:
    """A browser's PushSubscription (`toJSON()`: endpoint and keys p256dh, auth), reduced to those
    fields; ValueError saying what is wrong. Endpoints are https (the server posts to them)."""
    if not isinstance(sub, dict):
        raise ValueError("subscription must be an object")
    endpoint, keys = sub.get("endpoint"), sub.get("keys")
    if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT:
        raise ValueError("subscription.endpoint must be a URL")
    url = urlsplit(endpoint)
    if url.scheme != "https" and not (insecure and url.scheme == "http") or not url.hostname:
        raise ValueError("subscription.endpoint must be an https URL")
    if not isinstance(keys, dict) or not all(isinstance(keys.get(k), str) and len(keys[k]) <= 200
                                             for k in ("p256dh", "auth")):
        raise ValueError("subscription.keys must hold p256dh and auth")
    try:
        p256dh, auth = b64url_decode(keys["p256dh"]), b64url_decode(keys["auth"])
    except ValueError:
        raise ValueError("subscription keys must be base64url") from None
    if len(p256dh) != 65 or p256dh[0] != 4 or len(auth) != 16:
        raise ValueError("subscription keys: p256dh is a P-256 point (65 bytes), auth 16 bytes")
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


def payload_of(message: dict) -> bytes:
    """What the service worker receives."""
    return json.dumps({"title": message.get("title") or message.get("centre") or "",
                       "body": message["text"], "url": message.get("url") or "/",
                       "tag": f"layso-{message.get('number')}-{message['kind']}", "key": message["key"]},
                      ensure_ascii=False).encode()


class WebPush:
    """Sends through the push service named by the subscription's endpoint."""

    channel = "webpush"

    def __init__(self, cfg: WebPushConfig, vapid):
        self.cfg = cfg
        self.vapid = vapid

    def send(self, message: dict) -> None:
        try:
            sub = check_subscription(message.get("subscription"), self.cfg.insecure_endpoints)
        except ValueError as err:
            raise DeliveryError(f"no usable push subscription: {err}", gone=True) from None
        if self.vapid is None:
            raise DeliveryError("the server has no VAPID key")
        headers = {"Urgency": "high" if message["kind"] == "called" else "normal", "Topic": "layso-turn",
                   **self._signed(sub["endpoint"]), "Content-Encoding": "aes128gcm",
                   "Content-Type": "application/octet-stream", "TTL": str(self.cfg.ttl_s)}
        r = http_post(sub["endpoint"], encrypt(sub, payload_of(message)), headers, self.cfg.timeout_s,
                      peer="the push service")
        if r.status_code in (404, 410):
            raise DeliveryError(f"the push service answered {r.status_code}: the subscription is gone", gone=True)
        if not 200 <= r.status_code < 300:
            raise DeliveryError(f"the push service answered {r.status_code}: {r.text[:120]}")

    def _signed(self, endpoint: str) -> dict:
        """The VAPID Authorization header for the endpoint's push service (valid 12 hours)."""
        url = urlsplit(endpoint)
        return self.vapid.vapid().sign({"sub": self.cfg.subject, "aud": f"{url.scheme}://{url.netloc}",
                                        "exp": int(time.time()) + 12 * 3600})


def encrypt(sub: dict, payload: bytes) -> bytes:
    """The payload encrypted for the subscription (RFC 8291, aes128gcm) with a fresh key of our own."""
    import http_ece
    from cryptography.hazmat.primitives.asymmetric import ec
    return http_ece.encrypt(payload, private_key=ec.generate_private_key(ec.SECP256R1()),
                            dh=b64url_decode(sub["keys"]["p256dh"]), auth_secret=b64url_decode(sub["keys"]["auth"]),
                            version="aes128gcm")
