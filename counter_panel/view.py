"""Draws the counter panel's screens with pygame (laid out for 800×480, scaled to any size) and
returns the touch targets of what it drew."""
from __future__ import annotations

from dataclasses import dataclass

import pygame

from layso.text import local_now, nfc
from layso.textfit import fonts

from . import texts
from .model import (CLOSED, CONNECTING, ERROR, IDLE, OFFICER_ACTIONS, OFFLINE, PAUSED, RATING, REASONS, SERVING,
                    SIGN_IN, THANKS, PanelModel)

BASE_W, BASE_H = 800, 480
TOP_H, BOTTOM_H = 60, 52
# The officer's strip (touch-only panels): below everything a citizen taps on the rating screen
# (its level tiles end at RATING_BOTTOM), with a generous gap.
STRIP_TOP, STRIP_H, STRIP_GAP = 370, 54, 14
RATING_TOP, RATING_BOTTOM = 146, 336

NAVY = (13, 42, 74)
NAVY_DARK = (8, 28, 51)
WHITE = (255, 255, 255)
SOFT = (200, 214, 232)
YELLOW = (255, 210, 63)
AMBER = (245, 166, 35)
RED = (229, 57, 53)
GREEN = (46, 125, 50)
GREY = (52, 62, 76)
KEY_BG = (33, 72, 116)
KEY_ON = (11, 92, 173)
# best level first; spread over the scale's 3 to 5 levels
LEVEL_COLOURS = ((46, 125, 50), (85, 139, 47), (183, 121, 31), (216, 67, 21), (198, 40, 40))


@dataclass(frozen=True)
class Hotspot:
    rect: pygame.Rect
    target: str


def local_time(timezone: str | None) -> str:
    """HH:MM in the centre's time zone."""
    return local_now(timezone).strftime("%H:%M")


class PanelView:
    def __init__(self, size: tuple[int, int]):
        w, h = size
        self.size = size
        self.k = min(w / BASE_W, h / BASE_H)
        self.ox = int((w - BASE_W * self.k) / 2)
        self.oy = int((h - BASE_H * self.k) / 2)
        self.hotspots: list[Hotspot] = []

    # ---- geometry and text helpers -------------------------------------------------------------
    def r(self, x: float, y: float, w: float, h: float) -> pygame.Rect:
        k = self.k
        return pygame.Rect(self.ox + round(x * k), self.oy + round(y * k), round(w * k), round(h * k))

    def px(self, v: float) -> int:
        return max(1, round(v * self.k))

    def fit(self, text: str, size: int, bold: bool, max_w: float) -> int:
        """The largest font size not above `size` at which `text` fits `max_w` base pixels on one line."""
        return fonts().size_for(text, self.px(max_w), self.px(size), 8, bold)

    def text(self, surf: pygame.Surface, text: str, size: int, colour, x: float, y: float, anchor: str = "center",
             bold: bool = False, max_w: float | None = None) -> pygame.Rect:
        """One line at (x, y) in base pixels, by `anchor` ("center", "midleft", "midright"); its ink."""
        size_px = self.fit(text, size, bold, max_w) if max_w else self.px(size)
        at = (self.ox + round(x * self.k), self.oy + round(y * self.k))
        return fonts().line(surf, text, size_px, bold, colour, at, anchor)

    def label(self, surf: pygame.Surface, rect: pygame.Rect, text: str, size_px: int, bold: bool, colour) -> None:
        """A label centred in `rect` (pixels) at a set size."""
        fonts().line(surf, text, size_px, bold, colour, rect.center, box=rect)

    def wrap(self, text: str, size: int, bold: bool, max_w: float) -> list[str]:
        return fonts().wrap(text, self.px(size), bold, self.px(max_w))

    def paragraph(self, surf, text: str, size: int, colour, y: float, max_w: float = 720, bold: bool = False,
                  max_lines: int = 4) -> float:
        """Centred wrapped lines from `y` (top); returns the y below them."""
        step = size * 1.3
        for line in self.wrap(text, size, bold, max_w)[:max_lines]:
            self.text(surf, line, size, colour, BASE_W / 2, y + step / 2, bold=bold, max_w=max_w)
            y += step
        return y

    def button(self, surf, rect: pygame.Rect, label: str, target: str, bg=KEY_BG, fg=WHITE, size: int = 26,
               bold: bool = True, border=None, size_px: int | None = None) -> None:
        """A touch button; `size_px` gives its label a set size (a row of buttons reads alike)."""
        pygame.draw.rect(surf, bg, rect, border_radius=self.px(10))
        if border is not None:
            pygame.draw.rect(surf, border, rect, width=self.px(3), border_radius=self.px(10))
        max_w = rect.width / self.k - 16
        size_px = size_px or self.fit(label, size, bold, max_w)
        self.label(surf, rect, label, size_px, bold, fg)
        self.hotspots.append(Hotspot(rect, target))

    # ---- the frame -------------------------------------------------------------------------------
    def draw(self, surf: pygame.Surface, model: PanelModel) -> list[Hotspot]:
        self.hotspots = []
        surf.fill(NAVY)
        screen = model.screen
        self._top(surf, model)
        {CONNECTING: self._connecting, OFFLINE: self._offline, ERROR: self._error, CLOSED: self._closed,
         SIGN_IN: self._sign_in, IDLE: self._idle, SERVING: self._serving, PAUSED: self._paused,
         RATING: self._rating, REASONS: self._reasons, THANKS: self._thanks}[screen](surf, model)
        self._officer_strip(surf, model)
        self._bottom(surf, model)
        return self.hotspots

    def _officer_strip(self, surf, model: PanelModel) -> None:
        """The officer's touch buttons, when the model offers them (never on a citizen's screen)."""
        targets = model.officer_targets()
        if not targets:
            return
        gap = STRIP_GAP
        w = (BASE_W - 40 - gap * (len(OFFICER_ACTIONS) - 1)) / len(OFFICER_ACTIONS)
        labels = {a: texts.OFFICER_BUTTONS[a] for a in OFFICER_ACTIONS}
        if model.pause_label_resumes():
            labels["pause"] = texts.RESUME_BUTTON
        size_px = min(self.fit(label, 22, True, w - 16) for label in labels.values())  # one size for the row
        for i, action in enumerate(OFFICER_ACTIONS):
            rect = self.r(20 + i * (w + gap), STRIP_TOP, w, STRIP_H)
            if targets.get(action):
                bg = {"complete": GREEN, "pause": (150, 98, 10)}.get(action, KEY_ON)
                self.button(surf, rect, labels[action], f"officer:{action}", bg=bg, size_px=size_px)
            else:
                pygame.draw.rect(surf, GREY, rect, border_radius=self.px(10))
                self.label(surf, rect, labels[action], size_px, True, (140, 150, 165))

    def _strip(self, model: PanelModel) -> bool:
        return bool(model.officer_targets())

    def _top(self, surf, model: PanelModel) -> None:
        bar = self.r(0, 0, BASE_W, TOP_H)
        pygame.draw.rect(surf, NAVY_DARK, (0, 0, surf.get_width(), bar.bottom))
        n = model.counter_number
        counter = model.counter or {}
        title = f"{texts.COUNTER} {n}" if n is not None else "layso"
        right = self.text(surf, local_time((model.centre or {}).get("timezone")), 28, SOFT, BASE_W - 16, TOP_H / 2,
                          anchor="midright")
        left = self.text(surf, title, 34, YELLOW, 16, TOP_H / 2, anchor="midleft", bold=True)
        name = counter.get("name") or ""
        if name and name.casefold() != f"quầy {n}".casefold():
            x = (left.right - self.ox) / self.k + 20
            self.text(surf, name, 26, WHITE, x, TOP_H / 2, anchor="midleft",
                      max_w=(right.left - self.ox) / self.k - x - 16)

    def _bottom(self, surf, model: PanelModel) -> None:
        y = BASE_H - BOTTOM_H
        bar = self.r(0, y, BASE_W, BOTTOM_H)
        pygame.draw.rect(surf, GREY, (0, bar.top, surf.get_width(), surf.get_height() - bar.top))
        officer = (model.counter or {}).get("officer")
        who = texts.OFFICER.format(name=officer) if officer else texts.NO_OFFICER
        fb = model.feedback
        left_w = 300 if fb else 560
        self.text(surf, who, 20, SOFT, 14, y + BOTTOM_H / 2, anchor="midleft", max_w=left_w)
        if fb is not None:
            box = self.r(330, y + 6, BASE_W - 340, BOTTOM_H - 12)
            pygame.draw.rect(surf, RED if fb.error else GREEN, box, border_radius=self.px(8))
            cx, max_w = 330 + (BASE_W - 340) / 2, BASE_W - 360
            if self.fit(fb.text, 21, True, max_w) >= self.px(18):
                self.text(surf, fb.text, 21, WHITE, cx, y + BOTTOM_H / 2, bold=True, max_w=max_w)
            else:  # a long message: two lines rather than letters too small to read
                lines = self.wrap(fb.text, 16, True, max_w)
                if len(lines) > 2:
                    lines = [lines[0], " ".join(lines[1:])]
                for i, line in enumerate(lines):
                    self.text(surf, line, 16, WHITE, cx, y + BOTTOM_H / 2 + (i - (len(lines) - 1) / 2) * 18,
                              bold=True, max_w=max_w)
        elif model.in_flight:
            self.text(surf, texts.SENDING_COMMAND, 20, SOFT, BASE_W - 14, y + BOTTOM_H / 2, anchor="midright")
        else:
            dot = {"online": (102, 187, 106)}.get(model.connection, RED)
            pygame.draw.circle(surf, dot, self.r(BASE_W - 24, y + BOTTOM_H / 2, 0, 0).topleft, self.px(8))

    # ---- screens ---------------------------------------------------------------------------------
    def _connecting(self, surf, model: PanelModel) -> None:
        self.text(surf, texts.CONNECTING_TITLE, 40, WHITE, BASE_W / 2, 240, bold=True)

    def _offline(self, surf, model: PanelModel) -> None:
        self._icon_bar(surf, RED)
        self.text(surf, texts.OFFLINE_TITLE, 54, RED, BASE_W / 2, 170, bold=True)
        self.text(surf, texts.OFFLINE_HINT, 30, WHITE, BASE_W / 2, 240, max_w=740)
        ticket = (model.counter or {}).get("ticket")
        if ticket:
            self.text(surf, texts.LAST_NUMBER.format(number=ticket["number"]), 30, SOFT, BASE_W / 2, 320)

    def _error(self, surf, model: PanelModel) -> None:
        self._icon_bar(surf, RED)
        self.text(surf, texts.ERROR_TITLE, 50, RED, BASE_W / 2, 150, bold=True)
        self.paragraph(surf, model.error_text, 28, WHITE, 200, max_w=700)

    def _icon_bar(self, surf, colour) -> None:
        pygame.draw.rect(surf, colour, self.r(0, TOP_H, BASE_W, 8))

    def _closed(self, surf, model: PanelModel) -> None:
        self.text(surf, texts.CLOSED_TITLE, 52, AMBER, BASE_W / 2, 140, bold=True)
        self.paragraph(surf, texts.CLOSED_HINT, 28, WHITE, 185, max_w=700)
        self.button(surf, self.r(220, 300, 360, 76), texts.SIGN_IN_BUTTON, "signin:open", size=28)

    def _idle(self, surf, model: PanelModel) -> None:
        # without an officer the counter cannot call: say so rather than "ready"
        title, hint = (texts.IDLE_TITLE, texts.IDLE_HINT) if model.officer_present else \
            (texts.NO_OFFICER_TITLE, texts.NO_OFFICER_HINT)
        self.text(surf, title, 44, WHITE, BASE_W / 2, 130, bold=True, max_w=760)
        self.text(surf, hint, 30, SOFT, BASE_W / 2, 190, max_w=760)
        names = model.field_names
        if names:
            self.paragraph(surf, f"{texts.FIELDS_SERVED}: {', '.join(names)}", 26, YELLOW, 235, max_w=720,
                           max_lines=2)
        if not (model.counter or {}).get("officer"):
            self.button(surf, self.r(250, 330, 300, 62), texts.SIGN_IN_BUTTON, "signin:open", size=24)

    def _serving(self, surf, model: PanelModel) -> None:
        ticket = model.counter["ticket"]
        # with the officer's strip below, the same lines sit a little higher and smaller
        number_y, number_px, field_y, badge_y = (192, 150, 290, 316) if self._strip(model) else (215, 170, 325, 355)
        self.text(surf, texts.SERVING, 30, SOFT, BASE_W / 2, 95, bold=True)
        self.text(surf, ticket["number"], number_px, YELLOW, BASE_W / 2, number_y, bold=True, max_w=760)
        self.text(surf, ticket.get("field_name") or "", 34, WHITE, BASE_W / 2, field_y, max_w=760)
        if ticket.get("priority"):
            label = f"{texts.PRIORITY}: {ticket.get('priority_name') or ticket['priority']}"
            size = self.fit(label, 24, True, 700)
            w = fonts().width(nfc(label), size, True) / self.k + 40
            box = self.r((BASE_W - w) / 2, badge_y, w, 44)
            pygame.draw.rect(surf, AMBER, box, border_radius=self.px(22))
            self.text(surf, label, 24, NAVY_DARK, BASE_W / 2, badge_y + 22, bold=True, max_w=700)

    def _paused(self, surf, model: PanelModel) -> None:
        self._icon_bar(surf, AMBER)
        self.text(surf, texts.PAUSED_TITLE, 50, AMBER, BASE_W / 2, 150, bold=True, max_w=760)
        y = 205
        reason = (model.counter or {}).get("pause_reason")
        if reason:
            y = self.paragraph(surf, reason, 32, WHITE, y, max_w=720, max_lines=2)
        self.paragraph(surf, texts.PAUSED_HINT, 28, SOFT, y + 15, max_w=720, max_lines=1 if self._strip(model) else 4)

    def _rating_header(self, surf, model: PanelModel, title: str) -> None:
        self.text(surf, title, 31, WHITE, BASE_W / 2, 92, bold=True, max_w=770)
        t = model.rating.ticket
        line = texts.RATE_TICKET.format(number=t.get("number", ""), field=t.get("field_name", ""))
        chosen = [lv["label"] for lv in model.levels if lv["score"] == model.rating.score]
        if chosen:
            line = f"{line} · {chosen[0]}"
        self.text(surf, line, 24, SOFT, BASE_W / 2, 128, max_w=760)

    def _countdown(self, surf, model: PanelModel) -> None:
        window = float(model.rating_config.get("panel_window_s", 30)) or 1.0
        share = max(0.0, min(1.0, model.seconds_left() / window))
        pygame.draw.rect(surf, NAVY_DARK, self.r(20, 398, 600, 14), border_radius=self.px(7))
        pygame.draw.rect(surf, YELLOW, self.r(20, 398, 600 * share, 14), border_radius=self.px(7))
        self.text(surf, texts.SECONDS_LEFT.format(seconds=model.seconds_left()), 22, SOFT, BASE_W - 20, 405,
                  anchor="midright")

    def _rating(self, surf, model: PanelModel) -> None:
        self._rating_header(surf, model, texts.RATE_TITLE)
        levels = model.levels
        n = len(levels)
        gap = 12
        w = (BASE_W - 40 - gap * (n - 1)) / n
        sending = model.rating.sending
        for i, level in enumerate(levels):
            colour = LEVEL_COLOURS[int(i * (len(LEVEL_COLOURS) - 1) / max(1, n - 1) + 1e-9)]
            rect = self.r(20 + i * (w + gap), RATING_TOP, w, RATING_BOTTOM - RATING_TOP)
            chosen = model.rating.score == level["score"]
            pygame.draw.rect(surf, colour, rect, border_radius=self.px(14))
            if chosen:
                pygame.draw.rect(surf, YELLOW, rect, width=self.px(5), border_radius=self.px(14))
            cx = 20 + i * (w + gap) + w / 2
            self._face(surf, cx, RATING_TOP + 58, 44, 1 - 2 * i / max(1, n - 1))
            y = RATING_TOP + 134
            for line in self.wrap(level["label"], 24, True, w - 14)[:2]:
                self.text(surf, line, 24, WHITE, cx, y, bold=True, max_w=w - 10)
                y += 30
            if not sending:
                self.hotspots.append(Hotspot(rect, f"level:{level['score']}"))
        if model.rating.error:
            self.text(surf, model.rating.error, 22, RED, 320, 405, bold=True, max_w=600)
        else:
            self._countdown(surf, model)

    def _face(self, surf, cx: float, cy: float, radius: float, mood: float) -> None:
        """A face: mood 1 smiles, 0 is neutral, -1 frowns."""
        centre = self.r(cx, cy, 0, 0).topleft
        pygame.draw.circle(surf, YELLOW, centre, self.px(radius))
        pygame.draw.circle(surf, NAVY_DARK, centre, self.px(radius), width=self.px(3))
        for dx in (-0.35, 0.35):
            pygame.draw.circle(surf, NAVY_DARK, self.r(cx + dx * radius, cy - 0.25 * radius, 0, 0).topleft,
                               self.px(radius * 0.11))
        half = radius * 0.5
        base = cy + 0.35 * radius - mood * 0.12 * radius
        points = []
        for step in range(13):
            x = -half + step * (2 * half / 12)
            y = base + mood * 0.28 * radius * (1 - (x / half) ** 2)
            points.append(self.r(cx + x, y, 0, 0).topleft)
        pygame.draw.lines(surf, NAVY_DARK, False, points, self.px(4))

    def _reasons(self, surf, model: PanelModel) -> None:
        self._rating_header(surf, model, texts.REASONS_TITLE)
        reasons = model.reasons[:8]
        rows = (len(reasons) + 1) // 2
        h = min(64, (220 - 10 * (rows - 1)) / max(1, rows))
        for i, reason in enumerate(reasons):
            col, row = i % 2, i // 2
            rect = self.r(20 + col * 386, 148 + row * (h + 10), 374, h)
            on = reason in model.rating.reasons
            self.button(surf, rect, ("✓ " if on else "") + reason, f"reason:{i}", bg=KEY_ON if on else KEY_BG,
                        size=24, bold=on, border=YELLOW if on else None)
        sending = model.rating.sending
        self.button(surf, self.r(20, 376, 220, 50), texts.BACK, "back", bg=GREY, size=24)
        ready = bool(model.rating.reasons) and not sending
        self.button(surf, self.r(480, 376, 300, 50), texts.SENDING if sending else texts.SEND, "send",
                    bg=GREEN if ready else GREY, size=26)
        if model.rating.error:
            self.text(surf, model.rating.error, 20, RED, 360, 401, bold=True, max_w=230)
        else:
            self.text(surf, texts.SECONDS_LEFT.format(seconds=model.seconds_left()), 20, SOFT, 360, 401)

    def _thanks(self, surf, model: PanelModel) -> None:
        centre = self.r(BASE_W / 2, 150, 0, 0).topleft
        pygame.draw.circle(surf, GREEN, centre, self.px(50))
        tick = [(-22, 0), (-6, 18), (24, -16)]
        pygame.draw.lines(surf, WHITE, False, [self.r(BASE_W / 2 + x, 150 + y, 0, 0).topleft for x, y in tick],
                          self.px(9))
        self.text(surf, texts.THANKS_TITLE, 40, WHITE, BASE_W / 2, 250, bold=True, max_w=760)
        thank_you = (model.centre or {}).get("thank_you") or texts.THANKS_DEFAULT
        self.paragraph(surf, thank_you, 28, SOFT, 290, max_w=720, max_lines=2)

    def _sign_in(self, surf, model: PanelModel) -> None:
        form = model.sign_in
        self.text(surf, texts.SIGN_IN_TITLE, 24, SOFT, 20, 80, anchor="midleft", bold=True)
        for name, label, value, rect in (
                ("username", texts.USERNAME, form.username, self.r(20, 98, 300, 50)),
                ("pin", texts.PIN, "•" * len(form.pin), self.r(330, 98, 190, 50))):
            focused = form.focus == name
            pygame.draw.rect(surf, WHITE, rect, border_radius=self.px(8))
            if focused:
                pygame.draw.rect(surf, YELLOW, rect, width=self.px(4), border_radius=self.px(8))
            shown = value + ("|" if focused else "")
            colour = NAVY_DARK if value else (120, 130, 145)
            fonts().line(surf, shown if value else label, self.fit(shown or label, 24, False, 280), False, colour,
                         (rect.left + self.px(10), rect.centery), "midleft")
            self.hotspots.append(Hotspot(rect, f"focus:{name}"))
        busy = form.sending
        self.button(surf, self.r(530, 98, 140, 50), texts.SENDING if busy else texts.SIGN_IN, "signin:submit",
                    bg=GREEN, size=22)
        self.button(surf, self.r(680, 98, 100, 50), texts.CANCEL, "signin:cancel", bg=GREY, size=22)
        gap = 6
        keys_w = (BASE_W - 40 - 9 * gap) / 10
        for row_i, row in enumerate(texts.KEYBOARD_ROWS):
            y = 160 + row_i * 65
            for col, ch in enumerate(row):
                self.button(surf, self.r(20 + col * (keys_w + gap), y, keys_w, 58), ch, f"key:{ch}", size=26)
            if row_i == len(texts.KEYBOARD_ROWS) - 1:
                x = 20 + len(row) * (keys_w + gap)
                self.button(surf, self.r(x, y, BASE_W - 20 - x, 58), texts.ERASE, "erase", bg=GREY, size=24)
