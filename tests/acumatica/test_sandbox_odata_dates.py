"""The sandbox's $filter compares dates the way Acumatica does: a datetimeoffset'…' or date'…'
literal against a stored date (with or without an offset) matches instead of silently failing."""

from __future__ import annotations

import pytest

from ml_connector.sandbox.acumatica.odata import parse_filter


@pytest.mark.parametrize(
    ("stored", "text", "expected"),
    [
        ("2026-10-05T00:00:00", "Date ge datetimeoffset'2026-10-01T00:00:00+00:00'", True),
        ("2026-10-05T00:00:00", "Date lt datetimeoffset'2026-10-01T00:00:00+00:00'", False),
        ("2026-10-05T00:00:00+02:00", "Date gt datetimeoffset'2026-10-04T21:00:00Z'", True),
        ("2026-10-05T00:00:00+02:00", "Date gt datetimeoffset'2026-10-04T23:00:00Z'", False),
        ("2026-10-05T00:00:00", "Date ge date'2026-10-05'", True),
        ("2026-10-05T00:00:00", "Date gt date'2026-10-05'", False),
    ],
)
def test_date_comparisons(stored: str, text: str, expected: bool) -> None:
    assert parse_filter(text)({"Date": stored}) is expected
