"""Determinism suite wiring: at the end of the session, the per-engine determinism table for reports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.checks.determinism import determinism_table
from harness.pytest_plugin import HarnessState

TABLE = "determinism_table.csv"


@pytest.fixture(scope="session", autouse=True)
def determinism_report(harness_state: HarnessState) -> Iterator[None]:
    """Written from the verdicts checks.jsonl already holds, so an interrupted session loses nothing."""
    yield
    if harness_state.checks and harness_state.engine is not None:
        table = determinism_table(harness_state.engine.kind, harness_state.engine.version, harness_state.checks)
        harness_state.run_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(harness_state.run_dir / TABLE, index=False)
