"""The package type-checks: mypy on dbt_braze/ (configured in pyproject.toml), as CI runs it."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_mypy_finds_no_type_error_in_dbt_braze() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
