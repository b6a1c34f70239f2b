"""Reading the small files a person hands ml-connector (mapping TOML, .ionapi JSON) without tracebacks.

Whatever is wrong with such a file (a directory, no permission, not UTF-8, nested a thousand deep,
an integer of thousands of digits) ends in one ConfigurationError that names the file, what is wrong
and the fix. Values are never quoted: the file may hold secrets.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from ml_connector.errors import ConfigurationError

MAX_BYTES = 10 * 1024 * 1024  # far beyond any mapping or .ionapi; keeps a wrong path from filling memory


def read_text(path: str | Path, what: str, *, encoding: str = "utf-8") -> str:
    """The file's text, or a ConfigurationError naming ``what`` the file should be."""
    source = Path(path)
    try:
        if source.is_dir():
            raise ConfigurationError(f"{source} is a directory, not {what}; give the path of the file itself")
        with source.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {what} {source}: {exc.strerror or exc}; check the path and its permissions"
        ) from None
    if len(data) > MAX_BYTES:
        raise ConfigurationError(f"{source} is larger than {MAX_BYTES // 1024 // 1024} MB: it is not {what}")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{source} is not UTF-8 text (byte {exc.start}); save {what} as UTF-8 and try again"
        ) from None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parsed TOML, or a ConfigurationError with the line and the fix."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source}: not valid TOML: {exc}; fix that line") from None
    except RecursionError:
        raise ConfigurationError(f"{source}: not valid TOML: values nested too deeply") from None
    except ValueError:  # an integer of thousands of digits (Python's int limit)
        raise ConfigurationError(
            f"{source}: not valid TOML: a number has thousands of digits; fix it"
        ) from None


def parse_json(text: str, source: str) -> Any:  # noqa: ANN401 - any JSON document
    """Parsed JSON, or a ConfigurationError with the line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise ConfigurationError(f"{source}: not valid JSON: values nested too deeply") from None
    except ValueError:  # an integer of thousands of digits (Python's int limit)
        raise ConfigurationError(
            f"{source}: not valid JSON: a number has thousands of digits; fix it"
        ) from None


_BARE_KEY = re.compile(r"[A-Za-z0-9_.-]{1,40}")


def key_name(key: object) -> str:
    """A key of the file as a message names it: bare when it is plain, else quoted and cut short
    (one line, whatever the file holds)."""
    text = str(key)
    return text if _BARE_KEY.fullmatch(text) else repr(text[:40])
