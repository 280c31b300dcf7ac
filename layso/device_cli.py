"""Command-line arguments every device program shares (`layso kiosk`, `display`, `counter`)."""
from __future__ import annotations

import argparse
import os
import re
import sys


def parse_size(text: str) -> tuple[int, int]:
    """"1920x1080" → (1920, 1080), for argparse."""
    m = re.fullmatch(r"\s*(\d{3,4})\s*[xX×]\s*(\d{3,4})\s*", text or "")
    if not m or not (200 <= int(m.group(1)) <= 8192 and 150 <= int(m.group(2)) <= 8192):
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1920x1080, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def add_device_arguments(p: argparse.ArgumentParser, default_size: str) -> None:
    """--server, --token | --token-file, --fullscreen, --size, --screenshot."""
    p.add_argument("--server", required=True, help="the server's URL, e.g. http://10.0.0.2:5000")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--token", help="this device's token (or LAYSO_TOKEN)")
    who.add_argument("--token-file", help="a file holding the device token")
    p.add_argument("--fullscreen", action="store_true", help="take the whole screen")
    p.add_argument("--size", type=parse_size,
                   help=f"window size WIDTHxHEIGHT (default {default_size}, or the screen's own with --fullscreen)")
    p.add_argument("--screenshot", help="keep this PNG updated with what the screen shows (at most once a second)")


def device_token(args) -> str | None:
    """The token from --token, --token-file or LAYSO_TOKEN; None (the reason printed) when there is none."""
    from layso.client import read_token  # here: every `layso` command builds this parser, `serve` too
    try:
        return read_token(args.token or (None if args.token_file else os.environ.get("LAYSO_TOKEN")), args.token_file)
    except (ValueError, OSError) as err:
        print(f"layso: {err}", file=sys.stderr)
        return None
