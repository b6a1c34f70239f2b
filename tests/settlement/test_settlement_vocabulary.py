"""Where each spelling of the default chart's vocabulary comes from: every key of vocabulary.tsv is
seen in a shipped real settlement file, or each of its strings is in Amazon's documentation shipped
in shared/reference (SP-API.md, Amazon's models), or it is listed in vocabulary_unseen.tsv as
documented but unseen, with its source. The list is kept exact both ways."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ml_connector.settlement.reader import open_report

from .settlement_helpers import LOCAL_SAMPLES

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "amazon"
Key = tuple[str, str, str]


def _rows(name: str) -> list[list[str]]:
    text = (LOCAL_SAMPLES / name).read_text("utf-8")
    return [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip())


def _seen_in_real_files() -> set[Key]:
    keys = set()
    for path in sorted(LOCAL_SAMPLES.glob("settlement_v1_*.txt")):
        for line in open_report(path).lines():
            keys.add((line.transaction_type, line.amount_type, line.amount_description.strip()))
    return keys


def _documentation() -> str:
    if not REFERENCE.is_dir():
        pytest.fail(f"the shared reference is missing at {REFERENCE}")  # never a skip
    texts = [(REFERENCE / "SP-API.md").read_text("utf-8")]
    texts += [p.read_text("utf-8") for p in sorted((REFERENCE / "models").glob("*.json"))]
    return _norm(" ".join(texts))


def _documented(key: Key, docs: str) -> bool:
    return all(_norm(part) in docs for part in key if part.strip())


def test_every_vocabulary_key_is_seen_documented_or_listed_with_its_source() -> None:
    seen, docs = _seen_in_real_files(), _documentation()
    vocabulary = [(tt, at, ad.strip()) for tt, at, ad, _category in _rows("vocabulary.tsv")]
    unseen = {(tt, at, ad.strip()): source for tt, at, ad, source in _rows("vocabulary_unseen.tsv")}
    assert all(source.strip() for source in unseen.values())
    missing = [k for k in vocabulary if k not in seen and not _documented(k, docs) and k not in unseen]
    assert missing == []  # a new key needs a real file, the reference, or a listed source
    stale = [k for k in unseen if k in seen or _documented(k, docs) or k not in vocabulary]
    assert stale == []  # listed as unseen but confirmed meanwhile (or no longer in the vocabulary)


def test_the_real_files_spell_every_key_as_the_vocabulary_does() -> None:
    """A real key that differs from a vocabulary key only by case or spacing is a misspelling."""
    vocabulary = {(tt, at, ad.strip()) for tt, at, ad, _category in _rows("vocabulary.tsv")}
    folded = {tuple(_norm(p).lower() for p in k): k for k in vocabulary}
    for key in _seen_in_real_files():
        near = folded.get(tuple(_norm(p).lower() for p in key))
        assert near is None or near == key, (key, near)
    assert _seen_in_real_files() <= vocabulary  # every real key is in the vocabulary list
