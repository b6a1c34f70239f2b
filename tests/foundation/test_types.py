"""The package type-checks clean: `python -m mypy src/ml_connector` (config in pyproject.toml) exits 0,
so a type error fails the suite instead of waiting for someone to run mypy by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_reports_no_error() -> None:
    assert (ROOT / "pyproject.toml").is_file() and (ROOT / "src" / "ml_connector").is_dir()
    done = subprocess.run(
        # the default .mypy_cache (it ignores itself in git) keeps a second run incremental
        [sys.executable, "-m", "mypy", "src/ml_connector"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"mypy exited {done.returncode}:\n{done.stdout}{done.stderr}"
    assert "Success: no issues found" in done.stdout, done.stdout
