"""Audio output behind a small interface, a generated chime, and the call announcer.

Backends are swappable like gpiozero's pin factories: ``PygameMixerAudio`` (SDL through
pygame.mixer; works with ``SDL_AUDIODRIVER=dummy`` or ``disk``), ``NullAudio`` and
``RecordingAudio`` (for tests). ``Announcer`` plays chime + speech on a worker thread so a
display's frame loop never waits for sound, and never sees a sound error.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import wave
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Union

from layso.text import nfc
from layso.voice.chime import chime_wav

__all__ = [
    "WavSource",
    "AudioOutput",
    "NullAudio",
    "RecordingAudio",
    "PygameMixerAudio",
    "make_audio",
    "wav_duration",
    "Renderer",
    "Announcer",
]

log = logging.getLogger(__name__)

WavSource = Union[str, "os.PathLike[str]", bytes]


def _read_source(wav: WavSource) -> bytes:
    if isinstance(wav, (bytes, bytearray, memoryview)):
        return bytes(wav)
    return Path(wav).read_bytes()


def wav_duration(wav: WavSource) -> float:
    """Length of a PCM WAV file or bytes, in seconds."""
    with wave.open(io.BytesIO(_read_source(wav))) as w:
        return w.getnframes() / float(w.getframerate())


# --------------------------------------------------------------------------- backends


class AudioOutput(ABC):
    """Somewhere to play WAV sound: ``play(path_or_bytes)``."""

    def open(self) -> bool:
        """Prepare the device now (optional; ``play`` opens lazily). True if usable."""
        return True

    @abstractmethod
    def play(self, wav: WavSource, *, block: bool = True) -> None:
        """Play a WAV file or WAV bytes; with ``block`` return when it has finished."""

    def stop(self) -> None:
        """Stop whatever this output is playing (a blocked ``play`` returns)."""

    def close(self) -> None:
        """Release the device."""

    def __enter__(self) -> "AudioOutput":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NullAudio(AudioOutput):
    """Plays nothing (speech off, or no sound card)."""

    def play(self, wav: WavSource, *, block: bool = True) -> None:
        return None


@dataclass
class PlayRecord:
    """One ``RecordingAudio.play`` call."""

    data: bytes
    start: float
    end: float
    thread: str


class RecordingAudio(AudioOutput):
    """Records what would be played, with timestamps; for tests and dry runs.

    ``time_scale`` makes a blocking play take that fraction of the sound's real length.
    """

    def __init__(self, time_scale: float = 0.0) -> None:
        self.time_scale = time_scale
        self.records: list[PlayRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def play(self, wav: WavSource, *, block: bool = True) -> None:
        data = _read_source(wav)
        start = time.monotonic()
        if block and self.time_scale > 0:
            self._stop.clear()
            self._stop.wait(wav_duration(data) * self.time_scale)
        with self._lock:
            self.records.append(
                PlayRecord(data, start, time.monotonic(), threading.current_thread().name))

    def stop(self) -> None:
        self._stop.set()


class PygameMixerAudio(AudioOutput):
    """Plays through pygame.mixer (SDL). Errors are logged, never raised from ``play``.

    ``driver`` sets SDL_AUDIODRIVER (e.g. "dummy", "disk", "alsa", "pulseaudio") before
    the mixer starts; leave None to use the environment.
    """

    RETRY_AFTER_S = 30.0

    def __init__(
        self,
        frequency: int = 22050,
        size: int = -16,
        channels: int = 2,
        buffer: int = 1024,
        volume: float = 1.0,
        driver: str | None = None,
        extra_wait_s: float = 2.0,
    ) -> None:
        self.frequency, self.size, self.channels, self.buffer = frequency, size, channels, buffer
        self.volume = max(0.0, min(1.0, volume))
        self.driver = driver
        self.extra_wait_s = extra_wait_s
        self.played = 0  # sounds handed to the mixer
        self._lock = threading.Lock()
        self._channels: set[Any] = set()
        self._stop_gen = 0
        self._failed_at: float | None = None
        self._pygame: Any = None

    def _mixer(self) -> Any:
        """pygame.mixer, initialised; None if audio is unavailable (logged once per retry)."""
        if self._failed_at is not None and time.monotonic() - self._failed_at < self.RETRY_AFTER_S:
            return None
        try:
            if self._pygame is None:
                os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
                import pygame  # noqa: PLC0415 - lazy: SDL reads its env vars at init

                self._pygame = pygame
            mixer = self._pygame.mixer
            if not mixer.get_init():
                if self.driver:
                    os.environ["SDL_AUDIODRIVER"] = self.driver
                mixer.init(self.frequency, self.size, self.channels, self.buffer)
            self._failed_at = None
            return mixer
        except Exception as exc:  # pygame.error, ImportError, ...
            if self._failed_at is None:
                log.error("audio unavailable (pygame.mixer): %s", exc)
            self._failed_at = time.monotonic()
            return None

    def open(self) -> bool:
        return self._mixer() is not None

    def play(self, wav: WavSource, *, block: bool = True) -> None:
        try:
            self._play(wav, block)
        except Exception:
            log.exception("audio playback failed")

    def _play(self, wav: WavSource, block: bool) -> None:
        mixer = self._mixer()
        if mixer is None:
            return
        if isinstance(wav, (bytes, bytearray, memoryview)):
            sound = mixer.Sound(file=io.BytesIO(bytes(wav)))
        else:
            sound = mixer.Sound(os.fspath(wav))
        sound.set_volume(self.volume)
        with self._lock:
            gen = self._stop_gen
            channel = mixer.find_channel(True)
            channel.play(sound)
            self._channels.add(channel)
            self.played += 1
        if not block:
            return
        deadline = time.monotonic() + sound.get_length() + self.extra_wait_s
        try:
            while channel.get_busy():
                if gen != self._stop_gen:
                    return
                if time.monotonic() > deadline:
                    log.warning("audio did not finish in time; stopping it")
                    channel.stop()
                    return
                time.sleep(0.02)
        finally:
            with self._lock:
                self._channels.discard(channel)

    def busy(self) -> bool:
        """True while a sound started by this output is playing."""
        with self._lock:
            return any(ch.get_busy() for ch in self._channels)

    def stop(self) -> None:
        with self._lock:
            self._stop_gen += 1
            channels, self._channels = list(self._channels), set()
        for ch in channels:
            try:
                ch.stop()
            except Exception:
                log.debug("could not stop a channel", exc_info=True)

    def close(self) -> None:
        """Stop our sounds; the mixer itself stays up (the display may share it)."""
        self.stop()


def make_audio(spec: str = "pygame", **kwargs: Any) -> AudioOutput:
    """An audio output from a spec: "pygame" (optionally "pygame:DRIVER"), "null" or "off"."""
    name, _, arg = spec.strip().partition(":")
    name = name.lower()
    if name == "pygame":
        return PygameMixerAudio(driver=arg or kwargs.pop("driver", None), **kwargs)
    if name in ("null", "off", "none"):
        return NullAudio()
    raise ValueError(f"unknown audio output {spec!r}; use 'pygame', 'pygame:DRIVER' or 'null'")


# --------------------------------------------------------------------------- announcer


class Renderer(Protocol):
    """What the announcer needs from a voice (see ``layso.voice.Voice``)."""

    def render(self, text: str) -> WavSource | None: ...


@dataclass
class _Job:
    text: str
    repeat: int
    chime: bool


class Announcer:
    """Plays chime + announcement on a background thread, one call at a time, in order.

    ``announce()`` only queues and returns at once. Speech is rendered on the worker.
    A recall (``recall=True``) speaks the sentence ``recall_repeat`` times. If calls pile
    up beyond ``max_pending`` the oldest waiting one is dropped (the screen still shows
    it); a sentence already waiting is not queued twice. Errors are logged, never raised.
    """

    def __init__(
        self,
        voice: Renderer | None,
        audio: AudioOutput | None = None,
        *,
        chime: WavSource | bool | None = True,
        max_pending: int = 8,
        gap_s: float = 0.25,
        repeat_gap_s: float = 0.8,
        recall_repeat: int = 2,
    ) -> None:
        self.voice = voice
        self._own_audio = audio is None
        self.audio: AudioOutput = audio if audio is not None else PygameMixerAudio()
        self.chime: WavSource | None = chime_wav() if chime is True else (chime or None)
        self.max_pending = max(1, max_pending)
        self.gap_s = gap_s
        self.repeat_gap_s = repeat_gap_s
        self.recall_repeat = max(1, recall_repeat)
        self._pending: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="layso-announcer", daemon=True)
        self._thread.start()

    # -- caller side (never blocks on sound)

    def announce(self, text: str, *, repeat: int = 1, recall: bool = False,
                 chime: bool = True) -> bool:
        """Queue a sentence; True if queued. Returns immediately."""
        try:
            text = nfc(text).strip()
            repeat = max(1, int(repeat))
        except Exception:
            log.exception("bad announcement %r", text)
            return False
        if not text:
            return False
        if recall:
            repeat = max(repeat, self.recall_repeat)
        with self._cond:
            if self._closed:
                log.warning("announcer closed; not announcing %r", text)
                return False
            for job in self._pending:
                if job.text == text:
                    job.repeat = max(job.repeat, repeat)
                    return True
            if len(self._pending) >= self.max_pending:
                dropped = self._pending.popleft()
                log.warning("announcements backing up; dropped %r", dropped.text)
            self._pending.append(_Job(text, repeat, chime))
            self._cond.notify_all()
        return True

    @property
    def pending(self) -> int:
        """Announcements waiting (not counting the one playing)."""
        with self._cond:
            return len(self._pending)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or playing; True if idle (for tests and the CLI)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, timeout: float = 5.0, *, drain: bool = False) -> None:
        """Stop the worker. ``drain`` first lets queued announcements finish (up to timeout)."""
        if drain:
            self.wait_idle(timeout)
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        self._stop.set()
        try:
            self.audio.stop()
        except Exception:
            log.exception("stopping audio failed")
        self._thread.join(timeout)
        if self._own_audio:
            try:
                self.audio.close()
            except Exception:
                log.exception("closing audio failed")

    def __enter__(self) -> "Announcer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- worker side

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                job = self._pending.popleft()
                self._busy = True
            try:
                self._play_job(job)
            except Exception:
                log.exception("announcement failed: %r", job.text)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _play_job(self, job: _Job) -> None:
        speech: WavSource | None = None
        if self.voice is not None:
            try:
                speech = self.voice.render(job.text)
            except Exception:
                log.exception("speech rendering failed for %r", job.text)
        if self._stop.is_set():
            return
        if job.chime and self.chime is not None:
            self._play(self.chime)
            if speech is not None and self._stop.wait(self.gap_s):
                return
        if speech is None:
            return
        for i in range(job.repeat):
            if i and self._stop.wait(self.repeat_gap_s):
                return
            if self._stop.is_set():
                return
            self._play(speech)

    def _play(self, wav: WavSource) -> None:
        try:
            self.audio.play(wav, block=True)
        except Exception:
            log.exception("audio output failed")
