"""The province's official catalogue of fields and agencies, imported from CSV or XLSX into one or
many centres, so kiosks match the catalogue everywhere.

A catalogue has a header row and one row per field. Columns (Vietnamese or English headers; only a
name is required):

    code · mã            the field's code (made from the name when absent: "Đất đai" → dat-dai)
    name · tên lĩnh vực  the field's name as kiosks show it
    agency · sở, ngành   the agency (sở, ngành) that serves it
    old names · tên cũ   the agency's former names, separated by ";" (old reports still map)
    target · mục tiêu    the target wait in minutes (optional)

Importing into a centre: a field of the same code gets the catalogue's name and agency, the agency's
former name joining its old names (its numbering and counters stay); a new field gets the next free thousand-block of numbers and is
served by the counter the importer names (default: the centre's lowest-numbered ordinary counter);
fields the catalogue does not list are left as they are. The result goes through the TOML
re-import (`centres.plan_import` / `apply_import`): validated as a whole configuration, every
difference shown before anything changes, applied in the engine's transaction and audited.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass

from layso.server.engine import QueueEngine
from layso.server.engine.centres import ImportPlan, apply_import, centre_config, plan_import
from layso.server.errors import BadRequest
from layso.server.storage.database import Database

from layso.config import ConfigError, parse_config

MAX_ROWS = 500
HEADERS = {
    "code": ("code", "ma", "mã", "mã lĩnh vực", "ma linh vuc"),
    "name": ("name", "ten", "tên", "tên lĩnh vực", "ten linh vuc", "lĩnh vực", "linh vuc", "field"),
    "agency": ("agency", "sở, ngành", "sở ngành", "so, nganh", "so nganh", "cơ quan", "co quan",
               "cơ quan chủ quản", "đơn vị", "don vi"),
    "agency_aliases": ("old names", "agency_aliases", "tên cũ", "ten cu", "tên cơ quan cũ", "tên cũ của cơ quan"),
    "target_wait_min": ("target", "target_wait_min", "mục tiêu", "muc tieu", "thời gian chờ mục tiêu (phút)",
                        "mục tiêu chờ (phút)"),
}


@dataclass
class CatalogueField:
    code: str
    name: str
    agency: str = ""
    agency_aliases: tuple[str, ...] = ()
    target_wait_min: int | None = None


def slug(text: str) -> str:
    """A field code from a Vietnamese name: "Tư pháp – Hộ tịch" → "tu-phap-ho-tich"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:40]


def _norm(header) -> str:
    return unicodedata.normalize("NFC", str(header or "")).strip().lower()


def _rows_from_file(filename: str, content: bytes) -> list[list]:
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook
        try:
            ws = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
        except Exception:  # noqa: BLE001 - any unreadable workbook is the same mistake to its user
            raise BadRequest("the file is not a readable XLSX workbook", "catalogue_not_xlsx") from None
        return [list(r) for r in ws.iter_rows(values_only=True)]
    if name.endswith(".csv") or not name:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest("a CSV catalogue must be UTF-8 text", "catalogue_not_utf8") from None
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        return [r for r in csv.reader(io.StringIO(text), dialect)]
    raise BadRequest("a catalogue is a .csv or .xlsx file", "catalogue_file_type")


def parse_catalogue(filename: str, content: bytes) -> list[CatalogueField]:
    """The catalogue's fields, or BadRequest naming the row and what is wrong."""
    rows = [r for r in _rows_from_file(filename, content) if any(str(v or "").strip() for v in r)]
    if not rows:
        raise BadRequest("the catalogue is empty", "catalogue_empty")
    columns = {}
    for i, h in enumerate(rows[0]):
        for key, names in HEADERS.items():
            if _norm(h) in names and key not in columns:
                columns[key] = i
    if "name" not in columns:
        raise BadRequest("the catalogue needs a column 'name' (tên lĩnh vực)", "catalogue_no_name_column")
    if len(rows) - 1 > MAX_ROWS:
        raise BadRequest(f"a catalogue has at most {MAX_ROWS} fields", "catalogue_too_long", n=MAX_ROWS)
    out, seen = [], set()
    for n, r in enumerate(rows[1:], start=2):
        def get(key):
            i = columns.get(key)
            v = r[i] if i is not None and i < len(r) else None
            return unicodedata.normalize("NFC", str(v)).strip() if v is not None else ""
        name = get("name")
        if not name:
            raise BadRequest(f"row {n}: the field has no name", "catalogue_row_no_name", row=n)
        code = get("code").lower() or slug(name)
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", code):
            raise BadRequest(f"row {n}: {code!r} is not a field code (lower-case letters, digits, '-')",
                             "catalogue_bad_code", row=n, field_code=code)
        if code in seen:
            raise BadRequest(f"row {n}: the code {code!r} appears twice", "catalogue_duplicate", row=n, field_code=code)
        seen.add(code)
        target = get("target_wait_min")
        if target and not re.fullmatch(r"\d{1,3}(\.0)?", target):
            raise BadRequest(f"row {n}: the target wait must be whole minutes", "catalogue_bad_target", row=n)
        aliases = tuple(a.strip() for a in re.split(r"[;\n]", get("agency_aliases")) if a.strip())
        out.append(CatalogueField(code, name[:200], get("agency")[:200], aliases,
                                  int(float(target)) if target else None))
    return out


def merged_config(db: Database, centre_code: str, catalogue: list[CatalogueField],
                  counter: int | None = None) -> dict:
    """The centre's configuration with the catalogue applied (see the module's description)."""
    data = centre_config(db, centre_code)
    fields = {f["code"]: f for f in data["fields"]}
    ordinary = [k["number"] for k in data["counters"] if not k.get("priority_only")]
    if counter is None:
        counter = min(ordinary) if ordinary else None
    elif counter not in [k["number"] for k in data["counters"]]:
        raise BadRequest(f"centre {centre_code} has no counter {counter}", "catalogue_no_counter", centre=centre_code)
    top = max([f.get("range_end") or 0 for f in data["fields"]] + [0])
    for item in catalogue:
        f = fields.get(item.code)
        if f is None:
            if counter is None:
                raise BadRequest(f"centre {centre_code} has no counter to serve new fields", "catalogue_no_counter", centre=centre_code)
            start = (top // 1000 + 1) * 1000 + 1
            if start + 998 > 999_999:
                raise BadRequest(f"centre {centre_code} has no free number range left", "catalogue_no_range", centre=centre_code)
            top = start + 998
            f = {"code": item.code, "range_start": start, "range_end": top}
            data["fields"].append(f)
            fields[item.code] = f
            for k in data["counters"]:
                if k["number"] == counter:
                    k["fields"].append(item.code)
        f["name"] = item.name
        old_agency, aliases = f.get("agency") or "", list(f.get("agency_aliases") or [])
        agency = item.agency or old_agency  # an empty cell keeps the centre's agency
        for a in (*item.agency_aliases, old_agency):  # a former name stays an alias: old reports still map
            if a and a != agency and a not in aliases:
                aliases.append(a)
        f["agency"], f["agency_aliases"] = agency, aliases
        if item.target_wait_min is not None:
            f["target_wait_min"] = item.target_wait_min
    return data


def plan_catalogue(db: Database, centre_codes: list[str], catalogue: list[CatalogueField],
                   counter: int | None = None) -> list[tuple[ImportPlan, object]]:
    """[(plan, config)] per centre: what the catalogue would change there."""
    out = []
    for code in centre_codes:
        try:
            config = parse_config(merged_config(db, code, catalogue, counter), f"catalogue for {code}")
        except ConfigError as err:
            raise BadRequest(str(err), "catalogue_invalid_config", centre=code) from None
        out.append((plan_import(db, config), config))
    return out


def apply_catalogue(engine: QueueEngine, centre_codes: list[str], catalogue: list[CatalogueField],
                    counter: int | None = None, user_id: int | None = None) -> list:
    """Apply the catalogue to each centre (each in its own transaction); → [Result] with the events."""
    return [apply_import(engine, config, user_id=user_id)
            for plan, config in plan_catalogue(engine.db, centre_codes, catalogue, counter) if plan.changes]
