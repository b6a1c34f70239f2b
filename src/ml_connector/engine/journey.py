"""A record's journey as text a person can read: what happened to it, when, and why."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from ml_connector.engine.models import AuditEvent, Record

EVENT_LABELS = {
    "fetched": "fetched from Amazon",
    "transformed": "transformed for the ERP",
    "intent": "posting started",
    "posted": "posted to the ERP",
    "found_existing": "already in the ERP (found by its key, not posted again)",
    "failed": "FAILED",
    "deferred": "deferred (the ERP kept failing transiently; a later run retries)",
    "replayed": "replay requested",
}


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"


def format_journey(record: Record, connection: str, events: Sequence[AuditEvent]) -> str:
    lines = [
        f"Record #{record.id}: {record.kind} {record.key}",
        f"  connection  {connection}",
        f"  flow        {record.flow}",
        f"  state       {record.state}",
        f"  ERP id      {record.erp_id or '-'}",
        f"  attempts    {record.attempts}",
        f"  first seen  {when(record.created_at)}",
        f"  last change {when(record.updated_at)}",
    ]
    if record.error:
        lines.append(f"  error       {record.error}")
    if record.claim_owner:
        lines.append(f"  claimed by run {record.claim_owner[:8]} until {when(record.claim_expires_at)}")
    lines.append("")
    lines.append("Journey:")
    if not events:
        lines.append("  (no events yet)")
    for event in events:
        label = EVENT_LABELS.get(event.event, event.event)
        actor = f"  [run {event.actor[:8]}]" if event.actor else ""
        lines.append(f"  {when(event.at)}  {label}{actor}")
        if event.message:
            lines.append(f"      {event.message}")
        if event.payload is not None:
            text = json.dumps(event.payload, indent=2, sort_keys=True, ensure_ascii=False)
            lines.extend(f"      {line}" for line in text.splitlines())
    return "\n".join(lines)
