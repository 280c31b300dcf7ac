"""Profile the server process while `layso bench` loads it, with py-spy (a developer tool, not a dependency).

    pip install py-spy
    python bench/profile_server.py --scenario issue --seconds 20 --out /tmp/issue.txt

py-spy attaches to the `layso serve` process the bench starts when the load begins (after the
lobby's devices have connected) and samples its threads for the length of the load (it needs
ptrace rights: root, or kernel.yama.ptrace_scope=0); `--gil` samples only the thread holding the
GIL, which is what limits a CPU-bound Python server. The output is
py-spy's collapsed stacks (`--format raw`, one stack per line with its sample count, for flame
graph tools); this script also prints the functions with the most samples, by own time (the
frame on top of the stack) and inclusive (anywhere in the stack), idle threads left out.
py-spy samples without stopping the process (`--nonblocking`); with LAYSO_SPY_BLOCKING=1 it stops
it for each sample (slower, but on a busy gevent server most non-blocking samples came back as
errors: 2,518 of 2,690 in one run).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from layso.bench.run import run_bench

IDLE = ("wait (threading.py", "select (selectors.py", "_wait_for_tstate_lock", "accept (socket.py",
        "get (queue.py", "poll (selectors.py", "serve_forever", "readinto (socket.py", "_recv (simple_websocket",
        "recv (socket.py", "sleep")


def hot_spots(raw: Path, top: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(busy samples, top frames by own samples, top frames by inclusive samples) from collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or any(frames[-1].startswith(i) for i in IDLE):
            continue
        n = int(count)
        busy += n
        own[_short(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            inclusive[f] += n
    return busy, own.most_common(top), inclusive.most_common(top)


def _short(frame: str) -> str:
    """`name (path/to/module.py:123)` → `name (module.py)` so samples of one function add up."""
    return re.sub(r"\((?:.*/)?([^/:]+):\d+\)", r"(\1)", frame)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--scenario", choices=("issue", "lobby"), default="issue")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--displays", type=int, default=200)
    ap.add_argument("--counters", type=int, default=60)
    ap.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--out", default="server-profile.txt", help="collapsed stacks written here")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL (Python CPU work)")
    ap.add_argument("--idle", action="store_true", help="sample waiting threads too (where commands wait)")
    args = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    recorders: list[subprocess.Popen] = []

    server_pid: list[str] = []

    def progress(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)
        m = re.search(r"server pid (\d+)", message)
        if m:
            server_pid.append(m.group(1))
        # the issue scenario loads as soon as its server is up; the lobby once its devices are connected
        # (not at "issuing … tickets to wait before the start": that is the prefill)
        starts = "load for" in message or (args.scenario == "issue" and "issuing flat out" in message)
        if server_pid and not recorders and starts:
            recorders.append(subprocess.Popen([spy, "record", "--pid", server_pid[-1], "--rate", str(args.rate),
                                               "--duration", str(int(args.seconds) + 2), "--format", "raw",
                                               "--output", args.out,
                                               *([] if os.environ.get("LAYSO_SPY_BLOCKING") else ["--nonblocking"]),
                                               *(["--gil"] if args.gil else []), *(["--idle"] if args.idle else [])]))

    report = run_bench(args.db, displays=args.displays, counters=args.counters, seconds=args.seconds,
                       scenarios=(args.scenario,), progress=progress)
    for r in recorders:
        r.wait(60)
    print(json.dumps(report[args.scenario], indent=2, ensure_ascii=False))
    busy, own, inclusive = hot_spots(Path(args.out), args.top)
    print(f"\n{busy} busy samples; top frames by own samples:")
    for name, n in own:
        print(f"  {n / busy:6.1%}  {name}")
    print("top frames by inclusive samples:")
    for name, n in inclusive:
        print(f"  {n / busy:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
