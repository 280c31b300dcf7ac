"""Rules of a centre's set-up: every active field is served by at least one active counter that
calls normal tickets (a priority counter alone would leave its normal tickets waiting forever)."""
from __future__ import annotations

from typing import Iterable


def unserved(field_codes: Iterable[str], counters: Iterable[tuple[bool, bool, Iterable[str]]]) -> list[str]:
    """The fields no counter would serve; `counters` are (active, priority_only, field codes)."""
    served = {code for active, priority_only, codes in counters if active and not priority_only for code in codes}
    return [code for code in field_codes if code not in served]
