"""The queue engine: commands as short units of work over the domain rules and the database.

Each command locks its centre, applies the rules of `layso.server.domain`, writes, numbers its
events (`seq`, in the same transaction), commits, and returns `Result(value, events)`; the caller
publishes the events after the commit. The commands are grouped by family — tickets, calls at a
counter, counters, rating, the day, centre set-up, devices — and `QueueEngine` puts them together
behind one object, so adapters hold one engine.
"""
from __future__ import annotations

from layso.server.engine.accounts import AccountCommands
from layso.server.engine.base import MAX_ID, MAX_TEXT, EngineBase
from layso.server.engine.calls import CallCommands
from layso.server.engine.context import Command, Event, Result, Settings, iso
from layso.server.engine.counters import CounterCommands
from layso.server.engine.day import RECENT_CALLS, DayCommands, centre_dict
from layso.server.engine.devices import DeviceCommands, device_dict
from layso.server.engine.figures import QueueFigures, ServiceTimes
from layso.server.engine.rating import RatingCommands
from layso.server.engine.setup import SetupCommands, seed_centre, settings_of
from layso.server.engine.tickets import TicketCommands
from layso.server.storage.database import Database


class QueueEngine(TicketCommands, CallCommands, CounterCommands, RatingCommands, DayCommands, SetupCommands,
                  DeviceCommands, AccountCommands, QueueFigures, EngineBase):
    """Every command of the queue, over one database."""

    def __init__(self, db: Database, default_base_url: str | None = None):
        super().__init__(db, default_base_url)
        self.service_times = ServiceTimes()


__all__ = ["MAX_ID", "MAX_TEXT", "RECENT_CALLS", "Command", "Event", "QueueEngine", "Result", "Settings",
           "centre_dict", "device_dict", "iso", "seed_centre", "settings_of"]
