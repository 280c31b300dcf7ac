"""The display program against a real server: a call made through the REST API reaches the screen
and the speaker; reconnection resyncs without announcing old calls; audio reaches pygame.mixer."""
from __future__ import annotations

import io
import os
import queue
import shutil
import signal
import subprocess
import sys
import time
import wave

import pygame
import pytest
from layso.display import texts
from layso.display.app import DisplayApp, Speaker, open_window
from layso.voice import make_voice
from layso.hardware.audio import Announcer, PygameMixerAudio, RecordingAudio
from layso.voice import chime_wav
from PIL import Image
from test_display_board import snapshot

from layso.client import DeviceClient

CALL_2001 = "Xin mời công dân có số thứ tự hai nghìn không trăm linh một đến quầy số một"
CALL_2002 = "Xin mời công dân có số thứ tự hai nghìn không trăm linh hai đến quầy số một"


def tone_wav(seconds: float = 0.3, rate: int = 22050) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x10" * int(seconds * rate))
    return buf.getvalue()


class RecordingVoice:
    """A voice that remembers what it was asked to say and answers with a short tone."""

    enabled = True

    def __init__(self):
        self.texts: list[str] = []
        self.wav = tone_wav()

    def render(self, text: str) -> bytes:
        self.texts.append(text)
        return self.wav


def tick_until(app: DisplayApp, condition, timeout: float = 20.0) -> int:
    """Drive the frame loop at about 30 fps until `condition()`; return the frames it took."""
    frames = 0
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.tick()
        frames += 1
        if condition():
            return frames
        time.sleep(1 / 30)
    raise AssertionError(f"not reached within {timeout} s")


def drawn(app: DisplayApp, region: str) -> list[str]:
    return [p.text for p in app.screen.placed.get(region, [])]


@pytest.fixture
def window():
    surface = open_window((1366, 768), False)
    yield surface
    pygame.display.quit()


@pytest.mark.slow
def test_a_call_through_the_api_is_drawn_and_announced_and_a_reconnection_announces_nothing_old(
        server, window, artifacts):
    display = server.add_device("display", "Màn hình sảnh")
    kiosk = server.add_device("kiosk", "Kiosk")
    counter = server.add_device("counter", "Bảng quầy 1", counter=1)
    server.add_user("staff1", "staff", pin="1111")  # a counter calls only with an officer signed in
    assert server.post("/api/v1/counters/1/signin", counter, {"username": "staff1", "pin": "1111"}).status_code == 200
    voice, audio = RecordingVoice(), RecordingAudio()
    speaker = Speaker(Announcer(voice, audio), None)
    client = DeviceClient(server.url, display).start()
    app = DisplayApp(client.inbox, window, speaker)
    try:
        tick_until(app, lambda: app.board.has_state)
        assert texts.NO_CALL_YET in drawn(app, "call")
        for _ in range(2):
            assert server.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).status_code == 201
        r = server.post("/api/v1/counters/1/next", counter)
        assert r.json()["ticket"]["number"] == "2001"

        tick_until(app, lambda: app.board.latest is not None)
        assert app.board.latest.number == "2001" and app.board.latest.counter == 1
        assert "2001 — QUẦY 1" in drawn(app, "call")  # drawn in the same frame it arrived
        assert app.board.highlighted() is not None
        assert [a.text for a in app.spoken] == [CALL_2001]

        assert server.post("/api/v1/counters/1/recall", counter).status_code == 200
        tick_until(app, lambda: len(app.spoken) == 2)
        assert app.spoken[1].recall and app.spoken[1].text == CALL_2001
        assert texts.RECALL_LABEL in drawn(app, "call")
        pygame.image.save(window, str(artifacts / "display_live_1366x768.png"))

        assert speaker.announcer.wait_idle(15)
        assert voice.texts == [CALL_2001, CALL_2001]
        plays = [("chime" if rec.data == chime_wav() else "speech") for rec in audio.records]
        assert plays == ["chime", "speech", "chime", "speech", "speech"]  # a recall is said twice

        # the server goes away: a discreet notice, the last call stays on screen
        server.kill()
        tick_until(app, lambda: app.board.connection == "offline")
        assert texts.OFFLINE in drawn(app, "header")
        assert "2001 — QUẦY 1" in drawn(app, "call")
        server.start()
        version = app.board.version
        tick_until(app, lambda: app.board.connection == "online" and app.board.version > version + 1, 40)
        tick_until(app, lambda: texts.OFFLINE not in drawn(app, "header"))
        assert len(app.spoken) == 2  # the resync's recent calls are not announced again
        assert app.board.latest.number == "2001"

        assert server.post("/api/v1/counters/1/next", counter).status_code == 200
        tick_until(app, lambda: len(app.spoken) == 3)
        assert app.spoken[2].text == CALL_2002 and not app.spoken[2].recall
    finally:
        client.close()
        app.close()


def test_announcements_reach_pygame_mixer(monkeypatch, window):
    made: list[pygame.mixer.Sound] = []
    real_sound = pygame.mixer.Sound

    def sound(*args, **kwargs):
        made.append(real_sound(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(pygame.mixer, "Sound", sound)
    voice = RecordingVoice()
    audio = PygameMixerAudio()
    announcer = Announcer(voice, audio)
    try:
        assert announcer.announce(CALL_2001)
        assert announcer.wait_idle(15)
    finally:
        announcer.close()
    assert voice.texts == [CALL_2001]
    assert audio.played == 2
    assert [round(s.get_length(), 1) for s in made] == [1.5, 0.3]  # the chime, then the speech


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_the_espeak_voice_is_played_through_the_mixer(monkeypatch, tmp_path, window):
    made: list[pygame.mixer.Sound] = []
    real_sound = pygame.mixer.Sound
    monkeypatch.setattr(pygame.mixer, "Sound", lambda *a, **k: made.append(real_sound(*a, **k)) or made[-1])
    announcer = Announcer(make_voice("espeak", cache_dir=tmp_path), PygameMixerAudio())
    try:
        announcer.announce(CALL_2001)
        end = time.monotonic() + 30
        while len(made) < 2 and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        announcer.close()  # stops the playback: no need to listen to the whole sentence
    assert len(made) == 2 and made[1].get_length() > 2.0  # a whole sentence, not a blip


def test_the_screenshot_is_written_atomically_at_most_once_a_second(tmp_path, window):
    inbox: queue.Queue = queue.Queue()
    inbox.put(("state", snapshot()))
    path = tmp_path / "shots" / "screen.png"
    now = [50.0]  # the app's clock: "less than a second later" whatever the machine's load
    app = DisplayApp(inbox, window, screenshot=path, clock=lambda: now[0])
    try:
        app.tick()
        assert app.screenshots.wait_idle(10)
        with Image.open(path) as png:
            assert png.format == "PNG" and png.size == (1366, 768)
            assert png.getpixel((683, 5)) == (8, 24, 48, 255)  # the header's navy, colours in order, opaque
        inbox.put(("event", ("ticker.changed", {"seq": 11, "ticker": "Nghỉ trưa"})))
        app.tick()
        assert app.screenshots.written == 1  # less than a second later: not yet
        assert sorted(p.name for p in path.parent.iterdir()) == ["screen.png"]
        now[0] += 1.1
        inbox.put(("event", ("ticker.changed", {"seq": 12, "ticker": "Làm việc buổi chiều"})))
        app.tick()
        assert app.screenshots.wait_idle(10) and app.screenshots.written == 2  # a second on: written again
    finally:
        app.close()


@pytest.mark.slow
def test_the_layso_display_command_runs_and_keeps_a_screenshot(server, tmp_path):
    token_file = tmp_path / "display.token"
    token_file.write_text(server.add_device("display", "Màn hình") + "\n")
    shot = tmp_path / "screen.png"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.Popen([sys.executable, "-m", "layso.cli", "display", "--server", server.url, "--token-file",
                             str(token_file), "--size", "1280x720", "--voice", "off", "--screenshot", str(shot)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 30
        while not shot.exists() and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.2)
        assert shot.exists(), proc.stderr.read1().decode() if proc.poll() is not None else "no screenshot"
        with Image.open(shot) as png:
            assert png.size == (1280, 720)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert b"Hello from the pygame community" not in out
