"""Adapter for the fault-injecting fake engine, so tests can launch it through the real lifecycle.

A test instrument: listed as such by `harness engines`, never the default. Faults go in `extra_args`
(`--fault NAME`), timings too (`--ttft-ms`, `--itl-ms`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from harness.engines.base import EngineAdapter, Launcher, MetricSource
from harness.engines.config import EngineConfig

FAKE_MODEL = "fake-model"


def prepare(config: EngineConfig, _: Callable[[str], None]) -> EngineConfig:
    updates: dict[str, object] = {"served_model_name": config.served_model_name or config.model or FAKE_MODEL}
    if config.executable is None and config.venv is None and config.python is None:
        updates["python"] = Path(sys.executable)  # the harness's own interpreter runs the fake engine
    return config.model_copy(update=updates)


def build_args(config: EngineConfig, host: str, port: int, served_name: str) -> list[str]:
    return ["--host", host, "--port", str(port), "--model", served_name]


ADAPTER = EngineAdapter(
    kind="fake",
    title="fake engine (test instrument)",
    pinned_version="fake-1.0",
    needs_gpu=False,
    launcher=Launcher(module="harness.testing.fake_engine"),
    build_args=build_args,
    prepare=prepare,
    metrics={
        "running": MetricSource("fake:requests_running"),
        "waiting": MetricSource("fake:requests_waiting"),
        "prompt_tokens_total": MetricSource("fake:prompt_tokens_total"),
        "generation_tokens_total": MetricSource("fake:generation_tokens_total"),
        "requests_finished_total": MetricSource("fake:requests_finished_total"),
        "requests_aborted_total": MetricSource("fake:requests_aborted_total"),
    },
    deterministic_switch="",  # batch-invariant by construction, unless a fault says otherwise
    instrument=True,
)
