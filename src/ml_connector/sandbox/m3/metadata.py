"""The MI metadata the M3 sandbox validates against: mandatory inputs, field types and lengths.

Extracted from the reference metadata (shared/reference/infor/metadata, itself generated from M3's
MI metadata) for the transactions the sandbox serves, and shipped as ``mi_metadata.json`` so that
the sandbox runs without the reference folder. ``extract()`` rebuilds it; a test checks that the
shipped file still matches the reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SHIPPED = Path(__file__).with_name("mi_metadata.json")

SERVED: dict[str, tuple[str, ...]] = {
    "GLS840MI": ("AddBatchHead", "AddBatchLine", "CtrlBatch", "UpdBatch"),
    "GLS200MI": ("LstVouchersByDt", "GetVoucherHead"),
    "CRS610MI": ("Add", "GetBasicData", "LstByNumber"),
    "OIS100MI": (
        "AddBatchHead",
        "AddBatchAddress",
        "AddBatchLine",
        "Confirm",
        "DelBatchHead",
        "GetBatchHead",
        "LstBatchHead",
        "LstErrMsgOrder",
        "GetOrderNo",
        "GetHead",
        "LstHead",
        "LstLine",
        "LstDelLineByCO",
    ),
    "MMS025MI": ("GetItem", "LstAlias", "LstAliasViaCat", "AddAlias"),
    "MMS200MI": ("Get", "GetItmWhsBal", "LstItmByItm"),
    "MWS410MI": ("GetHead",),
    "EXPORTMI": ("Select",),  # orders by CUOR (OOHEAD/OXHEAD), the chart (FCHACC), where allowed
    "OIS350MI": ("LstAllInvByCO",),
}

# Input fields whose length the reference does not give (no output field of that name), or gives
# ambiguously. KEY1: the most frequent variant is A10, and the smallest is the safe assumption.
LENGTH_OVERRIDES: dict[str, tuple[str, int]] = {
    "KEY1": ("A", 10),
    "INTN": ("A", 10),
    "CUTM": ("A", 10),
    "LINE": ("N", 7),
    "CTYP": ("N", 1),
    "PARM": ("A", 200),
    "DESC": ("A", 60),
}


@dataclass(frozen=True)
class Transaction:
    program: str
    name: str
    inputs: tuple[tuple[str, bool], ...]  # (field, mandatory)
    outputs: tuple[tuple[str, str, int], ...]  # (field, type A/N/D, length)

    @property
    def input_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.inputs)

    @property
    def mandatory(self) -> tuple[str, ...]:
        return tuple(name for name, required in self.inputs if required)


@dataclass(frozen=True)
class MiCatalog:
    transactions: dict[tuple[str, str], Transaction]
    fields: dict[str, tuple[str, int]]  # input field -> (type, length)

    def get(self, program: str, transaction: str) -> Transaction | None:
        return self.transactions.get((program, transaction))

    def programs(self) -> frozenset[str]:
        return frozenset(program for program, _ in self.transactions)


def extract(reference_dir: Path) -> dict:
    """Build the shipped JSON from the reference metadata folder."""
    dictionary = json.loads((reference_dir / "field-dictionary.json").read_text())["fields"]
    programs: dict[str, dict] = {}
    used_fields: set[str] = set()
    for program, names in SERVED.items():
        source = json.loads((reference_dir / f"{program}.json").read_text())
        by_name = {t["transaction"]: t for t in source["transactions"]}
        programs[program] = {}
        for name in names:
            tx = by_name[name]
            programs[program][name] = {
                "inputs": [[row[0], bool(row[2])] for row in tx["inputs"]],
                "outputs": [[row[0], row[2], int(row[3])] for row in tx["outputs"]],
            }
            used_fields.update(row[0] for row in tx["inputs"])
    fields: dict[str, list] = {}
    for name in sorted(used_fields):
        if name in LENGTH_OVERRIDES:
            fields[name] = list(LENGTH_OVERRIDES[name])
            continue
        variants = dictionary.get(name, {}).get("variants") or []
        if variants:
            m3_type, length, _ = max(variants, key=lambda v: v[2])
            fields[name] = [m3_type, int(length)]
    return {
        "source": "shared/reference/infor/metadata (see SOURCES.md there)",
        "programs": programs,
        "fields": fields,
    }


@cache
def load() -> MiCatalog:
    data = json.loads(SHIPPED.read_text())
    transactions = {
        (program, name): Transaction(
            program,
            name,
            tuple((f, bool(r)) for f, r in tx["inputs"]),
            tuple((f, t, int(n)) for f, t, n in tx["outputs"]),
        )
        for program, txs in data["programs"].items()
        for name, tx in txs.items()
    }
    fields = {name: (v[0], int(v[1])) for name, v in data["fields"].items()}
    return MiCatalog(transactions, fields)


if __name__ == "__main__":  # python -m ml_connector.sandbox.m3.metadata <reference metadata dir>
    import sys

    SHIPPED.write_text(json.dumps(extract(Path(sys.argv[1])), indent=1, sort_keys=True) + "\n")
