"""The voices that speak a sentence: espeak-ng's Vietnamese voice, recorded clips, or off.

A voice is chosen by the same spec string the CLI takes: ``espeak`` (optionally
``espeak:VOICE``, e.g. ``espeak:vi-vn-x-south``), ``clips:DIR`` or ``off``. Voices render a
sentence to a WAV file in a cache directory; playing it is ``layso.hardware.audio``'s job.
"""

from __future__ import annotations

import array
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from layso.config import VoiceConfig
from layso.text import nfc as _nfc

__all__ = ["DEFAULT_SPEED", "Voice", "OffVoice", "EspeakVoice", "ClipsVoice", "make_voice", "default_cache_dir"]

log = logging.getLogger(__name__)

DEFAULT_SPEED = VoiceConfig().speed  # words per minute (130): slower than espeak-ng's 175, for a noisy lobby


# --------------------------------------------------------------------------- WAV helpers


@dataclass(frozen=True)
class _Format:
    channels: int
    width: int  # bytes per sample
    rate: int


def _read_wav(source: str | os.PathLike[str] | bytes) -> tuple[_Format, bytes]:
    name = "WAV data" if isinstance(source, bytes) else os.fspath(source)
    try:
        fh = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
        with fh, wave.open(fh) as w:
            fmt = _Format(w.getnchannels(), w.getsampwidth(), w.getframerate())
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{name}: not a PCM WAV file the wave module can read ({exc})") from None
    if fmt.width not in (1, 2, 3, 4):
        raise ValueError(f"{name}: unsupported sample width {fmt.width}")
    return fmt, frames


def _to_int16(frames: bytes, width: int) -> array.array:
    if width == 2:
        out = array.array("h", frames)
        if sys.byteorder == "big":
            out.byteswap()
        return out
    if width == 1:
        return array.array("h", ((b - 128) << 8 for b in frames))
    if width == 3:
        return array.array("h", (int.from_bytes(frames[i + 1:i + 3], "little", signed=True)
                                 for i in range(0, len(frames) - 2, 3)))
    wide = array.array("i", frames)
    if sys.byteorder == "big":
        wide.byteswap()
    return array.array("h", (v >> 16 for v in wide))


def _convert(frames: bytes, src: _Format, dst: _Format) -> bytes:
    """PCM frames from one format to another (16-bit out): channel mix and linear resampling."""
    if src == dst:
        return frames
    samples = _to_int16(frames, src.width)
    if src.channels != 1:  # mix down to mono
        c = src.channels
        samples = array.array("h", (sum(samples[i:i + c]) // c
                                    for i in range(0, len(samples) - c + 1, c)))
    if src.rate != dst.rate and len(samples) > 1:
        n_out = max(1, round(len(samples) * dst.rate / src.rate))
        step = (len(samples) - 1) / max(1, n_out - 1)
        resampled = array.array("h", bytes(2 * n_out))
        for i in range(n_out):
            pos = i * step
            j = int(pos)
            frac = pos - j
            nxt = samples[j + 1] if j + 1 < len(samples) else samples[j]
            resampled[i] = int(samples[j] + (nxt - samples[j]) * frac)
        samples = resampled
    if dst.channels != 1:
        samples = array.array("h", (s for s in samples for _ in range(dst.channels)))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def _silence(fmt: _Format, ms: int) -> bytes:
    return bytes(fmt.channels * fmt.width * (fmt.rate * max(0, ms) // 1000))


def _write_wav_atomic(path: Path, fmt: _Format, chunks: Iterable[bytes]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(fmt.channels)
        w.setsampwidth(fmt.width)
        w.setframerate(fmt.rate)
        for chunk in chunks:
            w.writeframes(chunk)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/layso/voice`` (usually ``~/.cache/layso/voice``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "layso" / "voice"


class _Cache:
    """A directory of rendered WAVs, pruned oldest-first above ``max_bytes``."""

    PRUNE_EVERY = 25

    def __init__(self, directory: str | os.PathLike[str] | None, max_bytes: int) -> None:
        self.dir = Path(directory).expanduser() if directory else default_cache_dir()
        self.max_bytes = max_bytes
        self._writes = 0

    def path(self, prefix: str, key: Any) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False)
                                .encode("utf-8")).hexdigest()[:40]
        return self.dir / f"{prefix}-{digest}.wav"

    def ensure(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fallback = Path(tempfile.gettempdir()) / f"layso-voice-{os.getuid()}"
            log.warning("voice cache %s unusable (%s); using %s", self.dir, exc, fallback)
            self.dir = fallback
            self.dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def hit(path: Path) -> bool:
        try:
            if path.stat().st_size > 44:
                os.utime(path)  # keep recently used entries when pruning
                return True
        except OSError:
            pass
        return False

    def wrote(self) -> None:
        self._writes += 1
        if self._writes % self.PRUNE_EVERY == 1:
            self.prune()

    def prune(self) -> None:
        try:
            entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.dir.glob("*-*.wav")
                       if p.name.startswith(("espeak-", "clips-"))]
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            try:
                p.unlink()
                total -= size
            except OSError:
                pass


# --------------------------------------------------------------------------- voices


class Voice(ABC):
    """Renders a sentence to a WAV file. ``render`` returns None when there is nothing to play."""

    name = "voice"
    enabled = True

    @abstractmethod
    def render(self, text: str) -> Path | None:
        """Path of a WAV file speaking ``text`` (NFC)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class OffVoice(Voice):
    """No speech (``--voice off``, or espeak-ng missing). The chime still plays."""

    name = "off"
    enabled = False

    def render(self, text: str) -> Path | None:
        return None


class EspeakVoice(Voice):
    """espeak-ng's Vietnamese voice, slow and clear, cached on disk by text + settings."""

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        voice: str = "vi",
        speed: int = DEFAULT_SPEED,
        pitch: int | None = None,
        word_gap: int | None = None,
        amplitude: int | None = None,
        executable: str | None = None,
        timeout_s: float = 30.0,
        max_cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        exe = executable or shutil.which("espeak-ng")
        if not exe:
            raise FileNotFoundError("espeak-ng is not installed (Debian: apt install espeak-ng)")
        self.executable = exe
        self.voice = voice
        self.speed = int(speed)
        self.pitch, self.word_gap, self.amplitude = pitch, word_gap, amplitude
        self.timeout_s = timeout_s
        self.cache = _Cache(cache_dir, max_cache_bytes)
        self.name = f"espeak:{voice}"
        self.renders = 0  # espeak-ng runs (cache misses)

    def settings(self) -> dict[str, Any]:
        return {"voice": self.voice, "speed": self.speed, "pitch": self.pitch,
                "word_gap": self.word_gap, "amplitude": self.amplitude}

    def command(self, out: Path) -> list[str]:
        cmd = [self.executable, "-v", self.voice, "-s", str(self.speed), "-b", "1"]
        for flag, value in (("-p", self.pitch), ("-g", self.word_gap), ("-a", self.amplitude)):
            if value is not None:
                cmd += [flag, str(int(value))]
        return cmd + ["-w", str(out), "--stdin"]

    def render(self, text: str) -> Path | None:
        text = _nfc(text).strip()
        if not text:
            return None
        key = {"engine": "espeak-ng", "text": text, **self.settings()}
        path = self.cache.path("espeak", key)
        if self.cache.hit(path):
            return path
        self.cache.ensure()  # may move the cache to a temp dir if unwritable
        path = self.cache.path("espeak", key)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.wav")
        try:
            proc = subprocess.run(self.command(tmp), input=text.encode("utf-8"),
                                  capture_output=True, timeout=self.timeout_s, check=False)
            if proc.returncode != 0:
                err = proc.stderr.decode("utf-8", "replace").strip()
                raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {err}")
            _, frames = _read_wav(tmp.read_bytes())
            if not frames:
                raise RuntimeError(f"espeak-ng produced no sound for {text!r}")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self.renders += 1
        self.cache.wrote()
        return path


_TOKEN = re.compile(r"[^\W_]+|[,;:.!?…]")
_PAUSES = {",": "pause_ms", ";": "pause_ms", ":": "pause_ms",
           ".": "stop_ms", "!": "stop_ms", "?": "stop_ms", "…": "stop_ms"}


def _words(text: str) -> list[str]:
    """Lower-case NFC words and pause marks; hyphenated letter names split ("e-lờ" → e, lờ)."""
    return _TOKEN.findall(_nfc(text).casefold())


class ClipsVoice(Voice):
    """Recorded clips: ``DIR/manifest.json`` maps words or phrases to WAV files.

    manifest.json is either ``{"xin mời": "xin_moi.wav", …}`` or
    ``{"clips": {…}, "gap_ms": 40, "pause_ms": 250, "stop_ms": 400}``. The sentence is matched
    greedily, longest phrase first; a run of words missing from the pack is spoken by the
    ``fallback`` voice (espeak-ng) or skipped with a warning. Clips in other formats are
    converted to the pack's format (that of its first clip): mono mix, linear resampling.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        fallback: Voice | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        max_cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.dir = Path(directory).expanduser()
        manifest_path = self.dir / "manifest.json"
        if not self.dir.is_dir():
            raise ValueError(f"clip pack folder {self.dir} does not exist")
        try:
            raw = manifest_path.read_bytes()
            manifest = json.loads(raw.decode("utf-8"))
        except FileNotFoundError:
            raise ValueError(f"clip pack {self.dir} has no manifest.json") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{manifest_path}: invalid JSON ({exc})") from None
        if not isinstance(manifest, dict):
            raise ValueError(f"{manifest_path}: expected a JSON object")
        if isinstance(manifest.get("clips"), dict):
            clips, settings = manifest["clips"], manifest
        else:
            clips, settings = manifest, {}
        try:
            self.gap_ms = int(settings.get("gap_ms", 40))
            self.pause_ms = int(settings.get("pause_ms", 250))
            self.stop_ms = int(settings.get("stop_ms", 400))
        except (TypeError, ValueError):
            raise ValueError(f"{manifest_path}: gap_ms, pause_ms, stop_ms must be numbers") from None
        self.phrases: dict[tuple[str, ...], Path] = {}
        for key, filename in clips.items():
            if not isinstance(key, str) or not isinstance(filename, str):
                raise ValueError(f"{manifest_path}: entries must map text to a file name")
            words = tuple(w for w in _words(key) if w not in _PAUSES)
            if not words:
                continue
            path = self.dir / filename
            if not path.is_file():
                log.warning("clip pack %s: %s listed for %r is missing", self.dir, filename, key)
                continue
            self.phrases[words] = path
        if not self.phrases:
            raise ValueError(f"clip pack {self.dir} has no usable clips")
        self.longest = max(len(k) for k in self.phrases)
        self.format = self._check_formats()
        self.fallback = fallback
        self.cache = _Cache(cache_dir, max_cache_bytes)
        self.name = f"clips:{self.dir}"
        self._pack_id = hashlib.sha256(raw).hexdigest()[:16]
        self._clip_cache: dict[Path, bytes] = {}
        self._warned: set[str] = set()

    def _check_formats(self) -> _Format:
        formats: dict[Path, _Format] = {}
        for path in dict.fromkeys(self.phrases.values()):
            try:
                with wave.open(str(path)) as w:
                    formats[path] = _Format(w.getnchannels(), w.getsampwidth(), w.getframerate())
            except (wave.Error, EOFError, OSError) as exc:
                raise ValueError(f"clip {path}: not a PCM WAV file the wave module can read "
                                 f"({exc}); convert it, e.g. sox IN -b 16 OUT.wav") from None
        first = next(iter(formats.values()))
        target = _Format(first.channels, 2, first.rate)
        odd = [p.name for p, f in formats.items() if f != target]
        if odd:
            log.warning("clip pack %s: %d clip(s) differ from %d Hz/%d ch/16-bit and will be "
                        "converted: %s", self.dir, len(odd), target.rate, target.channels,
                        ", ".join(odd[:5]))
        return target

    def _clip(self, path: Path) -> bytes:
        data = self._clip_cache.get(path)
        if data is None:
            fmt, frames = _read_wav(path)
            data = self._clip_cache[path] = _convert(frames, fmt, self.format)
        return data

    def plan(self, text: str) -> list[tuple[str, Any]]:
        """How a sentence will be spoken: ("clip", Path), ("say", words), ("pause", ms)."""
        tokens = _words(text)
        plan: list[tuple[str, Any]] = []
        missing: list[str] = []

        def flush() -> None:
            if missing:
                plan.append(("say", " ".join(missing)))
                missing.clear()

        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok in _PAUSES:
                flush()
                plan.append(("pause", getattr(self, _PAUSES[tok])))
                i += 1
                continue
            for length in range(min(self.longest, len(tokens) - i), 0, -1):
                phrase = tuple(tokens[i:i + length])
                if phrase in self.phrases:  # phrases never contain pause marks
                    flush()
                    plan.append(("clip", self.phrases[phrase]))
                    i += length
                    break
            else:
                missing.append(tok)
                i += 1
        flush()
        return plan

    def _say(self, words: str) -> bytes | None:
        if self.fallback is not None and self.fallback.enabled:
            try:
                wav = self.fallback.render(words)
                if wav is not None:
                    fmt, frames = _read_wav(Path(wav).read_bytes())
                    return _convert(frames, fmt, self.format)
            except Exception:
                log.exception("fallback voice failed for %r", words)
        if words not in self._warned:
            self._warned.add(words)
            log.warning("clip pack %s has no clip for %r and no fallback voice; skipped",
                        self.dir, words)
        return None

    def render(self, text: str) -> Path | None:
        text = _nfc(text).strip()
        plan = self.plan(text)
        if not plan:
            return None
        key = {"pack": self._pack_id, "dir": str(self.dir.resolve()), "text": text,
               "fallback": [getattr(self.fallback, "name", None),
                            getattr(self.fallback, "speed", None)]}
        path = self.cache.path("clips", key)
        if self.cache.hit(path):
            return path
        chunks: list[bytes] = []
        for kind, value in plan:
            if kind == "pause":
                chunks.append(_silence(self.format, value))
                continue
            data = self._clip(value) if kind == "clip" else self._say(value)
            if data is None:
                continue
            if chunks:
                chunks.append(_silence(self.format, self.gap_ms))
            chunks.append(data)
        if not any(chunks):
            return None
        self.cache.ensure()
        path = self.cache.path("clips", key)
        _write_wav_atomic(path, self.format, chunks)
        self.cache.wrote()
        return path


def make_voice(
    spec: str,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    speed: int | None = None,
    **espeak_opts: Any,
) -> Voice:
    """A voice from a CLI spec: ``espeak``, ``espeak:VOICE``, ``clips:DIR`` or ``off``.

    Raises ValueError for a bad spec or clip pack. If espeak-ng is missing, logs a warning and
    returns ``OffVoice`` (for ``espeak``) or a clips voice without fallback: never crashes.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("empty voice spec; use 'espeak', 'clips:DIR' or 'off'")
    kind, sep, arg = spec.strip().partition(":")
    kind = kind.lower()
    if speed is not None:
        espeak_opts["speed"] = speed

    def espeak(voice: str | None) -> Voice | None:
        opts = dict(espeak_opts)
        if voice:
            opts["voice"] = voice
        try:
            return EspeakVoice(cache_dir, **opts)
        except FileNotFoundError as exc:
            log.warning("%s; speech is off", exc)
            return None

    if kind == "off" and not sep:
        return OffVoice()
    if kind == "espeak":
        if sep and not arg.strip():
            raise ValueError("voice spec 'espeak:' needs a voice name, e.g. espeak:vi")
        return espeak(arg.strip() or None) or OffVoice()
    if kind == "clips":
        if not arg.strip():
            raise ValueError("voice spec 'clips:' needs a folder, e.g. clips:/srv/layso/voice")
        return ClipsVoice(arg.strip(), fallback=espeak(None), cache_dir=cache_dir)
    raise ValueError(f"unknown voice {spec!r}; use 'espeak', 'clips:DIR' or 'off'")


