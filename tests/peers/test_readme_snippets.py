"""The README's "Using the sandboxes from your own SP-API or Acumatica code" snippets run as
written against the sandboxes (only the ports and the cache folder swapped), so the section stays
true when either client or sandbox changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sp_api.auth import access_token_client as lwa_cache

from ml_connector.clock import Clock
from ml_connector.sandbox.acumatica.app import create_app as acumatica_app
from ml_connector.sandbox.amazon.app import create_app as amazon_app
from ml_connector.sandbox.server import serve_in_thread

README = Path(__file__).resolve().parents[2] / "README.md"


def snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using the sandboxes from your own") :]
    section = section[: section.index("\n## ", 4)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_has_one_snippet_per_client() -> None:
    found = snippets()
    assert len(found) == 2 and "sp_api" in found[0] and "easy_acumatica" in found[1]


@pytest.mark.parametrize("which", [0, 1], ids=["python-amazon-sp-api", "easy-acumatica"])
def test_readme_snippet_runs_against_the_sandbox(which: int, tmp_path: Path, capsys) -> None:
    code = snippets()[which]
    clock = Clock(100.0)
    lwa_cache.cache.clear()
    if which == 0:
        server = serve_in_thread(amazon_app(clock=clock), name="readme-amazon")
        code = code.replace("127.0.0.1:8701", server.url.removeprefix("http://"))
    else:
        app = acumatica_app(clock=clock)
        server = serve_in_thread(app, name="readme-acumatica")
        code = code.replace("http://127.0.0.1:8703", server.url)
        code = code.replace('Path(".acumatica-cache")', f"Path({str(tmp_path)!r})")
    try:
        exec(compile(code, f"README snippet {which}", "exec"), {})
    finally:
        server.stop()
        lwa_cache.cache.clear()
    printed = capsys.readouterr().out.split()
    assert printed and int(printed[0]) > 0
    if which == 1:
        assert app.state.sandbox.open_sessions == 0
