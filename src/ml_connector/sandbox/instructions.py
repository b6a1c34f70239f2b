"""What `sandbox serve` prints: the exact commands to connect to each served simulator, and the
config.toml that goes with them, so a newcomer never has to read the sandbox's code for them.

The credentials are the simulators' own invented ones (sandbox/amazon/state.py,
sandbox/acumatica/state.py); they open nothing but these loopback servers.
"""

from __future__ import annotations

import json
import shlex

AMAZON_CONNECTION = "sandbox-us"  # Amazon.com + M3
EU_CONNECTION = "sandbox-uk"  # Amazon.co.uk + Acumatica


def _amazon_secrets() -> str:
    from ml_connector.sandbox.amazon.state import SandboxCredentials

    creds = SandboxCredentials()
    return json.dumps(
        {
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "refresh_token": creds.refresh_token,
        }
    )


def _acumatica_secrets() -> str:
    from ml_connector.sandbox.acumatica import state

    return json.dumps(
        {
            "client_id": state.CLIENT_ID,
            "client_secret": state.CLIENT_SECRET,
            "username": state.USERNAME,
            "password": state.PASSWORD,
        }
    )


def connect_commands(urls: dict[str, str]) -> list[str]:
    """Shell lines, one per step, for the simulators in ``urls`` (name -> base URL)."""
    lines: list[str] = []
    amazon = urls.get("amazon")
    if amazon and "m3" in urls:
        lines.append(
            f"echo {shlex.quote(_amazon_secrets())} | ml-connector connect amazon --name {AMAZON_CONNECTION} "
            f"--region na --marketplace ATVPDKIKX0DER --sandbox-url {amazon} --secrets-stdin"
        )
    if amazon and "acumatica" in urls:
        lines.append(
            f"echo {shlex.quote(_amazon_secrets())} | ml-connector connect amazon --name {EU_CONNECTION} "
            f"--region eu --marketplace A1F83G8C2ARO7P --sandbox-url {amazon} --secrets-stdin"
        )
    if "m3" in urls:
        lines.append(f"ml-connector sandbox ionapi --url {urls['m3']} > sandbox.ionapi")
        lines.append(f"ml-connector connect m3 --name {AMAZON_CONNECTION} --ionapi sandbox.ionapi")
    if "acumatica" in urls:
        from ml_connector.sandbox.acumatica import state

        lines.append(
            f"echo {shlex.quote(_acumatica_secrets())} | ml-connector connect acumatica --name {EU_CONNECTION} "
            f"--url {urls['acumatica']} --tenant {state.TENANT} --endpoint-version 24.200.001 --secrets-stdin"
        )
    return lines


def config_snippet(urls: dict[str, str], time_scale: float) -> str:
    """A config.toml for the connections the commands above make."""
    parts = [f"time_scale = {time_scale!r}  # the sandboxes' clock runs this much faster; so must ours\n"]
    if "amazon" in urls and "m3" in urls:
        parts.append(
            f"""
[[connections]]
name = "{AMAZON_CONNECTION}"
marketplaces = ["ATVPDKIKX0DER"]
erp = "m3"
mode = "summary"

[connections.m3]
company = "100"
division = "AAA"
facility = "A01"
warehouse = "100"
customer_template = "AMZTEMPL"
order_type = "AMZ"
"""
        )
    if "amazon" in urls and "acumatica" in urls:
        parts.append(
            f"""
[[connections]]
name = "{EU_CONNECTION}"
marketplaces = ["A1F83G8C2ARO7P"]
erp = "acumatica"
mode = "invoice"

[connections.acumatica]
endpoint_version = "24.200.001"
branch = "MAIN"
base_currency = "GBP"
warehouse = "WHOLESALE"
ar_control_accounts = ["11000"]
invoice_settlement = "clearing"
"""
        )
    return "".join(parts)
