"""https:// for every host but this machine's loopback.

Every URL that carries a secret (the LWA client secret and refresh token, the ION service-account
password, the Acumatica password) or the data it unlocks is checked here when it is configured:
``http://`` is accepted only for 127.0.0.0/8 and ::1, where the sandboxes and test doubles live.
The error names the setting and never the URL (it may carry a user name or a token).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ml_connector.errors import ConfigurationError


def is_loopback(host: str) -> bool:
    """True for an IP literal in 127.0.0.0/8 or ::1 (a name such as ``localhost`` can point anywhere)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_secure_url(url: object, setting: str) -> str:
    """``url`` unchanged when it is https://, or http:// to a loopback address; else ConfigurationError.

    ``setting`` is what the user can fix (``"--url"``, ``"the .ionapi key 'pu'"``...).
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"{setting} must be a URL (https://host/...)")
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a port out of range or not a number raises here
    except ValueError:
        raise ConfigurationError(f"{setting} is not a valid URL; write it as https://host/path") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise ConfigurationError(f"{setting} is not an http(s) URL; write it as https://host/path")
    if scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            f"{setting} uses http:// for {host}: credentials would cross the network in clear; use "
            f"https:// (http:// is accepted only for 127.0.0.1 and ::1)"
        )
    return url
