"""`harness load`: a fixed-concurrency run of N identical-shape requests, written to a run directory.

The first front end of the load driver (Poisson arrivals, sweeps and Locust come with the stress suite).
Writes DIR/records.jsonl (as requests finish), DIR/manifest.json and DIR/summary.json.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.client.batch import run_specs
from harness.client.records import Api, RequestSpec
from harness.engines.launch import EngineHandle
from harness.results.metrics import summarize
from harness.results.store import RunStore
from harness.workloads.prompts import FILLER_PROMPTS

SUMMARY = "summary.json"


@dataclass(frozen=True)
class LoadSettings:
    concurrency: int
    requests: int
    max_tokens: int
    api: Api = "completions"
    stream: bool = True
    temperature: float = 0.0
    ignore_eos: bool = True  # every request generates exactly max_tokens, so runs compare like for like
    timeout_s: float = 300.0


def load_specs(settings: LoadSettings) -> list[RequestSpec]:
    params: dict[str, Any] = {"max_tokens": settings.max_tokens, "temperature": settings.temperature}
    if settings.ignore_eos:
        params["ignore_eos"] = True
    return [
        RequestSpec(FILLER_PROMPTS[i % len(FILLER_PROMPTS)], params, api=settings.api, stream=settings.stream,
                    tag="load")
        for i in range(settings.requests)
    ]


def run_load(engine: EngineHandle, settings: LoadSettings, out_dir: Path) -> dict[str, object]:
    """Run the load against a ready engine; every record is on disk as soon as it finishes."""
    manifest = {"kind": "load", "engine": engine.describe(), "model": engine.model,
                "config": {**settings.__dict__}}
    with RunStore(out_dir, manifest) as store:
        async def go() -> list[Any]:
            async with engine.async_client(timeout_s=settings.timeout_s) as client:
                return await run_specs(client, load_specs(settings), settings.concurrency,
                                       on_record=store.append)

        records = asyncio.run(go())
        summary = summarize(records)
        (out_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        store.update_manifest(summary_file=SUMMARY)
    return summary
