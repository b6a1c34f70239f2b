"""Fixes a person makes from the console, written where the CLI user would write them: the
connection's sku_map in config.toml, and account rules in the connection's mapping file.

tomlkit keeps the person's comments and layout; every edit is validated by the project's own loaders
before the file is replaced (atomically, mode kept), so a fix can never leave a broken file behind.
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path

import tomlkit

from ml_connector.config import parse_config
from ml_connector.errors import ConfigurationError


def write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _connection_table(doc: tomlkit.TOMLDocument, name: str) -> tomlkit.items.Table:
    for table in doc.get("connections") or []:
        if table.get("name") == name:
            return table
    raise ConfigurationError(f"connection {name!r} is not in the configuration file")


def set_sku_map(config_path: Path, connection: str, sku: str, item: str) -> None:
    """`sku_map[sku] = item` in the connection's ERP table of config.toml."""
    if not item.strip():
        raise ConfigurationError("give the ERP item to map the SKU to")
    doc = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    table = _connection_table(doc, connection)
    erp = table.get("erp")
    if not isinstance(erp, str):
        raise ConfigurationError(f'connection {connection!r} has no erp; add erp = "m3" or "acumatica"')
    if erp not in table:
        table[erp] = tomlkit.table()
    erp_table = table[erp]
    current = dict(erp_table.get("sku_map") or {})
    current[sku] = item.strip()
    inline = tomlkit.inline_table()
    inline.update(current)
    erp_table["sku_map"] = inline
    text = tomlkit.dumps(doc)
    parse_config(text, source=str(config_path), base_dir=config_path.parent)
    write_atomically(config_path, text)


def rule_text(fields: dict[str, str]) -> str:
    lines = ["", "[[rule]]"]
    for name in (
        "transaction_type",
        "amount_type",
        "amount_description",
        "marketplace",
        "account",
        "category",
        "description",
    ):
        value = (fields.get(name) or "").strip()
        if value:
            lines.append(f"{name} = {tomlkit.string(value).as_string()}")
    return "\n".join(lines) + "\n"


def add_mapping_rule(config_path: Path, connection: str, fields: dict[str, str]) -> Path:
    """Append a rule to the connection's mapping file; a connection on the shipped default mapping
    first gets its own copy (``mapping-<name>.toml`` beside config.toml), named in config.toml."""
    from ml_connector.settlement.mapping import load_mapping

    for required in ("transaction_type", "amount_type", "amount_description", "account", "category"):
        if not (fields.get(required) or "").strip():
            raise ConfigurationError(f"the rule needs {required.replace('_', ' ')}")
    doc = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    table = _connection_table(doc, connection)
    new_config_text = None
    if table.get("mapping"):
        path = Path(str(table["mapping"]))
        path = path if path.is_absolute() else config_path.parent / path
        current = path.read_text(encoding="utf-8")
    else:
        path = config_path.parent / f"mapping-{connection}.toml"
        current = (
            path.read_text(encoding="utf-8")
            if path.exists()
            else resources.files("ml_connector.settlement")
            .joinpath("default_mapping.toml")
            .read_text("utf-8")
        )
        table["mapping"] = path.name
        new_config_text = tomlkit.dumps(doc)
    text = current.rstrip("\n") + "\n" + rule_text(fields)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".toml")
    os.close(fd)
    try:
        Path(tmp).write_text(text, encoding="utf-8")
        load_mapping(Path(tmp))  # the project's loader refuses a bad rule with its own words
    finally:
        Path(tmp).unlink(missing_ok=True)
    write_atomically(path, text)
    if new_config_text is not None:
        parse_config(new_config_text, source=str(config_path), base_dir=config_path.parent)
        write_atomically(config_path, new_config_text)
    return path


def checked_url(url: str, what: str) -> str:
    """A URL the connector may send credentials to: http(s) with a host; https outside loopback."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} must be a URL such as https://host/path, not {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(f"{what} must use https:// (credentials would cross the network in clear)")
    return url


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
