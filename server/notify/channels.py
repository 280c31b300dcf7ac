"""Notification channels: how one outbox message leaves the server.

Each channel is an object with `send(message) -> None` that raises `DeliveryError(reason)` when the
message did not get through (the worker then retries with back-off; `gone=True`: retrying cannot
help, the recipient is no more). `channels_of(cfg, vapid)` builds them from a centre's `[notify]`
settings, `alert_channels(cfg)` from the province's alerts settings; a channel without settings is
unavailable.
"""
from __future__ import annotations

import hashlib
import hmac
import json

from layso.config import AlertsConfig, GatewayConfig, NotifyConfig, WebhookConfig


class DeliveryError(Exception):
    """The message was not delivered; `str(err)` says why (shown to the manager). `gone`: the
    recipient no longer exists (a withdrawn push subscription): no retry."""

    def __init__(self, reason: str, gone: bool = False):
        super().__init__(reason)
        self.gone = gone


def http_post(url: str, body: bytes, headers: dict, timeout: float, peer: str = "the gateway"):
    """POST `body`; a timeout or a network failure becomes a DeliveryError. `requests` is imported
    here, on the first message: a server that sends no notifications never loads it (~8 MiB)."""
    import requests
    try:
        return requests.post(url, data=body, headers=headers, timeout=timeout)
    except requests.Timeout:
        raise DeliveryError(f"no answer within {timeout:g} s") from None
    except requests.RequestException as err:
        raise DeliveryError(f"cannot reach {peer}: {type(err).__name__}") from None


def _post(url: str, body: bytes, headers: dict, timeout: float) -> None:
    r = http_post(url, body, {"Content-Type": "application/json", **headers}, timeout)
    if not 200 <= r.status_code < 300:
        raise DeliveryError(f"the gateway answered {r.status_code}: {r.text[:120]}")


class HttpGateway:
    """The centre's SMS or Zalo (ZNS) provider behind an HTTP gateway (see `GatewayConfig`)."""

    def __init__(self, channel: str, cfg: GatewayConfig):
        self.channel = channel
        self.cfg = cfg

    def send(self, message: dict) -> None:
        if not message.get("to"):
            raise DeliveryError("no phone number (it is deleted at the day's closing)")
        body = json.dumps({"to": message["to"], "channel": self.channel, "text": message["text"],
                           "key": message["key"]}, ensure_ascii=False).encode()
        headers = {"Idempotency-Key": message["key"]}
        if self.cfg.token:
            headers["Authorization"] = f"Bearer {self.cfg.token}"
        _post(self.cfg.url, body, headers, self.cfg.timeout_s)


class Webhook:
    """Another system, told of each notification without the phone number; the body is signed."""

    channel = "webhook"

    def __init__(self, cfg: WebhookConfig):
        self.cfg = cfg

    def send(self, message: dict) -> None:
        body = json.dumps({k: v for k, v in message.items() if k != "to"}, ensure_ascii=False,
                          sort_keys=True).encode()
        _post(self.cfg.url, body, {"X-Layso-Signature": "sha256=" + sign(self.cfg.secret, body),
                                   "Idempotency-Key": message["key"]}, self.cfg.timeout_s)


def sign(secret: str, body: bytes) -> str:
    """The webhook signature: HMAC-SHA256 of the body with the shared secret, hex."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def alert_channels(cfg: AlertsConfig) -> dict:
    """The channels of the province's alerts: its gateway (as SMS or Zalo) and its webhook."""
    out = {}
    if cfg.gateway is not None:
        out[cfg.gateway_channel] = HttpGateway(cfg.gateway_channel, cfg.gateway)
    if cfg.webhook is not None:
        out["webhook"] = Webhook(cfg.webhook)
    return out


def channels_of(cfg: NotifyConfig, vapid=None) -> dict:
    """The configured channels by name (sms, zalo, webpush, webhook); `vapid` is the installation's
    `VapidKeys` (needed to send Web Push, not to know it is offered)."""
    out = {}
    if cfg.webpush is not None:
        from layso.server.notify.webpush import WebPush
        out["webpush"] = WebPush(cfg.webpush, vapid)
    if cfg.sms is not None:
        out["sms"] = HttpGateway("sms", cfg.sms)
    if cfg.zalo is not None:
        out["zalo"] = HttpGateway("zalo", cfg.zalo)
    if cfg.webhook is not None:
        out["webhook"] = Webhook(cfg.webhook)
    return out
