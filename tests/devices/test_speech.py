"""Announcement sentences and voices (layso.voice) and `layso announce` (layso.display.cli.announce_main)."""

from __future__ import annotations

import array
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import unicodedata
import wave
from pathlib import Path

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pytest  # noqa: E402
from layso.display.cli import announce_main  # noqa: E402
from layso.hardware.audio import RecordingAudio  # noqa: E402
from layso.voice import voices as speech  # noqa: E402
from layso.voice import (  # noqa: E402
    DEFAULT_TEMPLATE,
    ClipsVoice,
    EspeakVoice,
    OffVoice,
    Voice,
    announcement_text,
    chime_wav,
    make_voice,
)

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")

SENTENCE_1005 = "Xin mời công dân có số thứ tự một nghìn không trăm linh năm đến quầy số ba"


def make_wav(path: Path | None, value: int, frames: int = 200, *, rate: int = 22050,
             channels: int = 1, width: int = 2) -> bytes:
    """A tiny WAV whose samples are all ``value`` (so a clip is recognisable after joining)."""
    if width == 2:
        data = array.array("h", [value] * frames * channels).tobytes()
    elif width == 1:
        data = bytes([(value >> 8) + 128] * frames * channels)
    else:
        raise ValueError(width)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    if path is not None:
        path.write_bytes(buf.getvalue())
    return buf.getvalue()


def segments(path: Path) -> list[int]:
    """The sequence of constant non-zero sample values in a rendered file (silence splits)."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        samples = array.array("h", w.readframes(w.getnframes()))
        channels = w.getnchannels()
    out: list[int] = []
    prev = 0
    for s in samples[::channels]:
        if s != 0 and s != prev:
            out.append(s)
        prev = s
    return out


# ----------------------------------------------------------------------------- sentences


def test_announcement_text_default() -> None:
    assert announcement_text("1005", 3) == SENTENCE_1005
    assert DEFAULT_TEMPLATE.startswith("Xin mời công dân có số thứ tự {number}")


def test_announcement_text_digits_and_prefix() -> None:
    assert announcement_text("1005", 3, read_digits=True) == (
        "Xin mời công dân có số thứ tự một, không, không, năm đến quầy số ba")
    # a letter prefix: the letter's Vietnamese name, then the digits one by one (DOMAIN.md)
    assert announcement_text("A015", 21) == (
        "Xin mời công dân có số thứ tự a, không, một, năm đến quầy số hai mươi mốt")
    # the counter is always read as a number, even when the ticket is read digit by digit
    assert announcement_text("A015", "12", read_digits=True).endswith(
        "a, không, một, năm đến quầy số mười hai")


def test_announcement_text_options_and_field() -> None:
    text = announcement_text(
        "2024", 14, "Mời số {number}, lĩnh vực {field}, đến quầy {counter}",
        field="Đất đai", use_tu=True, odd_word="lẻ", thousand_word="ngàn")
    assert text == "Mời số hai ngàn không trăm hai mươi tư, lĩnh vực Đất đai, đến quầy mười bốn"
    assert announcement_text("105", 1, "{number} {field} {counter}") == "một trăm linh năm một"


def test_announcement_text_is_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Mời công dân số {number} tới quầy {counter}")
    text = announcement_text("25", 4, nfd, field=unicodedata.normalize("NFD", "Hộ tịch"))
    assert unicodedata.is_normalized("NFC", text)
    assert text == "Mời công dân số hai mươi lăm tới quầy bốn"


@pytest.mark.parametrize("template", ["Mời {ticket}", "Mời {number", "{0}"])
def test_bad_template(template: str) -> None:
    with pytest.raises(ValueError):
        announcement_text("1", 1, template)


# ----------------------------------------------------------------------------- make_voice


@pytest.mark.parametrize("spec", ["", "  ", "bogus", "clips:", "espeak:", "off:x", "mp3:x"])
def test_make_voice_bad_spec(spec: str) -> None:
    with pytest.raises(ValueError):
        make_voice(spec)


def test_make_voice_off() -> None:
    voice = make_voice("off")
    assert isinstance(voice, OffVoice) and not voice.enabled
    assert voice.render("xin mời") is None


def test_make_voice_missing_clip_pack(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        make_voice(f"clips:{tmp_path / 'nope'}")
    with pytest.raises(ValueError, match="manifest.json"):
        make_voice(f"clips:{tmp_path}")


def test_make_voice_without_espeak_falls_back(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture,
                                              tmp_path: Path) -> None:
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="layso.voice.voices"):
        voice = make_voice("espeak", tmp_path)
    assert isinstance(voice, OffVoice)
    assert "espeak-ng is not installed" in caplog.text
    # a clip pack still works, without fallback
    pack = tmp_path / "pack"
    pack.mkdir()
    make_wav(pack / "a.wav", 1000)
    (pack / "manifest.json").write_text(json.dumps({"xin mời": "a.wav"}), encoding="utf-8")
    clips = make_voice(f"clips:{pack}", tmp_path / "cache")
    assert isinstance(clips, ClipsVoice) and clips.fallback is None
    assert segments(clips.render("xin mời ba")) == [1000]


# ----------------------------------------------------------------------------- espeak


@needs_espeak
def test_espeak_renders_vietnamese(tmp_path: Path) -> None:
    voice = make_voice("espeak", tmp_path)
    assert isinstance(voice, EspeakVoice) and voice.voice == "vi" and voice.speed <= 150
    path = voice.render(SENTENCE_1005)
    assert path is not None and path.parent == tmp_path and path.stat().st_size > 10_000
    with wave.open(str(path)) as w:
        duration = w.getnframes() / w.getframerate()
        assert w.getsampwidth() == 2
        peak = max(abs(s) for s in array.array("h", w.readframes(w.getnframes())))
    assert 3.0 < duration < 20.0  # a 17-syllable sentence, spoken slowly
    assert peak > 3000  # not silence


@needs_espeak
def test_espeak_cache_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    voice = EspeakVoice(tmp_path, speed=140)
    first = voice.render("Xin mời số một")
    assert voice.renders == 1

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("espeak-ng ran again on a cache hit")

    monkeypatch.setattr(speech.subprocess, "run", boom)
    second = voice.render(unicodedata.normalize("NFD", "Xin mời số một"))
    assert second == first and voice.renders == 1
    # a new voice object over the same dir also hits the cache (cache survives restarts)
    assert EspeakVoice(tmp_path, speed=140).render("Xin mời số một") == first
    monkeypatch.undo()
    # different settings → a different file
    other = EspeakVoice(tmp_path, speed=120).render("Xin mời số một")
    assert other != first and other.exists()


@needs_espeak
def test_espeak_command_is_slow_vietnamese(tmp_path: Path) -> None:
    cmd = EspeakVoice(tmp_path).command(tmp_path / "x.wav")
    assert cmd[cmd.index("-v") + 1] == "vi"
    assert int(cmd[cmd.index("-s") + 1]) < 175  # slower than espeak-ng's default
    assert "-w" in cmd


def test_espeak_failure_raises_in_render(tmp_path: Path) -> None:
    false = shutil.which("false") or "/bin/false"
    voice = EspeakVoice(tmp_path, executable=false)
    with pytest.raises(RuntimeError):
        voice.render("xin mời")
    assert not list(tmp_path.glob("*.wav"))


def test_cache_is_pruned(tmp_path: Path) -> None:
    cache = speech._Cache(tmp_path, max_bytes=3000)
    for i in range(5):
        p = cache.path("espeak", i)
        make_wav(p, 100, frames=500)  # ~1 KB each
        os.utime(p, (1000 + i, 1000 + i))
    (tmp_path / "unrelated.wav").write_bytes(b"x" * 5000)
    cache.prune()
    left = sorted(p.name for p in tmp_path.glob("espeak-*.wav"))
    assert len(left) == 2
    assert cache.path("espeak", 4).name in left  # newest kept
    assert (tmp_path / "unrelated.wav").exists()  # never touches other files


# ----------------------------------------------------------------------------- clips


class StubVoice(Voice):
    """A fallback voice that records what it was asked to say."""

    name = "stub"

    def __init__(self, tmp: Path, value: int = 7777, rate: int = 22050) -> None:
        self.tmp, self.value, self.rate = tmp, value, rate
        self.said: list[str] = []

    def render(self, text: str) -> Path:
        self.said.append(text)
        path = self.tmp / f"stub-{len(self.said)}.wav"
        make_wav(path, self.value, frames=100, rate=self.rate)
        return path


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    d = tmp_path / "pack"
    d.mkdir()
    words = {
        "xin mời": 1000, "xin": 1100, "mời": 1200, "công dân": 1300, "có số thứ tự": 1400,
        "số": 1500, "một": 2001, "nghìn": 2002, "không": 2003, "trăm": 2004, "linh": 2005,
        "năm": 2006, "đến quầy số": 1600, "đến": 1700, "quầy": 1800,
    }
    manifest = {}
    for i, (text, value) in enumerate(words.items()):
        name = f"c{i:02d}.wav"
        make_wav(d / name, value)
        manifest[text] = name
    (d / "manifest.json").write_text(
        json.dumps({"gap_ms": 10, "pause_ms": 100, "clips": manifest}, ensure_ascii=False),
        encoding="utf-8")
    return d


def test_clips_greedy_longest_phrase(pack: Path, tmp_path: Path) -> None:
    stub = StubVoice(tmp_path)
    voice = ClipsVoice(pack, fallback=stub, cache_dir=tmp_path / "cache")
    path = voice.render(SENTENCE_1005)
    assert path is not None
    # "xin mời" and "đến quầy số" are phrases; "ba" is missing and spoken by the fallback
    assert segments(path) == [1000, 1300, 1400, 2001, 2002, 2003, 2004, 2005, 2006, 1600, 7777]
    assert stub.said == ["ba"]
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)


def test_clips_missing_run_and_pauses(pack: Path, tmp_path: Path) -> None:
    stub = StubVoice(tmp_path)
    voice = ClipsVoice(pack, fallback=stub, cache_dir=tmp_path / "cache")
    plan = voice.plan("Xin mời, bà Nguyễn Văn A đến quầy")
    assert [k for k, _ in plan] == ["clip", "pause", "say", "clip", "clip"]
    assert plan[2] == ("say", "bà nguyễn văn a")  # a missing run is one fallback call
    voice.render("Xin mời, bà Nguyễn Văn A đến quầy")
    assert stub.said == ["bà nguyễn văn a"]


def test_clips_cache_hit(pack: Path, tmp_path: Path) -> None:
    stub = StubVoice(tmp_path)
    voice = ClipsVoice(pack, fallback=stub, cache_dir=tmp_path / "cache")
    first = voice.render("xin mời số ba")
    second = voice.render("xin mời số ba")
    assert first == second and stub.said == ["ba"]


def test_clips_without_fallback_skip_missing(pack: Path, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    voice = ClipsVoice(pack, fallback=None, cache_dir=tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="layso.voice.voices"):
        path = voice.render("xin mời ông ba")
    assert segments(path) == [1000]
    assert "ông ba" in caplog.text
    assert voice.render("hoàn toàn khác") is None


def test_clips_convert_formats(tmp_path: Path) -> None:
    d = tmp_path / "pack"
    d.mkdir()
    make_wav(d / "a.wav", 1000, frames=220, rate=22050)
    make_wav(d / "b.wav", 2000, frames=110, rate=11025, channels=2)  # half rate, stereo
    make_wav(d / "c.wav", 3072, frames=220, rate=22050, width=1)     # 8-bit
    (d / "manifest.json").write_text(json.dumps({"một": "a.wav", "hai": "b.wav", "ba": "c.wav"}),
                                     encoding="utf-8")
    stub = StubVoice(tmp_path, value=4000, rate=44100)
    voice = ClipsVoice(d, fallback=stub, cache_dir=tmp_path / "cache")
    path = voice.render("một hai ba bốn")
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        samples = array.array("h", w.readframes(w.getnframes()))
    assert segments(path) == [1000, 2000, 3072, 4000]
    counts = {v: samples.count(v) for v in (1000, 2000, 3072, 4000)}
    assert counts[1000] == 220 and counts[3072] == 220
    assert 200 <= counts[2000] <= 240  # 110 frames at 11025 Hz → ~220 at 22050 Hz
    assert 40 <= counts[4000] <= 60    # 100 frames at 44100 Hz → ~50


def test_clips_refuse_unreadable(tmp_path: Path) -> None:
    d = tmp_path / "pack"
    d.mkdir()
    (d / "bad.wav").write_bytes(b"ID3 this is an mp3 really" * 10)
    (d / "manifest.json").write_text(json.dumps({"một": "bad.wav"}), encoding="utf-8")
    with pytest.raises(ValueError, match="bad.wav"):
        ClipsVoice(d)
    (d / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="invalid JSON"):
        ClipsVoice(d)


@needs_espeak
def test_clips_with_real_espeak_fallback(pack: Path, tmp_path: Path) -> None:
    voice = make_voice(f"clips:{pack}", tmp_path / "cache")
    assert isinstance(voice, ClipsVoice) and isinstance(voice.fallback, EspeakVoice)
    with_missing = voice.render("xin mời số ba")
    only_clips = voice.render("xin mời số")
    with wave.open(str(with_missing)) as a, wave.open(str(only_clips)) as b:
        assert a.getnframes() > b.getnframes() + 2205  # "ba" from espeak adds > 0.1 s


# ----------------------------------------------------------------------------- CLI helper


def test_announce_main_text_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert announce_main("1005", 3, text_only=True) == 0
    assert capsys.readouterr().out == SENTENCE_1005 + "\n"
    assert announce_main("1005", "3", digits=True, text_only=True,
                         numword_opts={"odd_word": "lẻ"}) == 0
    assert capsys.readouterr().out == (
        "Xin mời công dân có số thứ tự một, không, không, năm đến quầy số ba\n")
    assert announce_main("1005", 3, text_only=True, template="Số {number} quầy {counter}",
                         numword_opts={"odd_word": "lẻ", "thousand_word": "ngàn"}) == 0
    assert capsys.readouterr().out == "Số một ngàn không trăm lẻ năm quầy ba\n"


def test_announce_main_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert announce_main("1005", 3, text_only=True, template="{ticket}") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "{ticket}" in captured.err
    assert announce_main("1005", 3, voice="bogus") == 2
    assert announce_main("1005", 3, voice="off") == 1
    assert announce_main("#!", 3, text_only=True) == 2
    for not_a_number in ("abc", "A", "ABCD1", "1005A", "A-5", ""):
        assert announce_main(not_a_number, 3, text_only=True) == 2, not_a_number
        captured = capsys.readouterr()
        assert captured.out == "" and "is not a ticket number" in captured.err
    assert announce_main("a005", 3, text_only=True) == 0  # typed in lower case: the printed A005
    assert "a, không, không, năm" in capsys.readouterr().out


@needs_espeak
def test_announce_main_plays_chime_then_speech(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    audio = RecordingAudio()
    assert announce_main("A005", 2, audio=audio, cache_dir=tmp_path) == 0
    assert [r.data for r in audio.records][0] == chime_wav()
    assert len(audio.records) == 2 and audio.records[1].data[:4] == b"RIFF"
    assert "a, không, không, năm đến quầy số hai" in capsys.readouterr().out


@needs_espeak
def test_announce_cli_in_subprocess_with_dummy_audio(tmp_path: Path) -> None:
    """The real path: pygame.mixer on SDL's dummy driver, blocking until played."""
    env = dict(os.environ, SDL_AUDIODRIVER="dummy", XDG_CACHE_HOME=str(tmp_path))
    code = ("import sys; from layso.display.cli import announce_main; "
            "sys.exit(announce_main('7', 1, template='{number}', chime=False))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "bảy\n"
    assert list((tmp_path / "layso" / "voice").glob("espeak-*.wav"))
