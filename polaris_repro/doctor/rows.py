"""The doctor's table: one row per check (``check``, ``status`` ok / warn / fail, ``found``, ``fix``)."""
from __future__ import annotations

STATUSES = ("ok", "warn", "fail")
COLUMNS = ("check", "status", "found", "fix")

Row = dict


def row(check: str, status: str, found: str, fix: str = "") -> Row:
    assert status in STATUSES, status
    return {"check": check, "status": status, "found": found, "fix": fix}
