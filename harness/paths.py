"""Where the harness keeps things on disk: the per-user cache (built engines, models) and run directories."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Per-user cache, shared by every checkout on the machine so the CPU engine is built once."""
    override = os.environ.get("INFER_HARNESS_CACHE")
    if override:
        base = Path(override)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "infer-harness"
    base.mkdir(parents=True, exist_ok=True)
    return base


def default_runs_dir() -> Path:
    return Path(os.environ.get("INFER_HARNESS_RUNS", "reports/runs"))
