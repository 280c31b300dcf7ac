"""The engine's names under their old module path (`layso.server.engine.commands`), for code written
before the engine was split by family; new code imports `layso.server.engine`."""
from layso.server.engine import (  # noqa: F401
    Command,
    Event,
    QueueEngine,
    Result,
    Settings,
    centre_dict,
    device_dict,
    iso,
    seed_centre,
    settings_of,
)
