"""Classes of error, so a person can work a problems inbox by kind: fix mappings first, wait out
rate limits, call the ERP's admin for rejections.

Records keep the error as the text the flow wrote (the project's own messages, in the user's
words), so the class is read from that text; it is a filter aid, never a decision the engine takes.
"""

from __future__ import annotations

import re
from functools import lru_cache

CLASSES = {
    "mapping": "Mapping (SKU or account)",
    "data": "Data (the Amazon document itself)",
    "erp_rejected": "Rejected by the ERP",
    "credentials": "Credentials",
    "rate_limit": "Rate limit",
    "transient": "Transient (retried on the next run)",
}
SHORT = {
    "mapping": "Mapping",
    "data": "Data",
    "erp_rejected": "ERP rejected",
    "credentials": "Credentials",
    "rate_limit": "Rate limit",
    "transient": "Transient",
}

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "mapping",
        re.compile(
            r"no ERP item|no account in the mapping|unmapped|sku_map|no GL|no branch|not mapped", re.I
        ),
    ),
    (
        "data",
        re.compile(r"quarantined|not a settlement report|truncated|bad value|ambiguous|mixed currenc", re.I),
    ),
    (
        "credentials",
        re.compile(r"credential|unauthori[sz]ed|\b401\b|\b403\b|invalid_grant|token|password", re.I),
    ),
    ("rate_limit", re.compile(r"\b429\b|rate limit|QuotaExceeded|throttl", re.I)),
    (
        "transient",
        re.compile(r"transient|timed? ?out|\b50[0234]\b|unavailable|retried on the next run|connect", re.I),
    ),
)


@lru_cache(maxsize=4096)  # the same messages repeat across thousands of records
def classify(state: str, error: str | None) -> str:
    """The class of a problem record's error (a pending record with no error is transient)."""
    text = error or ""
    for name, pattern in _RULES:
        if pattern.search(text):
            return name
    if state == "pending" or not text:
        return "transient"
    return "erp_rejected"
