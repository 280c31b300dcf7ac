"""Summarise a `sitecustomize` record of bench/writer_diag: the writer's use and, per kind of write
(the calling functions), how long it waited for the lock and held it, during the load window (the
middle 80 % of the counter commands); for counter commands, the hold split into the command's own
CPU, other greenlets' CPU and time off the CPU (preempted, or waiting on the commit's thread)."""
import collections
import json
import sys


def pc(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main(path: str) -> None:
    record: dict = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            for key, items in json.loads(line).items():
                record[key] += items
    writes = record["writes"]
    commands = sorted(w[0] for w in writes if "counter_command" in w[3])
    t0, t1 = commands[len(commands) // 10], commands[-len(commands) // 10]
    window = [w for w in writes if t0 <= w[0] <= t1]
    print(f"window {t1 - t0:.1f} s, {len(window)} writes, writer held {100 * sum(w[2] for w in window) / (t1 - t0):.0f} %")
    by = collections.defaultdict(list)
    for w in window:
        by[w[3]].append(w)
    for label, ws in sorted(by.items(), key=lambda kv: -sum(w[2] for w in kv[1])):
        print(f"{label[:60]:60} n={len(ws):4} hold p50 {pc([w[2] for w in ws], .5) * 1e3:5.1f} ms, "
              f"sum {sum(w[2] for w in ws):5.2f} s | wait p50 {pc([w[1] for w in ws], .5) * 1e3:5.0f} "
              f"p90 {pc([w[1] for w in ws], .9) * 1e3:5.0f} ms")
    cmds = [w for w in window if "counter_command" in w[3]]
    mean = lambda xs: sum(xs) / len(xs) * 1e3  # noqa: E731
    print(f"counter commands: hold {mean([w[2] for w in cmds]):.1f} ms = own CPU {mean([w[4] for w in cmds]):.1f} + "
          f"others' CPU {mean([w[5] - w[4] for w in cmds]):.1f} + off the CPU {mean([w[2] - w[5] for w in cmds]):.1f}")
    for name in ("cmd", "commit"):  # a counter command from its handler's start to its answer; each commit
        v = record[name]
        print(f"{name}: n={len(v)} p50 {pc(v, .5) * 1e3:.1f} p90 {pc(v, .9) * 1e3:.1f} p99 {pc(v, .99) * 1e3:.1f} ms")
    phases = record.get("phases", [])
    if phases:  # the slowest 5 % of the counter commands that wrote: where their time went
        slow = sorted(phases, key=sum)[-max(1, len(phases) // 20):]
        parts = ("before the writer", "wait", "hold", "after the write")
        print(f"slowest {len(slow)} of {len(phases)} writing commands, mean ms: " +
              ", ".join(f"{p} {mean([s[i] for s in slow]):.1f}" for i, p in enumerate(parts)))
    runs = [r for r in record.get("long_runs", []) if t0 <= r[0] <= t1]
    if runs:  # greenlets that kept the loop 10 ms or more in the window, by where they stopped
        by_where = collections.defaultdict(list)
        for _at, ran, where in runs:
            by_where[where].append(ran)
        print(f"{len(runs)} runs of 10 ms or more without a switch, {sum(r[1] for r in runs):.2f} s:")
        for where, rs in sorted(by_where.items(), key=lambda kv: -sum(kv[1]))[:8]:
            print(f"  n={len(rs):3} max {max(rs) * 1e3:5.1f} ms  {where[:150]}")


if __name__ == "__main__":
    main(sys.argv[1])
