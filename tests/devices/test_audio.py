"""Audio output backends, the chime and the Announcer worker (layso.hardware.audio)."""

from __future__ import annotations

import array
import io
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402
import pytest  # noqa: E402
from layso.hardware import audio as audio_mod  # noqa: E402
from layso.hardware.audio import (  # noqa: E402
    Announcer,
    AudioOutput,
    NullAudio,
    PygameMixerAudio,
    RecordingAudio,
    make_audio,
    wav_duration,
)
from layso.voice import chime_wav, write_chime  # noqa: E402

HAVE_ESPEAK = shutil.which("espeak-ng") is not None


def tone(value: int, seconds: float = 0.05, rate: int = 22050) -> bytes:
    """A short WAV of constant samples; ``value`` identifies it in recordings."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(array.array("h", [value] * int(seconds * rate)).tobytes())
    return buf.getvalue()


def ident(data: bytes) -> int:
    with wave.open(io.BytesIO(data)) as w:
        return array.array("h", w.readframes(1))[0]


CHIME = tone(1)


class TableVoice:
    """Renders each sentence to a tone looked up in a table; records the rendering thread."""

    def __init__(self, table: dict[str, int], seconds: float = 0.05) -> None:
        self.table, self.seconds = table, seconds
        self.threads: list[str] = []

    def render(self, text: str) -> bytes:
        self.threads.append(threading.current_thread().name)
        return tone(self.table[text], self.seconds)


class GateAudio(AudioOutput):
    """Blocks every play until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.played: list[int] = []

    def play(self, wav: bytes, *, block: bool = True) -> None:
        self.started.set()
        self.gate.wait(10)
        self.played.append(ident(wav))

    def stop(self) -> None:
        self.gate.set()


# ----------------------------------------------------------------------------- chime


def goertzel(samples: list[float], rate: int, freq: float) -> float:
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    return s1 * s1 + s2 * s2 - k * s1 * s2


def test_chime_is_a_two_tone_ding_dong(tmp_path: Path) -> None:
    data = chime_wav()
    assert len(data) < 100_000
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        samples = array.array("h", w.readframes(w.getnframes()))
    assert 0.8 <= len(samples) / 22050 <= 2.5
    peak = max(abs(s) for s in samples)
    assert 8000 < peak < 32000  # audible, not clipped
    ding = [float(s) for s in samples[2205:2205 + 2048]]    # 0.1 s: first tone
    dong = [float(s) for s in samples[22050:22050 + 2048]]  # 1.0 s: second tone
    assert goertzel(ding, 22050, 659.25) > 5 * goertzel(ding, 22050, 523.25)
    assert goertzel(dong, 22050, 523.25) > 5 * goertzel(dong, 22050, 659.25)
    assert abs(samples[-1]) < 200  # fades out, no click
    assert chime_wav() is data  # generated once
    path = write_chime(tmp_path / "sub" / "chime.wav")
    assert path.read_bytes() == data and wav_duration(path) == wav_duration(data)


# ----------------------------------------------------------------------------- backends


def test_make_audio() -> None:
    assert isinstance(make_audio("null"), NullAudio)
    assert isinstance(make_audio("off"), NullAudio)
    out = make_audio("pygame:dummy")
    assert isinstance(out, PygameMixerAudio) and out.driver == "dummy"
    with pytest.raises(ValueError):
        make_audio("alsa")


def test_null_audio() -> None:
    NullAudio().play(CHIME)
    NullAudio().play(b"not a wav")  # never plays, never fails


def test_pygame_mixer_plays_on_dummy_driver(tmp_path: Path) -> None:
    out = PygameMixerAudio()
    assert out.open()
    assert pygame.mixer.get_init() is not None
    path = tmp_path / "chime.wav"
    write_chime(path)
    for source in (chime_wav(), path, str(path)):
        before = out.played
        out.play(source, block=False)
        assert out.played == before + 1
        assert pygame.mixer.get_busy() and out.busy()  # a channel is playing our sound
        out.stop()
        assert not out.busy()


def test_pygame_blocking_play_waits_for_the_sound() -> None:
    out = PygameMixerAudio()
    sound = tone(3000, seconds=0.4)
    t0 = time.monotonic()
    out.play(sound, block=True)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.2  # it did wait (real time on the dummy driver)
    assert not out.busy()


def test_pygame_stop_releases_a_blocked_play() -> None:
    out = PygameMixerAudio()
    done = threading.Event()
    long_sound = tone(3000, seconds=5.0)
    t = threading.Thread(target=lambda: (out.play(long_sound), done.set()), daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while not out.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    out.stop()
    assert done.wait(3), "play() still blocked after stop()"


def test_pygame_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenMixer:
        @staticmethod
        def get_init() -> None:
            return None

        @staticmethod
        def init(*a: object) -> None:
            raise pygame.error("No available audio device")

    class FakePygame:
        mixer = BrokenMixer

    out = PygameMixerAudio()
    monkeypatch.setattr(out, "_pygame", FakePygame)
    with caplog.at_level(logging.ERROR, logger="layso.hardware.audio"):
        assert not out.open()
        out.play(CHIME)
        out.play(CHIME)
    assert caplog.text.count("No available audio device") == 1  # logged once, not per call
    good = PygameMixerAudio()
    good.play(b"garbage, not a wav")  # a bad file is logged, not raised
    assert good.played == 0


def test_sound_reaches_the_sdl_output(tmp_path: Path) -> None:
    """With SDL's disk driver the mixed output lands in a file: the chime must be in it."""
    out_file = tmp_path / "sdl.raw"
    env = dict(os.environ, SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(out_file),
               SDL_DISKAUDIODELAY="0", PYGAME_HIDE_SUPPORT_PROMPT="1")
    code = ("from layso.hardware.audio import PygameMixerAudio\nfrom layso.voice import chime_wav\n"
            "out = PygameMixerAudio(frequency=22050, size=-16, channels=2)\n"
            "assert out.open()\n"
            "out.play(chime_wav(), block=True)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          timeout=60, text=True)
    assert proc.returncode == 0, proc.stderr
    samples = array.array("h", out_file.read_bytes())
    assert max(abs(s) for s in samples) > 8000


# ----------------------------------------------------------------------------- announcer


def test_announce_returns_immediately_and_renders_on_the_worker() -> None:
    gate = GateAudio()
    voice = TableVoice({"một": 101, "hai": 102})
    ann = Announcer(voice, gate, chime=CHIME)
    try:
        assert ann.announce("một")
        assert gate.started.wait(5)
        # the worker is now stuck inside play(); the caller is not
        assert ann.announce("hai")
        assert ann.pending == 1
        gate.gate.set()
        assert ann.wait_idle(10)
        assert gate.played == [1, 101, 1, 102]
        assert voice.threads == ["layso-announcer"] * 2
        assert threading.current_thread().name not in voice.threads
    finally:
        ann.close()


def test_announcements_are_sequential_and_in_order() -> None:
    rec = RecordingAudio(time_scale=1.0)  # plays take the sound's real length
    voice = TableVoice({"a": 11, "b": 12, "c": 13}, seconds=0.08)
    with Announcer(voice, rec, chime=tone(1, 0.08), gap_s=0.0) as ann:
        for text in "abc":
            ann.announce(text)
        assert ann.wait_idle(10)
    ids = [ident(r.data) for r in rec.records]
    assert ids == [1, 11, 1, 12, 1, 13]
    for prev, nxt in zip(rec.records, rec.records[1:]):
        assert prev.end <= nxt.start  # never two sounds at once
        assert prev.end - prev.start >= 0.05
    assert {r.thread for r in rec.records} == {"layso-announcer"}


def test_recall_repeats_the_announcement() -> None:
    rec = RecordingAudio()
    voice = TableVoice({"gọi lại": 21, "ba lần": 22, "một lần": 23})
    with Announcer(voice, rec, chime=CHIME, gap_s=0, repeat_gap_s=0) as ann:
        ann.announce("gọi lại", recall=True)
        ann.announce("ba lần", repeat=3)
        ann.announce("một lần", chime=False)
        assert ann.wait_idle(10)
    assert [ident(r.data) for r in rec.records] == [1, 21, 21, 1, 22, 22, 22, 23]


def test_duplicates_merge_and_backlog_drops_oldest(caplog: pytest.LogCaptureFixture) -> None:
    gate = GateAudio()
    table = {t: 200 + i for i, t in enumerate(["busy", "x", "y", "z", "w"])}
    ann = Announcer(TableVoice(table), gate, chime=None, max_pending=3)
    try:
        ann.announce("busy")
        assert gate.started.wait(5)
        with caplog.at_level(logging.WARNING, logger="layso.hardware.audio"):
            for text in ["x", "y", "x", "z", "w"]:  # x twice: merged; then w pushes x out
                assert ann.announce(text)
        assert ann.pending == 3
        assert "dropped 'x'" in caplog.text
        gate.gate.set()
        assert ann.wait_idle(10)
        assert gate.played == [table["busy"], table["y"], table["z"], table["w"]]
    finally:
        ann.close()


def test_errors_never_reach_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    class FlakyVoice:
        def render(self, text: str) -> bytes:
            if text == "hỏng":
                raise RuntimeError("espeak exploded")
            return tone(31)

    class FlakyAudio(RecordingAudio):
        def play(self, wav: bytes, *, block: bool = True) -> None:
            if ident(wav) == 31 and not getattr(self, "failed", False):
                self.failed = True
                raise OSError("device unplugged")
            super().play(wav, block=block)

    rec = FlakyAudio()
    with caplog.at_level(logging.ERROR, logger="layso.hardware.audio"):
        with Announcer(FlakyVoice(), rec, chime=CHIME, gap_s=0) as ann:
            assert ann.announce("hỏng")   # rendering fails: chime only
            assert ann.announce("lỗi loa")  # first play fails: logged
            assert ann.announce("tốt")      # the worker is still alive
            assert not ann.announce("   ")  # nothing to say
            assert ann.wait_idle(10)
    assert [ident(r.data) for r in rec.records] == [1, 1, 1, 31]
    assert "espeak exploded" in caplog.text and "device unplugged" in caplog.text


def test_no_voice_plays_chime_only() -> None:
    rec = RecordingAudio()
    with Announcer(None, rec, chime=CHIME) as ann:
        ann.announce("xin mời")
        assert ann.wait_idle(5)
    assert [ident(r.data) for r in rec.records] == [1]


def test_close_stops_promptly_and_refuses_new_calls() -> None:
    rec = RecordingAudio(time_scale=1.0)
    voice = TableVoice({"dài": 41, "sau": 42}, seconds=10.0)
    ann = Announcer(voice, rec, chime=None)
    ann.announce("dài")
    ann.announce("sau")
    deadline = time.monotonic() + 5
    while not voice.threads and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    ann.close(timeout=5)
    assert time.monotonic() - t0 < 4  # the 10 s sound was cut short
    assert not ann._thread.is_alive()
    assert not ann.announce("muộn")
    assert 42 not in [ident(r.data) for r in rec.records]


def test_close_with_drain_finishes_queue() -> None:
    rec = RecordingAudio()
    ann = Announcer(TableVoice({"a": 51, "b": 52}), rec, chime=None)
    ann.announce("a")
    ann.announce("b")
    ann.close(drain=True, timeout=10)
    assert [ident(r.data) for r in rec.records] == [51, 52]


def test_announcer_through_pygame_mixer() -> None:
    out = PygameMixerAudio()
    voice = TableVoice({"xin mời": 61}, seconds=0.2)
    with Announcer(voice, out, chime=tone(1, 0.2), gap_s=0.05) as ann:
        ann.announce("xin mời", recall=True)
        assert ann.wait_idle(10)
    assert out.played == 3  # chime + the sentence twice
    assert pygame.mixer.get_init() is not None


@pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")
def test_announcer_with_espeak_end_to_end(tmp_path: Path) -> None:
    from layso.voice import announcement_text, make_voice

    rec = RecordingAudio()
    voice = make_voice("espeak", tmp_path)
    text = announcement_text("1005", 3, "{number}, quầy {counter}")
    with Announcer(voice, rec, chime=CHIME, gap_s=0) as ann:
        ann.announce(text)
        assert ann.wait_idle(20)
    assert len(rec.records) == 2
    assert wav_duration(rec.records[1].data) > 1.0


def test_module_has_no_web_imports() -> None:
    src = Path(audio_mod.__file__).read_text(encoding="utf-8")
    assert "flask" not in src.lower() and "sqlalchemy" not in src.lower()
