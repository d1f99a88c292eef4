"""Shared helpers for integration tests: run pytest / the CLI as a user would, engine configs for the fake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def fake_config(tmp_path: Path, *faults: str, ttft_ms: float = 1.0, itl_ms: float = 1.0, name: str = "fake") -> Path:
    """An engine config that launches the fake engine (a test instrument) with the given faults."""
    args = ["--ttft-ms", str(ttft_ms), "--itl-ms", str(itl_ms)]
    for fault in faults:
        args += ["--fault", fault]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"kind": "fake", "extra_args": args, "ready_timeout_s": 30}))
    return path


def run_pytest(*args: str, cwd: Path = REPO, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False,
    )


def read_checks(run_dir: Path) -> dict[str, bool]:
    path = run_dir / "checks.jsonl"
    if not path.is_file():
        return {}
    return {row["name"]: row["passed"] for row in map(json.loads, path.read_text().splitlines())}


@pytest.fixture
def repo() -> Path:
    return REPO
