"""The stock & price list's verdicts: what Amazon said about each SKU's update, in words.

A listing update goes alone (patchListingsItem, answered at once) or inside a JSON_LISTINGS_FEED,
whose processing report gives one verdict per SKU; the flow records that verdict on the SKU's own
record (posted "feed <id>" when accepted, failed "feed <id> refused <sku>: <code>: <message>" when
not). This module reads those records back as columns: accepted, rejected with Amazon's message,
or waiting for the report; a feed's row counts its SKUs' verdicts.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from ml_connector.engine.models import Record
from ml_connector.engine.store import DONE_STATES, Store
from ml_connector.targets.amazon.feeds import LISTINGS_FEED
from ml_connector.targets.amazon.listings import ALREADY_SHOWN, LISTING_UPDATE

_FEED_REFUSED = re.compile(r"^feed (\S+) refused (.+?): (.*)$", re.S)
_PATCH_REFUSED = re.compile(r"^Amazon refused the listing update of (.+?): (.*)$", re.S)


@dataclass(frozen=True)
class Verdict:
    sku: str | None
    marketplace: str | None
    quantity: int | None
    price: str | None  # "12.99 USD", or None when the update leaves the price alone
    sent_as: str  # "patch", "feed 123456", "feed of 40 SKUs"
    verdict: str  # accepted, rejected, waiting, already shown
    message: str | None  # Amazon's words for a rejection; a feed's per-SKU counts


def verdicts(store: Store, rows: list) -> dict[int, Verdict]:  # noqa: ANN001 - RecordRow list
    """One Verdict per listing update or feed row of a page (other kinds are left out)."""
    out: dict[int, Verdict] = {}
    feeds = [r for r in rows if r.kind == LISTINGS_FEED]
    counts = _feed_counts(store, feeds) if feeds else {}
    for r in rows:
        source = r.source if isinstance(r.source, dict) else {}
        if r.kind == LISTING_UPDATE:
            out[r.id] = _update_verdict(r, source)
        elif r.kind == LISTINGS_FEED:
            updates = source.get("updates") or []
            tally = counts.get(r.id, Counter())
            words = ", ".join(f"{n} {state}" for state, n in sorted(tally.items())) or None
            verdict = (
                "rejected"
                if r.state == "failed"
                else "waiting"
                if r.state == "pending" or tally.get("waiting")
                else "accepted"
            )
            out[r.id] = Verdict(
                None,
                source.get("marketplace_id"),
                None,
                None,
                f"feed of {len(updates)} SKUs" + (f" (Amazon feed {r.erp_id})" if r.erp_id else ""),
                verdict,
                r.error if r.state == "failed" else words,
            )
    return out


def _update_verdict(r, source: dict) -> Verdict:  # noqa: ANN001
    price = f"{source['price']} {source.get('currency') or ''}".strip() if source.get("price") else None
    sent_as = r.erp_id if (r.erp_id or "").startswith("feed ") else "patch"
    message = None
    if r.state in DONE_STATES:
        verdict = "already shown" if r.state == "found_existing" or r.erp_id == ALREADY_SHOWN else "accepted"
    elif r.state == "failed":
        verdict, message = "rejected", r.error
        feed = _FEED_REFUSED.match(r.error or "")
        patch = _PATCH_REFUSED.match(r.error or "")
        if feed:
            sent_as, message = f"feed {feed.group(1)}", feed.group(3)
        elif patch:
            message = patch.group(2)
    elif r.state == "pending":
        verdict = "waiting"
        message = "waiting for Amazon's answer (a feed's report is read on the next run)"
    else:
        verdict = r.state.replace("_", " ")
    return Verdict(
        source.get("sku"),
        source.get("marketplace_id"),
        source.get("quantity"),
        price,
        sent_as,
        verdict,
        message,
    )


def _feed_counts(store: Store, feeds: list) -> dict[int, Counter]:  # noqa: ANN001
    """Per feed row: how many of its SKUs' records are accepted, rejected or waiting."""
    ids = {c.name: c.id for c in store.connections()}
    wanted: dict[tuple[int | None, str], int] = {}
    for f in feeds:
        updates = f.source.get("updates") if isinstance(f.source, dict) else None
        for u in updates or []:
            if isinstance(u, dict) and u.get("key"):
                wanted[(ids.get(f.connection), u["key"])] = f.id
    out: dict[int, Counter] = {f.id: Counter() for f in feeds}
    keys = sorted({key for _, key in wanted})
    with store.session() as s:
        for start in range(0, len(keys), 500):
            for cid, key, state in s.execute(
                select(Record.connection_id, Record.key, Record.state).where(
                    Record.kind == LISTING_UPDATE, Record.key.in_(keys[start : start + 500])
                )
            ):
                feed = wanted.get((cid, key))
                if feed is None:
                    continue
                word = "accepted" if state in DONE_STATES else "rejected" if state == "failed" else "waiting"
                out[feed][word] += 1
    return out
