"""Summarise bench/loop_diag's records, per server process: the garbage collections of 1 ms or more by
generation, the issue requests (server-side p50/p99; the slowest 2 %: their statements, the lock, their
own CPU, their centres) and the greenlet runs that kept the event loop, by where they ran."""
import collections
import json
import sys


def show_issues(path: str, issues: list[dict]) -> None:
    """Server-side p50/p99 of the issue requests; for the slowest 2 %: statements, lock, own CPU, centres."""
    cpus = sorted(r["cpu"] for r in issues)
    issues.sort(key=lambda r: r["wall"])
    n = len(issues)
    print(f"{path}: {n} issue requests, server-side wall p50 {issues[n // 2]['wall'] * 1e3:.1f} "
          f"p99 {issues[int(n * .99)]['wall'] * 1e3:.1f} ms, own CPU p50 {cpus[n // 2] * 1e3:.1f} ms; "
          f"the slowest 2 %, mean ms:")
    slow = issues[-max(1, n // 50):]

    def mean(of) -> float:
        return sum(of(r) for r in slow) / len(slow)
    print(f"  wall {mean(lambda r: r['wall']) * 1e3:.1f}, statements {mean(lambda r: sum(st[1] for st in r['statements'])):.1f} "
          f"(the lock {mean(lambda r: sum(st[1] for st in r['statements'] if st[3])):.1f}; "
          f"{mean(lambda r: len(r['statements'])):.1f} statements), own CPU {mean(lambda r: r['cpu']) * 1e3:.1f}")
    print(f"  the slowest 2 % by centre: {collections.Counter(r['centre'] for r in slow).most_common(5)}; all: "
          f"{collections.Counter(r['centre'] for r in issues).most_common(3)}")
    for r in slow[-4:]:
        print(f"  a request of {r['wall'] * 1e3:.1f} ms (own CPU {r['cpu'] * 1e3:.1f}): " +
              "; ".join(f"{st} @{at:.0f} {took:.1f}" for st, took, at, _locks in r["statements"]))


def main(paths: list[str]) -> None:
    for path in paths:
        runs, issues, gcs = [], [], []
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                runs += rec["runs"]
                issues += rec["issues"]
                gcs += rec.get("gcs", [])
        if gcs:
            by_gen = collections.defaultdict(list)
            for _at, gen, ms, _n in gcs:
                by_gen[gen].append(ms)
            print(f"{path}: collections of 1 ms or more: " + "; ".join(
                f"gen {g}: n={len(v)} max {max(v):.1f} sum {sum(v):.0f} ms" for g, v in sorted(by_gen.items())))
        if issues:
            show_issues(path, issues)
        runs = [r for r in runs if r[2] >= 0.2 * r[1]]  # the hub's idle waits left out
        if not runs:
            continue
        span = runs[-1][0] - runs[0][0]
        print(f"{path}: {len(runs)} runs of the limit or more over {span:.0f} s, {sum(r[1] for r in runs):.2f} s wall, "
              f"{sum(r[2] for r in runs):.2f} s CPU")
        by = collections.defaultdict(list)
        for _at, wall, cpu, where in runs:
            by[where].append((wall, cpu))
        for where, rs in sorted(by.items(), key=lambda kv: -sum(w for w, _c in kv[1]))[:15]:
            walls = sorted(w for w, _c in rs)
            print(f"  n={len(rs):4} wall p50 {walls[len(walls) // 2] * 1e3:5.1f} max {walls[-1] * 1e3:6.1f} ms, "
                  f"cpu {sum(c for _w, c in rs) / sum(walls) * 100:3.0f} %  {where[:220]}")


if __name__ == "__main__":
    main(sys.argv[1:])
