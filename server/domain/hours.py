"""Opening hours: several intervals per weekday, holidays, make-up days, early issuing window."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from layso.config import WEEKDAYS, HoursConfig


class Hours:
    def __init__(self, hours: HoursConfig | dict, tz: str):
        self.cfg = hours if isinstance(hours, HoursConfig) else HoursConfig.model_validate(hours)
        self.tz = ZoneInfo(tz)
        self._days: dict[date, tuple[tuple[datetime, datetime], ...]] = {}  # intervals_on, by day

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    def day_of(self, at: datetime) -> date:
        return self.local(at).date()

    def intervals_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's opening intervals as aware local datetimes (24:00 → next midnight); worked out
        once a day (every issue asks twice: a few per cent of its CPU)."""
        hit = self._days.get(day)
        if hit is None:
            if len(self._days) > 64:
                self._days.clear()
            hit = self._days[day] = tuple(self._intervals_on(day))
        return hit

    def _intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.cfg.holidays and day not in self.cfg.makeup_days:
            return []
        weekday = self.cfg.makeup_weekday if day in self.cfg.makeup_days else WEEKDAYS[day.weekday()]
        out = []
        for start, end in self.cfg.intervals(weekday):
            s = datetime.combine(day, start, self.tz)
            e = datetime.combine(day + timedelta(days=1), time(0), self.tz) if end is None \
                else datetime.combine(day, end, self.tz)
            out.append((s, e))
        return out

    def is_open(self, at: datetime) -> bool:
        loc = self.local(at)
        return any(s <= loc < e for s, e in self.intervals_on(loc.date()))

    def issuing_open(self, at: datetime) -> bool:
        """Kiosks issue within each interval and in the early window before it."""
        loc = self.local(at)
        early = timedelta(minutes=self.cfg.early_issue_minutes)
        return any(s - early <= loc < e for s, e in self.intervals_on(loc.date()))

    def closing_time(self, day: date) -> datetime | None:
        """When the day's service ends (end of its last interval); None on a closed day."""
        iv = self.intervals_on(day)
        return iv[-1][1] if iv else None

    def next_opening(self, at: datetime, horizon_days: int = 14) -> datetime | None:
        loc = self.local(at)
        for i in range(horizon_days + 1):
            for s, _e in self.intervals_on(loc.date() + timedelta(days=i)):
                if s > loc:
                    return s
        return None
