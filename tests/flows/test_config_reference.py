"""docs/CONFIG.md is generated from the settings models and must stay equal to them."""

import re
from dataclasses import fields
from pathlib import Path

from ml_connector.config import EXAMPLE_CONFIG, ConnectionConfig, parse_config
from ml_connector.config_reference import render_reference
from ml_connector.targets.acumatica.settings import AcumaticaSettings
from ml_connector.targets.m3.settings import M3Settings

CONFIG_MD = Path(__file__).resolve().parents[2] / "docs" / "CONFIG.md"


def test_config_md_equals_the_models():
    assert CONFIG_MD.read_text(encoding="utf-8") == render_reference(), (
        "docs/CONFIG.md is stale: run `ml-connector config reference > docs/CONFIG.md`"
    )


def test_every_key_is_listed_with_a_meaning():
    text = render_reference()
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| (.+?) \| (.*) \|$", text, flags=re.M)
    keys = {row[0] for row in rows}
    for name in [
        *ConnectionConfig.model_fields,
        *(f.name for f in fields(M3Settings)),
        *(f.name for f in fields(AcumaticaSettings)),
    ]:
        if name in ("cadence", "m3", "acumatica"):
            continue
        assert name in keys, name
    assert all(meaning.strip() for *_, meaning in rows), [r[0] for r in rows if not r[3].strip()]


def test_the_init_template_names_the_commonly_needed_keys_and_is_valid():
    for key in (
        "base_currency",
        "endpoint_version",
        "warehouse",
        "customer_template",
        "split_by_period",
        "url",
    ):
        assert key in EXAMPLE_CONFIG, key
    active, commented = EXAMPLE_CONFIG.split("# [[connections]]")
    second = "\n".join(line.removeprefix("# ") for line in ("# [[connections]]" + commented).splitlines())
    config = parse_config(active.replace('# url = "postgresql', 'url = "postgresql') + second)
    assert config.store_url and config.store_url.startswith("postgresql")
    assert {c.name for c in config.connections} == {"my-shop-na", "my-shop-uk"}
