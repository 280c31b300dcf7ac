"""`layso centre add|list|export|import|catalogue` (CONTRACT.md, "Province"): the installer's tools for the
centres of one installation. `import` shows every difference first and changes nothing without
`--yes`: the database is the running truth, re-imported only on purpose."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from layso.config import PRESETS, ConfigError, load_config


def register(sub) -> None:
    s = sub.add_parser("centre", help="manage the centres of this installation")
    csub = s.add_subparsers(dest="centre_command", required=True)

    a = csub.add_parser("add", help="create a centre from a preset or as a copy of another")
    a.add_argument("code", help="short code: lower-case letters, digits, '-' or '_'")
    a.add_argument("--name", required=True)
    source = a.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", choices=PRESETS)
    source.add_argument("--copy-from", metavar="CODE", help="copy another centre's settings, fields and counters")
    a.add_argument("--area", default="", help="the province's grouping (filters the overview)")
    a.set_defaults(func=cmd_add)

    ls = csub.add_parser("list", help="list the centres")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    e = csub.add_parser("export", help="write a centre's configuration as TOML")
    e.add_argument("code")
    e.add_argument("--out", help="file to write (default: standard output)")
    e.set_defaults(func=cmd_export)

    i = csub.add_parser("import", help="bring a centre to a TOML configuration (shows the differences first)")
    i.add_argument("file")
    i.add_argument("--yes", action="store_true", help="apply the differences shown")
    i.set_defaults(func=cmd_import)

    k = csub.add_parser("catalogue", help="import the province's catalogue of fields and agencies (CSV or XLSX)")
    k.add_argument("file")
    which = k.add_mutually_exclusive_group(required=True)
    which.add_argument("--centre", action="append", metavar="CODE", help="a centre (repeat for several)")
    which.add_argument("--all", action="store_true", help="every centre in service")
    which.add_argument("--area", help="every centre in service of this area")
    k.add_argument("--counter", type=int, help="the counter that serves new fields (default: the lowest ordinary one)")
    k.add_argument("--yes", action="store_true", help="apply the differences shown")
    k.set_defaults(func=cmd_catalogue)

    for p in (a, ls, e, i, k):
        p.add_argument("--db", help="database URL (default: LAYSO_DATABASE_URL or an SQLite file)")


def _db(args):
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade

    from layso.cli import _db_url
    db = Database(_db_url(args))
    upgrade(db)
    return db


def _fail(message: str, code: int = 2) -> int:
    print(f"layso: {message}", file=sys.stderr)
    return code


def cmd_add(args) -> int:
    from layso.server.engine.centres import create_centre
    from layso.server.errors import QueueError
    db = _db(args)
    try:
        create_centre(db, args.code, args.name, preset=args.preset, copy_from=args.copy_from, area=args.area)
    except QueueError as err:
        return _fail(err.message)
    finally:
        db.dispose()
    source = f"the {args.preset} preset" if args.preset else f"a copy of {args.copy_from}"
    print(f"layso: centre {args.code} ({args.name}) added from {source}")
    return 0


def cmd_list(args) -> int:
    from layso.server.engine.centres import list_centres
    db = _db(args)
    try:
        rows = list_centres(db)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "id"} for r in rows], ensure_ascii=False, indent=2))
        return 0
    print(f"{'code':<20} {'area':<20} {'kind':<9} {'fields':>6} {'counters':>8} {'devices':>7}  name")
    for r in rows:
        state = "  [suspended]" if r["suspended"] else ""
        print(f"{r['code']:<20} {r['area'][:20]:<20} {r['kind']:<9} {r['fields']:>6} {r['counters']:>8} "
              f"{r['devices']:>7}  {r['name']}{state}")
    return 0


def cmd_export(args) -> int:
    import tomli_w

    from layso.server.engine.centres import centre_config
    from layso.server.errors import QueueError
    db = _db(args)
    try:
        data = centre_config(db, args.code)
    except QueueError as err:
        return _fail(err.message)
    finally:
        db.dispose()
    text = (f"# layso: configuration of centre {args.code}, exported from the database.\n"
            f"# Re-import on purpose with `layso centre import FILE` (differences are shown first).\n"
            + tomli_w.dumps(data))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"layso: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_import(args) -> int:
    """Exit 0 when nothing differs or the differences were applied; 1 when differences were shown but
    not applied (no --yes); 2 on an error."""
    from layso.server.engine.centres import apply_import, plan_import
    from layso.server.engine import QueueEngine
    from layso.server.errors import QueueError
    try:
        config = load_config(args.file)
    except ConfigError as err:
        return _fail(str(err))
    db = _db(args)
    try:
        plan = plan_import(db, config)
        if not plan.changes:
            print(f"layso: centre {plan.code} already matches {args.file}; nothing to change")
            return 0
        if not _shown(args.yes, (f"layso: importing {args.file} into centre {plan.code} would change:", plan.lines)):
            return 1
        apply_import(QueueEngine(db), config)
        print(f"layso: centre {plan.code} updated ({len(plan.lines)} changes); connected devices resynchronise")
        return 0
    except QueueError as err:
        return _fail(err.message)
    finally:
        db.dispose()


def _shown(yes: bool, *plans: tuple[str, list[str]]) -> bool:
    """Print each plan (a heading, then its changes); whether to apply them (--yes), else say so."""
    for heading, lines in plans:
        print(heading)
        for line in lines:
            print(f"  {line}")
    if not yes:
        print("layso: nothing changed; run again with --yes to apply these changes")
    return yes


def cmd_catalogue(args) -> int:
    """Exit codes as `import`: 0 nothing to change or applied, 1 shown but not applied, 2 an error."""
    from layso.server.engine.catalogue import apply_catalogue, parse_catalogue, plan_catalogue
    from layso.server.engine.centres import list_centres
    from layso.server.engine import QueueEngine
    from layso.server.errors import QueueError
    try:
        content = Path(args.file).read_bytes()
    except OSError as err:
        return _fail(f"cannot read {args.file}: {err.strerror}")
    db = _db(args)
    try:
        catalogue = parse_catalogue(args.file, content)
        if args.centre:
            codes = args.centre
        else:
            codes = [c["code"] for c in list_centres(db) if not c["suspended"]
                     and (args.all or c["area"] == args.area)]
        if not codes:
            return _fail("no centre matches")
        plans = plan_catalogue(db, codes, catalogue, args.counter)
        changing = [p for p, _c in plans if p.changes]
        if not changing:
            print(f"layso: {len(codes)} centres already match the catalogue ({len(catalogue)} fields)")
            return 0
        if not _shown(args.yes, *((f"layso: centre {plan.code} would change:", plan.lines) for plan in changing)):
            return 1
        apply_catalogue(QueueEngine(db), codes, catalogue, args.counter)
        print(f"layso: catalogue applied to {len(changing)} centres; connected devices resynchronise")
        return 0
    except QueueError as err:
        return _fail(err.message)
    finally:
        db.dispose()
