"""`layso announce NUMBER --counter N [--digits] [--voice …] [--text] [--config PATH]` as installers run it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import small_config_data

from layso.config import write_config

SENTENCE_1005 = "Xin mời công dân có số thứ tự một nghìn không trăm linh năm đến quầy số ba"


def announce(*args: str, cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "LAYSO_CONFIG"}
    environ.update(SDL_AUDIODRIVER="dummy", **(env or {}))
    return subprocess.run([sys.executable, "-m", "layso.cli", "announce", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=60)


def test_text_prints_exactly_the_sentence_with_the_default_settings(tmp_path):
    r = announce("1005", "--counter", "3", "--text", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == SENTENCE_1005 + "\n"


def test_digits_reads_the_number_digit_by_digit(tmp_path):
    r = announce("1005", "--counter", "3", "--digits", "--text", cwd=tmp_path)
    assert r.stdout == "Xin mời công dân có số thứ tự một, không, không, năm đến quầy số ba\n"


def test_a_prefixed_number_is_read_as_its_letter_then_its_digits(tmp_path):
    r = announce("A005", "--counter", "2", "--text", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Xin mời công dân có số thứ tự a, không, không, năm đến quầy số hai\n"


def test_the_centres_template_and_number_words_come_from_the_config(tmp_path):
    data = small_config_data()
    data["voice"] = {"template": "Mời công dân số {number} tới quầy {counter}", "thousand_word": "ngàn",
                     "odd_word": "lẻ", "use_tu": True}
    write_config(data, tmp_path / "centre.toml")
    r = announce("1024", "--counter", "21", "--text", "--config", str(tmp_path / "centre.toml"), cwd=tmp_path)
    assert r.stdout == "Mời công dân số một ngàn không trăm hai mươi tư tới quầy hai mươi mốt\n"
    # LAYSO_CONFIG, then ./layso.toml, are used without --config
    r = announce("1105", "--counter", "3", "--text", cwd=tmp_path, env={"LAYSO_CONFIG": str(tmp_path / "centre.toml")})
    assert r.stdout == "Mời công dân số một ngàn một trăm lẻ năm tới quầy ba\n"
    data["voice"] = {"read_digits": True}
    write_config(data, tmp_path / "layso.toml")
    r = announce("2001", "--counter", "1", "--text", cwd=tmp_path)
    assert r.stdout == "Xin mời công dân có số thứ tự hai, không, không, một đến quầy số một\n"


def test_bad_input_fails_with_a_message(tmp_path):
    r = announce("10#5", "--counter", "3", "--text", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "" and "10#5" in r.stderr
    for not_a_ticket in ("abc", "A", "1005A"):  # letters alone, or after the digits, are no ticket number
        r = announce(not_a_ticket, "--counter", "3", "--text", cwd=tmp_path)
        assert r.returncode == 2 and r.stdout == "" and f"'{not_a_ticket}' is not a ticket number" in r.stderr
    for counter in ("0", "abc", "-3"):
        r = announce("1005", "--counter", counter, "--text", cwd=tmp_path)
        assert r.returncode == 2 and r.stdout == "" and "counter" in r.stderr
    r = announce("1005", "--counter", "3", "--voice", f"clips:{tmp_path / 'none'}", cwd=tmp_path)
    assert r.returncode == 2 and "none" in r.stderr
    (tmp_path / "bad.toml").write_text("centre = 1\n")
    r = announce("1005", "--counter", "3", "--text", "--config", str(tmp_path / "bad.toml"), cwd=tmp_path)
    assert r.returncode == 2 and "bad.toml" in r.stderr


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_without_text_it_speaks_through_the_sound_card(tmp_path):
    r = announce("5", "--counter", "1", cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Xin mời công dân có số thứ tự năm đến quầy số một\n"
    assert list((tmp_path / "cache" / "layso" / "voice").glob("espeak-*.wav"))
