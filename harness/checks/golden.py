"""Golden outputs across engine versions: record prompts, parameters and outputs; compare a later run.

The file is JSON (`infer-harness-golden/1`) naming the engine, version and model it came from, so a
drift report says what changed between which versions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.checks.determinism import edit_distance, first_divergence, units
from harness.checks.result import CheckResult, failed_requests
from harness.client.records import RequestRecord, RequestSpec
from harness.errors import HarnessError

FORMAT = "infer-harness-golden/1"


def entry_key(spec: RequestSpec) -> str:
    return f"{spec.api}:{spec.prompt_hash()}:{json.dumps(dict(spec.params), sort_keys=True)}"


def write_golden(path: Path, specs: Sequence[RequestSpec], records: Sequence[RequestRecord],
                 engine: str, version: str | None, model: str) -> None:
    if (failure := failed_requests("golden_record", list(records))) is not None:
        raise HarnessError(f"cannot record golden outputs: {failure.verdict}", "fix the engine and rerun")
    data = {
        "format": FORMAT,
        "engine": engine,
        "version": version,
        "model": model,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "entries": [
            {"key": entry_key(spec), "api": spec.api, "prompt": spec.prompt, "params": dict(spec.params),
             "texts": record.texts}
            for spec, record in zip(specs, records)
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def read_golden(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"golden file {path} cannot be read: {exc}", "record it again with --record-golden") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise HarnessError(f"{path} is not an infer-harness golden file ({FORMAT})", "record it with --record-golden")
    return data


def golden_specs(golden: dict[str, Any]) -> list[RequestSpec]:
    """The requests to replay: exactly the recorded prompts and parameters."""
    return [RequestSpec(e["prompt"], e["params"], api=e["api"], stream=False, tag="golden")
            for e in golden["entries"]]


def compare_golden(golden: dict[str, Any], records: Sequence[RequestRecord], version: str | None) -> CheckResult:
    name = "golden_drift"
    if (failure := failed_requests(name, list(records))) is not None:
        return failure
    prompts: list[dict[str, Any]] = []
    for entry, record in zip(golden["entries"], records):
        old = _as_record(entry["texts"])
        old_units, unit = units(old)
        new_units, _ = units(record)
        prompts.append({
            "prompt": str(entry["prompt"])[:60],
            "exact": entry["texts"] == record.texts,
            "first_divergence": first_divergence(old_units, new_units),
            "edit_distance": edit_distance(old_units, new_units),
            "unit": unit,
        })
    exact = sum(p["exact"] for p in prompts)
    rate = exact / len(prompts) if prompts else 1.0
    details = {"golden_engine": golden.get("engine"), "golden_version": golden.get("version"),
               "version": version, "exact_match_rate": rate, "prompts": prompts}
    was = f"{golden.get('engine')} {golden.get('version')}"
    if exact == len(prompts):
        return CheckResult(name, True, f"all {len(prompts)} outputs match the golden file from {was}", details)
    worst = max(prompts, key=lambda p: p["edit_distance"])
    return CheckResult(
        name, False,
        f"{len(prompts) - exact}/{len(prompts)} outputs drifted from {was} to {version} (exact-match rate "
        f"{rate:.0%}; worst: first divergence at word {worst['first_divergence']}, edit distance "
        f"{worst['edit_distance']})", details,
    )


def _as_record(texts: list[str]) -> RequestRecord:
    return RequestRecord("golden", "", "", "", "", "", {}, "", False, texts=list(texts))
