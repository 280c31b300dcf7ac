"""Notifications to citizens: subscriptions from the tracking page, an outbox in the database, a
worker that matches queue events to subscriptions and sends with retries, and pluggable channels
(an HTTP gateway for SMS or Zalo, a signed webhook). Commands never wait for any of it."""
