"""The fields each entity has in each Default endpoint version (cut from Acumatica's OpenAPI files
into contract_fields.json): the sandbox accepts and answers only those, as the real contract does."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def _catalog() -> dict[str, dict[str, dict[str, str]]]:
    text = resources.files(__package__).joinpath("contract_fields.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def entities(version: str) -> dict[str, dict[str, str]]:
    """Entity -> field -> value wrapper name, or a linked entity name, or ``Name[]`` for details."""
    return _catalog().get(version, {})


def fields(version: str, entity: str) -> dict[str, str]:
    return entities(version).get(entity, {})
