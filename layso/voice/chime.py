"""The chime played before every call: a soft two-tone "ding-dong", generated (no sound file shipped).

The lobby display program plays it before the sentence and the server's web display serves it as
``/display/chime.wav``; both take it from here.
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
import wave
from pathlib import Path

__all__ = ["CHIME_RATE", "chime_wav", "write_chime"]

CHIME_RATE = 22050


@functools.lru_cache(maxsize=1)
def chime_wav() -> bytes:
    """A soft two-tone "ding-dong" (E5 then C5), 16-bit mono 22050 Hz WAV, about 1.5 s."""
    rate = CHIME_RATE
    total = int(1.5 * rate)
    samples = [0.0] * total
    partials = ((1.0, 1.0), (2.0, 0.28), (3.0, 0.08))  # harmonic, bell-ish but gentle
    for freq, start_s, length_s in ((659.25, 0.0, 0.9), (523.25, 0.5, 1.0)):
        start = int(start_s * rate)
        n = min(int(length_s * rate), total - start)
        for i in range(n):
            t = i / rate
            env = min(1.0, t / 0.006) * math.exp(-t / 0.32)
            if i > n - 400:  # fade the tail so it never clicks
                env *= (n - i) / 400
            value = sum(a * math.sin(2 * math.pi * freq * m * t) for m, a in partials)
            samples[start + i] += env * value
    peak = max(abs(s) for s in samples) or 1.0
    scale = 0.55 * 32767 / peak
    frames = struct.pack(f"<{total}h", *(int(round(s * scale)) for s in samples))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def write_chime(path: str | os.PathLike[str]) -> Path:
    """Write the generated chime to ``path`` (atomically) and return it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(chime_wav())
    os.replace(tmp, target)
    return target
