"""The device programs' import boundaries: no device module pulls in Flask or SQLAlchemy, and what the
server shares with them (layso.voice, layso.text) pulls in neither pygame nor a device program."""
from __future__ import annotations

import json
import subprocess
import sys

DEVICE_MODULES = ["layso.kiosk.app", "layso.kiosk.cli", "layso.display.app", "layso.display.cli",
                  "layso.counter_panel.app", "layso.counter_panel.cli", "layso.hardware.printer",
                  "layso.hardware.buttons", "layso.hardware.audio", "layso.hardware.scanner", "layso.textfit"]
SHARED_WITH_THE_SERVER = ["layso.voice", "layso.text"]


def loaded_after_import(modules: list[str]) -> set[str]:
    code = ("import json, sys\n"
            f"for name in {modules!r}: __import__(name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYGAME_HIDE_SUPPORT_PROMPT": "1", "SDL_VIDEODRIVER": "dummy", "PATH": ""})
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_device_programs_import_neither_flask_nor_sqlalchemy():
    loaded = loaded_after_import(DEVICE_MODULES)
    assert not top(loaded) & {"flask", "flask_socketio", "flask_babel", "sqlalchemy", "alembic"}
    assert not {n for n in loaded if n.startswith("layso.server")}


def test_the_voice_and_text_helpers_import_no_device_program_and_no_pygame():
    loaded = loaded_after_import(SHARED_WITH_THE_SERVER)
    assert "pygame" not in top(loaded)
    assert not {n for n in loaded if n.startswith(("layso.display", "layso.kiosk", "layso.counter_panel",
                                                    "layso.hardware"))}
