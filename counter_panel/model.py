"""The counter panel's state machine: fed by the client's inbox, the keypad, touches and command
outcomes; it decides which screen shows and which requests go to the server. No pygame, no I/O.

Screens: connecting, offline, error (device refused or not a counter), closed, sign-in (PIN),
idle, serving, paused, rating, reasons (low score), thanks. The panel learns its counter from the
`device` part of the `state` snapshot.

Keys: next, recall, skip and complete send their command; pause pauses an open counter and resumes
a paused one; a long press on pause closes the counter (end of shift). A key whose command is still
on its way sends nothing more (together with the keypad's debouncing: never two commands for one
press). The same actions come from a GPIO keypad, a USB numeric keypad (the app maps its keys) or,
on a panel whose officer has no keys, the officer's strip of touch buttons (`officer_touch`).

The citizen and the officer share a touch screen, so the officer's strip shows only on the officer's
screens (idle, serving, paused, with an officer signed in): never on the rating, reasons or thank-you
screens. A screen that appears by itself (a rating opening or ending, the thank-you ending) ignores
taps for TAP_GUARD_S, so a tap meant for the screen before never lands on the next one; `officer_targets`
says which actions the strip offers now.

Rating flow: a `ticket.completed` event for this counter (from a button, the panel, or the staff
console) opens the rating screen for `panel_window_s` seconds (less a small margin, so a rating
sent at the last moment still arrives within the server's window). A score at or below
`reason_max` asks for reasons before sending. After the server accepts, the thank-you shows for
THANKS_S seconds. The window's end, or the server's refusal, ends the rating.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from layso.hardware.buttons import Press
from layso.text import nfc

from . import texts

CONNECTING, OFFLINE, ERROR, CLOSED, SIGN_IN, IDLE, SERVING, PAUSED, RATING, REASONS, THANKS = (
    "connecting", "offline", "error", "closed", "sign_in", "idle", "serving", "paused", "rating", "reasons",
    "thanks")

THANKS_S = 5.0
FEEDBACK_S = 8.0
TAP_GUARD_S = 1.0
WINDOW_MARGIN_S = 2.0
MAX_USERNAME, MAX_PIN = 32, 12
END_RATING_CODES = {"already_rated", "window_over", "not_served", "forbidden", "ticket_not_found"}


@dataclass(frozen=True)
class Request:
    """Something to send: a Socket.IO command ("counter.next" …) or a rating."""

    kind: str  # command | rating
    name: str = ""
    data: dict = field(default_factory=dict)
    ticket_id: int | None = None


@dataclass(frozen=True)
class Outcome:
    request: Request
    ok: bool
    value: object = None
    code: str | None = None
    message: str | None = None


@dataclass
class Feedback:
    text: str
    error: bool
    until: float


@dataclass
class RatingSession:
    ticket: dict
    deadline: float
    score: int | None = None
    reasons: list[str] = field(default_factory=list)
    sending: bool = False
    error: str | None = None


@dataclass
class SignInForm:
    username: str = ""
    pin: str = ""
    focus: str = "username"  # username | pin
    sending: bool = False


# The officer's touch buttons, in the order the strip shows them.
OFFICER_ACTIONS = ("next", "recall", "skip", "complete", "pause")
OFFICER_SCREENS = frozenset({"idle", "serving", "paused"})


class PanelModel:
    def __init__(self, clock: Callable[[], float] = time.monotonic, officer_touch: bool = False):
        self.clock = clock
        self.officer_touch = officer_touch  # the officer acts on the touch screen (no GPIO keys)
        self._shown: str | None = None  # the screen of the last frame drawn, and since when
        self._shown_since = float("-inf")
        self.connection = "connecting"
        self.counter_number: int | None = None
        self.identity_error: str | None = None
        self.centre: dict | None = None
        self.counter: dict | None = None
        self.counter_missing = False
        self.rating: RatingSession | None = None
        self.thanks_until = 0.0
        self.feedback: Feedback | None = None
        self.sign_in: SignInForm | None = None
        self.in_flight: set[str] = set()
        self._snapshot: dict | None = None

    # ---- what shows ------------------------------------------------------------------------
    @property
    def screen(self) -> str:
        if self.connection == "unauthorized" or self.identity_error or self.counter_missing:
            return ERROR
        if self.connection == "offline":
            return OFFLINE
        if self.counter_number is None or self.counter is None or self.centre is None:
            return CONNECTING
        if self.rating is not None:
            return REASONS if self._needs_reasons(self.rating.score) else RATING
        if self.thanks_until > self.clock():
            return THANKS
        if self.sign_in is not None:
            return SIGN_IN
        status = self.counter.get("status")
        if status == "paused":
            return PAUSED
        if status == "closed":
            return CLOSED
        return SERVING if self.counter.get("ticket") else IDLE

    @property
    def error_text(self) -> str:
        if self.connection == "unauthorized":
            return texts.ERROR_UNAUTHORIZED
        if self.identity_error:
            return self.identity_error
        if self.counter_missing:
            return texts.ERROR_COUNTER_MISSING.format(counter=self.counter_number)
        return ""

    @property
    def led_status(self) -> str:
        if self.connection != "online" or self.screen in (ERROR, CONNECTING):
            return "offline"
        if self.feedback is not None and self.feedback.error:
            return "error"
        if self.in_flight:
            return "busy"
        if self.counter and self.counter.get("status") == "paused":
            return "paused"
        if self.counter and self.counter.get("status") == "closed":
            return "closed"
        return "ready"

    @property
    def rating_config(self) -> dict:
        return (self.centre or {}).get("rating") or {}

    @property
    def levels(self) -> list[dict]:
        return sorted(self.rating_config.get("levels", []), key=lambda lv: -lv["score"])

    @property
    def reasons(self) -> list[str]:
        return list(self.rating_config.get("reasons") or texts.DEFAULT_REASONS)

    @property
    def field_names(self) -> list[str]:
        """The names of the fields this counter serves."""
        names = {f["code"]: f["name"] for f in (self._snapshot or {}).get("fields", [])}
        return [names.get(code, code) for code in (self.counter or {}).get("fields", [])]

    @property
    def officer_present(self) -> bool:
        return bool((self.counter or {}).get("officer"))

    def officer_targets(self) -> dict[str, bool]:
        """The officer's strip for this screen: action → enabled; empty when no strip shows.

        Never on a citizen's screen (rating, reasons, thanks, sign-in) and only with an officer
        signed in (a counter without one cannot call: its idle screen offers the sign-in)."""
        screen = self.screen
        if not self.officer_touch or screen not in OFFICER_SCREENS or not self.officer_present:
            return {}
        serving = screen == SERVING
        return {"next": screen != PAUSED, "recall": serving, "skip": serving, "complete": serving, "pause": True}

    def pause_label_resumes(self) -> bool:
        return (self.counter or {}).get("status") == "paused"

    # ---- taps and what the citizen saw ---------------------------------------------------------
    def frame_drawn(self) -> None:
        """The app drew the current screen: a new one starts its tap guard."""
        screen = self.screen
        if screen != self._shown:
            self._shown, self._shown_since = screen, self.clock()

    def taps_allowed(self) -> bool:
        """False while a screen that appeared by itself is younger than TAP_GUARD_S, or when the screen
        changed since it was drawn (the tap was aimed at what is no longer there)."""
        if self._shown is None:
            return True
        return self.screen == self._shown and self.clock() - self._shown_since >= TAP_GUARD_S

    def _needs_reasons(self, score: int | None) -> bool:
        return score is not None and score <= self.rating_config.get("reason_max", 0)

    def seconds_left(self) -> int:
        if self.rating is None:
            return 0
        return max(0, int(self.rating.deadline - self.clock() + 0.999))

    # ---- the server ------------------------------------------------------------------------
    def on_message(self, kind: str, payload) -> None:
        if kind == "connection":
            self.connection = payload
        elif kind == "state":
            self._snapshot = payload
            self.centre = payload.get("centre")
            if "device" in payload:  # a centre-wide snapshot (after an admin change) leaves who we are as it was
                device = payload.get("device") or {}
                if device.get("role") == "counter" and isinstance(device.get("counter"), int):
                    self.counter_number, self.identity_error = device["counter"], None
                else:
                    self.identity_error = texts.ERROR_NOT_A_COUNTER
            self._take_counter_from_snapshot()
        elif kind == "event":
            type_, body = payload
            self._on_event(type_, body)

    def _take_counter_from_snapshot(self) -> None:
        if self._snapshot is None or self.counter_number is None:
            self.counter = None
            return
        mine = [c for c in self._snapshot.get("counters", []) if c.get("number") == self.counter_number]
        self.counter = mine[0] if mine else None
        self.counter_missing = not mine

    def _is_mine(self, counter) -> bool:
        number = counter.get("number") if isinstance(counter, dict) else counter
        return self.counter_number is not None and number == self.counter_number

    def _on_event(self, type_: str, body: dict) -> None:
        counter = body.get("counter")
        if type_ in ("counter.changed", "ticket.called", "ticket.recalled", "ticket.skipped", "ticket.transferred"):
            if isinstance(counter, dict) and self._is_mine(counter):
                self.counter = counter
                self._tell_officer(type_, body)
        elif type_ == "ticket.completed" and self._is_mine(counter):
            self._tell_officer(type_, body)
            self._open_rating(body.get("ticket") or {})
        elif type_ == "ticket.rated" and self._is_mine(counter):
            ticket = body.get("ticket") or {}
            if self.rating is not None and self.rating.ticket.get("id") == ticket.get("id") and not self.rating.sending:
                self.rating = None  # rated elsewhere (the tracking link): nothing left to ask

    def _tell_officer(self, type_: str, body: dict) -> None:
        """What happened at this counter, whoever did it (the keypad, this panel or the staff console)."""
        ticket = body.get("ticket") or {}
        number = ticket.get("number", "")
        if type_ == "ticket.called":
            self._say(texts.DONE["counter.next"].format(number=number), error=False)
        elif type_ == "ticket.recalled":
            self._say(texts.DONE["counter.recall"].format(number=number), error=False)
        elif type_ == "ticket.skipped":
            key = "counter.skip.no_show" if ticket.get("status") == "no_show" else "counter.skip"
            self._say(texts.DONE[key].format(number=number), error=False)
        elif type_ == "ticket.completed":
            self._say(texts.DONE["counter.complete"].format(number=number), error=False)
        elif type_ == "ticket.transferred":
            if body.get("to_counter") is not None:
                text = texts.TRANSFERRED_COUNTER.format(number=number, counter=body["to_counter"])
            else:
                text = texts.TRANSFERRED_FIELD.format(number=number, field=ticket.get("field_name", ""))
            self._say(text, error=False)

    def _open_rating(self, ticket: dict) -> None:
        window = float(self.rating_config.get("panel_window_s", 0))
        if not self.levels or window <= WINDOW_MARGIN_S or ticket.get("id") is None:
            return
        self.sign_in = None
        self.thanks_until = 0.0
        self.rating = RatingSession(ticket=ticket, deadline=self.clock() + window - WINDOW_MARGIN_S)

    def on_outcome(self, outcome: Outcome) -> None:
        req = outcome.request
        self.in_flight.discard(req.name)
        if req.kind == "rating":
            self._rating_outcome(outcome)
        elif outcome.ok:
            self._say(self._done_text(req.name, outcome.value), error=False)
            if req.name == "counter.signin":
                self.sign_in = None
        else:
            self._say(self._error(outcome), error=True)
            if req.name == "counter.signin" and self.sign_in is not None:
                self.sign_in.sending = False
                self.sign_in.pin = ""

    def _rating_outcome(self, outcome: Outcome) -> None:
        r = self.rating
        if r is None or r.ticket.get("id") != outcome.request.ticket_id:
            return
        r.sending = False
        if outcome.ok:
            self.rating = None
            self.thanks_until = self.clock() + THANKS_S
            self._say(texts.DONE["rating"].format(number=r.ticket.get("number", "")), error=False)
        elif outcome.code in END_RATING_CODES:
            self.rating = None
            self._say(self._error(outcome), error=True)
        else:
            r.error = self._error(outcome)

    def _done_text(self, name: str, value) -> str:
        value = value if isinstance(value, dict) else {}
        ticket = value.get("ticket") or {}
        number = ticket.get("number", "")
        if name == "counter.next" and not ticket:
            return texts.DONE["counter.next.empty"]
        if name == "counter.skip" and ticket.get("status") == "no_show":
            return texts.DONE["counter.skip.no_show"].format(number=number)
        if name == "counter.signin":
            return texts.DONE[name].format(name=(value.get("counter") or {}).get("officer") or "")
        return texts.DONE.get(name, "").format(number=number)

    @staticmethod
    def _error(outcome: Outcome) -> str:
        """The refusal in Vietnamese; a code without words here shows as the fallback and the code."""
        known = texts.ERRORS.get(outcome.code or "")
        if known:
            return nfc(known)
        return f"{texts.ERROR_FALLBACK} ({outcome.code})" if outcome.code else texts.ERROR_FALLBACK

    def _say(self, text: str, error: bool) -> None:
        self.feedback = Feedback(nfc(text), error, self.clock() + FEEDBACK_S)

    # ---- the officer's keys ----------------------------------------------------------------------
    def on_press(self, press: Press) -> Request | None:
        if press.key == "rating":
            if self.rating is not None and press.index is not None and press.index < len(self.levels):
                return self._by_hand(self.choose_score, self.levels[press.index]["score"])
            return None
        name = self._command_for(press)
        return self.command(name) if name else None

    def _command_for(self, press: Press) -> str | None:
        if press.key == "pause":
            if press.long:
                return "counter.close"
            return "counter.resume" if (self.counter or {}).get("status") == "paused" else "counter.pause"
        if press.key in ("next", "recall", "skip", "complete"):
            return f"counter.{press.key}"
        return None

    def command(self, name: str, data: dict | None = None) -> Request | None:
        """A counter command, unless one of the same name is still on its way (a double press)."""
        if name in self.in_flight:
            return None
        if self.connection != "online" or self.counter_number is None:
            self._say(texts.NOT_CONNECTED, error=True)
            return None
        self.in_flight.add(name)
        return Request("command", name, data or {})

    # ---- touches (targets come from the view's hot spots) ------------------------------------
    def on_tap(self, target: str) -> Request | None:
        if not self.taps_allowed():
            return None
        return self._by_hand(self._tap, target)

    def _by_hand(self, act: Callable, *args) -> Request | None:
        """Run an action of the person at the panel: a screen it opens is theirs at once (no guard)."""
        before = self.screen
        request = act(*args)
        after = self.screen
        if after != before:
            self._shown, self._shown_since = after, float("-inf")
        return request

    def _tap(self, target: str) -> Request | None:
        kind, _, arg = target.partition(":")
        if kind == "officer":
            return self._officer_tap(arg)
        if kind == "level" and self.rating is not None:
            return self.choose_score(int(arg))
        if kind == "reason" and self.rating is not None and not self.rating.sending:
            reason = self.reasons[int(arg)]
            chosen = self.rating.reasons
            chosen.remove(reason) if reason in chosen else chosen.append(reason)
            self.rating.error = None
            return None
        if kind == "send" and self.rating is not None:
            return self._send_rating()
        if kind == "back" and self.rating is not None and not self.rating.sending:
            self.rating.score, self.rating.reasons, self.rating.error = None, [], None
            return None
        return self._sign_in_tap(kind, arg)

    def _officer_tap(self, action: str) -> Request | None:
        """A button of the officer's strip: only those the strip shows enabled now."""
        if not self.officer_targets().get(action):
            return None
        return self.on_press(Press(action))

    def choose_score(self, score: int) -> Request | None:
        r = self.rating
        if r is None or r.sending or score not in {lv["score"] for lv in self.levels}:
            return None
        if r.score != score:
            r.reasons = []
        r.score, r.error = score, None
        if self._needs_reasons(score):
            return None
        return self._send_rating()

    def _send_rating(self) -> Request | None:
        r = self.rating
        if r is None or r.sending or r.score is None:
            return None
        if self._needs_reasons(r.score) and not r.reasons:
            r.error = texts.ERRORS["reason_required"]
            return None
        r.sending = True
        body = {"score": r.score}
        if r.reasons:
            body["reasons"] = list(r.reasons)
        return Request("rating", "rating", body, ticket_id=r.ticket.get("id"))

    def _sign_in_tap(self, kind: str, arg: str) -> Request | None:
        if kind == "signin" and arg == "open" and self.screen in (CLOSED, IDLE):
            self.sign_in = SignInForm()
            return None
        form = self.sign_in
        if form is None or form.sending:
            return None
        if kind == "signin" and arg == "cancel":
            self.sign_in = None
        elif kind == "focus":
            form.focus = arg
        elif kind == "key":
            self.type_text(arg)
        elif kind == "erase":
            if form.focus == "pin":
                form.pin = form.pin[:-1]
            else:
                form.username = form.username[:-1]
        elif kind == "signin" and arg == "submit":
            return self.submit_sign_in()
        return None

    def type_text(self, text: str) -> None:
        form = self.sign_in
        if form is None or form.sending:
            return
        for ch in text:
            if form.focus == "pin":
                if ch.isdigit() and len(form.pin) < MAX_PIN:
                    form.pin += ch
            elif (ch.isalnum() or ch in "._-") and ch.isascii() and len(form.username) < MAX_USERNAME:
                form.username += ch.lower()

    def submit_sign_in(self) -> Request | None:
        form = self.sign_in
        if form is None or form.sending:
            return None
        if not form.username:
            form.focus = "username"
            return None
        if len(form.pin) < 4:
            form.focus = "pin"
            return None
        req = self.command("counter.signin", {"username": form.username, "pin": form.pin})
        if req is not None:
            form.sending = True
        return req

    # ---- time -------------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.clock()
        if self.rating is not None and not self.rating.sending and now >= self.rating.deadline:
            self.rating = None
        if self.feedback is not None and now >= self.feedback.until:
            self.feedback = None
        if self.thanks_until and now >= self.thanks_until:
            self.thanks_until = 0.0
