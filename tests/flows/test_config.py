from datetime import timedelta

import pytest

from ml_connector.config import EXAMPLE_CONFIG, load_config, parse_config, parse_duration
from ml_connector.errors import ConfigurationError

MINIMAL = """
[[connections]]
name = "us"
marketplaces = ["ATVPDKIKX0DER"]
erp = "m3"
[connections.m3]
company = "100"
"""


def test_the_example_written_by_init_is_valid():
    config = parse_config(EXAMPLE_CONFIG)
    (connection,) = config.connections
    assert connection.name == "my-shop-na"
    assert connection.erp_settings["company"] == "100"
    assert connection.cadence_of("orders") == timedelta(minutes=15)
    assert connection.cadence_of("items") == timedelta(hours=24)  # default


def test_minimal_connection_gets_working_defaults():
    connection = parse_config(MINIMAL).connection("us")
    assert connection.mode == "summary"
    assert connection.customer_mode == "marketplace"
    assert set(connection.flows) == {
        "settlements",
        "reconcile",
        "orders",
        "items",
        "stock_price",
        "shipments",
        "deferrals",
    }


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (MINIMAL.replace('erp = "m3"', 'erp = "m3"\nmode = "cash"'), 6, "mode"),
        (MINIMAL.replace('"ATVPDKIKX0DER"', '"NOT-A-MARKETPLACE"'), 4, "unknown Amazon marketplace"),
        (MINIMAL.replace('company = "100"', 'company = "ABCD"'), 7, "company must be"),
        (MINIMAL + "\n[connections.cadence]\norders = 'often'\n", 10, "not a duration"),
        (MINIMAL.replace('erp = "m3"', 'erp = "acumatica"'), 2, "needs a [connections.acumatica] table"),
        (MINIMAL + 'colour = "blue"\n', 8, "connections[0].m3: unknown key 'colour'"),
    ],
)
def test_a_bad_file_is_rejected_with_the_line_and_the_reason(text, line, reason):
    with pytest.raises(ConfigurationError) as caught:
        parse_config(text, source="deploy.toml")
    message = str(caught.value)
    assert message.startswith(f"deploy.toml:{line}:"), message
    assert reason in message


def test_toml_syntax_errors_name_the_line():
    with pytest.raises(ConfigurationError, match=r"deploy.toml: .*line 2"):
        parse_config("[[connections]]\nname = x\n", source="deploy.toml")


def test_duplicate_connection_names_are_refused():
    with pytest.raises(ConfigurationError, match="unique: us"):
        parse_config(MINIMAL + MINIMAL)


def test_unknown_connection_lists_the_known_ones():
    with pytest.raises(ConfigurationError, match="known: us"):
        parse_config(MINIMAL).connection("eu")


def test_missing_file_tells_how_to_make_one(tmp_path):
    with pytest.raises(ConfigurationError, match="ml-connector init"):
        load_config(tmp_path / "nope.toml")


def test_relative_mapping_path_is_relative_to_the_config_file(tmp_path):
    path = tmp_path / "deploy.toml"
    path.write_text(MINIMAL.replace('erp = "m3"', 'erp = "m3"\nmapping = "rules.toml"'))
    assert load_config(path).connection("us").mapping == tmp_path / "rules.toml"


def test_durations():
    assert parse_duration("30s") == timedelta(seconds=30)
    assert parse_duration("1d") == timedelta(days=1)
    with pytest.raises(ValueError):
        parse_duration("15 minutes")


def test_the_example_erp_tables_build_the_targets_settings():
    from ml_connector.targets.acumatica.settings import AcumaticaSettings
    from ml_connector.targets.m3.settings import M3Settings

    active, commented = EXAMPLE_CONFIG.split("# [[connections]]")
    second = "\n".join(line.removeprefix("# ") for line in ("# [[connections]]" + commented).splitlines())
    config = parse_config(active + second)
    m3 = config.connection("my-shop-na")
    assert M3Settings(**m3.erp_settings).alias_qualifier == "AMZS"
    uk = config.connection("my-shop-uk")
    settings = AcumaticaSettings.from_mapping(
        {"url": "https://erp.example.com", "tenant": "T", **uk.erp_settings}
    )
    assert settings.ar_control_accounts == frozenset({"11000"})
